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

// restoreListener records when every changelog partition finished.
type restoreListener struct {
	mu       sync.Mutex
	ended    int
	restored int64
	done     chan struct{}
	want     int
}

func (l *restoreListener) OnRestoreStart(string, string, int32, int64, int64) {}
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
		close(l.done)
	}
}

// RunRestore fills a key-value store's changelog with cfg.Records distinct
// keys and measures how fast an application with an empty state directory
// restores it (changelog fetched from the broker, written into Pebble),
// next to a plain franz-go consumer reading the same changelog.
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

	// Baseline: a plain consumer reading the whole changelog.
	start := time.Now()
	rd, err := kgo.NewClient(cfg.clientOpts(kgo.ConsumeTopics(changelog), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return [2]Result{}, err
	}
	n := 0
	for n < cfg.Records {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			rd.Close()
			return [2]Result{}, ctx.Err()
		}
		n += fs.NumRecords()
	}
	rd.Close()
	base := Result{Name: "plain franz-go consumer reading the changelog", Records: n, Duration: time.Since(start)}
	base.Total = base.Duration

	// Sluice: an app whose store is restored from that changelog.
	topo := core.NewTopology()
	if err := core.AddSource(topo, "src", serde.Bytes(), serde.Bytes(), []string{restoreInput}); err != nil {
		return [2]Result{}, err
	}
	if err := core.AddProcessor(topo, "proc", core.ProcessorFunc[[]byte, []byte, []byte, []byte](
		func(core.ProcessorContext[[]byte, []byte], core.Record[[]byte, []byte]) error { return nil }).Supplier(), "src"); err != nil {
		return [2]Result{}, err
	}
	if err := topo.AddStateStore(core.StoreSpec{Name: restoreStore, Kind: core.KeyValueStoreKind}, "proc"); err != nil {
		return [2]Result{}, err
	}
	dir, err := os.MkdirTemp("", "sluice-restore-bench-")
	if err != nil {
		return [2]Result{}, err
	}
	defer os.RemoveAll(dir)
	l := &restoreListener{done: make(chan struct{}), want: int(cfg.Partitions)}
	app, err := core.New(topo, core.WithBrokers(cfg.Brokers...), core.WithKafkaOptions(cfg.KafkaOptions...), core.WithApplicationID(restoreApp), core.WithStateDir(dir),
		core.WithRestoreListener(l), core.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		return [2]Result{}, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 1)
	start = time.Now()
	go func() { errs <- app.Run(runCtx) }()
	select {
	case <-l.done:
	case err := <-errs:
		return [2]Result{}, fmt.Errorf("bench: restore app stopped: %v", err)
	case <-ctx.Done():
		return [2]Result{}, ctx.Err()
	}
	// The app's time includes its start-up (topic checks, group join) too.
	got := Result{Name: "sluice restore of a key-value store (changelog → Pebble)", Records: int(l.restored), Duration: time.Since(start)}
	got.Total = got.Duration
	cancel()
	if err := <-errs; err != nil {
		return [2]Result{}, err
	}
	if got.Records != cfg.Records {
		return [2]Result{}, fmt.Errorf("bench: restored %d records, want %d", got.Records, cfg.Records)
	}
	Report(w, [][2]Result{{base, got}})
	return [2]Result{base, got}, nil
}

func ptrTo[T any](v T) *T { return &v }
