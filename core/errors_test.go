package core_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/serde"
)

func i64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

// int64Topology reads int64 values from in and writes "v=<n>" strings to out.
func int64Topology(t *testing.T, in, out string) *core.Topology {
	t.Helper()
	topo := core.NewTopology()
	must(t, core.AddSource(topo, "src", serde.String(), serde.Int64(), []string{in}))
	must(t, core.AddProcessor(topo, "fmt", core.ProcessorFunc[string, int64, string, string](
		func(ctx core.ProcessorContext[string, string], r core.Record[string, int64]) error {
			return ctx.Forward(core.WithValue(r, fmt.Sprintf("v=%d", r.Value)))
		}).Supplier(), "src"))
	must(t, core.AddSink(topo, "sink", serde.String(), serde.String(), core.ToTopic[string, string](out), []string{"fmt"}))
	return topo
}

// errorHeaders returns the __streams.errors.* headers of a dead letter.
func errorHeaders(hs []kgo.RecordHeader) map[string]string {
	out := map[string]string{}
	for _, h := range hs {
		if strings.HasPrefix(h.Key, "__streams.errors.") {
			out[h.Key] = string(h.Value)
		}
	}
	return out
}

func TestDriverDeserializationHandlers(t *testing.T) {
	t.Parallel()
	hdr := []kgo.RecordHeader{{Key: "origin", Value: []byte("test")}}
	pipeAll := func(t *testing.T, d *core.TestDriver) error {
		t.Helper()
		for _, r := range []*kgo.Record{
			{Topic: "in", Key: []byte("a"), Value: i64(1)},
			{Topic: "in", Key: []byte("bad"), Value: []byte{1, 2, 3}, Headers: hdr},
			{Topic: "in", Key: []byte("c"), Value: i64(3)},
		} {
			if err := d.Pipe(r); err != nil {
				return err
			}
		}
		return nil
	}
	outValues := func(t *testing.T, d *core.TestDriver) []string {
		vals, err := core.NewTestOutputTopic(d, "out", serde.String(), serde.String()).ReadValues()
		must(t, err)
		return vals
	}
	t.Run("fail", func(t *testing.T) {
		d, err := core.NewTestDriver(int64Topology(t, "in", "out"))
		must(t, err)
		defer d.Close()
		err = pipeAll(t, d)
		var pe *core.ProcessingError
		if !errors.As(err, &pe) || pe.Kind != "deserialization" || pe.Context.Topic != "in" || pe.Context.Partition != 0 ||
			pe.Context.Offset != 1 || !strings.Contains(err.Error(), "in[0]@1") || !errors.Is(err, serde.ErrSize) {
			t.Fatalf("got %v, want a deserialization error at in[0]@1 wrapping serde.ErrSize", err)
		}
		if got := outValues(t, d); !reflect.DeepEqual(got, []string{"v=1"}) {
			t.Errorf("output %v", got)
		}
	})
	t.Run("continue", func(t *testing.T) {
		d, err := core.NewTestDriver(int64Topology(t, "in", "out"), core.WithDeserializationHandler(core.LogAndContinue(nil)))
		must(t, err)
		defer d.Close()
		must(t, pipeAll(t, d))
		if got := outValues(t, d); !reflect.DeepEqual(got, []string{"v=1", "v=3"}) {
			t.Errorf("output %v", got)
		}
	})
	t.Run("dead letter", func(t *testing.T) {
		d, err := core.NewTestDriver(int64Topology(t, "in", "out"), core.WithDeserializationHandler(core.DeadLetterTo("dlq", nil)))
		must(t, err)
		defer d.Close()
		must(t, pipeAll(t, d))
		if got := outValues(t, d); !reflect.DeepEqual(got, []string{"v=1", "v=3"}) {
			t.Errorf("output %v", got)
		}
		dl := d.ReadOutput("dlq")
		if len(dl) != 1 {
			t.Fatalf("got %d dead letters, want 1", len(dl))
		}
		if string(dl[0].Key) != "bad" || !reflect.DeepEqual(dl[0].Value, []byte{1, 2, 3}) || !reflect.DeepEqual(dl[0].Headers[0], hdr[0]) {
			t.Errorf("dead letter key %q value %v headers %v", dl[0].Key, dl[0].Value, dl[0].Headers)
		}
		eh := errorHeaders(dl[0].Headers)
		if eh[core.HeaderErrorTopic] != "in" || eh[core.HeaderErrorPartition] != "0" || eh[core.HeaderErrorOffset] != "1" ||
			!strings.Contains(eh[core.HeaderErrorMessage], "int64") || eh[core.HeaderErrorException] == "" {
			t.Errorf("error headers %v", eh)
		}
	})
}

