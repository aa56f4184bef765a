package dynamic_test

import (
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/dynamic"
)

func TestFieldsMetadata(t *testing.T) {
	t.Parallel()
	typ := must[*dynamic.Type](t)(dynamic.FromAvro(orderSchema))
	if typ.Name() != "com.shop.Order" || typ.String() != "com.shop.Order" {
		t.Fatalf("name %q", typ.Name())
	}
	if !strings.HasPrefix(typ.AvroSchema(), `{"type":"record","name":"Order","namespace":"com.shop","fields":[{"name":"id"`) {
		t.Fatalf("schema not kept compact: %s", typ.AvroSchema())
	}
	fields := typ.Fields()
	got := make([]string, len(fields))
	for i, f := range fields {
		got[i] = f.Name + " " + f.GoName + " " + f.Type.String() + " " + f.AvroType
	}
	want := []string{
		"id Id int64 long",
		"amount Amount float64 double",
		"quantity Quantity int32 int",
		"currency Currency string enum com.shop.Currency",
		"discount Discount *float64 union<null,double>",
		"placed Placed time.Time long/timestamp-millis",
		"tags Tags []string array<string>",
		"customer Customer " + fields[7].Type.String() + " record com.shop.Customer",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fields:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := fields[4]; !d.Nullable || !d.HasDefault || d.Default != nil {
		t.Errorf("discount: %+v", d)
	}
	cust := fields[7]
	if len(cust.Fields) != 2 || cust.Fields[1].Name != "address" || cust.Fields[1].AvroType != "union<null,record com.shop.Address>" {
		t.Fatalf("customer fields: %+v", cust.Fields)
	}
	if tag := typ.Reflect().Field(7).Tag; tag.Get("avro") != "customer" || tag.Get("expr") != "customer" || tag.Get("json") != "customer" {
		t.Fatalf("tags: %s", tag)
	}
	if v := typ.New(); reflect.TypeOf(v) != reflect.PointerTo(typ.Reflect()) || reflect.ValueOf(v).IsNil() {
		t.Fatalf("New() = %#v", v)
	}
}

func TestFromAvroErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ schema, want string }{
		{`{`, "not JSON"},
		{`"string"`, "want a record"},
		{`{"type":"record","name":"R","fields":[{"name":"x","type":"nope"}]}`, "invalid Avro schema"},
		{`{"type":"record","name":"Node","fields":[{"name":"v","type":"long"},{"name":"next","type":["null","Node"]}]}`,
			"field next: record Node contains itself"},
		{`{"type":"record","name":"T","fields":[{"name":"kids","type":{"type":"array","items":"T"}}]}`, "recursive records"},
	} {
		if _, err := dynamic.FromAvro(c.schema); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.schema, err, c.want)
		}
	}
	// Two versions of one name parse side by side (no global cache).
	a := must[*dynamic.Type](t)(dynamic.FromAvro(userV1))
	b := must[*dynamic.Type](t)(dynamic.FromAvro(userV2))
	if a.Reflect() == b.Reflect() || a.Reflect().NumField() != 3 || b.Reflect().NumField() != 5 {
		t.Fatalf("versions collide: %v / %v", a.Reflect(), b.Reflect())
	}
}

func TestFromMap(t *testing.T) {
	t.Parallel()
	typ := must[*dynamic.Type](t)(dynamic.FromAvro(`{"type":"record","name":"R","fields":[
		{"name":"n","type":"int"},
		{"name":"opt","type":["null","string"]},
		{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]},"default":"B"},
		{"name":"pt","type":{"type":"record","name":"P","fields":[{"name":"x","type":"double"},{"name":"y","type":"double","default":2}]},"default":{"x":1}},
		{"name":"fx","type":{"type":"fixed","name":"F","size":2},"default":"\u00ff\u0001"},
		{"name":"raw","type":"bytes","default":"\u0000a"},
		{"name":"day","type":{"type":"int","logicalType":"date"},"default":1},
		{"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"},"default":1500000},
		{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":5,"scale":2},"default":"\u0004\u00d2"}
	]}`))
	v := must[any](t)(typ.FromMap(map[string]any{"n": 1.0}))
	got := must[map[string]any](t)(typ.ToMap(v))
	want := map[string]any{"n": 1, "opt": nil, "e": "B", "pt": map[string]any{"x": 1.0, "y": 2.0}, "fx": []byte{0xff, 1},
		"raw": []byte{0, 'a'}, "day": time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC), "ts": time.Unix(1, 500000000), "price": big.NewRat(1234, 100)}
	if d := diff(want, got); d != "" {
		t.Fatalf("defaults:\n%s", d)
	}
	fields := typ.Fields()
	if d := diff(map[string]any{"pt": map[string]any{"x": 1.0, "y": 2.0}}, map[string]any{"pt": fields[3].Default}); d != "" {
		t.Fatalf("Field.Default: %s", d)
	}

	for _, c := range []struct {
		in   map[string]any
		want string
	}{
		{map[string]any{}, "R.n: missing"},
		{map[string]any{"n": 1, "opt ": "x"}, `record R has no field "opt " (did you mean "opt"?)`},
		{map[string]any{"n": int64(1) << 40}, "R.n: 1099511627776 (int64) is not a valid int: out of range"},
		{map[string]any{"n": 1.5}, "is not a valid int: not an integer"},
		{map[string]any{"n": "1"}, "R.n: 1 (string) is not a valid int"},
		{map[string]any{"n": 1, "e": "C"}, "is not a valid enum E: symbols are [A B]"},
		{map[string]any{"n": 1, "pt": map[string]any{"z": 1}}, `R.pt: record P has no field "z"`},
		{map[string]any{"n": 1, "fx": "abc"}, "3 bytes, want 2"},
		{map[string]any{"n": 1, "ts": "noon"}, "want an RFC 3339 timestamp"},
		{map[string]any{"n": 1, "price": "1/0x"}, "want a decimal number"},
	} {
		if _, err := typ.FromMap(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("FromMap(%v): err = %v, want %q", c.in, err, c.want)
		}
	}
	if _, err := typ.ToMap("x"); err == nil {
		t.Errorf("ToMap of a string succeeded")
	}
}

