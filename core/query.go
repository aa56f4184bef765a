package core

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/kpart"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

// Interactive queries read the local state stores of a running App from
// any goroutine (Kafka Streams' KafkaStreams#store). They see committed
// data only: what the stores held at the last commit of their task (the
// read-only engine views never show a task's uncommitted writes, and the
// record cache is flushed before every commit). A store's partitions are
// queryable once their task is assigned to this instance and restored;
// with WithStaleStores, also the partitions this instance holds as a
// standby replica or as an active task still restoring, which report
// their lag (PartitionSource, App.AllLocalStorePartitionLags).
//
// A key lives in partition murmur2(serialized key) mod the store's task
// count (the partition count of its sub-topology's input topics, which is
// also its changelog's partition count), as Kafka's default partitioner
// places it: stores fed through a repartition topic, and tables read from
// topics written with the default partitioner, follow this rule. Keys are
// serialized with the query's key serde, which must be the one the store
// was written with.

// ErrNotLocal is returned by key lookups when the key's partition of the
// store is not held by this instance: another instance of the application
// holds it, or the task is still restoring, or a rebalance is moving it
// (with WithStaleStores: this instance has neither the active task nor a
// standby of it). Ask the instance that holds it, or retry later. It
// comes wrapped in a *NotLocalError naming the partition.
var ErrNotLocal = errors.New("core: store partition is not local to this instance")

// NotLocalError is the error key lookups return for a key whose partition
// is not local; errors.Is(err, ErrNotLocal) holds.
type NotLocalError struct {
	Store     string
	Partition int32
}

func (e *NotLocalError) Error() string {
	return fmt.Sprintf("%v: store %q partition %d", ErrNotLocal, e.Store, e.Partition)
}

func (e *NotLocalError) Unwrap() error { return ErrNotLocal }

// ErrUnknownStore is returned by the query functions for a store name the
// topology does not have, or a store of another kind (key-value, window,
// session) than the query asked for.
var ErrUnknownStore = errors.New("core: no such queryable store")

// ErrNotReady is returned by key lookups before App.Run has prepared the
// application's topics: the store's task count is not known yet.
var ErrNotReady = errors.New("core: application not ready for queries")

// QueryOption configures an interactive query.
type QueryOption func(*queryConfig)

type queryConfig struct {
	timestamped bool
	stale       bool
}

// WithStaleStores lets the query also read the partitions this instance
// holds as a standby replica (WithNumStandbyReplicas) or as an active task
// that is still restoring, when the partition is not active and running
// here (Kafka Streams' StoreQueryParameters#enableStaleStores). Such a
// copy serves the data committed to it so far, which may be behind the
// active task's: the reads report where they stand in the changelog
// (KeyValueQuery.Lookup, the iterators' Source; App.AllLocalStorePartitionLags
// lists every local partition's lag). A partition active and running here
// is always read from the active task. Default: only active, restored
// partitions are read, and a key elsewhere returns ErrNotLocal.
func WithStaleStores() QueryOption { return func(c *queryConfig) { c.stale = true } }

// LagInfo is how far a local copy of a store partition is behind the end
// of its changelog (Kafka Streams' LagInfo).
type LagInfo struct {
	// CurrentOffsetPosition is the changelog offset up to which the copy's
	// committed data (what queries see) has applied the changelog
	// (currentOffsetPosition).
	CurrentOffsetPosition int64 `json:"currentOffsetPosition"`
	// EndOffsetPosition is the changelog's end offset (the last stable
	// offset under exactly_once_v2), -1 when not known yet
	// (endOffsetPosition).
	EndOffsetPosition int64 `json:"endOffsetPosition"`
	// OffsetLag is EndOffsetPosition - CurrentOffsetPosition, at least 0;
	// -1 when the end is not known yet (offsetLag). It counts offsets, not
	// records: transaction markers and compacted records count too.
	OffsetLag int64 `json:"offsetLag"`
}

func newLagInfo(pos, end int64) LagInfo {
	if end < 0 {
		return LagInfo{CurrentOffsetPosition: pos, EndOffsetPosition: -1, OffsetLag: -1}
	}
	end = max(end, pos)
	return LagInfo{CurrentOffsetPosition: pos, EndOffsetPosition: end, OffsetLag: end - pos}
}

