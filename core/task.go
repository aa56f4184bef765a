package core

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/state"
)

const unknownTime = math.MinInt64

// collector is where a task's output records go: the Kafka producer in the
// runtime, in-memory topics in the test driver.
type collector interface {
	// send hands rec over for delivery; promise (which must not be nil) is
	// called with the outcome, possibly on another goroutine.
	send(tk *task, rec *kgo.Record, promise func(*kgo.Record, error))
	// partitions returns the partition count of an output topic.
	partitions(topic string) (int32, error)
}

// taskEnv is what the tasks of one stream thread (or of the test driver)
// share. It is read-only after creation.
type taskEnv struct {
	appID        string
	cfg          *config
	now          func() time.Time
	resolveTopic func(string) string
	out          collector
	log          *slog.Logger
	// globals are the read-only views of the global stores.
	globals map[string]state.ReadOnlyKeyValueStore
	// cache is the record cache budget shared by the tasks of a thread.
	cache *cacheBudget
	// openEngine opens the state engine of a task (persistent or in
	// memory); nil when the topology has no stores.
	openEngine func(id TaskID, inMemory bool) (state.Engine, error)
	// records recycles delivered output records (nil: no recycling, as
	// in the test driver, which keeps what was produced).
	records *recordPool
	// discard is set when the owning thread stops on an error: delivery
	// failures after that are consequences and must not become fatal.
	discard atomic.Bool
	// fail records a fatal error of the application (appState.fail); nil
	// in the test driver, whose sends never fail.
	fail func(error)
}

// task runs one sub-topology for one partition number. Every method runs on
// the goroutine that owns the task (a stream thread or the test driver).
type task struct {
	id    TaskID
	env   *taskEnv
	sub   *subtopology
	nodes map[string]any

	queues  []*recordQueue
	byTopic map[string]*recordQueue

	initers []func() error
	closers []namedCloser

	streamTime int64
	// recordTime is the timestamp (ms) of the record the running
	// processor node is processing, unknownTime outside of one. Stores
	// stamp their writes with it (record cache entries, changelog
	// records), so a delete forwarded from a store carries the deleting
	// record's time, as Kafka Streams' ProcessorRecordContext does: with
	// the stream time instead, a table-table join result derived from a
	// delete got the time of the latest record of any key.
	recordTime int64
	// curQ is the queue of the input record being processed, when
	// inRecord (its record is curQ.current()). curQ is only written when
	// it changes: one pointer write less per record.
	curQ         *recordQueue
	inRecord     bool
	punctuating  string // node whose punctuator runs, for error context
	streamPunct  []*schedule
	wallPunct    []*schedule
	idleDeadline time.Time

	commitRequested bool
	promise         func(*kgo.Record, error) // for records from newRecord
	foreignPromise  func(*kgo.Record, error) // for records made elsewhere
	slab            []kgo.Record             // see newRecord
	state           *taskState               // nil without stores
	topoStores      map[string]*StoreSpec
	// processorMeta is the processor metadata read from the committed
	// offsets (see offsetmeta.go), committed again with every offset.
	processorMeta map[string]int64

	// counters, read by the owning goroutine for metrics
	consumed, produced, dropped, enforced int64
	// e2e are the end-to-end latencies of the source and terminal nodes
	// (empty when not recorded); wallMs is the wall clock (ms) of the
	// processing step, their "now".
	e2e    []*e2eLatency
	wallMs int64
}

type namedCloser struct {
	name string
	fn   func() error
}

