package dsl_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// Stream-table joins with a versioned table and a grace period
// (KStreamKTableJoinTest, KIP-914 and KIP-923).
func TestKSFidelityStreamTableJoinGrace(t *testing.T) {
	const streamTopic, tableTopic = "streamTopic", "tableTopic2"
	// KStreamKTableJoinTest#makeJoin: a table versioned for 5 minutes,
	// joined with a grace period under the name "Grace".
	makeJoin := func(grace time.Duration) func(b *dsl.Builder, c *captured) {
		return func(b *dsl.Builder, c *captured) {
			stream := dsl.Stream(b, streamTopic, intStrings)
			table := dsl.Table(b, tableTopic, intStrings, dsl.MaterializedAs[int32, string]("V-grace").AsVersioned(5*time.Minute))
			capture(dsl.JoinTable(stream, table, toStringJoiner,
				dsl.Joined[int32, string]{Name: "Grace", Keys: serde.Int32(), Values: serde.String(), GracePeriod: grace}), c)
		}
	}
	// pushToStream(n, prefix): key i with prefix+i at timestamp i.
	pushToStream := func(n int, prefix string) []ksIn { return eachInc(streamTopic, allKeys[:n], prefix, 0) }
	// pushToTableNonRandom(n, prefix): key i with prefix+i at timestamp 0.
	pushToTableNonRandom := func(n int, prefix string) []ksIn { return each(tableTopic, allKeys[:n], prefix, 0) }
	runScenarios(t, []ksScenario{
		{
			name: "delay join by grace period", java: "KStreamKTableJoinTest#shouldDelayJoinByGracePeriod",
			build: makeJoin(2 * time.Millisecond),
			steps: []ksStep{
				{in: pushToTableNonRandom(4, "Y")},
				{in: pushToStream(4, "X"), want: []ksOut{{0, "X0+Y0", 0}, {1, "X1+Y1", 1}}},
				{in: pushToTableNonRandom(4, "YY")},
				{in: pushToStream(4, "X"), want: []ksOut{{0, "X0+YY0", 0}, {1, "X1+YY1", 1}}},
				{in: in(streamTopic, 5, "test", 7), want: []ksOut{{2, "X2+YY2", 2}, {2, "X2+YY2", 2}, {3, "X3+YY3", 3}, {3, "X3+YY3", 3}}},
				{in: pushToTableNonRandom(4, "YYY")},
			},
		},
		{
			name: "late joins with grace period", java: "KStreamKTableJoinTest#shouldHandleLateJoinsWithGracePeriod",
			build: makeJoin(2 * time.Millisecond),
			steps: []ksStep{
				{in: pushToTableNonRandom(4, "Y")},
				// push 4 records into the buffer and evict the first two
				{in: pushToStream(4, "X"), want: []ksOut{{0, "X0+Y0", 0}, {1, "X1+Y1", 1}}},
				// processed immediately, evicting nothing else
				{in: pushToStream(1, "X"), want: []ksOut{{0, "X0+Y0", 0}}},
			},
		},
	})
}

// Build errors of KStreamKTableJoinTest: a grace period needs a versioned
// table whose history retention covers it.
func TestKSFidelityStreamTableJoinGraceErrors(t *testing.T) {
	strings2 := dsl.ConsumedWith(serde.String(), serde.String())
	joiner := func(a, b string) string { return a + b }
	joined := func(grace time.Duration) dsl.Joined[string, string] {
		return dsl.Joined[string, string]{Name: "first-join", Keys: serde.String(), Values: serde.String(), GracePeriod: grace}
	}
	for _, tc := range []struct {
		name, java string
		table      func(b *dsl.Builder) *dsl.KTable[string, string]
		grace      time.Duration
		want       string
	}{
		{
			name: "table not versioned", java: "KStreamKTableJoinTest#shouldFailIfTableIsNotVersioned",
			table: func(b *dsl.Builder) *dsl.KTable[string, string] { return dsl.Table(b, "topic2", strings2) },
			grace: 6 * time.Millisecond, want: "the table must be versioned",
		},
		{
			name: "grace longer than history", java: "KStreamKTableJoinTest#shouldFailIfGracePeriodIsLongerThanHistoryRetention",
			table: func(b *dsl.Builder) *dsl.KTable[string, string] {
				return dsl.Table(b, "topic2", strings2, dsl.MaterializedAs[string, string]("tableB").AsVersioned(5*time.Minute))
			},
			grace: 6 * time.Minute, want: "history retention (5m0s) must be at least the grace period (6m0s)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := dsl.NewBuilder()
			streamA := dsl.Stream(b, "topic", strings2)
			dsl.JoinTable(streamA, tc.table(b), joiner, joined(tc.grace)).To("out-one", dsl.ProducedWith(serde.String(), serde.String()))
			_, err := b.Build()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s: build error %v, want one containing %q", tc.java, err, tc.want)
			}
		})
	}
}

