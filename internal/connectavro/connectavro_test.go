package connectavro

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	havro "github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"

	"github.com/sluicehq/sluice/connectors"
)

// debeziumEnvelope is a Debezium-style change event schema: a struct used
// twice (before/after), an optional enum-like string with a default, nested
// named structs, decimals, int16, unnamed structs and an int-keyed map.
func debeziumEnvelope() *connectors.Schema {
	value := connectors.NewStruct("dbserver1.inventory.customers.Value").
		Field("id", connectors.Int32Schema()).
		Field("email", connectors.StringSchema()).
		MustBuild()
	snap := &connectors.Schema{Type: connectors.TypeString, Optional: true, Name: "io.debezium.data.Enum", Version: 1,
		Parameters: map[string]string{"allowed": "true,last,false,incremental"}, Default: "false"}
	source := connectors.NewStruct("io.debezium.connector.mysql.Source").
		Field("version", connectors.StringSchema()).
		Field("snapshot", snap).
		Field("ts_ms", connectors.Int64Schema()).
		MustBuild()
	return connectors.NewStruct("dbserver1.inventory.customers.Envelope").
		Field("before", connectors.OptionalOf(value)).
		Field("after", connectors.OptionalOf(value)).
		Field("source", source).
		Field("op", connectors.StringSchema()).
		Field("ts_ms", connectors.OptionalOf(connectors.Int64Schema())).
		Field("price", connectors.DecimalSchema(2)).
		Field("small", connectors.Int16Schema()).
		Field("anon", connectors.NewStruct("").Field("a", connectors.Int32Schema()).MustBuild()).
		Field("anon2", connectors.NewStruct("").Field("b", connectors.Int32Schema()).MustBuild()).
		Field("im", &connectors.Schema{Type: connectors.TypeMap, KeySchema: connectors.Int32Schema(), ValueSchema: connectors.StringSchema()}).
		Field("ts", connectors.TimestampSchema()).
		MustBuild()
}

// The Avro schema Confluent's AvroConverter registers for debeziumEnvelope:
// the forms of Debezium's registered schemas (Value written once and then
// referenced, the snapshot union with its default first, decimal and
// timestamp properties in AvroData's order, ConnectDefault numbering).
const debeziumAvro = `{"type":"record","name":"Envelope","namespace":"dbserver1.inventory.customers","fields":[` +
	`{"name":"before","type":["null",{"type":"record","name":"Value","fields":[{"name":"id","type":"int"},{"name":"email","type":"string"}],"connect.name":"dbserver1.inventory.customers.Value"}],"default":null},` +
	`{"name":"after","type":["null","Value"],"default":null},` +
	`{"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.mysql","fields":[{"name":"version","type":"string"},{"name":"snapshot","type":[{"type":"string","connect.version":1,"connect.parameters":{"allowed":"true,last,false,incremental"},"connect.default":"false","connect.name":"io.debezium.data.Enum"},"null"],"default":"false"},{"name":"ts_ms","type":"long"}],"connect.name":"io.debezium.connector.mysql.Source"}},` +
	`{"name":"op","type":"string"},` +
	`{"name":"ts_ms","type":["null","long"],"default":null},` +
	`{"name":"price","type":{"type":"bytes","scale":2,"precision":64,"connect.version":1,"connect.parameters":{"scale":"2"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}},` +
	`{"name":"small","type":{"type":"int","connect.type":"int16"}},` +
	`{"name":"anon","type":{"type":"record","name":"ConnectDefault","namespace":"io.confluent.connect.avro","fields":[{"name":"a","type":"int"}]}},` +
	`{"name":"anon2","type":{"type":"record","name":"ConnectDefault2","namespace":"io.confluent.connect.avro","fields":[{"name":"b","type":"int"}]}},` +
	`{"name":"im","type":{"type":"array","items":{"type":"record","name":"MapEntry","namespace":"io.confluent.connect.avro","fields":[{"name":"key","type":"int"},{"name":"value","type":"string"}]}}},` +
	`{"name":"ts","type":{"type":"long","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Timestamp","logicalType":"timestamp-millis"}}` +
	`],"connect.name":"dbserver1.inventory.customers.Envelope"}`

