package core

// The task manager of a stream thread: the rebalance callbacks that create,
// revive and close tasks (they run while the loop is blocked in a poll, with
// thread.mu held), and what a new task reads first (committed offsets and
// partition times, lags for the idle rules).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

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
			if t.app.standbys != nil {
				// A standby of the task on this instance hands its store
				// over: the active restores only the tail since the
				// standby's checkpoint.
				t.app.standbys.release(id)
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
		if t.app.standbys != nil {
			t.app.standbys.release(stale.task) // closeTasks unclaimed it
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
		sum, onDisk := persistentOffsetSum(tk.state)
		if err := tk.close(); err != nil {
			t.env.log.Warn("sluice: closing task", "task", id, "err", err)
		}
		if t.app.standbys != nil {
			t.app.standbys.unclaim(id, sum, onDisk)
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
