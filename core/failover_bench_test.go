package core

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
)

// BenchmarkFailover measures the time from a crash of the instance
// running a task with a large store to the first committed output of that
// task on the other instance, with 0 and 1 standby replicas: two
// exactly-once instances of the counting application (static members,
// 6 s session timeout, which the failover includes), the changelog
// seeded with SLUICE_FAILOVER_KEYS keys (default 1,000,000) over two
// partitions. Run one iteration each:
//
//	go test -run '^$' -bench BenchmarkFailover -benchtime 1x ./core/
func BenchmarkFailover(b *testing.B) {
	keys := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("SLUICE_FAILOVER_KEYS")); err == nil && v > 0 {
		keys = v
	}
	for _, standbys := range []int{0, 1} {
		b.Run(fmt.Sprintf("standbys=%d", standbys), func(b *testing.B) {
			for range b.N {
				failoverOnce(b, keys, standbys)
			}
		})
	}
}

func failoverOnce(b *testing.B, keys, standbys int) {
	b.StopTimer()
	const partitions = 2
	br := testbroker.New(b)
	br.CreateTopic(b, "in", partitions, nil)
	br.CreateTopic(b, "out", partitions, nil)
	changelog := ChangelogTopic("sby", "counts")
	br.CreateTopic(b, changelog, partitions, nil)
	cl := br.Client(b, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	flush := func() {
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		recs = recs[:0]
	}
	for i := range keys {
		recs = append(recs, &kgo.Record{Topic: changelog, Partition: int32(i % partitions), Key: fmt.Appendf(nil, "key-%08d", i), Value: []byte("1")})
		if len(recs) == 10_000 {
			flush()
		}
	}
	flush()
	// The victim starts first and restores both tasks; the survivor joins
	// later and so has local state only of its own task (and of the
	// victim's as a standby, with standbys=1).
	ins := []*standbyInstance{startStandbyInstance(b, br, 0, WithNumStandbyReplicas(standbys))}
	testwait.Until(b, "the first instance running", 5*time.Minute, func() bool { return ins[0].app.State() == StateRunning })
	ins = append(ins, startStandbyInstance(b, br, 1, WithNumStandbyReplicas(standbys)))
	const victim = 0
	var task TaskID
	testwait.Until(b, "both instances running with a task each, standbys caught up", 5*time.Minute, func() bool {
		info := ins[0].app.balancer.latest.Load()
		if info == nil || len(info.hosts) != 2 || ins[0].app.State() != StateRunning || ins[1].app.State() != StateRunning {
			return false
		}
		found := false
		for p := range int32(partitions) {
			id := TaskID{Subtopology: 0, Partition: p}
			a, s := taskHolders(ins, info, id)
			if a < 0 || len(s) != standbys {
				return false
			}
			if a == victim {
				task, found = id, true
			}
		}
		if !found {
			return false
		}
		if standbys == 0 {
			return true
		}
		pos, _, ok := ins[1].standbyState(task, "")
		return ok && pos >= int64(keys/partitions)
	})
	survivor := ins[1-victim]
	survivor.restores.mu.Lock()
	before := survivor.restores.restored[task.Partition]
	survivor.restores.mu.Unlock()
	out := br.Client(b, kgo.ConsumeTopics("out"), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	// When the survivor is assigned the victim's task: the failover minus
	// the failure detection (session timeout).
	rebalances := survivor.app.stats.rebalances.Load()
	assignedAt := make(chan time.Time, 1)
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go func() {
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if survivor.app.stats.rebalances.Load() > rebalances {
				assignedAt <- time.Now()
				return
			}
		}
	}()
	b.StartTimer()
	start := time.Now()
	ins[victim].app.simulateCrash.Store(true)
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "in", Partition: task.Partition, Key: []byte("probe"), Value: []byte("x")}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	for found := false; !found; {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		fs := out.PollFetches(ctx)
		cancel()
		if err := fs.Err0(); err != nil {
			b.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { found = found || string(r.Key) == "probe" })
	}
	elapsed := time.Since(start)
	b.StopTimer()
	rec := survivor.restores
	rec.mu.Lock()
	restored := rec.restored[task.Partition] - before
	rec.mu.Unlock()
	var sinceAssigned time.Duration
	select {
	case at := <-assignedAt:
		sinceAssigned = start.Add(elapsed).Sub(at)
	default:
	}
	b.ReportMetric(elapsed.Seconds(), "failover-s")
	b.ReportMetric(sinceAssigned.Seconds(), "after-assignment-s")
	b.ReportMetric(float64(restored), "restored-records")
	b.ReportMetric(0, "ns/op")
	b.Logf("keys=%d standbys=%d: failover %v (%v after the survivor's assignment), %d records restored for task %s on the survivor",
		keys, standbys, elapsed.Round(time.Millisecond), sinceAssigned.Round(time.Millisecond), restored, task)
}
