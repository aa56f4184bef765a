package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/kpart"
)

// thread is one stream thread: one Kafka client (consumer, and producer;
// transactional under exactly_once_v2), one group member, and the tasks of
// the partitions assigned to it. See DESIGN.md for the ownership rules:
// the run loop owns the tasks; rebalance callbacks only run while the loop
// is blocked in a poll (kgo.BlockRebalanceOnPoll) and take mu to be sure.
type thread struct {
	app   *App
	cfg   *config
	idx   int
	name  string
	eos   bool
	txnID string
	// instanceID is the static group.instance.id, empty for dynamic members.
	instanceID string

	cl   *kgo.Client
	sess *kgo.GroupTransactSession
	adm  *kadm.Client
	out  *sender // Produce on its own goroutine (nil: on the thread's)

	mu    sync.Mutex
	tasks map[TaskID]*task
	env   *taskEnv
	err   error // set by callbacks; returned by the loop

	lastCommit time.Time

	// txnDirty: records were polled or produced in the open transaction.
	txnDirty bool

	// Exactly-once commits wait for tasks that hold buffered records back
	// under the idle rules (see commitOrPostpone).
	commitPendingSince time.Time
	paused             map[string][]int32

	// Restoration: a direct consumer of the changelogs of restoring tasks
	// (created with its first partitions), and the number of changelog
	// partitions still restoring.
	restoreCl *kgo.Client
	restoring int
	restoreBy map[string]*changelog // "topic/partition" -> changelog
	// restoreLogged is when restore progress was last logged.
	restoreLogged time.Time
	// joined: the consumer has been in the group (see reportState).
	joined bool
	// lastE2E is when the end-to-end latencies were last reported.
	lastE2E time.Time
	// series are the thread's bound metric series (see report).
	series threadSeries
}

func newThread(app *App, idx int) (*thread, error) {
	cfg := app.cfg
	t := &thread{app: app, cfg: cfg, idx: idx, eos: cfg.guarantee == ExactlyOnceV2, tasks: map[TaskID]*task{}}
	t.name = cfg.appID + "-StreamThread-" + strconv.Itoa(idx+1)
	t.env = &taskEnv{appID: cfg.appID, cfg: cfg, now: time.Now, resolveTopic: app.resolveTopic, out: t, log: cfg.log.With("thread", t.name),
		openEngine: app.openEngine, cache: &cacheBudget{max: cfg.cacheMaxBytes / cfg.threads}, globals: app.globals,
		records: &recordPool{}, fail: app.state.fail}

	// The memory settings come first so that WithKafkaOptions can
	// override them with franz-go's own options.
	opts := []kgo.Opt{kgo.FetchMaxBytes(cfg.fetchMaxBytes), kgo.FetchMaxPartitionBytes(cfg.partitionFetchBytes),
		kgo.MaxBufferedRecords(cfg.maxBufferedRecords)}
	opts = append(opts, cfg.kgoOpts...)
	opts = append(opts,
		kgo.SeedBrokers(cfg.brokers...),
		kgo.ClientID(t.name),
		kgo.ConsumerGroup(cfg.appID),
		kgo.ConsumeTopics(app.clusterSourceTopics...),
		kgo.Balancers(app.balancer),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(t.onAssigned),
		kgo.OnPartitionsRevoked(t.onRevoked),
		kgo.OnPartitionsLost(t.onLost),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(cfg.sessionTimeout),
		kgo.RecordPartitioner(kpart.Default()),
		kgo.KeepControlRecords(),
	)
	if cfg.instanceID != "" {
		t.instanceID = cfg.instanceID + "-" + strconv.Itoa(idx+1)
		opts = append(opts, kgo.InstanceID(t.instanceID))
	}
	// The client starts joining the group as soon as it exists, and the
	// rebalance callbacks (which take mu) use cl and adm: hold mu until
	// they are set.
	t.mu.Lock()
	defer t.mu.Unlock()
	var err error
	if t.eos {
		// A stable transactional id lets a restarted instance fence and
		// abort its crashed predecessor's open transaction at once.
		suffix := cfg.instanceID
		if suffix == "" {
			suffix = randomID()
		}
		t.txnID = cfg.appID + "-" + suffix + "-" + strconv.Itoa(idx+1)
		opts = append(opts,
			kgo.TransactionalID(t.txnID),
			kgo.TransactionTimeout(cfg.txnTimeout),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		)
		t.sess, err = kgo.NewGroupTransactSession(opts...)
		if err == nil {
			t.cl = t.sess.Client()
		}
	} else {
		opts = append(opts, kgo.DisableAutoCommit())
		t.cl, err = kgo.NewClient(opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("core: thread %s: new kafka client: %w", t.name, err)
	}
	t.adm = kadm.NewClient(t.cl)
	return t, nil
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ---- collector ----

// send hands rec to the sender goroutine (see sender), or produces it
// directly when no sender runs (before the run loop starts it, after
// shutdown stopped it).
func (t *thread) send(_ *task, rec *kgo.Record, promise func(*kgo.Record, error)) {
	t.txnDirty = true
	if t.out != nil {
		t.out.send(rec, promise)
		return
	}
	t.cl.Produce(context.Background(), rec, promise)
}

// syncOut makes sure every record sent so far was given to the client:
// before a flush or the end of a transaction.
func (t *thread) syncOut() {
	if t.out != nil {
		t.out.sync()
	}
}

func (t *thread) partitions(topic string) (int32, error) { return t.app.partitionCount(topic) }

// commitTimeout bounds one commit (flush, offsets, end of transaction).
const commitTimeout = 60 * time.Second

// isFenced reports whether err means another producer took over this
// thread's transactional id or the transaction can no longer complete
// (INVALID_TXN_STATE is how a zombie's commit is answered under the
// KIP-890 protocol): the thread must start over with a new client.
func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.InvalidTxnState) || errors.Is(err, kerr.TransactionalIDNotFound)
}

