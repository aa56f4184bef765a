package dsl_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// jrow is an output record of a join: key, value and timestamp (ms).
type jrow struct {
	Key   string
	Value string
	TS    int64
}

// joinCase is one input record (left or right; value "" is a null value)
// and the exact output it causes.
type joinCase struct {
	right bool
	key   string
	value string
	ts    int64
	want  []jrow
}

func showPair(l string, hasL bool, r string, hasR bool) string {
	if !hasL {
		l = "null"
	}
	if !hasR {
		r = "null"
	}
	return "[" + l + ", " + r + "]"
}

// joinKinds builds the three joins with a joiner printing Kafka Streams'
// developer-guide notation "[left, right]".
var joinKinds = map[string]func(l, r *dsl.KStream[string, string], w dsl.JoinWindows) *dsl.KStream[string, string]{
	"inner": func(l, r *dsl.KStream[string, string], w dsl.JoinWindows) *dsl.KStream[string, string] {
		return dsl.Join(l, r, func(lv, rv string) string { return showPair(lv, true, rv, true) }, w)
	},
	"left": func(l, r *dsl.KStream[string, string], w dsl.JoinWindows) *dsl.KStream[string, string] {
		return dsl.LeftJoin(l, r, func(lv, rv string, ok bool) string { return showPair(lv, true, rv, ok) }, w)
	},
	"outer": func(l, r *dsl.KStream[string, string], w dsl.JoinWindows) *dsl.KStream[string, string] {
		return dsl.OuterJoin(l, r, showPair, w)
	},
}

// runJoinCases joins "left" and "right" into "out", pipes the cases one
// by one and checks each output and the late-record count.
func runJoinCases(t *testing.T, kind string, w dsl.JoinWindows, cases []joinCase, wantLate int64) {
	t.Helper()
	b := dsl.NewBuilder()
	left := dsl.Stream(b, "left", dsl.ConsumedWith(serde.String(), serde.String()))
	right := dsl.Stream(b, "right", dsl.ConsumedWith(serde.String(), serde.String()))
	joinKinds[kind](left, right, w).To("out")
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
	in := map[bool]*core.TestInputTopic[string, string]{
		false: core.NewTestInputTopic(d, "left", serde.String(), serde.String()),
		true:  core.NewTestInputTopic(d, "right", serde.String(), serde.String()),
	}
	out := core.NewTestOutputTopic(d, "out", serde.String(), serde.String())
	for i, c := range cases {
		var err error
		if c.value == "" {
			err = in[c.right].PipeNull(c.key, at(c.ts))
		} else {
			err = in[c.right].PipeAt(c.key, c.value, at(c.ts))
		}
		if err != nil {
			t.Fatal(err)
		}
		recs, err := out.ReadRecords()
		if err != nil {
			t.Fatal(err)
		}
		var got []jrow
		for _, r := range recs {
			got = append(got, jrow{r.Key, r.Value, r.Timestamp.UnixMilli()})
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Fatalf("record %d (%s %s=%q @%d): output\n got %v\nwant %v", i, map[bool]string{false: "left", true: "right"}[c.right], c.key, c.value, c.ts, got, c.want)
		}
	}
	if n := drops.late(); n != wantLate {
		t.Errorf("late records counted: %d, want %d", n, wantLate)
	}
}

// rows builds the expected output of one input record: pairs
// "[X, y]@ts" with key k.
func rows(k string, pairs ...string) []jrow {
	var out []jrow
	for _, p := range pairs {
		v, ts, _ := strings.Cut(p, "@")
		var n int64
		fmt.Sscan(ts, &n)
		out = append(out, jrow{k, v, n * 1000})
	}
	return out
}

