package job

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMemorySettings: the memory budget's keys reach the Job with Kafka's
// names; absent keys leave the engine's defaults (zero here).
func TestMemorySettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.yaml")
	text := `job: memory
statestore.block.cache.bytes: 33554432
statestore.memtable.bytes: 8388608
fetch.max.bytes: 4194304
max.partition.fetch.bytes: 131072
topology:
  streams:
    s: {topic: t}
  pipelines:
    - from: s
      steps:
        - to: {topic: t2}
`
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if j.BlockCacheBytes != 32<<20 || j.MemTableBytes != 8<<20 || j.FetchMaxBytes != 4<<20 || j.MaxPartitionFetchBytes != 128<<10 {
		t.Errorf("memory settings: block cache %d, memtable %d, fetch %d, partition fetch %d",
			j.BlockCacheBytes, j.MemTableBytes, j.FetchMaxBytes, j.MaxPartitionFetchBytes)
	}
	if err := os.WriteFile(path, []byte("job: memory\ntopology:\n  streams:\n    s: {topic: t}\n  pipelines:\n    - from: s\n      steps:\n        - to: {topic: t2}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if j, err = Load(path); err != nil {
		t.Fatal(err)
	}
	if j.BlockCacheBytes != 0 || j.MemTableBytes != 0 || j.FetchMaxBytes != 0 || j.MaxPartitionFetchBytes != 0 {
		t.Errorf("defaults: %+v", j)
	}
}
