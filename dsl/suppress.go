package dsl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

// BufferFullPolicy says what a suppression buffer does when a record
// would take it past its limits.
type BufferFullPolicy int

const (
	// EmitEarlyWhenFull emits the records buffered longest (the earliest
	// buffer time first) until the buffer is within its limits again; they
	// may then not be final (Kafka Streams' emitEarlyWhenFull). Not allowed
	// with UntilWindowCloses, whose results must be final.
	EmitEarlyWhenFull BufferFullPolicy = iota
	// ShutDownWhenFull makes the processor fail with ErrSuppressBufferFull
	// (Kafka Streams' shutDownWhenFull); with the default processing
	// handler the application stops.
	ShutDownWhenFull
)

// BufferConfig bounds a suppression buffer (Kafka Streams' BufferConfig).
// The zero value is unbounded.
type BufferConfig struct {
	// MaxRecords is the most keys the buffer holds; 0: no limit.
	MaxRecords int
	// MaxBytes is the most bytes the buffer holds, counting per key its
	// serialized key, values and headers plus 8 bytes; 0: no limit.
	MaxBytes int64
	// WhenFull is what happens past a limit; default EmitEarlyWhenFull.
	WhenFull BufferFullPolicy
}

// UnboundedBuffer is a buffer without limits (Kafka Streams'
// BufferConfig.unbounded()); it never emits early.
func UnboundedBuffer() BufferConfig { return BufferConfig{} }

// BufferMaxRecords is a buffer of at most n keys that emits early when
// full (Kafka Streams' BufferConfig.maxRecords).
func BufferMaxRecords(n int) BufferConfig { return BufferConfig{MaxRecords: n} }

// BufferMaxBytes is a buffer of at most n bytes that emits early when full
// (Kafka Streams' BufferConfig.maxBytes).
func BufferMaxBytes(n int64) BufferConfig { return BufferConfig{MaxBytes: n} }

// WithMaxRecords returns the config with another record limit.
func (c BufferConfig) WithMaxRecords(n int) BufferConfig { c.MaxRecords = n; return c }

// WithMaxBytes returns the config with another byte limit.
func (c BufferConfig) WithMaxBytes(n int64) BufferConfig { c.MaxBytes = n; return c }

// ShutDownWhenFull returns the config failing when full.
func (c BufferConfig) ShutDownWhenFull() BufferConfig { c.WhenFull = ShutDownWhenFull; return c }

// EmitEarlyWhenFull returns the config emitting early when full.
func (c BufferConfig) EmitEarlyWhenFull() BufferConfig { c.WhenFull = EmitEarlyWhenFull; return c }

func (c BufferConfig) bounded() bool { return c.MaxRecords > 0 || c.MaxBytes > 0 }

func (c BufferConfig) validate() error {
	if c.MaxRecords < 0 || c.MaxBytes < 0 {
		return fmt.Errorf("dsl: suppression buffer limits must not be negative, got %d records and %d bytes", c.MaxRecords, c.MaxBytes)
	}
	if c.WhenFull != EmitEarlyWhenFull && c.WhenFull != ShutDownWhenFull {
		return fmt.Errorf("dsl: unknown suppression buffer policy %d", c.WhenFull)
	}
	return nil
}

// ErrSuppressBufferFull is returned (wrapped, with the node name and the
// buffer's size) by a suppression whose buffer went past its limits under
// ShutDownWhenFull.
var ErrSuppressBufferFull = errors.New("dsl: suppression buffer full")

// Suppressed says what Suppress holds back (Kafka Streams' Suppressed,
// KIP-328).
type Suppressed struct {
	name              string
	untilWindowCloses bool
	timeLimit         time.Duration
	buffer            BufferConfig
}

// UntilWindowCloses emits only the final result of each window of a
// windowed table: a window's latest value once stream time reaches the
// window's end plus the grace period of the windowed aggregation (inactivity
// gap + grace for session windows), exactly when the aggregation stops
// accepting records for it. Deletes (sessions merged away) are not emitted.
// The buffer must not emit early: unbounded, or ShutDownWhenFull (Kafka
// Streams' StrictBufferConfig).
func UntilWindowCloses(buffer BufferConfig) Suppressed {
	return Suppressed{untilWindowCloses: true, buffer: buffer}
}

