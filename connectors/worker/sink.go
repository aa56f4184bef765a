package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/converters"
	"github.com/sluicehq/sluice/internal/kpart"
)

func (c *Connector) startSink(ctx context.Context) error {
	cc := c.cc
	adminCl, err := kgo.NewClient(c.w.kafkaOpts()...)
	if err != nil {
		return fmt.Errorf("worker: connector %q: kafka client: %w", cc.Name, err)
	}
	defer adminCl.Close()
	if err := c.ensureDLQ(ctx, kadm.NewClient(adminCl)); err != nil {
		return err
	}
	_, tasks, err := newConnectorTasks(cc, cc.Sink.New)
	if err != nil {
		return err
	}
	c.tasks = c.tasks[:len(tasks)]
	runs := make([]*sinkRun, len(tasks))
	for i, task := range tasks {
		runs[i] = newSinkRun(c, c.tasks[i], task)
	}
	c.sinkRuns = runs
	c.log.Info("worker: sink connector started", "type", cc.Type, "tasks", len(tasks), "group", "connect-"+cc.Name)
	for _, r := range runs {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			r.run()
			c.checkAllEnded()
		}()
	}
	go func() {
		c.wg.Wait()
		c.finish()
	}()
	return nil
}

// sinkRun is one sink task: a member of the group "connect-<name>". The
// loop holds mu while it processes a poll (between PollRecords and
// AllowRebalance); franz-go's rebalance callbacks take it too, and only run
// while the loop is parked in PollRecords (BlockRebalanceOnPoll), so task
// methods are never called concurrently.
type sinkRun struct {
	c     *Connector
	t     *taskState
	task  connectors.SinkTask
	tc    *sinkTaskContext
	log   *slog.Logger
	retry retryPolicy
	dl    deadLetter
	cl    *kgo.Client

	instanceID string // group.instance.id, "" for dynamic membership
	opts       []kgo.Opt
	slab       []connectors.Record // records not yet handed out (see newRecord)
	// keyBytes and valueBytes are the schemas of the bytes converter when
	// it converts keys or values: the worker then boxes the fetched bytes
	// itself (see bytesBoxer) instead of calling it.
	keyBytes, valueBytes *connectors.Schema
	boxer                bytesBoxer

	maxPoll       int
	flushInterval time.Duration

	mu            sync.Mutex
	owned         map[connectors.TopicPartition]bool
	current       map[connectors.TopicPartition]int64 // next offset after records handed over or diverted
	lastCommitted map[connectors.TopicPartition]int64
	seeks         map[connectors.TopicPartition]int64
	cbErr         error
	closed        bool
	dlqSent       bool
	// origin maps the records of the batch being handed over to the
	// consumed records they came from, so that a record the task reports
	// is dead-lettered with its original bytes (only with a DLQ topic).
	origin map[*connectors.Record]*kgo.Record

	dlqMu      sync.Mutex // guards dlqErr: promises run on franz-go's goroutines
	dlqErr     error
	lastCommit time.Time
	batch      []*connectors.Record
}

