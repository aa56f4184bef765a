// Package memstate is Sluice's in-memory state engine: the state.Engine
// contract (overlay of uncommitted writes, atomic commit, abort, concurrent
// read-only views of committed data) without a disk, for in-memory stores
// and the test driver.
//
// It keeps one copy-on-write B-tree (github.com/tidwall/btree) per
// transaction: the owner writes a private copy of the committed tree, so it
// reads its own writes without merging; Commit publishes that tree, which is
// never written again, so ReadOnly views read it without locks; Abort goes
// back to a copy of the committed tree. Copies are O(1) and share nodes until
// written.
package memstate

import (
	"bytes"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/stateengine"
	"github.com/sluicehq/sluice/state"
	"github.com/tidwall/btree"
)

// New returns an empty in-memory engine.
func New() state.Engine {
	e, err := stateengine.New(newBackend())
	if err != nil {
		panic(err) // an empty tree has nothing to load
	}
	return e
}

type item struct{ k, v []byte }

func less(a, b item) bool { return bytes.Compare(a.k, b.k) < 0 }

type tree = btree.BTreeG[item]

type backend struct {
	working   *tree // owner: committed + pending writes
	base      *tree // owner: private copy of committed, never written
	committed atomic.Pointer[tree]
	closed    atomic.Bool
}

func newBackend() *backend {
	t := btree.NewBTreeGOptions(less, btree.Options{NoLocks: true})
	b := &backend{}
	b.publish(t)
	return b
}

// publish makes t the committed tree. The owner's copies are taken before
// publication: copying writes the source tree's copy-on-write id, and a
// published tree is read concurrently.
func (b *backend) publish(t *tree) {
	b.base = t.Copy()
	b.working = t.Copy()
	b.committed.Store(t)
}

func (b *backend) Get(key []byte) ([]byte, error) {
	if b.closed.Load() {
		return nil, state.ErrClosed
	}
	return get(b.working, key), nil
}

func get(t *tree, key []byte) []byte {
	it, ok := t.Get(item{k: key})
	if !ok {
		return nil
	}
	return bytes.Clone(it.v)
}

func (b *backend) NewCursor(lower, upper []byte) (stateengine.Cursor, error) {
	if b.closed.Load() {
		return nil, state.ErrClosed
	}
	// A cursor sees a snapshot, like a Pebble batch iterator.
	return newCursor(b.working.Copy(), lower, upper), nil
}

func (b *backend) Set(key, value []byte) error {
	if b.closed.Load() {
		return state.ErrClosed
	}
	b.working.Set(item{k: bytes.Clone(key), v: bytes.Clone(value)})
	return nil
}

func (b *backend) Delete(key []byte) error {
	if b.closed.Load() {
		return state.ErrClosed
	}
	b.working.Delete(item{k: key})
	return nil
}

func (b *backend) DeleteRange(start, end []byte) error {
	if b.closed.Load() {
		return state.ErrClosed
	}
	var doomed [][]byte
	b.working.Ascend(item{k: start}, func(it item) bool {
		if bytes.Compare(it.k, end) >= 0 {
			return false
		}
		doomed = append(doomed, it.k)
		return true
	})
	for _, k := range doomed {
		b.working.Delete(item{k: k})
	}
	return nil
}

func (b *backend) Commit() error {
	if b.closed.Load() {
		return state.ErrClosed
	}
	b.publish(b.working)
	return nil
}

func (b *backend) Abort() error {
	if b.closed.Load() {
		return state.ErrClosed
	}
	b.working = b.base.Copy()
	return nil
}

func (b *backend) Committed() stateengine.Reader { return committedReader{b} }

func (b *backend) Close() error {
	b.closed.Store(true)
	return nil
}

func (b *backend) Destroy() error { return b.Close() }

type committedReader struct{ b *backend }

func (r committedReader) Get(key []byte) ([]byte, error) {
	if r.b.closed.Load() {
		return nil, state.ErrClosed
	}
	return get(r.b.committed.Load(), key), nil
}

func (r committedReader) NewCursor(lower, upper []byte) (stateengine.Cursor, error) {
	if r.b.closed.Load() {
		return nil, state.ErrClosed
	}
	return newCursor(r.b.committed.Load(), lower, upper), nil
}

// cursor iterates an immutable tree within [lower, upper).
type cursor struct {
	it           btree.IterG[item]
	lower, upper []byte
	valid        bool
}

func newCursor(t *tree, lower, upper []byte) *cursor {
	return &cursor{it: t.Iter(), lower: lower, upper: upper}
}

func (c *cursor) check(ok bool) bool {
	c.valid = ok &&
		(c.lower == nil || bytes.Compare(c.it.Item().k, c.lower) >= 0) &&
		(c.upper == nil || bytes.Compare(c.it.Item().k, c.upper) < 0)
	return c.valid
}

func (c *cursor) First() bool {
	if c.lower == nil {
		return c.check(c.it.First())
	}
	return c.check(c.it.Seek(item{k: c.lower}))
}

func (c *cursor) Last() bool {
	if c.upper == nil {
		return c.check(c.it.Last())
	}
	return c.SeekLT(c.upper)
}

func (c *cursor) SeekGE(key []byte) bool {
	if c.lower != nil && bytes.Compare(key, c.lower) < 0 {
		key = c.lower
	}
	return c.check(c.it.Seek(item{k: key}))
}

func (c *cursor) SeekLT(key []byte) bool {
	if c.upper != nil && bytes.Compare(key, c.upper) > 0 {
		key = c.upper
	}
	if c.it.Seek(item{k: key}) {
		return c.check(c.it.Prev())
	}
	return c.check(c.it.Last())
}

func (c *cursor) Next() bool {
	if !c.valid {
		return false
	}
	return c.check(c.it.Next())
}

func (c *cursor) Prev() bool {
	if !c.valid {
		return false
	}
	return c.check(c.it.Prev())
}

func (c *cursor) Key() []byte   { return c.it.Item().k }
func (c *cursor) Value() []byte { return c.it.Item().v }
func (c *cursor) Error() error  { return nil }
func (c *cursor) Close() error {
	c.it.Release()
	c.valid = false
	return nil
}
