package core

import (
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kpart"
)

// CopartitionGroup is a set of source topics that must be co-partitioned:
// same partition count, records partitioned by the same key bytes. Task p
// of a sub-topology reads partition p of each, so records with equal keys
// meet in the same task only if the topics are co-partitioned.
type CopartitionGroup struct {
	// Topics are the in-topology topic names (repartition topics as
	// AddRepartitionTopic returned them), sorted.
	Topics []string
	// Stores are the state stores through which the topics' records meet,
	// sorted.
	Stores []string
}

// CopartitionGroups returns the topology's co-partition groups. They are
// derived, not declared: a local state store connected to two or more
// processors joins the inputs of those processors, so the source topics
// upstream of them form a group (what Kafka Streams records for
// stream-table, stream-stream and table-table joins and cogroups).
// Overlapping groups are merged; a processor fed by several topics that
// shares its store with no other processor (a merge into an aggregation)
// adds no group, as in Kafka Streams.
//
// App.Run enforces the groups before starting, as Kafka Streams'
// CopartitionedTopicsEnforcer does: the user topics of a group must have
// the same partition count, and the group's repartition topics are given
// that count (or, in a group of repartition topics only, the largest of
// their counts).
func (t *Topology) CopartitionGroups() []CopartitionGroup {
	upstream := map[string][]string{} // node -> source topics feeding it
	var sources func(name string) []string
	sources = func(name string) []string {
		if topics, ok := upstream[name]; ok {
			return topics
		}
		b := t.byName[name].base()
		var topics []string
		if b.kind == kindSource {
			topics = append(topics, b.topics...)
		}
		for _, p := range b.parents {
			topics = append(topics, sources(p)...)
		}
		upstream[name] = topics
		return topics
	}
	users := map[string][]string{} // store -> processors connected to it
	for _, n := range t.nodes {
		for _, st := range n.base().stores {
			users[st] = append(users[st], n.base().name)
		}
	}
	// Union-find over topics; each multi-processor store unites its
	// processors' inputs.
	parent := map[string]string{}
	find := func(x string) string {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	storesOf := map[string][]string{} // any topic of a group -> its stores
	for st, procs := range users {
		if len(procs) < 2 {
			continue
		}
		var topics []string
		for _, p := range procs {
			topics = append(topics, sources(p)...)
		}
		if len(topics) == 0 {
			continue
		}
		for _, topic := range topics {
			if _, ok := parent[topic]; !ok {
				parent[topic] = topic
			}
		}
		root := find(topics[0])
		for _, topic := range topics[1:] {
			if r := find(topic); r != root {
				parent[r] = root
				storesOf[root] = append(storesOf[root], storesOf[r]...)
				delete(storesOf, r)
			}
		}
		storesOf[root] = append(storesOf[root], st)
	}
	byRoot := map[string]*CopartitionGroup{}
	for topic := range parent {
		root := find(topic)
		g := byRoot[root]
		if g == nil {
			g = &CopartitionGroup{}
			byRoot[root] = g
		}
		g.Topics = append(g.Topics, topic)
	}
	var out []CopartitionGroup
	for root, g := range byRoot {
		if len(g.Topics) < 2 {
			continue
		}
		sort.Strings(g.Topics)
		g.Stores = append([]string(nil), storesOf[root]...)
		sort.Strings(g.Stores)
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Topics[0] < out[j].Topics[0] })
	return out
}

