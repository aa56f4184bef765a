// Package connectortest is the conformance suite every Sluice connector
// passes: resume from committed offsets, no loss (and, where promised, no
// duplicate) after a crash, task moves between workers, poison records
// under both error tolerances, and clean shutdown. It runs the connector in
// the real worker against an in-process Kafka broker.
//
// A connector's test describes how to feed its outside system (a source) or
// read it back (a sink) and calls TestSource or TestSink:
//
//	func TestConformance(t *testing.T) {
//		connectortest.TestSource(t, connectortest.Source{
//			Plugins: reg,
//			Config:  func(t *testing.T, topic string) map[string]any { ... },
//			Append:  func(t *testing.T, from, n int) []string { ... },
//			ExactlyOnce: true,
//		})
//	}
package connectortest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testbroker"
)

// Source describes a source connector under test.
type Source struct {
	// Plugins holds the connector type and whatever converters, transforms
	// and predicates Config uses.
	Plugins *connectors.Registry
	// Config returns the connector's configuration writing to topic,
	// without "name" (the suite sets it). Each call is a fresh outside
	// system: the suite calls Config once per scenario and then Append
	// for that scenario.
	Config func(t *testing.T, topic string) map[string]any
	// Append adds input items numbered from .. from+n-1 to the outside
	// system of the last Config call and returns their identities, as ID
	// extracts them from the records the source writes.
	Append func(t *testing.T, from, n int) []string
	// ID extracts an item's identity from a written record. Default: the
	// record's value as a string.
	ID func(r *kgo.Record) string
	// Poison adds one input item the source cannot read (Report stage
	// TASK_POLL). Nil: the poison scenario is skipped.
	Poison func(t *testing.T)
	// ExactlyOnce: the connector type supports exactly-once delivery; the
	// suite then checks that nothing is duplicated across crashes.
	ExactlyOnce bool
	// Extra says the source may write records beyond those appended (a
	// generator): only duplicates and missing items fail.
	Extra bool
	// Timeout bounds each wait. Default: 30s.
	Timeout time.Duration
}

// Sink describes a sink connector under test. The suite produces records
// with a string key "k-<n mod 5>" and a JSON value {"id":"<id>","n":<n>}
// (ids "r-00000", "r-00001", ...) to topics with 4 partitions.
type Sink struct {
	// Plugins holds the connector type and the converters Config uses.
	Plugins *connectors.Registry
	// Config returns the connector's configuration reading topic, without
	// "name" and "topics" (the suite sets them). Each call is a fresh
	// outside system, read by Written.
	Config func(t *testing.T) map[string]any
	// Written returns the ids of the records in the outside system of the
	// last Config call, once per time written (duplicates included), in
	// any order. Only durable output counts (committed files, not temp
	// files).
	Written func(t *testing.T) []string
	// PoisonValue is a value the configured value converter cannot read.
	// Default: "{not json". Set SkipPoison when the converter accepts
	// anything (bytes, string).
	PoisonValue []byte
	SkipPoison  bool
	// ExactlyOnce: the sink writes every record once even across crashes.
	ExactlyOnce bool
	// Timeout bounds each wait. Default: 30s.
	Timeout time.Duration
}

