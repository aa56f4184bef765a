package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/kpart"
	"github.com/sluicehq/sluice/kafka"
)

// errFenced ends a source task whose transactional id another incarnation
// took over: not a failure of the connector, the work moved.
var errFenced = errors.New("worker: fenced by a newer incarnation of the task")

func isFencedErr(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.InvalidTxnState) || errors.Is(err, kerr.TransactionalIDNotFound)
}

// sourceCoordinator assigns a source connector's tasks to the workers
// running it: every worker's coordinator is a member of the group
// "connect-<name>" subscribed to the connector's offsets topic (fetching
// nothing), and task i runs where partition i mod P of that topic is
// assigned. The group also shows that the connector runs (offset resets
// refuse while it has members).
type sourceCoordinator struct {
	c            *Connector
	src          connectors.Source
	initial      []connectors.SourceTask // the first run of each task uses these
	offsetsTopic string
	partitions   int32
	eos          bool
	cl           *kgo.Client

	mu      sync.Mutex
	runs    map[int]*sourceRunHandle
	started map[int]bool // task i ran before: later runs get a fresh task from Tasks
	closed  bool
}

type sourceRunHandle struct {
	stop chan struct{}
	kill context.CancelFunc
	done chan struct{}
}

func (c *Connector) startSource(ctx context.Context) error {
	cc, cfg := c.cc, &c.w.cfg
	eos := cfg.Guarantee == core.ExactlyOnceV2 && cc.Source.ExactlyOnce
	if cc.Common.String("exactly.once.support") == "required" && !eos {
		why := fmt.Sprintf("connector type %q cannot resume exactly from its offsets", cc.Type)
		if cfg.Guarantee != core.ExactlyOnceV2 {
			why = fmt.Sprintf("the worker's processing guarantee is %s, not exactly_once_v2", cfg.Guarantee)
		}
		return fmt.Errorf("worker: connector %q: exactly.once.support=required, but %s", cc.Name, why)
	}
	offsetsTopic := cc.Common.String("offsets.storage.topic")
	if offsetsTopic == "" {
		offsetsTopic = cfg.OffsetsTopic
	}
	adminCl, err := kgo.NewClient(c.w.kafkaOpts()...)
	if err != nil {
		return fmt.Errorf("worker: connector %q: kafka client: %w", cc.Name, err)
	}
	defer adminCl.Close()
	adm := kadm.NewClient(adminCl)
	compact := "compact"
	if err := kafka.EnsureTopics(ctx, adm, cfg.OffsetsTopicPartitions, -1, map[string]*string{"cleanup.policy": &compact}, offsetsTopic); err != nil {
		return fmt.Errorf("worker: connector %q: offsets topic: %w", cc.Name, err)
	}
	details, err := adm.ListTopics(ctx, offsetsTopic)
	if err != nil {
		return fmt.Errorf("worker: connector %q: describe offsets topic %q: %w", cc.Name, offsetsTopic, err)
	}
	td, ok := details[offsetsTopic]
	if !ok || td.Err != nil || len(td.Partitions) == 0 {
		return fmt.Errorf("worker: connector %q: offsets topic %q is not usable: %v", cc.Name, offsetsTopic, td.Err)
	}
	if err := c.ensureDLQ(ctx, adm); err != nil {
		return err
	}
	src, tasks, err := newConnectorTasks(cc, cc.Source.New)
	if err != nil {
		return err
	}
	c.tasks = c.tasks[:len(tasks)]
	co := &sourceCoordinator{c: c, src: src, initial: tasks, offsetsTopic: offsetsTopic,
		partitions: int32(len(td.Partitions)), eos: eos, runs: map[int]*sourceRunHandle{}, started: map[int]bool{}}
	opts := append(c.w.kafkaOpts(),
		kgo.ConsumerGroup("connect-"+cc.Name),
		kgo.ConsumeTopics(offsetsTopic),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(heartbeat(cfg.SessionTimeout)),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.OnPartitionsAssigned(co.assigned),
		kgo.OnPartitionsRevoked(co.revoked),
		kgo.OnPartitionsLost(co.lost),
	)
	instanceID := c.w.staticID("")
	if instanceID != "" {
		opts = append(opts, kgo.InstanceID(instanceID))
	}
	if co.cl, err = kgo.NewClient(opts...); err != nil {
		return fmt.Errorf("worker: connector %q: group client: %w", cc.Name, err)
	}
	// Membership is all the coordinator needs: fetch nothing.
	co.cl.PauseFetchTopics(offsetsTopic)
	c.log.Info("worker: source connector started", "type", cc.Type, "tasks", len(tasks), "exactly_once", eos, "offsets_topic", offsetsTopic)
	c.stopRun = func(bool) {}
	go func() {
		<-c.stopping
		graceful := !c.crashed.Load()
		co.stopAll(graceful)
		if graceful {
			leaveStatic(co.cl, "connect-"+cc.Name, instanceID, c.log)
		}
		co.cl.Close() // leaves the group (dynamic members); revoked callbacks find nothing running
		c.finish()
	}()
	return nil
}

