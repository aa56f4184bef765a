package dsl

import (
	"fmt"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
)

// Produced configures a sink: serdes (default: the stream's), node name and
// partitioner (default: murmur2 of the key, like Kafka's producer).
type Produced[K, V any] struct {
	Keys        serde.Serializer[K]
	Values      serde.Serializer[V]
	Name        string
	Partitioner core.StreamPartitioner[K, V]
}

// ProducedWith returns a Produced with the given serdes.
func ProducedWith[K, V any](keys serde.Serializer[K], values serde.Serializer[V]) Produced[K, V] {
	return Produced[K, V]{Keys: keys, Values: values}
}

// WithName names the sink node.
func (p Produced[K, V]) WithName(name string) Produced[K, V] { p.Name = name; return p }

// WithPartitioner sets the sink's partitioner.
func (p Produced[K, V]) WithPartitioner(fn core.StreamPartitioner[K, V]) Produced[K, V] {
	p.Partitioner = fn
	return p
}

// To writes the stream to topic.
func (s *KStream[K, V]) To(topic string, produced ...Produced[K, V]) {
	s.to(core.ToTopic[K, V](topic), topic, produced)
}

// ToFunc writes each record to the topic chooser returns for it (Kafka
// Streams' TopicNameExtractor). Topics must exist.
func (s *KStream[K, V]) ToFunc(chooser func(rec core.Record[K, V]) string, produced ...Produced[K, V]) {
	s.to(core.ToTopicFunc(chooser), "a topic chooser", produced)
}

func (s *KStream[K, V]) to(dest core.TopicChooser[K, V], what string, produced []Produced[K, V]) {
	b := s.b
	var p Produced[K, V]
	if len(produced) > 0 {
		p = produced[0]
	}
	keys, values := p.Keys, p.Values
	if keys == nil && s.keys != nil {
		keys = s.keys
	}
	if values == nil && s.values != nil {
		values = s.values
	}
	name := p.Name
	if name == "" {
		name = b.topo.NextName("KSTREAM-SINK")
	}
	if b.err != nil {
		return
	}
	if keys == nil || values == nil {
		b.fail(fmt.Errorf("dsl: sink to %s after node %q: no serde known for the stream's key or value type; pass dsl.ProducedWith(...) or use WithSerdes", what, s.node))
		return
	}
	var opts []core.SinkOption[K, V]
	if p.Partitioner != nil {
		opts = append(opts, core.WithPartitioner(p.Partitioner))
	}
	b.fail(core.AddSink(b.topo, name, keys, values, dest, []string{s.node}, opts...))
}

// Repartitioned configures Repartition: serdes (default: the stream's),
// the base name of the internal topic ("<application-id>-<name>-repartition")
// and its partition count (default: that of the upstream source topics).
type Repartitioned[K, V any] struct {
	Keys        serde.Serde[K]
	Values      serde.Serde[V]
	Name        string
	Partitions  int32
	Partitioner core.StreamPartitioner[K, V]
}

// RepartitionedWith returns a Repartitioned with the given serdes.
func RepartitionedWith[K, V any](keys serde.Serde[K], values serde.Serde[V]) Repartitioned[K, V] {
	return Repartitioned[K, V]{Keys: keys, Values: values}
}

// WithName sets the repartition topic's base name.
func (r Repartitioned[K, V]) WithName(name string) Repartitioned[K, V] { r.Name = name; return r }

// WithPartitions sets the repartition topic's partition count.
func (r Repartitioned[K, V]) WithPartitions(n int32) Repartitioned[K, V] {
	r.Partitions = n
	return r
}

// Repartition writes the stream through an internal topic, so that records
// are partitioned by their current key, and reads it back in a new
// sub-topology.
func (s *KStream[K, V]) Repartition(opts ...Repartitioned[K, V]) *KStream[K, V] {
	var r Repartitioned[K, V]
	if len(opts) > 0 {
		r = opts[0]
	}
	return repartition(s, r)
}

func repartition[K, V any](s *KStream[K, V], r Repartitioned[K, V]) *KStream[K, V] {
	b := s.b
	keys, values := r.Keys, r.Values
	if keys == nil {
		keys = s.keys
	}
	if values == nil {
		values = s.values
	}
	base := r.Name
	if base == "" {
		base = b.topo.NextName("KSTREAM-REPARTITION")
	}
	out := &KStream[K, V]{b: b, node: base + "-source", keys: keys, values: values}
	if b.err != nil {
		return out
	}
	if keys == nil || values == nil {
		b.fail(fmt.Errorf("dsl: repartition after node %q: no serde known for the stream's key or value type; pass dsl.RepartitionedWith(...)", s.node))
		return out
	}
	topic, err := b.topo.AddRepartitionTopic(base, r.Partitions)
	if err != nil {
		b.fail(err)
		return out
	}
	s.WithSerdes(keys, values).To(topic, Produced[K, V]{Name: base + "-sink", Partitioner: r.Partitioner})
	if b.err == nil {
		b.fail(core.AddSource(b.topo, out.node, keys, values, []string{topic}))
	}
	return out
}
