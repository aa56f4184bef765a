package dsl

import (
	"fmt"
	"strconv"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
)

// CogroupedKStream is several grouped streams, with value types of their
// own, that aggregate into one table (Kafka Streams' CogroupedKStream):
// every input folds its records into the same aggregate per key, kept in
// one store. Build it with Cogroup and CogroupAdd, finish it with
// Aggregate. Windowed cogrouping is not supported.
type CogroupedKStream[K, A any] struct {
	b      *Builder
	keys   serde.Serde[K] // the first input's
	inputs []cogroupInput[K, A]
}

// cogroupInput adds one input's aggregation processor (repartitioning the
// input first if its key changed) and returns the processor's node name.
// forward is set for the one processor whose context forwards the
// store's updates downstream.
type cogroupInput[K, A any] func(name, store, repartitionBase string, keys serde.Serde[K], values serde.Serde[A], initializer func() A, forward bool) string

// Cogroup starts a cogrouping with a first grouped stream and the
// aggregator that folds its values into the shared aggregate.
func Cogroup[K, V, A any](g *KGroupedStream[K, V], aggregator func(key K, value V, aggregate A) A) *CogroupedKStream[K, A] {
	c := &CogroupedKStream[K, A]{b: g.s.b, keys: g.s.keys}
	return CogroupAdd(c, g, aggregator)
}

// CogroupAdd adds another grouped stream, of any value type, with its own
// aggregator. Its key type and key serialization must be the aggregate's;
// inputs read from user topics must be co-partitioned (same partition
// count, partitioned by the same key bytes), as Kafka Streams requires.
// Inputs whose key changed upstream are repartitioned first.
func CogroupAdd[K, V, A any](c *CogroupedKStream[K, A], g *KGroupedStream[K, V], aggregator func(key K, value V, aggregate A) A) *CogroupedKStream[K, A] {
	if g.s.b != c.b {
		c.b.fail(fmt.Errorf("dsl: CogroupAdd of a stream from another builder"))
		return c
	}
	out := &CogroupedKStream[K, A]{b: c.b, keys: c.keys, inputs: append(c.inputs[:len(c.inputs):len(c.inputs)],
		func(name, store, base string, keys serde.Serde[K], values serde.Serde[A], initializer func() A, forward bool) string {
			b := c.b
			s := g.s
			if s.keyChanged {
				if g.name != "" {
					base = g.name
				}
				s = repartition(s, Repartitioned[K, V]{Keys: orSerde(s.keys, keys), Name: base})
			}
			if b.err == nil {
				b.fail(core.AddProcessor(b.topo, name, func() core.Processor[K, V, K, change[A]] {
					return &cogroupProcessor[K, V, A]{store: store, keys: keys, values: values,
						initializer: initializer, aggregator: aggregator, forward: forward}
				}, s.node))
			}
			return name
		})}
	return out
}

// Aggregate builds the aggregate table: each input's records (null keys
// and values skipped) are folded into the aggregate of their key, starting
// from initializer(). All inputs share one store, so they run in one
// sub-topology; with caching (the default) the table forwards the latest
// aggregate per key and commit interval, whichever input updated it.
func (c *CogroupedKStream[K, A]) Aggregate(initializer func() A, materialized ...Materialized[K, A]) *KTable[K, A] {
	b := c.b
	m := firstMaterialized(materialized)
	const prefix = "COGROUPKSTREAM-AGGREGATE"
	names := make([]string, len(c.inputs))
	for i := range names {
		names[i] = b.topo.NextName(prefix)
	}
	if m.Name == "" && len(names) > 0 {
		m.Name = prefix + "-STATE-STORE-" + names[0][len(prefix)+1:]
	}
	keys, values := orSerde(m.Keys, c.keys), m.Values
	t := &KTable[K, A]{b: b, keys: keys, values: values, store: m.Name}
	if len(names) > 0 {
		t.node = names[0]
	}
	if b.err != nil {
		return t
	}
	if keys == nil || values == nil {
		b.fail(fmt.Errorf("dsl: cogroup aggregation %q: no serde for the key or aggregate type; pass dsl.Materialized with serdes", m.Name))
		return t
	}
	for i, add := range c.inputs {
		base := m.Name
		if i > 0 {
			base += "-" + strconv.Itoa(i)
		}
		// The first input's processor forwards the store's updates: the
		// table's node, to which downstream operators attach.
		add(names[i], m.Name, base, keys, values, initializer, i == 0)
	}
	b.addStore(storeSpec(m, core.KeyValueStoreKind, 0), names...)
	return t
}

type cogroupProcessor[K, V, A any] struct {
	store       string
	keys        serde.Serde[K]
	values      serde.Serde[A]
	initializer func() A
	aggregator  func(K, V, A) A
	forward     bool
	kv          *timestamped[K, A]
}

func (p *cogroupProcessor[K, V, A]) Init(ctx core.ProcessorContext[K, change[A]]) error {
	var err error
	if p.kv, err = openTimestamped(ctx, p.store, p.keys, p.values); err != nil {
		return err
	}
	if !p.forward {
		return nil
	}
	return forwardOnFlush(ctx, p.store, p.kv)
}

func (p *cogroupProcessor[K, V, A]) Close() error { return nil }

func (p *cogroupProcessor[K, V, A]) Process(r core.Record[K, V]) error {
	if r.NullKey || r.NullValue {
		return nil // skipped, as Kafka Streams does
	}
	agg, oldTS, found, err := p.kv.get(r.Key)
	if err != nil {
		return err
	}
	if !found {
		agg = p.initializer()
	}
	agg = p.aggregator(r.Key, r.Value, agg)
	ts := r.Timestamp.UnixMilli()
	if found && oldTS > ts {
		ts = oldTS
	}
	return p.kv.put(r.Key, agg, ts)
}
