package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testtls"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// runCLIInput is runCLI with standard input.
func runCLIInput(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// TestSASLSSLEndToEnd: `sluice broker` serving TLS with SCRAM-SHA-512
// users (certificates made by the test); `sluice registry` stores its
// schemas there, a job (file source -> topology with Avro output -> file
// sink) runs exactly-once against it, and `sluice produce` and `sluice
// consume` read and write through it, all from one client.properties in
// the form Java clients use. With a wrong password or without the CA,
// every command fails at once with a message naming the cause.
func TestSASLSSLEndToEnd(t *testing.T) {
	t.Parallel()
	certs := testtls.New(t, "localhost")
	kport := freePort(t)
	broker := startSluice(t, "broker", "--listen", "localhost:"+kport, "--tls-cert", certs.Cert, "--tls-key", certs.Key,
		"--user", "app:s3cret", "--user", "other:pw2", "--sasl-mechanism", "SCRAM-SHA-512")
	dir := t.TempDir()
	props := filepath.Join(dir, "client.properties")
	writeFile(t, props, fmt.Sprintf(`# as Confluent's and Kafka's tools write it
bootstrap.servers=localhost:%s
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
    username="app" password="s3cret";
ssl.ca.location=%s
acks=all
`, kport, certs.CA))
	waitUntil(t, "the secured broker", 30*time.Second, broker, func() bool {
		_, err := runCLI(t, "consume", "--kafka-config", props, "--topic", "probe", "--timeout", "100ms")
		return err == nil
	})

	rport := freePort(t)
	regURL := "http://127.0.0.1:" + rport
	metricsAddr := "127.0.0.1:" + freePort(t)
	reg := startSluice(t, "registry", "--listen", "127.0.0.1:"+rport, "--kafka-config", props, "--http", metricsAddr)
	waitHTTP(t, "the registry", reg, http.DefaultClient, regURL+"/subjects", http.StatusOK)

	// A job: lines from files -> upper-cased Avro records -> JSON files.
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf("line %02d", i))
	}
	writeFile(t, filepath.Join(in, "a.txt"), strings.Join(lines, "\n")+"\n")
	jobFile := filepath.Join(dir, "upper.yaml")
	writeFile(t, jobFile, fmt.Sprintf(`job: secure-upper
processing.guarantee: exactly_once_v2
state.dir: %s
registry: {url: %s}
topics:
  lines: {partitions: 1}
  upper: {partitions: 1}
sources:
  lines: {type: file, files: %s/*.txt, tail: false, topic: lines, key.converter: string, value.converter: string}
topology:
  streams:
    lines: {topic: lines, key: string, value: string}
  pipelines:
    - name: upper
      from: lines
      steps:
        - mapValues: {line: upper(value)}
        - to: {topic: upper, value: avro}
sinks:
  out: {type: file, topics: upper, file.dir: %s, format: json, flush.size: 10, key.converter: string, value.converter: avro}
`, filepath.Join(dir, "state"), regURL, in, out))
	job := startSluice(t, "run", jobFile, "--kafka-config", props, "--until-done", "--progress", "0")
	job.wait(t, 120*time.Second)
	var written []string
	files, _ := filepath.Glob(filepath.Join(out, "*", "*"))
	files2, _ := filepath.Glob(filepath.Join(out, "*"))
	for _, f := range append(files, files2...) {
		if st, err := os.Stat(f); err == nil && !st.IsDir() {
			b, _ := os.ReadFile(f)
			written = append(written, strings.Split(strings.TrimSpace(string(b)), "\n")...)
		}
	}
	if len(written) != 50 || !strings.Contains(strings.Join(written, "\n"), `"line":"LINE 07"`) {
		t.Fatalf("the job's sink wrote %d records, want 50 upper-cased lines:\n%s\n%s", len(written), strings.Join(written, "\n"), job.output)
	}

	// The console tools, with Avro through the same registry.
	out1, err := runCLI(t, "consume", "--kafka-config", props, "--registry", regURL, "--topic", "upper",
		"--from-beginning", "--max", "50", "--timeout", "30s")
	if err != nil || strings.Count(out1, `"LINE `) != 50 || !strings.Contains(out1, `"line":"LINE 00"`) {
		t.Fatalf("consume: %v\n%s", err, out1)
	}
	schema := filepath.Join(dir, "v.avsc")
	writeFile(t, schema, `{"type":"record","name":"V","fields":[{"name":"n","type":"int"}]}`)
	if o, err := runCLIInput(t, "{\"n\": 1}\n{\"n\": 2}\n", "produce", "--kafka-config", props, "--registry", regURL,
		"--topic", "manual", "--value-schema", schema); err != nil {
		t.Fatalf("produce: %v\n%s", err, o)
	}
	out2, err := runCLI(t, "consume", "--kafka-config", props, "--registry", regURL, "--topic", "manual",
		"--from-beginning", "--max", "2", "--timeout", "30s")
	if err != nil || !strings.Contains(out2, `"value":{"n":1}`) || !strings.Contains(out2, `"value":{"n":2}`) {
		t.Fatalf("consume what produce wrote: %v\n%s", err, out2)
	}

	// The registry's own metrics count the requests above.
	waitHTTP(t, "the registry's readiness", reg, http.DefaultClient, "http://"+metricsAddr+"/readyz", http.StatusOK)
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metricsText), `sluice_registry_http_requests_total{code="200",method="get"}`) ||
		!strings.Contains(string(metricsText), `sluice_registry_http_requests_total{code="200",method="post"}`) {
		t.Errorf("registry metrics lack the requests:\n%s", metricsText)
	}

	// Wrong settings fail at once, naming the cause, never the password.
	bad := filepath.Join(dir, "bad.properties")
	writeFile(t, bad, fmt.Sprintf("bootstrap.servers=localhost:%s\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=app\nsasl.password=WRONGPW\nssl.ca.location=%s\n", kport, certs.CA))
	noCA := filepath.Join(dir, "noca.properties")
	writeFile(t, noCA, fmt.Sprintf("bootstrap.servers=localhost:%s\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=app\nsasl.password=s3cret\n", kport))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"consume", "--kafka-config", bad, "--topic", "upper"}, `SASL authentication as "app"`},
		{[]string{"produce", "--kafka-config", bad, "--topic", "upper", "--value-schema", schema}, "sasl.password"},
		{[]string{"connectors", "offsets", "get", "--kafka-config", bad, "--connector", "x"}, "sasl.password"},
		{[]string{"run", jobFile, "--kafka-config", bad}, "sasl.password"},
		{[]string{"consume", "--kafka-config", noCA, "--topic", "upper"}, "not signed by a trusted authority"},
	} {
		start := time.Now()
		o, err := runCLI(t, tc.args...)
		if err == nil {
			t.Errorf("%v: no error\n%s", tc.args[0], o)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error()+o, "WRONGPW") {
			t.Errorf("%v: error %q should say %q and not show the password", tc.args[0], err, tc.want)
		}
		t.Logf("%s failed after %v: %v", tc.args[0], time.Since(start).Round(time.Millisecond), err)
	}
	reg.stop(t)
	broker.stop(t)
}
