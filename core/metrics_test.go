package core_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/serde"
)

type recordingMetrics struct {
	mu       sync.Mutex
	counters map[string]int64
	gauges   map[string]float64
	observed map[string]int
}

func newRecordingMetrics() *recordingMetrics {
	return &recordingMetrics{counters: map[string]int64{}, gauges: map[string]float64{}, observed: map[string]int{}}
}

func key(name string, labels []core.Label) string {
	for _, l := range labels {
		if l.Name != "thread" {
			name += fmt.Sprintf(",%s=%s", l.Name, l.Value)
		}
	}
	return name
}

func (m *recordingMetrics) Counter(name string, d int64, labels ...core.Label) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counters[key(name, labels)] += d
}

func (m *recordingMetrics) Gauge(name string, v float64, labels ...core.Label) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gauges[key(name, labels)] = v
}

func (m *recordingMetrics) Histogram(name string, _ float64, labels ...core.Label) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.observed[key(name, labels)]++
}

func TestMetrics(t *testing.T) {
	b := testbroker.New(t)
	b.CreateTopic(t, "m-in", 2, nil)
	b.CreateTopic(t, "m-out", 2, nil)
	const n = 500
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: "m-in", Partition: int32(i % 2), Value: fmt.Appendf(nil, "v%d", i)})
	}
	b.Produce(t, recs...)
	m := newRecordingMetrics()
	app, err := core.New(upperTopology(t, "m-in", "m-out"), core.WithBrokers(b.Addr()), core.WithApplicationID("metrics"),
		core.WithMetrics(m), core.WithCommitInterval(50*time.Millisecond), core.WithKafkaOptions(kgo.RecordPartitioner(kgo.ManualPartitioner())))
	must(t, err)
	stop := runApp(t, app)
	testwait.Until(t, "lag 0 on both partitions", 30*time.Second, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		l0, ok0 := m.gauges["consumer_lag,topic=m-in,partition=0"]
		l1, ok1 := m.gauges["consumer_lag,topic=m-in,partition=1"]
		return app.Stats().Consumed == n && ok0 && ok1 && l0 == 0 && l1 == 0
	})
	must(t, stop())
	m.mu.Lock()
	defer m.mu.Unlock()
	if got := m.counters["records_consumed_total"]; got != n {
		t.Errorf("records_consumed_total = %d, want %d", got, n)
	}
	if got := m.counters["records_produced_total"]; got != n {
		t.Errorf("records_produced_total = %d, want %d", got, n)
	}
	if m.counters["commits_total"] == 0 || m.observed["commit_latency_seconds"] == 0 {
		t.Errorf("no commits recorded: %v %v", m.counters, m.observed)
	}
	if st := app.Stats(); st.Consumed != n || st.Produced != n || st.Tasks != 0 {
		t.Errorf("stats after stop = %+v, want %d consumed and produced, 0 tasks", st, n)
	}
}

// TestAppState: CREATED, then REBALANCING until the threads joined the
// group, RUNNING, and PENDING_SHUTDOWN then NOT_RUNNING on stop; every
// change reaches the listener once, in order.
func TestAppState(t *testing.T) {
	b := testbroker.New(t)
	b.CreateTopic(t, "s-in", 2, nil)
	b.CreateTopic(t, "s-out", 2, nil)
	var mu sync.Mutex
	var changes []string
	app, err := core.New(upperTopology(t, "s-in", "s-out"), core.WithBrokers(b.Addr()), core.WithApplicationID("state"),
		core.WithThreads(2), core.WithStateListener(func(next, old core.State) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, string(old)+">"+string(next))
		}))
	must(t, err)
	if s := app.State(); s != core.StateCreated {
		t.Fatalf("state before Run: %s", s)
	}
	stop := runApp(t, app)
	testwait.Until(t, "RUNNING", 30*time.Second, func() bool { return app.State() == core.StateRunning })
	must(t, stop())
	if s := app.State(); s != core.StateNotRunning {
		t.Errorf("state after stop: %s", s)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"CREATED>REBALANCING", "REBALANCING>RUNNING", "RUNNING>PENDING_SHUTDOWN", "PENDING_SHUTDOWN>NOT_RUNNING"}
	if fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Errorf("transitions %v, want %v", changes, want)
	}
}

