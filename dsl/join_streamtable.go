package dsl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
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
	// Keys and Values serialize the repartition topic and the grace
	// period's buffer; default: the stream's serdes (and the table's key
	// serde for the key).
	Keys   serde.Serde[K]
	Values serde.Serde[V]
	// GracePeriod delays each stream record until the join's stream time
	// (the largest timestamp of the stream records it joined or buffered)
	// passed the record's timestamp by the grace period, so that table
	// updates arriving late, up to the grace period, are seen (Kafka
	// Streams' Joined.withGracePeriod, KIP-923). Records older than that
	// already are joined at once. The table must be versioned with a
	// history retention of at least the grace period. The records wait in
	// a logged key-value store "<join name>-Buffer". Default: 0, no
	// buffering.
	GracePeriod time.Duration
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
	switch {
	case j.GracePeriod < 0:
		b.fail(fmt.Errorf("dsl: join of stream %q with table %q: negative grace period %v", s.node, t.node, j.GracePeriod))
	case j.GracePeriod > 0 && !t.versioned:
		// Kafka Streams: "KTable must be versioned to use a grace period
		// in a stream table join."
		b.fail(fmt.Errorf("dsl: join of stream %q with table %q: the table must be versioned (Materialized.AsVersioned) to use a grace period in a stream-table join", s.node, t.node))
	case j.GracePeriod > t.history:
		// Kafka Streams: "History retention must be at least grace period."
		b.fail(fmt.Errorf("dsl: join of stream %q with table %q: the table's history retention (%v) must be at least the grace period (%v)", s.node, t.node, t.history, j.GracePeriod))
	}
	grace := j.GracePeriod
	bufKeys, bufValues := orSerde(j.Keys, orSerde(s.keys, t.keys)), orSerde(j.Values, s.values)
	var buffer string // set below, before any task calls the supplier
	store, keys, values := t.store, t.keys, t.values
	out := addProcessor(s, prefix, names, func() core.Processor[K, V, K, VR] {
		p := &streamTableJoinProcessor[K, V, VT, VR]{store: store, keys: keys, values: values, left: left, joiner: joiner}
		if grace > 0 {
			p.buf = &graceBuffer[K, V]{store: buffer, grace: grace.Milliseconds(), keys: bufKeys, values: bufValues}
		}
		return p
	})
	out.keyChanged = false // partitioned by its key: repartitioned above if needed
	if b.err == nil {
		// Reading the table's store puts the join in the table's
		// sub-topology and makes the two inputs a co-partition group.
		b.fail(b.topo.ConnectProcessorAndStores([]string{out.node}, store))
	}
	if grace > 0 && b.err == nil {
		if bufKeys == nil || bufValues == nil {
			b.fail(fmt.Errorf("dsl: join of stream %q with table %q: no serde known for the stream's key or value, which the grace period's buffer stores; pass dsl.Joined serdes", s.node, t.node))
			return out
		}
		buffer = out.node + "-Buffer" // Kafka Streams' name
		b.addStore(core.StoreSpec{Name: buffer, Kind: core.KeyValueStoreKind}, out.node)
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
	// versioned is the table's store when it is versioned: lookups are
	// as of the stream record's timestamp (table is nil then).
	versioned state.VersionedKeyValueStore
	topic     string // the table store's changelog, for serde calls
	buf       *graceBuffer[K, V]
}

func (p *streamTableJoinProcessor[K, V, VT, VR]) Init(ctx core.ProcessorContext[K, VR]) error {
	p.ctx = ctx
	st, err := ctx.StateStore(p.store)
	if err != nil {
		return err
	}
	if vs, ok := st.(state.VersionedKeyValueStore); ok {
		p.versioned, p.topic = vs, core.ChangelogTopic(ctx.ApplicationID(), p.store)
	} else if p.table, err = openTimestamped(ctx, p.store, p.keys, p.values); err != nil {
		return err
	}
	if p.buf != nil {
		return p.buf.init(ctx)
	}
	return nil
}