func TestAccessor(t *testing.T) {
	t.Parallel()
	typ := must[*dynamic.Type](t)(dynamic.FromAvro(orderSchema))
	v := typ.New()
	city := must[*dynamic.Accessor](t)(typ.Accessor("customer", "address", "city"))
	if city.Type() != reflect.TypeFor[string]() || city.AvroType() != "string" || strings.Join(city.Path(), ".") != "customer.address.city" {
		t.Fatalf("accessor %v %s %v", city.Type(), city.AvroType(), city.Path())
	}
	if got := city.Get(v); got != nil {
		t.Fatalf("city of a null address = %#v, want nil", got)
	}
	if err := city.Set(v, "Rome"); err != nil {
		t.Fatal(err)
	}
	if got := city.Get(v); got != "Rome" {
		t.Fatalf("city = %#v", got)
	}
	addr := must[*dynamic.Accessor](t)(typ.Accessor("customer", "address"))
	if a := addr.Get(v); reflect.TypeOf(a) != addr.Type() || reflect.ValueOf(a).Elem().Field(0).String() != "Rome" {
		t.Fatalf("address = %#v (%v)", a, addr.Type())
	}
	if err := addr.Set(v, nil); err != nil || addr.Get(v) != nil {
		t.Fatalf("set address null: %v, %#v", err, addr.Get(v))
	}
	if err := city.Set(v, 42); err == nil || addr.Get(v) != nil {
		t.Fatalf("failed Set through a null record: %v, address %#v", err, addr.Get(v))
	}

	discount := must[*dynamic.Accessor](t)(typ.Accessor("discount"))
	if discount.Type() != reflect.TypeFor[float64]() || discount.Get(v) != nil {
		t.Fatalf("discount %v %#v", discount.Type(), discount.Get(v))
	}
	for _, x := range []any{3, int64(3), float32(3), 3.0} { // what expressions yield
		if err := discount.Set(v, x); err != nil || discount.Get(v) != 3.0 {
			t.Fatalf("set discount %T: %v, %#v", x, err, discount.Get(v))
		}
	}
	quantity := must[*dynamic.Accessor](t)(typ.Accessor("quantity"))
	if err := quantity.Set(v, 1<<40); err == nil || !strings.Contains(err.Error(), "com.shop.Order.quantity") {
		t.Fatalf("overflow: %v", err)
	}
	if err := quantity.Set(v, 5); err != nil || quantity.Get(v) != int32(5) {
		t.Fatalf("quantity: %v %#v", err, quantity.Get(v))
	}
	cust := must[*dynamic.Accessor](t)(typ.Accessor("customer"))
	if err := cust.Set(v, map[string]any{"name": "Zed"}); err != nil {
		t.Fatal(err)
	}
	if err := cust.Set(v, map[string]any{"nam": "x"}); err == nil {
		t.Fatal("bad record set")
	} else if name := must[*dynamic.Accessor](t)(typ.Accessor("customer", "name")); name.Get(v) != "Zed" {
		t.Fatalf("failed Set changed the record: %#v", name.Get(v))
	}

	for _, c := range []struct {
		path []string
		want string
	}{
		{nil, "empty field path"},
		{[]string{"amont"}, `no field "amont" (did you mean "amount"?)`},
		{[]string{"amount", "x"}, "field amount is a double, not a record"},
		{[]string{"customer", "adress"}, `record com.shop.Customer has no field "adress" (did you mean "address"?)`},
	} {
		if _, err := typ.Accessor(c.path...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Accessor(%v): err = %v, want %q", c.path, err, c.want)
		}
	}
}

