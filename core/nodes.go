package core

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/serde"
)

// receiver is a built node that accepts typed records. Records travel
// between nodes by pointer: a receiver must not modify *rec, and must not
// keep the pointer after process returns (the sender reuses the record).
// Passing 100-byte Record values through every hop cost more than the
// operators themselves on the stateless path (see BENCHMARKS.md).
type receiver[K, V any] interface {
	process(rec *Record[K, V]) error
}

// rawReceiver is a built source node: it deserializes raw records.
type rawReceiver interface {
	processRaw(rec *kgo.Record, ts int64) error
}

func castChildren[K, V any](parent string, children []any) ([]receiver[K, V], error) {
	out := make([]receiver[K, V], len(children))
	for i, c := range children {
		r, ok := c.(receiver[K, V])
		if !ok {
			return nil, fmt.Errorf("core: node %q: child %d does not accept (%s, %s)", parent, i, typeName(typeOf[K]()), typeName(typeOf[V]()))
		}
		out[i] = r
	}
	return out, nil
}

// ---- source ----

type sourceSpec[K, V any] struct {
	nodeBase
	keys   serde.Deserializer[K]
	values serde.Deserializer[V]
	cfg    sourceConfig
}

func (s *sourceSpec[K, V]) base() *nodeBase { return &s.nodeBase }

func (s *sourceSpec[K, V]) instantiate(tk *task, children []any) (any, error) {
	cs, err := castChildren[K, V](s.name, children)
	if err != nil {
		return nil, err
	}
	return &sourceNode[K, V]{spec: s, tk: tk, children: cs}, nil
}

type sourceNode[K, V any] struct {
	spec     *sourceSpec[K, V]
	tk       *task
	children []receiver[K, V]
	// rec is the record handed to the children: a source is never
	// re-entered (it runs once per input record), so one is enough.
	rec Record[K, V]
}

func (n *sourceNode[K, V]) processRaw(raw *kgo.Record, ts int64) error {
	// Every field is assigned (no zeroing first): each pointer written to
	// this heap record costs a write barrier while the GC marks.
	rec := &n.rec
	var err error
	var zk K
	var zv V
	rec.NullKey, rec.NullValue = raw.Key == nil, raw.Value == nil
	if rec.NullKey {
		rec.Key = zk
	} else if rec.Key, err = n.spec.keys.Deserialize(raw.Topic, raw.Key); err != nil {
		rec.Key = zk
		return n.tk.deserializationFailed(fmt.Errorf("key: %w", err))
	}
	if rec.NullValue {
		rec.Value = zv
	} else if rec.Value, err = n.spec.values.Deserialize(raw.Topic, raw.Value); err != nil {
		rec.Value = zv
		return n.tk.deserializationFailed(fmt.Errorf("value: %w", err))
	}
	if raw.Timestamp.UnixMilli() == ts {
		rec.Timestamp = raw.Timestamp
	} else {
		rec.Timestamp = time.UnixMilli(ts)
	}
	if rec.Headers != nil || raw.Headers != nil {
		rec.Headers = raw.Headers
	}
	if len(n.children) == 1 {
		return n.children[0].process(rec)
	}
	for _, c := range n.children {
		if err := c.process(rec); err != nil {
			return err
		}
	}
	return nil
}

// ---- processor ----

type processorSpec[KIn, VIn, KOut, VOut any] struct {
	nodeBase
	supplier func() Processor[KIn, VIn, KOut, VOut]
}

func (s *processorSpec[KIn, VIn, KOut, VOut]) base() *nodeBase { return &s.nodeBase }

func (s *processorSpec[KIn, VIn, KOut, VOut]) instantiate(tk *task, children []any) (any, error) {
	cs, err := castChildren[KOut, VOut](s.name, children)
	if err != nil {
		return nil, err
	}
	p := s.supplier()
	if p == nil {
		return nil, fmt.Errorf("core: processor %q: supplier returned nil", s.name)
	}
	n := &processorNodeImpl[KIn, VIn, KOut, VOut]{name: s.name, tk: tk, proc: p}
	if len(s.children) == 0 { // a terminal node
		n.e2e = tk.e2eFor(s.name)
	}
	n.ptr, _ = p.(PointerProcessor[KIn, VIn])
	n.ctx = &nodeContext[KOut, VOut]{tk: tk, name: s.name, children: cs, childNames: s.children}
	tk.addCloser(s.name, p.Close)
	tk.addIniter(func() error {
		if err := p.Init(n.ctx); err != nil {
			return fmt.Errorf("core: init processor %q of task %s: %w", s.name, tk.id, err)
		}
		return nil
	})
	return n, nil
}

