package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// standbyRunner runs the instance's standby tasks (Kafka Streams'
// StandbyTask): for each task the group's task map lists as a standby of
// this instance, it opens the task's stores (no processors, no input) and
// keeps them current by reading the task's changelogs with its own
// consumer (read_committed under exactly_once_v2), committing the stores
// with their checkpoints every commit interval. It never produces.
//
// One runner per App, on its own goroutine (run). It owns its standby
// tasks, their engines and its consumer; mu guards them against the stream
// threads, which call release when they create an active task (the
// standby's store is committed and closed first, so the active reopens it
// and restores only the tail since the standby's checkpoint) and unclaim
// when they close one (the store may then become a standby, which keeps
// it instead of letting the state directory cleaner remove it). Lock
// order: thread.mu before standbyRunner.mu; the runner takes no other lock
// while holding it (stateDirs.mu is taken inside, as by the threads).
//
// Its stores are published to stale queries (WithStaleStores) in the
// App's storeRegistry while they are open: registered after they opened,
// unregistered in closeTask before they close. Queries read them through
// the engines' read-only views, which see only what save committed and
// stay safe to call after the close (storeRegistry explains why no
// reference counting is needed); the lag they report is the changelogs'
// queryPos (set after each commit) and queryEnd (the end offsets the
// runner lists when a task opens and then learns from its fetches).
//
// It also remembers the checkpoint offset sums of task states left on
// disk by closed tasks, which the instance reports in its subscription so
// that the leader can place tasks where their state is (assignor.go).
type standbyRunner struct {
	app *App
	env *taskEnv

	mu       sync.Mutex
	tasks    map[TaskID]*task      // standby tasks: stores only
	byKey    map[string]*changelog // "topic/partition" -> changelog of a standby task
	claimed  map[TaskID]int        // tasks a local stream thread runs as active
	retryAt  map[TaskID]time.Time  // standby tasks that failed to open or apply
	onDisk   map[TaskID]int64      // checkpoint offset sums of closed tasks' persistent state
	cl       *kgo.Client           // the changelog consumer, created with its first partitions
	lastSave time.Time
	endsAt   time.Time // run's goroutine only: when learnEnds may list again after a failure
	closed   bool
}

// standbyRetry is how long a standby task that failed waits before the
// runner opens it again.
const standbyRetry = time.Second

// standbyPollWait bounds the runner's changelog poll, so that assignment
// changes are picked up promptly.
const standbyPollWait = 100 * time.Millisecond

func newStandbyRunner(a *App) *standbyRunner {
	env := &taskEnv{appID: a.cfg.appID, cfg: a.cfg, now: time.Now, resolveTopic: a.resolveTopic,
		log: a.cfg.log.With("thread", a.cfg.appID+"-standby"), openEngine: a.openEngine,
		cache: &cacheBudget{}, globals: a.globals, records: &recordPool{}, fail: a.state.fail}
	return &standbyRunner{app: a, env: env, tasks: map[TaskID]*task{}, byKey: map[string]*changelog{},
		claimed: map[TaskID]int{}, retryAt: map[TaskID]time.Time{}, onDisk: map[TaskID]int64{}}
}

// run keeps the standby tasks in line with the task map and current with
// their changelogs until ctx ends; then it commits and closes them.
func (r *standbyRunner) run(ctx context.Context) {
	defer r.close()
	for ctx.Err() == nil {
		r.mu.Lock()
		r.reconcile()
		cl := r.cl
		r.mu.Unlock()
		if cl == nil {
			select {
			case <-ctx.Done():
			case <-time.After(standbyPollWait):
			}
			continue
		}
		r.learnEnds(ctx)
		pollCtx, cancel := context.WithTimeout(ctx, standbyPollWait)
		fetches := cl.PollFetches(pollCtx)
		cancel()
		r.mu.Lock()
		r.apply(fetches)
		if time.Since(r.lastSave) >= r.app.cfg.commitInterval {
			r.saveAll()
		}
		r.mu.Unlock()
	}
}

// wanted returns the standby tasks the latest task map gives this
// instance.
func (r *standbyRunner) wanted() map[TaskID]bool {
	out := map[TaskID]bool{}
	info := r.app.balancer.latest.Load()
	if info == nil {
		return out
	}
	if h := info.host(r.app.process); h != nil {
		for _, id := range h.standby {
			out[id] = true
		}
	}
	return out
}

