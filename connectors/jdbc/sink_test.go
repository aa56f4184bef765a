package jdbc

import (
	"context"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

var (
	itemKey = connectors.NewStruct("itemKey").Field("id", connectors.Int64Schema()).MustBuild()
	itemV1  = connectors.NewStruct("item").
		Field("id", connectors.Int64Schema()).
		Field("name", connectors.StringSchema()).
		Field("qty", connectors.OptionalOf(connectors.Int32Schema())).MustBuild()
	itemV2 = connectors.NewStruct("item").
		Field("id", connectors.Int64Schema()).
		Field("name", connectors.StringSchema()).
		Field("qty", connectors.OptionalOf(connectors.Int32Schema())).
		Field("note", connectors.OptionalOf(connectors.StringSchema())).MustBuild()
)

var offsetSeq atomic.Int64

// item is a record of topic "items" keyed by id.
func item(id int64, name string, qty any) *connectors.Record {
	v := connectors.NewStructValue(itemV1).Put("id", id).Put("name", name).Put("qty", qty)
	return &connectors.Record{Topic: "items", Partition: 0, Offset: offsetSeq.Add(1),
		KeySchema: itemKey, Key: connectors.NewStructValue(itemKey).Put("id", id), ValueSchema: itemV1, Value: v}
}

func tombstone(id int64) *connectors.Record {
	return &connectors.Record{Topic: "items", Partition: 0, Offset: offsetSeq.Add(1),
		KeySchema: itemKey, Key: connectors.NewStructValue(itemKey).Put("id", id)}
}

func snkConfig(d *testDB, kv ...any) map[string]any {
	cfg := map[string]any{"connection.url": d.url, "auto.create": true, "retry.backoff.ms": 10}
	for i := 0; i < len(kv); i += 2 {
		cfg[kv[i].(string)] = kv[i+1]
	}
	return cfg
}

func wantRows(t *testing.T, got []string, expected ...string) {
	t.Helper()
	if strings.Join(got, " ; ") != strings.Join(expected, " ; ") {
		t.Fatalf("table holds\n  %v\nwant\n  %v", got, expected)
	}
}

func TestSink(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		t.Run("upsert+deletes", func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			task, sc := newSinkTask(t, snkConfig(d, "insert.mode", "upsert", "pk.mode", "record_key", "delete.enabled", true))
			// A tombstone for a table that does not exist deletes nothing
			// and creates nothing (a table of key columns only would need
			// auto.evolve for every value column).
			put(t, task, tombstone(9))
			if info, _ := task.d.describeTable(context.Background(), d.db, tableID{name: "items"}); info != nil {
				t.Fatal("a tombstone created the table")
			}
			put(t, task, item(1, "a", int32(1)), item(2, "b", nil), item(3, "c", int32(3)), tombstone(9))
			wantRows(t, d.rows("SELECT id, name, qty FROM items"), "1|a|1", "2|b|NULL", "3|c|3")
			// One put: an update, a delete, a key written then deleted then
			// written again, a key written twice (the last wins).
			put(t, task, item(1, "a2", int32(10)), tombstone(2),
				item(4, "d", nil), tombstone(4), item(4, "d2", int32(4)),
				item(5, "e", nil), item(5, "e2", nil), tombstone(3))
			wantRows(t, d.rows("SELECT id, name, qty FROM items"), "1|a2|10", "4|d2|4", "5|e2|NULL")
			// Delivered again (after a crash): the same table.
			put(t, task, item(1, "a2", int32(10)), tombstone(2), item(4, "d", nil), tombstone(4), item(4, "d2", int32(4)),
				item(5, "e", nil), item(5, "e2", nil), tombstone(3))
			wantRows(t, d.rows("SELECT id, name, qty FROM items"), "1|a2|10", "4|d2|4", "5|e2|NULL")
			if len(sc.reports()) != 0 {
				t.Fatalf("reports %v", sc.reports())
			}
			// The created table's key is the record key.
			info, err := task.d.describeTable(context.Background(), d.db, tableID{name: "items"})
			if err != nil {
				t.Fatal(err)
			}
			if pk := info.primaryKey(); !reflect.DeepEqual(pk, []string{"id"}) {
				t.Fatalf("primary key %v", pk)
			}
		})
		t.Run("insert", func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			task, sc := newSinkTask(t, snkConfig(d))
			put(t, task, item(1, "a", nil), item(1, "a", nil))
			wantRows(t, d.rows("SELECT id, name, qty FROM items"), "1|a|NULL", "1|a|NULL") // no key: duplicates
			// A tombstone without delete.enabled is a record error.
			put(t, task, tombstone(1), item(2, "b", nil))
			if r := sc.reports(); len(r) != 1 || r[0].rec.Value != nil || !strings.Contains(r[0].err.Error(), "delete.enabled") {
				t.Fatalf("reports %v", r)
			}
		})
		t.Run("insert-duplicate-key", func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			task, sc := newSinkTask(t, snkConfig(d, "pk.mode", "record_value", "pk.fields", "id"))
			put(t, task, item(1, "a", nil))
			dup := item(1, "again", nil)
			put(t, task, item(2, "b", nil), dup, item(3, "c", nil))
			wantRows(t, d.rows("SELECT id, name FROM items"), "1|a", "2|b", "3|c")
			if r := sc.reports(); len(r) != 1 || r[0].rec != dup {
				t.Fatalf("reports %v, want the duplicate", r)
			}
			// errors.tolerance=none: Put fails, nothing of the put is written.
			sc.strict = true
			err := task.Put(context.Background(), []*connectors.Record{item(4, "d", nil), item(2, "b again", nil)})
			if err == nil || !strings.Contains(err.Error(), "errors.tolerance=none") {
				t.Fatalf("Put = %v", err)
			}
			wantRows(t, d.rows("SELECT id, name FROM items"), "1|a", "2|b", "3|c")
		})
		t.Run("update", func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			d.exec("CREATE TABLE items (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(20) NOT NULL, qty INT)")
			d.exec("INSERT INTO items VALUES (1, 'a', 1), (2, 'b', 2)")
			task, _ := newSinkTask(t, snkConfig(d, "insert.mode", "update", "pk.mode", "record_key"))
			put(t, task, item(1, "a2", nil), item(3, "not there", nil), item(2, "b2", int32(20)), item(2, "b3", int32(30)))
			wantRows(t, d.rows("SELECT id, name, qty FROM items"), "1|a2|NULL", "2|b3|30")
		})
		t.Run("pk.mode=kafka", func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			task, _ := newSinkTask(t, snkConfig(d, "insert.mode", "upsert", "pk.mode", "kafka", "fields.whitelist", "name"))
			recs := []*connectors.Record{item(1, "a", nil), item(1, "a-again", nil)}
			put(t, task, recs...)
			put(t, task, recs...) // redelivered: upserted in place
			got := d.rows("SELECT __connect_topic, __connect_partition, name FROM items")
			wantRows(t, got, "items|0|a", "items|0|a-again")
			if cols := d.rows(d.ddl(
				"SELECT column_name FROM information_schema.columns WHERE table_name = 'items'",
				"SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'items'",
				"SELECT name FROM pragma_table_info('items')")); len(cols) != 4 {
				t.Fatalf("columns %v: want the three Kafka columns and name (fields.whitelist)", cols)
			}
		})
		t.Run("auto.evolve", func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			task, _ := newSinkTask(t, snkConfig(d, "insert.mode", "upsert", "pk.mode", "record_value", "pk.fields", "id", "auto.evolve", true))
			put(t, task, item(1, "a", nil))
			v2 := func(id int64, name, note string) *connectors.Record {
				return &connectors.Record{Topic: "items", ValueSchema: itemV2,
					Value: connectors.NewStructValue(itemV2).Put("id", id).Put("name", name).Put("note", note)}
			}
			// A field added mid-stream (in one put with old records) adds a
			// nullable column.
			put(t, task, item(2, "b", nil), v2(3, "c", "new"), item(4, "d", int32(4)))
			wantRows(t, d.rows("SELECT id, name, qty, note FROM items"), "1|a|NULL|NULL", "2|b|NULL|NULL", "3|c|NULL|new", "4|d|4|NULL")
			// Without auto.evolve a missing column is a record error.
			strictTask, sc := newSinkTask(t, snkConfig(d, "insert.mode", "upsert", "pk.mode", "record_value", "pk.fields", "id", "table.name.format", "items"))
			other := connectors.NewStruct("item").Field("id", connectors.Int64Schema()).Field("extra", connectors.StringSchema()).MustBuild()
			put(t, strictTask, &connectors.Record{Topic: "x", ValueSchema: other, Value: connectors.NewStructValue(other).Put("id", int64(9)).Put("extra", "x")})
			if r := sc.reports(); len(r) != 1 || !strings.Contains(r[0].err.Error(), "auto.evolve") {
				t.Fatalf("reports %v", r)
			}
		})
		t.Run("schemaless", func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			d.exec("CREATE TABLE docs (id VARCHAR(20) NOT NULL PRIMARY KEY, n BIGINT)")
			// Schemaless values (JSON objects read without schemas) and
			// keys are record errors, as with Confluent's sink; the other
			// records of the put are written.
			task, sc := newSinkTask(t, snkConfig(d, "insert.mode", "upsert", "pk.mode", "record_value", "pk.fields", "id", "table.name.format", "docs"))
			doc := &connectors.Record{Topic: "t", Value: map[string]any{"id": "a", "n": int64(1)}}
			docSchema := connectors.NewStruct("doc").Field("id", connectors.StringSchema()).Field("n", connectors.OptionalOf(connectors.Int64Schema())).MustBuild()
			good := &connectors.Record{Topic: "t", ValueSchema: docSchema, Value: connectors.NewStructValue(docSchema).Put("id", "b").Put("n", int64(2))}
			primitive := &connectors.Record{Topic: "t", ValueSchema: connectors.StringSchema(), Value: "text"}
			put(t, task, doc, good, primitive)
			wantRows(t, d.rows("SELECT id, n FROM docs"), "b|2")
			r := sc.reports()
			if len(r) != 2 || r[0].rec != doc || !strings.Contains(r[0].err.Error(), "no schema (a schemaless JSON object)") ||
				!strings.Contains(r[0].err.Error(), "schemas.enable=true") || r[1].rec != primitive || !strings.Contains(r[1].err.Error(), "not a struct") {
				t.Fatalf("reports %v", r)
			}
			keyed, sc2 := newSinkTask(t, snkConfig(d, "insert.mode", "upsert", "pk.mode", "record_key", "table.name.format", "docs"))
			noKeySchema := &connectors.Record{Topic: "t", Key: map[string]any{"id": "c"}, ValueSchema: docSchema,
				Value: connectors.NewStructValue(docSchema).Put("id", "c").Put("n", int64(3))}
			put(t, keyed, noKeySchema)
			if r := sc2.reports(); len(r) != 1 || !strings.Contains(r[0].err.Error(), "key has no schema") {
				t.Fatalf("reports %v", r)
			}
		})
		t.Run("constraint", func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			d.exec("CREATE TABLE items (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(5) NOT NULL, qty INT CHECK (qty > 0))")
			task, sc := newSinkTask(t, snkConfig(d, "insert.mode", "upsert", "pk.mode", "record_key"))
			negative := item(2, "b", int32(-1))
			put(t, task, item(1, "a", int32(1)), negative, item(3, "c", int32(3)))
			wantRows(t, d.rows("SELECT id, name, qty FROM items"), "1|a|1", "3|c|3")
			if r := sc.reports(); len(r) != 1 || r[0].rec != negative {
				t.Fatalf("reports %v", r)
			}
		})
	})
}