// tasksFor lists the tasks that run on the given partitions of the offsets
// topic.
func (co *sourceCoordinator) tasksFor(assigned map[string][]int32) []int {
	own := map[int32]bool{}
	for _, p := range assigned[co.offsetsTopic] {
		own[p] = true
	}
	var ids []int
	for i := range co.c.tasks {
		if own[int32(i)%co.partitions] {
			ids = append(ids, i)
		}
	}
	return ids
}

func (co *sourceCoordinator) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.closed {
		return
	}
	for _, id := range co.tasksFor(assigned) {
		if _, running := co.runs[id]; running {
			continue
		}
		task := co.initial[id]
		if co.started[id] {
			tasks, err := co.src.Tasks(co.c.cc.TasksMax)
			if err != nil || len(tasks) != len(co.initial) {
				co.c.taskFailed(co.c.tasks[id], fmt.Errorf("worker: connector %q: tasks changed between runs (%d, want %d): %v", co.c.cc.Name, len(tasks), len(co.initial), err))
				continue
			}
			task = tasks[id]
		}
		co.started[id] = true
		co.startRun(id, task)
	}
}

func (co *sourceCoordinator) startRun(id int, task connectors.SourceTask) {
	killCtx, kill := context.WithCancel(co.c.killCtx)
	h := &sourceRunHandle{stop: make(chan struct{}), kill: kill, done: make(chan struct{})}
	co.runs[id] = h
	co.c.wg.Add(1)
	go func() {
		defer co.c.wg.Done()
		defer close(h.done)
		defer kill()
		r := newSourceRun(co, co.c.tasks[id], task)
		r.run(h.stop, killCtx)
		co.mu.Lock()
		if co.runs[id] == h {
			delete(co.runs, id)
		}
		co.mu.Unlock()
		co.c.checkAllEnded()
	}()
}

// stopRuns stops the given tasks (gracefully: they commit first) and waits.
func (co *sourceCoordinator) stopRuns(ids []int, graceful bool) {
	co.mu.Lock()
	var hs []*sourceRunHandle
	for _, id := range ids {
		if h, ok := co.runs[id]; ok {
			hs = append(hs, h)
		}
	}
	co.mu.Unlock()
	for _, h := range hs {
		close(h.stop)
		if !graceful {
			h.kill()
		}
	}
	for _, h := range hs {
		<-h.done
	}
}

func (co *sourceCoordinator) revoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	co.stopRuns(co.tasksFor(revoked), !co.c.crashed.Load())
	for _, id := range co.tasksFor(revoked) {
		if s, _ := co.c.tasks[id].get(); s == StateRunning {
			co.c.tasks[id].set(StateUnassigned, nil)
		}
	}
}

func (co *sourceCoordinator) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	co.stopRuns(co.tasksFor(lost), false)
}

func (co *sourceCoordinator) stopAll(graceful bool) {
	co.mu.Lock()
	co.closed = true
	ids := make([]int, 0, len(co.runs))
	for id := range co.runs {
		ids = append(ids, id)
	}
	co.mu.Unlock()
	co.stopRuns(ids, graceful)
}

// checkAllEnded stops the connector when every task finished or failed
// (a bounded source that drained its input).
func (c *Connector) checkAllEnded() {
	for _, t := range c.tasks {
		if s, _ := t.get(); s != StateFinished && s != StateFailed {
			return
		}
	}
	c.stopOnce.Do(func() { close(c.stopping) })
}

