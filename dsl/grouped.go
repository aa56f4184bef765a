package dsl

import (
	"fmt"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
)

// Grouped configures a grouping: the serdes of the repartition topic a
// key-changing grouping writes through, and its base name.
type Grouped[K, V any] struct {
	Name   string
	Keys   serde.Serde[K]
	Values serde.Serde[V]
}

// GroupedWith returns a Grouped with the given serdes.
func GroupedWith[K, V any](keys serde.Serde[K], values serde.Serde[V]) Grouped[K, V] {
	return Grouped[K, V]{Keys: keys, Values: values}
}

// KGroupedStream is a stream grouped by key, ready for aggregation.
type KGroupedStream[K, V any] struct {
	s    *KStream[K, V]
	name string // repartition base name, if any
}

// GroupByKey groups the stream by its current key. If the key was changed
// upstream (Map, SelectKey, FlatMap, Process), the aggregation first
// repartitions through an internal topic.
func (s *KStream[K, V]) GroupByKey(grouped ...Grouped[K, V]) *KGroupedStream[K, V] {
	g := firstGrouped(grouped)
	return &KGroupedStream[K, V]{s: s.WithSerdes(orSerde(g.Keys, s.keys), orSerde(g.Values, s.values)), name: g.Name}
}

// GroupBy groups the stream by a new key; the aggregation repartitions.
func GroupBy[K, V, K2 any](s *KStream[K, V], selector func(key K, value V) K2, grouped ...Grouped[K2, V]) *KGroupedStream[K2, V] {
	g := firstGrouped(grouped)
	rekeyed := SelectKey(s, selector)
	return &KGroupedStream[K2, V]{s: rekeyed.WithSerdes(orSerde(g.Keys, rekeyed.keys), orSerde(g.Values, rekeyed.values)), name: g.Name}
}

func firstGrouped[K, V any](gs []Grouped[K, V]) Grouped[K, V] {
	if len(gs) > 0 {
		return gs[0]
	}
	return Grouped[K, V]{}
}

// prepare repartitions (when the key changed) and names the store.
func (g *KGroupedStream[K, V]) prepare(storeName string) *KStream[K, V] {
	s := g.s
	if s.keyChanged {
		base := g.name
		if base == "" {
			base = storeName
		}
		s = repartition(s, Repartitioned[K, V]{Name: base})
	}
	return s
}

// Count counts the records per key. Records with a null key or value are
// skipped, as in Kafka Streams.
func (g *KGroupedStream[K, V]) Count(materialized ...Materialized[K, int64]) *KTable[K, int64] {
	m := firstMaterialized(materialized)
	if m.Values == nil {
		m.Values = serde.Int64()
	}
	return aggregate(g, "KSTREAM-AGGREGATE", func() int64 { return 0 }, func(_ K, _ V, n int64) int64 { return n + 1 }, m)
}

// Reduce combines the values per key: the first value is the initial
// aggregate, later ones are combined with reducer(aggregate, value).
func (g *KGroupedStream[K, V]) Reduce(reducer func(aggregate, value V) V, materialized ...Materialized[K, V]) *KTable[K, V] {
	m := firstMaterialized(materialized)
	return aggregateWith(g, "KSTREAM-REDUCE", nil, func(_ K, v V, agg V, found bool) V {
		if !found {
			return v
		}
		return reducer(agg, v)
	}, m)
}

// Aggregate folds the values per key into an aggregate of another type,
// starting from initializer().
func Aggregate[K, V, A any](g *KGroupedStream[K, V], initializer func() A, aggregator func(key K, value V, aggregate A) A, materialized ...Materialized[K, A]) *KTable[K, A] {
	return aggregate(g, "KSTREAM-AGGREGATE", initializer, aggregator, firstMaterialized(materialized))
}

func aggregate[K, V, A any](g *KGroupedStream[K, V], prefix string, initializer func() A, aggregator func(K, V, A) A, m Materialized[K, A]) *KTable[K, A] {
	return aggregateWith(g, prefix, initializer, func(k K, v V, agg A, found bool) A {
		if !found {
			agg = initializer()
		}
		return aggregator(k, v, agg)
	}, m)
}

// aggregateWith adds the aggregation processor and its store.
func aggregateWith[K, V, A any](g *KGroupedStream[K, V], prefix string, _ func() A, step func(K, V, A, bool) A, m Materialized[K, A]) *KTable[K, A] {
	b := g.s.b
	name := b.topo.NextName(prefix)
	if m.Name == "" {
		m.Name = prefix + "-STATE-STORE-" + name[len(prefix)+1:]
	}
	s := g.prepare(m.Name)
	keys := orSerde(m.Keys, s.keys)
	values := m.Values
	if values == nil {
		values, _ = any(s.values).(serde.Serde[A])
	}
	t := &KTable[K, A]{b: b, node: name, keys: keys, values: values, store: m.Name}
	if b.err != nil {
		return t
	}
	if keys == nil || values == nil {
		b.fail(fmt.Errorf("dsl: aggregation %q: no serde for the key or aggregate type; pass dsl.Materialized with serdes", m.Name))
		return t
	}
	storeName := m.Name
	b.fail(core.AddProcessor(b.topo, name, func() core.Processor[K, V, K, change[A]] {
		return &aggregateProcessor[K, V, A]{store: storeName, keys: keys, values: values, step: step}
	}, s.node))
	b.addStore(storeSpec(m, core.KeyValueStoreKind, 0), name)
	return t
}

type aggregateProcessor[K, V, A any] struct {
	store  string
	keys   serde.Serde[K]
	values serde.Serde[A]
	step   func(K, V, A, bool) A
	ctx    core.ProcessorContext[K, change[A]]
	kv     *timestamped[K, A]
}

func (p *aggregateProcessor[K, V, A]) Init(ctx core.ProcessorContext[K, change[A]]) error {
	p.ctx = ctx
	var err error
	if p.kv, err = openTimestamped(ctx, p.store, p.keys, p.values); err != nil {
		return err
	}
	return forwardOnFlush(ctx, p.store, p.kv)
}

func (p *aggregateProcessor[K, V, A]) Close() error { return nil }

func (p *aggregateProcessor[K, V, A]) Process(r core.Record[K, V]) error {
	if r.NullKey || r.NullValue {
		return nil // skipped, as Kafka Streams does
	}
	old, oldTS, found, err := p.kv.get(r.Key)
	if err != nil {
		return err
	}
	agg := p.step(r.Key, r.Value, old, found)
	ts := r.Timestamp.UnixMilli()
	if found && oldTS > ts {
		ts = oldTS // an aggregate carries the latest timestamp of its inputs
	}
	// The store's flush listener forwards the change (at once, or at the
	// next commit through the record cache).
	return p.kv.put(r.Key, agg, ts)
}
