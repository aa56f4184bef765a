package dsl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

// Windowed aggregations, as in Kafka Streams' TimeWindowedKStream and
// SessionWindowedKStream. Every window type has an explicit grace period:
// a record is dropped as late (counted with ctx.DropRecord("late")) when
// the window it would update has closed, that is when the window's end
// plus the grace period is at or before the stream time observed by the
// aggregation (the largest record timestamp it has seen). Results are
// KTables keyed by serde.Windowed[K] (times in epoch milliseconds).

// TimeWindows are fixed-size windows aligned to the epoch (Kafka Streams'
// TimeWindows): tumbling when the advance equals the size, hopping
// (overlapping) when it is smaller. A record at time t belongs to every
// window [start, start+size) with start a multiple of the advance and
// start <= t < start+size; windows never start before 0.
type TimeWindows struct {
	size, advance, grace time.Duration
}

// TumblingWindows returns non-overlapping windows of the given size (Kafka
// Streams' TimeWindows.ofSizeAndGrace). A grace of 0 closes a window as
// soon as stream time reaches its end.
func TumblingWindows(size, grace time.Duration) TimeWindows {
	return TimeWindows{size: size, advance: size, grace: grace}
}

// HoppingWindows returns windows of the given size starting every advance
// (TimeWindows.ofSizeAndGrace(size, grace).advanceBy(advance)); advance
// must be in (0, size].
func HoppingWindows(size, advance, grace time.Duration) TimeWindows {
	return TimeWindows{size: size, advance: advance, grace: grace}
}

// AdvanceBy returns the windows with another advance (hopping windows).
func (w TimeWindows) AdvanceBy(advance time.Duration) TimeWindows { w.advance = advance; return w }

// Size is the length of every window.
func (w TimeWindows) Size() time.Duration { return w.size }

// Advance is the distance between the starts of consecutive windows.
func (w TimeWindows) Advance() time.Duration { return w.advance }

// Grace is how long after its end a window still accepts records.
func (w TimeWindows) Grace() time.Duration { return w.grace }

func (w TimeWindows) validate() error {
	switch {
	case w.size.Milliseconds() <= 0:
		return fmt.Errorf("dsl: time windows: size must be at least 1ms, got %v", w.size)
	case w.advance.Milliseconds() <= 0 || w.advance > w.size:
		return fmt.Errorf("dsl: time windows: advance must be in [1ms, size %v], got %v", w.size, w.advance)
	case w.grace < 0:
		return fmt.Errorf("dsl: time windows: grace must not be negative, got %v", w.grace)
	}
	return nil
}

// firstStart is the start of the oldest window containing ts (Kafka
// Streams' TimeWindows.windowsFor); the windows containing ts start there
// and every advance up to ts.
func (w TimeWindows) firstStart(ts int64) int64 {
	size, advance := w.size.Milliseconds(), w.advance.Milliseconds()
	return max(0, ts-size+advance) / advance * advance
}

// SlidingWindows are windows of a fixed time difference that slide with
// the records (Kafka Streams' SlidingWindows, KIP-450): two records fall
// in a common window when their timestamps differ by at most the time
// difference. Windows are [start, start+timeDifference], both ends
// inclusive, and are created only where they contain records: each record
// at t has a left window [t-timeDifference, t] and, when later records
// fall within timeDifference of it, a right window [t+1,
// t+1+timeDifference].
type SlidingWindows struct {
	timeDifference, grace time.Duration
}

// SlidingWindowsOf returns sliding windows
// (SlidingWindows.ofTimeDifferenceAndGrace).
func SlidingWindowsOf(timeDifference, grace time.Duration) SlidingWindows {
	return SlidingWindows{timeDifference: timeDifference, grace: grace}
}

// TimeDifference is the largest distance of two records in one window.
func (w SlidingWindows) TimeDifference() time.Duration { return w.timeDifference }