// ensureDLQ creates the dead-letter topic if one is configured.
func (c *Connector) ensureDLQ(ctx context.Context, adm *kadm.Client) error {
	dlq := c.cc.Errors.DLQTopic
	if dlq == "" {
		return nil
	}
	resp, err := adm.CreateTopics(ctx, 1, c.cc.Errors.DLQReplication, nil, dlq)
	if err == nil {
		if r, ok := resp[dlq]; ok && r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			err = r.Err
		}
	}
	if err != nil {
		return fmt.Errorf("worker: connector %q: create dead-letter topic %q: %w", c.cc.Name, dlq, err)
	}
	return nil
}

// sourceRun is one run of a source task: its producer, its offsets and its
// loop. Everything here is owned by the run's goroutine except the fields
// the promise and the task context touch, which are under mu.
type sourceRun struct {
	c    *Connector
	co   *sourceCoordinator
	t    *taskState
	task connectors.SourceTask
	tc   *sourceTaskContext
	log  interface {
		Info(string, ...any)
		Warn(string, ...any)
	}
	retry retryPolicy
	dl    deadLetter

	eos              bool
	boundaryInterval time.Duration // 0: a transaction per poll
	flushInterval    time.Duration
	flushTimeout     time.Duration
	createPartitions int32
	createRF         int16

	cl      *kgo.Client
	adm     *kadm.Client
	created map[string]bool

	mu         sync.Mutex
	committed  map[string]connectors.SourceOffset
	failures   []produceFailure // async produce failures (at-least-once)
	fatal      error            // first produce failure that must stop the task
	offsetsErr error            // the last offset commit failed (at-least-once: retried)

	pending   map[string]connectors.SourceOffset // polled since the last commit
	lastPart  unsafe.Pointer                     // identity of the last source partition map
	lastID    string
	dlqQueue  []*kgo.Record // dead letters from Report, produced after Poll returns
	reportErr error         // a Report under tolerance=none

	inTxn           bool
	txnStart        time.Time
	reportedWritten int64 // written as of the last source_record_write_total
	lastCommit      time.Time
	outBuf          []*connectors.Record
	chunks          []convChunk // parallel conversion (sourceconv.go), reused
	promise         func(*kgo.Record, error)
}

type produceFailure struct {
	rec *kgo.Record
	err error
}

func newSourceRun(co *sourceCoordinator, t *taskState, task connectors.SourceTask) *sourceRun {
	c := co.c
	com := c.cc.Common
	log := c.log.With("task", t.id)
	r := &sourceRun{c: c, co: co, t: t, task: task, log: log, retry: c.retry(t, log),
		dl:            deadLetter{connector: c.cc.Name, taskID: t.id, withCtx: c.cc.Errors.DLQContextHeads},
		eos:           co.eos,
		flushInterval: com.Duration("offset.flush.interval.ms"),
		flushTimeout:  com.Duration("offset.flush.timeout.ms"),
		pending:       map[string]connectors.SourceOffset{},
		created:       map[string]bool{},
	}
	if com.String("transaction.boundary") == "interval" {
		r.boundaryInterval = com.Duration("transaction.boundary.interval.ms")
		if r.boundaryInterval == 0 {
			r.boundaryInterval = r.flushInterval
		}
	}
	r.createPartitions = int32(com.Int("topic.creation.default.partitions"))
	r.createRF = int16(com.Int("topic.creation.default.replication.factor"))
	r.tc = &sourceTaskContext{taskContext: taskContext{c: c, t: t, log: log}, r: r}
	r.promise = r.delivered
	r.reportedWritten = t.written.Load()
	return r
}

// transactionalID is KIP-618's per-task transactional id.
func (r *sourceRun) transactionalID() string {
	return fmt.Sprintf("connect-%s-%d", r.c.cc.Name, r.t.id)
}

