package postgrescdc_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/internal/testwait"
)

// ops summarises a topic as "op:id" items in order.
func ops(evs []event) []string {
	var out []string
	for _, ev := range evs {
		switch {
		case ev.Tombstone:
			out = append(out, "tomb:"+fmt.Sprint(ev.Key["id"]))
		case ev.Op == "d":
			out = append(out, "d:"+idOf(ev.Before))
		default:
			out = append(out, ev.Op+":"+idOf(ev.After))
		}
	}
	return out
}

func countOps(evs []event, op string) int {
	n := 0
	for _, ev := range evs {
		if !ev.Tombstone && ev.Op == op {
			n++
		}
	}
	return n
}

func (e *env) slotExists(t testing.TB, slot string) bool {
	t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestSnapshotModes runs each snapshot.mode through the starts where it
// matters: first start, restart with offsets, restart after the slot was
// dropped, and a slot that exists before the connector's first start.
func TestSnapshotModes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	setup := func(t *testing.T, table string) string {
		e.exec(t, fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, v text)`, table))
		e.exec(t, fmt.Sprintf(`INSERT INTO %s SELECT g, 'v' FROM generate_series(1, 20) g`, table))
		return "srv.public." + table
	}
	cfg := func(name, table, mode string) map[string]any {
		return e.config(name, "snapshot.mode", mode, "table.include.list", "public."+table)
	}
	waitOps := func(t *testing.T, topic string, n int) []event {
		t.Helper()
		var evs []event
		testwait.Until(t, fmt.Sprintf("%d events on %s", n, topic), 30*time.Second, func() bool {
			evs = e.events(t, topic)
			return len(evs) >= n
		})
		time.Sleep(300 * time.Millisecond) // nothing more should come
		evs = e.events(t, topic)
		if len(evs) != n {
			t.Fatalf("%d events, want %d: %v", len(evs), n, ops(evs))
		}
		return evs
	}

	t.Run("initial", func(t *testing.T) {
		topic := setup(t, "m_initial")
		c := e.start(t, cfg("m-initial", "m_initial", "initial"))
		waitOps(t, topic, 20)
		stop(t, c)
		e.exec(t, `INSERT INTO m_initial VALUES (21, 'new')`)
		c = e.start(t, cfg("m-initial", "m_initial", "initial"))
		evs := waitOps(t, topic, 21) // no second snapshot
		stop(t, c)
		if countOps(evs, "r") != 20 || evs[20].Op != "c" {
			t.Fatalf("events %v", ops(evs))
		}
	})

	t.Run("initial_only", func(t *testing.T) {
		topic := setup(t, "m_only")
		c := e.start(t, cfg("m-only", "m_only", "initial_only"))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if st := c.Status(); st.State != worker.StateFinished {
			t.Fatalf("state %s, want FINISHED", st.State)
		}
		if e.slotExists(t, "s_m_only") {
			t.Fatal("initial_only created a slot")
		}
		e.exec(t, `INSERT INTO m_only VALUES (21, 'new')`)
		c = e.start(t, cfg("m-only", "m_only", "initial_only"))
		if err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		evs := e.events(t, topic)
		if len(evs) != 20 || countOps(evs, "r") != 20 || evs[19].Source["snapshot"] != "last" {
			t.Fatalf("events %v", ops(evs))
		}
	})

	t.Run("no_data", func(t *testing.T) {
		topic := setup(t, "m_nodata")
		c := e.start(t, cfg("m-nodata", "m_nodata", "no_data"))
		testwait.Until(t, "the slot", 30*time.Second, func() bool { return e.slotExists(t, "s_m_nodata") })
		e.exec(t, `INSERT INTO m_nodata VALUES (21, 'new')`)
		e.exec(t, `UPDATE m_nodata SET v = 'x' WHERE id = 1`)
		evs := waitOps(t, topic, 2)
		stop(t, c)
		if strings.Join(ops(evs), " ") != "c:21 u:1" {
			t.Fatalf("events %v", ops(evs))
		}
	})

	t.Run("when_needed", func(t *testing.T) {
		topic := setup(t, "m_needed")
		c := e.start(t, cfg("m-needed", "m_needed", "when_needed"))
		waitOps(t, topic, 20)
		stop(t, c)
		// Offsets exist and the slot is there: no snapshot.
		e.exec(t, `INSERT INTO m_needed VALUES (21, 'new')`)
		c = e.start(t, cfg("m-needed", "m_needed", "when_needed"))
		waitOps(t, topic, 21)
		stop(t, c)
		// The slot is gone: its position cannot be continued, so a new
		// snapshot reads every row.
		e.dropSlot(t, "s_m_needed")
		e.exec(t, `INSERT INTO m_needed VALUES (22, 'lost')`)
		c = e.start(t, cfg("m-needed", "m_needed", "when_needed"))
		evs := waitOps(t, topic, 21+22)
		stop(t, c)
		if countOps(evs[21:], "r") != 22 {
			t.Fatalf("events after the slot was dropped: %v", ops(evs[21:]))
		}
		// initial refuses to continue without the slot.
		e.dropSlot(t, "s_m_needed")
		bad, err := e.w.StartSource(context.Background(), cfg("m-needed", "m_needed", "initial"))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err = bad.Wait(ctx)
			_ = bad.Stop(ctx)
		}
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("initial without its slot: %v, want an error naming the missing slot", err)
		}
	})

	t.Run("always", func(t *testing.T) {
		topic := setup(t, "m_always")
		c := e.start(t, cfg("m-always", "m_always", "always"))
		waitOps(t, topic, 20)
		stop(t, c)
		e.exec(t, `INSERT INTO m_always VALUES (21, 'new')`)
		c = e.start(t, cfg("m-always", "m_always", "always"))
		waitOps(t, topic, 20+21)
		e.exec(t, `INSERT INTO m_always VALUES (22, 'streamed')`)
		evs := waitOps(t, topic, 20+21+1)
		stop(t, c)
		got := ops(evs[20:])
		sort.Strings(got)
		if countOps(evs[20:], "r") != 21 || countOps(evs[20:], "c") != 1 || idOf(evs[41].After) != "22" {
			t.Fatalf("second start: %v", ops(evs[20:]))
		}
	})

	t.Run("existing-slot", func(t *testing.T) {
		// The slot exists before the first start (created by hand, or by
		// a run that crashed before writing anything): a temporary slot
		// exports the snapshot, and changes made after the slot was
		// created come once, in the snapshot, not again streamed.
		topic := setup(t, "m_slot")
		e.exec(t, `SELECT pg_create_logical_replication_slot('s_m_slot', 'pgoutput')`)
		e.exec(t, `INSERT INTO m_slot VALUES (21, 'after the slot')`)
		e.exec(t, `UPDATE m_slot SET v = 'changed' WHERE id = 1`)
		c := e.start(t, cfg("m-slot", "m_slot", "initial"))
		waitOps(t, topic, 21)
		e.exec(t, `INSERT INTO m_slot VALUES (22, 'streamed')`)
		evs := waitOps(t, topic, 22)
		stop(t, c)
		if countOps(evs, "r") != 21 || evs[21].Op != "c" {
			t.Fatalf("events %v", ops(evs))
		}
		for _, ev := range evs {
			if idOf(ev.After) == "1" && ev.After["v"] != "changed" {
				t.Fatalf("row 1 read as %v", ev.After)
			}
		}
	})
}
