package postgrescdc

import (
	"reflect"
	"testing"
)

// heldProgress keeps a record's key as raw bytes in a reused buffer: after
// the pending and batch progress swap, each must still hold its own key.
func TestHeldProgressSwap(t *testing.T) {
	var pending, batch heldProgress
	tables := []string{"public.a", "public.b"}
	pending.set(tables, "public.a")
	pending.addKey([]byte("1"))
	pending.addKey([]byte("x\ty"))
	batch, pending = pending, batch
	pending.set(tables[1:], "public.b")
	pending.addKey([]byte("(0,7)"))
	if got := batch.keyStrings(); !reflect.DeepEqual(got, []string{"1", "x\ty"}) || batch.table != "public.a" || len(batch.tables) != 2 {
		t.Fatalf("batch progress: %q %s %v", got, batch.table, batch.tables)
	}
	if got := pending.keyStrings(); !reflect.DeepEqual(got, []string{"(0,7)"}) || pending.table != "public.b" {
		t.Fatalf("pending progress: %q %s", got, pending.table)
	}
	batch, pending = pending, batch
	pending.set(tables, "public.a")
	pending.addKey([]byte(""))
	if got := pending.keyStrings(); !reflect.DeepEqual(got, []string{""}) {
		t.Fatalf("reused buffer: %q", got)
	}
	if got := batch.keyStrings(); !reflect.DeepEqual(got, []string{"(0,7)"}) {
		t.Fatalf("swapped progress: %q", got)
	}
	var none heldProgress
	none.set(tables, "public.a")
	if none.keyStrings() != nil {
		t.Fatal("a progress without key columns has a key")
	}
}
