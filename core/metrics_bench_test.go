package core

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/memstate"
)

// BenchmarkMeteredStore is a Get and a Put of a key-value store (in
// memory, 1,000 keys), plain and metered as at the DEBUG recording level
// (two clock reads and a Prometheus histogram observation per
// operation): the difference is what DEBUG adds per Get+Put, the store
// work of one record of the count pipeline.
func BenchmarkMeteredStore(b *testing.B) {
	keys := make([][]byte, 1000)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key-%d", i)
	}
	value := []byte("12345678")
	for _, metered := range []bool{false, true} {
		name := "plain"
		if metered {
			name = "metered"
		}
		b.Run(name, func(b *testing.B) {
			kv, err := memstate.New().KeyValue("s")
			if err != nil {
				b.Fatal(err)
			}
			if metered {
				h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h", Buckets: prometheus.ExponentialBuckets(2.5e-7, 2, 15)})
				kv = &meteredKV{KeyValueStore: kv, lat: storeLatency{put: h.Observe, get: h.Observe}}
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				k := keys[i%len(keys)]
				if _, err := kv.Get(k); err != nil {
					b.Fatal(err)
				}
				if err := kv.Put(k, value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
