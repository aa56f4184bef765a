package dsl_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde"
)

// TestStreamOuterJoinOnBroker runs an outer join of two co-partitioned
// topics (two partitions each) under exactly_once_v2. The first instance
// sees a match and two unmatched records whose windows are still open: it
// emits only the match. A second instance, with an empty state directory,
// restores the buffers and the outer-join store from their changelogs and,
// once records at a later time close the windows in both partitions, emits
// the two unmatched results, once.
func TestStreamOuterJoinOnBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an application on an in-process broker")
	}
	b := testbroker.New(t)
	b.CreateTopic(t, "j-left", 2, nil)
	b.CreateTopic(t, "j-right", 2, nil)
	b.CreateTopic(t, "j-out", 2, nil)

	bld := dsl.NewBuilder()
	left := dsl.Stream(bld, "j-left", dsl.ConsumedWith(serde.String(), serde.String()))
	right := dsl.Stream(bld, "j-right", dsl.ConsumedWith(serde.String(), serde.String()))
	dsl.OuterJoin(left, right, showPair, dsl.JoinWindowsOf(5*time.Second, time.Second)).To("j-out")
	topo, err := bld.Build()
	if err != nil {
		t.Fatal(err)
	}
	opts := func() []core.Option {
		return []core.Option{core.WithBrokers(b.Addr()), core.WithApplicationID("join"),
			core.WithStateDir(t.TempDir()), core.WithProcessingGuarantee(core.ExactlyOnceV2)}
	}
	rec := func(topic, key, value string, offset int64) *kgo.Record {
		return &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value), Timestamp: time.UnixMilli(windowBase + offset)}
	}
	read := func() []jrow {
		var got []jrow
		for _, r := range b.ReadAll(t, "j-out") {
			got = append(got, jrow{string(r.Key), string(r.Value), r.Timestamp.UnixMilli() - windowBase})
		}
		// Partitions interleave arbitrarily; within one, order is fixed.
		slices.SortFunc(got, cmpRows)
		return got
	}

	b.Produce(t, rec("j-left", "a", "a1", 0), rec("j-right", "a", "ra", 2000),
		rec("j-left", "b", "b1", 1000), rec("j-right", "c", "c1", 3000))
	runUntil(t, topo, 4, opts()...)
	want := []jrow{{"a", "[a1, ra]", 2000}}
	if got := read(); !reflect.DeepEqual(got, want) {
		t.Fatalf("output before the windows closed\n got %v\nwant %v", got, want)
	}

	// One closing key per partition: stream time is per task.
	closers := closingKeys(t, 2)
	var recs []*kgo.Record
	for _, k := range closers {
		recs = append(recs, rec("j-left", k, "zl", 30000), rec("j-right", k, "zr", 30000))
	}
	b.Produce(t, recs...)
	runUntil(t, topo, int64(len(recs)), opts()...)
	want = append(want, jrow{"b", "[b1, null]", 1000}, jrow{"c", "[null, c1]", 3000})
	for _, k := range closers {
		want = append(want, jrow{k, "[zl, zr]", 30000})
	}
	slices.SortFunc(want, cmpRows)
	if got := read(); !reflect.DeepEqual(got, want) {
		t.Fatalf("output after the windows closed\n got %v\nwant %v", got, want)
	}
}

func cmpRows(a, b jrow) int {
	if a.TS != b.TS {
		return int(a.TS - b.TS)
	}
	return strings.Compare(a.Key, b.Key)
}

// closingKeys returns one key per partition, by Kafka's default
// partitioner (murmur2), which both the test producer and Sluice use.
func closingKeys(t *testing.T, partitions int) []string {
	t.Helper()
	part := kgo.StickyKeyPartitioner(nil).ForTopic("j-left")
	keys := make([]string, partitions)
	found := 0
	for i := 0; found < partitions && i < 1000; i++ {
		k := "z" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		p := part.Partition(&kgo.Record{Key: []byte(k)}, partitions)
		if keys[p] == "" {
			keys[p] = k
			found++
		}
	}
	if found < partitions {
		t.Fatal("no key for every partition")
	}
	return keys
}