func TestFromConnectGolden(t *testing.T) {
	s := debeziumEnvelope()
	got, err := FromConnect(s)
	if err != nil {
		t.Fatal(err)
	}
	if got != debeziumAvro {
		t.Fatalf("avro schema\n got %s\nwant %s", got, debeziumAvro)
	}
	back, err := ToConnect(got)
	if err != nil {
		t.Fatal(err)
	}
	if !connectors.SameSchema(back, s) {
		t.Fatalf("round trip schema\n got %v\nwant %v", back, s)
	}
	for _, tc := range []struct {
		schema *connectors.Schema
		want   string
	}{
		{connectors.Int32Schema(), `"int"`},
		{connectors.OptionalOf(connectors.StringSchema()), `["null","string"]`},
		{connectors.Int8Schema(), `{"type":"int","connect.type":"int8"}`},
		{connectors.DateSchema(), `{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Date","logicalType":"date"}`},
		{connectors.TimeSchema(), `{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Time","logicalType":"time-millis"}`},
		{func() *connectors.Schema {
			d := connectors.DecimalSchema(2)
			d.Parameters["connect.decimal.precision"] = "10"
			return d
		}(), `{"type":"bytes","scale":2,"precision":10,"connect.version":1,"connect.parameters":{"scale":"2","connect.decimal.precision":"10"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}`},
		{connectors.MapSchema(connectors.ArraySchema(connectors.Float32Schema())), `{"type":"map","values":{"type":"array","items":"float"}}`},
		{connectors.NewStruct("").Field("x", connectors.Int32Schema()).Optional().MustBuild(),
			`["null",{"type":"record","name":"ConnectDefault","namespace":"io.confluent.connect.avro","fields":[{"name":"x","type":"int"}]}]`},
		{&connectors.Schema{Type: connectors.TypeInt64, Default: int64(5), Doc: "d"}, `{"type":"long","connect.doc":"d","connect.default":5}`},
	} {
		got, err := FromConnect(tc.schema)
		if err != nil || got != tc.want {
			t.Fatalf("FromConnect(%v) = %s, %v; want %s", tc.schema, got, err, tc.want)
		}
	}
}

// everything has every Connect type and the Avro-only types.
func everything() (*connectors.Schema, *connectors.Struct) {
	address := connectors.NewStruct("com.acme.Address").
		Field("street", connectors.StringSchema()).
		Field("zip", connectors.OptionalOf(connectors.StringSchema())).
		MustBuild()
	withDefault := &connectors.Schema{Type: connectors.TypeInt32, Default: int32(42)}
	fixed := &connectors.Schema{Type: connectors.TypeBytes, Name: "com.acme.Hash", Parameters: map[string]string{"connect.fixed.size": "4"}}
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
		Field("hash", fixed).
		Field("dec", connectors.DecimalSchema(2)).
		Field("date", connectors.DateSchema()).
		Field("time", connectors.TimeSchema()).
		Field("ts", connectors.TimestampSchema()).
		Field("addr", address).
		Field("maybe_addr", connectors.OptionalOf(address)).
		Field("tags", connectors.ArraySchema(connectors.StringSchema())).
		Field("scores", connectors.MapSchema(connectors.OptionalOf(connectors.Float64Schema()))).
		Field("by_id", &connectors.Schema{Type: connectors.TypeMap, KeySchema: connectors.Int64Schema(), ValueSchema: connectors.BooleanSchema()}).
		Field("nested", connectors.ArraySchema(connectors.MapSchema(connectors.ArraySchema(connectors.Int64Schema())))).
		Field("opt", connectors.OptionalOf(connectors.Int64Schema())).
		Field("defaulted", withDefault).
		MustBuild()
	v := connectors.NewStructValue(s).
		Put("i8", int8(-8)).Put("i16", int16(1600)).Put("i32", int32(-32)).Put("i64", int64(1)<<60).
		Put("f32", float32(3.25)).Put("f64", 1e-9).Put("bool", true).Put("str", "héllo").
		Put("bytes", []byte{0, 1, 255}).Put("hash", []byte{1, 2, 3, 4}).Put("dec", big.NewRat(-12345, 100)).
		Put("date", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)).
		Put("time", time.UnixMilli(45296789).UTC()).
		Put("ts", time.UnixMilli(1717171717171).UTC()).
		Put("addr", connectors.NewStructValue(address).Put("street", "Main St").Put("zip", "12345")).
		Put("tags", []any{"a", "b"}).
		Put("scores", map[string]any{"x": 1.5}).
		Put("by_id", map[string]any{"-7": true}).
		Put("nested", []any{map[string]any{"k": []any{int64(1), int64(2)}}, map[string]any{}}).
		Put("defaulted", int32(7))
	return s, v
}

