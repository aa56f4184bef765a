package core

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Sluice's own data in the consumer group protocol, as Kafka Streams'
// SubscriptionInfo and AssignmentInfo: each member's subscription carries
// a subscriptionInfo in the UserData of its ConsumerMemberMetadata, and
// the leader puts one assignmentInfo (the whole group's task map) in the
// UserData of every member's ConsumerMemberAssignment. The formats are in
// DESIGN.md ("Group protocol data"). Everything is big-endian; fields are
// only ever appended in later versions, so a decoder reads the fields it
// knows of a newer version and ignores the rest.

const (
	// groupInfoVersion is the version this code writes, and the newest it
	// reads completely.
	groupInfoVersion = 1
	// processIDLen is the length of an instance's process id.
	processIDLen = 16
	// maxHostLen bounds an encoded application.server.
	maxHostLen = 1024
)

// errGroupInfo marks undecodable subscription or assignment data.
var errGroupInfo = errors.New("core: malformed group protocol data")

// processID identifies one App instance (all its stream threads) in the
// group: Kafka Streams' process id. It is what tells the leader which
// members share an instance, so that standby tasks never land on the
// instance of their active task.
type processID [processIDLen]byte

func (p processID) String() string { return fmt.Sprintf("%x", p[:]) }

// taskOffsetSum is a task's changelog position as a member reports it
// (Kafka Streams' task offset sums, KIP-441): the sum of the task's
// changelog offsets in its local state, or -2 (activeOffsetSum) for a task
// the member runs as active. Filled by App.taskOffsetSums at each join.
type taskOffsetSum struct {
	task TaskID
	sum  int64
}

// subscriptionInfo is a member's UserData in its JoinGroup metadata.
type subscriptionInfo struct {
	version       int16
	latestVersion int16 // the newest version the member can read
	process       processID
	server        string // application.server, "" when not set
	offsetSums    []taskOffsetSum
}

// hostAssignment is one instance's part of the group's assignment.
type hostAssignment struct {
	process processID
	server  string
	active  []TaskID // sorted
	standby []TaskID // sorted; the standby tasks of the instance (num.standby.replicas)
}

// assignmentInfo is the UserData of every member's assignment: the tasks
// of every instance in one generation of the group.
type assignmentInfo struct {
	version       int16
	latestVersion int16            // the leader's newest readable version
	generation    int32            // the group generation the assignment is for
	hosts         []hostAssignment // sorted by process id
}

func (s *subscriptionInfo) encode() []byte {
	b := make([]byte, 0, 4+processIDLen+2+len(s.server)+4+16*len(s.offsetSums))
	b = binary.BigEndian.AppendUint16(b, uint16(groupInfoVersion))
	b = binary.BigEndian.AppendUint16(b, uint16(groupInfoVersion))
	b = append(b, s.process[:]...)
	b = appendString16(b, s.server)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.offsetSums)))
	for _, o := range s.offsetSums {
		b = appendTaskID(b, o.task)
		b = binary.BigEndian.AppendUint64(b, uint64(o.sum))
	}
	return b
}

func decodeSubscriptionInfo(src []byte) (subscriptionInfo, error) {
	var s subscriptionInfo
	r := groupReader{src: src}
	s.version, s.latestVersion = r.int16(), r.int16()
	if r.err == nil && s.version < 1 {
		return s, fmt.Errorf("%w: subscription version %d", errGroupInfo, s.version)
	}
	copy(s.process[:], r.bytes(processIDLen))
	s.server = r.string16()
	n := r.count(16)
	for range n {
		s.offsetSums = append(s.offsetSums, taskOffsetSum{task: r.taskID(), sum: r.int64()})
	}
	if err := r.done(s.version); err != nil {
		return subscriptionInfo{}, fmt.Errorf("subscription: %w", err)
	}
	return s, nil
}

func (a *assignmentInfo) encode() []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(groupInfoVersion))
	b = binary.BigEndian.AppendUint16(b, uint16(groupInfoVersion))
	b = binary.BigEndian.AppendUint32(b, uint32(a.generation))
	b = binary.BigEndian.AppendUint32(b, uint32(len(a.hosts)))
	for _, h := range a.hosts {
		b = append(b, h.process[:]...)
		b = appendString16(b, h.server)
		for _, tasks := range [][]TaskID{h.active, h.standby} {
			b = binary.BigEndian.AppendUint32(b, uint32(len(tasks)))
			for _, id := range tasks {
				b = appendTaskID(b, id)
			}
		}
	}
	return b
}

