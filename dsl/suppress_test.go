package dsl_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

func TestSuppressUntilWindowCloses(t *testing.T) {
	size := 10 * time.Millisecond
	for _, caching := range []bool{true, false} {
		t.Run(map[bool]string{true: "cached", false: "uncached"}[caching], func(t *testing.T) {
			build := func(in *dsl.KStream[string, int64]) {
				dsl.WindowedBy(in.GroupByKey(), dsl.TumblingWindows(size, 5*time.Millisecond)).
					Count(dsl.Materialized[string, int64]{DisableCaching: !caching}).
					Suppress(dsl.UntilWindowCloses(dsl.UnboundedBuffer())).
					ToStream().To("out")
			}
			runWindowCases(t, build, timeWindowedKeys(size), serde.Int64(), []windowCase{
				{"a", 0, 1, nil},
				{"a", 0, 4, nil},
				{"b", 0, 8, nil},
				{"a", 0, 12, nil},
				{"a", 0, 14, nil},
				// Stream time 15 = end + grace of [0,10): its final results,
				// with the timestamps of the windows' latest records.
				{"c", 0, 15, []wrow{{"a", 0, 10, int64(2), 4}, {"b", 0, 10, int64(1), 8}}},
				{"a", 0, 9, nil}, // late: not counted, nothing emitted again
				{"a", 0, 24, nil},
				{"a", 0, 26, []wrow{{"a", 10, 20, int64(2), 14}, {"c", 10, 20, int64(1), 15}}},
			}, 1)
		})
	}
}

func TestSuppressSessionsDropsMergedAway(t *testing.T) {
	keys := serde.SessionWindowed(serde.String())
	build := func(in *dsl.KStream[string, int64]) {
		dsl.WindowedBySession(in.GroupByKey(), dsl.SessionWindowsOf(10*time.Millisecond, 5*time.Millisecond)).
			Count().Suppress(dsl.UntilWindowCloses(dsl.UnboundedBuffer())).ToStream().To("out")
	}
	runWindowCases(t, build, keys, serde.Int64(), []windowCase{
		{"a", 0, 0, nil},
		{"a", 0, 12, nil},
		// Bridges [0,0] and [12,12]: their deletes are buffered, never emitted.
		{"a", 0, 6, nil},
		{"a", 0, 26, nil},
		// A session closes at end + gap + grace: [0,12] at 27.
		{"a", 0, 27, []wrow{{"a", 0, 12, int64(3), 12}}},
		{"b", 0, 50, []wrow{{"a", 26, 27, int64(2), 27}}},
	}, 0)
}

// tableCase pipes one table update ("" value: a tombstone) and expects
// the exact output.
type tableCase struct {
	key, value string
	ts         int64
	want       []kvt
}

func runTableCases(t *testing.T, s dsl.Suppressed, cases []tableCase) error {
	t.Helper()
	b := dsl.NewBuilder()
	dsl.Table(b, "t", dsl.ConsumedWith(serde.String(), serde.String())).
		Suppress(s).ToStream().To("out")
	d := driver(t, b)
	in := core.NewTestInputTopic(d, "t", serde.String(), serde.String())
	out := core.NewTestOutputTopic(d, "out", serde.String(), serde.String())
	for i, c := range cases {
		var err error
		if c.value == "" {
			err = in.PipeNull(c.key, at(c.ts))
		} else {
			err = in.PipeAt(c.key, c.value, at(c.ts))
		}
		if err != nil {
			return err
		}
		if got := readAll(t, out); !reflect.DeepEqual(got, c.want) {
			t.Fatalf("update %d (%s=%q @%d): output\n got %v\nwant %v", i, c.key, c.value, c.ts, got, c.want)
		}
	}
	return nil
}

