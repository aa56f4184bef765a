package mysqlcdc_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testwait"
)

// workload changes two tables until stopped: inserts, updates (ver counts
// each row's updates), deletes, and transactions touching both tables,
// some large (hundreds of rows, so that a crash lands inside one). It
// tolerates the server's outages: a failed statement is retried later.
type workload struct {
	e       *env
	nextID  atomic.Int64
	stopped chan struct{}
	wg      sync.WaitGroup
	txns    atomic.Int64
	fails   atomic.Int64
}

func startWorkload(t *testing.T, e *env, firstID int64) *workload {
	w := &workload{e: e, stopped: make(chan struct{})}
	w.nextID.Store(firstID)
	for g := 0; g < 2; g++ {
		w.wg.Add(1)
		go func(seed uint64) {
			defer w.wg.Done()
			rng := rand.New(rand.NewPCG(seed, 7))
			for {
				select {
				case <-w.stopped:
					return
				default:
				}
				if err := w.step(rng); err != nil {
					w.fails.Add(1)
					time.Sleep(50 * time.Millisecond)
					continue
				}
				w.txns.Add(1)
				// A steady, modest rate: the test checks correctness, and
				// the connector must catch up within the test's time under
				// the race detector.
				time.Sleep(time.Duration(2+rng.IntN(4)) * time.Millisecond)
			}
		}(uint64(g))
	}
	return w
}

func (w *workload) stop() {
	close(w.stopped)
	w.wg.Wait()
}

func (w *workload) step(rng *rand.Rand) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db := w.e.sql
	switch n := rng.IntN(100); {
	case n < 35:
		id := w.nextID.Add(1)
		_, err := db.ExecContext(ctx, "INSERT INTO bank.acct (id, bal, ver, note) VALUES (?, ?, 0, ?)", id, rng.IntN(1000), fmt.Sprintf("n%d", id))
		return err
	case n < 65:
		_, err := db.ExecContext(ctx, "UPDATE bank.acct SET bal = bal + 1, ver = ver + 1 WHERE id = (SELECT id FROM (SELECT id FROM bank.acct ORDER BY RAND() LIMIT 1) x)")
		return err
	case n < 75:
		_, err := db.ExecContext(ctx, "DELETE FROM bank.acct WHERE id = (SELECT id FROM (SELECT id FROM bank.acct ORDER BY RAND() LIMIT 1) x)")
		return err
	case n < 95:
		// One transaction across both tables.
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		amt := rng.IntN(50) + 1
		var id int64
		if err := tx.QueryRowContext(ctx, "SELECT id FROM bank.acct ORDER BY RAND() LIMIT 1").Scan(&id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE bank.acct SET bal = bal - ?, ver = ver + 1 WHERE id = ?", amt, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO bank.ledger (acct, amt) VALUES (?, ?)", id, amt); err != nil {
			return err
		}
		return tx.Commit()
	case n < 97:
		return nil
	default:
		// A large transaction: many rows in several row events.
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var vals []string
		var args []any
		for i := 0; i < 120; i++ {
			id := w.nextID.Add(1)
			vals = append(vals, "(?, ?, 0, ?)")
			args = append(args, id, i, strings.Repeat("x", 40))
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO bank.acct (id, bal, ver, note) VALUES "+strings.Join(vals, ","), args...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE bank.acct SET ver = ver + 1, bal = bal + 1 WHERE id % 7 = 0 AND id > ?", w.nextID.Load()-120); err != nil {
			return err
		}
		return tx.Commit()
	}
}

// checkChains verifies, per key, that the events form one unbroken history:
// a create (or snapshot read), updates whose before is the previous after
// and whose ver goes up by one, a delete and its tombstone, nothing after.
// A duplicated or missing event breaks a chain.
func checkChains(t *testing.T, evs []event) {
	t.Helper()
	type chain struct {
		last    map[string]any
		deleted bool
		tomb    bool
	}
	chains := map[string]*chain{}
	var problems []string
	for _, ev := range evs {
		k := rowKey(ev.key)
		c := chains[k]
		switch ev.op() {
		case "r", "c":
			if c != nil && !c.deleted {
				problems = append(problems, fmt.Sprintf("%s: %s while the row exists (duplicate?) at %d/%d", k, ev.op(), ev.partition, ev.offset))
			}
			if c != nil && c.deleted {
				problems = append(problems, fmt.Sprintf("%s: %s after a delete (ids are not reused) at %d/%d", k, ev.op(), ev.partition, ev.offset))
			}
			chains[k] = &chain{last: ev.after()}
		case "u":
			if c == nil || c.deleted {
				problems = append(problems, fmt.Sprintf("%s: update of a missing row at %d/%d", k, ev.partition, ev.offset))
				chains[k] = &chain{last: ev.after()}
				continue
			}
			if str(ev.before()) != str(c.last) {
				problems = append(problems, fmt.Sprintf("%s: update's before %v is not the last after %v at %d/%d", k, ev.before(), c.last, ev.partition, ev.offset))
			}
			if v, ok := ev.after()["ver"]; ok && str(v) == str(c.last["ver"]) {
				problems = append(problems, fmt.Sprintf("%s: update keeps ver %v at %d/%d", k, v, ev.partition, ev.offset))
			}
			c.last = ev.after()
		case "d":
			if c == nil || c.deleted {
				problems = append(problems, fmt.Sprintf("%s: delete of a missing row at %d/%d", k, ev.partition, ev.offset))
				continue
			}
			if str(ev.before()) != str(c.last) {
				problems = append(problems, fmt.Sprintf("%s: delete's before %v is not the last after %v", k, ev.before(), c.last))
			}
			c.deleted = true
		case "tombstone":
			if c == nil || !c.deleted || c.tomb {
				problems = append(problems, fmt.Sprintf("%s: unexpected tombstone at %d/%d", k, ev.partition, ev.offset))
				continue
			}
			c.tomb = true
		}
	}
	for k, c := range chains {
		if c.deleted && !c.tomb {
			problems = append(problems, k+": delete without tombstone")
		}
	}
	if len(problems) > 0 {
		if len(problems) > 20 {
			problems = append(problems[:20], "...")
		}
		t.Fatalf("%d events; broken histories:\n  %s", len(evs), strings.Join(problems, "\n  "))
	}
}