// enforceCopartitioning checks every co-partition group against the
// partition counts of the user topics (counts, by cluster name) and sets
// the counts of its repartition topics (want, by in-topology name; 0 when
// not derivable), following Kafka Streams' CopartitionedTopicsEnforcer:
//   - the user topics of a group must all have the same count, which every
//     repartition topic of the group gets;
//   - in a group of repartition topics only, those with an explicit count
//     must agree and the others get it, or else all get the largest count;
//   - a repartition topic whose explicit count differs is an error.
//
// Repartition topics written downstream of a resized one keep the count
// derived before, as in Kafka Streams.
func (a *App) enforceCopartitioning(counts, want map[string]int32) error {
	for _, g := range a.topo.CopartitionGroups() {
		var user, internal []string
		for _, topic := range g.Topics {
			if _, ok := a.topo.repartition[topic]; ok {
				internal = append(internal, topic)
			} else {
				user = append(user, topic)
			}
		}
		var n int32
		describe := func(topics []string, count func(string) int32) string {
			parts := make([]string, len(topics))
			for i, topic := range topics {
				parts[i] = fmt.Sprintf("%s (%d partitions)", a.resolveTopic(topic), count(topic))
			}
			return strings.Join(parts, ", ")
		}
		stores := strings.Join(g.Stores, ", ")
		if len(user) > 0 {
			n = counts[user[0]]
			for _, topic := range user[1:] {
				if counts[topic] != n {
					return fmt.Errorf("core: topics not co-partitioned: %s are joined through store(s) %s and must have the same partition count; repartition one input to the other's count (dsl Repartitioned.Partitions) or recreate the topics",
						describe(user, func(t string) int32 { return counts[t] }), stores)
				}
			}
		} else {
			var explicit []string
			for _, topic := range internal {
				if a.topo.repartition[topic].Partitions > 0 {
					explicit = append(explicit, topic)
				}
			}
			for _, topic := range internal {
				n = max(n, want[topic])
			}
			if len(explicit) > 0 {
				n = a.topo.repartition[explicit[0]].Partitions
			}
			if n == 0 {
				continue // not derivable: prepareTopics reports it
			}
		}
		for _, topic := range internal {
			if p := a.topo.repartition[topic].Partitions; p > 0 && p != n {
				return fmt.Errorf("core: repartition topic %s has %d partitions (set explicitly) but is co-partitioned, through store(s) %s, with %s; set %d partitions or none",
					a.resolveTopic(topic), p, stores, describe(slicesWithout(g.Topics, topic), func(t string) int32 {
						if rt, ok := a.topo.repartition[t]; ok {
							return max(rt.Partitions, want[t])
						}
						return counts[t]
					}), n)
			}
			want[topic] = n
		}
	}
	return nil
}

func slicesWithout(list []string, drop string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

// copartitionedUserTopics is the set of user topics (in-topology names)
// that belong to a co-partition group. Repartition topics are left out:
// Sluice writes them itself, with the default partitioner or with a
// StreamPartitioner chosen on purpose, so a record there is where its
// writer meant it to be.
func (t *Topology) copartitionedUserTopics() map[string]bool {
	out := map[string]bool{}
	for _, g := range t.CopartitionGroups() {
		for _, topic := range g.Topics {
			if _, internal := t.repartition[topic]; !internal {
				out[topic] = true
			}
		}
	}
	return out
}

// Partition checks of co-partitioned inputs: the first
// partitionCheckFirst keyed records of each input partition of a task
// are checked, then one in partitionCheckEvery. A producer with another
// partitioner (librdkafka's default is CRC32, not murmur2) misplaces about
// (n-1)/n of its keys, so the first records reveal it at once; sampling
// afterwards still notices a producer that changes later, while the
// steady-state cost is one increment and one branch per record instead of
// a murmur2 over the key (a few ns per 16 bytes, against a per-record
// budget of well under a microsecond on the stateless path).
const (
	partitionCheckFirst = 1024
	partitionCheckEvery = 128 // a power of two: the sample test is a mask
)

// partitionCheck verifies that keyed records of a co-partitioned user
// topic are on the partition the default partitioner (Kafka's murmur2, as
// Kafka Streams and Java producers use) gives their raw key bytes. A record
// elsewhere never meets the other inputs' records with the same key: a
// silent cause of missed joins. Owned by the task's goroutine.
type partitionCheck struct {
	partitions int   // the topic's partition count
	seen       int64 // keyed records seen
	// misrouted counts records found on a wrong partition, not yet
	// reported (thread.report drains it).
	misrouted int64
}

// check looks at a keyed record of q, sampled as described above.
func (c *partitionCheck) check(tk *task, q *recordQueue, r *kgo.Record) {
	c.seen++
	if c.seen > partitionCheckFirst && c.seen&(partitionCheckEvery-1) != 0 {
		return
	}
	want := kpart.ForKey(r.Key, c.partitions)
	if int32(want) == q.partition {
		return
	}
	c.misrouted++
	if _, logged := tk.env.cfg.misrouteLogged.LoadOrStore(q.topic, true); logged {
		return
	}
	tk.env.log.Warn("sluice: a record of a co-partitioned topic is on a partition its key does not hash to; joins and cogroups on this topic miss matches for such keys. "+
		"Producers to this topic must use Kafka's default partitioner (murmur2 of the serialized key; librdkafka: partitioner=murmur2_random); "+
		"counted in misrouted_records_total, logged once per topic",
		"topic", q.topic, "partition", q.partition, "offset", r.Offset,
		"key_partition", want, "partitions", c.partitions)
}
