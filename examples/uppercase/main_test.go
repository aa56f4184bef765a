package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
)

// TestSIGKILLExactlyOnce runs the example as a real process under
// exactly_once_v2, kills it with SIGKILL while input is streaming, restarts
// it, and checks that a read_committed consumer sees every input record
// exactly once in the output. It also measures how long the restarted
// instance takes to commit new output.
func TestSIGKILLExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example binary")
	}
	b := testbroker.New(t)
	b.CreateTopic(t, "text-lines", 4, nil)
	b.CreateTopic(t, "uppercased-text-lines", 4, nil)
	bin := filepath.Join(t.TempDir(), "uppercase")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build example: %v\n%s", err, out)
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--brokers", b.Addr(), "--app-id", "upper-eos", "--guarantee", "exactly_once_v2", "--instance-id", "upper-1")
		cmd.Stderr = &prefixWriter{t: t}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	const total = 30000
	prod := b.Client(t, kgo.DefaultProduceTopic("text-lines"))
	produce := func(from, to int) {
		recs := make([]*kgo.Record, 0, to-from)
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%101), Value: fmt.Appendf(nil, "line %d", i)})
		}
		if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Error(err)
		}
	}
	produce(0, total/3)

	cmd := start()
	out := b.Client(t)
	adm := kadm.NewClient(out)
	committedOutput := func() int64 {
		ends, err := adm.ListCommittedOffsets(context.Background(), "uppercased-text-lines")
		if err != nil {
			return 0
		}
		var n int64
		ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		return n
	}
	testwait.Until(t, "first committed output", 30*time.Second, func() bool { return committedOutput() > 2000 })

	// Keep input streaming while the process dies mid-transaction.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := total / 3; i < total; i += 1000 {
			produce(i, min(i+1000, total))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(150 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	committedInput := func() int64 {
		committed, err := adm.FetchOffsets(context.Background(), "upper-eos")
		if err != nil {
			return -1
		}
		var n int64
		committed.Each(func(o kadm.OffsetResponse) { n += o.At })
		return n
	}
	before := committedInput()
	restarted := time.Now()
	cmd = start()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	// Recovery: from the restart until the new instance commits a
	// transaction that moves the group's input offsets forward.
	testwait.Until(t, "progress after restart", 60*time.Second, func() bool { return committedInput() > before })
	t.Logf("recovery: the restarted instance committed new progress %v after it was started", time.Since(restarted).Round(time.Millisecond))
	wg.Wait()

	// Wait until the group has committed every input offset.
	testwait.Until(t, "all input committed", 90*time.Second, func() bool {
		ends, err := adm.ListEndOffsets(context.Background(), "text-lines")
		if err != nil {
			return false
		}
		committed, err := adm.FetchOffsets(context.Background(), "upper-eos")
		if err != nil {
			return false
		}
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			c, ok := committed.Lookup(o.Topic, o.Partition)
			if !ok || c.At < o.Offset {
				done = false
			}
		})
		return done
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	got := b.ReadAll(t, "uppercased-text-lines")
	seen := make(map[string]int, total)
	for _, r := range got {
		seen[string(r.Value)]++
		var i int
		if _, err := fmt.Sscanf(string(r.Value), "LINE %d", &i); err != nil {
			t.Fatalf("unexpected output value %q", r.Value)
		}
		if want := fmt.Sprintf("k%d", i%101); string(r.Key) != want {
			t.Fatalf("output %q has key %q, want %q", r.Value, r.Key, want)
		}
	}
	var missing, dup int
	for i := range total {
		switch n := seen[fmt.Sprintf("LINE %d", i)]; {
		case n == 0:
			missing++
		case n > 1:
			dup++
		}
	}
	if missing != 0 || dup != 0 || len(got) != total {
		t.Fatalf("exactly-once violated: %d output records for %d inputs, %d missing, %d duplicated", len(got), total, missing, dup)
	}
}

// prefixWriter forwards the child's log lines to the test log.
type prefixWriter struct{ t *testing.T }

func (w *prefixWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") || os.Getenv("SLUICE_TEST_VERBOSE") != "" {
			w.t.Log("uppercase:", line)
		}
	}
	return len(p), nil
}
