package dynamic_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/dynamic"
)

// TestAvroRoundTrip writes values of every Avro type through the
// generated struct and reads them back.
func TestAvroRoundTrip(t *testing.T) {
	t.Parallel()
	typ := newAll(t)
	s := must[serde.Serde[any]](t)(dynamic.AvroSerde(mustMock(t), typ))
	for name, fixture := range map[string]map[string]any{"all set": allFixture(), "nulls and other branches": allNulls()} {
		t.Run(name, func(t *testing.T) {
			v := must[any](t)(typ.FromMap(fixture))
			if reflect.TypeOf(v) != reflect.PointerTo(typ.Reflect()) {
				t.Fatalf("FromMap returned a %T", v)
			}
			data := must[[]byte](t)(s.Serialize("all", v))
			back := must[any](t)(s.Deserialize("all", data))
			got := must[map[string]any](t)(typ.ToMap(back))
			if d := diff(fixture, got); d != "" {
				t.Fatalf("round trip changed values:\n%s", d)
			}
			// Encoding the decoded value gives the same value again (not
			// always the same bytes: map order is random).
			again := must[any](t)(s.Deserialize("all", must[[]byte](t)(s.Serialize("all", back))))
			if d := diff(got, must[map[string]any](t)(typ.ToMap(again))); d != "" {
				t.Fatalf("second round trip changed values:\n%s", d)
			}
		})
	}
}

// TestJSONRoundTrip does the same through the JSON serde and pins the
// JSON representation of each type.
func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	typ := newAll(t)
	s := dynamic.JSONSerde(typ)
	for name, fixture := range map[string]map[string]any{"all set": allFixture(), "nulls and other branches": allNulls()} {
		t.Run(name, func(t *testing.T) {
			v := must[any](t)(typ.FromMap(fixture))
			data := must[[]byte](t)(s.Serialize("all", v))
			if !json.Valid(data) {
				t.Fatalf("invalid JSON: %s", data)
			}
			back := must[any](t)(s.Deserialize("all", data))
			got := must[map[string]any](t)(typ.ToMap(back))
			if d := diff(fixture, got); d != "" {
				t.Fatalf("round trip changed values:\n%s\nJSON: %s", d, data)
			}
			if again := must[[]byte](t)(s.Serialize("all", back)); !bytes.Equal(again, data) {
				t.Fatalf("re-encoded JSON differs:\n%s\n%s", data, again)
			}
		})
	}
	v := must[any](t)(typ.FromMap(allFixture()))
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(must[[]byte](t)(s.Serialize("all", v)), &obj); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"b": `true`, "i": `-42`, "l": `1099511627776`, "f": `1.5`, "d": `-2.25`,
		"s":  `"héllo \"quoted\"\n"`,
		"by": `"AAEC/w=="`, "fx": `"CQgHBg=="`, "e": `"GREEN"`,
		"rec":    `{"city":"Paris","zip":75001}`,
		"optRec": `{"city":"Lyon","zip":null}`,
		"arr":    `[1,-2,3]`,
		"m":      `{"":"empty key","k":"v"}`,
		"optL":   `-7`, "optArr": `["p","q"]`, "optBytes": `"cmF3"`,
		"u":    `99`,
		"uRec": `{"city":"in union","zip":5}`,
		"dec":  `-123.45`, "optDec": `0.25`, "fdec": `9876.5432`,
		"date": `"2024-02-29"`, "tms": `"13:14:15.016"`, "tus": `"23:59:59.999999"`,
		"tsms": `"2025-11-21T04:40:00.123Z"`, "tsus": `"1969-07-20T20:17:40.123456Z"`,
		"lts": `"2025-01-02T03:04:05.006"`, "ltus": `"2025-01-02T03:04:05.000006"`,
		"optTs": `"2000-01-01T00:00:00.000Z"`,
		"dur":   `"AQAAAAIAAAADAAAA"`, "n": `null`, "Upper": `1`, "upper": `"lower"`, "_under": `"u"`,
	}
	for k, w := range want {
		if got := string(obj[k]); got != w {
			t.Errorf("JSON of %s = %s, want %s", k, got, w)
		}
	}
}