// ---- run loop ----

func (t *thread) run(ctx context.Context) (err error) {
	log := t.env.log
	defer func() {
		if err != nil {
			// Record the cause first (unless the thread will be restarted
			// after a fence), then ignore what fails while closing: the
			// client's close fails still-buffered sends, and those are a
			// consequence, not the cause.
			if !isFenced(err) {
				t.app.state.fail(err)
			}
			t.env.discard.Store(true)
		}
		t.shutdown(err == nil)
	}()
	if t.eos {
		if err := t.sess.Begin(); err != nil {
			return fmt.Errorf("core: %s: begin transaction: %w", t.name, err)
		}
	}
	t.lastCommit = time.Now()
	t.out = newSender(func(r *kgo.Record, promise func(*kgo.Record, error)) {
		t.cl.Produce(context.Background(), r, promise)
	})
	for {
		if err := t.app.state.fatal(); err != nil {
			return err
		}
		if ctx.Err() != nil {
			log.Info("sluice: stream thread stopping")
			return nil
		}
		t.mu.Lock() // rebalance callbacks change what pollWait reads
		wait := t.pollWait()
		t.mu.Unlock()
		pollCtx, cancel := context.WithTimeout(ctx, wait)
		fetches := t.cl.PollFetches(pollCtx)
		cancel()
		t.mu.Lock()
		err := t.step(ctx, fetches)
		if err == nil {
			t.reportState()
		}
		t.mu.Unlock()
		t.cl.AllowRebalance()
		if err != nil {
			return err
		}
	}
}

// pollWait bounds a poll so that commits and wall-clock punctuators run on
// time when no records arrive.
func (t *thread) pollWait() time.Duration {
	if t.restoring > 0 {
		// The restore consumer's poll in the same step waits for changelog
		// records (restorePollWait); waiting here as well would leave the
		// restore idle. With every task restoring, nothing can arrive here
		// (their input is paused): do not wait at all.
		if t.allRestoring() {
			return 0
		}
		return time.Millisecond
	}
	if !t.commitPendingSince.IsZero() {
		return 5 * time.Millisecond // re-check idle deadlines promptly
	}
	wait := t.cfg.pollTimeout
	if left := time.Until(t.lastCommit.Add(t.cfg.commitInterval)); left < wait {
		wait = max(left, time.Millisecond)
	}
	return wait
}

// allRestoring reports whether every task of the thread is restoring.
func (t *thread) allRestoring() bool {
	for _, tk := range t.tasks {
		if tk.state == nil || tk.state.restoring == 0 {
			return false
		}
	}
	return true
}