func logger() *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func newWorker(t *testing.T, b *testbroker.Broker, plugins *connectors.Registry, g core.ProcessingGuarantee) *worker.Worker {
	t.Helper()
	w, err := worker.New(worker.Config{Brokers: []string{b.Addr()}, Plugins: plugins, Guarantee: g,
		OffsetsTopicPartitions: 4, TransactionTimeout: 10 * time.Second, SessionTimeout: 2 * time.Second, Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	return w
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("connectortest: timed out after %v waiting for %s", d, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func stopConnector(t *testing.T, c *worker.Connector) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("connectortest: graceful stop: %v", err)
	}
	for _, ts := range c.Status().Tasks {
		if ts.State == worker.StateFailed {
			t.Fatalf("connectortest: task %d failed: %s", ts.ID, ts.Error)
		}
	}
}

func with(cfg map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range cfg {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// counts tallies identities.
func counts(ids []string) map[string]int {
	m := map[string]int{}
	for _, id := range ids {
		m[id]++
	}
	return m
}

// check compares written identities with the expected ones: every expected
// one at least once; with exactly, exactly once and nothing else twice;
// with !extra, nothing unexpected.
func check(t *testing.T, what string, got, want []string, exactly, extra bool) {
	t.Helper()
	c := counts(got)
	var missing, dup, unexpected []string
	for _, id := range want {
		switch n := c[id]; {
		case n == 0:
			missing = append(missing, id)
		case n > 1 && exactly:
			dup = append(dup, fmt.Sprintf("%s×%d", id, n))
		}
	}
	wantSet := counts(want)
	for id, n := range c {
		if wantSet[id] > 0 {
			continue
		}
		if !extra {
			unexpected = append(unexpected, id)
		} else if n > 1 && exactly {
			dup = append(dup, fmt.Sprintf("%s×%d", id, n))
		}
	}
	sort.Strings(missing)
	sort.Strings(dup)
	sort.Strings(unexpected)
	if len(missing)+len(dup)+len(unexpected) > 0 {
		t.Fatalf("connectortest: %s: %d written, %d expected; missing %d %v; duplicated %d %v; unexpected %d %v",
			what, len(got), len(want), len(missing), clip(missing), len(dup), clip(dup), len(unexpected), clip(unexpected))
	}
}

func clip(s []string) []string {
	if len(s) > 10 {
		return append(append([]string(nil), s[:10]...), "...")
	}
	return s
}

// TestSource runs the source scenarios as subtests.
func TestSource(t *testing.T, s Source) {
	if s.ID == nil {
		s.ID = func(r *kgo.Record) string { return string(r.Value) }
	}
	if s.Timeout == 0 {
		s.Timeout = 30 * time.Second
	}
	topicIDs := func(t *testing.T, b *testbroker.Broker, topic string) []string {
		var out []string
		for _, r := range b.ReadAll(t, topic) {
			out = append(out, s.ID(r))
		}
		return out
	}
	has := func(t *testing.T, b *testbroker.Broker, topic string, want []string) func() bool {
		return func() bool {
			c := counts(topicIDs(t, b, topic))
			for _, id := range want {
				if c[id] == 0 {
					return false
				}
			}
			return true
		}
	}
	guarantees := []core.ProcessingGuarantee{core.AtLeastOnce}
	if s.ExactlyOnce {
		guarantees = append(guarantees, core.ExactlyOnceV2)
	}
	for _, g := range guarantees {
		exactly := g == core.ExactlyOnceV2
		t.Run("resume/"+string(g), func(t *testing.T) {
			b := newBroker(t)
			w := newWorker(t, b, s.Plugins, g)
			cfg := with(s.Config(t, "out"), "name", "resume")
			want := s.Append(t, 0, 50)
			c, err := w.StartSource(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the first items", s.Timeout, has(t, b, "out", want))
			stopConnector(t, c)
			want = append(want, s.Append(t, 50, 50)...)
			if c, err = w.StartSource(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the items appended while stopped", s.Timeout, has(t, b, "out", want))
			stopConnector(t, c)
			// A graceful stop commits: resuming repeats nothing, in
			// either guarantee.
			check(t, "after a graceful stop and restart", topicIDs(t, b, "out"), want, true, s.Extra)
		})
		t.Run("crash/"+string(g), func(t *testing.T) {
			b := newBroker(t)
			w := newWorker(t, b, s.Plugins, g)
			cfg := with(s.Config(t, "out"), "name", "crash", "offset.flush.interval.ms", 50)
			var want []string
			for round := 0; round < 2; round++ {
				want = append(want, s.Append(t, round*200, 200)...)
				// Counted before the start: a fast task may finish the
				// round before the test looks again.
				n := len(topicIDs(t, b, "out"))
				c, err := w.StartSource(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				waitFor(t, "progress before the crash", s.Timeout, func() bool { return len(topicIDs(t, b, "out")) > n })
				c.Crash()
			}
			c, err := w.StartSource(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "every item after two crashes", s.Timeout, has(t, b, "out", want))
			stopConnector(t, c)
			check(t, "after two crashes", topicIDs(t, b, "out"), want, exactly, s.Extra)
		})
		t.Run("rebalance/"+string(g), func(t *testing.T) {
			b := newBroker(t)
			w1, w2 := newWorker(t, b, s.Plugins, g), newWorker(t, b, s.Plugins, g)
			cfg := with(s.Config(t, "out"), "name", "moving", "offset.flush.interval.ms", 50)
			want := s.Append(t, 0, 100)
			c1, err := w1.StartSource(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			c2, err := w2.StartSource(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the first items", s.Timeout, has(t, b, "out", want))
			stopConnector(t, c1)
			want = append(want, s.Append(t, 100, 100)...)
			waitFor(t, "the second worker to take every task", s.Timeout, has(t, b, "out", want))
			stopConnector(t, c2)
			check(t, "after a task moved between workers", topicIDs(t, b, "out"), want, exactly, s.Extra)
		})
	}
	if s.Poison != nil {
		t.Run("poison/tolerance-all", func(t *testing.T) {
			b := newBroker(t)
			w := newWorker(t, b, s.Plugins, core.ExactlyOnceV2)
			cfg := with(s.Config(t, "out"), "name", "poison", "errors.tolerance", "all", "errors.deadletterqueue.topic.name", "out-dlq")
			want := s.Append(t, 0, 10)
			s.Poison(t)
			want = append(want, s.Append(t, 10, 10)...)
			c, err := w.StartSource(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "items around the poison", s.Timeout, has(t, b, "out", want))
			waitFor(t, "the dead letter", s.Timeout, func() bool { return len(b.ReadAll(t, "out-dlq")) > 0 })
			stopConnector(t, c)
			check(t, "around a poison item", topicIDs(t, b, "out"), want, s.ExactlyOnce, s.Extra)
			dl := b.ReadAll(t, "out-dlq")
			if len(dl) != 1 || header(dl[0], "__connect.errors.stage") != string(connectors.StageTaskPoll) ||
				header(dl[0], "__connect.errors.connector.name") != "poison" || header(dl[0], "__connect.errors.exception.message") == "" {
				t.Fatalf("connectortest: dead letters %d, first headers %v", len(dl), headers(dl))
			}
		})
		t.Run("poison/tolerance-none", func(t *testing.T) {
			b := newBroker(t)
			w := newWorker(t, b, s.Plugins, core.ExactlyOnceV2)
			cfg := with(s.Config(t, "out"), "name", "strict")
			s.Append(t, 0, 5)
			s.Poison(t)
			s.Append(t, 5, 5)
			c, err := w.StartSource(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
			defer cancel()
			err = c.Wait(ctx)
			var rerr *connectors.RecordError
			if !errors.As(err, &rerr) || rerr.Stage != connectors.StageTaskPoll {
				t.Fatalf("connectortest: Wait = %v, want a RecordError at stage TASK_POLL", err)
			}
			if st := c.Status(); st.State != worker.StateFailed {
				t.Fatalf("connectortest: status %+v, want FAILED", st)
			}
			_ = c.Stop(ctx)
		})
	}
}

// newBroker starts a broker with the sources' destination topic "out"
// (4 partitions).
func newBroker(t *testing.T) *testbroker.Broker {
	b := testbroker.New(t)
	b.CreateTopic(t, "out", 4, nil)
	return b
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func headers(recs []*kgo.Record) map[string]string {
	out := map[string]string{}
	if len(recs) > 0 {
		for _, h := range recs[0].Headers {
			out[h.Key] = string(h.Value)
		}
	}
	return out
}

func sinkRecords(topic string, from, n int) ([]*kgo.Record, []string) {
	recs := make([]*kgo.Record, 0, n)
	ids := make([]string, 0, n)
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("r-%05d", i)
		v, _ := json.Marshal(map[string]any{"id": id, "n": i})
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k-%d", i%5)), Value: v})
		ids = append(ids, id)
	}
	return recs, ids
}

// TestSink runs the sink scenarios as subtests.
func TestSink(t *testing.T, s Sink) {
	if s.Timeout == 0 {
		s.Timeout = 30 * time.Second
	}
	if s.PoisonValue == nil {
		s.PoisonValue = []byte("{not json")
	}
	has := func(t *testing.T, want []string) func() bool {
		return func() bool {
			c := counts(s.Written(t))
			for _, id := range want {
				if c[id] == 0 {
					return false
				}
			}
			return true
		}
	}
	setup := func(t *testing.T, g core.ProcessingGuarantee, name string, kv ...any) (*testbroker.Broker, *worker.Worker, map[string]any) {
		b := testbroker.New(t)
		b.CreateTopic(t, "in", 4, nil)
		cfg := with(s.Config(t), append([]any{"name", name, "topics", "in"}, kv...)...)
		return b, newWorker(t, b, s.Plugins, g), cfg
	}
	t.Run("resume", func(t *testing.T) {
		b, w, cfg := setup(t, core.AtLeastOnce, "resume")
		recs, want := sinkRecords("in", 0, 100)
		b.Produce(t, recs...)
		c, err := w.StartSink(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the first records written", s.Timeout, has(t, want))
		stopConnector(t, c)
		recs, more := sinkRecords("in", 100, 100)
		b.Produce(t, recs...)
		want = append(want, more...)
		if c, err = w.StartSink(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the records produced while stopped", s.Timeout, has(t, want))
		stopConnector(t, c)
		check(t, "after a graceful stop and restart", s.Written(t), want, true, false)
	})
	t.Run("crash", func(t *testing.T) {
		b, w, cfg := setup(t, core.ExactlyOnceV2, "crash", "offset.flush.interval.ms", 100)
		var want []string
		for round := 0; round < 2; round++ {
			recs, ids := sinkRecords("in", round*300, 300)
			b.Produce(t, recs...)
			want = append(want, ids...)
			// Counted before the start: a fast task may finish the round
			// before the test looks again.
			n := len(s.Written(t))
			c, err := w.StartSink(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "progress before the crash", s.Timeout, func() bool { return len(s.Written(t)) > n })
			c.Crash()
		}
		c, err := w.StartSink(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "every record after two crashes", s.Timeout, has(t, want))
		stopConnector(t, c)
		check(t, "after two crashes", s.Written(t), want, s.ExactlyOnce, false)
	})
	t.Run("rebalance", func(t *testing.T) {
		b, w1, cfg := setup(t, core.AtLeastOnce, "moving", "offset.flush.interval.ms", 100)
		w2 := newWorker(t, b, s.Plugins, core.AtLeastOnce)
		recs, want := sinkRecords("in", 0, 200)
		b.Produce(t, recs...)
		c1, err := w1.StartSink(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := w2.StartSink(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the first records", s.Timeout, has(t, want))
		stopConnector(t, c1)
		recs, more := sinkRecords("in", 200, 200)
		b.Produce(t, recs...)
		want = append(want, more...)
		waitFor(t, "the second worker to take every partition", s.Timeout, has(t, want))
		stopConnector(t, c2)
		// Graceful moves commit first: nothing is written twice.
		check(t, "after partitions moved between workers", s.Written(t), want, true, false)
	})
	if !s.SkipPoison {
		t.Run("poison/tolerance-all", func(t *testing.T) {
			b, w, cfg := setup(t, core.AtLeastOnce, "poison", "errors.tolerance", "all", "errors.deadletterqueue.topic.name", "in-dlq")
			recs, want := sinkRecords("in", 0, 20)
			bad := &kgo.Record{Topic: "in", Partition: 0, Key: []byte("bad"), Value: s.PoisonValue}
			b.Produce(t, append([]*kgo.Record{bad}, recs...)...)
			c, err := w.StartSink(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "records around the poison", s.Timeout, has(t, want))
			waitFor(t, "the dead letter", s.Timeout, func() bool { return len(b.ReadAll(t, "in-dlq")) > 0 })
			stopConnector(t, c)
			check(t, "around a poison record", s.Written(t), want, true, false)
			dl := b.ReadAll(t, "in-dlq")
			if len(dl) != 1 || string(dl[0].Value) != string(s.PoisonValue) ||
				header(dl[0], "__connect.errors.stage") != string(connectors.StageValueConverter) ||
				header(dl[0], "__connect.errors.topic") != "in" || header(dl[0], "__connect.errors.offset") == "" {
				t.Fatalf("connectortest: dead letters %d, first headers %v", len(dl), headers(dl))
			}
		})
		t.Run("poison/tolerance-none", func(t *testing.T) {
			b, w, cfg := setup(t, core.AtLeastOnce, "strict")
			bad := &kgo.Record{Topic: "in", Partition: 0, Key: []byte("bad"), Value: s.PoisonValue}
			recs, _ := sinkRecords("in", 0, 5)
			b.Produce(t, append([]*kgo.Record{bad}, recs...)...)
			c, err := w.StartSink(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
			defer cancel()
			var rerr *connectors.RecordError
			if err := c.Wait(ctx); !errors.As(err, &rerr) || rerr.Stage != connectors.StageValueConverter ||
				!strings.HasPrefix(rerr.Where, "in[") {
				t.Fatalf("connectortest: Wait = %v, want a RecordError at stage VALUE_CONVERTER naming the record", err)
			}
			_ = c.Stop(ctx)
		})
	}
}
