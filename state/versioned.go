package state

import (
	"math"
	"time"
)

// VersionedKeyValueStore keeps, per key, the values the key had over time,
// each valid from its timestamp until the next version's (Kafka Streams'
// VersionedKeyValueStore, KIP-889). Versions are kept for the store's
// history retention behind its observed stream time (the largest timestamp
// put): older versions are dropped, and lookups that old find nothing.
//
// Like every store it belongs to one task and is used from the goroutine
// that owns the task; it sees that task's uncommitted writes.
type VersionedKeyValueStore interface {
	Name() string
	// Put records value as key's value from timestamp on; a nil value is
	// a tombstone (the key has no value from timestamp on). A put at the
	// timestamp of an existing version replaces it. It returns the
	// timestamp until which the new version is valid: the next newer
	// version's, VersionedValidToUndefined when the put is the latest, or
	// VersionedNotPut when timestamp is older than the observed stream time
	// minus the history retention (the put is dropped).
	Put(key, value []byte, timestamp int64) (validTo int64, err error)
	// Get returns key's latest version; found is false when the key has no
	// version or the latest is a tombstone.
	Get(key []byte) (rec VersionedRecord, found bool, err error)
	// GetAsOf returns the version of key valid at asOf (the newest with a
	// timestamp at or before asOf); found is false when there is none, it
	// is a tombstone, or asOf is older than the history retention allows.
	GetAsOf(key []byte, asOf int64) (rec VersionedRecord, found bool, err error)
	// HistoryRetention is how long versions stay queryable behind the
	// observed stream time.
	HistoryRetention() time.Duration
}

// VersionedRecord is one version of a key.
type VersionedRecord struct {
	// Value is the caller's (a copy).
	Value []byte
	// Timestamp is when the version became valid.
	Timestamp int64
}

const (
	// VersionedValidToUndefined is what VersionedKeyValueStore.Put
	// returns for a put that is the key's latest version (Kafka Streams'
	// PUT_RETURN_CODE_VALID_TO_UNDEFINED).
	VersionedValidToUndefined int64 = -1
	// VersionedNotPut is what VersionedKeyValueStore.Put returns for a put
	// older than the history retention, which is dropped (Kafka Streams'
	// PUT_RETURN_CODE_NOT_PUT).
	VersionedNotPut int64 = math.MinInt64
)