func (r *sourceRun) run(stop <-chan struct{}, killCtx context.Context) {
	err := r.runLoop(stop, killCtx)
	if closeErr := r.task.Close(); closeErr != nil {
		r.log.Warn("worker: closing source task", "error", closeErr)
	}
	if r.cl != nil {
		if killCtx.Err() == nil && r.eos && r.inTxn {
			// A graceful end with an open transaction (after an error):
			// abort it rather than leave it to the transaction timeout.
			ctx, cancel := context.WithTimeout(context.Background(), r.flushTimeout)
			_ = r.cl.AbortBufferedRecords(ctx)
			_ = r.cl.EndTransaction(ctx, kgo.TryAbort)
			cancel()
		}
		r.cl.Close()
	}
	switch {
	case err == nil:
	case errors.Is(err, errFenced):
		r.log.Warn("worker: source task stopped: another worker took it over", "error", err)
		r.t.set(StateUnassigned, nil)
	case killCtx.Err() != nil:
		r.t.set(StateStopped, nil)
	default:
		r.c.taskFailed(r.t, err)
	}
}

// runLoop opens the task and polls until stopped, finished or failed. It
// returns nil after a graceful stop or finish (the state is set).
func (r *sourceRun) runLoop(stop <-chan struct{}, killCtx context.Context) error {
	cc := r.c.cc
	opts := append(r.c.w.kafkaOpts(),
		kgo.RecordPartitioner(kpart.Default()),
		// Missing destination topics are the broker's to create (Kafka
		// Connect's producers may auto-create too), unless
		// topic.creation.default.partitions makes the worker create them.
		kgo.AllowAutoTopicCreation(),
		kgo.ClientID(fmt.Sprintf("connector-producer-%s-%d", cc.Name, r.t.id)))
	if r.eos {
		opts = append(opts, kgo.TransactionalID(r.transactionalID()), kgo.TransactionTimeout(r.c.w.cfg.TransactionTimeout))
	}
	var err error
	if r.cl, err = kgo.NewClient(opts...); err != nil {
		return fmt.Errorf("worker: connector %q task %d: producer: %w", cc.Name, r.t.id, err)
	}
	r.adm = kadm.NewClient(r.cl)
	if r.eos {
		// KIP-618: fence earlier incarnations (and abort their open
		// transaction) before reading offsets, so the offsets read are the
		// last any incarnation can commit.
		if _, _, err := r.cl.ProducerID(killCtx); err != nil {
			if isFencedErr(err) {
				return errFenced
			}
			return fmt.Errorf("worker: connector %q task %d: initialise transactional producer %q: %w", cc.Name, r.t.id, r.transactionalID(), err)
		}
	}
	offsets, err := readOffsets(killCtx, r.c.w.kafkaOpts(), r.co.offsetsTopic, cc.Name, r.c.log)
	if err != nil {
		return fmt.Errorf("worker: connector %q task %d: %w", cc.Name, r.t.id, err)
	}
	r.committed = offsets
	if err := r.task.Open(killCtx, r.tc); err != nil {
		return fmt.Errorf("worker: connector %q task %d: open: %w", cc.Name, r.t.id, err)
	}
	r.t.set(StateRunning, nil)
	r.lastCommit = time.Now()

	// Poll's context ends on stop too, so a blocked Poll returns promptly.
	pollCtx, cancelPoll := context.WithCancel(killCtx)
	defer cancelPoll()
	go func() {
		select {
		case <-stop:
		case <-pollCtx.Done():
		}
		cancelPoll()
	}()
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for {
		if stopped() {
			break
		}
		var recs []*connectors.Record
		began := time.Now()
		err := r.retry.do(pollCtx, "poll", true, func() (e error) {
			recs, e = r.task.Poll(pollCtx)
			return e
		})
		eof := errors.Is(err, io.EOF)
		if err != nil && !eof {
			if pollCtx.Err() != nil && killCtx.Err() == nil {
				// Stopped while polling: write what came back, commit.
				err = nil
			} else if killCtx.Err() != nil {
				return killCtx.Err()
			} else {
				return fmt.Errorf("worker: connector %q task %d: poll: %w", cc.Name, r.t.id, err)
			}
		}
		if r.reportErr != nil {
			return r.reportErr
		}
		if len(recs) > 0 {
			r.c.observe(r.t, "source_record_poll_batch_seconds", time.Since(began))
			r.t.polled.Add(int64(len(recs)))
			r.c.count(r.t, "source_record_poll_total", int64(len(recs)))
		}
		if err := r.write(killCtx, recs); err != nil {
			return err
		}
		if err := r.maybeCommit(killCtx, eof); err != nil {
			return err
		}
		if eof {
			// FINISHED means drained and committed: a commit postponed (the
			// producer's flush outlived offset.flush.timeout.ms, or the
			// offsets write failed) is tried again until it succeeds.
			for {
				if err := r.commit(killCtx); err != nil {
					return err
				}
				if len(r.pending) == 0 && !r.inTxn {
					break
				}
				if killCtx.Err() != nil {
					return killCtx.Err()
				}
			}
			r.t.set(StateFinished, nil)
			r.log.Info("worker: source task finished: its input is drained and committed")
			return nil
		}
	}
	if err := r.commit(killCtx); err != nil {
		return err
	}
	r.t.set(StateStopped, nil)
	return nil
}

