package core

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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
	keys := failoverKeys()
	for _, standbys := range []int{0, 1} {
		b.Run(fmt.Sprintf("standbys=%d", standbys), func(b *testing.B) {
			for range b.N {
				failoverOnce(b, keys, standbys)
			}
		})
	}
}

// failoverKeys is SLUICE_FAILOVER_KEYS, by default 1,000,000.
func failoverKeys() int {
	if v, err := strconv.Atoi(os.Getenv("SLUICE_FAILOVER_KEYS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

// failoverProbing is the probing rebalance interval of the failover
// benchmarks' instances: short, so that the second instance gets its task
// soon after its warm-up replica caught up, but not shorter than a
// warm-up of 500,000 records takes. A probing rebalance before that keeps
// the task where it is (the warm-up is behind), and with 1 s every probe
// found it behind again: the revocation that each probe starts hands the
// task's standby back to the caught-up instance, and the warm-up starts
// over.
const failoverProbing = 10 * time.Second

// failoverPartitions is the partition count of the failover benchmarks'
// topics: one task per instance.
const failoverPartitions = 2

// failoverBroker starts a broker with the counting application's topics,
// its changelog seeded with keys keys (one record each) spread over the
// partitions, and returns it with a client that produces to explicit
// partitions.
func failoverBroker(b *testing.B, keys int) (*testbroker.Broker, *kgo.Client) {
	br := testbroker.New(b)
	br.CreateTopic(b, "in", failoverPartitions, nil)
	br.CreateTopic(b, "out", failoverPartitions, nil)
	changelog := ChangelogTopic("sby", "counts")
	br.CreateTopic(b, changelog, failoverPartitions, nil)
	cl := br.Client(b, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	flush := func() {
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		recs = recs[:0]
	}
	for i := range keys {
		recs = append(recs, &kgo.Record{Topic: changelog, Partition: int32(i % failoverPartitions), Key: fmt.Appendf(nil, "key-%08d", i), Value: []byte("1")})
		if len(recs) == 10_000 {
			flush()
		}
	}
	flush()
	return br, cl
}

// awaitProbe produces one record to the task's input partition and
// returns when out (a read_committed consumer of "out") has its output.
func awaitProbe(b *testing.B, cl, out *kgo.Client, task TaskID) {
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
}

func failoverOnce(b *testing.B, keys, standbys int) {
	b.StopTimer()
	const partitions = failoverPartitions
	br, cl := failoverBroker(b, keys)
	// The victim starts first and restores both tasks; the survivor joins
	// later and so has local state only of its own task (and of the
	// victim's as a standby, with standbys=1). Its task reaches it through a
	// warm-up replica and a probing rebalance (KIP-441): the victim's state
	// of it is caught up, the survivor's is not.
	opts := []Option{WithNumStandbyReplicas(standbys), WithProbingRebalanceInterval(failoverProbing)}
	ins := []*standbyInstance{startStandbyInstance(b, br, 0, opts...)}
	testwait.Until(b, "the first instance running", 5*time.Minute, func() bool { return ins[0].app.State() == StateRunning })
	ins = append(ins, startStandbyInstance(b, br, 1, opts...))
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
	awaitProbe(b, cl, out, task)
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

// BenchmarkFailoverSigkill is BenchmarkFailover with real processes and a
// real crash: both instances are child processes (TestSigkillHelper, each
// with its own state directory), and the victim is killed with SIGKILL.
// The clock runs from the kill to the probe's committed output; "after
// assignment" from the survivor's first rebalance after the kill (as its
// child saw it, polling every 10 ms). Run one iteration each:
//
//	go test -run '^$' -bench BenchmarkFailoverSigkill -benchtime 1x ./core/
func BenchmarkFailoverSigkill(b *testing.B) {
	keys := failoverKeys()
	for _, standbys := range []int{0, 1} {
		b.Run(fmt.Sprintf("standbys=%d", standbys), func(b *testing.B) {
			for range b.N {
				failoverSigkillOnce(b, keys, standbys)
			}
		})
	}
}

func failoverSigkillOnce(b *testing.B, keys, standbys int) {
	b.StopTimer()
	br, cl := failoverBroker(b, keys)
	// As in failoverOnce: the victim starts first and restores both
	// tasks; the survivor joins later.
	const victim, survivor = 0, 1
	g := sigkillGroup{startSigkillChild(b, br, sigkillConfig{instance: victim, standbys: standbys, probing: failoverProbing})}
	g.waitUntil(b, "the first instance running", 5*time.Minute, func() bool { return g[victim].snapshot().state == StateRunning })
	g = append(g, startSigkillChild(b, br, sigkillConfig{instance: survivor, standbys: standbys, probing: failoverProbing}))
	var task TaskID
	g.waitUntil(b, "both instances running with a task each, standbys caught up", 5*time.Minute, func() bool {
		for _, c := range g {
			if c.snapshot().state != StateRunning {
				return false
			}
		}
		_, active, standbyHolders, ok := g.taskMap()
		if !ok {
			return false
		}
		held := map[int]TaskID{}
		for p := range int32(failoverPartitions) {
			id := TaskID{Subtopology: 0, Partition: p}
			a, found := active[id]
			if !found || len(standbyHolders[id]) != standbys {
				return false
			}
			held[a] = id
		}
		if len(held) != 2 {
			return false
		}
		task = held[victim]
		if standbys == 0 {
			return true
		}
		pos, ok := g[survivor].snapshot().positions[task]
		return ok && pos >= int64(keys/failoverPartitions)
	})
	// Kill when the victim has no transaction open: the failover of an
	// idle instance. A transaction open at the kill holds the last stable
	// offset of the victim's output partitions until the broker aborts it
	// at the transaction timeout (10 s), standby or not, so a busy
	// victim's failover measures that timeout (TestSigkillStandbyFailover
	// kills one mid-transaction). The victim is idle here and ends a
	// transaction within a commit interval.
	adm := kadm.NewClient(cl)
	txnID := fmt.Sprintf("sby-sby-%d-1", victim) // the application id, its instance id, the thread
	g.waitUntil(b, "no transaction of the victim open", time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		txns, err := adm.DescribeTransactions(ctx, txnID)
		if err != nil {
			b.Fatal(err)
		}
		d, ok := txns[txnID]
		return ok && d.Err == nil && d.State != "Ongoing"
	})
	before := g[survivor].snapshot()
	out := br.Client(b, kgo.ConsumeTopics("out"), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	b.StartTimer()
	start := time.Now()
	g[victim].kill(b)
	awaitProbe(b, cl, out, task)
	elapsed := time.Since(start)
	b.StopTimer()
	after := g[survivor].snapshot()
	var restored int64
	var timeline []string // the survivor's events, from the kill
	for _, at := range after.rebalanceAt[len(before.rebalanceAt):] {
		timeline = append(timeline, fmt.Sprintf("rebalance +%v", at.Sub(start).Round(time.Millisecond)))
	}
	for _, r := range after.restores[len(before.restores):] {
		if r.task == task {
			restored += r.restored
			timeline = append(timeline, fmt.Sprintf("restore [%d, %d) +%v..+%v", r.start, r.end,
				r.at.Sub(start).Round(time.Millisecond), r.endedAt.Sub(start).Round(time.Millisecond)))
		}
	}
	var sinceAssigned time.Duration
	if len(after.rebalanceAt) > len(before.rebalanceAt) {
		sinceAssigned = start.Add(elapsed).Sub(after.rebalanceAt[len(before.rebalanceAt)])
	}
	b.Logf("survivor after the kill: %s", strings.Join(timeline, ", "))
	b.ReportMetric(elapsed.Seconds(), "failover-s")
	b.ReportMetric(sinceAssigned.Seconds(), "after-assignment-s")
	b.ReportMetric(float64(restored), "restored-records")
	b.ReportMetric(0, "ns/op")
	b.Logf("keys=%d standbys=%d: failover after SIGKILL %v (%v after the survivor's rebalance), %d records restored for task %s on the survivor",
		keys, standbys, elapsed.Round(time.Millisecond), sinceAssigned.Round(time.Millisecond), restored, task)
}
