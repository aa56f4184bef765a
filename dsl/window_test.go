package dsl_test

import (
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// wrow is an output record of a windowed table: key, window, value (nil
// for a tombstone) and timestamp, all times in ms.
type wrow struct {
	Key        string
	Start, End int64
	Value      any
	TS         int64
}

// tomb is a tombstone row.
func tomb(key string, start, end, ts int64) wrow { return wrow{key, start, end, nil, ts} }

func readWindowed[V any](t *testing.T, d *core.TestDriver, topic string, keys serde.Serde[serde.Windowed[string]], values serde.Serde[V]) []wrow {
	t.Helper()
	recs, err := core.NewTestOutputTopic(d, topic, keys, values).ReadRecords()
	if err != nil {
		t.Fatal(err)
	}
	var got []wrow
	for _, r := range recs {
		w := wrow{Key: r.Key.Key, Start: r.Key.Start, End: r.Key.End, TS: r.Timestamp.UnixMilli()}
		if !r.NullValue {
			w.Value = r.Value
		}
		got = append(got, w)
	}
	return got
}

// dropCounter is a core.Metrics counting dropped records per reason.
type dropCounter struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *dropCounter) Counter(name string, delta int64, labels ...core.Label) {
	if name != "records_dropped_total" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range labels {
		if l.Name == "reason" {
			c.n[l.Value] += delta
		}
	}
}
func (c *dropCounter) Gauge(string, float64, ...core.Label)     {}
func (c *dropCounter) Histogram(string, float64, ...core.Label) {}

func (c *dropCounter) late() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n["late"]
}

// windowCase is one input record and the exact output it causes.
type windowCase struct {
	key   string
	value int64
	ts    int64
	want  []wrow
}

// runWindowCases builds the topology (reading "in", writing "out"), pipes
// the cases one by one and checks each output and the late-record count.
func runWindowCases[V any](t *testing.T, build func(in *dsl.KStream[string, int64]), keys serde.Serde[serde.Windowed[string]], values serde.Serde[V], cases []windowCase, wantLate int64) {
	t.Helper()
	b := dsl.NewBuilder()
	build(dsl.Stream(b, "in", dsl.ConsumedWith(serde.String(), serde.Int64())))
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	drops := &dropCounter{n: map[string]int64{}}
	d, err := core.NewTestDriver(topo, core.WithMetrics(drops))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := core.NewTestInputTopic(d, "in", serde.String(), serde.Int64())
	for i, c := range cases {
		if err := in.PipeAt(c.key, c.value, at(c.ts)); err != nil {
			t.Fatal(err)
		}
		got := readWindowed(t, d, "out", keys, values)
		if !reflect.DeepEqual(got, c.want) {
			t.Fatalf("record %d (%s=%d @%d): output\n got %v\nwant %v", i, c.key, c.value, c.ts, got, c.want)
		}
	}
	if n := drops.late(); n != wantLate {
		t.Errorf("late records counted: %d, want %d", n, wantLate)
	}
}

func timeWindowedKeys(size time.Duration) serde.Serde[serde.Windowed[string]] {
	return serde.TimeWindowed(serde.String(), size)
}

func TestTumblingWindowCount(t *testing.T) {
	for _, caching := range []bool{true, false} {
		t.Run(map[bool]string{true: "cached", false: "uncached"}[caching], func(t *testing.T) {
			size := 10 * time.Millisecond
			build := func(in *dsl.KStream[string, int64]) {
				dsl.WindowedBy(in.GroupByKey(), dsl.TumblingWindows(size, 5*time.Millisecond)).
					Count(dsl.Materialized[string, int64]{DisableCaching: !caching}).ToStream().To("out")
			}
			runWindowCases(t, build, timeWindowedKeys(size), serde.Int64(), []windowCase{
				{"a", 0, 1, []wrow{{"a", 0, 10, int64(1), 1}}},
				{"a", 0, 5, []wrow{{"a", 0, 10, int64(2), 5}}},
				{"b", 0, 7, []wrow{{"b", 0, 10, int64(1), 7}}},
				{"a", 0, 12, []wrow{{"a", 10, 20, int64(1), 12}}},
				// Out of order, within grace (stream time 12, [0,10) closes at 15):
				// counted, the result keeps the window's latest timestamp.
				{"a", 0, 3, []wrow{{"a", 0, 10, int64(3), 5}}},
				{"c", 0, 24, []wrow{{"c", 20, 30, int64(1), 24}}},
				// Stream time 24: [10,20) closes at 25, still open.
				{"a", 0, 15, []wrow{{"a", 10, 20, int64(2), 15}}},
				{"c", 0, 25, []wrow{{"c", 20, 30, int64(2), 25}}},
				// Stream time 25 = end + grace of [10,20): closed, late.
				{"a", 0, 16, nil},
				{"a", 0, 9, nil},
			}, 2)
		})
	}
}

