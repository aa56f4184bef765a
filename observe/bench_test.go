package observe_test

import (
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/observe"
)

// BenchmarkReport is one engine report (a counter with a thread label and
// a gauge with topic and partition): the per-batch cost of metrics.
func BenchmarkReport(b *testing.B) {
	e := observe.NewMetrics().Engine()
	b.ReportAllocs()
	for b.Loop() {
		e.Counter("records_consumed_total", 100, core.Label{Name: "thread", Value: "app-StreamThread-1"})
		e.Gauge("consumer_lag", 3, core.Label{Name: "topic", Value: "in"}, core.Label{Name: "partition", Value: "0"})
	}
}

// BenchmarkBoundReport is what a stream thread's poll step records with
// Prometheus metrics since the series are bound (core.SeriesBinder): the
// thread's three record counters and the lag gauges of its four
// partitions, as in `sluice bench --pipelines bytes-metrics`.
func BenchmarkBoundReport(b *testing.B) {
	e := observe.NewMetrics().Engine().(core.SeriesBinder)
	thread := core.Label{Name: "thread", Value: "app-StreamThread-1"}
	consumed := e.BindCounter("records_consumed_total", thread)
	produced := e.BindCounter("records_produced_total", thread)
	dropped := e.BindCounter("records_dropped_total", thread)
	var lags []func(float64)
	for _, p := range []string{"0", "1", "2", "3"} {
		lags = append(lags, e.BindGauge("consumer_lag", core.Label{Name: "topic", Value: "in"}, core.Label{Name: "partition", Value: p}))
	}
	b.ReportAllocs()
	for b.Loop() {
		consumed(500)
		produced(500)
		dropped(0)
		for _, l := range lags {
			l(3)
		}
	}
}

// BenchmarkScrape is one scrape of /metrics (Prometheus text format) with
// a thread's series and four partitions' lag recorded, plus the Go
// runtime's and the process's collectors: the once-a-second cost of
// being scraped.
func BenchmarkScrape(b *testing.B) {
	m := observe.NewMetrics()
	e := m.Engine()
	thread := core.Label{Name: "thread", Value: "app-StreamThread-1"}
	for _, name := range []string{"records_consumed_total", "records_produced_total", "records_dropped_total", "commits_total"} {
		e.Counter(name, 1, thread)
	}
	for _, p := range []string{"0", "1", "2", "3"} {
		e.Gauge("consumer_lag", 3, core.Label{Name: "topic", Value: "in"}, core.Label{Name: "partition", Value: p})
	}
	h := observe.Handler(m, observe.Checks{})
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