type processorNodeImpl[KIn, VIn, KOut, VOut any] struct {
	name string
	tk   *task
	proc Processor[KIn, VIn, KOut, VOut]
	ptr  PointerProcessor[KIn, VIn] // proc's fast path, when it has one
	ctx  *nodeContext[KOut, VOut]
	e2e  *e2eLatency // end-to-end latency of a terminal node, when recorded
}

//lint:ignore U1000 called through the node interface (staticcheck misses generic implementations)
func (n *processorNodeImpl[KIn, VIn, KOut, VOut]) process(rec *Record[KIn, VIn]) error {
	var err error
	// The record's time is what the node's store writes carry (see
	// task.recordTime); restored afterwards because forwards nest.
	prev := n.tk.recordTime
	n.tk.recordTime = rec.Timestamp.UnixMilli()
	if n.e2e != nil {
		n.e2e.record(n.tk.wallMs - n.tk.recordTime)
	}
	if n.ptr != nil {
		err = n.ptr.ProcessPtr(rec)
	} else {
		err = n.proc.Process(*rec)
	}
	n.tk.recordTime = prev
	if err == nil {
		return nil
	}
	return n.tk.processingFailed(n.name, err)
}

// nodeContext is the ProcessorContext of one processor instance.
type nodeContext[K, V any] struct {
	tk         *task
	name       string
	children   []receiver[K, V]
	childNames []string
	// slots hold records forwarded by value while the children run. A
	// node can be re-entered while its children still read an earlier
	// record (a record cache evicting into this node's forward from deep
	// inside a child), so each nesting level gets its own slot.
	slots []*Record[K, V]
	depth int
}

// slot returns the record to forward at the current nesting depth; the
// caller must call release when its children returned.
func (c *nodeContext[K, V]) slot() *Record[K, V] {
	if c.depth == len(c.slots) {
		c.slots = append(c.slots, new(Record[K, V]))
	}
	r := c.slots[c.depth]
	c.depth++
	return r
}

func (c *nodeContext[K, V]) release() {
	// The slot keeps its last record until reused: one record per nesting
	// level, and clearing it would cost a write barrier per field.
	c.depth--
}

func (c *nodeContext[K, V]) Forward(rec Record[K, V]) error {
	r := c.slot()
	*r = rec
	err := c.ForwardPtr(r)
	c.release()
	return err
}

func (c *nodeContext[K, V]) ForwardPtr(rec *Record[K, V]) error {
	if len(c.children) == 1 { // the common chain: skip the loop
		return c.children[0].process(rec)
	}
	for _, ch := range c.children {
		if err := ch.process(rec); err != nil {
			return err
		}
	}
	return nil
}

func (c *nodeContext[K, V]) ForwardTo(child string, rec Record[K, V]) error {
	for i, name := range c.childNames {
		if name == child {
			r := c.slot()
			*r = rec
			err := c.children[i].process(r)
			c.release()
			return err
		}
	}
	return fmt.Errorf("core: processor %q has no child %q", c.name, child)
}

func (c *nodeContext[K, V]) RecordMetadata() (RecordMetadata, bool) {
	cur := c.tk.cur()
	if cur == nil {
		return RecordMetadata{}, false
	}
	return RecordMetadata{Topic: cur.Topic, Partition: cur.Partition, Offset: cur.Offset}, true
}

func (c *nodeContext[K, V]) Schedule(interval time.Duration, typ PunctuationType, fn Punctuator) (Cancellable, error) {
	return c.tk.schedule(c.name, interval, typ, fn)
}

