package job

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors/bundled"
)

var update = flag.Bool("update", false, "rewrite docs/jobs.md from the format")

// TestDocsUpToDate: docs/jobs.md is generated from the shapes that
// validate job files; it fails when they differ (run with -update).
func TestDocsUpToDate(t *testing.T) {
	want := Markdown(bundled.Registry())
	const path = "../../docs/jobs.md"
	if *update {
		if err := os.MkdirAll("../../docs", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it: go test ./internal/job -run TestDocsUpToDate -update)", err)
	}
	if string(got) != want {
		t.Fatalf("docs/jobs.md is out of date with internal/job/format.go: go test ./internal/job -run TestDocsUpToDate -update")
	}
}

// TestJSONSchema: the generated schema is valid JSON with the format's
// top-level keys and every connector type.
func TestJSONSchema(t *testing.T) {
	b, err := JSONSchema(bundled.Registry())
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]any `json:"properties"`
		Defs       map[string]any `json:"$defs"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"job", "sources", "topology", "sinks", "processing.guarantee"} {
		if _, ok := s.Properties[k]; !ok {
			t.Errorf("schema lacks %q", k)
		}
	}
	for _, d := range []string{"step", "serde", "pipeline", "window"} {
		if _, ok := s.Defs[d]; !ok {
			t.Errorf("schema lacks definition %q", d)
		}
	}
}

// TestExampleJobsLint: every example job passes lint.
func TestExampleJobsLint(t *testing.T) {
	reg := bundled.Registry()
	files, _ := filepath.Glob("../../examples/jobs/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example jobs")
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".test.yaml") {
			continue
		}
		if _, err := Lint(f, reg); err != nil {
			t.Errorf("%s:\n%v", f, err)
		}
	}
}

// TestExampleJobTests: every example job's test file passes, and a wrong
// expectation fails with a diff.
func TestExampleJobTests(t *testing.T) {
	reg := bundled.Registry()
	files, _ := filepath.Glob("../../examples/jobs/*.test.yaml")
	if len(files) == 0 {
		t.Fatal("no example job tests")
	}
	for _, f := range files {
		var out strings.Builder
		results, err := RunTests(f, reg, &out)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, r := range results {
			if !r.Passed {
				t.Errorf("%s: %s failed:\n%s", f, r.Name, r.Diff)
			}
		}
	}
	data, err := os.ReadFile("../../examples/jobs/orders-revenue.test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("../../examples/jobs/orders-revenue.yaml")
	bad := "job: " + abs + "\n" + strings.Replace(string(data), "revenue: 15.5", "revenue: 15.0", 1)
	path := filepath.Join(t.TempDir(), "bad.test.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	results, err := RunTests(path, reg, &out)
	if err != nil || len(results) != 1 || results[0].Passed || !strings.Contains(results[0].Diff, `+ {"key":"1","value":{"customer":"Ann Lee","orders":2,"region":"West","revenue":15.5`) {
		t.Fatalf("a wrong expectation: %v %+v\n%s", err, results, out.String())
	}
}

// TestDescribe: the main job's picture links sources, topics, the
// topology and sinks in every format.
func TestDescribe(t *testing.T) {
	reg := bundled.Registry()
	j, err := Lint("../../examples/jobs/orders-revenue.yaml", reg)
	if err != nil {
		t.Fatal(err)
	}
	for format, wants := range map[string][]string{
		"text":    {"customers (datagen) --> customers", "Source: orders (topics: [orders])", "Sink: revenue-to-7 (topic: revenue)", "revenue --> revenue-files (file)"},
		"mermaid": {"flowchart LR", "src_orders --> t_orders", "t_orders --> p_orders", "p_revenue_to_7 --> t_revenue", "t_revenue --> snk_revenue_files"},
		"dot":     {`"src_orders" -> "t_orders";`, `"t_revenue" -> "snk_revenue-files";`},
	} {
		out, err := j.Describe(reg, format)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q:\n%s", format, w, out)
			}
		}
	}
}
