package core

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/listoffsets"
)

// RestoreListener is told about state restoration, like Kafka Streams'
// StateRestoreListener. Calls come from the stream thread that restores;
// implementations must be safe for concurrent use across threads and must
// not block.
type RestoreListener interface {
	// OnRestoreStart: the store's changelog partition is replayed from
	// startOffset up to endOffset (exclusive).
	OnRestoreStart(store, topic string, partition int32, startOffset, endOffset int64)
	// OnBatchRestored: records up to batchEndOffset were applied; restored
	// counts the records of this batch.
	OnBatchRestored(store, topic string, partition int32, batchEndOffset, restored int64)
	// OnRestoreEnd: the partition is restored; total counts every record
	// applied.
	OnRestoreEnd(store, topic string, partition int32, total int64)
}

// WithRestoreListener sets a listener for state restoration. Default: none
// (progress is logged either way).
func WithRestoreListener(l RestoreListener) Option { return func(c *config) { c.restoreListener = l } }

// restoreCommitEvery bounds the uncommitted batch a long restore builds:
// progress is made durable (with its checkpoint) every so many records.
const restoreCommitEvery = 100_000

// startRestores finds, for newly created tasks, the changelog partitions
// whose local data is behind the changelog end, pauses those tasks' input
// and starts replaying the changelogs. Runs in onAssigned (before the
// tasks' input is ever polled, so nothing of it is fetched meanwhile).
func (t *thread) startRestores(ctx context.Context, tasks []*task) error {
	var cls []*changelog
	topics := map[string]bool{}
	for _, tk := range tasks {
		if tk.state == nil {
			continue
		}
		for _, cl := range tk.state.changelogs {
			cls = append(cls, cl)
			topics[cl.topic] = true
		}
	}
	if len(cls) == 0 {
		return nil
	}
	var names []string
	for topic := range topics {
		names = append(names, topic)
	}
	var ends kadm.ListedOffsets
	var err error
	ends, err = listoffsets.Retry(ctx, func(ctx context.Context) (kadm.ListedOffsets, error) {
		if t.eos {
			return t.adm.ListCommittedOffsets(ctx, names...)
		}
		return t.adm.ListEndOffsets(ctx, names...)
	})
	if err != nil {
		return fmt.Errorf("core: changelog end offsets: %w", err)
	}
	starts, err := listoffsets.Retry(ctx, func(ctx context.Context) (kadm.ListedOffsets, error) { return t.adm.ListStartOffsets(ctx, names...) })
	if err != nil {
		return fmt.Errorf("core: changelog start offsets: %w", err)
	}
	// First pass: every checkpoint against its changelog, before anything
	// is registered (a stale task is wiped and created again).
	froms := make([]int64, len(cls))
	endOffsets := make([]int64, len(cls))
	for i, cl := range cls {
		end, ok := ends.Lookup(cl.topic, cl.partition)
		if !ok || end.Err != nil {
			return fmt.Errorf("core: end offset of changelog %s[%d]: %v", cl.topic, cl.partition, end.Err)
		}
		start, _ := starts.Lookup(cl.topic, cl.partition)
		from := cl.restoreFrom
		if from < 0 || from < start.Offset {
			from = start.Offset
		}
		if from > end.Offset {
			// The changelog was deleted or truncated under the local
			// store: the store is stale. Kafka Streams wipes such a task's
			// state and restores it from the changelog; so do we.
			owner := t.taskOf(cl)
			t.env.log.Warn("sluice: local store is ahead of its changelog; wiping the task's state and restoring",
				"store", cl.store, "task", owner.id, "checkpoint", from, "changelog_end", end.Offset, "changelog", cl.topic, "partition", cl.partition)
			return &staleStateError{task: owner.id}
		}
		froms[i], endOffsets[i] = from, end.Offset
	}
	add := map[string]map[int32]kgo.Offset{}
	pause := map[string][]int32{}
	for i, cl := range cls {
		from, end := froms[i], kadm.ListedOffset{Offset: endOffsets[i]}
		cl.restoreFrom, cl.restoreEnd, cl.restorePos, cl.restored = from, end.Offset, from, 0
		if from == end.Offset {
			continue // up to date: the local store is reused as is
		}
		cl.restoreStart = time.Now()
		if add[cl.topic] == nil {
			add[cl.topic] = map[int32]kgo.Offset{}
		}
		add[cl.topic][cl.partition] = kgo.NewOffset().At(from)
		if t.restoreBy == nil {
			t.restoreBy = map[string]*changelog{}
		}
		t.restoreBy[cl.key] = cl
		t.restoring++
		owner := t.taskOf(cl)
		owner.state.restoring++
		if owner.state.restoring == 1 {
			for _, q := range owner.queues {
				pause[q.topic] = append(pause[q.topic], q.partition)
			}
		}
		t.env.log.Info("sluice: restoring store", "store", cl.store, "task", owner.id, "changelog", cl.topic,
			"partition", cl.partition, "from", from, "to", end.Offset, "records", end.Offset-from)
		if l := t.cfg.restoreListener; l != nil {
			l.OnRestoreStart(cl.store, cl.topic, cl.partition, from, end.Offset)
		}
		t.reportRestore(cl, owner, 0)
	}
	if len(pause) > 0 {
		t.cl.PauseFetchPartitions(pause)
	}
	if len(add) == 0 {
		return nil
	}
	if t.restoreCl == nil {
		opts := append([]kgo.Opt{}, t.cfg.kgoOpts...)
		opts = append(opts, kgo.SeedBrokers(t.cfg.brokers...), kgo.ClientID(t.name+"-restore"),
			kgo.ConsumePartitions(add), kgo.KeepControlRecords())
		if t.eos {
			opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		}
		if t.restoreCl, err = kgo.NewClient(opts...); err != nil {
			return fmt.Errorf("core: restore client: %w", err)
		}
	} else {
		t.restoreCl.AddConsumePartitions(add)
	}
	return nil
}

