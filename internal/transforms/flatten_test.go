package transforms

import (
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

// FlattenTest.testNestedStruct / testNestedMapWithDelimiter and the
// optionality and default rules.
func TestFlatten(t *testing.T) {
	t.Parallel()
	types := connectors.NewStruct("").
		Field("int8", connectors.Int8Schema()).
		Field("string", connectors.StringSchema()).
		Field("bytes", connectors.BytesSchema()).
		Field("array", connectors.ArraySchema(connectors.Int32Schema())).
		MustBuild()
	one := connectors.NewStruct("").Field("B", types).MustBuild()
	two := connectors.NewStruct("top").Field("A", one).Field("x", connectors.Int32Schema()).MustBuild()
	value := mkStruct(two, mkStruct(one, mkStruct(types, int8(8), "stringy", []byte("bytes"), []any{int32(1)})), int32(5))

	for _, s := range sides {
		t.Run(s.String(), func(t *testing.T) {
			tr := build(t, "Flatten"+s.suffix(), nil)
			out := apply1(t, tr, recordOf(s, two, value))
			gs, v := getSide(s, out)
			want := connectors.NewStruct("top").
				Field("A.B.int8", connectors.Int8Schema()).
				Field("A.B.string", connectors.StringSchema()).
				Field("A.B.bytes", connectors.BytesSchema()).
				Field("A.B.array", connectors.ArraySchema(connectors.Int32Schema())).
				Field("x", connectors.Int32Schema()).MustBuild()
			checkSchema(t, "flat", gs, want)
			checkValue(t, "flat", v, mkStruct(want, int8(8), "stringy", []byte("bytes"), []any{int32(1)}, int32(5)))

			tr = build(t, "Flatten"+s.suffix(), map[string]any{"delimiter": "#"})
			in := map[string]any{"A": map[string]any{"B": map[string]any{"int8": int8(8), "string": "stringy", "nil": nil, "arr": []any{map[string]any{"k": 1}}}}, "x": int64(5)}
			out = apply1(t, tr, recordOf(s, nil, in))
			_, v = getSide(s, out)
			checkValue(t, "schemaless", v, map[string]any{"A#B#int8": int8(8), "A#B#string": "stringy", "A#B#nil": nil, "A#B#arr": []any{map[string]any{"k": 1}}, "x": int64(5)})
		})
	}

	t.Run("optional parents and defaults", func(t *testing.T) {
		inner := connectors.NewStruct("").Field("req", connectors.Int32Schema()).Field("dflt", withDefault(connectors.StringSchema(), "d")).MustBuild()
		innerDefault := mkStruct(inner, int32(7), "from-parent")
		outer := connectors.NewStruct("").
			Field("opt", opt(inner)).
			Field("withDefault", withDefault(inner, innerDefault)).
			MustBuild()
		tr := build(t, "Flatten$Value", nil)
		out := apply1(t, tr, sinkRecord(nil, nil, outer, mkStruct(outer, nil, mkStruct(inner, int32(1), nil))))
		want := &connectors.Schema{Type: connectors.TypeStruct, Fields: []connectors.Field{
			{Name: "opt.req", Schema: opt(connectors.Int32Schema())},
			{Name: "opt.dflt", Schema: withDefault(opt(connectors.StringSchema()), "d")},
			{Name: "withDefault.req", Schema: withDefault(connectors.Int32Schema(), int32(7))},
			{Name: "withDefault.dflt", Schema: withDefault(connectors.StringSchema(), "d")},
		}}
		want.Finish()
		checkSchema(t, "flat", out.ValueSchema, want)
		// A null optional struct leaves its fields null; a null field with a
		// default reads as the default.
		checkValue(t, "flat", out.Value, mkStruct(want, nil, nil, int32(1), "d"))
	})

	t.Run("errors", func(t *testing.T) {
		tr := build(t, "Flatten$Value", nil)
		applyErr(t, tr, sinkRecord(nil, nil, connectors.Int32Schema(), int32(42)), "needs a struct")
		applyErr(t, tr, sinkRecord(nil, nil, nil, int64(42)), "needs a map")
		withMap := connectors.NewStruct("").Field("m", connectors.MapSchema(connectors.StringSchema())).MustBuild()
		applyErr(t, tr, sinkRecord(nil, nil, withMap, mkStruct(withMap, map[string]any{})), `field "m"`, "map fields")
		clash := connectors.NewStruct("").Field("a.b", connectors.Int32Schema()).
			Field("a", connectors.NewStruct("").Field("b", connectors.Int32Schema()).MustBuild()).MustBuild()
		applyErr(t, tr, sinkRecord(nil, nil, clash, mkStruct(clash, int32(1), nil)), `two fields named "a.b"`)
	})

	t.Run("tombstone passes", func(t *testing.T) {
		tr := build(t, "Flatten$Value", nil)
		o := opt(two)
		if out := apply1(t, tr, sinkRecord(nil, nil, o, nil)); out.ValueSchema != o || out.Value != nil {
			t.Error("tombstone changed")
		}
	})

	t.Run("schemaless name clash is deterministic", func(t *testing.T) {
		tr := build(t, "Flatten$Value", nil)
		for range 20 {
			out := apply1(t, tr, sinkRecord(nil, nil, nil, map[string]any{"a.b": int64(1), "a": map[string]any{"b": int64(2)}}))
			checkValue(t, "clash", out.Value, map[string]any{"a.b": int64(1)})
		}
	})
}