// newTask instantiates the sub-topology's nodes for partition p.
// hasPartition says which source topics have partition p (a merged topic
// with fewer partitions contributes no queue); nil: all. committed, when
// not nil, returns the decoded metadata committed with a source
// partition's offset: the partition times it holds are set before the
// processors' Init, so that stream time resumes where the last commit left
// it (Kafka Streams' StreamTask#initializeTaskTimeAndProcessorMetadata).
func newTask(env *taskEnv, sub *subtopology, topo *Topology, p int32, hasPartition func(topic string) bool,
	committed func(topic string) (offsetMeta, bool)) (*task, error) {
	tk := &task{
		id:         TaskID{Subtopology: sub.id, Partition: p},
		env:        env,
		sub:        sub,
		nodes:      map[string]any{},
		byTopic:    map[string]*recordQueue{},
		streamTime: unknownTime,
		recordTime: unknownTime,
	}
	failed := func(r *kgo.Record, err error) {
		if err != nil && !env.discard.Load() {
			env.asyncProductionFailed(tk.id, r, err)
		}
	}
	// Records the runtime made (newRecord) go back to the pool once
	// delivered; records a handler made (dead letters) are the handler's
	// and are left alone.
	tk.foreignPromise = failed
	tk.promise = failed
	if env.records != nil {
		tk.promise = func(r *kgo.Record, err error) {
			if err != nil {
				failed(r, err)
				return
			}
			env.records.put(r)
		}
	}
	copartitioned := topo.copartitionedUserTopics()
	// Children are always added after their parents, so building in
	// reverse insertion order builds every child before its parents.
	for i := len(sub.nodes) - 1; i >= 0; i-- {
		spec := sub.nodes[i]
		b := spec.base()
		children := make([]any, len(b.children))
		for j, c := range b.children {
			children[j] = tk.nodes[c]
		}
		built, err := spec.instantiate(tk, children)
		if err != nil {
			return nil, err
		}
		tk.nodes[b.name] = built
		if b.kind == kindSource {
			src := built.(rawReceiver)
			// A nil extractor is the default RecordTime, read inline.
			var extractor TimestampExtractor
			if env.cfg.customExtractor {
				extractor = env.cfg.extractor
			}
			if ss, ok := spec.(interface{ sourceExtractor() TimestampExtractor }); ok && ss.sourceExtractor() != nil {
				extractor = ss.sourceExtractor()
			}
			for _, topic := range b.topics {
				cluster := env.resolveTopic(topic)
				if hasPartition != nil && !hasPartition(cluster) {
					continue
				}
				q := &recordQueue{topic: cluster, partition: p, source: src, extractor: extractor,
					invalid:       env.cfg.invalidTimestamps,
					partitionTime: unknownTime, committable: -1, end: -1, position: -1, e2e: tk.e2eFor(b.name)}
				if copartitioned[topic] {
					if n, err := env.out.partitions(cluster); err == nil && n > 1 {
						q.keyCheck = &partitionCheck{partitions: int(n)}
					}
				}
				tk.queues = append(tk.queues, q)
				tk.byTopic[cluster] = q
				if committed == nil {
					continue
				}
				if md, ok := committed(cluster); ok {
					q.partitionTime = md.partitionTime
					tk.streamTime = max(tk.streamTime, md.partitionTime)
					tk.processorMeta = mergeProcessorMeta(tk.processorMeta, md.processor)
				}
			}
		}
	}
	tk.topoStores = topo.stores
	if err := tk.openState(topo); err != nil {
		tk.close()
		return nil, err
	}
	// Initialise processors parents first (reverse of build order).
	for i := len(tk.initers) - 1; i >= 0; i-- {
		if err := tk.initers[i](); err != nil {
			tk.close()
			return nil, err
		}
	}
	return tk, nil
}

func (s *sourceSpec[K, V]) sourceExtractor() TimestampExtractor { return s.cfg.extractor }

func (tk *task) addIniter(fn func() error) { tk.initers = append(tk.initers, fn) }
func (tk *task) addCloser(name string, fn func() error) {
	tk.closers = append(tk.closers, namedCloser{name, fn})
}