// write transforms, converts and produces polled records (and queued dead
// letters). Under exactly-once it opens the transaction they go into.
func (r *sourceRun) write(ctx context.Context, recs []*connectors.Record) error {
	if len(recs) == 0 && len(r.dlqQueue) == 0 && len(r.pending) == 0 {
		return nil
	}
	if err := r.begin(); err != nil {
		return err
	}
	for _, dl := range r.dlqQueue {
		r.cl.Produce(ctx, dl, r.promiseDLQ)
	}
	r.dlqQueue = r.dlqQueue[:0]
	if w := r.convWorkers(len(recs)); w > 1 {
		if err := r.writeParallel(ctx, recs, w); err != nil {
			return err
		}
		return r.producedFatal()
	}
	for _, rec := range recs {
		if err := r.send(ctx, rec); err != nil {
			return err
		}
	}
	return r.producedFatal()
}

func (r *sourceRun) begin() error {
	if !r.eos || r.inTxn {
		return nil
	}
	if err := r.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("worker: connector %q task %d: begin transaction: %w", r.c.cc.Name, r.t.id, err)
	}
	r.inTxn, r.txnStart = true, time.Now()
	return nil
}

// track notes a polled record's source offset (before transforms: a
// filtered record's position counts as passed).
func (r *sourceRun) track(rec *connectors.Record) error {
	if rec.SourcePartition == nil || rec.SourceOffset == nil {
		return nil
	}
	// Sources usually reuse one partition map per source partition: its
	// identity spares encoding it for every record.
	p := reflect.ValueOf(rec.SourcePartition).UnsafePointer()
	if p != r.lastPart {
		id, err := partitionID(rec.SourcePartition)
		if err != nil {
			return fmt.Errorf("worker: connector %q task %d: %w", r.c.cc.Name, r.t.id, err)
		}
		r.lastPart, r.lastID = p, id
	}
	r.pending[r.lastID] = connectors.SourceOffset{Partition: rec.SourcePartition, Offset: rec.SourceOffset}
	return nil
}

func (r *sourceRun) send(ctx context.Context, rec *connectors.Record) error {
	if err := r.track(rec); err != nil {
		return err
	}
	rec.Offset = -1
	outs, step, err := applyTransforms(r.c.cc.Transforms, r.outBuf[:0], rec)
	r.outBuf = outs[:0]
	if err != nil {
		return r.recordFailed(ctx, rec, rawBytes(rec.Key), rawBytes(rec.Value), connectors.StageTransformation, step, err)
	}
	for _, o := range outs {
		key, err := r.convert(ctx, r.c.cc.KeyConverter, o.Topic, o.KeySchema, o.Key)
		if err != nil {
			if e := r.recordFailed(ctx, o, rawBytes(o.Key), rawBytes(o.Value), connectors.StageKeyConverter, r.c.cc.KeyConverterType, err); e != nil {
				return e
			}
			continue
		}
		val, err := r.convert(ctx, r.c.cc.ValueConverter, o.Topic, o.ValueSchema, o.Value)
		if err != nil {
			if e := r.recordFailed(ctx, o, key, rawBytes(o.Value), connectors.StageValueConverter, r.c.cc.ValueConverterType, err); e != nil {
				return e
			}
			continue
		}
		if err := r.produce(ctx, o, key, val); err != nil {
			return err
		}
	}
	return nil
}