// TestBrokerDeserializationFailCommitsNothingPast checks that when the
// default handler stops the application, Run returns the error naming the
// record and the group's committed offset is exactly the bad record's.
func TestBrokerDeserializationFailCommitsNothingPast(t *testing.T) {
	t.Parallel()
	for _, g := range []core.ProcessingGuarantee{core.AtLeastOnce, core.ExactlyOnceV2} {
		t.Run(string(g), func(t *testing.T) {
			t.Parallel()
			b := testbroker.New(t)
			b.CreateTopic(t, "in", 1, nil)
			b.CreateTopic(t, "out", 1, nil)
			const good = 10
			for i := range good {
				b.Produce(t, &kgo.Record{Topic: "in", Key: []byte("k"), Value: i64(int64(i))})
			}
			appID := "deser-fail-" + string(g)
			app, err := core.New(int64Topology(t, "in", "out"), core.WithBrokers(b.Addr()), core.WithApplicationID(appID),
				core.WithProcessingGuarantee(g), core.WithCommitInterval(50*time.Millisecond))
			must(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- app.Run(ctx) }()
			adm := kadm.NewClient(b.Client(t))
			committed := func() int64 {
				offs, err := adm.FetchOffsets(ctx, appID)
				if err != nil {
					return -2
				}
				if o, ok := offs.Lookup("in", 0); ok && o.Err == nil {
					return o.At
				}
				return -1
			}
			testwait.Until(t, "the good records committed", 30*time.Second, func() bool { return committed() == good })
			b.Produce(t, &kgo.Record{Topic: "in", Key: []byte("bad"), Value: []byte{1, 2, 3}},
				&kgo.Record{Topic: "in", Key: []byte("k"), Value: i64(99)})
			var runErr error
			select {
			case runErr = <-done:
			case <-ctx.Done():
				t.Fatal("Run did not stop on the bad record")
			}
			var pe *core.ProcessingError
			if !errors.As(runErr, &pe) || pe.Kind != "deserialization" || pe.Context.Offset != good ||
				!strings.Contains(runErr.Error(), fmt.Sprintf("in[0]@%d", good)) {
				t.Fatalf("Run returned %v, want a deserialization error at in[0]@%d", runErr, good)
			}
			if c := committed(); c != good {
				t.Errorf("committed offset %d after the failure, want %d (the bad record)", c, good)
			}
			out := b.ReadAll(t, "out")
			for _, r := range out {
				if string(r.Value) == "v=99" {
					t.Errorf("the record after the bad one was processed and its output committed")
				}
			}
			if g == core.ExactlyOnceV2 && len(out) != good {
				t.Errorf("got %d committed outputs, want %d", len(out), good)
			}
		})
	}
}

