package stateengine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sluicehq/sluice/state"
)

// Versioned is a versioned key-value store (state.VersionedKeyValueStore)
// laid out in a plain key-value store of the engine, so it lives in the
// task's Pebble DB (or in memory) and commits with the task's other
// stores. Layout inside the backing store:
//
//	0x00 'o'                               -> observed stream time (8, BE)
//	0x01 <len(key) 4B BE> <key> <^flip(ts)> -> 0x00 (tombstone) | 0x01 <value>
//
// flip(ts) is the timestamp with its sign bit flipped (numeric order is
// byte order); its complement makes one key's versions contiguous, newest
// first. So the version valid at t is the first entry at or after
// <key> ^flip(t): one seek. The length prefix keeps keys prefix-free.
//
// History retention: a put older than observed-retention is dropped, and
// lookups that old find nothing, as in Kafka Streams' RocksDBVersionedStore
// (whose grace period is its history retention). Versions that expired are
// deleted per key, when the key is written: every version older than the
// newest one at or before observed-retention (which is still valid at the
// retention boundary). A key never written again keeps its expired
// versions on disk, unreachable to lookups. Kafka Streams drops whole time
// segments instead.
//
// The store writes nothing of its own to a changelog: the runtime logs
// each Put as (key, value, timestamp), Kafka Streams' changelog format for
// versioned stores, and restores by replaying the Puts, which rebuilds the
// versions and the observed stream time.
type Versioned struct {
	kv        state.KeyValueStore
	retention int64 // ms
	observed  int64 // largest timestamp put; math.MinInt64 before any
	keyBuf    []byte
	endBuf    []byte
}

var versionedObservedKey = []byte{0x00, 'o'}

// NewVersioned opens a versioned store over kv (which it owns: nothing
// else may write kv) with the given history retention.
func NewVersioned(kv state.KeyValueStore, historyRetention time.Duration) (*Versioned, error) {
	if historyRetention < 0 {
		return nil, fmt.Errorf("state: versioned store %q: negative history retention %v", kv.Name(), historyRetention)
	}
	v := &Versioned{kv: kv, retention: historyRetention.Milliseconds(), observed: math.MinInt64}
	raw, err := kv.Get(versionedObservedKey)
	if err != nil {
		return nil, fmt.Errorf("state: open versioned store %q: %w", kv.Name(), err)
	}
	if len(raw) == 8 {
		v.observed = int64(binary.BigEndian.Uint64(raw))
	}
	return v, nil
}

// Name is the backing store's name.
func (v *Versioned) Name() string { return v.kv.Name() }

// HistoryRetention is the retention the store was opened with.
func (v *Versioned) HistoryRetention() time.Duration {
	return time.Duration(v.retention) * time.Millisecond
}

// boundary is the oldest queryable timestamp; ok is false before any put.
func (v *Versioned) boundary() (int64, bool) {
	if v.observed == math.MinInt64 {
		return 0, false
	}
	if v.observed < math.MinInt64+v.retention {
		return math.MinInt64, true
	}
	return v.observed - v.retention, true
}

// keyPrefix is 0x01 <len> <key>.
func keyPrefix(dst, key []byte) []byte {
	dst = append(dst[:0], dataPrefix)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(key)))
	return append(dst, key...)
}

func appendVersionTime(dst []byte, ts int64) []byte {
	return binary.BigEndian.AppendUint64(dst, ^(uint64(ts) ^ 1<<63))
}

func versionTime(b []byte) int64 {
	return int64(^binary.BigEndian.Uint64(b[len(b)-8:]) ^ 1<<63)
}

// keyEnd is the exclusive upper bound of a key's versions.
func keyEnd(dst, prefix []byte) []byte {
	dst = append(dst[:0], prefix...)
	return append(dst, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00)
}

var errCorruptVersion = errors.New("state: corrupt versioned store entry")

