package dsl

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

// SessionWindows group a key's records into sessions of activity (Kafka
// Streams' SessionWindows): a record starts a session [t, t], and records
// closer than the inactivity gap to a session join it; a record within the
// gap of two sessions merges them into one. Sessions never split.
type SessionWindows struct {
	gap, grace time.Duration
}

// SessionWindowsOf returns session windows
// (SessionWindows.ofInactivityGapAndGrace).
func SessionWindowsOf(inactivityGap, grace time.Duration) SessionWindows {
	return SessionWindows{gap: inactivityGap, grace: grace}
}

// InactivityGap is the largest distance between two records of a session.
func (w SessionWindows) InactivityGap() time.Duration { return w.gap }

// Grace is how long after a session could last have been extended (its end
// plus the gap) it still accepts records.
func (w SessionWindows) Grace() time.Duration { return w.grace }

func (w SessionWindows) validate() error {
	switch {
	case w.gap.Milliseconds() <= 0:
		return fmt.Errorf("dsl: session windows: inactivity gap must be at least 1ms, got %v", w.gap)
	case w.grace < 0:
		return fmt.Errorf("dsl: session windows: grace must not be negative, got %v", w.grace)
	}
	return nil
}

// SessionWindowedKStream is a grouped stream windowed by sessions, ready
// for aggregation (Kafka Streams' SessionWindowedKStream).
type SessionWindowedKStream[K, V any] struct {
	g       *KGroupedStream[K, V]
	windows SessionWindows
}

// WindowedBySession windows the grouped stream by sessions (a package
// function for the reason given at WindowedBy).
func WindowedBySession[K, V any](g *KGroupedStream[K, V], windows SessionWindows) *SessionWindowedKStream[K, V] {
	return &SessionWindowedKStream[K, V]{g: g, windows: windows}
}

// Count counts the records per key and session. Records with a null key
// or value are skipped.
func (w *SessionWindowedKStream[K, V]) Count(materialized ...Materialized[K, int64]) *KTable[serde.Windowed[K], int64] {
	m := firstMaterialized(materialized)
	if m.Values == nil {
		m.Values = serde.Int64()
	}
	return sessionAggregate(w, "KSTREAM-AGGREGATE",
		aggregateStep(func() int64 { return 0 }, func(_ K, _ V, n int64) int64 { return n + 1 }),
		func(_ K, a, b int64, _ bool) int64 { return a + b }, m)
}

// Reduce combines the values per key and session: a session's first value
// is its aggregate, later values and merged sessions are combined with
// reducer(aggregate, value).
func (w *SessionWindowedKStream[K, V]) Reduce(reducer func(aggregate, value V) V, materialized ...Materialized[K, V]) *KTable[serde.Windowed[K], V] {
	return sessionAggregate(w, "KSTREAM-REDUCE",
		func(_ K, v V, agg V, found bool) V {
			if !found {
				return v
			}
			return reducer(agg, v)
		},
		func(_ K, agg, session V, found bool) V {
			if !found {
				return session
			}
			return reducer(agg, session)
		}, firstMaterialized(materialized))
}

// SessionAggregate folds the values per key and session into an aggregate
// of another type: a new session starts from initializer(), and when a
// record merges sessions their aggregates are combined with merger
// (Kafka Streams' SessionWindowedKStream#aggregate).
func SessionAggregate[K, V, A any](w *SessionWindowedKStream[K, V], initializer func() A, aggregator func(key K, value V, aggregate A) A, merger func(key K, aggregate1, aggregate2 A) A, materialized ...Materialized[K, A]) *KTable[serde.Windowed[K], A] {
	return sessionAggregate(w, "KSTREAM-AGGREGATE", aggregateStep(initializer, aggregator),
		func(k K, agg, session A, found bool) A {
			if !found {
				agg = initializer()
			}
			return merger(k, agg, session)
		}, firstMaterialized(materialized))
}

func sessionAggregate[K, V, A any](w *SessionWindowedKStream[K, V], prefix string, step func(K, V, A, bool) A, merge func(K, A, A, bool) A, m Materialized[K, A]) *KTable[serde.Windowed[K], A] {
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
	var windowedKeys serde.Serde[serde.Windowed[K]]
	if keys != nil {
		windowedKeys = serde.SessionWindowed(keys)
	}
	windows := w.windows
	t := &KTable[serde.Windowed[K], A]{b: b, node: name, keys: windowedKeys, values: values, store: m.Name,
		window: &windowBounds[serde.Windowed[K]]{end: windowEnd[K], closeAfter: windows.gap + windows.grace}}
	if b.err != nil {
		return t
	}
	if err := windows.validate(); err != nil {
		b.fail(err)
		return t
	}
	if keys == nil || values == nil {
		b.fail(fmt.Errorf("dsl: session aggregation %q: no serde for the key or aggregate type; pass dsl.Materialized with serdes", m.Name))
		return t
	}
	// Kafka Streams' default session store retention: gap + grace past a
	// session's end.
	minRetention := windows.gap + windows.grace
	retention := m.Retention
	if retention == 0 {
		retention = minRetention
	} else if retention < minRetention {
		b.fail(fmt.Errorf("dsl: session aggregation %q: retention %v is shorter than inactivity gap + grace (%v)", m.Name, retention, minRetention))
		return t
	}
	store := m.Name
	b.fail(core.AddProcessor(b.topo, name, func() core.Processor[K, V, serde.Windowed[K], change[A]] {
		return &sessionAggregator[K, V, A]{store: store, keys: keys, values: values, step: step, merge: merge,
			gap: windows.gap.Milliseconds(), grace: windows.grace.Milliseconds(), observed: -1}
	}, s.node))
	b.addStore(storeSpec(m, core.SessionStoreKind, retention), name)
	return t
}

