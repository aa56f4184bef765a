package dsl_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// TestGlobalJoin: orders (key: order id, value "customer:item") joined with
// a global table of customers by the customer in the value; the stream is
// neither repartitioned nor co-partitioned with the global topic.
func TestGlobalJoin(t *testing.T) {
	b := dsl.NewBuilder()
	customers := dsl.GlobalTable(b, "customers", dsl.ConsumedWith(serde.String(), serde.String()))
	orders := dsl.Stream(b, "orders", dsl.ConsumedWith(serde.String(), serde.String()))
	customerOf := func(_ string, v string) string { return strings.Split(v, ":")[0] }
	dsl.JoinGlobal(orders, customers, customerOf, func(v, name string) string { return v + "=" + name }).To("inner-out")
	dsl.LeftJoinGlobal(orders, customers, customerOf, func(v, name string, found bool) string {
		if !found {
			name = "?"
		}
		return v + "=" + name
	}, "left-join").To("left-out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if g := topo.CopartitionGroups(); len(g) != 0 {
		t.Fatalf("co-partition groups = %v, want none", g)
	}
	if desc := topo.Describe(); !strings.Contains(desc, "Processor: left-join (stores: [customers-STATE-STORE-") {
		t.Fatalf("left join not named or not connected to the global store:\n%s", desc)
	}
	d, err := core.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	cust := core.NewTestInputTopic(d, "customers", serde.String(), serde.String())
	in := core.NewTestInputTopic(d, "orders", serde.String(), serde.String())
	for _, err := range []error{
		in.PipeAt("o1", "c1:book", at(1)),
		cust.PipeAt("c1", "ada", at(2)),
		in.PipeAt("o2", "c1:pen", at(3)),
		cust.PipeAt("c1", "ada lovelace", at(9)),
		in.PipeAt("o3", "c1:ink", at(4)), // joins the newer row; keeps its own time
		in.PipeNull("o4", at(5)),         // a null value never joins
		// A null key does not matter: the lookup key comes from the value.
		in.PipeRecord(core.Record[string, string]{NullKey: true, Value: "c1:cap", Timestamp: at(6)}),
		cust.PipeNull("c1", at(10)),
		in.PipeAt("o5", "c1:pad", at(11)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	wantInner := []joinOut{
		{"o2", false, "c1:pen=ada", 3},
		{"o3", false, "c1:ink=ada lovelace", 4},
		{"", true, "c1:cap=ada lovelace", 6},
	}
	if got := readJoined(t, d, "inner-out"); !reflect.DeepEqual(got, wantInner) {
		t.Errorf("inner = %v\nwant    %v", got, wantInner)
	}
	wantLeft := []joinOut{
		{"o1", false, "c1:book=?", 1},
		{"o2", false, "c1:pen=ada", 3},
		{"o3", false, "c1:ink=ada lovelace", 4},
		{"", true, "c1:cap=ada lovelace", 6},
		{"o5", false, "c1:pad=?", 11},
	}
	if got := readJoined(t, d, "left-out"); !reflect.DeepEqual(got, wantLeft) {
		t.Errorf("left = %v\nwant   %v", got, wantLeft)
	}
}

// TestGlobalJoinAfterKeyChange: a global join after a key change needs no
// repartition topic, and the key change still makes a later aggregation
// repartition.
func TestGlobalJoinAfterKeyChange(t *testing.T) {
	b := dsl.NewBuilder()
	products := dsl.GlobalTable(b, "products", dsl.ConsumedWith(serde.String(), serde.Int64()))
	sales := dsl.SelectKey(dsl.Stream(b, "sales", dsl.ConsumedWith(serde.String(), serde.String())),
		func(_, v string) string { return v })
	priced := dsl.JoinGlobal(sales, products, func(k, _ string) string { return k }, func(_ string, price int64) int64 { return price })
	priced.GroupByKey(dsl.GroupedWith(serde.String(), serde.Int64())).Reduce(func(a, v int64) int64 { return a + v }).
		ToStream().To("revenue", dsl.ProducedWith(serde.String(), serde.Int64()))
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(topo.Describe(), "-repartition"); n != 2 { // one sink, one source
		t.Fatalf("want exactly one repartition topic (before the aggregation), got %d mentions:\n%s", n, topo.Describe())
	}
	d, err := core.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := core.NewTestInputTopic(d, "products", serde.String(), serde.Int64()).PipeAt("pen", 3, at(1)); err != nil {
		t.Fatal(err)
	}
	in := core.NewTestInputTopic(d, "sales", serde.String(), serde.String())
	for i, p := range []string{"pen", "ink", "pen"} {
		if err := in.PipeAt("s", p, at(int64(10+i))); err != nil {
			t.Fatal(err)
		}
	}
	kvs, err := core.NewTestOutputTopic(d, "revenue", serde.String(), serde.Int64()).ReadKeyValues()
	if err != nil {
		t.Fatal(err)
	}
	want := []core.KeyValue[string, int64]{{Key: "pen", Value: 3}, {Key: "pen", Value: 6}}
	if !reflect.DeepEqual(kvs, want) {
		t.Fatalf("revenue = %v, want %v", kvs, want)
	}
}