func (r *sourceRun) convert(ctx context.Context, conv connectors.Converter, topic string, schema *connectors.Schema, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	out, err := conv.FromConnect(topic, schema, v)
	if err != nil && isTransient(err) {
		// Only a failure pays for the retry closure.
		err = r.retry.do(ctx, "convert", false, func() (e error) {
			out, e = conv.FromConnect(topic, schema, v)
			return e
		})
	}
	return out, err
}

// applyTransforms runs the transform chain over rec, appending the results
// to dst. On error it returns the failing step's type.
func applyTransforms(steps []connectors.TransformStep, dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, string, error) {
	if len(steps) == 0 {
		return append(dst, rec), "", nil
	}
	cur := []*connectors.Record{rec}
	for i := range steps {
		s := &steps[i]
		var next []*connectors.Record
		for _, r := range cur {
			if !s.Applies(r) {
				next = append(next, r)
				continue
			}
			var err error
			if next, err = s.Transform.Apply(next, r); err != nil {
				return dst, s.Type, fmt.Errorf("transform %q (%s): %w", s.Alias, s.Type, err)
			}
		}
		cur = next
		if len(cur) == 0 {
			break
		}
	}
	return append(dst, cur...), "", nil
}

// recordFailed applies errors.tolerance to a record that failed a stage.
func (r *sourceRun) recordFailed(ctx context.Context, rec *connectors.Record, key, value []byte, stage connectors.Stage, class string, err error) error {
	r.t.errors.Add(1)
	r.c.count(r.t, "connector_record_errors_total", 1)
	rerr := &connectors.RecordError{Connector: r.c.cc.Name, TaskID: r.t.id, Stage: stage, Where: rec.Where(), Err: err}
	if isTransient(err) {
		// Never skipped or dead-lettered: the data is fine, a server is not.
		return fmt.Errorf("worker: %w (a transient failure outlived errors.retry.timeout; the task stops without committing this record)", rerr)
	}
	if r.c.cc.Errors.Tolerance != connectors.ToleranceAll {
		return rerr
	}
	r.tolerated(rec, stage, err)
	if dlq := r.c.cc.Errors.DLQTopic; dlq != "" {
		r.cl.Produce(ctx, r.dl.fromSource(dlq, rec, key, value, stage, class, err), r.promiseDLQ)
	}
	return nil
}

func (r *sourceRun) tolerated(rec *connectors.Record, stage connectors.Stage, err error) {
	eh := r.c.cc.Errors
	if eh.LogEnable || eh.DLQTopic == "" {
		args := []any{"stage", stage, "record", rec.Where(), "error", err}
		if eh.LogMessages {
			args = append(args, "key", fmt.Sprint(rec.Key), "value", fmt.Sprint(rec.Value))
		}
		if eh.DLQTopic == "" {
			r.log.Warn("worker: skipped a record that failed (errors.tolerance=all, no dead-letter topic)", args...)
		} else {
			r.log.Warn("worker: dead-lettered a record that failed", args...)
		}
	}
}

// delivered is the promise of produced records and offsets.
func (r *sourceRun) delivered(kr *kgo.Record, err error) {
	if err == nil {
		if kr.Topic != r.co.offsetsTopic {
			r.t.written.Add(1)
		}
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.eos && kr.Topic == r.co.offsetsTopic && !isFencedErr(err) {
		// As Kafka Connect: a failed offset commit is not the task's
		// failure; the offsets are written again at the next commit (a
		// crash meanwhile redelivers, as at-least-once allows).
		r.offsetsErr = err
		return
	}
	if r.eos || kr.Topic == r.co.offsetsTopic || r.c.cc.Errors.Tolerance != connectors.ToleranceAll || isFencedErr(err) {
		if r.fatal == nil {
			r.fatal = fmt.Errorf("worker: connector %q task %d: produce to %s: %w", r.c.cc.Name, r.t.id, kr.Topic, err)
		}
		return
	}
	r.failures = append(r.failures, produceFailure{kr, err})
}

func (r *sourceRun) promiseDLQ(kr *kgo.Record, err error) {
	if err == nil {
		r.t.dlq.Add(1)
		r.c.count(r.t, "deadletterqueue_produce_requests_total", 1)
		return
	}
	r.mu.Lock()
	if r.fatal == nil {
		r.fatal = fmt.Errorf("worker: connector %q task %d: produce to dead-letter topic %s: %w", r.c.cc.Name, r.t.id, kr.Topic, err)
	}
	r.mu.Unlock()
}

func (r *sourceRun) producedFatal() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fatal != nil && isFencedErr(r.fatal) {
		return fmt.Errorf("%w: %v", errFenced, r.fatal)
	}
	return r.fatal
}

