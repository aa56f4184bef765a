// Package observe exposes running Sluice components to operators:
// Prometheus metrics named after Kafka Streams' and Kafka Connect's, and
// liveness and readiness endpoints.
//
//	m := observe.NewMetrics()
//	app, err := core.New(topo, core.WithMetrics(m.Engine()), ...)
//	m.WatchApp(app)
//	srv := &http.Server{Addr: ":8080", Handler: observe.Handler(m, observe.AppLive(app), observe.AppReady(app))}
//
// `sluice run --http ADDR` serves the same for a job. The metric names are
// listed in docs/metrics.md.
package observe

import (
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
)

// Metrics is a Prometheus registry that Sluice's components report to.
// It holds the Go runtime and process collectors too.
type Metrics struct {
	reg *prometheus.Registry

	mu     sync.Mutex
	series map[string]*series // by engine name and label names

	// children caches the metric of each reported name and label set: a
	// report is a read-locked map lookup, no allocation, so that reporting
	// per batch stays within the engine's noise.
	childMu  sync.RWMutex
	children map[callKey]*child

	// apps are the applications of WatchApp, read by one collector at
	// scrape time (Prometheus refuses a second collector with the same
	// descriptors, and a process may run several applications).
	appsMu sync.Mutex
	apps   []appCollector
}

// callKey is a reported name with up to four labels, as passed.
type callKey struct {
	name   string
	n      int
	labels [4]core.Label
}

// child is one labelled metric; nil fields (a series that could not be
// registered) make reports no-ops.
type child struct {
	counter prometheus.Counter
	gauge   prometheus.Gauge
	hist    prometheus.Observer
}

// series is one Prometheus metric fed through core.Metrics.
type series struct {
	counter *prometheus.CounterVec
	gauge   *prometheus.GaugeVec
	hist    *prometheus.HistogramVec
	labels  []string
}

// NewMetrics returns an empty registry with the Go and process collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Metrics{reg: reg, series: map[string]*series{}, children: map[callKey]*child{}}
}

// Registry returns the Prometheus registry, to add a program's own
// metrics or serve it elsewhere.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Engine returns the core.Metrics to give the engine (core.WithMetrics)
// and the connector worker (worker.Config.Metrics). Both report per batch
// and per commit, never per record.
func (m *Metrics) Engine() core.Metrics { return engineMetrics{m} }

