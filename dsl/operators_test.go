package dsl_test

import (
	"bytes"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// row is an output record flattened for comparison: key and value printed
// with %v, the timestamp in ms and headers as "k=v" joined by ";".
type row struct {
	Key, Value string
	TS         int64
	Headers    string
}

func (r row) String() string { return fmt.Sprintf("%s=%s@%d[%s]", r.Key, r.Value, r.TS, r.Headers) }

func headerString(hs []core.Header) string {
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = h.Key + "=" + string(h.Value)
	}
	return strings.Join(parts, ";")
}

func hdr(kv ...string) []core.Header {
	var hs []core.Header
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, core.Header{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

// decoder turns raw key and value bytes into their printed form.
type decoder func(topic string, k, v []byte) (string, string, error)

func decodeWith[K, V any](keys serde.Deserializer[K], values serde.Deserializer[V]) decoder {
	return func(topic string, k, v []byte) (string, string, error) {
		key, err := keys.Deserialize(topic, k)
		if err != nil {
			return "", "", fmt.Errorf("key: %w", err)
		}
		value, err := values.Deserialize(topic, v)
		if err != nil {
			return "", "", fmt.Errorf("value: %w", err)
		}
		return fmt.Sprint(key), fmt.Sprint(value), nil
	}
}

var stringDecoder = decodeWith(serde.String(), serde.String())

func toRows(t testing.TB, recs []*kgo.Record, dec decoder) []row {
	t.Helper()
	rows := make([]row, 0, len(recs))
	for _, r := range recs {
		k, v, err := dec(r.Topic, r.Key, r.Value)
		if err != nil {
			t.Fatalf("decode %s offset %d: %v", r.Topic, r.Offset, err)
		}
		rows = append(rows, row{Key: k, Value: v, TS: r.Timestamp.UnixMilli(), Headers: headerString(r.Headers)})
	}
	return rows
}

// probe records side effects (Peek, Foreach, partitioner calls) in order;
// safe for concurrent use so the integration test can share it.
type probe struct {
	mu    sync.Mutex
	calls []string
}

func (p *probe) add(format string, args ...any) {
	p.mu.Lock()
	p.calls = append(p.calls, fmt.Sprintf(format, args...))
	p.mu.Unlock()
}

func (p *probe) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// pipe is one input record for the test driver.
type pipe struct {
	topic, key, value string
	ts                int64
	headers           []core.Header
}

// defaultInput is fed to "in" unless a case has its own input: two
// records carry headers, key "a" appears twice, values have 1..4 bytes.
var defaultInput = []pipe{
	{"in", "a", "1", 1000, hdr("trace", "t1")},
	{"in", "b", "22", 2000, nil},
	{"in", "c", "333", 3000, hdr("trace", "t3", "x", "y")},
	{"in", "a", "4444", 4000, nil},
}

// tickingProcessor tags each record with its metadata, emits a "tick" on
// stream time every 10s and a "wall" record on wall-clock time every
// minute.
type tickingProcessor struct {
	ctx   core.ProcessorContext[string, string]
	count int
	// wallEvery is the wall-clock punctuation interval; default a minute.
	wallEvery time.Duration
}

func (p *tickingProcessor) Init(ctx core.ProcessorContext[string, string]) error {
	p.ctx = ctx
	if _, err := ctx.Schedule(10*time.Second, core.StreamTime, func(ts time.Time) error {
		key := fmt.Sprintf("tick-%d", ctx.TaskID().Partition)
		return ctx.Forward(core.Record[string, string]{Key: key, Value: strconv.FormatInt(ts.UnixMilli(), 10), Timestamp: ts})
	}); err != nil {
		return err
	}
	if p.wallEvery == 0 {
		p.wallEvery = time.Minute
	}
	_, err := ctx.Schedule(p.wallEvery, core.WallClockTime, func(ts time.Time) error {
		if _, ok := ctx.RecordMetadata(); ok {
			return fmt.Errorf("record metadata available inside a punctuator")
		}
		return ctx.Forward(core.Record[string, string]{Key: "wall", Value: strconv.Itoa(p.count), Timestamp: ts})
	})
	return err
}

func (p *tickingProcessor) Process(r core.Record[string, string]) error {
	p.count++
	md, ok := p.ctx.RecordMetadata()
	if !ok {
		return fmt.Errorf("no record metadata in Process")
	}
	return p.ctx.Forward(core.WithValue(r, fmt.Sprintf("%s@%s/%d/%d", r.Value, md.Topic, md.Partition, md.Offset)))
}

func (p *tickingProcessor) Close() error { return nil }

func evenLength(_, v string) bool { return len(v)%2 == 0 }

func strStream(b *dsl.Builder, topic string) *dsl.KStream[string, string] {
	return dsl.Stream(b, topic, dsl.ConsumedWith(serde.String(), serde.String()))
}

func TestOperatorsTestDriver(t *testing.T) {
	t.Parallel()
	type env struct {
		t     *testing.T
		b     *dsl.Builder
		in    *dsl.KStream[string, string]
		probe *probe
		print *bytes.Buffer
	}
	cases := []struct {
		name  string
		build func(e env)
		input []pipe // default: defaultInput
		// after runs once every input was piped (wall-clock moves).
		after  func(t *testing.T, d *core.TestDriver)
		decode map[string]decoder // per output topic; default strings
		want   map[string][]row
		probe  []string
		print  string
	}{
		{
			name:  "Filter",
			build: func(e env) { e.in.Filter(evenLength).To("out") },
			want:  map[string][]row{"out": {{"b", "22", 2000, ""}, {"a", "4444", 4000, ""}}},
		},
		{
			name:  "FilterNot",
			build: func(e env) { e.in.FilterNot(evenLength).To("out") },
			want:  map[string][]row{"out": {{"a", "1", 1000, "trace=t1"}, {"c", "333", 3000, "trace=t3;x=y"}}},
		},
		{
			name: "Map",
			build: func(e env) {
				dsl.Map(e.in, func(k, v string) (string, string) { return v, strings.ToUpper(k) }).To("out")
			},
			want: map[string][]row{"out": {
				{"1", "A", 1000, "trace=t1"}, {"22", "B", 2000, ""}, {"333", "C", 3000, "trace=t3;x=y"}, {"4444", "A", 4000, ""},
			}},
		},
		{
			name: "MapValues",
			build: func(e env) {
				dsl.MapValues(e.in, func(v string) string { return "v=" + v }).To("out")
			},
			want: map[string][]row{"out": {
				{"a", "v=1", 1000, "trace=t1"}, {"b", "v=22", 2000, ""}, {"c", "v=333", 3000, "trace=t3;x=y"}, {"a", "v=4444", 4000, ""},
			}},
		},
		{
			name: "MapValuesWithKey",
			build: func(e env) {
				dsl.MapValuesWithKey(e.in, func(k, v string) string { return k + ":" + v }).To("out")
			},
			want: map[string][]row{"out": {
				{"a", "a:1", 1000, "trace=t1"}, {"b", "b:22", 2000, ""}, {"c", "c:333", 3000, "trace=t3;x=y"}, {"a", "a:4444", 4000, ""},
			}},
		},
		{
			name: "FlatMap",
			build: func(e env) {
				dsl.FlatMap(e.in, func(k, v string) []dsl.KeyValue[string, string] {
					if len(v) > 2 {
						return nil // zero records out
					}
					var out []dsl.KeyValue[string, string]
					for i := range len(v) {
						out = append(out, dsl.Pair(fmt.Sprintf("%s%d", k, i), v[:i+1]))
					}
					return out
				}).To("out")
			},
			want: map[string][]row{"out": {
				{"a0", "1", 1000, "trace=t1"}, {"b0", "2", 2000, ""}, {"b1", "22", 2000, ""},
			}},
		},
		{
			name: "FlatMapValues",
			build: func(e env) {
				dsl.FlatMapValues(e.in, func(v string) []string {
					if len(v) == 3 {
						return nil
					}
					return []string{v, "+" + v}
				}).To("out")
			},
			want: map[string][]row{"out": {
				{"a", "1", 1000, "trace=t1"}, {"a", "+1", 1000, "trace=t1"},
				{"b", "22", 2000, ""}, {"b", "+22", 2000, ""},
				{"a", "4444", 4000, ""}, {"a", "+4444", 4000, ""},
			}},
		},
		{
			name: "SelectKey",
			build: func(e env) {
				dsl.SelectKey(e.in, func(k, v string) string { return k + strconv.Itoa(len(v)) }).To("out")
			},
			want: map[string][]row{"out": {
				{"a1", "1", 1000, "trace=t1"}, {"b2", "22", 2000, ""}, {"c3", "333", 3000, "trace=t3;x=y"}, {"a4", "4444", 4000, ""},
			}},
		},
		{
			name: "SelectKeyTypeChangeWithSerdes",
			build: func(e env) {
				dsl.SelectKey(e.in, func(_, v string) int32 { return int32(len(v)) }).
					WithSerdes(serde.Int32(), serde.String()).To("out")
			},
			decode: map[string]decoder{"out": decodeWith(serde.Int32(), serde.String())},
			want: map[string][]row{"out": {
				{"1", "1", 1000, "trace=t1"}, {"2", "22", 2000, ""}, {"3", "333", 3000, "trace=t3;x=y"}, {"4", "4444", 4000, ""},
			}},
		},
		{
			name: "Peek",
			build: func(e env) {
				e.in.Peek(func(k, v string) { e.probe.add("peek %s=%s", k, v) }).Filter(evenLength).To("out")
			},
			want:  map[string][]row{"out": {{"b", "22", 2000, ""}, {"a", "4444", 4000, ""}}},
			probe: []string{"peek a=1", "peek b=22", "peek c=333", "peek a=4444"},
		},
		{
			name: "Foreach",
			build: func(e env) {
				e.in.Foreach(func(k, v string) { e.probe.add("each %s=%s", k, v) })
			},
			want:  map[string][]row{},
			probe: []string{"each a=1", "each b=22", "each c=333", "each a=4444"},
		},
		{
			name: "Merge",
			build: func(e env) {
				other := strStream(e.b, "in2")
				e.in.Merge(other).To("out")
			},
			input: []pipe{
				{"in", "a", "1", 1000, hdr("trace", "t1")},
				{"in2", "x", "9", 1500, hdr("from", "in2")},
				{"in", "b", "22", 2000, nil},
				{"in2", "y", "99", 500, nil}, // out of order: merge keeps arrival order
			},
			want: map[string][]row{"out": {
				{"a", "1", 1000, "trace=t1"}, {"x", "9", 1500, "from=in2"}, {"b", "22", 2000, ""}, {"y", "99", 500, ""},
			}},
		},
		{
			name: "SplitNamedFirstMatchWins",
			build: func(e env) {
				branches := e.in.Split("sp-").
					Branch(func(_, v string) bool { return len(v) <= 1 }, "small").
					Branch(func(_, v string) bool { return len(v) <= 3 }, "mid").
					DefaultBranch("rest")
				if got := slices.Sorted(maps.Keys(branches)); !slices.Equal(got, []string{"sp-mid", "sp-rest", "sp-small"}) {
					e.t.Errorf("branch keys = %v", got)
				}
				for name, s := range branches {
					s.To("out-" + name)
				}
			},
			want: map[string][]row{
				"out-sp-small": {{"a", "1", 1000, "trace=t1"}},
				"out-sp-mid":   {{"b", "22", 2000, ""}, {"c", "333", 3000, "trace=t3;x=y"}},
				"out-sp-rest":  {{"a", "4444", 4000, ""}},
			},
		},
		{
			name: "SplitUnnamedNoDefaultBranch",
			build: func(e env) {
				branches := e.in.Split().
					Branch(func(_, v string) bool { return len(v) == 1 }, "").
					Branch(func(_, v string) bool { return len(v) == 2 }, "").
					NoDefaultBranch()
				if got := slices.Sorted(maps.Keys(branches)); !slices.Equal(got, []string{"1", "2"}) {
					e.t.Errorf("branch keys = %v", got)
				}
				branches["1"].To("out-1")
				branches["2"].To("out-2")
			},
			want: map[string][]row{
				"out-1": {{"a", "1", 1000, "trace=t1"}},
				"out-2": {{"b", "22", 2000, ""}},
			},
		},
		{
			name: "SplitUnnamedDefaultBranch",
			build: func(e env) {
				branches := e.in.Split("p").
					Branch(func(_, v string) bool { return len(v) == 1 }, "").
					DefaultBranch("")
				if got := slices.Sorted(maps.Keys(branches)); !slices.Equal(got, []string{"p0", "p1"}) {
					e.t.Errorf("branch keys = %v", got)
				}
				branches["p0"].To("out-0")
			},
			want: map[string][]row{
				"out-0": {{"b", "22", 2000, ""}, {"c", "333", 3000, "trace=t3;x=y"}, {"a", "4444", 4000, ""}},
			},
		},
		{
			name: "RepartitionNamed",
			build: func(e env) {
				rekeyed := dsl.SelectKey(e.in, func(_, v string) string { return "k" + strconv.Itoa(len(v)%2) })
				back := rekeyed.Repartition(dsl.Repartitioned[string, string]{}.WithName("rekey").WithPartitions(6))
				dsl.MapValues(back, strings.ToUpper).To("out")
			},
			want: map[string][]row{
				"test-driver-rekey-repartition": {
					{"k1", "1", 1000, "trace=t1"}, {"k0", "22", 2000, ""}, {"k1", "333", 3000, "trace=t3;x=y"}, {"k0", "4444", 4000, ""},
				},
				"out": {
					{"k1", "1", 1000, "trace=t1"}, {"k0", "22", 2000, ""}, {"k1", "333", 3000, "trace=t3;x=y"}, {"k0", "4444", 4000, ""},
				},
			},
		},
		{
			name: "RepartitionUnnamedTypeChange",
			build: func(e env) {
				// source 0, map-values 1, repartition 2
				lens := dsl.MapValues(e.in, func(v string) int64 { return int64(len(v)) })
				lens.Repartition(dsl.RepartitionedWith(serde.String(), serde.Int64())).To("out")
			},
			decode: map[string]decoder{
				"test-driver-KSTREAM-REPARTITION-0000000002-repartition": decodeWith(serde.String(), serde.Int64()),
				"out": decodeWith(serde.String(), serde.Int64()),
			},
			want: map[string][]row{
				"test-driver-KSTREAM-REPARTITION-0000000002-repartition": {
					{"a", "1", 1000, "trace=t1"}, {"b", "2", 2000, ""}, {"c", "3", 3000, "trace=t3;x=y"}, {"a", "4", 4000, ""},
				},
				"out": {{"a", "1", 1000, "trace=t1"}, {"b", "2", 2000, ""}, {"c", "3", 3000, "trace=t3;x=y"}, {"a", "4", 4000, ""}},
			},
		},
		{
			name: "ToProducedWith",
			build: func(e env) {
				lens := dsl.MapValues(e.in, func(v string) int64 { return int64(len(v)) * 10 })
				lens.To("out", dsl.ProducedWith[string, int64](serde.String(), serde.Int64()).WithName("sink"))
			},
			decode: map[string]decoder{"out": decodeWith(serde.String(), serde.Int64())},
			want: map[string][]row{"out": {
				{"a", "10", 1000, "trace=t1"}, {"b", "20", 2000, ""}, {"c", "30", 3000, "trace=t3;x=y"}, {"a", "40", 4000, ""},
			}},
		},
		{
			name: "ToValueSerdeOnly",
			build: func(e env) {
				// Keys keep the stream's serde; only the value's is given.
				lens := dsl.MapValues(e.in, func(v string) int32 { return int32(len(v)) })
				lens.To("out", dsl.Produced[string, int32]{Values: serde.Int32()})
			},
			decode: map[string]decoder{"out": decodeWith(serde.String(), serde.Int32())},
			want: map[string][]row{"out": {
				{"a", "1", 1000, "trace=t1"}, {"b", "2", 2000, ""}, {"c", "3", 3000, "trace=t3;x=y"}, {"a", "4", 4000, ""},
			}},
		},
		{
			name: "ToCustomPartitioner",
			build: func(e env) {
				e.in.To("out", dsl.Produced[string, string]{}.WithPartitioner(
					func(topic string, r core.Record[string, string], n int32) (int32, bool) {
						e.probe.add("partition %s %s=%s of %d", topic, r.Key, r.Value, n)
						return 0, r.Key != "b" // "b" falls back to the default
					}))
			},
			want: map[string][]row{"out": {
				{"a", "1", 1000, "trace=t1"}, {"b", "22", 2000, ""}, {"c", "333", 3000, "trace=t3;x=y"}, {"a", "4444", 4000, ""},
			}},
			probe: []string{"partition out a=1 of 1", "partition out b=22 of 1", "partition out c=333 of 1", "partition out a=4444 of 1"},
		},
		{
			name: "ToFunc",
			build: func(e env) {
				e.in.ToFunc(func(r core.Record[string, string]) string {
					if len(r.Headers) > 0 {
						return "with-headers"
					}
					return "out-" + r.Key
				})
			},
			want: map[string][]row{
				"with-headers": {{"a", "1", 1000, "trace=t1"}, {"c", "333", 3000, "trace=t3;x=y"}},
				"out-b":        {{"b", "22", 2000, ""}},
				"out-a":        {{"a", "4444", 4000, ""}},
			},
		},
		{
			name: "ProcessWithPunctuators",
			build: func(e env) {
				dsl.Process(e.in, func() core.Processor[string, string, string, string] { return &tickingProcessor{} }).To("out")
			},
			input: []pipe{
				{"in", "a", "1", 1000, hdr("trace", "t1")},
				{"in", "b", "2", 9000, nil},
				{"in", "c", "3", 12000, nil}, // crosses 10s
				{"in", "d", "4", 5000, nil},  // late: stream time stays 12s
				{"in", "e", "5", 31000, nil}, // skips 20s: one punctuation
			},
			after: func(t *testing.T, d *core.TestDriver) {
				if err := d.AdvanceWallClockTime(59 * time.Second); err != nil {
					t.Fatal(err)
				}
				if err := d.AdvanceWallClockTime(time.Second); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string][]row{"out": {
				{"a", "1@in/0/0", 1000, "trace=t1"}, {"tick-0", "1000", 1000, ""},
				{"b", "2@in/0/1", 9000, ""},
				{"c", "3@in/0/2", 12000, ""}, {"tick-0", "12000", 12000, ""},
				{"d", "4@in/0/3", 5000, ""},
				{"e", "5@in/0/4", 31000, ""}, {"tick-0", "31000", 31000, ""},
				{"wall", "5", driverStart.Add(time.Minute).UnixMilli(), ""},
			}},
		},
		{
			name: "Print",
			build: func(e env) {
				e.in.Print(e.print, "lbl")
				dsl.MapValues(e.in, func(v string) int { return len(v) }).Print(e.print, "", "lengths")
			},
			want: map[string][]row{},
			print: "[lbl]: a, 1\n[lengths]: a, 1\n[lbl]: b, 22\n[lengths]: b, 2\n" +
				"[lbl]: c, 333\n[lengths]: c, 3\n[lbl]: a, 4444\n[lengths]: a, 4\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := dsl.NewBuilder()
			e := env{t: t, b: b, in: strStream(b, "in"), probe: &probe{}, print: &bytes.Buffer{}}
			tc.build(e)
			topo, err := b.Build()
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			d, err := core.NewTestDriver(topo, core.WithDriverStartTime(driverStart))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			input := tc.input
			if input == nil {
				input = defaultInput
			}
			for _, p := range input {
				err := d.Pipe(&kgo.Record{Topic: p.topic, Key: []byte(p.key), Value: []byte(p.value),
					Timestamp: time.UnixMilli(p.ts), Headers: p.headers})
				if err != nil {
					t.Fatalf("pipe %s=%s: %v", p.key, p.value, err)
				}
			}
			if tc.after != nil {
				tc.after(t, d)
			}
			for topic, want := range tc.want {
				dec := tc.decode[topic]
				if dec == nil {
					dec = stringDecoder
				}
				got := toRows(t, d.ReadOutput(topic), dec)
				if !slices.Equal(got, want) {
					t.Errorf("topic %s:\n got %v\nwant %v", topic, got, want)
				}
			}
			if got := e.probe.get(); !slices.Equal(got, tc.probe) {
				t.Errorf("side effects:\n got %q\nwant %q", got, tc.probe)
			}
			if got := e.print.String(); got != tc.print {
				t.Errorf("printed:\n%s\nwant:\n%s", got, tc.print)
			}
		})
	}
}

var driverStart = time.UnixMilli(1_000_000)

// TestOperatorsNoExtraOutput checks that filtering and splitting write
// nothing where nothing is expected, and that Foreach and Print end the
// stream (no sink, so no topic is written).
func TestOperatorsNoExtraOutput(t *testing.T) {
	t.Parallel()
	b := dsl.NewBuilder()
	in := strStream(b, "in")
	in.Filter(func(string, string) bool { return false }).To("never")
	in.Split("s-").Branch(func(string, string) bool { return false }, "none").NoDefaultBranch()["s-none"].To("never-either")
	in.Foreach(func(string, string) {})
	in.Print(&bytes.Buffer{}, "x")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := core.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, p := range defaultInput {
		if err := d.Pipe(&kgo.Record{Topic: "in", Key: []byte(p.key), Value: []byte(p.value), Timestamp: time.UnixMilli(p.ts)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, topic := range []string{"never", "never-either", "in"} {
		if got := d.ReadOutput(topic); len(got) != 0 {
			t.Errorf("topic %s got %d records", topic, len(got))
		}
	}
}

// TestPartitionerOutOfRange: a StreamPartitioner choosing a partition the
// topic does not have fails the record (default production handler).
func TestPartitionerOutOfRange(t *testing.T) {
	t.Parallel()
	b := dsl.NewBuilder()
	strStream(b, "in").To("out", dsl.Produced[string, string]{}.WithPartitioner(
		func(string, core.Record[string, string], int32) (int32, bool) { return 1, true }))
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := core.NewTestDriver(topo, core.WithProductionHandler(func(core.ErrorContext, *kgo.Record, error) core.HandlerResponse {
		return core.Fail
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.Pipe(&kgo.Record{Topic: "in", Key: []byte("k"), Value: []byte("v")})
	if err == nil || !strings.Contains(err.Error(), "partitioner chose partition 1 of 1") {
		t.Fatalf("Pipe error = %v, want the partitioner's out-of-range choice", err)
	}
}

// TestDescribeSplitAndRepartition pins the node names the DSL generates
// for Split branches and Repartition (Kafka Streams style where it has
// one).
func TestDescribeSplitAndRepartition(t *testing.T) {
	t.Parallel()
	b := dsl.NewBuilder()
	in := strStream(b, "in")
	br := in.Split().Branch(func(_, v string) bool { return v != "" }, "").DefaultBranch("")
	br["1"].Repartition().To("out")
	br["0"].Print(&bytes.Buffer{}, "")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	// Node lines only: the sub-topology header layout belongs to core.
	desc := topo.Describe()
	for _, line := range []string{
		"Processor: KSTREAM-BRANCH-0000000001 (stores: [])",
		"--> KSTREAM-BRANCH-00000000011, KSTREAM-BRANCH-00000000010",
		"Processor: KSTREAM-BRANCH-00000000011 (stores: [])",
		"Processor: KSTREAM-BRANCH-00000000010 (stores: [])",
		"Sink: KSTREAM-REPARTITION-0000000002-sink (topic: KSTREAM-REPARTITION-0000000002-repartition)",
		"Processor: KSTREAM-PRINTER-0000000004 (stores: [])",
		"Sub-topology: 1",
		"Source: KSTREAM-REPARTITION-0000000002-source (topics: [KSTREAM-REPARTITION-0000000002-repartition])",
		"Sink: KSTREAM-SINK-0000000003 (topic: out)",
	} {
		if !strings.Contains(desc, " "+line+"\n") {
			t.Errorf("Describe lacks %q:\n%s", line, desc)
		}
	}
	if got := topo.SourceTopics(); !reflect.DeepEqual(got, []string{"KSTREAM-REPARTITION-0000000002-repartition", "in"}) {
		t.Errorf("SourceTopics = %v", got)
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		build func(b *dsl.Builder)
		want  string // substring of the error; "" means Build succeeds
	}{
		{
			name: "SinkWithoutSerdeAfterTypeChange",
			build: func(b *dsl.Builder) {
				dsl.MapValues(strStream(b, "in"), func(v string) int { return len(v) }, "lengths").To("out")
			},
			want: `dsl: sink to out after node "lengths": no serde known for the stream's key or value type; pass dsl.ProducedWith(...) or use WithSerdes`,
		},
		{
			name: "ToFuncWithoutSerde",
			build: func(b *dsl.Builder) {
				dsl.SelectKey(strStream(b, "in"), func(string, string) int { return 0 }, "sk").
					ToFunc(func(core.Record[int, string]) string { return "x" })
			},
			want: `dsl: sink to a topic chooser after node "sk": no serde known`,
		},
		{
			name: "RepartitionWithoutSerde",
			build: func(b *dsl.Builder) {
				dsl.SelectKey(strStream(b, "in"), func(string, string) int64 { return 0 }, "sk").Repartition()
			},
			want: `dsl: repartition after node "sk": no serde known for the stream's key or value type; pass dsl.RepartitionedWith(...)`,
		},
		{
			name: "WithSerdesFixesTypeChange",
			build: func(b *dsl.Builder) {
				dsl.MapValues(strStream(b, "in"), func(v string) int64 { return 0 }).
					WithSerdes(serde.String(), serde.Int64()).Repartition().To("out")
			},
		},
		{
			name: "SameTypeKeepsSerde",
			build: func(b *dsl.Builder) {
				dsl.Map(strStream(b, "in"), func(k, v string) (string, string) { return v, k }).To("out")
			},
		},
		{
			name: "DuplicateNodeName",
			build: func(b *dsl.Builder) {
				in := strStream(b, "in")
				in.Filter(evenLength, "f").To("a")
				in.FilterNot(evenLength, "f").To("b")
			},
			want: `core: node "f" already exists in the topology`,
		},
		{
			name: "DuplicateSinkName",
			build: func(b *dsl.Builder) {
				in := strStream(b, "in")
				in.To("a", dsl.Produced[string, string]{}.WithName("sink"))
				in.To("b", dsl.Produced[string, string]{}.WithName("sink"))
			},
			want: `core: node "sink" already exists`,
		},
		{
			name: "DuplicateRepartitionName",
			build: func(b *dsl.Builder) {
				in := strStream(b, "in")
				in.Repartition(dsl.Repartitioned[string, string]{}.WithName("r")).To("a")
				in.Repartition(dsl.Repartitioned[string, string]{}.WithName("r")).To("b")
			},
			want: `core: repartition topic "r-repartition" declared twice`,
		},
		{
			name: "MergeAcrossBuilders",
			build: func(b *dsl.Builder) {
				other := strStream(dsl.NewBuilder(), "in2")
				strStream(b, "in").Merge(other).To("out")
			},
			want: "dsl: Merge of streams from different builders",
		},
		{
			name: "SourceWithoutSerdes",
			build: func(b *dsl.Builder) {
				dsl.Stream(b, "in", dsl.Consumed[string, string]{Keys: serde.String()})
			},
			want: "dsl: source of [in] needs key and value serdes",
		},
		{
			name: "TopicReadTwice",
			build: func(b *dsl.Builder) {
				strStream(b, "in")
				strStream(b, "in")
			},
			want: `topic "in" is already read by source`,
		},
		{
			name: "SplitNilPredicate",
			build: func(b *dsl.Builder) {
				strStream(b, "in").Split("s").Branch(nil, "x")
			},
			want: `dsl: split branch "x": nil predicate (use DefaultBranch)`,
		},
		{
			name: "SplitDuplicateBranch",
			build: func(b *dsl.Builder) {
				strStream(b, "in").Split("s-").Branch(evenLength, "x").Branch(evenLength, "x")
			},
			want: `dsl: split: duplicate branch name "s-x"`,
		},
		{
			name: "SplitBranchAfterDefault",
			build: func(b *dsl.Builder) {
				bs := strStream(b, "in").Split("s-")
				bs.DefaultBranch("d")
				bs.Branch(evenLength, "late")
			},
			want: `dsl: split "s-": branch "late" added after DefaultBranch/NoDefaultBranch`,
		},
		{
			// Regression: branch nodes of unnamed splits were named after
			// the map key alone ("1"), so a second unnamed split collided.
			name: "TwoUnnamedSplits",
			build: func(b *dsl.Builder) {
				in := strStream(b, "in")
				in.Split().Branch(evenLength, "").Branch(evenLength, "x").DefaultBranch("")["1"].To("a")
				in.Split().Branch(evenLength, "").Branch(evenLength, "x").DefaultBranch("")["1"].To("b")
			},
		},
		{
			name: "FirstErrorWins",
			build: func(b *dsl.Builder) {
				in := strStream(b, "in")
				dsl.MapValues(in, func(string) int { return 0 }, "first").To("out")
				in.Filter(evenLength, "dup").To("a")
				in.Filter(evenLength, "dup").To("b")
			},
			want: `dsl: sink to out after node "first"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := dsl.NewBuilder()
			tc.build(b)
			topo, err := b.Build()
			if tc.want == "" {
				if err != nil || topo == nil {
					t.Fatalf("Build = %v, %v; want a topology", topo, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build error = %v, want it to contain %q", err, tc.want)
			}
			if topo != nil {
				t.Errorf("Build returned a topology along with error %v", err)
			}
			if _, err2 := b.Build(); err2 != err {
				t.Errorf("second Build error = %v, want the same %v", err2, err)
			}
		})
	}
}

// Stateless operators keep Kafka nulls they do not replace: SelectKey and
// Filter pass a null value through, MapValues keeps a null key.
func TestStatelessOperatorsKeepNulls(t *testing.T) {
	b := dsl.NewBuilder()
	in := dsl.Stream(b, "in", dsl.ConsumedWith(serde.String(), serde.String()))
	dsl.SelectKey(in.Filter(func(string, string) bool { return true }), func(k, _ string) string { return "new-" + k }).To("rekeyed")
	dsl.MapValues(in, func(v string) string { return v + "!" }).To("mapped")
	d := driver(t, b)
	if err := d.Pipe(&kgo.Record{Topic: "in", Key: []byte("a"), Value: nil, Timestamp: at(1)}); err != nil {
		t.Fatal(err)
	}
	if err := d.Pipe(&kgo.Record{Topic: "in", Key: nil, Value: []byte("v"), Timestamp: at(2)}); err != nil {
		t.Fatal(err)
	}
	rekeyed := d.ReadOutput("rekeyed")
	if len(rekeyed) != 2 || string(rekeyed[0].Key) != "new-a" || rekeyed[0].Value != nil {
		t.Fatalf("SelectKey of a null value: %+v", rekeyed)
	}
	mapped := d.ReadOutput("mapped")
	if len(mapped) != 2 || mapped[1].Key != nil || string(mapped[1].Value) != "v!" {
		t.Fatalf("MapValues of a null key: %+v", mapped)
	}
}
