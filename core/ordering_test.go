package core_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/serde"
)

// seenLog records what a processor saw, per task, safely across threads.
type seenLog struct {
	mu     sync.Mutex
	byTask map[core.TaskID][]seenRecord
	n      int
}

type seenRecord struct {
	Value string
	TS    int64
	MD    core.RecordMetadata
}

func newSeenLog() *seenLog { return &seenLog{byTask: map[core.TaskID][]seenRecord{}} }

func (l *seenLog) add(id core.TaskID, r seenRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byTask[id] = append(l.byTask[id], r)
	l.n++
}

func (l *seenLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *seenLog) snapshot() map[core.TaskID][]seenRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[core.TaskID][]seenRecord{}
	for id, rs := range l.byTask {
		out[id] = append([]seenRecord(nil), rs...)
	}
	return out
}

// recorder returns a processor supplier that logs every record into l and
// forwards it unchanged.
func recorder(l *seenLog) func() core.Processor[string, string, string, string] {
	return core.ProcessorFunc[string, string, string, string](
		func(ctx core.ProcessorContext[string, string], r core.Record[string, string]) error {
			md, _ := ctx.RecordMetadata()
			l.add(ctx.TaskID(), seenRecord{Value: r.Value, TS: r.Timestamp.UnixMilli(), MD: md})
			return ctx.Forward(r)
		}).Supplier()
}

// mergedTopology reads left and right into one processor, either through
// one source node reading both topics or through two merged source nodes.
func mergedTopology(t *testing.T, twoSources bool, l *seenLog, opts ...core.SourceOption) *core.Topology {
	t.Helper()
	topo := core.NewTopology()
	parents := []string{"src"}
	if twoSources {
		must(t, core.AddSource(topo, "srcL", serde.String(), serde.String(), []string{"left"}, opts...))
		must(t, core.AddSource(topo, "srcR", serde.String(), serde.String(), []string{"right"}, opts...))
		parents = []string{"srcL", "srcR"}
	} else {
		must(t, core.AddSource(topo, "src", serde.String(), serde.String(), []string{"left", "right"}, opts...))
	}
	must(t, core.AddProcessor(topo, "rec", recorder(l), parents...))
	must(t, core.AddSink(topo, "sink", serde.String(), serde.String(), core.ToTopic[string, string]("merged"), []string{"rec"}))
	return topo
}

func values(rs []seenRecord) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Value)
	}
	return out
}

func TestDriverTimestampOrderAcrossTopics(t *testing.T) {
	t.Parallel()
	for _, two := range []bool{false, true} {
		t.Run(fmt.Sprintf("twoSources=%v", two), func(t *testing.T) {
			l := newSeenLog()
			d, err := core.NewTestDriver(mergedTopology(t, two, l), core.WithMaxTaskIdle(time.Second), core.WithDriverStartTime(driverStart))
			must(t, err)
			defer d.Close()
			left := core.NewTestInputTopic(d, "left", serde.String(), serde.String())
			right := core.NewTestInputTopic(d, "right", serde.String(), serde.String())
			// Piped out of timestamp order across the two topics: with
			// max.task.idle the task waits for the other (empty) input
			// and processes in timestamp order.
			must(t, left.PipeAt("k", "L10", time.UnixMilli(10)))
			must(t, left.PipeAt("k", "L30", time.UnixMilli(30)))
			if n := l.count(); n != 0 {
				t.Fatalf("processed %d records while the other input was empty and idle time not passed", n)
			}
			must(t, right.PipeAt("k", "R20", time.UnixMilli(20)))
			must(t, right.PipeAt("k", "R40", time.UnixMilli(40)))
			must(t, left.PipeAt("k", "L50", time.UnixMilli(50)))
			got := values(l.snapshot()[core.TaskID{}])
			if want := []string{"L10", "R20", "L30", "R40"}; !reflect.DeepEqual(got, want) {
				t.Fatalf("before idle timeout: got %v, want %v", got, want)
			}
			// After max.task.idle of wall-clock time the task processes the
			// buffered record although the other input is still empty.
			must(t, d.AdvanceWallClockTime(time.Second))
			got = values(l.snapshot()[core.TaskID{}])
			if want := []string{"L10", "R20", "L30", "R40", "L50"}; !reflect.DeepEqual(got, want) {
				t.Fatalf("after idle timeout: got %v, want %v", got, want)
			}
			vals, err := core.NewTestOutputTopic(d, "merged", serde.String(), serde.String()).ReadValues()
			must(t, err)
			if want := []string{"L10", "R20", "L30", "R40", "L50"}; !reflect.DeepEqual(vals, want) {
				t.Fatalf("output: got %v, want %v", vals, want)
			}
		})
	}
}