func newSinkRun(c *Connector, t *taskState, task connectors.SinkTask) *sinkRun {
	cc := c.cc
	log := c.log.With("task", t.id)
	r := &sinkRun{c: c, t: t, task: task, log: log, retry: c.retry(t, log),
		dl:            deadLetter{connector: cc.Name, taskID: t.id, withCtx: cc.Errors.DLQContextHeads},
		maxPoll:       cc.Common.Int("consumer.max.poll.records"),
		flushInterval: cc.Common.Duration("offset.flush.interval.ms"),
		owned:         map[connectors.TopicPartition]bool{},
		current:       map[connectors.TopicPartition]int64{},
		lastCommitted: map[connectors.TopicPartition]int64{},
		seeks:         map[connectors.TopicPartition]int64{},
		origin:        map[*connectors.Record]*kgo.Record{},
	}
	r.tc = &sinkTaskContext{taskContext: taskContext{c: c, t: t, log: log}, r: r}
	r.keyBytes, _ = converters.PassesBytes(cc.KeyConverter)
	r.valueBytes, _ = converters.PassesBytes(cc.ValueConverter)
	opts := append(c.w.kafkaOpts(),
		kgo.ConsumerGroup("connect-"+cc.Name),
		kgo.ClientID(fmt.Sprintf("connector-consumer-%s-%d", cc.Name, t.id)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers come through so positions (and commits) move
		// past them: a sink's position reaches the end of its partitions.
		kgo.KeepControlRecords(),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		// Kafka Connect's sink consumers start at the earliest offset.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(c.w.cfg.SessionTimeout),
		kgo.HeartbeatInterval(heartbeat(c.w.cfg.SessionTimeout)),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.RecordPartitioner(kpart.Default()),
		kgo.OnPartitionsAssigned(r.assigned),
		kgo.OnPartitionsRevoked(r.revoked),
		kgo.OnPartitionsLost(r.lost),
		kgo.AdjustFetchOffsetsFn(r.adjustOffsets),
	)
	if id := c.w.staticID(fmt.Sprintf("-%d", t.id)); id != "" {
		r.instanceID = id
		opts = append(opts, kgo.InstanceID(id))
	}
	if cc.TopicsRegex != nil {
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(cc.TopicsRegex.String()))
	} else {
		opts = append(opts, kgo.ConsumeTopics(cc.Topics...))
	}
	// The client joins the group as soon as it exists: it is created in
	// runLoop, after Open, so that Assign never precedes Open.
	r.opts = opts
	return r
}

func (r *sinkRun) run() {
	killCtx := r.c.killCtx
	err := r.runLoop(killCtx)
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	if r.cl != nil {
		if err == nil && killCtx.Err() == nil {
			leaveStatic(r.cl, "connect-"+r.c.cc.Name, r.instanceID, r.log)
		}
		r.cl.Close()
	}
	if closeErr := r.task.Close(); closeErr != nil {
		r.log.Warn("worker: closing sink task", "error", closeErr)
	}
	switch {
	case err == nil:
		r.t.set(StateStopped, nil)
	case killCtx.Err() != nil:
		r.t.set(StateStopped, nil)
	default:
		r.c.taskFailed(r.t, err)
	}
}

func (r *sinkRun) runLoop(killCtx context.Context) error {
	cc := r.c.cc
	if err := r.task.Open(killCtx, r.tc); err != nil {
		return fmt.Errorf("worker: connector %q task %d: open: %w", cc.Name, r.t.id, err)
	}
	cl, err := kgo.NewClient(r.opts...)
	if err != nil {
		return fmt.Errorf("worker: connector %q task %d: consumer: %w", cc.Name, r.t.id, err)
	}
	r.mu.Lock()
	r.cl = cl
	r.mu.Unlock()
	r.t.set(StateRunning, nil)
	r.lastCommit = time.Now()
	pollCtx, cancelPoll := context.WithCancel(killCtx)
	defer cancelPoll()
	go func() {
		select {
		case <-r.c.stopping:
		case <-pollCtx.Done():
		}
		cancelPoll()
	}()
	for {
		// Bounded polls: commits (and PreCommit, where sinks check
		// time-based rotation) run on time even when no records come.
		tctx, cancelTimeout := context.WithTimeout(pollCtx, min(time.Second, r.flushInterval))
		fs := r.cl.PollRecords(tctx, r.maxPoll)
		cancelTimeout()
		if killCtx.Err() != nil {
			// A poll holds rebalances until AllowRebalance: leaving the
			// group on Close waits for it.
			r.cl.AllowRebalance()
			return killCtx.Err()
		}
		r.mu.Lock()
		err := r.process(killCtx, fs)
		if err == nil && pollCtx.Err() == nil && (r.tc.commitRq.Load() || time.Since(r.lastCommit) >= r.flushInterval) {
			err = r.commit(killCtx)
		}
		if err == nil && pollCtx.Err() != nil {
			// Graceful stop: complete open output, commit what is durable,
			// close the partitions.
			if f, ok := r.task.(connectors.SinkFlusher); ok && len(r.current) > 0 {
				if err = r.retry.do(killCtx, "flush", true, func() error { return f.FlushAll(killCtx) }); err != nil {
					err = fmt.Errorf("worker: connector %q task %d: flush on stop: %w", cc.Name, r.t.id, err)
				}
			}
			if err == nil {
				err = r.commit(killCtx)
			}
			if err == nil {
				err = r.revokeAll(killCtx)
			}
			r.closed = true
			r.mu.Unlock()
			r.cl.AllowRebalance()
			return err
		}
		r.mu.Unlock()
		r.cl.AllowRebalance()
		if err != nil {
			return err
		}
	}
}