// engineNames maps the engine's metric names (with their label names) to
// Prometheus names in Kafka Streams' terms: the group (stream-thread,
// stream-task, processor-node, consumer-fetch-manager) and the metric.
var engineNames = map[string]struct{ name, help string }{
	"records_consumed_total|thread":     {"sluice_stream_thread_process_records_total", "Records processed by the stream thread (Kafka Streams: stream-thread-metrics process-total)."},
	"records_produced_total|thread":     {"sluice_stream_thread_produced_records_total", "Records the stream thread produced to its sink topics."},
	"records_dropped_total|thread":      {"sluice_stream_thread_dropped_records_total", "Records dropped (deserialization, processing and production handlers that continued; late records) (Kafka Streams: stream-task-metrics dropped-records-total, summed per thread)."},
	"records_dropped_total|node,reason": {"sluice_stream_processor_node_dropped_records_total", "Records a processor node dropped, by reason (late, null key, ...)."},
	"commits_total|thread":              {"sluice_stream_thread_commit_total", "Commits of the stream thread (Kafka Streams: stream-thread-metrics commit-total)."},
	"commit_latency_seconds|thread":     {"sluice_stream_thread_commit_latency_seconds", "Commit latency (Kafka Streams: stream-thread-metrics commit-latency-avg/max)."},
	"consumer_lag|partition,topic":      {"sluice_consumer_records_lag", "Records behind the end of an input partition, fetched but unprocessed included (Kafka consumer: records-lag)."},

	// INFO level (core.WithMetricsRecordingLevel).
	"record_e2e_latency_avg_seconds|node,task_id": {"sluice_stream_processor_node_record_e2e_latency_avg_seconds", "Average end-to-end latency (wall clock minus record timestamp) of the records that reached a source or terminal node since the previous report, about a second (Kafka Streams: processor-node-metrics record-e2e-latency-avg)."},
	"record_e2e_latency_min_seconds|node,task_id": {"sluice_stream_processor_node_record_e2e_latency_min_seconds", "Minimum end-to-end latency at a source or terminal node since the previous report (Kafka Streams: processor-node-metrics record-e2e-latency-min)."},
	"record_e2e_latency_max_seconds|node,task_id": {"sluice_stream_processor_node_record_e2e_latency_max_seconds", "Maximum end-to-end latency at a source or terminal node since the previous report (Kafka Streams: processor-node-metrics record-e2e-latency-max)."},
	"records_restored_total|store,task_id":        {"sluice_stream_task_restore_records_total", "Changelog records restored into a store of a task (Kafka Streams: restore-total)."},
	"restore_remaining_records|store,task_id":     {"sluice_stream_task_restore_remaining_records", "Changelog records a store of a task has still to restore (Kafka Streams: restore-remaining-records-total)."},
	// DEBUG level.
	"store_put_latency_seconds|store,task_id": {"sluice_stream_state_put_latency_seconds", "Latency of a state store's puts, record cache and changelog write included (Kafka Streams: stream-state-metrics put-latency-avg/max; DEBUG recording level)."},
	"store_get_latency_seconds|store,task_id": {"sluice_stream_state_get_latency_seconds", "Latency of a state store's gets (window stores: point fetches) (Kafka Streams: stream-state-metrics get-latency-avg/max; DEBUG recording level)."},
	// Sluice's own: no Kafka Streams equivalent.
	"misrouted_records_total|partition,topic": {"sluice_stream_misrouted_records_total", "Records of a co-partitioned (joined) input topic found on a partition their key does not hash to under Kafka's default partitioner (murmur2); sampled after the first 1024 keyed records of each partition."},

	// The connector worker's (worker.Config.Metrics), in Kafka Connect's
	// connector-task, source-task, sink-task and task-error groups.
	"source_record_poll_total|connector,task":               {"sluice_connect_source_task_source_record_poll_total", "Records polled from the source (Kafka Connect: source-record-poll-total)."},
	"source_record_write_total|connector,task":              {"sluice_connect_source_task_source_record_write_total", "Records written to Kafka and committed (Kafka Connect: source-record-write-total)."},
	"sink_record_read_total|connector,task":                 {"sluice_connect_sink_task_sink_record_read_total", "Records read from Kafka (Kafka Connect: sink-record-read-total)."},
	"sink_record_send_total|connector,task":                 {"sluice_connect_sink_task_sink_record_send_total", "Records handed to the sink after transforms (Kafka Connect: sink-record-send-total)."},
	"sink_record_lag|connector,task":                        {"sluice_connect_sink_task_records_lag", "Records behind the end of the task's partitions."},
	"connector_record_errors_total|connector,task":          {"sluice_connect_task_error_total_record_errors_total", "Records that failed a stage (Kafka Connect: task-error-metrics total-record-errors)."},
	"deadletterqueue_produce_requests_total|connector,task": {"sluice_connect_task_error_deadletterqueue_produce_requests_total", "Records written to the dead-letter topic (Kafka Connect: deadletterqueue-produce-requests)."},
	"connector_retries_total|connector,task":                {"sluice_connect_task_error_total_retries_total", "Retried operations (Kafka Connect: total-retries)."},
	"source_record_poll_batch_seconds|connector,task":       {"sluice_connect_source_task_poll_batch_seconds", "Time to poll a batch from the source (Kafka Connect: poll-batch-avg-time-ms)."},
	"put_batch_seconds|connector,task":                      {"sluice_connect_sink_task_put_batch_seconds", "Time to put a batch into the sink (Kafka Connect: put-batch-avg-time-ms)."},
	"offset_commit_seconds|connector,task":                  {"sluice_connect_connector_task_offset_commit_seconds", "Time to commit offsets (Kafka Connect: offset-commit-avg-time-ms)."},
}

// storeLatencyBuckets are the buckets of the store latencies, which are
// microseconds where the other histograms' are milliseconds.
var storeLatencyBuckets = []float64{2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, .1}

// engineBuckets are the histogram buckets of engine metrics that do not
// use the default ones.
var engineBuckets = map[string][]float64{
	"store_put_latency_seconds|store,task_id": storeLatencyBuckets,
	"store_get_latency_seconds|store,task_id": storeLatencyBuckets,
}

// get returns the series for an engine metric, creating it on first use
// (kind: "counter", "gauge" or "histogram").
func (m *Metrics) get(kind, name string, labels []core.Label) *series {
	names := make([]string, len(labels))
	for i, l := range labels {
		names[i] = l.Name
	}
	sort.Strings(names)
	key := name + "|" + strings.Join(names, ",")
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.series[key]; ok {
		return s
	}
	promName, help := "sluice_"+name, "Sluice engine metric "+name+"."
	if n, ok := engineNames[key]; ok {
		promName, help = n.name, n.help
	}
	for i, n := range names {
		if n == "thread" {
			names[i] = "thread_id" // Kafka Streams' tag name
		}
	}
	s := &series{labels: names}
	var c prometheus.Collector
	switch kind {
	case "counter":
		s.counter = prometheus.NewCounterVec(prometheus.CounterOpts{Name: promName, Help: help}, names)
		c = s.counter
	case "gauge":
		s.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: promName, Help: help}, names)
		c = s.gauge
	default:
		buckets := engineBuckets[key]
		if buckets == nil {
			buckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
		}
		s.hist = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: promName, Help: help, Buckets: buckets}, names)
		c = s.hist
	}
	if err := m.reg.Register(c); err != nil {
		// The same Prometheus name with other labels (a name reused by
		// another component): keep the process running, lose the series.
		slog.Warn("observe: metric not registered", "metric", promName, "error", err)
		s.counter, s.gauge, s.hist = nil, nil, nil
	}
	m.series[key] = s
	return s
}

