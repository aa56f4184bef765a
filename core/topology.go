package core

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/serde"
)

// Topology is a graph of source, processor and sink nodes. Build it with
// AddSource, AddProcessor, AddSink (or the typed DSL), then run it with New.
// A Topology is a template: every task instantiates its own nodes.
//
// Topics written by a sink and read by a source split the graph into
// sub-topologies, as in Kafka Streams; repartition topics declared with
// AddRepartitionTopic are internal topics named
// "<application-id>-<name>-repartition" and created by the runtime.
//
// A Topology is not safe for concurrent modification; once passed to New it
// must not be modified.
type Topology struct {
	nodes        []nodeSpec
	byName       map[string]nodeSpec
	sourceTopics map[string]string // topic -> source node name
	repartition  map[string]*RepartitionTopic
	stores       map[string]*StoreSpec
	globals      map[string]*globalStore
	seq          int
	sealed       bool
}

// RepartitionTopic is an internal topic through which records are
// re-keyed between sub-topologies.
type RepartitionTopic struct {
	// Name is the unprefixed topic name, ending in "-repartition".
	Name string
	// Partitions is the partition count; 0 means "as many as the largest
	// source topic of the sub-topology writing to it".
	Partitions int32
}

// NewTopology returns an empty topology.
func NewTopology() *Topology {
	return &Topology{
		byName:       map[string]nodeSpec{},
		sourceTopics: map[string]string{},
		repartition:  map[string]*RepartitionTopic{},
		stores:       map[string]*StoreSpec{},
	}
}

// NextName returns a unique generated node name with the given prefix, in
// Kafka Streams' style ("KSTREAM-FILTER-0000000001"). The DSL uses it for
// unnamed operators.
func (t *Topology) NextName(prefix string) string {
	n := fmt.Sprintf("%s-%010d", prefix, t.seq)
	t.seq++
	return n
}

// AddRepartitionTopic declares an internal repartition topic. name is the
// unprefixed base; the topic is "<name>-repartition" within the topology
// and "<application-id>-<name>-repartition" on the cluster. It returns the
// in-topology topic name to pass to AddSource and ToTopic.
func (t *Topology) AddRepartitionTopic(name string, partitions int32) (string, error) {
	if t.sealed {
		return "", errSealed
	}
	if name == "" {
		return "", errors.New("core: repartition topic needs a name")
	}
	if partitions < 0 {
		return "", fmt.Errorf("core: repartition topic %q: negative partition count %d", name, partitions)
	}
	topic := name + "-repartition"
	if _, ok := t.repartition[topic]; ok {
		return "", fmt.Errorf("core: repartition topic %q declared twice", topic)
	}
	t.repartition[topic] = &RepartitionTopic{Name: topic, Partitions: partitions}
	return topic, nil
}

var errSealed = errors.New("core: topology is already in use and can no longer be modified")

type nodeKind int

const (
	kindSource nodeKind = iota
	kindProcessor
	kindSink
)

// nodeBase is the type-independent part of every node spec.
type nodeBase struct {
	name     string
	kind     nodeKind
	order    int
	parents  []string
	children []string
	inK, inV reflect.Type // nil for sources
	outK     reflect.Type // nil for sinks
	outV     reflect.Type
	topics   []string // sources: topics read; sinks: fixed topic (if any)
	stores   []string
	globals  []string // global stores the processor reads
}