// TestBrokerTimestampOrderAcrossTopics pre-produces two co-partitioned
// topics, each partition's records interleaved by timestamp with the other
// topic's, and checks that every task processed its records in timestamp
// order although the consumer fetches the topics independently.
func TestBrokerTimestampOrderAcrossTopics(t *testing.T) {
	t.Parallel()
	for _, g := range []core.ProcessingGuarantee{core.AtLeastOnce, core.ExactlyOnceV2} {
		t.Run(string(g), func(t *testing.T) {
			t.Parallel()
			const parts, per = 2, 300
			b := testbroker.New(t)
			b.CreateTopic(t, "left", parts, nil)
			b.CreateTopic(t, "right", parts, nil)
			b.CreateTopic(t, "merged", parts, nil)
			cl := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			var recs []*kgo.Record
			// All of left first, then all of right: offsets say nothing
			// about the timestamp order across the topics.
			for _, topic := range []string{"left", "right"} {
				for p := range int32(parts) {
					for i := range per {
						ts := int64(1000 + 2*i)
						if topic == "right" {
							ts++
						}
						recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte("k"),
							Value: []byte(strconv.FormatInt(ts, 10)), Timestamp: time.UnixMilli(ts)})
					}
				}
			}
			must(t, cl.ProduceSync(context.Background(), recs...).FirstErr())

			l := newSeenLog()
			app, err := core.New(mergedTopology(t, false, l), core.WithBrokers(b.Addr()), core.WithApplicationID("order-"+string(g)),
				core.WithProcessingGuarantee(g), core.WithCommitInterval(100*time.Millisecond))
			must(t, err)
			stop := runApp(t, app)
			testwait.Until(t, "all records processed", 30*time.Second, func() bool { return l.count() >= 2*parts*per })
			must(t, stop())
			seen := l.snapshot()
			if len(seen) != parts {
				t.Fatalf("got %d tasks, want %d", len(seen), parts)
			}
			for id, rs := range seen {
				if len(rs) != 2*per {
					t.Errorf("task %v processed %d records, want %d", id, len(rs), 2*per)
				}
				for i, r := range rs {
					if want := int64(1000 + i); r.TS != want {
						t.Fatalf("task %v: record %d has timestamp %d (%s[%d]@%d), want %d: not in timestamp order",
							id, i, r.TS, r.MD.Topic, r.MD.Partition, r.MD.Offset, want)
					}
					if r.MD.Partition != id.Partition {
						t.Fatalf("task %v got a record of partition %d", id, r.MD.Partition)
					}
				}
			}
		})
	}
}