func TestCodecRoundTrip(t *testing.T) {
	s, v := everything()
	c, err := NewCodec(s)
	if err != nil {
		t.Fatal(err)
	}
	data, err := c.Append([]byte{9}, v)
	if err != nil {
		t.Fatal(err)
	}
	if data[0] != 9 {
		t.Fatal("Append overwrote dst")
	}
	got, err := c.Decode(data[1:])
	if err != nil {
		t.Fatal(err)
	}
	if err := connectors.Validate(s, got); err != nil {
		t.Fatal(err)
	}
	again, err := c.Append(nil, got)
	if err != nil || !bytes.Equal(again, data[1:]) {
		t.Fatalf("re-encoded differently: %v", err)
	}
	st := got.(*connectors.Struct)
	for _, name := range []string{"i8", "i16", "i32", "i64", "f32", "f64", "bool", "str", "bytes", "hash", "tags", "scores", "by_id", "nested", "opt", "defaulted"} {
		if !reflect.DeepEqual(st.Get(name), v.Get(name)) {
			t.Fatalf("field %s: %#v, want %#v", name, st.Get(name), v.Get(name))
		}
	}
	if st.Get("dec").(*big.Rat).Cmp(big.NewRat(-12345, 100)) != 0 || !st.Get("ts").(time.Time).Equal(v.Get("ts").(time.Time)) ||
		!st.Get("date").(time.Time).Equal(v.Get("date").(time.Time)) || !st.Get("time").(time.Time).Equal(v.Get("time").(time.Time)) {
		t.Fatalf("logical values %v", st)
	}
	// The codec from the Avro text is the same codec.
	c2, err := NewCodecFromAvro(c.AvroSchema())
	if err != nil {
		t.Fatal(err)
	}
	if !connectors.SameSchema(c2.Schema(), s) {
		t.Fatalf("schema from Avro %v", c2.Schema())
	}
	got2, err := c2.Decode(data[1:])
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c2.Append(nil, got2); !bytes.Equal(again, data[1:]) {
		t.Fatal("codec from Avro text encodes differently")
	}
}

// hambaAPI encodes as Java's BinaryEncoder does (one block per array and
// map), like serde/avro.
var hambaAPI = havro.Config{BlockLength: math.MaxInt32, DisableBlockSizeHeader: true}.Freeze()

