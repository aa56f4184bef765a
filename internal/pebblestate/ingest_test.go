package pebblestate_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pebblestate"
	"github.com/sluicehq/sluice/state"
)

// Restore batches large enough to be committed by table ingestion keep
// every rule of a batch commit: the last write of a key wins (within the
// batch and over what earlier ingestions and owner commits left), a
// tombstone deletes, owner writes pending with the restore writes follow
// them, checkpoints are committed with the data, and all of it survives a
// reopen. Keys arrive in increasing order (a data table overlapping
// nothing) and shuffled (tables overlapping each other); window stores,
// whose restore drops expired segments with range deletions, take the
// batch path and stay right too.
func TestRestoreByIngestion(t *testing.T) {
	for _, shuffled := range []bool{false, true} {
		t.Run(fmt.Sprintf("shuffled=%v", shuffled), func(t *testing.T) {
			dir := t.TempDir()
			e := openT(t, dir)
			kv, err := e.KeyValue("kv")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Window("w", time.Hour, time.Minute); err != nil {
				t.Fatal(err)
			}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			// Committed by the owner before the restore: overwritten and
			// deleted by it below.
			must(kv.Put([]byte("k-0000001"), []byte("owner")))
			must(kv.Put([]byte("k-0000002"), []byte("owner")))
			must(kv.Put([]byte("owner-only"), []byte("kept")))
			must(e.Commit(nil))

			want := map[string]string{"k-0000001": "owner", "k-0000002": "owner", "owner-only": "kept"}
			value := []byte(strings.Repeat("v", 200))
			rng := rand.New(rand.NewPCG(1, 2))
			const perBatch = 40_000 // 8+ MB: over the ingestion threshold
			offset := int64(0)
			for batch := range 3 {
				ids := make([]int, perBatch)
				for i := range ids {
					ids[i] = batch*perBatch/2 + i // half of each batch overwrites the previous one's keys
				}
				if shuffled {
					rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
				}
				for i, id := range ids {
					k := fmt.Sprintf("k-%07d", id)
					v := append(fmt.Appendf(nil, "%d/%d:", batch, i), value...)
					if id%7 == 2 { // tombstones, some of keys already on disk
						v = nil
					}
					must(e.RawPut("kv", []byte(k), v))
					if v == nil {
						delete(want, k)
					} else {
						want[k] = string(v)
					}
					offset++
				}
				// Overwritten again within the batch.
				must(e.RawPut("kv", []byte("k-0000003"), fmt.Appendf(nil, "last of batch %d", batch)))
				want["k-0000003"] = fmt.Sprintf("last of batch %d", batch)
				offset++
				must(e.Commit(map[string]int64{"kv-changelog/0": offset}))
			}
			// A tail batch below the threshold (the memtable path) after the
			// ingested ones.
			must(e.RawPut("kv", []byte("k-0000003"), []byte("tail")))
			must(e.RawPut("kv", []byte("k-0000004"), nil))
			want["k-0000003"] = "tail"
			delete(want, "k-0000004")
			offset += 2
			must(e.Commit(map[string]int64{"kv-changelog/0": offset}))

			// A window store restore with expiring segments.
			for i := range 20_000 {
				start := int64(i) * 1000 // 5.5 hours of windows: the first ones expire
				must(e.RawPut("w", state.WindowChangelogKey([]byte("wk"), start, 0), append(fmt.Appendf(nil, "%d:", i), value...)))
			}
			must(e.Commit(map[string]int64{"w-changelog/0": 20_000}))
			if leftovers, _ := filepath.Glob(filepath.Join(dir, "sluice-ingest-*")); len(leftovers) > 0 {
				t.Errorf("ingestion left %v", leftovers)
			}

			check := func(e state.Engine) {
				t.Helper()
				checkKV(t, e, want)
				cps, err := e.Checkpoints()
				must(err)
				if cps["kv-changelog/0"] != offset || cps["w-changelog/0"] != 20_000 {
					t.Errorf("checkpoints %v, want kv-changelog/0=%d w-changelog/0=20000", cps, offset)
				}
				w, err := e.ReadOnly().Window("w")
				must(err)
				wit, err := w.FetchRange([]byte("wk"), 0, 20_000*1000)
				must(err)
				n, first := 0, int64(-1)
				for wit.Next() {
					if first < 0 {
						first = wit.WindowStart()
					}
					n++
				}
				must(wit.Err())
				wit.Close()
				// Retention one hour, segments of a minute: what is left starts
				// at most a segment before observed - retention.
				if lo := int64(19_999_000 - 3_600_000 - 60_000); first < lo || n < 3600 || n > 3661 {
					t.Errorf("window store kept %d windows from %d, want about an hour's (3600-3661) from >= %d", n, first, lo)
				}
			}
			check(e)
			// The restore batches were ingested; the data of the
			// increasing-key run went to the bottom level, where no
			// compaction rewrites it.
			m := pebblestate.Metrics(e)
			if m == nil {
				t.Fatal("no metrics")
			}
			if m.Ingest.Count < 3 {
				t.Errorf("%d ingestions, want one per large restore batch (3)", m.Ingest.Count)
			}
			if !shuffled && m.Levels[6].TablesIngested == 0 {
				t.Errorf("no table ingested into L6; levels:\n%s", m)
			}
			must(e.Close())
			// Reopened: the same (and a leftover table of a crash is removed).
			must(os.WriteFile(filepath.Join(dir, "sluice-ingest-99.sst"), []byte("partial"), 0o644))
			e = openT(t, dir)
			defer e.Close()
			check(e)
			if _, err := os.Stat(filepath.Join(dir, "sluice-ingest-99.sst")); !os.IsNotExist(err) {
				t.Errorf("leftover ingestion table not removed at open: %v", err)
			}
		})
	}
}

