package dsl_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// The ksfidelity_*_test.go files port scenarios of Kafka Streams' own unit
// tests (apache/kafka, streams/src/test/java/org/apache/kafka/streams/
// kstream/internals/*Test.java) onto the test driver, keeping Java's
// inputs (keys, values, timestamps, order) and expected outputs (keys,
// values and timestamps). Each scenario names the Java class and method it
// comes from. Java's MockApiProcessor, which captures what reaches a node,
// is played by capture; Java's TopologyTestDriver flushes record caches
// after every input, as core.TestDriver does.

// ksOut is a captured record, as Java's KeyValueTimestamp: V is nil for a
// null value (a tombstone).
type ksOut struct {
	K  any
	V  any
	TS int64
}

func (r ksOut) String() string { return fmt.Sprintf("%v=%v@%d", r.K, r.V, r.TS) }

// ksIn is one input record: value nil pipes a null value.
type ksIn struct {
	topic string
	key   any
	value any
	ts    int64
}

// ksStep pipes its inputs in order and then expects exactly want to have
// reached the captured node (Java's checkAndClearProcessResult).
type ksStep struct {
	in   []ksIn
	want []ksOut
}

// ksScenario is one ported Java test (or one part of a long one).
type ksScenario struct {
	name string
	// java is "Class#method" of the Kafka Streams test ported.
	java string
	// build reads the input topics and captures the output into c.
	build func(b *dsl.Builder, c *captured)
	steps []ksStep
	// opts are extra application options (default: none).
	opts []core.Option
}

// captured collects what reaches a capture node.
type captured struct{ recs []ksOut }

func (c *captured) take() []ksOut {
	out := c.recs
	c.recs = nil
	return out
}

// capture is Java's MockApiProcessorSupplier at the end of s.
func capture[K, V any](s *dsl.KStream[K, V], c *captured) {
	dsl.Process(s, core.ProcessorFunc[K, V, K, V](func(_ core.ProcessorContext[K, V], r core.Record[K, V]) error {
		var v any = norm(r.Value)
		if r.NullValue {
			v = nil
		}
		c.recs = append(c.recs, ksOut{K: norm(r.Key), V: v, TS: r.Timestamp.UnixMilli()})
		return nil
	}).Supplier())
}

// norm turns the int32 of Sluice's Int32 serde (Java's Integer) into the
// int the scenario tables use.
func norm(v any) any {
	switch v := v.(type) {
	case int32:
		return int(v)
	case *string: // a nullable key (Java's null), as in GroupByTable
		if v != nil {
			return *v
		}
	}
	return v
}

// captureTable captures a table's updates (new values; deletes as nil).
func captureTable[K, V any](t *dsl.KTable[K, V], c *captured) { capture(t.ToStream(), c) }

// encode serializes a test key or value by its Go type, as the Java
// serializers of the ported tests do: int as Integer (4 bytes), int64 as
// Long, string as UTF-8; nil is a Kafka null.
func encode(v any) []byte {
	switch v := v.(type) {
	case nil:
		return nil
	case int:
		b, _ := serde.Int32().Serialize("", int32(v))
		return b
	case int64:
		b, _ := serde.Int64().Serialize("", v)
		return b
	case string:
		return []byte(v)
	}
	panic(fmt.Sprintf("ksfidelity: no encoding for %T", v))
}

func runScenarios(t *testing.T, scenarios []ksScenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			c := &captured{}
			sc.build(b, c)
			topo, err := b.Build()
			if err != nil {
				t.Fatal(err)
			}
			d, err := core.NewTestDriver(topo, append([]core.Option{core.WithDriverStartTime(time.UnixMilli(0))}, sc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			for i, st := range sc.steps {
				for _, in := range st.in {
					rec := &kgo.Record{Topic: in.topic, Key: encode(in.key), Value: encode(in.value), Timestamp: time.UnixMilli(in.ts)}
					if in.value != nil && rec.Value == nil {
						rec.Value = []byte{}
					}
					if err := d.Pipe(rec); err != nil {
						t.Fatalf("%s: step %d: pipe %v: %v", sc.java, i, in, err)
					}
				}
				got := c.take()
				if len(got) == 0 && len(st.want) == 0 {
					continue
				}
				if !reflect.DeepEqual(got, st.want) {
					t.Fatalf("%s: step %d (inputs %v):\n got %v\nwant %v", sc.java, i, st.in, got, st.want)
				}
			}
		})
	}
}

// Input helpers mirroring the loops of the Java tests.

var allKeys = []int{0, 1, 2, 3}

// each pipes prefix+key for every key at ts ("for (key : expectedKeys)
// pipeInput(key, prefix + key, time)").
func each(topic string, keys []int, prefix string, ts int64) []ksIn {
	out := make([]ksIn, len(keys))
	for i, k := range keys {
		out[i] = ksIn{topic, k, fmt.Sprint(prefix, k), ts}
	}
	return out
}

// eachInc is each with timestamps ts+i ("pipeInput(keys[i], prefix +
// keys[i], time + i)").
func eachInc(topic string, keys []int, prefix string, ts int64) []ksIn {
	out := each(topic, keys, prefix, ts)
	for i := range out {
		out[i].ts += int64(i)
	}
	return out
}

// in is a single input record.
func in(topic string, key, value any, ts int64) []ksIn { return []ksIn{{topic, key, value, ts}} }

// seq concatenates input lists.
func seq(lists ...[]ksIn) []ksIn {
	var out []ksIn
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// Java's MockValueJoiner.TOSTRING_JOINER: value1 + "+" + value2, a missing
// side printing as "null".
func toStringJoiner(l, r string) string { return l + "+" + r }

func toStringLeftJoiner(l, r string, ok bool) string {
	if !ok {
		r = "null"
	}
	return l + "+" + r
}

func toStringOuterJoiner(l string, hasL bool, r string, hasR bool) string {
	if !hasL {
		l = "null"
	}
	if !hasR {
		r = "null"
	}
	return l + "+" + r
}

// intStrings is Java's consumed with Serdes.Integer(), Serdes.String().
var intStrings = dsl.ConsumedWith(serde.Int32(), serde.String())

// wk builds expected records for keys: the value is pattern with every
// "#" replaced by the key, the timestamp ts, plus the key when perKey (the
// Java tests' partners piped at "time + i").
func wk(keys []int, pattern string, ts int64, perKey bool) []ksOut {
	out := make([]ksOut, len(keys))
	for i, k := range keys {
		out[i] = ksOut{k, strings.ReplaceAll(pattern, "#", fmt.Sprint(k)), ts}
		if perKey {
			out[i].TS += int64(k)
		}
	}
	return out
}

// want concatenates expected record lists.
func want(lists ...[]ksOut) []ksOut {
	var out []ksOut
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
