package dsl

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
)

// JoinTables joins two tables on their key (Kafka Streams' KTable#join, an
// inner equi-join). The result has a row for every key present in both
// tables, joiner(leftValue, rightValue); it is updated by every change of
// either side, which looks up the other side's current row:
//
//   - an update of one side whose key exists on the other side upserts the
//     result (the previous result is the change's old value);
//   - a delete of one side whose key exists on the other side deletes the
//     result (a tombstone downstream);
//   - a change of one side whose key is absent on the other side emits
//     nothing.
//
// A result's timestamp is the larger of the two rows' timestamps. Both
// tables must be co-partitioned (same key, same partitioner, same partition
// count). A table without a store (Filter, MapValuesTable results) is
// materialized in an internal store first, which needs its serdes.
//
// With a Materialized the result is kept in a key-value store (queryable
// under its name) and forwarded through it: with caching, the latest result
// per key and commit interval. Its value serde defaults to the left
// table's when VR is the same type.
func JoinTables[K, V1, V2, VR any](left *KTable[K, V1], right *KTable[K, V2], joiner func(leftValue V1, rightValue V2) VR, materialized ...Materialized[K, VR]) *KTable[K, VR] {
	return joinTables(left, right, joinInner, "KTABLE-JOIN", func(v1 V1, _ bool, v2 V2, _ bool) VR { return joiner(v1, v2) }, materialized)
}

// LeftJoinTables is KTable#leftJoin: every row of left has a result,
// joiner(leftValue, rightValue, rightFound); rightFound is false (and
// rightValue the zero value) when right has no row for the key. A delete
// of the right row turns the result back into joiner(leftValue, zero,
// false); a delete of the left row deletes the result. Otherwise as
// JoinTables.
func LeftJoinTables[K, V1, V2, VR any](left *KTable[K, V1], right *KTable[K, V2], joiner func(leftValue V1, rightValue V2, rightFound bool) VR, materialized ...Materialized[K, VR]) *KTable[K, VR] {
	return joinTables(left, right, joinLeft, "KTABLE-LEFT", func(v1 V1, _ bool, v2 V2, found2 bool) VR { return joiner(v1, v2, found2) }, materialized)
}

// OuterJoinTables is KTable#outerJoin: every key present in either table
// has a result, joiner(leftValue, leftFound, rightValue, rightFound), with
// the zero value for a missing side; the result is deleted when the key is
// deleted from both. Otherwise as JoinTables.
func OuterJoinTables[K, V1, V2, VR any](left *KTable[K, V1], right *KTable[K, V2], joiner func(leftValue V1, leftFound bool, rightValue V2, rightFound bool) VR, materialized ...Materialized[K, VR]) *KTable[K, VR] {
	return joinTables(left, right, joinOuter, "KTABLE-OUTER", joiner, materialized)
}

type joinKind int

const (
	joinInner joinKind = iota
	joinLeft
	joinOuter
	// joinRightOfLeft is the right side of a left join (Kafka Streams'
	// KTableKTableRightJoin): right updates matter only where a left row is.
	joinRightOfLeft
)

