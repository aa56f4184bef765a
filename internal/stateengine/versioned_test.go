package stateengine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/memstate"
	"github.com/sluicehq/sluice/internal/pebblestate"
	"github.com/sluicehq/sluice/internal/stateengine"
	"github.com/sluicehq/sluice/state"
)

// versionedOp is one step on a versioned store: a put (want is the
// returned validTo), or a lookup (asOf nil: Get) expecting value ("" and
// !found for none).
type versionedOp struct {
	put       bool
	key       string
	value     *string // put: nil is a tombstone
	ts        int64
	wantTo    int64
	asOf      *int64
	wantValue string
	wantTS    int64
	wantFound bool
}

func str(s string) *string { return &s }
func at(t int64) *int64    { return &t }

func put(key string, value *string, ts, wantValidTo int64) versionedOp {
	return versionedOp{put: true, key: key, value: value, ts: ts, wantTo: wantValidTo}
}

func getAsOf(key string, asOf int64, value string, ts int64) versionedOp {
	return versionedOp{key: key, asOf: at(asOf), wantValue: value, wantTS: ts, wantFound: value != ""}
}

func latest(key string, value string, ts int64) versionedOp {
	return versionedOp{key: key, wantValue: value, wantTS: ts, wantFound: value != ""}
}

func engines(t *testing.T) map[string]func() state.Engine {
	return map[string]func() state.Engine{
		"memory": memstate.New,
		"pebble": func() state.Engine {
			e, err := pebblestate.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
	}
}

func TestVersionedStore(t *testing.T) {
	const undefined = state.VersionedValidToUndefined
	for _, tc := range []struct {
		name      string
		retention time.Duration
		ops       []versionedOp
	}{
		{name: "versions in order", retention: time.Minute, ops: []versionedOp{
			put("k", str("a"), 10, undefined),
			put("k", str("b"), 20, undefined),
			latest("k", "b", 20),
			getAsOf("k", 9, "", 0),
			getAsOf("k", 10, "a", 10),
			getAsOf("k", 19, "a", 10),
			getAsOf("k", 20, "b", 20),
			getAsOf("k", 1000, "b", 20),
			latest("other", "", 0),
		}},
		{name: "out of order put goes into history", retention: time.Minute, ops: []versionedOp{
			put("k", str("a"), 10, undefined),
			put("k", str("c"), 30, undefined),
			put("k", str("b"), 20, 30),
			latest("k", "c", 30),
			getAsOf("k", 25, "b", 20),
			getAsOf("k", 15, "a", 10),
			put("k", str("z"), 5, 10),
			getAsOf("k", 7, "z", 5),
		}},
		{name: "same timestamp replaces", retention: time.Minute, ops: []versionedOp{
			put("k", str("a"), 10, undefined),
			put("k", str("b"), 10, undefined),
			latest("k", "b", 10),
			getAsOf("k", 10, "b", 10),
		}},
		{name: "tombstones", retention: time.Minute, ops: []versionedOp{
			put("k", str("a"), 10, undefined),
			put("k", nil, 20, undefined),
			latest("k", "", 0),
			getAsOf("k", 15, "a", 10),
			getAsOf("k", 25, "", 0),
			put("k", str("b"), 30, undefined),
			getAsOf("k", 25, "", 0),
			latest("k", "b", 30),
			// a tombstone first, then an older value: it ends at the tombstone
			put("t", nil, 50, undefined),
			put("t", str("x"), 40, 50),
			getAsOf("t", 45, "x", 40),
			latest("t", "", 0),
		}},
		{name: "history retention", retention: 100 * time.Millisecond, ops: []versionedOp{
			put("k", str("a"), 0, undefined),
			put("k", str("b"), 50, undefined),
			put("j", str("x"), 200, undefined), // observed 200: boundary 100
			getAsOf("k", 99, "", 0),            // older than the retention
			getAsOf("k", 100, "b", 50),         // b is valid at the boundary
			latest("k", "b", 50),
			put("k", str("late"), 99, state.VersionedNotPut),
			put("k", str("ok"), 100, undefined),
			getAsOf("k", 150, "ok", 100),
			getAsOf("k", 100, "ok", 100),
		}},
		{name: "zero history keeps the latest", retention: 0, ops: []versionedOp{
			put("k", str("a"), 10, undefined),
			put("k", str("b"), 20, undefined),
			getAsOf("k", 15, "", 0),
			getAsOf("k", 20, "b", 20),
			put("k", str("old"), 15, state.VersionedNotPut),
			latest("k", "b", 20),
		}},
		{name: "keys sharing a prefix stay apart", retention: time.Minute, ops: []versionedOp{
			put("k", str("short"), 10, undefined),
			put("kk", str("long"), 5, undefined),
			put("", str("empty"), 7, undefined),
			getAsOf("k", 20, "short", 10),
			getAsOf("kk", 20, "long", 5),
			getAsOf("", 20, "empty", 7),
			getAsOf("k", 6, "", 0),
		}},
	} {
		for engName, open := range engines(t) {
			t.Run(tc.name+"/"+engName, func(t *testing.T) {
				eng := open()
				defer eng.Close()
				kv, err := eng.KeyValue("v")
				if err != nil {
					t.Fatal(err)
				}
				vs, err := stateengine.NewVersioned(kv, tc.retention)
				if err != nil {
					t.Fatal(err)
				}
				for i, op := range tc.ops {
					if op.put {
						var value []byte
						if op.value != nil {
							value = []byte(*op.value)
						}
						got, err := vs.Put([]byte(op.key), value, op.ts)
						if err != nil {
							t.Fatalf("op %d: put: %v", i, err)
						}
						if got != op.wantTo {
							t.Fatalf("op %d: put(%q, %v, %d) = %d, want %d", i, op.key, op.value, op.ts, got, op.wantTo)
						}
						continue
					}
					var rec state.VersionedRecord
					var found bool
					what := fmt.Sprintf("get(%q)", op.key)
					if op.asOf != nil {
						what = fmt.Sprintf("getAsOf(%q, %d)", op.key, *op.asOf)
						rec, found, err = vs.GetAsOf([]byte(op.key), *op.asOf)
					} else {
						rec, found, err = vs.Get([]byte(op.key))
					}
					if err != nil {
						t.Fatalf("op %d: %s: %v", i, what, err)
					}
					if found != op.wantFound || string(rec.Value) != op.wantValue || (found && rec.Timestamp != op.wantTS) {
						t.Fatalf("op %d: %s = %q@%d found=%v, want %q@%d found=%v", i, what, rec.Value, rec.Timestamp, found, op.wantValue, op.wantTS, op.wantFound)
					}
				}
			})
		}
	}
}

// TestVersionedStoreExpiresAndReopens: versions that expired are deleted
// when their key is written, and the observed stream time survives a
// commit and reopening.
func TestVersionedStoreExpiresAndReopens(t *testing.T) {
	dir := t.TempDir()
	eng, err := pebblestate.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	kv, _ := eng.KeyValue("v")
	vs, err := stateengine.NewVersioned(kv, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for ts := int64(0); ts < 100; ts++ {
		if _, err := vs.Put([]byte("k"), []byte(fmt.Sprint(ts)), ts); err != nil {
			t.Fatal(err)
		}
	}
	it, _ := kv.All()
	n := 0
	for it.Next() {
		n++
	}
	it.Close()
	// versions 89..99 plus the observed-time entry
	if n != 12 {
		t.Errorf("backing entries = %d, want 12 (11 versions from the boundary on, and the observed time)", n)
	}
	if err := eng.Commit(nil); err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	eng, err = pebblestate.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	kv, _ = eng.KeyValue("v")
	vs, err = stateengine.NewVersioned(kv, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := vs.Put([]byte("k"), []byte("late"), 88); got != state.VersionedNotPut {
		t.Errorf("put older than the retention after reopening = %d, want VersionedNotPut", got)
	}
	if rec, found, _ := vs.GetAsOf([]byte("k"), 95); !found || string(rec.Value) != "95" {
		t.Errorf("getAsOf(95) after reopening = %q, %v", rec.Value, found)
	}
}
