package transforms

import (
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// CastTest.castWholeRecord*: the whole key or value, with and without a
// schema.
func TestCastWholeValue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		spec string
		in   any
		want any
	}{
		{"int8", int32(42), int8(42)},
		{"int16", int32(42), int16(42)},
		{"int32", int32(42), int32(42)},
		{"int64", int32(42), int64(42)},
		{"float32", int32(42), float32(42)},
		{"float64", int32(42), float64(42)},
		{"boolean", int32(42), true},
		{"boolean", int32(0), false},
		{"string", int32(42), "42"},
		{"int8", int32(300), int8(44)},                 // Java narrowing wraps
		{"int32", float64(3.9), int32(3)},              // truncates toward zero
		{"int32", float64(-3.9), int32(-3)},            //
		{"int32", float64(1e20), int32(math.MaxInt32)}, // saturates
		{"int8", float64(1e20), int8(-1)},              // (byte)(int)1e20 = (byte)0x7fffffff
		{"int64", math.NaN(), int64(0)},                //
		{"boolean", float64(0.5), false},               // longValue() != 0
		{"boolean", "TRUE", true},                      // Boolean.parseBoolean
		{"boolean", "yes", false},                      //
		{"int16", "-42", int16(-42)},                   //
		{"float64", " 1.5 ", 1.5},                      // Double.parseDouble trims
		{"string", float64(1e10), "1.0E10"},            // Double.toString
		{"string", float64(42), "42.0"},                //
		{"string", float32(0.1), "0.1"},                // Float.toString
		{"string", true, "true"},                       //
		{"string", []byte{0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10}, "/ty6mHZUMhA="},
		{"int8", true, int8(1)},
		{"float32", true, float32(1)},
		{"float64", int64(3), float64(3)},
		{"float32", int16(-7), float32(-7)},
		{"float64", "1e400", math.Inf(1)}, // overflow is Infinity, as Double.parseDouble
		{"float64", big.NewRat(1, 4), 0.25},
		{"boolean", big.NewRat(1, 2), false},
		{"int64", big.NewRat(-7, 2), int64(-3)},
		{"string", int16(-5), "-5"},
		{"int32", float32(2.5e9), int32(math.MaxInt32)},
		{"int64", float32(-1.5), int64(-1)},
	} {
		for _, s := range sides {
			tr := build(t, "Cast"+s.suffix(), map[string]any{"spec": c.spec})
			out := apply1(t, tr, recordOf(s, nil, c.in))
			if gs, v := getSide(s, out); gs != nil || !equalValue(v, c.want) {
				t.Errorf("%s schemaless cast of %s to %s: got %s, want %s", s, show(c.in), c.spec, show(v), show(c.want))
			}
		}
	}
	// With a schema: the new schema is the target type, keeping
	// optionality, with the default cast (CastTest.castWholeRecordDefaultValue).
	tr := build(t, "Cast$Value", map[string]any{"spec": "int32"})
	in := withDefault(connectors.Float32Schema(), float32(-42.5))
	out := apply1(t, tr, sinkRecord(nil, nil, in, float32(42.7)))
	checkSchema(t, "whole", out.ValueSchema, withDefault(connectors.Int32Schema(), int32(-42)))
	checkValue(t, "whole", out.Value, int32(42))
	out = apply1(t, tr, sinkRecord(nil, nil, opt(connectors.Int64Schema()), int64(7)))
	checkSchema(t, "optional", out.ValueSchema, opt(connectors.Int32Schema()))

	// A logical type cast as a whole loses its name (the value is no longer
	// a time).
	tr = build(t, "Cast$Value", map[string]any{"spec": "int64"})
	out = apply1(t, tr, sinkRecord(nil, nil, connectors.TimestampSchema(), time.UnixMilli(1234)))
	checkSchema(t, "timestamp as int64", out.ValueSchema, connectors.Int64Schema())
	checkValue(t, "timestamp as int64", out.Value, int64(1234))

	// Unsupported sources.
	tr = build(t, "Cast$Value", map[string]any{"spec": "int8"})
	applyErr(t, tr, sinkRecord(nil, nil, nil, map[string]any{}), "cannot cast from map")
	applyErr(t, tr, sinkRecord(nil, nil, nil, "not a number"), `cannot cast "not a number" to int8`)
	applyErr(t, tr, sinkRecord(nil, nil, nil, "300"), "not a whole number in its range")
	applyErr(t, tr, sinkRecord(nil, nil, nil, []byte{1}), "bytes can only be cast to string")
	applyErr(t, tr, sinkRecord(nil, nil, connectors.ArraySchema(connectors.Int32Schema()), []any{}), "cannot cast from array")

	// Null passes (castNullValueRecordWithSchema / Schemaless).
	rec := sinkRecord(nil, nil, opt(connectors.Int32Schema()), nil)
	if out := apply1(t, tr, rec); out.Value != nil || out.ValueSchema != rec.ValueSchema {
		t.Error("null value changed")
	}
}