// process converts, transforms and hands over one poll's records.
func (r *sinkRun) process(ctx context.Context, fs kgo.Fetches) error {
	if r.cbErr != nil {
		return r.cbErr
	}
	var fetchErr error
	fs.EachError(func(topic string, p int32, err error) {
		if fetchErr != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		// A lost group session (the coordinator moved, or forgot the
		// member) is not fatal: the client rejoins on its own, and the
		// partitions lost meanwhile are handled by the lost callback.
		var session *kgo.ErrGroupSession
		if kerr.IsRetriable(err) || errors.As(err, &session) {
			r.log.Warn("worker: fetch error, retrying", "topic", topic, "partition", p, "error", err)
			return
		}
		fetchErr = fmt.Errorf("worker: connector %q task %d: fetch %s[%d]: %w", r.c.cc.Name, r.t.id, topic, p, err)
	})
	if fetchErr != nil {
		return fetchErr
	}
	batch := r.batch[:0]
	clear(r.origin)
	var lag, n int64
	var stop error
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) > 0 {
			last := p.Records[len(p.Records)-1].Offset
			if hw := p.HighWatermark; hw > last {
				lag += hw - last - 1
			}
		}
		if stop != nil || len(p.Records) == 0 {
			return
		}
		tp := connectors.TopicPartition{Topic: p.Topic, Partition: p.Partition}
		if !r.owned[tp] {
			return
		}
		next := int64(-1)
		for _, kr := range p.Records {
			next = kr.Offset + 1
			if kr.Attrs.IsControl() {
				continue
			}
			n++
			var err error
			if batch, err = r.convert(ctx, batch, kr); err != nil {
				stop = err
				return
			}
		}
		r.current[tp] = next
	})
	r.batch = batch[:0]
	if stop != nil {
		return stop
	}
	if n > 0 {
		r.t.polled.Add(n)
		r.t.lag.Store(lag)
		r.c.count(r.t, "sink_record_read_total", n)
		r.c.gauge(r.t, "sink_record_lag", float64(lag))
	}
	if len(batch) == 0 {
		return nil
	}
	began := time.Now()
	err := r.retry.do(ctx, "put", true, func() error { return r.task.Put(ctx, batch) })
	if err != nil {
		return fmt.Errorf("worker: connector %q task %d: put: %w", r.c.cc.Name, r.t.id, err)
	}
	if r.tc.reportErr != nil {
		return r.tc.reportErr
	}
	r.c.observe(r.t, "put_batch_seconds", time.Since(began))
	r.t.written.Add(int64(len(batch)))
	r.c.count(r.t, "sink_record_send_total", int64(len(batch)))
	return nil
}

