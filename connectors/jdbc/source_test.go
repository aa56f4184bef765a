package jdbc

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

func itemsTable(d *testDB) {
	d.exec(d.ddl(
		`CREATE TABLE items (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, ts TIMESTAMP(3) NOT NULL DEFAULT now())`,
		`CREATE TABLE items (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL, ts DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))`,
		`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, ts TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)`))
}

// insert adds rows named names with timestamp ts ("2024-01-01 10:00:00").
func insert(d *testDB, ts string, names ...string) {
	for _, n := range names {
		d.exec("INSERT INTO items (name, ts) VALUES (?, ?)", n, ts+".000")
	}
}

func srcConfig(d *testDB, mode string, kv ...any) map[string]any {
	cfg := map[string]any{"connection.url": d.url, "mode": mode, "topic.prefix": "db.",
		"table.whitelist": "items", "poll.interval.ms": 20}
	switch mode {
	case modeTimestamp:
		cfg["timestamp.column.name"] = "ts"
	case modeTimestampIncrementing:
		cfg["timestamp.column.name"] = "ts"
		cfg["incrementing.column.name"] = "id"
	}
	for i := 0; i < len(kv); i += 2 {
		cfg[kv[i].(string)] = kv[i+1]
	}
	return cfg
}

func TestSource(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		t.Run("incrementing", func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			itemsTable(d)
			insert(d, "2024-01-01 10:00:00", "a", "b", "c", "d", "e")
			store := newOffsetStore()
			// The auto-increment column is found without
			// incrementing.column.name.
			task, _ := openSource(t, srcConfig(d, modeIncrementing, "batch.max.rows", 2), store)
			recs := pollN(t, task, store, 5)
			want(t, recs, "a", "b", "c", "d", "e")
			r := recs[4]
			// Confluent's offset protocol 1: the table qualified as the
			// JDBC driver reports it.
			qualified := map[dialectKind]string{dialectPostgres: "public.items", dialectMySQL: d.name + ".items", dialectSQLite: "items"}[e.kind]
			if r.Topic != "db.items" || !reflect.DeepEqual(r.SourcePartition, map[string]any{"protocol": "1", "table": qualified}) ||
				!reflect.DeepEqual(r.SourceOffset, map[string]any{"incrementing": int64(5)}) || r.Key != nil {
				t.Fatalf("record %s %v %v key %v", r.Topic, r.SourcePartition, r.SourceOffset, r.Key)
			}
			if s := r.ValueSchema; s.Name != "items" || len(s.Fields) != 3 || s.Fields[0].Schema.Type != connectors.TypeInt64 ||
				s.Fields[0].Schema.Optional || s.Fields[2].Schema.Name != connectors.TimestampName {
				t.Fatalf("schema %+v", s.Fields)
			}
			if ts := r.Value.(*connectors.Struct).Get("ts").(time.Time); !ts.Equal(time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)) {
				t.Fatalf("ts %v", ts)
			}
			d.exec("UPDATE items SET name = 'A' WHERE id = 1") // not seen: incrementing only sees new rows
			insert(d, "2024-01-01 10:00:00", "f", "g")
			want(t, pollN(t, task, store, 2), "f", "g")
			task.Close()
			// A restart resumes after the committed offset.
			insert(d, "2024-01-01 10:00:00", "h")
			task, _ = openSource(t, srcConfig(d, modeIncrementing, "batch.max.rows", 2), store)
			want(t, pollN(t, task, store, 1), "h")
			quiet(t, task, store, 100*time.Millisecond)
			task.Close()
			// Offsets written by Confluent's connector under protocol 0
			// ({"table": name}) and, for PostgreSQL, under protocol 1 with
			// the database in front (pgjdbc 42.7.5+) are resumed from.
			older := []map[string]any{{"table": "items"}}
			if e.kind == dialectPostgres {
				older = append(older, map[string]any{"protocol": "1", "table": d.name + ".public.items"})
			}
			for _, p := range older {
				old := newOffsetStore()
				p, _ := json.Marshal(p)
				old.data[string(p)] = [2][]byte{p, []byte(`{"incrementing":6}`)}
				task, _ = openSource(t, srcConfig(d, modeIncrementing, "batch.max.rows", 2), old)
				recs := pollN(t, task, old, 2)
				want(t, recs, "g", "h")
				if !reflect.DeepEqual(recs[1].SourcePartition, map[string]any{"protocol": "1", "table": qualified}) {
					t.Fatalf("partition %v", recs[1].SourcePartition)
				}
				task.Close()
			}
		})
		t.Run("timestamp+incrementing", func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			itemsTable(d)
			// Five rows share one timestamp; batches of two cut the group.
			insert(d, "2024-01-01 10:00:00", "a")
			insert(d, "2024-01-01 10:00:01", "b1", "b2", "b3", "b4", "b5")
			insert(d, "2024-01-01 10:00:02", "c")
			store := newOffsetStore()
			cfg := srcConfig(d, modeTimestampIncrementing, "batch.max.rows", 2)
			task, _ := openSource(t, cfg, store)
			first := pollOnce(t, task, store)
			want(t, first, "a", "b1")
			off := first[1].SourceOffset
			if off["incrementing"] != int64(2) || off["timestamp"] != time.Date(2024, 1, 1, 10, 0, 1, 0, time.UTC).UnixMilli() || off["timestamp_nanos"] != int64(0) {
				t.Fatalf("offset %v", off)
			}
			want(t, pollOnce(t, task, store), "b2", "b3")
			// Restart in the middle of the rows sharing 10:00:01.
			task.Close()
			task, _ = openSource(t, cfg, store)
			want(t, pollN(t, task, store, 3), "b4", "b5", "c")
			// An update moves a row's timestamp forward: read again.
			d.exec("UPDATE items SET name = 'a2', ts = '2024-01-01 10:00:03.000' WHERE name = 'a'")
			want(t, pollN(t, task, store, 1), "a2")
			quiet(t, task, store, 100*time.Millisecond)
		})
		t.Run("timestamp", func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			itemsTable(d)
			insert(d, "2024-01-01 10:00:00", "a1", "a2")
			insert(d, "2024-01-01 10:00:01", "b1", "b2", "b3", "b4")
			insert(d, "2024-01-01 10:00:02", "c1")
			store := newOffsetStore()
			cfg := srcConfig(d, modeTimestamp, "batch.max.rows", 3)
			task, _ := openSource(t, cfg, store)
			// The first batch (a1 a2 b1) ends inside the group of 10:00:01:
			// the poll is completed with the whole group (so it holds more
			// than batch.max.rows rows), and only the last row of each
			// group carries an offset.
			first := pollOnce(t, task, store)
			want(t, first, "a1", "a2", "b1", "b2", "b3", "b4")
			for i, r := range first {
				var wantOff map[string]any
				switch i {
				case 1:
					wantOff = map[string]any{"timestamp": time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC).UnixMilli(), "timestamp_nanos": int64(0)}
				case 5:
					wantOff = map[string]any{"timestamp": time.Date(2024, 1, 1, 10, 0, 1, 0, time.UTC).UnixMilli(), "timestamp_nanos": int64(0)}
				}
				if !reflect.DeepEqual(r.SourceOffset, wantOff) {
					t.Fatalf("record %d offset %v, want %v", i, r.SourceOffset, wantOff)
				}
			}
			// Restart after the group: nothing lost, nothing repeated.
			task.Close()
			task, _ = openSource(t, cfg, store)
			want(t, pollN(t, task, store, 1), "c1")
			insert(d, "2024-01-01 10:00:02", "c2") // same time as c1, committed after c1 was read
			insert(d, "2024-01-01 10:00:03", "d1")
			want(t, pollN(t, task, store, 1), "d1") // c2 stamped in the past and committed late: see the late-commit test
			quiet(t, task, store, 100*time.Millisecond)
		})
		t.Run("shared-timestamp-restarts", func(t *testing.T) {
			// 250 rows share one timestamp; batches of 100 rows end inside
			// the group, and the task restarts (from its committed
			// offsets) after every poll: every row is read exactly once.
			t.Parallel()
			d := e.newDB(t)
			itemsTable(d)
			insert(d, "2024-01-01 10:00:00", "before")
			var values []string
			for i := 0; i < 250; i++ {
				values = append(values, fmt.Sprintf("('g%03d', '2024-01-01 10:00:01.000')", i))
			}
			d.exec("INSERT INTO items (name, ts) VALUES " + strings.Join(values, ", "))
			insert(d, "2024-01-01 10:00:02", "after")
			for _, mode := range []string{modeTimestamp, modeTimestampIncrementing} {
				store := newOffsetStore()
				cfg := srcConfig(d, mode, "batch.max.rows", 100)
				seen := map[string]int{}
				for polls := 0; len(seen) < 252; polls++ {
					if polls == 20 {
						t.Fatalf("%s: %d rows read after %d polls, want 252", mode, len(seen), polls)
					}
					task, _ := openSource(t, cfg, store)
					for _, n := range names(pollOnce(t, task, store)) {
						seen[n]++
					}
					task.Close()
				}
				task, _ := openSource(t, cfg, store)
				quiet(t, task, store, 100*time.Millisecond)
				task.Close()
				for n, c := range seen {
					if c != 1 {
						t.Fatalf("%s: row %s read %d times", mode, n, c)
					}
				}
			}
		})
		t.Run("bulk", func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			itemsTable(d)
			insert(d, "2024-01-01 10:00:00", "a", "b", "c")
			store := newOffsetStore()
			task, _ := openSource(t, srcConfig(d, modeBulk, "batch.max.rows", 2, "poll.interval.ms", 200), store)
			recs := pollN(t, task, store, 3)
			for _, r := range recs {
				if r.SourcePartition != nil || r.SourceOffset != nil {
					t.Fatalf("bulk records carry no position: %v %v", r.SourcePartition, r.SourceOffset)
				}
			}
			insert(d, "2024-01-01 10:00:00", "d")
			if got := len(pollN(t, task, store, 4)); got != 4 {
				t.Fatalf("the second pass has %d rows", got)
			}
		})
		t.Run("query", func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			itemsTable(d)
			insert(d, "2024-01-01 10:00:00", "a", "skip", "b")
			store := newOffsetStore()
			cfg := map[string]any{"connection.url": d.url, "mode": modeIncrementing, "topic.prefix": "picked",
				"query": "SELECT i.id, upper(i.name) AS name FROM items i WHERE i.name <> 'skip';", "incrementing.column.name": "i.id",
				"poll.interval.ms": 20}
			task, _ := openSource(t, cfg, store)
			recs := pollN(t, task, store, 2)
			want(t, recs, "A", "B")
			if recs[1].Topic != "picked" || !reflect.DeepEqual(recs[1].SourcePartition, map[string]any{"query": "query"}) {
				t.Fatalf("%s %v", recs[1].Topic, recs[1].SourcePartition)
			}
			insert(d, "2024-01-01 10:00:00", "c")
			want(t, pollN(t, task, store, 1), "C")
		})
		t.Run("discovery", func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			itemsTable(d)
			d.exec("CREATE TABLE other (id INT NOT NULL PRIMARY KEY, name TEXT NOT NULL)")
			d.exec("CREATE TABLE hidden (id INT NOT NULL PRIMARY KEY, name TEXT NOT NULL)")
			insert(d, "2024-01-01 10:00:00", "a")
			d.exec("INSERT INTO other VALUES (7, 'o')")
			d.exec("INSERT INTO hidden VALUES (8, 'h')")
			store := newOffsetStore()
			cfg := map[string]any{"connection.url": d.url, "mode": modeIncrementing, "topic.prefix": "db.",
				"incrementing.column.name": "id", "table.blacklist": "hidden", "poll.interval.ms": 20, "table.poll.interval.ms": 100}
			task, _ := openSource(t, cfg, store)
			recs := pollN(t, task, store, 2)
			topics := map[string]string{}
			for _, r := range recs {
				topics[r.Topic] = fmt.Sprint(r.Value.(*connectors.Struct).Get("name"))
			}
			if !reflect.DeepEqual(topics, map[string]string{"db.items": "a", "db.other": "o"}) {
				t.Fatalf("topics %v", topics)
			}
			// A table created later is picked up.
			d.exec("CREATE TABLE later (id INT NOT NULL PRIMARY KEY, name TEXT NOT NULL)")
			d.exec("INSERT INTO later VALUES (1, 'l')")
			if r := pollN(t, task, store, 1)[0]; r.Topic != "db.later" {
				t.Fatalf("topic %s", r.Topic)
			}
		})
		t.Run("validate.non.null", func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			d.exec("CREATE TABLE items (id INT, name TEXT)")
			p := SourcePlugin()
			cfg, err := p.Spec.Parse("", srcConfig(d, modeIncrementing, "incrementing.column.name", "id"))
			if err != nil {
				t.Fatal(err)
			}
			src, _ := p.New(cfg)
			tasks, _ := src.Tasks(1)
			defer tasks[0].Close()
			err = tasks[0].Open(context.Background(), &sourceCtx{store: newOffsetStore()})
			if err == nil || !strings.Contains(err.Error(), "nullable") {
				t.Fatalf("Open = %v, want a nullable column error", err)
			}
		})
		if e.kind != dialectSQLite {
			// SQLite has one writer at a time: no transaction commits
			// behind another's back.
			t.Run("late-commit", func(t *testing.T) { testLateCommit(t, e) })
		}
	})
}

