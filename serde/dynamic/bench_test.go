package dynamic_test

import (
	"math"
	"reflect"
	"testing"
	"time"

	havro "github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/dynamic"
)

// benchSchema is serde/avro's benchmark record (10 fields).
const benchSchema = `{
  "type": "record", "name": "Order", "namespace": "com.x.bench",
  "fields": [
    {"name": "id",       "type": "long"},
    {"name": "customer", "type": "string"},
    {"name": "sku",      "type": "string"},
    {"name": "quantity", "type": "int"},
    {"name": "price",    "type": "double"},
    {"name": "currency", "type": {"type": "enum", "name": "Currency", "symbols": ["EUR", "USD", "GBP"]}},
    {"name": "paid",     "type": "boolean"},
    {"name": "coupon",   "type": ["null", "string"], "default": null},
    {"name": "created",  "type": "long"},
    {"name": "weight",   "type": "float"}
  ]
}`

// benchOrder is the hand-written struct for benchSchema.
type benchOrder struct {
	ID       int64   `avro:"id" json:"id"`
	Customer string  `avro:"customer" json:"customer"`
	SKU      string  `avro:"sku" json:"sku"`
	Quantity int32   `avro:"quantity" json:"quantity"`
	Price    float64 `avro:"price" json:"price"`
	Currency string  `avro:"currency" json:"currency"`
	Paid     bool    `avro:"paid" json:"paid"`
	Coupon   *string `avro:"coupon" json:"coupon"`
	Created  int64   `avro:"created" json:"created"`
	Weight   float32 `avro:"weight" json:"weight"`
}

var benchFields = map[string]any{"id": int64(123456789), "customer": "customer-00042", "sku": "SKU-1234-XL", "quantity": 3,
	"price": 19.99, "currency": "EUR", "paid": true, "coupon": "SPRING", "created": int64(1_763_700_000_000), "weight": float32(1.25)}

func benchStatic() benchOrder {
	coupon := "SPRING"
	return benchOrder{ID: 123456789, Customer: "customer-00042", SKU: "SKU-1234-XL", Quantity: 3, Price: 19.99,
		Currency: "EUR", Paid: true, Coupon: &coupon, Created: 1_763_700_000_000, Weight: 1.25}
}

func staticRoundTrip(b *testing.B) func() {
	s := must[serde.Serde[benchOrder]](b)(avro.New[benchOrder](mustMock(b), benchSchema))
	in := benchStatic()
	return func() {
		data, err := s.Serialize("orders", in)
		if err != nil {
			b.Fatal(err)
		}
		if out, err := s.Deserialize("orders", data); err != nil || out.ID != in.ID {
			b.Fatal(err)
		}
	}
}

