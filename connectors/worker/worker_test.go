package worker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/memconn"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
)

type env struct {
	b     *testbroker.Broker
	log   *memconn.Log
	store *memconn.Store
	reg   *connectors.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{b: testbroker.New(t), log: memconn.NewLog(), store: memconn.NewStore(), reg: connectors.NewRegistry()}
	if err := memconn.Register(e.reg, e.log, e.store); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) worker(t *testing.T, g core.ProcessingGuarantee) *worker.Worker {
	t.Helper()
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	w, err := worker.New(worker.Config{
		Brokers: []string{e.b.Addr()}, Plugins: e.reg, Guarantee: g,
		OffsetsTopicPartitions: 4,
		TransactionTimeout:     10 * time.Second,
		SessionTimeout:         2 * time.Second,
		Logger:                 slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	return w
}

func values(recs []*kgo.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

func items(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s-%04d", prefix, i))
	}
	return out
}

func sourceConfig(name, topic string, extra map[string]any) map[string]any {
	cfg := map[string]any{
		"name": name, "type": "memory", "topic": topic, "streams": "a",
		"key.converter": "string", "value.converter": "string",
		"offset.flush.interval.ms": 100,
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return cfg
}

func stop(t *testing.T, c *worker.Connector) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// byPartition groups a topic's values per partition, in offset order.
func inOrder(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("got %d values, want %d\n got: %v\nwant: %v", len(got), len(want), head(got), head(want))
	}
}

func head(s []string) []string {
	if len(s) > 12 {
		return append(append([]string(nil), s[:6]...), append([]string{"..."}, s[len(s)-6:]...)...)
	}
	return s
}

// TestSourceExactlyOnceAcrossStopAndCrash: a source task is stopped
// gracefully, then crashed mid-run twice; every item lands in the topic
// exactly once, in order (one source partition, one Kafka partition).
func TestSourceExactlyOnceAcrossStopAndCrash(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.b.CreateTopic(t, "out", 1, nil)
	w := e.worker(t, core.ExactlyOnceV2)
	ctx := context.Background()
	cfg := sourceConfig("eos", "out", map[string]any{"batch.size": 7, "poll.delay.ms": 2})

	e.log.Append("a", items("x", 0, 100)...)
	c, err := w.StartSource(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "100 records", 20*time.Second, func() bool { return len(e.b.ReadAll(t, "out")) >= 100 })
	stop(t, c)
	if st := c.Status(); st.Tasks[0].State != worker.StateStopped {
		t.Fatalf("status after stop: %+v", st)
	}

	for round := 0; round < 2; round++ {
		from := 100 + round*300
		e.log.Append("a", items("x", from, from+300)...)
		c, err = w.StartSource(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		testwait.Until(t, "progress", 20*time.Second, func() bool { return len(e.b.ReadAll(t, "out")) >= from+50 })
		c.Crash()
	}
	c, err = w.StartSource(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "all 700 records", 30*time.Second, func() bool { return len(e.b.ReadAll(t, "out")) >= 700 })
	stop(t, c)
	inOrder(t, values(e.b.ReadAll(t, "out")), items("x", 0, 700))
	offs, err := worker.ReadSourceOffsets(ctx, []kgo.Opt{kgo.SeedBrokers(e.b.Addr())}, worker.DefaultOffsetsTopic, "eos")
	if err != nil {
		t.Fatal(err)
	}
	if len(offs) != 1 || offs[0].Offset["pos"] != int64(700) || offs[0].Partition["stream"] != "a" {
		t.Fatalf("committed offsets: %+v", offs)
	}
}

// TestSourceAtLeastOnceLosesNothing: under at-least-once a crash may
// repeat records but never loses one, and a graceful stop repeats nothing.
func TestSourceAtLeastOnceLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.b.CreateTopic(t, "out", 1, nil)
	w := e.worker(t, core.AtLeastOnce)
	ctx := context.Background()
	cfg := sourceConfig("alos", "out", map[string]any{"batch.size": 5, "poll.delay.ms": 2})
	e.log.Append("a", items("y", 0, 300)...)
	c, err := w.StartSource(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "progress", 20*time.Second, func() bool { return len(e.b.ReadAll(t, "out")) >= 60 })
	c.Crash()
	c, err = w.StartSource(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "all records", 20*time.Second, func() bool {
		return slices.Contains(values(e.b.ReadAll(t, "out")), "y-0299")
	})
	stop(t, c)
	n := len(e.b.ReadAll(t, "out"))
	got := values(e.b.ReadAll(t, "out"))
	seen := map[string]bool{}
	for _, v := range got {
		seen[v] = true
	}
	for _, want := range items("y", 0, 300) {
		if !seen[want] {
			t.Fatalf("lost %s", want)
		}
	}
	// Order is kept within each run: the log is a prefix-repeating sequence.
	c, err = w.StartSource(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	stop(t, c)
	if again := len(e.b.ReadAll(t, "out")); again != n {
		t.Fatalf("a restart after a graceful stop wrote %d records again", again-n)
	}
}

// TestSourceDeadLetters: with errors.tolerance=all, unreadable input and
// records that fail conversion go to the dead-letter topic with Kafka
// Connect's headers, in the same transaction; the rest flows on.
func TestSourceDeadLetters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.b.CreateTopic(t, "out", 1, nil)
	w := e.worker(t, core.ExactlyOnceV2)
	in := []string{"ok-1", "BAD-1", "ok-2", "UNCONVERTIBLE-1", "ok-3"}
	e.log.Append("a", in...)
	c, err := w.StartSource(context.Background(), sourceConfig("dlq", "out", map[string]any{
		"poison.prefix": "BAD", "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "out-dlq",
	}))
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "dead letters", 20*time.Second, func() bool { return len(e.b.ReadAll(t, "out-dlq")) >= 2 })
	testwait.Until(t, "records", 20*time.Second, func() bool { return len(e.b.ReadAll(t, "out")) >= 3 })
	stop(t, c)
	inOrder(t, values(e.b.ReadAll(t, "out")), []string{"ok-1", "ok-2", "ok-3"})
	dl := e.b.ReadAll(t, "out-dlq")
	if len(dl) != 2 {
		t.Fatalf("dead letters: %v", values(dl))
	}
	checkHeaders(t, dl[0], map[string]string{
		"__connect.errors.topic": "out", "__connect.errors.connector.name": "dlq", "__connect.errors.task.id": "0",
		"__connect.errors.stage": "TASK_POLL", "__connect.errors.class.name": "memory",
		"__connect.errors.source.partition": `{"stream":"a"}`, "__connect.errors.source.offset": `{"pos":2}`,
	}, "unreadable item")
	if string(dl[0].Value) != "BAD-1" {
		t.Errorf("dead letter value %q, want the raw input", dl[0].Value)
	}
	checkHeaders(t, dl[1], map[string]string{"__connect.errors.stage": "VALUE_CONVERTER", "__connect.errors.class.name": "string"}, "unconvertible")
	if string(dl[1].Value) != "UNCONVERTIBLE-1" {
		t.Errorf("dead letter value %q", dl[1].Value)
	}
	st := c.Status().Tasks[0]
	if st.Errors != 2 || st.DeadLettered != 2 {
		t.Errorf("counters: %+v", st)
	}
}

func checkHeaders(t *testing.T, r *kgo.Record, want map[string]string, msgContains string) {
	t.Helper()
	got := map[string]string{}
	for _, h := range r.Headers {
		got[h.Key] = string(h.Value)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("header %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if !strings.Contains(got["__connect.errors.exception.message"], msgContains) {
		t.Errorf("exception message %q does not mention %q", got["__connect.errors.exception.message"], msgContains)
	}
	for _, k := range []string{"__connect.errors.exception.class.name", "__connect.errors.exception.stacktrace"} {
		if got[k] == "" {
			t.Errorf("header %s missing", k)
		}
	}
}

// TestSourceToleranceNoneStops: with errors.tolerance=none an unreadable
// item fails the task with a message naming the stage and position;
// records before it are committed, nothing after it is.
func TestSourceToleranceNoneStops(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.b.CreateTopic(t, "out", 1, nil)
	w := e.worker(t, core.ExactlyOnceV2)
	e.log.Append("a", "ok-1", "ok-2", "BAD-1", "ok-3")
	c, err := w.StartSource(context.Background(), sourceConfig("none", "out", map[string]any{"poison.prefix": "BAD", "batch.size": 2}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = c.Wait(ctx)
	var rerr *connectors.RecordError
	if !errors.As(err, &rerr) || rerr.Stage != connectors.StageTaskPoll || !strings.Contains(err.Error(), `"pos":3`) && !strings.Contains(err.Error(), "pos:3") {
		t.Fatalf("Wait: %v", err)
	}
	if st := c.Status(); st.State != worker.StateFailed || !strings.Contains(st.Tasks[0].Error, "TASK_POLL") {
		t.Fatalf("status: %+v", st)
	}
	stop(t, c)
	inOrder(t, values(e.b.ReadAll(t, "out")), []string{"ok-1", "ok-2"})
}

// TestSinkAtLeastOnceAndCommittedOffsets: a sink gets every record in
// partition order, and a restart after a graceful stop starts at the
// committed offsets.
func TestSinkAtLeastOnceAndCommittedOffsets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.b.CreateTopic(t, "in", 2, nil)
	w := e.worker(t, core.AtLeastOnce)
	produce(t, e.b, "in", items("s", 0, 200)...)
	cfg := map[string]any{"name": "snk", "type": "memory", "topics": "in",
		"key.converter": "string", "value.converter": "string", "offset.flush.interval.ms": 100}
	c, err := w.StartSink(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "200 written", 20*time.Second, func() bool { return len(e.store.All()) >= 200 })
	stop(t, c)
	produce(t, e.b, "in", items("s", 200, 300)...)
	c, err = w.StartSink(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "300 written", 20*time.Second, func() bool { return len(e.store.All()) >= 300 })
	stop(t, c)
	inOrder(t, e.store.All(), items("s", 0, 300)) // a graceful stop committed: nothing again
	checkPerPartitionOrder(t, e.store)
}

// TestSinkExactlyOnceWithOffsetsInOutput: a sink that keeps offsets with
// its output and seeks past them writes every record once across crashes,
// even though its consumer offsets were never committed.
func TestSinkExactlyOnceWithOffsetsInOutput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.b.CreateTopic(t, "in", 2, nil)
	w := e.worker(t, core.ExactlyOnceV2)
	cfg := map[string]any{"name": "eos-snk", "type": "memory", "topics": "in", "exactly.once": true,
		"key.converter": "string", "value.converter": "string", "offset.flush.interval.ms": 3600000}
	for round := 0; round < 3; round++ {
		produce(t, e.b, "in", items("e", round*100, round*100+100)...)
		c, err := w.StartSink(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		testwait.Until(t, "written", 20*time.Second, func() bool { return len(e.store.All()) >= round*100+100 })
		c.Crash()
	}
	inOrder(t, e.store.All(), items("e", 0, 300))
}

// TestSinkDeadLettersAndTolerance: a record the converter cannot read and
// one the sink rejects are dead-lettered with their original bytes and
// position headers; under tolerance none the task stops and does not
// commit past the record.
func TestSinkDeadLettersAndTolerance(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.b.CreateTopic(t, "in", 1, nil)
	w := e.worker(t, core.AtLeastOnce)
	produce(t, e.b, "in", "a-1", "UNCONVERTIBLE-1", "a-2", "REJECT-1", "a-3")
	cfg := map[string]any{"name": "dlq-snk", "type": "memory", "topics": "in", "reject.prefix": "REJECT",
		"key.converter": "string", "value.converter": "string", "offset.flush.interval.ms": 100,
		"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "in-dlq"}
	c, err := w.StartSink(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "dead letters", 20*time.Second, func() bool { return len(e.b.ReadAll(t, "in-dlq")) >= 2 })
	testwait.Until(t, "written", 20*time.Second, func() bool { return len(e.store.All()) >= 3 })
	stop(t, c)
	inOrder(t, e.store.All(), []string{"a-1", "a-2", "a-3"})
	dl := e.b.ReadAll(t, "in-dlq")
	checkHeaders(t, dl[0], map[string]string{"__connect.errors.topic": "in", "__connect.errors.partition": "0",
		"__connect.errors.offset": "1", "__connect.errors.stage": "VALUE_CONVERTER"}, "unconvertible")
	checkHeaders(t, dl[1], map[string]string{"__connect.errors.offset": "3", "__connect.errors.stage": "TASK_PUT",
		"__connect.errors.class.name": "memory"}, "rejects")
	if string(dl[0].Value) != "UNCONVERTIBLE-1" || string(dl[1].Value) != "REJECT-1" {
		t.Errorf("dead letter values %q", values(dl))
	}

	// Tolerance none: stops at the record, commits nothing past it.
	e2 := newEnv(t)
	e2.b.CreateTopic(t, "in", 1, nil)
	w2 := e2.worker(t, core.AtLeastOnce)
	produce(t, e2.b, "in", "b-1", "b-2", "REJECT-2", "b-3")
	cfg["errors.tolerance"], cfg["name"] = "none", "none-snk"
	delete(cfg, "errors.deadletterqueue.topic.name")
	c2, err := w2.StartSink(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var rerr *connectors.RecordError
	if err := c2.Wait(ctx); !errors.As(err, &rerr) || rerr.Stage != connectors.StageTaskPut || !strings.Contains(err.Error(), "in[0]@2") {
		t.Fatalf("Wait: %v", err)
	}
	stop(t, c2)
	adm := kadmOffsets(t, e2.b, "connect-none-snk", "in")
	if adm > 2 {
		t.Fatalf("committed offset %d is past the failed record (offset 2)", adm)
	}
}

// TestSinkRetriesTransientPut: retriable Put failures are retried with
// backoff and nothing is lost or duplicated.
func TestSinkRetriesTransientPut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.b.CreateTopic(t, "in", 1, nil)
	w := e.worker(t, core.AtLeastOnce)
	e.store.FailNextPuts(3)
	produce(t, e.b, "in", items("r", 0, 50)...)
	c, err := w.StartSink(context.Background(), map[string]any{"name": "retry-snk", "type": "memory", "topics": "in",
		"key.converter": "string", "value.converter": "string", "errors.retry.delay.max.ms": 200})
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "written", 20*time.Second, func() bool { return len(e.store.All()) >= 50 })
	stop(t, c)
	inOrder(t, e.store.All(), items("r", 0, 50))
	if r := c.Status().Tasks[0].Retries; r != 3 {
		t.Errorf("retries %d, want 3", r)
	}
}

// TestSourceTasksShareAcrossWorkers: two workers running the same
// exactly-once source split its tasks; when one stops, the other takes its
// tasks over; every item arrives exactly once.
func TestSourceTasksShareAcrossWorkers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.b.CreateTopic(t, "out", 1, nil)
	w1, w2 := e.worker(t, core.ExactlyOnceV2), e.worker(t, core.ExactlyOnceV2)
	cfg := sourceConfig("shared", "out", map[string]any{"streams": "a,b,c,d", "tasks.max": 4, "poll.delay.ms": 5})
	for _, s := range []string{"a", "b", "c", "d"} {
		e.log.Append(s, items(s, 0, 100)...)
	}
	c1, err := w1.StartSource(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := w2.StartSource(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	running := func(c *worker.Connector) int {
		n := 0
		for _, ts := range c.Status().Tasks {
			if ts.State == worker.StateRunning {
				n++
			}
		}
		return n
	}
	testwait.Until(t, "tasks split across both workers", 20*time.Second, func() bool {
		return running(c1) > 0 && running(c2) > 0 && running(c1)+running(c2) == 4
	})
	stop(t, c1)
	for _, s := range []string{"a", "b", "c", "d"} {
		e.log.Append(s, items(s, 100, 200)...)
	}
	testwait.Until(t, "the second worker runs every task", 20*time.Second, func() bool { return running(c2) == 4 })
	testwait.Until(t, "all 800", 30*time.Second, func() bool { return len(e.b.ReadAll(t, "out")) >= 800 })
	stop(t, c2)
	got := values(e.b.ReadAll(t, "out"))
	var want []string
	for _, s := range []string{"a", "b", "c", "d"} {
		want = append(want, items(s, 0, 200)...)
	}
	slices.Sort(got)
	slices.Sort(want)
	inOrder(t, got, want)
}

func produce(t *testing.T, b *testbroker.Broker, topic string, vals ...string) {
	t.Helper()
	recs := make([]*kgo.Record, len(vals))
	for i, v := range vals {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i % 7)), Value: []byte(v)}
	}
	b.Produce(t, recs...)
}

func checkPerPartitionOrder(t *testing.T, s *memconn.Store) {
	t.Helper()
	for tp, ws := range s.Values() {
		for i := 1; i < len(ws); i++ {
			if ws[i].Offset <= ws[i-1].Offset {
				t.Fatalf("%s: offsets out of order at %d: %d after %d", tp, i, ws[i].Offset, ws[i-1].Offset)
			}
		}
	}
}

// kadmOffsets returns the group's committed offset of partition 0 of topic
// (-1 if none).
func kadmOffsets(t *testing.T, b *testbroker.Broker, group, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(b.Client(t)).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 0); ok {
		return o.At
	}
	return -1
}

