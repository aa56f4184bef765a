package dsl_test

import (
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

type activity struct {
	Clicks int64
	Pages  []string
}

// TestCogroup aggregates two streams with different value types into one
// store: clicks (int64, already keyed by user) and page views (string,
// keyed by page and re-keyed by user, so repartitioned first).
func TestCogroup(t *testing.T) {
	b := dsl.NewBuilder()
	clicks := dsl.Stream(b, "clicks", dsl.ConsumedWith(serde.String(), serde.Int64()))
	views := dsl.Stream(b, "views", dsl.ConsumedWith(serde.String(), serde.String())) // page -> user
	byUser := dsl.Map(views, func(page, user string) (string, string) { return user, page }).GroupByKey()
	c := dsl.Cogroup(clicks.GroupByKey(), func(_ string, n int64, a activity) activity {
		a.Clicks += n
		return a
	})
	c = dsl.CogroupAdd(c, byUser, func(_ string, page string, a activity) activity {
		a.Pages = append(a.Pages, page)
		return a
	})
	tbl := c.Aggregate(func() activity { return activity{Pages: []string{}} },
		dsl.Materialized[string, activity]{Name: "activity", Values: serde.JSON[activity]()})
	tbl.ToStream().To("out", dsl.ProducedWith(serde.String(), serde.JSON[activity]()))
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := topo.SourceTopics(), []string{"activity-1-repartition", "clicks", "views"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("source topics = %v, want %v\n%s", got, want, topo.Describe())
	}
	d := driver(t, b)
	ci := core.NewTestInputTopic(d, "clicks", serde.String(), serde.Int64())
	vi := core.NewTestInputTopic(d, "views", serde.String(), serde.String())
	steps := []func() error{
		func() error { return ci.PipeAt("ann", 2, at(10)) },
		func() error { return vi.PipeAt("/home", "ann", at(20)) },
		func() error { return vi.PipeAt("/docs", "bob", at(15)) },
		func() error { return ci.PipeAt("bob", 1, at(30)) },
		func() error { return ci.PipeAt("ann", 3, at(5)) }, // older: the aggregate keeps its timestamp
		func() error { return ci.PipeNull("ann", at(40)) }, // null value: skipped
	}
	for _, s := range steps {
		if err := s(); err != nil {
			t.Fatal(err)
		}
	}
	want := []kvt{
		{"ann", activity{2, []string{}}, false, 10},
		{"ann", activity{2, []string{"/home"}}, false, 20},
		{"bob", activity{0, []string{"/docs"}}, false, 15},
		{"bob", activity{1, []string{"/docs"}}, false, 30},
		{"ann", activity{5, []string{"/home"}}, false, 20},
	}
	if got := readAll(t, core.NewTestOutputTopic(d, "out", serde.String(), serde.JSON[activity]())); !reflect.DeepEqual(got, want) {
		t.Errorf("out = %v\nwant  %v", got, want)
	}
}
