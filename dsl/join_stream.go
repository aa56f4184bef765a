package dsl

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

// Windowed stream-stream joins, as Kafka Streams' KStream#join, #leftJoin
// and #outerJoin with JoinWindows (KStreamImplJoin, KStreamKStreamJoin).
//
// Both sides are buffered in window stores keyed by (record key, record
// timestamp). A record at time t of the left stream joins the right
// records of the same key with timestamps in [t-before, t+after]; a right
// record at t joins the left records in [t-after, t+before]. Every pair is
// joined once, when the later of its two records is processed, and the
// result has the larger of the two timestamps.
//
// Left and outer joins emit a record that found no partner (joined with the
// other side absent) only once its join window has closed, that is when
// the join's stream time has passed the window's end plus the grace period
// (Kafka Streams since 3.1, KIP-633 and KAFKA-10847): until then it waits
// in a shared "outer join" store, and a later match removes it from there.
// So an in-order unmatched result is never followed by a matched one for
// the same record. The emission is triggered by the next in-order record of
// either side, as in Kafka Streams.
//
// Out-of-order records are not dropped (Kafka Streams' KStreamKStreamJoin
// has no late-record check): they join the partners the window stores
// still retain (size + grace behind stream time), and an unmatched one
// whose window has already ended is emitted at once rather than waiting.

// JoinWindows says which records of two streams join (Kafka Streams'
// JoinWindows): a left record at time t joins the right records with
// timestamps in [t-before, t+after]. The grace period is how long after a
// window's end (t+after for a left record, t+before for a right record)
// left/outer results wait for partners, and how long the window stores
// retain records (size + grace) for out-of-order partners.
type JoinWindows struct {
	before, after, grace time.Duration
}

// JoinWindowsOf returns symmetric join windows: records join when their
// timestamps differ by at most timeDifference (Kafka Streams'
// JoinWindows.ofTimeDifferenceAndGrace). A grace of 0 closes a window as
// soon as stream time passes its end.
func JoinWindowsOf(timeDifference, grace time.Duration) JoinWindows {
	return JoinWindows{before: timeDifference, after: timeDifference, grace: grace}
}

// Before returns the windows with another lower bound: a left record at t
// joins right records from t-before on (JoinWindows.before). It may be
// negative as long as before + after is not.
func (w JoinWindows) Before(before time.Duration) JoinWindows { w.before = before; return w }

// After returns the windows with another upper bound: a left record at t
// joins right records up to t+after (JoinWindows.after). It may be
// negative as long as before + after is not.
func (w JoinWindows) After(after time.Duration) JoinWindows { w.after = after; return w }

// Bounds returns the before and after bounds.
func (w JoinWindows) Bounds() (before, after time.Duration) { return w.before, w.after }

// Grace is how long after a window's end it still accepts records.
func (w JoinWindows) Grace() time.Duration { return w.grace }

// Size is before + after, the length of every join window
// (JoinWindows.size).
func (w JoinWindows) Size() time.Duration { return w.before + w.after }

func (w JoinWindows) validate() error {
	switch {
	case w.before+w.after < 0:
		return fmt.Errorf("dsl: join windows: before + after must not be negative, got %v + %v", w.before, w.after)
	case w.grace < 0:
		return fmt.Errorf("dsl: join windows: grace must not be negative, got %v", w.grace)
	}
	return nil
}

// retention is how long the join's window stores keep a record: the
// window size plus grace (Kafka Streams' join store retention), at least
// 1ms (stores need a positive retention).
func (w JoinWindows) retention() time.Duration {
	return max(w.before+w.after+w.grace, time.Millisecond)
}