// PartitionSource says which local copy of a store partition a query read.
type PartitionSource struct {
	Partition int32
	// Standby: a standby replica of the partition's task; Restoring: the
	// active task, still restoring. Both only with WithStaleStores; both
	// false for the active task, restored and running.
	Standby, Restoring bool
	// Lag is, for a standby or restoring copy, the lag of the data read
	// (as of the copy's last commit and the end offset its owner last
	// learned, so a few commit intervals may pass before it reaches 0
	// after the copy caught up); zero for the active task.
	Lag LagInfo
}

// Stale reports whether the partition was read from a standby or
// restoring copy, which may be behind the active task.
func (s PartitionSource) Stale() bool { return s.Standby || s.Restoring }

// WithTimestampedValues reads values in Kafka Streams' ValueAndTimestamp
// layout ([8-byte big-endian timestamp][value]), the layout of the DSL's
// key-value and window stores (tables and aggregations): the timestamp is
// stripped before the value serde runs and reported by the iterators'
// Timestamp. Default: values are read as stored (for Processor API stores
// and session stores).
func WithTimestampedValues() QueryOption { return func(c *queryConfig) { c.timestamped = true } }

// storeQuery is the untyped part of a query: the store, its kind, and how
// to find its local partitions.
type storeQuery struct {
	app         *App
	store       string
	kind        StoreKind
	sub         *subtopology
	topic       string // the serde topic: the store's changelog topic name
	timestamped bool
	stale       bool // WithStaleStores
}

func newStoreQuery(app *App, store string, kind StoreKind, opts []QueryOption) (*storeQuery, error) {
	if app == nil {
		return nil, errors.New("core: query: nil App")
	}
	var cfg queryConfig
	for _, o := range opts {
		o(&cfg)
	}
	spec := app.topo.stores[store]
	if spec == nil {
		return nil, fmt.Errorf("%w: %q is not in the topology", ErrUnknownStore, store)
	}
	if spec.Kind != kind {
		return nil, fmt.Errorf("%w: %q is a %s store, queried as %s", ErrUnknownStore, store, spec.Kind, kind)
	}
	q := &storeQuery{app: app, store: store, kind: kind, topic: ChangelogTopic(app.cfg.appID, store), timestamped: cfg.timestamped, stale: cfg.stale}
	for _, st := range app.subs {
		if containsString(st.stores, store) {
			q.sub = st
		}
	}
	if q.sub == nil {
		return nil, fmt.Errorf("%w: %q is connected to no processor", ErrUnknownStore, store)
	}
	return q, nil
}

// tasks is the store's task count: the largest partition count of its
// sub-topology's input topics, as App.Run resolved them.
func (q *storeQuery) tasks() (int32, error) {
	a := q.app
	a.countsMu.Lock()
	defer a.countsMu.Unlock()
	var n int32
	for _, src := range q.sub.sourceTopics {
		c, ok := a.counts[a.resolveTopic(src)]
		if !ok {
			return 0, fmt.Errorf("%w: partition count of topic %q unknown (store %q)", ErrNotReady, src, q.store)
		}
		n = max(n, c)
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: store %q has no input partitions", ErrNotReady, q.store)
	}
	return n, nil
}

// partitionOf is the partition holding a serialized key.
func (q *storeQuery) partitionOf(key []byte) (int32, error) {
	n, err := q.tasks()
	if err != nil {
		return 0, err
	}
	return keyPartition(key, n), nil
}

// keyPartition is Kafka's default partitioner for a keyed record.
func keyPartition(key []byte, partitions int32) int32 {
	return int32(kpart.ForKey(key, int(partitions)))
}

// engineFor returns the local instance of the key's partition.
func (q *storeQuery) engineFor(key []byte) (int32, localStore, error) {
	p, err := q.partitionOf(key)
	if err != nil {
		return 0, localStore{}, err
	}
	if l, ok := q.app.queryable.partition(q.store, p, q.stale); ok {
		return p, l, nil
	}
	return p, localStore{}, &NotLocalError{Store: q.store, Partition: p}
}

