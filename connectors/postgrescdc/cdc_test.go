package postgrescdc_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testwait"
)

// TestSnapshotThenStream: rows inserted and updated while the initial
// snapshot runs are each either in the snapshot or streamed, never both
// and never neither (the snapshot is the slot's exported snapshot and
// streaming starts at its consistent point), and replaying the topic
// rebuilds the table.
func TestSnapshotThenStream(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	e := newEnv(t)
	t.Logf("%v env", time.Since(t0))
	e.exec(t, `CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL, n bigint)`)
	e.exec(t, `INSERT INTO items SELECT g, 'v' || g, g * 10 FROM generate_series(1, 3000) g`)

	writer := e.connect(t)
	const extra = 300
	w := runWorkload(t, func(i int) error {
		if i == extra {
			return errDone
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := writer.Exec(ctx, `INSERT INTO items VALUES ($1, 'new', 0)`, 100000+i); err != nil {
			return err
		}
		_, err := writer.Exec(ctx, `UPDATE items SET n = n + 1 WHERE id = $1`, 1+i%3000)
		time.Sleep(5 * time.Millisecond) // spread over the snapshot and the start of streaming
		return err
	})
	c := e.start(t, e.config("snap", "max.batch.size", 500))
	topic := "srv.public.items"
	w.wait(t)
	last := fmt.Sprint(100000 + extra - 1)
	t.Logf("%v workload done", time.Since(t0))
	testwait.Until(t, "the last insert", 60*time.Second, func() bool {
		evs := e.events(t, topic)
		for i := len(evs) - 1; i >= 0; i-- {
			if (evs[i].Op == "c" || evs[i].Op == "r") && idOf(evs[i].After) == last {
				return true
			}
		}
		return false
	})
	t.Logf("%v last insert seen", time.Since(t0))
	stop(t, c)

	evs := e.events(t, topic)
	t.Logf("%v %d events", time.Since(t0), len(evs))
	seen := map[string]string{}
	reads := 0
	for _, ev := range evs {
		if ev.Op != "r" && ev.Op != "c" {
			continue
		}
		if ev.Op == "r" {
			reads++
		}
		id := idOf(ev.After)
		if prev, dup := seen[id]; dup {
			t.Fatalf("row %s appears as %q and as %q", id, prev, ev.Op)
		}
		seen[id] = ev.Op
	}
	if reads < 3000 || reads == len(seen) {
		t.Fatalf("%d snapshot reads of %d rows: want at least 3000, and some inserts streamed", reads, len(seen))
	}
	got := apply(t, evs)
	want := e.rows(t, `SELECT id, v, n FROM items`)
	if len(got) != len(want) {
		t.Fatalf("replayed %d rows, table has %d", len(got), len(want))
	}
	for id, row := range want {
		g := got[id]
		if g == nil || fmt.Sprint(g["v"]) != row["v"] || fmt.Sprint(g["n"]) != row["n"] {
			t.Fatalf("row %s: replayed %v, table %v", id, g, row)
		}
	}
}
