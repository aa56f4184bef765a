package job

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluicehq/sluice/connectors/bundled"
	httpconn "github.com/sluicehq/sluice/connectors/http"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestExampleWordcountS3 runs examples/jobs/wordcount-s3.yaml end to end
// on the embedded broker, with an S3 server in this process: the last
// count of every word in the bucket is its count in the input files.
func TestExampleWordcountS3(t *testing.T) {
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()
	if err := backend.CreateBucket("words"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	texts := map[string]string{
		"a.txt": "the quick brown fox\njumps over the lazy dog\n",
		"b.txt": "The dog sleeps\nthe fox runs\n",
	}
	want := map[string]int64{}
	for name, text := range texts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, w := range strings.Fields(strings.ToLower(text)) {
			want[w]++
		}
	}
	t.Setenv("WORDS_DIR", dir)
	t.Setenv("S3_URL", srv.URL)
	t.Setenv("S3_BUCKET", "words")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("SLUICE_STATE_DIR", filepath.Join(dir, "state"))
	reg := bundled.Registry()
	j, err := Lint("../../examples/jobs/wordcount-s3.yaml", reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, j, RunOptions{Plugins: reg, UntilDone: true, Out: &out, Logger: quietLogger()}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	// The objects hold each word's updates in offset order per partition:
	// the last line of a word is its final count.
	res, err := backend.ListBucket("words", &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range res.Contents {
		keys = append(keys, c.Key)
	}
	sort.Strings(keys) // partition, then start offset (zero-padded)
	got := map[string]int64{}
	for _, k := range keys {
		obj, err := backend.GetObject("words", k, nil)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(obj.Contents)
		obj.Contents.Close()
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var v struct {
				Word  string
				Count int64
			}
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatalf("%s: %q: %v", k, line, err)
			}
			got[v.Word] = v.Count // later offsets win
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("final counts in S3:\n got %v\nwant %v", got, want)
	}
	if len(keys) == 0 {
		t.Fatalf("no objects in the bucket:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "ok       sink wordcount-s3-counts-s3") {
		t.Fatalf("summary:\n%s", out.String())
	}
}

// TestExamplePageViewsHTTP runs examples/jobs/page-views-http.yaml end to
// end: POSTs to its webhook come out as counts at the target webhook.
func TestExamplePageViewsHTTP(t *testing.T) {
	var mu sync.Mutex
	latest := map[string]int64{}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []struct{ Count int64 }
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &batch); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		for _, c := range batch {
			if c.Count > latest["max"] {
				latest["max"] = c.Count
			}
			latest["requests"]++
		}
		mu.Unlock()
	}))
	defer target.Close()
	dir := t.TempDir()
	t.Setenv("LISTEN", "127.0.0.1:0")
	t.Setenv("TARGET_URL", target.URL+"/counts")
	t.Setenv("SLUICE_STATE_DIR", filepath.Join(dir, "state"))
	reg := bundled.Registry()
	j, err := Lint("../../examples/jobs/page-views-http.yaml", reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := ln.Addr().String()
	ln.Close()
	var outMu sync.Mutex
	go func() {
		done <- Run(ctx, j, RunOptions{Plugins: reg, Out: lockedWriter{&outMu, &out}, Logger: quietLogger(), HTTPAddr: httpAddr})
	}()
	actx, acancel := context.WithTimeout(context.Background(), time.Minute)
	defer acancel()
	addr, err := httpconn.ListenAddr(actx, "page-views-events")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		resp, err := http.Post(fmt.Sprintf("http://%s/events", addr), "application/json", strings.NewReader(`{"page":"/home","user":"u1"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST answered %s", resp.Status)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := latest["max"]
		mu.Unlock()
		// All five views land in one or two 10-second windows.
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target got no count of 3 or more (max %d)", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkObservability(t, "http://"+httpAddr, "page-views")
	checkWindowQuery(t, "http://"+httpAddr, "/home", 5)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
}

// checkWindowQuery: the job's windowed count is served to interactive
// queries (`--http`): the store is listed, and a page's windows sum to
// its views.
func checkWindowQuery(t *testing.T, base, page string, views int64) {
	t.Helper()
	getJSON := func(path string, v any) int {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(body, v); err != nil {
				t.Fatalf("GET %s: %v: %s", path, err, body)
			}
		}
		return resp.StatusCode
	}
	var list struct{ Stores []struct{ Name, Kind string } }
	if code := getJSON("/stores", &list); code != 200 {
		t.Fatalf("GET /stores: %d", code)
	}
	var store string
	for _, s := range list.Stores {
		if s.Kind == "window" {
			store = s.Name
		}
	}
	if store == "" {
		t.Fatalf("GET /stores lists no window store: %+v", list)
	}
	var windows struct {
		Entries []struct {
			Key   string
			Start int64
			Value struct{ Count int64 } // the count step's record
		}
	}
	path := "/stores/" + store + "/windows/" + url.PathEscape(page)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var sum int64
		code := getJSON(path, &windows)
		for _, e := range windows.Entries {
			if e.Key != page {
				t.Fatalf("GET %s: an entry of key %q", path, e.Key)
			}
			sum += e.Value.Count
		}
		if code == 200 && sum == views {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d, windows %+v summing to %d, want %d views", path, code, windows.Entries, sum, views)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// checkObservability: a running job is live and ready, and its metrics
// parse as Prometheus text with the documented names and plausible values.
func checkObservability(t *testing.T, base, appID string) {
	t.Helper()
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, body := get(p)
			if code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d %s", p, code, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	_, text := get("/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text format: %v\n%s", err, text)
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		f, ok := families[name]
		if !ok {
			return 0, false
		}
		var sum float64
		found := false
	metrics:
		for _, m := range f.GetMetric() {
			for k, v := range labels {
				match := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						match = true
					}
				}
				if !match {
					continue metrics
				}
			}
			found = true
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
		return sum, found
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"sluice_stream_state", map[string]string{"application_id": appID, "state": "RUNNING"}, 1},
		{"sluice_stream_process_records_total", map[string]string{"application_id": appID}, 5},
		{"sluice_stream_active_tasks", nil, 1},
		{"sluice_stream_thread_process_records_total", nil, 5},
		{"sluice_stream_thread_commit_total", nil, 1},
		{"sluice_stream_thread_commit_latency_seconds", nil, 1},
		{"sluice_consumer_records_lag", nil, 0},
		{"sluice_connect_source_task_source_record_poll_total", nil, 5},
		{"sluice_connect_source_task_source_record_write_total", nil, 5},
		{"sluice_connect_sink_task_sink_record_read_total", nil, 1},
		{"sluice_connect_sink_task_put_batch_seconds", nil, 1},
		{"sluice_connect_connector_task_status", map[string]string{"status": "running"}, 2},
		{"go_goroutines", nil, 1},
	} {
		v, ok := value(c.name, c.labels)
		if !ok || v < c.min {
			t.Errorf("metric %s%v = %v (present %v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
}
