package core

import (
	"fmt"
	"sort"
	"strconv"

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
type taskBalancer struct {
	inner      kgo.GroupBalancer
	topicToSub map[string]int   // cluster topic -> sub-topology id
	subTopics  map[int][]string // sub-topology id -> cluster topics
	virtual    map[string]int   // virtual topic -> sub-topology id
	names      map[int]string   // sub-topology id -> virtual topic
}

func newTaskBalancer(topicToSub map[string]int) *taskBalancer {
	b := &taskBalancer{
		inner:      kgo.CooperativeStickyBalancer(),
		topicToSub: topicToSub,
		subTopics:  map[int][]string{},
		virtual:    map[string]int{},
		names:      map[int]string{},
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

func (b *taskBalancer) JoinGroupMetadata(interests []string, current map[string][]int32, generation int32) []byte {
	return b.inner.JoinGroupMetadata(interests, current, generation)
}

func (b *taskBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return b.inner.ParseSyncAssignment(assignment)
}

func (b *taskBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	topics := map[string]struct{}{}
	virt := make([]kmsg.JoinGroupResponseMember, len(members))
	for i, m := range members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.ProtocolMetadata); err != nil {
			return nil, nil, fmt.Errorf("core: decode group metadata of member %q: %w", m.MemberID, err)
		}
		vmeta := kmsg.NewConsumerMemberMetadata()
		vmeta.Version = meta.Version
		vmeta.Generation = meta.Generation
		vmeta.Rack = meta.Rack
		subs := map[int]struct{}{}
		for _, t := range meta.Topics {
			topics[t] = struct{}{}
			if sub, ok := b.topicToSub[t]; ok {
				subs[sub] = struct{}{}
			}
		}
		for sub := range subs {
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
	return &taskMemberBalancer{b: b, members: members, inner: inner}, topics, nil
}

type taskMemberBalancer struct {
	b       *taskBalancer
	members []kmsg.JoinGroupResponseMember
	inner   kgo.GroupMemberBalancer
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
	cb, err := kgo.NewConsumerBalancer(nil, mb.members)
	if err != nil {
		return nil, err
	}
	plan := cb.NewPlan()
	byID := map[string]*kmsg.JoinGroupResponseMember{}
	for i := range mb.members {
		byID[mb.members[i].MemberID] = &mb.members[i]
	}
	for memberID, vts := range vplan.AsMemberIDMap() {
		member := byID[memberID]
		if member == nil {
			continue
		}
		for vt, parts := range vts {
			sub := mb.b.virtual[vt]
			for _, topic := range mb.b.subTopics[sub] {
				n, known := topics[topic]
				if !known {
					continue
				}
				for _, p := range parts {
					if p < n {
						plan.AddPartition(member, topic, p)
					}
				}
			}
		}
	}
	return plan, nil
}