// close closes processors (parents first) and returns the first error.
func (tk *task) close() error {
	var first error
	for i := len(tk.closers) - 1; i >= 0; i-- {
		if err := tk.closers[i].fn(); err != nil && first == nil {
			first = fmt.Errorf("core: close processor %q of task %s: %w", tk.closers[i].name, tk.id, err)
		}
	}
	tk.closers = nil
	if tk.state != nil {
		if err := tk.state.close(); err != nil && first == nil {
			first = err
		}
		tk.state = nil
	}
	return first
}

// addRecords buffers fetched records of one partition (control records
// included: they are skipped when they reach the head).
func (tk *task) addRecords(q *recordQueue, recs []*kgo.Record) {
	if len(recs) == 0 {
		return
	}
	q.position = recs[len(recs)-1].Offset + 1
	q.add(recs)
}

// buffered is the number of records waiting in the task's queues.
func (tk *task) buffered() int {
	n := 0
	for _, q := range tk.queues {
		n += q.size()
	}
	return n
}

// lagWaitCap bounds how long a task waits for data known to be on the
// broker but not fetched yet (Kafka Streams waits indefinitely; a cap
// protects against an end offset that no fetch will ever reach).
const lagWaitCap = 2 * time.Second

// nextQueue picks the queue whose head record has the smallest timestamp,
// applying the max-task-idle rules of KIP-695: when some input partition
// has nothing buffered, the task waits for data known to be on the broker,
// and for up to maxTaskIdle for new data, before processing the others.
// force skips the waiting (used before an exactly-once commit).
func (tk *task) nextQueue(now time.Time, force bool) *recordQueue {
	if len(tk.queues) == 1 { // one input partition: nothing to choose or wait for
		if q := tk.queues[0]; !q.empty() {
			return q
		}
		return nil
	}
	var best *recordQueue
	allBuffered := true
	for _, q := range tk.queues {
		if q.empty() {
			allBuffered = false
			continue
		}
		if best == nil || q.headTS < best.headTS {
			best = q
		}
	}
	if best == nil {
		return nil
	}
	maxIdle := tk.env.cfg.maxTaskIdle
	if allBuffered || force || maxIdle < 0 {
		tk.idleDeadline = time.Time{}
		return best
	}
	wait := maxIdle
	for _, q := range tk.queues {
		if q.empty() && q.lag() != 0 {
			wait = max(wait, lagWaitCap)
		}
	}
	if tk.idleDeadline.IsZero() {
		tk.idleDeadline = now.Add(wait)
	}
	if now.Before(tk.idleDeadline) {
		return nil
	}
	tk.enforced++
	return best
}

// processOne processes the next record in timestamp order. It returns false
// when nothing is processable now.
func (tk *task) processOne(now time.Time, force bool) (bool, error) {
	q := tk.nextQueue(now, force)
	if q == nil {
		return false, nil
	}
	rec, ts := q.pop()
	if q.keyCheck != nil && rec.Key != nil {
		q.keyCheck.check(tk, q, rec)
	}
	if q.empty() {
		tk.idleDeadline = time.Time{}
	}
	tk.consumed++
	if len(tk.e2e) > 0 {
		tk.wallMs = now.UnixMilli()
	}
	if tk.curQ != q {
		tk.curQ = q
	}
	tk.inRecord = true
	err := tk.processRecordRecovering(q, rec, ts)
	tk.inRecord = false
	if err != nil {
		return true, err
	}
	q.committable, q.committableEpoch = rec.Offset+1, rec.LeaderEpoch
	return true, tk.punctuateStreamTime()
}

// processRecordRecovering turns a panic in a processor (or a DSL
// function) into a processing error for the processing handler, as Kafka
// Streams does with a processor's RuntimeException: the application fails
// with the task, node-less context and record named (or, under a Continue
// handler, the record is dropped), instead of the process crashing without
// a commit or a word about the record. A deferred recover costs about a
// nanosecond per record when nothing panics.
func (tk *task) processRecordRecovering(q *recordQueue, rec *kgo.Record, ts int64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			tk.recordTime = unknownTime // the panicking node did not restore it
			perr, ok := r.(error)
			if !ok {
				perr = fmt.Errorf("%v", r)
			}
			tk.env.log.Error("sluice: a processor panicked", "where", tk.errorContext("").String(), "panic", r, "stack", string(debug.Stack()))
			err = tk.processingFailed("", fmt.Errorf("panic: %w", perr))
		}
	}()
	return tk.processRecord(q, rec, ts)
}

