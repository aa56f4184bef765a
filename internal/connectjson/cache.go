package connectjson

import (
	"container/list"
	"sync"

	"github.com/sluicehq/sluice/connectors"
)

// EnvelopeCodec writes and reads envelopes (schemas.enable=true) with
// JsonConverter's two schema caches: the JSON form of each schema written
// (by schema pointer) and the schema of each schema JSON read (by its exact
// text). Reading the same schema text again returns the same
// *connectors.Schema pointer, which downstream caches keyed by schema
// pointer (transforms, the Avro converter) rely on. Both caches are LRU and
// hold at most the configured number of entries. An EnvelopeCodec is safe
// for concurrent use.
type EnvelopeCodec struct {
	opts     Options
	toJSON   *lru[*connectors.Schema, []byte]
	toSchema *lru[string, *connectors.Schema]
}

// NewEnvelopeCodec returns a codec whose caches hold up to cacheSize
// schemas each (Kafka Connect's schemas.cache.size, default 1000); 0
// disables caching.
func NewEnvelopeCodec(cacheSize int, opts Options) *EnvelopeCodec {
	return &EnvelopeCodec{
		opts:     opts,
		toJSON:   newLRU[*connectors.Schema, []byte](cacheSize),
		toSchema: newLRU[string, *connectors.Schema](cacheSize),
	}
}

// Append appends {"schema":...,"payload":...} for value of schema.
func (c *EnvelopeCodec) Append(dst []byte, schema *connectors.Schema, value any) ([]byte, error) {
	start := len(dst)
	dst = append(dst, `{"schema":`...)
	if schema == nil {
		dst = append(dst, "null"...)
	} else if js, ok := c.toJSON.get(schema); ok {
		dst = append(dst, js...)
	} else {
		mark := len(dst)
		var err error
		if dst, err = AppendSchemaOptions(dst, schema, c.opts); err != nil {
			return dst[:start], err
		}
		c.toJSON.put(schema, append([]byte(nil), dst[mark:]...))
	}
	return appendPayload(dst, start, schema, value, c.opts)
}

// Decode parses an envelope as [DecodeEnvelope] does, returning the cached
// schema for schema text seen before.
func (c *EnvelopeCodec) Decode(data []byte) (*connectors.Schema, any, error) {
	return decodeEnvelope(data, c.schema)
}

func (c *EnvelopeCodec) schema(raw []byte) (*connectors.Schema, error) {
	if len(raw) == 4 && string(raw) == "null" {
		return nil, nil
	}
	if s, ok := c.toSchema.getBytes(raw); ok {
		return s, nil
	}
	s, err := parseSchemaJSON(raw)
	if err != nil {
		return nil, err
	}
	if s != nil {
		c.toSchema.put(string(raw), s)
	}
	return s, nil
}

// lru is a size-bounded least-recently-used map, safe for concurrent use.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	size  int
	items map[K]*list.Element
	order list.List // front: most recently used
}

type lruEntry[K comparable, V any] struct {
	key   K
	value V
}

func newLRU[K comparable, V any](size int) *lru[K, V] {
	return &lru[K, V]{size: size, items: make(map[K]*list.Element)}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).value, true
	}
	var zero V
	return zero, false
}

func (c *lru[K, V]) put(k K, v V) {
	if c.size <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		e.Value.(*lruEntry[K, V]).value = v
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(&lruEntry[K, V]{key: k, value: v})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*lruEntry[K, V]).key)
	}
}

// getBytes looks a string-keyed cache up by bytes without allocating.
func (c *lru[K, V]) getBytes(b []byte) (V, bool) {
	var zero V
	m, ok := any(c.items).(map[string]*list.Element)
	if !ok {
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := m[string(b)]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).value, true
	}
	return zero, false
}