// convert turns a consumed record into zero or more sink records (after
// transforms), applying errors.tolerance to failures.
func (r *sinkRun) convert(ctx context.Context, dst []*connectors.Record, kr *kgo.Record) ([]*connectors.Record, error) {
	cc := r.c.cc
	rec := r.newRecord()
	// The slab's records are zero: setting only these fields spares
	// writing (and write-barriering) the whole struct.
	rec.Topic, rec.Partition, rec.Offset, rec.Timestamp = kr.Topic, kr.Partition, kr.Offset, kr.Timestamp
	if len(kr.Headers) > 0 {
		rec.Headers = make([]connectors.Header, len(kr.Headers))
		for i, h := range kr.Headers {
			rec.Headers[i] = connectors.Header{Key: h.Key, Value: h.Value}
		}
	}
	if kr.Key != nil && r.keyBytes != nil {
		rec.KeySchema, rec.Key = r.keyBytes, r.boxer.box(kr.Key)
	} else if kr.Key != nil {
		var err error
		if rec.KeySchema, rec.Key, err = r.toConnect(ctx, cc.KeyConverter, "key converter", kr.Topic, kr.Key); err != nil {
			return dst, r.failed(kr, rec, connectors.StageKeyConverter, cc.KeyConverterType, err)
		}
	}
	if kr.Value != nil && r.valueBytes != nil {
		rec.ValueSchema, rec.Value = r.valueBytes, r.boxer.box(kr.Value)
	} else if kr.Value != nil {
		var err error
		if rec.ValueSchema, rec.Value, err = r.toConnect(ctx, cc.ValueConverter, "value converter", kr.Topic, kr.Value); err != nil {
			return dst, r.failed(kr, rec, connectors.StageValueConverter, cc.ValueConverterType, err)
		}
	}
	out, step, err := applyTransforms(cc.Transforms, dst, rec)
	if err != nil {
		return dst, r.failed(kr, rec, connectors.StageTransformation, step, err)
	}
	if cc.Errors.DLQTopic != "" {
		for _, o := range out[len(dst):] {
			r.origin[o] = kr
		}
	}
	return out, nil
}

// toConnect is conv.ToConnect, retried if it fails with a transient
// error.
func (r *sinkRun) toConnect(ctx context.Context, conv connectors.Converter, what, topic string, data []byte) (schema *connectors.Schema, v any, err error) {
	schema, v, err = conv.ToConnect(topic, data)
	if err != nil && isTransient(err) {
		// Only a failure pays for the retry closure.
		err = r.retry.do(ctx, what, false, func() (e error) {
			schema, v, e = conv.ToConnect(topic, data)
			return e
		})
	}
	return schema, v, err
}

// newRecord takes a record from the current slab. Sinks may keep records
// (see connectors.Record), so slabs are never reused: this saves an
// allocation per record, not the memory.
func (r *sinkRun) newRecord() *connectors.Record {
	if len(r.slab) == 0 {
		r.slab = make([]connectors.Record, 256)
	}
	rec := &r.slab[0]
	r.slab = r.slab[1:]
	return rec
}

// failed applies errors.tolerance to a consumed record: nil means it was
// dead-lettered or skipped.
func (r *sinkRun) failed(kr *kgo.Record, rec *connectors.Record, stage connectors.Stage, class string, err error) error {
	cc := r.c.cc
	r.t.errors.Add(1)
	r.c.count(r.t, "connector_record_errors_total", 1)
	rerr := &connectors.RecordError{Connector: cc.Name, TaskID: r.t.id, Stage: stage, Where: rec.Where(), Err: err}
	if isTransient(err) {
		return fmt.Errorf("worker: %w (a transient failure outlived errors.retry.timeout; the task stops without committing this record)", rerr)
	}
	if cc.Errors.Tolerance != connectors.ToleranceAll {
		return rerr
	}
	r.divert(kr, rec, stage, class, err)
	return nil
}

func (r *sinkRun) divert(kr *kgo.Record, rec *connectors.Record, stage connectors.Stage, class string, err error) {
	eh := r.c.cc.Errors
	if eh.LogEnable || eh.DLQTopic == "" {
		args := []any{"stage", stage, "record", rec.Where(), "error", err}
		if eh.LogMessages {
			args = append(args, "key", string(kr.Key), "value", string(kr.Value))
		}
		if eh.DLQTopic == "" {
			r.log.Warn("worker: skipped a record that failed (errors.tolerance=all, no dead-letter topic)", args...)
		} else {
			r.log.Warn("worker: dead-lettered a record that failed", args...)
		}
	}
	if eh.DLQTopic == "" {
		return
	}
	r.dlqSent = true
	r.cl.Produce(context.Background(), r.dl.fromConsumed(eh.DLQTopic, kr, stage, class, err), func(dr *kgo.Record, err error) {
		if err != nil {
			r.dlqMu.Lock()
			if r.dlqErr == nil {
				r.dlqErr = fmt.Errorf("worker: connector %q task %d: produce to dead-letter topic %s: %w", r.c.cc.Name, r.t.id, dr.Topic, err)
			}
			r.dlqMu.Unlock()
			return
		}
		r.t.dlq.Add(1)
		r.c.count(r.t, "deadletterqueue_produce_requests_total", 1)
	})
}

