// Package memconn provides in-memory source and sink connectors over an
// in-memory "outside system", for tests of the connector worker and of the
// conformance suite itself. They follow the SDK's contracts exactly,
// including exactly-once resume (source) and offsets kept with the output
// (sink), so the worker's guarantees can be checked without a real system.
package memconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// Log is the source's outside system: named append-only streams of string
// items. Safe for concurrent use.
type Log struct {
	mu      sync.Mutex
	streams map[string][]string
	changed chan struct{}
}

// NewLog returns an empty log.
func NewLog() *Log { return &Log{streams: map[string][]string{}, changed: make(chan struct{})} }

// Append adds items to a stream.
func (l *Log) Append(stream string, items ...string) {
	l.mu.Lock()
	l.streams[stream] = append(l.streams[stream], items...)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *Log) read(stream string, from, max int) ([]string, chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.streams[stream]
	if from >= len(s) {
		return nil, l.changed
	}
	end := min(len(s), from+max)
	return append([]string(nil), s[from:end]...), l.changed
}

// Store is the sink's outside system: the values written per Kafka
// partition, with their offsets. Safe for concurrent use.
type Store struct {
	mu       sync.Mutex
	parts    map[connectors.TopicPartition][]Written
	puts     int
	failPuts int // the next failPuts Puts fail with a retriable error
}

// Written is one record in the store.
type Written struct {
	Offset int64
	Value  string
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{parts: map[connectors.TopicPartition][]Written{}} }

// Values returns every value written, by partition in offset order.
func (s *Store) Values() map[connectors.TopicPartition][]Written {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[connectors.TopicPartition][]Written{}
	for tp, ws := range s.parts {
		out[tp] = append([]Written(nil), ws...)
	}
	return out
}

// All returns every value written, sorted.
func (s *Store) All() []string {
	var out []string
	for _, ws := range s.Values() {
		for _, w := range ws {
			out = append(out, w.Value)
		}
	}
	sort.Strings(out)
	return out
}

// FailNextPuts makes the next n Puts fail with a retriable error.
func (s *Store) FailNextPuts(n int) {
	s.mu.Lock()
	s.failPuts = n
	s.mu.Unlock()
}

// Register adds the "memory" source over log and the "memory" sink over
// store, plus the "string" and "bytes" converters when the registry has
// none of that name (so tests can run without the real converters).
func Register(reg *connectors.Registry, log *Log, store *Store) error {
	src := connectors.SourcePlugin{
		Info: connectors.Info{Name: "memory", Summary: "in-memory test source", Spec: connectors.Spec{Fields: []connectors.ConfigField{
			{Name: "topic", Type: connectors.FieldString, Required: true, Doc: "Destination topic."},
			{Name: "streams", Type: connectors.FieldList, Required: true, Doc: "Streams of the log to read, split across tasks."},
			{Name: "batch.size", Type: connectors.FieldInt, Default: 10, Doc: "Items per poll."},
			{Name: "poison.prefix", Type: connectors.FieldString, Doc: "Items starting with it are reported as unreadable."},
			{Name: "bounded", Type: connectors.FieldBool, Doc: "Finish (io.EOF) when every stream is read to its end."},
			{Name: "poll.delay.ms", Type: connectors.FieldDuration, Doc: "Sleep before each poll that returns items."},
		}}},
		ExactlyOnce: true,
		New: func(cfg *connectors.Config) (connectors.Source, error) {
			return &source{log: log, cfg: cfg}, nil
		},
	}
	snk := connectors.SinkPlugin{
		Info: connectors.Info{Name: "memory", Summary: "in-memory test sink", Spec: connectors.Spec{Fields: []connectors.ConfigField{
			{Name: "exactly.once", Type: connectors.FieldBool, Doc: "Keep offsets with the output and seek past them on assign."},
			{Name: "reject.prefix", Type: connectors.FieldString, Doc: "Values starting with it are reported as unwritable."},
			{Name: "buffer", Type: connectors.FieldBool, Doc: "Buffer in Put, write in PreCommit."},
		}}},
		ExactlyOnce: true,
		New: func(cfg *connectors.Config) (connectors.Sink, error) {
			return &sink{store: store, cfg: cfg}, nil
		},
	}
	errs := []error{reg.AddSource(src), reg.AddSink(snk)}
	if _, err := reg.Converter("string"); err != nil {
		errs = append(errs, reg.AddConverter(connectors.ConverterPlugin{Info: connectors.Info{Name: "string", Summary: "test string converter"},
			New: func(*connectors.Config, bool) (connectors.Converter, error) { return stringConverter{}, nil }}))
	}
	return errors.Join(errs...)
}

