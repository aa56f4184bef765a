package core

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/state"
)

// Label is one metric label.
type Label struct{ Name, Value string }

// Metrics receives the runtime's metrics. Implementations must be safe for
// concurrent use; calls are made per batch or per commit, never per record
// (the DEBUG-level store latencies are per operation: see HistogramBinder).
//
// Names and labels: records_consumed_total, records_produced_total,
// records_dropped_total, commits_total (counters; label thread),
// commit_latency_seconds (histogram; label thread), consumer_lag (gauge:
// records behind the partition's end, fetched-but-unprocessed included;
// labels topic, partition), misrouted_records_total (counter: records of
// a co-partitioned user topic on a partition their key does not hash to
// under the default partitioner; labels topic, partition; sampled, see
// partitionCheck); at RecordingLevelInfo also
// record_e2e_latency_{avg,min,max}_seconds (gauges; labels task_id, node),
// records_restored_total (counter) and restore_remaining_records (gauge;
// labels task_id, store); at RecordingLevelDebug also
// store_put_latency_seconds and store_get_latency_seconds (histograms;
// labels task_id, store).
type Metrics interface {
	Counter(name string, delta int64, labels ...Label)
	Gauge(name string, value float64, labels ...Label)
	Histogram(name string, value float64, labels ...Label)
}

// HistogramBinder is an optional capability of a Metrics: BindHistogram
// returns the function that records into one histogram series, looked up
// once, so that metrics recorded per operation (the store latencies) do
// not pay a series lookup per call. The function must be safe for
// concurrent use. Without it, the runtime calls Histogram per operation.
type HistogramBinder interface {
	BindHistogram(name string, labels ...Label) func(value float64)
}

// SeriesBinder is an optional capability of a Metrics, as HistogramBinder
// for counters and gauges: the runtime binds the series it reports on
// every poll step (the thread's record counters, each partition's lag)
// once per thread or partition assignment, so that a step costs a few
// atomic operations instead of series lookups. The functions must be
// safe for concurrent use.
type SeriesBinder interface {
	BindCounter(name string, labels ...Label) func(delta int64)
	BindGauge(name string, labels ...Label) func(value float64)
}

// bindHistogram returns the recording function of one histogram series.
func bindHistogram(m Metrics, name string, labels ...Label) func(float64) {
	if b, ok := m.(HistogramBinder); ok {
		return b.BindHistogram(name, labels...)
	}
	return func(v float64) { m.Histogram(name, v, labels...) }
}

// bindCounter returns the recording function of one counter series.
func bindCounter(m Metrics, name string, labels ...Label) func(int64) {
	if b, ok := m.(SeriesBinder); ok {
		return b.BindCounter(name, labels...)
	}
	return func(d int64) { m.Counter(name, d, labels...) }
}

// bindGauge returns the recording function of one gauge series.
func bindGauge(m Metrics, name string, labels ...Label) func(float64) {
	if b, ok := m.(SeriesBinder); ok {
		return b.BindGauge(name, labels...)
	}
	return func(v float64) { m.Gauge(name, v, labels...) }
}

// threadSeries are a thread's per-step series, bound on first use.
type threadSeries struct {
	consumed, produced, dropped func(int64)
}

func (s *threadSeries) bind(m Metrics, thread string) {
	if s.consumed != nil {
		return
	}
	l := Label{"thread", thread}
	s.consumed = bindCounter(m, "records_consumed_total", l)
	s.produced = bindCounter(m, "records_produced_total", l)
	s.dropped = bindCounter(m, "records_dropped_total", l)
}

// queueSeries are a partition's per-step series, bound on first use for
// each assignment of the partition.
type queueSeries struct {
	lag       func(float64)
	misrouted func(int64)
}

func (q *recordQueue) series(m Metrics) *queueSeries {
	if q.metrics.lag == nil {
		topic, partition := Label{"topic", q.topic}, Label{"partition", strconv.Itoa(int(q.partition))}
		q.metrics.lag = bindGauge(m, "consumer_lag", topic, partition)
		q.metrics.misrouted = bindCounter(m, "misrouted_records_total", topic, partition)
	}
	return &q.metrics
}