// commit asks the task what is durable (PreCommit) and commits it. Dead
// letters are flushed first, so a committed offset never outruns its dead
// letter. Called with mu held.
func (r *sinkRun) commit(ctx context.Context) error {
	r.tc.commitRq.Store(false)
	r.lastCommit = time.Now()
	if len(r.current) == 0 {
		return nil
	}
	began := time.Now()
	if r.dlqSent {
		if err := r.cl.Flush(ctx); err != nil {
			return fmt.Errorf("worker: connector %q task %d: flush dead letters: %w", r.c.cc.Name, r.t.id, err)
		}
		r.dlqMu.Lock()
		err := r.dlqErr
		r.dlqMu.Unlock()
		if err != nil {
			return err
		}
		r.dlqSent = false
	}
	cur := make(map[connectors.TopicPartition]int64, len(r.current))
	for tp, off := range r.current {
		cur[tp] = off
	}
	var safe map[connectors.TopicPartition]int64
	err := r.retry.do(ctx, "precommit", true, func() (e error) {
		safe, e = r.task.PreCommit(ctx, cur)
		return e
	})
	if err != nil {
		return fmt.Errorf("worker: connector %q task %d: precommit: %w", r.c.cc.Name, r.t.id, err)
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for tp, off := range safe {
		if !r.owned[tp] || off <= r.lastCommitted[tp] {
			continue
		}
		if max, ok := r.current[tp]; ok && off > max {
			return fmt.Errorf("worker: connector %q task %d: PreCommit returned offset %d for %s, past the last record handed over (%d)", r.c.cc.Name, r.t.id, off, tp, max)
		}
		if offsets[tp.Topic] == nil {
			offsets[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
	}
	if len(offsets) == 0 {
		return nil
	}
	var commitErr error
	r.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			commitErr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && commitErr == nil {
					commitErr = fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, e)
				}
			}
		}
	})
	if commitErr != nil {
		if errors.Is(commitErr, kerr.RebalanceInProgress) || errors.Is(commitErr, kerr.IllegalGeneration) || errors.Is(commitErr, kerr.UnknownMemberID) {
			// Another member may own these partitions now; it redelivers
			// from the previous commit. Not fatal: at-least-once.
			r.log.Warn("worker: offset commit lost to a rebalance", "error", commitErr)
			return nil
		}
		return fmt.Errorf("worker: connector %q task %d: commit offsets: %w", r.c.cc.Name, r.t.id, commitErr)
	}
	for t, ps := range offsets {
		for p, eo := range ps {
			r.lastCommitted[connectors.TopicPartition{Topic: t, Partition: p}] = eo.Offset
		}
	}
	r.c.observe(r.t, "offset_commit_seconds", time.Since(began))
	return nil
}

func sortedTPs(m map[string][]int32) []connectors.TopicPartition {
	var out []connectors.TopicPartition
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, connectors.TopicPartition{Topic: t, Partition: p})
		}
	}
	sortTopicPartitions(out)
	return out
}

func (r *sinkRun) assigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tps := sortedTPs(assigned)
	if r.closed || r.cbErr != nil || len(tps) == 0 {
		return
	}
	for _, tp := range tps {
		r.owned[tp] = true
	}
	r.tc.inAssign = true
	err := r.retry.do(ctx, "assign", true, func() error { return r.task.Assign(ctx, tps) })
	r.tc.inAssign = false
	if err != nil {
		r.cbErr = fmt.Errorf("worker: connector %q task %d: assign %v: %w", r.c.cc.Name, r.t.id, tps, err)
	}
}