func (c *nodeContext[K, V]) TaskID() TaskID        { return c.tk.id }
func (c *nodeContext[K, V]) ApplicationID() string { return c.tk.env.appID }
func (c *nodeContext[K, V]) NodeName() string      { return c.name }
func (c *nodeContext[K, V]) StreamTime() time.Time {
	if c.tk.streamTime == unknownTime {
		return time.Time{}
	}
	return time.UnixMilli(c.tk.streamTime)
}
func (c *nodeContext[K, V]) WallClockTime() time.Time { return c.tk.env.now() }
func (c *nodeContext[K, V]) Commit()                  { c.tk.commitRequested = true }
func (c *nodeContext[K, V]) DropRecord(reason string) {
	c.tk.dropped++
	if m := c.tk.env.cfg.metrics; m != nil {
		m.Counter("records_dropped_total", 1, Label{"reason", reason}, Label{"node", c.name})
	}
}

// ErrNoStore is returned by StateStore for a store the processor cannot reach.
var ErrNoStore = errors.New("core: no such state store")

func (c *nodeContext[K, V]) StateStore(name string) (any, error) {
	return c.tk.store(c.name, name)
}

// ---- sink ----

type sinkSpec[K, V any] struct {
	nodeBase
	keys        serde.Serializer[K]
	values      serde.Serializer[V]
	to          TopicChooser[K, V]
	partitioner StreamPartitioner[K, V]
}

func (s *sinkSpec[K, V]) base() *nodeBase { return &s.nodeBase }

func (s *sinkSpec[K, V]) instantiate(tk *task, _ []any) (any, error) {
	n := &sinkNodeImpl[K, V]{spec: s, tk: tk, e2e: tk.e2eFor(s.name)}
	if s.to.fixed != "" {
		n.fixedTopic = tk.env.resolveTopic(s.to.fixed)
	}
	return n, nil
}

type sinkNodeImpl[K, V any] struct {
	spec       *sinkSpec[K, V]
	tk         *task
	fixedTopic string
	e2e        *e2eLatency // end-to-end latency, when recorded
}

//lint:ignore U1000 called through the node interface (staticcheck misses generic implementations)
func (n *sinkNodeImpl[K, V]) process(rec *Record[K, V]) error {
	if n.e2e != nil {
		n.e2e.record(n.tk.wallMs - rec.Timestamp.UnixMilli())
	}
	topic := n.fixedTopic
	if topic == "" {
		topic = n.tk.env.resolveTopic(n.spec.to.fn(*rec))
		if topic == "" {
			return n.tk.productionFailed(n.spec.name, &kgo.Record{}, errors.New("topic chooser returned an empty topic name"))
		}
	}
	// Pointer fields are written only when they change where that is cheap
	// to tell (a recycled record usually has the topic already, headers are
	// usually nil): each write costs a write barrier while the GC marks.
	out := n.tk.newRecord()
	if out.Topic != topic {
		out.Topic = topic
	}
	out.Partition, out.Timestamp = -1, rec.Timestamp
	if out.Headers != nil || rec.Headers != nil {
		out.Headers = rec.Headers
	}
	out.Key, out.Value = nil, nil
	var err error
	if !rec.NullKey {
		if out.Key, err = n.spec.keys.Serialize(topic, rec.Key); err != nil {
			return n.tk.productionFailed(n.spec.name, out, fmt.Errorf("serialize key: %w", err))
		}
	}
	if !rec.NullValue {
		if out.Value, err = n.spec.values.Serialize(topic, rec.Value); err != nil {
			return n.tk.productionFailed(n.spec.name, out, fmt.Errorf("serialize value: %w", err))
		}
		if out.Value == nil {
			out.Value = []byte{} // a present value is never written as a null
		}
	}
	if n.spec.partitioner != nil {
		count, err := n.tk.env.out.partitions(topic)
		if err != nil {
			return n.tk.productionFailed(n.spec.name, out, err)
		}
		if p, ok := n.spec.partitioner(topic, *rec, count); ok {
			if p < 0 || p >= count {
				return n.tk.productionFailed(n.spec.name, out, fmt.Errorf("partitioner chose partition %d of %d", p, count))
			}
			out.Partition = p
		}
	}
	return n.tk.send(out)
}
