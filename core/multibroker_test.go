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
)

// TestLeadershipMovesOnThreeBrokers runs the engine on a three-broker
// cluster while every partition's leader moves every 50 ms (and, once,
// the group and transaction coordinators) during two seconds of input:
// at-least-once loses nothing,
// exactly-once writes every record once, in order per key.
func TestLeadershipMovesOnThreeBrokers(t *testing.T) {
	for _, g := range []core.ProcessingGuarantee{core.AtLeastOnce, core.ExactlyOnceV2} {
		t.Run(string(g), func(t *testing.T) {
			t.Parallel()
			b := testbroker.NewElecting(t)
			b.CreateTopic(t, "lm-in", 4, nil)
			b.CreateTopic(t, "lm-out", 4, nil)
			app, err := core.New(upperTopology(t, "lm-in", "lm-out"), core.WithBrokers(b.Addrs()...),
				core.WithApplicationID("leaders-"+string(g)), core.WithProcessingGuarantee(g),
				core.WithCommitInterval(50*time.Millisecond), core.WithStateDir(t.TempDir()))
			must(t, err)
			stop := runApp(t, app)

			const perKey, keys = 2500, 4
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			stopMoving := b.MoveLeaders(50 * time.Millisecond)
			cl := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			for i := range perKey {
				if i%125 == 0 {
					time.Sleep(100 * time.Millisecond) // records flow for ~2 s, across ~40 elections
				}
				for k := range keys {
					cl.Produce(ctx, &kgo.Record{Topic: "lm-in", Partition: int32(k), Key: fmt.Appendf(nil, "k%d", k),
						Value: fmt.Appendf(nil, "v%05d", i)}, func(_ *kgo.Record, err error) {
						if err != nil {
							t.Errorf("produce: %v", err)
						}
					})
				}
			}
			must(t, cl.Flush(ctx))
			testwait.Until(t, "all records processed", 90*time.Second, func() bool { return app.Stats().Consumed >= perKey*keys && app.Stats().Lag == 0 })
			stopMoving()
			must(t, stop())

			byKey := map[string][]string{}
			for _, r := range b.ReadAll(t, "lm-out") {
				byKey[string(r.Key)] = append(byKey[string(r.Key)], string(r.Value))
			}
			for k := range keys {
				key := fmt.Sprintf("k%d", k)
				got := byKey[key]
				seen := map[string]int{}
				for _, v := range got {
					seen[v]++
				}
				for i := range perKey {
					want := fmt.Sprintf("V%05d", i)
					switch n := seen[want]; {
					case n == 0:
						t.Fatalf("%s: %s lost (%d outputs)", key, want, len(got))
					case n > 1 && g == core.ExactlyOnceV2:
						t.Fatalf("%s: %s written %d times under exactly-once", key, want, n)
					}
				}
				if g == core.ExactlyOnceV2 {
					if len(got) != perKey {
						t.Fatalf("%s: %d outputs, want %d", key, len(got), perKey)
					}
					for i, v := range got {
						if want := fmt.Sprintf("V%05d", i); v != want {
							t.Fatalf("%s: output %d is %s, want %s (order)", key, i, v, want)
						}
					}
				}
				t.Logf("%s: %d outputs for %d inputs (%s)", key, len(got), perKey, strings.ToLower(string(g)))
			}
		})
	}
}
