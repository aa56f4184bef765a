package pebblestate_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sluicehq/sluice/internal/pebblestate"
	"github.com/sluicehq/sluice/state"
)

// Measurements, not assertions (run with SLUICE_STATE_MEASURE=1, -v):
//
//	SLUICE_STATE_MEASURE=1 go test -run 'TestMeasure' -v -timeout 20m ./internal/pebblestate/
func measuring(t *testing.T) {
	if os.Getenv("SLUICE_STATE_MEASURE") == "" {
		t.Skip("set SLUICE_STATE_MEASURE=1")
	}
}

func heapMiB() float64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

func procStatus(field string) string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			return strings.TrimSpace(l[len(field)+1:])
		}
	}
	return "?"
}

func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

func key16(i uint64) []byte {
	var k [16]byte
	binary.BigEndian.PutUint64(k[:8], i*0x9E3779B97F4A7C15) // scattered, distinct
	binary.BigEndian.PutUint64(k[8:], i)
	return k[:]
}

// TestMeasureTenMillionKeys: 10 M distinct 16-byte keys, 8-byte values, in
// 100k-key commits through the owner path (Put into the indexed batch).
func TestMeasureTenMillionKeys(t *testing.T) {
	measuring(t)
	e, err := pebblestate.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s, _ := e.KeyValue("kv")
	const n, batch = 10_000_000, 100_000
	var peak, peakGC float64
	start := time.Now()
	v := make([]byte, 8)
	for i := uint64(0); i < n; i++ {
		binary.BigEndian.PutUint64(v, i)
		if err := s.Put(key16(i), v); err != nil {
			t.Fatal(err)
		}
		if (i+1)%batch == 0 {
			peak = max(peak, heapMiB())
			if err := e.Commit(map[string]int64{"kv/0": int64(i + 1)}); err != nil {
				t.Fatal(err)
			}
			if (i+1)%(20*batch) == 0 {
				runtime.GC()
				peakGC = max(peakGC, heapMiB())
			}
		}
	}
	elapsed := time.Since(start)
	runtime.GC()
	final := heapMiB()
	// Spot check.
	got, _ := s.Get(key16(1234567))
	if binary.BigEndian.Uint64(got) != 1234567 {
		t.Fatal("lost a key")
	}
	t.Logf("10M keys in %v (%.0f keys/s); HeapAlloc peak (sampled before each commit) %.1f MiB, peak after GC %.1f MiB, final after GC %.1f MiB; VmHWM %s",
		elapsed.Round(time.Millisecond), n/elapsed.Seconds(), peak, peakGC, final, procStatus("VmHWM"))
	if peakGC > 256 || final > 256 {
		t.Errorf("heap above 256 MiB")
	}
}

// TestMeasureRestore: RawPut throughput, 100k records per commit.
func TestMeasureRestore(t *testing.T) {
	measuring(t)
	for _, kind := range []string{"kv", "window"} {
		e, err := pebblestate.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		e.KeyValue("kv")
		e.Window("window", 24*time.Hour, 0)
		const n, batch = 5_000_000, 100_000
		keys := make([][]byte, batch)
		v := make([]byte, 8)
		start := time.Now()
		for i := uint64(0); i < n; i++ {
			k := key16(i)
			if kind == "window" {
				k = state.WindowChangelogKey(k[:8], int64(i/1000)*1000, 0)
			}
			keys[i%batch] = k
			if err := e.RawPut(kind, k, v); err != nil {
				t.Fatal(err)
			}
			if (i+1)%batch == 0 {
				if err := e.Commit(map[string]int64{kind + "/0": int64(i + 1)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		elapsed := time.Since(start)
		t.Logf("restore %s: %d records in %v = %.2f M records/s", kind, n, elapsed.Round(time.Millisecond), n/elapsed.Seconds()/1e6)
		e.Close()
	}
}

// TestMeasureDBLayout compares one DB per task with one DB per instance
// holding every task's stores: open time, file handles, write throughput.
func TestMeasureDBLayout(t *testing.T) {
	measuring(t)
	const tasks, perTask, batch = 32, 100_000, 10_000
	v := make([]byte, 100)
	cache := pebble.NewCache(64 << 20)
	defer cache.Unref()

	// Per task.
	root := t.TempDir()
	fd0 := openFDs()
	start := time.Now()
	engines := make([]state.Engine, tasks)
	for i := range engines {
		e, err := pebblestate.Open(fmt.Sprintf("%s/task-%d", root, i), pebblestate.WithCache(cache))
		if err != nil {
			t.Fatal(err)
		}
		engines[i] = e
	}
	openNew := time.Since(start)
	start = time.Now()
	for r := 0; r < perTask/batch; r++ {
		for ti, e := range engines {
			s, _ := e.KeyValue("kv")
			for j := 0; j < batch; j++ {
				s.Put(key16(uint64(r*batch+j)), v)
			}
			e.Commit(map[string]int64{fmt.Sprintf("kv/%d", ti): int64(r)})
		}
	}
	writePer := time.Since(start)
	fdPer := openFDs() - fd0
	for _, e := range engines {
		e.Close()
	}
	start = time.Now()
	for i := range engines {
		e, err := pebblestate.Open(fmt.Sprintf("%s/task-%d", root, i), pebblestate.WithCache(cache))
		if err != nil {
			t.Fatal(err)
		}
		engines[i] = e
	}
	reopenPer := time.Since(start)
	for _, e := range engines {
		e.Close()
	}

	// One per instance: each task is a store of one engine; commits are per
	// task as the runtime would do them (a shared DB serializes them).
	fd0 = openFDs()
	start = time.Now()
	e, err := pebblestate.Open(t.TempDir(), pebblestate.WithCache(cache))
	if err != nil {
		t.Fatal(err)
	}
	openOne := time.Since(start)
	start = time.Now()
	for r := 0; r < perTask/batch; r++ {
		for ti := 0; ti < tasks; ti++ {
			s, _ := e.KeyValue(fmt.Sprintf("task-%d", ti))
			for j := 0; j < batch; j++ {
				s.Put(key16(uint64(r*batch+j)), v)
			}
			e.Commit(map[string]int64{fmt.Sprintf("kv/%d", ti): int64(r)})
		}
	}
	writeOne := time.Since(start)
	fdOne := openFDs() - fd0
	e.Close()
	total := float64(tasks * perTask)
	t.Logf("per-task DBs (%d): open %v, reopen with data %v, write %.2f M rec/s, open fds %d", tasks, openNew.Round(time.Millisecond), reopenPer.Round(time.Millisecond), total/writePer.Seconds()/1e6, fdPer)
	t.Logf("one DB:             open %v, write %.2f M rec/s, open fds %d", openOne.Round(time.Millisecond), total/writeOne.Seconds()/1e6, fdOne)
}
