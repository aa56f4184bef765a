// Package lint holds the repository's static checks, run by the test suite
// in CI (.ci/run sets SLUICE_REQUIRE_DBS=1) or with SLUICE_LINT=1: gofmt,
// go mod tidy, go vet and staticcheck over the whole module. The check
// that DESIGN.md's package table matches the packages always runs.
package lint

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// staticcheck is the pinned staticcheck release (its version list is
// refused by the module proxy here; an explicit version works).
const staticcheck = "honnef.co/go/tools/cmd/staticcheck@v0.7.0"

func TestLint(t *testing.T) {
	if os.Getenv("SLUICE_LINT") == "" && os.Getenv("SLUICE_REQUIRE_DBS") == "" {
		t.Skip("set SLUICE_LINT=1 to run gofmt, go mod tidy, go vet and staticcheck")
	}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "GOFLAGS=") // not -race: the tools run as built
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	gofmt, err := exec.LookPath("gofmt")
	if err != nil {
		gofmt = filepath.Join(strings.TrimSpace(run("go", "env", "GOROOT")), "bin", "gofmt")
	}
	if out := run(gofmt, "-l", "."); strings.TrimSpace(out) != "" {
		t.Errorf("gofmt -l: files not formatted:\n%s", out)
	}
	run("go", "mod", "tidy", "-diff")
	run("go", "vet", "./...")
	run("go", "run", staticcheck, "./...")
}