// UntilTimeLimit holds each key's updates back until stream time is
// timeLimit past the timestamp of the key's first held-back update, then
// emits the key's latest value (deletes included): at most one update per
// key and time limit (Kafka Streams' untilTimeLimit).
func UntilTimeLimit(timeLimit time.Duration, buffer BufferConfig) Suppressed {
	return Suppressed{timeLimit: timeLimit, buffer: buffer}
}

// WithName names the suppression node; its buffer store is "<name>-store"
// (changelog "<application-id>-<name>-store-changelog").
func (s Suppressed) WithName(name string) Suppressed { s.name = name; return s }

// Suppress holds the table's updates back and emits them later, as said
// by s (Kafka Streams' KTable#suppress). Emission is driven by stream
// time as observed by the suppression (the largest timestamp of the
// updates reaching it): it happens while processing an update, never on
// its own, so with no new records nothing is emitted. Emitted records keep
// the timestamp and headers of the update they carry.
//
// The buffer holds the latest update per key, in an in-memory key-value
// store with a changelog, so held-back updates survive restarts and
// moves. Stream time resumes from the partition times committed with the
// input offsets (Kafka Streams forgets it: there the first update after a
// restart sets it again).
func (t *KTable[K, V]) Suppress(s Suppressed) *KTable[K, V] {
	b := t.b
	name := s.name
	var storeName string
	if name == "" {
		name = b.topo.NextName("KTABLE-SUPPRESS")
		storeName = "KTABLE-SUPPRESS-STATE-STORE-" + name[len("KTABLE-SUPPRESS-"):]
	} else {
		storeName = name + "-store"
	}
	out := &KTable[K, V]{b: b, node: name, keys: t.keys, values: t.values, window: t.window}
	if b.err != nil {
		return out
	}
	if err := s.buffer.validate(); err != nil {
		b.fail(err)
		return out
	}
	p := &suppressSpec[K, V]{store: storeName, node: name, keys: t.keys, values: t.values, buffer: s.buffer}
	switch {
	case s.untilWindowCloses && t.window == nil:
		b.fail(fmt.Errorf("dsl: Suppress(UntilWindowCloses) after node %q: the table is not windowed (it must come from a windowed aggregation)", t.node))
		return out
	case s.untilWindowCloses && s.buffer.bounded() && s.buffer.WhenFull == EmitEarlyWhenFull:
		b.fail(fmt.Errorf("dsl: Suppress(UntilWindowCloses) after node %q: a buffer that emits early when full would emit results that are not final; use UnboundedBuffer() or ShutDownWhenFull()", t.node))
		return out
	case s.untilWindowCloses:
		end := t.window.end
		p.bufferTime = func(k K, _ int64) int64 { return end(k) }
		p.delay = t.window.closeAfter.Milliseconds()
		p.dropTombstones = true
	case s.timeLimit < 0:
		b.fail(fmt.Errorf("dsl: Suppress(UntilTimeLimit) after node %q: negative time limit %v", t.node, s.timeLimit))
		return out
	default:
		p.bufferTime = func(_ K, ts int64) int64 { return ts }
		p.delay = s.timeLimit.Milliseconds()
	}
	if t.keys == nil || t.values == nil {
		b.fail(fmt.Errorf("dsl: Suppress after node %q: no serde known for the table's key or value type; materialize the upstream table with serdes", t.node))
		return out
	}
	b.fail(core.AddProcessor(b.topo, name, func() core.Processor[K, change[V], K, change[V]] {
		return &suppressProcessor[K, V]{suppressSpec: p, observed: math.MinInt64}
	}, t.node))
	b.addStore(core.StoreSpec{Name: storeName, Kind: core.KeyValueStoreKind, InMemory: true}, name)
	return out
}

