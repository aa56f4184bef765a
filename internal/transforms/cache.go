package transforms

import (
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/connectors"
)

// schemaCacheSize bounds every transform's cache of derived schemas, as
// Kafka Connect's transforms bound theirs (a synchronized LRUCache of 16).
// A stream rarely carries more live schema versions than that; when it
// does, the oldest derivations are dropped and recomputed on demand, so
// memory stays bounded whatever the input.
const schemaCacheSize = 16

// planCache maps an input schema (by pointer: schemas are immutable and
// shared, see connectors.Schema) to what a transform derived from it once:
// the output schema and a compiled plan of how to build values. It is an
// LRU of schemaCacheSize entries, safe for concurrent use by the tasks
// that share a transform.
//
// The most recent hit is also published through an atomic pointer, so the
// common case (one schema for the whole stream) is one atomic load and a
// pointer comparison, without taking the lock.
type planCache[P any] struct {
	last atomic.Pointer[planEntry[P]]

	mu      sync.Mutex
	entries []*planEntry[P] // most recently used first
}

type planEntry[P any] struct {
	in   *connectors.Schema
	plan P
	err  error // a derivation that failed fails every record of that schema the same way
}

// get returns the plan for in, deriving it with derive on a miss. derive
// runs under the cache's lock, so every input schema is derived once and
// every record of it gets the same output *Schema (which keeps the caches
// of later transforms and converters, also keyed by pointer, effective).
func (c *planCache[P]) get(in *connectors.Schema, derive func(*connectors.Schema) (P, error)) (P, error) {
	if e := c.last.Load(); e != nil && e.in == in {
		return e.plan, e.err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.entries {
		if e.in == in {
			copy(c.entries[1:i+1], c.entries[:i])
			c.entries[0] = e
			c.last.Store(e)
			return e.plan, e.err
		}
	}
	plan, err := derive(in)
	e := &planEntry[P]{in: in, plan: plan, err: err}
	if len(c.entries) < schemaCacheSize {
		c.entries = append(c.entries, nil)
	}
	copy(c.entries[1:], c.entries[:len(c.entries)-1])
	c.entries[0] = e
	c.last.Store(e)
	return plan, err
}

// len reports the number of cached derivations (for tests).
func (c *planCache[P]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
