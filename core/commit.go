package core

// The committer of a stream thread: when a commit is due, the at-least-once
// and exactly-once commit protocols (DESIGN.md "Commit protocol"), and the
// partition times committed with the offsets.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

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