// CastTest.castFieldsWithSchema, with Kafka's expectations.
func TestCastFieldsWithSchema(t *testing.T) {
	t.Parallel()
	day := time.UnixMilli(millisPerDay).UTC()
	bytes := []byte{0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10}
	tr := build(t, "Cast$Value", map[string]any{
		"spec": "int8:int16,int16:int32,int32:int64,int64:boolean,float32:float64,float64:boolean,boolean:int8,string:int32,bigdecimal:string,date:string,optional:int32,bytes:string",
	})
	schema := connectors.NewStruct("").
		Field("int8", connectors.Int8Schema()).
		Field("int16", opt(connectors.Int16Schema())).
		Field("int32", withDefault(connectors.Int32Schema(), int32(2))).
		Field("int64", connectors.Int64Schema()).
		Field("float32", connectors.Float32Schema()).
		Field("float64", withDefault(connectors.Float64Schema(), -1.125)).
		Field("boolean", connectors.BooleanSchema()).
		Field("string", connectors.StringSchema()).
		Field("bigdecimal", connectors.DecimalSchema(0)).
		Field("date", connectors.DateSchema()).
		Field("optional", opt(connectors.Float32Schema())).
		Field("timestamp", connectors.TimestampSchema()).
		Field("bytes", connectors.BytesSchema()).
		MustBuild()
	value := mkStruct(schema, int8(8), int16(16), int32(32), int64(64), float32(32), float64(-64), true, "42",
		big.NewRat(42, 1), day, nil, time.UnixMilli(0).UTC(), bytes)
	out := apply1(t, tr, sinkRecord(nil, nil, schema, value))
	st := out.Value.(*connectors.Struct)
	for name, want := range map[string]any{
		"int8": int16(8), "int16": int32(16), "int32": int64(32), "int64": true, "float32": float64(32), "float64": true,
		"boolean": int8(1), "string": int32(42), "bigdecimal": "42", "date": "1970-01-02", "optional": nil,
		"timestamp": time.UnixMilli(0).UTC(), "bytes": "/ty6mHZUMhA=",
	} {
		checkValue(t, name, st.Get(name), want)
	}
	fs := func(name string) *connectors.Schema { f, _ := out.ValueSchema.Field(name); return f.Schema }
	checkSchema(t, "int16", fs("int16"), opt(connectors.Int32Schema()))
	checkSchema(t, "int32", fs("int32"), withDefault(connectors.Int64Schema(), int64(2)))
	checkSchema(t, "float64", fs("float64"), withDefault(connectors.BooleanSchema(), true))
	checkSchema(t, "date", fs("date"), connectors.StringSchema())
	checkSchema(t, "timestamp (not cast)", fs("timestamp"), connectors.TimestampSchema())
	if err := st.Validate(); err != nil {
		t.Error(err)
	}
}

// CastTest.castLogicalToPrimitive and castLogicalToString.
func TestCastLogicalTypes(t *testing.T) {
	t.Parallel()
	tr := build(t, "Cast$Value", map[string]any{
		"spec": "date_to_int32:int32,timestamp_to_int64:int64,time_to_int64:int64,decimal_to_int32:int32,timestamp_to_float64:float64,null_timestamp_to_int32:int32,decimal_to_string:string,small_decimal:string,time_to_string:string,ts_to_string:string",
	})
	schema := connectors.NewStruct("").
		Field("date_to_int32", connectors.DateSchema()).
		Field("timestamp_to_int64", connectors.TimestampSchema()).
		Field("time_to_int64", connectors.TimeSchema()).
		Field("decimal_to_int32", connectors.DecimalSchema(0)).
		Field("timestamp_to_float64", connectors.TimestampSchema()).
		Field("null_timestamp_to_int32", opt(connectors.TimestampSchema())).
		Field("decimal_to_string", connectors.DecimalSchema(2)).
		Field("small_decimal", connectors.DecimalSchema(9)).
		Field("time_to_string", connectors.TimeSchema()).
		Field("ts_to_string", connectors.TimestampSchema()).
		MustBuild()
	value := mkStruct(schema,
		time.UnixMilli(millisPerDay).UTC(), time.UnixMilli(0).UTC(), time.UnixMilli(1).UTC(),
		new(big.Rat).SetInt64(math.MaxInt32+1), time.UnixMilli(math.MaxInt64).UTC(), nil,
		big.NewRat(-12345, 100), big.NewRat(12, 100000000), time.UnixMilli(3723004).UTC(), time.UnixMilli(1483425001864).UTC())
	out := apply1(t, tr, sinkRecord(nil, nil, schema, value))
	st := out.Value.(*connectors.Struct)
	for name, want := range map[string]any{
		"date_to_int32": int32(1), "timestamp_to_int64": int64(0), "time_to_int64": int64(1),
		"decimal_to_int32": int32(math.MinInt32), "timestamp_to_float64": 9.223372036854776e18, "null_timestamp_to_int32": nil,
		"decimal_to_string": "-123.45", "small_decimal": "1.20E-7", "time_to_string": "01:02:03.004Z", "ts_to_string": "2017-01-03T06:30:01.864Z",
	} {
		checkValue(t, name, st.Get(name), want)
	}
}

