package job

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/connectors/bundled"
)

// FuzzLoad: no job file makes the loader, the linter or the compiler
// panic; every failure is a list of positioned problems.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/broken/*.yaml")
	more, _ := filepath.Glob("../../examples/jobs/*.yaml")
	for _, p := range append(files, more...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("job: x\ntopology: {pipelines: [{from: a, steps: [{filter: '1 +'}]}]}"))
	f.Add([]byte("a: &x [*x]"))
	reg := bundled.Registry()
	env := func(string) (string, bool) { return "", false }
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := Parse("fuzz.yaml", data, env)
		if err != nil {
			if _, ok := err.(Problems); !ok {
				t.Fatalf("Parse returned %T %v, want Problems", err, err)
			}
			return
		}
		_, _ = j.parseConnectors(reg, "")
		if j.Topology != nil {
			_, _ = j.Compile(CompileOptions{Plugins: reg})
		}
		_ = j.checkTopics(reg)
	})
}
