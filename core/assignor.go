package core

import (
	"slices"
	"sort"
	"time"
)

// activeOffsetSum is the offset sum a member reports for a task it runs as
// active (Kafka Streams' Task.LATEST_OFFSET): its state is the latest.
const activeOffsetSum = -2

// placeStateful adjusts the sticky balancer's plan (member -> virtual
// topic -> task partitions) for state, as Kafka Streams'
// HighAvailabilityTaskAssignor does in its essentials (KIP-441):
//
//   - a stateful task that needs a new owner (no member owned it before
//     this rebalance: its instance died or left, or the group is new) goes
//     to an instance whose local copy of the task's state is caught up
//     (lag within acceptable.recovery.lag), when the balancer chose one that
//     is not and a caught-up one exists: the most caught-up, then the least
//     loaded member of it. Tasks that keep their owner never move here, so
//     the cooperative protocol's revoke-then-assign is untouched;
//   - each stateful task gets num.standby.replicas standby tasks on
//     instances other than its active's (never the same process), the
//     most caught-up instances first, then those with the fewest standbys.
//
// Lags come from the task offset sums each member reports in its
// subscription (sums of local changelog checkpoints; activeOffsetSum for
// a running active task) against the changelogs' end offsets, which the
// leader lists. It fills hosts' standby lists and returns the adjusted
// plan. The instance the balancer chose for a task kept elsewhere gets a
// warm-up replica of it (a standby task; at most max.warmup.replicas at
// once), and the leader forces a probing rebalance after
// probing.rebalance.interval: by then the warm-up has caught up, the
// balancer's choice stands, and the task moves with only the tail to
// restore (Kafka Streams' warm-up replicas and probing rebalances).
func (mb *taskMemberBalancer) placeStateful(vplan map[string]map[string][]int32, vtopics map[string]int32, hosts map[processID]*hostAssignment) map[string]map[string][]int32 {
	b := mb.b
	if len(b.changelogs) == 0 {
		return vplan
	}
	plan := make(map[string]map[string][]int32, len(vplan))
	for m, vts := range vplan {
		c := make(map[string][]int32, len(vts))
		for vt, ps := range vts {
			c[vt] = slices.Clone(ps)
		}
		plan[m] = c
	}
	procOf := map[string]processID{} // member id -> instance
	membersOf := map[processID][]string{}
	for i := range mb.members {
		si := mb.subs[i]
		if si == nil {
			continue
		}
		id := mb.members[i].MemberID
		procOf[id] = si.process
		membersOf[si.process] = append(membersOf[si.process], id)
	}
	if len(membersOf) == 0 {
		return plan
	}
	procs := make([]processID, 0, len(membersOf))
	for p, ms := range membersOf {
		procs = append(procs, p)
		sort.Strings(ms)
	}
	sort.Slice(procs, func(i, j int) bool { return string(procs[i][:]) < string(procs[j][:]) })

	var tasks []TaskID
	for sub := range b.changelogs {
		for p := range vtopics[b.names[sub]] {
			tasks = append(tasks, TaskID{Subtopology: sub, Partition: p})
		}
	}
	sortTasks(tasks)
	activeMember := map[TaskID]string{}
	load := map[string]int{} // member id -> active tasks, all sub-topologies
	for m, vts := range plan {
		for vt, ps := range vts {
			load[m] += len(ps)
			sub := b.virtual[vt]
			if _, stateful := b.changelogs[sub]; !stateful {
				continue
			}
			for _, p := range ps {
				activeMember[TaskID{Subtopology: sub, Partition: p}] = m
			}
		}
	}
	lags := mb.taskLags(tasks, procs)
	caughtUp := func(id TaskID, p processID) bool { return lags[id][p] <= b.acceptableLag }

	// Actives that need a new owner. A task kept from the balancer's
	// choice (an instance without caught-up state) gets a warm-up replica
	// there (KIP-441), so that a probing rebalance can move it later.
	var warmups []warmup
	for _, id := range tasks {
		m, assigned := activeMember[id]
		if !assigned || mb.owned[id] {
			continue
		}
		if p, known := procOf[m]; !known || caughtUp(id, p) {
			continue
		}
		best := ""
		var bestLag int64
		for _, p := range procs {
			if !caughtUp(id, p) {
				continue
			}
			for _, cand := range membersOf[p] {
				l := lags[id][p]
				if best == "" || l < bestLag || (l == bestLag && load[cand] < load[best]) {
					best, bestLag = cand, l
				}
			}
		}
		if best == "" {
			continue
		}
		warmups = append(warmups, warmup{id, procOf[m]})
		vt := b.names[id.Subtopology]
		plan[m][vt] = slices.DeleteFunc(plan[m][vt], func(p int32) bool { return p == id.Partition })
		if len(plan[m][vt]) == 0 {
			delete(plan[m], vt)
		}
		if plan[best] == nil {
			plan[best] = map[string][]int32{}
		}
		plan[best][vt] = append(plan[best][vt], id.Partition)
		load[m]--
		load[best]++
		activeMember[id] = best
		b.log.Info("sluice: task placed on an instance with caught-up state", "task", id, "lag", bestLag)
	}

	if b.standbys == 0 {
		b.placeWarmups(warmups, hosts)
		return plan
	}
	standbyLoad := map[processID]int{}
	short := 0
	for _, id := range tasks {
		var activeProc *processID
		if m, ok := activeMember[id]; ok {
			if p, known := procOf[m]; known {
				activeProc = &p
			}
		}
		cands := make([]processID, 0, len(procs))
		for _, p := range procs {
			if activeProc == nil || p != *activeProc {
				cands = append(cands, p)
			}
		}
		rank := func(p processID) int64 {
			if caughtUp(id, p) {
				return 0
			}
			return lags[id][p]
		}
		sort.SliceStable(cands, func(i, j int) bool {
			ri, rj := rank(cands[i]), rank(cands[j])
			if ri != rj {
				return ri < rj
			}
			return standbyLoad[cands[i]] < standbyLoad[cands[j]]
		})
		n := min(b.standbys, len(cands))
		short += b.standbys - n
		for _, p := range cands[:n] {
			if h := hosts[p]; h != nil {
				h.standby = append(h.standby, id)
				standbyLoad[p]++
			}
		}
	}
	if short > 0 {
		b.log.Warn("sluice: not enough instances for the standby replicas; add instances to keep num.standby.replicas",
			"num_standby_replicas", b.standbys, "instances", len(procs), "missing_standbys", short)
	}
	b.placeWarmups(warmups, hosts)
	return plan
}

