package connectjson

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// The KIP-301 example of a JsonConverter envelope (Kafka's wiki), compacted:
// Jackson writes no whitespace, "field" last in a field's schema, and
// "optional" after "fields".
const kipEnvelope = `{"schema":{"type":"struct","fields":[{"type":"int32","optional":true,"field":"c1"},{"type":"string","optional":true,"field":"c2"},{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"create_ts"},{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"update_ts"}],"optional":false,"name":"foobar"},"payload":{"c1":10000,"c2":"bar","create_ts":1501834166000,"update_ts":1501834166000}}`

func kipSchema() *connectors.Schema {
	return connectors.NewStruct("foobar").
		Field("c1", connectors.OptionalOf(connectors.Int32Schema())).
		Field("c2", connectors.OptionalOf(connectors.StringSchema())).
		Field("create_ts", connectors.TimestampSchema()).
		Field("update_ts", connectors.TimestampSchema()).
		MustBuild()
}

func TestEnvelopeGolden(t *testing.T) {
	s := kipSchema()
	ts := time.UnixMilli(1501834166000).UTC()
	v := connectors.NewStructValue(s).Put("c1", int32(10000)).Put("c2", "bar").Put("create_ts", ts).Put("update_ts", ts)
	got, err := AppendEnvelope(nil, s, v, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != kipEnvelope {
		t.Fatalf("envelope\n got %s\nwant %s", got, kipEnvelope)
	}
	// The cached codec writes the same bytes, twice.
	c := NewEnvelopeCodec(10, Options{})
	for range 2 {
		got, err := c.Append(nil, s, v)
		if err != nil || string(got) != kipEnvelope {
			t.Fatalf("codec envelope %s, %v", got, err)
		}
	}
	// And reads it back to an equal schema and value.
	rs, rv, err := DecodeEnvelope([]byte(kipEnvelope))
	if err != nil {
		t.Fatal(err)
	}
	if !connectors.SameSchema(rs, s) {
		t.Fatalf("schema %v, want %v", rs, s)
	}
	st := rv.(*connectors.Struct)
	if st.Get("c1") != int32(10000) || st.Get("c2") != "bar" || !st.Get("create_ts").(time.Time).Equal(ts) {
		t.Fatalf("value %v", st)
	}
}

func TestAppendScalars(t *testing.T) {
	dec := func(scale int) *connectors.Schema { return connectors.DecimalSchema(scale) }
	rat := func(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }
	tests := []struct {
		name   string
		schema *connectors.Schema
		value  any
		opts   Options
		want   string
	}{
		{"int8", connectors.Int8Schema(), int8(-12), Options{}, "-12"},
		{"int64", connectors.Int64Schema(), int64(4398046511104), Options{}, "4398046511104"},
		{"int32 from int", connectors.Int32Schema(), 7, Options{}, "7"},
		{"double 12.34", connectors.Float64Schema(), 12.34, Options{}, "12.34"},
		{"double 1", connectors.Float64Schema(), 1.0, Options{}, "1.0"},
		{"double 1e7", connectors.Float64Schema(), 1e7, Options{}, "1.0E7"},
		{"double 9999999", connectors.Float64Schema(), 9999999.0, Options{}, "9999999.0"},
		{"double 1e-3", connectors.Float64Schema(), 0.001, Options{}, "0.001"},
		{"double 1e-4", connectors.Float64Schema(), 0.0001, Options{}, "1.0E-4"},
		{"double 1.5e300", connectors.Float64Schema(), 1.5e300, Options{}, "1.5E300"},
		{"double -0", connectors.Float64Schema(), math.Copysign(0, -1), Options{}, "-0.0"},
		{"double 100", connectors.Float64Schema(), 100.0, Options{}, "100.0"},
		{"double NaN", connectors.Float64Schema(), math.NaN(), Options{}, `"NaN"`},
		{"double -Inf", connectors.Float64Schema(), math.Inf(-1), Options{}, `"-Infinity"`},
		{"float 12.34", connectors.Float32Schema(), float32(12.34), Options{}, "12.34"},
		{"float 0.1", connectors.Float32Schema(), float32(0.1), Options{}, "0.1"},
		{"float 3e10", connectors.Float32Schema(), float32(3e10), Options{}, "3.0E10"},
		{"bool", connectors.BooleanSchema(), true, Options{}, "true"},
		{"bytes", connectors.BytesSchema(), []byte("test-string"), Options{}, `"dGVzdC1zdHJpbmc="`},
		{"string escapes", connectors.StringSchema(), "a\"b\\c\n\t\x01\x1f</>&\u2028é", Options{}, `"a\"b\\c\n\t\u0001\u001F</>&` + "\u2028é\""},
		{"invalid utf8", connectors.StringSchema(), "a\xffb", Options{}, `"a\ufffdb"`},
		{"decimal base64", dec(2), rat("1.56"), Options{}, `"AJw="`},
		{"decimal negative base64", dec(2), rat("-1.56"), Options{}, `"/2Q="`},
		{"decimal zero base64", dec(2), rat("0"), Options{}, `"AA=="`},
		{"decimal numeric", dec(2), rat("1.56"), Options{DecimalNumeric: true}, "1.56"},
		{"decimal numeric trailing zeros", dec(4), rat("1.56"), Options{DecimalNumeric: true}, "1.5600"},
		{"decimal numeric small", dec(7), rat("0.0000001"), Options{DecimalNumeric: true}, "1E-7"},
		{"decimal numeric 1e-6", dec(6), rat("0.000001"), Options{DecimalNumeric: true}, "0.000001"},
		{"decimal numeric negative", dec(3), rat("-12.5"), Options{DecimalNumeric: true}, "-12.500"},
		{"decimal numeric scale 0", dec(0), rat("42"), Options{DecimalNumeric: true}, "42"},
		{"date", connectors.DateSchema(), time.Date(1997, 5, 19, 0, 0, 0, 0, time.UTC), Options{}, "10000"},
		{"time", connectors.TimeSchema(), time.UnixMilli(14400000).UTC(), Options{}, "14400000"},
		{"timestamp", connectors.TimestampSchema(), time.UnixMilli(-1).UTC(), Options{}, "-1"},
		{"optional null", connectors.OptionalOf(connectors.StringSchema()), nil, Options{}, "null"},
		{"null takes default", (&connectors.Schema{Type: connectors.TypeInt32, Default: int32(5)}), nil, Options{}, "5"},
		{"array", connectors.ArraySchema(connectors.Int32Schema()), []any{int32(1), int32(2), int32(3)}, Options{}, "[1,2,3]"},
		{"map sorted", connectors.MapSchema(connectors.Int32Schema()), map[string]any{"key2": int32(15), "key1": int32(12)}, Options{}, `{"key1":12,"key2":15}`},
		{"map int keys", &connectors.Schema{Type: connectors.TypeMap, KeySchema: connectors.Int32Schema(), ValueSchema: connectors.Int32Schema()},
			map[string]any{"1": int32(12), "2": int32(15)}, Options{}, `[[1,12],[2,15]]`},
		{"schemaless", nil, map[string]any{"b": []any{int64(1), "x", nil, true, 1.5}, "a": []byte{1}}, Options{}, `{"a":"AQ==","b":[1,"x",null,true,1.5]}`},
		{"schemaless fallback", nil, map[string]string{"k": "<v>"}, Options{}, `{"k":"<v>"}`},
		{"schemaless rat", nil, rat("1.25"), Options{}, `1.25`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Append([]byte("x"), tt.schema, tt.value, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "x"+tt.want {
				t.Fatalf("got %s, want x%s", got, tt.want)
			}
			// What is written reads back as the same value.
			if tt.schema == nil {
				return
			}
			dv, err := Decode(got[1:])
			if err != nil {
				t.Fatal(err)
			}
			back, err := Coerce(tt.schema, dv)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Append(nil, tt.schema, back, tt.opts)
			want := strings.ReplaceAll(tt.want, `\ufffd`, "\uFFFD") // read back as the character
			if err != nil || string(again) != want {
				t.Fatalf("round trip wrote %s, %v", again, err)
			}
		})
	}
}

func TestAppendErrors(t *testing.T) {
	inner := connectors.NewStruct("inner").Field("n", connectors.Int8Schema()).MustBuild()
	outer := connectors.NewStruct("outer").Field("items", connectors.ArraySchema(inner)).MustBuild()
	bad := connectors.NewStructValue(inner).Put("n", "1") // wrong Go type
	v := connectors.NewStructValue(outer).Put("items", []any{connectors.NewStructValue(inner).Put("n", int8(1)), bad})
	_, err := Append(nil, outer, v, Options{})
	if err == nil || !errors.Is(err, connectors.ErrSchemaMismatch) || !strings.Contains(err.Error(), "field items[1].n") {
		t.Fatalf("error %v, want a mismatch naming field items[1].n", err)
	}
	tests := []struct {
		name   string
		schema *connectors.Schema
		value  any
		want   string
	}{
		{"required null", connectors.StringSchema(), nil, "null for required"},
		{"int8 range", connectors.Int8Schema(), 300, "out of range"},
		{"date with time", connectors.DateSchema(), time.Date(2020, 1, 1, 1, 0, 0, 0, time.UTC), "not midnight"},
		{"time with date", connectors.TimeSchema(), time.Date(2020, 1, 1, 1, 0, 0, 0, time.UTC), "not on 1970-01-01"},
		{"decimal scale", connectors.DecimalSchema(1), big.NewRat(1, 100), "more fractional digits"},
		{"struct of other schema", inner, connectors.NewStructValue(outer), "another schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Append(nil, tt.schema, tt.value, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) && !(tt.want == "another schema" && strings.Contains(err.Error(), "struct of schema")) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// everything is a schema with every type, logical types, nesting,
// optional fields and defaults.
func everything() (*connectors.Schema, *connectors.Struct) {
	address := connectors.NewStruct("com.acme.Address").
		Field("street", connectors.StringSchema()).
		Field("zip", connectors.OptionalOf(connectors.StringSchema())).
		MustBuild()
	withDefault := connectors.Int32Schema()
	withDefault.Default = int32(42)
	s := connectors.NewStruct("com.acme.Everything").Version(3).Doc("all types").
		Field("i8", connectors.Int8Schema()).
		Field("i16", connectors.Int16Schema()).
		Field("i32", connectors.Int32Schema()).
		Field("i64", connectors.Int64Schema()).
		Field("f32", connectors.Float32Schema()).
		Field("f64", connectors.Float64Schema()).
		Field("bool", connectors.BooleanSchema()).
		Field("str", connectors.StringSchema()).
		Field("bytes", connectors.BytesSchema()).
		Field("dec", connectors.DecimalSchema(2)).
		Field("date", connectors.DateSchema()).
		Field("time", connectors.TimeSchema()).
		Field("ts", connectors.TimestampSchema()).
		Field("addr", address).
		Field("maybe_addr", connectors.OptionalOf(address)).
		Field("tags", connectors.ArraySchema(connectors.StringSchema())).
		Field("scores", connectors.MapSchema(connectors.OptionalOf(connectors.Float64Schema()))).
		Field("nested", connectors.ArraySchema(connectors.MapSchema(connectors.ArraySchema(connectors.Int64Schema())))).
		Field("opt", connectors.OptionalOf(connectors.Int64Schema())).
		Field("defaulted", withDefault).
		MustBuild()
	v := connectors.NewStructValue(s).
		Put("i8", int8(-8)).Put("i16", int16(1600)).Put("i32", int32(-32)).Put("i64", int64(1)<<60).
		Put("f32", float32(3.25)).Put("f64", 1e-9).Put("bool", true).Put("str", "héllo \"w\"").
		Put("bytes", []byte{0, 1, 255}).Put("dec", big.NewRat(-12345, 100)).
		Put("date", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)).
		Put("time", time.UnixMilli(45296789).UTC()).
		Put("ts", time.UnixMilli(1717171717171).UTC()).
		Put("addr", connectors.NewStructValue(address).Put("street", "Main St").Put("zip", "12345")).
		Put("tags", []any{"a", "b"}).
		Put("scores", map[string]any{"x": 1.5, "y": nil}).
		Put("nested", []any{map[string]any{"k": []any{int64(1), int64(2)}}, map[string]any{}}).
		Put("defaulted", int32(7))
	return s, v
}

func TestEnvelopeRoundTripEveryType(t *testing.T) {
	s, v := everything()
	for _, opts := range []Options{{}, {DecimalNumeric: true}} {
		data, err := AppendEnvelope(nil, s, v, opts)
		if err != nil {
			t.Fatal(err)
		}
		rs, rv, err := DecodeEnvelope(data)
		if err != nil {
			t.Fatalf("decode %s: %v", data, err)
		}
		if !connectors.SameSchema(rs, s) {
			t.Fatalf("schema\n got %v\nwant %v", rs, s)
		}
		if err := connectors.Validate(rs, rv); err != nil {
			t.Fatal(err)
		}
		again, err := AppendEnvelope(nil, rs, rv, opts)
		if err != nil || string(again) != string(data) {
			t.Fatalf("re-encoded\n%s\nwant\n%s (%v)", again, data, err)
		}
		st := rv.(*connectors.Struct)
		if st.Get("dec").(*big.Rat).Cmp(big.NewRat(-12345, 100)) != 0 || st.Get("i64") != int64(1)<<60 ||
			!reflect.DeepEqual(st.Get("bytes"), []byte{0, 1, 255}) || st.Get("maybe_addr") != nil ||
			st.Get("opt") != nil || st.Get("defaulted") != int32(7) {
			t.Fatalf("value %v", st)
		}
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`12`, int64(12)},
		{` -9223372036854775808 `, int64(math.MinInt64)},
		{`9223372036854775808`, 9223372036854775808.0},
		{`12.24`, 12.24},
		{`1e2`, 100.0},
		{`1E400`, math.Inf(1)},
		{`"a\u00e9\ud83d\ude00\/"`, "aé😀/"},
		{`"\ud800x"`, "\uFFFDx"},
		{"\"a\xffb\"", "a\uFFFDb"},
		{`[1,"2",3]`, []any{int64(1), "2", int64(3)}},
		{`{"a":"","b":null,"a":1}`, map[string]any{"a": int64(1), "b": nil}},
		{`[]`, []any{}},
		{`{}`, map[string]any{}},
		{`true`, true},
		{`null`, nil},
	}
	for _, tt := range tests {
		got, err := Decode([]byte(tt.in))
		if err != nil {
			t.Fatalf("Decode(%s): %v", tt.in, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Fatalf("Decode(%s) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{``, ` `, `{`, `[1,]`, `{"a"}`, `{"a":1,}`, `01`, `1.`, `-`, `.5`, `1e`, `"\x01"`, `"\q"`, `"\u12"`, `tru`, `nul`, `1 2`, `{} x`, `'a'`, `[1 2]`} {
		var se *SyntaxError
		if _, err := Decode([]byte(bad)); err == nil || !errors.As(err, &se) {
			t.Fatalf("Decode(%q) = %v, want a syntax error", bad, err)
		}
	}
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	if _, err := Decode([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("deep: %v", err)
	}
	ok := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	if _, err := Decode([]byte(ok)); err != nil {
		t.Fatalf("depth %d: %v", maxDepth, err)
	}
}

func TestCoerceErrorsNamePath(t *testing.T) {
	s, _ := everything()
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"string for int", `{"i8":"x"}`, "field i8"},
		{"range", `{"i8":1000}`, "field i8"},
		{"fraction", `{"i8":1,"i16":1,"i32":1.5}`, "field i32"},
		{"nested", `{"i8":1,"i16":1,"i32":1,"i64":1,"f32":1,"f64":1,"bool":true,"str":"","bytes":"","dec":"AA==","date":1,"time":1,"ts":1,"addr":{"street":5}}`, "field addr.street"},
		{"map value", `{"i8":1,"i16":1,"i32":1,"i64":1,"f32":1,"f64":1,"bool":true,"str":"","bytes":"","dec":"AA==","date":1,"time":1,"ts":1,"addr":{"street":"s"},"tags":[],"scores":{"k":"x"}}`, `field scores["k"]`},
		{"array element", `{"i8":1,"i16":1,"i32":1,"i64":1,"f32":1,"f64":1,"bool":true,"str":"","bytes":"","dec":"AA==","date":1,"time":1,"ts":1,"addr":{"street":"s"},"tags":["a",2]}`, "field tags[1]"},
		{"bad base64", `{"i8":1,"i16":1,"i32":1,"i64":1,"f32":1,"f64":1,"bool":true,"str":"","bytes":"!!"}`, "field bytes"},
		{"missing required", `{}`, "field i8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Decode([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Coerce(s, v)
			if err == nil || !errors.Is(err, connectors.ErrSchemaMismatch) || !strings.Contains(err.Error(), tt.want+":") {
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestCoerceNumbers(t *testing.T) {
	rat := func(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }
	// Exact decimals from an envelope in NUMERIC form survive precision
	// that a float64 would lose.
	_, v, err := DecodeEnvelope([]byte(`{"schema":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"20"}},"payload":12345678901234567890.12345678901234567890}`))
	if err != nil {
		t.Fatal(err)
	}
	if v.(*big.Rat).Cmp(rat("12345678901234567890.12345678901234567890")) != 0 {
		t.Fatalf("decimal %v", v)
	}
	for _, tc := range []struct {
		schema *connectors.Schema
		in     any
		want   any
	}{
		{connectors.Float32Schema(), "NaN", nil},
		{connectors.Float64Schema(), "-Infinity", math.Inf(-1)},
		{connectors.Int64Schema(), json.Number("1e3"), int64(1000)},
		{connectors.Int16Schema(), 2.0, int16(2)},
		{connectors.DecimalSchema(2), 0.1, rat("0.1")},
	} {
		got, err := Coerce(tc.schema, tc.in)
		if err != nil {
			t.Fatalf("Coerce(%v, %v): %v", tc.schema, tc.in, err)
		}
		if r, ok := tc.want.(*big.Rat); ok {
			if got.(*big.Rat).Cmp(r) != 0 {
				t.Fatalf("got %v", got)
			}
			continue
		}
		if tc.want != nil && got != tc.want {
			t.Fatalf("Coerce(%v, %v) = %#v, want %#v", tc.schema, tc.in, got, tc.want)
		}
	}
}

func TestParseSchemaKafkaForms(t *testing.T) {
	// Inputs from Kafka's JsonConverterTest (whitespace and attribute order
	// as written there).
	tests := []struct {
		doc    string
		schema *connectors.Schema
		value  any
	}{
		{`{ "schema": { "type": "boolean" }, "payload": true }`, connectors.BooleanSchema(), true},
		{`{ "schema": { "type": "boolean", "optional": true }, "payload": null }`, connectors.OptionalOf(connectors.BooleanSchema()), nil},
		{`{ "schema": { "type": "boolean", "default": true }, "payload": null }`, &connectors.Schema{Type: connectors.TypeBoolean, Default: true}, true},
		{`{ "schema": { "type": "boolean", "optional": false, "name": "bool", "version": 2, "doc": "the documentation", "parameters": { "foo": "bar" }}, "payload": true }`,
			&connectors.Schema{Type: connectors.TypeBoolean, Name: "bool", Version: 2, Doc: "the documentation", Parameters: map[string]string{"foo": "bar"}}, true},
		{`{ "schema": { "type": "int8" }, "payload": 12 }`, connectors.Int8Schema(), int8(12)},
		{`{ "schema": { "type": "float" }, "payload": 12.34 }`, connectors.Float32Schema(), float32(12.34)},
		{`{ "schema": { "type": "bytes" }, "payload": "dGVzdC1zdHJpbmc=" }`, connectors.BytesSchema(), []byte("test-string")},
		{`{ "schema": { "type": "array", "items": { "type" : "int32" } }, "payload": [1, 2, 3] }`, connectors.ArraySchema(connectors.Int32Schema()), []any{int32(1), int32(2), int32(3)}},
		{`{ "schema": { "type": "map", "keys": { "type" : "int32" }, "values": { "type" : "int32" } }, "payload": [ [1, 12], [2, 15] ] }`,
			&connectors.Schema{Type: connectors.TypeMap, KeySchema: connectors.Int32Schema(), ValueSchema: connectors.Int32Schema()}, map[string]any{"1": int32(12), "2": int32(15)}},
		{`{ "schema": { "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "default": "AJw=", "parameters": { "scale": "2" } }, "payload": null }`,
			func() *connectors.Schema {
				s := connectors.DecimalSchema(2)
				s.Default = big.NewRat(156, 100)
				return s
			}(), big.NewRat(156, 100)},
		{`{ "schema": { "type": "int64", "name": "org.apache.kafka.connect.data.Timestamp", "version": 1,  "optional": true, "default": 42 }, "payload": null }`,
			func() *connectors.Schema {
				s := connectors.OptionalOf(connectors.TimestampSchema())
				s.Default = time.UnixMilli(42).UTC()
				return s
			}(), time.UnixMilli(42).UTC()},
		{`{ "schema": null, "payload": [1, "2", 3] }`, nil, []any{int64(1), "2", int64(3)}},
		{`{ "schema": null, "payload": 12.24 }`, nil, 12.24},
	}
	for _, tt := range tests {
		s, v, err := DecodeEnvelope([]byte(tt.doc))
		if err != nil {
			t.Fatalf("%s: %v", tt.doc, err)
		}
		if !connectors.SameSchema(s, tt.schema) {
			t.Fatalf("%s: schema %v, want %v", tt.doc, s, tt.schema)
		}
		if r, ok := tt.value.(*big.Rat); ok {
			if v.(*big.Rat).Cmp(r) != 0 {
				t.Fatalf("%s: value %v", tt.doc, v)
			}
			continue
		}
		if !reflect.DeepEqual(v, tt.value) {
			t.Fatalf("%s: value %#v, want %#v", tt.doc, v, tt.value)
		}
	}
	for _, bad := range []struct{ doc, want string }{
		{`{"payload":1}`, `"schema" field is missing`},
		{`{"schema":null}`, `"payload" field is missing`},
		{`{"schema":null,"payload":1,"x":2}`, `got a field "x"`},
		{`[1]`, "got an array"},
		{`{"schema":{"type":"int128"},"payload":1}`, `unknown schema type "int128"`},
		{`{"schema":{"type":"INT32"},"payload":1}`, `unknown schema type "INT32"`},
		{`{"schema":{"type":"struct"},"payload":{}}`, `"fields" must be an array`},
		{`{"schema":{"type":"struct","fields":[{"type":"int32"}]},"payload":{}}`, `"field" name`},
		{`{"schema":{"type":"struct","fields":[{"type":"int32","field":"a"},{"type":"int32","field":"a"}]},"payload":{}}`, `duplicate field "a"`},
		{`{"schema":{"type":"array"},"payload":[]}`, `"items"`},
		{`{"schema":{"type":"map","keys":{"type":"string"}},"payload":{}}`, `"values"`},
		{`{"schema":{"type":"string","parameters":{"a":1}},"payload":""}`, "must be a string"},
		{`{"schema":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal"},"payload":""}`, "no scale"},
		{`{"schema":{"type":"int32","default":"x"},"payload":1}`, "default of schema"},
	} {
		if _, _, err := DecodeEnvelope([]byte(bad.doc)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Fatalf("%s: error %v, want %q", bad.doc, err, bad.want)
		}
	}
}

func TestSchemaJSONForms(t *testing.T) {
	dec := connectors.DecimalSchema(2)
	dec.Parameters["connect.decimal.precision"] = "10"
	s := connectors.NewStruct("x").
		Field("price", dec).
		Field("m", connectors.MapSchema(connectors.ArraySchema(connectors.OptionalOf(connectors.StringSchema())))).
		MustBuild()
	want := `{"type":"struct","fields":[{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"price"},{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"array","items":{"type":"string","optional":true},"optional":false},"optional":false,"field":"m"}],"optional":false,"name":"x"}`
	if got := string(AppendSchema(nil, s)); got != want {
		t.Fatalf("schema\n got %s\nwant %s", got, want)
	}
	v, err := Decode([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseSchema(v)
	if err != nil || !connectors.SameSchema(back, s) {
		t.Fatalf("parsed %v, %v", back, err)
	}
	if got := string(AppendSchema(nil, nil)); got != "null" {
		t.Fatalf("nil schema: %s", got)
	}
}

func TestEnvelopeCodecCachesSchemas(t *testing.T) {
	c := NewEnvelopeCodec(2, Options{})
	doc := func(typ string) []byte { return []byte(`{"schema":{"type":"` + typ + `"},"payload":1}`) }
	s1, _, err := c.Decode(doc("int32"))
	if err != nil {
		t.Fatal(err)
	}
	s2, _, _ := c.Decode(doc("int32"))
	if s1 != s2 {
		t.Fatal("the same schema text gave two schema pointers")
	}
	c.Decode(doc("int64"))
	c.Decode(doc("int16")) // evicts int32, the least recently used
	s3, _, _ := c.Decode(doc("int32"))
	if s3 == s1 {
		t.Fatal("cache kept more than its size")
	}
	if c.toSchema.order.Len() != 2 {
		t.Fatalf("cache holds %d schemas, want 2", c.toSchema.order.Len())
	}
}

func TestTwosComplement(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want []byte
	}{
		{0, []byte{0}}, {1, []byte{1}}, {127, []byte{127}}, {128, []byte{0, 128}}, {156, []byte{0, 156}},
		{-1, []byte{0xFF}}, {-128, []byte{0x80}}, {-129, []byte{0xFF, 0x7F}}, {-256, []byte{0xFF, 0x00}},
		{-32768, []byte{0x80, 0x00}}, {-32769, []byte{0xFF, 0x7F, 0xFF}},
	} {
		got := AppendTwosComplement(nil, big.NewInt(tc.n))
		if !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%d: %x, want %x", tc.n, got, tc.want)
		}
		if back := TwosComplementInt(got); back.Int64() != tc.n {
			t.Fatalf("%x read back as %v", got, back)
		}
	}
}

// TestStructMemo: records sharing a struct (Share) encode to the same
// bytes with and without the memo, and a new shared struct replaces the
// remembered one.
func TestStructMemo(t *testing.T) {
	src := connectors.NewStruct("src").Field("table", connectors.StringSchema()).Field("ts", connectors.Int64Schema()).MustBuild()
	env := connectors.NewStruct("env").Field("id", connectors.Int32Schema()).Field("source", src).MustBuild()
	event := func(id int32, s *connectors.Struct) *connectors.Struct {
		v := connectors.NewStructValue(env)
		v.Set(0, id)
		v.Set(1, s)
		return v
	}
	block := func(table string) *connectors.Struct {
		s := connectors.NewStructValue(src)
		s.Set(0, table)
		s.Set(1, int64(7))
		return s.Share()
	}
	memo := Options{Memo: new(StructMemo)}
	a, b := block("a"), block("b")
	for i, v := range []*connectors.Struct{event(1, a), event(2, a), event(3, b), event(4, a), event(5, block("a\"q"))} {
		want, err := Append(nil, env, v, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := Append(nil, env, v, memo)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("event %d: %s, want %s", i, got, want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Set on a shared struct did not panic")
		}
	}()
	a.Set(0, "changed")
}