// step handles one poll's worth of work: buffer, process, punctuate, commit.
// It runs with mu held.
func (t *thread) step(ctx context.Context, fetches kgo.Fetches) error {
	if t.err != nil {
		return t.err
	}
	var fetchErr error
	fetches.EachError(func(topic string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return
		}
		if errors.Is(err, kgo.ErrClientClosed) {
			fetchErr = err
			return
		}
		t.env.log.Warn("sluice: fetch error", "topic", topic, "partition", p, "err", err)
	})
	if fetchErr != nil {
		return fmt.Errorf("core: %s: %w", t.name, fetchErr)
	}
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		t.txnDirty = true // polled offsets go into the transaction
		q := t.queue(fp.Topic, fp.Partition)
		if q == nil {
			return // not ours (any more); its new owner re-reads it
		}
		tk := t.tasks[TaskID{t.app.topicSub[fp.Topic], fp.Partition}]
		tk.addRecords(q, fp.Records)
		if t.eos {
			q.end = fp.LastStableOffset
		} else {
			q.end = fp.HighWatermark
		}
	})
	if err := t.restoreStep(ctx); err != nil {
		return err
	}
	now := time.Now()
	if err := t.processAll(now, false); err != nil {
		return err
	}
	for _, tk := range t.tasks {
		if err := tk.punctuateWallClock(); err != nil {
			return err
		}
	}
	if t.out != nil {
		t.out.push()
	}
	t.report(now)
	if t.commitDue(now) || !t.commitPendingSince.IsZero() {
		return t.commitOrPostpone(ctx, now)
	}
	return nil
}

// maxCommitDelay bounds how long an exactly-once commit waits for idle
// tasks before it processes their buffered records out of order.
func (t *thread) maxCommitDelay() time.Duration {
	return max(t.cfg.maxTaskIdle, lagWaitCap) + time.Second
}

// commitOrPostpone commits, except under exactly_once_v2 while a task
// holds buffered records back waiting for another input (the idle rules):
// the transaction commits the offsets of everything polled, so committing
// now would force those records out of timestamp order. Instead the
// commit waits, with fetching paused for every partition that has buffered
// records (so the wait is not prolonged by new data), until the waiting
// tasks got their data or their idle time ran out; then it commits and
// resumes fetching. maxCommitDelay bounds the wait.
func (t *thread) commitOrPostpone(ctx context.Context, now time.Time) error {
	if t.eos && t.anyBuffered() && (t.commitPendingSince.IsZero() || now.Sub(t.commitPendingSince) < t.maxCommitDelay()) {
		if t.commitPendingSince.IsZero() {
			t.commitPendingSince = now
		}
		t.pauseBuffered()
		return nil
	}
	err := t.commit(ctx)
	t.commitPendingSince = time.Time{}
	if len(t.paused) > 0 {
		t.cl.ResumeFetchPartitions(t.paused)
		t.paused = nil
	}
	return err
}

func (t *thread) anyBuffered() bool {
	for _, tk := range t.tasks {
		if tk.buffered() > 0 {
			return true
		}
	}
	return false
}

func (t *thread) pauseBuffered() {
	add := map[string][]int32{}
	for _, tk := range t.tasks {
		for _, q := range tk.queues {
			if q.size() == 0 || containsPartition(t.paused[q.topic], q.partition) {
				continue
			}
			add[q.topic] = append(add[q.topic], q.partition)
		}
	}
	if len(add) == 0 {
		return
	}
	if t.paused == nil {
		t.paused = map[string][]int32{}
	}
	for topic, ps := range add {
		t.paused[topic] = append(t.paused[topic], ps...)
	}
	t.cl.PauseFetchPartitions(add)
}

func containsPartition(ps []int32, p int32) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

func (t *thread) queue(topic string, p int32) *recordQueue {
	sub, ok := t.app.topicSub[topic]
	if !ok {
		return nil
	}
	tk := t.tasks[TaskID{sub, p}]
	if tk == nil {
		return nil
	}
	return tk.byTopic[topic]
}

func (t *thread) processAll(now time.Time, force bool) error {
	for _, tk := range t.tasks {
		if tk.state != nil && tk.state.restoring > 0 {
			continue // its input is paused until its stores are restored
		}
		for {
			ok, err := tk.processOne(now, force)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
		}
	}
	return nil
}

func (t *thread) commitDue(now time.Time) bool {
	if now.Sub(t.lastCommit) >= t.cfg.commitInterval {
		return true
	}
	for _, tk := range t.tasks {
		if tk.commitRequested {
			return true
		}
	}
	return false
}

