package dsl

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

// TableJoined configures a foreign-key join (Kafka Streams' TableJoined and
// the join's Materialized).
type TableJoined[K, VR any] struct {
	// Name is the base of the join's internal topic, store and node names;
	// default: a generated KTABLE-FK-JOIN-<n>.
	Name string
	// Materialized configures the store holding the join result (always
	// kept, so that updates carry the previous result); its value serde
	// defaults to the left table's when VR is the same type.
	Materialized Materialized[K, VR]
}

// FKJoin joins each row of left with the row of right whose key is
// foreignKey(leftValue) (Kafka Streams' KTable#join with a foreign-key
// extractor, KIP-213). The result is keyed like left: joiner(leftValue,
// rightValue) for every left row whose foreign row exists. It is kept
// current whichever side changes:
//
//   - a left row whose foreign key changes is unsubscribed from its old
//     foreign row and joined with the new one only (deleted if none);
//   - a deleted left row deletes its result;
//   - an updated or deleted right row updates (or deletes) the result of
//     every left row referring to it.
//
// It works across partitions as in Kafka Streams: left changes register a
// subscription on an internal topic partitioned by foreign key
// ("<application-id>-<name>-subscription-registration-repartition"),
// recorded in a store next to the right table
// ("<name>-subscription-store"); answers come back on a topic partitioned
// like left ("...-subscription-response-repartition") carrying a hash of
// the left value they were computed for, and an answer whose hash no
// longer matches the current left value is stale and dropped. App.Run
// sizes the subscription topic like the right table's source topic and
// the response topic like the left one's (they share stores with the
// tables, which makes them co-partition groups). The values on both
// topics and in the subscription store use Kafka Streams' layouts
// (SubscriptionWrapper v1, SubscriptionResponseWrapper, CombinedKey, a
// Murmur3 hash of the serialized left value); the topic names end in
// "-repartition" where Kafka Streams' end in "-topic".
//
// A foreign key that is a nil pointer, map, slice or interface is no key:
// the left row has no result (FKLeftJoin: joiner(value, zero, false)).
// Result timestamps are the larger of the two rows' timestamps.
func FKJoin[K, V, KO, VO, VR any](left *KTable[K, V], right *KTable[KO, VO], foreignKey func(value V) KO, joiner func(value V, foreign VO) VR, joined ...TableJoined[K, VR]) *KTable[K, VR] {
	return fkJoin(left, right, foreignKey, false, func(v V, vo VO, _ bool) VR { return joiner(v, vo) }, joined)
}

// FKLeftJoin is FKJoin keeping every left row: joiner(value, foreign,
// found) with found false (and the zero foreign value) when the foreign row
// does not exist or the foreign key is nil (Kafka Streams' KTable#leftJoin
// with a foreign-key extractor).
func FKLeftJoin[K, V, KO, VO, VR any](left *KTable[K, V], right *KTable[KO, VO], foreignKey func(value V) KO, joiner func(value V, foreign VO, found bool) VR, joined ...TableJoined[K, VR]) *KTable[K, VR] {
	return fkJoin(left, right, foreignKey, true, joiner, joined)
}

