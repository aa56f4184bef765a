package mysqlcdc_test

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
)

// stripVersions removes "version" from schema objects: Debezium's
// documentation leaves schema versions out, the JSON converter writes them.
func stripVersions(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if k == "version" {
				if _, isNum := e.(json.Number); isNum {
					continue
				}
			}
			out[k] = stripVersions(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = stripVersions(e)
		}
		return out
	}
	return v
}

func fieldsByName(schema map[string]any) ([]string, map[string]map[string]any) {
	var order []string
	byName := map[string]map[string]any{}
	for _, f := range schema["fields"].([]any) {
		fm := f.(map[string]any)
		name := fm["field"].(string)
		order = append(order, name)
		byName[name] = fm
	}
	return order, byName
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestGoldenDebeziumEvent compares the connector's key and value, written
// by the JSON converter with schemas, with Debezium's documented MySQL
// create event (testdata), decoded by a plain JSON reader. Differences
// that are Debezium's own (its documentation predates its 2.x schema) are
// listed and checked explicitly: source.snapshot is a string enum
// (io.debezium.data.Enum, as Debezium's SnapshotRecord), the envelope has
// transaction, ts_us and ts_ns and the source block sequence, ts_us and
// ts_ns (Debezium 2.x); values that depend on the run (times, positions,
// server id) are checked for type only; MariaDB logs no thread id for row
// changes.
func TestGoldenDebeziumEvent(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/debezium-mysql-create-event.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Key, Value map[string]any
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	golden.Key = decodeJSON(t, []byte(jsonText(golden.Key)))
	golden.Value = decodeJSON(t, []byte(jsonText(golden.Value)))

	e := newEnv(t)
	e.exec(t, "CREATE DATABASE inventory CHARACTER SET utf8mb4",
		`CREATE TABLE inventory.customers (
		  id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY,
		  first_name VARCHAR(255) NOT NULL,
		  last_name VARCHAR(255) NOT NULL,
		  email VARCHAR(255) NOT NULL UNIQUE KEY
		) AUTO_INCREMENT=1001`,
		"INSERT INTO inventory.customers (first_name, last_name, email) VALUES ('Sally', 'Thomas', 'sally.thomas@acme.com'), ('George', 'Bailey', 'gbailey@foobar.com'), ('Edward', 'Walker', 'ed@walker.com')")
	topic := "mysql-server-1.inventory.customers"
	e.topics(t, topic)
	w := e.worker(t, core.ExactlyOnceV2)
	c := startSource(t, w, e.config("golden", "mysql-server-1", "database.include.list", "inventory", "include.query", true))
	e.waitEvents(t, topic, 3, 60*time.Second)
	// The documented statement, in the documented database.
	conn, err := e.sql.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"USE inventory", "INSERT INTO customers (first_name, last_name, email) VALUES ('Anne', 'Kretchmar', 'annek@noanswer.org')"} {
		if _, err := conn.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	recs := e.b.ReadAll(t, topic)
	for len(recs) < 4 {
		time.Sleep(100 * time.Millisecond)
		recs = e.b.ReadAll(t, topic)
	}
	stop(t, c)
	var key, value map[string]any
	for _, r := range recs {
		v := decodeJSON(t, r.Value)
		if v["payload"].(map[string]any)["op"] == "c" {
			key, value = decodeJSON(t, r.Key), v
		}
	}
	if value == nil {
		t.Fatal("no create event")
	}

	// The key: exactly the documented one.
	if got, want := stripVersions(key), stripVersions(golden.Key); !reflect.DeepEqual(got, want) {
		t.Errorf("key:\n got  %s\n want %s", jsonText(got), jsonText(want))
	}

	// The value schema: the documented fields in the documented order,
	// each identical, source field by field.
	gotSchema := stripVersions(value["schema"]).(map[string]any)
	wantSchema := golden.Value["schema"].(map[string]any)
	for _, k := range []string{"type", "name", "optional"} {
		if gotSchema[k] != wantSchema[k] {
			t.Errorf("envelope schema %s: got %v, want %v", k, gotSchema[k], wantSchema[k])
		}
	}
	gotOrder, gotFields := fieldsByName(gotSchema)
	wantOrder, wantFields := fieldsByName(wantSchema)
	checkOrder := func(what string, got, want []string, extra map[string]bool) {
		i := 0
		for _, f := range got {
			if i < len(want) && f == want[i] {
				i++
			} else if !extra[f] {
				t.Errorf("%s: field %s is not documented", what, f)
			}
		}
		if i != len(want) {
			t.Errorf("%s: fields %v, want the documented %v in order", what, got, want)
		}
	}
	checkOrder("envelope", gotOrder, wantOrder, map[string]bool{"transaction": true, "ts_us": true, "ts_ns": true})
	for _, f := range wantOrder {
		if f == "source" {
			continue
		}
		if !reflect.DeepEqual(gotFields[f], wantFields[f]) {
			t.Errorf("envelope field %s:\n got  %s\n want %s", f, jsonText(gotFields[f]), jsonText(wantFields[f]))
		}
	}
	gotSrc, wantSrc := gotFields["source"], wantFields["source"]
	for _, k := range []string{"type", "name", "optional"} {
		if gotSrc[k] != wantSrc[k] {
			t.Errorf("source schema %s: got %v, want %v", k, gotSrc[k], wantSrc[k])
		}
	}
	gotSrcOrder, gotSrcFields := fieldsByName(gotSrc)
	wantSrcOrder, wantSrcFields := fieldsByName(wantSrc)
	checkOrder("source", gotSrcOrder, wantSrcOrder, map[string]bool{"sequence": true, "ts_us": true, "ts_ns": true})
	for _, f := range wantSrcOrder {
		got, want := gotSrcFields[f], wantSrcFields[f]
		if f == "snapshot" {
			if got["type"] != "string" || got["name"] != "io.debezium.data.Enum" || got["optional"] != true || got["default"] != "false" {
				t.Errorf("source.snapshot: %s, want Debezium's optional enum defaulting to \"false\"", jsonText(got))
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("source field %s:\n got  %s\n want %s", f, jsonText(got), jsonText(want))
		}
	}

	// The payload.
	gotPay := value["payload"].(map[string]any)
	wantPay := golden.Value["payload"].(map[string]any)
	for _, k := range []string{"op", "before", "after"} {
		if !reflect.DeepEqual(gotPay[k], wantPay[k]) {
			t.Errorf("payload %s: got %s, want %s", k, jsonText(gotPay[k]), jsonText(wantPay[k]))
		}
	}
	if _, ok := gotPay["ts_ms"].(json.Number); !ok {
		t.Errorf("payload ts_ms %v", gotPay["ts_ms"])
	}
	gs, ws := gotPay["source"].(map[string]any), wantPay["source"].(map[string]any)
	for _, k := range []string{"connector", "name", "db", "table", "row", "query"} {
		if !reflect.DeepEqual(gs[k], ws[k]) {
			t.Errorf("source.%s: got %v, want %v", k, gs[k], ws[k])
		}
	}
	if gs["snapshot"] != "false" || gs["version"] == "" {
		t.Errorf("source snapshot %v version %v", gs["snapshot"], gs["version"])
	}
	for _, k := range []string{"ts_ms", "server_id", "pos"} {
		if _, ok := gs[k].(json.Number); !ok {
			t.Errorf("source.%s = %v, want a number", k, gs[k])
		}
	}
	if f, _ := gs["file"].(string); f == "" {
		t.Errorf("source.file %v", gs["file"])
	}
	if g, _ := gs["gtid"].(string); g == "" {
		t.Errorf("source.gtid %v, want MariaDB's GTID", gs["gtid"])
	}
}