// TestJSONDecodeVariants reads the looser forms the JSON decoder accepts
// and the errors it reports.
func TestJSONDecodeVariants(t *testing.T) {
	t.Parallel()
	typ := must[*dynamic.Type](t)(dynamic.FromAvro(`{"type":"record","name":"R","namespace":"com.x","fields":[
		{"name":"id","type":"long"},
		{"name":"qty","type":"int","default":1},
		{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
		{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"day","type":{"type":"int","logicalType":"date"},"default":0},
		{"name":"note","type":["null","string"]},
		{"name":"tags","type":{"type":"array","items":"string"},"default":["a"]},
		{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]},"default":"B"},
		{"name":"u","type":["long","double","string"],"default":1}
	]}`))
	s := dynamic.JSONSerde(typ)
	ok := []struct {
		name, in string
		want     map[string]any
	}{
		{"numbers as numbers", `{"id":1e3,"price":"12.5","at":1700000000123,"u":2.5}`, map[string]any{
			"id": int64(1000), "qty": 1, "price": mustRat("12.5"), "at": time.UnixMilli(1700000000123),
			"day": time.Unix(0, 0), "note": nil, "tags": []any{"a"}, "kind": "B", "u": 2.5}},
		{"strings, escapes, unknown fields", ` { "id" : -5 , "qty": 7, "price": 0.1, "at": "2024-01-01T01:00:00+01:00", "day": "2024-03-01",
			"note": "\u00e9\ud83d\ude00\/", "tags": [], "kind": "A", "u": "x", "extra": {"deep": [1, {"x": null}]} }`, map[string]any{
			"id": int64(-5), "qty": 7, "price": mustRat("0.1"), "at": time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
			"day": time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), "note": "é😀/", "tags": []any{}, "kind": "A", "u": "x"}},
		{"integral union value takes the long branch", `{"id":1,"price":1,"at":0,"u":3}`, map[string]any{
			"id": int64(1), "qty": 1, "price": mustRat("1"), "at": time.UnixMilli(0),
			"day": time.Unix(0, 0), "note": nil, "tags": []any{"a"}, "kind": "B", "u": int64(3)}},
	}
	for _, tc := range ok {
		v, err := s.Deserialize("t", []byte(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if d := diff(tc.want, must[map[string]any](t)(typ.ToMap(v))); d != "" {
			t.Errorf("%s:\n%s", tc.name, d)
		}
	}
	bad := []struct{ in, want string }{
		{`{"price":1,"at":0}`, "field id: missing"},
		{`{"id":1.5,"price":1,"at":0}`, "at byte 6: 1.5 is not an integer"},
		{`{"id":1,"qty":3000000000,"price":1,"at":0}`, "field qty: at byte 14: 3000000000 is out of range for int"},
		{`{"id":1,"price":1,"at":0,"kind":"C"}`, `field kind: at byte 32: "C" is not a symbol of enum com.x.Kind [A B]`},
		{`{"id":1,"price":1,"at":"yesterday"}`, "field at: at byte 23: want an RFC 3339 timestamp"},
		{`{"id":1,"price":1,"at":0,"tags":[1]}`, "field tags.0: at byte 33: found a number, want a string"},
		{`{"id":1,"price":1,"at":0,"u":true}`, "field u: at byte 29: the value matches no branch of union<long,double,string>"},
		{`{"id":1,"price":1,"at":0} x`, "at byte 26: data after the JSON value"},
		{`{"id":1,"price":1,"at":0`, "unexpected end of JSON"},
		{"{\"id\":1,\"price\":1,\"at\":0,\"note\":\"\x01\"}", "field note: at byte 33: control character in string"},
		{`[1]`, `found an array, want '{'`},
		{`{"id":1,"price":1e999999999,"at":0}`, `field price: at byte 16: "1e999999999": exponent 999999999 out of range`},
		{`{"id":01}`, `at byte 7: found a number, want ',' or '}'`},
	}
	for _, tc := range bad {
		_, err := s.Deserialize("topic-x", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `topic "topic-x"`) {
			t.Errorf("%s: err = %v, want it to contain %q and the topic", tc.in, err, tc.want)
		}
	}
}

// TestSchemalessJSON reads JSON without a schema into maps.
func TestSchemalessJSON(t *testing.T) {
	t.Parallel()
	s := dynamic.SchemalessJSONSerde()
	v := must[any](t)(s.Deserialize("t", []byte(`{"a":1,"b":-2.5,"c":"x","d":[true,null,{"e":9007199254740993}],"f":1e2,"g":{}}`)))
	want := map[string]any{"a": int64(1), "b": -2.5, "c": "x", "d": []any{true, nil, map[string]any{"e": int64(9007199254740993)}}, "f": 100.0, "g": map[string]any{}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v", v)
	}
	out := must[[]byte](t)(s.Serialize("t", v))
	if string(out) != `{"a":1,"b":-2.5,"c":"x","d":[true,null,{"e":9007199254740993}],"f":100,"g":{}}` {
		t.Fatalf("serialized %s", out)
	}
	for _, bad := range []string{``, `{`, `{"a":}`, `[1,]`, `nul`, `1 2`, `"\u12"`, `{"a":1e999}`} {
		if _, err := s.Deserialize("t", []byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}