// commit makes the processed input and everything it produced durable.
//
// at_least_once: flush the producer (every output acknowledged), then
// commit the next offset of every processed record.
//
// exactly_once_v2: process what is still buffered (the transaction
// commits the offsets of everything polled), then end the transaction:
// the session flushes, adds the offsets to the transaction and commits it,
// or aborts if the group rebalanced meanwhile, in which case the consumer
// is rewound to the committed offsets and the buffers are dropped.
func (t *thread) commit(context.Context) error {
	// Not the run context: cancelling Run must not break a commit half way.
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	start := time.Now()
	for _, tk := range t.tasks {
		tk.commitRequested = false
	}
	if t.eos {
		if err := t.processAll(start, true); err != nil {
			return err
		}
		if err := t.flushCaches(t.tasks); err != nil {
			return err
		}
		if err := t.app.state.fatal(); err != nil {
			return err
		}
		if !t.txnDirty {
			// Nothing polled or produced since the last commit: an empty
			// End would only cost time (franz-go holds back rebalances for
			// 500 ms after a commit without offsets).
			t.lastCommit = time.Now()
			return nil
		}
		t.syncOut()
		committed, err := t.sess.End(kgo.PreTxnCommitFnContext(ctx, withTxnPartitionTimes(t.tasks)), kgo.TryCommit)
		t.txnDirty = false
		if err != nil {
			return fmt.Errorf("core: %s: commit transaction: %w", t.name, err)
		}
		if err := t.app.state.fatal(); err != nil {
			return err
		}
		if err := t.afterTransaction(committed); err != nil {
			return err
		}
		t.committed(start, committed)
		if err := t.sess.Begin(); err != nil {
			return fmt.Errorf("core: %s: begin transaction: %w", t.name, err)
		}
	} else {
		if err := t.commitAtLeastOnce(ctx, t.tasks); err != nil {
			return err
		}
		t.committed(start, true)
	}
	t.lastCommit = time.Now()
	return nil
}

// flushCaches flushes the record caches of tasks (forwarding their
// updates) ahead of a commit.
func (t *thread) flushCaches(tasks map[TaskID]*task) error {
	for _, tk := range tasks {
		if tk.state == nil || tk.state.restoring > 0 {
			continue
		}
		if err := tk.state.flushCaches(); err != nil {
			return fmt.Errorf("core: flush record cache of task %s: %w", tk.id, err)
		}
	}
	return nil
}

// afterTransaction makes the stores follow the transaction's outcome: their
// writes become durable (with the changelog offsets) only once the Kafka
// transaction committed, and are dropped when it aborted.
func (t *thread) afterTransaction(committed bool) error {
	if !committed {
		t.env.log.Info("sluice: transaction aborted after a rebalance; reviving the tasks to re-process from the committed offsets")
		for _, tk := range t.tasks {
			if tk.state != nil {
				if err := tk.state.abort(); err != nil {
					return err
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		defer cancel()
		return t.reviveTasks(ctx)
	}
	for _, tk := range t.tasks {
		if tk.state == nil || tk.state.restoring > 0 {
			continue
		}
		if err := tk.state.commit(); err != nil {
			return err
		}
	}
	return nil
}

// committed accounts for one commit (or aborted transaction) that began at
// start.
func (t *thread) committed(start time.Time, ok bool) {
	if !ok {
		t.app.stats.aborted.Add(1)
		return
	}
	lat := time.Since(start)
	t.app.stats.commits.Add(1)
	t.app.stats.lastCommitNanos.Store(int64(lat))
	if m := t.cfg.metrics; m != nil {
		m.Counter("commits_total", 1, Label{"thread", t.name})
		m.Histogram("commit_latency_seconds", lat.Seconds(), Label{"thread", t.name})
	}
}

func (t *thread) commitAtLeastOnce(ctx context.Context, tasks map[TaskID]*task) error {
	if err := t.flushCaches(tasks); err != nil {
		return err
	}
	t.syncOut()
	if err := t.cl.Flush(ctx); err != nil {
		return fmt.Errorf("core: %s: flush producer: %w", t.name, err)
	}
	if err := t.app.state.fatal(); err != nil {
		return err // a record was not produced: commit nothing past it
	}
	// Stores first: their writes and changelog offsets are acknowledged;
	// a crash before the input offsets only repeats input.
	for _, tk := range tasks {
		if tk.state != nil && tk.state.restoring == 0 {
			if err := tk.state.commit(); err != nil {
				return err
			}
		}
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for _, tk := range tasks {
		tk.offsets(offsets)
	}
	if len(offsets) == 0 {
		return nil
	}
	var commitErr error
	ctx = kgo.PreCommitFnContext(ctx, withPartitionTimes(tasks))
	t.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			commitErr = err
			return
		}
		for _, topic := range resp.Topics {
			for _, p := range topic.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil && commitErr == nil {
					commitErr = fmt.Errorf("%s[%d]: %w", topic.Topic, p.Partition, err)
				}
			}
		}
	})
	if commitErr != nil {
		if errors.Is(commitErr, kerr.RebalanceInProgress) || errors.Is(commitErr, kerr.IllegalGeneration) || errors.Is(commitErr, kerr.UnknownMemberID) {
			// The partitions moved; their new owner resumes from the last
			// commit and may repeat some output (at-least-once).
			t.env.log.Info("sluice: offset commit skipped during a rebalance", "err", commitErr)
			return nil
		}
		return fmt.Errorf("core: %s: commit offsets: %w", t.name, commitErr)
	}
	return nil
}

