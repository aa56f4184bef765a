package jdbc

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/connectortest"
	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/connectjson"
	"github.com/sluicehq/sluice/internal/converters"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testdb"
	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/internal/transforms"
)

func conformanceRegistry(t testing.TB) *connectors.Registry {
	reg := connectors.NewRegistry()
	if err := converters.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := transforms.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestConformance runs the connector conformance suite
// (connectors/connectortest) on the jdbc source and sink against
// PostgreSQL, in the real worker with an in-process broker.
//
// Source: each item is a row inserted into a table polled in incrementing
// mode; its identity is the row's name in the JSON value. The poison item
// is a row whose date is 'infinity', which has no Connect representation:
// the source reports it (TASK_POLL) with its position.
//
// Sink: the suite's values are JSON objects without schemas, which the
// jdbc sink refuses (as Confluent's does). They are read as text (the
// string converter: an optional string schema) and wrapped into a struct
// {doc: text} by HoistField$Value; the sink upserts them by their Kafka
// coordinates (pk.mode=kafka, insert.mode=upsert) into a table it creates,
// so records delivered again after a crash overwrite their rows and every
// record is in the table exactly once. The string converter reads
// anything, so the suite's converter-poison scenario does not apply
// (records the database refuses are dead-lettered: TestSinkDebeziumReplay
// and TestSink/constraint).
func TestConformance(t *testing.T) {
	t.Parallel()
	pg := testdb.StartPostgres(t)
	e := &env{kind: dialectPostgres, pg: pg}
	reg := conformanceRegistry(t)
	t.Run("source", func(t *testing.T) {
		t.Parallel()
		var d *testDB
		connectortest.TestSource(t, connectortest.Source{
			Plugins: reg,
			Config: func(t *testing.T, topic string) map[string]any {
				d = e.newDB(t)
				d.exec("CREATE TABLE items (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, d DATE)")
				return map[string]any{"type": "jdbc", "connection.url": d.url, "mode": "incrementing",
					"table.whitelist": "items", "topic.prefix": "",
					"transforms": "route", "transforms.route.type": "RegexRouter",
					"transforms.route.regex": "items", "transforms.route.replacement": topic,
					"poll.interval.ms": 20, "batch.max.rows": 50,
					"value.converter": "json", "value.converter.schemas.enable": false}
			},
			Append: func(t *testing.T, from, n int) []string {
				ids := make([]string, n)
				var values []string
				for i := range ids {
					ids[i] = fmt.Sprintf("item-%05d", from+i)
					values = append(values, fmt.Sprintf("('%s', '2024-01-01')", ids[i]))
				}
				d.exec("INSERT INTO items (name, d) VALUES " + strings.Join(values, ", "))
				return ids
			},
			ID: func(r *kgo.Record) string {
				var v struct{ Name string }
				if err := json.Unmarshal(r.Value, &v); err != nil {
					return "undecodable: " + string(r.Value)
				}
				return v.Name
			},
			Poison:      func(t *testing.T) { d.exec("INSERT INTO items (name, d) VALUES ('poison', 'infinity')") },
			ExactlyOnce: true,
		})
	})
	t.Run("sink", func(t *testing.T) {
		t.Parallel()
		var d *testDB
		connectortest.TestSink(t, connectortest.Sink{
			Plugins: reg,
			Config: func(t *testing.T) map[string]any {
				d = e.newDB(t)
				return map[string]any{"type": "jdbc", "connection.url": d.url, "table.name.format": "docs",
					"insert.mode": "upsert", "pk.mode": "kafka", "auto.create": true,
					"transforms": "wrap", "transforms.wrap.type": "HoistField$Value", "transforms.wrap.field": "doc",
					"key.converter": "string", "value.converter": "string"}
			},
			Written: func(t *testing.T) []string {
				var ids []string
				if !tableExistsNamed(d, "docs") {
					return nil
				}
				for _, r := range d.rows("SELECT doc FROM docs") {
					var v struct{ ID string }
					if err := json.Unmarshal([]byte(r), &v); err != nil {
						t.Fatalf("row %q: %v", r, err)
					}
					ids = append(ids, v.ID)
				}
				return ids
			},
			SkipPoison:  true,
			ExactlyOnce: true,
		})
	})
}

// TestSinkRedelivery crashes the worker running an upsert sink (with
// deletes) after it wrote records whose consumer offsets were never
// committed, restarts it, and checks that the table holds exactly the
// final state of every key: the records written twice changed nothing.
func TestSinkRedelivery(t *testing.T) {
	t.Parallel()
	pg := testdb.StartPostgres(t)
	d := (&env{kind: dialectPostgres, pg: pg}).newDB(t)
	b := testbroker.New(t)
	b.CreateTopic(t, "orders", 4, nil)

	keySchema := connectors.NewStruct("key").Field("id", connectors.Int64Schema()).MustBuild()
	valSchema := connectors.NewStruct("order").Field("id", connectors.Int64Schema()).
		Field("status", connectors.StringSchema()).Field("amount", connectors.DecimalSchema(2)).MustBuild()
	final := map[int64]string{}
	var recs []*kgo.Record
	for i := 0; i < 600; i++ {
		id := int64(i % 40)
		key, _ := connectjson.AppendEnvelope(nil, keySchema, connectors.NewStructValue(keySchema).Put("id", id), connectjson.Options{})
		r := &kgo.Record{Topic: "orders", Key: key}
		if i%7 == 3 {
			delete(final, id) // a tombstone
		} else {
			status := fmt.Sprintf("s%d", i)
			v := connectors.NewStructValue(valSchema).Put("id", id).Put("status", status).Put("amount", ratOf(int64(i), 100))
			r.Value, _ = connectjson.AppendEnvelope(nil, valSchema, v, connectjson.Options{})
			final[id] = fmt.Sprintf("%d|%s|%d.%02d", id, status, i/100, i%100)
		}
		recs = append(recs, r)
	}
	var want []string
	for _, v := range final {
		want = append(want, v)
	}
	sort.Strings(want)

	w, err := worker.New(worker.Config{Brokers: []string{b.Addr()}, Plugins: conformanceRegistry(t), Guarantee: core.AtLeastOnce,
		SessionTimeout: 2 * time.Second, Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	cfg := map[string]any{"name": "orders-sink", "type": "jdbc", "topics": "orders", "connection.url": d.url,
		"table.name.format": "orders", "insert.mode": "upsert", "pk.mode": "record_key", "delete.enabled": true,
		"auto.create": true, "consumer.max.poll.records": 25,
		// Consumer offsets are not committed before the crash: everything
		// written is delivered again.
		"offset.flush.interval.ms": 3600000,
		"key.converter":            "json", "key.converter.schemas.enable": true,
		"value.converter": "json", "value.converter.schemas.enable": true}
	b.Produce(t, recs...)
	c, err := w.StartSink(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "rows written before the crash", 30*time.Second, func() bool {
		return tableExists(d) && len(d.rows("SELECT id FROM orders")) > 0
	})
	c.Crash()
	if c, err = w.StartSink(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	var got []string
	testwait.Until(t, "the final state", 30*time.Second, func() bool {
		got = d.rows("SELECT id, status, amount FROM orders")
		return strings.Join(got, ",") == strings.Join(want, ",")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got = d.rows("SELECT id, status, amount FROM orders"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("table after the restart:\n%v\nwant\n%v", got, want)
	}
}

func ratOf(n, d int64) *big.Rat { return big.NewRat(n, d) }

func tableExists(d *testDB) bool { return tableExistsNamed(d, "orders") }

func tableExistsNamed(d *testDB, name string) bool {
	var n int
	_ = d.db.QueryRow("SELECT count(*) FROM information_schema.tables WHERE table_name = $1", name).Scan(&n)
	return n == 1
}
