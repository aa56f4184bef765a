package dsl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

// change is what table nodes forward: the new value of a key and the one it
// replaces (Kafka Streams' Change). An absent New is a delete.
type change[V any] struct {
	New, Old       V
	HasNew, HasOld bool
}

// KTable is a typed changelog stream interpreted as a table: the latest
// value per key, a null value deleting the key.
type KTable[K, V any] struct {
	b      *Builder
	node   string // forwards core.Record[K, change[V]]
	keys   serde.Serde[K]
	values serde.Serde[V]
	store  string // materializing store, "" if none
	// window is set on windowed aggregation results and the tables
	// derived from them: what Suppress(UntilWindowCloses) needs.
	window *windowBounds[K]
	// versioned is set when store is a versioned store, which keeps
	// old values for history.
	versioned bool
	history   time.Duration
}

// NodeName is the name of the node producing the table's updates.
func (t *KTable[K, V]) NodeName() string { return t.node }

// StoreName is the name of the store materializing the table ("" if the
// table is not materialized), for interactive queries.
func (t *KTable[K, V]) StoreName() string { return t.store }

// Materialized configures the store behind a table or an aggregation.
type Materialized[K, V any] struct {
	// Name is the store name (queryable); default: a generated name.
	Name string
	// Keys and Values are the store's serdes; default: the stream's (and
	// serde.Int64 for counts).
	Keys   serde.Serde[K]
	Values serde.Serde[V]
	// InMemory keeps the store in memory (rebuilt from its changelog on
	// start); default: Pebble.
	InMemory bool
	// DisableLogging turns the store's changelog off.
	DisableLogging bool
	// DisableCaching forwards every update at once instead of the latest
	// per key and commit interval (Kafka Streams' withCachingDisabled).
	DisableCaching bool
	// Retention is how long a window or session store keeps a window;
	// default, and minimum: what the windows need (size + grace; see
	// WindowedBy, WindowedBySliding, WindowedBySession). Ignored by
	// key-value stores.
	Retention time.Duration
	// Versioned makes the store of a table read with Table or ToTable a
	// versioned store (Kafka Streams' Stores.persistentVersionedKeyValueStore,
	// KIP-889): it keeps every value of a key for HistoryRetention behind
	// the latest timestamp the table saw, and stream-table joins look the
	// table up as of each stream record's timestamp (KIP-914). Updates
	// older than a key's latest value are kept in the history but neither
	// replace the latest value nor reach the table's downstream; updates
	// older than the history retention are dropped. Versioned stores are
	// not cached, and other operations (aggregations, windows) reject them.
	// Default: false.
	Versioned bool
	// HistoryRetention is how long a versioned store keeps old values
	// (0: only what is valid at the latest timestamp). Ignored unless
	// Versioned.
	HistoryRetention time.Duration
}

// AsVersioned makes the store versioned with the given history retention
// (see Materialized.Versioned).
func (m Materialized[K, V]) AsVersioned(historyRetention time.Duration) Materialized[K, V] {
	m.Versioned, m.HistoryRetention = true, historyRetention
	return m
}

// MaterializedAs returns a Materialized with the given store name.
func MaterializedAs[K, V any](name string) Materialized[K, V] { return Materialized[K, V]{Name: name} }

// WithSerdes sets the store serdes.
func (m Materialized[K, V]) WithSerdes(keys serde.Serde[K], values serde.Serde[V]) Materialized[K, V] {
	m.Keys, m.Values = keys, values
	return m
}

func firstMaterialized[K, V any](ms []Materialized[K, V]) Materialized[K, V] {
	if len(ms) > 0 {
		return ms[0]
	}
	return Materialized[K, V]{}
}

// timestamped stores a value with its timestamp, in Kafka Streams'
// ValueAndTimestamp layout ([8-byte big-endian timestamp][value bytes]),
// so changelogs are byte-compatible with Kafka Streams' timestamped stores.
type timestamped[K, V any] struct {
	kv     state.KeyValueStore
	keys   serde.Serde[K]
	values serde.Serde[V]
	topic  string // for serde calls: the changelog topic's role
}