// first returns the first version at or after from (newest first) within
// the key's prefix.
func (v *Versioned) first(from, end []byte) (key, value []byte, ok bool, err error) {
	it, err := v.kv.Range(from, end)
	if err != nil {
		return nil, nil, false, err
	}
	defer it.Close()
	if !it.Next() {
		return nil, nil, false, it.Err()
	}
	return append([]byte(nil), it.Key()...), append([]byte(nil), it.Value()...), true, nil
}

func (v *Versioned) lookup(key []byte, asOf int64) (state.VersionedRecord, bool, error) {
	prefix := keyPrefix(v.keyBuf, key)
	v.keyBuf = prefix
	from := appendVersionTime(append([]byte(nil), prefix...), asOf)
	v.endBuf = keyEnd(v.endBuf, prefix)
	k, val, ok, err := v.first(from, v.endBuf)
	if err != nil || !ok {
		return state.VersionedRecord{}, false, err
	}
	if len(val) == 0 || len(k) != len(prefix)+8 {
		return state.VersionedRecord{}, false, fmt.Errorf("%w in %q", errCorruptVersion, v.kv.Name())
	}
	if val[0] == 0 {
		return state.VersionedRecord{}, false, nil // a tombstone
	}
	return state.VersionedRecord{Value: val[1:], Timestamp: versionTime(k)}, true, nil
}

// Get returns the key's latest version.
func (v *Versioned) Get(key []byte) (state.VersionedRecord, bool, error) {
	return v.lookup(key, math.MaxInt64)
}

// GetAsOf returns the version valid at asOf.
func (v *Versioned) GetAsOf(key []byte, asOf int64) (state.VersionedRecord, bool, error) {
	if b, ok := v.boundary(); ok && asOf < b {
		return state.VersionedRecord{}, false, nil
	}
	return v.lookup(key, asOf)
}

// Put adds a version (a tombstone when value is nil); see
// state.VersionedKeyValueStore.
func (v *Versioned) Put(key, value []byte, timestamp int64) (int64, error) {
	if b, ok := v.boundary(); ok && timestamp < b {
		return state.VersionedNotPut, nil
	}
	if timestamp > v.observed {
		v.observed = timestamp
		if err := v.kv.Put(versionedObservedKey, binary.BigEndian.AppendUint64(nil, uint64(timestamp))); err != nil {
			return 0, err
		}
	}
	prefix := append([]byte(nil), keyPrefix(v.keyBuf, key)...)
	at := appendVersionTime(append([]byte(nil), prefix...), timestamp)
	// The newer neighbour, if any, ends the new version.
	validTo := state.VersionedValidToUndefined
	it, err := v.kv.ReverseRange(prefix, at)
	if err != nil {
		return 0, err
	}
	if it.Next() {
		validTo = versionTime(it.Key())
	}
	err = errors.Join(it.Err(), it.Close())
	if err != nil {
		return 0, err
	}
	enc := []byte{0}
	if value != nil {
		enc = append(make([]byte, 0, 1+len(value)), 1)
		enc = append(enc, value...)
	}
	if err := v.kv.Put(at, enc); err != nil {
		return 0, err
	}
	return validTo, v.expire(prefix)
}

// expire deletes the key's versions older than the newest one at or before
// the retention boundary.
func (v *Versioned) expire(prefix []byte) error {
	b, ok := v.boundary()
	if !ok || b == math.MinInt64 {
		return nil
	}
	from := appendVersionTime(append([]byte(nil), prefix...), b)
	v.endBuf = keyEnd(v.endBuf, prefix)
	it, err := v.kv.Range(from, v.endBuf)
	if err != nil {
		return err
	}
	var old [][]byte
	for n := 0; it.Next(); n++ {
		if n > 0 { // the first is still valid at the boundary
			old = append(old, append([]byte(nil), it.Key()...))
		}
	}
	if err := errors.Join(it.Err(), it.Close()); err != nil {
		return err
	}
	for _, k := range old {
		if err := v.kv.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

var _ state.VersionedKeyValueStore = (*Versioned)(nil)
