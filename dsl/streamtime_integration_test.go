package dsl_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde"
)

// TestStreamTimeSurvivesRestart (issue 14 §3): a windowed count with grace
// and suppression until the windows close gives the same final results
// whether it runs uninterrupted or is stopped (gracefully) between records
// and restarted on the same state directory. After the restart comes a
// record that is late relative to the stream time before it: without the
// committed partition times the restarted windows would have forgotten
// that stream time, aggregated it into a closed window and emitted that
// window's "final" result a second time.
func TestStreamTimeSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs applications on an in-process broker")
	}
	type rec struct {
		key    string
		offset int64 // ms after windowBase
	}
	// Windows of 10 s, grace 2 s: [0,10) closes at stream time 12 s.
	before := []rec{{"a", 1000}, {"a", 4000}, {"b", 5000}, {"a", 11000}, {"a", 13000}}
	after := []rec{
		{"a", 3000}, // late: stream time is 13 s, [0,10) closed at 12 s
		{"b", 12500},
		{"a", 25000}, // closes [10,20)
	}
	size, grace := 10*time.Second, 2*time.Second
	for _, g := range []core.ProcessingGuarantee{core.AtLeastOnce, core.ExactlyOnceV2} {
		t.Run(string(g), func(t *testing.T) {
			t.Parallel()
			b := testbroker.New(t)
			run := func(app string, phases ...[]rec) []wrow {
				in, out := app+"-in", app+"-out"
				b.CreateTopic(t, in, 1, nil)
				b.CreateTopic(t, out, 1, nil)
				bld := dsl.NewBuilder()
				// A retention far beyond size + grace: the late record must
				// be refused by the grace check, not by an expired store
				// segment.
				dsl.WindowedBy(dsl.Stream(bld, in, dsl.ConsumedWith(serde.String(), serde.Int64())).GroupByKey(),
					dsl.TumblingWindows(size, grace)).
					Count(dsl.Materialized[string, int64]{Retention: time.Hour}).
					Suppress(dsl.UntilWindowCloses(dsl.UnboundedBuffer())).ToStream().To(out)
				topo, err := bld.Build()
				if err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				for _, phase := range phases {
					for _, r := range phase {
						b.Produce(t, &kgo.Record{Topic: in, Key: []byte(r.key), Value: int64Bytes(1), Timestamp: time.UnixMilli(windowBase + r.offset)})
					}
					runUntil(t, topo, int64(len(phase)), core.WithBrokers(b.Addr()), core.WithApplicationID(app),
						core.WithStateDir(dir), core.WithProcessingGuarantee(g))
				}
				return windowedRows(t, b.ReadAll(t, out), size)
			}

			once := run("once", append(append([]rec(nil), before...), after...))
			want := []wrow{
				{"a", 0, 10000, int64(2), 4000}, {"b", 0, 10000, int64(1), 5000},
				{"a", 10000, 20000, int64(2), 13000}, {"b", 10000, 20000, int64(1), 12500},
			}
			if !reflect.DeepEqual(once, want) {
				t.Fatalf("uninterrupted run\n got %v\nwant %v", once, want)
			}
			restarted := run("restarted", before, after)
			if !reflect.DeepEqual(restarted, once) {
				t.Fatalf("run restarted between records\n got %v\nwant %v (the uninterrupted run's)", restarted, once)
			}

			// The committed metadata is Kafka Streams' TopicPartitionMetadata:
			// base64 of version 2 and the partition time (the largest
			// timestamp read), no processor metadata.
			raw := binary.BigEndian.AppendUint64([]byte{2}, uint64(windowBase+25000))
			wantMeta := base64.StdEncoding.EncodeToString(raw)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			offsets, err := kadm.NewClient(b.Client(t)).FetchOffsetsForTopics(ctx, "restarted", "restarted-in")
			if err != nil {
				t.Fatal(err)
			}
			o, ok := offsets.Lookup("restarted-in", 0)
			if !ok || o.Err != nil || o.At != int64(len(before)+len(after)) || o.Metadata != wantMeta {
				t.Errorf("committed offset of restarted-in[0]: %+v (found %v), want offset %d with metadata %q",
					o, ok, len(before)+len(after), wantMeta)
			}
		})
	}
}