// value splits a stored value into the value bytes and its timestamp
// (-1 when the store is not timestamped).
func (q *storeQuery) value(raw []byte) ([]byte, int64, error) {
	if !q.timestamped {
		return raw, -1, nil
	}
	if len(raw) < 8 {
		return nil, 0, fmt.Errorf("core: store %q: timestamped value of %d bytes", q.store, len(raw))
	}
	return raw[8:len(raw):len(raw)], int64(binary.BigEndian.Uint64(raw)), nil
}

func serializeKey[K any](q *storeQuery, keys serde.Serde[K], k K) ([]byte, error) {
	kb, err := keys.Serialize(q.topic, k)
	if err != nil {
		return nil, fmt.Errorf("core: query store %q: serialize key: %w", q.store, err)
	}
	if kb == nil {
		kb = []byte{}
	}
	return kb, nil
}

// ---- key-value ----

// KeyValueQuery reads a key-value store of this instance (Kafka Streams'
// ReadOnlyKeyValueStore). It is safe for concurrent use.
type KeyValueQuery[K, V any] struct {
	q      *storeQuery
	keys   serde.Serde[K]
	values serde.Serde[V]
}

// QueryKeyValue returns a query of the named key-value store, with the
// serdes the store was written with. Use WithTimestampedValues for stores
// written by the DSL (or dsl.QueryTable, which knows a table's serdes).
func QueryKeyValue[K, V any](app *App, store string, keys serde.Serde[K], values serde.Serde[V], opts ...QueryOption) (*KeyValueQuery[K, V], error) {
	q, err := newStoreQuery(app, store, KeyValueStoreKind, opts)
	if err != nil {
		return nil, err
	}
	return &KeyValueQuery[K, V]{q: q, keys: keys, values: values}, nil
}

// Store is the queried store's name.
func (kq *KeyValueQuery[K, V]) Store() string { return kq.q.store }

// Partition is the partition (task) of the store that holds k, local or not.
func (kq *KeyValueQuery[K, V]) Partition(k K) (int32, error) {
	kb, err := serializeKey(kq.q, kq.keys, k)
	if err != nil {
		return 0, err
	}
	return kq.q.partitionOf(kb)
}

// Get returns k's committed value. It returns ErrNotLocal (wrapped) when
// k's partition is not held by this instance.
func (kq *KeyValueQuery[K, V]) Get(k K) (v V, found bool, err error) {
	r, err := kq.Lookup(k)
	return r.Value, r.Found, err
}

// GetWithTimestamp is Get, also returning the value's timestamp (epoch
// milliseconds; -1 without WithTimestampedValues).
func (kq *KeyValueQuery[K, V]) GetWithTimestamp(k K) (v V, ts int64, found bool, err error) {
	r, err := kq.Lookup(k)
	return r.Value, r.Timestamp, r.Found, err
}

// KeyValueResult is a key lookup's answer (KeyValueQuery.Lookup).
type KeyValueResult[V any] struct {
	Value V
	// Timestamp is the value's timestamp (epoch milliseconds; -1 without
	// WithTimestampedValues).
	Timestamp int64
	Found     bool
	// Source is the partition read, and with WithStaleStores whether a
	// standby or restoring copy answered, with its lag.
	Source PartitionSource
}

// Lookup is Get, also saying where the value was read: the key's
// partition, and with WithStaleStores whether a standby replica or a
// restoring active task answered and how far it is behind its changelog.
// Source is set even when the key is not found.
func (kq *KeyValueQuery[K, V]) Lookup(k K) (KeyValueResult[V], error) {
	var r KeyValueResult[V]
	q := kq.q
	kb, err := serializeKey(q, kq.keys, k)
	if err != nil {
		return r, err
	}
	p, l, err := q.engineFor(kb)
	if err != nil {
		return r, err
	}
	st, err := l.engine.KeyValue(q.store)
	if err != nil {
		return r, fmt.Errorf("core: query store %q: %w", q.store, err)
	}
	// The lag before the read: the data read is at least this current.
	r.Source = l.source(p)
	raw, err := st.Get(kb)
	if err != nil || raw == nil {
		return r, err
	}
	vb, ts, err := q.value(raw)
	if err != nil {
		return r, err
	}
	if r.Value, err = kq.values.Deserialize(q.topic, vb); err != nil {
		return r, fmt.Errorf("core: query store %q: deserialize value: %w", q.store, err)
	}
	r.Timestamp, r.Found = ts, true
	return r, nil
}

