package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
)

// TestConnectorsHelperProcess is not a test: the connector tests re-run the
// test binary with it selected to get a real `sluice` process they can
// SIGKILL.
func TestConnectorsHelperProcess(t *testing.T) {
	args := os.Getenv("SLUICE_CONNECTORS_HELPER_ARGS")
	if args == "" {
		t.Skip("helper process for the connector SIGKILL tests")
	}
	os.Args = append([]string{"sluice"}, strings.Split(args, "\n")...)
	main()
	os.Exit(0)
}

// sluiceProc is a `sluice connectors run` process.
type sluiceProc struct {
	cmd    *exec.Cmd
	output *procOutput
	done   chan error
}

// procOutput is a process's combined output, written by os/exec's copying
// goroutine while a test reads it.
type procOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *procOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *procOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

func startSluice(t *testing.T, args ...string) *sluiceProc {
	t.Helper()
	return startSluiceEnv(t, nil, args...)
}

// startSluiceEnv starts a sluice process with extra environment variables.
func startSluiceEnv(t *testing.T, env []string, args ...string) *sluiceProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestConnectorsHelperProcess$")
	cmd.Env = append(append(os.Environ(), env...), "SLUICE_CONNECTORS_HELPER_ARGS="+strings.Join(args, "\n"))
	p := &sluiceProc{cmd: cmd, output: &procOutput{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

func (p *sluiceProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// stop interrupts the process (graceful) and waits for it.
func (p *sluiceProc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("sluice exited with %v:\n%s", err, p.output)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("sluice did not stop:\n%s", p.output)
	}
}

func (p *sluiceProc) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("sluice exited with %v:\n%s", err, p.output)
		}
	case <-time.After(d):
		t.Fatalf("sluice did not finish within %v:\n%s", d, p.output)
	}
}

// waitHTTP waits until GET url answers status.
func waitHTTP(t *testing.T, what string, p *sluiceProc, client *http.Client, url string, status int) {
	t.Helper()
	waitUntil(t, what, 30*time.Second, p, func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == status
	})
}

// waitUntil is testwait.Until for a condition a sluice process makes true:
// the process exiting first fails the test at once, and a failure shows
// the process's output.
func waitUntil(t *testing.T, what string, d time.Duration, p *sluiceProc, cond func() bool) {
	t.Helper()
	testwait.Until(t, what, d, func() bool {
		if cond() {
			return true
		}
		select {
		case err := <-p.done:
			t.Fatalf("sluice exited (%v) while waiting for %s:\n%s", err, what, p.output)
		default:
		}
		return false
	}, testwait.Detail(p.output.String))
}

// highWatermarks sums a topic's end offsets (aborted records and markers
// included: a progress gauge, not a count).
func highWatermarks(t *testing.T, b *testbroker.Broker, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(b.Client(t)).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := from; i < to; i++ {
		fmt.Fprintf(w, "line-%07d\n", i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkExactlyOnce compares values with line-0000000 .. line-(n-1).
func checkExactlyOnce(t *testing.T, what string, got []string, n int) {
	t.Helper()
	seen := make(map[string]int, len(got))
	for _, v := range got {
		seen[v]++
	}
	var missing, dup []string
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("line-%07d", i)
		switch seen[v] {
		case 0:
			missing = append(missing, v)
		case 1:
		default:
			dup = append(dup, fmt.Sprintf("%s×%d", v, seen[v]))
		}
		delete(seen, v)
	}
	var extra []string
	for v := range seen {
		extra = append(extra, v)
	}
	sort.Strings(extra)
	if len(missing)+len(dup)+len(extra) > 0 || len(got) != n {
		t.Fatalf("%s: %d values for %d lines: %d missing %v, %d duplicated %v, %d unexpected %v",
			what, len(got), n, len(missing), clip(missing), len(dup), clip(dup), len(extra), clip(extra))
	}
}

func clip(s []string) []string {
	if len(s) > 8 {
		return append(s[:8:8], "...")
	}
	return s
}

// TestFileSourceSIGKILLExactlyOnce: a file source → topic run under
// exactly_once_v2, killed with SIGKILL twice mid-run while the file grows,
// leaves every line in the topic exactly once (read_committed).
func TestFileSourceSIGKILLExactlyOnce(t *testing.T) {
	b := testbroker.New(t)
	b.CreateTopic(t, "lines", 3, nil)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	cfg := filepath.Join(dir, "source.properties")
	writeFile(t, cfg, "name=lines-in\ntype=file\nfile="+in+"\ntopic=lines\nvalue.converter=string\nkey.converter=string\n")
	run := func() *sluiceProc {
		return startSluice(t, "connectors", "run", "--brokers", b.Addr(), "--guarantee", "exactly_once_v2",
			"--instance-id", "w1", "--session-timeout", "6s", "--progress", "0", cfg)
	}
	const perRound = 60000
	for round := 0; round < 2; round++ {
		appendLines(t, in, round*perRound, (round+1)*perRound)
		before := highWatermarks(t, b, "lines")
		p := run()
		waitUntil(t, "progress", 60*time.Second, p, func() bool { return highWatermarks(t, b, "lines") > before+perRound/4 })
		p.kill(t)
	}
	appendLines(t, in, 2*perRound, 3*perRound)
	p := run()
	waitUntil(t, "every line", 90*time.Second, p, func() bool { return len(b.ReadAll(t, "lines")) >= 3*perRound })
	p.stop(t)
	var got []string
	for _, r := range b.ReadAll(t, "lines") {
		got = append(got, string(r.Value))
	}
	checkExactlyOnce(t, "topic lines after two SIGKILLs", got, 3*perRound)
}

// produceLines writes line-<from> .. line-<to-1> to topic, keyed so they
// spread over its partitions.
func produceLines(t *testing.T, b *testbroker.Broker, topic string, from, to int) {
	t.Helper()
	recs := make([]*kgo.Record, 0, to-from)
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i % 97)), Value: []byte(fmt.Sprintf("line-%07d", i))})
	}
	b.Produce(t, recs...)
}

