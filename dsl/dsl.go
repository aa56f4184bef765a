// Package dsl is Sluice's typed streams DSL, the Go counterpart of Kafka
// Streams' StreamsBuilder / KStream API. It compiles to a core.Topology.
//
//	b := dsl.NewBuilder()
//	lines := dsl.Stream(b, "text-lines", dsl.ConsumedWith(serde.String(), serde.String()))
//	upper := dsl.MapValues(lines, strings.ToUpper)
//	upper.To("uppercased-text-lines")
//	topo, err := b.Build()
//
// Type-keeping operations are methods (Filter, Peek, Merge, To, ...);
// type-changing ones are package functions (Map, MapValues, FlatMap,
// SelectKey, Process, ...) because Go methods cannot take type parameters.
//
// Serdes travel with a stream: a source's serdes are used by To and
// Repartition unless others are given. After a type-changing operation the
// serde of the changed type is kept only if the type did not change.
//
// Errors (a duplicate name, a sink with no serde for its type) are recorded
// in the Builder; later operations become no-ops and Build returns the
// first error.
package dsl

import (
	"fmt"
	"io"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
)

// Builder accumulates a topology.
type Builder struct {
	topo *core.Topology
	err  error
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder { return &Builder{topo: core.NewTopology()} }

// Build returns the topology, or the first error any operation recorded.
func (b *Builder) Build() (*core.Topology, error) {
	if b.err != nil {
		return nil, b.err
	}
	return b.topo, nil
}

func (b *Builder) fail(err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
}

// Named names an operator's node. Unnamed operators get Kafka Streams style
// generated names such as KSTREAM-FILTER-0000000001.
type Named string

func (b *Builder) name(prefix string, names []Named) string {
	if len(names) > 0 && names[0] != "" {
		return string(names[0])
	}
	return b.topo.NextName(prefix)
}

// KStream is a typed stream of records.
type KStream[K, V any] struct {
	b      *Builder
	node   string
	keys   serde.Serde[K]
	values serde.Serde[V]
	// keyChanged is set after a key-changing operation: a later stateful
	// operation must repartition first.
	keyChanged bool
}

// Consumed configures a source: its serdes, node name and timestamp
// extractor.
type Consumed[K, V any] struct {
	Keys      serde.Serde[K]
	Values    serde.Serde[V]
	Name      string
	Extractor core.TimestampExtractor // default: the application's extractor
}

// ConsumedWith returns a Consumed with the given serdes.
func ConsumedWith[K, V any](keys serde.Serde[K], values serde.Serde[V]) Consumed[K, V] {
	return Consumed[K, V]{Keys: keys, Values: values}
}

// WithName names the source node.
func (c Consumed[K, V]) WithName(name string) Consumed[K, V] { c.Name = name; return c }

// WithTimestampExtractor sets the source's timestamp extractor.
func (c Consumed[K, V]) WithTimestampExtractor(e core.TimestampExtractor) Consumed[K, V] {
	c.Extractor = e
	return c
}

// Stream reads topic as a stream.
func Stream[K, V any](b *Builder, topic string, consumed Consumed[K, V]) *KStream[K, V] {
	return StreamTopics(b, []string{topic}, consumed)
}

// StreamTopics reads several topics as one stream.
func StreamTopics[K, V any](b *Builder, topics []string, consumed Consumed[K, V]) *KStream[K, V] {
	name := consumed.Name
	if name == "" {
		name = b.topo.NextName("KSTREAM-SOURCE")
	}
	if b.err == nil {
		if consumed.Keys == nil || consumed.Values == nil {
			b.fail(fmt.Errorf("dsl: source of %v needs key and value serdes (dsl.ConsumedWith)", topics))
		} else {
			var opts []core.SourceOption
			if consumed.Extractor != nil {
				opts = append(opts, core.WithSourceTimestampExtractor(consumed.Extractor))
			}
			b.fail(core.AddSource(b.topo, name, consumed.Keys, consumed.Values, topics, opts...))
		}
	}
	return &KStream[K, V]{b: b, node: name, keys: consumed.Keys, values: consumed.Values}
}

// Builder returns the stream's builder.
func (s *KStream[K, V]) Builder() *Builder { return s.b }

// NodeName is the name of the node producing this stream's records.
func (s *KStream[K, V]) NodeName() string { return s.node }

// WithSerdes returns the same stream with the given serdes, for a later To
// or Repartition after type-changing operations. It adds no node.
func (s *KStream[K, V]) WithSerdes(keys serde.Serde[K], values serde.Serde[V]) *KStream[K, V] {
	c := *s
	c.keys, c.values = keys, values
	return &c
}

// addProcessor adds a processor node after s and returns the new stream.
func addProcessor[K, V, K2, V2 any](s *KStream[K, V], prefix string, names []Named, supplier func() core.Processor[K, V, K2, V2], parents ...string) *KStream[K2, V2] {
	b := s.b
	name := b.name(prefix, names)
	if len(parents) == 0 {
		parents = []string{s.node}
	}
	if b.err == nil {
		b.fail(core.AddProcessor(b.topo, name, supplier, parents...))
	}
	out := &KStream[K2, V2]{b: b, node: name, keyChanged: s.keyChanged}
	out.keys, _ = any(s.keys).(serde.Serde[K2])
	out.values, _ = any(s.values).(serde.Serde[V2])
	return out
}

// pfn builds a stateless processor supplier from a per-record function that
// gets the record by pointer (core.PointerProcessor): no copy per hop.
func pfn[K, V, K2, V2 any](f func(ctx core.ProcessorContext[K2, V2], r *core.Record[K, V]) error) func() core.Processor[K, V, K2, V2] {
	return func() core.Processor[K, V, K2, V2] { return &ptrProcessor[K, V, K2, V2]{f: f} }
}

type ptrProcessor[K, V, K2, V2 any] struct {
	stateless[K2, V2]
	f func(ctx core.ProcessorContext[K2, V2], r *core.Record[K, V]) error
}

func (p *ptrProcessor[K, V, K2, V2]) Process(r core.Record[K, V]) error     { return p.f(p.ctx, &r) }
func (p *ptrProcessor[K, V, K2, V2]) ProcessPtr(r *core.Record[K, V]) error { return p.f(p.ctx, r) }

// Filter keeps the records for which pred is true.
func (s *KStream[K, V]) Filter(pred func(key K, value V) bool, name ...Named) *KStream[K, V] {
	return addProcessor(s, "KSTREAM-FILTER", name, func() core.Processor[K, V, K, V] {
		return &filterProcessor[K, V]{pred: pred, want: true}
	})
}

// FilterNot drops the records for which pred is true.
func (s *KStream[K, V]) FilterNot(pred func(key K, value V) bool, name ...Named) *KStream[K, V] {
	return addProcessor(s, "KSTREAM-FILTER", name, func() core.Processor[K, V, K, V] {
		return &filterProcessor[K, V]{pred: pred, want: false}
	})
}

// The hottest operators are plain structs rather than closures wrapped in
// core.ProcessorFunc: one indirect call less per record and hop.

type filterProcessor[K, V any] struct {
	stateless[K, V]
	pred func(K, V) bool
	want bool
}

func (p *filterProcessor[K, V]) Process(r core.Record[K, V]) error { return p.ProcessPtr(&r) }

func (p *filterProcessor[K, V]) ProcessPtr(r *core.Record[K, V]) error {
	if p.pred(r.Key, r.Value) == p.want {
		return p.ctx.ForwardPtr(r)
	}
	return nil
}

type mapValuesProcessor[K, V, V2 any] struct {
	stateless[K, V2]
	mapper func(V) V2
	out    outRecords[K, V2]
}

func (p *mapValuesProcessor[K, V, V2]) Process(r core.Record[K, V]) error { return p.ProcessPtr(&r) }

func (p *mapValuesProcessor[K, V, V2]) ProcessPtr(r *core.Record[K, V]) error {
	o := p.out.next()
	var v V2
	if !r.NullValue { // a tombstone passes through unmapped (see MapValues)
		v = p.mapper(r.Value)
	}
	o.Key, o.Value, o.Timestamp, o.NullKey, o.NullValue = r.Key, v, r.Timestamp, r.NullKey, r.NullValue
	if o.Headers != nil || r.Headers != nil { // skip a nil-over-nil write barrier
		o.Headers = r.Headers
	}
	err := p.ctx.ForwardPtr(o)
	p.out.done()
	return err
}

// mapValuesWithKeyProcessor is mapValuesProcessor with the key passed to
// the mapper (it was a closure building a record for Forward, which
// copies it twice: jobs' mapValues steps run through it).
type mapValuesWithKeyProcessor[K, V, V2 any] struct {
	stateless[K, V2]
	mapper func(K, V) V2
	out    outRecords[K, V2]
}

func (p *mapValuesWithKeyProcessor[K, V, V2]) Process(r core.Record[K, V]) error {
	return p.ProcessPtr(&r)
}

func (p *mapValuesWithKeyProcessor[K, V, V2]) ProcessPtr(r *core.Record[K, V]) error {
	o := p.out.next()
	var v V2
	if !r.NullValue { // a tombstone passes through unmapped (see MapValues)
		v = p.mapper(r.Key, r.Value)
	}
	o.Key, o.Value, o.Timestamp, o.NullKey, o.NullValue = r.Key, v, r.Timestamp, r.NullKey, r.NullValue
	if o.Headers != nil || r.Headers != nil { // skip a nil-over-nil write barrier
		o.Headers = r.Headers
	}
	err := p.ctx.ForwardPtr(o)
	p.out.done()
	return err
}

// outRecords are the records an operator builds and forwards by pointer:
// filled in place (building a Record value and passing it to Forward
// copies it twice). Like core's Forward slots there is one per nesting
// level, because a record cache flushing from inside a child can re-enter
// the operator while the child still reads the earlier record.
type outRecords[K, V any] struct {
	recs  []*core.Record[K, V]
	depth int
}

func (o *outRecords[K, V]) next() *core.Record[K, V] {
	if o.depth == len(o.recs) {
		o.recs = append(o.recs, new(core.Record[K, V]))
	}
	r := o.recs[o.depth]
	o.depth++
	return r
}

func (o *outRecords[K, V]) done() { o.depth-- }

// stateless is the Init/Close part shared by the struct processors.
type stateless[K, V any] struct{ ctx core.ProcessorContext[K, V] }

func (p *stateless[K, V]) Init(ctx core.ProcessorContext[K, V]) error { p.ctx = ctx; return nil }
func (p *stateless[K, V]) Close() error                               { return nil }

// Peek calls action for every record and forwards it unchanged.
func (s *KStream[K, V]) Peek(action func(key K, value V), name ...Named) *KStream[K, V] {
	return addProcessor(s, "KSTREAM-PEEK", name, pfn(func(ctx core.ProcessorContext[K, V], r *core.Record[K, V]) error {
		action(r.Key, r.Value)
		return ctx.ForwardPtr(r)
	}))
}

// Foreach calls action for every record; it ends the stream.
func (s *KStream[K, V]) Foreach(action func(key K, value V), name ...Named) {
	addProcessor(s, "KSTREAM-FOREACH", name, pfn(func(_ core.ProcessorContext[K, V], r *core.Record[K, V]) error {
		action(r.Key, r.Value)
		return nil
	}))
}

// Print writes "[label]: key, value" for every record to w (Kafka Streams'
// Printed format); it ends the stream. An empty label means the node's
// name, as in Kafka Streams. Writes happen on the task's goroutine, so w
// must be safe for concurrent use when several tasks run.
func (s *KStream[K, V]) Print(w io.Writer, label string, name ...Named) {
	node := s.b.name("KSTREAM-PRINTER", name)
	if label == "" {
		label = node
	}
	addProcessor(s, "KSTREAM-PRINTER", []Named{Named(node)}, pfn(func(_ core.ProcessorContext[K, V], r *core.Record[K, V]) error {
		_, err := fmt.Fprintf(w, "[%s]: %v, %v\n", label, r.Key, r.Value)
		return err
	}))
}

// Merge interleaves s and other into one stream (in the order the task
// processes them: by timestamp within a task).
func (s *KStream[K, V]) Merge(other *KStream[K, V], name ...Named) *KStream[K, V] {
	if other.b != s.b {
		s.b.fail(fmt.Errorf("dsl: Merge of streams from different builders"))
		return s
	}
	out := addProcessor(s, "KSTREAM-MERGE", name, pfn(func(ctx core.ProcessorContext[K, V], r *core.Record[K, V]) error {
		return ctx.ForwardPtr(r)
	}), s.node, other.node)
	out.keyChanged = s.keyChanged || other.keyChanged
	return out
}

// Map changes key and value; a later stateful operation repartitions.
//
// A record with a null value (a tombstone) stays a tombstone: mapper is
// called with the zero value, for the new key, and the value it returns is
// dropped. Kafka Streams passes null to the mapper, which may return any
// value; a typed Go mapper cannot tell null from the zero value, and
// mapping a tombstone to the zero value would turn a delete into an upsert
// downstream (ToTable, a sink to a compacted topic). MapNullable gives the
// mapper Kafka Streams' full say.
func Map[K, V, K2, V2 any](s *KStream[K, V], mapper func(key K, value V) (K2, V2), name ...Named) *KStream[K2, V2] {
	out := addProcessor(s, "KSTREAM-MAP", name, pfn(func(ctx core.ProcessorContext[K2, V2], r *core.Record[K, V]) error {
		k, v := mapper(r.Key, r.Value)
		o := core.WithKeyValue(*r, k, v)
		if r.NullValue {
			var zero V2
			o.Value, o.NullValue = zero, true
		}
		return ctx.Forward(o)
	}))
	out.keyChanged = true
	return out
}

// MapNullable is Map for mappers that handle null values, as Kafka
// Streams' KeyValueMapper does: isNull says the value is null (value is
// then the zero value), and resultIsNull makes the result value null.
func MapNullable[K, V, K2, V2 any](s *KStream[K, V], mapper func(key K, value V, isNull bool) (k K2, v V2, resultIsNull bool), name ...Named) *KStream[K2, V2] {
	out := addProcessor(s, "KSTREAM-MAP", name, pfn(func(ctx core.ProcessorContext[K2, V2], r *core.Record[K, V]) error {
		k, v, isNull := mapper(r.Key, r.Value, r.NullValue)
		o := core.WithKeyValue(*r, k, v)
		o.NullValue = isNull
		return ctx.Forward(o)
	}))
	out.keyChanged = true
	return out
}

// MapValues changes the value, keeping the key (no repartition needed).
//
// A record with a null value (a tombstone) passes through as a tombstone
// without calling mapper: Kafka Streams passes null to the mapper, which
// in practice returns null or fails, and a typed Go mapper cannot tell null
// from the zero value (before, a tombstone became the zero value of V2: a
// delete turned into an upsert downstream). MapValuesNullable lets the
// mapper see nulls and produce them, as Kafka Streams' ValueMapper can.
func MapValues[K, V, V2 any](s *KStream[K, V], mapper func(value V) V2, name ...Named) *KStream[K, V2] {
	return addProcessor(s, "KSTREAM-MAPVALUES", name, func() core.Processor[K, V, K, V2] {
		return &mapValuesProcessor[K, V, V2]{mapper: mapper}
	})
}

// MapValuesWithKey changes the value using the read-only key; a tombstone
// passes through as in MapValues.
func MapValuesWithKey[K, V, V2 any](s *KStream[K, V], mapper func(key K, value V) V2, name ...Named) *KStream[K, V2] {
	return addProcessor(s, "KSTREAM-MAPVALUES", name, func() core.Processor[K, V, K, V2] {
		return &mapValuesWithKeyProcessor[K, V, V2]{mapper: mapper}
	})
}

// MapValuesNullable is MapValuesWithKey for mappers that handle null
// values, as Kafka Streams' ValueMapperWithKey does: isNull says the value
// is null (value is then the zero value), and resultIsNull makes the
// result null (a tombstone).
func MapValuesNullable[K, V, V2 any](s *KStream[K, V], mapper func(key K, value V, isNull bool) (v V2, resultIsNull bool), name ...Named) *KStream[K, V2] {
	return addProcessor(s, "KSTREAM-MAPVALUES", name, pfn(func(ctx core.ProcessorContext[K, V2], r *core.Record[K, V]) error {
		v, isNull := mapper(r.Key, r.Value, r.NullValue)
		o := core.WithValue(*r, v)
		o.NullValue = isNull
		return ctx.Forward(o)
	}))
}

// KeyValue is a key and a value, as returned by FlatMap mappers.
type KeyValue[K, V any] = core.KeyValue[K, V]

// Pair builds a KeyValue.
func Pair[K, V any](k K, v V) KeyValue[K, V] { return KeyValue[K, V]{Key: k, Value: v} }

// FlatMap turns each record into zero or more records with new keys.
func FlatMap[K, V, K2, V2 any](s *KStream[K, V], mapper func(key K, value V) []KeyValue[K2, V2], name ...Named) *KStream[K2, V2] {
	out := addProcessor(s, "KSTREAM-FLATMAP", name, pfn(func(ctx core.ProcessorContext[K2, V2], r *core.Record[K, V]) error {
		for _, kv := range mapper(r.Key, r.Value) {
			if err := ctx.Forward(core.WithKeyValue(*r, kv.Key, kv.Value)); err != nil {
				return err
			}
		}
		return nil
	}))
	out.keyChanged = true
	return out
}

// FlatMapValues turns each value into zero or more values, keeping the key.
func FlatMapValues[K, V, V2 any](s *KStream[K, V], mapper func(value V) []V2, name ...Named) *KStream[K, V2] {
	return addProcessor(s, "KSTREAM-FLATMAPVALUES", name, pfn(func(ctx core.ProcessorContext[K, V2], r *core.Record[K, V]) error {
		for _, v := range mapper(r.Value) {
			if err := ctx.Forward(core.WithValue(*r, v)); err != nil {
				return err
			}
		}
		return nil
	}))
}

// SelectKey sets a new key; a later stateful operation repartitions.
func SelectKey[K, V, K2 any](s *KStream[K, V], selector func(key K, value V) K2, name ...Named) *KStream[K2, V] {
	out := addProcessor(s, "KSTREAM-KEY-SELECT", name, pfn(func(ctx core.ProcessorContext[K2, V], r *core.Record[K, V]) error {
		return ctx.Forward(core.Record[K2, V]{Key: selector(r.Key, r.Value), Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers, NullValue: r.NullValue})
	}))
	out.keyChanged = true
	return out
}

// Process bridges to the Processor API: supplier is called once per task.
func Process[K, V, K2, V2 any](s *KStream[K, V], supplier func() core.Processor[K, V, K2, V2], name ...Named) *KStream[K2, V2] {
	out := addProcessor(s, "KSTREAM-PROCESSOR", name, supplier)
	out.keyChanged = true // a processor may change keys
	return out
}