// suppressSpec is what every task's suppression processor shares.
type suppressSpec[K, V any] struct {
	store, node    string
	keys           serde.Serde[K]
	values         serde.Serde[V]
	buffer         BufferConfig
	bufferTime     func(key K, ts int64) int64
	delay          int64 // emit when buffer time <= stream time - delay
	dropTombstones bool
}

// The buffer store holds, per buffered key:
//
//	'k' <serialized key>                    -> [8B buffer time][entry]
//	't' <8B buffer time, sign flipped> <key> -> 0x01 (time order index)
//
// and, for a bounded buffer, "m" -> [8B records][8B bytes]. An entry is
// [8B record timestamp][flags][uvarint len+1, prior value][uvarint len+1,
// new value][uvarint header count]{[uvarint len, key][uvarint len+1,
// value]}; a length 0 stands for an absent value. The prior value is the
// one the key had downstream before its first buffered update, so the
// emitted change's old value is what downstream saw last. Everything is in
// the store (none in the processor), so an aborted transaction leaves a
// consistent buffer.
const (
	suppressKeyPrefix  = 'k'
	suppressTimePrefix = 't'
	suppressHasNew     = 1
	suppressHasPrior   = 2
)

var suppressMetaKey = []byte("m")

type suppressProcessor[K, V any] struct {
	*suppressSpec[K, V]
	observed int64 // largest timestamp of the updates seen
	ctx      core.ProcessorContext[K, change[V]]
	kv       state.KeyValueStore
	topic    string
}

func (p *suppressProcessor[K, V]) Init(ctx core.ProcessorContext[K, change[V]]) error {
	p.ctx = ctx
	p.observed = resumedStreamTime(ctx, p.observed)
	var err error
	p.kv, p.topic, err = core.StoreOf[state.KeyValueStore](ctx, p.store)
	return err
}

func (p *suppressProcessor[K, V]) Close() error { return nil }

func suppressTimeKey(t int64, kb []byte) []byte {
	b := make([]byte, 0, 9+len(kb))
	b = append(b, suppressTimePrefix)
	b = binary.BigEndian.AppendUint64(b, uint64(t)^(1<<63))
	return append(b, kb...)
}

func suppressIndexKey(kb []byte) []byte {
	return append([]byte{suppressKeyPrefix}, kb...)
}

func appendOptional(b []byte, v []byte, present bool) []byte {
	if !present {
		return binary.AppendUvarint(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(v))+1)
	return append(b, v...)
}

func readOptional(b []byte) (v []byte, present bool, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w)+1 {
		return nil, false, nil, errors.New("corrupt length")
	}
	b = b[w:]
	if n == 0 {
		return nil, false, b, nil
	}
	return b[: n-1 : n-1], true, b[n-1:], nil
}

// suppressed is a decoded buffer entry.
type suppressed struct {
	bufferTime, ts       int64
	prior, new           []byte
	hasPrior, hasNew     bool
	headers              []core.Header
	size                 int64 // what the entry counts against MaxBytes
	indexKey, serialized []byte
}

func (p *suppressProcessor[K, V]) encode(e *suppressed) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(e.bufferTime))
	b = binary.BigEndian.AppendUint64(b, uint64(e.ts))
	var flags byte
	if e.hasNew {
		flags |= suppressHasNew
	}
	if e.hasPrior {
		flags |= suppressHasPrior
	}
	b = append(b, flags)
	b = appendOptional(b, e.prior, e.hasPrior)
	b = appendOptional(b, e.new, e.hasNew)
	b = binary.AppendUvarint(b, uint64(len(e.headers)))
	for _, h := range e.headers {
		b = binary.AppendUvarint(b, uint64(len(h.Key)))
		b = append(b, h.Key...)
		b = appendOptional(b, h.Value, h.Value != nil)
	}
	return b
}

