package core

import (
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sluicehq/sluice/internal/pebblestate"
	"github.com/sluicehq/sluice/serde"
)

// The memory settings reach Pebble: every task's DB gets the instance's
// one block cache, of WithBlockCacheBytes, and WithMemTableBytes as its
// memtable size; the defaults are 64 MiB and 16 MiB.
func TestMemoryBudgetReachesPebble(t *testing.T) {
	for _, tc := range []struct {
		name            string
		opts            []Option
		cache, memTable int64
	}{
		{"defaults", nil, 64 << 20, 16 << 20},
		{"set", []Option{WithBlockCacheBytes(32 << 20), WithMemTableBytes(4 << 20)}, 32 << 20, 4 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo := NewTopology()
			if err := AddSource(topo, "src", serde.String(), serde.String(), []string{"in"}); err != nil {
				t.Fatal(err)
			}
			a, err := New(topo, append([]Option{WithBrokers("localhost:1"), WithApplicationID("mem"), WithStateDir(t.TempDir())}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			a.blockCache = pebble.NewCache(a.cfg.blockCacheBytes) // as Run does
			defer a.blockCache.Unref()
			for p := range int32(2) {
				e, err := a.openEngine(TaskID{Subtopology: 0, Partition: p}, false)
				if err != nil {
					t.Fatal(err)
				}
				opts := pebblestate.PebbleOptions(e.(*ownedEngine).Engine)
				if opts == nil {
					t.Fatal("not a Pebble engine")
				}
				if opts.Cache != a.blockCache {
					t.Errorf("task %d: a block cache of its own, not the instance's", p)
				}
				if got := opts.Cache.MaxSize(); got != tc.cache {
					t.Errorf("block cache %d bytes, want %d", got, tc.cache)
				}
				if got := opts.MemTableSize; got != uint64(tc.memTable) {
					t.Errorf("memtable %d bytes, want %d", got, tc.memTable)
				}
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestMemoryBudgetValidation(t *testing.T) {
	for _, o := range []Option{WithBlockCacheBytes(0), WithMemTableBytes(1000), WithMemTableBytes(4 << 30), WithMetricsRecordingLevel("VERBOSE")} {
		if _, err := newConfig([]Option{WithApplicationID("x"), o}); err == nil {
			t.Errorf("no error for %v", o)
		}
	}
	c, err := newConfig([]Option{WithApplicationID("x"), WithMetricsRecordingLevel("debug")})
	if err != nil || c.recordingLevel != RecordingLevelDebug {
		t.Errorf("recording level %q, %v; want DEBUG", c.recordingLevel, err)
	}
}
