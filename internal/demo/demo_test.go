package demo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testbroker"
)

// TestDemo runs the README's demo at a small scale, both guarantees: the
// summary checks the output content itself and Run fails on a mismatch.
func TestDemo(t *testing.T) {
	// A hang past the runs' own deadline is a bug in a shutdown path: print
	// the stacks of Sluice's goroutines (the tail of a CI log is what is
	// kept) before the test binary's timeout kills it without them.
	watchdog := time.AfterFunc(4*time.Minute, func() {
		buf := make([]byte, 1<<24)
		buf = buf[:runtime.Stack(buf, true)]
		var keep []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "sluicehq/sluice/") {
				keep = append(keep, g)
			}
		}
		fmt.Fprintf(os.Stderr, "TestDemo hangs; goroutines in Sluice code:\n\n%s\n", strings.Join(keep, "\n\n"))
		panic("TestDemo hangs (stacks above)")
	})
	t.Cleanup(func() { watchdog.Stop() })
	for _, g := range []core.ProcessingGuarantee{core.ExactlyOnceV2, core.AtLeastOnce} {
		t.Run(string(g), func(t *testing.T) {
			t.Parallel()
			b := testbroker.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var out bytes.Buffer
			err := Run(ctx, Config{Brokers: b.Addrs(), Records: 12000, Rate: 6000, Corrupt: 7, Guarantee: g}, &out)
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			s := out.String()
			for _, want := range []string{"scaling out", "shuts down gracefully", "0 missing", "7 dead letters"} {
				if !strings.Contains(s, want) {
					t.Errorf("demo output lacks %q:\n%s", want, s)
				}
			}
			if g == core.ExactlyOnceV2 && !strings.Contains(s, "exactly once") {
				t.Errorf("exactly-once demo did not confirm exactly once:\n%s", s)
			}
		})
	}
}
