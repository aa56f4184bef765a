package dsl_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// A stateless pipeline run through the test driver.
func Example() {
	b := dsl.NewBuilder()
	lines := dsl.Stream(b, "text-lines", dsl.ConsumedWith(serde.String(), serde.String()))
	words := dsl.FlatMapValues(lines, strings.Fields).Filter(func(_, w string) bool { return len(w) > 2 })
	dsl.MapValues(words, strings.ToUpper).To("long-words")
	topo, err := b.Build()
	if err != nil {
		panic(err)
	}
	fmt.Print(topo.Describe())

	d, err := core.NewTestDriver(topo)
	if err != nil {
		panic(err)
	}
	defer d.Close()
	in := core.NewTestInputTopic(d, "text-lines", serde.String(), serde.String())
	out := core.NewTestOutputTopic(d, "long-words", serde.String(), serde.String())
	_ = in.PipeAt("line-1", "the quick brown fox", time.UnixMilli(1000))
	kvs, _ := out.ReadKeyValues()
	for _, kv := range kvs {
		fmt.Println(kv.Key, kv.Value)
	}
	// Output:
	// Topologies:
	//    Sub-topology: 0
	//     Source: KSTREAM-SOURCE-0000000000 (topics: [text-lines])
	//       --> KSTREAM-FLATMAPVALUES-0000000001
	//     Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])
	//       --> KSTREAM-FILTER-0000000002
	//       <-- KSTREAM-SOURCE-0000000000
	//     Processor: KSTREAM-FILTER-0000000002 (stores: [])
	//       --> KSTREAM-MAPVALUES-0000000003
	//       <-- KSTREAM-FLATMAPVALUES-0000000001
	//     Processor: KSTREAM-MAPVALUES-0000000003 (stores: [])
	//       --> KSTREAM-SINK-0000000004
	//       <-- KSTREAM-FILTER-0000000002
	//     Sink: KSTREAM-SINK-0000000004 (topic: long-words)
	//       <-- KSTREAM-MAPVALUES-0000000003
	//
	// line-1 THE
	// line-1 QUICK
	// line-1 BROWN
	// line-1 FOX
}
