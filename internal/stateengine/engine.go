package stateengine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/state"
)

// Engine implements state.Engine over a Backend.
//
// Goroutines: every method except ReadOnly's views is called by the owning
// goroutine. ReadOnly views read e.stores under mu and the backend's
// Committed reader; the owner takes mu only to add stores.
type Engine struct {
	be   Backend
	bulk BulkLoader // nil if the backend has no bulk path

	mu     sync.RWMutex
	stores map[string]*storeInfo

	nextID   uint32
	closed   bool
	roClosed atomic.Bool
	iters    map[*ownedCursor]struct{}
	keyBuf   []byte
}

type storeInfo struct {
	name        string
	kind        byte
	id          uint32
	prefix      []byte
	segInterval int64 // ms; fixed at creation (it is the physical layout)
	retention   atomic.Int64

	// largest window start (window) or session end (session) written;
	// math.MinInt64 when none.
	committedObserved atomic.Int64
	observed          int64 // owner view, includes pending writes
	observedDirty     bool
	registryDirty     bool
	droppedBelow      int64 // segments below this were DeleteRange'd in this transaction
}

// New builds an engine over be, loading the stores registered in its
// committed data.
func New(be Backend) (*Engine, error) {
	e := &Engine{be: be, stores: map[string]*storeInfo{}, nextID: 1, iters: map[*ownedCursor]struct{}{}}
	e.bulk, _ = be.(BulkLoader)
	r := be.Committed()
	lower := []byte{metaPrefix, metaRegistry}
	c, err := r.NewCursor(lower, prefixEnd(lower))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	for ok := c.First(); ok; ok = c.Next() {
		v := c.Value()
		if len(v) != 21 {
			return nil, fmt.Errorf("state: corrupt registry entry %q", c.Key())
		}
		info := &storeInfo{
			name:         string(c.Key()[2:]),
			kind:         v[0],
			id:           binary.BigEndian.Uint32(v[1:]),
			segInterval:  int64(binary.BigEndian.Uint64(v[13:])),
			droppedBelow: math.MinInt64,
		}
		info.prefix = storePrefix(info.id)
		info.retention.Store(int64(binary.BigEndian.Uint64(v[5:])))
		obs := int64(math.MinInt64)
		if b, err := r.Get(observedKey(info.id)); err != nil {
			return nil, err
		} else if len(b) == 8 {
			obs = int64(binary.BigEndian.Uint64(b))
		}
		info.observed = obs
		info.committedObserved.Store(obs)
		e.stores[info.name] = info
		if info.id >= e.nextID {
			e.nextID = info.id + 1
		}
	}
	if err := c.Error(); err != nil {
		return nil, err
	}
	return e, nil
}

func registryValue(info *storeInfo) []byte {
	b := []byte{info.kind}
	b = binary.BigEndian.AppendUint32(b, info.id)
	b = binary.BigEndian.AppendUint64(b, uint64(info.retention.Load()))
	return binary.BigEndian.AppendUint64(b, uint64(info.segInterval))
}

func (e *Engine) open(name string, kind byte, retention, segmentInterval time.Duration) (*storeInfo, error) {
	if e.closed {
		return nil, state.ErrClosed
	}
	if info, ok := e.stores[name]; ok {
		if info.kind != kind {
			return nil, fmt.Errorf("%w: %q is a %s store, opened as %s", state.ErrStoreKind, name, kindName(info.kind), kindName(kind))
		}
		if r := retention.Milliseconds(); kind != kindKeyValue && r != info.retention.Load() {
			info.retention.Store(r)
			info.registryDirty = true
		}
		return info, nil
	}
	if kind != kindKeyValue {
		if retention <= 0 {
			return nil, fmt.Errorf("state: store %q: retention must be positive, got %v", name, retention)
		}
		if segmentInterval <= 0 {
			segmentInterval = max(retention/2, time.Minute)
		}
		if segmentInterval < time.Millisecond {
			return nil, fmt.Errorf("state: store %q: segment interval must be at least 1ms, got %v", name, segmentInterval)
		}
	}
	info := &storeInfo{
		name: name, kind: kind, id: e.nextID, prefix: storePrefix(e.nextID),
		segInterval: segmentInterval.Milliseconds(), observed: math.MinInt64,
		registryDirty: true, droppedBelow: math.MinInt64,
	}
	info.retention.Store(retention.Milliseconds())
	info.committedObserved.Store(math.MinInt64)
	e.nextID++
	e.mu.Lock()
	e.stores[name] = info
	e.mu.Unlock()
	return info, nil
}

// KeyValue implements state.Engine.
func (e *Engine) KeyValue(name string) (state.KeyValueStore, error) {
	info, err := e.open(name, kindKeyValue, 0, 0)
	if err != nil {
		return nil, err
	}
	return &kvStore{view{e, true}, info}, nil
}

// Window implements state.Engine.
func (e *Engine) Window(name string, retention, segmentInterval time.Duration) (state.WindowStore, error) {
	info, err := e.open(name, kindWindow, retention, segmentInterval)
	if err != nil {
		return nil, err
	}
	return &windowStore{view{e, true}, info}, nil
}

