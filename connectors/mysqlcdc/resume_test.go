package mysqlcdc

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/testdb"
)

// render is a record's deterministic content (processing times left out).
func render(r *connectors.Record) string {
	var b strings.Builder
	b.WriteString(r.Topic)
	b.WriteString(" key=")
	if k, ok := r.Key.(*connectors.Struct); ok {
		b.WriteString(k.String())
	}
	for _, h := range r.Headers {
		fmt.Fprintf(&b, " %s=%s", h.Key, h.Value)
	}
	v, ok := r.Value.(*connectors.Struct)
	if !ok {
		return b.String() + " tombstone"
	}
	if r.ValueSchema == schemaChangeValueSchema {
		fmt.Fprintf(&b, " ddl=%v changes=%v", v.Get("ddl"), v.Get("tableChanges"))
		return b.String()
	}
	src := v.Get("source").(*connectors.Struct)
	fmt.Fprintf(&b, " op=%v before=%v after=%v at=%v:%v row=%v gtid=%v table=%v",
		v.Get("op"), v.Get("before"), v.Get("after"), src.Get("file"), src.Get("pos"), src.Get("row"), src.Get("gtid"), src.Get("table"))
	return b.String()
}

func resumeConfig(t *testing.T, port int) *config {
	t.Helper()
	c, err := spec.Parse("", map[string]any{"database.hostname": "127.0.0.1", "database.port": port, "database.user": "root",
		"database.server.id": 4242, "topic.prefix": "rs", "snapshot.mode": "no_data", "database.include.list": "rs",
		"max.batch.size": 7, "poll.interval.ms": 0})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runTask opens a task on the fake context's offsets and polls it; with
// crash set it abandons the task after every batch (after committing the
// batch's offsets, as the worker does under exactly-once) and opens a new
// one. It returns every record in order, until a poll returns nothing.
func runTask(t *testing.T, cfg *config, fc *fakeContext, crash, filePos bool) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	var tk *task
	defer func() {
		if tk != nil {
			tk.Close()
		}
	}()
	for polls := 0; ; polls++ {
		if polls > 5000 {
			t.Fatal("no end")
		}
		if tk == nil {
			tk = &task{cfg: cfg}
			if err := tk.Open(ctx, fc); err != nil {
				t.Fatal(err)
			}
			if filePos {
				// As on a server without GTIDs: restart by file and position.
				tk.info.gtidMode = false
			}
		}
		recs, err := tk.Poll(ctx)
		if err != nil {
			t.Fatalf("poll %d: %v", polls, err)
		}
		for _, r := range recs {
			out = append(out, render(r))
		}
		if err := tk.Commit(ctx, fc.commit(recs)); err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 && tk.phase == phaseStream {
			return out
		}
		if crash {
			tk.Close()
			tk = nil
		}
	}
}

// TestResumeAfterEveryBatch writes a binlog with large transactions, a
// transaction across a captured and an uncaptured table, primary key
// changes, deletes and DDL between and around them; then reads it once
// without interruption and again with the task dropped after every batch
// of at most 7 records (in the middle of row events and transactions) and
// restarted from the committed offsets, by GTID and by file and position.
// Every run must produce exactly the same records.
func TestResumeAfterEveryBatch(t *testing.T) {
	t.Parallel()
	m := testdb.StartMariaDB(t)
	db, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE DATABASE rs; CREATE DATABASE other")
	exec("CREATE TABLE rs.a (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(200))")
	exec("CREATE TABLE other.x (id INT PRIMARY KEY, v INT)")

	// The snapshot (no_data) is taken first, then the changes come.
	cfg := resumeConfig(t, m.Port)
	ref := newFakeContext()
	tk := &task{cfg: cfg}
	if err := tk.Open(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	for tk.phase == phaseSnapshot {
		recs, err := tk.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		tk.Commit(context.Background(), ref.commit(recs))
	}
	tk.Close()
	start := ref.clone()

	var vals []string
	for i := 1; i <= 300; i++ {
		vals = append(vals, fmt.Sprintf("(%d, %d, '%s')", i, i, strings.Repeat("s", 100)))
	}
	exec("INSERT INTO rs.a VALUES " + strings.Join(vals, ","))
	exec("BEGIN; UPDATE rs.a SET v = v + 1 WHERE id <= 100; INSERT INTO other.x VALUES (1, 1); UPDATE rs.a SET s = 'x' WHERE id > 250; COMMIT")
	exec("UPDATE rs.a SET id = id + 1000 WHERE id BETWEEN 10 AND 14")
	exec("INSERT INTO other.x VALUES (2, 2), (3, 3)")
	exec("ALTER TABLE rs.a ADD COLUMN extra INT AFTER v")
	exec("BEGIN; DELETE FROM rs.a WHERE id BETWEEN 20 AND 60; UPDATE rs.a SET extra = id WHERE id > 280; COMMIT")
	exec("CREATE TABLE rs.b (k VARCHAR(10) PRIMARY KEY, n BIGINT UNSIGNED)")
	exec("INSERT INTO rs.b VALUES ('a', 18446744073709551615), ('b', 1)")
	exec("ALTER TABLE rs.a DROP COLUMN s")
	exec("UPDATE rs.a SET v = 0 WHERE id > 200")

	want := runTask(t, cfg, start.clone(), false, false)
	if len(want) < 600 {
		t.Fatalf("reference run: %d records", len(want))
	}
	for _, mode := range []struct {
		name    string
		filePos bool
	}{{"gtid", false}, {"file-position", true}} {
		got := runTask(t, cfg, start.clone(), true, mode.filePos)
		if len(got) != len(want) {
			t.Errorf("%s: %d records, want %d", mode.name, len(got), len(want))
		}
		for i := 0; i < len(got) && i < len(want); i++ {
			if got[i] != want[i] {
				t.Fatalf("%s: record %d:\n got  %s\n want %s", mode.name, i, got[i], want[i])
			}
		}
	}
}
