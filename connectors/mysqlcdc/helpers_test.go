package mysqlcdc_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/mysqlcdc"
	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/converters"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testdb"
	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/internal/transforms"
)

// env is one test's MariaDB server, Kafka broker and plugins.
type env struct {
	m   *testdb.MariaDB
	b   *testbroker.Broker
	reg *connectors.Registry
	sql *sql.DB
}

var serverIDs atomic.Int64

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{m: testdb.StartMariaDB(t), b: testbroker.New(t), reg: registry(t)}
	db, err := sql.Open("mysql", e.m.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(8)
	t.Cleanup(func() { db.Close() })
	e.sql = db
	return e
}

func registry(t testing.TB) *connectors.Registry {
	t.Helper()
	reg := connectors.NewRegistry()
	for _, r := range []func(*connectors.Registry) error{converters.Register, transforms.Register, mysqlcdc.Register} {
		if err := r(reg); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

func logger() *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func (e *env) worker(t testing.TB, g core.ProcessingGuarantee) *worker.Worker {
	t.Helper()
	w, err := worker.New(worker.Config{Brokers: []string{e.b.Addr()}, Plugins: e.reg, Guarantee: g,
		OffsetsTopicPartitions: 4, TransactionTimeout: 10 * time.Second, SessionTimeout: 2 * time.Second, Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	return w
}

// topics creates topics (4 partitions) so that they can be read before
// the connector wrote to them.
func (e *env) topics(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		e.b.CreateTopic(t, n, 4, nil)
	}
}

// exec runs statements (several, separated by ';', are allowed).
func (e *env) exec(t testing.TB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := e.sql.Exec(s); err != nil {
			t.Fatalf("exec %q: %v", s, err)
		}
	}
}

// config is a mysql-cdc configuration against the env's server with JSON
// converters with schemas; kv override or add settings.
func (e *env) config(name, prefix string, kv ...any) map[string]any {
	cfg := map[string]any{
		"name":                           name,
		"type":                           "mysql-cdc",
		"database.hostname":              "127.0.0.1",
		"database.port":                  e.m.Port,
		"database.user":                  "root",
		"database.server.id":             1000 + serverIDs.Add(1),
		"topic.prefix":                   prefix,
		"key.converter":                  "json",
		"key.converter.schemas.enable":   true,
		"value.converter":                "json",
		"value.converter.schemas.enable": true,
		"offset.flush.interval.ms":       100,
		"poll.interval.ms":               20,
	}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i].(string)] = kv[i+1]
	}
	return cfg
}

// event is a change event read back from Kafka and decoded as plain JSON
// (an independent reader of the connector's output).
type event struct {
	topic     string
	partition int32
	offset    int64
	key       map[string]any // key payload; nil: null key
	value     map[string]any // value payload; nil: tombstone
	schema    map[string]any // value schema
	headers   map[string]string
}

func (ev event) op() string {
	if ev.value == nil {
		return "tombstone"
	}
	op, _ := ev.value["op"].(string)
	return op
}

func (ev event) after() map[string]any {
	m, _ := ev.value["after"].(map[string]any)
	return m
}

func (ev event) before() map[string]any {
	m, _ := ev.value["before"].(map[string]any)
	return m
}

func (ev event) source() map[string]any {
	m, _ := ev.value["source"].(map[string]any)
	return m
}

func decodeJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	if b == nil {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

func toEvent(t testing.TB, r *kgo.Record) event {
	ev := event{topic: r.Topic, partition: r.Partition, offset: r.Offset, headers: map[string]string{}}
	if k := decodeJSON(t, r.Key); k != nil {
		ev.key = payload(k)
	}
	if v := decodeJSON(t, r.Value); v != nil {
		ev.value = payload(v)
		ev.schema, _ = v["schema"].(map[string]any)
	}
	for _, h := range r.Headers {
		ev.headers[h.Key] = string(h.Value)
	}
	return ev
}

// payload is the payload of a JSON converter's message: the "payload"
// member with schemas.enable=true, else the message itself.
func payload(m map[string]any) map[string]any {
	if _, ok := m["schema"]; ok && len(m) == 2 {
		p, _ := m["payload"].(map[string]any)
		return p
	}
	return m
}

// events reads a topic (read_committed) in partition then offset order.
func (e *env) events(t testing.TB, topic string) []event {
	t.Helper()
	var out []event
	for _, r := range e.b.ReadAll(t, topic) {
		out = append(out, toEvent(t, r))
	}
	return out
}

// waitEvents waits until topic holds at least n events.
func (e *env) waitEvents(t testing.TB, topic string, n int, within time.Duration) []event {
	t.Helper()
	var evs []event
	testwait.Until(t, fmt.Sprintf("%d events in topic %s", n, topic), within, func() bool {
		evs = e.events(t, topic)
		return len(evs) >= n
	}, testwait.Detail(func() string { return fmt.Sprintf("%d events", len(evs)) }))
	return evs
}

// waitCaughtUp waits until the connector has written the change events of
// everything committed so far: it inserts a marker row into table (whose
// first column is an integer key the caller does not otherwise use: id)
// and waits for its create event in topic. The binlog is one ordered
// stream, and under exactly-once a later transaction is visible only after
// the earlier ones, so every change committed before the marker is then in
// Kafka. It does not decode other topics, which keeps waiting cheap when
// they hold many events.
func (e *env) waitCaughtUp(t testing.TB, c *worker.Connector, table, topic, insert string, id int64, within time.Duration) {
	t.Helper()
	e.exec(t, insert)
	want := json.Number(fmt.Sprint(id))
	what := fmt.Sprintf("the event of the marker row %s id=%d in topic %s (the connector catching up with the binlog)", table, id, topic)
	testwait.Until(t, what, within, func() bool {
		checkRunning(t, c)
		for _, ev := range e.events(t, topic) {
			if ev.op() == "c" && ev.after()["id"] == want {
				return true
			}
		}
		return false
	})
}

func startSource(t testing.TB, w *worker.Worker, cfg map[string]any) *worker.Connector {
	t.Helper()
	c, err := w.StartSource(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func stop(t testing.TB, c *worker.Connector) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ts := range c.Status().Tasks {
		if ts.State == worker.StateFailed {
			t.Fatalf("task %d failed: %s", ts.ID, ts.Error)
		}
	}
}

// checkRunning fails the test if the connector's task failed.
func checkRunning(t testing.TB, c *worker.Connector) {
	t.Helper()
	for _, ts := range c.Status().Tasks {
		if ts.State == worker.StateFailed {
			t.Fatalf("task %d failed: %s", ts.ID, ts.Error)
		}
	}
}

// str renders a JSON value for comparisons.
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case json.Number:
		return x.String()
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

// rowKey renders a key payload.
func rowKey(k map[string]any) string {
	keys := make([]string, 0, len(k))
	for f := range k {
		keys = append(keys, f)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, f := range keys {
		fmt.Fprintf(&b, "%s=%s;", f, str(k[f]))
	}
	return b.String()
}

// replay applies change events to a table image keyed by the row's key.
func replay(t testing.TB, evs []event) map[string]map[string]any {
	t.Helper()
	state := map[string]map[string]any{}
	for _, ev := range evs {
		switch ev.op() {
		case "r", "c", "u":
			state[rowKey(ev.key)] = ev.after()
		case "d":
			delete(state, rowKey(ev.key))
		case "tombstone":
		case "t":
			clear(state)
		default:
			t.Fatalf("unexpected op %q in %v", ev.op(), ev.value)
		}
	}
	return state
}

// tableImage reads a table as the events render it: columns by name,
// values as text.
func (e *env) tableImage(t testing.TB, table string, key ...string) map[string]map[string]string {
	t.Helper()
	rows, err := e.sql.Query("SELECT * FROM " + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := map[string]map[string]string{}
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		k := map[string]any{}
		for i, c := range cols {
			if vals[i].Valid {
				row[c] = vals[i].String
			} else {
				row[c] = "null"
			}
			for _, kc := range key {
				if kc == c {
					k[c] = json.Number(vals[i].String)
				}
			}
		}
		out[rowKey(k)] = row
	}
	return out
}

func stringImage(state map[string]map[string]any) map[string]map[string]string {
	out := map[string]map[string]string{}
	for k, row := range state {
		r := map[string]string{}
		for c, v := range row {
			r[c] = str(v)
		}
		out[k] = r
	}
	return out
}

func diffImages(t testing.TB, what string, got, want map[string]map[string]string) {
	t.Helper()
	var problems []string
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			problems = append(problems, "missing "+k)
			continue
		}
		for c, wv := range w {
			if g[c] != wv {
				problems = append(problems, fmt.Sprintf("%s column %s: got %q, want %q", k, c, g[c], wv))
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			problems = append(problems, "unexpected "+k)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		if len(problems) > 20 {
			problems = append(problems[:20], "...")
		}
		t.Fatalf("%s: %d rows replayed, %d in the table; differences:\n  %s", what, len(got), len(want), strings.Join(problems, "\n  "))
	}
}