func fkJoin[K, V, KO, VO, VR any](left *KTable[K, V], right *KTable[KO, VO], foreignKey func(V) KO, leftJoin bool, joiner func(V, VO, bool) VR, joined []TableJoined[K, VR]) *KTable[K, VR] {
	b := left.b
	var tj TableJoined[K, VR]
	if len(joined) > 0 {
		tj = joined[0]
	}
	left, right = materializeForJoin(left), materializeForJoin(right)
	base := tj.Name
	if base == "" {
		base = b.topo.NextName("KTABLE-FK-JOIN")
	}
	m := tj.Materialized
	if m.Name == "" {
		m.Name = base + "-result-store"
	}
	var values serde.Serde[VR]
	values, _ = any(left.values).(serde.Serde[VR])
	values = orSerde(m.Values, values)
	keys := orSerde(m.Keys, left.keys)
	outputName := base + "-output"
	out := &KTable[K, VR]{b: b, node: outputName, keys: keys, values: values, store: m.Name}
	if b.err != nil {
		return out
	}
	if right.b != b {
		b.fail(fmt.Errorf("dsl: foreign-key join of tables %q and %q: the tables come from different builders", left.node, right.node))
		return out
	}
	if keys == nil || values == nil {
		b.fail(fmt.Errorf("dsl: foreign-key join %q: no serde for the key or result type; pass TableJoined.Materialized with serdes", base))
		return out
	}
	subTopic, err := b.topo.AddRepartitionTopic(base+"-subscription-registration", 0)
	if err != nil {
		b.fail(err)
		return out
	}
	respTopic, err := b.topo.AddRepartitionTopic(base+"-subscription-response", 0)
	if err != nil {
		b.fail(err)
		return out
	}
	leftStore, rightStore, subStore := left.store, right.store, base+"-subscription-store"
	lk, lv, rk, rv := left.keys, left.values, right.keys, right.values
	isNullFK := nullCheck[KO]()

	// Left sub-topology: left changes -> subscriptions.
	sendName := base + "-subscription-registration-send"
	b.fail(core.AddProcessor(b.topo, sendName, func() core.Processor[K, change[V], KO, subscription[K]] {
		return &fkSendProcessor[K, V, KO]{leftStore: leftStore, keys: lk, values: lv, foreignKeys: rk,
			foreignKey: foreignKey, isNull: isNullFK, leftJoin: leftJoin}
	}, left.node))
	b.fail(core.AddSink(b.topo, base+"-subscription-registration-sink", rk, subscriptionSerde[K]{lk},
		core.ToTopic[KO, subscription[K]](subTopic), []string{sendName}))

	// Right sub-topology: subscriptions and right changes -> responses.
	subSource := base + "-subscription-registration-source"
	b.fail(core.AddSource(b.topo, subSource, rk, subscriptionSerde[K]{lk}, []string{subTopic}))
	subProc := base + "-subscription-processor"
	b.fail(core.AddProcessor(b.topo, subProc, func() core.Processor[KO, subscription[K], K, fkResponse[VO]] {
		return &fkSubscriptionProcessor[K, KO, VO]{subStore: subStore, rightStore: rightStore, keys: lk, foreignKeys: rk, foreignValues: rv}
	}, subSource))
	foreignProc := base + "-foreign-processor"
	b.fail(core.AddProcessor(b.topo, foreignProc, func() core.Processor[KO, change[VO], K, fkResponse[VO]] {
		return &fkForeignProcessor[K, KO, VO]{subStore: subStore, keys: lk, foreignKeys: rk}
	}, right.node))
	b.fail(core.AddSink(b.topo, base+"-subscription-response-sink", lk, fkResponseSerde[VO]{rv},
		core.ToTopic[K, fkResponse[VO]](respTopic), []string{subProc, foreignProc},
		core.WithPartitioner(func(_ string, r core.Record[K, fkResponse[VO]], n int32) (int32, bool) {
			// Back to the task of the left row, as Kafka Streams does with
			// the subscription's primary partition.
			return r.Value.Partition, r.Value.Partition < n
		})))
	if b.err != nil {
		return out
	}
	b.addStore(core.StoreSpec{Name: subStore, Kind: core.KeyValueStoreKind, Caching: true}, subProc, foreignProc)
	b.fail(b.topo.ConnectProcessorAndStores([]string{subProc}, rightStore))

	// Left sub-topology: responses -> result.
	respSource := base + "-subscription-response-source"
	b.fail(core.AddSource(b.topo, respSource, lk, fkResponseSerde[VO]{rv}, []string{respTopic}))
	resultStore := m.Name
	b.fail(core.AddProcessor(b.topo, outputName, func() core.Processor[K, fkResponse[VO], K, change[VR]] {
		return &fkResolverProcessor[K, V, VO, VR]{leftStore: leftStore, resultStore: resultStore, keys: lk, values: lv,
			resultKeys: keys, resultValues: values, leftJoin: leftJoin, joiner: joiner}
	}, respSource))
	if b.err != nil {
		return out
	}
	b.fail(b.topo.ConnectProcessorAndStores([]string{sendName, outputName}, leftStore))
	b.addStore(storeSpec(m, core.KeyValueStoreKind, 0), outputName)
	return out
}