// A versioned table read by a stream-table join: lookups are as of the
// stream record's timestamp (KIP-914); an out-of-order table update goes
// into the history without replacing the latest value or being forwarded
// downstream; an update older than the history retention is dropped.
// (Sluice scenarios in the ported tests' style: Kafka Streams' unit tests
// for these rules are in VersionedKeyValueStoreIntegrationTest and
// StreamTableJoinIntegrationTest, against a broker.)
func TestVersionedTableSemantics(t *testing.T) {
	const streamTopic, tableTopic = "stream", "table"
	runScenarios(t, []ksScenario{
		{
			name: "join as of the stream record's time", java: "(Sluice) KIP-914 timestamped lookup",
			build: func(b *dsl.Builder, c *captured) {
				table := dsl.Table(b, tableTopic, intStrings, dsl.MaterializedAs[int32, string]("versioned").AsVersioned(time.Minute))
				capture(dsl.LeftJoinTable(dsl.Stream(b, streamTopic, intStrings), table, toStringLeftJoiner), c)
			},
			steps: []ksStep{
				{in: seq(in(tableTopic, 0, "a", 10), in(tableTopic, 0, "c", 30))},
				{in: in(streamTopic, 0, "s", 5), want: []ksOut{{0, "s+null", 5}}},
				{in: in(streamTopic, 0, "s", 15), want: []ksOut{{0, "s+a", 15}}},
				{in: in(streamTopic, 0, "s", 40), want: []ksOut{{0, "s+c", 40}}},
				// out of order: into the history only
				{in: in(tableTopic, 0, "b", 20)},
				{in: in(streamTopic, 0, "s", 25), want: []ksOut{{0, "s+b", 25}}},
				{in: in(streamTopic, 0, "s", 35), want: []ksOut{{0, "s+c", 35}}},
				// a delete at 50
				{in: in(tableTopic, 0, nil, 50)},
				{in: in(streamTopic, 0, "s", 55), want: []ksOut{{0, "s+null", 55}}},
				{in: in(streamTopic, 0, "s", 45), want: []ksOut{{0, "s+c", 45}}},
			},
		},
		{
			name: "only latest updates reach downstream", java: "(Sluice) KIP-914 KTableSource over a versioned store",
			build: func(b *dsl.Builder, c *captured) {
				table := dsl.Table(b, tableTopic, intStrings, dsl.MaterializedAs[int32, string]("versioned").AsVersioned(100*time.Millisecond))
				captureTable(table, c)
			},
			steps: []ksStep{
				{in: in(tableTopic, 0, "a", 10), want: []ksOut{{0, "a", 10}}},
				{in: in(tableTopic, 0, "c", 30), want: []ksOut{{0, "c", 30}}},
				{in: in(tableTopic, 0, "b", 20)},                              // out of order
				{in: in(tableTopic, 0, "d", 30), want: []ksOut{{0, "d", 30}}}, // same time: replaces the latest
				{in: in(tableTopic, 1, "x", 500), want: []ksOut{{1, "x", 500}}},
				{in: in(tableTopic, 0, "old", 399)}, // older than the history retention: dropped
				{in: in(tableTopic, 0, nil, 450), want: []ksOut{{0, nil, 450}}},
			},
		},
		{
			name: "table-table join reads the latest value", java: "(Sluice) versioned table in a table-table join",
			build: func(b *dsl.Builder, c *captured) {
				left := dsl.Table(b, "left", intStrings, dsl.MaterializedAs[int32, string]("versioned").AsVersioned(time.Minute))
				right := dsl.Table(b, "right", intStrings)
				captureTable(dsl.JoinTables(left, right, toStringJoiner), c)
			},
			steps: []ksStep{
				{in: in("left", 0, "a", 10)},
				{in: in("right", 0, "X", 5), want: []ksOut{{0, "a+X", 10}}},
				{in: in("left", 0, "old", 3)}, // out of order: not forwarded
				{in: in("right", 0, "Y", 6), want: []ksOut{{0, "a+Y", 10}}},
				{in: in("left", 0, "b", 20), want: []ksOut{{0, "b+Y", 20}}},
			},
		},
		{
			name: "foreign-key join reads the latest value", java: "(Sluice) versioned table in a foreign-key join",
			build: func(b *dsl.Builder, c *captured) {
				left := dsl.Table(b, "left", intStrings)
				right := dsl.Table(b, "right", intStrings, dsl.MaterializedAs[int32, string]("versioned").AsVersioned(time.Minute))
				captureTable(dsl.FKJoin(left, right, func(v string) int32 { return int32(len(v)) }, toStringJoiner), c)
			},
			steps: []ksStep{
				{in: in("right", 1, "R1", 5)},
				{in: in("left", 0, "a", 10), want: []ksOut{{0, "a+R1", 10}}},
				{in: in("right", 1, "old", 3)}, // out of order: not forwarded
				{in: in("right", 1, "R2", 20), want: []ksOut{{0, "a+R2", 20}}},
				{in: in("left", 0, "b", 30), want: []ksOut{{0, "b+R2", 30}}},
			},
		},
	})
}