// StreamJoined configures a stream-stream join (Kafka Streams'
// StreamJoined): serdes of the buffered records and of repartition topics,
// and names.
type StreamJoined[K, V1, V2 any] struct {
	// Name is the base of the join's node names ("<Name>-this-join",
	// "<Name>-other-join", "<Name>-merge"), of its repartition topics
	// ("<Name>-left-repartition", "<Name>-right-repartition") and, unless
	// StoreName is set, of its store names. Default: generated names as in
	// Kafka Streams, and the name of each stream's node as the base of its
	// repartition topic.
	Name string
	// StoreName is the base of the store names: "<StoreName>-this-join-store",
	// "<StoreName>-other-join-store" and, for left and outer joins,
	// "<StoreName>-outer-shared-join-store".
	StoreName string
	// Keys, LeftValues and RightValues serialize the stores and repartition
	// topics; default: the streams' serdes.
	Keys        serde.Serde[K]
	LeftValues  serde.Serde[V1]
	RightValues serde.Serde[V2]
	// InMemory keeps the stores in memory (rebuilt from their changelogs
	// when a task starts).
	InMemory bool
	// DisableLogging turns the stores' changelogs off.
	DisableLogging bool
}

// StreamJoinedWith returns a StreamJoined with the given serdes.
func StreamJoinedWith[K, V1, V2 any](keys serde.Serde[K], leftValues serde.Serde[V1], rightValues serde.Serde[V2]) StreamJoined[K, V1, V2] {
	return StreamJoined[K, V1, V2]{Keys: keys, LeftValues: leftValues, RightValues: rightValues}
}

// WithName sets the base of the join's node, topic and store names.
func (j StreamJoined[K, V1, V2]) WithName(name string) StreamJoined[K, V1, V2] {
	j.Name = name
	return j
}

// WithStoreName sets the base of the join's store names.
func (j StreamJoined[K, V1, V2]) WithStoreName(name string) StreamJoined[K, V1, V2] {
	j.StoreName = name
	return j
}

// Join is the windowed inner join of two streams (Kafka Streams'
// KStream#join(KStream, ValueJoiner, JoinWindows, StreamJoined)): every
// pair of a left and a right record with the same key whose timestamps
// fall in the join windows yields joiner(leftValue, rightValue), with the
// key, the larger of the two timestamps and the headers of the record
// processed second.
//
// Records with a null key or value are dropped. Out-of-order records are
// not: they join the partners still retained (records up to size + grace
// behind the join's stream time), as in Kafka Streams. If either stream's
// key changed upstream,
// it is repartitioned first. The two inputs must be co-partitioned (same
// partition count, same partitioner): App.Run fails at start when the
// partition counts differ, and sizes repartition topics to match.
//
// left and right may be the same stream (a self-join): every pair of its
// records within the windows is joined in both orders, and each record
// with itself once, which is what Kafka Streams computes with or without
// its self-join optimization (KIP-862).
func Join[K, V1, V2, VR any](left *KStream[K, V1], right *KStream[K, V2], joiner func(leftValue V1, rightValue V2) VR, windows JoinWindows, joined ...StreamJoined[K, V1, V2]) *KStream[K, VR] {
	return streamJoin(left, right, func(l V1, _ bool, r V2, _ bool) VR { return joiner(l, r) }, windows, joined, false, false)
}

// LeftJoin is Join keeping every left record (Kafka Streams'
// KStream#leftJoin): a left record that joins no right record yields
// joiner(leftValue, zero, false), with its own timestamp, once its window
// has closed (stream time past t + after + grace), never before: a right
// record arriving within the window makes it join normally instead. An
// out-of-order left record whose window has already ended (t + after
// before stream time) and that finds no partner yields its unmatched
// result at once, as Kafka Streams does. As in
// Kafka Streams since KIP-962, a left record with a null key is not
// dropped: it yields joiner(leftValue, zero, false) at once.
func LeftJoin[K, V1, V2, VR any](left *KStream[K, V1], right *KStream[K, V2], joiner func(leftValue V1, rightValue V2, matched bool) VR, windows JoinWindows, joined ...StreamJoined[K, V1, V2]) *KStream[K, VR] {
	return streamJoin(left, right, func(l V1, _ bool, r V2, rok bool) VR { return joiner(l, r, rok) }, windows, joined, true, false)
}