// RecordingLevel selects which metrics are recorded, as Kafka Streams'
// metrics.recording.level: INFO (the default) records the thread, task
// and processor-node metrics that cost nothing per record beyond a few
// arithmetic operations (the end-to-end latency included); DEBUG adds the
// state store metrics, which time every store operation (measured: see
// BenchmarkMeteredStore); TRACE is accepted and records what DEBUG does
// (Kafka Streams' TRACE-only per-store end-to-end latency is not
// implemented).
type RecordingLevel string

const (
	RecordingLevelInfo  RecordingLevel = "INFO"
	RecordingLevelDebug RecordingLevel = "DEBUG"
	RecordingLevelTrace RecordingLevel = "TRACE"
)

// ParseRecordingLevel parses INFO, DEBUG or TRACE (any case).
func ParseRecordingLevel(s string) (RecordingLevel, error) {
	switch l := RecordingLevel(strings.ToUpper(s)); l {
	case RecordingLevelInfo, RecordingLevelDebug, RecordingLevelTrace:
		return l, nil
	}
	return "", fmt.Errorf("core: unknown metrics.recording.level %q (want INFO, DEBUG or TRACE)", s)
}

func (l RecordingLevel) rank() int {
	switch l {
	case RecordingLevelDebug:
		return 1
	case RecordingLevelTrace:
		return 2
	}
	return 0
}

// recording returns the metrics to record at level l: nil when no metrics
// are configured or the recording level is below l.
func (c *config) recording(l RecordingLevel) Metrics {
	if c.metrics == nil || c.recordingLevel.rank() < l.rank() {
		return nil
	}
	return c.metrics
}

// Stats is a snapshot of an application's counters since it started.
type Stats struct {
	Consumed, Produced, Dropped int64
	Commits, AbortedCommits     int64
	LastCommitLatency           time.Duration
	Tasks                       int64
	Lag                         int64 // records behind the end of the input partitions, summed
	Rebalances                  int64
}

type stats struct {
	consumed, produced, dropped atomic.Int64
	commits, aborted            atomic.Int64
	lastCommitNanos             atomic.Int64
	tasks, lag, rebalances      atomic.Int64
}

func (s *stats) snapshot() Stats {
	return Stats{
		Consumed: s.consumed.Load(), Produced: s.produced.Load(), Dropped: s.dropped.Load(),
		Commits: s.commits.Load(), AbortedCommits: s.aborted.Load(),
		LastCommitLatency: time.Duration(s.lastCommitNanos.Load()),
		Tasks:             s.tasks.Load(), Lag: s.lag.Load(), Rebalances: s.rebalances.Load(),
	}
}

// ---- end-to-end latency (processor-node-metrics record-e2e-latency) ----

// e2eLatency accumulates the end-to-end latency of the records that
// reached one source or terminal node of a task (the task's wall clock of
// the poll step minus the record's timestamp, in ms, as Kafka Streams
// uses its cached system time) between two reports. Owning goroutine
// only: recording is four integer operations, no clock read.
type e2eLatency struct {
	node                 string
	count, sum, min, max int64
}

func newE2ELatency(node string) *e2eLatency {
	return &e2eLatency{node: node, min: math.MaxInt64, max: math.MinInt64}
}

func (l *e2eLatency) record(ms int64) {
	l.count++
	l.sum += ms
	if ms < l.min {
		l.min = ms
	}
	if ms > l.max {
		l.max = ms
	}
}

// e2eReportEvery is how often a thread publishes the end-to-end latency
// gauges: each report covers the records since the previous one. (Kafka
// Streams averages over metrics.sample.window.ms, 30 s, times two
// samples; a shorter window keeps the gauges current between scrapes.)
const e2eReportEvery = time.Second

// reportE2E publishes and resets the accumulated end-to-end latencies of
// tk. A node that saw no record since the last report keeps its values.
func (tk *task) reportE2E(m Metrics) {
	task := Label{"task_id", tk.id.String()}
	for _, l := range tk.e2e {
		if l.count == 0 {
			continue
		}
		node := Label{"node", l.node}
		m.Gauge("record_e2e_latency_avg_seconds", float64(l.sum)/float64(l.count)/1e3, task, node)
		m.Gauge("record_e2e_latency_min_seconds", float64(l.min)/1e3, task, node)
		m.Gauge("record_e2e_latency_max_seconds", float64(l.max)/1e3, task, node)
		l.count, l.sum, l.min, l.max = 0, 0, math.MaxInt64, math.MinInt64
	}
}

