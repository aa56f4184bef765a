package dsl

import (
	"fmt"

	"github.com/sluicehq/sluice/core"
)

// JoinGlobal joins each record of s with the row of the global table g
// whose key is keySelector(key, value) (Kafka Streams'
// KStream#join(GlobalKTable, KeyValueMapper, ValueJoiner)): a record whose
// lookup key is in g yields joiner(value, globalValue) with the stream
// record's key, timestamp and headers; other records yield nothing. g is
// read as of processing time; updates of g produce no output. Records with
// a null value are dropped. Only the lookup key matters, so a record with
// a null key is joined too: keySelector gets the zero key (Kafka Streams
// passes null to the mapper). Go keys cannot be null, so there is no
// "no lookup key" result; filter such records out before the join.
//
// A global table holds every partition on every instance, so the stream
// needs no repartitioning and no co-partitioning, whatever its key.
func JoinGlobal[K, V, GK, GV, VR any](s *KStream[K, V], g *GlobalKTable[GK, GV], keySelector func(key K, value V) GK, joiner func(value V, globalValue GV) VR, name ...Named) *KStream[K, VR] {
	return joinGlobal(s, g, "KSTREAM-JOIN", false, keySelector, func(v V, gv GV, _ bool) VR { return joiner(v, gv) }, name)
}

// LeftJoinGlobal is JoinGlobal that keeps every record (Kafka Streams'
// KStream#leftJoin(GlobalKTable, ...)): a record whose lookup key is not in
// g yields joiner(value, zero, false); records with a null value are
// dropped.
func LeftJoinGlobal[K, V, GK, GV, VR any](s *KStream[K, V], g *GlobalKTable[GK, GV], keySelector func(key K, value V) GK, joiner func(value V, globalValue GV, found bool) VR, name ...Named) *KStream[K, VR] {
	return joinGlobal(s, g, "KSTREAM-LEFTJOIN", true, keySelector, joiner, name)
}

func joinGlobal[K, V, GK, GV, VR any](s *KStream[K, V], g *GlobalKTable[GK, GV], prefix string, left bool, keySelector func(K, V) GK, joiner func(V, GV, bool) VR, names []Named) *KStream[K, VR] {
	b := s.b
	if g.b != b {
		b.fail(fmt.Errorf("dsl: join of a stream and a global table from different builders"))
	}
	out := addProcessor(s, prefix, names, func() core.Processor[K, V, K, VR] {
		return &globalJoinProcessor[K, V, GK, GV, VR]{global: g, left: left, keySelector: keySelector, joiner: joiner}
	})
	if b.err == nil {
		b.fail(b.topo.ConnectProcessorAndStores([]string{out.node}, g.store))
	}
	return out
}

type globalJoinProcessor[K, V, GK, GV, VR any] struct {
	stateless[K, VR]
	global      *GlobalKTable[GK, GV]
	left        bool
	keySelector func(K, V) GK
	joiner      func(V, GV, bool) VR
}

func (p *globalJoinProcessor[K, V, GK, GV, VR]) Process(r core.Record[K, V]) error {
	// As Kafka Streams' KStreamKTableJoinProcessor (which also serves
	// global joins): a null value is "no message" and never joins.
	if r.NullValue {
		return nil
	}
	globalValue, found, err := GlobalLookup(p.ctx, p.global, p.keySelector(r.Key, r.Value))
	if err != nil {
		return err
	}
	if !found && !p.left {
		return nil
	}
	return p.ctx.Forward(core.WithValue(r, p.joiner(r.Value, globalValue, found)))
}