// TestBrokerDeadLetterQueue sends a corrupt record to the DLQ under both
// guarantees, with its key, value and headers plus the error headers, and
// processes every good record around it (exactly once under EOS).
func TestBrokerDeadLetterQueue(t *testing.T) {
	t.Parallel()
	for _, g := range []core.ProcessingGuarantee{core.AtLeastOnce, core.ExactlyOnceV2} {
		t.Run(string(g), func(t *testing.T) {
			t.Parallel()
			b := testbroker.New(t)
			b.CreateTopic(t, "in", 2, nil)
			b.CreateTopic(t, "out", 2, nil)
			b.CreateTopic(t, "dlq", 1, nil)
			cl := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			var recs []*kgo.Record
			for i := range 20 {
				recs = append(recs, &kgo.Record{Topic: "in", Partition: int32(i % 2), Key: fmt.Appendf(nil, "k%d", i), Value: i64(int64(i))})
			}
			bad := &kgo.Record{Topic: "in", Partition: 1, Key: []byte("corrupt"), Value: []byte{0xde, 0xad, 0xbf},
				Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}}, Timestamp: time.UnixMilli(123456)}
			recs = append(recs[:10], append([]*kgo.Record{bad}, recs[10:]...)...)
			must(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
			badOffset := bad.Offset

			app, err := core.New(int64Topology(t, "in", "out"), core.WithBrokers(b.Addr()), core.WithApplicationID("dlq-"+string(g)),
				core.WithProcessingGuarantee(g), core.WithCommitInterval(50*time.Millisecond),
				core.WithDeserializationHandler(core.DeadLetterTo("dlq", nil)))
			must(t, err)
			stop := runApp(t, app)
			testwait.Until(t, "all records consumed", 30*time.Second, func() bool { return app.Stats().Consumed >= 21 })
			must(t, stop())

			dl := b.ReadAll(t, "dlq")
			if len(dl) != 1 {
				t.Fatalf("got %d dead letters, want 1", len(dl))
			}
			r := dl[0]
			if string(r.Key) != "corrupt" || !reflect.DeepEqual(r.Value, bad.Value) || r.Timestamp.UnixMilli() != 123456 {
				t.Errorf("dead letter key %q value %x ts %v", r.Key, r.Value, r.Timestamp)
			}
			if len(r.Headers) == 0 || r.Headers[0].Key != "trace" || string(r.Headers[0].Value) != "abc" {
				t.Errorf("original headers lost: %v", r.Headers)
			}
			eh := errorHeaders(r.Headers)
			want := map[string]string{core.HeaderErrorTopic: "in", core.HeaderErrorPartition: "1", core.HeaderErrorOffset: fmt.Sprint(badOffset)}
			for k, v := range want {
				if eh[k] != v {
					t.Errorf("header %s = %q, want %q", k, eh[k], v)
				}
			}
			if !strings.Contains(eh[core.HeaderErrorMessage], "needs 8 bytes, got 3") || eh[core.HeaderErrorException] == "" {
				t.Errorf("error headers %v", eh)
			}
			counts := map[string]int{}
			for _, r := range b.ReadAll(t, "out") {
				counts[string(r.Value)]++
			}
			for i := range 20 {
				v := fmt.Sprintf("v=%d", i)
				if counts[v] == 0 || (g == core.ExactlyOnceV2 && counts[v] != 1) {
					t.Errorf("output %s seen %d times", v, counts[v])
				}
			}
			if st := app.Stats(); st.Dropped != 1 {
				t.Errorf("Stats.Dropped = %d, want 1", st.Dropped)
			}
		})
	}
}

