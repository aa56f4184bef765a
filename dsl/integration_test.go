package dsl_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde"
)

// itBase is a multiple of 10s, so stream-time punctuation boundaries of
// the 10s punctuator fall on round offsets from it. It is recent: the
// broker applies time retention (7 days by default), so records stamped
// long ago may be deleted before they are read.
var itBase = time.Now().Truncate(10 * time.Second).Add(-time.Minute).UnixMilli()

const (
	itA = 24 // records on in-a
	itB = 12 // records on in-b
	itC = 10 // records on each of in-c's two partitions
)

// lockedBuffer is an io.Writer shared by the tasks Print runs on.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSuffix(b.buf.String(), "\n"), "\n")
}

// idx is the input index carried by a value such as "a17" or "b3".
func idx(v string) int {
	n, err := strconv.Atoi(v[1:])
	if err != nil {
		panic(fmt.Sprintf("value %q carries no index", v))
	}
	return n
}

// itPartitioner places out-custom records on idx%n, except every fifth
// index, which falls back to the default (murmur2 of the key).
func itPartitioner(_ string, r core.Record[string, int32], n int32) (int32, bool) {
	if r.Value%5 == 0 {
		return 0, false
	}
	return r.Value % n, true
}

// itTopology uses every DSL operator at once:
//
//	in-a ─┬─ Merge(in-b) ─ Peek ─┬─ Foreach, Print
//	      │                      ├─ Split: three ─┬─ Filter ─ To(out-filter)
//	      │                      │                └─ FilterNot ─ MapValuesWithKey ─ To(out-mvk)
//	      │                      │        a ─ FlatMapValues ─ To(out-fmv)
//	      │                      │        b ─┬─ Map ─ WithSerdes ─ To(out-map)
//	      │                      │           └─ FlatMap ─ To(out-flatmap, ProducedWith)
//	      │                      ├─ ToFunc(out-func-a | out-func-b)
//	      │                      └─ SelectKey ─ Repartition(rekey) ─ To(out-rekey)
//	      └─ MapValues ─ To(out-custom, custom partitioner)
//	in-b ─── SelectKey ─ Repartition(rekey5, 5 partitions) ─ MapValues ─ To(out-rekey5)
//	in-c ─── Process (stream-time punctuator) ─ To(out-process)
func itTopology(t testing.TB, peeks, each *probe, printed *lockedBuffer) *core.Topology {
	t.Helper()
	b := dsl.NewBuilder()
	a := strStream(b, "in-a")
	bs := strStream(b, "in-b")
	merged := a.Merge(bs, "merge").Peek(func(k, v string) { peeks.add("%s=%s", k, v) })
	merged.Foreach(func(k, v string) { each.add("%s=%s", k, v) })
	merged.Print(printed, "all")

	branches := merged.Split("sp-").
		Branch(func(_, v string) bool { return v[0] == 'a' && idx(v)%3 == 0 }, "three").
		Branch(func(_, v string) bool { return v[0] == 'a' }, "a").
		DefaultBranch("b")
	even := func(_, v string) bool { return idx(v)%2 == 0 }
	branches["sp-three"].Filter(even).To("out-filter")
	dsl.MapValuesWithKey(branches["sp-three"].FilterNot(even), func(k, v string) string { return k + "/" + v }).To("out-mvk")
	dsl.FlatMapValues(branches["sp-a"], func(v string) []string { return []string{v, v + "'"} }).To("out-fmv")
	dsl.Map(branches["sp-b"], func(_, v string) (string, int64) { return v, int64(idx(v)) }).
		WithSerdes(serde.String(), serde.Int64()).To("out-map")
	dsl.FlatMap(branches["sp-b"], func(k, v string) []dsl.KeyValue[string, string] {
		return []dsl.KeyValue[string, string]{dsl.Pair(k+"x", v), dsl.Pair(k+"y", v)}
	}).To("out-flatmap", dsl.ProducedWith[string, string](serde.String(), serde.String()))

	merged.ToFunc(func(r core.Record[string, string]) string { return "out-func-" + r.Value[:1] })
	dsl.SelectKey(merged, func(_, v string) string { return "r" + strconv.Itoa(idx(v)%5) }).
		Repartition(dsl.Repartitioned[string, string]{}.WithName("rekey")).To("out-rekey")

	dsl.MapValues(a, func(v string) int32 { return int32(idx(v)) }).
		To("out-custom", dsl.ProducedWith[string, int32](serde.String(), serde.Int32()).WithPartitioner(itPartitioner))

	rekey5 := dsl.SelectKey(bs, func(_, v string) string { return "s" + strconv.Itoa(idx(v)%3) }).
		Repartition(dsl.RepartitionedWith(serde.String(), serde.String()).WithName("rekey5").WithPartitions(5))
	dsl.MapValues(rekey5, strings.ToUpper).To("out-rekey5")

	dsl.Process(strStream(b, "in-c"), func() core.Processor[string, string, string, string] {
		return &tickingProcessor{wallEvery: time.Hour}
	}).To("out-process")

	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// expRow is an expected output record. Order is asserted among records of
// one output partition with the same key and lane (records that one task
// reads from one input partition, in offset order).
type expRow struct {
	row
	lane string
	seq  int
}

type itInput struct {
	key, value string
	ts         int64
	headers    []core.Header
	partition  int32 // in-c only; the others are placed by key
}

func itInputs() (a, b, c []itInput) {
	for i := range itA {
		a = append(a, itInput{fmt.Sprintf("k%d", i%6), fmt.Sprintf("a%d", i), itBase + int64(i)*1000, hdr("src", "a"), -1})
	}
	for j := range itB {
		b = append(b, itInput{fmt.Sprintf("k%d", j%6), fmt.Sprintf("b%d", j), itBase + int64(j)*2000 + 500, hdr("src", "b", "j", strconv.Itoa(j)), -1})
	}
	for p := range int32(2) {
		for j := range itC {
			kv := fmt.Sprintf("c%d-%d", p, j)
			c = append(c, itInput{kv, kv, itBase + int64(j)*4000, nil, p})
		}
	}
	return a, b, c
}

// itExpected is the model of itTopology's output per topic.
func itExpected(a, b, c []itInput) map[string][]expRow {
	out := map[string][]expRow{}
	add := func(topic, lane string, seq int, key, value string, in itInput) {
		out[topic] = append(out[topic], expRow{row{key, value, in.ts, headerString(in.headers)}, lane, seq})
	}
	for _, in := range a {
		i := idx(in.value)
		lane := "a"
		switch {
		case i%3 == 0 && i%2 == 0:
			add("out-filter", lane, i, in.key, in.value, in)
		case i%3 == 0:
			add("out-mvk", lane, i, in.key, in.key+"/"+in.value, in)
		default:
			add("out-fmv", lane, 2*i, in.key, in.value, in)
			add("out-fmv", lane, 2*i+1, in.key, in.value+"'", in)
		}
		add("out-func-a", lane, i, in.key, in.value, in)
		add("out-rekey", lane+in.key, i, "r"+strconv.Itoa(i%5), in.value, in)
		add("out-custom", lane, i, in.key, strconv.Itoa(i), in)
	}
	for _, in := range b {
		j := idx(in.value)
		lane := "b"
		add("out-map", lane, j, in.value, strconv.Itoa(j), in)
		add("out-flatmap", lane, 2*j, in.key+"x", in.value, in)
		add("out-flatmap", lane, 2*j+1, in.key+"y", in.value, in)
		add("out-func-b", lane, j, in.key, in.value, in)
		add("out-rekey", lane+in.key, j, "r"+strconv.Itoa(j%5), in.value, in)
		add("out-rekey5", lane+in.key, j, "s"+strconv.Itoa(j%3), strings.ToUpper(in.value), in)
	}
	for n, in := range c {
		j := n % itC
		add("out-process", "c", j, in.key, fmt.Sprintf("%s@in-c/%d/%d", in.value, in.partition, j), in)
	}
	// Each in-c partition has records every 4s from itBase: the 10s
	// stream-time punctuator fires with the first record (0s), then when
	// stream time reaches 12s, 20s and 32s.
	for p := range 2 {
		for n, off := range []int64{0, 12_000, 20_000, 32_000} {
			ts := itBase + off
			out["out-process"] = append(out["out-process"], expRow{
				row{fmt.Sprintf("tick-%d", p), strconv.FormatInt(ts, 10), ts, ""}, "tick", n})
		}
	}
	return out
}

// itOutputs are the topics the application writes, with their partition
// counts.
var itOutputs = map[string]int32{
	"out-filter": 4, "out-mvk": 4, "out-fmv": 4, "out-map": 4, "out-flatmap": 4,
	"out-func-a": 4, "out-func-b": 4, "out-rekey": 2, "out-custom": 4, "out-rekey5": 4, "out-process": 3,
}

// murmur2Partition is where Kafka's default partitioner (and franz-go's
// StickyKeyPartitioner with a nil hasher) puts a keyed record.
func murmur2Partition(topic string, key []byte, n int32) int32 {
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic(topic).Partition(&kgo.Record{Key: key}, int(n)))
}

