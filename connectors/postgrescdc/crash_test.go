package postgrescdc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/testwait"
)

// crashWorkload changes two tables until halted, surviving a server
// restart: inserts, updates and deletes of accounts, transactions that
// insert an order and update its account together, transactions of 300
// inserts (longer than a poll), and from time to time a large (TOASTed)
// document on an order that other updates then leave unchanged. Errors from the server's restart are retried on a new
// connection (a statement in flight may or may not have committed: the
// test compares the topics with the tables, not with a log).
func crashWorkload(t *testing.T, e *env) *workload {
	rng := rand.New(rand.NewPCG(7, 11))
	var conn *pgx.Conn
	nextAccount, nextOrder := 1000, 1
	return runWorkload(t, func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conn == nil || conn.IsClosed() {
			c, err := pgx.Connect(ctx, e.pg.DSN(""))
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				return nil // the server is restarting
			}
			conn = c
			t.Cleanup(func() { c.Close(context.Background()) })
		}
		var err error
		switch op := rng.IntN(10); {
		case i%50 == 49:
			// A transaction larger than max.batch.size: it spans polls
			// and Kafka transactions, and a crash may split it.
			_, err = conn.Exec(ctx, `INSERT INTO accounts SELECT g, 0, 'bulk' FROM generate_series($1::int, $2::int) g`, nextAccount+1, nextAccount+300)
			nextAccount += 300
		case op < 3:
			nextAccount++
			_, err = conn.Exec(ctx, `INSERT INTO accounts VALUES ($1, 0, 'new')`, nextAccount)
		case op < 6:
			_, err = conn.Exec(ctx, `UPDATE accounts SET v = v + 1 WHERE id = $1`, 1+rng.IntN(nextAccount))
		case op < 7:
			_, err = conn.Exec(ctx, `DELETE FROM accounts WHERE id = $1`, 1+rng.IntN(nextAccount))
		case op < 9:
			err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				acct := 1 + rng.IntN(nextAccount)
				nextOrder++
				if _, err := tx.Exec(ctx, `INSERT INTO orders VALUES ($1, $2, $3, 'small', 0)`, nextOrder, acct, fmt.Sprintf("%d.%02d", rng.IntN(1000), rng.IntN(100))); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `UPDATE accounts SET v = v + 100 WHERE id = $1`, acct)
				return err
			})
		default:
			id := 1 + rng.IntN(nextOrder)
			if rng.IntN(4) == 0 {
				_, err = conn.Exec(ctx, `UPDATE orders SET doc = $2 WHERE id = $1`, id, incompressible(fmt.Sprint("doc", i), 40*1024))
			} else {
				_, err = conn.Exec(ctx, `UPDATE orders SET n = n + 1 WHERE id = $1`, id)
			}
		}
		if err != nil {
			conn.Close(context.Background())
			conn = nil
		}
		time.Sleep(time.Millisecond)
		return nil
	})
}

