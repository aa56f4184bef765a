package core_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/serde"
)

func upperTopology(t testing.TB, in, out string) *core.Topology {
	t.Helper()
	topo := core.NewTopology()
	must(t, core.AddSource(topo, "src", serde.String(), serde.String(), []string{in}))
	must(t, core.AddProcessor(topo, "upper", core.ProcessorFunc[string, string, string, string](
		func(ctx core.ProcessorContext[string, string], r core.Record[string, string]) error {
			return ctx.Forward(core.WithValue(r, strings.ToUpper(r.Value)))
		}).Supplier(), "src"))
	must(t, core.AddSink(topo, "sink", serde.String(), serde.String(), core.ToTopic[string, string](out), []string{"upper"}))
	return topo
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func runApp(t testing.TB, app *core.App) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(60 * time.Second):
			t.Fatal("app did not stop")
			return nil
		}
	}
}

func TestUppercaseGuarantees(t *testing.T) {
	for _, g := range []core.ProcessingGuarantee{core.AtLeastOnce, core.ExactlyOnceV2} {
		t.Run(string(g), func(t *testing.T) {
			b := testbroker.New(t)
			b.CreateTopic(t, "in", 4, nil)
			b.CreateTopic(t, "out", 4, nil)
			const n = 2000
			var recs []*kgo.Record
			for i := range n {
				recs = append(recs, &kgo.Record{Topic: "in", Key: fmt.Appendf(nil, "k%d", i%17), Value: fmt.Appendf(nil, "v%d", i)})
			}
			b.Produce(t, recs...)
			app, err := core.New(upperTopology(t, "in", "out"), core.WithBrokers(b.Addr()), core.WithApplicationID("up-"+string(g)),
				core.WithProcessingGuarantee(g), core.WithCommitInterval(100*time.Millisecond))
			must(t, err)
			stop := runApp(t, app)
			testwait.Until(t, "all output", 30*time.Second, func() bool { return app.Stats().Consumed >= n })
			must(t, stop())
			got := b.ReadAll(t, "out")
			if len(got) != n {
				t.Fatalf("got %d output records, want %d", len(got), n)
			}
			seen := map[string]bool{}
			lastPerKey := map[string]int{}
			for _, r := range got {
				v := string(r.Value)
				if seen[v] {
					t.Fatalf("duplicate %s", v)
				}
				seen[v] = true
				var i int
				fmt.Sscanf(v, "V%d", &i)
				if want := fmt.Sprintf("k%d", i%17); string(r.Key) != want {
					t.Fatalf("value %s has key %s, want %s", v, r.Key, want)
				}
				if last, ok := lastPerKey[string(r.Key)]; ok && last > i {
					t.Fatalf("key %s out of order: %d after %d", r.Key, i, last)
				}
				lastPerKey[string(r.Key)] = i
			}
		})
	}
}