func dynamicRoundTrip(b *testing.B) func() {
	typ := must[*dynamic.Type](b)(dynamic.FromAvro(benchSchema))
	s := must[serde.Serde[any]](b)(dynamic.AvroSerde(mustMock(b), typ))
	in := must[any](b)(typ.FromMap(benchFields))
	return func() {
		data, err := s.Serialize("orders", in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Deserialize("orders", data); err != nil {
			b.Fatal(err)
		}
	}
}

func genericRoundTrip(b *testing.B) func() {
	s := must[serde.Serde[map[string]any]](b)(avro.NewGeneric(mustMock(b), benchSchema))
	return func() {
		data, err := s.Serialize("orders", benchFields)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Deserialize("orders", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAvroEncodeDecode measures one Serialize plus one Deserialize
// of a 10-field record in the wire format, on one goroutine (records/s is
// per core): the hand-written struct (avro.New), the generated struct
// (dynamic.AvroSerde) and map[string]any (avro.NewGeneric).
func BenchmarkAvroEncodeDecode(b *testing.B) {
	for _, c := range []struct {
		name string
		make func(*testing.B) func()
	}{{"static", staticRoundTrip}, {"dynamic", dynamicRoundTrip}, {"generic", genericRoundTrip}} {
		b.Run(c.name, func(b *testing.B) {
			op := c.make(b)
			op() // warm: register and cache
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				op()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkAvroDynamicVsStatic runs the static, dynamic and generic round
// trips interleaved in batches, in the same run, and reports each one's
// records/s and the dynamic/static and generic/static ratios (the target
// for dynamic is ≥ 0.90).
func BenchmarkAvroDynamicVsStatic(b *testing.B) {
	ops := []func(){staticRoundTrip(b), dynamicRoundTrip(b), genericRoundTrip(b)}
	var spent [3]time.Duration
	const batch = 1000
	for _, op := range ops {
		op()
	}
	b.ResetTimer()
	for b.Loop() {
		for i, op := range ops {
			start := time.Now()
			for range batch {
				op()
			}
			spent[i] += time.Since(start)
		}
	}
	n := float64(b.N * batch)
	rate := func(i int) float64 { return n / spent[i].Seconds() }
	b.ReportMetric(rate(0), "static-records/s")
	b.ReportMetric(rate(1), "dynamic-records/s")
	b.ReportMetric(rate(2), "generic-records/s")
	b.ReportMetric(rate(1)/rate(0), "dynamic/static")
	b.ReportMetric(rate(2)/rate(0), "generic/static")
}

// BenchmarkHambaDirect compares hamba/avro's own codecs, without the wire
// format and registry layer, on the static and the generated struct.
func BenchmarkHambaDirect(b *testing.B) {
	schema := havro.MustParse(benchSchema) // a benchmark: the global cache is fine here
	api := havro.Config{BlockLength: math.MaxInt32, DisableBlockSizeHeader: true}.Freeze()
	typ := must[*dynamic.Type](b)(dynamic.FromAvro(benchSchema))
	dyn := must[any](b)(typ.FromMap(benchFields))
	static := benchStatic()
	for _, c := range []struct {
		name string
		in   any
		out  func() any
	}{
		{"static", &static, func() any { return new(benchOrder) }},
		{"dynamic", dyn, func() any { return reflect.New(typ.Reflect()).Interface() }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				data, err := api.Marshal(schema, c.in)
				if err != nil {
					b.Fatal(err)
				}
				if err := api.Unmarshal(schema, data, c.out()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkJSONEncodeDecode compares the dynamic JSON serde with
// encoding/json on the hand-written struct and with the schemaless serde.
func BenchmarkJSONEncodeDecode(b *testing.B) {
	typ := must[*dynamic.Type](b)(dynamic.FromAvro(benchSchema))
	dyn := dynamic.JSONSerde(typ)
	dynIn := must[any](b)(typ.FromMap(benchFields))
	static := serde.JSON[benchOrder]()
	schemaless := dynamic.SchemalessJSONSerde()
	schemalessIn := must[any](b)(schemaless.Deserialize("orders", must[[]byte](b)(dyn.Serialize("orders", dynIn))))
	cases := []struct {
		name string
		op   func() error
	}{
		{"dynamic", func() error {
			data, err := dyn.Serialize("orders", dynIn)
			if err == nil {
				_, err = dyn.Deserialize("orders", data)
			}
			return err
		}},
		{"encoding-json-static", func() error {
			data, err := static.Serialize("orders", benchStatic())
			if err == nil {
				_, err = static.Deserialize("orders", data)
			}
			return err
		}},
		{"schemaless", func() error {
			data, err := schemaless.Serialize("orders", schemalessIn)
			if err == nil {
				_, err = schemaless.Deserialize("orders", data)
			}
			return err
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.op(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkAccessor measures a compiled field write and read.
func BenchmarkAccessor(b *testing.B) {
	typ := must[*dynamic.Type](b)(dynamic.FromAvro(benchSchema))
	v := must[any](b)(typ.FromMap(benchFields))
	price := must[*dynamic.Accessor](b)(typ.Accessor("price"))
	quantity := must[*dynamic.Accessor](b)(typ.Accessor("quantity"))
	b.ReportAllocs()
	for b.Loop() {
		if err := quantity.Set(v, 4); err != nil { // an int, as expressions yield
			b.Fatal(err)
		}
		_ = price.Get(v)
	}
}