// Restore writes mixed with the owner's in one transaction keep their
// order, whether the restore run is ingested (large) or committed as a
// batch (small), and whether a read made the run visible before the
// commit: the owner's write to a key the restore wrote wins, restore
// writes after the owner's win over it, and tombstones delete.
func TestRestoreRunWithOwnerWrites(t *testing.T) {
	for _, large := range []bool{false, true} {
		for _, read := range []bool{false, true} {
			t.Run(fmt.Sprintf("large=%v/read=%v", large, read), func(t *testing.T) {
				e := openT(t, t.TempDir())
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
				must(kv.Put([]byte("k-gone"), []byte("committed")))
				must(e.Commit(nil))
				n := 100
				if large {
					n = 40_000 // 8+ MB: ingested
				}
				value := []byte(strings.Repeat("v", 200))
				want := map[string]string{}
				for i := range n {
					k := fmt.Sprintf("k-%07d", (i*7919)%n) // not in key order
					v := append(fmt.Appendf(nil, "%d:", i), value...)
					must(e.RawPut("kv", []byte(k), v))
					want[k] = string(v)
				}
				must(e.RawPut("kv", []byte("k-0000001"), []byte("restored twice")))
				must(e.RawPut("kv", []byte("k-gone"), nil))
				want["k-0000001"] = "restored twice"
				if read {
					v, err := kv.Get([]byte("k-0000001"))
					must(err)
					if string(v) != "restored twice" {
						t.Fatalf("Get before commit = %q, want the restored value", v)
					}
					if v, err := kv.Get([]byte("k-gone")); err != nil || v != nil {
						t.Fatalf("Get of a restored tombstone = %q, %v; want nil", v, err)
					}
				}
				must(kv.Put([]byte("k-0000002"), []byte("owner"))) // after the restore writes: wins
				want["k-0000002"] = "owner"
				must(e.RawPut("kv", []byte("k-0000003"), []byte("restored after the owner")))
				want["k-0000003"] = "restored after the owner"
				must(e.Commit(map[string]int64{"kv-changelog/0": int64(n + 3)}))

				checkKV(t, e, want)
				cps, err := e.Checkpoints()
				must(err)
				if cps["kv-changelog/0"] != int64(n+3) {
					t.Errorf("checkpoints %v", cps)
				}
				if m := pebblestate.Metrics(e); large && !read && m.Ingest.Count == 0 {
					t.Error("a large restore run was not ingested")
				}
			})
		}
	}
}

// checkKV reads the committed content of store "kv" and compares it with
// want.
func checkKV(t *testing.T, e state.Engine, want map[string]string) {
	t.Helper()
	ro, err := e.ReadOnly().KeyValue("kv")
	if err != nil {
		t.Fatal(err)
	}
	it, err := ro.All()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	got := map[string]string{}
	for it.Next() {
		got[string(it.Key())] = string(it.Value())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("%d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("key %s = %.20q, want %.20q", k, got[k], v)
		}
	}
}
