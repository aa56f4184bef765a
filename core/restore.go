package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/listoffsets"
	"github.com/sluicehq/sluice/state"
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

// changelogReaderOpts are the options of a consumer that replays
// changelogs (a thread's restore consumer, the standby runner's): fetch
// sizes and the fetch wait first, so that WithKafkaOptions can override
// them, control records kept (they advance the position past a
// transaction's end), read_committed under exactly-once.
func changelogReaderOpts(cfg *config, clientID string, partitions map[string]map[int32]kgo.Offset, more ...kgo.Opt) []kgo.Opt {
	opts := []kgo.Opt{kgo.FetchMaxBytes(cfg.fetchMaxBytes), kgo.FetchMaxPartitionBytes(max(cfg.partitionFetchBytes, restorePartitionFetchBytes)),
		kgo.FetchMaxWait(fetchMaxWait)}
	opts = append(opts, cfg.kgoOpts...)
	opts = append(opts, kgo.SeedBrokers(cfg.brokers...), kgo.ClientID(clientID), kgo.ConsumePartitions(partitions), kgo.KeepControlRecords())
	if cfg.guarantee == ExactlyOnceV2 {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	return append(opts, more...)
}

// restorePartitionFetchBytes is the restore consumer's
// max.partition.fetch.bytes unless WithMaxPartitionFetchBytes is larger:
// Kafka's default (1 MiB), four times the stream threads' 256 KiB. A
// restore applies every fetched record at once, with no queue waiting on
// other partitions, so larger fetches cost little memory (a thread restores
// at most fetch.max.bytes per fetch, with one more fetch buffered by the
// client) and save round trips.
const restorePartitionFetchBytes = 1 << 20

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
	if t.restoring == 0 {
		t.restoreLogged = time.Time{} // progress is logged from the first step
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
	var restoring []*task
	for i, cl := range cls {
		from, end := froms[i], kadm.ListedOffset{Offset: endOffsets[i]}
		cl.restoreFrom, cl.restoreEnd, cl.restorePos, cl.restored = from, end.Offset, from, 0
		cl.queryPos.Store(from)
		cl.queryEnd.Store(end.Offset)
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
			restoring = append(restoring, owner)
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
	for _, tk := range restoring {
		// Queryable with WithStaleStores while it restores; finishRestore
		// makes it active for every query, closeTasks removes it.
		t.app.queryable.addStale(tk, false)
	}
	if len(pause) > 0 {
		t.cl.PauseFetchPartitions(pause)
	}
	if len(add) == 0 {
		return nil
	}
	if t.restoreCl == nil {
		opts := changelogReaderOpts(t.cfg, t.name+"-restore", add, kgo.WithPools(&restorePool{}))
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

// restorePool lends the restore consumer's decompression buffers and
// record slices again once their records are applied, instead of
// allocating them for every fetched batch and leaving them to the garbage
// collector: a restore reads the whole changelog, and every applied record
// is recycled (the engines copy what they keep; RawPut's arguments are not
// retained). franz-go zeroes a slice's whole capacity before it comes back,
// so a slice much larger than a batch needs is not lent to it (a changelog
// of small batches would pay for zeroing the large ones).
type restorePool struct {
	bytes   sync.Pool // of *[]byte
	records sync.Pool // of *[]kgo.Record
}

// restorePoolSlack bounds how much larger than needed a lent slice may be.
const restorePoolSlack = 8

func (p *restorePool) GetDecompressBytes(compressed []byte, _ kgo.CompressionCodecType) []byte {
	// The decompressed size is not known: a buffer too small is grown by
	// franz-go, which puts the grown one back.
	if b, ok := p.bytes.Get().(*[]byte); ok {
		if cap(*b) <= restorePoolSlack*2*len(compressed) {
			return *b
		}
		p.bytes.Put(b)
	}
	return make([]byte, 0, 2*len(compressed))
}

func (p *restorePool) PutDecompressBytes(b []byte) { p.bytes.Put(&b) }

func (p *restorePool) GetRecords(n int) []kgo.Record {
	if rs, ok := p.records.Get().(*[]kgo.Record); ok {
		if c := cap(*rs); c >= n && c <= restorePoolSlack*n {
			return *rs
		}
		p.records.Put(rs)
	}
	return make([]kgo.Record, 0, n)
}

func (p *restorePool) PutRecords(rs []kgo.Record) { p.records.Put(&rs) }

// recycle gives fetched records back to the restore consumer's pool.
func recycle(records []*kgo.Record) {
	for _, r := range records {
		r.Recycle()
	}
}

// restoreBatch is one fetched changelog partition's records for one
// changelog being restored.
type restoreBatch struct {
	cl      *changelog
	records []*kgo.Record
	applied int64 // records applied (control records and records past the end excluded)
	err     error
}

// restoreStep applies what the restore consumer fetched, and finishes the
// changelogs that reached their end.
//
// The records of different tasks are applied in parallel, one goroutine per
// state engine (a task's engines are independent; the stores of one engine
// stay on one goroutine), while the thread waits: ownership does not move,
// the thread lends the engines for the duration of the call. Listener and
// metric calls stay on the thread.
func (t *thread) restoreStep(ctx context.Context) error {
	if t.restoring == 0 {
		return nil
	}
	pollCtx, cancel := context.WithTimeout(ctx, restorePollWait)
	fetches := t.restoreCl.PollFetches(pollCtx)
	cancel()
	var err error
	fetches.EachError(func(topic string, p int32, e error) {
		if !errors.Is(e, context.DeadlineExceeded) && !errors.Is(e, context.Canceled) && err == nil {
			err = fmt.Errorf("core: restore from %s[%d]: %w", topic, p, e)
		}
	})
	if err != nil {
		return err
	}
	var batches []*restoreBatch
	byEngine := map[state.Engine][]*restoreBatch{}
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		cl := t.restoreBy[fp.Topic+"/"+itoa(int(fp.Partition))]
		if cl == nil {
			recycle(fp.Records)
			return // finished, or its task closed
		}
		b := &restoreBatch{cl: cl, records: fp.Records}
		batches = append(batches, b)
		byEngine[cl.engine] = append(byEngine[cl.engine], b)
	})
	if len(batches) == 0 {
		return nil
	}
	if len(byEngine) == 1 {
		for _, bs := range byEngine {
			applyRestoreBatches(bs)
		}
	} else {
		var wg sync.WaitGroup
		for _, bs := range byEngine {
			wg.Go(func() { applyRestoreBatches(bs) })
		}
		wg.Wait()
	}
	for _, b := range batches {
		if b.err != nil {
			return b.err
		}
	}
	for _, b := range batches {
		cl := b.cl
		if l := t.cfg.restoreListener; l != nil && b.applied > 0 {
			l.OnBatchRestored(cl.store, cl.topic, cl.partition, cl.restorePos, b.applied)
		}
		t.reportRestore(cl, t.taskOf(cl), b.applied)
		if cl.restorePos >= cl.restoreEnd {
			t.finishRestore(cl)
		}
	}
	t.logRestoreProgress()
	return nil
}

// restorePollWait bounds the restore consumer's poll in a loop step: the
// step returns as soon as something was fetched.
const restorePollWait = 20 * time.Millisecond

// applyRestoreBatches applies the batches of one state engine in order and
// commits the engine with its checkpoints every restoreCommitEvery records
// of a changelog and at a changelog's end. It runs on a goroutine of its
// own while the thread waits (see restoreStep) and touches nothing but the
// engine and the batches' changelogs.
func applyRestoreBatches(batches []*restoreBatch) {
	defer func() {
		for _, b := range batches {
			recycle(b.records)
			b.records = nil
		}
	}()
	for _, b := range batches {
		cl := b.cl
		for _, r := range b.records {
			if r.Offset >= cl.restoreEnd {
				break
			}
			if r.Offset < cl.restorePos {
				continue // fetched before a seek (a task closed and created again)
			}
			if !r.Attrs.IsControl() {
				if err := cl.apply(r); err != nil {
					b.err = fmt.Errorf("core: restore store %q from %s[%d]@%d: %w", cl.store, cl.topic, cl.partition, r.Offset, err)
					return
				}
				b.applied++
			}
			cl.restorePos = r.Offset + 1
		}
		before := cl.restored
		cl.restored += b.applied
		if cl.restored/restoreCommitEvery != before/restoreCommitEvery || cl.restorePos >= cl.restoreEnd {
			if err := checkpointRestore(cl); err != nil {
				b.err = err
				return
			}
		}
	}
}

// logRestoreProgress logs, every restoreLogEvery while changelogs restore,
// where each one stands (Kafka Streams' StoreChangelogReader logs its
// restoration in progress the same way).
func (t *thread) logRestoreProgress() {
	if t.restoring == 0 {
		t.restoreLogged = time.Time{}
		return
	}
	now := time.Now()
	if t.restoreLogged.IsZero() {
		t.restoreLogged = now // the first report restoreLogEvery from now
		return
	}
	if now.Sub(t.restoreLogged) < restoreLogEvery {
		return
	}
	t.restoreLogged = now
	for _, cl := range t.restoreBy {
		elapsed := now.Sub(cl.restoreStart)
		t.env.log.Info("sluice: restoring store", "store", cl.store, "changelog", cl.topic, "partition", cl.partition,
			"restored", cl.restored, "position", cl.restorePos, "end", cl.restoreEnd, "remaining_offsets", cl.restoreEnd-cl.restorePos,
			"records_per_sec", int64(float64(cl.restored)/max(elapsed.Seconds(), 1e-9)))
	}
}

// restoreLogEvery is how often restore progress is logged while it runs.
const restoreLogEvery = 10 * time.Second

// checkpointRestore commits the restored data with its changelog offset.
func checkpointRestore(cl *changelog) error {
	if err := cl.engine.Commit(map[string]int64{cl.key: cl.restorePos}); err != nil {
		return fmt.Errorf("core: checkpoint restore of store %q: %w", cl.store, err)
	}
	cl.queryPos.Store(cl.restorePos)
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