// Session implements state.Engine.
func (e *Engine) Session(name string, retention, segmentInterval time.Duration) (state.SessionStore, error) {
	info, err := e.open(name, kindSession, retention, segmentInterval)
	if err != nil {
		return nil, err
	}
	return &sessionStore{view{e, true}, info}, nil
}

// RawPut implements state.Engine.
func (e *Engine) RawPut(store string, key, value []byte) error {
	if e.closed {
		return state.ErrClosed
	}
	info, ok := e.stores[store]
	if !ok {
		return fmt.Errorf("%w: restore into %q: open the store first", state.ErrUnknownStore, store)
	}
	switch info.kind {
	case kindKeyValue:
		e.keyBuf = append(append(e.keyBuf[:0], info.prefix...), key...)
		return e.write(e.keyBuf, value, true)
	case kindWindow:
		k, start, seq, err := state.ParseWindowChangelogKey(key)
		if err != nil {
			return fmt.Errorf("restore store %q: %w", store, err)
		}
		return e.windowPut(info, k, start, seq, value, true)
	default:
		k, start, end, err := state.ParseSessionChangelogKey(key)
		if err != nil {
			return fmt.Errorf("restore store %q: %w", store, err)
		}
		return e.sessionPut(info, k, start, end, value, true)
	}
}

func (e *Engine) write(key, value []byte, restore bool) error {
	if e.closed {
		return state.ErrClosed
	}
	if restore && e.bulk != nil {
		if value == nil {
			return e.bulk.RestoreDelete(key)
		}
		return e.bulk.RestoreSet(key, value)
	}
	if value == nil {
		return e.be.Delete(key)
	}
	return e.be.Set(key, value)
}

// advance records a new observed time and drops expired segments; it
// reports whether a write at segment seg is still live.
func (e *Engine) advance(info *storeInfo, t, seg int64, restore bool) (bool, error) {
	if t > info.observed {
		info.observed = t
		info.observedDirty = true
	}
	live := segmentID(satSub(info.observed, info.retention.Load()), info.segInterval)
	if live > info.droppedBelow {
		end := appendTime(bytes.Clone(info.prefix), live)
		var err error
		if restore && e.bulk != nil {
			err = e.bulk.RestoreDeleteRange(info.prefix, end)
		} else {
			err = e.be.DeleteRange(info.prefix, end)
		}
		if err != nil {
			return false, err
		}
		info.droppedBelow = live
	}
	return seg >= live, nil
}

func satSub(a, b int64) int64 {
	if a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

func (e *Engine) windowPut(info *storeInfo, key []byte, start int64, seq uint32, value []byte, restore bool) error {
	if e.closed {
		return state.ErrClosed
	}
	seg := segmentID(start, info.segInterval)
	live, err := e.advance(info, start, seg, restore)
	if err != nil || !live {
		return err // an expired window is dropped, as in Kafka Streams
	}
	e.keyBuf = windowKey(e.keyBuf, info.prefix, seg, key, start, seq)
	return e.write(e.keyBuf, value, restore)
}

func (e *Engine) sessionPut(info *storeInfo, key []byte, start, end int64, value []byte, restore bool) error {
	if e.closed {
		return state.ErrClosed
	}
	if end < start {
		return fmt.Errorf("state: session store %q: end %d before start %d", info.name, end, start)
	}
	seg := segmentID(end, info.segInterval)
	live, err := e.advance(info, end, seg, restore)
	if err != nil || !live {
		return err
	}
	e.keyBuf = sessionKey(e.keyBuf, info.prefix, seg, key, start, end)
	return e.write(e.keyBuf, value, restore)
}

// Checkpoints implements state.Engine.
func (e *Engine) Checkpoints() (map[string]int64, error) {
	if e.closed {
		return nil, state.ErrClosed
	}
	lower := []byte{metaPrefix, metaCheckpoint}
	c, err := e.be.Committed().NewCursor(lower, prefixEnd(lower))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	out := map[string]int64{}
	for ok := c.First(); ok; ok = c.Next() {
		if v := c.Value(); len(v) == 8 {
			out[string(c.Key()[2:])] = int64(binary.BigEndian.Uint64(v))
		}
	}
	return out, c.Error()
}

// Commit implements state.Engine.
func (e *Engine) Commit(checkpoints map[string]int64) error {
	if e.closed {
		return state.ErrClosed
	}
	e.invalidateIters()
	for _, info := range e.stores {
		if info.registryDirty {
			if err := e.be.Set(registryKey(info.name), registryValue(info)); err != nil {
				return err
			}
		}
		if info.observedDirty {
			if err := e.be.Set(observedKey(info.id), binary.BigEndian.AppendUint64(nil, uint64(info.observed))); err != nil {
				return err
			}
		}
	}
	for changelog, offset := range checkpoints {
		if err := e.be.Set(checkpointKey(changelog), binary.BigEndian.AppendUint64(nil, uint64(offset))); err != nil {
			return err
		}
	}
	if err := e.be.Commit(); err != nil {
		return fmt.Errorf("state: commit: %w", err)
	}
	for _, info := range e.stores {
		info.registryDirty = false
		if info.observedDirty {
			info.committedObserved.Store(info.observed)
			info.observedDirty = false
		}
		info.droppedBelow = math.MinInt64
	}
	return nil
}

// Abort implements state.Engine.
func (e *Engine) Abort() error {
	if e.closed {
		return state.ErrClosed
	}
	e.invalidateIters()
	if err := e.be.Abort(); err != nil {
		return fmt.Errorf("state: abort: %w", err)
	}
	for _, info := range e.stores {
		info.observed = info.committedObserved.Load()
		info.observedDirty = false
		info.droppedBelow = math.MinInt64
	}
	return nil
}

// ReadOnly implements state.Engine.
func (e *Engine) ReadOnly() state.ReadOnlyEngine { return readOnly{e} }

// Close implements state.Engine.
func (e *Engine) Close() error {
	if e.closed {
		return nil
	}
	e.invalidateIters()
	e.closed = true
	e.roClosed.Store(true)
	return e.be.Close()
}

// Destroy implements state.Engine.
func (e *Engine) Destroy() error {
	e.invalidateIters()
	e.closed = true
	e.roClosed.Store(true)
	return e.be.Destroy()
}

func (e *Engine) invalidateIters() {
	for c := range e.iters {
		c.invalidate()
	}
	clear(e.iters)
}

type readOnly struct{ e *Engine }

func (r readOnly) lookup(name string, kind byte) (*storeInfo, error) {
	if r.e.roClosed.Load() {
		return nil, state.ErrClosed
	}
	r.e.mu.RLock()
	info, ok := r.e.stores[name]
	r.e.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", state.ErrUnknownStore, name)
	}
	if info.kind != kind {
		return nil, fmt.Errorf("%w: %q is a %s store, queried as %s", state.ErrStoreKind, name, kindName(info.kind), kindName(kind))
	}
	return info, nil
}