// OuterJoin is Join keeping every record of both sides (Kafka Streams'
// KStream#outerJoin): an unmatched left record yields joiner(leftValue,
// true, zero, false) and an unmatched right record joiner(zero, false,
// rightValue, true), once its window has closed (see LeftJoin; for a right
// record at t the window ends at t + before). Null-key records of either
// side yield their unmatched result at once (KIP-962).
func OuterJoin[K, V1, V2, VR any](left *KStream[K, V1], right *KStream[K, V2], joiner func(leftValue V1, hasLeft bool, rightValue V2, hasRight bool) VR, windows JoinWindows, joined ...StreamJoined[K, V1, V2]) *KStream[K, VR] {
	return streamJoin(left, right, joiner, windows, joined, true, true)
}

// joinInput is a record of either side on its way to the join processor:
// both sides' adapters feed the one processor that owns the join's state,
// so that the stream time both sides share needs no cross-node plumbing.
type joinInput[V1, V2 any] struct {
	left bool
	l    V1
	r    V2
}

func streamJoin[K, V1, V2, VR any](left *KStream[K, V1], right *KStream[K, V2], joiner func(V1, bool, V2, bool) VR, windows JoinWindows, joined []StreamJoined[K, V1, V2], leftOuter, rightOuter bool) *KStream[K, VR] {
	b := left.b
	var j StreamJoined[K, V1, V2]
	if len(joined) > 0 {
		j = joined[0]
	}
	keys := orSerde(j.Keys, orSerde(left.keys, right.keys))
	leftValues, rightValues := orSerde(j.LeftValues, left.values), orSerde(j.RightValues, right.values)

	thisPrefix, otherPrefix := "KSTREAM-JOINTHIS", "KSTREAM-JOINOTHER"
	if leftOuter {
		otherPrefix = "KSTREAM-OUTEROTHER"
	}
	if rightOuter {
		thisPrefix = "KSTREAM-OUTERTHIS"
	}
	var thisName, otherName, mergeName string
	if j.Name != "" {
		thisName, otherName, mergeName = j.Name+"-this-join", j.Name+"-other-join", j.Name+"-merge"
	} else {
		thisName, otherName = b.topo.NextName(thisPrefix), b.topo.NextName(otherPrefix)
		mergeName = b.topo.NextName("KSTREAM-MERGE")
	}
	thisStore, otherStore := thisName+"-store", otherName+"-store"
	// Kafka Streams numbers the shared outer store after the this-side node.
	outerStore := "KSTREAM-OUTERSHARED-" + strings.TrimPrefix(thisName, thisPrefix+"-") + "-store"
	if base := cmp.Or(j.StoreName, j.Name); base != "" {
		thisStore, otherStore, outerStore = base+"-this-join-store", base+"-other-join-store", base+"-outer-shared-join-store"
	}
	out := &KStream[K, VR]{b: b, node: mergeName, keys: keys}
	out.values, _ = any(leftValues).(serde.Serde[VR])
	switch {
	case b.err != nil:
		return out
	case right.b != b:
		b.fail(fmt.Errorf("dsl: join of streams from different builders"))
		return out
	case keys == nil || leftValues == nil || rightValues == nil:
		b.fail(fmt.Errorf("dsl: stream-stream join %q: no serde for the key or a value type; pass dsl.StreamJoinedWith(keys, leftValues, rightValues)", mergeName))
		return out
	}
	if err := windows.validate(); err != nil {
		b.fail(err)
		return out
	}

	self := left.node == right.node
	if left.keyChanged {
		base := left.node
		if j.Name != "" {
			base = j.Name + "-left"
		}
		left = repartition(left, Repartitioned[K, V1]{Name: base, Keys: keys, Values: leftValues})
	}
	if self {
		// One repartition serves both sides (V1 and V2 are then the same
		// type: one node has one output type).
		if r, ok := any(left).(*KStream[K, V2]); ok {
			right = r
		}
	} else if right.keyChanged {
		base := right.node
		if j.Name != "" {
			base = j.Name + "-right"
		}
		right = repartition(right, Repartitioned[K, V2]{Name: base, Keys: keys, Values: rightValues})
	}
	if b.err != nil {
		return out
	}

	// For a self-join the left adapter is added first, so it is the
	// parent's first child and sees each record before the right one: the
	// record is then buffered on the left, joined with the earlier right
	// records, buffered on the right and joined with the left records,
	// itself included, exactly as Kafka Streams' unoptimized self-join.
	b.fail(core.AddProcessor(b.topo, thisName, func() core.Processor[K, V1, K, joinInput[V1, V2]] {
		return &joinSideTagger[K, V1, V1, V2]{tag: func(v V1) joinInput[V1, V2] { return joinInput[V1, V2]{left: true, l: v} }}
	}, left.node))
	b.fail(core.AddProcessor(b.topo, otherName, func() core.Processor[K, V2, K, joinInput[V1, V2]] {
		return &joinSideTagger[K, V2, V1, V2]{tag: func(v V2) joinInput[V1, V2] { return joinInput[V1, V2]{r: v} }}
	}, right.node))
	outer := ""
	if leftOuter || rightOuter {
		outer = outerStore
	}
	before, after, grace := windows.before.Milliseconds(), windows.after.Milliseconds(), windows.grace.Milliseconds()
	b.fail(core.AddProcessor(b.topo, mergeName, func() core.Processor[K, joinInput[V1, V2], K, VR] {
		return &streamJoinProcessor[K, V1, V2, VR]{
			leftStoreName: thisStore, rightStoreName: otherStore, outerStoreName: outer,
			keys: keys, leftValues: leftValues, rightValues: rightValues,
			before: before, after: after, grace: grace,
			leftOuter: leftOuter, rightOuter: rightOuter, joiner: joiner,
			streamTime: math.MinInt64, minOuter: math.MinInt64,
		}
	}, thisName, otherName))
	// The buffers are not cached: a join reads them on every record and
	// forwards from Process, not from a flush listener (Kafka Streams' join
	// stores are uncached too).
	spec := func(name string, kind core.StoreKind, retention time.Duration) core.StoreSpec {
		return core.StoreSpec{Name: name, Kind: kind, InMemory: j.InMemory, DisableLogging: j.DisableLogging, Retention: retention}
	}
	// Each buffer is also connected to its side's adapter, as Kafka
	// Streams connects it to the side's KStreamJoinWindow node (the adapter
	// does not open it): the stores then link both inputs, which makes
	// them a co-partition group (core.Topology.CopartitionGroups) that
	// App.Run enforces.
	b.addStore(spec(thisStore, core.WindowStoreKind, windows.retention()), mergeName, thisName)
	b.addStore(spec(otherStore, core.WindowStoreKind, windows.retention()), mergeName, otherName)
	if outer != "" {
		b.addStore(spec(outer, core.KeyValueStoreKind, 0), mergeName)
	}
	return out
}

