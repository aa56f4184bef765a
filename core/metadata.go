package core

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/sluicehq/sluice/serde"
)

// Metadata of the application's instances, as Kafka Streams'
// KafkaStreams#metadataForAllStreamsClients and #queryMetadataForKey:
// which instance runs which tasks and where it serves queries
// (application.server). Every instance learns the whole group's task map
// from the group protocol (DESIGN.md "Group protocol data"), so any
// instance answers for all of them. The map changes with every rebalance;
// between the moment a rebalance starts and the moment this instance
// receives the new map, answers describe the previous generation.

// ErrMetadataUnavailable is returned by the metadata calls before this
// instance received the group's first task map, and by
// QueryMetadataForKey when the key's partition has no active owner in the
// latest one (a cooperative rebalance is moving the task, or the owner is
// a member without Sluice's group data). Retry after the rebalance.
var ErrMetadataUnavailable = errors.New("core: streams metadata not available (rebalancing?)")

// HostInfo is an instance's application.server: the host and port where
// it serves interactive queries. The zero value means "not set".
type HostInfo struct {
	Host string
	Port int
}

// ParseHostInfo parses "host:port" (a host name, an IPv4 address or a
// bracketed IPv6 address, and a port from 1 to 65535).
func ParseHostInfo(hostPort string) (HostInfo, error) {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return HostInfo{}, fmt.Errorf("core: application.server %q: want host:port: %w", hostPort, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return HostInfo{}, fmt.Errorf("core: application.server %q: port %q is not a number from 1 to 65535", hostPort, port)
	}
	if host == "" {
		return HostInfo{}, fmt.Errorf("core: application.server %q: the host is empty; name the host other instances reach this one at", hostPort)
	}
	if len(hostPort) > maxHostLen {
		return HostInfo{}, fmt.Errorf("core: application.server of %d bytes is longer than %d", len(hostPort), maxHostLen)
	}
	return HostInfo{Host: host, Port: n}, nil
}

// String is "host:port", or "" for the zero HostInfo.
func (h HostInfo) String() string {
	if h == (HostInfo{}) {
		return ""
	}
	return net.JoinHostPort(h.Host, strconv.Itoa(h.Port))
}

// hostInfoOf parses an application.server received from the group; an
// unparsable one (validated by its sender, so never in practice) is zero.
func hostInfoOf(server string) HostInfo {
	if server == "" {
		return HostInfo{}
	}
	h, err := ParseHostInfo(server)
	if err != nil {
		return HostInfo{}
	}
	return h
}

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// StreamsMetadata describes one instance of the application (Kafka
// Streams' StreamsMetadata).
type StreamsMetadata struct {
	// HostInfo is the instance's application.server; zero when it has
	// none.
	HostInfo HostInfo
	// StateStoreNames are the stores of the instance's active tasks and
	// the application's global stores, sorted.
	StateStoreNames []string
	// TopicPartitions are the source partitions of its active tasks
	// (repartition topics included, by their cluster names), sorted.
	TopicPartitions []TopicPartition
	// StandbyStateStoreNames and StandbyTopicPartitions describe its
	// standby tasks (WithNumStandbyReplicas).
	StandbyStateStoreNames []string
	StandbyTopicPartitions []TopicPartition
}

// KeyQueryMetadata says where a key of a store lives (Kafka Streams'
// KeyQueryMetadata).
type KeyQueryMetadata struct {
	// ActiveHost is the application.server of the instance running the
	// key's task as active; zero when that instance has none.
	ActiveHost HostInfo
	// StandbyHosts are the application.servers of the instances with a
	// standby of the task (WithNumStandbyReplicas); empty without
	// standby replicas.
	StandbyHosts []HostInfo
	// Partition is the store partition (task) holding the key.
	Partition int32
}

// MetadataForAllStreamsClients describes every instance of the
// application in the group's latest task map, this one included, ordered
// by host. It returns ErrMetadataUnavailable before the first map
// arrived.
func (a *App) MetadataForAllStreamsClients() ([]StreamsMetadata, error) {
	info := a.balancer.latest.Load()
	if info == nil {
		return nil, fmt.Errorf("%w: application %q has not received a group assignment yet", ErrMetadataUnavailable, a.cfg.appID)
	}
	out := make([]StreamsMetadata, 0, len(info.hosts))
	for _, h := range info.hosts {
		md := StreamsMetadata{HostInfo: hostInfoOf(h.server)}
		md.StateStoreNames, md.TopicPartitions = a.describeTasks(h.active)
		md.StandbyStateStoreNames, md.StandbyTopicPartitions = a.describeTasks(h.standby)
		out = append(out, md)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].HostInfo.String() < out[j].HostInfo.String() })
	return out, nil
}

