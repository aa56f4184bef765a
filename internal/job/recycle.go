package job

import (
	"sync"

	"github.com/sluicehq/sluice/serde"
)

// Records recycled in the commonest stateless pipeline: an input stream
// read by one pipeline whose steps are filters and then a projection
// (mapValues with fields), maybe written straight to a topic.
//
// A record in a job is a heap object behind an `any` (the Go DSL keeps
// its structs inside the engine's records): the decoded input and the
// projected output cost an allocation each per record, and their garbage
// collection, about a fifth of the stateless pipeline's time (see
// BENCHMARKS.md, issue 13). Where the compiler can see every reader of a
// record, it gives the record back to a pool at its last use, and the
// next record of the same kind is built in it:
//
//   - an input record when a filter drops it or the projection has read
//     it: its stream has no other reader (the input's name appears
//     nowhere else in the topology), and the projection's fields are
//     numbers, strings, booleans or times, so the projected record keeps
//     no pointer to it;
//   - a projected record once the sink that is its only reader (a `to`
//     ending the pipeline right after the projection) has serialized it.
//
// Nothing reads a record after that point: core's nodes do not keep
// records after process returns, a filter or projection keeps no value,
// and a sink writes bytes. The pools are sync.Pools because the steps'
// functions are shared by every task of every stream thread. A record
// taken from a pool is overwritten whole: a decoded input is zeroed first
// (avro's DeserializeInto), and a projection sets every field.

// recyclingSerde is an input's value serde handing out recycled records
// to decode into, once the compiler enabled it.
type recyclingSerde struct {
	serde.Serde[any]
	into func(topic string, data []byte, dst any) (any, error)
	// active is set while compiling, before any task exists, when a
	// projection gives records back; otherwise the pool stays empty.
	active bool
	pool   sync.Pool
}

// deserializerInto is the optional method of serde/avro's reflect serde.
type deserializerInto interface {
	DeserializeInto(topic string, data []byte, dst any) (any, error)
}

func newRecyclingSerde(s serde.Serde[any]) *recyclingSerde {
	into, ok := s.(deserializerInto)
	if !ok {
		return nil
	}
	return &recyclingSerde{Serde: s, into: into.DeserializeInto}
}

func (r *recyclingSerde) Deserialize(topic string, data []byte) (any, error) {
	if r.active {
		if dst := r.pool.Get(); dst != nil {
			return r.into(topic, data, dst)
		}
	}
	return r.Serde.Deserialize(topic, data)
}

// put gives back a record no step reads any more.
func (r *recyclingSerde) put(v any) {
	if v != nil {
		r.pool.Put(v)
	}
}

// releasingSerde is the value serde of a sink that is the only reader of
// a projection's records: it gives each record back once serialized.
type releasingSerde struct {
	serde.Serde[any]
	pool *sync.Pool
}

func (r releasingSerde) Serialize(topic string, v any) ([]byte, error) {
	b, err := r.Serde.Serialize(topic, v)
	if v != nil {
		r.pool.Put(v)
	}
	return b, err
}

// recyclableInputs returns the names of the input streams whose records
// may be recycled: read by exactly one pipeline, as its only input, whose
// steps begin with filters (or none) followed by a mapValues with fields,
// and named nowhere else in the topology. Any other string equal to the
// name in any step counts as a reference: a false one only loses the
// optimization.
func (j *Job) recyclableInputs() map[string]bool {
	refs := map[string]int{}
	var walk func(v *Value)
	walk = func(v *Value) {
		if v == nil {
			return
		}
		refs[v.Str]++
		for _, e := range v.Map {
			refs[e.Key]++
			walk(e.Val)
		}
		for _, e := range v.List {
			walk(e)
		}
	}
	for _, p := range j.Topology.Pipelines {
		for _, f := range p.From {
			refs[f.Name]++
		}
		for _, s := range p.Steps {
			walk(s.Arg)
		}
	}
	out := map[string]bool{}
	for _, p := range j.Topology.Pipelines {
		if len(p.From) != 1 || refs[p.From[0].Name] != 1 || projectionAfterFilters(p) < 0 {
			continue
		}
		out[p.From[0].Name] = true
	}
	return out
}

// projectionAfterFilters is the index of the pipeline's first step if it
// is a mapValues with fields and every step before it a filter, or -1.
func projectionAfterFilters(p *Pipeline) int {
	for i, s := range p.Steps {
		switch s.Op {
		case "filter", "filterNot":
			continue
		case "mapValues":
			if s.Arg != nil && s.Arg.Kind == KindMap {
				return i
			}
		}
		return -1
	}
	return -1
}

// projectionOnlyToSink reports whether step i (a projection) is followed
// by exactly one step, a `to`: the sink is then its records' only reader.
func projectionOnlyToSink(p *Pipeline, i int) bool {
	return i+2 == len(p.Steps) && p.Steps[i+1].Op == "to"
}

// recyclingMapper adds record recycling to a stream's mapValues step
// (compiling step c.step of p): giving the input back after the
// projection read it, and building into records the sink after it gave
// back. It returns mapper unchanged where neither applies.
func (c *compiler) recyclingMapper(p *Pipeline, proj *projected, mapper func(k, v any) any) func(k, v any) any {
	if proj.into == nil {
		return mapper
	}
	var in *recyclingSerde
	if c.recycleIn != nil && c.step-1 == c.projAt && proj.scalar {
		in = c.recycleIn
		in.active = true
	}
	var out *sync.Pool
	if projectionOnlyToSink(p, c.step-1) {
		out = new(sync.Pool)
		c.releaseTo = out
	}
	switch {
	case in != nil && out != nil:
		return func(k, v any) any {
			rec := proj.into(k, v, out.Get())
			in.put(v)
			return rec
		}
	case in != nil:
		return func(k, v any) any {
			rec := proj.into(k, v, nil)
			in.put(v)
			return rec
		}
	case out != nil:
		return func(k, v any) any { return proj.into(k, v, out.Get()) }
	}
	return mapper
}
