package mysqlcdc

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"sync"

	"github.com/sluicehq/sluice/connectors"
)

// fakeContext is a SourceTaskContext over an in-memory offset store, for
// driving a task without the worker.
type fakeContext struct {
	mu       sync.Mutex
	offsets  map[string]connectors.SourceOffset
	reported []error
	commits  int
}

func newFakeContext() *fakeContext {
	return &fakeContext{offsets: map[string]connectors.SourceOffset{}}
}

func (f *fakeContext) Connector() string { return "fake" }
func (f *fakeContext) TaskID() int       { return 0 }
func (f *fakeContext) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
func (f *fakeContext) RequestCommit() { f.mu.Lock(); f.commits++; f.mu.Unlock() }

func partitionKey(p map[string]any) string {
	b, _ := json.Marshal(p)
	return string(b)
}

func (f *fakeContext) Offset(p map[string]any) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.offsets[partitionKey(p)].Offset, nil
}

func (f *fakeContext) Offsets() ([]connectors.SourceOffset, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []connectors.SourceOffset
	for _, so := range f.offsets {
		out = append(out, so)
	}
	return out, nil
}

func (f *fakeContext) Report(raw *connectors.Record, err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reported = append(f.reported, err)
	return nil
}

// commit stores the batch's offsets (the last per partition) as the worker
// would after the batch is durable, through JSON like the offsets topic.
func (f *fakeContext) commit(recs []*connectors.Record) []connectors.SourceOffset {
	last := map[string]connectors.SourceOffset{}
	for _, r := range recs {
		if r.SourcePartition != nil && r.SourceOffset != nil {
			last[partitionKey(r.SourcePartition)] = connectors.SourceOffset{Partition: r.SourcePartition, Offset: r.SourceOffset}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []connectors.SourceOffset
	for k, so := range last {
		b, _ := json.Marshal(so.Offset)
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var m map[string]any
		_ = d.Decode(&m)
		for mk, mv := range m {
			if n, ok := mv.(json.Number); ok {
				if i, err := n.Int64(); err == nil {
					m[mk] = i
				}
			}
		}
		f.offsets[k] = connectors.SourceOffset{Partition: so.Partition, Offset: m}
		out = append(out, f.offsets[k])
	}
	return out
}

// clone copies the offset store.
func (f *fakeContext) clone() *fakeContext {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := newFakeContext()
	for k, v := range f.offsets {
		c.offsets[k] = v
	}
	return c
}