// e2eFor returns the latency accumulator of a source or terminal node,
// nil when the end-to-end latency is not recorded.
func (tk *task) e2eFor(node string) *e2eLatency {
	if tk.env.cfg.recording(RecordingLevelInfo) == nil {
		return nil
	}
	for _, l := range tk.e2e {
		if l.node == node {
			return l
		}
	}
	l := newE2ELatency(node)
	tk.e2e = append(tk.e2e, l)
	return l
}

// ---- restore progress (stream-task-metrics restore-total, restore-remaining-records-total) ----

// reportRestore publishes a changelog's restore progress.
func (t *thread) reportRestore(cl *changelog, tk *task, restored int64) {
	m := t.cfg.recording(RecordingLevelInfo)
	if m == nil || tk == nil {
		return
	}
	task, store := Label{"task_id", tk.id.String()}, Label{"store", cl.store}
	if restored > 0 {
		m.Counter("records_restored_total", restored, task, store)
	}
	m.Gauge("restore_remaining_records", float64(max(cl.restoreEnd-cl.restorePos, 0)), task, store)
}

// ---- state store metrics (stream-state-metrics put-latency, get-latency) ----

// storeLatency records a store's operation latencies (DEBUG level).
type storeLatency struct{ put, get func(float64) }

// meterStore wraps a task's store to time its puts and gets when the
// recording level is DEBUG or above; otherwise it returns the store as
// is, so that INFO costs nothing per operation. The metered layer is the
// outermost, as Kafka Streams' MeteredKeyValueStore: a put's latency
// includes the record cache and the changelog write.
func (tk *task) meterStore(name string, store any) any {
	m := tk.env.cfg.recording(RecordingLevelDebug)
	if m == nil {
		return store
	}
	task, st := Label{"task_id", tk.id.String()}, Label{"store", name}
	lat := storeLatency{
		put: bindHistogram(m, "store_put_latency_seconds", task, st),
		get: bindHistogram(m, "store_get_latency_seconds", task, st),
	}
	switch s := store.(type) {
	case state.KeyValueStore:
		return &meteredKV{KeyValueStore: s, lat: lat}
	case state.WindowStore:
		return &meteredWindow{WindowStore: s, lat: lat}
	case state.SessionStore:
		return &meteredSession{SessionStore: s, lat: lat}
	}
	return store
}

// unmetered returns the store a metered wrapper holds.
func unmetered(s any) any {
	switch m := s.(type) {
	case *meteredKV:
		return m.KeyValueStore
	case *meteredWindow:
		return m.WindowStore
	case *meteredSession:
		return m.SessionStore
	}
	return s
}

type meteredKV struct {
	state.KeyValueStore
	lat storeLatency
}

func (s *meteredKV) Get(key []byte) ([]byte, error) {
	start := time.Now()
	v, err := s.KeyValueStore.Get(key)
	s.lat.get(time.Since(start).Seconds())
	return v, err
}

func (s *meteredKV) Put(key, value []byte) error {
	start := time.Now()
	err := s.KeyValueStore.Put(key, value)
	s.lat.put(time.Since(start).Seconds())
	return err
}

type meteredWindow struct {
	state.WindowStore
	lat storeLatency
}

func (s *meteredWindow) Fetch(key []byte, windowStart int64) ([]byte, error) {
	start := time.Now()
	v, err := s.WindowStore.Fetch(key, windowStart)
	s.lat.get(time.Since(start).Seconds())
	return v, err
}

func (s *meteredWindow) Put(key []byte, windowStart int64, value []byte) error {
	start := time.Now()
	err := s.WindowStore.Put(key, windowStart, value)
	s.lat.put(time.Since(start).Seconds())
	return err
}

type meteredSession struct {
	state.SessionStore
	lat storeLatency
}

func (s *meteredSession) Put(key []byte, start, end int64, value []byte) error {
	t0 := time.Now()
	err := s.SessionStore.Put(key, start, end, value)
	s.lat.put(time.Since(t0).Seconds())
	return err
}