func TestHoppingWindowMembershipAndLatePerWindow(t *testing.T) {
	for _, caching := range []bool{true, false} {
		t.Run(map[bool]string{true: "cached", false: "uncached"}[caching], func(t *testing.T) {
			size := 10 * time.Millisecond
			build := func(in *dsl.KStream[string, int64]) {
				dsl.WindowedBy(in.GroupByKey(), dsl.HoppingWindows(size, 5*time.Millisecond, 0)).
					Reduce(func(a, v int64) int64 { return a + v }, dsl.Materialized[string, int64]{DisableCaching: !caching}).
					ToStream().To("out")
			}
			runWindowCases(t, build, timeWindowedKeys(size), serde.Int64(), []windowCase{
				// Windows start at multiples of 5 and never before 0.
				{"a", 1, 3, []wrow{{"a", 0, 10, int64(1), 3}}},
				{"a", 2, 7, []wrow{{"a", 0, 10, int64(3), 7}, {"a", 5, 15, int64(2), 7}}},
				{"a", 4, 12, []wrow{{"a", 5, 15, int64(6), 12}, {"a", 10, 20, int64(4), 12}}},
				// [0,10) closed (grace 0, stream time 12), [5,15) open.
				{"a", 8, 9, []wrow{{"a", 5, 15, int64(14), 12}}},
				{"a", 16, 20, []wrow{{"a", 15, 25, int64(16), 20}, {"a", 20, 30, int64(16), 20}}},
				// Both windows of 14 closed: [5,15) and [10,20) (end 20 = stream time).
				{"a", 32, 14, nil},
			}, 3)
		})
	}
}

func TestSlidingWindows(t *testing.T) {
	diff := 10 * time.Millisecond
	sum := func(grace time.Duration) func(in *dsl.KStream[string, int64]) {
		return func(in *dsl.KStream[string, int64]) {
			dsl.WindowedBySliding(in.GroupByKey(), dsl.SlidingWindowsOf(diff, grace)).
				Reduce(func(a, v int64) int64 { return a + v }).ToStream().To("out")
		}
	}
	// Values are distinct bits, so a window's sum names its records.
	t.Run("creation", func(t *testing.T) {
		runWindowCases(t, sum(5*time.Millisecond), timeWindowedKeys(diff), serde.Int64(), []windowCase{
			// The record's left window [t-10, t].
			{"k", 1, 10, []wrow{{"k", 0, 10, int64(1), 10}}},
			// 15: the right window of 10 ([11,21], now non-empty) and
			// 15's left window [5,15], seeded with 10's aggregate.
			{"k", 2, 15, []wrow{{"k", 11, 21, int64(2), 15}, {"k", 5, 15, int64(3), 15}}},
			// 12, out of order: updates [5,15] and [11,21], creates its left
			// window [2,12] and its right window [13,23] (holding 15 only).
			{"k", 4, 12, []wrow{{"k", 5, 15, int64(7), 15}, {"k", 11, 21, int64(6), 15}, {"k", 2, 12, int64(5), 12}, {"k", 13, 23, int64(2), 15}}},
			{"k", 8, 40, []wrow{{"k", 30, 40, int64(8), 40}}},
			// Stream time 40, close time 35: 20's right window [21,31]
			// ended, so the record is dropped.
			{"k", 16, 20, nil},
			// 31: updates [30,40]; its left window [21,31] has closed
			// (dropped), its right window [32,42] holds 40.
			{"k", 32, 31, []wrow{{"k", 30, 40, int64(40), 40}, {"k", 32, 42, int64(8), 40}}},
		}, 2)
	})
	t.Run("early records share [0, diff]", func(t *testing.T) {
		runWindowCases(t, sum(time.Second), timeWindowedKeys(diff), serde.Int64(), []windowCase{
			{"k", 1, 3, []wrow{{"k", 0, 10, int64(1), 3}}},
			{"k", 2, 7, []wrow{{"k", 4, 14, int64(2), 7}, {"k", 0, 10, int64(3), 7}}},
			{"k", 4, 5, []wrow{{"k", 4, 14, int64(6), 7}, {"k", 6, 16, int64(2), 7}, {"k", 0, 10, int64(7), 7}}},
		}, 0)
	})
}