// counters is a core.Metrics that sums counters by name.
type counters struct {
	mu sync.Mutex
	m  map[string]int64
}

func (c *counters) Counter(name string, d int64, _ ...core.Label) {
	c.mu.Lock()
	c.m[name] += d
	c.mu.Unlock()
}
func (c *counters) Gauge(string, float64, ...core.Label)     {}
func (c *counters) Histogram(string, float64, ...core.Label) {}
func (c *counters) get(name string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[name]
}

// TestMetrics: the documented counters count what happened.
func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.b.CreateTopic(t, "out", 1, nil)
	m := &counters{m: map[string]int64{}}
	w, err := worker.New(worker.Config{Brokers: []string{e.b.Addr()}, Plugins: e.reg, Guarantee: core.ExactlyOnceV2,
		OffsetsTopicPartitions: 2, Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e.log.Append("a", append(items("m", 0, 40), "BAD-1")...)
	c, err := w.StartSource(context.Background(), sourceConfig("metrics", "out", map[string]any{
		"poison.prefix": "BAD", "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dl"}))
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "the records", 20*time.Second, func() bool { return len(e.b.ReadAll(t, "out")) == 40 })
	stop(t, c)
	for name, want := range map[string]int64{"source_record_poll_total": 40, "source_record_write_total": 40,
		"connector_record_errors_total": 1, "deadletterqueue_produce_requests_total": 1} {
		if got := m.get(name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
}

// TestConnectorsThroughLeaderMoves: on three brokers whose partition
// leaders move every 50 ms (and whose coordinators move once), an
// exactly-once source writes every item once and in order, and a sink
// reading that topic with its offsets kept in its output takes every item
// once and in order.
func TestConnectorsThroughLeaderMoves(t *testing.T) {
	t.Parallel()
	e := &env{b: testbroker.NewElecting(t), log: memconn.NewLog(), store: memconn.NewStore(), reg: connectors.NewRegistry()}
	if err := memconn.Register(e.reg, e.log, e.store); err != nil {
		t.Fatal(err)
	}
	e.b.CreateTopic(t, "moved", 1, nil)
	w := e.worker(t, core.ExactlyOnceV2)
	ctx := context.Background()
	stopMoving := e.b.MoveLeaders(50 * time.Millisecond)
	src, err := w.StartSource(ctx, sourceConfig("moved-src", "moved", map[string]any{"batch.size": 20, "poll.delay.ms": 1}))
	if err != nil {
		t.Fatal(err)
	}
	snk, err := w.StartSink(ctx, map[string]any{"name": "moved-snk", "type": "memory", "topics": "moved", "exactly.once": true,
		"key.converter": "string", "value.converter": "string"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	for i := 0; i < n; i += 100 {
		e.log.Append("a", items("m", i, i+100)...)
		time.Sleep(50 * time.Millisecond) // input arrives over ~1.5 s of elections
	}
	testwait.Until(t, "every item through the sink", 60*time.Second, func() bool { return len(e.store.All()) >= n })
	stopMoving()
	stop(t, src)
	stop(t, snk)
	inOrder(t, values(e.b.ReadAll(t, "moved")), items("m", 0, n))
	inOrder(t, e.store.All(), items("m", 0, n))
}

// TestSourceParallelConversion: poll batches large enough to be converted
// on several goroutines reach Kafka in poll order, with failures
// dead-lettered in order (errors.tolerance=all) or stopping the task at
// the failing record with nothing of its batch committed (none).
func TestSourceParallelConversion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.b.CreateTopic(t, "out", 1, nil)
	e.b.CreateTopic(t, "out-none", 1, nil)
	w, err := worker.New(worker.Config{
		Brokers: []string{e.b.Addr()}, Plugins: e.reg, Guarantee: core.ExactlyOnceV2,
		OffsetsTopicPartitions: 4, TransactionTimeout: 10 * time.Second, SessionTimeout: 2 * time.Second,
		SourceConversionWorkers: 4,
		Logger:                  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	var in, want, wantDead []string
	for i := range 3000 {
		it := fmt.Sprintf("x-%04d", i)
		if i%397 == 5 {
			it = fmt.Sprintf("UNCONVERTIBLE-%04d", i)
			wantDead = append(wantDead, it)
		} else {
			want = append(want, it)
		}
		in = append(in, it)
	}
	e.log.Append("a", in...)
	ctx := context.Background()
	c, err := w.StartSource(ctx, sourceConfig("par", "out", map[string]any{
		"batch.size": 1000, "bounded": true,
		"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "out-dlq",
	}))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	inOrder(t, values(e.b.ReadAll(t, "out")), want)
	inOrder(t, values(e.b.ReadAll(t, "out-dlq")), wantDead)
	offs, err := worker.ReadSourceOffsets(ctx, []kgo.Opt{kgo.SeedBrokers(e.b.Addr())}, worker.DefaultOffsetsTopic, "par")
	if err != nil {
		t.Fatal(err)
	}
	if len(offs) != 1 || offs[0].Offset["pos"] != int64(3000) {
		t.Fatalf("committed offsets: %+v", offs)
	}

	// errors.tolerance=none: the first batch (y-0000..y-0999) is
	// committed; nothing of the batch holding the failing record is.
	e.log.Append("b", items("y", 0, 1500)...)
	e.log.Append("b", "UNCONVERTIBLE-y")
	e.log.Append("b", items("y", 1500, 1800)...)
	c, err = w.StartSource(ctx, sourceConfig("par-none", "out-none", map[string]any{"streams": "b", "batch.size": 1000}))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Wait(wctx)
	var rerr *connectors.RecordError
	if !errors.As(err, &rerr) || rerr.Stage != connectors.StageValueConverter {
		t.Fatalf("Wait: %v", err)
	}
	stop(t, c)
	inOrder(t, values(e.b.ReadAll(t, "out-none")), items("y", 0, 1000))
}