// TestCrashRecovery runs a workload while the worker crashes twice and the
// database server is killed and restarted once, then checks that the
// topics hold every change exactly once (read_committed) and that replaying
// them gives the tables' content.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.exec(t, "CREATE DATABASE bank CHARACTER SET utf8mb4",
		"CREATE TABLE bank.acct (id BIGINT PRIMARY KEY, bal INT NOT NULL, ver INT NOT NULL, note VARCHAR(64))",
		"CREATE TABLE bank.ledger (id INT AUTO_INCREMENT PRIMARY KEY, acct BIGINT NOT NULL, amt INT NOT NULL)")
	for i := 1; i <= 200; i++ {
		e.exec(t, fmt.Sprintf("INSERT INTO bank.acct VALUES (%d, 100, 0, 'seed')", i))
	}
	e.topics(t, "cr.bank.acct", "cr.bank.ledger")
	w := e.worker(t, core.ExactlyOnceV2)
	// Values without schemas: the test decodes every event, and schemas
	// would make that the slowest part of the test.
	cfg := e.config("crash", "cr", "database.include.list", "bank",
		"max.batch.size", 64, "max.queue.size", 256, "errors.retry.delay.max.ms", 500,
		"key.converter.schemas.enable", false, "value.converter.schemas.enable", false)
	c := startSource(t, w, cfg)
	load := startWorkload(t, e, 1000)

	// progress waits until the running connector has written 50 more
	// events (its task's counter: reading the topics back would cost more
	// the longer the test runs).
	progress := func(what string) {
		n := written(c)
		testwait.Until(t, "progress "+what, 30*time.Second, func() bool {
			if written(c) > n+50 {
				return true
			}
			checkRunning(t, c)
			return false
		}, testwait.Detail(func() string { return fmt.Sprintf("%d events written", written(c)) }))
	}
	// A crash during the snapshot makes the next start snapshot again
	// (documented, as Debezium), which the histories below would report as
	// duplicates: crash once a streamed change is committed (the snapshot's
	// completion is then committed too).
	testwait.Until(t, "a streamed change committed in cr.bank.acct (the snapshot completing)", 60*time.Second, func() bool {
		streamed := false
		for _, ev := range e.events(t, "cr.bank.acct") {
			if ev.op() != "r" {
				streamed = true
				break
			}
		}
		checkRunning(t, c)
		return streamed
	})
	progress("before the first crash")
	c.Crash()
	time.Sleep(300 * time.Millisecond)
	c = startSource(t, w, cfg)
	progress("after the first crash")

	e.m.Stop()
	time.Sleep(500 * time.Millisecond)
	e.m.Start()
	progress("after the server restart")

	c.Crash()
	c = startSource(t, w, cfg)
	progress("after the second crash")
	load.stop()
	t.Logf("workload: %d transactions, %d failed attempts", load.txns.Load(), load.fails.Load())

	// Wait until the connector has caught up with everything committed.
	e.waitCaughtUp(t, c, "bank.ledger", "cr.bank.ledger", "INSERT INTO bank.ledger (id, acct, amt) VALUES (1000000000, -1, 0)", 1000000000, 90*time.Second)
	wantAcct := e.tableImage(t, "bank.acct", "id")
	wantLedger := e.tableImage(t, "bank.ledger", "id")
	stop(t, c)
	acctEvents := e.events(t, "cr.bank.acct")
	ledgerEvents := e.events(t, "cr.bank.ledger")
	checkChains(t, acctEvents)
	checkChains(t, ledgerEvents)
	diffImages(t, "acct", stringImage(replay(t, acctEvents)), wantAcct)
	diffImages(t, "ledger", stringImage(replay(t, ledgerEvents)), wantLedger)
	t.Logf("acct: %d events, %d rows; ledger: %d events, %d rows", len(acctEvents), len(wantAcct), len(ledgerEvents), len(wantLedger))
}
