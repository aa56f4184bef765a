package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBrokerHelperProcess is not a test: TestBrokerCommand re-runs the test
// binary with this test selected to get a real `sluice` process, so that
// main's signal handling is exercised without a separate go build.
func TestBrokerHelperProcess(t *testing.T) {
	args := os.Getenv("SLUICE_TEST_HELPER_ARGS")
	if args == "" {
		t.Skip("helper process for TestBrokerCommand")
	}
	os.Args = append([]string{"sluice"}, strings.Split(args, "\n")...)
	main()
}

func TestBrokerCommand(t *testing.T) {
	dataDir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrokerHelperProcess$")
	cmd.Env = append(os.Environ(), "SLUICE_TEST_HELPER_ARGS="+strings.Join(
		[]string{"broker", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--partitions", "2"}, "\n"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	serving := regexp.MustCompile(`^sluice broker: serving Kafka protocol on (\S+), PLAINTEXT \(data dir: (.*)\)$`)
	var addr string
	select {
	case line := <-lines:
		m := serving.FindStringSubmatch(line)
		if m == nil || m[2] != dataDir {
			t.Fatalf("first line %q, want it to match %s with data dir %s", line, serving, dataDir)
		}
		addr = m[1]
	case <-time.After(10 * time.Second):
		t.Fatalf("no serving line within 10s; stderr: %s", stderr.String())
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "cmd-test", Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatalf("produce through %s: %v", addr, err)
	}
	meta, err := kadm.NewClient(cl).Metadata(ctx, "cmd-test")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(meta.Topics["cmd-test"].Partitions); n != 2 {
		t.Errorf("auto-created topic has %d partitions, want 2 (--partitions)", n)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest []string
	done := make(chan error, 1)
	go func() {
		for line := range lines {
			rest = append(rest, line)
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("broker exited with %v, want a clean exit; stderr: %s", err, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("broker did not exit within 5s of SIGTERM")
	}
	if len(rest) == 0 || rest[0] != "sluice broker: stopped" {
		t.Fatalf("output after SIGTERM %q, want it to start with %q", rest, "sluice broker: stopped")
	}
	if _, err := os.Stat(dataDir + "/topics.json"); err != nil {
		t.Errorf("data dir not written on shutdown: %v", err)
	}
}