// Grace is how long after its end a window still accepts records.
func (w SlidingWindows) Grace() time.Duration { return w.grace }

func (w SlidingWindows) validate() error {
	switch {
	case w.timeDifference.Milliseconds() <= 0:
		return fmt.Errorf("dsl: sliding windows: time difference must be at least 1ms, got %v", w.timeDifference)
	case w.grace < 0:
		return fmt.Errorf("dsl: sliding windows: grace must not be negative, got %v", w.grace)
	}
	return nil
}

// TimeWindowedKStream is a grouped stream windowed by time windows or
// sliding windows, ready for aggregation (Kafka Streams'
// TimeWindowedKStream).
type TimeWindowedKStream[K, V any] struct {
	g       *KGroupedStream[K, V]
	time    TimeWindows
	sliding SlidingWindows
	isSlide bool
	emit    EmitStrategy
}

// EmitStrategy says when a windowed aggregation forwards its results
// (Kafka Streams' EmitStrategy, KIP-825).
type EmitStrategy struct{ onClose bool }

// OnWindowUpdate forwards every update of a window (through the record
// cache): the default.
func OnWindowUpdate() EmitStrategy { return EmitStrategy{} }

// OnWindowClose forwards only each window's final result, once stream time
// has passed the window's end plus the grace period, when the aggregation
// stops accepting records for it (Kafka Streams' EmitStrategy.onWindowClose):
// like Suppress(UntilWindowCloses(...)) without a suppression buffer, the
// window store itself holding the results until then. Results carry the
// aggregate's timestamp and the headers of the record whose arrival closed
// the window.
//
// Unlike Kafka Streams, the time up to which windows were emitted is kept in
// memory only (Kafka Streams commits it with the offsets): after a restart
// or a task move, windows closed but still retained by the store may be
// emitted again (duplicates of final results, never wrong ones). Kafka
// Streams' wall-clock throttle of the emission
// (emit.interval.ms.kstreams.windowed.aggregation) is not applied: closed
// windows are emitted by the next record. Supported for tumbling and
// hopping windows only.
func OnWindowClose() EmitStrategy { return EmitStrategy{onClose: true} }

// Emit returns the windowed stream with emit strategy s (Kafka Streams'
// TimeWindowedKStream#emitStrategy).
func (w *TimeWindowedKStream[K, V]) Emit(s EmitStrategy) *TimeWindowedKStream[K, V] {
	c := *w
	c.emit = s
	return &c
}

// WindowedBy windows the grouped stream by tumbling or hopping windows
// (Kafka Streams' KGroupedStream#windowedBy).
//
// It is a package function, not a method of KGroupedStream, because the
// windowed aggregations return tables keyed by serde.Windowed[K]: as
// methods all the way, KGroupedStream[K] would need KGroupedStream[
// serde.Windowed[K]] and so on without end, which Go rejects.
func WindowedBy[K, V any](g *KGroupedStream[K, V], windows TimeWindows) *TimeWindowedKStream[K, V] {
	return &TimeWindowedKStream[K, V]{g: g, time: windows}
}

// WindowedBySliding windows the grouped stream by sliding windows.
func WindowedBySliding[K, V any](g *KGroupedStream[K, V], windows SlidingWindows) *TimeWindowedKStream[K, V] {
	return &TimeWindowedKStream[K, V]{g: g, sliding: windows, isSlide: true}
}

// windowSize is End - Start of the windows (ms): the size, or the time
// difference of sliding windows.
func (w *TimeWindowedKStream[K, V]) windowSize() int64 {
	if w.isSlide {
		return w.sliding.timeDifference.Milliseconds()
	}
	return w.time.size.Milliseconds()
}

func (w *TimeWindowedKStream[K, V]) grace() time.Duration {
	if w.isSlide {
		return w.sliding.grace
	}
	return w.time.grace
}