// A struct schema's default (a struct) is cast along with its schema.
func TestCastStructDefault(t *testing.T) {
	t.Parallel()
	base := connectors.NewStruct("").Field("n", connectors.Int64Schema()).Field("s", connectors.StringSchema()).MustBuild()
	schema := withDefault(opt(base), mkStruct(base, int64(5), "x"))
	tr := build(t, "Cast$Value", map[string]any{"spec": "n:string"})
	out := apply1(t, tr, sinkRecord(nil, nil, schema, mkStruct(base, int64(1), "y")))
	got := out.ValueSchema
	if !got.Optional || len(got.Fields) != 2 || got.Fields[0].Schema.Type != connectors.TypeString {
		t.Errorf("schema %+v", got)
	}
	checkValue(t, "default", got.Default, mkStruct(got, "5", "x"))
	checkValue(t, "value", out.Value, mkStruct(got, "1", "y"))
}

func TestCastSchemaless(t *testing.T) {
	t.Parallel()
	tr := build(t, "Cast$Value", map[string]any{"spec": "int8:int16,int16:int32,int32:int64,int64:boolean,float32:float64,float64:boolean,boolean:int8,string:int32,missing:string"})
	in := map[string]any{"int8": int8(8), "int16": int16(16), "int32": int32(32), "int64": int64(64), "float32": float32(32), "float64": float64(-64), "boolean": true, "string": "42"}
	out := apply1(t, tr, sinkRecord(nil, nil, nil, in))
	checkValue(t, "cast", out.Value, map[string]any{"int8": int16(8), "int16": int32(16), "int32": int64(32), "int64": true, "float32": float64(32),
		"float64": true, "boolean": int8(1), "string": int32(42), "missing": nil})
	if in["int8"] != int8(8) {
		t.Error("the input map was changed")
	}
	applyErr(t, tr, sinkRecord(nil, nil, nil, map[string]any{"string": "x"}), `field "string"`, `cannot cast "x" to int32`)
}

func TestCastFieldErrorsAndConfig(t *testing.T) {
	t.Parallel()
	schema := connectors.NewStruct("").Field("arr", opt(connectors.ArraySchema(connectors.Int32Schema()))).MustBuild()
	tr := build(t, "Cast$Value", map[string]any{"spec": "arr:string"})
	apply1(t, tr, sinkRecord(nil, nil, schema, mkStruct(schema, nil))) // null: fine
	applyErr(t, tr, sinkRecord(nil, nil, schema, mkStruct(schema, []any{int32(1)})), `field "arr"`, "cannot cast from array")

	for _, spec := range []string{"", "foo:faketype", "foo:array", "array", "foo:bytes", "foo:int8:extra", "foo:int8,int32"} {
		_, err := tryBuild("Cast$Value", map[string]any{"spec": spec})
		wantFieldError(t, err, "transforms.x.spec")
	}
	_, err := tryBuild("Cast$Key", map[string]any{})
	wantFieldError(t, err, "transforms.x.spec")
}

func TestCastReplaceNullWithDefault(t *testing.T) {
	t.Parallel()
	schema := connectors.NewStruct("").Field("magic", withDefault(opt(connectors.Int32Schema()), int32(42))).MustBuild()
	for _, c := range []struct {
		setting string
		want    any
	}{{"true", "42"}, {"false", nil}} {
		tr := build(t, "Cast$Value", map[string]any{"spec": "magic:string", "replace.null.with.default": c.setting})
		out := apply1(t, tr, sinkRecord(nil, nil, schema, mkStruct(schema, nil)))
		checkValue(t, "magic with replace.null.with.default="+c.setting, out.Value.(*connectors.Struct).Get("magic"), c.want)
	}
}
