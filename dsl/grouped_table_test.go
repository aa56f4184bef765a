package dsl_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

type account struct {
	Region  string
	Balance int64
}

type regionStats struct {
	N   int64
	Sum int64
}

// TestGroupByTable regroups a table of accounts by region: updates within
// a group, a row moving between groups, a delete and a delete of a missing
// row, through Count, Reduce and AggregateTable.
func TestGroupByTable(t *testing.T) {
	b := dsl.NewBuilder()
	accounts := dsl.Table(b, "accounts", dsl.ConsumedWith(serde.String(), serde.JSON[account]()))
	byRegion := func(g ...dsl.Grouped[string, int64]) *dsl.KGroupedTable[string, int64] {
		return dsl.GroupByTable(accounts, func(_ string, a account) (string, int64) { return a.Region, a.Balance }, g...)
	}
	byRegion(dsl.Grouped[string, int64]{Name: "by-region", Keys: serde.String(), Values: serde.Int64()}).
		Count().ToStream().To("counts", dsl.ProducedWith(serde.String(), serde.Int64()))
	byRegion(dsl.GroupedWith(serde.String(), serde.Int64())).
		Reduce(func(a, v int64) int64 { return a + v }, func(a, v int64) int64 { return a - v }).
		ToStream().To("sums", dsl.ProducedWith(serde.String(), serde.Int64()))
	dsl.AggregateTable(byRegion(dsl.GroupedWith(serde.String(), serde.Int64())),
		func() regionStats { return regionStats{} },
		func(_ string, v int64, s regionStats) regionStats { return regionStats{s.N + 1, s.Sum + v} },
		func(_ string, v int64, s regionStats) regionStats { return regionStats{s.N - 1, s.Sum - v} },
		dsl.Materialized[string, regionStats]{Values: serde.JSON[regionStats]()}).
		ToStream().To("stats", dsl.ProducedWith(serde.String(), serde.JSON[regionStats]()))
	d := driver(t, b)
	in := core.NewTestInputTopic(d, "accounts", serde.String(), serde.JSON[account]())
	steps := []func() error{
		func() error { return in.PipeAt("alice", account{"eu", 10}, at(1)) },
		func() error { return in.PipeAt("bob", account{"eu", 5}, at(2)) },
		func() error { return in.PipeAt("carol", account{"us", 7}, at(3)) },
		func() error { return in.PipeAt("alice", account{"eu", 20}, at(4)) }, // update within eu
		func() error { return in.PipeAt("bob", account{"us", 5}, at(5)) },    // moves eu -> us
		func() error { return in.PipeNull("carol", at(6)) },                  // deleted: subtracted from us
		func() error { return in.PipeNull("nobody", at(7)) },                 // missing row: nothing
	}
	for _, s := range steps {
		if err := s(); err != nil {
			t.Fatal(err)
		}
	}
	wantCounts := []kvt{{"eu", int64(1), false, 1}, {"eu", int64(2), false, 2}, {"us", int64(1), false, 3},
		{"eu", int64(2), false, 4}, {"eu", int64(1), false, 5}, {"us", int64(2), false, 5}, {"us", int64(1), false, 6}}
	if got := readAll(t, core.NewTestOutputTopic(d, "counts", serde.String(), serde.Int64())); !reflect.DeepEqual(got, wantCounts) {
		t.Errorf("counts = %v\nwant     %v", got, wantCounts)
	}
	wantSums := []kvt{{"eu", int64(10), false, 1}, {"eu", int64(15), false, 2}, {"us", int64(7), false, 3},
		{"eu", int64(25), false, 4}, {"eu", int64(20), false, 5}, {"us", int64(12), false, 5}, {"us", int64(5), false, 6}}
	if got := readAll(t, core.NewTestOutputTopic(d, "sums", serde.String(), serde.Int64())); !reflect.DeepEqual(got, wantSums) {
		t.Errorf("sums = %v\nwant   %v", got, wantSums)
	}
	wantStats := []kvt{{"eu", regionStats{1, 10}, false, 1}, {"eu", regionStats{2, 15}, false, 2}, {"us", regionStats{1, 7}, false, 3},
		{"eu", regionStats{2, 25}, false, 4}, {"eu", regionStats{1, 20}, false, 5}, {"us", regionStats{2, 12}, false, 5}, {"us", regionStats{1, 5}, false, 6}}
	if got := readAll(t, core.NewTestOutputTopic(d, "stats", serde.String(), serde.JSON[regionStats]())); !reflect.DeepEqual(got, wantStats) {
		t.Errorf("stats = %v\nwant    %v", got, wantStats)
	}

	// The repartition topic carries Kafka Streams' Change encoding: one
	// record (flag 2) for an update within a group, a subtraction (flag 0)
	// then an addition (flag 1) for a move, a subtraction for a delete.
	type wire struct {
		key   string
		value []byte
	}
	var got []wire
	for _, r := range d.ReadOutput("test-driver-by-region-repartition") {
		got = append(got, wire{string(r.Key), r.Value})
	}
	i64 := func(v int64) []byte { b, _ := serde.Int64().Serialize("", v); return b }
	both := func(n, o int64) []byte {
		return slices.Concat([]byte{0, 0, 0, 8}, i64(n), i64(o), []byte{2})
	}
	want := []wire{
		{"eu", append(i64(10), 1)}, {"eu", append(i64(5), 1)}, {"us", append(i64(7), 1)},
		{"eu", both(20, 10)},
		{"eu", append(i64(5), 0)}, {"us", append(i64(5), 1)},
		{"us", append(i64(7), 0)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("repartition records = %v\nwant                 %v", got, want)
	}
}

// TestGroupByTableNilKeysAndNilAggregates: a nil selected key drops that
// side of the change, and a nil aggregate deletes the group (a tombstone
// downstream).
func TestGroupByTableNilKeysAndNilAggregates(t *testing.T) {
	b := dsl.NewBuilder()
	users := dsl.Table(b, "users", dsl.ConsumedWith(serde.String(), serde.String()))
	members := dsl.GroupByTable(users, func(user, team string) (*string, string) {
		if team == "" {
			return nil, user // no team: not grouped
		}
		return &team, user
	}, dsl.GroupedWith(serde.JSON[*string](), serde.String()))
	dsl.AggregateTable(members,
		func() []string { return []string{} },
		func(_ *string, user string, agg []string) []string { return append(agg, user) },
		func(_ *string, user string, agg []string) []string {
			agg = slices.DeleteFunc(agg, func(u string) bool { return u == user })
			if len(agg) == 0 {
				return nil // the team is gone
			}
			return agg
		}, dsl.Materialized[*string, []string]{Values: serde.JSON[[]string]()}).
		ToStream().To("teams", dsl.ProducedWith(serde.JSON[*string](), serde.JSON[[]string]()))
	d := driver(t, b)
	in := core.NewTestInputTopic(d, "users", serde.String(), serde.String())
	for i, s := range []struct{ user, team string }{
		{"ann", "red"}, {"bob", "red"}, {"cid", ""}, {"ann", ""}, {"cid", "red"}, {"bob", "blue"}, {"cid", "blue"},
	} {
		if err := in.PipeAt(s.user, s.team, at(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := core.NewTestOutputTopic(d, "teams", serde.JSON[*string](), serde.JSON[[]string]()).ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		e := *r.Key + "="
		if r.NullValue {
			e += "<deleted>"
		} else {
			e += fmtList(r.Value)
		}
		got = append(got, e)
	}
	want := []string{
		"red=[ann]", "red=[ann bob]", // cid has no team: skipped
		"red=[bob]",               // ann leaves (her new key is nil: only the subtraction)
		"red=[bob cid]",           // cid joins (only the addition)
		"red=[cid]", "blue=[bob]", // bob moves
		"red=<deleted>", "blue=[bob cid]", // cid moves: red's aggregate is nil, deleted
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("teams = %q\nwant    %q", got, want)
	}
}

func fmtList(l []string) string {
	s := "["
	for i, v := range l {
		if i > 0 {
			s += " "
		}
		s += v
	}
	return s + "]"
}

// Re-grouping a table: counting users per city, as users move.
func ExampleGroupByTable() {
	b := dsl.NewBuilder()
	users := dsl.Table(b, "user-cities", dsl.ConsumedWith(serde.String(), serde.String()))
	perCity := dsl.GroupByTable(users, func(user, city string) (string, string) { return city, user }).
		Count(dsl.MaterializedAs[string, int64]("users-per-city"))
	perCity.ToStream().To("city-counts", dsl.ProducedWith(serde.String(), serde.Int64()))
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
	in := core.NewTestInputTopic(d, "user-cities", serde.String(), serde.String())
	_ = in.Pipe("ann", "paris")
	_ = in.Pipe("bob", "paris")
	_ = in.Pipe("ann", "oslo") // ann moves: paris -1, oslo +1
	_ = in.PipeNull("bob", time.Time{})
	kvs, _ := core.NewTestOutputTopic(d, "city-counts", serde.String(), serde.Int64()).ReadKeyValues()
	for _, kv := range kvs {
		fmt.Println(kv.Key, kv.Value)
	}
	// Output:
	// Topologies:
	//    Sub-topology: 0
	//     Source: KSTREAM-SOURCE-0000000000 (topics: [user-cities])
	//       --> KTABLE-SOURCE-0000000001
	//     Processor: KTABLE-SOURCE-0000000001 (stores: [user-cities-STATE-STORE-0000000001])
	//       --> KTABLE-SELECT-0000000002
	//       <-- KSTREAM-SOURCE-0000000000
	//     Processor: KTABLE-SELECT-0000000002 (stores: [])
	//       --> users-per-city-sink
	//       <-- KTABLE-SOURCE-0000000001
	//     Sink: users-per-city-sink (topic: users-per-city-repartition)
	//       <-- KTABLE-SELECT-0000000002
	//
	//   Sub-topology: 1
	//     Source: users-per-city-source (topics: [users-per-city-repartition])
	//       --> KTABLE-AGGREGATE-0000000003
	//     Processor: KTABLE-AGGREGATE-0000000003 (stores: [users-per-city])
	//       --> KTABLE-TOSTREAM-0000000004
	//       <-- users-per-city-source
	//     Processor: KTABLE-TOSTREAM-0000000004 (stores: [])
	//       --> KSTREAM-SINK-0000000005
	//       <-- KTABLE-AGGREGATE-0000000003
	//     Sink: KSTREAM-SINK-0000000005 (topic: city-counts)
	//       <-- KTABLE-TOSTREAM-0000000004
	//
	// paris 1
	// paris 2
	// paris 1
	// oslo 1
	// paris 0
}