// Range iterates the keys from from to to, both included (as Kafka
// Streams' range), in serialized-key byte order, merged across the local
// partitions. Only local partitions are read (with WithStaleStores,
// standby and restoring ones included; see the iterator's Source).
func (kq *KeyValueQuery[K, V]) Range(from, to K) (*KeyValueIterator[K, V], error) {
	fb, err := serializeKey(kq.q, kq.keys, from)
	if err != nil {
		return nil, err
	}
	tb, err := serializeKey(kq.q, kq.keys, to)
	if err != nil {
		return nil, err
	}
	return kq.iterate(fb, tb, true)
}

// All iterates every key of the local partitions, in serialized-key byte
// order.
func (kq *KeyValueQuery[K, V]) All() (*KeyValueIterator[K, V], error) {
	return kq.iterate(nil, nil, false)
}

func (kq *KeyValueQuery[K, V]) iterate(from, to []byte, bounded bool) (*KeyValueIterator[K, V], error) {
	raw, err := kq.q.rangeRaw(from, to, bounded)
	if err != nil {
		return nil, err
	}
	return &KeyValueIterator[K, V]{raw: raw, kq: kq}, nil
}

// rangeRaw opens a merged byte-level iterator over the local partitions:
// keys in [from, to] (a nil bound is open) when bounded, else all.
func (q *storeQuery) rangeRaw(from, to []byte, bounded bool) (*mergedIterator, error) {
	var upper []byte
	if to != nil {
		upper = append(bytes.Clone(to), 0) // the successor of to: includes to
	}
	m := &mergedIterator{q: q}
	ps, ls := q.app.queryable.partitions(q.store, q.stale)
	if bounded && from != nil && upper != nil && bytes.Compare(from, upper) >= 0 {
		// An empty range (from after to): nothing to read, but the
		// partitions still count as read (see QueryHandler's fan-out).
		m.parts = ps
		return m, nil
	}
	for i, l := range ls {
		st, err := l.engine.KeyValue(q.store)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("core: query store %q partition %d: %w", q.store, ps[i], err)
		}
		var it state.Iterator
		if bounded {
			it, err = st.Range(from, upper)
		} else {
			it, err = st.All()
		}
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("core: query store %q partition %d: %w", q.store, ps[i], err)
		}
		m.its = append(m.its, it)
		m.parts = append(m.parts, ps[i])
		m.srcs = append(m.srcs, l.source(ps[i]))
	}
	return m, nil
}

// mergedIterator merges sorted per-partition iterators by key. Partitions
// hold disjoint keys, so there are no ties.
type mergedIterator struct {
	q     *storeQuery
	its   []state.Iterator
	parts []int32 // the partition of each of its; all partitions read
	srcs  []PartitionSource
	live  []bool // its[i] has a current entry
	cur   int    // index of the current entry, -1 before the first / after the end
	err   error
}

// Next moves to the smallest key among the partitions' heads.
func (m *mergedIterator) Next() bool {
	if m.err != nil {
		return false
	}
	if m.live == nil {
		m.live = make([]bool, len(m.its))
		for i, it := range m.its {
			m.live[i] = it.Next()
		}
	} else if m.cur >= 0 {
		m.live[m.cur] = m.its[m.cur].Next()
	}
	m.cur = -1
	for i, it := range m.its {
		if !m.live[i] {
			if err := it.Err(); err != nil {
				m.err = fmt.Errorf("core: query store %q partition %d: %w", m.q.store, m.parts[i], err)
				return false
			}
			continue
		}
		if m.cur < 0 || bytes.Compare(it.Key(), m.its[m.cur].Key()) < 0 {
			m.cur = i
		}
	}
	return m.cur >= 0
}

func (m *mergedIterator) key() []byte      { return m.its[m.cur].Key() }
func (m *mergedIterator) value() []byte    { return m.its[m.cur].Value() }
func (m *mergedIterator) partition() int32 { return m.parts[m.cur] }