// nodeSpec is one node of the template; instantiate builds the node for a
// task once its children have been built.
type nodeSpec interface {
	base() *nodeBase
	instantiate(tk *task, children []any) (any, error)
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

func typeName(t reflect.Type) string {
	if t == nil {
		return "?"
	}
	return t.String()
}

func (t *Topology) add(spec nodeSpec) error {
	if t.sealed {
		return errSealed
	}
	b := spec.base()
	if b.name == "" {
		return errors.New("core: node name must not be empty")
	}
	if _, dup := t.byName[b.name]; dup {
		return fmt.Errorf("core: node %q already exists in the topology", b.name)
	}
	if b.kind != kindSource && len(b.parents) == 0 {
		return fmt.Errorf("core: node %q needs at least one parent", b.name)
	}
	for _, p := range b.parents {
		ps, ok := t.byName[p]
		if !ok {
			return fmt.Errorf("core: node %q: parent %q is not in the topology (add parents first)", b.name, p)
		}
		pb := ps.base()
		if pb.kind == kindSink {
			return fmt.Errorf("core: node %q: parent %q is a sink and cannot have children", b.name, p)
		}
		if pb.outK != b.inK || pb.outV != b.inV {
			return fmt.Errorf("core: node %q accepts records of (%s, %s) but parent %q forwards (%s, %s)",
				b.name, typeName(b.inK), typeName(b.inV), p, typeName(pb.outK), typeName(pb.outV))
		}
	}
	if b.kind == kindSource {
		if len(b.topics) == 0 {
			return fmt.Errorf("core: source %q needs at least one topic", b.name)
		}
		for _, topic := range b.topics {
			if other, ok := t.sourceTopics[topic]; ok {
				return fmt.Errorf("core: source %q: topic %q is already read by source %q", b.name, topic, other)
			}
		}
		for _, topic := range b.topics {
			t.sourceTopics[topic] = b.name
		}
	}
	b.order = len(t.nodes)
	for _, p := range b.parents {
		pb := t.byName[p].base()
		pb.children = append(pb.children, b.name)
	}
	t.nodes = append(t.nodes, spec)
	t.byName[b.name] = spec
	return nil
}

// SourceOption configures a source node.
type SourceOption func(*sourceConfig)

type sourceConfig struct {
	extractor TimestampExtractor
}

// WithSourceTimestampExtractor overrides the application's timestamp
// extractor for this source's topics. Default: the application's extractor.
func WithSourceTimestampExtractor(e TimestampExtractor) SourceOption {
	return func(c *sourceConfig) { c.extractor = e }
}

// AddSource adds a source node reading topics with the given serdes. A topic
// can be read by only one source node; repartition topics are given by the
// name AddRepartitionTopic returned.
func AddSource[K, V any](t *Topology, name string, keys serde.Deserializer[K], values serde.Deserializer[V], topics []string, opts ...SourceOption) error {
	if keys == nil || values == nil {
		return fmt.Errorf("core: source %q needs key and value deserializers", name)
	}
	var cfg sourceConfig
	for _, o := range opts {
		o(&cfg)
	}
	s := &sourceSpec[K, V]{
		nodeBase: nodeBase{name: name, kind: kindSource, outK: typeOf[K](), outV: typeOf[V](), topics: append([]string(nil), topics...)},
		keys:     keys, values: values, cfg: cfg,
	}
	return t.add(s)
}

// AddProcessor adds a processor node fed by parents, all of which must
// forward Record[KIn, VIn]. supplier is called once per task.
func AddProcessor[KIn, VIn, KOut, VOut any](t *Topology, name string, supplier func() Processor[KIn, VIn, KOut, VOut], parents ...string) error {
	if supplier == nil {
		return fmt.Errorf("core: processor %q needs a supplier", name)
	}
	s := &processorSpec[KIn, VIn, KOut, VOut]{
		nodeBase: nodeBase{name: name, kind: kindProcessor, parents: parents,
			inK: typeOf[KIn](), inV: typeOf[VIn](), outK: typeOf[KOut](), outV: typeOf[VOut]()},
		supplier: supplier,
	}
	return t.add(s)
}

// TopicChooser picks the output topic of a sink for each record. It is the
// equivalent of Kafka Streams' TopicNameExtractor; use ToTopic for a fixed
// topic.
type TopicChooser[K, V any] struct {
	fixed string
	fn    func(rec Record[K, V]) string
}

// ToTopic writes every record to topic (a repartition topic name from
// AddRepartitionTopic is resolved to the application's internal topic).
func ToTopic[K, V any](topic string) TopicChooser[K, V] { return TopicChooser[K, V]{fixed: topic} }

// ToTopicFunc chooses the topic per record; fn must return a non-empty name.
func ToTopicFunc[K, V any](fn func(rec Record[K, V]) string) TopicChooser[K, V] {
	return TopicChooser[K, V]{fn: fn}
}

// StreamPartitioner chooses the partition for a record written by a sink;
// ok=false falls back to the default (murmur2 of the key bytes, like Kafka's
// Java producer; round-robin for null keys).
type StreamPartitioner[K, V any] func(topic string, rec Record[K, V], numPartitions int32) (partition int32, ok bool)

// SinkOption configures a sink node.
type SinkOption[K, V any] func(*sinkSpec[K, V])

// WithPartitioner sets a sink's partitioner. Default: murmur2 of the
// serialized key, byte-compatible with Kafka's default partitioner.
func WithPartitioner[K, V any](p StreamPartitioner[K, V]) SinkOption[K, V] {
	return func(s *sinkSpec[K, V]) { s.partitioner = p }
}

// AddSink adds a sink node writing records from parents to the chosen topic.
func AddSink[K, V any](t *Topology, name string, keys serde.Serializer[K], values serde.Serializer[V], to TopicChooser[K, V], parents []string, opts ...SinkOption[K, V]) error {
	if keys == nil || values == nil {
		return fmt.Errorf("core: sink %q needs key and value serializers", name)
	}
	if to.fixed == "" && to.fn == nil {
		return fmt.Errorf("core: sink %q needs a topic", name)
	}
	s := &sinkSpec[K, V]{
		nodeBase: nodeBase{name: name, kind: kindSink, parents: parents, inK: typeOf[K](), inV: typeOf[V]()},
		keys:     keys, values: values, to: to,
	}
	if to.fixed != "" {
		s.topics = []string{to.fixed}
	}
	for _, o := range opts {
		o(s)
	}
	return t.add(s)
}

// subtopology is one connected part of the topology: its nodes (in insertion
// order) and the topics its sources read.
type subtopology struct {
	id           int
	nodes        []nodeSpec
	sourceTopics []string // in-topology names, sorted
	sinkTopics   []string // fixed sink topics, sorted
	stores       []string // state stores of its processors
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// subtopologies splits the graph at topics: two nodes are in the same
// sub-topology when connected by parent/child edges.
func (t *Topology) subtopologies() []*subtopology {
	parent := make([]int, len(t.nodes))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int) {
		ra, rb := find(a), find(b)
		if ra == rb {
			return
		}
		if ra < rb {
			parent[rb] = ra
		} else {
			parent[ra] = rb
		}
	}
	for i, n := range t.nodes {
		for _, p := range n.base().parents {
			union(i, t.byName[p].base().order)
		}
	}
	// Processors sharing a store run in the same task.
	owner := map[string]int{}
	for i, n := range t.nodes {
		for _, st := range n.base().stores {
			if j, ok := owner[st]; ok {
				union(i, j)
			} else {
				owner[st] = i
			}
		}
	}
	groups := map[int]*subtopology{}
	var out []*subtopology
	for i, n := range t.nodes {
		root := find(i)
		st, ok := groups[root]
		if !ok {
			st = &subtopology{}
			groups[root] = st
			out = append(out, st)
		}
		st.nodes = append(st.nodes, n)
		b := n.base()
		switch b.kind {
		case kindSource:
			st.sourceTopics = append(st.sourceTopics, b.topics...)
		case kindSink:
			st.sinkTopics = append(st.sinkTopics, b.topics...)
		}
		for _, name := range b.stores {
			if !containsString(st.stores, name) {
				st.stores = append(st.stores, name)
			}
		}
	}
	for i, st := range out {
		st.id = i
		sort.Strings(st.sourceTopics)
		sort.Strings(st.sinkTopics)
	}
	return out
}

// Describe returns the topology in Kafka Streams' Topology.describe() format.
func (t *Topology) Describe() string {
	var b strings.Builder
	b.WriteString("Topologies:\n")
	for _, st := range t.subtopologies() {
		// Kafka Streams writes "Topologies:\n " and then "  " before every
		// sub-topology, so only the first is indented by three spaces.
		indent := "  "
		if st.id == 0 {
			indent = "   "
		}
		fmt.Fprintf(&b, "%sSub-topology: %d\n", indent, st.id)
		for _, n := range st.nodes {
			nb := n.base()
			switch nb.kind {
			case kindSource:
				fmt.Fprintf(&b, "    Source: %s (topics: [%s])\n", nb.name, strings.Join(nb.topics, ", "))
			case kindProcessor:
				fmt.Fprintf(&b, "    Processor: %s (stores: [%s])\n", nb.name, strings.Join(append(append([]string(nil), nb.stores...), nb.globals...), ", "))
			case kindSink:
				if len(nb.topics) == 1 {
					fmt.Fprintf(&b, "    Sink: %s (topic: %s)\n", nb.name, nb.topics[0])
				} else {
					fmt.Fprintf(&b, "    Sink: %s (extractor: topic chooser function)\n", nb.name)
				}
			}
			if nb.kind != kindSink {
				children := "none"
				if len(nb.children) > 0 {
					children = strings.Join(nb.children, ", ")
				}
				fmt.Fprintf(&b, "      --> %s\n", children)
			}
			if len(nb.parents) > 0 {
				fmt.Fprintf(&b, "      <-- %s\n", strings.Join(nb.parents, ", "))
			}
		}
		b.WriteString("\n")
	}
	t.describeGlobals(&b, len(t.subtopologies()))
	return b.String()
}

// describeGlobals appends Kafka Streams' description of global stores.
func (t *Topology) describeGlobals(b *strings.Builder, next int) {
	names := make([]string, 0, len(t.globals))
	for name := range t.globals {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		g := t.globals[name]
		fmt.Fprintf(b, "  Sub-topology: %d for global store (will not generate tasks)\n", next+i)
		fmt.Fprintf(b, "    Source: %s-source (topics: [%s])\n", name, g.topic)
		fmt.Fprintf(b, "      --> %s-updater\n", name)
		fmt.Fprintf(b, "    Processor: %s-updater (stores: [%s])\n", name, name)
		fmt.Fprintf(b, "      <-- %s-source\n\n", name)
	}
}

// String is Describe.
func (t *Topology) String() string { return t.Describe() }

// SourceTopics lists every topic read by the topology, sorted (repartition
// topics by their in-topology names).
func (t *Topology) SourceTopics() []string {
	out := make([]string, 0, len(t.sourceTopics))
	for topic := range t.sourceTopics {
		out = append(out, topic)
	}
	sort.Strings(out)
	return out
}