// warmup is a warm-up replica to place: task id on instance proc.
type warmup struct {
	id   TaskID
	proc processID
}

// placeWarmups adds warm-up replicas after the standbys: up to
// max.warmup.replicas, on instances that do not hold the task as standby
// already (there the standby warms the task up). With any task kept from
// the balancer's choice, this instance (the leader) forces a probing
// rebalance after the interval, as Kafka Streams does whenever task
// movements are pending: also when the chosen instance's standby is the
// warm-up, or when no warm-up slot was left, or the task would stay on the
// caught-up instance for good (seen with one standby replica: an instance
// joining a running one got every task as a standby and none as active).
func (b *taskBalancer) placeWarmups(warmups []warmup, hosts map[processID]*hostAssignment) {
	n := 0
	for _, w := range warmups {
		h := hosts[w.proc]
		if n == b.maxWarmups || h == nil || slices.Contains(h.standby, w.id) {
			continue
		}
		h.standby = append(h.standby, w.id)
		n++
		b.log.Info("sluice: warm-up replica assigned; the task moves there once its state caught up", "task", w.id)
	}
	if len(warmups) > 0 {
		b.probeAt.Store(time.Now().Add(b.probingInterval).UnixNano())
	} else {
		b.probeAt.Store(0)
	}
}

// taskLags returns, for every stateful task, each instance's lag: how many
// changelog records (summed over the task's changelog partitions) its local
// state is behind, activeOffsetSum for an instance running the task as
// active, the whole changelog for one without local state. When the end
// offsets cannot be listed, the most advanced reported copy stands in for
// the end.
func (mb *taskMemberBalancer) taskLags(tasks []TaskID, procs []processID) map[TaskID]map[processID]int64 {
	b := mb.b
	sums := map[processID]map[TaskID]int64{}
	for _, si := range mb.subs {
		if si == nil {
			continue
		}
		m := sums[si.process]
		if m == nil {
			m = map[TaskID]int64{}
			sums[si.process] = m
		}
		// The threads of one instance report the same sums; a running
		// active wins over a checkpoint.
		for _, o := range si.offsetSums {
			if cur, ok := m[o.task]; !ok || o.sum == activeOffsetSum || (cur != activeOffsetSum && o.sum > cur) {
				m[o.task] = o.sum
			}
		}
	}
	var ends map[string]map[int32]int64
	if b.changelogEnds != nil {
		seen := map[string]bool{}
		var topics []string
		for _, id := range tasks {
			for _, topic := range b.changelogs[id.Subtopology] {
				if !seen[topic] {
					seen[topic] = true
					topics = append(topics, topic)
				}
			}
		}
		ends = b.changelogEnds(topics)
	}
	out := make(map[TaskID]map[processID]int64, len(tasks))
	for _, id := range tasks {
		endSum, known := int64(0), ends != nil
		for _, topic := range b.changelogs[id.Subtopology] {
			e, ok := ends[topic][id.Partition]
			if !ok {
				known = false
				break
			}
			endSum += e
		}
		if !known {
			endSum = 0
			for _, p := range procs {
				if s, ok := sums[p][id]; ok && s > endSum {
					endSum = s
				}
			}
		}
		m := make(map[processID]int64, len(procs))
		for _, p := range procs {
			s, ok := sums[p][id]
			switch {
			case ok && s == activeOffsetSum:
				m[p] = activeOffsetSum
			case ok && s >= 0:
				m[p] = max(endSum-s, 0)
			default:
				m[p] = endSum
			}
		}
		out[id] = m
	}
	return out
}