func (r readOnly) KeyValue(name string) (state.ReadOnlyKeyValueStore, error) {
	info, err := r.lookup(name, kindKeyValue)
	if err != nil {
		return nil, err
	}
	return &kvStore{view{r.e, false}, info}, nil
}

func (r readOnly) Window(name string) (state.ReadOnlyWindowStore, error) {
	info, err := r.lookup(name, kindWindow)
	if err != nil {
		return nil, err
	}
	return &windowStore{view{r.e, false}, info}, nil
}

func (r readOnly) Session(name string) (state.ReadOnlySessionStore, error) {
	info, err := r.lookup(name, kindSession)
	if err != nil {
		return nil, err
	}
	return &sessionStore{view{r.e, false}, info}, nil
}

// view is the owner's (pending + committed) or a reader's (committed)
// window on the engine.
type view struct {
	e     *Engine
	owner bool
}

func (v view) check() error {
	if v.owner && v.e.closed || !v.owner && v.e.roClosed.Load() {
		return state.ErrClosed
	}
	return nil
}

func (v view) get(key []byte) ([]byte, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	if v.owner {
		return v.e.be.Get(key)
	}
	return v.e.be.Committed().Get(key)
}

func (v view) cursor(lower, upper []byte) (Cursor, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	if !v.owner {
		return v.e.be.Committed().NewCursor(lower, upper)
	}
	c, err := v.e.be.NewCursor(lower, upper)
	if err != nil {
		return nil, err
	}
	oc := &ownedCursor{Cursor: c, e: v.e}
	v.e.iters[oc] = struct{}{}
	return oc, nil
}

func (v view) observed(info *storeInfo) int64 {
	if v.owner {
		return info.observed
	}
	return info.committedObserved.Load()
}

// ownedCursor is an owner cursor the engine closes on Commit, Abort and
// Close (a Pebble batch iterator must not outlive its batch).
type ownedCursor struct {
	Cursor
	e       *Engine
	invalid bool // closed by the engine or by the user
	byUser  bool
}

func (c *ownedCursor) invalidate() {
	if !c.invalid {
		c.invalid = true
		c.Cursor.Close()
	}
}

func (c *ownedCursor) First() bool          { return !c.invalid && c.Cursor.First() }
func (c *ownedCursor) Last() bool           { return !c.invalid && c.Cursor.Last() }
func (c *ownedCursor) SeekGE(k []byte) bool { return !c.invalid && c.Cursor.SeekGE(k) }
func (c *ownedCursor) SeekLT(k []byte) bool { return !c.invalid && c.Cursor.SeekLT(k) }
func (c *ownedCursor) Next() bool           { return !c.invalid && c.Cursor.Next() }
func (c *ownedCursor) Prev() bool           { return !c.invalid && c.Cursor.Prev() }
func (c *ownedCursor) Error() error {
	if c.invalid {
		if c.byUser {
			return nil
		}
		return state.ErrIteratorInvalidated
	}
	return c.Cursor.Error()
}

func (c *ownedCursor) Close() error {
	if c.invalid {
		return nil
	}
	c.invalid, c.byUser = true, true
	delete(c.e.iters, c)
	return c.Cursor.Close()
}