// minRetention is the shortest store retention that keeps every window
// the aggregation may still update (Kafka Streams' default retention):
// size + grace, or 2 * time difference + grace for sliding windows, whose
// right windows are created from windows up to 2 * time difference old.
func (w *TimeWindowedKStream[K, V]) minRetention() time.Duration {
	if w.isSlide {
		return 2*w.sliding.timeDifference + w.sliding.grace
	}
	return w.time.size + w.time.grace
}

func (w *TimeWindowedKStream[K, V]) validate() error {
	if w.isSlide {
		return w.sliding.validate()
	}
	return w.time.validate()
}

// Count counts the records per key and window. Records with a null key or
// value are skipped.
func (w *TimeWindowedKStream[K, V]) Count(materialized ...Materialized[K, int64]) *KTable[serde.Windowed[K], int64] {
	m := firstMaterialized(materialized)
	if m.Values == nil {
		m.Values = serde.Int64()
	}
	return windowedAggregate(w, "KSTREAM-AGGREGATE", aggregateStep(func() int64 { return 0 }, func(_ K, _ V, n int64) int64 { return n + 1 }), m)
}

// Reduce combines the values per key and window: a window's first value is
// its initial aggregate, later ones are combined with reducer(aggregate,
// value).
func (w *TimeWindowedKStream[K, V]) Reduce(reducer func(aggregate, value V) V, materialized ...Materialized[K, V]) *KTable[serde.Windowed[K], V] {
	return windowedAggregate(w, "KSTREAM-REDUCE", func(_ K, v V, agg V, found bool) V {
		if !found {
			return v
		}
		return reducer(agg, v)
	}, firstMaterialized(materialized))
}

// WindowedAggregate folds the values per key and window into an aggregate
// of another type, each window starting from initializer() (Kafka Streams'
// TimeWindowedKStream#aggregate).
func WindowedAggregate[K, V, A any](w *TimeWindowedKStream[K, V], initializer func() A, aggregator func(key K, value V, aggregate A) A, materialized ...Materialized[K, A]) *KTable[serde.Windowed[K], A] {
	return windowedAggregate(w, "KSTREAM-AGGREGATE", aggregateStep(initializer, aggregator), firstMaterialized(materialized))
}

// aggregateStep turns an initializer and an aggregator into a step taking
// the current aggregate and whether there is one.
func aggregateStep[K, V, A any](initializer func() A, aggregator func(K, V, A) A) func(K, V, A, bool) A {
	return func(k K, v V, agg A, found bool) A {
		if !found {
			agg = initializer()
		}
		return aggregator(k, v, agg)
	}
}

// windowBounds is what Suppress(UntilWindowCloses) needs to know of a
// windowed table: a key's window end, and how long after it the window
// closes (the grace period; gap + grace for session windows, as in Kafka
// Streams' GraphGraceSearchUtil).
type windowBounds[K any] struct {
	end        func(K) int64
	closeAfter time.Duration
}

func windowEnd[K any](w serde.Windowed[K]) int64 { return w.End }