// fkInstruction tells the subscription side what to do with a
// subscription (Kafka Streams' SubscriptionWrapper.Instruction).
type fkInstruction byte

const (
	// fkDeleteNoPropagate removes the subscription; another subscription
	// of the same left row (its new foreign key) answers.
	fkDeleteNoPropagate fkInstruction = iota
	// fkDeleteAndPropagate removes the subscription and answers with no
	// foreign value (the result is deleted, or left-joined with nothing).
	fkDeleteAndPropagate
	// fkPropagateNullIfNoForeign subscribes and always answers, with no
	// foreign value if the foreign row is missing: a previous result must
	// be replaced.
	fkPropagateNullIfNoForeign
	// fkPropagateOnlyIfForeign subscribes and answers only if the foreign
	// row exists (a new left row of an inner join).
	fkPropagateOnlyIfForeign
)

// subscription is a left row's registration with a foreign key.
type subscription[K any] struct {
	Instruction fkInstruction
	HasHash     bool
	Hash        [16]byte // of the left value the subscription was made for
	Partition   int32    // the left row's partition
	Key         K        // the left row's key
}

// subscriptionSerde encodes subscriptions in Kafka Streams'
// SubscriptionWrapper v1 layout, so the topic is byte-compatible:
//
//	[version 1, | 0x80 if no hash][instruction][16-byte hash, if any][left key][4-byte partition]
//
// Version 0 (no partition) is read too.
type subscriptionSerde[K any] struct{ keys serde.Serde[K] }

const (
	subscriptionVersion = 1
	fkNoHash            = 0x80
)

func (s subscriptionSerde[K]) Serialize(topic string, v subscription[K]) ([]byte, error) {
	kb, err := s.keys.Serialize(topic, v.Key)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 0, 2+16+len(kb)+4)
	if v.HasHash {
		buf = append(buf, subscriptionVersion, byte(v.Instruction))
		buf = append(buf, v.Hash[:]...)
	} else {
		buf = append(buf, subscriptionVersion|fkNoHash, byte(v.Instruction))
	}
	buf = append(buf, kb...)
	return binary.BigEndian.AppendUint32(buf, uint32(v.Partition)), nil
}

func (s subscriptionSerde[K]) Deserialize(topic string, data []byte) (subscription[K], error) {
	var v subscription[K]
	if len(data) < 2 {
		return v, fmt.Errorf("%w: subscription from topic %q: %d bytes", serde.ErrSize, topic, len(data))
	}
	version := data[0] &^ fkNoHash
	if version > subscriptionVersion || data[1] > byte(fkPropagateOnlyIfForeign) {
		return v, fmt.Errorf("dsl: subscription from topic %q: unknown version %d or instruction %d", topic, version, data[1])
	}
	v.Instruction, v.HasHash = fkInstruction(data[1]), data[0]&fkNoHash == 0
	rest := data[2:]
	if v.HasHash {
		if len(rest) < 16 {
			return v, fmt.Errorf("%w: subscription from topic %q: short hash", serde.ErrSize, topic)
		}
		copy(v.Hash[:], rest)
		rest = rest[16:]
	}
	if version == 1 {
		if len(rest) < 4 {
			return v, fmt.Errorf("%w: subscription from topic %q: no partition", serde.ErrSize, topic)
		}
		v.Partition = int32(binary.BigEndian.Uint32(rest[len(rest)-4:]))
		rest = rest[:len(rest)-4]
	}
	var err error
	v.Key, err = s.keys.Deserialize(topic, rest[:len(rest):len(rest)])
	return v, err
}