// testLateCommit shows the loss Confluent's JDBC source is known for, and
// how timestamp.delay.interval.ms prevents it: transaction A stamps its row
// first but commits after transaction B, whose row is read first.
func testLateCommit(t *testing.T, e *env) {
	t.Parallel()
	for _, delay := range []time.Duration{0, 3 * time.Second} {
		t.Run(fmt.Sprintf("delay=%v", delay), func(t *testing.T) {
			t.Parallel()
			d := e.newDB(t)
			itemsTable(d)
			store := newOffsetStore()
			task, _ := openSource(t, srcConfig(d, modeTimestampIncrementing, "timestamp.delay.interval.ms", delay.Milliseconds()), store)
			ctx := context.Background()
			txA, err := d.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer txA.Rollback()
			if _, err := txA.Exec("INSERT INTO items (name) VALUES ('A')"); err != nil { // stamped now
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			d.exec("INSERT INTO items (name) VALUES ('B')") // stamped later, committed first
			if delay == 0 {
				want(t, pollN(t, task, store, 1), "B")
				if err := txA.Commit(); err != nil {
					t.Fatal(err)
				}
				d.exec("INSERT INTO items (name) VALUES ('C')")
				// A committed after the offset passed its timestamp: it is
				// never read (the documented loss without a delay).
				want(t, pollN(t, task, store, 1), "C")
				quiet(t, task, store, 200*time.Millisecond)
				return
			}
			// With the delay neither row is read yet; A commits well within
			// the delay and both are read, in timestamp order.
			quiet(t, task, store, 300*time.Millisecond)
			if err := txA.Commit(); err != nil {
				t.Fatal(err)
			}
			want(t, pollN(t, task, store, 2), "A", "B")
		})
	}
}
