package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

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

// fetchMaxWait is how long the broker may hold a fetch that finds no data:
// Kafka's fetch.max.wait.ms default, 500 ms, not franz-go's 5 s. A
// partition newly assigned to a consumer (a task that moved in a
// rebalance, a standby's changelog) is fetched only from the next fetch
// request, after the one in flight returned: with 5 s, a task taken over
// after a crash waited up to 5 s more for its input, standby or not
// (BenchmarkFailoverSigkill: 10 s from SIGKILL to output with a 6 s session
// timeout and a standby at the changelog end). The stream threads and the
// changelog readers (restore, standby) use it; WithKafkaOptions(kgo.FetchMaxWait(d))
// overrides.
const fetchMaxWait = 500 * time.Millisecond

func newThread(app *App, idx int) (*thread, error) {
	cfg := app.cfg
	t := &thread{app: app, cfg: cfg, idx: idx, eos: cfg.guarantee == ExactlyOnceV2, tasks: map[TaskID]*task{}}
	t.name = cfg.appID + "-StreamThread-" + strconv.Itoa(idx+1)
	t.env = &taskEnv{appID: cfg.appID, cfg: cfg, now: time.Now, resolveTopic: app.resolveTopic, out: t, log: cfg.log.With("thread", t.name),
		openEngine: app.openEngine, cache: &cacheBudget{max: cfg.cacheMaxBytes / cfg.threads}, globals: app.globals,
		records: &recordPool{}, fail: app.state.fail}

	// The memory settings and the fetch wait come first so that
	// WithKafkaOptions can override them with franz-go's own options.
	opts := []kgo.Opt{kgo.FetchMaxBytes(cfg.fetchMaxBytes), kgo.FetchMaxPartitionBytes(cfg.partitionFetchBytes),
		kgo.MaxBufferedRecords(cfg.maxBufferedRecords), kgo.FetchMaxWait(fetchMaxWait)}
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

// errSimulatedCrash stops a thread as a crash would (App.simulateCrash,
// tests only).
var errSimulatedCrash = errors.New("core: simulated crash")

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
		if t.app.simulateCrash.Load() {
			return errSimulatedCrash
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
		// The probing rebalance after warm-up replicas were assigned
		// (assignor.go): one thread of the leader's instance rejoins.
		if at := t.app.balancer.probeAt.Load(); at != 0 && time.Now().UnixNano() >= at && t.app.balancer.probeAt.CompareAndSwap(at, 0) {
			log.Info("sluice: probing rebalance: checking whether warm-up replicas caught up")
			t.cl.ForceRebalance()
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