// sinkSIGKILL runs a sink under `sluice connectors run`, kills it twice
// mid-run, then lets a third run finish (--until-done), and returns what
// read(dir) finds in the output.
func sinkSIGKILL(t *testing.T, cfgText string, progress func() int, read func() []string) {
	b := testbroker.New(t)
	b.CreateTopic(t, "lines", 3, nil)
	const total = 150000
	produceLines(t, b, "lines", 0, total)
	cfg := filepath.Join(t.TempDir(), "sink.properties")
	writeFile(t, cfg, cfgText)
	args := []string{"connectors", "run", "--brokers", b.Addr(), "--instance-id", "w1", "--session-timeout", "6s", "--progress", "0", cfg}
	for round := 0; round < 2; round++ {
		before := progress()
		p := startSluice(t, args...)
		waitUntil(t, "progress", 60*time.Second, p, func() bool { return progress() > before+total/10 })
		p.kill(t)
	}
	p := startSluice(t, append([]string{args[0], args[1], "--until-done"}, args[2:]...)...)
	p.wait(t, 120*time.Second)
	checkExactlyOnce(t, "sink output after two SIGKILLs", read(), total)
}

// TestFileSinkSIGKILLExactlyOnce: a topic → file sink run killed twice
// leaves every record exactly once in the committed files.
func TestFileSinkSIGKILLExactlyOnce(t *testing.T) {
	out := t.TempDir()
	files := func() []string {
		var names []string
		entries, _ := os.ReadDir(out)
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") {
				names = append(names, filepath.Join(out, e.Name()))
			}
		}
		return names
	}
	read := func() []string {
		var lines []string
		for _, f := range files() {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, strings.Fields(string(data))...)
		}
		return lines
	}
	sinkSIGKILL(t, "name=files-out\ntype=file\ntopics=lines\nfile.dir="+out+"\nformat=lines\nflush.size=5000\n"+
		"value.converter=string\nkey.converter=string\noffset.flush.interval.ms=500\n",
		func() int { return len(files()) * 5000 }, read)
}

// TestS3SinkSIGKILLExactlyOnce: a topic → s3 sink run (against an S3 server
// in this process) killed twice leaves every record exactly once in the
// bucket's objects.
func TestS3SinkSIGKILLExactlyOnce(t *testing.T) {
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	if err := backend.CreateBucket("out"); err != nil {
		t.Fatal(err)
	}
	objects := func() []string {
		res, err := backend.ListBucket("out", &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, c := range res.Contents {
			keys = append(keys, c.Key)
		}
		return keys
	}
	read := func() []string {
		var lines []string
		for _, k := range objects() {
			obj, err := backend.GetObject("out", k, nil)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(obj.Contents)
			obj.Contents.Close()
			for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				// JSON lines of string values: "line-0000001"
				lines = append(lines, strings.Trim(l, `"`))
			}
		}
		return lines
	}
	sinkSIGKILL(t, "name=s3-out\ntype=s3\ntopics=lines\ns3.bucket.name=out\nstore.url="+srv.URL+
		"\naws.access.key.id=test\naws.secret.access.key=test\nformat.class=json\nflush.size=5000\n"+
		"value.converter=string\nkey.converter=string\noffset.flush.interval.ms=500\n",
		func() int { return len(objects()) * 5000 }, read)
}

// runCLI runs the sluice command in this process and returns its output.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func TestConnectorsListAndDescribe(t *testing.T) {
	out, err := runCLI(t, "connectors", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"source     file", "sink       file", "source     s3", "sink       s3", "source     http",
		"sink       http", "source     datagen", "converter  avro", "converter  json", "transform  MaskField$Value", "predicate  RecordIsTombstone"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	out, err = runCLI(t, "connectors", "describe", "s3", "--kind", "sink")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sink s3:", "s3.bucket.name (string, required)", "aws.secret.access.key (string, secret)",
		"errors.tolerance (string, default none, one of none|all)", "Example:"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe s3 lacks %q:\n%s", want, out)
		}
	}
	if _, err := runCLI(t, "connectors", "describe", "fiel"); err == nil || !strings.Contains(err.Error(), `did you mean "file"`) {
		t.Errorf("describe of a typo: %v", err)
	}
}

