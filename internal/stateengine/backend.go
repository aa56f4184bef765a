// Package stateengine implements state.Engine once, over a small ordered
// key-value Backend with a transaction. internal/pebblestate and
// internal/memstate provide the backends; every store kind, key format,
// retention rule and the checkpoint protocol live here, so the two engines
// cannot drift apart.
package stateengine

// Cursor is a positioned iterator over [lower, upper), shaped like
// pebble.Iterator. Key and Value are valid until the cursor moves.
type Cursor interface {
	First() bool
	Last() bool
	SeekGE(key []byte) bool
	SeekLT(key []byte) bool
	Next() bool
	Prev() bool
	Key() []byte
	Value() []byte
	Error() error
	Close() error
}

// Reader reads an ordered keyspace.
type Reader interface {
	// Get returns a copy of the value of key, nil if absent.
	Get(key []byte) ([]byte, error)
	// NewCursor iterates [lower, upper); a nil upper is unbounded. A cursor
	// sees the data as of its creation.
	NewCursor(lower, upper []byte) (Cursor, error)
}

// Backend is an ordered keyspace with one pending transaction. The Reader
// methods and the writes are called only by the owning goroutine and see the
// pending writes; Committed is safe for concurrent use and sees committed
// data only.
type Backend interface {
	Reader
	Set(key, value []byte) error
	Delete(key []byte) error
	DeleteRange(start, end []byte) error
	// Commit applies the pending writes atomically. The engine closes every
	// cursor it opened from the owner side before calling Commit or Abort.
	Commit() error
	Abort() error
	Committed() Reader
	Close() error
	Destroy() error
}

// MetaPrefix is the first byte of every key the engine keeps for itself
// (store registry, checkpoints, observed times); store data keys start
// with another byte. A backend may keep the two apart (pebblestate's
// restore ingestion writes them to separate tables).
const MetaPrefix = metaPrefix

// BulkLoader is an optional Backend capability: RestoreSet writes like Set
// but the write need not be readable before Commit. The engine uses it for
// RawPut while no other write is pending, so restore skips the indexing an
// owner-readable batch costs. A Backend must make RestoreSet writes visible
// before any later Set/Get/cursor of the same transaction (in order).
type BulkLoader interface {
	RestoreSet(key, value []byte) error
	RestoreDelete(key []byte) error
	RestoreDeleteRange(start, end []byte) error
}

// Backend returns the backend e runs on, for tests and diagnostics that
// inspect it (internal/pebblestate's PebbleOptions).
func (e *Engine) Backend() Backend { return e.be }
