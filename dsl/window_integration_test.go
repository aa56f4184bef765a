package dsl_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde"
)

// windowBase is a recent multiple of 10s: window changelogs are deleted by
// time (retention + 1 day), so inputs must not be stamped long ago.
var windowBase = time.Now().Truncate(10 * time.Second).Add(-time.Minute).UnixMilli()

// runUntil runs an application until it consumed want records, then stops
// it gracefully (which flushes caches and commits).
func runUntil(t *testing.T, topo *core.Topology, want int64, opts ...core.Option) {
	t.Helper()
	app, err := core.New(topo, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for app.Stats().Consumed < want {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("consumed %d records, want %d", app.Stats().Consumed, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("app: %v", err)
	}
}

func int64Bytes(n int64) []byte {
	b, _ := serde.Int64().Serialize("", n)
	return b
}

func windowedRows(t *testing.T, recs []*kgo.Record, size time.Duration) []wrow {
	t.Helper()
	keys := serde.TimeWindowed(serde.String(), size)
	var out []wrow
	for _, r := range recs {
		k, err := keys.Deserialize(r.Topic, r.Key)
		if err != nil {
			t.Fatal(err)
		}
		n, err := serde.Int64().Deserialize(r.Topic, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, wrow{k.Key, k.Start - windowBase, k.End - windowBase, n, r.Timestamp.UnixMilli() - windowBase})
	}
	return out
}

// TestWindowCachingOnBroker: with the record cache, a windowed count
// forwards one result per window and commit (here the single commit at
// shutdown, the interval being an hour); without, every update.
func TestWindowCachingOnBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an application on an in-process broker")
	}
	for _, caching := range []bool{true, false} {
		t.Run(map[bool]string{true: "cached", false: "uncached"}[caching], func(t *testing.T) {
			t.Parallel()
			b := testbroker.New(t)
			b.CreateTopic(t, "w-in", 1, nil)
			b.CreateTopic(t, "w-out", 1, nil)
			var recs []*kgo.Record
			for i := range 20 {
				key := fmt.Sprintf("k%d", i%2)
				ts := windowBase + int64(i/2)*2000 // 0s..18s: two windows
				recs = append(recs, &kgo.Record{Topic: "w-in", Key: []byte(key), Value: int64Bytes(int64(i)), Timestamp: time.UnixMilli(ts)})
			}
			b.Produce(t, recs...)

			size := 10 * time.Second
			bld := dsl.NewBuilder()
			in := dsl.Stream(bld, "w-in", dsl.ConsumedWith(serde.String(), serde.Int64()))
			dsl.WindowedBy(in.GroupByKey(), dsl.TumblingWindows(size, time.Hour)).
				Count(dsl.Materialized[string, int64]{DisableCaching: !caching}).ToStream().To("w-out")
			topo, err := bld.Build()
			if err != nil {
				t.Fatal(err)
			}
			runUntil(t, topo, 20, core.WithBrokers(b.Addr()), core.WithApplicationID("windows"),
				core.WithStateDir(t.TempDir()), core.WithCommitInterval(time.Hour))

			got := windowedRows(t, b.ReadAll(t, "w-out"), size)
			var want []wrow
			if caching {
				// Flushed in the order of the windows' last updates.
				want = []wrow{{"k0", 0, 10000, int64(5), 8000}, {"k1", 0, 10000, int64(5), 8000},
					{"k0", 10000, 20000, int64(5), 18000}, {"k1", 10000, 20000, int64(5), 18000}}
			} else {
				for i := range 20 {
					start := int64(i/10) * 10000
					want = append(want, wrow{fmt.Sprintf("k%d", i%2), start, start + 10000, int64(i%10/2 + 1), int64(i/2) * 2000})
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("output\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestSuppressionBufferSurvivesRestart: an application stops (gracefully)
// while a window is still open, with its final result buffered; a new
// instance with an empty state directory restores the buffer from its
// changelog and emits the final result, once, when stream time passes the
// window's end plus grace.
func TestSuppressionBufferSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an application on an in-process broker")
	}
	b := testbroker.New(t)
	b.CreateTopic(t, "s-in", 1, nil)
	b.CreateTopic(t, "s-out", 1, nil)
	size := 10 * time.Second
	bld := dsl.NewBuilder()
	in := dsl.Stream(bld, "s-in", dsl.ConsumedWith(serde.String(), serde.Int64()))
	dsl.WindowedBy(in.GroupByKey(), dsl.TumblingWindows(size, 2*time.Second)).Count().
		Suppress(dsl.UntilWindowCloses(dsl.UnboundedBuffer())).ToStream().To("s-out")
	topo, err := bld.Build()
	if err != nil {
		t.Fatal(err)
	}
	produce := func(key string, offset int64) {
		b.Produce(t, &kgo.Record{Topic: "s-in", Key: []byte(key), Value: int64Bytes(1), Timestamp: time.UnixMilli(windowBase + offset)})
	}
	opts := func() []core.Option {
		return []core.Option{core.WithBrokers(b.Addr()), core.WithApplicationID("final"),
			core.WithStateDir(t.TempDir()), core.WithCommitInterval(100 * time.Millisecond)}
	}

	for _, off := range []int64{1000, 4000, 9000, 11000} { // stream time 11s: [0,10) open until 12s
		produce("a", off)
	}
	produce("b", 5000)
	runUntil(t, topo, 5, opts()...)
	if got := b.ReadAll(t, "s-out"); len(got) != 0 {
		t.Fatalf("output before the window closed: %v", windowedRows(t, got, size))
	}

	produce("a", 12000) // closes [0,10)
	runUntil(t, topo, 1, opts()...)
	want := []wrow{{"a", 0, 10000, int64(3), 9000}, {"b", 0, 10000, int64(1), 5000}}
	if got := windowedRows(t, b.ReadAll(t, "s-out"), size); !reflect.DeepEqual(got, want) {
		t.Fatalf("output after restart\n got %v\nwant %v", got, want)
	}

	// Once more: nothing is emitted again.
	produce("a", 30000)
	runUntil(t, topo, 1, opts()...)
	want = append(want, wrow{"a", 10000, 20000, int64(2), 12000})
	if got := windowedRows(t, b.ReadAll(t, "s-out"), size); !reflect.DeepEqual(got, want) {
		t.Fatalf("output after the second restart\n got %v\nwant %v", got, want)
	}
}
