package dsl

import (
	"fmt"

	"github.com/sluicehq/sluice/core"
)

// BranchedStream splits a stream into named branches: each record goes to
// the first branch whose predicate matches (Kafka Streams' split()).
type BranchedStream[K, V any] struct {
	s        *KStream[K, V]
	prefix   string
	node     string
	preds    []func(K, V) bool
	children []string
	result   map[string]*KStream[K, V]
	done     bool
}

// Split starts splitting s; name prefixes the branch names in the result
// map (and the branch nodes).
func (s *KStream[K, V]) Split(name ...Named) *BranchedStream[K, V] {
	bs := &BranchedStream[K, V]{s: s, result: map[string]*KStream[K, V]{}}
	if len(name) > 0 {
		bs.prefix = string(name[0])
	}
	bs.node = s.b.name("KSTREAM-BRANCH", name)
	if s.b.err == nil {
		b := s.b
		b.fail(core.AddProcessor(b.topo, bs.node, func() core.Processor[K, V, K, V] {
			return &branchProcessor[K, V]{bs: bs}
		}, s.node))
	}
	return bs
}

type branchProcessor[K, V any] struct {
	bs  *BranchedStream[K, V]
	ctx core.ProcessorContext[K, V]
}

func (p *branchProcessor[K, V]) Init(ctx core.ProcessorContext[K, V]) error { p.ctx = ctx; return nil }
func (p *branchProcessor[K, V]) Close() error                               { return nil }
func (p *branchProcessor[K, V]) Process(r core.Record[K, V]) error {
	for i, pred := range p.bs.preds {
		if pred == nil || pred(r.Key, r.Value) {
			return p.ctx.ForwardTo(p.bs.children[i], r)
		}
	}
	return nil
}

// Branch adds a branch named name (the result map key is prefix+name).
func (bs *BranchedStream[K, V]) Branch(pred func(key K, value V) bool, name string) *BranchedStream[K, V] {
	if pred == nil {
		bs.s.b.fail(fmt.Errorf("dsl: split branch %q: nil predicate (use DefaultBranch)", name))
		return bs
	}
	bs.add(pred, name)
	return bs
}

func (bs *BranchedStream[K, V]) add(pred func(K, V) bool, name string) {
	b := bs.s.b
	if bs.done {
		b.fail(fmt.Errorf("dsl: split %q: branch %q added after DefaultBranch/NoDefaultBranch", bs.prefix, name))
		return
	}
	suffix := name
	if name == "" {
		suffix = fmt.Sprint(len(bs.preds) + 1)
	}
	full := bs.prefix + suffix
	if _, dup := bs.result[full]; dup {
		b.fail(fmt.Errorf("dsl: split: duplicate branch name %q", full))
		return
	}
	// The branch node is named after the splitter node, as in Kafka
	// Streams: unlike the map key (no prefix for an unnamed split) that is
	// unique in the topology, so two unnamed splits do not collide.
	child := bs.node + suffix
	if b.err == nil {
		b.fail(core.AddProcessor(b.topo, child, pfn(func(ctx core.ProcessorContext[K, V], r *core.Record[K, V]) error {
			return ctx.ForwardPtr(r)
		}), bs.node))
	}
	bs.preds = append(bs.preds, pred)
	bs.children = append(bs.children, child)
	bs.result[full] = &KStream[K, V]{b: b, node: child, keys: bs.s.keys, values: bs.s.values, keyChanged: bs.s.keyChanged}
}

// DefaultBranch adds a branch for records no predicate matched and returns
// all branches by name.
func (bs *BranchedStream[K, V]) DefaultBranch(name string) map[string]*KStream[K, V] {
	if name == "" {
		name = "0"
	}
	bs.add(nil, name)
	bs.done = true
	return bs.result
}

// NoDefaultBranch drops records no predicate matched and returns all
// branches by name.
func (bs *BranchedStream[K, V]) NoDefaultBranch() map[string]*KStream[K, V] {
	bs.done = true
	return bs.result
}
