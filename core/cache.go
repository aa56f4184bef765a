package core

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/state"
)

// KeyValueFlushListener receives a key-value store's updates as they leave
// the record cache: at commit, when the cache evicts them, or at once when
// caching is off. newValue nil is a delete; oldValue is the value the store
// held before (nil if none); ts and headers are the update's record time
// and headers. Processors forward their results from here, so that with
// caching only the latest update per key and commit interval goes
// downstream (Kafka Streams' "emit on update through the cache").
type KeyValueFlushListener func(key, newValue, oldValue []byte, ts time.Time) error

// WindowFlushListener is KeyValueFlushListener for window stores.
type WindowFlushListener func(key []byte, windowStart int64, newValue, oldValue []byte, ts time.Time) error

// ErrNotCached is returned when setting a flush listener on a store that
// does not support one.
var ErrNotCached = errors.New("core: store has no flush listener support")

// SetKeyValueFlushListener installs the listener of a key-value store the
// processor is connected to. Call it from Init.
func SetKeyValueFlushListener(ctx interface{ StateStore(string) (any, error) }, store string, l KeyValueFlushListener) error {
	s, err := ctx.StateStore(store)
	if err != nil {
		return err
	}
	c, ok := unmetered(s).(*cachedKV)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotCached, store)
	}
	c.listener = l
	return nil
}

// SetWindowFlushListener installs the listener of a window store.
func SetWindowFlushListener(ctx interface{ StateStore(string) (any, error) }, store string, l WindowFlushListener) error {
	s, err := ctx.StateStore(store)
	if err != nil {
		return err
	}
	c, ok := unmetered(s).(*cachedWindow)
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotCached, store)
	}
	c.listener = l
	return nil
}

// cacheBudget is the byte budget of the record caches of one thread's
// tasks (or the test driver's). Only the owning goroutine touches it.
type cacheBudget struct {
	max, used int
}

const cacheEntryOverhead = 64 // bookkeeping bytes counted per entry

type cacheEntry struct {
	key, value  []byte // value nil: delete
	windowStart int64
	ts          time.Time
	size        int
	prev, next  *cacheEntry // LRU list, oldest first
}

// lru is an intrusive LRU list of dirty entries.
type lru struct{ head, tail *cacheEntry }

func (l *lru) pushBack(e *cacheEntry) {
	e.prev, e.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
}