func (p *suppressProcessor[K, V]) decode(serialized, raw []byte) (*suppressed, error) {
	corrupt := func() (*suppressed, error) {
		return nil, fmt.Errorf("dsl: suppression buffer %q: corrupt entry of %d bytes", p.store, len(raw))
	}
	if len(raw) < 17 {
		return corrupt()
	}
	e := &suppressed{bufferTime: int64(binary.BigEndian.Uint64(raw)), ts: int64(binary.BigEndian.Uint64(raw[8:])),
		serialized: serialized, indexKey: suppressIndexKey(serialized)}
	flags := raw[16]
	rest := raw[17:]
	var err error
	if e.prior, e.hasPrior, rest, err = readOptional(rest); err != nil || e.hasPrior != (flags&suppressHasPrior != 0) {
		return corrupt()
	}
	if e.new, e.hasNew, rest, err = readOptional(rest); err != nil || e.hasNew != (flags&suppressHasNew != 0) {
		return corrupt()
	}
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)) {
		return corrupt()
	}
	rest = rest[w:]
	for range n {
		kl, w := binary.Uvarint(rest)
		if w <= 0 || kl > uint64(len(rest)-w) {
			return corrupt()
		}
		h := core.Header{Key: string(rest[w : w+int(kl)])}
		if h.Value, _, rest, err = readOptional(rest[w+int(kl):]); err != nil {
			return corrupt()
		}
		e.headers = append(e.headers, h)
	}
	e.size = int64(len(serialized)+len(raw)) + 8
	return e, nil
}

// meta reads the bounded buffer's record and byte counts.
func (p *suppressProcessor[K, V]) meta() (records, bytes int64, err error) {
	raw, err := p.kv.Get(suppressMetaKey)
	if err != nil || raw == nil {
		return 0, 0, err
	}
	if len(raw) != 16 {
		return 0, 0, fmt.Errorf("dsl: suppression buffer %q: corrupt size record", p.store)
	}
	return int64(binary.BigEndian.Uint64(raw)), int64(binary.BigEndian.Uint64(raw[8:])), nil
}

func (p *suppressProcessor[K, V]) addMeta(records, bytes int64) error {
	if !p.buffer.bounded() || (records == 0 && bytes == 0) {
		return nil
	}
	r, b, err := p.meta()
	if err != nil {
		return err
	}
	m := binary.BigEndian.AppendUint64(nil, uint64(r+records))
	return p.kv.Put(suppressMetaKey, binary.BigEndian.AppendUint64(m, uint64(b+bytes)))
}

func (p *suppressProcessor[K, V]) Process(r core.Record[K, change[V]]) error {
	if r.NullKey {
		return nil
	}
	ts := r.Timestamp.UnixMilli()
	p.observed = max(p.observed, ts)
	if err := p.put(r, ts); err != nil {
		return err
	}
	return p.enforce()
}

// put buffers the update: a key already buffered keeps its buffer time
// and its prior value (Kafka Streams' non-resetting buffer).
func (p *suppressProcessor[K, V]) put(r core.Record[K, change[V]], ts int64) error {
	kb, err := p.keys.Serialize(p.topic, r.Key)
	if err != nil {
		return fmt.Errorf("dsl: suppression %q: serialize key: %w", p.node, err)
	}
	index := suppressIndexKey(kb)
	raw, err := p.kv.Get(index)
	if err != nil {
		return err
	}
	e := &suppressed{ts: ts, headers: r.Headers, hasNew: r.Value.HasNew}
	var oldSize int64
	if raw != nil {
		prev, err := p.decode(kb, raw)
		if err != nil {
			return err
		}
		e.bufferTime, e.prior, e.hasPrior, oldSize = prev.bufferTime, prev.prior, prev.hasPrior, prev.size
	} else {
		e.bufferTime = p.bufferTime(r.Key, ts)
		if e.hasPrior = r.Value.HasOld; e.hasPrior {
			if e.prior, err = p.values.Serialize(p.topic, r.Value.Old); err != nil {
				return fmt.Errorf("dsl: suppression %q: serialize value: %w", p.node, err)
			}
		}
	}
	if e.hasNew {
		if e.new, err = p.values.Serialize(p.topic, r.Value.New); err != nil {
			return fmt.Errorf("dsl: suppression %q: serialize value: %w", p.node, err)
		}
	}
	entry := p.encode(e)
	if err := p.kv.Put(index, entry); err != nil {
		return err
	}
	size := int64(len(kb)+len(entry)) + 8
	if raw == nil {
		if err := p.kv.Put(suppressTimeKey(e.bufferTime, kb), []byte{1}); err != nil {
			return err
		}
		return p.addMeta(1, size)
	}
	return p.addMeta(0, size-oldSize)
}

