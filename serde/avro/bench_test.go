package avro_test

import (
	"testing"

	"github.com/sluicehq/sluice/serde/avro"
)

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

type benchOrder struct {
	ID       int64   `avro:"id"`
	Customer string  `avro:"customer"`
	SKU      string  `avro:"sku"`
	Quantity int32   `avro:"quantity"`
	Price    float64 `avro:"price"`
	Currency string  `avro:"currency"`
	Paid     bool    `avro:"paid"`
	Coupon   *string `avro:"coupon"`
	Created  int64   `avro:"created"`
	Weight   float32 `avro:"weight"`
}

// BenchmarkEncodeDecode measures one Serialize plus one Deserialize of a
// 10-field record through a warmed serde, on one goroutine: records/s is
// per core.
func BenchmarkEncodeDecode(b *testing.B) {
	mock := memRegistry(b)
	s, err := avro.New[benchOrder](mock, benchSchema)
	if err != nil {
		b.Fatal(err)
	}
	coupon := "SPRING"
	in := benchOrder{ID: 123456789, Customer: "customer-00042", SKU: "SKU-1234-XL", Quantity: 3, Price: 19.99,
		Currency: "EUR", Paid: true, Coupon: &coupon, Created: 1_763_700_000_000, Weight: 1.25}
	if _, err := s.Serialize("orders", in); err != nil { // warm: register and cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		data, err := s.Serialize("orders", in)
		if err != nil {
			b.Fatal(err)
		}
		out, err := s.Deserialize("orders", data)
		if err != nil || out.ID != in.ID {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkEncodeDecodeGeneric is BenchmarkEncodeDecode with map[string]any.
func BenchmarkEncodeDecodeGeneric(b *testing.B) {
	mock := memRegistry(b)
	s, err := avro.NewGeneric(mock, benchSchema)
	if err != nil {
		b.Fatal(err)
	}
	in := map[string]any{"id": int64(123456789), "customer": "customer-00042", "sku": "SKU-1234-XL", "quantity": 3,
		"price": 19.99, "currency": "EUR", "paid": true, "coupon": "SPRING", "created": int64(1_763_700_000_000), "weight": float32(1.25)}
	if _, err := s.Serialize("orders", in); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		data, err := s.Serialize("orders", in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Deserialize("orders", data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
