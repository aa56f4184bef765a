package core

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/memstate"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

// TestDriver runs a topology in-process without a broker, through the same
// task code as the runtime: the equivalent of Kafka Streams'
// TopologyTestDriver. Every topic has one partition (0). Records written to
// a topic the topology also reads (repartition topics included) are fed
// back in, in order, before Pipe returns. Wall-clock time is a mock clock
// that only AdvanceWallClockTime moves.
//
// A TestDriver is not safe for concurrent use.
type TestDriver struct {
	topo    *Topology
	cfg     *config
	env     *taskEnv
	subs    []*subtopology
	tasks   map[int]*task // sub-topology -> its task (partition 0)
	topicSb map[string]int
	clock   time.Time
	offsets map[string]int64
	outputs map[string][]*kgo.Record
	pending []*kgo.Record // produced, not yet fed back
	err     error

	global       state.Engine                   // global stores, if any
	globalStores map[string]state.KeyValueStore // by topic
}

// WithDriverStartTime sets the test driver's initial wall-clock time.
// Default: the real time when the driver is created. Ignored by New.
func WithDriverStartTime(t time.Time) Option {
	return func(c *config) { c.driverStart = t }
}

// NewTestDriver builds every task of topo. Options are the application's;
// the application id defaults to "test-driver" and brokers are not needed.
func NewTestDriver(topo *Topology, opts ...Option) (*TestDriver, error) {
	cfg, err := newConfig(append([]Option{WithApplicationID("test-driver")}, opts...))
	if err != nil {
		return nil, err
	}
	topo.sealed = true
	d := &TestDriver{topo: topo, cfg: cfg, subs: topo.subtopologies(), tasks: map[int]*task{},
		topicSb: map[string]int{}, offsets: map[string]int64{}, outputs: map[string][]*kgo.Record{}}
	d.clock = cfg.driverStart
	if d.clock.IsZero() {
		d.clock = time.Now().Truncate(time.Millisecond)
	}
	d.env = &taskEnv{appID: cfg.appID, cfg: cfg, now: func() time.Time { return d.clock },
		resolveTopic: func(topic string) string { return resolveTopic(topo, cfg.appID, topic) },
		out:          d, log: cfg.log,
		// Stores live in memory in the driver, persistent ones included.
		openEngine: func(TaskID, bool) (state.Engine, error) { return memstate.New(), nil },
		cache:      &cacheBudget{max: cfg.cacheMaxBytes}}
	if len(topo.globals) > 0 {
		d.global = memstate.New()
		d.globalStores = map[string]state.KeyValueStore{}
		d.env.globals = map[string]state.ReadOnlyKeyValueStore{}
		for name, g := range topo.globals {
			kv, err := d.global.KeyValue(name)
			if err != nil {
				return nil, err
			}
			d.globalStores[g.topic] = kv
			if d.env.globals[name], err = d.global.ReadOnly().KeyValue(name); err != nil {
				return nil, err
			}
		}
	}
	for _, st := range d.subs {
		tk, err := newTask(d.env, st, topo, 0, nil, nil)
		if err != nil {
			d.Close()
			return nil, err
		}
		d.tasks[st.id] = tk
		for _, q := range tk.queues {
			d.topicSb[q.topic] = st.id
			q.end, q.position = 0, 0
		}
	}
	return d, nil
}

func (d *TestDriver) send(_ *task, rec *kgo.Record, promise func(*kgo.Record, error)) {
	rec.Partition = 0
	rec.Offset = d.offsets[rec.Topic]
	d.offsets[rec.Topic]++
	if rec.Timestamp.IsZero() {
		rec.Timestamp = d.clock
	}
	d.outputs[rec.Topic] = append(d.outputs[rec.Topic], rec)
	if _, ok := d.topicSb[rec.Topic]; ok {
		d.pending = append(d.pending, rec)
	}
	promise(rec, nil)
}

func (d *TestDriver) partitions(string) (int32, error) { return 1, nil }