func TestSessionWindows(t *testing.T) {
	keys := serde.SessionWindowed(serde.String())
	// A long retention, so that no session expires from the store before
	// it closes (the default, gap + grace, is Kafka Streams').
	m := dsl.Materialized[string, int64]{Retention: time.Hour}
	t.Run("count", func(t *testing.T) {
		build := func(in *dsl.KStream[string, int64]) {
			dsl.WindowedBySession(in.GroupByKey(), dsl.SessionWindowsOf(10*time.Millisecond, 5*time.Millisecond)).
				Count(m).ToStream().To("out")
		}
		runWindowCases(t, build, keys, serde.Int64(), []windowCase{
			{"a", 0, 0, []wrow{{"a", 0, 0, int64(1), 0}}},
			// Within the gap: the session grows; the old one is deleted.
			{"a", 0, 5, []wrow{tomb("a", 0, 0, 0), {"a", 0, 5, int64(2), 5}}},
			{"a", 0, 30, []wrow{{"a", 30, 30, int64(1), 30}}},
			{"a", 0, 18, []wrow{{"a", 18, 18, int64(1), 18}}},
			// 24 is within the gap of [18,18] and [30,30]: one session.
			{"a", 0, 24, []wrow{tomb("a", 18, 18, 18), tomb("a", 30, 30, 30), {"a", 18, 30, int64(3), 30}}},
			// Stream time 30: sessions ending before 30-10-5 = 15 are closed.
			{"a", 0, 2, nil},
			{"b", 0, 15, []wrow{{"b", 15, 15, int64(1), 15}}},
			// Merges with [15,15]: its end 15 is not before the close time.
			{"b", 0, 14, []wrow{tomb("b", 15, 15, 15), {"b", 14, 15, int64(2), 15}}},
			{"b", 0, 3, nil},
		}, 2)
	})
	t.Run("aggregate merger", func(t *testing.T) {
		build := func(in *dsl.KStream[string, int64]) {
			dsl.SessionAggregate(dsl.WindowedBySession(in.GroupByKey(), dsl.SessionWindowsOf(10*time.Millisecond, 0)),
				func() string { return "" },
				func(_ string, v int64, agg string) string { return agg + string(rune('a'+v)) },
				func(_ string, a, b string) string { return a + "+" + b },
				dsl.Materialized[string, string]{Values: serde.String(), Retention: time.Hour}).ToStream().To("out", dsl.ProducedWith(keys, serde.String()))
		}
		runWindowCases(t, build, keys, serde.String(), []windowCase{
			{"k", 0, 0, []wrow{{"k", 0, 0, "a", 0}}},
			{"k", 1, 20, []wrow{{"k", 20, 20, "b", 20}}},
			// Merged oldest first, starting from the initializer.
			{"k", 2, 10, []wrow{tomb("k", 0, 0, 0), tomb("k", 20, 20, 20), {"k", 0, 20, "+a+bc", 20}}},
		}, 0)
	})
	t.Run("reduce", func(t *testing.T) {
		build := func(in *dsl.KStream[string, int64]) {
			dsl.WindowedBySession(in.GroupByKey(), dsl.SessionWindowsOf(10*time.Millisecond, 0)).
				Reduce(func(a, v int64) int64 { return a*10 + v }, m).ToStream().To("out")
		}
		runWindowCases(t, build, keys, serde.Int64(), []windowCase{
			{"k", 1, 0, []wrow{{"k", 0, 0, int64(1), 0}}},
			{"k", 2, 20, []wrow{{"k", 20, 20, int64(2), 20}}},
			{"k", 3, 10, []wrow{tomb("k", 0, 0, 0), tomb("k", 20, 20, 20), {"k", 0, 20, int64(123), 20}}},
		}, 0)
	})
}

