package dsl_test

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// Impressions left-joined with the clicks that follow them within a
// minute: an impression without a click is reported once its window has
// closed (a minute plus the 10-second grace period later), never before.
func ExampleLeftJoin() {
	b := dsl.NewBuilder()
	impressions := dsl.Stream(b, "impressions", dsl.ConsumedWith(serde.String(), serde.String()))
	clicks := dsl.Stream(b, "clicks", dsl.ConsumedWith(serde.String(), serde.String()))
	windows := dsl.JoinWindowsOf(time.Minute, 10*time.Second).Before(0) // clicks after the impression only
	dsl.LeftJoin(impressions, clicks, func(ad, click string, clicked bool) string {
		if !clicked {
			return ad + ": not clicked"
		}
		return ad + ": clicked " + click
	}, windows).To("ad-outcomes")
	topo, err := b.Build()
	if err != nil {
		panic(err)
	}
	d, err := core.NewTestDriver(topo)
	if err != nil {
		panic(err)
	}
	defer d.Close()
	imp := core.NewTestInputTopic(d, "impressions", serde.String(), serde.String())
	clk := core.NewTestInputTopic(d, "clicks", serde.String(), serde.String())
	out := core.NewTestOutputTopic(d, "ad-outcomes", serde.String(), serde.String())
	_ = imp.PipeAt("ann", "shoes", time.Unix(0, 0))
	_ = imp.PipeAt("bob", "hats", time.Unix(5, 0))
	_ = clk.PipeAt("ann", "buy-button", time.Unix(30, 0))
	_ = imp.PipeAt("ann", "socks", time.Unix(200, 0)) // stream time 200s: bob's window closed at 75s
	recs, _ := out.ReadRecords()
	for _, r := range recs {
		fmt.Printf("%ds %s: %s\n", r.Timestamp.Unix(), r.Key, r.Value)
	}
	// Output:
	// 30s ann: shoes: clicked buy-button
	// 5s bob: hats: not clicked
}