func TestTimestampExtractors(t *testing.T) {
	t.Parallel()
	fromValue := func(rec *kgo.Record, _ time.Time) time.Time {
		n, err := strconv.ParseInt(string(rec.Value), 10, 64)
		if err != nil {
			return time.UnixMilli(-1)
		}
		return time.UnixMilli(n)
	}
	run := func(t *testing.T, d *core.TestDriver, values ...string) []int64 {
		t.Helper()
		in := core.NewTestInputTopic(d, "in", serde.String(), serde.String())
		for _, v := range values {
			must(t, in.PipeAt("k", v, time.UnixMilli(7)))
		}
		recs, err := core.NewTestOutputTopic(d, "out", serde.String(), serde.String()).ReadRecords()
		must(t, err)
		var ts []int64
		for _, r := range recs {
			ts = append(ts, r.Timestamp.UnixMilli())
		}
		return ts
	}
	t.Run("application extractor", func(t *testing.T) {
		d, err := core.NewTestDriver(upperTopology(t, "in", "out"), core.WithTimestampExtractor(fromValue))
		must(t, err)
		defer d.Close()
		if got, want := run(t, d, "100", "50", "300"), []int64{100, 50, 300}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("source extractor overrides the application's", func(t *testing.T) {
		topo := core.NewTopology()
		must(t, core.AddSource(topo, "src", serde.String(), serde.String(), []string{"in"}, core.WithSourceTimestampExtractor(fromValue)))
		must(t, core.AddSink(topo, "sink", serde.String(), serde.String(), core.ToTopic[string, string]("out"), []string{"src"}))
		d, err := core.NewTestDriver(topo, core.WithTimestampExtractor(core.WallClockTimeExtractor()))
		must(t, err)
		defer d.Close()
		if got, want := run(t, d, "100", "200"), []int64{100, 200}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("wall clock", func(t *testing.T) {
		d, err := core.NewTestDriver(upperTopology(t, "in", "out"), core.WithTimestampExtractor(core.WallClockTimeExtractor()),
			core.WithDriverStartTime(driverStart))
		must(t, err)
		defer d.Close()
		before := time.Now().UnixMilli()
		got := run(t, d, "a", "b")
		after := time.Now().UnixMilli()
		for _, ts := range got {
			if ts < before || ts > after {
				t.Errorf("timestamp %d not the system time at processing (%d..%d)", ts, before, after)
			}
		}
		if len(got) != 2 {
			t.Errorf("got %d records", len(got))
		}
	})
}

func TestInvalidTimestampPolicies(t *testing.T) {
	t.Parallel()
	pipe := func(t *testing.T, policy core.InvalidTimestampPolicy, ts ...int64) ([]string, []int64, error) {
		t.Helper()
		d, err := core.NewTestDriver(upperTopology(t, "in", "out"), core.WithInvalidTimestampPolicy(policy))
		must(t, err)
		defer d.Close()
		in := core.NewTestInputTopic(d, "in", serde.String(), serde.String())
		var pipeErr error
		for i, x := range ts {
			if pipeErr = in.PipeAt("k", fmt.Sprint("v", i), time.UnixMilli(x)); pipeErr != nil {
				break
			}
		}
		recs, err := core.NewTestOutputTopic(d, "out", serde.String(), serde.String()).ReadRecords()
		must(t, err)
		var vals []string
		var stamps []int64
		for _, r := range recs {
			vals = append(vals, r.Value)
			stamps = append(stamps, r.Timestamp.UnixMilli())
		}
		return vals, stamps, pipeErr
	}
	t.Run("fail", func(t *testing.T) {
		vals, _, err := pipe(t, core.FailOnInvalidTimestamp, 10, -5, 20)
		var pe *core.ProcessingError
		if !errors.As(err, &pe) || pe.Kind != "timestamp" || pe.Context.Topic != "in" || pe.Context.Partition != 0 || pe.Context.Offset != 1 {
			t.Fatalf("got %v, want a timestamp error at in[0]@1", err)
		}
		if want := "in[0]@1"; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
		if want := []string{"V0"}; !reflect.DeepEqual(vals, want) {
			t.Errorf("output %v, want %v", vals, want)
		}
	})
	t.Run("skip", func(t *testing.T) {
		vals, stamps, err := pipe(t, core.SkipOnInvalidTimestamp, 10, -5, 20)
		must(t, err)
		if !reflect.DeepEqual(vals, []string{"V0", "V2"}) || !reflect.DeepEqual(stamps, []int64{10, 20}) {
			t.Errorf("got %v %v", vals, stamps)
		}
	})
	t.Run("partition time", func(t *testing.T) {
		vals, stamps, err := pipe(t, core.UsePartitionTimeOnInvalidTimestamp, 10, 30, -5, 20)
		must(t, err)
		if !reflect.DeepEqual(vals, []string{"V0", "V1", "V2", "V3"}) || !reflect.DeepEqual(stamps, []int64{10, 30, 30, 20}) {
			t.Errorf("got %v %v", vals, stamps)
		}
	})
	t.Run("partition time unknown", func(t *testing.T) {
		_, _, err := pipe(t, core.UsePartitionTimeOnInvalidTimestamp, -5)
		var pe *core.ProcessingError
		if !errors.As(err, &pe) || pe.Kind != "timestamp" || pe.Context.Offset != 0 {
			t.Fatalf("got %v, want a timestamp error at offset 0", err)
		}
	})
	// The partition time of an invalid record is the largest timestamp of
	// the records before it in its partition (Kafka Streams passes the
	// partition time at extraction), not of records buffered after it.
	t.Run("partition time with buffered records", func(t *testing.T) {
		l := newSeenLog()
		d, err := core.NewTestDriver(mergedTopology(t, false, l), core.WithMaxTaskIdle(time.Second),
			core.WithInvalidTimestampPolicy(core.UsePartitionTimeOnInvalidTimestamp), core.WithDriverStartTime(driverStart))
		must(t, err)
		defer d.Close()
		left := core.NewTestInputTopic(d, "left", serde.String(), serde.String())
		right := core.NewTestInputTopic(d, "right", serde.String(), serde.String())
		must(t, left.PipeAt("k", "a", time.UnixMilli(100)))
		must(t, left.PipeAt("k", "bad", time.UnixMilli(-1)))
		must(t, left.PipeAt("k", "c", time.UnixMilli(200)))
		must(t, right.PipeAt("k", "r", time.UnixMilli(300)))
		must(t, d.AdvanceWallClockTime(time.Second))
		var got []string
		for _, r := range l.snapshot()[core.TaskID{}] {
			got = append(got, fmt.Sprintf("%s@%d", r.Value, r.TS))
		}
		if want := []string{"a@100", "bad@100", "c@200", "r@300"}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
}

// TestBrokerInvalidTimestampFails runs the default policy on the broker:
// Run returns an error naming the record.
func TestBrokerInvalidTimestampFails(t *testing.T) {
	t.Parallel()
	b := testbroker.New(t)
	b.CreateTopic(t, "in", 1, nil)
	b.CreateTopic(t, "out", 1, nil)
	b.Produce(t, &kgo.Record{Topic: "in", Value: []byte("ok")}, &kgo.Record{Topic: "in", Value: []byte("bad")})
	bad := func(rec *kgo.Record, _ time.Time) time.Time {
		if string(rec.Value) == "bad" {
			return time.UnixMilli(-42)
		}
		return rec.Timestamp
	}
	app, err := core.New(upperTopology(t, "in", "out"), core.WithBrokers(b.Addr()), core.WithApplicationID("badts"),
		core.WithTimestampExtractor(bad))
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = app.Run(ctx)
	var pe *core.ProcessingError
	if !errors.As(err, &pe) || pe.Kind != "timestamp" || pe.Context.Topic != "in" || pe.Context.Offset != 1 || !strings.Contains(err.Error(), "in[0]@1") {
		t.Fatalf("Run returned %v, want a timestamp error at in[0]@1", err)
	}
}