// Pipe feeds one raw record (Topic, Key, Value, Headers, Timestamp) to the
// topology and processes everything that becomes processable. A zero
// Timestamp means the driver's wall-clock time. An error stops the driver:
// later calls return it too.
func (d *TestDriver) Pipe(rec *kgo.Record) error {
	if d.err != nil {
		return d.err
	}
	if kv, ok := d.globalStores[rec.Topic]; ok {
		// A global topic updates its store at once (committed, visible).
		if rec.Key == nil {
			return nil
		}
		r := *rec
		if r.Timestamp.IsZero() {
			r.Timestamp = d.clock
		}
		if err := kv.Put(r.Key, globalValue(&r)); err != nil {
			return err
		}
		return d.global.Commit(nil)
	}
	if _, ok := d.topicSb[rec.Topic]; !ok {
		return fmt.Errorf("core: test driver: topic %q is not read by the topology", rec.Topic)
	}
	r := *rec
	if r.Timestamp.IsZero() {
		r.Timestamp = d.clock
	}
	r.Partition = 0
	r.Offset = d.offsets[r.Topic]
	d.offsets[r.Topic]++
	d.pending = append(d.pending, &r)
	return d.drain()
}

// drain feeds pending records (input and fed-back output) in order and
// processes them; then, like TopologyTestDriver, it commits: record caches
// are flushed (so every update is forwarded) and stores committed.
func (d *TestDriver) drain() error {
	if err := d.process(); err != nil {
		return err
	}
	for {
		for _, st := range d.subs {
			tk := d.tasks[st.id]
			if tk.state == nil {
				continue
			}
			if err := tk.state.flushCaches(); err != nil {
				d.err = err
				return err
			}
			if err := tk.state.commit(); err != nil {
				d.err = err
				return err
			}
		}
		if len(d.pending) == 0 {
			return nil
		}
		if err := d.process(); err != nil {
			return err
		}
	}
}

// process feeds and processes pending records until none is left.
func (d *TestDriver) process() error {
	for len(d.pending) > 0 {
		rec := d.pending[0]
		d.pending = d.pending[1:]
		tk := d.tasks[d.topicSb[rec.Topic]]
		q := tk.byTopic[rec.Topic]
		tk.addRecords(q, []*kgo.Record{rec})
		q.end = q.position
		for {
			ok, err := tk.processOne(d.clock, false)
			if err != nil {
				d.err = err
				return err
			}
			if !ok {
				break
			}
		}
	}
	return nil
}

// AdvanceWallClockTime moves the mock clock forward and fires due
// wall-clock punctuators.
func (d *TestDriver) AdvanceWallClockTime(by time.Duration) error {
	if d.err != nil {
		return d.err
	}
	if by < 0 {
		return errors.New("core: test driver: cannot move the wall clock backwards")
	}
	d.clock = d.clock.Add(by)
	for _, st := range d.subs {
		if err := d.tasks[st.id].punctuateWallClock(); err != nil {
			d.err = err
			return err
		}
	}
	// Records held back by max.task.idle become processable once the
	// clock passed the idle deadline (TopologyTestDriver's
	// completeAllProcessableWork after advancing the clock).
	for _, st := range d.subs {
		for {
			ok, err := d.tasks[st.id].processOne(d.clock, false)
			if err != nil {
				d.err = err
				return err
			}
			if !ok {
				break
			}
		}
	}
	return d.drain()
}

// WallClockTime is the mock clock's current time.
func (d *TestDriver) WallClockTime() time.Time { return d.clock }

// ReadOutput returns and removes every record written to topic so far
// (cluster topic name: repartition topics carry the application id prefix).
func (d *TestDriver) ReadOutput(topic string) []*kgo.Record {
	out := d.outputs[topic]
	delete(d.outputs, topic)
	return out
}

// Close closes every task's processors.
func (d *TestDriver) Close() error {
	var errs []error
	for _, tk := range d.tasks {
		errs = append(errs, tk.close())
	}
	if d.global != nil {
		errs = append(errs, d.global.Close())
	}
	return errors.Join(errs...)
}

// TestInputTopic pipes typed records into a TestDriver.
type TestInputTopic[K, V any] struct {
	d      *TestDriver
	topic  string
	keys   serde.Serializer[K]
	values serde.Serializer[V]
}

// NewTestInputTopic returns a typed input for topic.
func NewTestInputTopic[K, V any](d *TestDriver, topic string, keys serde.Serializer[K], values serde.Serializer[V]) *TestInputTopic[K, V] {
	return &TestInputTopic[K, V]{d: d, topic: topic, keys: keys, values: values}
}

// Pipe sends key and value with the driver's current wall-clock time.
func (in *TestInputTopic[K, V]) Pipe(key K, value V) error {
	return in.PipeRecord(Record[K, V]{Key: key, Value: value})
}