type stringConverter struct{}

// ErrUnconvertible is returned by the test string converter for values
// starting with "UNCONVERTIBLE".
var ErrUnconvertible = errors.New("memconn: value marked unconvertible")

func (stringConverter) FromConnect(topic string, _ *connectors.Schema, v any) ([]byte, error) {
	s := fmt.Sprint(v)
	if b, ok := v.([]byte); ok {
		s = string(b)
	}
	if strings.HasPrefix(s, "UNCONVERTIBLE") {
		return nil, ErrUnconvertible
	}
	return []byte(s), nil
}

func (stringConverter) ToConnect(topic string, data []byte) (*connectors.Schema, any, error) {
	if strings.HasPrefix(string(data), "UNCONVERTIBLE") {
		return nil, nil, ErrUnconvertible
	}
	return connectors.OptionalOf(connectors.StringSchema()), string(data), nil
}

type source struct {
	log *Log
	cfg *connectors.Config
}

func (s *source) Tasks(max int) ([]connectors.SourceTask, error) {
	streams := s.cfg.List("streams")
	n := min(max, len(streams))
	tasks := make([]connectors.SourceTask, n)
	for i := range tasks {
		t := &sourceTask{log: s.log, cfg: s.cfg, pos: map[string]int{}, parts: map[string]map[string]any{}}
		for j := i; j < len(streams); j += n {
			t.streams = append(t.streams, streams[j])
		}
		tasks[i] = t
	}
	return tasks, nil
}

type sourceTask struct {
	log     *Log
	cfg     *connectors.Config
	tc      connectors.SourceTaskContext
	streams []string
	pos     map[string]int
	parts   map[string]map[string]any
	// Committed records what Commit was told, for tests.
	committed []connectors.SourceOffset
	closed    bool
}

func (t *sourceTask) Open(ctx context.Context, tc connectors.SourceTaskContext) error {
	t.tc = tc
	for _, s := range t.streams {
		t.parts[s] = map[string]any{"stream": s}
		off, err := tc.Offset(t.parts[s])
		if err != nil {
			return err
		}
		if off != nil {
			p, ok := off["pos"].(int64)
			if !ok {
				return fmt.Errorf("memconn: offset of stream %q is %v, want {pos: int64}", s, off)
			}
			t.pos[s] = int(p)
		}
	}
	return nil
}

func (t *sourceTask) Poll(ctx context.Context) ([]*connectors.Record, error) {
	batch := t.cfg.Int("batch.size")
	poison := t.cfg.String("poison.prefix")
	var wait []chan struct{}
	var out []*connectors.Record
	for _, s := range t.streams {
		items, changed := t.log.read(s, t.pos[s], batch)
		wait = append(wait, changed)
		for _, it := range items {
			t.pos[s]++
			rec := &connectors.Record{Topic: t.cfg.String("topic"), Partition: -1,
				ValueSchema: connectors.StringSchema(), Value: it,
				SourcePartition: t.parts[s], SourceOffset: map[string]any{"pos": int64(t.pos[s])}}
			if poison != "" && strings.HasPrefix(it, poison) {
				rec.ValueSchema, rec.Value = nil, []byte(it)
				if err := t.tc.Report(rec, fmt.Errorf("memconn: unreadable item %q", it)); err != nil {
					return out, err
				}
				continue
			}
			out = append(out, rec)
		}
	}
	if len(out) > 0 {
		if d := t.cfg.Duration("poll.delay.ms"); d > 0 {
			time.Sleep(d)
		}
		return out, nil
	}
	if t.cfg.Bool("bounded") {
		return nil, io.EOF
	}
	// Nothing new: wait for an append (one channel serves the whole log),
	// the context, or a second.
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	var changed chan struct{}
	if len(wait) > 0 {
		changed = wait[0]
	}
	select {
	case <-changed:
	case <-ctx.Done():
	case <-timer.C:
	}
	return nil, nil
}