func (s *timestamped[K, V]) get(k K) (v V, ts int64, found bool, err error) {
	kb, err := s.keys.Serialize(s.topic, k)
	if err != nil {
		return v, 0, false, fmt.Errorf("serialize store key: %w", err)
	}
	raw, err := s.kv.Get(kb)
	if err != nil || raw == nil {
		return v, 0, false, err
	}
	if len(raw) < 8 {
		return v, 0, false, fmt.Errorf("store %s: corrupt value of %d bytes", s.kv.Name(), len(raw))
	}
	v, err = s.values.Deserialize(s.topic, raw[8:])
	return v, int64(binary.BigEndian.Uint64(raw)), err == nil, err
}

func (s *timestamped[K, V]) put(k K, v V, ts int64) error {
	kb, err := s.keys.Serialize(s.topic, k)
	if err != nil {
		return fmt.Errorf("serialize store key: %w", err)
	}
	vb, err := s.values.Serialize(s.topic, v)
	if err != nil {
		return fmt.Errorf("serialize store value: %w", err)
	}
	raw := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(vb)), uint64(ts))
	return s.kv.Put(kb, append(raw, vb...))
}

func (s *timestamped[K, V]) delete(k K) error {
	kb, err := s.keys.Serialize(s.topic, k)
	if err != nil {
		return fmt.Errorf("serialize store key: %w", err)
	}
	return s.kv.Delete(kb)
}

func openTimestamped[K, V any](ctx core.StoreContext, name string, keys serde.Serde[K], values serde.Serde[V]) (*timestamped[K, V], error) {
	st, topic, err := core.StoreOf[any](ctx, name)
	if err != nil {
		return nil, err
	}
	var kv state.KeyValueStore
	switch st := st.(type) {
	case state.KeyValueStore:
		kv = st
	case state.VersionedKeyValueStore:
		// Readers of a versioned table that are not stream-table joins
		// (table-table and foreign-key joins) see its latest values.
		kv = latestView{st}
	default:
		return nil, fmt.Errorf("dsl: store %q is not a key-value store", name)
	}
	return &timestamped[K, V]{kv: kv, keys: keys, values: values, topic: topic}, nil
}

func (b *Builder) addStore(spec core.StoreSpec, processors ...string) {
	if b.err != nil {
		return
	}
	if spec.Kind == core.VersionedKeyValueStoreKind {
		b.fail(fmt.Errorf("dsl: store %q: a versioned store (Materialized.Versioned) materializes only tables read with Table or ToTable", spec.Name))
		return
	}
	b.fail(b.topo.AddStateStore(spec, processors...))
}

// addTableStore adds the store of a table source, which may be versioned.
func (b *Builder) addTableStore(spec core.StoreSpec, processors ...string) {
	if b.err == nil {
		b.fail(b.topo.AddStateStore(spec, processors...))
	}
}

// storeSpec is the store behind a materialized DSL operation. A versioned
// Materialized gives a versioned spec whatever the kind asked for, which
// only the table sources accept (addTableStore).
func storeSpec[K, V any](m Materialized[K, V], kind core.StoreKind, retention time.Duration) core.StoreSpec {
	if m.Versioned {
		return core.StoreSpec{Name: m.Name, Kind: core.VersionedKeyValueStoreKind, InMemory: m.InMemory,
			DisableLogging: m.DisableLogging, Retention: m.HistoryRetention}
	}
	return core.StoreSpec{Name: m.Name, Kind: kind, InMemory: m.InMemory, DisableLogging: m.DisableLogging,
		Caching: !m.DisableCaching, Retention: retention}
}

// latestView reads a versioned store as a timestamped key-value store of
// its latest values ([8-byte timestamp][value]), for the joins that read a
// table's current values. Writes and range reads are refused: only the
// table source writes the store, and the versioned layout offers no
// ordered scan of latest values.
type latestView struct{ vs state.VersionedKeyValueStore }

var errLatestView = errors.New("dsl: operation not supported on a versioned store's latest view")

func (l latestView) Name() string { return l.vs.Name() }

func (l latestView) Get(key []byte) ([]byte, error) {
	rec, found, err := l.vs.Get(key)
	if err != nil || !found {
		return nil, err
	}
	out := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(rec.Value)), uint64(rec.Timestamp))
	return append(out, rec.Value...), nil
}