// enforce emits what is due, then what does not fit (Kafka Streams'
// KTableSuppressProcessor.enforceConstraints).
func (p *suppressProcessor[K, V]) enforce() error {
	if p.observed == math.MinInt64 {
		return nil
	}
	expiry := p.observed - p.delay
	for {
		e, err := p.oldest()
		if err != nil {
			return err
		}
		if e == nil || e.bufferTime > expiry {
			break
		}
		if err := p.evict(e); err != nil {
			return err
		}
	}
	if !p.buffer.bounded() {
		return nil
	}
	for {
		records, bytes, err := p.meta()
		if err != nil {
			return err
		}
		if !p.overCapacity(records, bytes) {
			return nil
		}
		if p.buffer.WhenFull == ShutDownWhenFull {
			return fmt.Errorf("%w: suppression %q holds %d records (max %s) and %d bytes (max %s)", ErrSuppressBufferFull,
				p.node, records, limit(int64(p.buffer.MaxRecords)), bytes, limit(p.buffer.MaxBytes))
		}
		e, err := p.oldest()
		if err != nil || e == nil {
			return err
		}
		if err := p.evict(e); err != nil {
			return err
		}
	}
}

func limit(n int64) string {
	if n <= 0 {
		return "none"
	}
	return fmt.Sprint(n)
}

func (p *suppressProcessor[K, V]) overCapacity(records, bytes int64) bool {
	return (p.buffer.MaxRecords > 0 && records > int64(p.buffer.MaxRecords)) ||
		(p.buffer.MaxBytes > 0 && bytes > p.buffer.MaxBytes)
}

// oldest returns the entry with the smallest buffer time (nil if none).
func (p *suppressProcessor[K, V]) oldest() (*suppressed, error) {
	it, err := p.kv.Prefix([]byte{suppressTimePrefix})
	if err != nil {
		return nil, err
	}
	var kb []byte
	if it.Next() {
		if len(it.Key()) < 9 {
			it.Close()
			return nil, fmt.Errorf("dsl: suppression buffer %q: corrupt time index key", p.store)
		}
		kb = append([]byte(nil), it.Key()[9:]...)
	}
	err = it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil || kb == nil {
		return nil, err
	}
	raw, err := p.kv.Get(suppressIndexKey(kb))
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("dsl: suppression buffer %q: time index names a key that is not buffered", p.store)
	}
	return p.decode(kb, raw)
}

// evict removes the entry from the buffer and forwards it.
func (p *suppressProcessor[K, V]) evict(e *suppressed) error {
	if err := p.kv.Delete(e.indexKey); err != nil {
		return err
	}
	if err := p.kv.Delete(suppressTimeKey(e.bufferTime, e.serialized)); err != nil {
		return err
	}
	if err := p.addMeta(-1, -e.size); err != nil {
		return err
	}
	if !e.hasNew && p.dropTombstones {
		return nil
	}
	k, err := p.keys.Deserialize(p.topic, e.serialized)
	if err != nil {
		return fmt.Errorf("dsl: suppression %q: deserialize key: %w", p.node, err)
	}
	var c change[V]
	if c.HasNew = e.hasNew; c.HasNew {
		if c.New, err = p.values.Deserialize(p.topic, e.new); err != nil {
			return fmt.Errorf("dsl: suppression %q: deserialize value: %w", p.node, err)
		}
	}
	if c.HasOld = e.hasPrior; c.HasOld {
		if c.Old, err = p.values.Deserialize(p.topic, e.prior); err != nil {
			return fmt.Errorf("dsl: suppression %q: deserialize value: %w", p.node, err)
		}
	}
	return p.ctx.Forward(core.Record[K, change[V]]{Key: k, Value: c, Timestamp: time.UnixMilli(e.ts), Headers: e.headers})
}