// partitionTimes encodes the metadata to commit with the offsets of the
// tasks' input partitions. It is computed before the commit is issued:
// franz-go calls the pre-commit functions on its own goroutines.
func partitionTimes(tasks map[TaskID]*task) map[string]map[int32]string {
	meta := map[string]map[int32]string{}
	for _, tk := range tasks {
		tk.offsetMetadata(meta)
	}
	return meta
}

// withPartitionTimes returns the kgo.PreCommitFnContext function that
// commits each partition's time with its offset, in place of the member id
// franz-go commits by default.
func withPartitionTimes(tasks map[TaskID]*task) func(*kmsg.OffsetCommitRequest) error {
	meta := partitionTimes(tasks)
	return func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			rt := &req.Topics[i]
			for j := range rt.Partitions {
				if m, ok := meta[rt.Topic][rt.Partitions[j].Partition]; ok {
					rt.Partitions[j].Metadata = &m
				}
			}
		}
		return nil
	}
}

// withTxnPartitionTimes is withPartitionTimes for the transactional offset
// commit of GroupTransactSession.End (kgo.PreTxnCommitFnContext).
func withTxnPartitionTimes(tasks map[TaskID]*task) func(*kmsg.TxnOffsetCommitRequest) error {
	meta := partitionTimes(tasks)
	return func(req *kmsg.TxnOffsetCommitRequest) error {
		for i := range req.Topics {
			rt := &req.Topics[i]
			for j := range rt.Partitions {
				if m, ok := meta[rt.Topic][rt.Partitions[j].Partition]; ok {
					rt.Partitions[j].Metadata = &m
				}
			}
		}
		return nil
	}
}

// report publishes counters (per poll, not per record): it drains the
// tasks' counters into the application's totals. now is the step's clock.
func (t *thread) report(now time.Time) {
	var dc, dp, dd, lag int64
	for _, tk := range t.tasks {
		dc += tk.consumed
		dp += tk.produced
		dd += tk.dropped
		tk.consumed, tk.produced, tk.dropped = 0, 0, 0
		for _, q := range tk.queues {
			if l := q.lag(); l > 0 {
				lag += l
			}
			lag += int64(q.size())
		}
	}
	st := &t.app.stats
	st.consumed.Add(dc)
	st.produced.Add(dp)
	st.dropped.Add(dd)
	st.lag.Store(lag)
	m := t.cfg.metrics
	if m == nil {
		return
	}
	t.series.bind(m, t.name)
	if dc != 0 || dp != 0 || dd != 0 {
		t.series.consumed(dc)
		t.series.produced(dp)
		t.series.dropped(dd)
	}
	for _, tk := range t.tasks {
		for _, q := range tk.queues {
			if c := q.keyCheck; c != nil && c.misrouted > 0 {
				q.series(m).misrouted(c.misrouted)
				c.misrouted = 0
			}
			if l := q.lag(); l >= 0 {
				q.series(m).lag(float64(l + int64(q.size())))
			}
		}
	}
	if m := t.cfg.recording(RecordingLevelInfo); m != nil && now.Sub(t.lastE2E) >= e2eReportEvery {
		t.lastE2E = now
		for _, tk := range t.tasks {
			tk.reportE2E(m)
		}
	}
}