// joinTables wires Kafka Streams' KTable-KTable join: one processor per
// side (prefix-THIS for left updates, prefix-OTHER for right updates), each
// connected to the other side's store, both feeding a merge node that is
// the result table (and holds its store when materialized).
func joinTables[K, V1, V2, VR any](left *KTable[K, V1], right *KTable[K, V2], kind joinKind, prefix string, joiner func(V1, bool, V2, bool) VR, materialized []Materialized[K, VR]) *KTable[K, VR] {
	b := left.b
	left, right = materializeForJoin(left), materializeForJoin(right)
	thisName := b.topo.NextName(prefix + "THIS")
	otherName := b.topo.NextName(prefix + "OTHER")
	mergeName := b.topo.NextName("KTABLE-MERGE")
	var values serde.Serde[VR]
	values, _ = any(left.values).(serde.Serde[VR])
	out := &KTable[K, VR]{b: b, node: mergeName, keys: left.keys, values: values}
	if b.err != nil {
		return out
	}
	if right.b != b {
		b.fail(fmt.Errorf("dsl: join of tables %q and %q: the tables come from different builders", left.node, right.node))
		return out
	}
	leftStore, rightStore := left.store, right.store
	lk, lv, rk, rv := left.keys, left.values, right.keys, right.values
	// The left side's updates look up the right table, and the other way
	// round with the joiner's arguments swapped.
	b.fail(core.AddProcessor(b.topo, thisName, func() core.Processor[K, change[V1], K, change[VR]] {
		return &tableJoinProcessor[K, V1, V2, VR]{otherStore: rightStore, keys: rk, values: rv, kind: kind, joiner: joiner}
	}, left.node))
	otherKind := kind
	if kind == joinLeft {
		otherKind = joinRightOfLeft
	}
	b.fail(core.AddProcessor(b.topo, otherName, func() core.Processor[K, change[V2], K, change[VR]] {
		return &tableJoinProcessor[K, V2, V1, VR]{otherStore: leftStore, keys: lk, values: lv, kind: otherKind,
			joiner: func(v2 V2, found2 bool, v1 V1, found1 bool) VR { return joiner(v1, found1, v2, found2) }}
	}, right.node))
	if b.err != nil {
		return out
	}
	b.fail(b.topo.ConnectProcessorAndStores([]string{thisName}, rightStore))
	b.fail(b.topo.ConnectProcessorAndStores([]string{otherName}, leftStore))
	if len(materialized) == 0 {
		b.fail(core.AddProcessor(b.topo, mergeName, core.ProcessorFunc[K, change[VR], K, change[VR]](
			func(ctx core.ProcessorContext[K, change[VR]], r core.Record[K, change[VR]]) error {
				return ctx.Forward(r)
			}).Supplier(),
			thisName, otherName))
		return out
	}
	m := materialized[0]
	if m.Name == "" {
		m.Name = "KTABLE-MERGE-STATE-STORE-" + mergeName[len("KTABLE-MERGE-"):]
	}
	out.keys, out.values, out.store = orSerde(m.Keys, left.keys), orSerde(m.Values, values), m.Name
	if out.keys == nil || out.values == nil {
		b.fail(fmt.Errorf("dsl: materialized join of tables %q and %q: no serde for the key or result type; pass dsl.Materialized with serdes", left.node, right.node))
		return out
	}
	storeName, keys, resultValues := m.Name, out.keys, out.values
	b.fail(core.AddProcessor(b.topo, mergeName, func() core.Processor[K, change[VR], K, change[VR]] {
		return &tableUpsertProcessor[K, VR]{store: storeName, keys: keys, values: resultValues}
	}, thisName, otherName))
	b.addStore(storeSpec(m, core.KeyValueStoreKind, 0), mergeName)
	return out
}

// tableJoinProcessor joins one side's changes with the other side's store:
// Kafka Streams' KTableKTable{Inner,Left,Right,Outer}Join processors.
// joiner takes this side's value first.
type tableJoinProcessor[K, V, VO, VR any] struct {
	otherStore string
	keys       serde.Serde[K]
	values     serde.Serde[VO]
	kind       joinKind
	joiner     func(v V, found bool, other VO, otherFound bool) VR
	ctx        core.ProcessorContext[K, change[VR]]
	other      *timestamped[K, VO]
}

func (p *tableJoinProcessor[K, V, VO, VR]) Init(ctx core.ProcessorContext[K, change[VR]]) error {
	p.ctx = ctx
	var err error
	p.other, err = openTimestamped(ctx, p.otherStore, p.keys, p.values)
	return err
}

func (p *tableJoinProcessor[K, V, VO, VR]) Close() error { return nil }