// taskOf returns the task owning a changelog partition.
func (t *thread) taskOf(cl *changelog) *task {
	for _, tk := range t.tasks {
		if tk.state == nil || tk.id.Partition != cl.partition {
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

// restoreStep applies what the restore consumer fetched, and finishes the
// changelogs that reached their end.
func (t *thread) restoreStep(ctx context.Context) error {
	if t.restoring == 0 {
		return nil
	}
	pollCtx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	fetches := t.restoreCl.PollFetches(pollCtx)
	cancel()
	var err error
	fetches.EachError(func(topic string, p int32, e error) {
		if e != context.DeadlineExceeded && e != context.Canceled && err == nil {
			err = fmt.Errorf("core: restore from %s[%d]: %w", topic, p, e)
		}
	})
	if err != nil {
		return err
	}
	var firstErr error
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if firstErr != nil || len(fp.Records) == 0 {
			return
		}
		cl := t.restoreBy[fp.Topic+"/"+itoa(int(fp.Partition))]
		if cl == nil {
			return // finished, or its task closed
		}
		var n int64
		for _, r := range fp.Records {
			if r.Offset >= cl.restoreEnd {
				break
			}
			if !r.Attrs.IsControl() {
				var err error
				if cl.restore != nil {
					err = cl.restore(r.Key, r.Value, r.Timestamp.UnixMilli())
				} else {
					err = cl.engine.RawPut(cl.store, r.Key, r.Value)
				}
				if err != nil {
					firstErr = fmt.Errorf("core: restore store %q from %s[%d]@%d: %w", cl.store, cl.topic, cl.partition, r.Offset, err)
					return
				}
				n++
			}
			cl.restorePos = r.Offset + 1
		}
		cl.restored += n
		if l := t.cfg.restoreListener; l != nil && n > 0 {
			l.OnBatchRestored(cl.store, cl.topic, cl.partition, cl.restorePos, n)
		}
		t.reportRestore(cl, t.taskOf(cl), n)
		if cl.restored/restoreCommitEvery != (cl.restored-n)/restoreCommitEvery || cl.restorePos >= cl.restoreEnd {
			if err := t.checkpointRestore(cl); err != nil {
				firstErr = err
				return
			}
		}
		if cl.restorePos >= cl.restoreEnd {
			t.finishRestore(cl)
		}
	})
	return firstErr
}

// checkpointRestore commits the restored data with its changelog offset.
func (t *thread) checkpointRestore(cl *changelog) error {
	if err := cl.engine.Commit(map[string]int64{cl.key: cl.restorePos}); err != nil {
		return fmt.Errorf("core: checkpoint restore of store %q: %w", cl.store, err)
	}
	return nil
}

// finishRestore ends a changelog's restoration; when it was the task's
// last, the task's input is resumed.
func (t *thread) finishRestore(cl *changelog) {
	delete(t.restoreBy, cl.key)
	t.restoring--
	t.restoreCl.RemoveConsumePartitions(map[string][]int32{cl.topic: {cl.partition}})
	elapsed := time.Since(cl.restoreStart)
	rate := float64(cl.restored) / max(elapsed.Seconds(), 1e-9)
	tk := t.taskOf(cl)
	t.env.log.Info("sluice: store restored", "store", cl.store, "task", tk.id, "records", cl.restored,
		"elapsed", elapsed.Round(time.Millisecond), "records_per_sec", int64(rate))
	if l := t.cfg.restoreListener; l != nil {
		l.OnRestoreEnd(cl.store, cl.topic, cl.partition, cl.restored)
	}
	tk.state.restoring--
	if tk.state.restoring == 0 {
		t.app.queryable.add(tk)
		resume := map[string][]int32{}
		for _, q := range tk.queues {
			resume[q.topic] = append(resume[q.topic], q.partition)
		}
		t.cl.ResumeFetchPartitions(resume)
	}
}

// stopRestores forgets the restoring changelogs of tasks being closed and
// resumes their input partitions (a pause outlives the assignment).
func (t *thread) stopRestores(tk *task) {
	if tk.state == nil || tk.state.restoring == 0 {
		return
	}
	for _, cl := range tk.state.changelogs {
		if t.restoreBy[cl.key] == cl {
			delete(t.restoreBy, cl.key)
			t.restoring--
			t.restoreCl.RemoveConsumePartitions(map[string][]int32{cl.topic: {cl.partition}})
		}
	}
	resume := map[string][]int32{}
	for _, q := range tk.queues {
		resume[q.topic] = append(resume[q.topic], q.partition)
	}
	t.cl.ResumeFetchPartitions(resume)
	tk.state.restoring = 0
}

// staleStateError: a task's local state is ahead of its changelog and must
// be wiped and restored.
type staleStateError struct{ task TaskID }

func (e *staleStateError) Error() string {
	return fmt.Sprintf("core: local state of task %s is ahead of its changelog", e.task)
}
