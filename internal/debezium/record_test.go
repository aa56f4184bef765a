package debezium

import (
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// FillRecord with a shared Processed builds exactly what Record builds;
// keys come from the row by position for rows of the table's own schema
// and by name for others, and the record time is the source's ts_ms.
func TestFillRecordMatchesRecord(t *testing.T) {
	row := connectors.NewStruct("").
		Field("name", connectors.OptionalOf(connectors.StringSchema())).
		Field("b", connectors.OptionalOf(connectors.Int32Schema())).
		Field("a", connectors.OptionalOf(connectors.Int64Schema())).MustBuild()
	src := connectors.NewStruct("io.debezium.connector.postgresql.Source").
		Field("version", connectors.StringSchema()).
		Field("ts_ms", connectors.Int64Schema()).Field("snapshot", SnapshotSchema()).MustBuild()
	tb, err := NewTable("p.s.t", row, []string{"a", "b"}, src)
	if err != nil {
		t.Fatal(err)
	}
	after := connectors.NewStructValue(tb.Row).Put("name", "x").Put("b", int32(2)).Put("a", int64(1))
	source := connectors.NewStructValue(src).Put("version", "1").Put("ts_ms", int64(1700000000000)).Put("snapshot", "true")
	now := time.UnixMicro(1700000000123456)
	part := map[string]any{"server": "p"}
	want := tb.Record(OpRead, nil, after, source, now, part, nil)
	var got connectors.Record
	got.Topic = "stale" // overwritten entirely
	tb.FillRecord(&got, OpRead, nil, after, source, At(now), part, nil)
	if got.Topic != want.Topic || got.Partition != -1 || got.Offset != -1 || !got.Timestamp.Equal(time.UnixMilli(1700000000000)) ||
		got.KeySchema != tb.Key || got.ValueSchema != tb.Envelope {
		t.Fatalf("FillRecord: %+v", got)
	}
	if !reflect.DeepEqual(got.Key, want.Key) || !reflect.DeepEqual(got.Value, want.Value) {
		t.Fatalf("FillRecord: key %v value %v, Record: key %v value %v", got.Key, got.Value, want.Key, want.Value)
	}
	key := got.Key.(*connectors.Struct)
	if key.Get("a") != int64(1) || key.Get("b") != int32(2) {
		t.Fatalf("key %v", key)
	}
	env := got.Value.(*connectors.Struct)
	if env.Get("ts_ms") != now.UnixMilli() || env.Get("ts_us") != now.UnixMicro() || env.Get("ts_ns") != now.UnixNano() || env.Get("op") != OpRead {
		t.Fatalf("envelope %v", env)
	}
	// A row of an equal schema that is not the table's: keys by name.
	other := connectors.NewStructValue(row.Copy()).Put("name", "y").Put("b", int32(4)).Put("a", int64(3))
	k := tb.KeyOf(other)
	if k.Get("a") != int64(3) || k.Get("b") != int32(4) {
		t.Fatalf("key of a row of another schema: %v", k)
	}
}

// The struct and its values share one allocation for small structs; each
// size must still hold exactly its fields, independently of other structs.
func TestNewStructValueSizes(t *testing.T) {
	for n := 0; n <= 20; n++ {
		b := connectors.NewStruct("")
		for i := range n {
			b.Field(string(rune('a'+i)), connectors.OptionalOf(connectors.Int64Schema()))
		}
		s := b.MustBuild()
		x, y := connectors.NewStructValue(s), connectors.NewStructValue(s)
		for i := range n {
			if x.At(i) != nil {
				t.Fatalf("%d fields: field %d not nil", n, i)
			}
			x.Set(i, int64(i))
		}
		for i := range n {
			if x.At(i) != int64(i) || y.At(i) != nil {
				t.Fatalf("%d fields: field %d is %v / %v", n, i, x.At(i), y.At(i))
			}
		}
		if err := x.Validate(); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			func() {
				defer func() {
					if recover() == nil {
						t.Fatalf("%d fields: Set(%d) did not panic", n, n)
					}
				}()
				x.Set(n, int64(0))
			}()
		}
	}
}