// values orders label values as the series' label names.
func (s *series) values(labels []core.Label) []string {
	out := make([]string, len(s.labels))
	for i, n := range s.labels {
		if n == "thread_id" {
			n = "thread"
		}
		for _, l := range labels {
			if l.Name == n {
				out[i] = l.Value
				break
			}
		}
	}
	return out
}

// child returns the metric for a report, from the cache when seen before.
func (m *Metrics) child(kind, name string, labels []core.Label) *child {
	if len(labels) > 4 {
		return m.newChild(kind, name, labels)
	}
	k := callKey{name: name, n: len(labels)}
	copy(k.labels[:], labels)
	m.childMu.RLock()
	c := m.children[k]
	m.childMu.RUnlock()
	if c != nil {
		return c
	}
	c = m.newChild(kind, name, labels)
	m.childMu.Lock()
	m.children[k] = c
	m.childMu.Unlock()
	return c
}

func (m *Metrics) newChild(kind, name string, labels []core.Label) *child {
	s := m.get(kind, name, labels)
	c := &child{}
	switch {
	case s.counter != nil:
		c.counter = s.counter.WithLabelValues(s.values(labels)...)
	case s.gauge != nil:
		c.gauge = s.gauge.WithLabelValues(s.values(labels)...)
	case s.hist != nil:
		c.hist = s.hist.WithLabelValues(s.values(labels)...)
	}
	return c
}

type engineMetrics struct{ m *Metrics }

func (e engineMetrics) Counter(name string, delta int64, labels ...core.Label) {
	if c := e.m.child("counter", name, labels); c.counter != nil && delta > 0 {
		c.counter.Add(float64(delta))
	}
}

func (e engineMetrics) Gauge(name string, value float64, labels ...core.Label) {
	if c := e.m.child("gauge", name, labels); c.gauge != nil {
		c.gauge.Set(value)
	}
}

func (e engineMetrics) Histogram(name string, value float64, labels ...core.Label) {
	if c := e.m.child("histogram", name, labels); c.hist != nil {
		c.hist.Observe(value)
	}
}

// BindCounter implements core.SeriesBinder: the series is looked up once.
func (e engineMetrics) BindCounter(name string, labels ...core.Label) func(int64) {
	if c := e.m.child("counter", name, labels); c.counter != nil {
		return func(delta int64) {
			if delta > 0 {
				c.counter.Add(float64(delta))
			}
		}
	}
	return func(int64) {}
}

// BindGauge implements core.SeriesBinder: the series is looked up once.
func (e engineMetrics) BindGauge(name string, labels ...core.Label) func(float64) {
	if c := e.m.child("gauge", name, labels); c.gauge != nil {
		return c.gauge.Set
	}
	return func(float64) {}
}

// BindHistogram implements core.HistogramBinder: the series is looked up
// once, and each observation is the Prometheus histogram's own (atomic
// adds, no lock).
func (e engineMetrics) BindHistogram(name string, labels ...core.Label) func(float64) {
	if c := e.m.child("histogram", name, labels); c.hist != nil {
		return c.hist.Observe
	}
	return func(float64) {}
}

// The states an application or a connector task can be in, for the state
// gauges (one series per state, 1 for the current one, as
// kube-state-metrics does for phases).
var appStates = []core.State{core.StateCreated, core.StateRebalancing, core.StateRunning, core.StatePendingShutdown, core.StateNotRunning, core.StateError}

var (
	appStateDesc    = desc("sluice_stream_state", "The application's state, 1 for the current one (Kafka Streams: client-metrics state).", []string{"application_id", "state"}, nil)
	appTasksDesc    = desc("sluice_stream_active_tasks", "Active tasks of this instance.", []string{"application_id"}, nil)
	appLagDesc      = desc("sluice_stream_records_lag", "Records behind the end of all input partitions of this instance.", []string{"application_id"}, nil)
	appRebalDesc    = desc("sluice_stream_rebalances_total", "Rebalances this instance took part in.", []string{"application_id"}, nil)
	appAbortDesc    = desc("sluice_stream_aborted_commits_total", "Commits that did not complete (aborted transactions).", []string{"application_id"}, nil)
	appConsumedDesc = desc("sluice_stream_process_records_total", "Records processed by this instance.", []string{"application_id"}, nil)
)