func (tk *task) processRecord(q *recordQueue, rec *kgo.Record, ts int64) error {
	if ts < 0 {
		switch tk.env.cfg.invalidTimestamps {
		case SkipOnInvalidTimestamp:
			tk.env.log.Warn("sluice: skipping record with invalid timestamp", "where", tk.errorContext("").String(), "timestamp", ts)
			tk.dropped++
			return nil
		case UsePartitionTimeOnInvalidTimestamp:
			// addRecords substituted the partition time where it was
			// known; here it was not.
			fallthrough
		default:
			return &ProcessingError{Context: tk.errorContext(""), Kind: "timestamp",
				Err: fmt.Errorf("invalid (negative) timestamp %d; use a timestamp extractor or another InvalidTimestampPolicy", ts)}
		}
	}
	if ts > tk.streamTime {
		tk.streamTime = ts
	}
	if q.e2e != nil {
		q.e2e.record(tk.wallMs - ts)
	}
	return q.source.processRaw(rec, ts)
}

// cur is the input record being processed, nil outside of one (in a
// punctuator, a commit's cache flush).
func (tk *task) cur() *kgo.Record {
	if !tk.inRecord {
		return nil
	}
	return tk.curQ.current()
}

func (tk *task) errorContext(node string) ErrorContext {
	cur := tk.cur()
	ec := ErrorContext{TaskID: tk.id, Node: node, Record: cur}
	if cur != nil {
		ec.Topic, ec.Partition, ec.Offset = cur.Topic, cur.Partition, cur.Offset
	} else if node == "" {
		ec.Node = tk.punctuating
	}
	return ec
}

// deserializationFailed runs the deserialization handler for the current
// record.
func (tk *task) deserializationFailed(err error) error {
	ec := tk.errorContext("")
	res := tk.env.cfg.deserializationHandler(ec, err)
	for _, dl := range res.DeadLetters {
		tk.env.out.send(tk, dl, tk.foreignPromise)
		tk.produced++
	}
	if res.Response == Continue {
		tk.dropped++
		return nil
	}
	return &ProcessingError{Context: ec, Kind: "deserialization", Err: err}
}

// processingFailed runs the processing handler once, at the node where the
// error was returned; errors already decided deeper pass through.
func (tk *task) processingFailed(node string, err error) error {
	var pe *ProcessingError
	if errors.As(err, &pe) {
		return err
	}
	ec := tk.errorContext(node)
	if !tk.inRecord {
		ec.Node = node
	}
	if tk.env.cfg.processingHandler(ec, err) == Continue {
		tk.dropped++
		return nil
	}
	return &ProcessingError{Context: ec, Kind: "processing", Err: err}
}

//lint:ignore U1000 called from sinkNodeImpl.process (see there)
func (tk *task) productionFailed(node string, rec *kgo.Record, err error) error {
	ec := tk.errorContext(node)
	if tk.env.cfg.productionHandler(ec, rec, err) == Continue {
		tk.dropped++
		return nil
	}
	return &ProcessingError{Context: ec, Kind: "production", Err: fmt.Errorf("topic %q: %w", rec.Topic, err)}
}

// asyncProductionFailed handles a send that failed after the record left
// the task (a delivery callback): under exactly-once, or when the
// production handler says Fail, the application stops with the error.
func (env *taskEnv) asyncProductionFailed(id TaskID, rec *kgo.Record, err error) {
	ec := ErrorContext{TaskID: id, Topic: rec.Topic, Partition: rec.Partition, Offset: -1}
	if env.cfg.guarantee == ExactlyOnceV2 || env.cfg.productionHandler(ec, rec, err) == Fail {
		if env.fail != nil {
			env.fail(&ProcessingError{Context: ec, Kind: "production",
				Err: fmt.Errorf("produce to %q (partition %d): %w", rec.Topic, rec.Partition, err)})
		}
	}
}

