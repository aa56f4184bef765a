package observe_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/serde"
)

// blockingRestore holds the first restore until released.
type blockingRestore struct {
	started chan struct{}
	release chan struct{}
}

func (b *blockingRestore) OnRestoreStart(string, string, int32, int64, int64) {
	select {
	case <-b.started:
	default:
		close(b.started)
		<-b.release
	}
}
func (b *blockingRestore) OnBatchRestored(string, string, int32, int64, int64) {}
func (b *blockingRestore) OnRestoreEnd(string, string, int32, int64)           {}

func countTopology(t *testing.T) *core.Topology {
	b := dsl.NewBuilder()
	dsl.Stream(b, "words", dsl.ConsumedWith(serde.String(), serde.String())).
		GroupByKey().Count(dsl.Materialized[string, int64]{Name: "counts"}).
		ToStream().To("counts-out", dsl.ProducedWith(serde.String(), serde.Int64()))
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// /readyz answers 503 while the application restores its state (the
// restore is held at its start), /healthz stays 200, and /readyz turns 200
// once the application is RUNNING.
func TestReadyzWhileRestoring(t *testing.T) {
	t.Parallel()
	br := testbroker.New(t)
	br.CreateTopic(t, "words", 1, nil)
	br.CreateTopic(t, "counts-out", 1, nil)
	var recs []*kgo.Record
	for i := range 2000 {
		recs = append(recs, &kgo.Record{Topic: "words", Key: fmt.Appendf(nil, "w%d", i%500), Value: []byte("x")})
	}
	br.Produce(t, recs...)

	// A first run builds the store and its changelog.
	first, err := core.New(countTopology(t), core.WithBrokers(br.Addr()), core.WithApplicationID("obs"), core.WithStateDir(t.TempDir()),
		core.WithCommitInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }()
	for first.Stats().Consumed < 2000 || first.Stats().Lag > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A second instance with an empty state directory restores.
	hold := &blockingRestore{started: make(chan struct{}), release: make(chan struct{})}
	m := observe.NewMetrics()
	app, err := core.New(countTopology(t), core.WithBrokers(br.Addr()), core.WithApplicationID("obs"), core.WithStateDir(t.TempDir()),
		core.WithRestoreListener(hold), core.WithMetrics(m.Engine()))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WatchApp("obs", app); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(observe.Handler(m, observe.Checks{Live: []observe.Probe{observe.AppLive(app)}, Ready: []observe.Probe{observe.AppReady(app)}}))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "CREATED") {
		t.Errorf("/readyz before Run: %d %q", code, body)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- app.Run(ctx) }()
	select {
	case <-hold.started:
	case <-time.After(30 * time.Second):
		t.Fatal("no restore started")
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "REBALANCING") {
		t.Errorf("/readyz while restoring: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz while restoring: %d", code)
	}
	if _, text := get("/metrics"); !strings.Contains(text, `sluice_stream_state{application_id="obs",state="REBALANCING"} 1`) {
		t.Errorf("metrics while restoring lack the REBALANCING state:\n%s", text)
	}
	close(hold.release)
	var code int
	var body string
	testwait.Until(t, "/readyz 200 after the restore", 30*time.Second, func() bool {
		code, body = get("/readyz")
		return code == 200
	}, testwait.Detail(func() string { return fmt.Sprintf("/readyz: %d %q", code, body) }))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code, body := get("/healthz"); code != 503 || !strings.Contains(body, "NOT_RUNNING") {
		t.Errorf("/healthz after stop: %d %q", code, body)
	}
}

// Every metric name the package can emit is in docs/metrics.md.
func TestMetricNamesDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range observe.MetricNames() {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/metrics.md does not list %s", name)
		}
	}
}

// restoreCounter sums the records the application says it restored.
type restoreCounter struct {
	mu    sync.Mutex
	total int64
	ended int
}

func (c *restoreCounter) OnRestoreStart(string, string, int32, int64, int64)  {}
func (c *restoreCounter) OnBatchRestored(string, string, int32, int64, int64) {}
func (c *restoreCounter) OnRestoreEnd(_, _ string, _ int32, total int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += total
	c.ended++
}

// sample returns the value of the first sample of a scrape whose line
// starts with name and holds every label pair; ok false if none does.
func sample(text, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(line, l)
		}
		if !all {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		return v, err == nil
	}
	return 0, false
}

