package job

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors/bundled"
)

var wantRe = regexp.MustCompile(`^# want: (\d+):(\d*):? ?(.*)$`)

// TestLintBrokenJobs: every broken job in testdata/broken reports exactly
// the problems its "# want: LINE:COL: text" comments list, at those
// positions.
func TestLintBrokenJobs(t *testing.T) {
	files, err := filepath.Glob("testdata/broken/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no broken jobs: %v", err)
	}
	reg := bundled.Registry()
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			type want struct{ line, col, text string }
			var wants []want
			for _, l := range strings.Split(string(data), "\n") {
				if m := wantRe.FindStringSubmatch(l); m != nil {
					wants = append(wants, want{m[1], m[2], m[3]})
				}
			}
			_, err = Lint(f, reg)
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Lint = %v, want problems", err)
			}
			got := ps.Error()
			if len(ps) != len(wants) {
				t.Errorf("%d problems, want %d:\n%s", len(ps), len(wants), got)
			}
			for _, w := range wants {
				prefix := fmt.Sprintf("%s:%s:", f, w.line)
				if w.col != "" {
					prefix += w.col + ":"
				}
				found := false
				for _, p := range ps {
					if strings.HasPrefix(p.Error(), prefix) && strings.Contains(p.Msg, w.text) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem at %s containing %q; got:\n%s", prefix, w.text, got)
				}
			}
		})
	}
}
