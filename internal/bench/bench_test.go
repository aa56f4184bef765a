package bench

import (
	"context"
	"io"
	"os"
	"strconv"
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
	for _, g := range []core.ProcessingGuarantee{core.AtLeastOnce, core.ExactlyOnceV2} {
		if only := os.Getenv("SLUICE_BENCH_ONLY"); only != "" && only != string(g) {
			continue
		}
		r, err := Stateless(ctx, cfg, "smoke-"+string(g), "smoke-out-"+string(g), g, StringPipeline)
		if err != nil {
			t.Fatal(err)
		}
		if r.Records != n {
			t.Fatalf("%s processed %d records, want %d", g, r.Records, n)
		}
		if got := len(b.ReadAll(t, "smoke-out-"+string(g))); got != n {
			t.Fatalf("%s wrote %d records, want %d", g, got, n)
		}
		t.Logf("%s: %.0f records/s", r.Name, r.PerSec())
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
