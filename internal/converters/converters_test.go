package converters

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/serde"
)

func newRegistry(t testing.TB) *connectors.Registry {
	t.Helper()
	reg := connectors.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// build makes a converter by name (or alias) from a raw configuration, as
// ParseConnector does with key.converter.* / value.converter.* settings.
func build(t testing.TB, name string, raw map[string]any, isKey bool) connectors.Converter {
	t.Helper()
	p, err := newRegistry(t).Converter(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := p.Spec.Parse("value.converter.", raw)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.New(cfg, isKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRegisterAliases(t *testing.T) {
	reg := newRegistry(t)
	for name, alias := range map[string]string{
		"json":    "org.apache.kafka.connect.json.JsonConverter",
		"string":  "org.apache.kafka.connect.storage.StringConverter",
		"bytes":   "org.apache.kafka.connect.converters.ByteArrayConverter",
		"long":    "org.apache.kafka.connect.converters.LongConverter",
		"integer": "org.apache.kafka.connect.converters.IntegerConverter",
		"short":   "org.apache.kafka.connect.converters.ShortConverter",
		"float":   "org.apache.kafka.connect.converters.FloatConverter",
		"double":  "org.apache.kafka.connect.converters.DoubleConverter",
		"avro":    "io.confluent.connect.avro.AvroConverter",
	} {
		a, err := reg.Converter(name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := reg.Converter(alias)
		if err != nil || a != b {
			t.Fatalf("alias %s: %v", alias, err)
		}
		if a.Summary == "" || a.Doc == "" || a.Example == "" {
			t.Fatalf("%s: Info lacks summary, doc or example", name)
		}
		for _, f := range a.Spec.Fields {
			if f.Doc == "" {
				t.Fatalf("%s: field %s has no doc", name, f.Name)
			}
		}
	}
	// The specs reject typos with a suggestion, as every spec does.
	p, _ := reg.Converter("json")
	if _, err := p.Spec.Parse("value.converter.", map[string]any{"schemas.enabled": true}); err == nil || !strings.Contains(err.Error(), `did you mean "schemas.enable"`) {
		t.Fatalf("typo: %v", err)
	}
	if _, err := p.Spec.Parse("value.converter.", map[string]any{"decimal.format": "HEX"}); err == nil {
		t.Fatal("decimal.format HEX accepted")
	}
}

func TestJSONConverterGolden(t *testing.T) {
	s := connectors.NewStruct("foobar").
		Field("c1", connectors.OptionalOf(connectors.Int32Schema())).
		Field("c2", connectors.OptionalOf(connectors.StringSchema())).
		Field("create_ts", connectors.TimestampSchema()).
		Field("update_ts", connectors.TimestampSchema()).
		MustBuild()
	ts := time.UnixMilli(1501834166000).UTC()
	v := connectors.NewStructValue(s).Put("c1", int32(10000)).Put("c2", "bar").Put("create_ts", ts).Put("update_ts", ts)
	// Kafka's KIP-301 example of JsonConverter output (schemas.enable=true).
	const envelope = `{"schema":{"type":"struct","fields":[{"type":"int32","optional":true,"field":"c1"},{"type":"string","optional":true,"field":"c2"},{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"create_ts"},{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"update_ts"}],"optional":false,"name":"foobar"},"payload":{"c1":10000,"c2":"bar","create_ts":1501834166000,"update_ts":1501834166000}}`
	withSchemas := build(t, "org.apache.kafka.connect.json.JsonConverter", map[string]any{"schemas.enable": "true"}, false)
	got, err := withSchemas.FromConnect("t", s, v)
	if err != nil || string(got) != envelope {
		t.Fatalf("envelope %s, %v", got, err)
	}
	rs, rv, err := withSchemas.ToConnect("t", got)
	if err != nil || !connectors.SameSchema(rs, s) || rv.(*connectors.Struct).Get("c2") != "bar" {
		t.Fatalf("read back %v %v %v", rs, rv, err)
	}
	plain := build(t, "json", nil, false)
	got, err = plain.FromConnect("t", s, v)
	if err != nil || string(got) != `{"c1":10000,"c2":"bar","create_ts":1501834166000,"update_ts":1501834166000}` {
		t.Fatalf("payload %s, %v", got, err)
	}
	rs, rv, err = plain.ToConnect("t", got)
	if err != nil || rs != nil || !reflect.DeepEqual(rv, map[string]any{"c1": int64(10000), "c2": "bar", "create_ts": int64(1501834166000), "update_ts": int64(1501834166000)}) {
		t.Fatalf("schemaless read %v %#v %v", rs, rv, err)
	}
	// Kafka's decimal examples: 1.56 at scale 2 is "AJw=" or 1.56.
	dec := connectors.DecimalSchema(2)
	if got, _ := plain.FromConnect("t", dec, big.NewRat(156, 100)); string(got) != `"AJw="` {
		t.Fatalf("BASE64 decimal %s", got)
	}
	numeric := build(t, "json", map[string]any{"decimal.format": "numeric"}, false)
	if got, _ := numeric.FromConnect("t", dec, big.NewRat(156, 100)); string(got) != `1.56` {
		t.Fatalf("NUMERIC decimal %s", got)
	}
}

func TestJSONConverterRoundTrips(t *testing.T) {
	s, v := sample(10)
	for _, raw := range []map[string]any{{"schemas.enable": true}, {"schemas.enable": true, "decimal.format": "NUMERIC"}, {"schemas.enable": true, "schemas.cache.size": 0}} {
		c := build(t, "json", raw, false)
		data, err := c.FromConnect("orders", s, v)
		if err != nil {
			t.Fatal(err)
		}
		rs, rv, err := c.ToConnect("orders", data)
		if err != nil {
			t.Fatal(err)
		}
		if !connectors.SameSchema(rs, s) {
			t.Fatalf("schema %v", rs)
		}
		again, err := c.FromConnect("orders", rs, rv)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("second round differs:\n%s\n%s", again, data)
		}
		if raw["schemas.cache.size"] == nil {
			rs2, _, _ := c.ToConnect("orders", data)
			if rs2 != rs {
				t.Fatal("same schema text read as two schema pointers")
			}
		}
	}
	// Optional values and nulls; a schemaless write of a struct uses the
	// struct's schema.
	plain := build(t, "json", nil, true)
	data, err := plain.FromConnect("t", nil, v)
	if err != nil || !strings.HasPrefix(string(data), `{"id":`) {
		t.Fatalf("schemaless struct %s, %v", data, err)
	}
	for _, blank := range []string{"", "  \n"} {
		if s, v, err := plain.ToConnect("t", []byte(blank)); s != nil || v != nil || err != nil {
			t.Fatalf("blank data: %v %v %v", s, v, err)
		}
	}
	if _, _, err := plain.ToConnect("orders", []byte(`{"a":`)); err == nil || !strings.Contains(err.Error(), `topic "orders"`) {
		t.Fatalf("bad JSON: %v", err)
	}
	withSchemas := build(t, "json", map[string]any{"schemas.enable": true}, false)
	if _, _, err := withSchemas.ToConnect("orders", []byte(`{"a":1}`)); err == nil || !strings.Contains(err.Error(), "schemas.enable=false") {
		t.Fatalf("plain JSON with schemas.enable: %v", err)
	}
	bad := connectors.NewStructValue(s).Put("id", "x")
	if _, err := withSchemas.FromConnect("orders", s, bad); err == nil || !errors.Is(err, connectors.ErrSchemaMismatch) || !strings.Contains(err.Error(), "field id") {
		t.Fatalf("mismatch: %v", err)
	}
}

func TestStringConverter(t *testing.T) {
	c := build(t, "string", nil, false)
	for _, tc := range []struct {
		schema *connectors.Schema
		value  any
		want   string
	}{
		{nil, "héllo", "héllo"},
		{nil, int64(42), "42"},
		{nil, int8(-1), "-1"},
		{nil, true, "true"},
		{nil, 1.0, "1.0"},
		{nil, 1e10, "1.0E10"},
		{nil, float32(0.1), "0.1"},
		{nil, math.NaN(), "NaN"},
		{connectors.DecimalSchema(2), big.NewRat(3, 2), "1.50"},
		{nil, big.NewRat(3, 2), "1.5"},
		{connectors.DateSchema(), time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), "2024-02-29"},
		{connectors.TimeSchema(), time.UnixMilli(49500123).UTC(), "13:45:00.123"},
		{connectors.TimestampSchema(), time.UnixMilli(1709214300000).UTC(), "2024-02-29T13:45:00.000Z"},
		{nil, []byte{0xff, 'a'}, "\xffa"},
		{nil, "", ""},
	} {
		got, err := c.FromConnect("t", tc.schema, tc.value)
		if err != nil || string(got) != tc.want || got == nil {
			t.Fatalf("FromConnect(%v) = %q, %v; want %q", tc.value, got, err, tc.want)
		}
	}
	s, _ := sample(1)
	if _, err := c.FromConnect("t", s, connectors.NewStructValue(s)); err == nil || !strings.Contains(err.Error(), "json converter") {
		t.Fatalf("struct: %v", err)
	}
	schema, v, err := c.ToConnect("t", []byte("héllo"))
	if err != nil || v != "héllo" || !schema.Optional || schema.Type != connectors.TypeString {
		t.Fatalf("ToConnect: %v %v %v", schema, v, err)
	}
	// Encodings, as Java writes them.
	for _, tc := range []struct{ enc, hex string }{
		{"UTF-16", "feff00680069"},
		{"utf-16le", "68006900"},
		{"UTF-16BE", "00680069"},
		{"ISO-8859-1", "6869"},
		{"US-ASCII", "6869"},
	} {
		c := build(t, "string", map[string]any{"converter.encoding": tc.enc}, true)
		got, err := c.FromConnect("t", nil, "hi")
		if err != nil || hex.EncodeToString(got) != tc.hex {
			t.Fatalf("%s: %x, %v", tc.enc, got, err)
		}
		if _, v, _ := c.ToConnect("t", got); v != "hi" {
			t.Fatalf("%s read back %q", tc.enc, v)
		}
	}
	latin := build(t, "string", map[string]any{"converter.encoding": "ISO-8859-1"}, false)
	if got, _ := latin.FromConnect("t", nil, "é€"); !bytes.Equal(got, []byte{0xE9, '?'}) {
		t.Fatalf("latin1 %x", got)
	}
	if _, v, _ := latin.ToConnect("t", []byte{0xE9}); v != "é" {
		t.Fatalf("latin1 read %q", v)
	}
	utf16 := build(t, "string", map[string]any{"converter.encoding": "UTF-16"}, false)
	if _, v, _ := utf16.ToConnect("t", []byte{0xFF, 0xFE, 'h', 0}); v != "h" {
		t.Fatalf("little-endian BOM %q", v)
	}
}

func TestBytesConverter(t *testing.T) {
	c := build(t, "bytes", nil, false)
	in := []byte("payload")
	out, err := c.FromConnect("t", connectors.BytesSchema(), in)
	if err != nil || unsafe.SliceData(out) != unsafe.SliceData(in) {
		t.Fatal("FromConnect copied the bytes")
	}
	if out, _ := c.FromConnect("t", nil, "text"); string(out) != "text" {
		t.Fatalf("string value %q", out)
	}
	if out, _ := c.FromConnect("t", nil, ""); out == nil {
		t.Fatal("empty string became a null")
	}
	if _, err := c.FromConnect("t", connectors.Int32Schema(), int32(1)); err == nil {
		t.Fatal("int32 schema accepted")
	}
	schema, v, err := c.ToConnect("t", in)
	if err != nil || !schema.Optional || schema.Type != connectors.TypeBytes || string(v.([]byte)) != "payload" {
		t.Fatalf("ToConnect %v %v %v", schema, v, err)
	}
	// The fetched bytes are never reused (connectors.Converter): the value
	// aliases them, without a copy.
	if &v.([]byte)[0] != &in[0] {
		t.Fatal("ToConnect copied the record's bytes")
	}
}

func TestNumberConverters(t *testing.T) {
	// Kafka's serializers' bytes (and Sluice's serde's, which match them).
	i64, _ := serde.Int64().Serialize("t", -2)
	i32, _ := serde.Int32().Serialize("t", 70000)
	f64, _ := serde.Float64().Serialize("t", 1.5)
	for _, tc := range []struct {
		name  string
		value any
		want  []byte
		back  any
	}{
		{"long", int64(-2), i64, int64(-2)},
		{"long", 7, []byte{0, 0, 0, 0, 0, 0, 0, 7}, int64(7)},
		{"integer", int32(70000), i32, int32(70000)},
		{"short", int16(-2), []byte{0xFF, 0xFE}, int16(-2)},
		{"float", float32(1.5), []byte{0x3F, 0xC0, 0, 0}, float32(1.5)},
		{"double", 1.5, f64, 1.5},
	} {
		c := build(t, tc.name, nil, true)
		got, err := c.FromConnect("t", nil, tc.value)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Fatalf("%s(%v) = %x, %v; want %x", tc.name, tc.value, got, err, tc.want)
		}
		schema, v, err := c.ToConnect("t", got)
		if err != nil || v != tc.back || !schema.Optional {
			t.Fatalf("%s read %v %v %v", tc.name, schema, v, err)
		}
		if _, _, err := c.ToConnect("t", append(got, 0)); !errors.Is(err, serde.ErrSize) {
			t.Fatalf("%s wrong size: %v", tc.name, err)
		}
	}
	short := build(t, "short", nil, false)
	if _, err := short.FromConnect("t", nil, 70000); err == nil {
		t.Fatal("70000 as a short accepted")
	}
	if _, err := short.FromConnect("t", nil, "1"); err == nil {
		t.Fatal("a string as a short accepted")
	}
}

// sample is a struct of n (10 by default in benchmarks) fields of common
// types, as a row from a database or an order event.
func sample(n int) (*connectors.Schema, *connectors.Struct) {
	b := connectors.NewStruct("com.acme.Order").
		Field("id", connectors.Int64Schema()).
		Field("customer", connectors.StringSchema()).
		Field("amount", connectors.DecimalSchema(2)).
		Field("quantity", connectors.Int32Schema()).
		Field("price", connectors.Float64Schema()).
		Field("status", connectors.StringSchema()).
		Field("paid", connectors.BooleanSchema()).
		Field("created", connectors.TimestampSchema()).
		Field("note", connectors.OptionalOf(connectors.StringSchema())).
		Field("tags", connectors.ArraySchema(connectors.StringSchema()))
	s := b.MustBuild()
	v := connectors.NewStructValue(s).
		Put("id", int64(1234567)+int64(n)).
		Put("customer", "customer-0042").
		Put("amount", big.NewRat(123456, 100)).
		Put("quantity", int32(3)).
		Put("price", 411.52).
		Put("status", "SHIPPED").
		Put("paid", true).
		Put("created", time.UnixMilli(1717171717171).UTC()).
		Put("note", "leave at the door").
		Put("tags", []any{"express", "gift"})
	return s, v
}
