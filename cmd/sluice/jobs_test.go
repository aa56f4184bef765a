package main

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readOutputs returns every JSON line of the committed files in dir.
func readOutputs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // a temporary file, not committed
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	sort.Strings(lines)
	return lines
}

// TestJobSIGKILLExactlyOnce: the main job (slowed down) killed with SIGKILL
// twice mid-run and restarted on the same state directory writes exactly
// what an uninterrupted run writes, each result once.
func TestJobSIGKILLExactlyOnce(t *testing.T) {
	jobFile, err := filepath.Abs("testdata/orders-revenue-slow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	run := func(stateDir, outDir string, args ...string) *sluiceProc {
		p := startSluiceEnv(t, []string{"SLUICE_STATE_DIR=" + stateDir, "SLUICE_OUT_DIR=" + outDir},
			append([]string{"run", jobFile, "--instance-id", "i1", "--progress", "0"}, args...)...)
		return p
	}
	base := t.TempDir()
	// The reference: one uninterrupted run.
	cleanOut := filepath.Join(base, "clean-out")
	p := run(filepath.Join(base, "clean-state"), cleanOut, "--until-done")
	p.wait(t, 120*time.Second)
	want := readOutputs(t, cleanOut)
	if len(want) != 200 {
		t.Fatalf("the clean run wrote %d results, want 200 (4 closed windows x 50 customers):\n%s", len(want), p.output)
	}
	// The same job killed twice.
	state, out := filepath.Join(base, "state"), filepath.Join(base, "out")
	for round := 1; round <= 2; round++ {
		p := run(state, out)
		before := len(readOutputs(t, out))
		// Kill on the first new output; but a run that is killed late (a
		// loaded machine lets the topology fall behind and then close
		// every window at once) leaves only the files flush.size has not
		// filled, which no run writes before --until-done drains them:
		// then kill after a while anyway, still mid-run.
		deadline := time.Now().Add(30 * time.Second)
		for len(readOutputs(t, out)) == before && time.Now().Before(deadline) {
			select {
			case err := <-p.done:
				t.Fatalf("round %d: sluice exited (%v) before the kill:\n%s", round, err, p.output)
			case <-time.After(50 * time.Millisecond):
			}
		}
		p.kill(t)
		t.Logf("round %d: killed with %d results written (%d before)", round, len(readOutputs(t, out)), before)
	}
	p = run(state, out, "--until-done")
	p.wait(t, 120*time.Second)
	got := readOutputs(t, out)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after two SIGKILLs: %d results, want %d (the clean run's), first differences:\n%s", len(got), len(want), diffLines(got, want))
	}
}

func diffLines(got, want []string) string {
	g, w := map[string]int{}, map[string]int{}
	for _, l := range got {
		g[l]++
	}
	for _, l := range want {
		w[l]++
	}
	var out []string
	for l, n := range g {
		if n != w[l] {
			out = append(out, "got "+itoa(n)+"x want "+itoa(w[l])+"x: "+l)
		}
	}
	for l, n := range w {
		if g[l] == 0 {
			out = append(out, "missing "+itoa(n)+"x: "+l)
		}
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = out[:10]
	}
	return strings.Join(out, "\n")
}

func itoa(n int) string { return strconv.Itoa(n) }