// TestConnectorsRunRejectsBadConfig: every problem of every file is
// reported, by key, before anything starts.
func TestConnectorsRunRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.properties")
	writeFile(t, a, "name=a\ntype=file\nfiel=/x\ntopic=t\nerrors.tolerance=some\n")
	bcfg := filepath.Join(dir, "b.yaml")
	writeFile(t, bcfg, "name: b\ntype: s3\ntopics: t\nformat.class: json\n")
	_, err := runCLI(t, "connectors", "run", "--brokers", "127.0.0.1:1", a, bcfg)
	if err == nil {
		t.Fatal("bad configurations were accepted")
	}
	for _, want := range []string{`fiel: unknown field (did you mean "file"?)`, `errors.tolerance: "some" is not allowed`,
		"s3.bucket.name: required", "flush.size: required", "a.properties", "b.yaml"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestConnectorsOffsetsGetAndReset: offsets are printed in KIP-875's shape;
// reset refuses while the connector runs and works once it stopped.
func TestConnectorsOffsetsGetAndReset(t *testing.T) {
	b := testbroker.New(t)
	b.CreateTopic(t, "lines", 1, nil)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	appendLines(t, in, 0, 10)
	cfg := filepath.Join(dir, "src.yaml")
	writeFile(t, cfg, "name: offs\ntype: file\nfile: "+in+"\ntopic: lines\nvalue.converter: string\noffset.flush.interval.ms: 100\n")
	p := startSluice(t, "connectors", "run", "--brokers", b.Addr(), "--progress", "0", cfg)
	waitUntil(t, "the lines", 30*time.Second, p, func() bool { return len(b.ReadAll(t, "lines")) == 10 })
	var out string
	waitUntil(t, "committed offsets", 30*time.Second, p, func() bool {
		out, _ = runCLI(t, "connectors", "offsets", "get", "--brokers", b.Addr(), "--connector", "offs")
		return strings.Contains(out, `"position": 130`)
	})
	if !strings.Contains(out, `"filename": "`+in+`"`) {
		t.Errorf("offsets: %s", out)
	}
	if _, err := runCLI(t, "connectors", "offsets", "reset", "--brokers", b.Addr(), "--connector", "offs"); err == nil ||
		!strings.Contains(err.Error(), "running") {
		t.Fatalf("reset of a running connector: %v", err)
	}
	p.stop(t)
	if out, err := runCLI(t, "connectors", "offsets", "reset", "--brokers", b.Addr(), "--connector", "offs"); err != nil ||
		!strings.Contains(out, "reset: 1 source partition") {
		t.Fatalf("reset: %v %s", err, out)
	}
	if out, _ := runCLI(t, "connectors", "offsets", "get", "--brokers", b.Addr(), "--connector", "offs"); !strings.Contains(out, `"offsets": []`) {
		t.Fatalf("offsets after reset: %s", out)
	}
	// It reads the file from the start again.
	p = startSluice(t, "connectors", "run", "--brokers", b.Addr(), "--progress", "0", cfg)
	waitUntil(t, "the lines again", 30*time.Second, p, func() bool { return len(b.ReadAll(t, "lines")) == 20 })
	p.stop(t)
}

// TestConnectorsRunHTTP: `sluice connectors run --http` serves readiness
// and Prometheus metrics with the source's counters while it runs.
func TestConnectorsRunHTTP(t *testing.T) {
	t.Parallel()
	b := testbroker.New(t)
	b.CreateTopic(t, "http-lines", 1, nil)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	appendLines(t, in, 0, 100)
	cfg := filepath.Join(dir, "source.properties")
	writeFile(t, cfg, "name=lines-http\ntype=file\nfile="+in+"\ntopic=http-lines\nvalue.converter=string\nkey.converter=string\n")
	addr := "127.0.0.1:" + freePort(t)
	p := startSluice(t, "connectors", "run", "--brokers", b.Addr(), "--progress", "0", "--http", addr, cfg)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	waitUntil(t, "ready", 30*time.Second, p, func() bool { code, _ := get("/readyz"); return code == 200 })
	waitUntil(t, "the lines in the topic", 30*time.Second, p, func() bool { return highWatermarks(t, b, "http-lines") >= 100 })
	waitUntil(t, "the source's counters", 30*time.Second, p, func() bool {
		_, text := get("/metrics")
		return strings.Contains(text, `sluice_connect_source_task_source_record_poll_total{connector="lines-http",task="0"} 100`) &&
			strings.Contains(text, `sluice_connect_connector_task_status{connector="lines-http",status="running",task="0",type="file"} 1`)
	})
	if code, body := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d %s", code, body)
	}
	p.stop(t)
}
