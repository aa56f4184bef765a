package core

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func testProcess(b byte) processID {
	var p processID
	for i := range p {
		p[i] = b
	}
	return p
}

// TestGroupInfoBytes pins the wire formats written in DESIGN.md ("Group
// protocol data") byte by byte.
func TestGroupInfoBytes(t *testing.T) {
	sub := subscriptionInfo{process: testProcess(0xab), server: "h:1",
		offsetSums: []taskOffsetSum{{task: TaskID{1, 2}, sum: -2}}}
	want := "0001" + "0001" + // version, latest version
		"abababababababababababababababab" + // process id
		"0003" + hex.EncodeToString([]byte("h:1")) + // application.server
		"00000001" + "00000001" + "00000002" + "fffffffffffffffe" // one offset sum: task 1_2, -2
	if got := hex.EncodeToString(sub.encode()); got != want {
		t.Errorf("subscription\n got %s\nwant %s", got, want)
	}
	asg := assignmentInfo{generation: 7, hosts: []hostAssignment{{process: testProcess(1), server: "",
		active: []TaskID{{0, 3}}, standby: nil}}}
	want = "0001" + "0001" + "00000007" + // versions, generation
		"00000001" + // one host
		"01010101010101010101010101010101" + "0000" + // process id, no application.server
		"00000001" + "00000000" + "00000003" + // active: task 0_3
		"00000000" // no standby tasks
	if got := hex.EncodeToString(asg.encode()); got != want {
		t.Errorf("assignment\n got %s\nwant %s", got, want)
	}
}

func TestGroupInfoRoundTrip(t *testing.T) {
	sub := subscriptionInfo{version: 1, latestVersion: 1, process: testProcess(7), server: "[::1]:8080",
		offsetSums: []taskOffsetSum{{task: TaskID{0, 0}, sum: 10}, {task: TaskID{2, 5}, sum: -2}}}
	got, err := decodeSubscriptionInfo(sub.encode())
	if err != nil || !reflect.DeepEqual(got, sub) {
		t.Errorf("subscription round trip: %+v, %v; want %+v", got, err, sub)
	}
	asg := assignmentInfo{version: 1, latestVersion: 1, generation: 42, hosts: []hostAssignment{
		{process: testProcess(1), server: "a:1", active: []TaskID{{0, 0}, {0, 2}, {1, 0}}, standby: []TaskID{{0, 1}}},
		{process: testProcess(2), server: "b:2", active: []TaskID{{0, 1}}},
		{process: testProcess(3)},
	}}
	gotA, err := decodeAssignmentInfo(asg.encode())
	if err != nil || !reflect.DeepEqual(gotA, asg) {
		t.Errorf("assignment round trip: %+v, %v; want %+v", gotA, err, asg)
	}
	if h := gotA.activeOwner(TaskID{0, 2}); h == nil || h.server != "a:1" {
		t.Errorf("owner of 0_2: %+v", h)
	}
	if h := gotA.activeOwner(TaskID{0, 3}); h != nil {
		t.Errorf("owner of unassigned 0_3: %+v", h)
	}
	if h := gotA.host(testProcess(2)); h == nil || h.server != "b:2" {
		t.Errorf("host(2): %+v", h)
	}
}

func TestGroupInfoDecodeErrors(t *testing.T) {
	good := (&subscriptionInfo{process: testProcess(1), server: "h:1"}).encode()
	newer := append([]byte{0, 2, 0, 2}, good[4:]...)
	newer = append(newer, 0xde, 0xad) // a field of version 2
	if s, err := decodeSubscriptionInfo(newer); err != nil || s.server != "h:1" || s.version != 2 {
		t.Errorf("version 2 with an appended field: %+v, %v; want its version 1 fields", s, err)
	}
	// franz-go's sticky UserData, what members of older Sluice versions
	// sent: an int32 array length first, so version 0.
	sticky := kmsg.NewStickyMemberMetadata()
	sticky.Generation = 3
	for name, b := range map[string][]byte{
		"empty":          nil,
		"truncated":      good[:len(good)-1],
		"trailing":       append(append([]byte{}, good...), 0),
		"version 0":      append([]byte{0, 0}, good[2:]...),
		"sticky":         sticky.AppendTo(nil),
		"huge count":     append(append([]byte{}, good[:len(good)-4]...), 0x7f, 0xff, 0xff, 0xff),
		"negative count": append(append([]byte{}, good[:len(good)-4]...), 0xff, 0xff, 0xff, 0xff),
	} {
		if _, err := decodeSubscriptionInfo(b); !errors.Is(err, errGroupInfo) {
			t.Errorf("subscription %s: err %v, want errGroupInfo", name, err)
		}
	}
	asg := (&assignmentInfo{generation: 1, hosts: []hostAssignment{{process: testProcess(1), active: []TaskID{{0, 1}}}}}).encode()
	for name, b := range map[string][]byte{
		"truncated":     asg[:len(asg)-2],
		"trailing":      append(append([]byte{}, asg...), 1),
		"negative task": bytes.Replace(asg, []byte{0, 0, 0, 0, 0, 0, 0, 1}, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1}, 1),
	} {
		if _, err := decodeAssignmentInfo(b); !errors.Is(err, errGroupInfo) {
			t.Errorf("assignment %s: err %v, want errGroupInfo", name, err)
		}
	}
}

