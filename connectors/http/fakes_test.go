package httpconn_test

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/connectors"
	httpconn "github.com/sluicehq/sluice/connectors/http"
)

// The worker (connectors/worker) drives tasks in production; these small
// task contexts let the tests drive them directly and watch every call.

type reported struct {
	rec *connectors.Record
	err error
}

type fakeTaskCtx struct {
	name string
	log  *slog.Logger

	commitRequests atomic.Int64

	mu        sync.Mutex
	reports   []reported
	reportErr error // returned by Report: errors.tolerance=none
}

func newFakeTaskCtx(t testing.TB) *fakeTaskCtx {
	w := &testWriter{t: t}
	// Registered before the tasks' cleanups, so it runs after them: a
	// server goroutine that logs late must not log into a finished test.
	t.Cleanup(func() { w.done.Store(true) })
	return &fakeTaskCtx{name: t.Name(), log: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

func (c *fakeTaskCtx) Connector() string    { return c.name }
func (c *fakeTaskCtx) TaskID() int          { return 0 }
func (c *fakeTaskCtx) Logger() *slog.Logger { return c.log }
func (c *fakeTaskCtx) RequestCommit()       { c.commitRequests.Add(1) }

func (c *fakeTaskCtx) Report(rec *connectors.Record, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reports = append(c.reports, reported{rec, err})
	if c.reportErr != nil {
		return &connectors.RecordError{Connector: c.name, Stage: connectors.StageTaskPut, Where: rec.Where(), Err: err}
	}
	return nil
}

func (c *fakeTaskCtx) Reports() []reported {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]reported(nil), c.reports...)
}

type fakeSourceCtx struct {
	*fakeTaskCtx
	committed map[string]map[string]any // by listener
}

func (c *fakeSourceCtx) Offset(p map[string]any) (map[string]any, error) {
	l, _ := p["listener"].(string)
	return c.committed[l], nil
}

func (c *fakeSourceCtx) Offsets() ([]connectors.SourceOffset, error) {
	var out []connectors.SourceOffset
	for l, o := range c.committed {
		out = append(out, connectors.SourceOffset{Partition: map[string]any{"listener": l}, Offset: o})
	}
	return out, nil
}

type fakeSinkCtx struct {
	*fakeTaskCtx
}

func (c *fakeSinkCtx) Seek(connectors.TopicPartition, int64) {}

// testWriter sends task logs to the test log.
type testWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if _, bench := w.t.(*testing.B); !w.done.Load() && !bench {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

var _ io.Writer = (*testWriter)(nil)

func registry(t testing.TB) *connectors.Registry {
	t.Helper()
	reg := connectors.NewRegistry()
	if err := httpconn.Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// parse validates raw against a spec and returns the joined errors' keys.
func fieldErrorKeys(err error) []string {
	var keys []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var fe *connectors.FieldError
		if errors.As(e, &fe) {
			keys = append(keys, fe.Key)
		}
	}
	walk(err)
	return keys
}