func TestSuppressUntilTimeLimit(t *testing.T) {
	err := runTableCases(t, dsl.UntilTimeLimit(10*time.Millisecond, dsl.UnboundedBuffer()), []tableCase{
		{"x", "1", 0, nil},
		{"x", "2", 5, nil}, // x stays buffered since 0, with its latest value
		{"y", "1", 7, nil},
		{"x", "3", 9, nil},
		{"z", "1", 10, []kvt{{"x", "3", false, 9}}},
		{"y", "", 12, nil},
		// y was buffered at 7: emitted at 17, a delete (not dropped).
		{"w", "1", 17, []kvt{{"y", nil, true, 12}}},
		{"x", "4", 20, []kvt{{"z", "1", false, 10}}},
		{"x", "5", 29, []kvt{{"w", "1", false, 17}}},
		{"w", "2", 30, []kvt{{"x", "5", false, 29}}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSuppressBufferFull(t *testing.T) {
	t.Run("emit early, records", func(t *testing.T) {
		err := runTableCases(t, dsl.UntilTimeLimit(time.Hour, dsl.BufferMaxRecords(2)), []tableCase{
			{"a", "1", 1, nil},
			{"b", "1", 2, nil},
			// Three keys: the one buffered first goes out early.
			{"c", "1", 3, []kvt{{"a", "1", false, 1}}},
			{"b", "2", 4, nil}, // an update takes no more room
			{"d", "1", 5, []kvt{{"b", "2", false, 4}}},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("emit early, bytes", func(t *testing.T) {
		// An entry of a 1-byte key and a 3-byte value counts 32 bytes.
		long := "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" // 30 bytes: the entry counts 59
		err := runTableCases(t, dsl.UntilTimeLimit(time.Hour, dsl.BufferMaxBytes(90)), []tableCase{
			{"a", "aaa", 1, nil},
			{"b", "bbb", 2, nil},
			{"c", "ccc", 3, []kvt{{"a", "aaa", false, 1}}},
			// 32 + 59 > 90: b, buffered first, goes out.
			{"b", long, 4, []kvt{{"b", long, false, 4}}},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("shut down", func(t *testing.T) {
		err := runTableCases(t, dsl.UntilTimeLimit(time.Hour, dsl.BufferMaxRecords(1).ShutDownWhenFull()), []tableCase{
			{"a", "1", 1, nil},
			{"a", "2", 2, nil},
			{"b", "1", 3, nil},
		})
		if !errors.Is(err, dsl.ErrSuppressBufferFull) {
			t.Fatalf("err = %v, want ErrSuppressBufferFull", err)
		}
		t.Log(err)
	})
	t.Run("shut down, final results", func(t *testing.T) {
		b := dsl.NewBuilder()
		in := dsl.Stream(b, "in", dsl.ConsumedWith(serde.String(), serde.Int64()))
		dsl.WindowedBy(in.GroupByKey(), dsl.TumblingWindows(10*time.Millisecond, 0)).Count().
			Suppress(dsl.UntilWindowCloses(dsl.BufferMaxRecords(2).ShutDownWhenFull()).WithName("final")).
			ToStream().To("out")
		d := driver(t, b)
		pipe := core.NewTestInputTopic(d, "in", serde.String(), serde.Int64())
		for i, k := range []string{"a", "b", "a", "c"} {
			err := pipe.PipeAt(k, 1, at(int64(i)))
			if i < 3 && err != nil {
				t.Fatal(err)
			}
			if i == 3 && !errors.Is(err, dsl.ErrSuppressBufferFull) {
				t.Fatalf("err = %v, want ErrSuppressBufferFull", err)
			}
		}
		if n := len(d.ReadOutput("test-driver-final-store-changelog")); n == 0 {
			t.Error("the suppression buffer wrote no changelog")
		}
	})
}

// TestSuppressFilterKeepsWindow: a windowed table stays windowed through
// Filter and MapValuesTable.
func TestSuppressAfterFilter(t *testing.T) {
	size := 10 * time.Millisecond
	build := func(in *dsl.KStream[string, int64]) {
		counts := dsl.WindowedBy(in.GroupByKey(), dsl.TumblingWindows(size, 0)).Count()
		dsl.MapValuesTable(counts.Filter(func(_ serde.Windowed[string], n int64) bool { return n > 1 }),
			func(n int64) int64 { return n * 100 }).
			Suppress(dsl.UntilWindowCloses(dsl.UnboundedBuffer())).ToStream().To("out")
	}
	runWindowCases(t, build, timeWindowedKeys(size), serde.Int64(), []windowCase{
		{"a", 0, 1, nil},
		{"a", 0, 2, nil},
		{"b", 0, 3, nil},
		// Filtered out: the suppression sees no record, so its stream
		// time does not move (Kafka Streams' KTableSuppressProcessor).
		{"c", 0, 10, nil},
		{"c", 0, 11, []wrow{{"a", 0, 10, int64(200), 2}}},
	}, 0)
}
