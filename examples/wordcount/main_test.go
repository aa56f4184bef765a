package main

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
)

// process is the example binary running with its log captured.
type process struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  []string
	done chan struct{}
}

func startProcess(t *testing.T, bin, addr, stateDir string) *process {
	t.Helper()
	cmd := exec.Command(bin, "--brokers", addr, "--app-id", "wc-eos", "--guarantee", "exactly_once_v2",
		"--instance-id", "wc-1", "--state-dir", stateDir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log = append(p.log, sc.Text())
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	return p
}

func (p *process) lines(re *regexp.Regexp) [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out [][]string
	for _, l := range p.log {
		if m := re.FindStringSubmatch(l); m != nil {
			out = append(out, m)
		}
	}
	return out
}

// TestSIGKILLExactCountsAndTailRestore runs the example under
// exactly_once_v2, kills it with SIGKILL while lines are streaming in,
// restarts it on the same state directory, and checks that (1) the final
// counts in the output are exactly right (read_committed), and (2) the
// restarted instance reused its local store: it replayed only the
// changelog tail past its checkpoint, not the whole changelog.
func TestSIGKILLExactCountsAndTailRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example binary")
	}
	b := testbroker.New(t)
	b.CreateTopic(t, "streams-plaintext-input", 4, nil)
	b.CreateTopic(t, "streams-wordcount-output", 4, nil)
	bin := filepath.Join(t.TempDir(), "wordcount")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	stateDir := t.TempDir()
	// Many distinct words, so that the changelog grows with every commit
	// (the record cache collapses repeated updates of one word).
	lines, want := genDistinctLines(6000)
	produceLines(t, b, lines[:3000])

	p := startProcess(t, bin, b.Addr(), stateDir)
	adm := kadm.NewClient(b.Client(t))
	changelogEnd := func() int64 {
		ends, err := adm.ListEndOffsets(context.Background(), "wc-eos-counts-store-changelog")
		if err != nil {
			return 0
		}
		var n int64
		ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		return n
	}
	t.Cleanup(func() {
		if t.Failed() {
			_ = p.cmd.Process.Signal(syscall.SIGQUIT)
			<-p.done
			p.mu.Lock()
			for _, l := range p.log {
				t.Log("first run:", l)
			}
			p.mu.Unlock()
		}
	})
	testwait.Until(t, "changelog writes", 20*time.Second, func() bool { return changelogEnd() > 500 })
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 3000; i < len(lines); i += 300 {
			produceLines(t, b, lines[i:min(i+300, len(lines))])
			time.Sleep(10 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	<-p.done
	totalBefore := changelogEnd()

	p2 := startProcess(t, bin, b.Addr(), stateDir)
	t.Cleanup(func() {
		_ = p2.cmd.Process.Signal(syscall.SIGKILL)
		_ = p2.cmd.Wait()
	})
	wg.Wait()
	// Wait for the group to commit every input offset and every
	// repartitioned word (whose partitions end in a transaction marker the
	// committed offset does not pass), then stop cleanly.
	testwait.Until(t, "all input committed", 20*time.Second, func() bool { return caughtUp(adm, "streams-plaintext-input", 0) })
	testwait.Until(t, "repartitioned words counted", 20*time.Second, func() bool { return caughtUp(adm, "wc-eos-counts-store-repartition", 1) })
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p2.cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	<-p2.done

	got := lastCounts(t, b)
	for w, n := range want {
		if got[w] != n {
			t.Errorf("count of %q = %d, want %d", w, got[w], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("output has %d words, want %d", len(got), len(want))
	}

	// The restart reused the store: restores start at the checkpoint, not
	// at 0, and replay only the tail.
	starts := p2.lines(regexp.MustCompile(`restoring store .* partition=(\d+) from=(\d+) to=(\d+) records=(\d+)`))
	var replayed int64
	for _, m := range starts {
		from, _ := strconv.ParseInt(m[2], 10, 64)
		n, _ := strconv.ParseInt(m[4], 10, 64)
		if from == 0 {
			t.Errorf("partition %s restored from offset 0: the local store was not reused", m[1])
		}
		replayed += n
	}
	t.Logf("after SIGKILL: changelog held %d records, the restart replayed %d (tail only) in %d partitions", totalBefore, replayed, len(starts))
	if replayed >= totalBefore {
		t.Errorf("replayed %d of %d changelog records: expected only the tail", replayed, totalBefore)
	}
}

// genDistinctLines makes lines over ~1,500 distinct words.
func genDistinctLines(n int) ([]string, map[string]int64) {
	counts := map[string]int64{}
	lines := make([]string, n)
	for i := range n {
		var ws []string
		for j := range 1 + i%3 {
			w := "w" + strconv.Itoa((i*31+j*17)%1500)
			ws = append(ws, w)
			counts[w]++
		}
		lines[i] = strings.Join(ws, " ")
	}
	return lines, counts
}

// caughtUp reports whether group wc-eos committed offsets within slack of
// the end of every partition of topic.
func caughtUp(adm *kadm.Client, topic string, slack int64) bool {
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		return false
	}
	committed, err := adm.FetchOffsets(context.Background(), "wc-eos")
	if err != nil {
		return false
	}
	ok := true
	ends.Each(func(o kadm.ListedOffset) {
		if c, found := committed.Lookup(o.Topic, o.Partition); !found || c.At < o.Offset-slack {
			ok = false
		}
	})
	return ok
}
