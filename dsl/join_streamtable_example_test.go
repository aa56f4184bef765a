package dsl_test

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// Clicks (keyed by user) enriched with the user's region from a table: the
// join reads the table's store, so both inputs run in one sub-topology and
// must be co-partitioned.
func ExampleLeftJoinTable() {
	b := dsl.NewBuilder()
	clicks := dsl.Stream(b, "clicks", dsl.ConsumedWith(serde.String(), serde.String()))
	regions := dsl.Table(b, "regions", dsl.ConsumedWith(serde.String(), serde.String()), dsl.MaterializedAs[string, string]("regions"))
	dsl.LeftJoinTable(clicks, regions, func(page, region string, found bool) string {
		if !found {
			region = "unknown"
		}
		return page + " from " + region
	}).To("enriched-clicks")
	topo, err := b.Build()
	if err != nil {
		panic(err)
	}
	fmt.Print(topo.Describe())
	for _, g := range topo.CopartitionGroups() {
		fmt.Println("co-partitioned:", g.Topics)
	}

	d, err := core.NewTestDriver(topo)
	if err != nil {
		panic(err)
	}
	defer d.Close()
	in := core.NewTestInputTopic(d, "clicks", serde.String(), serde.String())
	table := core.NewTestInputTopic(d, "regions", serde.String(), serde.String())
	_ = in.PipeAt("ada", "/home", time.UnixMilli(1))
	_ = table.PipeAt("ada", "eu", time.UnixMilli(2)) // a table update joins nothing by itself
	_ = in.PipeAt("ada", "/cart", time.UnixMilli(3))
	kvs, _ := core.NewTestOutputTopic(d, "enriched-clicks", serde.String(), serde.String()).ReadKeyValues()
	for _, kv := range kvs {
		fmt.Println(kv.Key, kv.Value)
	}
	// Output:
	// Topologies:
	//    Sub-topology: 0
	//     Source: KSTREAM-SOURCE-0000000000 (topics: [clicks])
	//       --> KSTREAM-LEFTJOIN-0000000003
	//     Source: KSTREAM-SOURCE-0000000001 (topics: [regions])
	//       --> KTABLE-SOURCE-0000000002
	//     Processor: KTABLE-SOURCE-0000000002 (stores: [regions])
	//       --> none
	//       <-- KSTREAM-SOURCE-0000000001
	//     Processor: KSTREAM-LEFTJOIN-0000000003 (stores: [regions])
	//       --> KSTREAM-SINK-0000000004
	//       <-- KSTREAM-SOURCE-0000000000
	//     Sink: KSTREAM-SINK-0000000004 (topic: enriched-clicks)
	//       <-- KSTREAM-LEFTJOIN-0000000003
	//
	// co-partitioned: [clicks regions]
	// ada /home from unknown
	// ada /cart from eu
}

// Orders enriched from a global table by a key taken from the value: no
// repartitioning, no co-partitioning.
func ExampleJoinGlobal() {
	b := dsl.NewBuilder()
	prices := dsl.GlobalTable(b, "prices", dsl.ConsumedWith(serde.String(), serde.Int64()))
	orders := dsl.Stream(b, "orders", dsl.ConsumedWith(serde.String(), serde.String())) // value: product id
	dsl.JoinGlobal(orders, prices, func(_, product string) string { return product },
		func(product string, price int64) string { return fmt.Sprintf("%s at %d", product, price) }).To("priced")
	topo, err := b.Build()
	if err != nil {
		panic(err)
	}
	d, err := core.NewTestDriver(topo)
	if err != nil {
		panic(err)
	}
	defer d.Close()
	_ = core.NewTestInputTopic(d, "prices", serde.String(), serde.Int64()).PipeAt("pen", 3, time.UnixMilli(1))
	in := core.NewTestInputTopic(d, "orders", serde.String(), serde.String())
	_ = in.PipeAt("o1", "pen", time.UnixMilli(2))
	_ = in.PipeAt("o2", "ink", time.UnixMilli(3)) // no price: an inner join drops it
	kvs, _ := core.NewTestOutputTopic(d, "priced", serde.String(), serde.String()).ReadKeyValues()
	for _, kv := range kvs {
		fmt.Println(kv.Key, kv.Value)
	}
	// Output:
	// o1 pen at 3
}
