package postgrescdc_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/postgrescdc"
	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/converters"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testdb"
	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/internal/transforms"
)

func plugins(t testing.TB) *connectors.Registry {
	t.Helper()
	reg := connectors.NewRegistry()
	for _, r := range []func(*connectors.Registry) error{converters.Register, transforms.Register, postgrescdc.Register} {
		if err := r(reg); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// env is a PostgreSQL server, a broker and a worker.
type env struct {
	pg  *testdb.Postgres
	b   *testbroker.Broker
	w   *worker.Worker
	reg *connectors.Registry
	db  *pgx.Conn
}

func newEnv(t *testing.T, pgSettings ...string) *env {
	t.Helper()
	e := &env{pg: testdb.StartPostgres(t, pgSettings...), b: testbroker.New(t), reg: plugins(t)}
	e.w = newWorker(t, e.b, e.reg, core.ExactlyOnceV2)
	e.db = e.connect(t)
	return e
}

func newWorker(t *testing.T, b *testbroker.Broker, reg *connectors.Registry, g core.ProcessingGuarantee) *worker.Worker {
	t.Helper()
	w, err := worker.New(worker.Config{Brokers: []string{b.Addr()}, Plugins: reg, Guarantee: g,
		OffsetsTopicPartitions: 2, TransactionTimeout: 10 * time.Second, SessionTimeout: 2 * time.Second, Logger: testLogger()})
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

func (e *env) connect(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, e.pg.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// exec runs statements, failing the test on error.
func (e *env) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.db.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// config is a connector configuration for the test server with JSON
// converters that carry schemas (Kafka Connect's JsonConverter defaults).
func (e *env) config(name string, kv ...any) map[string]any {
	cfg := map[string]any{
		"name": name, "type": "postgres-cdc",
		"database.hostname": "127.0.0.1", "database.port": e.pg.Port, "database.user": "postgres",
		"database.dbname": "postgres", "database.sslmode": "disable",
		"topic.prefix": "srv", "slot.name": "s_" + strings.ReplaceAll(name, "-", "_"), "publication.name": "p_" + strings.ReplaceAll(name, "-", "_"),
		"key.converter": "json", "key.converter.schemas.enable": true,
		"value.converter": "json", "value.converter.schemas.enable": true,
		"poll.interval.ms": 100, "status.update.interval.ms": 1000, "slot.retry.delay.ms": 200, "slot.max.retries": 50,
		"offset.flush.interval.ms": 100, "metrics.log.interval.ms": 0,
		// One partition per topic: the tests read events in order.
		"topic.creation.default.partitions": 1,
	}
	for i := 0; i < len(kv); i += 2 {
		cfg[kv[i].(string)] = kv[i+1]
	}
	return cfg
}

// dropSlot drops a slot, waiting until its last reader has gone.
func (e *env) dropSlot(t testing.TB, slot string) {
	t.Helper()
	testwait.Until(t, "slot "+slot+" to be released", 30*time.Second, func() bool {
		_, err := e.db.Exec(context.Background(), `SELECT pg_drop_replication_slot($1)`, slot)
		return err == nil
	})
}

func (e *env) start(t testing.TB, cfg map[string]any) *worker.Connector {
	t.Helper()
	c, err := e.w.StartSource(context.Background(), cfg)
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
		t.Fatalf("stop: %v", err)
	}
	for _, ts := range c.Status().Tasks {
		if ts.State == worker.StateFailed {
			t.Fatalf("task failed: %s", ts.Error)
		}
	}
}

// event is a decoded change event (JSON with schemas), read without
// Sluice's decoders.
type event struct {
	Topic     string
	Key       map[string]any // the key's payload
	Tombstone bool
	Op        string
	Before    map[string]any
	After     map[string]any
	Source    map[string]any
	Schema    map[string]any // the value's schema
	Raw       []byte
}

func decodeEvent(t testing.TB, r *kgo.Record) event {
	t.Helper()
	ev := event{Topic: r.Topic, Raw: r.Value}
	if len(r.Key) > 0 {
		var k struct {
			Payload map[string]any `json:"payload"`
		}
		if err := json.Unmarshal(r.Key, &k); err != nil {
			t.Fatalf("key %s: %v", r.Key, err)
		}
		ev.Key = k.Payload
	}
	if r.Value == nil {
		ev.Tombstone = true
		return ev
	}
	var v struct {
		Schema  map[string]any `json:"schema"`
		Payload struct {
			Op     string         `json:"op"`
			Before map[string]any `json:"before"`
			After  map[string]any `json:"after"`
			Source map[string]any `json:"source"`
		} `json:"payload"`
	}
	d := json.NewDecoder(strings.NewReader(string(r.Value)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("value %s: %v", r.Value, err)
	}
	ev.Op, ev.Before, ev.After, ev.Source, ev.Schema = v.Payload.Op, v.Payload.Before, v.Payload.After, v.Payload.Source, v.Schema
	return ev
}

func (e *env) events(t testing.TB, topic string) []event {
	t.Helper()
	if !e.topicExists(t, topic) {
		return nil
	}
	var out []event
	for _, r := range e.b.ReadAll(t, topic) {
		out = append(out, decodeEvent(t, r))
	}
	return out
}

// records reads a topic (read_committed); nil before it exists.
func (e *env) records(t testing.TB, topic string) []*kgo.Record {
	t.Helper()
	if !e.topicExists(t, topic) {
		return nil
	}
	return e.b.ReadAll(t, topic)
}

// endOffset is the sum of a topic's end offsets (records and transaction
// markers): a cheap progress gauge.
func (e *env) endOffset(t testing.TB, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(e.b.Client(t)).ListEndOffsets(ctx, topic)
	if err != nil {
		return 0
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}

func (e *env) topicExists(t testing.TB, topic string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	td, err := kadm.NewClient(e.b.Client(t)).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := td[topic]
	return ok && d.Err == nil
}

// idOf returns an event row's "id" as text.
func idOf(row map[string]any) string {
	if row == nil {
		return ""
	}
	return fmt.Sprint(row["id"])
}

// table is a table's content as the events rebuild it, keyed by id.
type table map[string]map[string]any

// apply replays events (in topic order, per key) onto a table: creates,
// reads and updates write the after image, deletes remove the row.
func apply(t testing.TB, evs []event) table {
	t.Helper()
	tb := table{}
	for _, ev := range evs {
		if ev.Tombstone {
			continue
		}
		switch ev.Op {
		case "c", "r", "u":
			tb[idOf(ev.After)] = ev.After
		case "d":
			delete(tb, idOf(ev.Before))
		case "t":
			for k := range tb {
				delete(tb, k)
			}
		default:
			t.Fatalf("unexpected op %q", ev.Op)
		}
	}
	return tb
}

// rows reads a table's rows (id -> column -> JSON-ish value) with the
// given select list, for comparing with replayed events.
func (e *env) rows(t testing.TB, query string) map[string]map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := e.db.Query(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	fields := rows.FieldDescriptions()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		for i, f := range fields {
			row[f.Name] = fmt.Sprint(vals[i])
		}
		out[row["id"]] = row
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// errDone ends a workload without an error.
var errDone = errors.New("done")

// workload runs a function in a loop on its own goroutine until halted
// (or the test ends); its first error fails the test at halt.
type workload struct {
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	err      error
}

func runWorkload(t testing.TB, fn func(i int) error) *workload {
	w := &workload{stop: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			if err := fn(i); err != nil {
				if err != errDone {
					w.err = err
				}
				return
			}
		}
	}()
	t.Cleanup(func() { w.stopOnce.Do(func() { close(w.stop) }); w.wg.Wait() })
	return w
}

// wait waits for the workload to end by itself.
func (w *workload) wait(t testing.TB) {
	t.Helper()
	w.wg.Wait()
	if w.err != nil {
		t.Fatalf("workload: %v", w.err)
	}
}

func (w *workload) halt(t testing.TB) {
	t.Helper()
	w.stopOnce.Do(func() { close(w.stop) })
	w.wg.Wait()
	if w.err != nil {
		t.Fatalf("workload: %v", w.err)
	}
}

// decodeDecimal reads a base64 two's-complement unscaled integer.
func decodeDecimal(b64 string, scale int) (string, error) {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", err
	}
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)).FloatString(scale), nil
}
