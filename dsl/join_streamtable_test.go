package dsl_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// joinOut is one output record of a join test: key (or null), value, time.
type joinOut struct {
	Key     string
	NullKey bool
	Value   string
	TS      int64
}

func readJoined(t *testing.T, d *core.TestDriver, topic string) []joinOut {
	t.Helper()
	recs, err := core.NewTestOutputTopic(d, topic, serde.String(), serde.String()).ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	var got []joinOut
	for _, r := range recs {
		got = append(got, joinOut{Key: r.Key, NullKey: r.NullKey, Value: r.Value, TS: r.Timestamp.UnixMilli()})
	}
	return got
}

// streamTableStep is one input record of the semantics tables: to the stream (left)
// or the table (right); null marks a null value.
type streamTableStep struct {
	stream bool
	value  string
	null   bool
	ts     int64
}

// devGuideSteps is the input of Kafka Streams' developer guide table for
// KStream-KTable joins ("Joining" > "KStream-KTable Join"), every record
// with the same key, in timestamp (= processing) order.
var devGuideSteps = []streamTableStep{
	{stream: true, null: true, ts: 1},
	{stream: false, null: true, ts: 2},
	{stream: true, value: "A", ts: 3},
	{stream: false, value: "a", ts: 4},
	{stream: true, value: "B", ts: 5},
	{stream: false, value: "b", ts: 6},
	{stream: true, null: true, ts: 7},
	{stream: false, null: true, ts: 8},
	{stream: true, value: "C", ts: 9},
	{stream: false, value: "c", ts: 10},
	{stream: false, null: true, ts: 11},
	{stream: true, null: true, ts: 12},
	{stream: false, null: true, ts: 13},
	{stream: false, value: "d", ts: 14},
	{stream: true, value: "D", ts: 15},
}

