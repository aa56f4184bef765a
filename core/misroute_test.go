package core_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/kpart"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/serde"
)

// syncBuffer is a log sink shared by the stream threads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMisroutedRecordsOfJoinedTopic: records of a co-partitioned (joined)
// topic on a partition their key does not hash to under Kafka's default
// partitioner are counted in misrouted_records_total, per partition, and
// logged once per topic; records in the right partition, null keys and a
// topic outside any co-partition group are not.
func TestMisroutedRecordsOfJoinedTopic(t *testing.T) {
	const partitions = 4
	b := testbroker.New(t)
	for _, topic := range []string{"mr-left", "mr-right", "mr-alone"} {
		b.CreateTopic(t, topic, partitions, nil)
	}
	topo := core.NewTopology()
	pass := core.ProcessorFunc[string, string, string, string](func(ctx core.ProcessorContext[string, string], r core.Record[string, string]) error {
		return ctx.Forward(r)
	}).Supplier()
	for _, topic := range []string{"mr-left", "mr-right", "mr-alone"} {
		must(t, core.AddSource(topo, "src-"+topic, serde.String(), serde.String(), []string{topic}))
		must(t, core.AddProcessor(topo, "proc-"+topic, pass, "src-"+topic))
	}
	// A store shared by the processors of mr-left and mr-right makes the
	// two topics a co-partition group, as a join does.
	must(t, topo.AddStateStore(core.StoreSpec{Name: "joined", Kind: core.KeyValueStoreKind, DisableLogging: true}, "proc-mr-left", "proc-mr-right"))

	right := func(key string) int32 { return int32(kpart.ForKey([]byte(key), partitions)) }
	wrong := func(key string) int32 { return (right(key) + 1) % partitions }
	recs := []*kgo.Record{
		{Topic: "mr-left", Key: []byte("good"), Partition: right("good")},
		{Topic: "mr-left", Key: []byte("bad"), Partition: wrong("bad")},
		{Topic: "mr-left", Key: []byte("bad"), Partition: wrong("bad")},
		{Topic: "mr-left", Key: nil, Partition: wrong("bad")},
		{Topic: "mr-right", Key: []byte("good"), Partition: right("good")},
		{Topic: "mr-right", Key: []byte("worse"), Partition: wrong("worse")},
		{Topic: "mr-alone", Key: []byte("bad"), Partition: wrong("bad")},
	}
	for _, r := range recs {
		r.Value = []byte("v")
	}
	cl := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(t, cl.ProduceSync(ctx, recs...).FirstErr())

	m := newRecordingMetrics()
	logs := &syncBuffer{}
	app, err := core.New(topo, core.WithBrokers(b.Addr()), core.WithApplicationID("misroute"), core.WithMetrics(m), core.WithStateDir(t.TempDir()),
		core.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		core.WithCommitInterval(50*time.Millisecond))
	must(t, err)
	stop := runApp(t, app)
	testwait.Until(t, "every record processed", 30*time.Second, func() bool { return app.Stats().Consumed == int64(len(recs)) })
	must(t, stop())

	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[string]int64{
		fmt.Sprintf("misrouted_records_total,topic=mr-left,partition=%d", wrong("bad")):    2,
		fmt.Sprintf("misrouted_records_total,topic=mr-right,partition=%d", wrong("worse")): 1,
	}
	got := map[string]int64{}
	for k, v := range m.counters {
		if strings.HasPrefix(k, "misrouted_records_total") {
			got[k] = v
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("misrouted counters = %v, want %v", got, want)
	}
	out := logs.String()
	for _, topic := range []string{"mr-left", "mr-right"} {
		if n := strings.Count(out, "topic="+topic+" "); n != 1 {
			t.Errorf("warnings about %s: %d, want 1; log:\n%s", topic, n, out)
		}
	}
	if strings.Contains(out, "topic=mr-alone") {
		t.Errorf("warning about mr-alone, which is in no co-partition group; log:\n%s", out)
	}
	if !strings.Contains(out, "murmur2") {
		t.Errorf("the warning does not name the partitioner to use; log:\n%s", out)
	}
}
