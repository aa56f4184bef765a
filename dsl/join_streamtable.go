package dsl

import (
	"fmt"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
)

// Joined configures a stream-table join (Kafka Streams' Joined): the
// serdes of the repartition topic the stream goes through when its key
// changed upstream, and a name.
type Joined[K, V any] struct {
	// Name names the join processor and is the base of the stream's
	// repartition topic ("<Name>-repartition"); default: a generated
	// processor name and the name of the stream's node as the base, as in
	// Kafka Streams.
	Name string
	// Keys and Values serialize the repartition topic; default: the
	// stream's serdes (and the table's key serde for the key).
	Keys   serde.Serde[K]
	Values serde.Serde[V]
}

// JoinedWith returns a Joined with the given repartition serdes.
func JoinedWith[K, V any](keys serde.Serde[K], values serde.Serde[V]) Joined[K, V] {
	return Joined[K, V]{Keys: keys, Values: values}
}

// JoinTable joins each record of s with the value t holds for its key when
// the record is processed (Kafka Streams' KStream#join(KTable)): a record
// whose key is in the table yields joiner(value, tableValue), with the
// stream record's key, timestamp and headers; other records yield nothing.
// Only stream records trigger the join; table updates produce no output
// and do not join with earlier stream records. Stream records with a null
// key or a null value are dropped.
//
// t must be materialized (tables from Table, ToTable and aggregations
// are). If s's key changed upstream (Map, SelectKey, ...), s is first
// repartitioned through an internal topic. The stream's input and the
// table's input must be co-partitioned: App.Run fails at start when their
// partition counts differ, and sizes a repartition topic to match.
func JoinTable[K, V, VT, VR any](s *KStream[K, V], t *KTable[K, VT], joiner func(value V, tableValue VT) VR, joined ...Joined[K, V]) *KStream[K, VR] {
	return joinStreamTable(s, t, "KSTREAM-JOIN", false, func(v V, vt VT, _ bool) VR { return joiner(v, vt) }, joined)
}

// LeftJoinTable is JoinTable that keeps every stream record (Kafka
// Streams' KStream#leftJoin(KTable)): a record whose key is not in the
// table yields joiner(value, zero, false). As in Kafka Streams since
// KIP-962, a record with a null key is kept too (joined with no table
// value, its key staying null); records with a null value are dropped.
func LeftJoinTable[K, V, VT, VR any](s *KStream[K, V], t *KTable[K, VT], joiner func(value V, tableValue VT, found bool) VR, joined ...Joined[K, V]) *KStream[K, VR] {
	return joinStreamTable(s, t, "KSTREAM-LEFTJOIN", true, joiner, joined)
}

func joinStreamTable[K, V, VT, VR any](s *KStream[K, V], t *KTable[K, VT], prefix string, left bool, joiner func(V, VT, bool) VR, joined []Joined[K, V]) *KStream[K, VR] {
	b := s.b
	var j Joined[K, V]
	if len(joined) > 0 {
		j = joined[0]
	}
	if t.b != b {
		b.fail(fmt.Errorf("dsl: join of a stream and a table from different builders"))
	} else if t.store == "" {
		b.fail(fmt.Errorf("dsl: join of stream %q with table %q: the table is not materialized; join with a table from dsl.Table, ToTable or an aggregation (for a derived table: table.ToStream().ToTable())", s.node, t.node))
	}
	if s.keyChanged {
		base := j.Name
		if base == "" {
			base = s.node
		}
		s = repartition(s, Repartitioned[K, V]{Name: base, Keys: orSerde(j.Keys, orSerde(s.keys, t.keys)), Values: orSerde(j.Values, s.values)})
	}
	var names []Named
	if j.Name != "" {
		names = []Named{Named(j.Name)}
	}
	store, keys, values := t.store, t.keys, t.values
	out := addProcessor(s, prefix, names, func() core.Processor[K, V, K, VR] {
		return &streamTableJoinProcessor[K, V, VT, VR]{store: store, keys: keys, values: values, left: left, joiner: joiner}
	})
	out.keyChanged = false // partitioned by its key: repartitioned above if needed
	if b.err == nil {
		// Reading the table's store puts the join in the table's
		// sub-topology and makes the two inputs a co-partition group.
		b.fail(b.topo.ConnectProcessorAndStores([]string{out.node}, store))
	}
	return out
}

type streamTableJoinProcessor[K, V, VT, VR any] struct {
	store  string
	keys   serde.Serde[K]
	values serde.Serde[VT]
	left   bool
	joiner func(V, VT, bool) VR
	ctx    core.ProcessorContext[K, VR]
	table  *timestamped[K, VT]
}

func (p *streamTableJoinProcessor[K, V, VT, VR]) Init(ctx core.ProcessorContext[K, VR]) error {
	p.ctx = ctx
	var err error
	p.table, err = openTimestamped(ctx, p.store, p.keys, p.values)
	return err
}

func (p *streamTableJoinProcessor[K, V, VT, VR]) Close() error { return nil }

func (p *streamTableJoinProcessor[K, V, VT, VR]) Process(r core.Record[K, V]) error {
	// Kafka Streams' KStreamKTableJoinProcessor: a null value is "no
	// message" and never joins; a null key cannot match, so only a left
	// join keeps it (KIP-962).
	if r.NullValue || (r.NullKey && !p.left) {
		return nil
	}
	var (
		tableValue VT
		found      bool
	)
	if !r.NullKey {
		var err error
		// The table's current value, cached updates included: a
		// non-versioned table is read as of processing time.
		if tableValue, _, found, err = p.table.get(r.Key); err != nil {
			return fmt.Errorf("dsl: join with table store %q: %w", p.store, err)
		}
	}
	if !found && !p.left {
		return nil
	}
	// The result carries the stream record's timestamp, as in Kafka Streams
	// (record.withValue), not the max of both sides.
	return p.ctx.Forward(core.WithValue(r, p.joiner(r.Value, tableValue, found)))
}