// sessionAggregator is Kafka Streams' KStreamSessionWindowAggregate: the
// record's session [t, t] is merged with every session of the key that
// ends at or after t-gap and starts at or before t+gap; the merged-away
// sessions are removed and deleted downstream (a tombstone, with the
// removed session's end as timestamp), and the merged session is written
// and forwarded with its end as timestamp. Session store values are plain
// serialized aggregates, as in Kafka Streams (session stores are not
// timestamped).
//
// Session stores have no record cache: every update is forwarded at once
// (Kafka Streams with caching disabled).
type sessionAggregator[K, V, A any] struct {
	store      string
	keys       serde.Serde[K]
	values     serde.Serde[A]
	step       func(K, V, A, bool) A
	merge      func(K, A, A, bool) A
	gap, grace int64
	observed   int64 // largest record timestamp seen (-1: none)
	ctx        core.ProcessorContext[serde.Windowed[K], change[A]]
	ss         state.SessionStore
	topic      string
}

func (p *sessionAggregator[K, V, A]) Init(ctx core.ProcessorContext[serde.Windowed[K], change[A]]) error {
	p.ctx = ctx
	p.observed = resumedStreamTime(ctx, p.observed)
	var err error
	p.ss, p.topic, err = core.StoreOf[state.SessionStore](ctx, p.store)
	return err
}

func (p *sessionAggregator[K, V, A]) Close() error { return nil }

type session[A any] struct {
	start, end int64
	agg        A
}

func (p *sessionAggregator[K, V, A]) Process(r core.Record[K, V]) error {
	if r.NullKey || r.NullValue {
		return nil
	}
	ts := r.Timestamp.UnixMilli()
	p.observed = max(p.observed, ts)
	closeTime := p.observed - p.grace - p.gap
	kb, err := p.keys.Serialize(p.topic, r.Key)
	if err != nil {
		return fmt.Errorf("serialize store key: %w", err)
	}
	merged, err := p.overlapping(kb, ts)
	if err != nil {
		return err
	}
	var agg A
	found := false
	start, end := ts, ts
	for _, s := range merged {
		agg, found = p.merge(r.Key, agg, s.agg, found), true
		start, end = min(start, s.start), max(end, s.end)
	}
	if end < closeTime {
		p.ctx.DropRecord("late")
		return nil
	}
	if start != ts || end != ts {
		for _, s := range merged {
			if err := p.ss.Put(kb, s.start, s.end, nil); err != nil {
				return err
			}
			if err := p.ctx.Forward(core.Record[serde.Windowed[K], change[A]]{
				Key:   serde.Windowed[K]{Key: r.Key, Start: s.start, End: s.end},
				Value: change[A]{Old: s.agg, HasOld: true}, Timestamp: time.UnixMilli(s.end)}); err != nil {
				return err
			}
		}
	}
	agg = p.step(r.Key, r.Value, agg, found)
	vb, err := p.values.Serialize(p.topic, agg)
	if err != nil {
		return fmt.Errorf("serialize store value: %w", err)
	}
	if err := p.ss.Put(kb, start, end, vb); err != nil {
		return err
	}
	return p.ctx.Forward(core.Record[serde.Windowed[K], change[A]]{
		Key:   serde.Windowed[K]{Key: r.Key, Start: start, End: end},
		Value: change[A]{New: agg, HasNew: true}, Timestamp: time.UnixMilli(end)})
}

// overlapping reads the sessions a record at ts merges with.
func (p *sessionAggregator[K, V, A]) overlapping(kb []byte, ts int64) ([]session[A], error) {
	it, err := p.ss.FindSessions(kb, ts-p.gap, ts+p.gap)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []session[A]
	for it.Next() {
		agg, err := p.values.Deserialize(p.topic, it.Value())
		if err != nil {
			return nil, fmt.Errorf("deserialize store value: %w", err)
		}
		out = append(out, session[A]{start: it.Start(), end: it.End(), agg: agg})
	}
	return out, it.Err()
}