// maybeCommit commits when the boundary or interval has come.
func (r *sourceRun) maybeCommit(ctx context.Context, eof bool) error {
	requested := r.tc.commitRq.Load()
	if r.eos {
		if !r.inTxn {
			return nil
		}
		if r.boundaryInterval == 0 || requested || eof || time.Since(r.txnStart) >= r.boundaryInterval {
			return r.commit(ctx)
		}
		return nil
	}
	if requested || eof || time.Since(r.lastCommit) >= r.flushInterval {
		return r.commit(ctx)
	}
	return nil
}

// commit makes everything written so far durable with its offsets: one
// transaction commit under exactly-once; flush, then offsets under
// at-least-once. Then the task is told.
func (r *sourceRun) commit(ctx context.Context) error {
	r.tc.commitRq.Store(false)
	began := time.Now()
	var done []connectors.SourceOffset
	var err error
	if r.eos {
		done, err = r.commitTxn(ctx)
	} else {
		done, err = r.commitFlush(ctx)
	}
	if err != nil || done == nil {
		return err
	}
	r.lastCommit = time.Now()
	r.c.observe(r.t, "offset_commit_seconds", time.Since(began))
	// Acknowledged records since the last commit (counted per record on
	// the promise, reported per commit).
	written := r.t.written.Load()
	r.c.count(r.t, "source_record_write_total", written-r.reportedWritten)
	r.reportedWritten = written
	if len(done) > 0 {
		if err := r.task.Commit(ctx, done); err != nil {
			r.log.Warn("worker: source task's Commit failed (the offsets are committed)", "error", err)
		}
	}
	return nil
}

// offsetsToWrite produces the pending offsets and returns them, sorted.
func (r *sourceRun) offsetsToWrite(ctx context.Context) ([]connectors.SourceOffset, error) {
	out := sortedOffsets(r.pending)
	for _, so := range out {
		rec, err := offsetRecord(r.co.offsetsTopic, r.c.cc.Name, so)
		if err != nil {
			return nil, err
		}
		r.cl.Produce(ctx, rec, r.promise)
	}
	return out, nil
}

func (r *sourceRun) committedNow() {
	r.mu.Lock()
	for id, so := range r.pending {
		r.committed[id] = so
	}
	r.mu.Unlock()
	clear(r.pending)
}

