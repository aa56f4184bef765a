package state

import "errors"

// ErrUnknownStore is returned by RawPut and by ReadOnlyEngine for a store
// name the engine does not know: never opened by the owner and not found on
// disk.
var ErrUnknownStore = errors.New("state: unknown store")

// ErrStoreKind is returned when a store is opened as a different kind
// (key-value, window, session) than it was created with.
var ErrStoreKind = errors.New("state: store opened as a different kind")

// ErrIteratorInvalidated is returned by an iterator's Err after the engine
// committed, aborted or closed while the iterator was open: close iterators
// before Commit or Abort.
var ErrIteratorInvalidated = errors.New("state: iterator invalidated by commit, abort or close")