func TestDriverProcessingHandler(t *testing.T) {
	t.Parallel()
	type call struct {
		ec  core.ErrorContext
		err string
	}
	handler := func(resp core.HandlerResponse, calls *[]call) core.ProcessingHandler {
		return func(ec core.ErrorContext, err error) core.HandlerResponse {
			*calls = append(*calls, call{ec, err.Error()})
			return resp
		}
	}
	for _, resp := range []core.HandlerResponse{core.Continue, core.Fail} {
		t.Run("processor/"+resp.String(), func(t *testing.T) {
			var events []event
			var calls []call
			closed := 0
			d, err := core.NewTestDriver(probeTopology(t, func() *probe { return &probe{events: &events, closed: &closed} }),
				core.WithProcessingHandler(handler(resp, &calls)))
			must(t, err)
			defer d.Close()
			in := core.NewTestInputTopic(d, "in", serde.String(), serde.String())
			must(t, in.Pipe("k", "a:1"))
			err = in.Pipe("k", "err:boom")
			err2 := in.Pipe("k", "a:3")
			if len(calls) != 1 || calls[0].err != "err:boom" || calls[0].ec.Node != "probe" || calls[0].ec.Offset != 1 || calls[0].ec.Record == nil {
				t.Fatalf("handler calls %+v", calls)
			}
			vals, _ := core.NewTestOutputTopic(d, "a", serde.String(), serde.String()).ReadValues()
			if resp == core.Continue {
				must(t, err)
				must(t, err2)
				if !reflect.DeepEqual(vals, []string{"a:1", "a:3"}) {
					t.Errorf("output %v", vals)
				}
				return
			}
			var pe *core.ProcessingError
			if !errors.As(err, &pe) || pe.Kind != "processing" || pe.Context.Node != "probe" || !strings.Contains(err.Error(), "in[0]@1") {
				t.Fatalf("got %v", err)
			}
			if err2 == nil || !reflect.DeepEqual(vals, []string{"a:1"}) {
				t.Errorf("driver went on after a failure: %v %v", err2, vals)
			}
		})
		t.Run("punctuator/"+resp.String(), func(t *testing.T) {
			var events []event
			var calls []call
			closed := 0
			d, err := core.NewTestDriver(probeTopology(t, func() *probe {
				return &probe{events: &events, closed: &closed, streamIvl: 10 * time.Millisecond, punctErr: errors.New("punct failed")}
			}), core.WithProcessingHandler(handler(resp, &calls)))
			must(t, err)
			defer d.Close()
			in := core.NewTestInputTopic(d, "in", serde.String(), serde.String())
			err = in.PipeAt("k", "a:1", time.UnixMilli(100)) // first record: the punctuator fires and fails
			if len(calls) != 1 || calls[0].err != "punct failed" || calls[0].ec.Node != "probe" || calls[0].ec.Record != nil || calls[0].ec.Topic != "" {
				t.Fatalf("handler calls %+v", calls)
			}
			if resp == core.Fail {
				var pe *core.ProcessingError
				if !errors.As(err, &pe) || pe.Kind != "processing" || !strings.Contains(err.Error(), "punctuation") {
					t.Fatalf("got %v", err)
				}
				return
			}
			must(t, err)
			must(t, in.PipeAt("k", "a:2", time.UnixMilli(110)))
			var puncts []int64
			for _, e := range events {
				if e.Kind == "stream" {
					puncts = append(puncts, e.TS)
				}
			}
			if !reflect.DeepEqual(puncts, []int64{100, 110}) {
				t.Errorf("punctuations %v: a failed punctuator must stay scheduled", puncts)
			}
		})
	}
}

// failingSerde fails to serialize values starting with "poison".
var failingSerde = serde.Funcs(
	func(_ string, v string) ([]byte, error) {
		if strings.HasPrefix(v, "poison") {
			return nil, errors.New("cannot serialize poison")
		}
		return []byte(v), nil
	},
	func(_ string, b []byte) (string, error) { return string(b), nil })

func productionTopology(t *testing.T) *core.Topology {
	t.Helper()
	topo := core.NewTopology()
	must(t, core.AddSource(topo, "src", serde.String(), serde.String(), []string{"in"}))
	must(t, core.AddSink(topo, "sink", serde.String(), failingSerde, core.ToTopic[string, string]("out"), []string{"src"}))
	return topo
}

