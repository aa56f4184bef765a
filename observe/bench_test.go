package observe_test

import (
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