// TestStreamJoinDeveloperGuide replays the table "Semantics of
// stream-stream joins" of Kafka Streams' developer guide (Joining →
// KStream-KStream Join), one key, timestamps in seconds. The guide assumes
// that rows 1-15 all fall in one join window and uses a 10 s window with
// a 5 s grace period for rows 40-100; a time difference of 14 s (grace
// 5 s) satisfies both: every pair of rows 1-15 joins, and the unmatched
// records of rows 40, 60 and 80 are emitted at rows 60, 80 and 100, as in
// the guide. Null values (rows 1, 2, 7, 8, 11-13) are dropped.
func TestStreamJoinDeveloperGuide(t *testing.T) {
	windows := dsl.JoinWindowsOf(14*time.Second, 5*time.Second)
	type row struct {
		right bool
		value string
		ts    int64
		inner []string
		left  []string // when nil: as inner
		outer []string // when nil: as left
	}
	table := []row{
		{false, "", 1, nil, nil, nil},
		{true, "", 2, nil, nil, nil},
		{false, "A", 3, nil, nil, nil},
		{true, "a", 4, []string{"[A, a]@4"}, nil, nil},
		{false, "B", 5, []string{"[B, a]@5"}, nil, nil},
		{true, "b", 6, []string{"[A, b]@6", "[B, b]@6"}, nil, nil},
		{false, "", 7, nil, nil, nil},
		{true, "", 8, nil, nil, nil},
		{false, "C", 9, []string{"[C, a]@9", "[C, b]@9"}, nil, nil},
		{true, "c", 10, []string{"[A, c]@10", "[B, c]@10", "[C, c]@10"}, nil, nil},
		{true, "", 11, nil, nil, nil},
		{false, "", 12, nil, nil, nil},
		{true, "", 13, nil, nil, nil},
		{true, "d", 14, []string{"[A, d]@14", "[B, d]@14", "[C, d]@14"}, nil, nil},
		{false, "D", 15, []string{"[D, a]@15", "[D, b]@15", "[D, c]@15", "[D, d]@15"}, nil, nil},
		{false, "E", 40, nil, nil, nil},
		{false, "F", 60, nil, []string{"[E, null]@40"}, nil},
		{true, "f", 80, nil, []string{"[F, null]@60"}, nil},
		{false, "G", 100, nil, []string{}, []string{"[null, f]@80"}},
	}
	for _, kind := range []string{"inner", "left", "outer"} {
		t.Run(kind, func(t *testing.T) {
			var cases []joinCase
			for _, r := range table {
				want := r.inner
				if kind != "inner" && r.left != nil {
					want = r.left
				}
				if kind == "outer" && r.outer != nil {
					want = r.outer
				}
				cases = append(cases, joinCase{right: r.right, key: "k", value: r.value, ts: r.ts * 1000, want: rows("k", want...)})
			}
			runJoinCases(t, kind, windows, cases, 0)
		})
	}
}

// TestStreamJoinOutOfOrderAndLate: out-of-order records are never dropped
// as late, as in Kafka Streams' KStreamKStreamJoin: they join whatever the
// window stores still retain (size + grace behind stream time). An
// unmatched out-of-order record whose window has already ended (grace not
// counted) is emitted at once, even if a partner may still arrive within
// the grace period (Kafka Streams does the same: KAFKA-19536, open);
// in-order unmatched records wait until their window's end + grace.
func TestStreamJoinOutOfOrderAndLate(t *testing.T) {
	w := dsl.JoinWindowsOf(10*time.Millisecond, 5*time.Millisecond)
	l := func(v string, ts int64, want ...jrow) joinCase { return joinCase{false, "k", v, ts, want} }
	r := func(v string, ts int64, want ...jrow) joinCase { return joinCase{true, "k", v, ts, want} }
	cases := []joinCase{
		l("A", 100),
		r("x", 95, jrow{"k", "[A, x]", 100}),     // out of order, joins A
		l("B", 120),                              // stream time 120
		l("C", 108, jrow{"k", "[C, null]", 108}), // window [98, 118] ended: unmatched at once
		r("y", 117, jrow{"k", "[C, y]", 117}, jrow{"k", "[B, y]", 120}), // still joins C (retained) and B
		l("D", 200),
		l("E", 180, jrow{"k", "[E, null]", 180}), // window ended; buffered (retention 25 ms: from 175 on)
		r("z", 186, jrow{"k", "[E, z]", 186}),    // joins E
		l("F", 216, jrow{"k", "[D, null]", 200}), // D's window closed at 215
	}
	runJoinCases(t, "left", w, cases, 0)

	// The outer join emits the same: z found a partner.
	runJoinCases(t, "outer", w, cases, 0)
}

// TestStreamJoinAsymmetricWindows: before/after bound the window on each
// side, and a right record's window mirrors a left record's.
func TestStreamJoinAsymmetricWindows(t *testing.T) {
	// A left record at t joins right records in [t, t+20]; a right record
	// at t joins left records in [t-20, t].
	w := dsl.JoinWindowsOf(0, 0).After(20 * time.Millisecond)
	cases := []joinCase{
		{true, "k", "early", 99, nil},
		{false, "k", "A", 100, nil},                          // early is 1 ms before A: outside [100, 120]
		{true, "k", "x", 120, []jrow{{"k", "[A, x]", 120}}},  // at the upper bound
		{true, "k", "y", 121, nil},                           // past it
		{false, "k", "B", 121, []jrow{{"k", "[B, y]", 121}}}, // x is 1 ms before B
	}
	runJoinCases(t, "inner", w, cases, 0)
}