// ---- rebalance callbacks (run while the loop is blocked in poll) ----

func (t *thread) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.app.stats.rebalances.Add(1)
	t.createTasks(ctx, assigned, "assigned")
}

// createTasks creates the tasks of newly owned partitions: nodes,
// processors, stores (restores started, input paused meanwhile), idle-rule
// lags. Runs with mu held, before the partitions' input is polled.
func (t *thread) createTasks(ctx context.Context, assigned map[string][]int32, why string) {
	defer t.publishTasks()
	var topics []string
	for topic := range assigned {
		if _, ok := t.app.topicSub[topic]; ok {
			topics = append(topics, topic)
		}
	}
	committed := t.fetchCommitted(ctx, topics)
	var created []*task
	for topic, parts := range assigned {
		sub, ok := t.app.topicSub[topic]
		if !ok {
			continue
		}
		for _, p := range parts {
			id := TaskID{sub, p}
			if t.tasks[id] != nil {
				continue
			}
			tk, err := newTask(t.env, t.app.subs[sub], t.app.topo, p, func(topic string) bool {
				n, err := t.app.partitionCount(topic)
				return err == nil && p < n
			}, committed.metaOf(p))
			if err != nil {
				t.err = err
				return
			}
			t.tasks[id] = tk
			created = append(created, tk)
		}
	}
	t.initLags(ctx, created, committed.offsets)
	for attempt := 0; ; attempt++ {
		err := t.startRestores(ctx, created)
		var stale *staleStateError
		if err == nil {
			break
		}
		if !errors.As(err, &stale) || attempt > len(created) {
			t.err = err
			return
		}
		// Wipe the stale task's state and create it again.
		tk := t.tasks[stale.task]
		t.closeTasks(map[TaskID]*task{stale.task: tk}, "stale local state")
		if err := os.RemoveAll(filepath.Join(t.cfg.stateDir, t.cfg.appID, stale.task.String())); err != nil {
			t.err = fmt.Errorf("core: wipe state of task %s: %w", stale.task, err)
			return
		}
		fresh, err := newTask(t.env, tk.sub, t.app.topo, stale.task.Partition, func(topic string) bool {
			n, err := t.app.partitionCount(topic)
			return err == nil && stale.task.Partition < n
		}, committed.metaOf(stale.task.Partition))
		if err != nil {
			t.err = err
			return
		}
		t.tasks[stale.task] = fresh
		t.app.stats.tasks.Add(1)
		for i, c := range created {
			if c == tk {
				created[i] = fresh
			}
		}
		t.initLags(ctx, []*task{fresh}, committed.offsets)
	}
	for _, tk := range created {
		if tk.state != nil && tk.state.restoring == 0 {
			t.app.queryable.add(tk)
		}
	}
	t.app.stats.tasks.Add(int64(len(created)))
	if len(created) > 0 {
		ids := make([]string, len(created))
		for i, tk := range created {
			ids[i] = tk.id.String()
		}
		t.env.log.Info("sluice: tasks "+why, "tasks", ids)
	}
}

// reviveTasks closes and re-creates every task after an aborted
// transaction, as Kafka Streams revives corrupted tasks: the consumer was
// rewound to the committed offsets, stores reopen at their committed
// checkpoints, and processors start from a fresh Init, so nothing they kept
// in memory from the aborted records (a window's observed stream time, for
// example) survives into the re-processing.
func (t *thread) reviveTasks(ctx context.Context) error {
	if len(t.tasks) == 0 {
		return nil
	}
	parts := map[string][]int32{}
	for _, tk := range t.tasks {
		for _, q := range tk.queues {
			parts[q.topic] = append(parts[q.topic], q.partition)
		}
	}
	t.closeTasks(t.tasks, "transaction aborted")
	t.createTasks(ctx, parts, "revived")
	return t.err
}

// committedOffsets are the group's committed offsets of some topics, read
// when their partitions are assigned, with the decoded metadata of each.
type committedOffsets struct {
	offsets kadm.OffsetResponses // nil when the fetch failed
	meta    map[string]map[int32]offsetMeta
}

// metaOf returns newTask's committed lookup for partition p.
func (c committedOffsets) metaOf(p int32) func(topic string) (offsetMeta, bool) {
	return func(topic string) (offsetMeta, bool) {
		md, ok := c.meta[topic][p]
		return md, ok
	}
}