func (r *sinkRun) adjustOffsets(_ context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for tp, off := range r.seeks {
		if ps, ok := offsets[tp.Topic]; ok {
			if _, ok := ps[tp.Partition]; ok {
				ps[tp.Partition] = kgo.NewOffset().At(off).WithEpoch(-1)
				r.log.Info("worker: sink task repositioned a partition", "partition", tp.String(), "offset", off)
			}
		}
	}
	clear(r.seeks)
	return offsets, nil
}

func (r *sinkRun) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.cbErr != nil {
		return
	}
	if err := r.commit(ctx); err != nil {
		r.cbErr = err
		return
	}
	r.close(ctx, sortedTPs(revoked))
}

func (r *sinkRun) lost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.cbErr != nil {
		return
	}
	r.close(ctx, sortedTPs(lost))
}

// close drops partitions from the task (without committing).
func (r *sinkRun) close(ctx context.Context, tps []connectors.TopicPartition) {
	if len(tps) == 0 {
		return
	}
	if err := r.task.Revoke(ctx, tps); err != nil && r.cbErr == nil {
		r.cbErr = fmt.Errorf("worker: connector %q task %d: revoke %v: %w", r.c.cc.Name, r.t.id, tps, err)
	}
	for _, tp := range tps {
		delete(r.owned, tp)
		delete(r.current, tp)
		delete(r.lastCommitted, tp)
	}
}

func (r *sinkRun) revokeAll(ctx context.Context) error {
	tps := make([]connectors.TopicPartition, 0, len(r.owned))
	for tp := range r.owned {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool { return tps[i].String() < tps[j].String() })
	r.close(ctx, tps)
	return r.cbErr
}

// sinkTaskContext implements connectors.SinkTaskContext.
type sinkTaskContext struct {
	taskContext
	r         *sinkRun
	inAssign  bool
	reportMu  sync.Mutex // Report may be called from the task's own goroutines during Put
	reportErr error
}

// Seek is honoured from Assign (the offsets of newly assigned partitions
// are adjusted before fetching starts).
func (tc *sinkTaskContext) Seek(tp connectors.TopicPartition, offset int64) {
	if !tc.inAssign {
		tc.log.Warn("worker: SinkTaskContext.Seek outside Assign is ignored", "partition", tp.String(), "offset", offset)
		return
	}
	tc.r.seeks[tp] = offset
}

// Report may be called from any goroutine while Put runs (the loop holds
// mu meanwhile).
func (tc *sinkTaskContext) Report(rec *connectors.Record, err error) error {
	r := tc.r
	tc.reportMu.Lock()
	defer tc.reportMu.Unlock()
	if rec == nil || err == nil {
		return errors.New("worker: Report needs the record and its error")
	}
	r.t.errors.Add(1)
	r.c.count(r.t, "connector_record_errors_total", 1)
	rerr := &connectors.RecordError{Connector: r.c.cc.Name, TaskID: r.t.id, Stage: connectors.StageTaskPut, Where: rec.Where(), Err: err}
	if r.c.cc.Errors.Tolerance != connectors.ToleranceAll {
		if tc.reportErr == nil {
			tc.reportErr = rerr
		}
		return rerr
	}
	if orig, ok := r.origin[rec]; ok {
		r.divert(orig, rec, connectors.StageTaskPut, r.c.cc.Type, err)
		return nil
	}
	// Not a record of this batch (or no dead-letter topic): re-encode it
	// with the connector's converters.
	kr := &kgo.Record{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp}
	for _, h := range rec.Headers {
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	if rec.Key != nil {
		if b, e := r.c.cc.KeyConverter.FromConnect(rec.Topic, rec.KeySchema, rec.Key); e == nil {
			kr.Key = b
		} else {
			kr.Key = rawBytes(rec.Key)
		}
	}
	if rec.Value != nil {
		if b, e := r.c.cc.ValueConverter.FromConnect(rec.Topic, rec.ValueSchema, rec.Value); e == nil {
			kr.Value = b
		} else {
			kr.Value = rawBytes(rec.Value)
		}
	}
	r.divert(kr, rec, connectors.StageTaskPut, r.c.cc.Type, err)
	return nil
}