// PipeAt sends key and value with timestamp ts.
func (in *TestInputTopic[K, V]) PipeAt(key K, value V, ts time.Time) error {
	return in.PipeRecord(Record[K, V]{Key: key, Value: value, Timestamp: ts})
}

// PipeRecord sends a record with its headers (a zero Timestamp means the
// driver's wall-clock time; NullKey/NullValue send nulls).
func (in *TestInputTopic[K, V]) PipeRecord(rec Record[K, V]) error {
	var k, v []byte
	var err error
	if !rec.NullKey {
		if k, err = in.keys.Serialize(in.topic, rec.Key); err != nil {
			return fmt.Errorf("core: test input %q: serialize key: %w", in.topic, err)
		}
		if k == nil {
			k = []byte{}
		}
	}
	if !rec.NullValue {
		if v, err = in.values.Serialize(in.topic, rec.Value); err != nil {
			return fmt.Errorf("core: test input %q: serialize value: %w", in.topic, err)
		}
		if v == nil {
			v = []byte{}
		}
	}
	return in.d.Pipe(&kgo.Record{Topic: in.topic, Key: k, Value: v, Headers: rec.Headers, Timestamp: rec.Timestamp})
}

// PipeNull sends a record with a null value (a tombstone).
func (in *TestInputTopic[K, V]) PipeNull(key K, ts time.Time) error {
	k, err := in.keys.Serialize(in.topic, key)
	if err != nil {
		return fmt.Errorf("core: test input %q: serialize key: %w", in.topic, err)
	}
	return in.d.Pipe(&kgo.Record{Topic: in.topic, Key: k, Timestamp: ts})
}

// TestOutputTopic reads typed records a TestDriver wrote to a topic.
type TestOutputTopic[K, V any] struct {
	d      *TestDriver
	topic  string
	keys   serde.Deserializer[K]
	values serde.Deserializer[V]
}

// NewTestOutputTopic returns a typed reader for topic.
func NewTestOutputTopic[K, V any](d *TestDriver, topic string, keys serde.Deserializer[K], values serde.Deserializer[V]) *TestOutputTopic[K, V] {
	return &TestOutputTopic[K, V]{d: d, topic: topic, keys: keys, values: values}
}

// KeyValue is a key and a value.
type KeyValue[K, V any] struct {
	Key   K
	Value V
}

// ReadRecords returns and removes every record written so far, in order.
// Null keys or values become zero values.
func (out *TestOutputTopic[K, V]) ReadRecords() ([]Record[K, V], error) {
	raw := out.d.ReadOutput(out.topic)
	recs := make([]Record[K, V], 0, len(raw))
	for _, r := range raw {
		rec := Record[K, V]{NullKey: r.Key == nil, NullValue: r.Value == nil}
		var err error
		if r.Key != nil {
			if rec.Key, err = out.keys.Deserialize(out.topic, r.Key); err != nil {
				return recs, fmt.Errorf("core: test output %q offset %d: key: %w", out.topic, r.Offset, err)
			}
		}
		if r.Value != nil {
			if rec.Value, err = out.values.Deserialize(out.topic, r.Value); err != nil {
				return recs, fmt.Errorf("core: test output %q offset %d: value: %w", out.topic, r.Offset, err)
			}
		}
		rec.Timestamp, rec.Headers = r.Timestamp, r.Headers
		recs = append(recs, rec)
	}
	return recs, nil
}

// ReadKeyValues returns and removes every key and value written so far.
func (out *TestOutputTopic[K, V]) ReadKeyValues() ([]KeyValue[K, V], error) {
	recs, err := out.ReadRecords()
	kvs := make([]KeyValue[K, V], len(recs))
	for i, r := range recs {
		kvs[i] = KeyValue[K, V]{r.Key, r.Value}
	}
	return kvs, err
}

// ReadValues returns and removes every value written so far.
func (out *TestOutputTopic[K, V]) ReadValues() ([]V, error) {
	recs, err := out.ReadRecords()
	vs := make([]V, len(recs))
	for i, r := range recs {
		vs[i] = r.Value
	}
	return vs, err
}

// QueueSize is the number of records written and not read yet.
func (out *TestOutputTopic[K, V]) QueueSize() int { return len(out.d.outputs[out.topic]) }
