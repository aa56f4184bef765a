package jobbench

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/cputime"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/registry"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// The benchmarks below measure the per-record processing cost of the two
// pipelines of Run without Kafka: the test driver runs the runtime's task
// code on Avro records in the registry's wire format. They are the place
// to profile (-cpuprofile, -memprofile) the job machinery against the Go
// DSL; `sluice bench jobs` measures the whole path through a broker.
//
// The test driver commits after every record (as Kafka Streams'
// TopologyTestDriver does), so the windowed pipeline forwards every
// update here instead of one per cache flush.

type benchEnv struct {
	url, dir, schemaFile string
	client               avroRegistry
	inputs               []*kgo.Record
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	br := testbroker.New(b)
	reg, err := registry.New(context.Background(), registry.WithBrokers(br.Addr()))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = reg.Serve(ln) }()
	b.Cleanup(func() { _ = reg.Close() })
	e := &benchEnv{url: "http://" + ln.Addr().String(), dir: b.TempDir()}
	if e.client, err = schemaregistry.NewClient(e.url); err != nil {
		b.Fatal(err)
	}
	e.schemaFile = filepath.Join(e.dir, "order.avsc")
	if err := os.WriteFile(e.schemaFile, []byte(orderSchema), 0o644); err != nil {
		b.Fatal(err)
	}
	values, err := avro.New[Order](e.client, orderSchema)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cities := []string{"Columbus", "Miami", "Nashville", "Denver", "Boise"}
	for i := range 4096 {
		o := Order{OrderTime: start.Add(time.Duration(i) * 10 * time.Millisecond).UnixMilli(), OrderID: int64(i),
			CustomerID: int32(i%50 + 1), ItemID: fmt.Sprintf("Item_%d", i%100+1), OrderUnits: float64(i%10) + 0.5,
			Price: float64(i%100) + 0.99, City: cities[i%len(cities)], State: "XX", Zipcode: 10000 + int64(i%500)}
		o.Amount = o.OrderUnits * o.Price
		v, err := values.Serialize(inputTopic, o)
		if err != nil {
			b.Fatal(err)
		}
		e.inputs = append(e.inputs, &kgo.Record{Topic: inputTopic, Key: []byte(fmt.Sprint(o.CustomerID)), Value: v, Timestamp: time.UnixMilli(o.OrderTime)})
	}
	return e
}

func (e *benchEnv) run(b *testing.B, topo *core.Topology, out string) {
	b.Helper()
	d, err := core.NewTestDriver(topo)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	// Warm up: registry look-ups and registrations happen once.
	for _, r := range e.inputs[:16] {
		if err := d.Pipe(r); err != nil {
			b.Fatal(err)
		}
	}
	d.ReadOutput(out)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for i := 0; i < b.N; i++ {
		if err := d.Pipe(e.inputs[i%len(e.inputs)]); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 0 {
			d.ReadOutput(out)
		}
	}
	// The process's CPU time (garbage collection included) varies less
	// than the wall time on a machine shared with other work.
	b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N), "cpu-ns/op")
}

func benchPipelines(b *testing.B, goT func(avroRegistry, string) (*core.Topology, string, error), steps string) {
	e := newBenchEnv(b)
	b.Run("go", func(b *testing.B) {
		topo, app, err := goT(e.client, "go")
		if err != nil {
			b.Fatal(err)
		}
		e.run(b, topo, app+"-out")
	})
	b.Run("yaml", func(b *testing.B) {
		topo, app, err := yamlTopology(e.dir, e.url, e.schemaFile, "yaml", steps)
		if err != nil {
			b.Fatal(err)
		}
		e.run(b, topo, app+"-out")
	})
}

func BenchmarkStateless(b *testing.B) { benchPipelines(b, goStateless, statelessSteps) }

func BenchmarkWindowed(b *testing.B) { benchPipelines(b, goWindowed, windowedSteps) }