// joinSideTagger wraps one side's records for the join processor.
type joinSideTagger[K, V, V1, V2 any] struct {
	stateless[K, joinInput[V1, V2]]
	tag func(V) joinInput[V1, V2]
}

func (p *joinSideTagger[K, V, V1, V2]) Process(r core.Record[K, V]) error {
	return p.ctx.Forward(core.Record[K, joinInput[V1, V2]]{Key: r.Key, Value: p.tag(r.Value), Timestamp: r.Timestamp,
		Headers: r.Headers, NullKey: r.NullKey, NullValue: r.NullValue})
}

// streamJoinProcessor is Kafka Streams' KStreamJoinWindow and
// KStreamKStreamJoin of both sides in one node, with their shared time
// tracker.
//
// Stores: the left and right window stores hold, per (serialized key,
// record timestamp), the bag of serialized values received with that key
// and timestamp (Kafka Streams keeps duplicates with retainDuplicates
// window stores; Sluice's window store keeps one value per window, so
// duplicates share one entry). The outer store (left and outer joins)
// holds the records still waiting for a partner under Kafka Streams'
// TimestampedKeyAndJoinSide key layout, [timestamp 8B][1 left / 0
// right][key], so it iterates in time order; its values are bags too.
type streamJoinProcessor[K, V1, V2, VR any] struct {
	leftStoreName, rightStoreName, outerStoreName string
	keys                                          serde.Serde[K]
	leftValues                                    serde.Serde[V1]
	rightValues                                   serde.Serde[V2]
	before, after, grace                          int64
	leftOuter, rightOuter                         bool
	joiner                                        func(V1, bool, V2, bool) VR

	ctx                               core.ProcessorContext[K, VR]
	leftStore, rightStore             state.WindowStore
	outerStore                        state.KeyValueStore
	leftTopic, rightTopic, outerTopic string // changelog topics, for serde calls
	streamTime                        int64  // largest timestamp seen (math.MinInt64: none)
	minOuter                          int64  // no outer entry is older (MinInt64: unknown, MaxInt64: none)
	matches                           []joinMatch
	closed                            []outerEntry
}

