package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testdb"
	"github.com/sluicehq/sluice/internal/testwait"
)

// TestPostgresCDCToJDBCSIGKILL is issue 11's acceptance run: while a
// workload inserts, updates and deletes rows of two tables (transactions
// touching both, transactions larger than a poll, large TOASTed values
// that later updates leave unchanged), a `sluice connectors run` of
// postgres-cdc under exactly-once is SIGKILLed twice and PostgreSQL is
// crash-stopped and restarted once. Then every change is in the topics
// exactly once (read_committed), and replaying the topics with the jdbc
// sink (Debezium's ExtractNewRecordState, upserts, deletes) into another
// database rebuilds both tables exactly.
func TestPostgresCDCToJDBCSIGKILL(t *testing.T) {
	t.Parallel()
	pg := testdb.StartPostgres(t)
	pg.Psql("", "CREATE DATABASE shop")
	pg.Psql("", "CREATE DATABASE replica")
	pg.Psql("shop", `CREATE TABLE accounts (id int PRIMARY KEY, v bigint NOT NULL, note text);
		CREATE TABLE docs (id int PRIMARY KEY, account int NOT NULL, body text, n int NOT NULL);
		ALTER TABLE docs REPLICA IDENTITY FULL;
		INSERT INTO accounts SELECT g, 0, 'seed' FROM generate_series(1, 500) g;`)
	b := testbroker.New(t)
	dir := t.TempDir()
	source := filepath.Join(dir, "cdc.properties")
	writeFile(t, source, fmt.Sprintf(`name=shop-cdc
type=postgres-cdc
database.hostname=127.0.0.1
database.port=%d
database.user=postgres
database.dbname=shop
topic.prefix=shop
table.include.list=public.accounts,public.docs
slot.name=sluice_shop
publication.name=sluice_shop
max.batch.size=200
heartbeat.interval.ms=500
key.converter=json
key.converter.schemas.enable=true
value.converter=json
value.converter.schemas.enable=true
`, pg.Port))
	args := []string{"connectors", "run", "--brokers", b.Addr(), "--guarantee", "exactly_once_v2",
		"--instance-id", "cdc", "--session-timeout", "6s", "--progress", "0", source}
	topics := []string{"shop.public.accounts", "shop.public.docs"}
	events := func() int64 { return highWatermarks(t, b, topics[0]) + highWatermarks(t, b, topics[1]) }
	w := startShopWorkload(t, pg)

	var p *sluiceProc
	progress := func(what string, more int64) {
		t.Helper()
		base := events()
		waitUntil(t, what, 90*time.Second, p, func() bool { return events() >= base+more })
	}
	p = startSluice(t, args...)
	progress("the snapshot", 500)
	for range 2 {
		progress("changes", 300)
		p.kill(t)
		p = startSluice(t, args...)
	}
	progress("changes after the second SIGKILL", 300)
	pg.Stop()
	time.Sleep(300 * time.Millisecond)
	pg.Start()
	progress("changes after PostgreSQL's restart", 300)
	w.halt(t)
	pg.Psql("shop", "UPDATE accounts SET note = 'end' WHERE id = 1; UPDATE docs SET n = -1 WHERE id = (SELECT min(id) FROM docs)")
	waitUntil(t, "the last changes in the topics", 90*time.Second, p, func() bool {
		return holds(t, b, topics[0], `"note":"end"`) && holds(t, b, topics[1], `"n":-1`)
	})
	p.stop(t)

	for _, topic := range topics {
		checkChangesOnce(t, b, topic)
	}

	sink := filepath.Join(dir, "replica.properties")
	writeFile(t, sink, fmt.Sprintf(`name=replica
type=jdbc
topics=%s
connection.url=jdbc:postgresql://127.0.0.1:%d/replica
connection.user=postgres
insert.mode=upsert
pk.mode=record_key
delete.enabled=true
auto.create=true
key.converter=json
key.converter.schemas.enable=true
value.converter=json
value.converter.schemas.enable=true
transforms=unwrap,route
transforms.unwrap.type=io.debezium.transforms.ExtractNewRecordState
transforms.route.type=org.apache.kafka.connect.transforms.RegexRouter
transforms.route.regex=shop\.public\.(.*)
transforms.route.replacement=$1
`, strings.Join(topics, ","), pg.Port))
	replay := startSluice(t, "connectors", "run", "--brokers", b.Addr(), "--until-done", "--progress", "0", sink)
	replay.wait(t, 120*time.Second)

	for _, q := range []string{
		"SELECT id, v, coalesce(note, '<null>') FROM accounts ORDER BY id",
		"SELECT id, account, md5(body), length(body), n FROM docs ORDER BY id",
	} {
		want, got := pg.Psql("shop", q), pg.Psql("replica", q)
		if want != got {
			t.Fatalf("replica differs from the source for %q:\n%s", q, firstDiff(want, got))
		}
		t.Logf("%q: %d rows equal", q, strings.Count(want, "\n")+1)
	}
}