// The stream metrics of a running application, scraped: at DEBUG the
// store's put and get latencies (one of each per counted record) and at
// INFO the end-to-end latency at the source and the sink; a restore's
// counts equal what the restore listener was told, and nothing is left to
// restore; INFO records no store latencies.
func TestStreamMetricsScraped(t *testing.T) {
	t.Parallel()
	br := testbroker.New(t)
	br.CreateTopic(t, "words", 1, nil)
	br.CreateTopic(t, "counts-out", 1, nil)
	const n = 2000
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: "words", Key: fmt.Appendf(nil, "w%d", i%500), Value: []byte("x")})
	}
	br.Produce(t, recs...)
	scrape := func(m *observe.Metrics) string {
		rec := httptest.NewRecorder()
		observe.Handler(m, observe.Checks{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	run := func(app *core.App) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- app.Run(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor := func(what string, cond func() bool) { testwait.Until(t, what, 30*time.Second, cond) }

	m := observe.NewMetrics()
	app, err := core.New(countTopology(t), core.WithBrokers(br.Addr()), core.WithApplicationID("scraped"), core.WithStateDir(t.TempDir()),
		core.WithCommitInterval(50*time.Millisecond), core.WithMetrics(m.Engine()), core.WithMetricsRecordingLevel(core.RecordingLevelDebug))
	if err != nil {
		t.Fatal(err)
	}
	stop := run(app)
	var text string
	waitFor("the records processed and the end-to-end latency at the sink reported", func() bool {
		text = scrape(m)
		_, sink := sample(text, "sluice_stream_processor_node_record_e2e_latency_max_seconds", `node="KSTREAM-SINK-`)
		return app.Stats().Consumed == n && sink
	})
	stop()
	text = scrape(m)
	for _, h := range []string{"sluice_stream_state_put_latency_seconds_count", "sluice_stream_state_get_latency_seconds_count"} {
		if v, ok := sample(text, h, `store="counts"`, `task_id="0_0"`); !ok || v != n {
			t.Errorf("%s = %v (found %v), want %d", h, v, ok, n)
		}
	}
	for _, node := range []string{`node="KSTREAM-SOURCE-`, `node="KSTREAM-SINK-`} {
		for _, g := range []string{"avg", "min", "max"} {
			name := "sluice_stream_processor_node_record_e2e_latency_" + g + "_seconds"
			// The records were produced moments ago: a latency between 0
			// and a minute.
			if v, ok := sample(text, name, node, `task_id="0_0"`); !ok || v < 0 || v > 60 {
				t.Errorf("%s{%s} = %v (found %v), want 0..60", name, node, v, ok)
			}
		}
	}

	// A second instance with an empty state directory restores the store.
	restored := &restoreCounter{}
	m2 := observe.NewMetrics()
	app2, err := core.New(countTopology(t), core.WithBrokers(br.Addr()), core.WithApplicationID("scraped"), core.WithStateDir(t.TempDir()),
		core.WithRestoreListener(restored), core.WithMetrics(m2.Engine()))
	if err != nil {
		t.Fatal(err)
	}
	stop = run(app2)
	waitFor("the restore and RUNNING", func() bool {
		restored.mu.Lock()
		defer restored.mu.Unlock()
		return restored.ended == 1 && app2.State() == core.StateRunning
	})
	stop()
	text = scrape(m2)
	restored.mu.Lock()
	total := restored.total
	restored.mu.Unlock()
	if total < 500 {
		t.Errorf("restored %d records, want at least one per key (500)", total)
	}
	if v, ok := sample(text, "sluice_stream_task_restore_records_total", `store="counts"`, `task_id="0_0"`); !ok || v != float64(total) {
		t.Errorf("sluice_stream_task_restore_records_total = %v (found %v), want %d", v, ok, total)
	}
	if v, ok := sample(text, "sluice_stream_task_restore_remaining_records", `store="counts"`, `task_id="0_0"`); !ok || v != 0 {
		t.Errorf("sluice_stream_task_restore_remaining_records = %v (found %v), want 0", v, ok)
	}
	if strings.Contains(text, "sluice_stream_state_put_latency_seconds") {
		t.Error("store latencies recorded at the INFO level")
	}
}
