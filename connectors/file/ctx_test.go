package fileconn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// offsetStore holds committed source offsets in memory, stored as JSON and
// read back with UseNumber as the worker's offsets topic does.
type offsetStore struct {
	mu   sync.Mutex
	data map[string][2][]byte // partition JSON -> partition, offset
}

func newOffsetStore() *offsetStore { return &offsetStore{data: map[string][2][]byte{}} }

func decodeJSON(b []byte) map[string]any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		panic(err)
	}
	return m
}

// commit stores the offsets carried by records, as the worker does once
// they are durably in Kafka.
func (s *offsetStore) commit(t *testing.T, recs []*connectors.Record) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		if r.SourcePartition == nil || r.SourceOffset == nil {
			continue
		}
		p, err := json.Marshal(r.SourcePartition)
		if err != nil {
			t.Fatal(err)
		}
		o, err := json.Marshal(r.SourceOffset)
		if err != nil {
			t.Fatal(err)
		}
		s.data[string(p)] = [2][]byte{p, o}
	}
}

func (s *offsetStore) offsets() []connectors.SourceOffset {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.data))
	for k := range s.data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []connectors.SourceOffset
	for _, k := range keys {
		out = append(out, connectors.SourceOffset{Partition: decodeJSON(s.data[k][0]), Offset: decodeJSON(s.data[k][1])})
	}
	return out
}

type reported struct {
	rec *connectors.Record
	err error
}

// sourceCtx is a SourceTaskContext over an offsetStore.
type sourceCtx struct {
	store    *offsetStore
	id       int
	mu       sync.Mutex
	reported []reported
	strict   bool // errors.tolerance=none
}

func (c *sourceCtx) Connector() string { return "test" }
func (c *sourceCtx) TaskID() int       { return c.id }
func (c *sourceCtx) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
func (c *sourceCtx) RequestCommit() {}
func (c *sourceCtx) Offset(partition map[string]any) (map[string]any, error) {
	p, _ := json.Marshal(partition)
	for _, o := range c.store.offsets() {
		q, _ := json.Marshal(o.Partition)
		if bytes.Equal(p, q) {
			return o.Offset, nil
		}
	}
	return nil, nil
}
func (c *sourceCtx) Offsets() ([]connectors.SourceOffset, error) { return c.store.offsets(), nil }
func (c *sourceCtx) Report(raw *connectors.Record, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reported = append(c.reported, reported{raw, err})
	if c.strict {
		return fmt.Errorf("errors.tolerance=none: %w", err)
	}
	return nil
}

// sinkCtx is a SinkTaskContext recording seeks and reports.
type sinkCtx struct {
	mu       sync.Mutex
	seeks    map[connectors.TopicPartition]int64
	reported []reported
	commits  int
}

func (c *sinkCtx) Connector() string { return "test" }
func (c *sinkCtx) TaskID() int       { return 0 }
func (c *sinkCtx) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
func (c *sinkCtx) RequestCommit() { c.mu.Lock(); c.commits++; c.mu.Unlock() }
func (c *sinkCtx) Seek(tp connectors.TopicPartition, offset int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seeks == nil {
		c.seeks = map[connectors.TopicPartition]int64{}
	}
	c.seeks[tp] = offset
}
func (c *sinkCtx) Report(rec *connectors.Record, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reported = append(c.reported, reported{rec, err})
	return nil
}

// newSourceTasks builds the source's tasks from a raw configuration.
func newSourceTasks(t *testing.T, raw map[string]any, maxTasks int) []connectors.SourceTask {
	t.Helper()
	p := sourcePlugin()
	cfg, err := p.Spec.Parse("", raw)
	if err != nil {
		t.Fatal(err)
	}
	src, err := p.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := src.Tasks(maxTasks)
	if err != nil {
		t.Fatal(err)
	}
	return tasks
}

func openSource(t *testing.T, raw map[string]any, store *offsetStore) (connectors.SourceTask, *sourceCtx) {
	t.Helper()
	task := newSourceTasks(t, raw, 1)[0]
	ctx := &sourceCtx{store: store}
	if err := task.Open(context.Background(), ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Close() })
	return task, ctx
}

// pollN polls until n records arrived (committing each batch), failing
// after a timeout.
func pollN(t *testing.T, task connectors.SourceTask, store *offsetStore, n int) []*connectors.Record {
	t.Helper()
	var out []*connectors.Record
	deadline := time.Now().Add(20 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d records, want %d: %v", len(out), n, lineValues(out))
		}
		recs, err := task.Poll(context.Background())
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		store.commit(t, recs)
		out = append(out, recs...)
		if err == io.EOF {
			break
		}
	}
	if len(out) != n {
		t.Fatalf("got %d records, want %d: %v", len(out), n, lineValues(out))
	}
	return out
}

// pollToEOF polls a bounded task until it finishes.
func pollToEOF(t *testing.T, task connectors.SourceTask, store *offsetStore) []*connectors.Record {
	t.Helper()
	var out []*connectors.Record
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("the bounded task does not finish")
		}
		recs, err := task.Poll(context.Background())
		store.commit(t, recs)
		out = append(out, recs...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func lineValues(recs []*connectors.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprint(r.Value)
	}
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func numbered(prefix string, from, to int) string {
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s%d\n", prefix, i)
	}
	return b.String()
}

func wantLines(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}