// recordSlab is how many output records newRecord allocates at once.
const recordSlab = 128

// newRecord returns a record for output: a recycled one (see recordPool)
// or one carved from a slab, one allocation per recordSlab records. Its
// numeric fields are zero; its pointer fields (Key, Value, Headers, Topic,
// Timestamp, Context) may hold an earlier use's values, so the caller sets
// Key, Value, Headers, Topic and Timestamp, and leaves Context alone (the
// runtime always produces with the same context). A slab is garbage once
// everybody dropped all of its records.
func (tk *task) newRecord() *kgo.Record {
	if p := tk.env.records; p != nil {
		if r := p.get(); r != nil {
			return r
		}
	}
	if len(tk.slab) == 0 {
		tk.slab = make([]kgo.Record, recordSlab)
	}
	r := &tk.slab[0]
	tk.slab = tk.slab[1:]
	return r
}

// recordPool recycles the output records of one stream thread: the
// client's promise hands back each record it delivered, the thread's
// goroutine takes them back a batch at a time. A record is recycled only
// after its successful delivery, when the client no longer reads it
// (franz-go computes what it needs before calling the promise); failed
// records go to the production handler and are never reused. franz-go
// calls all promises of a client serially, so the promise side fills a
// batch without a lock and takes mu once per batch.
//
// put only appends: the promise goroutine is on franz-go's delivery path,
// and every store it makes into a record moves the record's cache lines
// to its core and back. Every pointer written to the heap also costs a
// write barrier while the GC marks, and with a large heap (an in-process
// broker, big in-memory stores) the GC marks a good part of the time. So
// the pool moves whole batch slices instead of copying pointers between
// slices, never clears a slice (a drained batch keeps stale pointers to
// pool records until they are overwritten), and leaves a pooled record's
// fields to the next user, who overwrites them anyway. The price: a pooled
// record keeps its last key and value reachable until it is reused, at
// most maxPooledRecords of them per thread, no more than the producer's
// buffer held in flight just before.
type recordPool struct {
	pending []*kgo.Record // owned by the promise side

	mu     sync.Mutex
	full   [][]*kgo.Record // batches handed over, under mu
	spare  [][]*kgo.Record // drained batch slices for the promise side, under mu
	pooled int             // records in full, under mu

	free []*kgo.Record // owned by the thread's goroutine: the batch being drained
}

const (
	maxPooledRecords = 1 << 14
	recordBatch      = 64
)

func (p *recordPool) put(r *kgo.Record) {
	p.pending = append(p.pending, r)
	if len(p.pending) < recordBatch {
		return
	}
	p.mu.Lock()
	if p.pooled >= maxPooledRecords {
		p.mu.Unlock()
		p.pending = p.pending[:0] // dropped: the records become garbage
		return
	}
	p.full = append(p.full, p.pending)
	p.pooled += len(p.pending)
	var next []*kgo.Record
	if n := len(p.spare); n > 0 {
		next, p.spare = p.spare[n-1], p.spare[:n-1]
	}
	p.mu.Unlock()
	if next == nil {
		next = make([]*kgo.Record, 0, recordBatch)
	}
	p.pending = next
}

func (p *recordPool) get() *kgo.Record {
	if len(p.free) == 0 {
		p.mu.Lock()
		if cap(p.free) > 0 {
			p.spare = append(p.spare, p.free[:0])
		}
		p.free = nil
		if n := len(p.full); n > 0 {
			p.free, p.full = p.full[n-1], p.full[:n-1]
			p.pooled -= len(p.free)
		}
		p.mu.Unlock()
		if len(p.free) == 0 {
			return nil
		}
	}
	r := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	// franz-go set these on delivery; they are not pointers (no barrier).
	r.Partition, r.Attrs, r.ProducerEpoch, r.ProducerID, r.LeaderEpoch, r.Offset = 0, kgo.RecordAttrs{}, 0, 0, 0, 0
	return r
}