// unstableWait bounds how long fetchCommitted waits for pending
// transactional offset commits (another member's open transaction) to
// resolve; the transaction timeout resolves a dead member's.
const unstableWait = 30 * time.Second

// fetchCommitted reads the group's committed offsets of topics and decodes
// the partition times committed with them. Under exactly_once_v2 the read
// waits for pending transactional commits (KIP-447's stable offsets), as
// the consumer's own position does, so the times belong to the offsets the
// consumer resumes from. Metadata that is not Kafka Streams' format (such
// as the member id franz-go commits by default) is ignored with a debug
// log; a failed fetch is logged, and the tasks start without partition
// times (as before any commit).
func (t *thread) fetchCommitted(ctx context.Context, topics []string) committedOffsets {
	var c committedOffsets
	if len(topics) == 0 {
		return c
	}
	fetchCtx := ctx
	if t.eos {
		fetchCtx = kadm.RequireStable(ctx)
	}
	deadline := time.Now().Add(unstableWait)
	for {
		offsets, err := t.adm.FetchOffsetsForTopics(fetchCtx, t.cfg.appID, topics...)
		if err == nil {
			offsets.Each(func(o kadm.OffsetResponse) {
				if err == nil && errors.Is(o.Err, kerr.UnstableOffsetCommit) {
					err = o.Err
				}
			})
		}
		if err == nil {
			c.offsets = offsets
			break
		}
		if !errors.Is(err, kerr.UnstableOffsetCommit) || time.Now().After(deadline) || ctx.Err() != nil {
			t.env.log.Warn("sluice: fetch committed offsets; the tasks start without their committed partition times", "topics", topics, "err", err)
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.meta = map[string]map[int32]offsetMeta{}
	c.offsets.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil || o.At < 0 {
			return
		}
		md, err := decodeOffsetMeta(o.Metadata)
		if err != nil {
			t.env.log.Debug("sluice: ignoring committed offset metadata that is not a partition time", "topic", o.Topic, "partition", o.Partition, "err", err)
			return
		}
		m := c.meta[o.Topic]
		if m == nil {
			m = map[int32]offsetMeta{}
			c.meta[o.Topic] = m
		}
		m[o.Partition] = md
		if md.partitionTime != unknownTime {
			t.env.log.Debug("sluice: resuming partition time from the committed offset", "topic", o.Topic, "partition", o.Partition, "partition_time", md.partitionTime)
		}
	})
	return c
}

// initLags seeds the idle rules with each new partition's end offset and
// committed position, so that a task waits for data known to be on the
// broker before processing its other partitions out of order. committed
// are the group's committed offsets (nil: unknown).
func (t *thread) initLags(ctx context.Context, tasks []*task, committed kadm.OffsetResponses) {
	if len(tasks) == 0 {
		return
	}
	var topics []string
	seen := map[string]bool{}
	for _, tk := range tasks {
		for _, q := range tk.queues {
			if !seen[q.topic] {
				seen[q.topic] = true
				topics = append(topics, q.topic)
			}
		}
	}
	var ends kadm.ListedOffsets
	var err error
	if t.eos {
		ends, err = t.adm.ListCommittedOffsets(ctx, topics...)
	} else {
		ends, err = t.adm.ListEndOffsets(ctx, topics...)
	}
	if err != nil {
		return // lags stay unknown; the idle rules fall back to the wait cap
	}
	starts, err := t.adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return
	}
	for _, tk := range tasks {
		for _, q := range tk.queues {
			end, ok := ends.Lookup(q.topic, q.partition)
			if !ok || end.Err != nil {
				continue
			}
			pos := int64(-1)
			if c, ok := committed.Lookup(q.topic, q.partition); ok && c.Err == nil && c.At >= 0 {
				pos = c.At
			} else if s, ok := starts.Lookup(q.topic, q.partition); ok && s.Err == nil {
				pos = s.Offset
			}
			if pos >= 0 {
				q.end, q.position = end.Offset, pos
			}
		}
	}
}