// reconcile closes the standby tasks the task map no longer lists here
// (or that a local thread now runs as active) and opens the new ones.
// Runs with mu held.
func (r *standbyRunner) reconcile() {
	if r.closed {
		return
	}
	want := r.wanted()
	for id, tk := range r.tasks {
		if !want[id] || r.claimed[id] > 0 {
			r.closeTask(tk, "no longer a standby of this instance")
		}
	}
	var opened []*task
	now := time.Now()
	for id := range want {
		if r.tasks[id] != nil || r.claimed[id] > 0 || now.Before(r.retryAt[id]) {
			continue
		}
		if id.Subtopology < 0 || id.Subtopology >= len(r.app.subs) {
			continue
		}
		tk := &task{id: id, env: r.env, sub: r.app.subs[id.Subtopology], streamTime: unknownTime, recordTime: unknownTime}
		if err := tk.openState(r.app.topo); err != nil {
			r.env.log.Warn("sluice: open standby task; retrying", "task", id, "err", err)
			r.retryAt[id] = now.Add(standbyRetry)
			if tk.state != nil {
				_ = tk.state.close()
			}
			continue
		}
		if tk.state == nil || len(tk.state.changelogs) == 0 {
			if tk.state != nil {
				_ = tk.state.close()
			}
			continue // nothing to keep current
		}
		r.tasks[id] = tk
		delete(r.onDisk, id)
		delete(r.retryAt, id)
		opened = append(opened, tk)
		r.app.queryable.addStale(tk, true)
	}
	if len(opened) == 0 {
		return
	}
	add := map[string]map[int32]kgo.Offset{}
	ids := make([]string, 0, len(opened))
	for _, tk := range opened {
		ids = append(ids, tk.id.String())
		for _, cl := range tk.state.changelogs {
			from := kgo.NewOffset().AtStart()
			cl.restorePos = 0
			if cl.restoreFrom >= 0 {
				from = kgo.NewOffset().At(cl.restoreFrom)
				cl.restorePos = cl.restoreFrom
			}
			cl.restored = 0
			if add[cl.topic] == nil {
				add[cl.topic] = map[int32]kgo.Offset{}
			}
			add[cl.topic][cl.partition] = from
			r.byKey[cl.key] = cl
		}
	}
	sort.Strings(ids)
	r.env.log.Info("sluice: standby tasks opened", "tasks", ids)
	if r.cl != nil {
		r.cl.AddConsumePartitions(add)
		return
	}
	cl, err := kgo.NewClient(changelogReaderOpts(r.app.cfg, r.app.cfg.appID+"-standby", add, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		r.env.log.Warn("sluice: standby changelog consumer; retrying", "err", err)
		for _, tk := range opened {
			r.closeTask(tk, "no changelog consumer")
			r.retryAt[tk.id] = now.Add(standbyRetry)
		}
		return
	}
	r.cl = cl
}

// apply writes fetched changelog records into the standby stores. Runs
// with mu held.
func (r *standbyRunner) apply(fetches kgo.Fetches) {
	fetches.EachError(func(topic string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		r.env.log.Warn("sluice: standby changelog fetch", "topic", topic, "partition", p, "err", err)
	})
	var failed []*task
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		cl := r.byKey[fp.Topic+"/"+itoa(int(fp.Partition))]
		if cl == nil {
			return // closed meanwhile
		}
		if fp.Err == nil {
			end := fp.HighWatermark
			if r.app.cfg.guarantee == ExactlyOnceV2 {
				end = fp.LastStableOffset // read_committed reads up to here
			}
			if end >= 0 {
				cl.queryEnd.Store(end)
			}
		}
		if len(fp.Records) == 0 {
			return
		}
		for _, rec := range fp.Records {
			if rec.Offset < cl.restorePos {
				continue // fetched before a re-open
			}
			if !rec.Attrs.IsControl() {
				if err := cl.apply(rec); err != nil {
					r.env.log.Warn("sluice: standby apply; reopening the standby task", "store", cl.store, "topic", cl.topic,
						"partition", cl.partition, "offset", rec.Offset, "err", err)
					if tk := r.taskOf(cl); tk != nil {
						failed = append(failed, tk)
					}
					return
				}
				cl.restored++
			}
			cl.restorePos = rec.Offset + 1
		}
		if cl.restored >= restoreCommitEvery {
			if tk := r.taskOf(cl); tk != nil {
				if err := r.save(tk); err != nil {
					failed = append(failed, tk)
				}
			}
		}
	})
	for _, tk := range failed {
		if r.tasks[tk.id] == tk {
			r.closeTask(tk, "failed")
			r.retryAt[tk.id] = time.Now().Add(standbyRetry)
		}
	}
}

func (r *standbyRunner) taskOf(cl *changelog) *task {
	for _, tk := range r.tasks {
		if tk.id.Partition != cl.partition {
			continue
		}
		for _, c := range tk.state.changelogs {
			if c == cl {
				return tk
			}
		}
	}
	return nil
}