// fkResponse answers a subscription with the foreign row's value (Kafka
// Streams' SubscriptionResponseWrapper).
type fkResponse[VO any] struct {
	HasHash    bool
	Hash       [16]byte
	HasForeign bool
	Foreign    VO
	Partition  int32 // where the left row lives; not serialized
}

// fkResponseSerde encodes responses in Kafka Streams'
// SubscriptionResponseWrapper layout:
//
//	[version 0, | 0x80 if no hash][16-byte hash, if any][foreign value, if any]
//
// As in Kafka Streams, a foreign value serialized to zero bytes reads
// back as no foreign value.
type fkResponseSerde[VO any] struct{ values serde.Serde[VO] }

func (s fkResponseSerde[VO]) Serialize(topic string, v fkResponse[VO]) ([]byte, error) {
	buf := make([]byte, 0, 1+16+32)
	if v.HasHash {
		buf = append(append(buf, 0), v.Hash[:]...)
	} else {
		buf = append(buf, fkNoHash)
	}
	if v.HasForeign {
		vb, err := s.values.Serialize(topic, v.Foreign)
		if err != nil {
			return nil, err
		}
		buf = append(buf, vb...)
	}
	return buf, nil
}

func (s fkResponseSerde[VO]) Deserialize(topic string, data []byte) (fkResponse[VO], error) {
	var v fkResponse[VO]
	if len(data) < 1 {
		return v, fmt.Errorf("%w: subscription response from topic %q is empty", serde.ErrSize, topic)
	}
	v.HasHash = data[0]&fkNoHash == 0
	rest := data[1:]
	if v.HasHash {
		if len(rest) < 16 {
			return v, fmt.Errorf("%w: subscription response from topic %q: short hash", serde.ErrSize, topic)
		}
		copy(v.Hash[:], rest)
		rest = rest[16:]
	}
	if len(rest) > 0 {
		var err error
		if v.Foreign, err = s.values.Deserialize(topic, rest[:len(rest):len(rest)]); err != nil {
			return v, err
		}
		v.HasForeign = true
	}
	return v, nil
}

// valueHash identifies a serialized left value: Kafka Streams'
// Murmur3.hash128 (x64 128-bit, seed 104729), its two longs big-endian.
func valueHash(b []byte) [16]byte {
	h1, h2 := murmur3x64128(b, 104729)
	var out [16]byte
	binary.BigEndian.PutUint64(out[:8], h1)
	binary.BigEndian.PutUint64(out[8:], h2)
	return out
}

// murmur3x64128 is MurmurHash3_x64_128.
func murmur3x64128(data []byte, seed uint32) (h1, h2 uint64) {
	const c1, c2 = 0x87c37b91114253d5, 0x4cf5ad432745937f
	h1, h2 = uint64(seed), uint64(seed)
	n := len(data)
	for len(data) >= 16 {
		k1 := binary.LittleEndian.Uint64(data)
		k2 := binary.LittleEndian.Uint64(data[8:])
		data = data[16:]
		k1 *= c1
		k1 = bits.RotateLeft64(k1, 31)
		k1 *= c2
		h1 ^= k1
		h1 = bits.RotateLeft64(h1, 27)
		h1 += h2
		h1 = h1*5 + 0x52dce729
		k2 *= c2
		k2 = bits.RotateLeft64(k2, 33)
		k2 *= c1
		h2 ^= k2
		h2 = bits.RotateLeft64(h2, 31)
		h2 += h1
		h2 = h2*5 + 0x38495ab5
	}
	var k1, k2 uint64
	for i := len(data) - 1; i >= 8; i-- {
		k2 ^= uint64(data[i]) << (8 * (i - 8))
	}
	if len(data) > 8 {
		k2 *= c2
		k2 = bits.RotateLeft64(k2, 33)
		k2 *= c1
		h2 ^= k2
	}
	for i := min(len(data), 8) - 1; i >= 0; i-- {
		k1 ^= uint64(data[i]) << (8 * i)
	}
	if len(data) > 0 {
		k1 *= c1
		k1 = bits.RotateLeft64(k1, 31)
		k1 *= c2
		h1 ^= k1
	}
	h1 ^= uint64(n)
	h2 ^= uint64(n)
	h1 += h2
	h2 += h1
	h1, h2 = fmix64(h1), fmix64(h2)
	h1 += h2
	h2 += h1
	return h1, h2
}