func TestDriverProductionHandler(t *testing.T) {
	t.Parallel()
	for _, resp := range []core.HandlerResponse{core.Continue, core.Fail} {
		t.Run(resp.String(), func(t *testing.T) {
			var mu sync.Mutex
			var seen []core.ErrorContext
			d, err := core.NewTestDriver(productionTopology(t), core.WithProductionHandler(func(ec core.ErrorContext, rec *kgo.Record, err error) core.HandlerResponse {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, ec)
				return resp
			}))
			must(t, err)
			defer d.Close()
			in := core.NewTestInputTopic(d, "in", serde.String(), serde.String())
			must(t, in.Pipe("k", "ok1"))
			err = in.Pipe("k", "poison")
			if len(seen) != 1 || seen[0].Node != "sink" || seen[0].Offset != 1 {
				t.Fatalf("handler calls %+v", seen)
			}
			if resp == core.Fail {
				var pe *core.ProcessingError
				if !errors.As(err, &pe) || pe.Kind != "production" || !strings.Contains(err.Error(), "cannot serialize poison") {
					t.Fatalf("got %v", err)
				}
				return
			}
			must(t, err)
			must(t, in.Pipe("k", "ok2"))
			vals, _ := core.NewTestOutputTopic(d, "out", serde.String(), serde.String()).ReadValues()
			if !reflect.DeepEqual(vals, []string{"ok1", "ok2"}) {
				t.Errorf("output %v", vals)
			}
		})
	}
}

func TestBrokerProductionHandler(t *testing.T) {
	t.Parallel()
	for _, resp := range []core.HandlerResponse{core.Continue, core.Fail} {
		t.Run(resp.String(), func(t *testing.T) {
			t.Parallel()
			b := testbroker.New(t)
			b.CreateTopic(t, "in", 1, nil)
			b.CreateTopic(t, "out", 1, nil)
			b.Produce(t, &kgo.Record{Topic: "in", Value: []byte("ok1")}, &kgo.Record{Topic: "in", Value: []byte("poison")},
				&kgo.Record{Topic: "in", Value: []byte("ok2")})
			handler := core.ProductionLogAndFail(nil)
			if resp == core.Continue {
				handler = core.ProductionLogAndContinue(nil)
			}
			app, err := core.New(productionTopology(t), core.WithBrokers(b.Addr()), core.WithApplicationID("prod-"+resp.String()),
				core.WithProductionHandler(handler), core.WithCommitInterval(50*time.Millisecond))
			must(t, err)
			if resp == core.Fail {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				err := app.Run(ctx)
				var pe *core.ProcessingError
				if !errors.As(err, &pe) || pe.Kind != "production" || pe.Context.Offset != 1 || !strings.Contains(err.Error(), "cannot serialize poison") {
					t.Fatalf("Run returned %v, want a production error at in[0]@1", err)
				}
				return
			}
			stop := runApp(t, app)
			testwait.Until(t, "records consumed", 30*time.Second, func() bool { return app.Stats().Consumed >= 3 })
			must(t, stop())
			var vals []string
			for _, r := range b.ReadAll(t, "out") {
				vals = append(vals, string(r.Value))
			}
			if !reflect.DeepEqual(vals, []string{"ok1", "ok2"}) {
				t.Errorf("output %v", vals)
			}
		})
	}
}

// Transient serde errors are never skipped or dead-lettered by the built-in
// handlers: the record must be retried, not diverted.
func TestTransientErrorsAreNotSkipped(t *testing.T) {
	transientErr := fmt.Errorf("registry down: %w", serde.ErrTransient)
	ec := core.ErrorContext{Topic: "in", Partition: 0, Offset: 7}
	if r := core.DeadLetterTo("dlq", nil)(ec, transientErr); r.Response != core.Fail || len(r.DeadLetters) != 0 {
		t.Errorf("DeadLetterTo on a transient error = %+v, want Fail and no dead letter", r)
	}
	if r := core.LogAndContinue(nil)(ec, transientErr); r.Response != core.Fail {
		t.Errorf("LogAndContinue on a transient error = %v, want Fail", r.Response)
	}
	if r := core.ProductionLogAndContinue(nil)(ec, &kgo.Record{Topic: "out"}, transientErr); r != core.Fail {
		t.Errorf("ProductionLogAndContinue on a transient error = %v, want Fail", r)
	}
	if r := core.DeadLetterTo("dlq", nil)(ec, errors.New("corrupt")); r.Response != core.Continue || len(r.DeadLetters) != 1 {
		t.Errorf("DeadLetterTo on a corrupt record = %+v, want Continue with one dead letter", r)
	}
}