// TestCrashes: the worker crashes twice and PostgreSQL crash-stops and
// restarts once while the workload runs, under exactly-once. Every change
// is in the topics exactly once (read_committed), in commit order, and
// replaying them rebuilds both tables exactly (the TOASTed documents too:
// the orders table has REPLICA IDENTITY FULL).
func TestCrashes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.exec(t, `CREATE TABLE accounts (id int PRIMARY KEY, v bigint NOT NULL, note text)`)
	e.exec(t, `CREATE TABLE orders (id int PRIMARY KEY, account int, amount numeric(10,2), doc text, n int)`)
	e.exec(t, `ALTER TABLE orders REPLICA IDENTITY FULL`)
	e.exec(t, `INSERT INTO accounts SELECT g, 0, 'seed' FROM generate_series(1, 1000) g`)
	e.exec(t, `INSERT INTO orders VALUES (1, 1, 1.00, $1, 0)`, incompressible("doc-seed", 40*1024))
	cfg := e.config("crashy", "max.batch.size", 200, "heartbeat.interval.ms", 300)
	w := crashWorkload(t, e)
	progress := func(what string, more int64) {
		t.Helper()
		base := e.endOffset(t, "srv.public.accounts") + e.endOffset(t, "srv.public.orders")
		testwait.Until(t, what, 60*time.Second, func() bool {
			return e.endOffset(t, "srv.public.accounts")+e.endOffset(t, "srv.public.orders") >= base+more
		})
	}
	c := e.start(t, cfg)
	progress("the snapshot and some changes", 1200)
	c.Crash()
	c = e.start(t, cfg)
	progress("changes after the first crash", 300)
	c.Crash()
	c = e.start(t, cfg)
	progress("changes after the second crash", 300)
	e.pg.Stop()
	time.Sleep(300 * time.Millisecond)
	e.pg.Start()
	e.db = e.connect(t)
	progress("changes after the server's restart", 300)
	w.halt(t)
	// A last change in each table marks the end.
	e.exec(t, `UPDATE accounts SET note = 'end' WHERE id = 1`)
	e.exec(t, `UPDATE orders SET n = -1 WHERE id = 1`)
	testwait.Until(t, "the last changes", 60*time.Second, func() bool {
		seen := 0
		for _, tb := range []struct{ topic, col, want string }{{"srv.public.accounts", "note", "end"}, {"srv.public.orders", "n", "-1"}} {
			evs := e.events(t, tb.topic)
			for i := len(evs) - 1; i >= 0; i-- {
				if idOf(evs[i].After) == "1" && fmt.Sprint(evs[i].After[tb.col]) == tb.want {
					seen++
					break
				}
			}
		}
		return seen == 2
	})
	stop(t, c)
	for _, tb := range []struct{ table, cols string }{{"accounts", "id, v, note"}, {"orders", "id, account, amount::text AS amount, doc, n"}} {
		evs := e.events(t, "srv.public."+tb.table)
		checkExactlyOnce(t, tb.table, evs)
		got := apply(t, evs)
		want := e.rows(t, "SELECT "+tb.cols+" FROM "+tb.table)
		if len(got) != len(want) {
			t.Fatalf("%s: replayed %d rows, the table has %d", tb.table, len(got), len(want))
		}
		for id, row := range want {
			g := got[id]
			for col, v := range row {
				gv := fmt.Sprint(g[col])
				if col == "amount" {
					gv = decimalText(t, g[col], 2)
				}
				if g[col] == nil {
					gv = "<nil>"
				}
				if gv != v {
					t.Fatalf("%s row %s column %s: replayed %.60s, table %.60s", tb.table, id, col, gv, v)
				}
			}
		}
		t.Logf("%s: %d events, %d rows", tb.table, len(evs), len(want))
	}
}

// checkExactlyOnce: every streamed change (one WAL record: source.lsn) is
// in the topic once, every row is read by a snapshot at most once, and
// the changes are in commit order.
func checkExactlyOnce(t *testing.T, table string, evs []event) {
	t.Helper()
	seen := map[string]int{}
	var lastCommit, lastLSN int64
	for i, ev := range evs {
		if ev.Tombstone {
			continue
		}
		row := ev.After
		if row == nil {
			row = ev.Before
		}
		var id string
		if ev.Op == "r" {
			id = "r:" + idOf(row)
		} else {
			id = fmt.Sprintf("%s:%v:%s", ev.Op, ev.Source["lsn"], idOf(row))
			var seq []*string
			if err := json.Unmarshal([]byte(fmt.Sprint(ev.Source["sequence"])), &seq); err != nil || len(seq) != 2 {
				t.Fatalf("%s event %d: sequence %v", table, i, ev.Source["sequence"])
			}
			var commit int64
			if seq[0] != nil {
				fmt.Sscan(*seq[0], &commit)
			}
			var lsn int64
			fmt.Sscan(fmt.Sprint(ev.Source["lsn"]), &lsn)
			if commit < lastCommit || (commit == lastCommit && lsn < lastLSN) {
				t.Fatalf("%s event %d (%s) is out of commit order: commit %d lsn %d after commit %d lsn %d", table, i, id, commit, lsn, lastCommit, lastLSN)
			}
			lastCommit, lastLSN = commit, lsn
		}
		seen[id]++
		if seen[id] > 1 {
			t.Fatalf("%s: %s is in the topic %d times (event %d)", table, id, seen[id], i)
		}
	}
}

// decimalText renders a JsonConverter decimal (base64 of the unscaled
// two's-complement integer) with the given scale.
func decimalText(t *testing.T, v any, scale int) string {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		return fmt.Sprint(v)
	}
	r, err := decodeDecimal(s, scale)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
