package core

import (
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// taskBalancer assigns partitions to group members by task: partition p of
// every source topic of a sub-topology goes to the same member, so that
// co-partitioned sources share one task (Kafka Streams' partition grouping).
//
// It reuses franz-go's cooperative-sticky balancer on "virtual" topics, one
// per sub-topology with one partition per task: members' owned partitions
// are translated to the tasks they own, balanced stickily and cooperatively
// (a task moving between members is first revoked, then assigned in a
// follow-up rebalance), and the resulting tasks are expanded back into the
// real topic partitions.
//
// On top of the consumer protocol it carries Sluice's own data (see
// groupinfo.go and DESIGN.md "Group protocol data"): each member's
// subscription UserData says which instance (process id) it belongs to
// and where that instance serves queries (application.server); the
// leader answers every member with the whole group's task map, which the
// App keeps for its metadata calls and query routing. One taskBalancer
// serves all stream threads of an App; franz-go calls it from the
// threads' group goroutines.
type taskBalancer struct {
	inner      kgo.GroupBalancer
	topicToSub map[string]int   // cluster topic -> sub-topology id
	subTopics  map[int][]string // sub-topology id -> cluster topics
	virtual    map[string]int   // virtual topic -> sub-topology id
	names      map[int]string   // sub-topology id -> virtual topic
	self       subscriptionInfo // this instance's subscription, offset sums excluded
	log        *slog.Logger

	// Standby replicas and state-aware placement (standby.go), set before
	// the group is joined. changelogs lists the changelog topics of each
	// stateful sub-topology (partition = task partition); offsetSums
	// reports this instance's local task offset sums at each join;
	// changelogEnds lists the changelogs' end offsets for the leader (nil
	// result: unknown).
	changelogs    map[int][]string
	standbys      int
	acceptableLag int64
	// maxWarmups and probingInterval: warm-up replicas (assignor.go);
	// probeAt is when this instance, having assigned warm-ups as the
	// group's leader, forces the probing rebalance (unix ns; 0: none).
	maxWarmups      int
	probingInterval time.Duration
	probeAt         atomic.Int64
	offsetSums      func() []taskOffsetSum
	changelogEnds   func(topics []string) map[string]map[int32]int64

	// latest is the newest assignment (by generation) any of the
	// instance's members received; nil before the first.
	latest atomic.Pointer[assignmentInfo]
}

func newTaskBalancer(topicToSub map[string]int, self subscriptionInfo, log *slog.Logger) *taskBalancer {
	b := &taskBalancer{
		inner:      kgo.CooperativeStickyBalancer(),
		topicToSub: topicToSub,
		subTopics:  map[int][]string{},
		virtual:    map[string]int{},
		names:      map[int]string{},
		self:       self,
		log:        log,
	}
	for topic, sub := range topicToSub {
		b.subTopics[sub] = append(b.subTopics[sub], topic)
		name := "__sluice_subtopology_" + strconv.Itoa(sub)
		b.virtual[name] = sub
		b.names[sub] = name
	}
	for _, ts := range b.subTopics {
		sort.Strings(ts)
	}
	return b
}

func (b *taskBalancer) ProtocolName() string { return "sluice-cooperative-task" }
func (b *taskBalancer) IsCooperative() bool  { return true }

// JoinGroupMetadata is the cooperative-sticky metadata (interests, owned
// partitions, generation) with this instance's subscriptionInfo as
// UserData in place of the sticky balancer's (which the cooperative
// protocol does not read: owned partitions and the generation travel in
// their own fields since KIP-792).
func (b *taskBalancer) JoinGroupMetadata(interests []string, current map[string][]int32, generation int32) []byte {
	raw := b.inner.JoinGroupMetadata(interests, current, generation)
	var meta kmsg.ConsumerMemberMetadata
	if err := meta.ReadFrom(raw); err != nil {
		// franz-go encoded it a moment ago; this cannot fail short of a
		// bug, and the group still works without Sluice's data.
		b.log.Error("sluice: re-read own group metadata", "err", err)
		return raw
	}
	si := b.self
	if b.offsetSums != nil {
		si.offsetSums = b.offsetSums()
	}
	meta.UserData = si.encode()
	return meta.AppendTo(nil)
}

// ParseSyncAssignment returns the member's partitions and keeps the
// group's task map from the assignment's UserData. Undecodable UserData
// (a leader of an incompatible version) is logged and ignored: the member
// consumes what it was given, and the metadata calls keep the last map.
func (b *taskBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	var kassignment kmsg.ConsumerMemberAssignment
	if err := kassignment.ReadFrom(assignment); err != nil {
		return nil, fmt.Errorf("core: decode group assignment: %w", err)
	}
	parts := make(map[string][]int32, len(kassignment.Topics))
	for _, t := range kassignment.Topics {
		parts[t.Topic] = t.Partitions
	}
	if len(kassignment.UserData) > 0 {
		info, err := decodeAssignmentInfo(kassignment.UserData)
		if err != nil {
			b.log.Warn("sluice: ignoring the group's task map (query routing and metadata stay as they were)", "err", err)
		} else {
			b.observe(&info)
		}
	}
	return parts, nil
}

// observe keeps info if it is for a newer generation than the one kept.
func (b *taskBalancer) observe(info *assignmentInfo) {
	for {
		cur := b.latest.Load()
		if cur != nil && cur.generation > info.generation {
			return
		}
		if b.latest.CompareAndSwap(cur, info) {
			return
		}
	}
}

func (b *taskBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	topics := map[string]struct{}{}
	ownedTasks := map[TaskID]bool{} // tasks some member owns
	virt := make([]kmsg.JoinGroupResponseMember, len(members))
	subs := make([]*subscriptionInfo, len(members))
	for i, m := range members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.ProtocolMetadata); err != nil {
			return nil, nil, fmt.Errorf("core: decode group metadata of member %q: %w", m.MemberID, err)
		}
		if si, err := decodeSubscriptionInfo(meta.UserData); err == nil {
			subs[i] = &si
		} else {
			// A member without Sluice's data (an older version during a
			// rolling upgrade) is balanced as before; its tasks have no
			// known instance in the task map.
			b.log.Warn("sluice: group member without instance data; its tasks are not routable", "member", m.MemberID, "err", err)
		}
		vmeta := kmsg.NewConsumerMemberMetadata()
		vmeta.Version = meta.Version
		vmeta.Generation = meta.Generation
		vmeta.Rack = meta.Rack
		subtopologies := map[int]struct{}{}
		for _, t := range meta.Topics {
			topics[t] = struct{}{}
			if sub, ok := b.topicToSub[t]; ok {
				subtopologies[sub] = struct{}{}
			}
		}
		for sub := range subtopologies {
			vmeta.Topics = append(vmeta.Topics, b.names[sub])
		}
		sort.Strings(vmeta.Topics)
		owned := map[int]map[int32]struct{}{}
		for _, o := range meta.OwnedPartitions {
			sub, ok := b.topicToSub[o.Topic]
			if !ok {
				continue
			}
			if owned[sub] == nil {
				owned[sub] = map[int32]struct{}{}
			}
			for _, p := range o.Partitions {
				owned[sub][p] = struct{}{}
				ownedTasks[TaskID{Subtopology: sub, Partition: p}] = true
			}
		}
		for sub, ps := range owned {
			op := kmsg.NewConsumerMemberMetadataOwnedPartition()
			op.Topic = b.names[sub]
			for p := range ps {
				op.Partitions = append(op.Partitions, p)
			}
			sort.Slice(op.Partitions, func(i, j int) bool { return op.Partitions[i] < op.Partitions[j] })
			vmeta.OwnedPartitions = append(vmeta.OwnedPartitions, op)
		}
		sort.Slice(vmeta.OwnedPartitions, func(i, j int) bool { return vmeta.OwnedPartitions[i].Topic < vmeta.OwnedPartitions[j].Topic })
		virt[i] = m
		virt[i].ProtocolMetadata = vmeta.AppendTo(nil)
	}
	inner, _, err := b.inner.MemberBalancer(virt)
	if err != nil {
		return nil, nil, err
	}
	return &taskMemberBalancer{b: b, members: members, subs: subs, inner: inner, owned: ownedTasks}, topics, nil
}