func (l latestView) Put([]byte, []byte) error { return fmt.Errorf("%w: put", errLatestView) }
func (l latestView) Delete([]byte) error      { return fmt.Errorf("%w: delete", errLatestView) }
func (l latestView) Range(_, _ []byte) (state.Iterator, error) {
	return nil, fmt.Errorf("%w: range", errLatestView)
}
func (l latestView) ReverseRange(_, _ []byte) (state.Iterator, error) {
	return nil, fmt.Errorf("%w: reverse range", errLatestView)
}
func (l latestView) Prefix([]byte) (state.Iterator, error) {
	return nil, fmt.Errorf("%w: prefix", errLatestView)
}
func (l latestView) All() (state.Iterator, error) { return nil, fmt.Errorf("%w: all", errLatestView) }

// decode reads a store update for a flush listener: the key, and the new
// and old values in the timestamped layout ([8-byte timestamp][value]).
func (s *timestamped[K, V]) decode(key, newValue, oldValue []byte) (k K, c change[V], err error) {
	if k, err = s.keys.Deserialize(s.topic, key); err != nil {
		return k, c, fmt.Errorf("deserialize store key: %w", err)
	}
	if len(newValue) >= 8 {
		if c.New, err = s.values.Deserialize(s.topic, newValue[8:]); err != nil {
			return k, c, fmt.Errorf("deserialize store value: %w", err)
		}
		c.HasNew = true
	}
	if len(oldValue) >= 8 {
		if c.Old, err = s.values.Deserialize(s.topic, oldValue[8:]); err != nil {
			return k, c, fmt.Errorf("deserialize store value: %w", err)
		}
		c.HasOld = true
	}
	return k, c, nil
}

// forwardOnFlush makes a store's flush listener forward its updates as
// table changes: the latest update per key and commit interval with
// caching, every update without.
func forwardOnFlush[K, V any](ctx core.ProcessorContext[K, change[V]], store string, kv *timestamped[K, V]) error {
	return core.SetKeyValueFlushListener(ctx, store, func(key, newValue, oldValue []byte, ts time.Time) error {
		k, c, err := kv.decode(key, newValue, oldValue)
		if err != nil {
			return err
		}
		if len(newValue) >= 8 {
			ts = time.UnixMilli(int64(binary.BigEndian.Uint64(newValue)))
		}
		return ctx.Forward(core.Record[K, change[V]]{Key: k, Value: c, Timestamp: ts})
	})
}

// Table reads topic as a table, materialized in a key-value store: each
// record upserts its key, a null value deletes it.
func Table[K, V any](b *Builder, topic string, consumed Consumed[K, V], materialized ...Materialized[K, V]) *KTable[K, V] {
	src := Stream(b, topic, consumed)
	m := firstMaterialized(materialized)
	name := b.topo.NextName("KTABLE-SOURCE")
	if m.Name == "" {
		m.Name = topic + "-STATE-STORE-" + name[len("KTABLE-SOURCE-"):]
	}
	keys, values := orSerde(m.Keys, consumed.Keys), orSerde(m.Values, consumed.Values)
	storeName := m.Name
	t := &KTable[K, V]{b: b, node: name, keys: keys, values: values, store: storeName, // the store's serdes, as in Kafka Streams
		versioned: m.Versioned, history: m.HistoryRetention}
	if b.err != nil {
		return t
	}
	b.fail(core.AddProcessor(b.topo, name, func() core.Processor[K, V, K, change[V]] {
		return &tableSourceProcessor[K, V]{store: storeName, keys: keys, values: values}
	}, src.node))
	b.addTableStore(storeSpec(m, core.KeyValueStoreKind, 0), name)
	return t
}

func orSerde[T any](a, b serde.Serde[T]) serde.Serde[T] {
	if a != nil {
		return a
	}
	return b
}

type tableSourceProcessor[K, V any] struct {
	store  string
	keys   serde.Serde[K]
	values serde.Serde[V]
	ctx    core.ProcessorContext[K, change[V]]
	kv     *timestamped[K, V]
	// versioned is the store when it is versioned (kv is nil then).
	versioned state.VersionedKeyValueStore
	topic     string // for serde calls: the changelog topic's role
}