func (p *tableJoinProcessor[K, V, VO, VR]) Process(r core.Record[K, change[V]]) error {
	if r.NullKey {
		return nil
	}
	c := r.Value
	if !c.HasNew && !c.HasOld {
		return nil
	}
	other, otherTS, found, err := p.other.get(r.Key)
	if err != nil {
		return fmt.Errorf("join lookup in store %q: %w", p.otherStore, err)
	}
	ts := r.Timestamp
	if found && otherTS > ts.UnixMilli() {
		ts = time.UnixMilli(otherTS)
	}
	var out change[VR]
	switch p.kind {
	case joinInner:
		if !found {
			return nil
		}
		if c.HasNew {
			out.New, out.HasNew = p.joiner(c.New, true, other, true), true
		}
		if c.HasOld {
			out.Old, out.HasOld = p.joiner(c.Old, true, other, true), true
		}
	case joinLeft:
		// This side is the left one: every left row has a result.
		if c.HasNew {
			out.New, out.HasNew = p.joiner(c.New, true, other, found), true
		}
		if c.HasOld {
			out.Old, out.HasOld = p.joiner(c.Old, true, other, found), true
		}
	case joinRightOfLeft:
		// This side is the right one: a left row has a result whether or
		// not this side has a row, so the change replaces one result by
		// another.
		if !found {
			return nil
		}
		out.New, out.HasNew = p.joiner(c.New, c.HasNew, other, true), true
		out.Old, out.HasOld = p.joiner(c.Old, c.HasOld, other, true), true
	case joinOuter:
		if found || c.HasNew {
			out.New, out.HasNew = p.joiner(c.New, c.HasNew, other, found), true
		}
		if found || c.HasOld {
			out.Old, out.HasOld = p.joiner(c.Old, c.HasOld, other, found), true
		}
	}
	return p.ctx.Forward(core.Record[K, change[VR]]{Key: r.Key, Value: out, Timestamp: ts, Headers: r.Headers})
}

// materializeForJoin returns t if it has a store, otherwise a table
// materializing t's changes in an internal store (Kafka Streams
// materializes a join input through value getters instead; Sluice reads
// stores only).
func materializeForJoin[K, V any](t *KTable[K, V]) *KTable[K, V] {
	if t.store != "" {
		return t
	}
	b := t.b
	name := b.topo.NextName("KTABLE-MATERIALIZE")
	storeName := name + "-STATE-STORE"
	out := &KTable[K, V]{b: b, node: name, keys: t.keys, values: t.values, store: storeName, window: t.window}
	if b.err != nil {
		return out
	}
	if t.keys == nil || t.values == nil {
		b.fail(fmt.Errorf("dsl: join input %q has no store and no serdes to materialize one; pass serdes upstream (for example in Materialized)", t.node))
		return out
	}
	keys, values := t.keys, t.values
	b.fail(core.AddProcessor(b.topo, name, func() core.Processor[K, change[V], K, change[V]] {
		return &tableUpsertProcessor[K, V]{store: storeName, keys: keys, values: values}
	}, t.node))
	b.addStore(core.StoreSpec{Name: storeName, Kind: core.KeyValueStoreKind, Caching: true}, name)
	return out
}

// tableUpsertProcessor writes a table's changes to its store (the new
// value, or a delete) and forwards them from the store's flush listener,
// with the old value the store held (Kafka Streams' KTableKTableJoinMerger
// and a materializing KTableSource).
type tableUpsertProcessor[K, V any] struct {
	store  string
	keys   serde.Serde[K]
	values serde.Serde[V]
	kv     *timestamped[K, V]
}

func (p *tableUpsertProcessor[K, V]) Init(ctx core.ProcessorContext[K, change[V]]) error {
	var err error
	if p.kv, err = openTimestamped(ctx, p.store, p.keys, p.values); err != nil {
		return err
	}
	return forwardOnFlush(ctx, p.store, p.kv)
}

func (p *tableUpsertProcessor[K, V]) Close() error { return nil }

func (p *tableUpsertProcessor[K, V]) Process(r core.Record[K, change[V]]) error {
	if r.NullKey {
		return nil
	}
	if !r.Value.HasNew {
		return p.kv.delete(r.Key)
	}
	return p.kv.put(r.Key, r.Value.New, r.Timestamp.UnixMilli())
}