func TestIntegrationAllOperators(t *testing.T) {
	t.Parallel()
	for _, g := range []core.ProcessingGuarantee{core.AtLeastOnce, core.ExactlyOnceV2} {
		t.Run(string(g), func(t *testing.T) {
			t.Parallel()
			testAllOperators(t, g)
		})
	}
}

func testAllOperators(t *testing.T, g core.ProcessingGuarantee) {
	broker := testbroker.New(t)
	broker.CreateTopic(t, "in-a", 3, nil)
	broker.CreateTopic(t, "in-b", 3, nil)
	broker.CreateTopic(t, "in-c", 2, nil)
	for topic, n := range itOutputs {
		broker.CreateTopic(t, topic, n, nil)
	}
	a, b, c := itInputs()
	var recs []*kgo.Record
	for _, in := range a {
		recs = append(recs, &kgo.Record{Topic: "in-a", Key: []byte(in.key), Value: []byte(in.value), Timestamp: time.UnixMilli(in.ts), Headers: in.headers})
	}
	for _, in := range b {
		recs = append(recs, &kgo.Record{Topic: "in-b", Key: []byte(in.key), Value: []byte(in.value), Timestamp: time.UnixMilli(in.ts), Headers: in.headers})
	}
	broker.Produce(t, recs...)
	manual := broker.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs = recs[:0]
	for _, in := range c {
		recs = append(recs, &kgo.Record{Topic: "in-c", Partition: in.partition, Key: []byte(in.key), Value: []byte(in.value), Timestamp: time.UnixMilli(in.ts)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := manual.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	peeks, each, printed := &probe{}, &probe{}, &lockedBuffer{}
	appID := "dsl-it-" + string(g)
	app, err := core.New(itTopology(t, peeks, each, printed), core.WithBrokers(broker.Addr()), core.WithApplicationID(appID),
		core.WithProcessingGuarantee(g), core.WithCommitInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopApp := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	// Every input record, plus the records read back from both
	// repartition topics.
	const consumed = itA + itB + 2*itC + (itA + itB) + itB
	deadline := time.Now().Add(30 * time.Second)
	for app.Stats().Consumed < consumed {
		select {
		case err := <-done:
			t.Fatalf("app stopped early: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stopApp()
			t.Fatalf("timed out: consumed %d of %d records", app.Stats().Consumed, consumed)
		}
	}
	stopApp()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("app did not stop")
	}
	if st := app.Stats(); st.Consumed != consumed || st.Dropped != 0 {
		t.Errorf("stats: consumed %d (want %d), dropped %d", st.Consumed, consumed, st.Dropped)
	}

	// Internal topics: created by the application with the upstream
	// partition count (in-a and in-b have 3) or the one asked for.
	adm := kadm.NewClient(broker.Client(t))
	rekeyTopic, rekey5Topic := appID+"-rekey-repartition", appID+"-rekey5-repartition"
	details, err := adm.ListTopics(ctx, rekeyTopic, rekey5Topic)
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]int{rekeyTopic: 3, rekey5Topic: 5} {
		d, ok := details[topic]
		if !ok || d.Err != nil {
			t.Fatalf("repartition topic %s: exists %v, err %v", topic, ok, d.Err)
		}
		if got := len(d.Partitions); got != want {
			t.Errorf("repartition topic %s has %d partitions, want %d", topic, got, want)
		}
	}
	topics := []string{rekeyTopic, rekey5Topic}
	for topic := range itOutputs {
		topics = append(topics, topic)
	}
	read := readCommitted(t, broker, topics...)
	// Re-keyed records sit in the partition murmur2 of their new key picks.
	for topic, want := range map[string]struct{ n, count int32 }{rekeyTopic: {3, itA + itB}, rekey5Topic: {5, itB}} {
		got := read[topic]
		if len(got) != int(want.count) {
			t.Errorf("%s: %d records, want %d", topic, len(got), want.count)
		}
		for _, r := range got {
			if p := murmur2Partition(topic, r.Key, want.n); r.Partition != p {
				t.Errorf("%s: key %s value %s in partition %d, murmur2 says %d", topic, r.Key, r.Value, r.Partition, p)
			}
		}
	}

	expected := itExpected(a, b, c)
	for topic, n := range itOutputs {
		dec := stringDecoder
		switch topic {
		case "out-map":
			dec = decodeWith(serde.String(), serde.Int64())
		case "out-custom":
			dec = decodeWith(serde.String(), serde.Int32())
		}
		got := read[topic]
		checkTopic(t, topic, n, got, toRows(t, got, dec), expected[topic])
	}

	// Side effects: one call per merged record, whatever the order.
	var wantKV, wantPrint []string
	for _, in := range append(slices.Clone(a), b...) {
		wantKV = append(wantKV, in.key+"="+in.value)
		wantPrint = append(wantPrint, fmt.Sprintf("[all]: %s, %s", in.key, in.value))
	}
	slices.Sort(wantKV)
	slices.Sort(wantPrint)
	for what, got := range map[string][]string{"Peek": peeks.get(), "Foreach": each.get(), "Print": printed.lines()} {
		want := wantKV
		if what == "Print" {
			want = wantPrint
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s saw %d calls:\n got %q\nwant %q", what, len(got), got, want)
		}
	}
}

// checkTopic compares one output topic with the model: the same multiset
// of records (key, value, timestamp, headers), each in the partition its
// partitioner dictates, in model order per partition, key and lane.
func checkTopic(t *testing.T, topic string, partitions int32, raw []*kgo.Record, got []row, want []expRow) {
	t.Helper()
	byRow := map[row]expRow{}
	for _, w := range want {
		if _, dup := byRow[w.row]; dup {
			t.Fatalf("%s: model has duplicate row %v", topic, w.row)
		}
		byRow[w.row] = w
	}
	seen := map[row]bool{}
	type orderKey struct {
		partition int32
		key, lane string
	}
	last := map[orderKey]int{}
	for i, r := range got {
		w, ok := byRow[r]
		switch {
		case !ok:
			t.Errorf("%s: unexpected record %v", topic, r)
			continue
		case seen[r]:
			t.Errorf("%s: duplicate record %v", topic, r)
			continue
		}
		seen[r] = true
		p := raw[i].Partition
		wantP := murmur2Partition(topic, raw[i].Key, partitions)
		if topic == "out-custom" {
			if v, _ := strconv.Atoi(r.Value); v%5 != 0 {
				wantP = int32(v) % partitions
			}
		}
		if p != wantP {
			t.Errorf("%s: record %v in partition %d, want %d", topic, r, p, wantP)
		}
		ok2 := orderKey{p, r.Key, w.lane}
		if prev, ok := last[ok2]; ok && prev > w.seq {
			t.Errorf("%s: partition %d key %s: %v after a later record (seq %d > %d)", topic, p, r.Key, r, prev, w.seq)
		}
		last[ok2] = w.seq
	}
	for _, w := range want {
		if !seen[w.row] {
			t.Errorf("%s: missing record %v", topic, w.row)
		}
	}
}

// readCommitted reads topics from the start up to their last stable
// offsets as of the call, read_committed, and returns each topic's records
// ordered by partition, then offset. Unlike testbroker.ReadAll it keeps
// control records while reading, so a partition ending in a transaction
// marker is known to be complete at once instead of after idle polls,
// and it reads every topic in one pass.
func readCommitted(t *testing.T, broker *testbroker.Broker, topics ...string) map[string][]*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(broker.Client(t)).ListCommittedOffsets(ctx, topics...)
	if err != nil {
		t.Fatalf("list last stable offsets: %v", err)
	}
	type tp struct {
		topic     string
		partition int32
	}
	want := map[tp]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("last stable offset of %s[%d]: %v", o.Topic, o.Partition, o.Err)
		}
		if o.Offset > 0 {
			want[tp{o.Topic, o.Partition}] = o.Offset
		}
	})
	out := map[string][]*kgo.Record{}
	if len(want) == 0 {
		return out
	}
	cl := broker.Client(t, kgo.ConsumeTopics(topics...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %v: timed out; still waiting for %v", topics, want)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("read %s[%d]: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			key := tp{r.Topic, r.Partition}
			end, ok := want[key]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				out[r.Topic] = append(out[r.Topic], r)
			}
			if r.Offset+1 >= end {
				delete(want, key)
			}
		})
	}
	for _, recs := range out {
		slices.SortStableFunc(recs, func(a, b *kgo.Record) int {
			if a.Partition != b.Partition {
				return int(a.Partition - b.Partition)
			}
			return int(a.Offset - b.Offset)
		})
	}
	return out
}
