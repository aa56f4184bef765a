package dsl_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde"
)

// enrich builds: orders (key: order id, value: customer id) enriched with
// the customer's name from a global table of customers.
func enrich(b *dsl.Builder) {
	customers := dsl.GlobalTable(b, "customers", dsl.ConsumedWith(serde.String(), serde.String()))
	orders := dsl.Stream(b, "orders", dsl.ConsumedWith(serde.String(), serde.String()))
	dsl.ProcessWithStores(orders, core.ProcessorFunc[string, string, string, string](
		func(ctx core.ProcessorContext[string, string], r core.Record[string, string]) error {
			name, ok, err := dsl.GlobalLookup(ctx, customers, r.Value)
			if err != nil {
				return err
			}
			if !ok {
				name = "?"
			}
			return ctx.Forward(core.WithValue(r, r.Value+"="+name))
		}).Supplier(), []string{customers.StoreName()}).To("enriched")
}

func TestGlobalTableDriver(t *testing.T) {
	b := dsl.NewBuilder()
	enrich(b)
	d := driver(t, b)
	cust := core.NewTestInputTopic(d, "customers", serde.String(), serde.String())
	orders := core.NewTestInputTopic(d, "orders", serde.String(), serde.String())
	out := core.NewTestOutputTopic(d, "enriched", serde.String(), serde.String())
	steps := []error{
		orders.PipeAt("o1", "c1", at(1)),
		cust.PipeAt("c1", "ada", at(2)),
		orders.PipeAt("o2", "c1", at(3)),
		cust.PipeAt("c1", "ada lovelace", at(4)),
		orders.PipeAt("o3", "c1", at(5)),
		cust.PipeNull("c1", at(6)),
		orders.PipeAt("o4", "c1", at(7)),
	}
	for _, err := range steps {
		if err != nil {
			t.Fatal(err)
		}
	}
	vals, err := out.ReadValues()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"c1=?", "c1=ada", "c1=ada lovelace", "c1=?"}
	if fmt.Sprint(vals) != fmt.Sprint(want) {
		t.Fatalf("enriched = %v, want %v", vals, want)
	}
}

// TestGlobalTableBootstrap: rows already in the global topic (on all its
// partitions) are loaded before the first order is processed, on a real
// broker; later rows are picked up while running.
func TestGlobalTableBootstrap(t *testing.T) {
	t.Parallel()
	br := testbroker.New(t)
	br.CreateTopic(t, "customers", 3, nil)
	br.CreateTopic(t, "orders", 2, nil)
	br.CreateTopic(t, "enriched", 2, nil)
	var recs []*kgo.Record
	for i := range 300 {
		recs = append(recs, &kgo.Record{Topic: "customers", Key: fmt.Appendf(nil, "c%d", i), Value: fmt.Appendf(nil, "name%d", i)})
	}
	for i := range 300 {
		recs = append(recs, &kgo.Record{Topic: "orders", Key: fmt.Appendf(nil, "o%d", i), Value: fmt.Appendf(nil, "c%d", i)})
	}
	br.Produce(t, recs...)
	b := dsl.NewBuilder()
	enrich(b)
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := core.New(topo, core.WithBrokers(br.Addr()), core.WithApplicationID("global"), core.WithStateDir(t.TempDir()),
		core.WithCommitInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for app.Stats().Consumed < 300 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// A customer added while running is eventually seen by later orders
	// (the global consumer applies it asynchronously, as in Kafka Streams).
	br.Produce(t, &kgo.Record{Topic: "customers", Key: []byte("late"), Value: []byte("newcomer")})
	seen := false
	for probe := 0; !seen && time.Now().Before(deadline); probe++ {
		br.Produce(t, &kgo.Record{Topic: "orders", Key: fmt.Appendf(nil, "o-late-%d", probe), Value: []byte("late")})
		time.Sleep(100 * time.Millisecond)
		for _, r := range br.ReadAll(t, "enriched") {
			if string(r.Value) == "late=newcomer" {
				seen = true
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range br.ReadAll(t, "enriched") {
		got[string(r.Key)] = string(r.Value)
	}
	for i := range 300 {
		if want := fmt.Sprintf("c%d=name%d", i, i); got[fmt.Sprintf("o%d", i)] != want {
			t.Fatalf("o%d = %q, want %q (global table not loaded before processing)", i, got[fmt.Sprintf("o%d", i)], want)
		}
	}
	if !seen {
		t.Fatal("a row added to the global topic while running never became visible")
	}
}