// FuzzDecodeSubscriptionInfo: the decoder never panics, and what it
// accepts encodes back to data that decodes the same.
func FuzzDecodeSubscriptionInfo(f *testing.F) {
	f.Add((&subscriptionInfo{process: testProcess(1), server: "h:9"}).encode())
	f.Add((&subscriptionInfo{offsetSums: []taskOffsetSum{{TaskID{1, 1}, 5}}}).encode())
	f.Add([]byte{0, 2, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSubscriptionInfo(b)
		if err != nil {
			return
		}
		again, err := decodeSubscriptionInfo(s.encode())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		again.version, again.latestVersion = s.version, s.latestVersion
		if !reflect.DeepEqual(again, s) {
			t.Fatalf("re-decoded %+v, want %+v", again, s)
		}
	})
}

// FuzzDecodeAssignmentInfo: as FuzzDecodeSubscriptionInfo.
func FuzzDecodeAssignmentInfo(f *testing.F) {
	f.Add((&assignmentInfo{generation: 3, hosts: []hostAssignment{{process: testProcess(1), server: "a:1",
		active: []TaskID{{0, 0}}, standby: []TaskID{{0, 1}}}}}).encode())
	f.Add((&assignmentInfo{}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeAssignmentInfo(b)
		if err != nil {
			return
		}
		again, err := decodeAssignmentInfo(a.encode())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		again.version, again.latestVersion = a.version, a.latestVersion
		if !reflect.DeepEqual(again, a) {
			t.Fatalf("re-decoded %+v, want %+v", again, a)
		}
	})
}

// TestTaskBalancerGroupInfo runs the balancer as franz-go does for three
// members of two instances: each member's metadata carries its instance,
// the leader's plan gives every task to one member (co-partitioned topics
// together) and every member receives the same task map, grouped by
// instance, which the members' ParseSyncAssignment keep (newest
// generation wins).
func TestTaskBalancerGroupInfo(t *testing.T) {
	topicToSub := map[string]int{"a": 0, "b": 0, "c": 1}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	procs := []subscriptionInfo{
		{process: testProcess(1), server: "one:1"},
		{process: testProcess(1), server: "one:1"}, // a second thread of instance one
		{process: testProcess(2), server: "two:2"},
	}
	balancers := make([]*taskBalancer, len(procs))
	members := make([]kmsg.JoinGroupResponseMember, len(procs))
	for i, p := range procs {
		balancers[i] = newTaskBalancer(topicToSub, p, log)
		meta := balancers[i].JoinGroupMetadata([]string{"a", "b", "c"}, map[string][]int32{}, -1)
		var cm kmsg.ConsumerMemberMetadata
		if err := cm.ReadFrom(meta); err != nil {
			t.Fatal(err)
		}
		if si, err := decodeSubscriptionInfo(cm.UserData); err != nil || si.server != p.server {
			t.Fatalf("member %d metadata UserData: %+v, %v", i, si, err)
		}
		members[i] = kmsg.JoinGroupResponseMember{MemberID: string(rune('x' + i)), ProtocolMetadata: meta}
	}
	mb, topics, err := balancers[0].MemberBalancer(members)
	if err != nil {
		t.Fatal(err)
	}
	if len(topics) != 3 {
		t.Errorf("topics %v", topics)
	}
	mb.(kgo.GroupMemberBalancerInfo).SetBalanceInfo(kgo.BalanceInfo{Generation: 5})
	into, err := mb.(kgo.GroupMemberBalancerOrError).BalanceOrError(map[string]int32{"a": 4, "b": 2, "c": 3})
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]map[int32]string{} // topic -> partition -> member
	for _, sa := range into.IntoSyncAssignment() {
		i := int(sa.MemberID[0] - 'x')
		parts, err := balancers[i].ParseSyncAssignment(sa.MemberAssignment)
		if err != nil {
			t.Fatal(err)
		}
		for topic, ps := range parts {
			for _, p := range ps {
				if owners[topic] == nil {
					owners[topic] = map[int32]string{}
				}
				if prev, dup := owners[topic][p]; dup {
					t.Errorf("%s[%d] assigned to %s and %s", topic, p, prev, sa.MemberID)
				}
				owners[topic][p] = sa.MemberID
			}
		}
	}
	for topic, n := range map[string]int32{"a": 4, "b": 2, "c": 3} {
		for p := range n {
			if owners[topic][p] == "" {
				t.Errorf("%s[%d] unassigned", topic, p)
			}
		}
	}
	for p := range int32(2) {
		if owners["a"][p] != owners["b"][p] {
			t.Errorf("co-partitioned a[%d] and b[%d] on %s and %s", p, p, owners["a"][p], owners["b"][p])
		}
	}
	server := map[string]string{"x": "one:1", "y": "one:1", "z": "two:2"}
	for i, b := range balancers {
		info := b.latest.Load()
		if info == nil || info.generation != 5 || len(info.hosts) != 2 {
			t.Fatalf("member %d task map: %+v", i, info)
		}
		for topic, sub := range topicToSub {
			for p, member := range owners[topic] {
				h := info.activeOwner(TaskID{sub, p})
				if h == nil || h.server != server[member] {
					t.Errorf("member %d: owner of task %d_%d = %+v, want the instance of %s (%s)", i, sub, p, h, member, server[member])
				}
			}
		}
	}
	// An older generation's map does not replace a newer one.
	old := &assignmentInfo{generation: 4}
	balancers[0].observe(old)
	if balancers[0].latest.Load().generation != 5 {
		t.Error("an older task map replaced the newer one")
	}
}