func (p *tableSourceProcessor[K, V]) Init(ctx core.ProcessorContext[K, change[V]]) error {
	p.ctx = ctx
	st, err := ctx.StateStore(p.store)
	if err != nil {
		return err
	}
	if vs, ok := st.(state.VersionedKeyValueStore); ok {
		p.versioned, p.topic = vs, core.ChangelogTopic(ctx.ApplicationID(), p.store)
		return nil
	}
	if p.kv, err = openTimestamped(ctx, p.store, p.keys, p.values); err != nil {
		return err
	}
	return forwardOnFlush(ctx, p.store, p.kv)
}

func (p *tableSourceProcessor[K, V]) Close() error { return nil }

func (p *tableSourceProcessor[K, V]) Process(r core.Record[K, V]) error {
	if r.NullKey {
		return nil // a table has no null key (Kafka Streams drops it)
	}
	if p.versioned != nil {
		return p.processVersioned(r)
	}
	// A non-versioned table applies updates in processing order, out of
	// order ones included (as Kafka Streams' non-versioned stores do); the
	// store's flush listener forwards the change.
	if r.NullValue {
		return p.kv.delete(r.Key)
	}
	return p.kv.put(r.Key, r.Value, r.Timestamp.UnixMilli())
}

// Filter keeps the rows for which pred is true; a row that stops matching
// is deleted downstream.
func (t *KTable[K, V]) Filter(pred func(key K, value V) bool, name ...Named) *KTable[K, V] {
	return t.filter(pred, true, "KTABLE-FILTER", name)
}

// FilterNot drops the rows for which pred is true.
func (t *KTable[K, V]) FilterNot(pred func(key K, value V) bool, name ...Named) *KTable[K, V] {
	return t.filter(pred, false, "KTABLE-FILTER", name)
}

func (t *KTable[K, V]) filter(pred func(K, V) bool, want bool, prefix string, names []Named) *KTable[K, V] {
	keep := func(k K, v V, has bool) bool { return has && pred(k, v) == want }
	return addTableProcessor(t, prefix, names, func(r core.Record[K, change[V]]) (change[V], bool) {
		c := r.Value
		out := change[V]{New: c.New, HasNew: keep(r.Key, c.New, c.HasNew), Old: c.Old, HasOld: keep(r.Key, c.Old, c.HasOld)}
		return out, out.HasNew || out.HasOld
	}, t.values)
}

// MapValuesTable maps every row's value (Kafka Streams' KTable#mapValues).
func MapValuesTable[K, V, V2 any](t *KTable[K, V], mapper func(value V) V2, name ...Named) *KTable[K, V2] {
	var values serde.Serde[V2]
	values, _ = any(t.values).(serde.Serde[V2])
	return addTableProcessor(t, "KTABLE-MAPVALUES", name, func(r core.Record[K, change[V]]) (change[V2], bool) {
		c := r.Value
		var out change[V2]
		if c.HasNew {
			out.New, out.HasNew = mapper(c.New), true
		}
		if c.HasOld {
			out.Old, out.HasOld = mapper(c.Old), true
		}
		return out, true
	}, values)
}

func addTableProcessor[K, V, V2 any](t *KTable[K, V], prefix string, names []Named, fn func(core.Record[K, change[V]]) (change[V2], bool), values serde.Serde[V2]) *KTable[K, V2] {
	b := t.b
	name := b.name(prefix, names)
	out := &KTable[K, V2]{b: b, node: name, keys: t.keys, values: values, window: t.window}
	if b.err != nil {
		return out
	}
	b.fail(core.AddProcessor(b.topo, name, core.ProcessorFunc[K, change[V], K, change[V2]](
		func(ctx core.ProcessorContext[K, change[V2]], r core.Record[K, change[V]]) error {
			c, ok := fn(r)
			if !ok {
				return nil
			}
			return ctx.Forward(core.Record[K, change[V2]]{Key: r.Key, Value: c, Timestamp: r.Timestamp, Headers: r.Headers})
		}).Supplier(), t.node))
	return out
}

