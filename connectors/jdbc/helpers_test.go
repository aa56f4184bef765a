package jdbc

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/testdb"
)

// env is one database server under test; each test gets a fresh database
// on it (newDB), so tests run in parallel.
type env struct {
	kind  dialectKind
	pg    *testdb.Postgres
	maria *testdb.MariaDB
}

// testDB is a fresh database: its connection.url and an admin connection.
type testDB struct {
	name string // the database's name
	kind dialectKind
	url  string
	db   *sql.DB
	t    testing.TB
}

var dbSeq atomic.Int64

func (e *env) newDB(t testing.TB) *testDB {
	t.Helper()
	n := dbSeq.Add(1)
	name := fmt.Sprintf("sluice_%d", n)
	var url, dsn string
	var driverName string
	switch e.kind {
	case dialectPostgres:
		e.pg.Psql("", "CREATE DATABASE "+name)
		url = fmt.Sprintf("jdbc:postgresql://127.0.0.1:%d/%s?sslmode=disable&user=postgres", e.pg.Port, name)
		dsn, driverName = e.pg.DSN(name), "pgx"
	case dialectMySQL:
		e.maria.SQL("", "CREATE DATABASE "+name)
		url = fmt.Sprintf("jdbc:mariadb://127.0.0.1:%d/%s?user=root", e.maria.Port, name)
		dsn, driverName = strings.Replace(e.maria.DSN(name), "parseTime=true", "parseTime=true&time_zone=%27%2B00%3A00%27", 1), "mysql"
	case dialectSQLite:
		path := filepath.Join(t.TempDir(), name+".db")
		url = "jdbc:sqlite:" + path
		dsn, driverName = "file:"+path+"?_pragma=busy_timeout(10000)", "sqlite"
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &testDB{name: name, kind: e.kind, url: url, db: db, t: t}
}

// q rewrites ? placeholders to $n for PostgreSQL.
func (d *testDB) q(s string) string {
	if d.kind != dialectPostgres {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (d *testDB) exec(s string, args ...any) {
	d.t.Helper()
	if _, err := d.db.Exec(d.q(s), args...); err != nil {
		d.t.Fatalf("%s: %v", s, err)
	}
}

// rows returns a query's rows as strings ("1|a|NULL"), sorted.
func (d *testDB) rows(s string, args ...any) []string {
	d.t.Helper()
	rs, err := d.db.Query(d.q(s), args...)
	if err != nil {
		d.t.Fatalf("%s: %v", s, err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out []string
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			d.t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			switch x := v.(type) {
			case nil:
				parts[i] = "NULL"
			case []byte:
				parts[i] = string(x)
			case time.Time:
				parts[i] = x.UTC().Format("2006-01-02 15:04:05.000")
			default:
				parts[i] = fmt.Sprint(x)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rs.Err(); err != nil {
		d.t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// ddl picks the statement for the database.
func (d *testDB) ddl(pg, my, lite string) string {
	switch d.kind {
	case dialectPostgres:
		return pg
	case dialectMySQL:
		return my
	}
	return lite
}

// startEnvs starts one server of each kind, as subtests' parents.
func forEachDB(t *testing.T, run func(t *testing.T, e *env)) {
	for _, kind := range []dialectKind{dialectPostgres, dialectMySQL, dialectSQLite} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			e := &env{kind: kind}
			switch kind {
			case dialectPostgres:
				e.pg = testdb.StartPostgres(t)
			case dialectMySQL:
				e.maria = testdb.StartMariaDB(t)
			}
			run(t, e)
		})
	}
}

func logger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// offsetStore holds committed source offsets, stored as JSON and read back
// as the worker's offsets topic does (whole numbers as int64).
type offsetStore struct {
	mu   sync.Mutex
	data map[string][2][]byte
}

func newOffsetStore() *offsetStore { return &offsetStore{data: map[string][2][]byte{}} }

func decodeOffset(b []byte) map[string]any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		panic(err)
	}
	for k, v := range m {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				m[k] = i
			} else {
				f, _ := n.Float64()
				m[k] = f
			}
		}
	}
	return m
}

// commit stores the offsets of records, as the worker does once they are
// in Kafka.
func (s *offsetStore) commit(t testing.TB, recs []*connectors.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		if r.SourcePartition == nil || r.SourceOffset == nil {
			continue
		}
		p, _ := json.Marshal(r.SourcePartition)
		o, err := json.Marshal(r.SourceOffset)
		if err != nil {
			t.Fatal(err)
		}
		s.data[string(p)] = [2][]byte{p, o}
	}
}

func (s *offsetStore) get(partition map[string]any) map[string]any {
	p, _ := json.Marshal(partition)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.data[string(p)]; ok {
		return decodeOffset(e[1])
	}
	return nil
}