type joinMatch struct {
	ts  int64
	bag []byte
}

type outerEntry struct {
	storeKey []byte
	bag      []byte
}

func (p *streamJoinProcessor[K, V1, V2, VR]) Init(ctx core.ProcessorContext[K, VR]) error {
	p.ctx = ctx
	p.streamTime = resumedStreamTime(ctx, p.streamTime)
	var err error
	if p.leftStore, p.leftTopic, err = core.StoreOf[state.WindowStore](ctx, p.leftStoreName); err != nil {
		return err
	}
	if p.rightStore, p.rightTopic, err = core.StoreOf[state.WindowStore](ctx, p.rightStoreName); err != nil {
		return err
	}
	if p.outerStoreName != "" {
		if p.outerStore, p.outerTopic, err = core.StoreOf[state.KeyValueStore](ctx, p.outerStoreName); err != nil {
			return err
		}
	}
	return nil
}

func (p *streamJoinProcessor[K, V1, V2, VR]) Close() error { return nil }

// reach returns, for a record of the given side, how far back and ahead
// of its timestamp its partners may lie.
func (p *streamJoinProcessor[K, V1, V2, VR]) reach(left bool) (back, ahead int64) {
	if left {
		return p.before, p.after
	}
	return p.after, p.before
}

func (p *streamJoinProcessor[K, V1, V2, VR]) Process(r core.Record[K, joinInput[V1, V2]]) error {
	in := r.Value
	ts := r.Timestamp.UnixMilli()
	p.streamTime = max(p.streamTime, ts)
	if r.NullValue {
		return nil // nothing to join, as in Kafka Streams
	}
	if r.NullKey {
		// KIP-962: left/outer joins keep null-key records, unmatched at once.
		if in.left && p.leftOuter || !in.left && p.rightOuter {
			return p.ctx.Forward(core.Record[K, VR]{Key: r.Key, Value: p.unmatched(in), Timestamp: r.Timestamp, Headers: r.Headers, NullKey: true})
		}
		return nil
	}
	back, ahead := p.reach(in.left)
	// An out-of-order record is not dropped, even when its window has
	// closed: it joins the partners the stores still retain (size + grace
	// behind their stream time) and is buffered unless its own store has
	// expired it, as in Kafka Streams (KStreamKStreamJoin has no late-record
	// check; its tests, e.g. KStreamKStreamJoinTest#testWindowing, expect
	// such records to join).
	if ts == p.streamTime && p.outerStore != nil {
		if err := p.emitClosed(r.Headers); err != nil {
			return err
		}
	}

	thisStore, otherStore, thisTopic := p.leftStore, p.rightStore, p.leftTopic
	if !in.left {
		thisStore, otherStore, thisTopic = p.rightStore, p.leftStore, p.rightTopic
	}
	// Slices given to a store are never reused: a store (its changelog
	// record, an in-memory engine) may keep them.
	kb, err := p.keys.Serialize(thisTopic, r.Key)
	if err != nil {
		return fmt.Errorf("serialize store key: %w", err)
	}
	vb, err := p.serializeValue(in, thisTopic)
	if err != nil {
		return err
	}
	// Buffer the record first (Kafka Streams' KStreamJoinWindow precedes
	// the join), so that in a self-join its right copy meets its left one.
	old, err := thisStore.Fetch(kb, ts)
	if err != nil {
		return err
	}
	if err := thisStore.Put(kb, ts, appendBagValue(bytes.Clone(old), vb)); err != nil {
		return err
	}

	// Collect the partners, then forward: the iterator must not stay open
	// across writes and downstream processing.
	it, err := otherStore.FetchRange(kb, max(0, ts-back), max(0, ts+ahead))
	if err != nil {
		return err
	}
	p.matches = p.matches[:0]
	for it.Next() {
		p.matches = append(p.matches, joinMatch{ts: it.WindowStart(), bag: bytes.Clone(it.Value())})
	}
	err = errors.Join(it.Err(), it.Close())
	if err != nil {
		return err
	}
	otherOuter := in.left && p.rightOuter || !in.left && p.leftOuter
	for _, m := range p.matches {
		if otherOuter {
			// The partner found a match: it must never be emitted unmatched.
			if err := p.deleteOuter(!in.left, kb, m.ts); err != nil {
				return err
			}
		}
		err := forEachBagValue(m.bag, func(vb []byte) error {
			value, err := p.join(in, vb)
			if err != nil {
				return err
			}
			return p.ctx.Forward(core.Record[K, VR]{Key: r.Key, Value: value, Timestamp: time.UnixMilli(max(ts, m.ts)), Headers: r.Headers})
		})
		if err != nil {
			return err
		}
	}
	thisOuter := in.left && p.leftOuter || !in.left && p.rightOuter
	if len(p.matches) == 0 && thisOuter {
		if max(0, ts+ahead) < p.streamTime {
			// The record's window has ended (grace not counted, exactly as
			// Kafka Streams' "timeTo < streamTime"): it would come too late
			// for the waiting store's next scan, so its unmatched result
			// goes out at once. A partner arriving later within the grace
			// period still joins it: a spurious unmatched result Kafka
			// Streams emits too (KAFKA-19536, open).
			return p.ctx.Forward(core.Record[K, VR]{Key: r.Key, Value: p.unmatched(in), Timestamp: r.Timestamp, Headers: r.Headers})
		}
		return p.putOuter(in.left, kb, ts, vb)
	}
	return nil
}

