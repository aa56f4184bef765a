package datagen

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/cputime"
)

// BenchmarkPollOrders measures Poll of the orders quickstart, one task,
// unthrottled, next to a baseline that builds records of the same shape
// with constant values: the cost of Sluice's data model alone. Both report
// records/s; their ratio is the generation overhead.
func BenchmarkPollOrders(b *testing.B) {
	for _, key := range []string{"orderid", "customerid"} {
		b.Run("datagen/key="+key, func(b *testing.B) {
			src := newTestSource(b, ordersConfig(map[string]any{"batch.size": 1000, "schema.keyfield": key}), nil)
			tk := openTasks(b, src, 1, newOffsetStore())[0]
			benchPoll(b, func() int {
				recs, err := tk.Poll(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				return len(recs)
			})
		})
	}
	b.Run("baseline", func(b *testing.B) {
		src := newTestSource(b, ordersConfig(nil), nil)
		schema := src.s.gen.valueSchema
		address := schema.Fields[7].Schema
		keySchema := src.s.gen.keySchema
		partition := map[string]any{keyTask: int64(0)}
		var city, state, item any = "Boston", "MA", "Item_1"
		var units, price any = 1.5, 9.99
		var cust any = int32(7)
		pos := int64(0)
		benchPoll(b, func() int {
			recs := make([]connectors.Record, 1000)
			out := make([]*connectors.Record, 1000)
			for i := range recs {
				addr := connectors.NewStructValue(address)
				addr.Set(0, city)
				addr.Set(1, state)
				addr.Set(2, int64(2100+i))
				v := connectors.NewStructValue(schema)
				v.Set(0, pos)
				v.Set(1, pos)
				v.Set(2, cust)
				v.Set(3, item)
				v.Set(4, units)
				v.Set(5, price)
				v.Set(6, float64(pos))
				v.Set(7, addr)
				r := &recs[i]
				r.Topic, r.Partition, r.Offset = "orders", -1, -1
				r.Timestamp = time.UnixMilli(pos)
				r.ValueSchema, r.Value = schema, v
				r.KeySchema, r.Key = keySchema, keyText(pos)
				r.SourcePartition = partition
				out[i] = r
				pos++
			}
			out[999].SourceOffset = map[string]any{keyCount: pos}
			return len(out)
		})
	})
}

// BenchmarkPollAvroOrders measures the schema path with Confluent's orders
// schema (ranges, iteration and regexes), compiled once.
func BenchmarkPollAvroOrders(b *testing.B) {
	const orders = `{"namespace":"ksql","name":"orders","type":"record","fields":[
	{"name":"ordertime","type":{"type":"long","arg.properties":{"range":{"min":1487715775521,"max":1519273364600}}}},
	{"name":"orderid","type":{"type":"int","arg.properties":{"iteration":{"start":0}}}},
	{"name":"itemid","type":{"type":"string","arg.properties":{"regex":"Item_[1-9][0-9]{0,2}"}}},
	{"name":"orderunits","type":{"type":"double","arg.properties":{"range":{"min":0.1,"max":10.0}}}},
	{"name":"address","type":{"name":"address","type":"record","fields":[
		{"name":"city","type":{"type":"string","arg.properties":{"regex":"City_[1-9]{0,2}"}}},
		{"name":"state","type":{"type":"string","arg.properties":{"regex":"State_[1-9]{0,2}"}}},
		{"name":"zipcode","type":{"type":"long","arg.properties":{"range":{"min":10000,"max":99999}}}}]}}]}`
	root, err := parseAvro(orders)
	if err != nil {
		b.Fatal(err)
	}
	cs := connectOf(b, root)
	value, err := compileAvro(root, cs, os.ReadFile)
	if err != nil {
		b.Fatal(err)
	}
	src := newTestSource(b, ordersConfig(map[string]any{"batch.size": 1000}), nil)
	// The connector with the compiled schema in place of the quickstart
	// (internal/connectavro, which schema.string goes through, is not
	// needed to measure generation).
	g := &generator{valueSchema: cs, value: func(c *genCtx) *connectors.Struct { return value(c).(*connectors.Struct) }}
	if err := g.setKey("orderid"); err != nil {
		b.Fatal(err)
	}
	src.s.gen = g
	tk := openTasks(b, src, 1, newOffsetStore())[0]
	benchPoll(b, func() int {
		recs, err := tk.Poll(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		return len(recs)
	})
}

// benchPoll reports records per second of wall time and per second of the
// process's CPU time (GC workers included): on a shared machine the wall
// clock says more about the neighbours than about the code.
func benchPoll(b *testing.B, poll func() int) {
	b.ReportAllocs()
	cpu0 := cputime.Process()
	b.ResetTimer()
	records := 0
	for records < b.N {
		records += poll()
	}
	b.StopTimer()
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	if cpu := cputime.Process() - cpu0; cpu > 0 {
		b.ReportMetric(float64(records)/cpu.Seconds(), "records/cpu-s")
	}
}