// TestStreamJoinDuplicates: records with the same key and timestamp are
// all kept and all joined.
func TestStreamJoinDuplicates(t *testing.T) {
	w := dsl.JoinWindowsOf(10*time.Millisecond, 0)
	cases := []joinCase{
		{false, "k", "A1", 10, nil},
		{false, "k", "A2", 10, nil},
		{true, "k", "x", 10, []jrow{{"k", "[A1, x]", 10}, {"k", "[A2, x]", 10}}},
		{true, "k", "y", 10, []jrow{{"k", "[A1, y]", 10}, {"k", "[A2, y]", 10}}},
		{false, "k", "A3", 10, []jrow{{"k", "[A3, x]", 10}, {"k", "[A3, y]", 10}}},
		{false, "j", "other key", 12, nil},
	}
	runJoinCases(t, "left", w, cases, 0)
}

// TestStreamSelfJoin joins a stream with itself. As in Kafka Streams (with
// or without the KIP-862 optimization), each pair of records within the
// window joins in both orders, and each record joins itself once; a left
// self-join therefore never emits an unmatched result.
func TestStreamSelfJoin(t *testing.T) {
	for _, kind := range []string{"inner", "left"} {
		t.Run(kind, func(t *testing.T) {
			b := dsl.NewBuilder()
			s := dsl.Stream(b, "in", dsl.ConsumedWith(serde.String(), serde.String()))
			joinKinds[kind](s, s, dsl.JoinWindowsOf(10*time.Millisecond, 0)).To("out")
			topo, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			d, err := core.NewTestDriver(topo)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			in := core.NewTestInputTopic(d, "in", serde.String(), serde.String())
			for _, r := range []struct {
				v  string
				ts int64
			}{{"A", 0}, {"B", 5}, {"C", 30}} {
				if err := in.PipeAt("k", r.v, at(r.ts)); err != nil {
					t.Fatal(err)
				}
			}
			recs, err := core.NewTestOutputTopic(d, "out", serde.String(), serde.String()).ReadRecords()
			if err != nil {
				t.Fatal(err)
			}
			var got []jrow
			for _, r := range recs {
				got = append(got, jrow{r.Key, r.Value, r.Timestamp.UnixMilli()})
			}
			want := []jrow{{"k", "[A, A]", 0}, {"k", "[B, A]", 5}, {"k", "[A, B]", 5}, {"k", "[B, B]", 5}, {"k", "[C, C]", 30}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("output\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestStreamJoinRepartitions: a stream whose key changed upstream goes
// through a repartition topic before the join.
func TestStreamJoinRepartitions(t *testing.T) {
	b := dsl.NewBuilder()
	left := dsl.Stream(b, "left", dsl.ConsumedWith(serde.String(), serde.String()))
	right := dsl.Stream(b, "right", dsl.ConsumedWith(serde.String(), serde.String()))
	rekeyed := dsl.SelectKey(right, func(_, v string) string { return strings.ToLower(v[:1]) })
	dsl.Join(left, rekeyed, func(l, r string) string { return l + "+" + r }, dsl.JoinWindowsOf(time.Second, 0),
		dsl.StreamJoined[string, string, string]{Name: "orders"}).To("out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if desc := topo.Describe(); !strings.Contains(desc, "orders-right-repartition") || !strings.Contains(desc, "orders-this-join-store") {
		t.Errorf("topology has no repartition topic or named store:\n%s", desc)
	}
	d, err := core.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := core.NewTestInputTopic(d, "left", serde.String(), serde.String()).PipeAt("a", "A", at(10)); err != nil {
		t.Fatal(err)
	}
	if err := core.NewTestInputTopic(d, "right", serde.String(), serde.String()).PipeAt("x", "apple", at(20)); err != nil {
		t.Fatal(err)
	}
	got, err := core.NewTestOutputTopic(d, "out", serde.String(), serde.String()).ReadKeyValues()
	if err != nil {
		t.Fatal(err)
	}
	if want := []core.KeyValue[string, string]{{Key: "a", Value: "A+apple"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("output %v, want %v", got, want)
	}
}

func TestJoinWindowsValidation(t *testing.T) {
	for _, w := range []dsl.JoinWindows{
		dsl.JoinWindowsOf(time.Second, -time.Second),
		dsl.JoinWindowsOf(0, 0).Before(-2 * time.Second).After(time.Second),
	} {
		b := dsl.NewBuilder()
		l := dsl.Stream(b, "l", dsl.ConsumedWith(serde.String(), serde.String()))
		r := dsl.Stream(b, "r", dsl.ConsumedWith(serde.String(), serde.String()))
		dsl.Join(l, r, func(a, b string) string { return a + b }, w)
		if _, err := b.Build(); err == nil {
			t.Errorf("windows %+v: no build error", w)
		}
	}
}

// TestStreamJoinCopartitionGroup: the two inputs of a join form a
// co-partition group, which App.Run enforces.
func TestStreamJoinCopartitionGroup(t *testing.T) {
	b := dsl.NewBuilder()
	l := dsl.Stream(b, "l", dsl.ConsumedWith(serde.String(), serde.String()))
	r := dsl.Stream(b, "r", dsl.ConsumedWith(serde.String(), serde.String()))
	dsl.LeftJoin(l, r, func(a, b string, _ bool) string { return a + b }, dsl.JoinWindowsOf(time.Second, 0),
		dsl.StreamJoined[string, string, string]{StoreName: "j"})
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	want := []core.CopartitionGroup{{Topics: []string{"l", "r"}, Stores: []string{"j-other-join-store", "j-this-join-store"}}}
	if got := topo.CopartitionGroups(); !reflect.DeepEqual(got, want) {
		t.Errorf("co-partition groups %+v, want %+v", got, want)
	}
}

// TestStreamJoinNullKeys: as in Kafka Streams since KIP-962, left and outer
// joins emit a null-key record of a kept side at once, unmatched, with its
// key null; inner joins (and the right side of a left join) drop it.
func TestStreamJoinNullKeys(t *testing.T) {
	for kind, want := range map[string][]string{
		"inner": nil,
		"left":  {"null-key [L, null]"},
		"outer": {"null-key [L, null]", "null-key [null, R]"},
	} {
		t.Run(kind, func(t *testing.T) {
			b := dsl.NewBuilder()
			left := dsl.Stream(b, "left", dsl.ConsumedWith(serde.String(), serde.String()))
			right := dsl.Stream(b, "right", dsl.ConsumedWith(serde.String(), serde.String()))
			joinKinds[kind](left, right, dsl.JoinWindowsOf(time.Second, 0)).To("out")
			topo, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			d, err := core.NewTestDriver(topo)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if err := core.NewTestInputTopic(d, "left", serde.String(), serde.String()).PipeRecord(core.Record[string, string]{Value: "L", Timestamp: at(10), NullKey: true}); err != nil {
				t.Fatal(err)
			}
			if err := core.NewTestInputTopic(d, "right", serde.String(), serde.String()).PipeRecord(core.Record[string, string]{Value: "R", Timestamp: at(10), NullKey: true}); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range d.ReadOutput("out") {
				if r.Key != nil {
					t.Errorf("output key %q, want null", r.Key)
				}
				got = append(got, "null-key "+string(r.Value))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("output %q, want %q", got, want)
			}
		})
	}
}

// TestStreamSelfJoinRepartitions: a self-join of a re-keyed stream
// repartitions it once, for both sides.
func TestStreamSelfJoinRepartitions(t *testing.T) {
	b := dsl.NewBuilder()
	s := dsl.Stream(b, "in", dsl.ConsumedWith(serde.String(), serde.String()))
	rekeyed := dsl.SelectKey(s, func(_, v string) string { return v[:1] })
	dsl.Join(rekeyed, rekeyed, func(l, r string) string { return l + "+" + r }, dsl.JoinWindowsOf(time.Second, 0)).To("out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(topo.Describe(), "-repartition"); n != 2 { // written by one sink, read by one source
		t.Errorf("%d mentions of a repartition topic, want 2:\n%s", n, topo.Describe())
	}
	d, err := core.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := core.NewTestInputTopic(d, "in", serde.String(), serde.String())
	for _, v := range []string{"a1", "b1", "a2"} {
		if err := in.PipeAt("x", v, at(10)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := core.NewTestOutputTopic(d, "out", serde.String(), serde.String()).ReadKeyValues()
	if err != nil {
		t.Fatal(err)
	}
	want := []core.KeyValue[string, string]{{Key: "a", Value: "a1+a1"}, {Key: "b", Value: "b1+b1"},
		{Key: "a", Value: "a2+a1"}, {Key: "a", Value: "a1+a2"}, {Key: "a", Value: "a2+a2"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("output %v, want %v", got, want)
	}
}
