package core

import (
	"testing"
	"time"

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
	inputs := newCountInputs(b, keys)
	inputs.produce(t, perKey)
	testwait.Until(t, "every input counted by the first instance", time.Minute, func() bool { return inputs.counted(t) })

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
	inputs.produce(t, perKey/2)
	testwait.Until(t, "every input counted after the move", time.Minute, func() bool { return inputs.counted(t) })
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
	inputs.checkOnce(t)
}
