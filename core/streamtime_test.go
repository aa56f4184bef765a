package core_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
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

// streamTimeProbe records the stream time its task has at Init and at
// each record.
type streamTimeProbe struct {
	mu   *sync.Mutex
	seen *[]time.Time
	ctx  core.ProcessorContext[string, string]
}

func (p *streamTimeProbe) Init(ctx core.ProcessorContext[string, string]) error {
	p.ctx = ctx
	p.mu.Lock()
	*p.seen = append(*p.seen, ctx.StreamTime())
	p.mu.Unlock()
	return nil
}

func (p *streamTimeProbe) Process(r core.Record[string, string]) error {
	p.mu.Lock()
	*p.seen = append(*p.seen, p.ctx.StreamTime())
	p.mu.Unlock()
	return p.ctx.Forward(r)
}

func (p *streamTimeProbe) Close() error { return nil }

// ksMeta builds Kafka Streams' TopicPartitionMetadata by hand: base64 of
// [version][partition time, long] and, for version 2, ProcessorMetadata
// ([int entries]([int key length][key][long value])*).
func ksMeta(version byte, partitionTime int64, processor map[string]int64) string {
	b := binary.BigEndian.AppendUint64([]byte{version}, uint64(partitionTime))
	if len(processor) > 0 {
		b = binary.BigEndian.AppendUint32(b, uint32(len(processor)))
		for k, v := range processor {
			b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
			b = append(b, k...)
			b = binary.BigEndian.AppendUint64(b, uint64(v))
		}
	}
	return base64.StdEncoding.EncodeToString(b)
}

// TestStreamTimeFromCommittedMetadata: a task starts with the stream time
// committed with its input offsets, in any format Kafka Streams wrote, and
// before its processors' Init; metadata of another kind is ignored. Its
// commits carry Kafka Streams' version 2 with the partition time (never
// moved back by an older record) and keep processor metadata they found.
func TestStreamTimeFromCommittedMetadata(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an application on an in-process broker")
	}
	const committedTime = int64(1_700_000_000_000)
	recordTime := committedTime - 1000 // older than the committed stream time
	for _, tc := range []struct {
		name      string
		committed string
		initTime  time.Time // stream time at Init
		after     string    // metadata committed after the record
	}{
		{"kafka streams v2 with processor metadata", ksMeta(2, committedTime, map[string]int64{"agg-store": 7}),
			time.UnixMilli(committedTime), ksMeta(2, committedTime, map[string]int64{"agg-store": 7})},
		{"kafka streams v1", ksMeta(1, committedTime, nil), time.UnixMilli(committedTime), ksMeta(2, committedTime, nil)},
		{"unknown partition time", ksMeta(2, -1, nil), time.Time{}, ksMeta(2, recordTime, nil)},
		{"franz-go member id", "sluice-StreamThread-1-0f1e2d3c", time.Time{}, ksMeta(2, recordTime, nil)},
	} {
		for _, g := range []core.ProcessingGuarantee{core.AtLeastOnce, core.ExactlyOnceV2} {
			t.Run(tc.name+"/"+string(g), func(t *testing.T) {
				t.Parallel()
				b := testbroker.New(t)
				b.CreateTopic(t, "in", 1, nil)
				b.CreateTopic(t, "out", 1, nil)
				b.Produce(t, &kgo.Record{Topic: "in", Key: []byte("k"), Value: []byte("skipped")},
					&kgo.Record{Topic: "in", Key: []byte("k"), Value: []byte("v"), Timestamp: time.UnixMilli(recordTime)})
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				adm := kadm.NewClient(b.Client(t))
				var offsets kadm.Offsets
				offsets.Add(kadm.Offset{Topic: "in", Partition: 0, At: 1, LeaderEpoch: -1, Metadata: tc.committed})
				resp, err := adm.CommitOffsets(ctx, "st", offsets)
				must(t, err)
				must(t, resp.Error())

				var mu sync.Mutex
				var seen []time.Time
				topo := core.NewTopology()
				must(t, core.AddSource(topo, "src", serde.String(), serde.String(), []string{"in"}))
				must(t, core.AddProcessor(topo, "probe", func() core.Processor[string, string, string, string] {
					return &streamTimeProbe{mu: &mu, seen: &seen}
				}, "src"))
				must(t, core.AddSink(topo, "sink", serde.String(), serde.String(), core.ToTopic[string, string]("out"), []string{"probe"}))
				app, err := core.New(topo, core.WithBrokers(b.Addr()), core.WithApplicationID("st"),
					core.WithStateDir(t.TempDir()), core.WithProcessingGuarantee(g))
				must(t, err)
				stop := runApp(t, app)
				testwait.Until(t, "the record", 30*time.Second, func() bool { return app.Stats().Consumed >= 1 })
				must(t, stop())

				mu.Lock()
				defer mu.Unlock()
				wantProcess := max(tc.initTime.UnixMilli(), recordTime)
				if len(seen) != 2 || !seen[0].Equal(tc.initTime) || seen[1].UnixMilli() != wantProcess {
					t.Errorf("stream time at Init and at the record: %v, want [%v %v]", seen, tc.initTime, time.UnixMilli(wantProcess))
				}
				fetched, err := adm.FetchOffsetsForTopics(ctx, "st", "in")
				must(t, err)
				o, ok := fetched.Lookup("in", 0)
				if !ok || o.Err != nil || o.At != 2 || o.Metadata != tc.after {
					t.Errorf("committed: %+v (found %v), want offset 2 with metadata %q", o, ok, tc.after)
				}
			})
		}
	}
}