func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// fkSendProcessor turns left changes into subscriptions (Kafka Streams'
// SubscriptionSendProcessorSupplier).
type fkSendProcessor[K, V, KO any] struct {
	leftStore   string
	keys        serde.Serde[K]
	values      serde.Serde[V]
	foreignKeys serde.Serde[KO]
	foreignKey  func(V) KO
	isNull      func(KO) bool
	leftJoin    bool
	ctx         core.ProcessorContext[KO, subscription[K]]
	left        *timestamped[K, V] // for the serde topic of left values
	partition   int32
}

func (p *fkSendProcessor[K, V, KO]) Init(ctx core.ProcessorContext[KO, subscription[K]]) error {
	p.ctx = ctx
	p.partition = ctx.TaskID().Partition
	var err error
	p.left, err = openTimestamped(ctx, p.leftStore, p.keys, p.values)
	return err
}

func (p *fkSendProcessor[K, V, KO]) Close() error { return nil }

// foreign extracts a value's foreign key and its bytes; ok is false for a
// nil key.
func (p *fkSendProcessor[K, V, KO]) foreign(v V) (fk KO, fkBytes []byte, ok bool, err error) {
	fk = p.foreignKey(v)
	if p.isNull != nil && p.isNull(fk) {
		return fk, nil, false, nil
	}
	fkBytes, err = p.foreignKeys.Serialize(p.left.topic, fk)
	return fk, fkBytes, err == nil, err
}

func (p *fkSendProcessor[K, V, KO]) Process(r core.Record[K, change[V]]) error {
	if r.NullKey {
		return nil
	}
	c := r.Value
	sub := subscription[K]{Key: r.Key, Partition: p.partition}
	if c.HasNew {
		vb, err := p.values.Serialize(p.left.topic, c.New)
		if err != nil {
			return fmt.Errorf("foreign-key join: serialize left value: %w", err)
		}
		sub.Hash, sub.HasHash = valueHash(vb), true
	}
	var oldFK, newFK KO
	var oldBytes, newBytes []byte
	var oldOK, newOK bool
	var err error
	if c.HasOld {
		if oldFK, oldBytes, oldOK, err = p.foreign(c.Old); err != nil {
			return fmt.Errorf("foreign-key join: serialize foreign key: %w", err)
		}
	}
	if c.HasNew {
		if newFK, newBytes, newOK, err = p.foreign(c.New); err != nil {
			return fmt.Errorf("foreign-key join: serialize foreign key: %w", err)
		}
	}
	send := func(fk KO, nullKey bool, in fkInstruction) error {
		s := sub
		s.Instruction = in
		return p.ctx.Forward(core.Record[KO, subscription[K]]{Key: fk, NullKey: nullKey, Value: s, Timestamp: r.Timestamp, Headers: r.Headers})
	}
	sameFK := oldOK && newOK && bytes.Equal(oldBytes, newBytes)
	if oldOK && !sameFK {
		// The old foreign row no longer applies. If a new subscription
		// follows, it answers; otherwise this one answers "no foreign row"
		// so that the result is deleted (or left-joined with nothing).
		in := fkDeleteAndPropagate
		if newOK {
			in = fkDeleteNoPropagate
		}
		if err := send(oldFK, false, in); err != nil {
			return err
		}
	}
	switch {
	case newOK:
		// A left join always has a result to produce. An inner join has a
		// previous result to delete when the foreign key changed, even if
		// the new foreign row is missing; a new row, or one keeping its
		// foreign key, only needs an answer if the foreign row exists
		// (Kafka Streams' SubscriptionSendProcessorSupplier).
		in := fkPropagateNullIfNoForeign
		if !p.leftJoin && (!oldOK || sameFK) {
			in = fkPropagateOnlyIfForeign
		}
		return send(newFK, false, in)
	case c.HasNew && !oldOK && p.leftJoin:
		// A nil foreign key: no subscription, but a left join has a result
		// (value, nothing); an inner join has none, and a result of the old
		// foreign key was deleted above. A keyless registration is
		// answered at once by the subscription side, so the answer goes
		// through the response topic like the row's other answers (Kafka
		// Streams 3.7+, KIP-962).
		return send(newFK, true, fkPropagateNullIfNoForeign)
	case !c.HasNew && c.HasOld && !oldOK:
		// A deleted row that had a nil foreign key: its left-join result
		// goes.
		if p.leftJoin {
			return send(newFK, true, fkDeleteAndPropagate)
		}
	}
	return nil
}