func TestStreamTableJoinDeveloperGuide(t *testing.T) {
	for _, tc := range []struct {
		name string
		want []joinOut
	}{
		// Only stream records trigger; a stream record joins the table's
		// value at that moment; results carry the stream record's time.
		{"inner", []joinOut{{"k", false, "B/a", 5}, {"k", false, "D/d", 15}}},
		{"left", []joinOut{{"k", false, "A/null", 3}, {"k", false, "B/a", 5}, {"k", false, "C/null", 9}, {"k", false, "D/d", 15}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			s := dsl.Stream(b, "left", dsl.ConsumedWith(serde.String(), serde.String()))
			tbl := dsl.Table(b, "right", dsl.ConsumedWith(serde.String(), serde.String()))
			var joined *dsl.KStream[string, string]
			if tc.name == "inner" {
				joined = dsl.JoinTable(s, tbl, func(v, tv string) string { return v + "/" + tv })
			} else {
				joined = dsl.LeftJoinTable(s, tbl, func(v, tv string, found bool) string {
					if !found {
						tv = "null"
					}
					return v + "/" + tv
				})
			}
			joined.To("out")
			d := driver(t, b)
			left := core.NewTestInputTopic(d, "left", serde.String(), serde.String())
			right := core.NewTestInputTopic(d, "right", serde.String(), serde.String())
			for _, st := range devGuideSteps {
				in := right
				if st.stream {
					in = left
				}
				var err error
				if st.null {
					err = in.PipeNull("k", at(st.ts))
				} else {
					err = in.PipeAt("k", st.value, at(st.ts))
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := readJoined(t, d, "out"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("joined = %v\nwant     %v", got, tc.want)
			}
		})
	}
}

// TestStreamTableJoinNullKeyAndTime: an inner join drops a null-key stream
// record, a left join keeps it (KIP-962) without a table value and with its
// key still null; the result time is the stream record's even when the
// table's row is newer.
func TestStreamTableJoinNullKeyAndTime(t *testing.T) {
	b := dsl.NewBuilder()
	s := dsl.Stream(b, "left", dsl.ConsumedWith(serde.String(), serde.String()))
	tbl := dsl.Table(b, "right", dsl.ConsumedWith(serde.String(), serde.String()))
	dsl.JoinTable(s, tbl, func(v, tv string) string { return v + "/" + tv }).To("inner-out")
	dsl.LeftJoinTable(s, tbl, func(v, tv string, found bool) string {
		if !found {
			return v + "/-"
		}
		return v + "/" + tv
	}).To("left-out")
	d := driver(t, b)
	left := core.NewTestInputTopic(d, "left", serde.String(), serde.String())
	right := core.NewTestInputTopic(d, "right", serde.String(), serde.String())
	// A table row with a null key is dropped by the table.
	for _, err := range []error{
		right.PipeRecord(core.Record[string, string]{NullKey: true, Value: "ghost", Timestamp: at(1)}),
		right.PipeAt("k", "new", at(100)),
		left.PipeAt("k", "S", at(50)),
		left.PipeRecord(core.Record[string, string]{NullKey: true, Value: "N", Timestamp: at(60)}),
		left.PipeAt("", "E", at(70)), // an empty key is a key, not null
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	wantInner := []joinOut{{"k", false, "S/new", 50}}
	if got := readJoined(t, d, "inner-out"); !reflect.DeepEqual(got, wantInner) {
		t.Errorf("inner = %v, want %v", got, wantInner)
	}
	wantLeft := []joinOut{{"k", false, "S/new", 50}, {"", true, "N/-", 60}, {"", false, "E/-", 70}}
	if got := readJoined(t, d, "left-out"); !reflect.DeepEqual(got, wantLeft) {
		t.Errorf("left = %v, want %v", got, wantLeft)
	}
}

// TestStreamTableJoinRepartitions: a stream whose key changed upstream is
// repartitioned before the join (named by the stream's node, as in Kafka
// Streams), and the join's inputs form a co-partition group; the table
// may be an aggregation.
func TestStreamTableJoinRepartitions(t *testing.T) {
	b := dsl.NewBuilder()
	clicks := dsl.Stream(b, "clicks", dsl.ConsumedWith(serde.String(), serde.String()))
	byUser := dsl.SelectKey(clicks, func(_, v string) string { return strings.Split(v, ":")[0] })
	regions := dsl.Table(b, "regions", dsl.ConsumedWith(serde.String(), serde.String()))
	dsl.JoinTable(byUser, regions, func(v, region string) string { return v + "@" + region },
		dsl.Joined[string, string]{Name: "clicks-by-user"}).To("out")
	// A table from an aggregation joins too.
	counts := dsl.Stream(b, "logins", dsl.ConsumedWith(serde.String(), serde.String())).GroupByKey().Count()
	dsl.LeftJoinTable(dsl.Stream(b, "visits", dsl.ConsumedWith(serde.String(), serde.String())), counts,
		func(v string, n int64, found bool) string {
			if !found {
				return v + "#0"
			}
			return v + "#" + strings.Repeat("I", int(n))
		}).To("visits-out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if desc := topo.Describe(); !strings.Contains(desc, "(topics: [clicks-by-user-repartition])") {
		t.Fatalf("no repartition topic named after the join:\n%s", desc)
	}
	var groups [][]string
	for _, g := range topo.CopartitionGroups() {
		groups = append(groups, g.Topics)
	}
	wantGroups := [][]string{{"clicks-by-user-repartition", "regions"}, {"logins", "visits"}}
	if !reflect.DeepEqual(groups, wantGroups) {
		t.Fatalf("co-partition groups = %v, want %v", groups, wantGroups)
	}
	d, err := core.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	in := func(topic, k, v string, ts int64) {
		t.Helper()
		if err := core.NewTestInputTopic(d, topic, serde.String(), serde.String()).PipeAt(k, v, at(ts)); err != nil {
			t.Fatal(err)
		}
	}
	in("regions", "ada", "eu", 1)
	in("clicks", "c1", "ada:home", 2)
	in("clicks", "c2", "bob:cart", 3)
	in("regions", "bob", "us", 4)
	in("clicks", "c3", "bob:pay", 5)
	want := []joinOut{{"ada", false, "ada:home@eu", 2}, {"bob", false, "bob:pay@us", 5}}
	if got := readJoined(t, d, "out"); !reflect.DeepEqual(got, want) {
		t.Errorf("joined = %v, want %v", got, want)
	}
	in("visits", "ada", "v1", 10)
	in("logins", "ada", "x", 11)
	in("logins", "ada", "x", 12)
	in("visits", "ada", "v2", 13)
	wantVisits := []joinOut{{"ada", false, "v1#0", 10}, {"ada", false, "v2#II", 13}}
	if got := readJoined(t, d, "visits-out"); !reflect.DeepEqual(got, wantVisits) {
		t.Errorf("visits = %v, want %v", got, wantVisits)
	}
}

func TestStreamTableJoinNeedsMaterializedTable(t *testing.T) {
	b := dsl.NewBuilder()
	s := dsl.Stream(b, "left", dsl.ConsumedWith(serde.String(), serde.String()))
	tbl := dsl.Table(b, "right", dsl.ConsumedWith(serde.String(), serde.String())).Filter(func(_, v string) bool { return v != "" })
	dsl.JoinTable(s, tbl, func(v, tv string) string { return v + tv }).To("out")
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "not materialized") {
		t.Fatalf("Build error = %v, want one saying the table is not materialized", err)
	}
}

// TestCopartitionGroupsNotForMerge: a merge into one aggregation shares no
// store between processors, so it needs no co-partitioning (as in Kafka
// Streams); a cogroup does.
func TestCopartitionGroupsNotForMerge(t *testing.T) {
	b := dsl.NewBuilder()
	a := dsl.Stream(b, "a", dsl.ConsumedWith(serde.String(), serde.String()))
	c := dsl.Stream(b, "c", dsl.ConsumedWith(serde.String(), serde.String()))
	a.Merge(c).GroupByKey().Count()
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if g := topo.CopartitionGroups(); len(g) != 0 {
		t.Fatalf("merge: co-partition groups = %v, want none", g)
	}
	b = dsl.NewBuilder()
	x := dsl.Stream(b, "x", dsl.ConsumedWith(serde.String(), serde.String())).GroupByKey()
	y := dsl.Stream(b, "y", dsl.ConsumedWith(serde.String(), serde.Int64())).GroupByKey()
	cg := dsl.Cogroup(x, func(_ string, _ string, n int64) int64 { return n + 1 })
	dsl.CogroupAdd(cg, y, func(_ string, v int64, n int64) int64 { return n + v }).Aggregate(func() int64 { return 0 },
		dsl.Materialized[string, int64]{Values: serde.Int64()})
	if topo, err = b.Build(); err != nil {
		t.Fatal(err)
	}
	if g := topo.CopartitionGroups(); len(g) != 1 || !reflect.DeepEqual(g[0].Topics, []string{"x", "y"}) {
		t.Fatalf("cogroup: co-partition groups = %v, want [x y]", g)
	}
}
