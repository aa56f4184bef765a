package pebblestate_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pebblestate"
)

const killKeys = 64

// TestKillHelper is the child process of TestKillConsistency: it commits
// rounds forever, each writing round i into every key with checkpoint i.
func TestKillHelper(t *testing.T) {
	dir := os.Getenv("SLUICE_KILL_DIR")
	if dir == "" {
		t.Skip("child of TestKillConsistency")
	}
	e, err := pebblestate.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.KeyValue("kv")
	if err != nil {
		t.Fatal(err)
	}
	cps, err := e.Checkpoints()
	if err != nil {
		t.Fatal(err)
	}
	for i := cps["c/0"] + 1; ; i++ {
		v := binary.BigEndian.AppendUint64(nil, uint64(i))
		for k := 0; k < killKeys; k++ {
			if err := s.Put(fmt.Appendf(nil, "key-%03d", k), append(v, make([]byte, 100)...)); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Commit(map[string]int64{"c/0": i}); err != nil {
			t.Fatal(err)
		}
		if i == cps["c/0"]+1 {
			fmt.Println(killCommitted) // the parent kills after this
		}
	}
}

// killCommitted is the line the child prints after its first commit.
const killCommitted = "sluice-kill-helper: committed"

// TestKillConsistency kills a writing process (SIGKILL, no Close) and checks
// that the reopened store matches its checkpoint exactly.
func TestKillConsistency(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir() + "/task"
	var last int64
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$")
		cmd.Env = append(os.Environ(), "SLUICE_KILL_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill at a point that varies by round, but only once the child has
		// committed in this run: a loaded machine may take seconds to
		// start it.
		committed := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if sc.Text() == killCommitted {
					close(committed)
					break
				}
			}
			_, _ = io.Copy(io.Discard, out)
		}()
		select {
		case <-committed:
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: the child did not commit within 2 minutes", round)
		}
		time.Sleep(time.Duration(100+150*round) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()

		e, err := pebblestate.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		cps, err := e.Checkpoints()
		if err != nil {
			t.Fatal(err)
		}
		cp := cps["c/0"]
		s, err := e.KeyValue("kv")
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < killKeys; k++ {
			v, err := s.Get(fmt.Appendf(nil, "key-%03d", k))
			if err != nil {
				t.Fatal(err)
			}
			got := int64(0)
			if v != nil {
				got = int64(binary.BigEndian.Uint64(v))
			}
			if got != cp {
				t.Fatalf("round %d: key %d holds round %d, checkpoint says %d", round, k, got, cp)
			}
		}
		if cp < last {
			t.Fatalf("checkpoint went back from %d to %d", last, cp)
		}
		t.Logf("kill %d: recovered consistent store at commit %d", round, cp)
		last = cp
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if last == 0 {
		t.Fatal("the child never committed")
	}
}
