package mysqlcdc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testwait"
)

// afterFields lists the fields of an event's after (or before) schema.
func afterFields(ev event) []string {
	var out []string
	for _, f := range ev.schema["fields"].([]any) {
		fm := f.(map[string]any)
		if fm["field"] == "after" {
			for _, cf := range fm["fields"].([]any) {
				out = append(out, cf.(map[string]any)["field"].(string))
			}
		}
	}
	return out
}

// TestSchemaChanges: ADD and DROP COLUMN while streaming and while the
// connector is down (so the catalog no longer describes the older events),
// and a crash right after a DDL: every event is decoded with the table's
// structure as of its binlog position.
func TestSchemaChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.exec(t, "CREATE DATABASE inv",
		"CREATE TABLE inv.items (id INT PRIMARY KEY, a INT)",
		"INSERT INTO inv.items VALUES (1, 10)")
	topic := "ddl.inv.items"
	e.topics(t, topic, "ddl")
	w := e.worker(t, core.ExactlyOnceV2)
	cfg := e.config("ddl", "ddl", "database.include.list", "inv")
	c := startSource(t, w, cfg)
	e.waitEvents(t, topic, 1, 60*time.Second)

	// Live: a column added while streaming, rows before and after.
	e.exec(t, "INSERT INTO inv.items VALUES (2, 20)",
		"ALTER TABLE inv.items ADD COLUMN c VARCHAR(10) AFTER id",
		"INSERT INTO inv.items VALUES (3, 'x', 30)")
	e.waitEvents(t, topic, 3, 60*time.Second)

	// A crash right after a DDL was committed, before its table's next
	// events.
	e.exec(t, "ALTER TABLE inv.items ADD COLUMN d DATE")
	testwait.Until(t, "the schema change event for ADD COLUMN d", 30*time.Second, func() bool {
		for _, ev := range e.events(t, "ddl") {
			if strings.Contains(str(ev.value["ddl"]), "ADD COLUMN d") {
				return true
			}
		}
		return false
	})
	c.Crash()
	e.exec(t, "INSERT INTO inv.items VALUES (4, 'y', 40, '2024-05-06')")
	c = startSource(t, w, cfg)
	e.waitEvents(t, topic, 4, 60*time.Second)
	stop(t, c)

	// Down: DDL and rows while the connector is stopped. At restart the
	// catalog has (id, c, d) only; the events need (id, c, a, d) first.
	e.exec(t, "INSERT INTO inv.items VALUES (5, 'z', 50, NULL)",
		"ALTER TABLE inv.items DROP COLUMN a",
		"INSERT INTO inv.items VALUES (6, 'w', '2024-07-08')",
		"UPDATE inv.items SET c = 'v' WHERE id = 3",
		"ALTER TABLE inv.items CHANGE COLUMN c name VARCHAR(20)",
		"INSERT INTO inv.items VALUES (7, 'q', NULL)")
	c = startSource(t, w, cfg)
	evs := e.waitEvents(t, topic, 8, 60*time.Second)
	stop(t, c)

	want := []struct {
		op     string
		id     string
		fields string
		after  map[string]string
	}{
		{"r", "1", "id,a", map[string]string{"a": "10"}},
		{"c", "2", "id,a", map[string]string{"a": "20"}},
		{"c", "3", "id,c,a", map[string]string{"c": "x", "a": "30"}},
		{"c", "4", "id,c,a,d", map[string]string{"c": "y", "a": "40", "d": days(2024, 5, 6)}},
		{"c", "5", "id,c,a,d", map[string]string{"c": "z", "a": "50", "d": "null"}},
		{"c", "6", "id,c,d", map[string]string{"c": "w", "d": days(2024, 7, 8)}},
		{"u", "3", "id,c,d", map[string]string{"c": "v", "d": "null"}},
		{"c", "7", "id,name,d", map[string]string{"name": "q"}},
	}
	// One partition per key: order across keys is by partition, so match
	// by (op, id).
	got := map[string]event{}
	for _, ev := range evs {
		k := ev.op() + str(ev.key["id"])
		if _, dup := got[k]; dup {
			t.Errorf("event %s twice", k)
		}
		got[k] = ev
	}
	if len(evs) != len(want) {
		t.Errorf("%d events, want %d", len(evs), len(want))
	}
	for _, w := range want {
		ev, ok := got[w.op+w.id]
		if !ok {
			t.Errorf("no %s event for id %s", w.op, w.id)
			continue
		}
		if f := strings.Join(afterFields(ev), ","); f != w.fields {
			t.Errorf("%s %s: fields %s, want %s", w.op, w.id, f, w.fields)
		}
		for col, v := range w.after {
			if g := str(ev.after()[col]); g != v {
				t.Errorf("%s %s: %s = %s, want %s", w.op, w.id, col, g, v)
			}
		}
	}
	// The before image of the update has the structure of its time too.
	if u := got["u3"]; str(u.before()["c"]) != "x" || str(u.before()["d"]) != "null" {
		t.Errorf("update's before: %v", u.before())
	}

	// Schema change events: the snapshot's CREATE, then every DDL once.
	var ddls []string
	for _, ev := range e.events(t, "ddl") {
		if ev.key["databaseName"] != "inv" {
			t.Errorf("schema change key %v", ev.key)
		}
		changes := ev.value["tableChanges"].([]any)
		ch := changes[0].(map[string]any)
		ddls = append(ddls, ch["type"].(string)+" "+strings.Fields(str(ev.value["ddl"]))[0])
		if ch["id"] != `"inv"."items"` {
			t.Errorf("table change id %v", ch["id"])
		}
	}
	if strings.Join(ddls, ",") != "CREATE CREATE,ALTER ALTER,ALTER ALTER,ALTER ALTER,ALTER ALTER" {
		t.Errorf("schema change events: %v", ddls)
	}
	last := e.events(t, "ddl")
	cols := last[len(last)-1].value["tableChanges"].([]any)[0].(map[string]any)["table"].(map[string]any)["columns"].([]any)
	var names []string
	for _, c := range cols {
		names = append(names, c.(map[string]any)["name"].(string))
	}
	if strings.Join(names, ",") != "id,name,d" {
		t.Errorf("last table change columns %v", names)
	}
	// The history topic holds one record per version.
	if h := e.events(t, "ddl.schema-history"); len(h) != 5 {
		t.Errorf("%d schema history records, want 5", len(h))
	}
}
