package postgrescdc_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testwait"
)

// checkMonotonic checks that replaying events never moves a row's counter
// v backwards (a snapshot row older than a change already emitted would),
// and that the replay equals the table.
func checkMonotonic(t *testing.T, e *env, evs []event, table string) {
	t.Helper()
	last := map[string]int64{}
	for i, ev := range evs {
		if ev.Tombstone || ev.After == nil {
			continue
		}
		id := idOf(ev.After)
		v, err := strconv.ParseInt(fmt.Sprint(ev.After["v"]), 10, 64)
		if err != nil {
			t.Fatalf("event %d: v = %v", i, ev.After["v"])
		}
		if prev, ok := last[id]; ok && v < prev {
			t.Fatalf("event %d (%s of row %s) sets v=%d after v=%d was emitted: a stale snapshot row", i, ev.Op, id, v, prev)
		}
		last[id] = v
	}
	got := apply(t, evs)
	want := e.rows(t, "SELECT id, v FROM "+table)
	for id := range want {
		if got[id] == nil {
			var ops []string
			for _, ev := range evs {
				if idOf(ev.After) == id || idOf(ev.Before) == id {
					ops = append(ops, ev.Op)
				}
			}
			t.Logf("row %s missing; events %v", id, ops)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("replayed %d rows, the table has %d", len(got), len(want))
	}
	for id, row := range want {
		if g := got[id]; g == nil || fmt.Sprint(g["v"]) != row["v"] {
			t.Fatalf("row %s: replayed %v, table %v", id, g, row)
		}
	}
}

// TestIncrementalSnapshot: an execute-snapshot signal reads a table in
// chunks while its rows keep changing; the worker crashes in the middle.
// No chunk row overwrites a newer change (each row's counter only grows
// along the topic), every row is read or changed, and the replay equals
// the table.
func TestIncrementalSnapshot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const rows = 2000
	e.exec(t, `CREATE TABLE debezium_signal (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048))`)
	e.exec(t, `CREATE TABLE inc (id int PRIMARY KEY, v bigint NOT NULL)`)
	e.exec(t, fmt.Sprintf(`INSERT INTO inc SELECT g, 0 FROM generate_series(1, %d) g`, rows))
	cfg := e.config("inc", "snapshot.mode", "no_data", "signal.data.collection", "public.debezium_signal",
		"incremental.snapshot.chunk.size", 100, "table.include.list", "public.inc,public.debezium_signal")
	c := e.start(t, cfg)
	testwait.Until(t, "the slot", 30*time.Second, func() bool { return e.slotExists(t, "s_inc") })
	writer := e.connect(t)
	rng := rand.New(rand.NewPCG(1, 2))
	w := runWorkload(t, func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Updates concentrated on a few rows, so they often fall in the
		// window of the chunk that holds them.
		id := 1 + rng.IntN(rows)
		if i%2 == 0 {
			id = 1 + (i/2)%rows
		}
		_, err := writer.Exec(ctx, `UPDATE inc SET v = v + 1 WHERE id = $1`, id)
		time.Sleep(time.Millisecond)
		return err
	})
	e.exec(t, `INSERT INTO debezium_signal VALUES ('sig-1', 'execute-snapshot', '{"data-collections": ["public.inc"], "type": "incremental"}')`)
	topic := "srv.public.inc"
	reads := func() int { return countOps(e.events(t, topic), "r") }
	testwait.Until(t, "part of the incremental snapshot", 60*time.Second, func() bool { return reads() >= 300 })
	c.Crash()
	c = e.start(t, cfg)
	testwait.Until(t, "the rest of the incremental snapshot", 60*time.Second, func() bool {
		if e.endOffset(t, topic) < rows {
			return false
		}
		evs := e.events(t, topic)
		covered := map[string]bool{}
		for _, ev := range evs {
			if ev.After != nil {
				covered[idOf(ev.After)] = true
			}
		}
		return len(covered) == rows
	})
	w.halt(t)
	e.waitLastUpdate(t, topic, "inc")
	stop(t, c)
	evs := e.events(t, topic)
	checkMonotonic(t, e, evs, "inc")
	if r := countOps(evs, "r"); r < rows/2 {
		t.Fatalf("only %d rows were read by the incremental snapshot", r)
	}
	for _, ev := range evs {
		if ev.Op == "r" && ev.Source["snapshot"] != "incremental" {
			t.Fatalf("read event with source.snapshot=%v", ev.Source["snapshot"])
		}
	}
	// The watermarks went through the signal table.
	var marks int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM debezium_signal WHERE type = 'snapshot-window-close'`).Scan(&marks); err != nil || marks < rows/100 {
		t.Fatalf("%d close watermarks (%v), want one per chunk", marks, err)
	}
}

// waitLastUpdate makes a last change (row 1's v jumps by a million) and
// waits until the topic has it: everything before it is there too.
func (e *env) waitLastUpdate(t *testing.T, topic, table string) {
	t.Helper()
	var v int64
	if err := e.db.QueryRow(context.Background(), `UPDATE `+table+` SET v = v + 1000000 WHERE id = 1 RETURNING v`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "the last update", 30*time.Second, func() bool {
		evs := e.events(t, topic)
		for i := len(evs) - 1; i >= 0; i-- {
			if idOf(evs[i].After) == "1" && fmt.Sprint(evs[i].After["v"]) == strconv.FormatInt(v, 10) {
				return true
			}
		}
		return false
	})
}

// TestInterruptedSnapshot: the worker crashes in the middle of the
// initial snapshot while rows change. The snapshot continues after the
// last row Kafka holds, as an incremental snapshot streaming from the
// slot's consistent point: no row is read twice, none is missed, no
// change is lost or repeated, and no read overwrites a newer change.
func TestInterruptedSnapshot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const rows = 5000
	e.exec(t, `CREATE TABLE big (id int PRIMARY KEY, v bigint NOT NULL, pad text)`)
	e.exec(t, fmt.Sprintf(`INSERT INTO big SELECT g, 0, repeat('x', 200) FROM generate_series(1, %d) g`, rows))
	cfg := e.config("interrupted", "max.batch.size", 50, "incremental.snapshot.chunk.size", 500)
	writer := e.connect(t)
	w := runWorkload(t, func(i int) error {
		if i == 1500 {
			return errDone
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := writer.Exec(ctx, `UPDATE big SET v = v + 1 WHERE id = $1`, 1+(i*7919)%rows)
		if err == nil && i%4 == 0 {
			// Rows created after the consistent point: streamed, and
			// never read by the continued snapshot.
			_, err = writer.Exec(ctx, `INSERT INTO big VALUES ($1, 0, 'new')`, rows+1+i)
		}
		time.Sleep(2 * time.Millisecond)
		return err
	})
	c := e.start(t, cfg)
	topic := "srv.public.big"
	deadline := time.Now().Add(60 * time.Second)
	for e.endOffset(t, topic) < 1000 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c.Crash()
	if n := countOps(e.events(t, topic), "r"); n >= rows {
		t.Fatalf("the snapshot completed (%d reads) before the crash", n)
	}
	c = e.start(t, cfg)
	testwait.Until(t, "every row", 90*time.Second, func() bool {
		if e.endOffset(t, topic) < rows {
			return false
		}
		covered := map[string]bool{}
		for _, ev := range e.events(t, topic) {
			if ev.After != nil {
				if id, _ := strconv.Atoi(idOf(ev.After)); id <= rows {
					covered[idOf(ev.After)] = true
				}
			}
		}
		return len(covered) == rows
	})
	w.wait(t)
	e.waitLastUpdate(t, topic, "big")
	stop(t, c)
	evs := e.events(t, topic)
	reads, creates := map[string]int{}, map[string]bool{}
	for _, ev := range evs {
		switch ev.Op {
		case "r":
			reads[idOf(ev.After)]++
		case "c":
			creates[idOf(ev.After)] = true
		}
	}
	for id, n := range reads {
		if n > 1 || creates[id] {
			t.Fatalf("row %s read %d times (created in the stream too: %v)", id, n, creates[id])
		}
	}
	if len(creates) == 0 {
		t.Fatal("no row was created while the snapshot ran")
	}
	checkMonotonic(t, e, evs, "big")
}