// combinedKey is the subscription store key: the foreign key, length
// prefixed, then the left key, so that a foreign key's subscribers are one
// prefix (Kafka Streams' CombinedKeySchema).
func combinedKey(fk, key []byte) []byte {
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(fk)+len(key)), uint32(len(fk)))
	return append(append(buf, fk...), key...)
}

func combinedPrefix(fk []byte) []byte {
	return append(binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(fk)), uint32(len(fk))), fk...)
}

// Subscription store values are Kafka Streams' ValueAndTimestamp of the
// SubscriptionWrapper: [8-byte timestamp][subscription as on the topic].
func encodeSubscriptionEntry[K any](ss subscriptionSerde[K], topic string, ts int64, sub subscription[K]) ([]byte, error) {
	b, err := ss.Serialize(topic, sub)
	if err != nil {
		return nil, err
	}
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(b)), uint64(ts)), b...), nil
}

func decodeSubscriptionEntry[K any](ss subscriptionSerde[K], topic string, b []byte) (int64, subscription[K], error) {
	if len(b) < 8 {
		return 0, subscription[K]{}, fmt.Errorf("%w: subscription store entry of %d bytes", serde.ErrSize, len(b))
	}
	sub, err := ss.Deserialize(topic, b[8:len(b):len(b)])
	return int64(binary.BigEndian.Uint64(b)), sub, err
}

// fkSubscriptionProcessor records subscriptions next to the right table and
// answers them (Kafka Streams' SubscriptionReceiveProcessorSupplier and
// SubscriptionJoinProcessorSupplier).
type fkSubscriptionProcessor[K, KO, VO any] struct {
	subStore, rightStore string
	keys                 serde.Serde[K]
	foreignKeys          serde.Serde[KO]
	foreignValues        serde.Serde[VO]
	ctx                  core.ProcessorContext[K, fkResponse[VO]]
	subs                 state.KeyValueStore
	right                *timestamped[KO, VO]
	topic                string // serde topic of the subscription store's keys
}

func (p *fkSubscriptionProcessor[K, KO, VO]) Init(ctx core.ProcessorContext[K, fkResponse[VO]]) error {
	p.ctx = ctx
	var err error
	if p.subs, p.topic, err = core.StoreOf[state.KeyValueStore](ctx, p.subStore); err != nil {
		return err
	}
	p.right, err = openTimestamped(ctx, p.rightStore, p.foreignKeys, p.foreignValues)
	return err
}

func (p *fkSubscriptionProcessor[K, KO, VO]) Close() error { return nil }