func windowedAggregate[K, V, A any](w *TimeWindowedKStream[K, V], prefix string, step func(K, V, A, bool) A, m Materialized[K, A]) *KTable[serde.Windowed[K], A] {
	b := w.g.s.b
	name := b.topo.NextName(prefix)
	if m.Name == "" {
		m.Name = prefix + "-STATE-STORE-" + name[len(prefix)+1:]
	}
	s := w.g.prepare(m.Name)
	keys := orSerde(m.Keys, s.keys)
	values := m.Values
	if values == nil {
		values, _ = any(s.values).(serde.Serde[A])
	}
	size := w.windowSize()
	var windowedKeys serde.Serde[serde.Windowed[K]]
	if keys != nil {
		windowedKeys = serde.TimeWindowed(keys, time.Duration(size)*time.Millisecond)
	}
	t := &KTable[serde.Windowed[K], A]{b: b, node: name, keys: windowedKeys, values: values, store: m.Name,
		window: &windowBounds[serde.Windowed[K]]{end: windowEnd[K], closeAfter: w.grace()}}
	if b.err != nil {
		return t
	}
	if err := w.validate(); err != nil {
		b.fail(err)
		return t
	}
	if w.emit.onClose && w.isSlide {
		b.fail(fmt.Errorf("dsl: windowed aggregation %q: OnWindowClose is not supported for sliding windows yet; use Suppress(UntilWindowCloses(...))", m.Name))
		return t
	}
	if keys == nil || values == nil {
		b.fail(fmt.Errorf("dsl: windowed aggregation %q: no serde for the key or aggregate type; pass dsl.Materialized with serdes", m.Name))
		return t
	}
	retention := m.Retention
	if retention == 0 {
		retention = w.minRetention()
	} else if retention < w.minRetention() {
		b.fail(fmt.Errorf("dsl: windowed aggregation %q: retention %v is shorter than the %v the windows need (size + grace; 2 * time difference + grace for sliding windows)", m.Name, retention, w.minRetention()))
		return t
	}
	store := m.Name
	grace := w.grace().Milliseconds()
	if w.isSlide {
		b.fail(core.AddProcessor(b.topo, name, func() core.Processor[K, V, serde.Windowed[K], change[A]] {
			return &slidingWindowAggregator[K, V, A]{store: store, keys: keys, values: values, step: step,
				diff: size, grace: grace, observed: -1}
		}, s.node))
	} else {
		windows, onClose := w.time, w.emit.onClose
		b.fail(core.AddProcessor(b.topo, name, func() core.Processor[K, V, serde.Windowed[K], change[A]] {
			return &timeWindowAggregator[K, V, A]{store: store, keys: keys, values: values, step: step,
				windows: windows, grace: grace, observed: -1, onClose: onClose, lastEmit: noEmit}
		}, s.node))
	}
	b.addStore(storeSpec(m, core.WindowStoreKind, retention), name)
	return t
}

// windowAgg is a window store over timestamped aggregates: values in Kafka
// Streams' ValueAndTimestamp layout ([8-byte timestamp][value]), keys the
// serialized record key (the store adds the window start).
type windowAgg[K, A any] struct {
	ws     state.WindowStore
	keys   serde.Serde[K]
	values serde.Serde[A]
	topic  string // the changelog topic, for serde calls
	size   int64  // End - Start of the forwarded windowed keys
}

func openWindowAgg[K, A any](ctx core.StoreContext, name string, keys serde.Serde[K], values serde.Serde[A], size int64) (*windowAgg[K, A], error) {
	ws, topic, err := core.StoreOf[state.WindowStore](ctx, name)
	if err != nil {
		return nil, err
	}
	return &windowAgg[K, A]{ws: ws, keys: keys, values: values, topic: topic, size: size}, nil
}

func (s *windowAgg[K, A]) key(k K) ([]byte, error) {
	kb, err := s.keys.Serialize(s.topic, k)
	if err != nil {
		return nil, fmt.Errorf("serialize store key: %w", err)
	}
	return kb, nil
}

// decode reads a stored aggregate and its timestamp.
func (s *windowAgg[K, A]) decode(raw []byte) (agg A, ts int64, err error) {
	if len(raw) < 8 {
		return agg, 0, fmt.Errorf("store %s: corrupt value of %d bytes", s.ws.Name(), len(raw))
	}
	if agg, err = s.values.Deserialize(s.topic, raw[8:]); err != nil {
		return agg, 0, fmt.Errorf("deserialize store value: %w", err)
	}
	return agg, int64(binary.BigEndian.Uint64(raw)), nil
}

func (s *windowAgg[K, A]) fetch(kb []byte, start int64) (agg A, ts int64, found bool, err error) {
	raw, err := s.ws.Fetch(kb, start)
	if err != nil || raw == nil {
		return agg, 0, false, err
	}
	agg, ts, err = s.decode(raw)
	return agg, ts, err == nil, err
}

