package pebblestate

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

func testBackend(t *testing.T, dir string) *backend {
	t.Helper()
	opts := &pebble.Options{Logger: quietLogger{}}
	db, err := pebble.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	wopts := opts.Clone()
	wopts.EnsureDefaults()
	return &backend{db: db, dir: dir, wo: pebble.NoSync, ro: map[*roCursor]struct{}{},
		idx: db.NewIndexedBatch(), bulk: db.NewBatch(), pend: map[string]pendValue{}, committed: map[string][]byte{},
		writerOpts: wopts.MakeWriterOptions(0, db.TableFormat())}
}

// restoreLarge writes n restore sets of 200-byte values (n = 40,000: over
// ingestMinBytes) with keys prefix-%07d.
func restoreLarge(t *testing.T, be *backend, prefix string, n int) {
	t.Helper()
	value := []byte(strings.Repeat("v", 200))
	for i := range n {
		if err := be.RestoreSet(fmt.Appendf(nil, "%s-%07d", prefix, i), value); err != nil {
			t.Fatal(err)
		}
	}
}

// A restore run is ingested on a goroutine of its own while the owner fills
// the next one; the owner's reads and commits see every ingestion, in
// commit order, and the run buffers go back and forth between the two.
func TestIngestionInBackground(t *testing.T) {
	dir := t.TempDir()
	be := testBackend(t, dir)
	defer be.Close()
	restoreLarge(t, be, "a", 40_000)
	if err := be.Set([]byte("\x00checkpoint"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := be.Commit(); err != nil {
		t.Fatal(err)
	}
	// The next run fills while the first may still be written.
	restoreLarge(t, be, "b", 40_000)
	if err := be.RestoreSet([]byte("a-0000001"), []byte("overwritten")); err != nil {
		t.Fatal(err)
	}
	if err := be.Commit(); err != nil {
		t.Fatal(err)
	}
	// Read by another goroutine (a query), then by the owner.
	done := make(chan error)
	go func() {
		v, err := be.Committed().Get([]byte("b-0039999"))
		if err == nil && v == nil {
			err = fmt.Errorf("b-0039999 not found by a committed read")
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"a-0000000": strings.Repeat("v", 200), "a-0000001": "overwritten",
		"b-0000000": strings.Repeat("v", 200), "\x00checkpoint": "1"} {
		v, err := be.Get([]byte(key))
		if err != nil || string(v) != want {
			t.Fatalf("Get(%q) = %.20q, %v; want %.20q", key, v, err, want)
		}
	}
	if be.spare.chunks == nil {
		t.Error("the first run's buffers did not come back as the spare run")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ingestFilePrefix+"*")); len(leftovers) > 0 {
		t.Errorf("ingestion left %v", leftovers)
	}
}

// An ingestion that fails on its goroutine fails the owner's next use of
// the engine, and every later one: nothing of the run is visible, and the
// commit that handed it over is never taken for done.
func TestIngestionFailure(t *testing.T) {
	be := testBackend(t, filepath.Join(t.TempDir(), "missing")) // tables cannot be created there
	restoreLarge(t, be, "a", 40_000)
	if err := be.Commit(); err != nil {
		t.Fatalf("Commit = %v; the ingestion runs after it returns", err)
	}
	_, err := be.Get([]byte("a-0000000"))
	if err == nil || !strings.Contains(err.Error(), "commit restored data") {
		t.Fatalf("Get after a failed ingestion = %v, want its error", err)
	}
	if err := be.Commit(); err == nil {
		t.Fatal("Commit after a failed ingestion succeeded")
	}
	if v, err := get(be.db.Get([]byte("a-0000000"))); err != nil || v != nil {
		t.Fatalf("the failed run is visible: %q, %v", v, err)
	}
	if err := be.Close(); err == nil {
		t.Fatal("Close after a failed ingestion reported nothing")
	}
}
