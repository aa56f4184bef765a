package dsl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
)

// KGroupedTable is a table re-grouped by a new key (KTable#groupBy), ready
// for an aggregation that adds new rows and subtracts replaced ones.
type KGroupedTable[K, V any] struct {
	b      *Builder
	node   string // the selector: forwards core.Record[K, change[V]], one side or both
	keys   serde.Serde[K]
	values serde.Serde[V]
	name   string // repartition base name, if any
}

// GroupByTable groups a table by a new key and value (Kafka Streams'
// KTable#groupBy). Every change of the table becomes, on an internal
// repartition topic, a subtraction of the old row's (key, value) and an
// addition of the new row's: one record carrying both when the selected
// key did not change, otherwise two records (the subtraction first), so a
// row moving from group A to group B decrements A and increments B, and a
// deleted row is subtracted from its group. The aggregation always
// repartitions, as in Kafka Streams.
//
// A selected key that is a nil pointer, map, slice or interface is a null
// key: that side of the change is dropped.
//
// The repartition topic's serdes come from grouped, else from the table
// when the types did not change. Its values use Kafka Streams' Change
// encoding (ChangedSerializer, 3.5+), so the topic is byte-compatible:
//
//	[old value][0x00]                               subtract only
//	[new value][0x01]                               add only
//	[4-byte BE length of new][new value][old][0x02] subtract old, add new
func GroupByTable[K, V, K2, V2 any](t *KTable[K, V], selector func(key K, value V) (K2, V2), grouped ...Grouped[K2, V2]) *KGroupedTable[K2, V2] {
	b := t.b
	g := firstGrouped(grouped)
	keys, values := g.Keys, g.Values
	if keys == nil {
		keys, _ = any(t.keys).(serde.Serde[K2])
	}
	if values == nil {
		values, _ = any(t.values).(serde.Serde[V2])
	}
	name := b.topo.NextName("KTABLE-SELECT")
	out := &KGroupedTable[K2, V2]{b: b, node: name, keys: keys, values: values, name: g.Name}
	if b.err != nil {
		return out
	}
	if keys == nil || values == nil {
		b.fail(fmt.Errorf("dsl: GroupByTable after node %q: no serde known for the new key or value type; pass dsl.GroupedWith(...)", t.node))
		return out
	}
	nullKey, sameKey := nullCheck[K2](), sameKeyFunc[K2]()
	b.fail(core.AddProcessor(b.topo, name, func() core.Processor[K, change[V], K2, change[V2]] {
		return &tableSelectProcessor[K, V, K2, V2]{selector: selector, nullKey: nullKey, sameKey: sameKey}
	}, t.node))
	return out
}

type tableSelectProcessor[K, V, K2, V2 any] struct {
	selector func(K, V) (K2, V2)
	nullKey  func(K2) bool
	sameKey  func(a, b K2) bool
	ctx      core.ProcessorContext[K2, change[V2]]
}

func (p *tableSelectProcessor[K, V, K2, V2]) Init(ctx core.ProcessorContext[K2, change[V2]]) error {
	p.ctx = ctx
	return nil
}

func (p *tableSelectProcessor[K, V, K2, V2]) Close() error { return nil }

func (p *tableSelectProcessor[K, V, K2, V2]) Process(r core.Record[K, change[V]]) error {
	c := r.Value
	var oldKey, newKey K2
	var oldValue, newValue V2
	hasOld, hasNew := c.HasOld, c.HasNew
	if hasOld {
		oldKey, oldValue = p.selector(r.Key, c.Old)
		hasOld = p.nullKey == nil || !p.nullKey(oldKey)
	}
	if hasNew {
		newKey, newValue = p.selector(r.Key, c.New)
		hasNew = p.nullKey == nil || !p.nullKey(newKey)
	}
	out := core.Record[K2, change[V2]]{Timestamp: r.Timestamp, Headers: r.Headers}
	if hasOld && hasNew {
		if p.sameKey(oldKey, newKey) {
			out.Key, out.Value = newKey, change[V2]{New: newValue, HasNew: true, Old: oldValue, HasOld: true}
			return p.ctx.Forward(out)
		}
	}
	// Subtract first, then add, as Kafka Streams' KTableRepartitionMap.
	if hasOld {
		out.Key, out.Value = oldKey, change[V2]{Old: oldValue, HasOld: true}
		if err := p.ctx.Forward(out); err != nil {
			return err
		}
	}
	if hasNew {
		out.Key, out.Value = newKey, change[V2]{New: newValue, HasNew: true}
		return p.ctx.Forward(out)
	}
	return nil
}

// sameKeyFunc returns key equality for K (Java's equals): == for
// comparable values, reflect.DeepEqual otherwise and for pointers and
// interfaces (equal pointees are the same key). Keys are not serialized
// for this: a schema-registry serde would register a subject per topic.
func sameKeyFunc[K any]() func(a, b K) bool {
	t := reflect.TypeFor[K]()
	if t.Comparable() && t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
		return func(a, b K) bool { return any(a) == any(b) }
	}
	return func(a, b K) bool { return reflect.DeepEqual(a, b) }
}

