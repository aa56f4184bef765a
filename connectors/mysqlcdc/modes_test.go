package mysqlcdc_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testwait"
)

func ops(evs []event) string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.op()+str(ev.key["id"]))
	}
	return strings.Join(out, ",")
}

// countOps counts events by op.
func countOps(evs []event) map[string]int {
	m := map[string]int{}
	for _, ev := range evs {
		m[ev.op()]++
	}
	return m
}

// TestSnapshotModes covers initial_only, no_data, always and when_needed.
func TestSnapshotModes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.exec(t, "CREATE DATABASE sm", "CREATE TABLE sm.t (id INT PRIMARY KEY, v INT)", "INSERT INTO sm.t VALUES (1, 1), (2, 2)")
	w := e.worker(t, core.ExactlyOnceV2)

	t.Run("initial_only", func(t *testing.T) {
		e.topics(t, "io.sm.t")
		c := startSource(t, w, e.config("io", "io", "database.include.list", "sm", "snapshot.mode", "initial_only"))
		select {
		case <-c.Done():
		case <-time.After(30 * time.Second):
			t.Fatal("initial_only did not finish")
		}
		if st := c.Status(); st.Tasks[0].State != worker.StateFinished {
			t.Fatalf("status %+v", st)
		}
		if got := countOps(e.events(t, "io.sm.t")); got["r"] != 2 || len(got) != 1 {
			t.Errorf("events %v", got)
		}
	})

	t.Run("no_data", func(t *testing.T) {
		e.topics(t, "nd.sm.t", "__debezium-heartbeat.nd")
		c := startSource(t, w, e.config("nd", "nd", "database.include.list", "sm", "snapshot.mode", "no_data"))
		// The snapshot without rows records its position with a heartbeat.
		e.waitEvents(t, "__debezium-heartbeat.nd", 1, 60*time.Second)
		e.exec(t, "INSERT INTO sm.t VALUES (3, 3)")
		evs := e.waitEvents(t, "nd.sm.t", 1, 60*time.Second)
		stop(t, c)
		if ops(evs) != "c3" {
			t.Errorf("events %s", ops(evs))
		}
		// Restarted, it continues from its position, without a snapshot.
		e.exec(t, "INSERT INTO sm.t VALUES (4, 4)")
		c = startSource(t, w, e.config("nd", "nd", "database.include.list", "sm", "snapshot.mode", "no_data"))
		evs = e.waitEvents(t, "nd.sm.t", 2, 60*time.Second)
		stop(t, c)
		if got := countOps(evs); got["c"] != 2 || len(got) != 1 {
			t.Errorf("after a restart: %v", got)
		}
	})

	t.Run("always", func(t *testing.T) {
		e.topics(t, "al.sm.t")
		cfg := e.config("al", "al", "database.include.list", "sm", "snapshot.mode", "always")
		c := startSource(t, w, cfg)
		n := len(e.waitEvents(t, "al.sm.t", 4, 60*time.Second))
		stop(t, c)
		c = startSource(t, w, cfg)
		evs := e.waitEvents(t, "al.sm.t", 2*n, 60*time.Second)
		stop(t, c)
		if got := countOps(evs); got["r"] != 2*n {
			t.Errorf("two snapshots: %v", got)
		}
	})

	t.Run("when_needed", func(t *testing.T) {
		e.topics(t, "wn.sm.t")
		cfg := e.config("wn", "wn", "database.include.list", "sm", "snapshot.mode", "when_needed")
		c := startSource(t, w, cfg)
		n := len(e.waitEvents(t, "wn.sm.t", 4, 60*time.Second))
		stop(t, c)
		// The binlog is still there: no snapshot.
		e.exec(t, "INSERT INTO sm.t VALUES (5, 5)")
		c = startSource(t, w, cfg)
		e.waitEvents(t, "wn.sm.t", n+1, 60*time.Second)
		stop(t, c)
		// The binlog is purged: a new snapshot.
		// A purge leaves files a (just stopped) reader still holds: retry
		// until the first file is gone.
		var file string
		var pos int64
		var x1, x2 string
		e.exec(t, "FLUSH BINARY LOGS")
		if err := e.sql.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &x1, &x2); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			e.exec(t, "PURGE BINARY LOGS TO '"+file+"'")
			var first string
			if err := e.sql.QueryRow("SHOW BINARY LOGS").Scan(&first, new(any)); err != nil {
				t.Fatal(err)
			}
			if first == file {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("binlogs before %s not purged (first is %s)", file, first)
			}
			time.Sleep(100 * time.Millisecond)
		}
		c = startSource(t, w, cfg)
		evs := e.waitEvents(t, "wn.sm.t", n+1+5, 60*time.Second)
		stop(t, c)
		if got := countOps(evs); got["r"] != n+5 || got["c"] != 1 {
			t.Errorf("after the purge: %v", got)
		}
	})
}

