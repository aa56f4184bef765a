package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testbroker"
)

// TestDemo runs the README's demo at a small scale, both guarantees: the
// summary checks the output content itself and Run fails on a mismatch.
func TestDemo(t *testing.T) {
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
