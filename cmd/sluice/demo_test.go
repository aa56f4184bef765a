package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testbroker"
)

// TestDemoHTTPAndKafkaConfig: `sluice demo --kafka-config` reaches the
// cluster of the properties file, and --http serves the two instances'
// metrics and the probes while the demo runs.
func TestDemoHTTPAndKafkaConfig(t *testing.T) {
	b := testbroker.New(t)
	props := filepath.Join(t.TempDir(), "client.properties")
	writeFile(t, props, "bootstrap.servers="+b.Addr()+"\n")
	addr := "127.0.0.1:" + freePort(t)

	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := runCLI(t, "demo", "--kafka-config", props, "--http", addr, "--records", "6000", "--rate", "3000", "--corrupt", "3")
		done <- result{out, err}
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	var sawReady, sawMetrics bool
	var res result
wait:
	for {
		select {
		case res = <-done:
			break wait
		case <-time.After(100 * time.Millisecond):
		}
		if code, _ := get("/readyz"); code == http.StatusOK {
			sawReady = true
		}
		if code, body := get("/metrics"); code == http.StatusOK && strings.Contains(body, `sluice_stream_process_records_total{application_id="sluice-demo/instance-a"}`) {
			sawMetrics = true
			if code, body := get("/healthz"); code != http.StatusOK {
				t.Errorf("/healthz while the demo runs: %d %s", code, body)
			}
		}
	}
	if res.err != nil {
		t.Fatalf("demo: %v\n%s", res.err, res.out)
	}
	if !sawReady || !sawMetrics {
		t.Errorf("while the demo ran: ready %v, instance metrics %v", sawReady, sawMetrics)
	}
	for _, want := range []string{"metrics and health on http://" + addr, "0 missing", "3 dead letters"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, res.out)
		}
	}
	if strings.Contains(res.out, "embedded broker") {
		t.Errorf("demo started an embedded broker despite bootstrap.servers in --kafka-config:\n%s", res.out)
	}
}

// TestBenchKafkaConfig: `sluice bench --kafka-config` runs on the cluster
// of the properties file; security settings without brokers are refused
// (the embedded broker is PLAINTEXT).
func TestBenchKafkaConfig(t *testing.T) {
	b := testbroker.New(t)
	dir := t.TempDir()
	props := filepath.Join(dir, "client.properties")
	writeFile(t, props, "bootstrap.servers="+b.Addr()+"\n")
	out, err := runCLI(t, "bench", "--kafka-config", props, "--records", "2000", "--partitions", "2", "--pipelines", "bytes", "--only", "at_least_once")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	if !strings.Contains(out, fmt.Sprintf("brokers [%s]", b.Addr())) {
		t.Errorf("bench did not use the brokers of --kafka-config:\n%s", out)
	}
	secured := filepath.Join(dir, "secured.properties")
	writeFile(t, secured, "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.username=u\nsasl.password=pw-secret\n")
	for _, cmd := range []string{"bench", "demo"} {
		if out, err := runCLI(t, cmd, "--kafka-config", secured); err == nil || !strings.Contains(err.Error(), "embedded broker is PLAINTEXT") || strings.Contains(out+err.Error(), "pw-secret") {
			t.Errorf("%s with SASL_SSL and no brokers: %v", cmd, err)
		}
	}
}
