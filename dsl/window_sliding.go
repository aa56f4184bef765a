package dsl

import (
	"fmt"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
)

// slidingWindowAggregator is Kafka Streams' KStreamSlidingWindowAggregate
// (the forward-iterating variant): a window exists only where it contains
// records. For a record at t it updates the existing windows containing
// t, creates t's left window [t-d, t] (seeded with the aggregate of the
// records before t within d), creates t's right window [t+1, t+1+d] when
// later records fall in it, and creates the right window of the previous
// record when t falls in it. Records before the time difference (t < d)
// share the window [0, d], as in Kafka Streams.
type slidingWindowAggregator[K, V, A any] struct {
	store    string
	keys     serde.Serde[K]
	values   serde.Serde[A]
	step     func(K, V, A, bool) A
	diff     int64 // time difference (ms)
	grace    int64
	observed int64 // largest record timestamp seen (-1: none)
	ctx      core.ProcessorContext[serde.Windowed[K], change[A]]
	agg      *windowAgg[K, A]
}

// slidingSlot is a window's aggregate; has is false for a window being
// created (the initializer's value; a null aggregate for Reduce).
type slidingSlot[A any] struct {
	value A
	ts    int64 // the largest timestamp of the window's records
	has   bool
}

type slidingWindow[A any] struct {
	start int64
	slot  slidingSlot[A]
}

func (p *slidingWindowAggregator[K, V, A]) Init(ctx core.ProcessorContext[serde.Windowed[K], change[A]]) error {
	p.ctx = ctx
	p.observed = resumedStreamTime(ctx, p.observed)
	var err error
	if p.agg, err = openWindowAgg(ctx, p.store, p.keys, p.values, p.diff); err != nil {
		return err
	}
	return p.agg.forwardOnFlush(ctx)
}

func (p *slidingWindowAggregator[K, V, A]) Close() error { return nil }

// slidingRecord is the record being aggregated.
type slidingRecord[K, V any] struct {
	key       K
	value     V
	kb        []byte
	ts        int64
	closeTime int64
}

func (p *slidingWindowAggregator[K, V, A]) Process(r core.Record[K, V]) error {
	if r.NullKey || r.NullValue {
		return nil
	}
	ts := r.Timestamp.UnixMilli()
	p.observed = max(p.observed, ts)
	closeTime := p.observed - p.grace
	if ts+1+p.diff <= closeTime {
		// Even the record's right window has closed.
		p.ctx.DropRecord("late")
		return nil
	}
	kb, err := p.agg.key(r.Key)
	if err != nil {
		return err
	}
	rec := slidingRecord[K, V]{key: r.Key, value: r.Value, kb: kb, ts: ts, closeTime: closeTime}
	if ts < p.diff {
		return p.processEarly(rec)
	}
	return p.processInOrder(rec)
}

// windows reads the record key's windows with start in [from, to].
func (p *slidingWindowAggregator[K, V, A]) windows(kb []byte, from, to int64) ([]slidingWindow[A], error) {
	it, err := p.agg.ws.FetchRange(kb, from, to)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []slidingWindow[A]
	for it.Next() {
		agg, ts, err := p.agg.decode(it.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, slidingWindow[A]{start: it.WindowStart(), slot: slidingSlot[A]{value: agg, ts: ts, has: true}})
	}
	return out, it.Err()
}

func (p *slidingWindowAggregator[K, V, A]) unexpected(start, ts int64) error {
	return fmt.Errorf("dsl: sliding window aggregation %q: unexpected window starting at %d for a record at %d", p.store, start, ts)
}