func (m *mergedIterator) Close() error {
	var errs []error
	for _, it := range m.its {
		errs = append(errs, it.Close())
	}
	m.its = nil
	m.live = nil
	m.cur = -1
	return errors.Join(errs...)
}

// KeyValueIterator walks a key-value query's entries. Use it from one
// goroutine at a time and Close it. A decoding or store error ends the
// iteration and is returned by Err.
type KeyValueIterator[K, V any] struct {
	raw   *mergedIterator
	kq    *KeyValueQuery[K, V]
	key   K
	value V
	ts    int64
	err   error
}

// Next decodes the next entry; false at the end or on error.
func (it *KeyValueIterator[K, V]) Next() bool {
	if it.err != nil || !it.raw.Next() {
		return false
	}
	q := it.kq.q
	if it.key, it.err = it.kq.keys.Deserialize(q.topic, it.raw.key()); it.err != nil {
		it.err = fmt.Errorf("core: query store %q: deserialize key: %w", q.store, it.err)
		return false
	}
	var vb []byte
	if vb, it.ts, it.err = q.value(it.raw.value()); it.err != nil {
		return false
	}
	if it.value, it.err = it.kq.values.Deserialize(q.topic, vb); it.err != nil {
		it.err = fmt.Errorf("core: query store %q: deserialize value: %w", q.store, it.err)
		return false
	}
	return true
}

// Key, Value and Timestamp (epoch ms, -1 if not timestamped) are the
// current entry's.
func (it *KeyValueIterator[K, V]) Key() K           { return it.key }
func (it *KeyValueIterator[K, V]) Value() V         { return it.value }
func (it *KeyValueIterator[K, V]) Timestamp() int64 { return it.ts }

// Partition is the store partition the current entry was read from.
func (it *KeyValueIterator[K, V]) Partition() int32 { return it.raw.partition() }

// Source is where the current entry was read from: its partition, and
// with WithStaleStores whether from a standby or restoring copy, with the
// copy's lag when the iterator was opened.
func (it *KeyValueIterator[K, V]) Source() PartitionSource { return it.raw.srcs[it.raw.cur] }

// Err returns the first decoding or store error.
func (it *KeyValueIterator[K, V]) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.raw.err
}

// Close releases the underlying store iterators.
func (it *KeyValueIterator[K, V]) Close() error { return it.raw.Close() }

// ---- window ----

// WindowQuery reads a window store of this instance (Kafka Streams'
// ReadOnlyWindowStore). Times are epoch milliseconds. It is safe for
// concurrent use.
type WindowQuery[K, V any] struct {
	q      *storeQuery
	keys   serde.Serde[K]
	values serde.Serde[V]
}

// QueryWindow returns a query of the named window store; keys is the
// serde of the record key (without the window). Use WithTimestampedValues
// for stores written by the DSL's windowed aggregations.
func QueryWindow[K, V any](app *App, store string, keys serde.Serde[K], values serde.Serde[V], opts ...QueryOption) (*WindowQuery[K, V], error) {
	q, err := newStoreQuery(app, store, WindowStoreKind, opts)
	if err != nil {
		return nil, err
	}
	return &WindowQuery[K, V]{q: q, keys: keys, values: values}, nil
}

// Store is the queried store's name.
func (wq *WindowQuery[K, V]) Store() string { return wq.q.store }

// Fetch returns k's value in the window starting at windowStart.
func (wq *WindowQuery[K, V]) Fetch(k K, windowStart int64) (v V, found bool, err error) {
	q := wq.q
	st, kb, err := wq.local(k)
	if err != nil {
		return v, false, err
	}
	raw, err := st.Fetch(kb, windowStart)
	if err != nil || raw == nil {
		return v, false, err
	}
	vb, _, err := q.value(raw)
	if err != nil {
		return v, false, err
	}
	if v, err = wq.values.Deserialize(q.topic, vb); err != nil {
		return v, false, fmt.Errorf("core: query store %q: deserialize value: %w", q.store, err)
	}
	return v, true, nil
}