func (p *fkSubscriptionProcessor[K, KO, VO]) Process(r core.Record[KO, subscription[K]]) error {
	if r.NullValue {
		return nil
	}
	sub := r.Value
	respond := func(foreign VO, has bool, ts time.Time) error {
		return p.ctx.Forward(core.Record[K, fkResponse[VO]]{Key: sub.Key, Timestamp: ts, Headers: r.Headers,
			Value: fkResponse[VO]{HasHash: sub.HasHash, Hash: sub.Hash, Foreign: foreign, HasForeign: has, Partition: sub.Partition}})
	}
	var zero VO
	if r.NullKey {
		// A nil foreign key: nothing to subscribe to, answered at once.
		if sub.Instruction == fkPropagateNullIfNoForeign || sub.Instruction == fkDeleteAndPropagate {
			return respond(zero, false, r.Timestamp)
		}
		return nil
	}
	// Both key parts use the subscription store's changelog as serde topic,
	// as fkForeignProcessor does to find them.
	fkBytes, err := p.foreignKeys.Serialize(p.topic, r.Key)
	if err != nil {
		return fmt.Errorf("foreign-key join: serialize foreign key: %w", err)
	}
	keyBytes, err := p.keys.Serialize(p.topic, sub.Key)
	if err != nil {
		return fmt.Errorf("foreign-key join: serialize key: %w", err)
	}
	ck := combinedKey(fkBytes, keyBytes)
	switch sub.Instruction {
	case fkDeleteNoPropagate, fkDeleteAndPropagate:
		err = p.subs.Delete(ck)
	default:
		var entry []byte
		if entry, err = encodeSubscriptionEntry(subscriptionSerde[K]{p.keys}, p.topic, r.Timestamp.UnixMilli(), sub); err == nil {
			err = p.subs.Put(ck, entry)
		}
	}
	if err != nil {
		return fmt.Errorf("foreign-key join: subscription store: %w", err)
	}
	foreign, foreignTS, found, err := p.right.get(r.Key)
	if err != nil {
		return fmt.Errorf("foreign-key join: lookup in store %q: %w", p.rightStore, err)
	}
	ts := r.Timestamp
	if found && foreignTS > ts.UnixMilli() {
		ts = time.UnixMilli(foreignTS)
	}
	switch sub.Instruction {
	case fkDeleteAndPropagate:
		return respond(zero, false, ts)
	case fkPropagateNullIfNoForeign:
		return respond(foreign, found, ts)
	case fkPropagateOnlyIfForeign:
		if found {
			return respond(foreign, true, ts)
		}
	}
	return nil
}

// fkForeignProcessor answers every subscriber of a changed right row (Kafka
// Streams' ForeignTableJoinProcessorSupplier).
type fkForeignProcessor[K, KO, VO any] struct {
	subStore    string
	keys        serde.Serde[K]
	foreignKeys serde.Serde[KO]
	ctx         core.ProcessorContext[K, fkResponse[VO]]
	subs        state.KeyValueStore
	topic       string
}

func (p *fkForeignProcessor[K, KO, VO]) Init(ctx core.ProcessorContext[K, fkResponse[VO]]) error {
	p.ctx = ctx
	var err error
	p.subs, p.topic, err = core.StoreOf[state.KeyValueStore](ctx, p.subStore)
	return err
}

func (p *fkForeignProcessor[K, KO, VO]) Close() error { return nil }

