// Package state holds Sluice's state stores: key-value, window and session
// stores at the byte level, persistent on Pebble or in memory, and typed
// views over them with serdes.
//
// # Ownership and goroutines
//
// A store belongs to one task and is written only by the goroutine that owns
// the task (a stream thread, or the test driver); reads and writes from that
// goroutine see the task's own uncommitted writes. Interactive queries read
// from other goroutines through [Engine.ReadOnly], which sees committed data
// only. Iterators must be closed by the goroutine that opened them. Commit,
// Abort and Close end the owner's open iterators (their Err returns
// ErrIteratorInvalidated): close iterators before committing.
//
// # Transactions and checkpoints
//
// Every write goes through the task's [Engine] batch. Nothing written is
// durable until [Engine.Commit], which writes the batch and the changelog
// checkpoint offsets in one atomic step (one Pebble batch), so a store on
// disk always matches the changelog offset recorded with it. Under
// exactly_once_v2 the runtime calls Commit only after the Kafka transaction
// committed; after a crash the store is reused and only the changelog tail
// past the checkpoint is replayed. [Engine.Abort] drops uncommitted writes.
package state

import (
	"errors"
	"time"
)

// ErrClosed is returned by operations on a closed engine or store.
var ErrClosed = errors.New("state: closed")

// Iterator walks key/value pairs in ascending (or, for reverse ranges,
// descending) key order. Key and Value are valid until the next call to
// Next or Close; copy them to keep them.
type Iterator interface {
	Next() bool
	Key() []byte
	Value() []byte
	Err() error
	Close() error
}

// KeyValueStore is a byte-level key-value store.
type KeyValueStore interface {
	Name() string
	// Get returns nil (and no error) for a missing key.
	Get(key []byte) ([]byte, error)
	// Put stores value under key; a nil value deletes the key.
	Put(key, value []byte) error
	Delete(key []byte) error
	// Range iterates keys in [from, to); a nil bound is open.
	Range(from, to []byte) (Iterator, error)
	// ReverseRange iterates keys in [from, to) in descending order.
	ReverseRange(from, to []byte) (Iterator, error)
	// Prefix iterates the keys starting with prefix.
	Prefix(prefix []byte) (Iterator, error)
	All() (Iterator, error)
}

// WindowStore keeps values per (key, window start). Windows older than the
// store's retention (relative to the largest window start written) are
// dropped, segment by segment, like Kafka Streams' segmented window store.
type WindowStore interface {
	Name() string
	// Put stores value for key in the window starting at windowStart; a
	// nil value deletes it.
	Put(key []byte, windowStart int64, value []byte) error
	// Fetch returns the value of one window (nil if absent or expired).
	Fetch(key []byte, windowStart int64) ([]byte, error)
	// FetchRange iterates the windows of key with start in [from, to],
	// oldest first.
	FetchRange(key []byte, from, to int64) (WindowIterator, error)
	// FetchAll iterates every key's windows with start in [from, to].
	FetchAll(from, to int64) (WindowIterator, error)
	// Retention is how long windows are kept after their start.
	Retention() time.Duration
}

// WindowIterator walks windows; Key is the record key without the window.
type WindowIterator interface {
	Next() bool
	Key() []byte
	WindowStart() int64
	Value() []byte
	Err() error
	Close() error
}

// SessionStore keeps session windows per key: [start, end] inclusive.
type SessionStore interface {
	Name() string
	// Put stores (or, with a nil value, removes) the session.
	Put(key []byte, start, end int64, value []byte) error
	// FindSessions iterates key's sessions that end at or after
	// earliestEnd and start at or before latestStart, oldest first: the
	// sessions a record at time t merges with are FindSessions(key,
	// t-gap, t+gap).
	FindSessions(key []byte, earliestEnd, latestStart int64) (SessionIterator, error)
	// Fetch iterates all sessions of key.
	Fetch(key []byte) (SessionIterator, error)
	Retention() time.Duration
}

// SessionIterator walks sessions.
type SessionIterator interface {
	Next() bool
	Key() []byte
	Start() int64
	End() int64
	Value() []byte
	Err() error
	Close() error
}

// Engine holds the stores of one task and makes their writes durable
// atomically with the changelog offsets they correspond to.
type Engine interface {
	// KeyValue opens (or creates) a key-value store.
	KeyValue(name string) (KeyValueStore, error)
	// Window opens a window store keeping windows for retention;
	// segmentInterval sets the granularity in which old windows are
	// dropped (Kafka Streams: max(retention/2, 60s)).
	Window(name string, retention, segmentInterval time.Duration) (WindowStore, error)
	// Session opens a session store.
	Session(name string, retention, segmentInterval time.Duration) (SessionStore, error)
	// RawPut writes a changelog record into a store during restore: key is
	// the store's changelog key (for window and session stores, the windowed
	// key in Kafka Streams' format), value nil deletes.
	RawPut(store string, key, value []byte) error
	// Checkpoints returns the changelog offsets committed with the data:
	// changelog topic-partition ("topic/partition") -> next offset to
	// replay. Missing entries mean "restore from the beginning".
	Checkpoints() (map[string]int64, error)
	// Commit makes every write since the last Commit durable together with
	// the given checkpoints (merged into the stored ones).
	Commit(checkpoints map[string]int64) error
	// Abort drops every write since the last Commit (window and session
	// retention included).
	Abort() error
	// ReadOnly returns a view of committed data for other goroutines.
	ReadOnly() ReadOnlyEngine
	// Close closes the engine; uncommitted writes are dropped.
	Close() error
	// Destroy closes the engine and deletes its data (a task migrated away,
	// or a corrupt store to be rebuilt from its changelog).
	Destroy() error
}

// ReadOnlyEngine reads committed data, safe for concurrent use.
type ReadOnlyEngine interface {
	KeyValue(name string) (ReadOnlyKeyValueStore, error)
	Window(name string) (ReadOnlyWindowStore, error)
	Session(name string) (ReadOnlySessionStore, error)
}

// ReadOnlyKeyValueStore is the query side of a KeyValueStore.
type ReadOnlyKeyValueStore interface {
	Get(key []byte) ([]byte, error)
	Range(from, to []byte) (Iterator, error)
	Prefix(prefix []byte) (Iterator, error)
	All() (Iterator, error)
}

// ReadOnlyWindowStore is the query side of a WindowStore.
type ReadOnlyWindowStore interface {
	Fetch(key []byte, windowStart int64) ([]byte, error)
	FetchRange(key []byte, from, to int64) (WindowIterator, error)
	FetchAll(from, to int64) (WindowIterator, error)
}

// ReadOnlySessionStore is the query side of a SessionStore.
type ReadOnlySessionStore interface {
	FindSessions(key []byte, earliestEnd, latestStart int64) (SessionIterator, error)
	Fetch(key []byte) (SessionIterator, error)
}