func (s *windowAgg[K, A]) put(kb []byte, start int64, agg A, ts int64) error {
	vb, err := s.values.Serialize(s.topic, agg)
	if err != nil {
		return fmt.Errorf("serialize store value: %w", err)
	}
	raw := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(vb)), uint64(ts))
	return s.ws.Put(kb, start, append(raw, vb...))
}

// forwardOnFlush makes the window store's flush listener forward its
// updates as table changes keyed by serde.Windowed[K], with the
// aggregate's timestamp: the latest update per window and commit interval
// with caching, every update without (as forwardOnFlush does for
// key-value stores).
func (s *windowAgg[K, A]) forwardOnFlush(ctx core.ProcessorContext[serde.Windowed[K], change[A]]) error {
	return core.SetWindowFlushListener(ctx, s.ws.Name(), func(key []byte, start int64, newValue, oldValue []byte, ts time.Time) error {
		k, err := s.keys.Deserialize(s.topic, key)
		if err != nil {
			return fmt.Errorf("deserialize store key: %w", err)
		}
		var c change[A]
		if newValue != nil {
			var newTS int64
			if c.New, newTS, err = s.decode(newValue); err != nil {
				return err
			}
			c.HasNew, ts = true, time.UnixMilli(newTS)
		}
		if oldValue != nil {
			if c.Old, _, err = s.decode(oldValue); err != nil {
				return err
			}
			c.HasOld = true
		}
		return ctx.Forward(core.Record[serde.Windowed[K], change[A]]{
			Key: serde.Windowed[K]{Key: k, Start: start, End: start + s.size}, Value: c, Timestamp: ts})
	})
}

// timeWindowAggregator is Kafka Streams' KStreamWindowAggregate: it
// updates every window containing the record, skipping (and counting as
// dropped) the windows that have closed.
type timeWindowAggregator[K, V, A any] struct {
	store    string
	keys     serde.Serde[K]
	values   serde.Serde[A]
	step     func(K, V, A, bool) A
	windows  TimeWindows
	grace    int64
	observed int64 // largest record timestamp seen (-1: none)
	ctx      core.ProcessorContext[serde.Windowed[K], change[A]]
	agg      *windowAgg[K, A]

	// onClose (OnWindowClose): forward final results from Process, not
	// updates from the store's flush listener. lastEmit is the window close
	// time up to which results were emitted (noEmit: none yet).
	onClose  bool
	lastEmit int64
}

// noEmit is Kafka Streams' ConsumerRecord.NO_TIMESTAMP as the last emit
// time: nothing emitted yet.
const noEmit = -1

// resumedStreamTime is the stream time a time-keeping processor (windows,
// suppression, joins) starts from in Init: the task's stream time, which a
// restarted or moved task resumes from the partition times committed with
// its input offsets, so that grace, window closing and suppression go on
// as without the restart (Kafka Streams starts these processors with no
// observed time; see DESIGN.md, Deviations). none when the task has none.
func resumedStreamTime(ctx interface{ StreamTime() time.Time }, none int64) int64 {
	if st := ctx.StreamTime(); !st.IsZero() {
		return max(none, st.UnixMilli())
	}
	return none
}

func (p *timeWindowAggregator[K, V, A]) Init(ctx core.ProcessorContext[serde.Windowed[K], change[A]]) error {
	p.ctx = ctx
	p.observed = resumedStreamTime(ctx, p.observed)
	var err error
	if p.agg, err = openWindowAgg(ctx, p.store, p.keys, p.values, p.windows.size.Milliseconds()); err != nil {
		return err
	}
	if p.onClose {
		return nil
	}
	return p.agg.forwardOnFlush(ctx)
}

