package converters

import (
	"context"
	"encoding/json"
	"math"
	"net/http/httptest"
	"testing"

	havro "github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/internal/connectavro"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde/registry"
)

// Benchmarks of the converters on a 10-field struct (sample), each next to
// a plain baseline in the same run: encoding/json on an equivalent Go
// struct, and hamba/avro on the same Avro schema. They report records/s;
// compare the ratio, not the absolute numbers.

type plainOrder struct {
	ID       int64    `json:"id" avro:"id"`
	Customer string   `json:"customer" avro:"customer"`
	Amount   []byte   `json:"amount" avro:"amount"`
	Quantity int32    `json:"quantity" avro:"quantity"`
	Price    float64  `json:"price" avro:"price"`
	Status   string   `json:"status" avro:"status"`
	Paid     bool     `json:"paid" avro:"paid"`
	Created  int64    `json:"created" avro:"created"`
	Note     *string  `json:"note" avro:"note"`
	Tags     []string `json:"tags" avro:"tags"`
}

func plainSample() plainOrder {
	note := "leave at the door"
	return plainOrder{ID: 1234577, Customer: "customer-0042", Amount: []byte{0x01, 0xE2, 0x40}, Quantity: 3, Price: 411.52,
		Status: "SHIPPED", Paid: true, Created: 1717171717171, Note: &note, Tags: []string{"express", "gift"}}
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkJSONFromConnect(b *testing.B) {
	s, v := sample(10)
	for _, bc := range []struct {
		name string
		raw  map[string]any
	}{{"schemaless", nil}, {"envelope", map[string]any{"schemas.enable": true}}} {
		c := build(b, "json", bc.raw, false)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.FromConnect("orders", s, v); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b)
		})
	}
	b.Run("baseline=encoding/json", func(b *testing.B) {
		p := plainSample()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&p); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
}

func BenchmarkJSONToConnect(b *testing.B) {
	s, v := sample(10)
	for _, bc := range []struct {
		name string
		raw  map[string]any
	}{{"schemaless", nil}, {"envelope", map[string]any{"schemas.enable": true}}} {
		c := build(b, "json", bc.raw, false)
		data, err := c.FromConnect("orders", s, v)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, _, err := c.ToConnect("orders", data); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b)
		})
		if bc.raw == nil {
			b.Run("baseline=encoding/json-map", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					var m map[string]any
					if err := json.Unmarshal(data, &m); err != nil {
						b.Fatal(err)
					}
				}
				reportRate(b)
			})
		}
	}
	b.Run("baseline=encoding/json-struct", func(b *testing.B) {
		data, _ := json.Marshal(plainSample())
		b.ReportAllocs()
		for b.Loop() {
			var p plainOrder
			if err := json.Unmarshal(data, &p); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
}

func benchRegistry(b *testing.B) string {
	br := testbroker.New(b)
	reg, err := registry.New(context.Background(), registry.WithBrokers(br.Addr()))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	b.Cleanup(func() {
		srv.Close()
		_ = reg.Close()
	})
	return srv.URL
}

func BenchmarkAvro(b *testing.B) {
	url := benchRegistry(b)
	s, v := sample(10)
	c := build(b, "avro", map[string]any{"schema.registry.url": url}, false)
	data, err := c.FromConnect("orders", s, v) // registers; later calls hit the cache
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := c.ToConnect("orders", data); err != nil {
		b.Fatal(err)
	}
	codec, err := connectavro.NewCodec(s)
	if err != nil {
		b.Fatal(err)
	}
	api := havro.Config{BlockLength: math.MaxInt32, DisableBlockSizeHeader: true}.Freeze()
	// The same Avro schema, for hamba's typed codec: Connect's logical
	// types become their underlying values in plainOrder.
	typed := codec.HambaSchema()
	p := plainSample()
	plainBytes, err := api.Marshal(typed, &p)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("FromConnect", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.FromConnect("orders", s, v); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
	b.Run("FromConnect/baseline=hamba-typed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := api.Marshal(typed, &p); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
	b.Run("ToConnect", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, _, err := c.ToConnect("orders", data); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
	b.Run("ToConnect/baseline=hamba-typed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out plainOrder
			if err := api.Unmarshal(typed, plainBytes, &out); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
	b.Run("ToConnect/baseline=hamba-generic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out any
			if err := api.Unmarshal(typed, data[5:], &out); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
}

func BenchmarkBytesToConnect(b *testing.B) {
	c := build(b, "bytes", nil, false)
	data := make([]byte, 100)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := c.ToConnect("t", data); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}
