package pebblestate_test

import (
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/internal/cputime"
	"github.com/sluicehq/sluice/internal/pebblestate"
)

// BenchmarkRestore measures RawPut into a key-value store as a restore
// does (100,000 records per commit with a checkpoint, 100-byte values),
// keys in increasing order or not. Besides ns/record it reports the
// process's CPU time per record (cpu-ns/record, from getrusage: Pebble's
// background work included), which a loaded machine distorts less than
// wall time.
func BenchmarkRestore(b *testing.B) {
	for _, order := range []string{"increasing", "scattered"} {
		b.Run(order, func(b *testing.B) {
			e, err := pebblestate.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			if _, err := e.KeyValue("kv"); err != nil {
				b.Fatal(err)
			}
			const perCommit = 100_000
			value := make([]byte, 108)
			key := make([]byte, 0, 16)
			cpu0 := cputime.Process()
			b.ResetTimer()
			for i := range b.N {
				id := i
				if order == "scattered" {
					id = int(uint32(i) * 2654435761 % (1 << 30))
				}
				key = fmt.Appendf(key[:0], "key-%09d", id)
				if err := e.RawPut("kv", key, value); err != nil {
					b.Fatal(err)
				}
				if (i+1)%perCommit == 0 || i+1 == b.N {
					if err := e.Commit(map[string]int64{"kv/0": int64(i + 1)}); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N), "cpu-ns/record")
		})
	}
}
