package dsl_test

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// A table of users left-joined with their optional profile on the same key.
func ExampleLeftJoinTables() {
	b := dsl.NewBuilder()
	str := dsl.ConsumedWith(serde.String(), serde.String())
	users := dsl.Table(b, "users", str)
	profiles := dsl.Table(b, "profiles", str)
	dsl.LeftJoinTables(users, profiles, func(user, profile string, found bool) string {
		if !found {
			return user + " (no profile)"
		}
		return user + ": " + profile
	}).ToStream().To("user-profiles")
	topo, err := b.Build()
	if err != nil {
		panic(err)
	}
	d, err := core.NewTestDriver(topo)
	if err != nil {
		panic(err)
	}
	defer d.Close()
	u := core.NewTestInputTopic(d, "users", serde.String(), serde.String())
	p := core.NewTestInputTopic(d, "profiles", serde.String(), serde.String())
	out := core.NewTestOutputTopic(d, "user-profiles", serde.String(), serde.String())
	_ = u.PipeAt("u1", "ada", time.UnixMilli(1))
	_ = p.PipeAt("u1", "mathematician", time.UnixMilli(2))
	_ = p.PipeRecord(core.Record[string, string]{Key: "u1", NullValue: true, Timestamp: time.UnixMilli(3)})
	_ = u.PipeRecord(core.Record[string, string]{Key: "u1", NullValue: true, Timestamp: time.UnixMilli(4)})
	recs, _ := out.ReadRecords()
	for _, r := range recs {
		if r.NullValue {
			fmt.Println(r.Key, "<tombstone>", r.Timestamp.UnixMilli())
			continue
		}
		fmt.Println(r.Key, r.Value, r.Timestamp.UnixMilli())
	}
	// Output:
	// u1 ada (no profile) 1
	// u1 ada: mathematician 2
	// u1 ada (no profile) 3
	// u1 <tombstone> 4
}