func (t *thread) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	gone := t.tasksOf(revoked)
	if len(gone) == 0 {
		return
	}
	if !t.eos && t.err == nil && t.app.state.fatal() == nil {
		// Commit what was processed before handing the partitions over.
		if err := t.commitAtLeastOnce(ctx, gone); err != nil {
			t.env.log.Warn("sluice: commit on revoke failed", "err", err)
		}
	}
	// Under exactly_once_v2 the session aborts the open transaction at the
	// next End; the new owner re-processes from the last commit.
	t.closeTasks(gone, "revoked")
}

func (t *thread) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeTasks(t.tasksOf(lost), "lost")
}

func (t *thread) tasksOf(parts map[string][]int32) map[TaskID]*task {
	out := map[TaskID]*task{}
	for topic, ps := range parts {
		sub, ok := t.app.topicSub[topic]
		if !ok {
			continue
		}
		for _, p := range ps {
			id := TaskID{sub, p}
			if tk := t.tasks[id]; tk != nil {
				out[id] = tk
			}
		}
	}
	return out
}

func (t *thread) closeTasks(tasks map[TaskID]*task, why string) {
	t.report(time.Now())
	n := len(tasks) // tasks may be t.tasks itself, emptied below
	ids := make([]string, 0, n)
	for id, tk := range tasks {
		t.app.queryable.remove(tk)
		t.stopRestores(tk)
		if err := tk.close(); err != nil {
			t.env.log.Warn("sluice: closing task", "task", id, "err", err)
		}
		delete(t.tasks, id)
		ids = append(ids, id.String())
	}
	t.app.stats.tasks.Add(-int64(n))
	t.publishTasks()
	if len(ids) > 0 {
		t.env.log.Info("sluice: tasks closed", "tasks", ids, "why", why)
	}
}

// shutdown finishes in-flight work and commits when clean, closes the
// tasks, and leaves the group by closing the client.
func (t *thread) shutdown(clean bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.mu.Lock()
	if clean && t.err == nil {
		if t.eos {
			err := t.processAll(time.Now(), true)
			if err == nil {
				err = t.flushCaches(t.tasks)
			}
			t.syncOut()
			switch {
			case err != nil || t.app.state.fatal() != nil:
				_, _ = t.sess.End(ctx, kgo.TryAbort)
			case !t.txnDirty:
				// Nothing since the last commit: ending with an abort costs
				// nothing, a commit without offsets stalls 500 ms in franz-go.
				_, _ = t.sess.End(ctx, kgo.TryAbort)
			default:
				start := time.Now()
				ok, err := t.sess.End(kgo.PreTxnCommitFnContext(ctx, withTxnPartitionTimes(t.tasks)), kgo.TryCommit)
				if err == nil {
					err = t.afterTransaction(ok)
				}
				if err != nil {
					t.env.log.Warn("sluice: final commit failed", "err", err)
				} else {
					t.committed(start, ok)
				}
			}
		} else {
			if err := t.processAll(time.Now(), true); err == nil {
				start := time.Now()
				if err := t.commitAtLeastOnce(ctx, t.tasks); err != nil {
					t.env.log.Warn("sluice: final commit failed", "err", err)
				} else {
					t.committed(start, true)
				}
			}
		}
	} else {
		// Stopping on an error: nothing past it is committed, so what the
		// sender has not produced yet is dropped.
		if t.out != nil {
			t.out.drop()
		}
		if t.eos {
			_, _ = t.sess.End(ctx, kgo.TryAbort)
		}
	}
	t.closeTasks(t.tasks, "shutdown")
	if t.restoreCl != nil {
		t.restoreCl.Close()
	}
	t.mu.Unlock()
	t.cl.AllowRebalance()
	// Closing leaves the group for dynamic members. franz-go keeps static
	// members in the group on close (their partitions wait for the session
	// timeout); remove this one explicitly so its tasks move now.
	if clean && t.instanceID != "" && t.cfg.leaveOnClose {
		resp, err := t.adm.LeaveGroup(ctx, kadm.LeaveGroup(t.cfg.appID).InstanceIDs(t.instanceID).Reason("sluice: graceful shutdown"))
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.env.log.Warn("sluice: leave group", "instance", t.instanceID, "err", err)
		}
	}
	if t.sess != nil {
		t.sess.Close()
	} else {
		t.cl.Close()
	}
	// After the client's close: a Produce blocked on a full buffer (a
	// broker gone) returns then, so this never waits for the network.
	t.mu.Lock()
	out := t.out
	t.out = nil
	t.mu.Unlock()
	if out != nil {
		out.close()
	}
}