//lint:ignore U1000 called from sinkNodeImpl.process (see there)
func (tk *task) send(rec *kgo.Record) error {
	tk.env.out.send(tk, rec, tk.promise)
	tk.produced++
	return nil
}

// offsetMetadata adds the metadata to commit with each of the task's
// input partitions' offsets: the partition time, in Kafka Streams' format.
func (tk *task) offsetMetadata(into map[string]map[int32]string) {
	for _, q := range tk.queues {
		m := into[q.topic]
		if m == nil {
			m = map[int32]string{}
			into[q.topic] = m
		}
		m[q.partition] = encodeOffsetMeta(q.partitionTime, tk.processorMeta)
	}
}

// offsets returns the next offsets to commit for the task's partitions that
// made progress.
func (tk *task) offsets(into map[string]map[int32]kgo.EpochOffset) {
	for _, q := range tk.queues {
		if q.committable < 0 {
			continue
		}
		m := into[q.topic]
		if m == nil {
			m = map[int32]kgo.EpochOffset{}
			into[q.topic] = m
		}
		m[q.partition] = kgo.EpochOffset{Epoch: q.committableEpoch, Offset: q.committable}
	}
}

// ---- punctuation ----

type schedule struct {
	node      string
	interval  int64
	next      int64
	fn        Punctuator
	cancelled bool
}

func (s *schedule) Cancel() { s.cancelled = true }

func (tk *task) schedule(node string, interval time.Duration, typ PunctuationType, fn Punctuator) (Cancellable, error) {
	if interval < time.Millisecond {
		return nil, fmt.Errorf("core: processor %q: punctuation interval %v is below 1ms", node, interval)
	}
	if fn == nil {
		return nil, fmt.Errorf("core: processor %q: nil punctuator", node)
	}
	s := &schedule{node: node, interval: interval.Milliseconds(), fn: fn}
	if typ == WallClockTime {
		s.next = tk.env.now().UnixMilli() + s.interval
		tk.wallPunct = append(tk.wallPunct, s)
	} else {
		s.next = 0 // fire with the first record, then on interval boundaries
		tk.streamPunct = append(tk.streamPunct, s)
	}
	return s, nil
}

func (tk *task) punctuateStreamTime() error {
	if len(tk.streamPunct) == 0 || tk.streamTime == unknownTime {
		return nil
	}
	var err error
	tk.streamPunct, err = tk.punctuate(tk.streamPunct, tk.streamTime)
	return err
}

func (tk *task) punctuateWallClock() error {
	if len(tk.wallPunct) == 0 {
		return nil
	}
	var err error
	tk.wallPunct, err = tk.punctuate(tk.wallPunct, tk.env.now().UnixMilli())
	return err
}

// punctuate fires every due schedule once, earliest first, like Kafka
// Streams' PunctuationQueue, and reschedules it on the next interval
// boundary after now.
func (tk *task) punctuate(list []*schedule, now int64) ([]*schedule, error) {
	for {
		var due *schedule
		for _, s := range list {
			if !s.cancelled && s.next <= now && (due == nil || s.next < due.next) {
				due = s
			}
		}
		if due == nil {
			break
		}
		next := due.next + due.interval
		if now >= next {
			next = now - (now-due.next)%due.interval + due.interval
		}
		due.next = next
		tk.punctuating = due.node
		err := due.fn(time.UnixMilli(now))
		tk.punctuating = ""
		if err != nil {
			if err = tk.processingFailed(due.node, err); err != nil {
				return list, err
			}
		}
	}
	kept := list[:0]
	for _, s := range list {
		if !s.cancelled {
			kept = append(kept, s)
		}
	}
	return kept, nil
}