type reported struct {
	rec *connectors.Record
	err error
}

// sourceCtx is a SourceTaskContext over an offsetStore.
type sourceCtx struct {
	store    *offsetStore
	mu       sync.Mutex
	reported []reported
	strict   bool
}

func (c *sourceCtx) Connector() string    { return "test" }
func (c *sourceCtx) TaskID() int          { return 0 }
func (c *sourceCtx) Logger() *slog.Logger { return logger() }
func (c *sourceCtx) RequestCommit()       {}
func (c *sourceCtx) Offset(p map[string]any) (map[string]any, error) {
	return c.store.get(p), nil
}
func (c *sourceCtx) Offsets() ([]connectors.SourceOffset, error) { return nil, nil }
func (c *sourceCtx) Report(raw *connectors.Record, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reported = append(c.reported, reported{raw, err})
	if c.strict {
		return fmt.Errorf("errors.tolerance=none: %w", err)
	}
	return nil
}

// sinkCtx is a SinkTaskContext recording reports.
type sinkCtx struct {
	mu       sync.Mutex
	reported []reported
	strict   bool
}

func (c *sinkCtx) Connector() string                            { return "test" }
func (c *sinkCtx) TaskID() int                                  { return 0 }
func (c *sinkCtx) Logger() *slog.Logger                         { return logger() }
func (c *sinkCtx) RequestCommit()                               {}
func (c *sinkCtx) Seek(tp connectors.TopicPartition, off int64) {}
func (c *sinkCtx) Report(rec *connectors.Record, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reported = append(c.reported, reported{rec, err})
	if c.strict {
		return fmt.Errorf("errors.tolerance=none: %w", err)
	}
	return nil
}

func (c *sinkCtx) reports() []reported {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]reported(nil), c.reported...)
}

// openSource builds and opens the source's single task.
func openSource(t testing.TB, raw map[string]any, store *offsetStore) (*sourceTask, *sourceCtx) {
	t.Helper()
	p := SourcePlugin()
	cfg, err := p.Spec.Parse("", raw)
	if err != nil {
		t.Fatal(err)
	}
	src, err := p.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := src.Tasks(1)
	if err != nil {
		t.Fatal(err)
	}
	task := tasks[0].(*sourceTask)
	ctx := &sourceCtx{store: store}
	if err := task.Open(context.Background(), ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Close() })
	return task, ctx
}

// pollOnce polls once and commits what came back.
func pollOnce(t testing.TB, task *sourceTask, store *offsetStore) []*connectors.Record {
	t.Helper()
	recs, err := task.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	store.commit(t, recs)
	return recs
}

// pollN polls (committing) until n records came, failing after a timeout
// or if more than n came.
func pollN(t testing.TB, task *sourceTask, store *offsetStore, n int) []*connectors.Record {
	t.Helper()
	var out []*connectors.Record
	deadline := time.Now().Add(20 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d records, want %d: %v", len(out), n, names(out))
		}
		out = append(out, pollOnce(t, task, store)...)
	}
	if len(out) != n {
		t.Fatalf("got %d records, want %d: %v", len(out), n, names(out))
	}
	return out
}

// quiet polls for a while and fails if anything comes.
func quiet(t testing.TB, task *sourceTask, store *offsetStore, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); {
		if recs := pollOnce(t, task, store); len(recs) > 0 {
			t.Fatalf("unexpected records: %v", names(recs))
		}
	}
}

// names renders records' "name" fields.
func names(recs []*connectors.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		st, ok := r.Value.(*connectors.Struct)
		if !ok {
			out[i] = fmt.Sprint(r.Value)
			continue
		}
		out[i] = fmt.Sprint(st.Get("name"))
	}
	return out
}

func want(t testing.TB, got []*connectors.Record, expected ...string) {
	t.Helper()
	g := names(got)
	if strings.Join(g, ",") != strings.Join(expected, ",") {
		t.Fatalf("got %v, want %v", g, expected)
	}
}

// newSinkTask builds and opens the sink's task.
func newSinkTask(t testing.TB, raw map[string]any) (*sinkTask, *sinkCtx) {
	t.Helper()
	p := SinkPlugin()
	cfg, err := p.Spec.Parse("", raw)
	if err != nil {
		t.Fatal(err)
	}
	snk, err := p.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := snk.Tasks(1)
	if err != nil {
		t.Fatal(err)
	}
	task := tasks[0].(*sinkTask)
	ctx := &sinkCtx{}
	if err := task.Open(context.Background(), ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Close() })
	return task, ctx
}

func put(t testing.TB, task *sinkTask, recs ...*connectors.Record) {
	t.Helper()
	if err := task.Put(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}