// emitClosed forwards the windows closed since the last emission, as
// Kafka Streams' KStreamWindowAggregate with EmitStrategy.onWindowClose
// (maybeForwardFinalResult): windows starting in (lastEmit - size,
// closeTime - size], fetched across keys in store order.
func (p *timeWindowAggregator[K, V, A]) emitClosed(closeTime int64, headers []core.Header) error {
	if p.lastEmit != noEmit && p.lastEmit >= closeTime {
		return nil // the close time did not progress
	}
	size := p.windows.size.Milliseconds()
	upper := closeTime - size
	if upper < 0 {
		return nil // no window ever closed
	}
	lower := int64(0)
	if p.lastEmit != noEmit {
		lower = max(0, p.lastEmit-size) + 1
		// Kafka Streams skips the fetch (and keeps lastEmit) when no
		// window starts between the bounds: the windows containing both
		// are the same.
		if p.windows.firstStart(upper) == p.windows.firstStart(lower-1) &&
			lastStart(upper, p.windows) == lastStart(lower-1, p.windows) {
			return nil
		}
	}
	it, err := p.agg.ws.FetchAll(lower, upper)
	if err != nil {
		return err
	}
	type closed struct {
		key   []byte
		start int64
		raw   []byte
	}
	// Collected first: forwarding while iterating could write the store.
	var done []closed
	for it.Next() {
		done = append(done, closed{bytes.Clone(it.Key()), it.WindowStart(), bytes.Clone(it.Value())})
	}
	if err := errors.Join(it.Err(), it.Close()); err != nil {
		return err
	}
	for _, c := range done {
		k, err := p.keys.Deserialize(p.agg.topic, c.key)
		if err != nil {
			return fmt.Errorf("deserialize store key: %w", err)
		}
		agg, ts, err := p.agg.decode(c.raw)
		if err != nil {
			return err
		}
		if err := p.ctx.Forward(core.Record[serde.Windowed[K], change[A]]{
			Key:   serde.Windowed[K]{Key: k, Start: c.start, End: c.start + size},
			Value: change[A]{New: agg, HasNew: true}, Timestamp: time.UnixMilli(ts), Headers: headers}); err != nil {
			return err
		}
	}
	p.lastEmit = closeTime
	return nil
}

// lastStart is the start of the last window containing ts: the multiple
// of the advance at or before ts.
func lastStart(ts int64, w TimeWindows) int64 {
	advance := w.advance.Milliseconds()
	if ts < 0 {
		return -1
	}
	return ts / advance * advance
}

func (p *timeWindowAggregator[K, V, A]) Close() error { return nil }

func (p *timeWindowAggregator[K, V, A]) Process(r core.Record[K, V]) error {
	if r.NullKey || r.NullValue {
		return nil // skipped, as by every aggregation
	}
	ts := r.Timestamp.UnixMilli()
	p.observed = max(p.observed, ts)
	closeTime := p.observed - p.grace
	if p.onClose {
		// Emitted before this record's writes, unlike Kafka Streams, with
		// the same result (the record only writes windows still open, the
		// emission reads closed ones): the store's retention (size + grace
		// behind the largest window start written) then still holds every
		// window this record closes, however far it moves stream time.
		// Afterwards, a jump could expire them before they are read.
		if err := p.emitClosed(closeTime, r.Headers); err != nil {
			return err
		}
	}
	kb, err := p.agg.key(r.Key)
	if err != nil {
		return err
	}
	size, advance := p.windows.size.Milliseconds(), p.windows.advance.Milliseconds()
	for start := p.windows.firstStart(ts); start <= ts; start += advance {
		if start+size <= closeTime {
			// Counted once per closed window, as Kafka Streams does.
			p.ctx.DropRecord("late")
			continue
		}
		old, oldTS, found, err := p.agg.fetch(kb, start)
		if err != nil {
			return err
		}
		newTS := ts
		if found {
			newTS = max(ts, oldTS)
		}
		// The store's flush listener forwards the change.
		if err := p.agg.put(kb, start, p.step(r.Key, r.Value, old, found), newTS); err != nil {
			return err
		}
	}
	return nil
}