// save commits a standby task's stores with their changelog positions as
// checkpoints: the standby's own checkpoints, which the active task
// starts from when the task is promoted here.
func (r *standbyRunner) save(tk *task) error {
	dirty := false
	cps := map[any]map[string]int64{}
	for _, cl := range tk.state.changelogs {
		if cl.restored > 0 || cl.restorePos != cl.restoreFrom {
			dirty = true
		}
		m := cps[cl.engine]
		if m == nil {
			m = map[string]int64{}
			cps[cl.engine] = m
		}
		m[cl.key] = cl.restorePos
	}
	if !dirty {
		return nil
	}
	for _, e := range tk.state.engines() {
		if err := e.Commit(cps[e]); err != nil {
			return fmt.Errorf("core: checkpoint standby task %s: %w", tk.id, err)
		}
	}
	for _, cl := range tk.state.changelogs {
		cl.restored = 0
		cl.restoreFrom = cl.restorePos
		cl.queryPos.Store(cl.restorePos)
	}
	return nil
}

func (r *standbyRunner) saveAll() {
	r.lastSave = time.Now()
	for _, tk := range r.tasks {
		if err := r.save(tk); err != nil {
			r.env.log.Warn("sluice: checkpoint standby task", "task", tk.id, "err", err)
		}
	}
}

// closeTask commits and closes a standby task, stops reading its
// changelogs and remembers its checkpoints. Runs with mu held.
func (r *standbyRunner) closeTask(tk *task, why string) {
	r.app.queryable.remove(tk) // before the engines close
	err := r.save(tk)
	remove := map[string][]int32{}
	for _, cl := range tk.state.changelogs {
		if r.byKey[cl.key] == cl {
			delete(r.byKey, cl.key)
			remove[cl.topic] = append(remove[cl.topic], cl.partition)
		}
	}
	if r.cl != nil && len(remove) > 0 {
		r.cl.RemoveConsumePartitions(remove)
	}
	if err == nil {
		if sum, ok := persistentOffsetSum(tk.state); ok {
			r.onDisk[tk.id] = sum
		}
	}
	if cerr := tk.close(); cerr != nil && err == nil {
		err = cerr
	}
	delete(r.tasks, tk.id)
	if err != nil {
		r.env.log.Warn("sluice: closing standby task", "task", tk.id, "err", err)
	}
	r.env.log.Info("sluice: standby task closed", "task", tk.id, "why", why)
}

// learnEnds lists the changelog end offsets of the standby stores whose
// end is not known yet (just opened), for the lag that stale queries
// report; later the fetches keep them current. The listing runs without
// mu: it only stores into the changelogs' atomics, harmless on a task
// closed meanwhile. A failed listing is retried after standbyRetry.
func (r *standbyRunner) learnEnds(ctx context.Context) {
	if time.Now().Before(r.endsAt) {
		return
	}
	r.mu.Lock()
	var unknown []*changelog
	topics := map[string]bool{}
	for _, tk := range r.tasks {
		for _, cl := range tk.state.changelogs {
			if cl.queryEnd.Load() < 0 {
				unknown = append(unknown, cl)
				topics[cl.topic] = true
			}
		}
	}
	r.mu.Unlock()
	if len(unknown) == 0 || r.app.admin == nil {
		return
	}
	names := make([]string, 0, len(topics))
	for topic := range topics {
		names = append(names, topic)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ends, err := r.app.listChangelogEnds(ctx, names)
	if err != nil {
		r.env.log.Debug("sluice: list standby changelog ends; retrying", "err", err)
		r.endsAt = time.Now().Add(standbyRetry)
		return
	}
	for _, cl := range unknown {
		if end, ok := ends.Lookup(cl.topic, cl.partition); ok && end.Err == nil {
			cl.queryEnd.CompareAndSwap(-1, end.Offset) // unless a fetch told it first
		}
	}
}

// release is called by a stream thread creating task id as active (with
// its mu held): a standby of the task is committed and closed so that the
// active reopens its store and restores only the tail, and the task is
// not opened as a standby while the thread runs it.
func (r *standbyRunner) release(id TaskID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.claimed[id]++
	if tk := r.tasks[id]; tk != nil {
		r.closeTask(tk, "promoted to active")
	}
}

// unclaim is called by a stream thread that closed its active task id;
// sum is the checkpoint offset sum of its persistent state (ok false: no
// persistent state left on disk).
func (r *standbyRunner) unclaim(id TaskID, sum int64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.claimed[id]--; r.claimed[id] <= 0 {
		delete(r.claimed, id)
	}
	if ok {
		r.onDisk[id] = sum
	}
}

// offsetSums adds the offset sums of the standby tasks (their positions)
// and of closed tasks whose state directory is still on disk.
func (r *standbyRunner) offsetSums(into map[TaskID]int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, sum := range r.onDisk {
		if _, err := os.Stat(filepath.Join(r.app.cfg.stateDir, r.app.cfg.appID, id.String())); err != nil {
			delete(r.onDisk, id) // removed by the state directory cleaner
			continue
		}
		into[id] = sum
	}
	for id, tk := range r.tasks {
		var sum int64
		for _, cl := range tk.state.changelogs {
			sum += max(cl.restorePos, 0)
		}
		into[id] = sum
	}
}

// close commits and closes every standby task and the consumer.
func (r *standbyRunner) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, tk := range r.tasks {
		r.closeTask(tk, "shutdown")
	}
	if r.cl != nil {
		r.cl.Close()
		r.cl = nil
	}
}