// nullCheck returns a test for Go's equivalents of a Java null (a nil
// pointer, map, slice, interface, func or channel), or nil when T has no
// nil value, so that non-nullable types pay nothing per record.
func nullCheck[T any]() func(T) bool {
	switch reflect.TypeFor[T]().Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return func(v T) bool { return reflect.ValueOf(v).IsNil() }
	case reflect.Interface:
		return func(v T) bool { return any(v) == nil }
	}
	return nil
}

// changeSerde encodes table changes on a repartition topic, byte-compatible
// with Kafka Streams' ChangedSerializer/ChangedDeserializer (see
// GroupByTable). Flags 3-5 (versioned tables' isLatest variants) are read
// like 0-2.
type changeSerde[V any] struct{ inner serde.Serde[V] }

const (
	changeFlagOld  = 0
	changeFlagNew  = 1
	changeFlagBoth = 2
)

func (s changeSerde[V]) Serialize(topic string, c change[V]) ([]byte, error) {
	switch {
	case c.HasNew && c.HasOld:
		nb, err := s.inner.Serialize(topic, c.New)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, 0, 4+len(nb)+16)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(nb)))
		buf = append(buf, nb...)
		ob, err := s.inner.Serialize(topic, c.Old)
		if err != nil {
			return nil, err
		}
		buf = append(buf, ob...)
		return append(buf, changeFlagBoth), nil
	case c.HasNew:
		nb, err := s.inner.Serialize(topic, c.New)
		if err != nil {
			return nil, err
		}
		return append(append(make([]byte, 0, len(nb)+1), nb...), changeFlagNew), nil
	case c.HasOld:
		ob, err := s.inner.Serialize(topic, c.Old)
		if err != nil {
			return nil, err
		}
		return append(append(make([]byte, 0, len(ob)+1), ob...), changeFlagOld), nil
	}
	return nil, errors.New("dsl: table change with neither a new nor an old value")
}

func (s changeSerde[V]) Deserialize(topic string, data []byte) (change[V], error) {
	var c change[V]
	if len(data) == 0 {
		return c, fmt.Errorf("%w: table change from topic %q is empty", serde.ErrSize, topic)
	}
	flag := data[len(data)-1]
	body := data[:len(data)-1]
	if flag >= 3 && flag <= 5 { // versioned: an isLatest byte precedes the flag
		if len(body) == 0 {
			return c, fmt.Errorf("%w: table change from topic %q: no isLatest byte", serde.ErrSize, topic)
		}
		body, flag = body[:len(body)-1], flag-3
	}
	var err error
	switch flag {
	case changeFlagOld:
		c.Old, err = s.inner.Deserialize(topic, body[:len(body):len(body)])
		c.HasOld = err == nil
	case changeFlagNew:
		c.New, err = s.inner.Deserialize(topic, body[:len(body):len(body)])
		c.HasNew = err == nil
	case changeFlagBoth:
		if len(body) < 4 {
			return c, fmt.Errorf("%w: table change from topic %q: %d bytes, no length", serde.ErrSize, topic, len(data))
		}
		n := binary.BigEndian.Uint32(body)
		if uint64(n) > uint64(len(body)-4) {
			return c, fmt.Errorf("%w: table change from topic %q: new value of %d bytes in %d", serde.ErrSize, topic, n, len(body)-4)
		}
		nb, ob := body[4:4+n:4+n], body[4+n:]
		if c.New, err = s.inner.Deserialize(topic, nb); err != nil {
			return c, err
		}
		if c.Old, err = s.inner.Deserialize(topic, ob); err != nil {
			return c, err
		}
		c.HasNew, c.HasOld = true, true
	default:
		return c, fmt.Errorf("dsl: table change from topic %q: unknown flag %d", topic, data[len(data)-1])
	}
	return c, err
}

// Count counts the rows per group: +1 for an added row, -1 for a
// subtracted one. A group whose rows all left keeps a count of 0, as in
// Kafka Streams.
func (g *KGroupedTable[K, V]) Count(materialized ...Materialized[K, int64]) *KTable[K, int64] {
	m := firstMaterialized(materialized)
	if m.Values == nil {
		m.Values = serde.Int64()
	}
	return aggregateTable(g, "KTABLE-AGGREGATE",
		func(_ K, _ V, agg int64, found bool) int64 {
			if !found {
				agg = 0
			}
			return agg + 1
		},
		func(_ K, _ V, agg int64) int64 { return agg - 1 }, m)
}