// ToStream turns the table's updates into a stream: an upsert becomes a
// record with the new value, a delete a record with a null value
// (NullValue), which a sink writes as a tombstone.
func (t *KTable[K, V]) ToStream(name ...Named) *KStream[K, V] {
	b := t.b
	n := b.name("KTABLE-TOSTREAM", name)
	out := &KStream[K, V]{b: b, node: n, keys: t.keys, values: t.values}
	if b.err != nil {
		return out
	}
	b.fail(core.AddProcessor(b.topo, n, core.ProcessorFunc[K, change[V], K, V](
		func(ctx core.ProcessorContext[K, V], r core.Record[K, change[V]]) error {
			return ctx.Forward(core.Record[K, V]{Key: r.Key, Value: r.Value.New, NullValue: !r.Value.HasNew, Timestamp: r.Timestamp, Headers: r.Headers})
		}).Supplier(), t.node))
	return out
}

// ToTable turns a stream into a table: each record upserts its key, a
// record with a null value deletes it.
func (s *KStream[K, V]) ToTable(materialized ...Materialized[K, V]) *KTable[K, V] {
	if s.keyChanged {
		s = repartition(s, Repartitioned[K, V]{})
	}
	b := s.b
	m := firstMaterialized(materialized)
	name := b.topo.NextName("KSTREAM-TOTABLE")
	if m.Name == "" {
		m.Name = name + "-STATE-STORE"
	}
	keys, values := orSerde(m.Keys, s.keys), orSerde(m.Values, s.values)
	t := &KTable[K, V]{b: b, node: name, keys: keys, values: values, store: m.Name, versioned: m.Versioned, history: m.HistoryRetention}
	if b.err != nil {
		return t
	}
	if keys == nil || values == nil {
		b.fail(fmt.Errorf("dsl: ToTable after node %q: no serde known for the stream's key or value type; pass dsl.Materialized with serdes", s.node))
		return t
	}
	storeName := m.Name
	b.fail(core.AddProcessor(b.topo, name, func() core.Processor[K, V, K, change[V]] {
		return &tableSourceProcessor[K, V]{store: storeName, keys: keys, values: values}
	}, s.node))
	b.addTableStore(storeSpec(m, core.KeyValueStoreKind, 0), name)
	return t
}

// processVersioned is Kafka Streams' KTableSource over a versioned store:
// the update is put at its timestamp and, when it is the key's latest
// value, forwarded with the value it replaces. Versioned stores are not
// cached, so every latest update is forwarded at once. An update older
// than the latest (out of order) goes into the history only: Kafka
// Streams forwards it marked as not latest, which table-table joins and
// aggregations then drop; Sluice does not forward it (DESIGN.md,
// deviations). An update older than the history retention is dropped.
func (p *tableSourceProcessor[K, V]) processVersioned(r core.Record[K, V]) error {
	kb, err := p.keys.Serialize(p.topic, r.Key)
	if err != nil {
		return fmt.Errorf("dsl: table store %q: serialize key: %w", p.store, err)
	}
	var vb []byte
	if !r.NullValue {
		if vb, err = p.values.Serialize(p.topic, r.Value); err != nil {
			return fmt.Errorf("dsl: table store %q: serialize value: %w", p.store, err)
		}
		if vb == nil {
			vb = []byte{} // a present value, not a tombstone
		}
	}
	old, hasOld, err := p.versioned.Get(kb)
	if err != nil {
		return fmt.Errorf("dsl: table store %q: %w", p.store, err)
	}
	validTo, err := p.versioned.Put(kb, vb, r.Timestamp.UnixMilli())
	if err != nil {
		return fmt.Errorf("dsl: table store %q: %w", p.store, err)
	}
	switch validTo {
	case state.VersionedNotPut:
		p.ctx.DropRecord("expired")
		return nil
	case state.VersionedValidToUndefined:
	default:
		return nil // out of order: history only
	}
	c := change[V]{New: r.Value, HasNew: !r.NullValue}
	if hasOld {
		if c.Old, err = p.values.Deserialize(p.topic, old.Value); err != nil {
			return fmt.Errorf("dsl: table store %q: deserialize value: %w", p.store, err)
		}
		c.HasOld = true
	}
	return p.ctx.Forward(core.Record[K, change[V]]{Key: r.Key, Value: c, Timestamp: r.Timestamp, Headers: r.Headers})
}