// describeTasks lists the stores (plus the global stores, for a non-empty
// task list) and the source partitions of tasks.
func (a *App) describeTasks(tasks []TaskID) ([]string, []TopicPartition) {
	stores := []string{}
	parts := []TopicPartition{}
	if len(tasks) == 0 {
		return stores, parts
	}
	seen := map[string]bool{}
	for name := range a.topo.globals {
		seen[name] = true
		stores = append(stores, name)
	}
	a.countsMu.Lock()
	defer a.countsMu.Unlock()
	for _, id := range tasks {
		if id.Subtopology < 0 || id.Subtopology >= len(a.subs) {
			continue // another topology's task: not ours to describe
		}
		st := a.subs[id.Subtopology]
		for _, name := range st.stores {
			if !seen[name] {
				seen[name] = true
				stores = append(stores, name)
			}
		}
		for _, src := range st.sourceTopics {
			topic := a.resolveTopic(src)
			// A task reads partition p of the topics that have it (see
			// newTask); counts are known once Run prepared the topics.
			if n, ok := a.counts[topic]; ok && id.Partition < n {
				parts = append(parts, TopicPartition{Topic: topic, Partition: id.Partition})
			}
		}
	}
	sort.Strings(stores)
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].Topic != parts[j].Topic {
			return parts[i].Topic < parts[j].Topic
		}
		return parts[i].Partition < parts[j].Partition
	})
	return stores, parts
}

// QueryMetadataForKey says which instance holds key (serialized with the
// store's key serde) in store, and in which partition: murmur2 of the key
// modulo the store's task count, as the default partitioner places it
// (see QueryKeyValue). It returns ErrUnknownStore for a store the topology
// lacks, ErrNotReady before Run prepared the topics, and
// ErrMetadataUnavailable (with Partition set) while the key's task has no
// known owner. A key-value, window or session store may be named.
func (a *App) QueryMetadataForKey(store string, key []byte) (KeyQueryMetadata, error) {
	q, err := a.anyStoreQuery(store)
	if err != nil {
		return KeyQueryMetadata{}, err
	}
	if key == nil {
		key = []byte{}
	}
	return a.keyMetadata(q, key)
}

// QueryMetadataForKeyOf is App.QueryMetadataForKey for a typed key,
// serialized with keys (the serde the store was written with).
func QueryMetadataForKeyOf[K any](app *App, store string, key K, keys serde.Serde[K]) (KeyQueryMetadata, error) {
	if app == nil {
		return KeyQueryMetadata{}, errors.New("core: QueryMetadataForKeyOf: nil App")
	}
	q, err := app.anyStoreQuery(store)
	if err != nil {
		return KeyQueryMetadata{}, err
	}
	kb, err := serializeKey(q, keys, key)
	if err != nil {
		return KeyQueryMetadata{}, err
	}
	return app.keyMetadata(q, kb)
}

// anyStoreQuery is the untyped query of a store of any kind.
func (a *App) anyStoreQuery(store string) (*storeQuery, error) {
	spec := a.topo.stores[store]
	if spec == nil {
		return nil, fmt.Errorf("%w: %q is not in the topology", ErrUnknownStore, store)
	}
	return newStoreQuery(a, store, spec.Kind, nil)
}

func (a *App) keyMetadata(q *storeQuery, key []byte) (KeyQueryMetadata, error) {
	p, err := q.partitionOf(key)
	if err != nil {
		return KeyQueryMetadata{}, err
	}
	md := KeyQueryMetadata{Partition: p, StandbyHosts: []HostInfo{}}
	owner, err := a.partitionOwner(q, p)
	if err != nil {
		return md, err
	}
	md.ActiveHost = hostInfoOf(owner.server)
	if info := a.balancer.latest.Load(); info != nil {
		id := TaskID{Subtopology: q.sub.id, Partition: p}
		for _, h := range info.hosts {
			if containsTask(h.standby, id) {
				md.StandbyHosts = append(md.StandbyHosts, hostInfoOf(h.server))
			}
		}
	}
	return md, nil
}

// owner is the instance running a store partition's task as active, from
// the group's latest task map.
type owner struct {
	server string // its application.server; "" when it has none
	self   bool   // this instance
}