// The exported Config: every problem at once, defaults in String, and
// the same application as the options.
func TestConfigStruct(t *testing.T) {
	err := core.Config{NumStreamThreads: -1, TransactionTimeout: time.Millisecond}.Validate()
	for _, want := range []string{"WithApplicationID is required", "need at least 1", "below 1s", "BootstrapServers"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want it to say %q", err, want)
		}
	}
	cfg := core.Config{ApplicationID: "cfg", BootstrapServers: []string{"b:9092"}, ProcessingGuarantee: core.ExactlyOnceV2}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := cfg.String()
	for _, want := range []string{"application.id=cfg", "processing.guarantee=exactly_once_v2", "commit.interval=100ms", "num.stream.threads=1", "statestore.cache.max.bytes=10485760",
		"statestore.block.cache.bytes=67108864", "statestore.memtable.bytes=16777216", "metrics.recording.level=INFO"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %s, want %s", s, want)
		}
	}
	b := testbroker.New(t)
	b.CreateTopic(t, "cs-in", 1, nil)
	b.CreateTopic(t, "cs-out", 1, nil)
	b.Produce(t, &kgo.Record{Topic: "cs-in", Value: []byte("x")})
	app, err := core.NewFromConfig(upperTopology(t, "cs-in", "cs-out"), core.Config{ApplicationID: "cfg", BootstrapServers: []string{b.Addr()},
		ProcessingGuarantee: core.ExactlyOnceV2, StateDir: t.TempDir()})
	must(t, err)
	stop := runApp(t, app)
	testwait.Until(t, "the record", 30*time.Second, func() bool { return app.Stats().Consumed == 1 })
	must(t, stop())
	if recs := b.ReadAll(t, "cs-out"); len(recs) != 1 || string(recs[0].Value) != "X" {
		t.Errorf("output %v", recs)
	}
}

// At the DEBUG recording level every store is metered (key-value, window
// and session, cached or not), and the results are those of INFO: the
// metered layer keeps flush listeners and forwarding as they are.
func TestDebugStoreMetricsKeepResults(t *testing.T) {
	run := func(level core.RecordingLevel) ([]string, *recordingMetrics) {
		b := dsl.NewBuilder()
		s := dsl.Stream(b, "in", dsl.ConsumedWith(serde.String(), serde.String()))
		s.GroupByKey().Count(dsl.Materialized[string, int64]{Name: "kv"}).ToStream().
			To("kv-out", dsl.ProducedWith(serde.String(), serde.Int64()))
		dsl.WindowedBy(s.GroupByKey(), dsl.TumblingWindows(10*time.Second, time.Second)).Count().ToStream().
			To("win-out", dsl.ProducedWith(serde.TimeWindowed(serde.String(), 10*time.Second), serde.Int64()))
		dsl.WindowedBySession(s.GroupByKey(), dsl.SessionWindowsOf(5*time.Second, time.Second)).Count().ToStream().
			To("ses-out", dsl.ProducedWith(serde.SessionWindowed(serde.String()), serde.Int64()))
		topo, err := b.Build()
		must(t, err)
		m := newRecordingMetrics()
		d, err := core.NewTestDriver(topo, core.WithMetrics(m), core.WithMetricsRecordingLevel(level))
		must(t, err)
		defer d.Close()
		for i := range 40 {
			must(t, d.Pipe(&kgo.Record{Topic: "in", Key: fmt.Appendf(nil, "k%d", i%3), Value: []byte("v"), Timestamp: time.UnixMilli(int64(i) * 700)}))
		}
		var out []string
		for _, topic := range []string{"kv-out", "win-out", "ses-out"} {
			for _, r := range d.ReadOutput(topic) {
				out = append(out, fmt.Sprintf("%s %q %x %d", topic, r.Key, r.Value, r.Timestamp.UnixMilli()))
			}
		}
		return out, m
	}
	info, mi := run(core.RecordingLevelInfo)
	debug, md := run(core.RecordingLevelDebug)
	if len(info) == 0 || fmt.Sprint(info) != fmt.Sprint(debug) {
		t.Fatalf("DEBUG output differs from INFO:\n%v\n%v", debug, info)
	}
	puts := 0
	for k, n := range md.observed {
		if strings.HasPrefix(k, "store_put_latency_seconds,") {
			puts++
			if n == 0 {
				t.Errorf("%s: no observation", k)
			}
		}
	}
	if puts != 3 {
		t.Errorf("put latencies of %d stores, want 3: %v", puts, md.observed)
	}
	for k := range mi.observed {
		if strings.HasPrefix(k, "store_") {
			t.Errorf("INFO recorded %s", k)
		}
	}
}