func (t *sourceTask) Commit(_ context.Context, offs []connectors.SourceOffset) error {
	t.committed = append(t.committed, offs...)
	return nil
}

func (t *sourceTask) Close() error { t.closed = true; return nil }

type sink struct {
	store *Store
	cfg   *connectors.Config
}

func (s *sink) Tasks(max int) ([]connectors.SinkTask, error) {
	tasks := make([]connectors.SinkTask, max)
	for i := range tasks {
		tasks[i] = &sinkTask{store: s.store, cfg: s.cfg}
	}
	return tasks, nil
}

type sinkTask struct {
	store  *Store
	cfg    *connectors.Config
	tc     connectors.SinkTaskContext
	buffer []*connectors.Record
}

func (t *sinkTask) Open(_ context.Context, tc connectors.SinkTaskContext) error {
	t.tc = tc
	return nil
}

func (t *sinkTask) Assign(_ context.Context, tps []connectors.TopicPartition) error {
	if !t.cfg.Bool("exactly.once") {
		return nil
	}
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	for _, tp := range tps {
		if ws := t.store.parts[tp]; len(ws) > 0 {
			t.tc.Seek(tp, ws[len(ws)-1].Offset+1)
		}
	}
	return nil
}

func (t *sinkTask) Put(_ context.Context, recs []*connectors.Record) error {
	t.store.mu.Lock()
	t.store.puts++
	if t.store.failPuts > 0 {
		t.store.failPuts--
		t.store.mu.Unlock()
		return connectors.Retriable(errors.New("memconn: store unavailable"))
	}
	t.store.mu.Unlock()
	reject := t.cfg.String("reject.prefix")
	for _, r := range recs {
		v := fmt.Sprint(r.Value)
		if reject != "" && strings.HasPrefix(v, reject) {
			if err := t.tc.Report(r, fmt.Errorf("memconn: store rejects %q", v)); err != nil {
				return err
			}
			continue
		}
		if t.cfg.Bool("buffer") {
			t.buffer = append(t.buffer, r)
			continue
		}
		t.write(r)
	}
	return nil
}

func (t *sinkTask) write(r *connectors.Record) {
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	tp := connectors.TopicPartition{Topic: r.Topic, Partition: r.Partition}
	ws := t.store.parts[tp]
	if t.cfg.Bool("exactly.once") && len(ws) > 0 && ws[len(ws)-1].Offset >= r.Offset {
		return // idempotent: already written
	}
	t.store.parts[tp] = append(ws, Written{Offset: r.Offset, Value: fmt.Sprint(r.Value)})
}

func (t *sinkTask) PreCommit(_ context.Context, cur map[connectors.TopicPartition]int64) (map[connectors.TopicPartition]int64, error) {
	for _, r := range t.buffer {
		t.write(r)
	}
	t.buffer = t.buffer[:0]
	return cur, nil
}

func (t *sinkTask) Revoke(_ context.Context, tps []connectors.TopicPartition) error {
	keep := t.buffer[:0]
	for _, r := range t.buffer {
		revoked := false
		for _, tp := range tps {
			if r.Topic == tp.Topic && r.Partition == tp.Partition {
				revoked = true
			}
		}
		if !revoked {
			keep = append(keep, r)
		}
	}
	t.buffer = keep
	return nil
}

func (t *sinkTask) Close() error { return nil }

// Reset empties the store.
func (s *Store) Reset() {
	s.mu.Lock()
	s.parts = map[connectors.TopicPartition][]Written{}
	s.mu.Unlock()
}