// partitionOwner finds the active owner of partition p of q's store.
func (a *App) partitionOwner(q *storeQuery, p int32) (owner, error) {
	info := a.balancer.latest.Load()
	if info == nil {
		return owner{}, fmt.Errorf("%w: application %q has not received a group assignment yet", ErrMetadataUnavailable, a.cfg.appID)
	}
	h := info.activeOwner(TaskID{Subtopology: q.sub.id, Partition: p})
	if h == nil {
		return owner{}, fmt.Errorf("%w: store %q partition %d has no active owner in generation %d", ErrMetadataUnavailable, q.store, p, info.generation)
	}
	return owner{server: h.server, self: h.process == a.process}, nil
}

// ThreadMetadata describes one stream thread of this instance (Kafka
// Streams' ThreadMetadata).
type ThreadMetadata struct {
	// ThreadName is "<application id>-StreamThread-<n>", also the thread's
	// Kafka client id.
	ThreadName string
	// ThreadState is Kafka Streams' thread state name: CREATED (before
	// Run), STARTING (joining the group), PARTITIONS_ASSIGNED (restoring
	// state), RUNNING, or DEAD (after Run).
	ThreadState string
	// ActiveTasks are the thread's tasks, in task order. StandbyTasks are
	// always empty: an instance's standby tasks run beside its stream
	// threads, not on one (MetadataForAllStreamsClients lists them).
	ActiveTasks  []TaskMetadata
	StandbyTasks []TaskMetadata
}

// TaskMetadata describes one task of a stream thread.
type TaskMetadata struct {
	TaskID TaskID
	// TopicPartitions are the task's input partitions, sorted.
	TopicPartitions []TopicPartition
}

// threadTasks is what a stream thread publishes of its tasks for
// MetadataForLocalThreads: written by the thread (with its mu held) when
// tasks open or close, read by any goroutine; immutable once published.
type threadTasks struct {
	active []TaskMetadata
}

// MetadataForLocalThreads describes this instance's stream threads and
// their tasks, from what each thread published when its tasks last
// changed.
func (a *App) MetadataForLocalThreads() []ThreadMetadata {
	appState := a.State()
	out := make([]ThreadMetadata, len(a.threadTasks))
	for i := range a.threadTasks {
		md := ThreadMetadata{ThreadName: a.cfg.appID + "-StreamThread-" + strconv.Itoa(i+1),
			ActiveTasks: []TaskMetadata{}, StandbyTasks: []TaskMetadata{}}
		switch {
		case appState == StateCreated:
			md.ThreadState = "CREATED"
		case appState == StateNotRunning || appState == StateError:
			md.ThreadState = "DEAD"
		default:
			switch a.state.threads[i].Load() {
			case threadJoining:
				md.ThreadState = "STARTING"
			case threadRestoring:
				md.ThreadState = "PARTITIONS_ASSIGNED"
			default:
				md.ThreadState = "RUNNING"
			}
		}
		if tt := a.threadTasks[i].Load(); tt != nil && md.ThreadState != "DEAD" {
			md.ActiveTasks = tt.active
		}
		out[i] = md
	}
	return out
}

// publishTasks publishes the thread's current tasks (see threadTasks). It
// runs with t.mu held.
func (t *thread) publishTasks() {
	tt := &threadTasks{active: make([]TaskMetadata, 0, len(t.tasks))}
	for id, tk := range t.tasks {
		tm := TaskMetadata{TaskID: id, TopicPartitions: make([]TopicPartition, 0, len(tk.queues))}
		for _, q := range tk.queues {
			tm.TopicPartitions = append(tm.TopicPartitions, TopicPartition{Topic: q.topic, Partition: q.partition})
		}
		sort.Slice(tm.TopicPartitions, func(i, j int) bool { return tm.TopicPartitions[i].Topic < tm.TopicPartitions[j].Topic })
		tt.active = append(tt.active, tm)
	}
	sort.Slice(tt.active, func(i, j int) bool { return taskLess(tt.active[i].TaskID, tt.active[j].TaskID) })
	t.app.threadTasks[t.idx].Store(tt)
}

// standbyServers are the application.servers of the other instances with
// a standby of partition p of q's store, in the task map's order.
func (a *App) standbyServers(q *storeQuery, p int32) []string {
	out := []string{}
	info := a.balancer.latest.Load()
	if info == nil {
		return out
	}
	id := TaskID{Subtopology: q.sub.id, Partition: p}
	for _, h := range info.hosts {
		if h.process != a.process && h.server != "" && containsTask(h.standby, id) {
			out = append(out, h.server)
		}
	}
	return out
}
