package postgrescdc_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/worker"
)

// TestSnapshotMarkersAcrossBatches: rows are read in batches (here of 50,
// decoded on several goroutines) whose boundaries fall at a table's end,
// inside tables and next to empty tables; every row arrives once, in key
// order, with Debezium's markers where a sequential reader puts them:
// first on the very first row, first_in_data_collection and
// last_in_data_collection on each later table's first and last rows, last
// on the snapshot's last row (a later marker replaces an earlier one on a
// row that is both).
func TestSnapshotMarkersAcrossBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sizes := map[string]int{"mk_a": 500, "mk_b": 0, "mk_c": 1, "mk_d": 137, "mk_e": 0}
	for _, name := range []string{"mk_a", "mk_b", "mk_c", "mk_d", "mk_e"} {
		e.exec(t, fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, v text)`, name))
		if n := sizes[name]; n > 0 {
			e.exec(t, fmt.Sprintf(`INSERT INTO %s SELECT g, 'v' || g FROM generate_series(1, %d) g`, name, n))
		}
	}
	e.exec(t, `CREATE TABLE mk_f (v text)`) // no key: read in ctid order
	e.exec(t, `INSERT INTO mk_f SELECT 'f' || g FROM generate_series(1, 120) g`)
	c := e.start(t, e.config("mk", "snapshot.mode", "initial_only", "max.batch.size", 50,
		"table.include.list", "public.mk_.*"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st.State != worker.StateFinished || st.Tasks[0].Written != 758 {
		t.Fatalf("status %+v", st)
	}
	markers := func(topic string) []string {
		var out []string
		for i, ev := range e.events(t, topic) {
			if ev.Op != "r" {
				t.Fatalf("%s event %d: op %q", topic, i, ev.Op)
			}
			if id, ok := ev.After["id"]; ok && fmt.Sprint(id) != fmt.Sprint(i+1) {
				t.Fatalf("%s event %d has id %v: not in key order", topic, i, id)
			}
			if v := ev.After["v"]; topic == "srv.public.mk_f" && v != fmt.Sprintf("f%d", i+1) {
				t.Fatalf("%s event %d is %v: not in ctid order", topic, i, v)
			}
			out = append(out, fmt.Sprint(ev.Source["snapshot"]))
		}
		return out
	}
	check := func(topic string, n int, first, last string) {
		t.Helper()
		got := markers(topic)
		if len(got) != n {
			t.Fatalf("%s: %d events, want %d", topic, len(got), n)
		}
		for i, m := range got {
			want := "true"
			switch {
			case i == n-1:
				want = last
			case i == 0:
				want = first
			}
			if m != want {
				t.Fatalf("%s event %d: snapshot=%s, want %s", topic, i, m, want)
			}
		}
	}
	check("srv.public.mk_a", 500, "first", "last_in_data_collection")
	check("srv.public.mk_c", 1, "", "last_in_data_collection")
	check("srv.public.mk_d", 137, "first_in_data_collection", "last_in_data_collection")
	check("srv.public.mk_f", 120, "first_in_data_collection", "last")
	for _, empty := range []string{"srv.public.mk_b", "srv.public.mk_e"} {
		if evs := e.events(t, empty); len(evs) != 0 {
			t.Fatalf("%s: %d events", empty, len(evs))
		}
	}
}
