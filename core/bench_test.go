package core_test

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
)

// BenchmarkStatelessTask measures the engine's per-record cost without
// Kafka: source deserialization, Filter and MapValues processors, sink
// serialization, through the test driver's task (the runtime's task code).
func BenchmarkStatelessTask(b *testing.B) {
	topo := core.NewTopology()
	must(b, core.AddSource(topo, "src", serde.String(), serde.String(), []string{"in"}))
	must(b, core.AddProcessor(topo, "filter", core.ProcessorFunc[string, string, string, string](
		func(ctx core.ProcessorContext[string, string], r core.Record[string, string]) error {
			if r.Value != "" {
				return ctx.Forward(r)
			}
			return nil
		}).Supplier(), "src"))
	must(b, core.AddProcessor(topo, "map", core.ProcessorFunc[string, string, string, string](
		func(ctx core.ProcessorContext[string, string], r core.Record[string, string]) error {
			return ctx.Forward(r)
		}).Supplier(), "filter"))
	must(b, core.AddSink(topo, "sink", serde.String(), serde.String(), core.ToTopic[string, string]("out"), []string{"map"}))
	d, err := core.NewTestDriver(topo)
	must(b, err)
	rec := &kgo.Record{Topic: "in", Key: []byte("key-123"), Value: []byte(strings.Repeat("v", 100)), Timestamp: time.UnixMilli(1)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.Pipe(rec); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 0 {
			d.ReadOutput("out")
		}
	}
}