// FetchRange iterates k's windows with start in [from, to], oldest first.
// It returns ErrNotLocal (wrapped) when k's partition is not held here.
func (wq *WindowQuery[K, V]) FetchRange(k K, from, to int64) (*WindowIterator[K, V], error) {
	st, kb, err := wq.local(k)
	if err != nil {
		return nil, err
	}
	src := st.src
	it, err := st.FetchRange(kb, from, to)
	if err != nil {
		return nil, fmt.Errorf("core: query store %q: %w", wq.q.store, err)
	}
	return &WindowIterator[K, V]{its: []state.WindowIterator{it}, parts: []int32{src.Partition}, srcs: []PartitionSource{src}, wq: wq}, nil
}

// FetchAll iterates every key's windows with start in [from, to] in the
// local partitions, partition after partition.
func (wq *WindowQuery[K, V]) FetchAll(from, to int64) (*WindowIterator[K, V], error) {
	q := wq.q
	ps, ls := q.app.queryable.partitions(q.store, q.stale)
	out := &WindowIterator[K, V]{wq: wq}
	for i, l := range ls {
		src := l.source(ps[i])
		st, err := l.engine.Window(q.store)
		if err == nil {
			var it state.WindowIterator
			if it, err = st.FetchAll(from, to); err == nil {
				out.its = append(out.its, it)
				out.parts = append(out.parts, ps[i])
				out.srcs = append(out.srcs, src)
				continue
			}
		}
		out.Close()
		return nil, fmt.Errorf("core: query store %q partition %d: %w", q.store, ps[i], err)
	}
	return out, nil
}

// localWindow is the local window store holding a key, and where it is.
type localWindow struct {
	state.ReadOnlyWindowStore
	src PartitionSource
}

func (wq *WindowQuery[K, V]) local(k K) (localWindow, []byte, error) {
	kb, err := serializeKey(wq.q, wq.keys, k)
	if err != nil {
		return localWindow{}, nil, err
	}
	p, l, err := wq.q.engineFor(kb)
	if err != nil {
		return localWindow{}, nil, err
	}
	st, err := l.engine.Window(wq.q.store)
	if err != nil {
		return localWindow{}, nil, fmt.Errorf("core: query store %q: %w", wq.q.store, err)
	}
	return localWindow{st, l.source(p)}, kb, nil
}

// WindowIterator walks windows of a window query. Use it from one
// goroutine at a time and Close it.
type WindowIterator[K, V any] struct {
	its   []state.WindowIterator
	parts []int32
	srcs  []PartitionSource
	i     int
	wq    *WindowQuery[K, V]
	key   K
	value V
	ts    int64
	err   error
}

// Next decodes the next window; false at the end or on error.
func (it *WindowIterator[K, V]) Next() bool {
	if it.err != nil {
		return false
	}
	q := it.wq.q
	for it.i < len(it.its) {
		cur := it.its[it.i]
		if !cur.Next() {
			if it.err = cur.Err(); it.err != nil {
				it.err = fmt.Errorf("core: query store %q partition %d: %w", q.store, it.parts[it.i], it.err)
				return false
			}
			it.i++
			continue
		}
		if it.key, it.err = it.wq.keys.Deserialize(q.topic, cur.Key()); it.err != nil {
			it.err = fmt.Errorf("core: query store %q: deserialize key: %w", q.store, it.err)
			return false
		}
		var vb []byte
		if vb, it.ts, it.err = q.value(cur.Value()); it.err != nil {
			return false
		}
		if it.value, it.err = it.wq.values.Deserialize(q.topic, vb); it.err != nil {
			it.err = fmt.Errorf("core: query store %q: deserialize value: %w", q.store, it.err)
			return false
		}
		return true
	}
	return false
}

// Key, WindowStart, Value and Timestamp (-1 if not timestamped) are the
// current window's.
func (it *WindowIterator[K, V]) Key() K             { return it.key }
func (it *WindowIterator[K, V]) WindowStart() int64 { return it.its[it.i].WindowStart() }
func (it *WindowIterator[K, V]) Value() V           { return it.value }
func (it *WindowIterator[K, V]) Timestamp() int64   { return it.ts }

// Source is where the current window was read from: its partition, and
// with WithStaleStores whether from a standby or restoring copy, with the
// copy's lag when the iterator was opened.
func (it *WindowIterator[K, V]) Source() PartitionSource { return it.srcs[it.i] }

