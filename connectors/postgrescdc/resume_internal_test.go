package postgrescdc

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/testdb"
)

// fakeCtx is a task context whose committed offset is fixed.
type fakeCtx struct{ offset map[string]any }

func (fakeCtx) Connector() string                               { return "resume" }
func (fakeCtx) TaskID() int                                     { return 0 }
func (fakeCtx) Logger() *slog.Logger                            { return slog.New(slog.DiscardHandler) }
func (fakeCtx) RequestCommit()                                  {}
func (c fakeCtx) Offset(map[string]any) (map[string]any, error) { return c.offset, nil }
func (fakeCtx) Offsets() ([]connectors.SourceOffset, error)     { return nil, nil }
func (fakeCtx) Report(*connectors.Record, error) error          { return nil }

func openTask(t *testing.T, pg *testdb.Postgres, offset map[string]any, kv ...any) *task {
	t.Helper()
	raw := map[string]any{"database.hostname": "127.0.0.1", "database.port": pg.Port, "database.user": "postgres",
		"database.dbname": "postgres", "database.sslmode": "disable", "topic.prefix": "srv",
		"snapshot.mode": "no_data", "max.batch.size": 30, "poll.interval.ms": 100}
	for i := 0; i < len(kv); i += 2 {
		raw[kv[i].(string)] = kv[i+1]
	}
	cfg, err := spec.Parse("", raw)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := newSource(cfg)
	tasks, _ := src.Tasks(1)
	tk := tasks[0].(*task)
	if err := tk.Open(context.Background(), fakeCtx{offset: offset}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tk.Close() })
	return tk
}

// pollIDs polls until n change records came (or a timeout) and returns
// their ids and the offset of the last record of each batch.
func pollIDs(t *testing.T, tk *task, n int) ([]string, []map[string]any) {
	t.Helper()
	var ids []string
	var offsets []map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for len(ids) < n && time.Now().Before(deadline) {
		recs, err := tk.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Value != nil {
				ids = append(ids, fmt.Sprint(r.Value.(*connectors.Struct).Get("after").(*connectors.Struct).Get("id")))
			}
		}
		if len(recs) > 0 {
			offsets = append(offsets, recs[len(recs)-1].SourceOffset)
		}
	}
	return ids, offsets
}

// TestResumeMidTransaction: a transaction of 100 inserts is returned in
// polls of at most 30; resuming from the offset of a poll in its middle (the slot was
// never confirmed, so the server sends the transaction again from its
// start) yields exactly the changes after it.
func TestResumeMidTransaction(t *testing.T) {
	t.Parallel()
	pg := testdb.StartPostgres(t)
	db, err := pgx.Connect(context.Background(), pg.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	if _, err := db.Exec(context.Background(), `CREATE TABLE t (id int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	first := openTask(t, pg, nil)
	if _, err := db.Exec(context.Background(), `INSERT INTO t SELECT g FROM generate_series(1, 100) g`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(context.Background(), `INSERT INTO t VALUES (101)`); err != nil {
		t.Fatal(err)
	}
	ids, offsets := pollIDs(t, first, 40)
	k := len(ids)
	off := offsets[len(offsets)-1]
	if k >= 100 || off[keyResumeEvents] != int64(k) || ids[k-1] != fmt.Sprint(k) {
		t.Fatalf("first polls returned %d ids; offset %v", k, off)
	}
	first.Close()
	second := openTask(t, pg, off)
	ids, _ = pollIDs(t, second, 101-k)
	if len(ids) != 101-k || ids[0] != fmt.Sprint(k+1) || ids[len(ids)-1] != "101" {
		t.Fatalf("after resuming after %d: %d ids %v", k, len(ids), ids)
	}
}
