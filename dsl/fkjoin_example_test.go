package dsl_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// Orders ("product|quantity") enriched with their product's name, kept
// current when an order moves to another product or a product is renamed.
func ExampleFKJoin() {
	b := dsl.NewBuilder()
	str := dsl.ConsumedWith(serde.String(), serde.String())
	orders := dsl.Table(b, "orders", str)
	products := dsl.Table(b, "products", str)
	productOf := func(order string) string { return strings.SplitN(order, "|", 2)[0] }
	dsl.FKJoin(orders, products, productOf, func(order, name string) string { return order + " " + name },
		dsl.TableJoined[string, string]{Name: "order-products"}).
		ToStream().To("orders-enriched")
	topo, err := b.Build()
	if err != nil {
		panic(err)
	}
	d, err := core.NewTestDriver(topo)
	if err != nil {
		panic(err)
	}
	defer d.Close()
	o := core.NewTestInputTopic(d, "orders", serde.String(), serde.String())
	p := core.NewTestInputTopic(d, "products", serde.String(), serde.String())
	out := core.NewTestOutputTopic(d, "orders-enriched", serde.String(), serde.String())
	_ = p.PipeAt("p1", "apples", time.UnixMilli(1))
	_ = p.PipeAt("p2", "pears", time.UnixMilli(2))
	_ = o.PipeAt("o1", "p1|3", time.UnixMilli(3))
	_ = o.PipeAt("o1", "p2|3", time.UnixMilli(4))
	_ = p.PipeAt("p1", "green apples", time.UnixMilli(5)) // o1 no longer refers to p1
	_ = p.PipeAt("p2", "ripe pears", time.UnixMilli(6))
	recs, _ := out.ReadRecords()
	for _, r := range recs {
		fmt.Println(r.Key, r.Value, r.Timestamp.UnixMilli())
	}
	// Output:
	// o1 p1|3 apples 3
	// o1 p2|3 pears 4
	// o1 p2|3 ripe pears 6
}
