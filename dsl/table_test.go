package dsl_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

type kvt struct {
	Key   string
	Value any
	Null  bool
	TS    int64
}

func readAll[V any](t *testing.T, out *core.TestOutputTopic[string, V]) []kvt {
	t.Helper()
	recs, err := out.ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	var got []kvt
	for _, r := range recs {
		e := kvt{Key: r.Key, Null: r.NullValue, TS: r.Timestamp.UnixMilli()}
		if !r.NullValue {
			e.Value = r.Value
		}
		got = append(got, e)
	}
	return got
}

func driver(t *testing.T, b *dsl.Builder) *core.TestDriver {
	t.Helper()
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := core.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func at(ms int64) time.Time { return time.UnixMilli(ms) }

func TestCountReduceAggregate(t *testing.T) {
	b := dsl.NewBuilder()
	in := dsl.Stream(b, "in", dsl.ConsumedWith(serde.String(), serde.Int64()))
	in.GroupByKey().Count().ToStream().To("counts", dsl.ProducedWith(serde.String(), serde.Int64()))
	in.GroupByKey().Reduce(func(a, v int64) int64 { return a + v }).ToStream().To("sums")
	dsl.Aggregate(in.GroupByKey(), func() string { return "" }, func(_ string, v int64, agg string) string {
		return agg + string(rune('a'+v))
	}, dsl.Materialized[string, string]{Values: serde.String()}).ToStream().To("letters", dsl.ProducedWith(serde.String(), serde.String()))
	d := driver(t, b)
	pipe := core.NewTestInputTopic(d, "in", serde.String(), serde.Int64())
	for _, r := range []struct {
		k  string
		v  int64
		ts int64
	}{{"x", 1, 10}, {"y", 2, 20}, {"x", 3, 5}, {"x", 4, 30}} {
		if err := pipe.PipeAt(r.k, r.v, at(r.ts)); err != nil {
			t.Fatal(err)
		}
	}
	// A null value and a null key are skipped by aggregations.
	if err := pipe.PipeRecord(core.Record[string, int64]{Key: "x", NullValue: true, Timestamp: at(40)}); err != nil {
		t.Fatal(err)
	}
	if err := pipe.PipeRecord(core.Record[string, int64]{NullKey: true, Value: 9, Timestamp: at(40)}); err != nil {
		t.Fatal(err)
	}
	// Result timestamps are the max of the inputs so far (x@5 keeps 10).
	wantCounts := []kvt{{"x", int64(1), false, 10}, {"y", int64(1), false, 20}, {"x", int64(2), false, 10}, {"x", int64(3), false, 30}}
	if got := readAll(t, core.NewTestOutputTopic(d, "counts", serde.String(), serde.Int64())); !reflect.DeepEqual(got, wantCounts) {
		t.Errorf("counts = %v, want %v", got, wantCounts)
	}
	wantSums := []kvt{{"x", int64(1), false, 10}, {"y", int64(2), false, 20}, {"x", int64(4), false, 10}, {"x", int64(8), false, 30}}
	if got := readAll(t, core.NewTestOutputTopic(d, "sums", serde.String(), serde.Int64())); !reflect.DeepEqual(got, wantSums) {
		t.Errorf("sums = %v, want %v", got, wantSums)
	}
	wantLetters := []kvt{{"x", "b", false, 10}, {"y", "c", false, 20}, {"x", "bd", false, 10}, {"x", "bde", false, 30}}
	if got := readAll(t, core.NewTestOutputTopic(d, "letters", serde.String(), serde.String())); !reflect.DeepEqual(got, wantLetters) {
		t.Errorf("letters = %v, want %v", got, wantLetters)
	}
}

func TestGroupByRepartitions(t *testing.T) {
	b := dsl.NewBuilder()
	lines := dsl.Stream(b, "lines", dsl.ConsumedWith(serde.String(), serde.String()))
	dsl.GroupBy(lines, func(_, v string) string { return v }).
		Count(dsl.MaterializedAs[string, int64]("by-value")).ToStream().To("out", dsl.ProducedWith(serde.String(), serde.Int64()))
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if desc := topo.Describe(); !reflect.DeepEqual(topo.SourceTopics(), []string{"by-value-repartition", "lines"}) {
		t.Fatalf("source topics = %v\n%s", topo.SourceTopics(), desc)
	}
	d, err := core.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := core.NewTestInputTopic(d, "lines", serde.String(), serde.String())
	for i, w := range []string{"a", "b", "a"} {
		if err := in.PipeAt("k", w, at(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	want := []kvt{{"a", int64(1), false, 0}, {"b", int64(1), false, 1}, {"a", int64(2), false, 2}}
	if got := readAll(t, core.NewTestOutputTopic(d, "out", serde.String(), serde.Int64())); !reflect.DeepEqual(got, want) {
		t.Errorf("counts = %v, want %v", got, want)
	}
	if n := len(d.ReadOutput("test-driver-by-value-repartition")); n != 3 {
		t.Errorf("repartition topic got %d records, want 3", n)
	}
}

func TestTableSourceTombstonesFilterMapValues(t *testing.T) {
	b := dsl.NewBuilder()
	tbl := dsl.Table(b, "users", dsl.ConsumedWith(serde.String(), serde.Int64()))
	tbl.ToStream().To("all", dsl.ProducedWith(serde.String(), serde.Int64()))
	adults := tbl.Filter(func(_ string, age int64) bool { return age >= 18 })
	adults.ToStream().To("adults", dsl.ProducedWith(serde.String(), serde.Int64()))
	dsl.MapValuesTable(adults, func(age int64) string { return "adult" }).ToStream().To("labels", dsl.ProducedWith(serde.String(), serde.String()))
	d := driver(t, b)
	in := core.NewTestInputTopic(d, "users", serde.String(), serde.Int64())
	steps := []func() error{
		func() error { return in.PipeAt("ann", 30, at(1)) },
		func() error { return in.PipeAt("bob", 12, at(2)) },
		func() error { return in.PipeAt("bob", 19, at(3)) },  // bob becomes an adult
		func() error { return in.PipeAt("ann", 17, at(4)) },  // ann stops matching: delete downstream
		func() error { return in.PipeNull("bob", at(5)) },    // tombstone
		func() error { return in.PipeNull("nobody", at(6)) }, // deleting a missing key: nothing
	}
	for _, s := range steps {
		if err := s(); err != nil {
			t.Fatal(err)
		}
	}
	wantAll := []kvt{{"ann", int64(30), false, 1}, {"bob", int64(12), false, 2}, {"bob", int64(19), false, 3}, {"ann", int64(17), false, 4}, {"bob", nil, true, 5}}
	if got := readAll(t, core.NewTestOutputTopic(d, "all", serde.String(), serde.Int64())); !reflect.DeepEqual(got, wantAll) {
		t.Errorf("all = %v, want %v", got, wantAll)
	}
	wantAdults := []kvt{{"ann", int64(30), false, 1}, {"bob", int64(19), false, 3}, {"ann", nil, true, 4}, {"bob", nil, true, 5}}
	if got := readAll(t, core.NewTestOutputTopic(d, "adults", serde.String(), serde.Int64())); !reflect.DeepEqual(got, wantAdults) {
		t.Errorf("adults = %v, want %v", got, wantAdults)
	}
	wantLabels := []kvt{{"ann", "adult", false, 1}, {"bob", "adult", false, 3}, {"ann", nil, true, 4}, {"bob", nil, true, 5}}
	if got := readAll(t, core.NewTestOutputTopic(d, "labels", serde.String(), serde.String())); !reflect.DeepEqual(got, wantLabels) {
		t.Errorf("labels = %v, want %v", got, wantLabels)
	}
}

// A table materialized with serdes other than the topic's is read back
// with the store's serdes (joins, queries): they become the table's serdes.
func TestTableMaterializedSerdes(t *testing.T) {
	b := dsl.NewBuilder()
	tbl := dsl.Table(b, "prices", dsl.ConsumedWith(serde.String(), serde.Int64()),
		dsl.Materialized[string, int64]{Values: serde.JSON[int64]()})
	orders := dsl.Stream(b, "orders", dsl.ConsumedWith(serde.String(), serde.Int64()))
	dsl.JoinTable(orders, tbl, func(qty, price int64) int64 { return qty * price }).
		To("totals", dsl.ProducedWith(serde.String(), serde.Int64()))
	d := driver(t, b)
	if err := core.NewTestInputTopic(d, "prices", serde.String(), serde.Int64()).PipeAt("apple", 3, at(1)); err != nil {
		t.Fatal(err)
	}
	if err := core.NewTestInputTopic(d, "orders", serde.String(), serde.Int64()).PipeAt("apple", 5, at(2)); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, core.NewTestOutputTopic(d, "totals", serde.String(), serde.Int64()))
	if want := []kvt{{"apple", int64(15), false, 2}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("totals = %v, want %v", got, want)
	}
}