// appCollector reads an App's state and counters at scrape time.
type appCollector struct {
	id  string
	app *core.App
}

func (c appCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{appStateDesc, appTasksDesc, appLagDesc, appRebalDesc, appAbortDesc, appConsumedDesc} {
		ch <- d
	}
}

func (c appCollector) Collect(ch chan<- prometheus.Metric) {
	cur := c.app.State()
	for _, s := range appStates {
		v := 0.0
		if s == cur {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(appStateDesc, prometheus.GaugeValue, v, c.id, string(s))
	}
	st := c.app.Stats()
	ch <- prometheus.MustNewConstMetric(appTasksDesc, prometheus.GaugeValue, float64(st.Tasks), c.id)
	ch <- prometheus.MustNewConstMetric(appLagDesc, prometheus.GaugeValue, float64(st.Lag), c.id)
	ch <- prometheus.MustNewConstMetric(appRebalDesc, prometheus.CounterValue, float64(st.Rebalances), c.id)
	ch <- prometheus.MustNewConstMetric(appAbortDesc, prometheus.CounterValue, float64(st.AbortedCommits), c.id)
	ch <- prometheus.MustNewConstMetric(appConsumedDesc, prometheus.CounterValue, float64(st.Consumed), c.id)
}

// WatchApp adds the application's state and counters, read at scrape time,
// under its application id. Several applications (or instances, under ids
// of their own) may be watched; an id may be watched once.
func (m *Metrics) WatchApp(applicationID string, app *core.App) error {
	m.appsMu.Lock()
	defer m.appsMu.Unlock()
	for _, a := range m.apps {
		if a.id == applicationID {
			return fmt.Errorf("observe: application %q is watched already", applicationID)
		}
	}
	m.apps = append(m.apps, appCollector{id: applicationID, app: app})
	if len(m.apps) > 1 {
		return nil
	}
	if err := m.reg.Register(appsCollector{m}); err != nil {
		m.apps = nil
		return err
	}
	return nil
}

// appsCollector collects every watched application.
type appsCollector struct{ m *Metrics }

func (c appsCollector) Describe(ch chan<- *prometheus.Desc) { appCollector{}.Describe(ch) }

func (c appsCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.appsMu.Lock()
	apps := append([]appCollector(nil), c.m.apps...)
	c.m.appsMu.Unlock()
	for _, a := range apps {
		a.Collect(ch)
	}
}

var (
	connStateDesc   = desc("sluice_connect_connector_task_status", "A connector task's state, 1 for the current one (Kafka Connect: connector-task-metrics status).", []string{"connector", "task", "type", "status"}, nil)
	connectorStates = []worker.State{worker.StateUnassigned, worker.StateRunning, worker.StateFailed, worker.StateFinished, worker.StateStopped}
)

// connectorCollector reads connector task states at scrape time (their
// counters come through worker.Config.Metrics).
type connectorCollector struct{ statuses func() []worker.Status }

func (c connectorCollector) Describe(ch chan<- *prometheus.Desc) { ch <- connStateDesc }

func (c connectorCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.statuses() {
		for _, t := range st.Tasks {
			task := strconv.Itoa(t.ID)
			for _, s := range connectorStates {
				v := 0.0
				if s == t.State {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(connStateDesc, prometheus.GaugeValue, v, st.Name, task, st.Type, strings.ToLower(string(s)))
			}
		}
	}
}

// WatchConnectors adds the connectors' task states, read at scrape time
// from statuses (each worker.Connector's Status). Their counters and
// latencies come from giving Engine() as worker.Config.Metrics.
func (m *Metrics) WatchConnectors(statuses func() []worker.Status) error {
	return m.reg.Register(connectorCollector{statuses: statuses})
}

// collectorNames are the names of the scrape-time collectors' metrics
// (written once, while the package's variables initialize).
var collectorNames []string

// desc is prometheus.NewDesc, remembering the name for MetricNames.
func desc(name, help string, labels []string, constLabels prometheus.Labels) *prometheus.Desc {
	collectorNames = append(collectorNames, name)
	return prometheus.NewDesc(name, help, labels, constLabels)
}

// MetricNames lists the Prometheus names this package can emit (besides
// the Go runtime's, and names the engine reports that it does not map).
func MetricNames() []string {
	out := append([]string(nil), collectorNames...)
	out = append(out, registryRequestsName, registryDurationName)
	for _, n := range engineNames {
		out = append(out, n.name)
	}
	sort.Strings(out)
	return out
}