// Reduce combines the values per group: a group's first value is its
// aggregate, later ones are added with adder(aggregate, value), and values
// leaving the group (replaced or deleted rows, rows moving to another
// group) are removed with subtractor(aggregate, value). A nil result (for
// pointer, map, slice or interface types) deletes the group.
func (g *KGroupedTable[K, V]) Reduce(adder, subtractor func(aggregate, value V) V, materialized ...Materialized[K, V]) *KTable[K, V] {
	return aggregateTable(g, "KTABLE-REDUCE",
		func(_ K, v V, agg V, found bool) V {
			if !found {
				return v
			}
			return adder(agg, v)
		},
		func(_ K, v V, agg V) V { return subtractor(agg, v) }, firstMaterialized(materialized))
}

// AggregateTable folds a grouped table into an aggregate per group,
// starting from initializer(): adder for every row added to a group,
// subtractor for every row leaving it (Kafka Streams'
// KGroupedTable#aggregate). A nil result (for pointer, map, slice or
// interface types) deletes the group; its next row starts again from
// initializer().
func AggregateTable[K, V, A any](g *KGroupedTable[K, V], initializer func() A, adder, subtractor func(key K, value V, aggregate A) A, materialized ...Materialized[K, A]) *KTable[K, A] {
	return aggregateTable(g, "KTABLE-AGGREGATE",
		func(k K, v V, agg A, found bool) A {
			if !found {
				agg = initializer()
			}
			return adder(k, v, agg)
		}, subtractor, firstMaterialized(materialized))
}

// aggregateTable repartitions the grouped changes and adds the aggregation
// processor with its store.
func aggregateTable[K, V, A any](g *KGroupedTable[K, V], prefix string, add func(K, V, A, bool) A, sub func(K, V, A) A, m Materialized[K, A]) *KTable[K, A] {
	b := g.b
	name := b.topo.NextName(prefix)
	if m.Name == "" {
		m.Name = prefix + "-STATE-STORE-" + name[len(prefix)+1:]
	}
	keys := orSerde(m.Keys, g.keys)
	values := m.Values
	if values == nil {
		values, _ = any(g.values).(serde.Serde[A])
	}
	t := &KTable[K, A]{b: b, node: name, keys: keys, values: values, store: m.Name}
	if b.err != nil {
		return t
	}
	if keys == nil || values == nil {
		b.fail(fmt.Errorf("dsl: table aggregation %q: no serde for the key or aggregate type; pass dsl.Materialized with serdes", m.Name))
		return t
	}
	base := g.name
	if base == "" {
		base = m.Name
	}
	selected := &KStream[K, change[V]]{b: b, node: g.node}
	s := repartition(selected, Repartitioned[K, change[V]]{Keys: g.keys, Values: changeSerde[V]{g.values}, Name: base})
	storeName := m.Name
	isNull := nullCheck[A]()
	b.fail(core.AddProcessor(b.topo, name, func() core.Processor[K, change[V], K, change[A]] {
		return &tableAggregateProcessor[K, V, A]{store: storeName, keys: keys, values: values, add: add, sub: sub, isNull: isNull}
	}, s.node))
	b.addStore(storeSpec(m, core.KeyValueStoreKind, 0), name)
	return t
}

type tableAggregateProcessor[K, V, A any] struct {
	store  string
	keys   serde.Serde[K]
	values serde.Serde[A]
	add    func(K, V, A, bool) A
	sub    func(K, V, A) A
	isNull func(A) bool // nil: A has no nil value
	kv     *timestamped[K, A]
}

func (p *tableAggregateProcessor[K, V, A]) Init(ctx core.ProcessorContext[K, change[A]]) error {
	var err error
	if p.kv, err = openTimestamped(ctx, p.store, p.keys, p.values); err != nil {
		return err
	}
	return forwardOnFlush(ctx, p.store, p.kv)
}

func (p *tableAggregateProcessor[K, V, A]) Close() error { return nil }

func (p *tableAggregateProcessor[K, V, A]) Process(r core.Record[K, change[V]]) error {
	if r.NullKey || r.NullValue {
		return nil
	}
	agg, oldTS, found, err := p.kv.get(r.Key)
	if err != nil {
		return err
	}
	has := found
	// Subtract the old value first, then add the new one (Kafka Streams'
	// KTableAggregate): for a row updated within its group both happen here.
	if r.Value.HasOld && has {
		agg = p.sub(r.Key, r.Value.Old, agg)
		has = p.isNull == nil || !p.isNull(agg)
	}
	if r.Value.HasNew {
		agg = p.add(r.Key, r.Value.New, agg, has)
		has = p.isNull == nil || !p.isNull(agg)
	}
	if !has {
		if !found {
			return nil
		}
		return p.kv.delete(r.Key)
	}
	ts := r.Timestamp.UnixMilli()
	if found && oldTS > ts {
		ts = oldTS // an aggregate carries the latest timestamp of its inputs
	}
	return p.kv.put(r.Key, agg, ts)
}