func (p *streamTableJoinProcessor[K, V, VT, VR]) Close() error { return nil }

func (p *streamTableJoinProcessor[K, V, VT, VR]) Process(r core.Record[K, V]) error {
	// Kafka Streams' KStreamKTableJoinProcessor: a null value is "no
	// message" and never joins; a null key cannot match, so only a left
	// join keeps it (KIP-962).
	if r.NullValue || (r.NullKey && !p.left) {
		return nil
	}
	// Kafka Streams' buffer refuses a null key; a left join's null-key
	// record (which joins nothing) is joined at once instead.
	if p.buf != nil && !r.NullKey {
		return p.buf.process(r, p.join)
	}
	return p.join(r)
}

// join joins one stream record (Kafka Streams' doJoin).
func (p *streamTableJoinProcessor[K, V, VT, VR]) join(r core.Record[K, V]) error {
	var (
		tableValue VT
		found      bool
	)
	if !r.NullKey {
		var err error
		if p.versioned != nil {
			tableValue, found, err = p.lookupAsOf(r.Key, r.Timestamp.UnixMilli())
		} else {
			// The table's current value, cached updates included: a
			// non-versioned table is read as of processing time.
			tableValue, _, found, err = p.table.get(r.Key)
		}
		if err != nil {
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

// lookupAsOf reads the versioned table's value of k as of ts.
func (p *streamTableJoinProcessor[K, V, VT, VR]) lookupAsOf(k K, ts int64) (v VT, found bool, err error) {
	kb, err := p.keys.Serialize(p.topic, k)
	if err != nil {
		return v, false, fmt.Errorf("serialize store key: %w", err)
	}
	rec, found, err := p.versioned.GetAsOf(kb, ts)
	if err != nil || !found {
		return v, false, err
	}
	v, err = p.values.Deserialize(p.topic, rec.Value)
	return v, err == nil, err
}

// graceBuffer holds the stream records of a stream-table join with a grace
// period, in timestamp order, as Kafka Streams'
// RocksDBTimeOrderedKeyValueBuffer: a record waits until the buffer's
// stream time (the largest timestamp put) minus the grace period reaches
// its timestamp; a record already older than that is not buffered.
//
// Entries of the key-value store: key [timestamp 8, sign bit flipped, BE]
// [serialized key][sequence 4, BE] (Kafka Streams' time-first layout: time
// order, then key bytes, then arrival), value [header count 4]{[name
// length 4][name][value length 4][value]}*[serialized value]. The
// changelog holds these bytes, not Kafka Streams' BufferValue format.
type graceBuffer[K, V any] struct {
	store  string
	grace  int64
	keys   serde.Serde[K]
	values serde.Serde[V]
	topic  string
	kv     state.KeyValueStore
	// observed is the largest timestamp put (math.MinInt64: none); after
	// a restart it is the largest still buffered.
	observed int64
	seq      uint32
}

func (g *graceBuffer[K, V]) init(ctx interface {
	StateStore(string) (any, error)
	ApplicationID() string
}) error {
	kv, topic, err := core.StoreOf[state.KeyValueStore](ctx, g.store)
	if err != nil {
		return err
	}
	g.kv, g.topic, g.observed = kv, topic, math.MinInt64
	it, err := kv.ReverseRange(nil, nil)
	if err != nil {
		return err
	}
	defer it.Close()
	if it.Next() {
		if k := it.Key(); len(k) >= 12 {
			g.observed = int64(binary.BigEndian.Uint64(k) ^ 1<<63)
		}
	}
	return it.Err()
}

// process buffers r, or joins it at once when it is already older than the
// grace period allows, and joins the records whose wait is over.
func (g *graceBuffer[K, V]) process(r core.Record[K, V], join func(core.Record[K, V]) error) error {
	ts := r.Timestamp.UnixMilli()
	if g.observed != math.MinInt64 && g.observed-g.grace > ts {
		return join(r)
	}
	if err := g.put(r, ts); err != nil {
		return fmt.Errorf("dsl: join buffer %q: %w", g.store, err)
	}
	g.observed = max(g.observed, ts)
	return g.evict(join)
}

func (g *graceBuffer[K, V]) put(r core.Record[K, V], ts int64) error {
	kb, err := g.keys.Serialize(g.topic, r.Key)
	if err != nil {
		return fmt.Errorf("serialize key: %w", err)
	}
	vb, err := g.values.Serialize(g.topic, r.Value)
	if err != nil {
		return fmt.Errorf("serialize value: %w", err)
	}
	g.seq = (g.seq + 1) & 0x7fffffff
	key := binary.BigEndian.AppendUint64(make([]byte, 0, 12+len(kb)), uint64(ts)^1<<63)
	key = binary.BigEndian.AppendUint32(append(key, kb...), g.seq)
	val := binary.BigEndian.AppendUint32(nil, uint32(len(r.Headers)))
	for _, h := range r.Headers {
		val = binary.BigEndian.AppendUint32(val, uint32(len(h.Key)))
		val = append(val, h.Key...)
		val = binary.BigEndian.AppendUint32(val, uint32(len(h.Value)))
		val = append(val, h.Value...)
	}
	return g.kv.Put(key, append(val, vb...))
}

// evict joins and removes, oldest first, the records with a timestamp at or
// before the stream time minus the grace period.
func (g *graceBuffer[K, V]) evict(join func(core.Record[K, V]) error) error {
	if g.observed-g.grace == math.MaxInt64 {
		return nil
	}
	upper := binary.BigEndian.AppendUint64(nil, uint64(g.observed-g.grace+1)^1<<63)
	it, err := g.kv.Range(nil, upper)
	if err != nil {
		return err
	}
	type entry struct{ key, value []byte }
	var due []entry
	for it.Next() {
		due = append(due, entry{append([]byte(nil), it.Key()...), append([]byte(nil), it.Value()...)})
	}
	if err := errors.Join(it.Err(), it.Close()); err != nil {
		return err
	}
	for _, e := range due {
		r, err := g.decode(e.key, e.value)
		if err != nil {
			return fmt.Errorf("dsl: join buffer %q: %w", g.store, err)
		}
		if err := join(r); err != nil {
			return err
		}
		if err := g.kv.Delete(e.key); err != nil {
			return err
		}
	}
	return nil
}

var errCorruptBuffer = errors.New("corrupt buffer entry")

func (g *graceBuffer[K, V]) decode(key, value []byte) (r core.Record[K, V], err error) {
	if len(key) < 12 || len(value) < 4 {
		return r, errCorruptBuffer
	}
	r.Timestamp = time.UnixMilli(int64(binary.BigEndian.Uint64(key) ^ 1<<63))
	if r.Key, err = g.keys.Deserialize(g.topic, key[8:len(key)-4]); err != nil {
		return r, fmt.Errorf("deserialize key: %w", err)
	}
	n := binary.BigEndian.Uint32(value)
	value = value[4:]
	field := func() ([]byte, error) {
		if len(value) < 4 || uint32(len(value)-4) < binary.BigEndian.Uint32(value) {
			return nil, errCorruptBuffer
		}
		l := binary.BigEndian.Uint32(value)
		f := value[4 : 4+l]
		value = value[4+l:]
		return f, nil
	}
	for range n {
		name, err := field()
		if err != nil {
			return r, err
		}
		hv, err := field()
		if err != nil {
			return r, err
		}
		r.Headers = append(r.Headers, core.Header{Key: string(name), Value: hv})
	}
	if r.Value, err = g.values.Deserialize(g.topic, value); err != nil {
		return r, fmt.Errorf("deserialize value: %w", err)
	}
	return r, nil
}