func (p *streamJoinProcessor[K, V1, V2, VR]) serializeValue(in joinInput[V1, V2], topic string) ([]byte, error) {
	var vb []byte
	var err error
	if in.left {
		vb, err = p.leftValues.Serialize(topic, in.l)
	} else {
		vb, err = p.rightValues.Serialize(topic, in.r)
	}
	if err != nil {
		return nil, fmt.Errorf("serialize store value: %w", err)
	}
	return vb, nil
}

// join calls the joiner with in and the serialized value of a partner.
func (p *streamJoinProcessor[K, V1, V2, VR]) join(in joinInput[V1, V2], partner []byte) (VR, error) {
	var zero VR
	if in.left {
		r, err := p.rightValues.Deserialize(p.rightTopic, partner)
		if err != nil {
			return zero, fmt.Errorf("deserialize store value: %w", err)
		}
		return p.joiner(in.l, true, r, true), nil
	}
	l, err := p.leftValues.Deserialize(p.leftTopic, partner)
	if err != nil {
		return zero, fmt.Errorf("deserialize store value: %w", err)
	}
	return p.joiner(l, true, in.r, true), nil
}

// unmatched is the join result of a record without a partner.
func (p *streamJoinProcessor[K, V1, V2, VR]) unmatched(in joinInput[V1, V2]) VR {
	var l V1
	var r V2
	if in.left {
		return p.joiner(in.l, true, r, false)
	}
	return p.joiner(l, false, in.r, true)
}

func outerKey(left bool, kb []byte, ts int64) []byte {
	key := binary.BigEndian.AppendUint64(make([]byte, 0, 9+len(kb)), uint64(ts))
	side := byte(0)
	if left {
		side = 1
	}
	return append(append(key, side), kb...)
}

func (p *streamJoinProcessor[K, V1, V2, VR]) putOuter(left bool, kb []byte, ts int64, vb []byte) error {
	key := outerKey(left, kb, ts)
	old, err := p.outerStore.Get(key)
	if err != nil {
		return err
	}
	if err := p.outerStore.Put(key, appendBagValue(bytes.Clone(old), vb)); err != nil {
		return err
	}
	if p.minOuter != math.MinInt64 {
		p.minOuter = min(p.minOuter, ts)
	}
	return nil
}

