package datagen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// offsetStore plays the worker's offsets topic: offsets go through JSON, as
// they do in Kafka, so numbers come back as float64.
type offsetStore struct {
	mu      sync.Mutex
	offsets map[string]map[string]any // by partition JSON
	parts   map[string]map[string]any
}

func newOffsetStore() *offsetStore {
	return &offsetStore{offsets: map[string]map[string]any{}, parts: map[string]map[string]any{}}
}

func roundTrip(t testing.TB, v map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("offset is not JSON-encodable: %v", err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// commit stores the offsets of records, as the worker does once they are
// in Kafka: the last offset of each partition wins.
func (s *offsetStore) commit(t testing.TB, recs []*connectors.Record) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		if r.SourcePartition == nil || r.SourceOffset == nil {
			continue
		}
		k, _ := json.Marshal(r.SourcePartition)
		s.offsets[string(k)] = roundTrip(t, r.SourceOffset)
		s.parts[string(k)] = roundTrip(t, r.SourcePartition)
	}
}

// fakeContext is a SourceTaskContext over an offsetStore.
type fakeContext struct {
	store *offsetStore
	id    int
}

func (f *fakeContext) Connector() string    { return "datagen-test" }
func (f *fakeContext) TaskID() int          { return f.id }
func (f *fakeContext) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }
func (f *fakeContext) RequestCommit()       {}

func (f *fakeContext) Offset(partition map[string]any) (map[string]any, error) {
	k, _ := json.Marshal(partition)
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	return f.store.offsets[string(k)], nil
}

func (f *fakeContext) Offsets() ([]connectors.SourceOffset, error) {
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	keys := make([]string, 0, len(f.store.offsets))
	for k := range f.store.offsets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []connectors.SourceOffset
	for _, k := range keys {
		out = append(out, connectors.SourceOffset{Partition: f.store.parts[k], Offset: f.store.offsets[k]})
	}
	return out, nil
}

func (f *fakeContext) Report(*connectors.Record, error) error {
	return errors.New("datagen never reports")
}

// fakeClock advances only when a task sleeps.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return true
}

func (c *fakeClock) elapsed(since time.Time) time.Duration { return c.Now().Sub(since) }

// newSource builds a datagen connector from raw configuration through the
// registry, as the worker does.
func newTestSource(t testing.TB, raw map[string]any, clk clock) *source {
	t.Helper()
	src, err := buildSource(raw)
	if err != nil {
		t.Fatalf("config %v: %v", raw, err)
	}
	if clk != nil {
		src.clock = clk
	}
	return src
}

func buildSource(raw map[string]any) (*source, error) {
	reg := connectors.NewRegistry()
	if err := Register(reg); err != nil {
		return nil, err
	}
	p, err := reg.Source("datagen")
	if err != nil {
		return nil, err
	}
	cfg, err := p.Spec.Parse("", raw)
	if err != nil {
		return nil, err
	}
	s, err := p.New(cfg)
	if err != nil {
		return nil, err
	}
	return s.(*source), nil
}

// openTasks opens tasks.max tasks over store.
func openTasks(t testing.TB, src *source, n int, store *offsetStore) []*task {
	t.Helper()
	tasks, err := src.Tasks(n)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*task, len(tasks))
	for i, st := range tasks {
		if err := st.Open(context.Background(), &fakeContext{store: store, id: i}); err != nil {
			t.Fatalf("open task %d: %v", i, err)
		}
		out[i] = st.(*task)
	}
	return out
}

// pollN polls until n records or EOF.
func pollN(t testing.TB, tk *task, n int) (recs []*connectors.Record, eof bool) {
	t.Helper()
	for len(recs) < n {
		batch, err := tk.Poll(context.Background())
		recs = append(recs, batch...)
		if errors.Is(err, io.EOF) {
			return recs, true
		}
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
	}
	return recs, false
}

// render describes a record completely, for comparisons.
func render(r *connectors.Record) string {
	return fmt.Sprintf("%s key=%v ts=%d value=%s", r.Topic, r.Key, r.Timestamp.UnixMilli(), renderValue(r.Value))
}

func renderValue(v any) string {
	switch x := v.(type) {
	case *connectors.Struct:
		var b strings.Builder
		b.WriteString("{")
		for i, f := range x.Schema().Fields {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%s=%s", f.Name, renderValue(x.At(i)))
		}
		b.WriteString("}")
		return b.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = renderValue(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ":" + renderValue(x[k])
		}
		return "map[" + strings.Join(parts, ",") + "]"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T(%v)", v, v)
}

func renderAll(recs []*connectors.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = render(r)
	}
	return out
}