// The grace period's buffer keeps each record's headers and timestamp, and
// its changelog; a left join's null-key record is joined at once (Kafka
// Streams' buffer rejects null keys).
func TestStreamTableJoinGraceBuffer(t *testing.T) {
	b := dsl.NewBuilder()
	strs := dsl.ConsumedWith(serde.String(), serde.String())
	table := dsl.Table(b, "table", strs, dsl.MaterializedAs[string, string]("versions").AsVersioned(time.Minute))
	dsl.LeftJoinTable(dsl.Stream(b, "stream", strs), table, toStringLeftJoiner,
		dsl.Joined[string, string]{Name: "j", GracePeriod: 10 * time.Millisecond}).To("out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(topo.Describe(), "Processor: j (stores: [versions, j-Buffer])") {
		t.Fatalf("the join does not use its buffer store:\n%s", topo.Describe())
	}
	d, err := core.NewTestDriver(topo, core.WithDriverStartTime(time.UnixMilli(0)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pipe := func(topic string, key []byte, value string, ts int64, headers ...kgo.RecordHeader) {
		t.Helper()
		if err := d.Pipe(&kgo.Record{Topic: topic, Key: key, Value: []byte(value), Timestamp: time.UnixMilli(ts), Headers: headers}); err != nil {
			t.Fatal(err)
		}
	}
	out := func() []string {
		var got []string
		for _, r := range d.ReadOutput("out") {
			s := fmt.Sprintf("%s=%s@%d", r.Key, r.Value, r.Timestamp.UnixMilli())
			for _, h := range r.Headers {
				s += fmt.Sprintf(" %s:%s", h.Key, h.Value)
			}
			got = append(got, s)
		}
		return got
	}
	pipe("stream", []byte("k"), "s1", 100, kgo.RecordHeader{Key: "h", Value: []byte("1")}, kgo.RecordHeader{Key: "empty"})
	pipe("stream", nil, "nullkey", 100)
	if got := out(); !slices.Equal(got, []string{"=nullkey+null@100"}) {
		t.Fatalf("before the grace period passed: %v", got)
	}
	pipe("table", []byte("k"), "late-table", 95) // within the grace period: seen by s1
	pipe("stream", []byte("other"), "s2", 110)
	if got := out(); !slices.Equal(got, []string{"k=s1+late-table@100 h:1 empty:"}) {
		t.Fatalf("after the grace period: %v", got)
	}
	changelog := d.ReadOutput("test-driver-j-Buffer-changelog")
	// s1 and s2 put, s1 deleted once joined
	if len(changelog) != 3 || changelog[2].Value != nil {
		t.Errorf("buffer changelog: %d records, want 3 ending with a tombstone", len(changelog))
	}
}