func (p *slidingWindowAggregator[K, V, A]) processInOrder(rec slidingRecord[K, V]) error {
	ts := rec.ts
	found, err := p.windows(rec.kb, max(0, ts-2*p.diff), ts+1)
	if err != nil {
		return err
	}
	starts := make(map[int64]bool, len(found))
	var left, right *slidingSlot[A]
	var leftCreated, rightCreated, hasPrevious bool
	var previous int64 // the timestamp of the latest record before ts
	for i := range found {
		w := &found[i]
		starts[w.start] = true
		end := w.start + p.diff
		switch {
		case end < ts:
			left, previous, hasPrevious = &w.slot, w.slot.ts, true
		case end == ts:
			leftCreated = true
			if w.slot.ts < ts {
				previous, hasPrevious = w.slot.ts, true
			}
			if err := p.update(rec, w.start, w.slot); err != nil {
				return err
			}
		case end > ts && w.start <= ts:
			right = &w.slot
			if err := p.update(rec, w.start, w.slot); err != nil {
				return err
			}
		case w.start == ts+1:
			rightCreated = true
		default:
			return p.unexpected(w.start, ts)
		}
	}
	// The previous record's right window, if it does not exist yet and
	// this record falls in it.
	if hasPrevious && !starts[previous+1] && previous+1+p.diff >= ts {
		if err := p.update(rec, previous+1, slidingSlot[A]{ts: ts}); err != nil {
			return err
		}
	}
	if !leftCreated {
		slot := slidingSlot[A]{ts: ts}
		if hasPrevious && ts-p.diff <= previous {
			slot = slidingSlot[A]{value: left.value, has: left.has, ts: ts}
		}
		if err := p.update(rec, ts-p.diff, slot); err != nil {
			return err
		}
	}
	if !rightCreated && right != nil && right.ts > ts {
		return p.createRight(rec, *right)
	}
	return nil
}

// processEarly handles 0 <= ts < diff: such records' left windows would
// start before 0, so they all go to the window [0, diff].
func (p *slidingWindowAggregator[K, V, A]) processEarly(rec slidingRecord[K, V]) error {
	ts := rec.ts
	found, err := p.windows(rec.kb, 0, ts+1)
	if err != nil {
		return err
	}
	starts := make(map[int64]bool, len(found))
	var combined, right *slidingSlot[A]
	var rightCreated, hasPrevious bool
	var previous int64
	for i := range found {
		w := &found[i]
		starts[w.start] = true
		switch {
		case w.start == 0:
			combined = &w.slot
			if w.slot.ts < ts {
				previous, hasPrevious = w.slot.ts, true
			}
		case w.start <= ts:
			right = &w.slot
			if err := p.update(rec, w.start, w.slot); err != nil {
				return err
			}
		case w.start == ts+1:
			rightCreated = true
		default:
			return p.unexpected(w.start, ts)
		}
	}
	// Without a right window found, the combined window holds only
	// records after ts if its latest record is after ts.
	if right == nil && combined != nil && combined.ts > ts {
		right = combined
	}
	if !rightCreated && right != nil && right.ts > ts {
		if err := p.createRight(rec, *right); err != nil {
			return err
		}
	}
	if hasPrevious && !starts[previous+1] {
		if err := p.update(rec, previous+1, slidingSlot[A]{ts: ts}); err != nil {
			return err
		}
	}
	if combined == nil {
		return p.update(rec, 0, slidingSlot[A]{ts: ts})
	}
	return p.update(rec, 0, *combined)
}

// update adds the record to the window starting at start, unless the
// window has closed (an inclusive end before the close time).
func (p *slidingWindowAggregator[K, V, A]) update(rec slidingRecord[K, V], start int64, slot slidingSlot[A]) error {
	if start+p.diff < rec.closeTime {
		p.ctx.DropRecord("late")
		return nil
	}
	newTS := rec.ts
	if slot.has {
		newTS = max(rec.ts, slot.ts)
	}
	return p.agg.put(rec.kb, start, p.step(rec.key, rec.value, slot.value, slot.has), newTS)
}

// createRight creates the record's right window [ts+1, ts+1+diff] with the
// aggregate of the later records, which the record itself is not part of.
func (p *slidingWindowAggregator[K, V, A]) createRight(rec slidingRecord[K, V], right slidingSlot[A]) error {
	return p.agg.put(rec.kb, rec.ts+1, right.value, right.ts)
}
