package core

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/pebblestate"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/serde"
)

// restoreRecorder is a RestoreListener keeping every call per changelog
// partition.
type restoreRecorder struct {
	mu       sync.Mutex
	ranges   map[int32][2]int64 // partition -> start, end
	batches  map[int32]int      // partition -> OnBatchRestored calls
	restored map[int32]int64    // partition -> sum of the batches' counts
	totals   map[int32]int64    // partition -> OnRestoreEnd's total
}

func newRestoreRecorder() *restoreRecorder {
	return &restoreRecorder{ranges: map[int32][2]int64{}, batches: map[int32]int{}, restored: map[int32]int64{}, totals: map[int32]int64{}}
}

func (r *restoreRecorder) OnRestoreStart(_, _ string, p int32, start, end int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ranges[p] = [2]int64{start, end}
}

func (r *restoreRecorder) OnBatchRestored(_, _ string, p int32, _, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches[p]++
	r.restored[p] += n
}

func (r *restoreRecorder) OnRestoreEnd(_, _ string, p int32, total int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.totals[p] = total
}

func (r *restoreRecorder) ended() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.totals)
}

// restoreTopology is one source feeding a no-op processor that owns a
// key-value store "s" (changelogged): the app only restores.
func restoreTopology(t *testing.T) *Topology {
	t.Helper()
	topo := NewTopology()
	if err := AddSource(topo, "src", serde.Bytes(), serde.Bytes(), []string{"in"}); err != nil {
		t.Fatal(err)
	}
	if err := AddProcessor(topo, "proc", ProcessorFunc[[]byte, []byte, []byte, []byte](
		func(ProcessorContext[[]byte, []byte], Record[[]byte, []byte]) error { return nil }).Supplier(), "src"); err != nil {
		t.Fatal(err)
	}
	if err := topo.AddStateStore(StoreSpec{Name: "s", Kind: KeyValueStoreKind}, "proc"); err != nil {
		t.Fatal(err)
	}
	return topo
}