// TestHeartbeats: a captured table stays idle while another is busy; the
// heartbeats carry the binlog position, so the committed offset follows
// the binlog.
func TestHeartbeats(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.exec(t, "CREATE DATABASE hb", "CREATE TABLE hb.idle (id INT PRIMARY KEY)", "CREATE TABLE hb.busy (id INT PRIMARY KEY)")
	e.topics(t, "hb.hb.idle", "__debezium-heartbeat.hb")
	w := e.worker(t, core.ExactlyOnceV2)
	c := startSource(t, w, e.config("hb", "hb", "table.include.list", "hb.idle", "heartbeat.interval.ms", 100))
	e.waitEvents(t, "__debezium-heartbeat.hb", 1, 60*time.Second)
	start := committedPos(t, e, "hb")
	for i := 0; i < 200; i++ {
		e.exec(t, fmt.Sprintf("INSERT INTO hb.busy VALUES (%d)", i))
	}
	testwait.Until(t, "the committed position to move 10000 past the start", 30*time.Second, func() bool {
		return committedPos(t, e, "hb") > start+10000
	}, testwait.Detail(func() string { return fmt.Sprintf("the committed position stays at %d", committedPos(t, e, "hb")) }))
	stop(t, c)
	hb := e.events(t, "__debezium-heartbeat.hb")
	if hb[0].key["serverName"] != "hb" || hb[0].value["ts_ms"] == nil {
		t.Errorf("heartbeat %v %v", hb[0].key, hb[0].value)
	}
	if n := len(e.events(t, "hb.hb.idle")); n != 0 {
		t.Errorf("%d events of the idle table", n)
	}
}

// committedPos reads the connector's committed binlog position (within
// its file) from the offsets topic.
func committedPos(t *testing.T, e *env, name string) int64 {
	t.Helper()
	var pos int64
	for _, r := range e.b.ReadAll(t, worker.DefaultOffsetsTopic) {
		var key []json.RawMessage
		if json.Unmarshal(r.Key, &key) != nil || len(key) != 2 || string(key[0]) != `"`+name+`"` || strings.Contains(string(key[1]), "table") {
			continue
		}
		var off struct{ Pos int64 }
		if json.Unmarshal(r.Value, &off) == nil {
			pos = off.Pos
		}
	}
	return pos
}

// TestConfigVariants: tombstones off, skipped updates, custom keys,
// excluded columns, and the decimal, binary and time modes.
func TestConfigVariants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.exec(t, "CREATE DATABASE cv",
		"CREATE TABLE cv.t (id INT PRIMARY KEY, code VARCHAR(5) NOT NULL, secret VARCHAR(10), amount DECIMAL(6,2), raw VARBINARY(4), d DATE, tm TIME(6), dt DATETIME(6))",
		"INSERT INTO cv.t (id, code) VALUES (0, 'A0')")
	e.topics(t, "cv.cv.t")
	w := e.worker(t, core.ExactlyOnceV2)
	c := startSource(t, w, e.config("cv", "cv", "database.include.list", "cv",
		"tombstones.on.delete", false, "skipped.operations", "u",
		"message.key.columns", "cv.t:code", "column.exclude.list", "cv\\.t\\.secret",
		"decimal.handling.mode", "string", "binary.handling.mode", "hex", "time.precision.mode", "connect"))
	e.waitEvents(t, "cv.cv.t", 1, 60*time.Second)
	e.exec(t, "INSERT INTO cv.t VALUES (1, 'A1', 'pw', 12.50, 0xCAFE, '2024-03-01', '01:02:03.004005', '2024-03-01 01:02:03.004005')",
		"UPDATE cv.t SET amount = 1 WHERE id = 1",
		"DELETE FROM cv.t WHERE id = 1")
	e.waitEvents(t, "cv.cv.t", 3, 60*time.Second)
	time.Sleep(500 * time.Millisecond) // nothing more comes: no update, no tombstone
	evs := e.events(t, "cv.cv.t")
	stop(t, c)
	var ev event
	got := map[string]int{}
	for _, x := range evs {
		got[x.op()+str(x.key["code"])]++
		if x.op() == "c" {
			ev = x
		}
	}
	if len(evs) != 3 || got["rA0"] != 1 || got["cA1"] != 1 || got["dA1"] != 1 {
		t.Fatalf("events: %v", got)
	}
	if str(ev.key["code"]) != "A1" || len(ev.key) != 1 {
		t.Errorf("key %v", ev.key)
	}
	a := ev.after()
	if _, has := a["secret"]; has {
		t.Errorf("secret not excluded: %v", a)
	}
	want := map[string]string{
		"amount": "12.50",
		"raw":    "cafe",
		"d":      "19783",         // Kafka Connect's Date: days
		"tm":     "3723004",       // Kafka Connect's Time: milliseconds
		"dt":     "1709254923004", // Kafka Connect's Timestamp: milliseconds
	}
	for k, v := range want {
		if str(a[k]) != v {
			t.Errorf("%s = %s, want %s", k, str(a[k]), v)
		}
	}
}
