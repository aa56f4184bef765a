package pebblestate

import (
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestOverlayAfterRangeDelete: after a range delete, Get keeps serving the
// transaction's writes from the overlay: keys written before the delete
// and inside its range read as absent, keys written after it read their
// value, keys outside it read committed data; the commit agrees.
func TestOverlayAfterRangeDelete(t *testing.T) {
	db, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	be := &backend{db: db, wo: pebble.NoSync, ro: map[*roCursor]struct{}{},
		idx: db.NewIndexedBatch(), bulk: db.NewBatch(), pend: map[string]pendValue{}, committed: map[string][]byte{}}
	defer be.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(be.Set([]byte("a1"), []byte("c")))
	must(be.Set([]byte("z1"), []byte("c")))
	must(be.Commit())
	must(be.Set([]byte("a2"), []byte("before")))
	must(be.DeleteRange([]byte("a"), []byte("b")))
	must(be.Set([]byte("a3"), []byte("after")))
	must(be.DeleteRange([]byte("a"), []byte("a25"))) // narrower: kept as its own range
	if be.pendOff {
		t.Fatal("the overlay was switched off by a range delete")
	}
	want := map[string]string{"a1": "", "a2": "", "a3": "after", "z1": "c"}
	check := func(when string) {
		t.Helper()
		for k, w := range want {
			v, err := be.Get([]byte(k))
			if err != nil || string(v) != w || (w == "") != (v == nil) {
				t.Errorf("%s: Get(%s) = %q, %v; want %q", when, k, v, err, w)
			}
		}
	}
	check("in the transaction")
	must(be.Commit())
	check("after the commit")
}
