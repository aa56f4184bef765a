package core

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/pebblestate"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

// The cleaner removes only task directories that nobody has open, nobody
// else locks, and that were idle for the delay; a closed engine's
// directory becomes removable.
func TestStateDirsClean(t *testing.T) {
	root := t.TempDir()
	d := newStateDirs(root, time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	old := time.Now().Add(-time.Hour)
	mk := func(name string, mtime time.Time) string {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dir, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	mk("0_1", old)                  // moved away long ago: removed
	recent := mk("0_3", time.Now()) // left a moment ago: kept
	mk("global", old)               // not a task: kept
	mk("notes", old)                // not a task: kept
	locked := mk("0_4", old)        // another holder's Pebble DB: kept
	lock, err := vfs.Default.Lock(filepath.Join(locked, "LOCK"))
	if err != nil {
		t.Fatal(err)
	}
	// An engine this instance has open, in a directory that looks idle.
	openDir := filepath.Join(root, "0_2")
	e, err := d.openEngine(openDir, func(dir string) (state.Engine, error) { return pebblestate.Open(dir) })
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(openDir, old, old); err != nil {
		t.Fatal(err)
	}

	if got := d.clean(time.Now()); !slices.Equal(got, []string{"0_1"}) {
		t.Fatalf("removed %v, want [0_1]", got)
	}
	for _, name := range []string{"0_2", "0_3", "0_4", "global", "notes"} {
		if _, err := os.Stat(filepath.Join(root, name)); err != nil {
			t.Fatalf("%s: %v (must be kept)", name, err)
		}
	}

	// Closed and idle long enough: removable. Unlocked: removable.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := lock.Close(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{openDir, locked} {
		if err := os.Chtimes(dir, old, old); err != nil {
			t.Fatal(err)
		}
	}
	got := d.clean(time.Now())
	slices.Sort(got)
	if !slices.Equal(got, []string{"0_2", "0_4"}) {
		t.Fatalf("removed %v, want [0_2 0_4]", got)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Fatalf("recent directory removed: %v", err)
	}
}

// A running application removes the directory a task left behind (here:
// a partition it does not run) and keeps the directory of its own task.
func TestAppCleansStateOfTasksMovedAway(t *testing.T) {
	b := testbroker.New(t)
	b.CreateTopic(t, "in", 1, nil)
	b.Produce(t, &kgo.Record{Topic: "in", Key: []byte("k"), Value: []byte("v")})
	topo := NewTopology()
	if err := AddSource(topo, "src", serde.String(), serde.String(), []string{"in"}); err != nil {
		t.Fatal(err)
	}
	if err := AddProcessor(topo, "store", ProcessorFunc[string, string, string, string](
		func(ctx ProcessorContext[string, string], r Record[string, string]) error {
			s, err := ctx.StateStore("s")
			if err != nil {
				return err
			}
			return s.(state.KeyValueStore).Put([]byte(r.Key), []byte(r.Value))
		}).Supplier(), "src"); err != nil {
		t.Fatal(err)
	}
	if err := topo.AddStateStore(StoreSpec{Name: "s", Kind: KeyValueStoreKind}, "store"); err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	gone := filepath.Join(stateDir, "cleaner", "0_7") // a task that moved to another instance
	if err := os.MkdirAll(gone, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(gone, old, old); err != nil {
		t.Fatal(err)
	}
	app, err := New(topo, WithBrokers(b.Addr()), WithApplicationID("cleaner"), WithStateDir(stateDir),
		WithStateCleanupDelay(200*time.Millisecond), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := os.Stat(gone)
		if os.IsNotExist(err) && app.Stats().Consumed >= 1 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("stale task directory still there (consumed %d)", app.Stats().Consumed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Past several cleaner runs, the running task's directory is intact.
	time.Sleep(600 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(stateDir, "cleaner", "0_0", "LOCK")); err != nil {
		t.Fatalf("running task's state directory: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
