package dsl

import (
	"fmt"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

// GlobalKTable is a table holding every partition of its topic on every
// instance, loaded before processing starts and kept up to date by a
// dedicated consumer (Kafka Streams' GlobalKTable). Joins against it need
// no co-partitioning; processors read it with GlobalLookup.
type GlobalKTable[K, V any] struct {
	b      *Builder
	store  string
	topic  string
	keys   serde.Serde[K]
	values serde.Serde[V]
}

// GlobalTable reads topic as a global table. The store name defaults to
// "<topic>-STATE-STORE-<n>"; Materialized's InMemory and logging settings
// do not apply (the topic is the store's changelog, kept on Pebble).
func GlobalTable[K, V any](b *Builder, topic string, consumed Consumed[K, V], materialized ...Materialized[K, V]) *GlobalKTable[K, V] {
	m := firstMaterialized(materialized)
	if m.Name == "" {
		m.Name = topic + "-STATE-STORE-" + b.topo.NextName("GLOBAL")[len("GLOBAL-"):]
	}
	g := &GlobalKTable[K, V]{b: b, store: m.Name, topic: topic, keys: orSerde(m.Keys, consumed.Keys), values: orSerde(m.Values, consumed.Values)}
	if b.err == nil {
		if g.keys == nil || g.values == nil {
			b.fail(fmt.Errorf("dsl: global table of %q needs key and value serdes", topic))
		} else {
			b.fail(b.topo.AddGlobalStore(m.Name, topic))
		}
	}
	return g
}

// StoreName is the global store's name.
func (g *GlobalKTable[K, V]) StoreName() string { return g.store }

// GlobalLookup reads key from a global table inside a processor connected
// to its store (ProcessWithStores). found is false for a missing key.
func GlobalLookup[K, V any](ctx interface{ StateStore(string) (any, error) }, g *GlobalKTable[K, V], key K) (value V, found bool, err error) {
	st, err := ctx.StateStore(g.store)
	if err != nil {
		return value, false, err
	}
	kv, ok := st.(state.ReadOnlyKeyValueStore)
	if !ok {
		return value, false, fmt.Errorf("dsl: store %q is not a global key-value store", g.store)
	}
	kb, err := g.keys.Serialize(g.topic, key)
	if err != nil {
		return value, false, fmt.Errorf("dsl: global table %q: serialize key: %w", g.store, err)
	}
	raw, err := kv.Get(kb)
	if err != nil || raw == nil {
		return value, false, err
	}
	if len(raw) < 8 {
		return value, false, fmt.Errorf("dsl: global table %q: corrupt value of %d bytes", g.store, len(raw))
	}
	value, err = g.values.Deserialize(g.topic, raw[8:])
	return value, err == nil, err
}

// ProcessWithStores is Process with the processor connected to stores
// (state stores added by the DSL, or global tables' stores), which it
// reaches through ProcessorContext.StateStore.
func ProcessWithStores[K, V, K2, V2 any](s *KStream[K, V], supplier func() core.Processor[K, V, K2, V2], stores []string, name ...Named) *KStream[K2, V2] {
	out := Process(s, supplier, name...)
	if s.b.err == nil && len(stores) > 0 {
		s.b.fail(s.b.topo.ConnectProcessorAndStores([]string{out.node}, stores...))
	}
	return out
}
