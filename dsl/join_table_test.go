package dsl_test

import (
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

func nullable(s string, found bool) string {
	if !found {
		return "null"
	}
	return s
}

// tableJoins joins tables "left" and "right" three ways into topics
// inner, left and outer.
func tableJoins(b *dsl.Builder, materialize bool) {
	str := dsl.ConsumedWith(serde.String(), serde.String())
	left := dsl.Table(b, "left", str)
	right := dsl.Table(b, "right", str)
	var m []dsl.Materialized[string, string]
	if materialize {
		m = []dsl.Materialized[string, string]{{}}
	}
	dsl.JoinTables(left, right, func(l, r string) string { return l + "-" + r }, m...).ToStream().To("inner")
	dsl.LeftJoinTables(left, right, func(l, r string, rf bool) string { return l + "-" + nullable(r, rf) }, m...).ToStream().To("left-join")
	dsl.OuterJoinTables(left, right, func(l string, lf bool, r string, rf bool) string {
		return nullable(l, lf) + "-" + nullable(r, rf)
	}, m...).ToStream().To("outer")
}

// TestTableTableJoinSemantics replays the KTable-KTable join table of
// Kafka Streams' join semantics (KIP-77, developer guide "KTable-KTable
// Equi-Join"): the input at timestamp ts goes to one side ("" is a
// tombstone), and each join emits the listed results; null is a tombstone.
// Every result carries the larger timestamp of the two rows, which here is
// the input's.
func TestTableTableJoinSemantics(t *testing.T) {
	type step struct {
		ts           int64
		left, right  string // "-": no input on that side; "": tombstone
		inner, lj, o string // "": no output; "null": tombstone
	}
	steps := []step{
		{1, "", "-", "", "", ""},
		{2, "-", "", "", "", ""},
		{3, "A", "-", "", "A-null", "A-null"},
		{4, "-", "a", "A-a", "A-a", "A-a"},
		{5, "B", "-", "B-a", "B-a", "B-a"},
		{6, "-", "b", "B-b", "B-b", "B-b"},
		{7, "", "-", "null", "null", "null-b"},
		{8, "-", "", "", "", "null"},
		{9, "C", "-", "", "C-null", "C-null"},
		{10, "-", "c", "C-c", "C-c", "C-c"},
		{11, "-", "", "null", "C-null", "C-null"},
		{12, "", "-", "", "null", "null"},
		{13, "-", "", "", "", ""},
		{14, "-", "d", "", "", "null-d"},
		{15, "D", "-", "D-d", "D-d", "D-d"},
	}
	for _, materialize := range []bool{false, true} {
		name := "unmaterialized"
		if materialize {
			name = "materialized"
		}
		t.Run(name, func(t *testing.T) {
			b := dsl.NewBuilder()
			tableJoins(b, materialize)
			d := driver(t, b)
			leftIn := core.NewTestInputTopic(d, "left", serde.String(), serde.String())
			rightIn := core.NewTestInputTopic(d, "right", serde.String(), serde.String())
			outs := map[string]*core.TestOutputTopic[string, string]{}
			for _, topic := range []string{"inner", "left-join", "outer"} {
				outs[topic] = core.NewTestOutputTopic(d, topic, serde.String(), serde.String())
			}
			for _, s := range steps {
				in, v := leftIn, s.left
				if s.left == "-" {
					in, v = rightIn, s.right
				}
				if err := in.PipeRecord(core.Record[string, string]{Key: "k", Value: v, NullValue: v == "", Timestamp: at(s.ts)}); err != nil {
					t.Fatal(err)
				}
				for topic, want := range map[string]string{"inner": s.inner, "left-join": s.lj, "outer": s.o} {
					var exp []kvt
					switch want {
					case "":
					case "null":
						exp = []kvt{{Key: "k", Null: true, TS: s.ts}}
					default:
						exp = []kvt{{Key: "k", Value: want, TS: s.ts}}
					}
					if got := readAll(t, outs[topic]); !reflect.DeepEqual(got, exp) {
						t.Errorf("ts %d (left %q, right %q): %s = %v, want %v", s.ts, s.left, s.right, topic, got, exp)
					}
				}
			}
		})
	}
}

// TestTableTableJoinTimestampsAndChaining: a result carries the larger of
// the two rows' timestamps whichever side changed; a join input without a
// store (a Filter result) is materialized internally; the result is a table
// whose old values let a downstream Filter retract rows.
func TestTableTableJoinTimestampsAndChaining(t *testing.T) {
	b := dsl.NewBuilder()
	str := dsl.ConsumedWith(serde.String(), serde.String())
	left := dsl.Table(b, "left", str)
	right := dsl.Table(b, "right", str).Filter(func(_, v string) bool { return v != "skip" })
	joined := dsl.JoinTables(left, right, func(l, r string) string { return l + "-" + r },
		dsl.MaterializedAs[string, string]("joined"))
	joined.ToStream().To("joined")
	joined.Filter(func(_, v string) bool { return v[0] == 'A' }).ToStream().To("only-a")
	d := driver(t, b)
	leftIn := core.NewTestInputTopic(d, "left", serde.String(), serde.String())
	rightIn := core.NewTestInputTopic(d, "right", serde.String(), serde.String())
	out := core.NewTestOutputTopic(d, "joined", serde.String(), serde.String())
	onlyA := core.NewTestOutputTopic(d, "only-a", serde.String(), serde.String())
	pipe := func(in *core.TestInputTopic[string, string], k, v string, ts int64) {
		t.Helper()
		if err := in.PipeAt(k, v, at(ts)); err != nil {
			t.Fatal(err)
		}
	}
	pipe(leftIn, "k", "A", 100)
	pipe(rightIn, "k", "a", 50)  // older right row: the result keeps the left's 100
	pipe(rightIn, "k", "a2", 60) // still 100
	pipe(leftIn, "k", "B", 70)   // left now 70, right 60: 70
	pipe(rightIn, "k", "skip", 80)
	want := []kvt{
		{"k", "A-a", false, 100}, {"k", "A-a2", false, 100}, {"k", "B-a2", false, 70},
		{"k", nil, true, 80}, // the filtered right row is a delete at 80: max(80, left's 70), as in Kafka Streams
	}
	if got := readAll(t, out); !reflect.DeepEqual(got, want) {
		t.Errorf("joined = %v, want %v", got, want)
	}
	wantA := []kvt{{"k", "A-a", false, 100}, {"k", "A-a2", false, 100}, {"k", nil, true, 70}}
	if got := readAll(t, onlyA); !reflect.DeepEqual(got, wantA) {
		t.Errorf("only-a = %v, want %v", got, wantA)
	}
}