func decodeAssignmentInfo(src []byte) (assignmentInfo, error) {
	var a assignmentInfo
	r := groupReader{src: src}
	a.version, a.latestVersion = r.int16(), r.int16()
	if r.err == nil && a.version < 1 {
		return a, fmt.Errorf("%w: assignment version %d", errGroupInfo, a.version)
	}
	a.generation = r.int32()
	// A host takes at least its process id, a server length and two
	// task counts.
	n := r.count(processIDLen + 2 + 4 + 4)
	for range n {
		var h hostAssignment
		copy(h.process[:], r.bytes(processIDLen))
		h.server = r.string16()
		for _, tasks := range []*[]TaskID{&h.active, &h.standby} {
			m := r.count(8)
			for range m {
				*tasks = append(*tasks, r.taskID())
			}
		}
		if r.err != nil {
			break
		}
		// The lookups search; do not trust the sender's order.
		sortTasks(h.active)
		sortTasks(h.standby)
		a.hosts = append(a.hosts, h)
	}
	if err := r.done(a.version); err != nil {
		return assignmentInfo{}, fmt.Errorf("assignment: %w", err)
	}
	sortHosts(a.hosts)
	return a, nil
}

// host returns the assignment of the instance with process id p.
func (a *assignmentInfo) host(p processID) *hostAssignment {
	i := sort.Search(len(a.hosts), func(i int) bool { return string(a.hosts[i].process[:]) >= string(p[:]) })
	if i < len(a.hosts) && a.hosts[i].process == p {
		return &a.hosts[i]
	}
	return nil
}

// activeOwner returns the instance running task id as active, or nil.
func (a *assignmentInfo) activeOwner(id TaskID) *hostAssignment {
	for i := range a.hosts {
		if containsTask(a.hosts[i].active, id) {
			return &a.hosts[i]
		}
	}
	return nil
}

func containsTask(sorted []TaskID, id TaskID) bool {
	i := sort.Search(len(sorted), func(i int) bool { return !taskLess(sorted[i], id) })
	return i < len(sorted) && sorted[i] == id
}

func taskLess(a, b TaskID) bool {
	if a.Subtopology != b.Subtopology {
		return a.Subtopology < b.Subtopology
	}
	return a.Partition < b.Partition
}

func sortHosts(hs []hostAssignment) {
	// Stable: a decoded map with a repeated process id keeps its order.
	sort.SliceStable(hs, func(i, j int) bool { return string(hs[i].process[:]) < string(hs[j].process[:]) })
}

func sortTasks(ts []TaskID) { sort.Slice(ts, func(i, j int) bool { return taskLess(ts[i], ts[j]) }) }

func appendString16(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendTaskID(b []byte, id TaskID) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(int32(id.Subtopology)))
	return binary.BigEndian.AppendUint32(b, uint32(id.Partition))
}

// groupReader decodes the formats above; the first error sticks and every
// later read returns zero values.
type groupReader struct {
	src []byte
	err error
}

func (r *groupReader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.src) < n {
		r.err = fmt.Errorf("%w: truncated (%d bytes left, need %d)", errGroupInfo, len(r.src), n)
		return nil
	}
	b := r.src[:n:n]
	r.src = r.src[n:]
	return b
}

func (r *groupReader) int16() int16 {
	if b := r.bytes(2); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *groupReader) int32() int32 {
	if b := r.bytes(4); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (r *groupReader) int64() int64 {
	if b := r.bytes(8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (r *groupReader) string16() string {
	n := int(uint16(r.int16()))
	if r.err == nil && n > maxHostLen {
		r.err = fmt.Errorf("%w: application.server of %d bytes", errGroupInfo, n)
		return ""
	}
	return string(r.bytes(n))
}

func (r *groupReader) taskID() TaskID {
	sub, p := r.int32(), r.int32()
	if r.err == nil && (sub < 0 || p < 0) {
		r.err = fmt.Errorf("%w: task %d_%d", errGroupInfo, sub, p)
	}
	return TaskID{Subtopology: int(sub), Partition: p}
}

// count reads an element count and checks that the rest of the input can
// hold that many elements of at least minSize bytes, so a corrupt count
// never allocates much.
func (r *groupReader) count(minSize int) int {
	n := r.int32()
	if r.err != nil {
		return 0
	}
	if n < 0 || int64(n)*int64(minSize) > int64(len(r.src)) {
		r.err = fmt.Errorf("%w: count %d with %d bytes left", errGroupInfo, n, len(r.src))
		return 0
	}
	return int(n)
}

// done reports the first error, or trailing bytes in data of a version
// this code reads completely.
func (r *groupReader) done(version int16) error {
	if r.err != nil {
		return r.err
	}
	if version <= groupInfoVersion && len(r.src) > 0 {
		return fmt.Errorf("%w: %d trailing bytes in version %d", errGroupInfo, len(r.src), version)
	}
	return nil
}