func (l *lru) remove(e *cacheEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// cachedKV is the key-value store processors see: writes are kept in the
// record cache (when caching is on) and reach the store, its changelog and
// the flush listener at commit or on eviction; reads see the cache first.
// Range reads flush first so that they see every write.
type cachedKV struct {
	state.KeyValueStore // the logged (or plain) store below
	tk                  *task
	budget              *cacheBudget // nil: caching off
	entries             map[string]*cacheEntry
	order               lru
	listener            KeyValueFlushListener

	// The last value read from the store below, remembered so that the
	// usual read-modify-write of an aggregation reads the store once: the
	// write reuses it as the old value for the listener.
	lastKey, lastValue []byte
	lastValid          bool
}

func (c *cachedKV) Get(key []byte) ([]byte, error) {
	if e, ok := c.entries[string(key)]; ok {
		return e.value, nil
	}
	v, err := c.KeyValueStore.Get(key)
	if err == nil {
		c.lastKey = append(c.lastKey[:0], key...)
		c.lastValue, c.lastValid = v, true
	}
	return v, err
}

func (c *cachedKV) Put(key, value []byte) error {
	ts := c.tk.currentTime()
	if c.budget == nil || c.budget.max <= 0 {
		return c.write(key, value, ts)
	}
	e, ok := c.entries[string(key)]
	if ok {
		c.budget.used -= e.size
		c.order.remove(e)
	} else {
		e = &cacheEntry{key: append([]byte(nil), key...)}
		c.entries[string(e.key)] = e
	}
	e.value = nil
	if value != nil {
		e.value = append(make([]byte, 0, len(value)), value...)
	}
	e.ts = ts
	e.size = len(e.key) + len(e.value) + cacheEntryOverhead
	c.budget.used += e.size
	c.order.pushBack(e)
	for c.budget.used > c.budget.max && c.order.head != nil {
		if err := c.evict(c.order.head); err != nil {
			return err
		}
	}
	return nil
}

func (c *cachedKV) Delete(key []byte) error { return c.Put(key, nil) }

// write sends one update to the store and then to the listener with the
// value it replaced.
func (c *cachedKV) write(key, value []byte, ts time.Time) error {
	var old []byte
	if c.listener != nil {
		if c.lastValid && bytes.Equal(c.lastKey, key) {
			old = c.lastValue // the store still holds what Get returned
		} else {
			var err error
			if old, err = c.KeyValueStore.Get(key); err != nil {
				return err
			}
			old = bytes.Clone(old) // keeps a present empty value non-nil
		}
		if old == nil && value == nil {
			return nil // deleting a missing key changes nothing
		}
	}
	c.lastValid = false
	// The entry's time, not the flush's, stamps its changelog record and
	// what the listener forwards (Kafka Streams restores the entry's
	// record context when its cache flushes).
	prev := c.tk.recordTime
	c.tk.recordTime = ts.UnixMilli()
	err := c.KeyValueStore.Put(key, value)
	if err == nil && c.listener != nil {
		err = c.listener(key, value, old, ts)
	}
	c.tk.recordTime = prev
	return err
}

func (c *cachedKV) evict(e *cacheEntry) error {
	c.order.remove(e)
	delete(c.entries, string(e.key))
	c.budget.used -= e.size
	return c.write(e.key, e.value, e.ts)
}

// flush writes every cached update, oldest first, and returns how many.
func (c *cachedKV) flush() (int, error) {
	n := 0
	for c.order.head != nil {
		if err := c.evict(c.order.head); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (c *cachedKV) Range(from, to []byte) (state.Iterator, error) {
	if _, err := c.flush(); err != nil {
		return nil, err
	}
	return c.KeyValueStore.Range(from, to)
}

func (c *cachedKV) ReverseRange(from, to []byte) (state.Iterator, error) {
	if _, err := c.flush(); err != nil {
		return nil, err
	}
	return c.KeyValueStore.ReverseRange(from, to)
}

func (c *cachedKV) Prefix(prefix []byte) (state.Iterator, error) {
	if _, err := c.flush(); err != nil {
		return nil, err
	}
	return c.KeyValueStore.Prefix(prefix)
}

func (c *cachedKV) All() (state.Iterator, error) {
	if _, err := c.flush(); err != nil {
		return nil, err
	}
	return c.KeyValueStore.All()
}

// cachedWindow is cachedKV for window stores.
type cachedWindow struct {
	state.WindowStore
	tk       *task
	budget   *cacheBudget
	entries  map[windowKey]*cacheEntry
	order    lru
	listener WindowFlushListener
}

type windowKey struct {
	key   string
	start int64
}

func (c *cachedWindow) Fetch(key []byte, windowStart int64) ([]byte, error) {
	if e, ok := c.entries[windowKey{string(key), windowStart}]; ok {
		return e.value, nil
	}
	return c.WindowStore.Fetch(key, windowStart)
}

func (c *cachedWindow) Put(key []byte, windowStart int64, value []byte) error {
	ts := c.tk.currentTime()
	if c.budget == nil || c.budget.max <= 0 {
		return c.write(key, windowStart, value, ts)
	}
	wk := windowKey{string(key), windowStart}
	e, ok := c.entries[wk]
	if ok {
		c.budget.used -= e.size
		c.order.remove(e)
	} else {
		e = &cacheEntry{key: append([]byte(nil), key...), windowStart: windowStart}
		c.entries[wk] = e
	}
	e.value = nil
	if value != nil {
		e.value = append(make([]byte, 0, len(value)), value...)
	}
	e.ts = ts
	e.size = len(e.key) + len(e.value) + 8 + cacheEntryOverhead
	c.budget.used += e.size
	c.order.pushBack(e)
	for c.budget.used > c.budget.max && c.order.head != nil {
		if err := c.evict(c.order.head); err != nil {
			return err
		}
	}
	return nil
}

func (c *cachedWindow) write(key []byte, windowStart int64, value []byte, ts time.Time) error {
	var old []byte
	if c.listener != nil {
		var err error
		if old, err = c.WindowStore.Fetch(key, windowStart); err != nil {
			return err
		}
		old = bytes.Clone(old) // keeps a present empty value non-nil
		if old == nil && value == nil {
			return nil
		}
	}
	prev := c.tk.recordTime // see cachedKV.write
	c.tk.recordTime = ts.UnixMilli()
	err := c.WindowStore.Put(key, windowStart, value)
	if err == nil && c.listener != nil {
		err = c.listener(key, windowStart, value, old, ts)
	}
	c.tk.recordTime = prev
	return err
}

func (c *cachedWindow) evict(e *cacheEntry) error {
	c.order.remove(e)
	delete(c.entries, windowKey{string(e.key), e.windowStart})
	c.budget.used -= e.size
	return c.write(e.key, e.windowStart, e.value, e.ts)
}

func (c *cachedWindow) flush() (int, error) {
	n := 0
	for c.order.head != nil {
		if err := c.evict(c.order.head); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (c *cachedWindow) FetchRange(key []byte, from, to int64) (state.WindowIterator, error) {
	if _, err := c.flush(); err != nil {
		return nil, err
	}
	return c.WindowStore.FetchRange(key, from, to)
}

func (c *cachedWindow) FetchAll(from, to int64) (state.WindowIterator, error) {
	if _, err := c.flush(); err != nil {
		return nil, err
	}
	return c.WindowStore.FetchAll(from, to)
}
