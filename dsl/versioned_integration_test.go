package dsl_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde"
)

// TestVersionedTableRestoredFromChangelog: a first run reads two versions
// of every table row; a second run, on an empty state directory, rebuilds
// the versioned store from its changelog and joins stream records with the
// version valid at their timestamps.
func TestVersionedTableRestoredFromChangelog(t *testing.T) {
	t.Parallel()
	br := testbroker.New(t)
	for _, topic := range []string{"vt-table", "vt-stream", "vt-out"} {
		br.CreateTopic(t, topic, 2, nil)
	}
	const keys = 10
	var table, stream []*kgo.Record
	var want []string
	for i := range keys {
		k := fmt.Appendf(nil, "k%d", i)
		table = append(table,
			&kgo.Record{Topic: "vt-table", Key: k, Value: []byte("v1"), Timestamp: time.UnixMilli(1000)},
			&kgo.Record{Topic: "vt-table", Key: k, Value: []byte("v2"), Timestamp: time.UnixMilli(2000)})
		stream = append(stream,
			&kgo.Record{Topic: "vt-stream", Key: k, Value: []byte("early"), Timestamp: time.UnixMilli(500)},
			&kgo.Record{Topic: "vt-stream", Key: k, Value: []byte("mid"), Timestamp: time.UnixMilli(1500)},
			&kgo.Record{Topic: "vt-stream", Key: k, Value: []byte("late"), Timestamp: time.UnixMilli(2500)})
		want = append(want, fmt.Sprintf("k%d=early:-@500", i), fmt.Sprintf("k%d=mid:v1@1500", i), fmt.Sprintf("k%d=late:v2@2500", i))
	}
	slices.Sort(want)
	build := func() *core.Topology {
		b := dsl.NewBuilder()
		strs := dsl.ConsumedWith(serde.String(), serde.String())
		tbl := dsl.Table(b, "vt-table", strs, dsl.MaterializedAs[string, string]("versions").AsVersioned(time.Hour))
		dsl.LeftJoinTable(dsl.Stream(b, "vt-stream", strs), tbl, func(v, tv string, found bool) string {
			if !found {
				tv = "-"
			}
			return v + ":" + tv
		}).To("vt-out")
		topo, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	run := func(n int64) {
		app, err := core.New(build(), core.WithBrokers(br.Addr()), core.WithApplicationID("vt"), core.WithStateDir(t.TempDir()),
			core.WithCommitInterval(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		runJoinApp(t, app, n)
	}
	br.Produce(t, table...)
	run(int64(len(table)))
	br.Produce(t, stream...)
	run(int64(len(stream))) // a new state directory: restored from the changelog

	var got []string
	for _, r := range readCommitted(t, br, "vt-out")["vt-out"] {
		got = append(got, fmt.Sprintf("%s=%s@%d", r.Key, r.Value, r.Timestamp.UnixMilli()))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("joined:\n got %v\nwant %v", got, want)
	}
	// The changelog is Kafka Streams' format for versioned stores: the raw
	// key and value, the version's timestamp as the record's.
	var versions []string
	for _, r := range br.ReadAll(t, "vt-versions-changelog") {
		if string(r.Key) == "k0" {
			versions = append(versions, fmt.Sprintf("%s@%d", r.Value, r.Timestamp.UnixMilli()))
		}
	}
	if !slices.Equal(versions, []string{"v1@1000", "v2@2000"}) {
		t.Errorf("changelog of k0 = %v, want [v1@1000 v2@2000]", versions)
	}
}

// TestJoinGraceBufferRestored: a stream record waiting in the grace
// period's buffer when the application stops is restored from the
// buffer's changelog into a new state directory, and joined once the grace
// period passed, with a table update that arrived late in between.
func TestJoinGraceBufferRestored(t *testing.T) {
	t.Parallel()
	br := testbroker.New(t)
	for _, topic := range []string{"gb-table", "gb-stream", "gb-out"} {
		br.CreateTopic(t, topic, 1, nil)
	}
	build := func() *core.Topology {
		b := dsl.NewBuilder()
		strs := dsl.ConsumedWith(serde.String(), serde.String())
		tbl := dsl.Table(b, "gb-table", strs, dsl.MaterializedAs[string, string]("gb-versions").AsVersioned(time.Hour))
		dsl.JoinTable(dsl.Stream(b, "gb-stream", strs), tbl, func(v, tv string) string { return v + ":" + tv },
			dsl.Joined[string, string]{Name: "gb-join", GracePeriod: time.Second}).To("gb-out")
		topo, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	run := func(n int64) {
		app, err := core.New(build(), core.WithBrokers(br.Addr()), core.WithApplicationID("gb"), core.WithStateDir(t.TempDir()),
			core.WithCommitInterval(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		runJoinApp(t, app, n)
	}
	rec := func(topic, value string, ts int64) *kgo.Record {
		return &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte(value), Timestamp: time.UnixMilli(ts)}
	}
	br.Produce(t, rec("gb-table", "v1", 1000), rec("gb-stream", "s", 2000))
	run(2) // s waits in the buffer
	if got := readCommitted(t, br, "gb-out")["gb-out"]; len(got) != 0 {
		t.Fatalf("joined before the grace period passed: %d records", len(got))
	}
	br.Produce(t, rec("gb-table", "v2", 1500), rec("gb-stream", "x", 3500))
	run(2)
	var got []string
	for _, r := range readCommitted(t, br, "gb-out")["gb-out"] {
		got = append(got, fmt.Sprintf("%s=%s@%d", r.Key, r.Value, r.Timestamp.UnixMilli()))
	}
	if want := []string{"k=s:v2@2000"}; !slices.Equal(got, want) {
		t.Fatalf("joined %v, want %v", got, want)
	}
}