// TestInfer builds an output type from the static types of a step's
// expressions, writes values through accessors, and reads them back with
// the generic serde to check that the generated schema is the real one.
func TestInfer(t *testing.T) {
	t.Parallel()
	in := must[*dynamic.Type](t)(dynamic.FromAvro(orderSchema))
	inFields := in.Fields()
	customerType := inFields[7].Type
	addressType := inFields[7].Fields[1].Type // *struct
	out, err := dynamic.Infer("com.shop.jobs.enrich.Value", []dynamic.InferField{
		{Name: "id", Type: reflect.TypeFor[int64]()},
		{Name: "total", Type: reflect.TypeFor[float64](), Doc: "amount times quantity"},
		{Name: "count", Type: reflect.TypeFor[int]()},
		{Name: "small", Type: reflect.TypeFor[int32]()},
		{Name: "big", Type: reflect.TypeFor[bool]()},
		{Name: "at", Type: reflect.TypeFor[time.Time]()},
		{Name: "note", Type: reflect.TypeFor[string](), Nullable: true},
		{Name: "tags", Type: reflect.TypeFor[[]string]()},
		{Name: "scores", Type: reflect.TypeFor[map[string]float64]()},
		{Name: "raw", Type: reflect.TypeFor[[]byte]()},
		{Name: "elapsed", Type: reflect.TypeFor[time.Duration]()},
		{Name: "customer", Type: customerType},
		{Name: "address", Type: addressType},
		{Name: "currency", Type: reflect.TypeFor[string](), Schema: inFields[3].Schema},
		{Name: "price", Schema: `{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}`, Nullable: true},
	}, in)
	if err != nil {
		t.Fatal(err)
	}
	wantSchema := `{"type":"record","name":"Value","namespace":"com.shop.jobs.enrich","fields":[` +
		`{"name":"id","type":"long"},{"name":"total","type":"double","doc":"amount times quantity"},{"name":"count","type":"long"},` +
		`{"name":"small","type":"int"},{"name":"big","type":"boolean"},` +
		`{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"note","type":["null","string"],"default":null},` +
		`{"name":"tags","type":{"type":"array","items":"string"}},{"name":"scores","type":{"type":"map","values":"double"}},` +
		`{"name":"raw","type":"bytes"},{"name":"elapsed","type":"long"},` +
		`{"name":"customer","type":{"type":"record","name":"Customer","namespace":"com.shop","fields":[{"name":"name","type":"string"},` +
		`{"name":"address","type":["null",{"type":"record","name":"Address","namespace":"com.shop","fields":[{"name":"city","type":"string"}]}],"default":null}]}},` +
		`{"name":"address","type":["null","com.shop.Address"],"default":null},` +
		`{"name":"currency","type":{"type":"enum","name":"Currency","namespace":"com.shop","symbols":["EUR","USD"]}},` +
		`{"name":"price","type":["null",{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}],"default":null}]}`
	if out.AvroSchema() != wantSchema {
		t.Fatalf("schema:\n%s\nwant\n%s", out.AvroSchema(), wantSchema)
	}
	goTypes := map[string]reflect.Type{}
	for _, f := range out.Fields() {
		goTypes[f.Name] = f.Type
	}
	for name, want := range map[string]reflect.Type{"count": reflect.TypeFor[int](), "note": reflect.TypeFor[*string](),
		"customer": customerType, "address": addressType, "price": reflect.TypeFor[**big.Rat](), "elapsed": reflect.TypeFor[time.Duration]()} {
		if goTypes[name] != want {
			t.Errorf("field %s: Go type %v, want %v", name, goTypes[name], want)
		}
	}

	// A mapValues step: set each output field from its expression's value.
	src := must[any](t)(in.FromMap(map[string]any{"id": 1, "amount": 2.5, "quantity": 2, "currency": "USD", "placed": 0, "tags": []any{},
		"customer": map[string]any{"name": "Ann", "address": map[string]any{"city": "Oslo"}}}))
	results := map[string]any{
		"id": int64(1), "total": 5.0, "count": 2, "small": int32(-1), "big": true, "at": time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		"note": "hi", "tags": []string{"x"}, "scores": map[string]float64{"a": 1}, "raw": []byte{1}, "elapsed": 90 * time.Second,
		"customer": must[*dynamic.Accessor](t)(in.Accessor("customer")).Get(src),
		"address":  must[*dynamic.Accessor](t)(in.Accessor("customer", "address")).Get(src),
		"currency": "USD", "price": big.NewRat(314, 100),
	}
	v := out.New()
	for name, x := range results {
		if err := must[*dynamic.Accessor](t)(out.Accessor(name)).Set(v, x); err != nil {
			t.Fatalf("set %s: %v", name, err)
		}
	}
	mock := mustMock(t)
	s := must[serde.Serde[any]](t)(dynamic.AvroSerde(mock, out))
	data := must[[]byte](t)(s.Serialize("enriched", v))
	gen := must[serde.Serde[map[string]any]](t)(avro.NewGeneric(mock, wantSchema))
	generic := must[map[string]any](t)(gen.Deserialize("enriched", data))
	want := must[map[string]any](t)(out.ToMap(v))
	if d := diff(want, must[map[string]any](t)(out.ToMap(must[any](t)(out.FromMap(generic))))); d != "" {
		t.Fatalf("generic read:\n%s", d)
	}
	if generic["count"] != int64(2) || generic["elapsed"] != int64(90*time.Second) {
		t.Fatalf("generic count/elapsed = %#v/%#v", generic["count"], generic["elapsed"])
	}
	back := must[any](t)(s.Deserialize("enriched", data))
	if d := diff(want, must[map[string]any](t)(out.ToMap(back))); d != "" {
		t.Fatalf("round trip:\n%s", d)
	}

	for _, c := range []struct {
		name   string
		fields []dynamic.InferField
		want   string
	}{
		{"bad record name", nil, ""},
		{"any", []dynamic.InferField{{Name: "x", Type: reflect.TypeFor[any]()}}, `field "x": type interface {} has no static type`},
		{"uint64", []dynamic.InferField{{Name: "x", Type: reflect.TypeFor[uint64]()}}, "type uint64 has no Avro mapping"},
		{"bad name", []dynamic.InferField{{Name: "1x", Type: reflect.TypeFor[int]()}}, `"1x" is not an Avro name`},
		{"twice", []dynamic.InferField{{Name: "x", Type: reflect.TypeFor[int]()}, {Name: "x", Type: reflect.TypeFor[int]()}}, "declared twice"},
		{"mismatch", []dynamic.InferField{{Name: "x", Type: reflect.TypeFor[string](), Schema: `"long"`}}, "values of type string cannot be written as Avro long"},
		{"decimal", []dynamic.InferField{{Name: "x", Type: reflect.TypeFor[*big.Rat]()}}, "precision and scale"},
		{"no type", []dynamic.InferField{{Name: "x"}}, "neither a Go type nor a schema"},
		{"int keys", []dynamic.InferField{{Name: "x", Type: reflect.TypeFor[map[int]string]()}}, "Avro map keys are strings"},
	} {
		name := "com.x.Out"
		if c.name == "bad record name" {
			name, c.want = "com.x.9", "not an Avro name"
		}
		if _, err := dynamic.Infer(name, c.fields); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

// TestInferStruct infers a record from a static Go struct.
func TestInferStruct(t *testing.T) {
	t.Parallel()
	type point struct {
		X    float64 `avro:"x"`
		Y    float64
		Skip int `avro:"-"`
		Tags []string
		next *int //lint:ignore U1000 an unexported field, which inference skips
	}
	out := must[*dynamic.Type](t)(dynamic.Infer("geo.Out", []dynamic.InferField{
		{Name: "p", Type: reflect.TypeFor[point]()},
		{Name: "ps", Type: reflect.TypeFor[[]*point]()},
	}))
	want := `{"type":"record","name":"Out","namespace":"geo","fields":[{"name":"p","type":{"type":"record","name":"Out_p","namespace":"geo","fields":` +
		`[{"name":"x","type":"double"},{"name":"Y","type":"double"},{"name":"Tags","type":{"type":"array","items":"string"}}]}},` +
		`{"name":"ps","type":{"type":"array","items":["null","geo.Out_p"]}}]}`
	if out.AvroSchema() != want {
		t.Fatalf("schema:\n%s\nwant\n%s", out.AvroSchema(), want)
	}
	v := must[any](t)(out.FromMap(map[string]any{"p": map[string]any{"x": 1, "Y": 2, "Tags": []any{"a"}}, "ps": []any{nil, map[string]any{"x": 3, "Y": 4, "Tags": []any{}}}}))
	s := must[serde.Serde[any]](t)(dynamic.AvroSerde(mustMock(t), out))
	back := must[any](t)(s.Deserialize("geo", must[[]byte](t)(s.Serialize("geo", v))))
	if d := diff(must[map[string]any](t)(out.ToMap(v)), must[map[string]any](t)(out.ToMap(back))); d != "" {
		t.Fatal(d)
	}
}
