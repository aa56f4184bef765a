package transforms

import (
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

// benchInput is a 10-field struct record, as a typical CDC or event value.
func benchInput() (*connectors.Schema, *connectors.Struct) {
	s := connectors.NewStruct("com.acme.Order").
		Field("id", connectors.Int64Schema()).
		Field("customer_id", connectors.Int64Schema()).
		Field("status", connectors.StringSchema()).
		Field("amount", connectors.Float64Schema()).
		Field("quantity", connectors.Int64Schema()).
		Field("currency", connectors.StringSchema()).
		Field("created", connectors.Int64Schema()).
		Field("note", opt(connectors.StringSchema())).
		Field("priority", connectors.Int32Schema()).
		Field("gift", connectors.BooleanSchema()).
		MustBuild()
	return s, mkStruct(s, int64(1001), int64(77), "PAID", 19.99, int64(3), "EUR", int64(1700000000000), nil, int32(2), false)
}

// baselineCopy is the least a struct-rebuilding transform does: a new
// struct of a precomputed schema, fields copied by index.
type baselineCopy struct{ out *connectors.Schema }

func (b baselineCopy) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	in := rec.Value.(*connectors.Struct)
	st := connectors.NewStructValue(b.out)
	for i := range b.out.Fields {
		st.Set(i, in.At(i))
	}
	rec.Value, rec.ValueSchema = st, b.out
	return append(dst, rec), nil
}

func runBench(b *testing.B, tr connectors.Transform, schema *connectors.Schema, value *connectors.Struct) {
	rec := sinkRecord(nil, nil, schema, value)
	dst := make([]*connectors.Record, 0, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec.ValueSchema, rec.Value = schema, value
		out, err := tr.Apply(dst[:0], rec)
		if err != nil || len(out) != 1 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func runBenchParallel(b *testing.B, tr connectors.Transform, schema *connectors.Schema, value *connectors.Struct) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rec := sinkRecord(nil, nil, schema, value)
		dst := make([]*connectors.Record, 0, 1)
		for pb.Next() {
			rec.ValueSchema, rec.Value = schema, value
			if _, err := tr.Apply(dst[:0], rec); err != nil {
				panic(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReplaceField: ReplaceField$Value dropping one field and
// renaming two of a 10-field struct, next to the plain copy baseline.
func BenchmarkReplaceField(b *testing.B) {
	schema, value := benchInput()
	tr := build(b, "ReplaceField$Value", map[string]any{"exclude": "note", "renames": "id:order_id,customer_id:customer"})
	out := apply1(b, tr, sinkRecord(nil, nil, schema, value)).ValueSchema
	b.Run("baseline-copy", func(b *testing.B) { runBench(b, baselineCopy{out: out}, schema, value) })
	b.Run("ReplaceField$Value", func(b *testing.B) { runBench(b, tr, schema, value) })
	b.Run("ReplaceField$Value-parallel", func(b *testing.B) { runBenchParallel(b, tr, schema, value) })
}

// BenchmarkCast: Cast$Value casting three fields of a 10-field struct
// (int64 to int32, float64 to string, int32 to int64), next to the plain
// copy baseline.
func BenchmarkCast(b *testing.B) {
	schema, value := benchInput()
	tr := build(b, "Cast$Value", map[string]any{"spec": "quantity:int32,amount:string,priority:int64"})
	out := apply1(b, tr, sinkRecord(nil, nil, schema, value)).ValueSchema
	if got := fmt.Sprint(apply1(b, tr, sinkRecord(nil, nil, schema, value)).Value.(*connectors.Struct).Get("amount")); got != "19.99" {
		b.Fatalf("amount cast to %q", got)
	}
	b.Run("baseline-copy", func(b *testing.B) { runBench(b, baselineCopy{out: out}, schema, value) })
	b.Run("Cast$Value", func(b *testing.B) { runBench(b, tr, schema, value) })
	b.Run("Cast$Value-parallel", func(b *testing.B) { runBenchParallel(b, tr, schema, value) })
}
