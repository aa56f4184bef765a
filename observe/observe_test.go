package observe_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
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