func TestWindowedAggregateRepartitionsAfterKeyChange(t *testing.T) {
	b := dsl.NewBuilder()
	in := dsl.Stream(b, "in", dsl.ConsumedWith(serde.String(), serde.String()))
	grouped := dsl.GroupBy(in, func(_, v string) string { return v })
	dsl.WindowedAggregate(dsl.WindowedBy(grouped, dsl.TumblingWindows(10*time.Millisecond, 0)),
		func() int64 { return 0 }, func(_ string, v string, n int64) int64 { return n + int64(len(v)) },
		dsl.Materialized[string, int64]{Name: "lengths", Values: serde.Int64()}).
		ToStream().To("out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if got := topo.SourceTopics(); !reflect.DeepEqual(got, []string{"in", "lengths-repartition"}) {
		t.Fatalf("source topics = %v", got)
	}
	d, err := core.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pipe := core.NewTestInputTopic(d, "in", serde.String(), serde.String())
	for i, v := range []string{"xx", "yyy", "xx"} {
		if err := pipe.PipeAt("k", v, at(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	want := []wrow{{"xx", 0, 10, int64(2), 0}, {"yyy", 0, 10, int64(3), 1}, {"xx", 0, 10, int64(4), 2}}
	if got := readWindowed(t, d, "out", timeWindowedKeys(10*time.Millisecond), serde.Int64()); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestWindowSpecErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		build func(g *dsl.KGroupedStream[string, int64])
	}{
		{"zero size", func(g *dsl.KGroupedStream[string, int64]) { dsl.WindowedBy(g, dsl.TumblingWindows(0, 0)).Count() }},
		{"advance > size", func(g *dsl.KGroupedStream[string, int64]) {
			dsl.WindowedBy(g, dsl.HoppingWindows(time.Second, 2*time.Second, 0)).Count()
		}},
		{"negative grace", func(g *dsl.KGroupedStream[string, int64]) {
			dsl.WindowedBy(g, dsl.TumblingWindows(time.Second, -1)).Count()
		}},
		{"retention too short", func(g *dsl.KGroupedStream[string, int64]) {
			dsl.WindowedBy(g, dsl.TumblingWindows(time.Second, time.Second)).Count(dsl.Materialized[string, int64]{Retention: time.Second})
		}},
		{"sliding retention", func(g *dsl.KGroupedStream[string, int64]) {
			dsl.WindowedBySliding(g, dsl.SlidingWindowsOf(time.Second, 0)).Count(dsl.Materialized[string, int64]{Retention: time.Second})
		}},
		{"zero gap", func(g *dsl.KGroupedStream[string, int64]) {
			dsl.WindowedBySession(g, dsl.SessionWindowsOf(0, 0)).Count()
		}},
		{"suppress non-windowed", func(g *dsl.KGroupedStream[string, int64]) {
			g.Count().Suppress(dsl.UntilWindowCloses(dsl.UnboundedBuffer()))
		}},
		{"final results emitting early", func(g *dsl.KGroupedStream[string, int64]) {
			dsl.WindowedBy(g, dsl.TumblingWindows(time.Second, 0)).Count().Suppress(dsl.UntilWindowCloses(dsl.BufferMaxRecords(10)))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			c.build(dsl.Stream(b, "in", dsl.ConsumedWith(serde.String(), serde.Int64())).GroupByKey())
			if _, err := b.Build(); err == nil {
				t.Fatal("Build succeeded, want an error")
			} else {
				t.Log(err)
			}
		})
	}
}