// runUntilRestored runs an exactly-once app over stateDir until every one
// of partitions changelog partitions reported OnRestoreEnd, then stops it.
func runUntilRestored(t *testing.T, b *testbroker.Broker, stateDir string, partitions int) *restoreRecorder {
	t.Helper()
	rec := newRestoreRecorder()
	app, err := New(restoreTopology(t), WithBrokers(b.Addr()), WithApplicationID("rst"), WithStateDir(stateDir),
		WithProcessingGuarantee(ExactlyOnceV2), WithRestoreListener(rec), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	testwait.Until(t, "every changelog partition restored", 2*time.Minute, func() bool {
		select {
		case err := <-done:
			t.Fatalf("app stopped while restoring: %v", err)
		default:
		}
		return rec.ended() == partitions
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("app: %v", err)
	}
	return rec
}

// storeOf reads store "s" and the checkpoints of task 0_p from stateDir.
func storeOf(t *testing.T, stateDir string, p int32) (map[string]string, map[string]int64) {
	t.Helper()
	eng, err := pebblestate.Open(filepath.Join(stateDir, "rst", TaskID{0, p}.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	kv, err := eng.ReadOnly().KeyValue("s")
	if err != nil {
		t.Fatal(err)
	}
	it, err := kv.All()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	got := map[string]string{}
	for it.Next() {
		got[string(it.Key())] = string(it.Value())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	cps, err := eng.Checkpoints()
	if err != nil {
		t.Fatal(err)
	}
	return got, cps
}

// changelogModel is what a changelog partition's records make of a store:
// the last value per key, tombstones deleting.
type changelogModel struct {
	store   map[string]string
	applied int64 // records a restore applies (aborted ones excluded)
}

func (m *changelogModel) put(r *kgo.Record) {
	if r.Value == nil {
		delete(m.store, string(r.Key))
	} else {
		m.store[string(r.Key)] = string(r.Value)
	}
	m.applied++
}

// A changelog of several restore batches per partition, restored in
// parallel partitions under exactly-once, comes back as exactly the last
// value per key: overwrites win, tombstones delete (also keys a previous
// restore wrote to disk), an aborted transaction's records are not
// applied, records of a transaction still open past the last stable offset
// are not restored, and each checkpoint is where its restore ended. A
// second restore, from the checkpoints, replays only the tail.
func TestRestoreLargeChangelogExactlyOnce(t *testing.T) {
	const partitions = 2
	perPartition := 2*restoreCommitEvery + 12_345 // several commits per partition
	if testing.Short() {
		perPartition = restoreCommitEvery/2 + 123
	}
	b := testbroker.New(t)
	topic := ChangelogTopic("rst", "s")
	b.CreateTopic(t, "in", partitions, nil)
	b.CreateTopic(t, topic, partitions, nil)
	models := make([]*changelogModel, partitions)
	for p := range models {
		models[p] = &changelogModel{store: map[string]string{}}
	}
	plain := b.Client(t, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(recs []*kgo.Record) {
		t.Helper()
		if err := plain.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			models[r.Partition].put(r)
		}
	}
	// Keys repeat (every key written about three times) and every 5th write
	// is a tombstone.
	write := func(round, n int) {
		t.Helper()
		for p := range int32(partitions) {
			var recs []*kgo.Record
			for i := range n {
				r := &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "k%d-%06d", p, (i*7)%(n/3+1))}
				if i%5 != 4 {
					r.Value = fmt.Appendf(nil, "v%d-%d", round, i)
				}
				recs = append(recs, r)
				if len(recs) == 10_000 {
					produce(recs)
					recs = recs[:0]
				}
			}
			produce(recs)
		}
	}
	write(1, perPartition)

	// An aborted transaction overwriting and adding keys, then a committed
	// one, on every partition.
	txn := func(commit bool) {
		t.Helper()
		txnID := fmt.Sprintf("writer-%v", commit)
		cl := b.Client(t, kgo.TransactionalID(txnID), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		for p := range int32(partitions) {
			for i := range 500 {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "k%d-%06d", p, i*3), Value: fmt.Appendf(nil, "txn-%v-%d", commit, i)},
					&kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "t%v-%d", commit, i), Value: []byte("x")})
			}
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(context.Background(), kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
		if commit {
			for _, r := range recs {
				models[r.Partition].put(r)
			}
		}
	}
	txn(false)
	txn(true)

	// A transaction left open at the end of partition 0: the last stable
	// offset stops before it, so is the restore.
	open := b.Client(t, kgo.TransactionalID("writer-open"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(5*time.Minute))
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := open.ProduceSync(context.Background(),
		&kgo.Record{Topic: topic, Partition: 0, Key: []byte("k0-000000"), Value: []byte("uncommitted")},
		&kgo.Record{Topic: topic, Partition: 0, Key: []byte("open-only"), Value: []byte("uncommitted")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	check := func(stateDir string, rec *restoreRecorder, wantApplied []int64, severalBatches bool) {
		t.Helper()
		for p := range int32(partitions) {
			got, cps := storeOf(t, stateDir, p)
			want := models[p].store
			if len(got) != len(want) {
				t.Errorf("partition %d: %d keys restored, want %d", p, len(got), len(want))
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("partition %d: key %s = %q, want %q", p, k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Fatalf("partition %d: key %s restored, want absent", p, k)
				}
			}
			rg := rec.ranges[p]
			if cp := cps[fmt.Sprintf("%s/%d", topic, p)]; cp != rg[1] {
				t.Errorf("partition %d: checkpoint %d, want the restore's end %d", p, cp, rg[1])
			}
			rec.mu.Lock()
			if rec.restored[p] != wantApplied[p] || rec.totals[p] != wantApplied[p] {
				t.Errorf("partition %d: listener saw %d restored in batches and a total of %d, want %d", p, rec.restored[p], rec.totals[p], wantApplied[p])
			}
			if severalBatches && rec.batches[p] < 2 {
				t.Errorf("partition %d: %d progress reports, want several", p, rec.batches[p])
			}
			rec.mu.Unlock()
		}
	}

	stateDir := t.TempDir()
	rec := runUntilRestored(t, b, stateDir, partitions)
	applied := make([]int64, partitions)
	for p, m := range models {
		applied[p] = m.applied
		if rec.ranges[int32(p)][0] != 0 {
			t.Errorf("partition %d: first restore started at %d, want 0", p, rec.ranges[int32(p)][0])
		}
	}
	check(stateDir, rec, applied, true)
	firstEnds := map[int32]int64{}
	for p := range int32(partitions) {
		firstEnds[p] = rec.ranges[p][1]
	}

	// The open transaction commits; more writes, tombstones among them,
	// of keys already on disk. A restart restores only the tail.
	if err := open.EndTransaction(context.Background(), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	models[0].put(&kgo.Record{Key: []byte("k0-000000"), Value: []byte("uncommitted")})
	models[0].put(&kgo.Record{Key: []byte("open-only"), Value: []byte("uncommitted")})
	before := make([]int64, partitions)
	for p, m := range models {
		before[p] = m.applied
	}
	write(2, 3000)
	rec = runUntilRestored(t, b, stateDir, partitions)
	for p, m := range models {
		applied[p] = m.applied - before[p]
		if p == 0 {
			applied[p] += 2 // the formerly open transaction
		}
		if got := rec.ranges[int32(p)][0]; got != firstEnds[int32(p)] {
			t.Errorf("partition %d: second restore started at %d, want the first one's end %d", p, got, firstEnds[int32(p)])
		}
	}
	check(stateDir, rec, applied, false)
}

// The restore pool lends a slice again only to a batch of about its size:
// franz-go zeroes a lent slice's whole capacity, which a small batch must
// not pay for a large slice. (Whether a fitting slice is lent again is not
// checked: sync.Pool drops items at random under the race detector.)
func TestRestorePoolLendsFittingSlices(t *testing.T) {
	var p restorePool
	p.PutRecords(make([]kgo.Record, 0, 10_000))
	if got := p.GetRecords(100); cap(got) >= 10_000 || cap(got) < 100 {
		t.Errorf("a batch of 100 records was lent a slice of %d", cap(got))
	}
	if got := p.GetRecords(20_000); cap(got) < 20_000 {
		t.Errorf("a batch of 20,000 records was lent a slice of %d", cap(got))
	}
	p.PutDecompressBytes(make([]byte, 0, 1<<20))
	if got := p.GetDecompressBytes(make([]byte, 1000), kgo.CodecSnappy); cap(got) >= 1<<20 {
		t.Errorf("1,000 compressed bytes were lent a buffer of %d", cap(got))
	}
}