// TestBinaryMatchesHamba checks the codec's bytes against an independent
// Avro implementation, both ways, through the generic form.
func TestBinaryMatchesHamba(t *testing.T) {
	s, v := everything()
	c, err := NewCodec(s)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := c.Append(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	generic, err := c.ToGeneric(v)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := hambaAPI.Marshal(c.HambaSchema(), generic)
	if err != nil {
		t.Fatalf("hamba encode of ToGeneric: %v", err)
	}
	if !bytes.Equal(ours, theirs) {
		t.Fatalf("bytes differ from hamba/avro's:\n ours   %x\n theirs %x", ours, theirs)
	}
	var decoded any
	if err := hambaAPI.Unmarshal(c.HambaSchema(), ours, &decoded); err != nil {
		t.Fatalf("hamba decode: %v", err)
	}
	back, err := c.FromGeneric(decoded)
	if err != nil {
		t.Fatalf("FromGeneric(%#v): %v", decoded, err)
	}
	again, err := c.Append(nil, back)
	if err != nil || !bytes.Equal(again, ours) {
		t.Fatalf("FromGeneric of hamba's decoding re-encodes differently: %v", err)
	}
	// A null optional and an unset default go through hamba too.
	v.Put("addr", connectors.NewStructValue(s.Fields[14].Schema).Put("street", "x")).Put("defaulted", nil)
	ours, _ = c.Append(nil, v)
	generic, err = c.ToGeneric(v)
	if err != nil {
		t.Fatal(err)
	}
	if theirs, err = hambaAPI.Marshal(c.HambaSchema(), generic); err != nil || !bytes.Equal(ours, theirs) {
		t.Fatalf("with nulls: %v\n ours   %x\n theirs %x", err, ours, theirs)
	}
}

func TestToConnectAvroSchemas(t *testing.T) {
	avro := `{"type":"record","name":"Order","namespace":"com.acme","doc":"an order","fields":[
		{"name":"id","type":"long","doc":"the id"},
		{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"],"default":"NEW"}},
		{"name":"hash","type":{"type":"fixed","name":"MD5","size":16}},
		{"name":"amount","type":{"type":"fixed","name":"Amount","size":8,"logicalType":"decimal","precision":18,"scale":3}},
		{"name":"choice","type":["null","int","string",{"type":"record","name":"Item","fields":[{"name":"sku","type":"string"}]}],"default":null},
		{"name":"qty","type":"int","default":1},
		{"name":"when","type":{"type":"long","logicalType":"timestamp-micros"}}
	]}`
	c, err := NewCodecFromAvroOptions(avro, AvroOptions{Version: 4})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Schema()
	if s.Name != "com.acme.Order" || s.Version != 4 || s.Parameters[recordDocParam] != "an order" || s.Parameters[fieldDocParamPrefix+"id"] != "the id" {
		t.Fatalf("record schema %#v", s)
	}
	status, _ := s.Field("status")
	if status.Schema.Type != connectors.TypeString || status.Schema.Parameters[enumParam] != "com.acme.Status" ||
		status.Schema.Parameters[enumParam+".PAID"] != "PAID" || status.Schema.Parameters[enumDefParamPrefix+"Status"] != "NEW" {
		t.Fatalf("enum schema %#v", status.Schema)
	}
	hash, _ := s.Field("hash")
	if hash.Schema.Type != connectors.TypeBytes || hash.Schema.Name != "com.acme.MD5" || hash.Schema.Parameters[paramFixedSize] != "16" {
		t.Fatalf("fixed schema %#v", hash.Schema)
	}
	amount, _ := s.Field("amount")
	if amount.Schema.Name != connectors.DecimalName || amount.Schema.Parameters["scale"] != "3" || amount.Schema.Parameters[paramDecimalPrecision] != "18" {
		t.Fatalf("decimal schema %#v", amount.Schema)
	}
	choice, _ := s.Field("choice")
	if choice.Schema.Name != unionName || !choice.Schema.Optional || len(choice.Schema.Fields) != 3 ||
		choice.Schema.Fields[0].Name != "int" || choice.Schema.Fields[2].Name != "Item" {
		t.Fatalf("union schema %v %#v", choice.Schema, choice.Schema.Fields)
	}
	qty, _ := s.Field("qty")
	if qty.Schema.Default != int32(1) || qty.Schema.Parameters[fieldDefaultFlag] != "true" {
		t.Fatalf("qty schema %#v", qty.Schema)
	}
	when, _ := s.Field("when")
	if when.Schema.Type != connectors.TypeInt64 || when.Schema.Name != "" {
		t.Fatalf("timestamp-micros is a plain int64 in Connect, got %#v", when.Schema)
	}

	item, _ := choice.Schema.Field("Item")
	v := connectors.NewStructValue(s).Put("id", int64(7)).Put("status", "PAID").
		Put("hash", bytes.Repeat([]byte{0xAB}, 16)).Put("amount", big.NewRat(-12345, 1000)).
		Put("choice", connectors.NewStructValue(choice.Schema).Put("Item", connectors.NewStructValue(item.Schema).Put("sku", "X1"))).
		Put("when", int64(1700000000000000))
	data, err := c.Append(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	// hamba reads the same bytes with the same schema.
	var generic map[string]any
	if err := hambaAPI.Unmarshal(c.HambaSchema(), data, &generic); err != nil {
		t.Fatal(err)
	}
	if generic["status"] != "PAID" || generic["qty"] != 1 || generic["choice"].(map[string]any)["com.acme.Item"] == nil {
		t.Fatalf("hamba read %#v", generic)
	}
	got, err := c.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	gs := got.(*connectors.Struct)
	if gs.Get("amount").(*big.Rat).Cmp(big.NewRat(-12345, 1000)) != 0 || gs.Get("qty") != int32(1) ||
		gs.Get("choice").(*connectors.Struct).Get("Item").(*connectors.Struct).Get("sku") != "X1" {
		t.Fatalf("decoded %v", gs)
	}
	if _, err := c.Append(nil, connectors.NewStructValue(s).Put("id", int64(1)).Put("status", "LOST")); err == nil || !strings.Contains(err.Error(), "field status") {
		t.Fatalf("unknown enum symbol: %v", err)
	}
}

func TestSchemaEvolution(t *testing.T) {
	v1 := `{"type":"record","name":"User","namespace":"com.acme","fields":[
		{"name":"id","type":"int"},
		{"name":"name","type":"string"},
		{"name":"tier","type":{"type":"enum","name":"Tier","symbols":["GOLD","SILVER","BRONZE"]}},
		{"name":"legacy","type":{"type":"array","items":{"type":"map","values":"string"}}},
		{"name":"score","type":"float"},
		{"name":"tags","type":["null",{"type":"array","items":"string"}],"default":null}
	]}`
	v2 := `{"type":"record","name":"User","namespace":"com.acme","fields":[
		{"name":"id","type":"long"},
		{"name":"full_name","type":"string","aliases":["name"]},
		{"name":"tier","type":{"type":"enum","name":"Tier","symbols":["GOLD","SILVER"],"default":"SILVER"}},
		{"name":"score","type":"double"},
		{"name":"email","type":["null","string"],"default":null},
		{"name":"visits","type":"int","default":3},
		{"name":"tags","type":["null",{"type":"array","items":"string"}],"default":null}
	]}`
	w, err := NewCodecFromAvro(v1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewCodecFromAvro(v2)
	if err != nil {
		t.Fatal(err)
	}
	ws := w.Schema()
	old := connectors.NewStructValue(ws).Put("id", int32(5)).Put("name", "Ann").Put("tier", "BRONZE").
		Put("legacy", []any{map[string]any{"a": "b"}, map[string]any{}}).Put("score", float32(2.5)).Put("tags", []any{"x"})
	data, err := w.Append(nil, old)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second call uses the cached resolution
		got, err := r.DecodeFrom(w, data)
		if err != nil {
			t.Fatal(err)
		}
		st := got.(*connectors.Struct)
		if st.Get("id") != int64(5) || st.Get("full_name") != "Ann" || st.Get("tier") != "SILVER" || st.Get("score") != 2.5 ||
			st.Get("email") != nil || st.Get("visits") != int32(3) || !reflect.DeepEqual(st.Get("tags"), []any{"x"}) {
			t.Fatalf("resolved %v", st)
		}
		if err := connectors.Validate(r.Schema(), got); err != nil {
			t.Fatal(err)
		}
	}
	// Reading new data with the old schema fails: id is a long now.
	newData, _ := r.Append(nil, connectors.NewStructValue(r.Schema()).Put("id", int64(1)).Put("full_name", "B").Put("tier", "GOLD").Put("score", 1.0).Put("visits", int32(1)))
	if _, err := w.DecodeFrom(r, newData); err == nil || !strings.Contains(err.Error(), "cannot be read") {
		t.Fatalf("incompatible resolution: %v", err)
	}
	// A reader field without default that the writer lacks is an error.
	v3 := strings.Replace(v2, `"default":3`, `"doc":"no default"`, 1)
	r3, err := NewCodecFromAvro(v3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r3.DecodeFrom(w, data); err == nil || !strings.Contains(err.Error(), `"visits"`) {
		t.Fatalf("missing default: %v", err)
	}
}

func TestValueErrorsNamePath(t *testing.T) {
	s, v := everything()
	c, _ := NewCodec(s)
	v.Put("nested", []any{map[string]any{"k": []any{int64(1), "two"}}})
	_, err := c.Append(nil, v)
	if err == nil || !errors.Is(err, connectors.ErrSchemaMismatch) || !strings.Contains(err.Error(), `field nested[0]["k"][1]:`) {
		t.Fatalf("error %v", err)
	}
	_, v = everything()
	v.Put("i8", int32(300))
	if _, err := c.Append(nil, v); err == nil || !strings.Contains(err.Error(), "field i8: 300 is out of range") {
		t.Fatalf("error %v", err)
	}
	_, v = everything()
	v.Put("str", nil)
	if _, err := c.Append(nil, v); err == nil || !strings.Contains(err.Error(), "field str: ") || !strings.Contains(err.Error(), "null for required") {
		t.Fatalf("error %v", err)
	}
}

func TestDecodeCorrupt(t *testing.T) {
	s, v := everything()
	c, _ := NewCodec(s)
	data, _ := c.Append(nil, v)
	for i := 0; i < len(data); i++ {
		if _, err := c.Decode(data[:i]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", i)
		}
	}
	if _, err := c.Decode(append(data, 0)); err == nil || !strings.Contains(err.Error(), "left over") {
		t.Fatalf("trailing byte: %v", err)
	}
	// A huge count of zero-size items must fail fast, not allocate.
	empty, err := NewCodecFromAvro(`{"type":"array","items":{"type":"record","name":"E","fields":[]}}`)
	if err != nil {
		t.Fatal(err)
	}
	huge := appendLong(nil, 1<<60)
	if _, err := empty.Decode(huge); err == nil || !strings.Contains(err.Error(), "items without content") {
		t.Fatalf("huge zero-size count: %v", err)
	}
	strs, _ := NewCodecFromAvro(`{"type":"array","items":"string"}`)
	if _, err := strs.Decode(appendLong(nil, 1<<40)); err == nil || !strings.Contains(err.Error(), "longer than the data") {
		t.Fatalf("huge count: %v", err)
	}
	if _, err := strs.Decode(appendLong(appendLong(nil, 1), 1<<40)); err == nil {
		t.Fatal("huge string length: no error")
	}
}

func TestFromConnectErrors(t *testing.T) {
	a := connectors.NewStruct("com.x.A").Field("x", connectors.Int32Schema()).MustBuild()
	a2 := connectors.NewStruct("com.x.A").Field("y", connectors.Int32Schema()).MustBuild()
	twoAs := connectors.NewStruct("com.x.B").Field("a", a).Field("a2", a2).MustBuild()
	if _, err := FromConnect(twoAs); err == nil {
		t.Fatal("two different structs with one name: no error")
	}
	if _, err := FromConnect(connectors.NewStruct("bad-name").Field("x", connectors.Int32Schema()).MustBuild()); err == nil {
		t.Fatal("invalid Avro name: no error")
	}
	if _, err := NewCodecFromAvro(`{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}`); err == nil || !strings.Contains(err.Error(), "recursive") {
		t.Fatalf("recursive schema: %v", err)
	}
	if _, err := NewCodecFromAvro(`"null"`); err == nil {
		t.Fatal("standalone null: no error")
	}
}

// TestGenericThroughOCF writes generic values (ToGeneric) into an Avro
// object container file with hamba's ocf encoder and reads them back
// (FromGeneric), as the file formats may.
func TestGenericThroughOCF(t *testing.T) {
	s, v := everything()
	c, err := NewCodec(s)
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.ToGeneric(v)
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	enc, err := ocf.NewEncoderWithSchema(c.HambaSchema(), &file, ocf.WithEncoderSchemaCache(&havro.SchemaCache{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(g); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	dec, err := ocf.NewDecoder(&file, ocf.WithDecoderSchemaCache(&havro.SchemaCache{}))
	if err != nil {
		t.Fatal(err)
	}
	if !dec.HasNext() {
		t.Fatal(dec.Error())
	}
	var got any
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	back, err := c.FromGeneric(got)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := c.Append(nil, v)
	if again, err := c.Append(nil, back); err != nil || !bytes.Equal(again, want) {
		t.Fatalf("value changed through the file: %v", err)
	}
}

// TestSharedStructMemo: records sharing a struct (Share) encode to the
// same bytes as unshared copies of it, whichever shared struct came
// before.
func TestSharedStructMemo(t *testing.T) {
	src := connectors.NewStruct("src").Field("table", connectors.StringSchema()).Field("ts", connectors.Int64Schema()).MustBuild()
	env := connectors.NewStruct("env").Field("id", connectors.Int32Schema()).Field("source", src).MustBuild()
	codec, err := NewCodec(env)
	if err != nil {
		t.Fatal(err)
	}
	event := func(id int32, table string, share bool) *connectors.Struct {
		s := connectors.NewStructValue(src)
		s.Set(0, table)
		s.Set(1, int64(id))
		if share {
			s.Share()
		}
		v := connectors.NewStructValue(env)
		v.Set(0, id)
		v.Set(1, s)
		return v
	}
	a := event(1, "a", true)
	b := event(2, "bb", true)
	for i, v := range []*connectors.Struct{a, a, b, a, b} {
		want, err := codec.Append(nil, event(v.At(0).(int32), v.At(1).(*connectors.Struct).At(0).(string), false))
		if err != nil {
			t.Fatal(err)
		}
		got, err := codec.Append(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("event %d: %x, want %x", i, got, want)
		}
	}
}