func (p *fkForeignProcessor[K, KO, VO]) Process(r core.Record[KO, change[VO]]) error {
	if r.NullKey || (!r.Value.HasNew && !r.Value.HasOld) {
		return nil
	}
	fkBytes, err := p.foreignKeys.Serialize(p.topic, r.Key)
	if err != nil {
		return fmt.Errorf("foreign-key join: serialize foreign key: %w", err)
	}
	prefix := combinedPrefix(fkBytes)
	it, err := p.subs.Prefix(prefix)
	if err != nil {
		return fmt.Errorf("foreign-key join: scan subscriptions: %w", err)
	}
	type subscriber struct {
		sub subscription[K]
		ts  int64
	}
	// Collect first: forwarding while iterating would interleave with
	// writes of the same task.
	var subscribers []subscriber
	ss := subscriptionSerde[K]{p.keys}
	for it.Next() {
		ts, sub, err := decodeSubscriptionEntry(ss, p.topic, it.Value())
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("foreign-key join: subscription store entry: %w", err)
		}
		subscribers = append(subscribers, subscriber{sub, ts})
	}
	if err := it.Err(); err != nil {
		_ = it.Close()
		return err
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, s := range subscribers {
		ts := r.Timestamp
		if s.ts > ts.UnixMilli() {
			ts = time.UnixMilli(s.ts)
		}
		resp := fkResponse[VO]{HasHash: s.sub.HasHash, Hash: s.sub.Hash, Partition: s.sub.Partition,
			Foreign: r.Value.New, HasForeign: r.Value.HasNew}
		if err := p.ctx.Forward(core.Record[K, fkResponse[VO]]{Key: s.sub.Key, Value: resp, Timestamp: ts, Headers: r.Headers}); err != nil {
			return err
		}
	}
	return nil
}

// fkResolverProcessor applies responses to the result table, dropping
// stale ones (Kafka Streams' ResponseJoinProcessorSupplier): a response is
// current only if it was computed for the left row's current value.
type fkResolverProcessor[K, V, VO, VR any] struct {
	leftStore, resultStore string
	keys                   serde.Serde[K]
	values                 serde.Serde[V]
	resultKeys             serde.Serde[K]
	resultValues           serde.Serde[VR]
	leftJoin               bool
	joiner                 func(V, VO, bool) VR
	ctx                    core.ProcessorContext[K, change[VR]]
	left                   *timestamped[K, V]
	result                 *timestamped[K, VR]
}

func (p *fkResolverProcessor[K, V, VO, VR]) Init(ctx core.ProcessorContext[K, change[VR]]) error {
	p.ctx = ctx
	var err error
	if p.left, err = openTimestamped(ctx, p.leftStore, p.keys, p.values); err != nil {
		return err
	}
	if p.result, err = openTimestamped(ctx, p.resultStore, p.resultKeys, p.resultValues); err != nil {
		return err
	}
	return forwardOnFlush(ctx, p.resultStore, p.result)
}

func (p *fkResolverProcessor[K, V, VO, VR]) Close() error { return nil }

func (p *fkResolverProcessor[K, V, VO, VR]) Process(r core.Record[K, fkResponse[VO]]) error {
	if r.NullKey || r.NullValue {
		return nil
	}
	kb, err := p.keys.Serialize(p.left.topic, r.Key)
	if err != nil {
		return fmt.Errorf("foreign-key join: serialize key: %w", err)
	}
	raw, err := p.left.kv.Get(kb)
	if err != nil {
		return fmt.Errorf("foreign-key join: lookup in store %q: %w", p.leftStore, err)
	}
	found := raw != nil
	if found && len(raw) < 8 {
		return fmt.Errorf("store %s: corrupt value of %d bytes", p.leftStore, len(raw))
	}
	resp := r.Value
	if found != resp.HasHash || (found && valueHash(raw[8:]) != resp.Hash) {
		p.ctx.DropRecord("stale foreign-key join response")
		return nil
	}
	if !resp.HasForeign && (!p.leftJoin || !found) {
		return p.result.delete(r.Key)
	}
	v, err := p.values.Deserialize(p.left.topic, raw[8:len(raw):len(raw)])
	if err != nil {
		return fmt.Errorf("foreign-key join: deserialize left value: %w", err)
	}
	return p.result.put(r.Key, p.joiner(v, resp.Foreign, resp.HasForeign), r.Timestamp.UnixMilli())
}