// shopWorkload changes accounts and docs until halted and survives a
// server restart (a statement in flight then may or may not have
// committed: the test compares the tables, not a log).
type shopWorkload struct {
	stop    chan struct{}
	halting sync.Once
	done    sync.WaitGroup
	ops     int
	failed  error
}

func startShopWorkload(t *testing.T, pg *testdb.Postgres) *shopWorkload {
	w := &shopWorkload{stop: make(chan struct{})}
	rng := mrand.New(mrand.NewPCG(3, 5))
	nextAccount, nextDoc := 500, 0
	var conn *pgx.Conn
	step := func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conn == nil || conn.IsClosed() {
			c, err := pgx.Connect(ctx, pg.DSN("shop"))
			if err != nil {
				time.Sleep(100 * time.Millisecond) // restarting
				return nil
			}
			conn = c
		}
		var err error
		switch op := rng.IntN(10); {
		case i%60 == 59: // larger than max.batch.size: spans polls and transactions
			_, err = conn.Exec(ctx, `INSERT INTO accounts SELECT g, 0, 'bulk' FROM generate_series($1::int, $2::int) g`, nextAccount+1, nextAccount+250)
			nextAccount += 250
		case op < 3:
			nextAccount++
			_, err = conn.Exec(ctx, `INSERT INTO accounts VALUES ($1, 0, 'new')`, nextAccount)
		case op < 5:
			_, err = conn.Exec(ctx, `UPDATE accounts SET v = v + 1, note = NULL WHERE id = $1`, 1+rng.IntN(nextAccount))
		case op < 6:
			_, err = conn.Exec(ctx, `DELETE FROM accounts WHERE id = $1`, 2+rng.IntN(nextAccount-1))
		case op < 8: // one transaction, two tables
			err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				nextDoc++
				acct := 1 + rng.IntN(nextAccount)
				if _, err := tx.Exec(ctx, `INSERT INTO docs VALUES ($1, $2, 'small', 0)`, nextDoc, acct); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `UPDATE accounts SET v = v + 100 WHERE id = $1`, acct)
				return err
			})
		case op < 9 && nextDoc > 0: // a large value, stored out of line (TOAST)
			_, err = conn.Exec(ctx, `UPDATE docs SET body = $2 WHERE id = $1`, 1+rng.IntN(nextDoc), randomText(24*1024))
		case nextDoc > 0: // leaves a TOASTed body unchanged
			_, err = conn.Exec(ctx, `UPDATE docs SET n = n + 1 WHERE id = $1`, 1+rng.IntN(nextDoc))
		}
		if err != nil && conn.IsClosed() {
			return nil
		}
		if err != nil && ctx.Err() == nil && !strings.Contains(err.Error(), "SQLSTATE 57P01") && !strings.Contains(err.Error(), "closed") {
			return err
		}
		return nil
	}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if err := step(i); err != nil {
				w.failed = fmt.Errorf("workload step %d: %w", i, err)
				return
			}
			w.ops = i + 1
		}
	}()
	t.Cleanup(func() {
		w.halt(t)
		if conn != nil {
			conn.Close(context.Background())
		}
	})
	return w
}

// halt stops the workload (once) and fails the test if a step failed.
func (w *shopWorkload) halt(t *testing.T) {
	t.Helper()
	w.halting.Do(func() {
		close(w.stop)
		w.done.Wait()
		if w.failed != nil {
			t.Error(w.failed)
		}
		t.Logf("workload: %d operations", w.ops)
	})
}

