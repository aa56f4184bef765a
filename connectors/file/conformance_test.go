package fileconn_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/connectortest"
	fileconn "github.com/sluicehq/sluice/connectors/file"
	"github.com/sluicehq/sluice/internal/converters"
	"github.com/sluicehq/sluice/internal/recordformat"
)

func registry(t *testing.T) *connectors.Registry {
	reg := connectors.NewRegistry()
	if err := converters.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := fileconn.Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

func jsonID(b []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return "undecodable: " + string(b)
	}
	return v.ID
}

// TestConformanceSource runs the suite on a tailed JSON-lines file: the
// worker's exactly-once mode must write every line once across crashes.
func TestConformanceSource(t *testing.T) {
	var path string
	connectortest.TestSource(t, connectortest.Source{
		Plugins: registry(t),
		Config: func(t *testing.T, topic string) map[string]any {
			path = filepath.Join(t.TempDir(), "in.json")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return map[string]any{
				"type": "file", "file": path, "topic": topic, "format": "json",
				"poll.interval.ms": 50, "batch.size": 50,
				"value.converter": "json", "value.converter.schemas.enable": false,
			}
		},
		Append: func(t *testing.T, from, n int) []string {
			var b strings.Builder
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("item-%05d", from+i)
				fmt.Fprintf(&b, "{\"id\":%q}\n", ids[i])
			}
			appendTo(t, path, b.String())
			return ids
		},
		ID:          func(r *kgo.Record) string { return jsonID(r.Value) },
		Poison:      func(t *testing.T) { appendTo(t, path, "{not json\n") },
		ExactlyOnce: true,
	})
}

func appendTo(t *testing.T, path, s string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// TestConformanceSink runs the suite on JSON-lines files rolled every 20
// records or 200 ms.
func TestConformanceSink(t *testing.T) {
	var dir string
	connectortest.TestSink(t, connectortest.Sink{
		Plugins: registry(t),
		Config: func(t *testing.T) map[string]any {
			dir = t.TempDir()
			return map[string]any{
				"type": "file", "file.dir": dir, "format": "json",
				"flush.size": 20, "rotate.schedule.interval.ms": 200,
				"value.converter": "json", "value.converter.schemas.enable": false,
				"key.converter": "string",
			}
		},
		Written: func(t *testing.T) []string {
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".") {
					continue // temporary files are not durable output
				}
				f, err := os.Open(filepath.Join(dir, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				r, _ := recordformat.NewReader(recordformat.JSON, f, recordformat.ReaderOptions{})
				for {
					it, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("%s: %v", e.Name(), err)
					}
					m, _ := it.Value.(map[string]any)
					id, _ := m["id"].(string)
					ids = append(ids, id)
				}
				f.Close()
			}
			return ids
		},
		ExactlyOnce: true,
	})
}
