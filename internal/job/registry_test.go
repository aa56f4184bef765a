package job

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/bundled"
	"github.com/sluicehq/sluice/internal/registryconf"
	"github.com/sluicehq/sluice/internal/testregistry"
)

// TestRunWithSecuredRegistry runs a job (file source -> topology writing
// Avro -> file sink reading it with the avro converter) on the embedded
// broker against a registry served over HTTPS with basic auth: the
// registry section's url, basic.auth.user.info (from the environment)
// and ssl.ca.location (relative to the job file) reach both the
// topology's serde and the sink's converter.
func TestRunWithSecuredRegistry(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{User: "app", Password: "pw-secret"})
	dir := t.TempDir()
	ca, err := os.ReadFile(reg.Certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "registry-ca.pem"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := range 20 {
		lines = append(lines, fmt.Sprintf("line %02d", i))
	}
	if err := os.WriteFile(filepath.Join(in, "a.txt"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REGISTRY_PASSWORD", "pw-secret")
	jobFile := filepath.Join(dir, "upper.yaml")
	writeJob := func(caFile string) {
		t.Helper()
		text := fmt.Sprintf(`job: secured-registry
state.dir: state
commit.interval.ms: 200
registry:
  url: %s
  basic.auth.user.info: app:${REGISTRY_PASSWORD}
  ssl.ca.location: %s
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
  out: {type: file, topics: upper, file.dir: %s, format: json, flush.size: 5, key.converter: string, value.converter: avro}
`, reg.URL, caFile, in, out)
		if err := os.WriteFile(jobFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	plugins := bundled.Registry()

	// A CA file that is not there fails before anything starts, at its key.
	writeJob("missing-ca.pem")
	j, err := Lint(jobFile, plugins)
	if err != nil {
		t.Fatalf("lint reads no certificate file: %v", err)
	}
	err = Run(context.Background(), j, RunOptions{Plugins: plugins, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), jobFile+":7:3: registry.ssl.ca.location: open "+filepath.Join(dir, "missing-ca.pem")) {
		t.Fatalf("missing CA: %v", err)
	}

	writeJob("registry-ca.pem")
	if j, err = Lint(jobFile, plugins); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	if err := Run(ctx, j, RunOptions{Plugins: plugins, UntilDone: true, Out: &progress, Logger: quietLogger()}); err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	var written []string
	files, _ := filepath.Glob(filepath.Join(out, "*"))
	nested, _ := filepath.Glob(filepath.Join(out, "*", "*"))
	for _, f := range append(files, nested...) {
		if st, err := os.Stat(f); err == nil && !st.IsDir() {
			data, _ := os.ReadFile(f)
			written = append(written, strings.Split(strings.TrimSpace(string(data)), "\n")...)
		}
	}
	if len(written) != 20 || !strings.Contains(strings.Join(written, "\n"), `"line":"LINE 07"`) {
		t.Fatalf("the sink wrote %d records, want 20 upper-cased lines:\n%s\n%s", len(written), strings.Join(written, "\n"), progress.String())
	}
	// The topology registered its schema in the secured registry.
	client, err := registryconf.Config{URL: reg.URL, BasicAuthUserInfo: "app:pw-secret", SSLCALocation: reg.Certs.CA}.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	subjects, err := client.Subjects(context.Background())
	if err != nil || !strings.Contains(strings.Join(subjects, ","), "upper-value") {
		t.Fatalf("subjects %v, %v", subjects, err)
	}
}

// TestConverterDefaultsRegistry: the job's registry settings become the
// converters' defaults under Confluent's names for the job's registry
// only; linting leaves out the TLS files (read when the job starts).
func TestConverterDefaultsRegistry(t *testing.T) {
	j, err := Parse("/jobs/j.yaml", []byte(`job: j
registry:
  url: https://sr.example:8081
  bearer.auth.token: tok
  ssl.ca.location: certs/ca.pem
sources:
  gen: {type: datagen, kafka.topic: orders, quickstart: orders}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	run := j.converterDefaults("https://sr.example:8081")
	want := map[string]any{"schema.registry.url": "https://sr.example:8081", "bearer.auth.credentials.source": "STATIC_TOKEN",
		"bearer.auth.token": "tok", "schema.registry.ssl.ca.location": "/jobs/certs/ca.pem"}
	if fmt.Sprint(run) != fmt.Sprint(want) {
		t.Errorf("run defaults %v\nwant %v", run, want)
	}
	delete(want, "schema.registry.ssl.ca.location")
	if lint := j.converterDefaults(""); fmt.Sprint(lint) != fmt.Sprint(want) {
		t.Errorf("lint defaults %v\nwant %v", lint, want)
	}
	if other := j.converterDefaults("http://127.0.0.1:1234"); len(other) != 1 {
		t.Errorf("another registry gets the job's settings: %v", other)
	}
}
