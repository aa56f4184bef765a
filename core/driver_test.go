package core_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
)

// event is one observable step of a processor: a record or a punctuation.
type event struct {
	Kind string // "rec", "stream", "wall"
	Key  string
	Val  string
	TS   int64
	MD   core.RecordMetadata
	OK   bool // RecordMetadata's ok
}

// probe is a Processor[string, string, string, string] that logs what it
// sees, routes by value prefix and can schedule punctuators.
type probe struct {
	ctx        core.ProcessorContext[string, string]
	events     *[]event
	closed     *int
	streamIvl  time.Duration
	wallIvl    time.Duration
	cancelWhen string // cancel the stream-time punctuator when this value arrives
	streamSch  core.Cancellable
	punctErr   error // returned by the stream-time punctuator once
}

func (p *probe) Init(ctx core.ProcessorContext[string, string]) error {
	p.ctx = ctx
	var err error
	if p.streamIvl > 0 {
		p.streamSch, err = ctx.Schedule(p.streamIvl, core.StreamTime, func(ts time.Time) error {
			md, ok := ctx.RecordMetadata()
			*p.events = append(*p.events, event{Kind: "stream", TS: ts.UnixMilli(), MD: md, OK: ok})
			if e := p.punctErr; e != nil {
				p.punctErr = nil
				return e
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if p.wallIvl > 0 {
		_, err = ctx.Schedule(p.wallIvl, core.WallClockTime, func(ts time.Time) error {
			md, ok := ctx.RecordMetadata()
			*p.events = append(*p.events, event{Kind: "wall", TS: ts.UnixMilli(), MD: md, OK: ok})
			if !ctx.WallClockTime().Equal(ts) {
				return fmt.Errorf("punctuator time %v != context wall clock %v", ts, ctx.WallClockTime())
			}
			return ctx.ForwardTo("sinkA", core.Record[string, string]{Key: "tick", Value: fmt.Sprint(ts.UnixMilli()), Timestamp: ts})
		})
	}
	return err
}

func (p *probe) Process(r core.Record[string, string]) error {
	md, ok := p.ctx.RecordMetadata()
	*p.events = append(*p.events, event{Kind: "rec", Key: r.Key, Val: r.Value, TS: r.Timestamp.UnixMilli(), MD: md, OK: ok})
	if r.Value == p.cancelWhen && p.streamSch != nil {
		p.streamSch.Cancel()
	}
	switch {
	case strings.HasPrefix(r.Value, "a:"):
		return p.ctx.ForwardTo("sinkA", r)
	case strings.HasPrefix(r.Value, "b:"):
		return p.ctx.ForwardTo("sinkB", r)
	case strings.HasPrefix(r.Value, "x:"):
		return p.ctx.ForwardTo("nosuchchild", r)
	case strings.HasPrefix(r.Value, "err:"):
		return errors.New(r.Value)
	}
	return p.ctx.Forward(r)
}

func (p *probe) Close() error { *p.closed++; return nil }

// probeTopology is in -> probe -> {sinkA: a, sinkB: b}.
func probeTopology(t *testing.T, mk func() *probe) *core.Topology {
	t.Helper()
	topo := core.NewTopology()
	must(t, core.AddSource(topo, "src", serde.String(), serde.String(), []string{"in"}))
	must(t, core.AddProcessor(topo, "probe", func() core.Processor[string, string, string, string] { return mk() }, "src"))
	must(t, core.AddSink(topo, "sinkA", serde.String(), serde.String(), core.ToTopic[string, string]("a"), []string{"probe"}))
	must(t, core.AddSink(topo, "sinkB", serde.String(), serde.String(), core.ToTopic[string, string]("b"), []string{"probe"}))
	return topo
}

var driverStart = time.UnixMilli(1_700_000_000_000)

func TestDriverForwardMetadataHeaders(t *testing.T) {
	t.Parallel()
	var events []event
	closed := 0
	topo := probeTopology(t, func() *probe { return &probe{events: &events, closed: &closed} })
	d, err := core.NewTestDriver(topo, core.WithDriverStartTime(driverStart))
	must(t, err)
	in := core.NewTestInputTopic(d, "in", serde.String(), serde.String())
	outA := core.NewTestOutputTopic(d, "a", serde.String(), serde.String())
	outB := core.NewTestOutputTopic(d, "b", serde.String(), serde.String())

	hdrs := []core.Header{{Key: "trace", Value: []byte("t-1")}, {Key: "n", Value: []byte{0, 1}}}
	must(t, in.PipeRecord(core.Record[string, string]{Key: "k1", Value: "both", Timestamp: time.UnixMilli(5000), Headers: hdrs}))
	must(t, in.PipeAt("k2", "a:only-a", time.UnixMilli(4000)))
	must(t, in.PipeAt("k3", "b:only-b", time.UnixMilli(6000)))
	must(t, in.Pipe("k4", "now")) // zero timestamp: the driver's wall clock

	gotA, err := outA.ReadRecords()
	must(t, err)
	gotB, err := outB.ReadRecords()
	must(t, err)
	type kvt struct {
		K, V string
		TS   int64
	}
	flat := func(rs []core.Record[string, string]) []kvt {
		var out []kvt
		for _, r := range rs {
			out = append(out, kvt{r.Key, r.Value, r.Timestamp.UnixMilli()})
		}
		return out
	}
	wantA := []kvt{{"k1", "both", 5000}, {"k2", "a:only-a", 4000}, {"k4", "now", driverStart.UnixMilli()}}
	wantB := []kvt{{"k1", "both", 5000}, {"k3", "b:only-b", 6000}, {"k4", "now", driverStart.UnixMilli()}}
	if g := flat(gotA); !reflect.DeepEqual(g, wantA) {
		t.Errorf("topic a: got %v, want %v", g, wantA)
	}
	if g := flat(gotB); !reflect.DeepEqual(g, wantB) {
		t.Errorf("topic b: got %v, want %v", g, wantB)
	}
	for _, out := range [][]core.Record[string, string]{gotA, gotB} {
		if !reflect.DeepEqual(out[0].Headers, hdrs) {
			t.Errorf("headers not passed through: got %v, want %v", out[0].Headers, hdrs)
		}
		if len(out[1].Headers) != 0 {
			t.Errorf("record without headers got %v", out[1].Headers)
		}
	}
	if outA.QueueSize() != 0 {
		t.Errorf("ReadRecords did not drain the output")
	}
	for i, e := range events {
		want := core.RecordMetadata{Topic: "in", Partition: 0, Offset: int64(i)}
		if e.Kind != "rec" || !e.OK || e.MD != want {
			t.Errorf("event %d: got %+v, want record metadata %+v", i, e, want)
		}
	}

	// ForwardTo a node that is not a child fails the record with a
	// processing error at the probe node.
	err = in.Pipe("k5", "x:bad")
	var pe *core.ProcessingError
	if !errors.As(err, &pe) || pe.Kind != "processing" || pe.Context.Node != "probe" || pe.Context.Offset != 4 ||
		!strings.Contains(err.Error(), `no child "nosuchchild"`) {
		t.Fatalf("ForwardTo unknown child: got %v", err)
	}
	if err2 := in.Pipe("k6", "later"); !errors.Is(err2, err) && err2 != err {
		t.Errorf("driver did not stay failed: %v", err2)
	}
	must(t, d.Close())
	if closed != 1 {
		t.Errorf("Close called %d times, want 1", closed)
	}
}

func TestDriverProcessorContext(t *testing.T) {
	t.Parallel()
	var seen struct {
		app, node string
		task      core.TaskID
		store     error
		stream    []time.Time
		wall      time.Time
	}
	topo := core.NewTopology()
	must(t, core.AddSource(topo, "src", serde.String(), serde.String(), []string{"in"}))
	must(t, core.AddProcessor(topo, "p", core.ProcessorFunc[string, string, string, string](
		func(ctx core.ProcessorContext[string, string], r core.Record[string, string]) error {
			seen.app, seen.node, seen.task = ctx.ApplicationID(), ctx.NodeName(), ctx.TaskID()
			_, seen.store = ctx.StateStore("counts")
			seen.stream = append(seen.stream, ctx.StreamTime())
			seen.wall = ctx.WallClockTime()
			return nil
		}).Supplier(), "src"))
	d, err := core.NewTestDriver(topo, core.WithDriverStartTime(driverStart), core.WithApplicationID("ctx-app"))
	must(t, err)
	defer d.Close()
	in := core.NewTestInputTopic(d, "in", serde.String(), serde.String())
	must(t, in.PipeAt("k", "v", time.UnixMilli(200)))
	must(t, in.PipeAt("k", "v", time.UnixMilli(100))) // out of order: stream time stays
	if seen.app != "ctx-app" || seen.node != "p" || seen.task != (core.TaskID{Subtopology: 0, Partition: 0}) {
		t.Errorf("context: app %q node %q task %v", seen.app, seen.node, seen.task)
	}
	if !errors.Is(seen.store, core.ErrNoStore) {
		t.Errorf("StateStore: got %v, want ErrNoStore", seen.store)
	}
	if want := []time.Time{time.UnixMilli(200), time.UnixMilli(200)}; !reflect.DeepEqual(seen.stream, want) {
		t.Errorf("StreamTime: got %v, want %v", seen.stream, want)
	}
	if !seen.wall.Equal(driverStart) {
		t.Errorf("WallClockTime: got %v, want the mock clock %v", seen.wall, driverStart)
	}
	if err := d.Pipe(&kgo.Record{Topic: "unknown"}); err == nil {
		t.Errorf("piping to a topic the topology does not read succeeded")
	}
}

func TestDriverStreamTimePunctuation(t *testing.T) {
	t.Parallel()
	var events []event
	closed := 0
	topo := probeTopology(t, func() *probe {
		return &probe{events: &events, closed: &closed, streamIvl: 10 * time.Millisecond, cancelWhen: "cancel"}
	})
	d, err := core.NewTestDriver(topo, core.WithDriverStartTime(driverStart))
	must(t, err)
	in := core.NewTestInputTopic(d, "in", serde.String(), serde.String())
	for _, ts := range []int64{1000, 1005, 1010, 1055, 1003, 1060, 1061} {
		must(t, in.PipeAt("k", "v", time.UnixMilli(ts)))
	}
	if len(events) != 11 {
		t.Fatalf("got %d events, want 11: %+v", len(events), events)
	}
	// Kafka Streams' PunctuationSchedule: aligned to 0, fires with the first
	// record, then once per advance past a boundary (1055 skips 1020..1050
	// and fires once; the next boundary is 1060), after the record.
	var got []string
	for _, e := range events {
		switch e.Kind {
		case "rec":
			got = append(got, fmt.Sprintf("rec@%d", e.TS))
		case "stream":
			got = append(got, fmt.Sprintf("punct@%d", e.TS))
			if e.OK || e.MD != (core.RecordMetadata{}) {
				t.Errorf("RecordMetadata inside a punctuator: %+v ok=%v", e.MD, e.OK)
			}
		}
	}
	want := []string{"rec@1000", "punct@1000", "rec@1005", "rec@1010", "punct@1010", "rec@1055", "punct@1055",
		"rec@1003", "rec@1060", "punct@1060", "rec@1061"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	// Wall-clock time does not drive stream-time punctuation.
	must(t, d.AdvanceWallClockTime(time.Hour))
	// Cancel: no more punctuation, even across boundaries.
	events = nil
	must(t, in.PipeAt("k", "cancel", time.UnixMilli(1065)))
	must(t, in.PipeAt("k", "v", time.UnixMilli(1200)))
	for _, e := range events {
		if e.Kind != "rec" {
			t.Errorf("punctuation after Cancel: %+v", e)
		}
	}
	if len(events) != 2 {
		t.Errorf("got %d events after cancel, want 2", len(events))
	}
	must(t, d.Close())
	if closed != 1 {
		t.Errorf("Close called %d times, want 1", closed)
	}
}

func TestDriverWallClockPunctuation(t *testing.T) {
	t.Parallel()
	var events []event
	closed := 0
	topo := probeTopology(t, func() *probe { return &probe{events: &events, closed: &closed, wallIvl: 100 * time.Millisecond} })
	d, err := core.NewTestDriver(topo, core.WithDriverStartTime(driverStart))
	must(t, err)
	defer d.Close()
	outA := core.NewTestOutputTopic(d, "a", serde.String(), serde.String())
	t0 := driverStart.UnixMilli()
	var fired []int64
	advance := func(by time.Duration) {
		t.Helper()
		before := len(events)
		must(t, d.AdvanceWallClockTime(by))
		for _, e := range events[before:] {
			if e.Kind != "wall" || e.OK {
				t.Errorf("unexpected event %+v", e)
			}
			fired = append(fired, e.TS-t0)
		}
	}
	advance(50 * time.Millisecond)
	advance(49 * time.Millisecond)
	if len(fired) != 0 {
		t.Fatalf("fired before the interval: %v", fired)
	}
	advance(1 * time.Millisecond)   // 100: due
	advance(250 * time.Millisecond) // 350: once, not for 200 and 300
	advance(49 * time.Millisecond)  // 399: next boundary is 400
	advance(1 * time.Millisecond)   // 400
	if want := []int64{100, 350, 400}; !reflect.DeepEqual(fired, want) {
		t.Fatalf("wall-clock punctuation at %v, want %v", fired, want)
	}
	if !d.WallClockTime().Equal(driverStart.Add(400 * time.Millisecond)) {
		t.Errorf("WallClockTime %v", d.WallClockTime())
	}
	// What a punctuator forwards is produced with the punctuation time.
	recs, err := outA.ReadRecords()
	must(t, err)
	if len(recs) != 3 || recs[1].Key != "tick" || recs[1].Value != fmt.Sprint(t0+350) || recs[1].Timestamp.UnixMilli() != t0+350 {
		t.Errorf("punctuator output: %+v", recs)
	}
	if err := d.AdvanceWallClockTime(-time.Millisecond); err == nil {
		t.Errorf("moving the clock backwards succeeded")
	}
}

func TestDriverRepartition(t *testing.T) {
	t.Parallel()
	topo := core.NewTopology()
	rep, err := topo.AddRepartitionTopic("by-first", 0)
	must(t, err)
	if rep != "by-first-repartition" {
		t.Fatalf("repartition topic %q", rep)
	}
	must(t, core.AddSource(topo, "src", serde.String(), serde.String(), []string{"words"}))
	must(t, core.AddProcessor(topo, "rekey", core.ProcessorFunc[string, string, string, string](
		func(ctx core.ProcessorContext[string, string], r core.Record[string, string]) error {
			return ctx.Forward(core.WithKeyValue(r, r.Value[:1], r.Value))
		}).Supplier(), "src"))
	must(t, core.AddSink(topo, "to-rep", serde.String(), serde.String(), core.ToTopic[string, string](rep), []string{"rekey"}))
	must(t, core.AddSource(topo, "from-rep", serde.String(), serde.String(), []string{rep}))
	type seenRec struct {
		task core.TaskID
		md   core.RecordMetadata
	}
	var seen []seenRec
	counts := map[string]int{}
	must(t, core.AddProcessor(topo, "count", core.ProcessorFunc[string, string, string, string](
		func(ctx core.ProcessorContext[string, string], r core.Record[string, string]) error {
			md, _ := ctx.RecordMetadata()
			seen = append(seen, seenRec{ctx.TaskID(), md})
			counts[r.Key]++
			return ctx.Forward(core.WithValue(r, fmt.Sprintf("%s=%d", r.Value, counts[r.Key])))
		}).Supplier(), "from-rep"))
	must(t, core.AddSink(topo, "out", serde.String(), serde.String(), core.ToTopic[string, string]("counted"), []string{"count"}))

	d, err := core.NewTestDriver(topo)
	must(t, err)
	defer d.Close()
	in := core.NewTestInputTopic(d, "words", serde.String(), serde.String())
	for i, w := range []string{"apple", "banana", "avocado", "blueberry", "cherry", "apricot"} {
		must(t, in.PipeAt("", w, time.UnixMilli(int64(1000+i))))
	}
	const internal = "test-driver-by-first-repartition"
	repOut := core.NewTestOutputTopic(d, internal, serde.String(), serde.String())
	kvs, err := repOut.ReadKeyValues()
	must(t, err)
	wantRep := []core.KeyValue[string, string]{{"a", "apple"}, {"b", "banana"}, {"a", "avocado"}, {"b", "blueberry"}, {"c", "cherry"}, {"a", "apricot"}}
	if !reflect.DeepEqual(kvs, wantRep) {
		t.Errorf("repartition topic: got %v, want %v", kvs, wantRep)
	}
	out := core.NewTestOutputTopic(d, "counted", serde.String(), serde.String())
	recs, err := out.ReadRecords()
	must(t, err)
	var got []string
	for i, r := range recs {
		got = append(got, r.Key+":"+r.Value)
		if r.Timestamp.UnixMilli() != int64(1000+i) {
			t.Errorf("output %d timestamp %d, want %d", i, r.Timestamp.UnixMilli(), 1000+i)
		}
	}
	want := []string{"a:apple=1", "b:banana=1", "a:avocado=2", "b:blueberry=2", "c:cherry=1", "a:apricot=3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("output: got %v, want %v", got, want)
	}
	for i, s := range seen {
		if s.task != (core.TaskID{Subtopology: 1, Partition: 0}) || s.md != (core.RecordMetadata{Topic: internal, Partition: 0, Offset: int64(i)}) {
			t.Errorf("record %d after repartition: task %v metadata %+v", i, s.task, s.md)
		}
	}
	if len(d.ReadOutput("by-first-repartition")) != 0 {
		t.Errorf("records under the unprefixed repartition name")
	}
}

func TestDescribeKafkaFormat(t *testing.T) {
	t.Parallel()
	topo := core.NewTopology()
	rep, err := topo.AddRepartitionTopic("counts", 0)
	must(t, err)
	id := core.ProcessorFunc[string, string, string, string](
		func(ctx core.ProcessorContext[string, string], r core.Record[string, string]) error {
			return ctx.Forward(r)
		}).Supplier()
	must(t, core.AddSource(topo, "KSTREAM-SOURCE-0000000000", serde.String(), serde.String(), []string{"input"}))
	must(t, core.AddProcessor(topo, "KSTREAM-KEY-SELECT-0000000001", id, "KSTREAM-SOURCE-0000000000"))
	must(t, core.AddProcessor(topo, "counts-repartition-filter", id, "KSTREAM-KEY-SELECT-0000000001"))
	must(t, core.AddSink(topo, "counts-repartition-sink", serde.String(), serde.String(), core.ToTopic[string, string](rep), []string{"counts-repartition-filter"}))
	must(t, core.AddSource(topo, "counts-repartition-source", serde.String(), serde.String(), []string{rep}))
	must(t, core.AddProcessor(topo, "KSTREAM-AGGREGATE-0000000002", id, "counts-repartition-source"))
	must(t, core.AddProcessor(topo, "KTABLE-TOSTREAM-0000000006", id, "KSTREAM-AGGREGATE-0000000002"))
	must(t, core.AddSink(topo, "KSTREAM-SINK-0000000008", serde.String(), serde.String(), core.ToTopic[string, string]("output"), []string{"KTABLE-TOSTREAM-0000000006"}))
	must(t, core.AddSink(topo, "dynamic", serde.String(), serde.String(), core.ToTopicFunc(func(core.Record[string, string]) string { return "x" }), []string{"KTABLE-TOSTREAM-0000000006"}))

	// As Kafka Streams' TopologyDescription.toString(): the first
	// sub-topology line is indented by three spaces, later ones by two.
	const want = "Topologies:\n" +
		"   Sub-topology: 0\n" +
		"    Source: KSTREAM-SOURCE-0000000000 (topics: [input])\n" +
		"      --> KSTREAM-KEY-SELECT-0000000001\n" +
		"    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])\n" +
		"      --> counts-repartition-filter\n" +
		"      <-- KSTREAM-SOURCE-0000000000\n" +
		"    Processor: counts-repartition-filter (stores: [])\n" +
		"      --> counts-repartition-sink\n" +
		"      <-- KSTREAM-KEY-SELECT-0000000001\n" +
		"    Sink: counts-repartition-sink (topic: counts-repartition)\n" +
		"      <-- counts-repartition-filter\n" +
		"\n" +
		"  Sub-topology: 1\n" +
		"    Source: counts-repartition-source (topics: [counts-repartition])\n" +
		"      --> KSTREAM-AGGREGATE-0000000002\n" +
		"    Processor: KSTREAM-AGGREGATE-0000000002 (stores: [])\n" +
		"      --> KTABLE-TOSTREAM-0000000006\n" +
		"      <-- counts-repartition-source\n" +
		"    Processor: KTABLE-TOSTREAM-0000000006 (stores: [])\n" +
		"      --> KSTREAM-SINK-0000000008, dynamic\n" +
		"      <-- KSTREAM-AGGREGATE-0000000002\n" +
		"    Sink: KSTREAM-SINK-0000000008 (topic: output)\n" +
		"      <-- KTABLE-TOSTREAM-0000000006\n" +
		"    Sink: dynamic (extractor: topic chooser function)\n" +
		"      <-- KTABLE-TOSTREAM-0000000006\n" +
		"\n"
	if got := topo.Describe(); got != want {
		t.Errorf("Describe:\n%s\nwant:\n%s", got, want)
	}
	if topo.String() != topo.Describe() {
		t.Errorf("String differs from Describe")
	}
	if got, want := topo.SourceTopics(), []string{"counts-repartition", "input"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SourceTopics %v, want %v", got, want)
	}
}