func (r *sourceRun) commitTxn(ctx context.Context) ([]connectors.SourceOffset, error) {
	if !r.inTxn {
		if len(r.pending) == 0 {
			return nil, nil
		}
		if err := r.begin(); err != nil {
			return nil, err
		}
	}
	done, err := r.offsetsToWrite(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.cl.Flush(ctx); err != nil {
		return nil, fmt.Errorf("worker: connector %q task %d: flush: %w", r.c.cc.Name, r.t.id, err)
	}
	if err := r.producedFatal(); err != nil {
		return nil, err
	}
	err = r.cl.EndTransaction(ctx, kgo.TryCommit)
	r.inTxn = false
	if err != nil {
		if isFencedErr(err) {
			return nil, fmt.Errorf("%w: %v", errFenced, err)
		}
		return nil, fmt.Errorf("worker: connector %q task %d: commit transaction: %w", r.c.cc.Name, r.t.id, err)
	}
	r.committedNow()
	return done, nil
}

func (r *sourceRun) commitFlush(ctx context.Context) ([]connectors.SourceOffset, error) {
	fctx, cancel := context.WithTimeout(ctx, r.flushTimeout)
	err := r.cl.Flush(fctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r.log.Warn("worker: offset commit postponed: records not acknowledged within offset.flush.timeout.ms", "timeout", r.flushTimeout)
		return nil, nil
	}
	if err := r.producedFatal(); err != nil {
		return nil, err
	}
	// Produce failures tolerated under errors.tolerance=all (KIP-779):
	// dead-letter them, then flush again.
	r.mu.Lock()
	failures := r.failures
	r.failures = nil
	r.mu.Unlock()
	if len(failures) > 0 {
		for _, f := range failures {
			r.t.errors.Add(1)
			rec := &connectors.Record{Topic: f.rec.Topic, Partition: f.rec.Partition, Offset: -1}
			r.tolerated(rec, connectors.StageKafkaProduce, f.err)
			if dlq := r.c.cc.Errors.DLQTopic; dlq != "" {
				r.cl.Produce(ctx, r.dl.fromSource(dlq, rec, f.rec.Key, f.rec.Value, connectors.StageKafkaProduce, "kafka-producer", f.err), r.promiseDLQ)
			}
		}
		if err := r.cl.Flush(ctx); err != nil {
			return nil, err
		}
		if err := r.producedFatal(); err != nil {
			return nil, err
		}
	}
	if len(r.pending) == 0 {
		return []connectors.SourceOffset{}, nil
	}
	done, err := r.offsetsToWrite(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.cl.Flush(ctx); err != nil {
		return nil, err
	}
	if err := r.producedFatal(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	offsetsErr := r.offsetsErr
	r.offsetsErr = nil
	r.mu.Unlock()
	if offsetsErr != nil {
		r.log.Warn("worker: offset commit failed; the offsets are written again at the next commit", "topic", r.co.offsetsTopic, "error", offsetsErr)
		r.lastCommit = time.Now() // retry after offset.flush.interval.ms, not at once
		return nil, nil
	}
	r.committedNow()
	return done, nil
}

// ensureTopic creates a destination topic once per run when
// topic.creation.default.partitions is set.
func (r *sourceRun) ensureTopic(ctx context.Context, topic string) error {
	if r.createPartitions <= 0 || r.created[topic] {
		return nil
	}
	if err := kafka.EnsureTopics(ctx, r.adm, r.createPartitions, r.createRF, nil, topic); err != nil {
		return fmt.Errorf("worker: connector %q task %d: %w", r.c.cc.Name, r.t.id, err)
	}
	r.created[topic] = true
	return nil
}

// sourceTaskContext implements connectors.SourceTaskContext.
type sourceTaskContext struct {
	taskContext
	r        *sourceRun
	reportMu sync.Mutex // Report may be called from the task's own goroutines during Poll
}

func (tc *sourceTaskContext) Offset(partition map[string]any) (map[string]any, error) {
	id, err := partitionID(partition)
	if err != nil {
		return nil, err
	}
	tc.r.mu.Lock()
	defer tc.r.mu.Unlock()
	return tc.r.committed[id].Offset, nil
}

func (tc *sourceTaskContext) Offsets() ([]connectors.SourceOffset, error) {
	tc.r.mu.Lock()
	defer tc.r.mu.Unlock()
	return sortedOffsets(tc.r.committed), nil
}

// Report may be called from any goroutine while Poll runs.
func (tc *sourceTaskContext) Report(raw *connectors.Record, err error) error {
	r := tc.r
	tc.reportMu.Lock()
	defer tc.reportMu.Unlock()
	if raw == nil || err == nil {
		return errors.New("worker: Report needs the raw record and its error")
	}
	r.t.errors.Add(1)
	r.c.count(r.t, "connector_record_errors_total", 1)
	raw.Offset = -1
	if raw.Topic == "" {
		raw.Topic = "(none)"
	}
	rerr := &connectors.RecordError{Connector: r.c.cc.Name, TaskID: r.t.id, Stage: connectors.StageTaskPoll, Where: raw.Where(), Err: err}
	if r.c.cc.Errors.Tolerance != connectors.ToleranceAll {
		if r.reportErr == nil {
			r.reportErr = rerr
		}
		return rerr
	}
	if e := r.track(raw); e != nil {
		return e
	}
	r.tolerated(raw, connectors.StageTaskPoll, err)
	if dlq := r.c.cc.Errors.DLQTopic; dlq != "" {
		r.dlqQueue = append(r.dlqQueue, r.dl.fromSource(dlq, raw, rawBytes(raw.Key), rawBytes(raw.Value), connectors.StageTaskPoll, r.c.cc.Type, err))
	}
	return nil
}
