package state

import (
	"fmt"

	"github.com/sluicehq/sluice/serde"
)

// Typed views serialize keys and values with serdes over a byte-level store.
// The serde topic is the store name. A view is as goroutine-safe as its
// store. Iterators decode lazily; a decoding error ends the iteration and is
// returned by Err.

// KV is a typed view of a KeyValueStore.
type KV[K, V any] struct {
	store  KeyValueStore
	keys   serde.Serde[K]
	values serde.Serde[V]
}

// NewKV returns a typed view of store.
func NewKV[K, V any](store KeyValueStore, keys serde.Serde[K], values serde.Serde[V]) *KV[K, V] {
	return &KV[K, V]{store: store, keys: keys, values: values}
}

// Store returns the byte-level store.
func (s *KV[K, V]) Store() KeyValueStore { return s.store }

func (s *KV[K, V]) key(k K) ([]byte, error) {
	b, err := s.keys.Serialize(s.store.Name(), k)
	if err != nil {
		return nil, fmt.Errorf("state: store %q: serialize key: %w", s.store.Name(), err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// Get returns the value of k and whether it was found.
func (s *KV[K, V]) Get(k K) (V, bool, error) {
	var zero V
	kb, err := s.key(k)
	if err != nil {
		return zero, false, err
	}
	b, err := s.store.Get(kb)
	if err != nil || b == nil {
		return zero, false, err
	}
	v, err := s.values.Deserialize(s.store.Name(), b)
	if err != nil {
		return zero, false, fmt.Errorf("state: store %q: deserialize value: %w", s.store.Name(), err)
	}
	return v, true, nil
}

// Put stores v under k. A value serializing to nil deletes k.
func (s *KV[K, V]) Put(k K, v V) error {
	kb, err := s.key(k)
	if err != nil {
		return err
	}
	vb, err := s.values.Serialize(s.store.Name(), v)
	if err != nil {
		return fmt.Errorf("state: store %q: serialize value: %w", s.store.Name(), err)
	}
	return s.store.Put(kb, vb)
}

// Delete removes k.
func (s *KV[K, V]) Delete(k K) error {
	kb, err := s.key(k)
	if err != nil {
		return err
	}
	return s.store.Delete(kb)
}

// Range iterates the keys whose serialized bytes are in [from, to).
func (s *KV[K, V]) Range(from, to K) (*KVIter[K, V], error) {
	fb, err := s.key(from)
	if err != nil {
		return nil, err
	}
	tb, err := s.key(to)
	if err != nil {
		return nil, err
	}
	it, err := s.store.Range(fb, tb)
	return s.wrap(it, err)
}

// All iterates every key in serialized-key order.
func (s *KV[K, V]) All() (*KVIter[K, V], error) { return s.wrap(s.store.All()) }

func (s *KV[K, V]) wrap(it Iterator, err error) (*KVIter[K, V], error) {
	if err != nil {
		return nil, err
	}
	return &KVIter[K, V]{it: it, typedIter: typedIter[K, V]{store: s.store.Name(), keys: s.keys, values: s.values}}, nil
}

// KVIter walks a typed key-value range.
type KVIter[K, V any] struct {
	it Iterator
	typedIter[K, V]
}

// Next decodes the next entry; it returns false at the end or on error.
func (i *KVIter[K, V]) Next() bool {
	if i.err != nil || !i.it.Next() {
		return false
	}
	return i.decode(i.it.Key(), i.it.Value())
}

// Err returns the first decoding or store error.
func (i *KVIter[K, V]) Err() error { return i.errOr(i.it.Err()) }

func (i *KVIter[K, V]) Close() error { return i.it.Close() }

// Window is a typed view of a WindowStore. Times are epoch milliseconds.
type Window[K, V any] struct {
	store  WindowStore
	keys   serde.Serde[K]
	values serde.Serde[V]
}

// NewWindow returns a typed view of store.
func NewWindow[K, V any](store WindowStore, keys serde.Serde[K], values serde.Serde[V]) *Window[K, V] {
	return &Window[K, V]{store: store, keys: keys, values: values}
}

// Store returns the byte-level store.
func (s *Window[K, V]) Store() WindowStore { return s.store }

func (s *Window[K, V]) key(k K) ([]byte, error) {
	b, err := s.keys.Serialize(s.store.Name(), k)
	if err != nil {
		return nil, fmt.Errorf("state: store %q: serialize key: %w", s.store.Name(), err)
	}
	return b, nil
}

// Put stores v for k in the window starting at windowStart.
func (s *Window[K, V]) Put(k K, windowStart int64, v V) error {
	kb, err := s.key(k)
	if err != nil {
		return err
	}
	vb, err := s.values.Serialize(s.store.Name(), v)
	if err != nil {
		return fmt.Errorf("state: store %q: serialize value: %w", s.store.Name(), err)
	}
	return s.store.Put(kb, windowStart, vb)
}

// Delete removes k's window starting at windowStart.
func (s *Window[K, V]) Delete(k K, windowStart int64) error {
	kb, err := s.key(k)
	if err != nil {
		return err
	}
	return s.store.Put(kb, windowStart, nil)
}

// Fetch returns k's value in the window starting at windowStart.
func (s *Window[K, V]) Fetch(k K, windowStart int64) (V, bool, error) {
	var zero V
	kb, err := s.key(k)
	if err != nil {
		return zero, false, err
	}
	b, err := s.store.Fetch(kb, windowStart)
	if err != nil || b == nil {
		return zero, false, err
	}
	v, err := s.values.Deserialize(s.store.Name(), b)
	if err != nil {
		return zero, false, fmt.Errorf("state: store %q: deserialize value: %w", s.store.Name(), err)
	}
	return v, true, nil
}

// FetchRange iterates k's windows with start in [from, to], oldest first.
func (s *Window[K, V]) FetchRange(k K, from, to int64) (*WindowIter[K, V], error) {
	kb, err := s.key(k)
	if err != nil {
		return nil, err
	}
	it, err := s.store.FetchRange(kb, from, to)
	if err != nil {
		return nil, err
	}
	return &WindowIter[K, V]{it: it, typedIter: typedIter[K, V]{store: s.store.Name(), keys: s.keys, values: s.values}}, nil
}

// FetchAll iterates every key's windows with start in [from, to].
func (s *Window[K, V]) FetchAll(from, to int64) (*WindowIter[K, V], error) {
	it, err := s.store.FetchAll(from, to)
	if err != nil {
		return nil, err
	}
	return &WindowIter[K, V]{it: it, typedIter: typedIter[K, V]{store: s.store.Name(), keys: s.keys, values: s.values}}, nil
}

// WindowIter walks typed windows.
type WindowIter[K, V any] struct {
	it WindowIterator
	typedIter[K, V]
}

// Next decodes the next window; it returns false at the end or on error.
func (i *WindowIter[K, V]) Next() bool {
	if i.err != nil || !i.it.Next() {
		return false
	}
	return i.decode(i.it.Key(), i.it.Value())
}

func (i *WindowIter[K, V]) WindowStart() int64 { return i.it.WindowStart() }

// Err returns the first decoding or store error.
func (i *WindowIter[K, V]) Err() error { return i.errOr(i.it.Err()) }

func (i *WindowIter[K, V]) Close() error { return i.it.Close() }

// Session is a typed view of a SessionStore. Times are epoch milliseconds.
type Session[K, V any] struct {
	store  SessionStore
	keys   serde.Serde[K]
	values serde.Serde[V]
}

// NewSession returns a typed view of store.
func NewSession[K, V any](store SessionStore, keys serde.Serde[K], values serde.Serde[V]) *Session[K, V] {
	return &Session[K, V]{store: store, keys: keys, values: values}
}

// Store returns the byte-level store.
func (s *Session[K, V]) Store() SessionStore { return s.store }

func (s *Session[K, V]) key(k K) ([]byte, error) {
	b, err := s.keys.Serialize(s.store.Name(), k)
	if err != nil {
		return nil, fmt.Errorf("state: store %q: serialize key: %w", s.store.Name(), err)
	}
	return b, nil
}

// Put stores the session [start, end] of k.
func (s *Session[K, V]) Put(k K, start, end int64, v V) error {
	kb, err := s.key(k)
	if err != nil {
		return err
	}
	vb, err := s.values.Serialize(s.store.Name(), v)
	if err != nil {
		return fmt.Errorf("state: store %q: serialize value: %w", s.store.Name(), err)
	}
	return s.store.Put(kb, start, end, vb)
}

// Remove deletes the session [start, end] of k.
func (s *Session[K, V]) Remove(k K, start, end int64) error {
	kb, err := s.key(k)
	if err != nil {
		return err
	}
	return s.store.Put(kb, start, end, nil)
}

// FindSessions iterates k's sessions ending at or after earliestEnd and
// starting at or before latestStart, oldest first.
func (s *Session[K, V]) FindSessions(k K, earliestEnd, latestStart int64) (*SessionIter[K, V], error) {
	kb, err := s.key(k)
	if err != nil {
		return nil, err
	}
	it, err := s.store.FindSessions(kb, earliestEnd, latestStart)
	if err != nil {
		return nil, err
	}
	return &SessionIter[K, V]{it: it, typedIter: typedIter[K, V]{store: s.store.Name(), keys: s.keys, values: s.values}}, nil
}

// SessionIter walks typed sessions.
type SessionIter[K, V any] struct {
	it SessionIterator
	typedIter[K, V]
}

// Next decodes the next session; it returns false at the end or on error.
func (i *SessionIter[K, V]) Next() bool {
	if i.err != nil || !i.it.Next() {
		return false
	}
	return i.decode(i.it.Key(), i.it.Value())
}

func (i *SessionIter[K, V]) Start() int64 { return i.it.Start() }
func (i *SessionIter[K, V]) End() int64   { return i.it.End() }

// Err returns the first decoding or store error.
func (i *SessionIter[K, V]) Err() error { return i.errOr(i.it.Err()) }

func (i *SessionIter[K, V]) Close() error { return i.it.Close() }

// typedIter is the decoding the typed iterators share: the current key and
// value, decoded with the view's serdes (the serde topic is the store name),
// and the first decoding error.
type typedIter[K, V any] struct {
	store  string
	keys   serde.Serde[K]
	values serde.Serde[V]
	key    K
	value  V
	err    error
}

// decode decodes one entry; on failure it keeps the error and returns false.
func (d *typedIter[K, V]) decode(kb, vb []byte) bool {
	if d.key, d.err = d.keys.Deserialize(d.store, kb); d.err != nil {
		d.err = fmt.Errorf("state: store %q: deserialize key: %w", d.store, d.err)
		return false
	}
	if d.value, d.err = d.values.Deserialize(d.store, vb); d.err != nil {
		d.err = fmt.Errorf("state: store %q: deserialize value: %w", d.store, d.err)
		return false
	}
	return true
}

// Key is the current entry's key.
func (d *typedIter[K, V]) Key() K { return d.key }

// Value is the current entry's value.
func (d *typedIter[K, V]) Value() V { return d.value }

// errOr returns the decoding error, else the store's.
func (d *typedIter[K, V]) errOr(storeErr error) error {
	if d.err != nil {
		return d.err
	}
	return storeErr
}
