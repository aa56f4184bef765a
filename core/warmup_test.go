package core

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
)

// TestWarmupReplicas (KIP-441): an instance joining a group whose only
// member holds all the state does not take stateful tasks cold. The
// balancer's choice for it gets a warm-up replica instead (a standby task,
// at most max.warmup.replicas at once) while the caught-up instance keeps
// the task; the probing rebalance after probing.rebalance.interval then
// moves the task, and the new instance restores only a tail. The output
// stays exactly-once throughout.
func TestWarmupReplicas(t *testing.T) {
	const (
		partitions = 4
		keys       = 200
		perKey     = 20
	)
	b := testbroker.New(t)
	b.CreateTopic(t, "in", partitions, nil)
	b.CreateTopic(t, "out", partitions, nil)
	opts := []Option{WithAcceptableRecoveryLag(10), WithMaxWarmupReplicas(2), WithProbingRebalanceInterval(3 * time.Second)}
	ins := []*standbyInstance{startStandbyInstance(t, b, 0, opts...)}
	tasks := make([]TaskID, partitions)
	for p := range tasks {
		tasks[p] = TaskID{Subtopology: 0, Partition: int32(p)}
	}
	total := map[string]int{}
	produce := func(rounds int) {
		t.Helper()
		var recs []*kgo.Record
		for r := range rounds {
			for k := range keys {
				key := fmt.Sprintf("key-%03d", k)
				total[key]++
				recs = append(recs, &kgo.Record{Topic: "in", Key: []byte(key), Value: []byte(strconv.Itoa(r))})
			}
		}
		b.Produce(t, recs...)
	}
	want := func() int {
		n := 0
		for _, c := range total {
			n += c
		}
		return n
	}
	outputs := func() int { return len(b.ReadAll(t, "out")) }
	produce(perKey)
	testwait.Until(t, "every input counted by the first instance", time.Minute, func() bool { return outputs() == want() })

	ins = append(ins, startStandbyInstance(t, b, 1, opts...))
	// First the new instance holds warm-ups only: the first instance keeps
	// every task, since the new one's state is not caught up.
	sawWarmups := false
	testwait.Until(t, "a task map with warm-up replicas on the new instance", time.Minute, func() bool {
		info := ins[0].app.balancer.latest.Load()
		if info == nil || len(info.hosts) != 2 {
			return false
		}
		warm := 0
		for _, id := range tasks {
			a, s := taskHolders(ins, info, id)
			if a == 1 {
				t.Fatalf("task %s went to the new instance before it warmed up", id)
			}
			if len(s) == 1 && s[0] == 1 {
				warm++
			}
		}
		if warm > 2 {
			t.Fatalf("%d warm-up replicas, want at most max.warmup.replicas = 2", warm)
		}
		sawWarmups = warm > 0
		return sawWarmups
	})
	// Then the probing rebalance moves warmed-up tasks to it.
	var moved []TaskID
	testwait.Until(t, "tasks moved to the new instance after a probing rebalance", time.Minute, func() bool {
		info := ins[0].app.balancer.latest.Load()
		moved = moved[:0]
		for _, id := range tasks {
			if a, _ := taskHolders(ins, info, id); a == 1 {
				moved = append(moved, id)
			}
		}
		return len(moved) > 0
	})
	produce(perKey / 2)
	testwait.Until(t, "every input counted after the move", time.Minute, func() bool { return outputs() == want() })
	rec := ins[1].restores
	rec.mu.Lock()
	for _, id := range moved {
		rng, restored := rec.ranges[id.Partition], rec.restored[id.Partition]
		t.Logf("task %s moved to the new instance: restored offsets [%d, %d), %d records", id, rng[0], rng[1], restored)
		// The changelog holds about keys*perKey/partitions records per task;
		// a cold start would restore all of them.
		if limit := int64(keys * perKey / partitions / 10); restored > limit {
			t.Errorf("task %s restored %d records on the warmed-up instance, want a tail below %d", id, restored, limit)
		}
	}
	rec.mu.Unlock()

	// Exactly once: per key, the counts are 1..n in order.
	seen := map[string][]string{}
	for _, r := range b.ReadAll(t, "out") {
		seen[string(r.Key)] = append(seen[string(r.Key)], string(r.Value))
	}
	for key, n := range total {
		got := seen[key]
		ok := len(got) == n
		for i := 0; ok && i < n; i++ {
			ok = got[i] == strconv.Itoa(i+1)
		}
		if !ok {
			t.Errorf("key %s: counts %v, want 1..%d", key, got, n)
		}
	}
}
