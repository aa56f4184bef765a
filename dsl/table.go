package dsl

import (
	"encoding/binary"
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
	kv, topic, err := core.StoreOf[state.KeyValueStore](ctx, name)
	if err != nil {
		return nil, err
	}
	return &timestamped[K, V]{kv: kv, keys: keys, values: values, topic: topic}, nil
}

func (b *Builder) addStore(spec core.StoreSpec, processors ...string) {
	if b.err != nil {
		return
	}
	b.fail(b.topo.AddStateStore(spec, processors...))
}

// storeSpec is the store behind a materialized DSL operation.
func storeSpec[K, V any](m Materialized[K, V], kind core.StoreKind, retention time.Duration) core.StoreSpec {
	return core.StoreSpec{Name: m.Name, Kind: kind, InMemory: m.InMemory, DisableLogging: m.DisableLogging,
		Caching: !m.DisableCaching, Retention: retention}
}

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
	t := &KTable[K, V]{b: b, node: name, keys: keys, values: values, store: storeName} // the store's serdes, as in Kafka Streams
	if b.err != nil {
		return t
	}
	b.fail(core.AddProcessor(b.topo, name, func() core.Processor[K, V, K, change[V]] {
		return &tableSourceProcessor[K, V]{store: storeName, keys: keys, values: values}
	}, src.node))
	b.addStore(storeSpec(m, core.KeyValueStoreKind, 0), name)
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
}

func (p *tableSourceProcessor[K, V]) Init(ctx core.ProcessorContext[K, change[V]]) error {
	p.ctx = ctx
	var err error
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
	t := &KTable[K, V]{b: b, node: name, keys: keys, values: values, store: m.Name}
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
	b.addStore(storeSpec(m, core.KeyValueStoreKind, 0), name)
	return t
}