// scanLocalState reads the checkpoints of the task state directories a
// previous run of this instance left (Kafka Streams reads its tasks'
// .checkpoint files at start for the same purpose), so that the first
// subscription already reports where local state is. A directory that
// cannot be opened (locked by another process) is skipped.
func (r *standbyRunner) scanLocalState() {
	root := filepath.Join(r.app.cfg.stateDir, r.app.cfg.appID)
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, en := range entries {
		if !en.IsDir() || !taskDirName.MatchString(en.Name()) {
			continue
		}
		var sub, part int
		if _, err := fmt.Sscanf(en.Name(), "%d_%d", &sub, &part); err != nil {
			continue
		}
		id := TaskID{Subtopology: sub, Partition: int32(part)}
		topics := r.app.balancer.changelogs[sub]
		if len(topics) == 0 {
			continue
		}
		eng, err := r.app.openEngineAt(filepath.Join(root, en.Name()))
		if err != nil {
			r.env.log.Debug("sluice: skipping local task state", "task", id, "err", err)
			continue
		}
		cps, err := eng.Checkpoints()
		_ = eng.Close()
		if err != nil {
			continue
		}
		var sum int64
		complete := true
		for _, topic := range topics {
			off, ok := cps[topic+"/"+itoa(part)]
			if !ok {
				complete = false
				break
			}
			sum += off
		}
		if complete {
			r.mu.Lock()
			r.onDisk[id] = sum
			r.mu.Unlock()
		}
	}
}

// persistentOffsetSum is the sum of the committed changelog checkpoints
// of a task's state, when every changelogged store is persistent (an
// in-memory store's state is gone once closed).
func persistentOffsetSum(st *taskState) (int64, bool) {
	if st == nil || st.persistent == nil || len(st.changelogs) == 0 {
		return 0, false
	}
	cps, err := st.persistent.Checkpoints()
	if err != nil {
		return 0, false
	}
	var sum int64
	for _, cl := range st.changelogs {
		if cl.engine != st.persistent {
			return 0, false
		}
		off, ok := cps[cl.key]
		if !ok {
			return 0, false
		}
		sum += off
	}
	return sum, true
}

// taskOffsetSums are the offset sums this instance reports in its
// subscription (Kafka Streams' SubscriptionInfo task offset sums): for
// each stateful task, activeOffsetSum when a local thread runs it as
// active, else the sum of its local changelog positions (standby tasks,
// closed tasks' state left on disk).
func (a *App) taskOffsetSums() []taskOffsetSum {
	sums := map[TaskID]int64{}
	if a.standbys != nil {
		a.standbys.offsetSums(sums)
	}
	for i := range a.threadTasks {
		if tt := a.threadTasks[i].Load(); tt != nil {
			for _, tm := range tt.active {
				if _, stateful := a.balancer.changelogs[tm.TaskID.Subtopology]; stateful {
					sums[tm.TaskID] = activeOffsetSum
				}
			}
		}
	}
	out := make([]taskOffsetSum, 0, len(sums))
	for id, sum := range sums {
		out = append(out, taskOffsetSum{task: id, sum: sum})
	}
	sort.Slice(out, func(i, j int) bool { return taskLess(out[i].task, out[j].task) })
	return out
}

// listChangelogEnds lists the end offsets of changelog topics: the last
// stable offsets under exactly_once_v2, where the standbys and restores
// read committed data only, else the high watermarks.
func (a *App) listChangelogEnds(ctx context.Context, topics []string) (kadm.ListedOffsets, error) {
	var ends kadm.ListedOffsets
	var err error
	if a.cfg.guarantee == ExactlyOnceV2 {
		ends, err = a.admin.ListCommittedOffsets(ctx, topics...)
	} else {
		ends, err = a.admin.ListEndOffsets(ctx, topics...)
	}
	if err == nil {
		err = ends.Error()
	}
	return ends, err
}

// changelogEnds lists the end offsets of changelog topics for the leader's
// lag computation (the last stable offsets under exactly_once_v2, where
// standbys read committed data only); nil when they cannot be listed.
func (a *App) changelogEnds(topics []string) map[string]map[int32]int64 {
	if a.admin == nil || len(topics) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ends, err := a.listChangelogEnds(ctx, topics)
	if err != nil {
		a.cfg.log.Warn("sluice: list changelog end offsets for the assignment; lags are estimated from the members' reports", "err", err)
		return nil
	}
	out := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out
}