// deleteOuter removes a waiting entry, writing (and logging) only when
// there is one.
func (p *streamJoinProcessor[K, V1, V2, VR]) deleteOuter(left bool, kb []byte, ts int64) error {
	key := outerKey(left, kb, ts)
	old, err := p.outerStore.Get(key)
	if err != nil || old == nil {
		return err
	}
	return p.outerStore.Delete(key)
}

// emitClosed forwards and removes the waiting records whose window has
// closed, oldest first (Kafka Streams' emitNonJoinedOuterRecords, without
// its wall-clock throttle: minOuter already makes the check cheap). They
// carry the headers of the record being processed, which triggered them,
// as in Kafka Streams (KStreamKStreamOuterJoinTest#testShouldForwardCurrentHeaders);
// the waiting store keeps no headers.
func (p *streamJoinProcessor[K, V1, V2, VR]) emitClosed(headers []core.Header) error {
	if p.minOuter == math.MaxInt64 {
		return nil // nothing waits
	}
	if p.minOuter != math.MinInt64 {
		ahead := p.after
		if p.rightOuter {
			ahead = min(p.after, p.before)
		}
		if p.minOuter+ahead+p.grace >= p.streamTime {
			return nil
		}
	}
	it, err := p.outerStore.All()
	if err != nil {
		return err
	}
	p.closed = p.closed[:0]
	p.minOuter = math.MaxInt64
	// A side with nothing waiting (the right side of a left join) counts
	// as open from the start, so the scan stops at the first open entry.
	leftOpen, rightOpen := !p.leftOuter, !p.rightOuter
	for !(leftOpen && rightOpen) && it.Next() {
		k := it.Key()
		if len(k) < 9 {
			return errors.Join(fmt.Errorf("dsl: store %s: corrupt key of %d bytes", p.outerStoreName, len(k)), it.Close())
		}
		ts, left := int64(binary.BigEndian.Uint64(k)), k[8] == 1
		_, ahead := p.reach(left)
		if ts+ahead+p.grace >= p.streamTime {
			// Entries are in time order: no later one of this side is due.
			if left {
				leftOpen = true
			} else {
				rightOpen = true
			}
			p.minOuter = min(p.minOuter, ts)
			continue
		}
		if left && leftOpen || !left && rightOpen {
			continue
		}
		p.closed = append(p.closed, outerEntry{storeKey: bytes.Clone(k), bag: bytes.Clone(it.Value())})
	}
	if err := errors.Join(it.Err(), it.Close()); err != nil {
		return err
	}
	for _, e := range p.closed {
		ts, left := int64(binary.BigEndian.Uint64(e.storeKey)), e.storeKey[8] == 1
		topic := p.outerTopic
		key, err := p.keys.Deserialize(topic, e.storeKey[9:])
		if err != nil {
			return fmt.Errorf("deserialize store key: %w", err)
		}
		err = forEachBagValue(e.bag, func(vb []byte) error {
			in := joinInput[V1, V2]{left: left}
			var err error
			if left {
				in.l, err = p.leftValues.Deserialize(topic, vb)
			} else {
				in.r, err = p.rightValues.Deserialize(topic, vb)
			}
			if err != nil {
				return fmt.Errorf("deserialize store value: %w", err)
			}
			return p.ctx.Forward(core.Record[K, VR]{Key: key, Value: p.unmatched(in), Timestamp: time.UnixMilli(ts), Headers: headers})
		})
		if err != nil {
			return err
		}
		if err := p.outerStore.Delete(e.storeKey); err != nil {
			return err
		}
	}
	return nil
}

// A bag is the values buffered under one key and timestamp, in arrival
// order: each as [uvarint length][bytes].

func appendBagValue(bag, value []byte) []byte {
	return append(binary.AppendUvarint(bag, uint64(len(value))), value...)
}

func forEachBagValue(bag []byte, fn func(value []byte) error) error {
	for len(bag) > 0 {
		n, w := binary.Uvarint(bag)
		if w <= 0 || uint64(len(bag)-w) < n {
			return fmt.Errorf("dsl: corrupt join buffer entry")
		}
		if err := fn(bag[w : w+int(n)]); err != nil {
			return err
		}
		bag = bag[w+int(n):]
	}
	return nil
}
