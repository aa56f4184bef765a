package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/internal/testbroker"
)

// TestMeasureMemory runs the example binary under exactly_once_v2 over
// 200,000 lines of 5,000 distinct words and reports its peak resident set
// (VmHWM: the process alone, the broker runs in the test process), the
// state directory's size and the lines per second from start to the last
// committed offset. A measurement, not a check (memory and timings depend
// on the machine):
//
//	SLUICE_MEASURE=1 go test -run TestMeasureMemory -v ./examples/wordcount/
//
// The example inherits the environment (GODEBUG=gctrace=1, GOMEMLIMIT).
func TestMeasureMemory(t *testing.T) {
	if os.Getenv("SLUICE_MEASURE") == "" {
		t.Skip("a measurement: set SLUICE_MEASURE=1")
	}
	b := testbroker.New(t)
	b.CreateTopic(t, "streams-plaintext-input", 4, nil)
	b.CreateTopic(t, "streams-wordcount-output", 4, nil)
	bin := filepath.Join(t.TempDir(), "wordcount")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	const nLines, nWords = 200_000, 5_000
	lines := make([]string, nLines)
	for i := range lines {
		var ws []string
		for j := range 4 + i%5 {
			ws = append(ws, "word"+strconv.Itoa((i*7919+j*104729)%nWords))
		}
		lines[i] = strings.Join(ws, " ")
	}
	for i := 0; i < len(lines); i += 10_000 {
		produceLines(t, b, lines[i:i+10_000])
	}
	stateDir := t.TempDir()
	start := time.Now()
	p := startProcess(t, bin, b.Addr(), stateDir)
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	})
	adm := kadm.NewClient(b.Client(t))
	deadline := time.Now().Add(5 * time.Minute)
	for !caughtUp(adm, "streams-plaintext-input", 0) || !caughtUp(adm, "wc-eos-counts-store-repartition", 1) {
		if time.Now().After(deadline) {
			t.Fatal("not caught up in 5 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	status := procStatus(t, p.cmd.Process.Pid)
	var du int64
	_ = filepath.Walk(stateDir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			du += fi.Size()
		}
		return nil
	})
	// With GODEBUG=gctrace=1: the largest heap a collection started at
	// (the live heap plus what grew since the previous one).
	var maxHeap, maxLive int
	for _, m := range p.lines(regexp.MustCompile(`^gc \d+ .* (\d+)->(\d+)->(\d+) MB`)) {
		start, _ := strconv.Atoi(m[1])
		live, _ := strconv.Atoi(m[3])
		maxHeap, maxLive = max(maxHeap, start), max(maxLive, live)
	}
	if maxHeap > 0 {
		t.Logf("gctrace: heap at most %d MB at a collection's start, live heap after one at most %d MB", maxHeap, maxLive)
	}
	t.Logf("wordcount exactly_once_v2, %d lines, %d distinct words: %.0f lines/s (%.2f s from start to all committed); peak RSS (VmHWM) %s, RSS now %s; state dir %.1f MiB",
		nLines, nWords, float64(nLines)/took.Seconds(), took.Seconds(), status["VmHWM"], status["VmRSS"], float64(du)/(1<<20))
}

// procStatus reads /proc/<pid>/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}
