package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/kafka"
	"github.com/sluicehq/sluice/serde"
)

const (
	restoreApp   = "restore-bench"
	restoreStore = "restore-store"
	restoreInput = "restore-bench-input"
)

// restoreListener records the restore's progress and when the first
// changelog partition started and the last one finished.
type restoreListener struct {
	mu            sync.Mutex
	started       time.Time // first OnRestoreStart
	ended         int
	restored      int64
	toRestore     int64
	done          chan struct{}
	want          int
	finishedAt    time.Time
	restoredAtEnd int64
}

func (l *restoreListener) OnRestoreStart(_, _ string, _ int32, start, end int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started.IsZero() {
		l.started = time.Now()
	}
	l.toRestore += end - start
}

func (l *restoreListener) OnBatchRestored(_, _ string, _ int32, _ int64, n int64) {
	l.mu.Lock()
	l.restored += n
	l.mu.Unlock()
}

func (l *restoreListener) OnRestoreEnd(string, string, int32, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended++
	if l.ended == l.want {
		l.finishedAt = time.Now()
		l.restoredAtEnd = l.restored
		close(l.done)
	}
}

func (l *restoreListener) progress() (restored, toRestore int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.restored, l.toRestore
}

// RunRestore fills a key-value store's changelog with cfg.Records distinct
// keys and measures, cfg.Rounds times alternating, a plain franz-go
// consumer reading the whole changelog and an application with an empty
// state directory restoring it (changelog fetched from the broker, written
// into Pebble); it reports the median round of each. The restore's
// Duration runs from its first changelog partition's start to its last
// one's end (what the restore listener reports); Total adds the
// application's start-up (topic checks, group join). Progress is printed
// to w every second while a restore runs.
func RunRestore(ctx context.Context, cfg Config, w io.Writer) ([2]Result, error) {
	cfg.defaults()
	changelog := core.ChangelogTopic(restoreApp, restoreStore)
	cl, err := kgo.NewClient(cfg.clientOpts(kgo.ProducerLinger(0))...)
	if err != nil {
		return [2]Result{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := kafka.EnsureTopics(ctx, adm, cfg.Partitions, -1, nil, restoreInput); err != nil {
		return [2]Result{}, err
	}
	if err := kafka.EnsureTopics(ctx, adm, cfg.Partitions, -1, map[string]*string{"cleanup.policy": ptrTo("compact")}, changelog); err != nil {
		return [2]Result{}, err
	}
	value := make([]byte, 8+cfg.ValueBytes)
	binary.BigEndian.PutUint64(value, uint64(time.Now().UnixMilli()))
	var failed atomic.Pointer[error]
	for i := range cfg.Records {
		cl.Produce(ctx, &kgo.Record{Topic: changelog, Key: fmt.Appendf(nil, "key-%09d", i), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return [2]Result{}, err
	}
	if p := failed.Load(); p != nil {
		return [2]Result{}, *p
	}
	var bases, restores []Result
	for round := range cfg.Rounds {
		before := memNow()
		base, err := readChangelog(ctx, cfg, changelog)
		if err != nil {
			return [2]Result{}, err
		}
		base.since(before)
		fmt.Fprintf(w, "round %d: %-62s %10.0f records/s  %5.2f allocs/record  %d GCs  %4.0f ns CPU/record\n", round+1, base.Name, base.PerSec(),
			float64(base.Mallocs)/float64(base.Records), base.GCs, float64(base.CPUPerRecord()))
		before = memNow()
		got, err := restoreOnce(ctx, cfg, w, round)
		if err != nil {
			return [2]Result{}, err
		}
		got.since(before)
		fmt.Fprintf(w, "round %d: %-62s %10.0f records/s  %5.2f allocs/record  %d GCs  %4.0f ns CPU/record (%.0f records/s with start-up)\n", round+1, got.Name, got.PerSec(),
			float64(got.Mallocs)/float64(got.Records), got.GCs, float64(got.CPUPerRecord()), float64(got.Records)/got.Total.Seconds())
		bases, restores = append(bases, base), append(restores, got)
	}
	fmt.Fprintln(w)
	pair := [2]Result{median(bases), median(restores)}
	Report(w, [][2]Result{pair})
	return pair, nil
}

// readChangelog is the baseline: a plain franz-go consumer (default fetch
// sizes, no group) reading the whole changelog, timed from its creation.
func readChangelog(ctx context.Context, cfg Config, changelog string) (Result, error) {
	start := time.Now()
	rd, err := kgo.NewClient(cfg.clientOpts(kgo.ConsumeTopics(changelog), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return Result{}, err
	}
	defer rd.Close()
	n := 0
	for n < cfg.Records {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		if err := fs.Err0(); err != nil {
			return Result{}, fmt.Errorf("bench: read %s: %w", changelog, err)
		}
		n += fs.NumRecords()
	}
	r := Result{Name: "plain franz-go consumer reading the changelog", Records: n, Duration: time.Since(start)}
	r.Total = r.Duration
	return r, nil
}

// restoreOnce starts an application with an empty state directory and
// waits until its store is restored.
func restoreOnce(ctx context.Context, cfg Config, w io.Writer, round int) (Result, error) {
	topo := core.NewTopology()
	if err := core.AddSource(topo, "src", serde.Bytes(), serde.Bytes(), []string{restoreInput}); err != nil {
		return Result{}, err
	}
	if err := core.AddProcessor(topo, "proc", core.ProcessorFunc[[]byte, []byte, []byte, []byte](
		func(core.ProcessorContext[[]byte, []byte], core.Record[[]byte, []byte]) error { return nil }).Supplier(), "src"); err != nil {
		return Result{}, err
	}
	if err := topo.AddStateStore(core.StoreSpec{Name: restoreStore, Kind: core.KeyValueStoreKind}, "proc"); err != nil {
		return Result{}, err
	}
	dir := cfg.StateDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "sluice-restore-bench-"); err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(dir)
	} else {
		dir = fmt.Sprintf("%s/restore-%d", dir, round)
	}
	l := &restoreListener{done: make(chan struct{}), want: int(cfg.Partitions)}
	app, err := core.New(topo, core.WithBrokers(cfg.Brokers...), core.WithKafkaOptions(cfg.KafkaOptions...), core.WithApplicationID(restoreApp), core.WithStateDir(dir),
		core.WithRestoreListener(l), core.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		return Result{}, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 1)
	start := time.Now()
	go func() { errs <- app.Run(runCtx) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case <-l.done:
			break wait
		case <-tick.C:
			restored, toRestore := l.progress()
			fmt.Fprintf(w, "round %d: restoring: %d of %d records (%.0f%%), %v\n", round+1, restored, toRestore,
				100*float64(restored)/max(float64(toRestore), 1), time.Since(start).Round(time.Millisecond))
		case err := <-errs:
			return Result{}, fmt.Errorf("bench: restore app stopped: %v", err)
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	l.mu.Lock()
	got := Result{Name: "sluice restore of a key-value store (changelog → Pebble)", Records: int(l.restoredAtEnd),
		Duration: l.finishedAt.Sub(l.started), Total: l.finishedAt.Sub(start)}
	l.mu.Unlock()
	cancel()
	if err := <-errs; err != nil {
		return Result{}, err
	}
	if got.Records != cfg.Records {
		return Result{}, fmt.Errorf("bench: restored %d records, want %d", got.Records, cfg.Records)
	}
	return got, nil
}

func ptrTo[T any](v T) *T { return &v }