type taskMemberBalancer struct {
	b          *taskBalancer
	members    []kmsg.JoinGroupResponseMember
	subs       []*subscriptionInfo // by member index; nil: undecodable
	owned      map[TaskID]bool     // tasks owned by some member before this rebalance
	inner      kgo.GroupMemberBalancer
	generation int32 // the generation being balanced into (SetBalanceInfo)
}

// SetBalanceInfo receives the generation the assignment is for, which goes
// into the task map so that members keep the newest one.
func (mb *taskMemberBalancer) SetBalanceInfo(info kgo.BalanceInfo) {
	mb.generation = info.Generation
	if ib, ok := mb.inner.(kgo.GroupMemberBalancerInfo); ok {
		ib.SetBalanceInfo(info)
	}
}

func (mb *taskMemberBalancer) Balance(topics map[string]int32) kgo.IntoSyncAssignment {
	plan, _ := mb.BalanceOrError(topics)
	return plan
}

func (mb *taskMemberBalancer) BalanceOrError(topics map[string]int32) (kgo.IntoSyncAssignment, error) {
	vtopics := map[string]int32{}
	for t, n := range topics {
		sub, ok := mb.b.topicToSub[t]
		if !ok {
			continue
		}
		if v := mb.b.names[sub]; n > vtopics[v] {
			vtopics[v] = n
		}
	}
	var into kgo.IntoSyncAssignment
	if be, ok := mb.inner.(kgo.GroupMemberBalancerOrError); ok {
		var err error
		if into, err = be.BalanceOrError(vtopics); err != nil {
			return nil, err
		}
	} else {
		into = mb.inner.Balance(vtopics)
	}
	vplan, ok := into.(*kgo.BalancePlan)
	if !ok {
		return nil, fmt.Errorf("core: unexpected plan type from the sticky balancer")
	}
	plan := &taskPlan{members: map[string]map[string][]int32{}}
	for i := range mb.members {
		plan.members[mb.members[i].MemberID] = map[string][]int32{}
	}
	byID := map[string]int{}
	for i := range mb.members {
		byID[mb.members[i].MemberID] = i
	}
	hosts := map[processID]*hostAssignment{}
	for _, si := range mb.subs {
		// Every instance is listed, with or without tasks: the metadata
		// calls name all instances of the application.
		if si != nil && hosts[si.process] == nil {
			hosts[si.process] = &hostAssignment{process: si.process, server: si.server}
		}
	}
	vmap := mb.placeStateful(vplan.AsMemberIDMap(), vtopics, hosts)
	for memberID, vts := range vmap {
		i, ok := byID[memberID]
		if !ok {
			continue
		}
		var host *hostAssignment
		if si := mb.subs[i]; si != nil {
			host = hosts[si.process]
		}
		for vt, parts := range vts {
			sub := mb.b.virtual[vt]
			for _, p := range parts {
				if host != nil {
					host.active = append(host.active, TaskID{Subtopology: sub, Partition: p})
				}
			}
			for _, topic := range mb.b.subTopics[sub] {
				n, known := topics[topic]
				if !known {
					continue
				}
				for _, p := range parts {
					if p < n {
						plan.members[memberID][topic] = append(plan.members[memberID][topic], p)
					}
				}
			}
		}
	}
	info := assignmentInfo{version: groupInfoVersion, latestVersion: groupInfoVersion, generation: mb.generation}
	for _, h := range hosts {
		sortTasks(h.active)
		sortTasks(h.standby)
		info.hosts = append(info.hosts, *h)
	}
	sortHosts(info.hosts)
	plan.userData = info.encode()
	return plan, nil
}

// taskPlan is the balanced assignment: each member's real partitions, and
// the group's task map that every member receives as UserData.
type taskPlan struct {
	members  map[string]map[string][]int32 // member id -> topic -> partitions
	userData []byte
}

// IntoSyncAssignment implements kgo.IntoSyncAssignment, ordered by member,
// topic and partition.
func (p *taskPlan) IntoSyncAssignment() []kmsg.SyncGroupRequestGroupAssignment {
	out := make([]kmsg.SyncGroupRequestGroupAssignment, 0, len(p.members))
	for member, topics := range p.members {
		var a kmsg.ConsumerMemberAssignment
		for topic, parts := range topics {
			slices.Sort(parts)
			t := kmsg.NewConsumerMemberAssignmentTopic()
			t.Topic, t.Partitions = topic, parts
			a.Topics = append(a.Topics, t)
		}
		sort.Slice(a.Topics, func(i, j int) bool { return a.Topics[i].Topic < a.Topics[j].Topic })
		a.UserData = p.userData
		sa := kmsg.NewSyncGroupRequestGroupAssignment()
		sa.MemberID, sa.MemberAssignment = member, a.AppendTo(nil)
		out = append(out, sa)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MemberID < out[j].MemberID })
	return out
}
