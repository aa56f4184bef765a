// Package testbroker starts an in-process Kafka-protocol broker per test:
// the embedded broker of internal/broker (franz-go's kfake) on a random
// loopback port, closed when the test ends, so any package can run real
// integration tests with plain `go test`. Helpers create topics, produce,
// read topics back, and (NewElecting, MoveLeaders) test leader elections.
//
// Its defaults differ from `sluice broker`'s (internal/broker) for tests:
//
//   - compaction and retention run every 200 ms (not 30 s);
//   - KIP-848 groups heartbeat every 100 ms (not 500 ms), and the group
//     minimum session timeout is 100 ms, so groups converge fast;
//   - time-based retention is off (log.retention.ms=-1): tests use fixed,
//     often old, timestamps, which retention would delete as soon as the
//     cleaner runs;
//   - state is kept in memory only.
//
// Topics are auto-created with 4 partitions unless created explicitly, as
// with `sluice broker`.
package testbroker

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluicehq/sluice/internal/broker"
)

// Broker is one in-process cluster, closed when the test ends.
type Broker struct {
	cluster *kfake.Cluster
	addrs   []string
}

// New starts a single-node cluster for t with the package's test
// defaults. extra options are appended to the kfake options (later ones
// win); see broker.Config.KfakeOptions for what they may not be.
func New(t testing.TB, extra ...kfake.Opt) *Broker {
	t.Helper()
	return start(t, 1, extra)
}

func start(t testing.TB, brokers int, extra []kfake.Opt) *Broker {
	t.Helper()
	b, err := broker.Start(broker.Config{
		Listen:          "127.0.0.1:0",
		Brokers:         brokers,
		CleanerInterval: 200 * time.Millisecond,
		BrokerConfigs: map[string]string{
			"group.consumer.heartbeat.interval.ms": "100",
			"log.retention.ms":                     "-1",
		},
		KfakeOptions: append([]kfake.Opt{kfake.GroupMinSessionTimeout(100 * time.Millisecond)}, extra...),
	})
	if err != nil {
		t.Fatalf("testbroker: %v", err)
	}
	t.Cleanup(b.Close)
	return &Broker{cluster: b.Cluster(), addrs: b.Addrs()}
}

// Addr is the first broker's host:port.
func (b *Broker) Addr() string { return b.addrs[0] }

// Addrs are all seed brokers.
func (b *Broker) Addrs() []string { return append([]string(nil), b.addrs...) }

// Cluster exposes the kfake cluster for fault injection and compaction.
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

// Client returns a kgo client seeded with the broker, closed at test end.
func (b *Broker) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addrs...)}, opts...)...)
	if err != nil {
		t.Fatalf("testbroker: new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// CreateTopic creates topic with the given partitions and configs (may be nil).
func (b *Broker) CreateTopic(t testing.TB, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(b.Client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("testbroker: create topic %q: %v", topic, err)
	}
}

// Produce writes records synchronously, failing the test on any error.
func (b *Broker) Produce(t testing.TB, recs ...*kgo.Record) {
	t.Helper()
	cl := b.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("testbroker: produce: %v", err)
	}
}

// ReadAll reads topic from the start up to its end offsets as of the call
// (last stable offsets: only committed transactional data) and returns the
// records ordered by partition, then offset. Transaction markers are skipped.
func (b *Broker) ReadAll(t testing.TB, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(b.Client(t))
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("testbroker: list end offsets of %q: %v", topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("testbroker: end offset of %s[%d]: %v", o.Topic, o.Partition, o.Err)
		}
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	if len(want) == 0 {
		return out
	}
	// Control records are kept so that a partition ending in a
	// transaction marker is seen to be complete.
	cl := b.Client(t, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords())
	done := func() bool {
		for _, end := range want {
			if end > 0 {
				return false
			}
		}
		return true
	}
	// Control records (transaction markers) come through, so positions
	// reach the end offsets. Stop then, or as a last resort when the broker
	// has had nothing to give for 5 s: a loaded machine (CI, -race) can
	// take more than a second for a new consumer's first fetch, and
	// stopping early would return too few records.
	pos := map[int32]int64{}
	idle := 0
	for !done() && idle < 25 {
		pollCtx, pollCancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := cl.PollFetches(pollCtx)
		pollCancel()
		if ctx.Err() != nil {
			t.Fatalf("testbroker: read %q: timed out with positions %v, want %v", topic, pos, want)
		}
		n := 0
		fs.EachError(func(_ string, p int32, err error) {
			if err != context.DeadlineExceeded {
				t.Fatalf("testbroker: read %q[%d]: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			n++
			pos[r.Partition] = r.Offset + 1
			if end, ok := want[r.Partition]; ok && r.Offset < end && !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
		for p, end := range want {
			if end > 0 && pos[p] >= end {
				want[p] = 0
			}
		}
		if n == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out
}

// NewElecting starts a three-broker cluster for tests of leader elections
// (see MoveLeaders). kfake answers OffsetForLeaderEpoch wrongly after
// elections (the end of an old epoch as the log start), which clients
// read as log truncation and rewind to offset 0; the cluster serves
// Metadata v6 (before KIP-320's leader epochs) so clients do not validate
// against it. The check only matters after an unclean election.
func NewElecting(t testing.TB) *Broker {
	t.Helper()
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(int16(kmsg.Metadata), 6)
	return start(t, 3, []kfake.Opt{kfake.MaxVersions(versions)})
}

// MoveLeaders elects a new leader for every partition every interval, and
// moves the group and transaction coordinators once (at the tenth
// election), until stop is called.
func (b *Broker) MoveLeaders(every time.Duration) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			b.cluster.ShufflePartitionLeaders()
			if i == 10 {
				b.cluster.RehashCoordinators()
			}
		}
	}()
	return func() { close(quit); <-done }
}
