package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testbroker"
)

// TestStatelessSmoke runs the benchmark workload at a small size so that CI
// keeps the harness working; SLUICE_BENCH_RECORDS raises it for profiling.
func TestStatelessSmoke(t *testing.T) {
	n := 20000
	if s := os.Getenv("SLUICE_BENCH_RECORDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	b := testbroker.New(t)
	cfg := Config{Brokers: b.Addrs(), Records: n}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := Prepare(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	value := strings.Repeat("v", 100)
	for _, g := range []core.ProcessingGuarantee{core.AtLeastOnce, core.ExactlyOnceV2} {
		if only := os.Getenv("SLUICE_BENCH_ONLY"); only != "" && only != string(g) {
			continue
		}
		for _, p := range []Pipeline{StringPipeline, BytesPipeline} {
			id := fmt.Sprintf("smoke-%s-%d", g, p)
			r, err := Stateless(ctx, cfg, id, id+"-out", g, p)
			if err != nil {
				t.Fatal(err)
			}
			if r.Records != n {
				t.Fatalf("%s processed %d records, want %d", r.Name, r.Records, n)
			}
			// By content: every key exactly as often as it was written, every
			// value intact (output records are recycled after delivery; a
			// record reused too early would show here).
			perKey := map[string]int{}
			for _, rec := range b.ReadAll(t, id+"-out") {
				if string(rec.Value) != value {
					t.Fatalf("%s: record %s has value %q", r.Name, rec.Key, rec.Value)
				}
				perKey[string(rec.Key)]++
			}
			for k := range 1000 {
				want := n / 1000
				if k < n%1000 {
					want++
				}
				if got := perKey[fmt.Sprintf("key-%d", k)]; got != want {
					t.Fatalf("%s: key-%d written %d times, want %d", r.Name, k, got, want)
				}
			}
			if len(perKey) != min(n, 1000) {
				t.Fatalf("%s: %d distinct keys, want %d", r.Name, len(perKey), min(n, 1000))
			}
			t.Logf("%s: %.0f records/s", r.Name, r.PerSec())
		}
	}
}

func TestRestoreSmoke(t *testing.T) {
	b := testbroker.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := RunRestore(ctx, Config{Brokers: b.Addrs(), Records: 20000}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r[1].Records != 20000 {
		t.Fatalf("restored %d records, want 20000", r[1].Records)
	}
}

func TestJoinSmoke(t *testing.T) {
	b := testbroker.New(t)
	cfg := Config{Brokers: b.Addrs(), Records: 20000, StateDir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := Prepare(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	r, err := Stateless(ctx, cfg, "join-smoke", "join-smoke-out", core.AtLeastOnce, JoinPipeline)
	if err != nil {
		t.Fatal(err)
	}
	out := b.ReadAll(t, "join-smoke-out")
	if r.Records < 20000 || len(out) != 20000 {
		t.Fatalf("join processed %d records and wrote %d, want 20000 each (every input key has a table row)", r.Records, len(out))
	}
}

// RunStateless with Pipelines runs the baselines and only the named
// pipelines; ParsePipeline names them.
func TestRunStatelessPipelines(t *testing.T) {
	p, err := ParsePipeline("bytes")
	if err != nil || p != BytesPipeline {
		t.Fatalf("ParsePipeline(bytes) = %v, %v", p, err)
	}
	if _, err := ParsePipeline("bogus"); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Fatalf("ParsePipeline(bogus) error = %v, want one naming it", err)
	}
	b := testbroker.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := Config{Brokers: b.Addrs(), Records: 5000, Pipelines: []Pipeline{BytesPipeline}, Only: string(core.AtLeastOnce)}
	pairs, err := RunStateless(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 1 || !strings.Contains(pairs[0][1].Name, "[]byte serdes, at_least_once") || !strings.Contains(pairs[0][0].Name, "plain") {
		t.Fatalf("ran %v, want the at-least-once baseline and the []byte pipeline only", pairs)
	}
}