func randomText(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// holds reports whether a committed record of topic contains marker. (Not
// only the last records: when a SIGKILL interrupted the initial snapshot,
// its remaining rows are read as an incremental snapshot, whose reads can
// follow the marker change in its partition.)
func holds(t *testing.T, b *testbroker.Broker, topic, marker string) bool {
	t.Helper()
	for _, r := range b.ReadAll(t, topic) {
		if bytes.Contains(r.Value, []byte(marker)) {
			return true
		}
	}
	return false
}

// checkChangesOnce: every streamed change (op, WAL position, row) is in the
// topic once and every row is read by the snapshot at most once.
func checkChangesOnce(t *testing.T, b *testbroker.Broker, topic string) {
	t.Helper()
	seen := map[string]int{}
	recs := b.ReadAll(t, topic)
	for _, r := range recs {
		if r.Value == nil {
			continue // the tombstone after a delete
		}
		var ev struct {
			Payload struct {
				Op            string
				Before, After map[string]any
				Source        struct{ LSN json.Number }
			}
		}
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatalf("%s offset %d: %v: %s", topic, r.Offset, err, r.Value)
		}
		row := ev.Payload.After
		if row == nil {
			row = ev.Payload.Before
		}
		id := fmt.Sprintf("%s:%v", ev.Payload.Op, row["id"])
		if ev.Payload.Op != "r" {
			id += "@" + ev.Payload.Source.LSN.String()
		}
		if seen[id]++; seen[id] > 1 {
			t.Fatalf("%s: change %s is in the topic %d times (offset %d)", topic, id, seen[id], r.Offset)
		}
	}
	t.Logf("%s: %d records, each change once", topic, len(recs))
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d: source %q, replica %q (%d vs %d rows)", i+1, wl, gl, len(w), len(g))
		}
	}
	return "equal"
}

// TestExamplePaymentsRevenuePostgres runs examples/jobs/payments-revenue-postgres.yaml
// with `sluice run` on its embedded broker and registry against a real
// PostgreSQL: payments from the snapshot and from the replication stream
// end up summed per customer and minute in the analytics table, exactly
// as SQL over the source table computes them.
func TestExamplePaymentsRevenuePostgres(t *testing.T) {
	t.Parallel()
	pg := testdb.StartPostgres(t)
	pg.Psql("", "CREATE DATABASE shop")
	pg.Psql("", "CREATE DATABASE analytics")
	pg.Psql("shop", `CREATE TABLE payments (id bigint PRIMARY KEY, customer text NOT NULL,
		amount_cents bigint NOT NULL, paid_at_ms bigint NOT NULL)`)
	const base = 1_767_225_600_000 // 2026-01-01T00:00:00Z
	insert := func(from, to int, minute0 int) {
		var vals []string
		for i := from; i < to; i++ {
			// Payment time grows with the id within each phase: two
			// minutes per phase, so no record is later than the grace.
			at := base + int64(minute0)*60_000 + int64(i-from)*120_000/int64(to-from)
			vals = append(vals, fmt.Sprintf("(%d, 'c%d', %d, %d)", i, i%5, 100+i%37, at))
		}
		pg.Psql("shop", "INSERT INTO payments VALUES "+strings.Join(vals, ","))
	}
	insert(0, 300, 0) // read by the snapshot
	job, err := filepath.Abs("../../examples/jobs/payments-revenue-postgres.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := startSluiceEnv(t, []string{"SLUICE_STATE_DIR=" + t.TempDir(), "PGHOST=127.0.0.1", fmt.Sprintf("PGPORT=%d", pg.Port),
		"PGUSER=postgres", "PGPASSWORD=", "PGDATABASE=shop", "ANALYTICS_DATABASE=analytics"},
		"run", job, "--progress", "0")
	// The analytics table must equal SQL over the source table, first
	// after the snapshot, then after the streamed rows. Waiting for the
	// first before inserting the second keeps the test deterministic: the
	// streamed rows are two minutes later, and were they processed by one
	// task before another task's snapshot rows reached the aggregation,
	// those rows would be later than the window's grace and dropped, as
	// Kafka Streams drops them.
	converge := func(phase string) string {
		want := pg.Psql("shop", `SELECT customer, (paid_at_ms / 60000) * 60000, count(*), sum(amount_cents)
			FROM payments GROUP BY 1, 2 ORDER BY 1, 2`)
		got := "(no table customer_revenue)"
		testwait.Until(t, "the analytics table to equal the aggregate of the source table "+phase, 120*time.Second, func() bool {
			if pg.Psql("analytics", "SELECT count(*) FROM pg_tables WHERE tablename = 'customer_revenue'") == "1" {
				// minute is a TIMESTAMP column (the window start's timestamp-millis
				// logical type); compare it as epoch milliseconds.
				got = pg.Psql("analytics", "SELECT customer, (extract(epoch FROM minute) * 1000)::bigint, payments, revenue_cents FROM customer_revenue ORDER BY 1, 2")
			}
			return got == want
		}, testwait.Every(200*time.Millisecond), testwait.Detail(func() string { return firstDiff(want, got) + "\n" + p.output.String() }))
		return want
	}
	converge("after the snapshot")
	insert(300, 600, 2) // streamed
	want := converge("after the streamed rows")
	p.stop(t)
	t.Logf("customer_revenue: %d rows equal to the SQL aggregate", strings.Count(want, "\n")+1)
}
