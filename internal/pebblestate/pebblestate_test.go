package pebblestate_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/pebblestate"
	"github.com/sluicehq/sluice/internal/stateengine/enginetest"
	"github.com/sluicehq/sluice/state"
)

func openT(t *testing.T, dir string) state.Engine {
	e, err := pebblestate.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestConformance(t *testing.T) {
	enginetest.Run(t, openT, true)
}

// TestPendingOverlay covers the interleavings of the Get overlay (pending
// writes served from a map) with restore writes, range deletes, abort and
// commit.
func TestPendingOverlay(t *testing.T) {
	e, err := pebblestate.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	kv, err := e.KeyValue("kv")
	if err != nil {
		t.Fatal(err)
	}
	get := func(k string) string {
		t.Helper()
		v, err := kv.Get([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		if v == nil {
			return "<nil>"
		}
		return string(v)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Committed baseline.
	must(kv.Put([]byte("a"), []byte("a0")))
	must(kv.Put([]byte("b"), []byte("b0")))
	must(e.Commit(nil))
	// Owner writes: served from the overlay, committed values otherwise.
	must(kv.Put([]byte("a"), []byte("a1")))
	must(kv.Delete([]byte("b")))
	if got := get("a") + get("b") + get("c"); got != "a1<nil><nil>" {
		t.Fatalf("after owner writes: %s", got)
	}
	// A returned value is a copy.
	v, _ := kv.Get([]byte("a"))
	v[0] = 'X'
	if get("a") != "a1" {
		t.Fatal("Get returned the overlay's own slice")
	}
	// A restore write among owner writes turns the overlay off; reads stay right.
	must(e.RawPut("kv", []byte("c"), []byte("c-restored")))
	if got := get("a") + get("b") + get("c"); got != "a1<nil>c-restored" {
		t.Fatalf("after a restore write: %s", got)
	}
	must(kv.Put([]byte("d"), []byte("d1")))
	if get("d") != "d1" {
		t.Fatal("owner write after the overlay was turned off is not visible")
	}
	// Abort: back to committed data, overlay on again.
	must(e.Abort())
	if got := get("a") + get("b") + get("c") + get("d"); got != "a0b0<nil><nil>" {
		t.Fatalf("after abort: %s", got)
	}
	// Restore writes first (plain batch), then owner writes.
	must(e.RawPut("kv", []byte("r"), []byte("r1")))
	if get("r") != "r1" {
		t.Fatal("pending restore write not visible to the owner")
	}
	must(kv.Put([]byte("a"), []byte("a2")))
	if got := get("a") + get("r"); got != "a2r1" {
		t.Fatalf("restore then owner writes: %s", got)
	}
	must(e.Commit(nil))
	if got := get("a") + get("b") + get("r"); got != "a2b0r1" {
		t.Fatalf("after commit: %s", got)
	}
}

// TestCommittedCache: the cache of committed values never serves a value
// an owner write, a restore write, a delete or an abort made stale.
func TestCommittedCache(t *testing.T) {
	e, err := pebblestate.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	kv, err := e.KeyValue("kv")
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	expect := func(step, want string) {
		t.Helper()
		v, err := kv.Get([]byte("a"))
		must(err)
		got := "<nil>"
		if v != nil {
			got = string(v)
		}
		if got != want {
			t.Fatalf("%s: a = %s, want %s", step, got, want)
		}
	}
	must(kv.Put([]byte("a"), []byte("1")))
	must(e.Commit(nil))
	expect("committed (promoted into the cache)", "1")
	expect("read again (cached)", "1")
	must(kv.Put([]byte("a"), []byte("2")))
	expect("owner write", "2")
	must(e.Abort())
	expect("after abort", "1")
	must(e.RawPut("kv", []byte("a"), []byte("3")))
	expect("pending restore write", "3")
	must(e.Commit(nil))
	expect("restore committed", "3")
	must(kv.Delete([]byte("a")))
	must(e.Commit(nil))
	expect("delete committed", "<nil>")
	must(kv.Put([]byte("a"), []byte("4")))
	must(e.Commit(nil))
	expect("re-created", "4")
}