// Err returns the first decoding or store error.
func (it *WindowIterator[K, V]) Err() error { return it.err }

// Close releases the underlying store iterators.
func (it *WindowIterator[K, V]) Close() error {
	var errs []error
	for _, c := range it.its {
		errs = append(errs, c.Close())
	}
	it.its = nil
	return errors.Join(errs...)
}

// ---- session ----

// SessionQuery reads a session store of this instance (Kafka Streams'
// ReadOnlySessionStore). It is safe for concurrent use.
type SessionQuery[K, V any] struct {
	q      *storeQuery
	keys   serde.Serde[K]
	values serde.Serde[V]
}

// QuerySession returns a query of the named session store; keys is the
// serde of the record key (without the session window).
func QuerySession[K, V any](app *App, store string, keys serde.Serde[K], values serde.Serde[V], opts ...QueryOption) (*SessionQuery[K, V], error) {
	q, err := newStoreQuery(app, store, SessionStoreKind, opts)
	if err != nil {
		return nil, err
	}
	return &SessionQuery[K, V]{q: q, keys: keys, values: values}, nil
}

// Store is the queried store's name.
func (sq *SessionQuery[K, V]) Store() string { return sq.q.store }

// Fetch iterates k's sessions, oldest first. It returns ErrNotLocal
// (wrapped) when k's partition is not held here.
func (sq *SessionQuery[K, V]) Fetch(k K) (*SessionIterator[K, V], error) {
	q := sq.q
	kb, err := serializeKey(q, sq.keys, k)
	if err != nil {
		return nil, err
	}
	p, l, err := q.engineFor(kb)
	if err != nil {
		return nil, err
	}
	st, err := l.engine.Session(q.store)
	if err != nil {
		return nil, fmt.Errorf("core: query store %q: %w", q.store, err)
	}
	src := l.source(p)
	it, err := st.Fetch(kb)
	if err != nil {
		return nil, fmt.Errorf("core: query store %q: %w", q.store, err)
	}
	return &SessionIterator[K, V]{it: it, sq: sq, src: src}, nil
}

// SessionIterator walks sessions of a session query. Use it from one
// goroutine at a time and Close it.
type SessionIterator[K, V any] struct {
	it    state.SessionIterator
	sq    *SessionQuery[K, V]
	src   PartitionSource
	key   K
	value V
	ts    int64
	err   error
}

// Next decodes the next session; false at the end or on error.
func (it *SessionIterator[K, V]) Next() bool {
	if it.err != nil || !it.it.Next() {
		return false
	}
	q := it.sq.q
	if it.key, it.err = it.sq.keys.Deserialize(q.topic, it.it.Key()); it.err != nil {
		it.err = fmt.Errorf("core: query store %q: deserialize key: %w", q.store, it.err)
		return false
	}
	var vb []byte
	if vb, it.ts, it.err = q.value(it.it.Value()); it.err != nil {
		return false
	}
	if it.value, it.err = it.sq.values.Deserialize(q.topic, vb); it.err != nil {
		it.err = fmt.Errorf("core: query store %q: deserialize value: %w", q.store, it.err)
		return false
	}
	return true
}

// Key, Start, End (epoch ms, inclusive) and Value are the current
// session's; Timestamp is -1 unless WithTimestampedValues.
func (it *SessionIterator[K, V]) Key() K           { return it.key }
func (it *SessionIterator[K, V]) Start() int64     { return it.it.Start() }
func (it *SessionIterator[K, V]) End() int64       { return it.it.End() }
func (it *SessionIterator[K, V]) Value() V         { return it.value }
func (it *SessionIterator[K, V]) Timestamp() int64 { return it.ts }

// Source is where the sessions are read from: the key's partition, and
// with WithStaleStores whether from a standby or restoring copy, with the
// copy's lag when the iterator was opened.
func (it *SessionIterator[K, V]) Source() PartitionSource { return it.src }

// Err returns the first decoding or store error.
func (it *SessionIterator[K, V]) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.it.Err()
}

// Close releases the underlying store iterator.
func (it *SessionIterator[K, V]) Close() error { return it.it.Close() }
