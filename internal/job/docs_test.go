package job

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
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
		if _, err := Lint(f, reg); err != nil {
			t.Errorf("%s:\n%v", f, err)
		}
	}
}
