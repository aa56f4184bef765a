package dsl_test

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// Final per-key counts of 10-second tumbling windows with a 2-second
// grace period: one result per key and window, once the window closed.
func ExampleWindowedBy() {
	b := dsl.NewBuilder()
	clicks := dsl.Stream(b, "clicks", dsl.ConsumedWith(serde.String(), serde.String()))
	dsl.WindowedBy(clicks.GroupByKey(), dsl.TumblingWindows(10*time.Second, 2*time.Second)).
		Count().
		Suppress(dsl.UntilWindowCloses(dsl.UnboundedBuffer())).
		ToStream().To("clicks-per-window")
	topo, err := b.Build()
	if err != nil {
		panic(err)
	}
	d, err := core.NewTestDriver(topo)
	if err != nil {
		panic(err)
	}
	defer d.Close()
	in := core.NewTestInputTopic(d, "clicks", serde.String(), serde.String())
	out := core.NewTestOutputTopic(d, "clicks-per-window", serde.TimeWindowed(serde.String(), 10*time.Second), serde.Int64())
	for _, c := range []struct {
		user string
		sec  int64
	}{{"ann", 1}, {"bob", 3}, {"ann", 8}, {"ann", 11}, {"bob", 9}, {"ann", 12}, {"bob", 7}, {"ann", 25}} {
		_ = in.PipeAt(c.user, "click", time.Unix(c.sec, 0))
	}
	recs, _ := out.ReadRecords()
	for _, r := range recs {
		fmt.Printf("%s [%ds,%ds): %d clicks\n", r.Key.Key, r.Key.Start/1000, r.Key.End/1000, r.Value)
	}
	// Output:
	// ann [0s,10s): 2 clicks
	// bob [0s,10s): 2 clicks
	// ann [10s,20s): 2 clicks
}
