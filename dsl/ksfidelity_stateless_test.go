package dsl_test

import (
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

func TestKSFidelityStateless(t *testing.T) {
	keys := []int{1, 10, 100, 1000}
	// pipeInput(key, Integer.toString(key), key / 2L)
	halfTime := func() []ksIn {
		var out []ksIn
		for _, k := range keys {
			out = append(out, ksIn{"topic", k, fmt.Sprint(k), int64(k / 2)})
		}
		return out
	}
	stringInts := dsl.ConsumedWith(serde.String(), serde.Int32())
	positive := func(_ string, v int32) bool { return v%2 == 0 }
	runScenarios(t, []ksScenario{
		{name: "mapValues", java: "KStreamMapValuesTest#testFlatMapValues (mapValues(CharSequence::length))",
			build: func(b *dsl.Builder, c *captured) {
				capture(dsl.MapValues(dsl.Stream(b, "topic", intStrings), func(v string) int { return len(v) }), c)
			},
			steps: []ksStep{{halfTime(), []ksOut{{1, 1, 0}, {10, 2, 5}, {100, 3, 50}, {1000, 4, 500}}}}},
		{name: "mapValuesWithKey", java: "KStreamMapValuesTest#testMapValuesWithKeys",
			build: func(b *dsl.Builder, c *captured) {
				capture(dsl.MapValuesWithKey(dsl.Stream(b, "topic", intStrings), func(k int32, v string) int { return len(v) + int(k) }), c)
			},
			steps: []ksStep{{halfTime(), []ksOut{{1, 2, 0}, {10, 12, 5}, {100, 103, 50}, {1000, 1004, 500}}}}},
		{name: "map", java: "KStreamMapTest#testMap",
			build: func(b *dsl.Builder, c *captured) {
				capture(dsl.Map(dsl.Stream(b, "topic", intStrings), func(k int32, v string) (string, int32) { return v, k }), c)
			},
			steps: []ksStep{{seq(in("topic", 0, "V0", 10), in("topic", 1, "V1", 9), in("topic", 2, "V2", 8), in("topic", 3, "V3", 7)),
				[]ksOut{{"V0", 0, 10}, {"V1", 1, 9}, {"V2", 2, 8}, {"V3", 3, 7}}}}},
		{name: "filterSendingOldValues", java: "KTableFilterTest#shouldEnableSendOldValuesWhenNotMaterializedAlreadyButForcedToMaterialize (doTestSendingOldValue, table2)",
			opts: []core.Option{core.WithCacheMaxBytes(0)},
			build: func(b *dsl.Builder, c *captured) {
				captureTable(dsl.Table(b, "topic1", stringInts).Filter(positive), c)
			},
			steps: []ksStep{
				{seq(in("topic1", "A", 1, 5), in("topic1", "B", 1, 10), in("topic1", "C", 1, 15)), nil},
				{seq(in("topic1", "A", 2, 15), in("topic1", "B", 2, 8)), []ksOut{{"A", 2, 15}, {"B", 2, 8}}},
				{in("topic1", "A", 3, 20), []ksOut{{"A", nil, 20}}},
				{seq(in("topic1", "A", nil, 10), in("topic1", "B", nil, 20)), []ksOut{{"B", nil, 20}}},
			}},
		{name: "filterPassThrough", java: "KTableFilterTest#shouldPassThroughWithoutMaterialization (doTestKTable, filter and filterNot)",
			// Deviation (DESIGN.md): Java, not sending old values, also
			// forwards deletes of rows that were never in the filtered
			// table: filter ("A",null,10), ("C",null,8), ("A",null,18),
			// filterNot ("B",null,5), ("D",null,14), ("B",null,15). Sluice
			// always knows the old value and forwards real changes only,
			// as Kafka Streams does with sendOldValues
			// (doTestSendingOldValue above).
			opts: []core.Option{core.WithCacheMaxBytes(0)},
			build: func(b *dsl.Builder, c *captured) {
				t1 := dsl.Table(b, "topic1", stringInts)
				captureTable(t1.Filter(positive), c)
				captureTable(t1.FilterNot(positive), c)
			},
			steps: []ksStep{
				{in("topic1", "A", 1, 10), []ksOut{{"A", 1, 10}}},
				{in("topic1", "B", 2, 5), []ksOut{{"B", 2, 5}}},
				{in("topic1", "C", 3, 8), []ksOut{{"C", 3, 8}}},
				{in("topic1", "D", 4, 14), []ksOut{{"D", 4, 14}}},
				{in("topic1", "A", nil, 18), []ksOut{{"A", nil, 18}}},
				{in("topic1", "B", nil, 15), []ksOut{{"B", nil, 15}}},
			}},
	})
}

// TestMapTombstones: Map and MapValues keep a tombstone a tombstone (the
// decision documented on them; Kafka Streams hands the null to the
// mapper), and the Nullable variants give the mapper Kafka Streams' say.
func TestMapTombstones(t *testing.T) {
	calls := 0
	runScenarios(t, []ksScenario{
		{name: "MapValues", java: "(Sluice decision; KStreamMapValues passes null to the mapper)",
			build: func(b *dsl.Builder, c *captured) {
				capture(dsl.MapValues(dsl.Stream(b, "topic", intStrings), func(v string) int { calls++; return len(v) }), c)
			},
			steps: []ksStep{{seq(in("topic", 1, "ab", 3), in("topic", 1, nil, 4)), []ksOut{{1, 2, 3}, {1, nil, 4}}}}},
		{name: "MapValuesWithKey", java: "(Sluice decision)",
			build: func(b *dsl.Builder, c *captured) {
				capture(dsl.MapValuesWithKey(dsl.Stream(b, "topic", intStrings), func(k int32, v string) int { calls++; return len(v) }), c)
			},
			steps: []ksStep{{in("topic", 1, nil, 4), []ksOut{{1, nil, 4}}}}},
		{name: "Map", java: "(Sluice decision; KStreamMap passes null to the mapper)",
			build: func(b *dsl.Builder, c *captured) {
				capture(dsl.Map(dsl.Stream(b, "topic", intStrings), func(k int32, v string) (string, int) { return fmt.Sprint("k", k), len(v) + 1 }), c)
			},
			steps: []ksStep{{seq(in("topic", 1, "ab", 3), in("topic", 2, nil, 4)), []ksOut{{"k1", 3, 3}, {"k2", nil, 4}}}}},
		{name: "MapValuesNullable", java: "KStreamMapValues semantics: the mapper sees and returns nulls",
			build: func(b *dsl.Builder, c *captured) {
				capture(dsl.MapValuesNullable(dsl.Stream(b, "topic", intStrings), func(k int32, v string, isNull bool) (string, bool) {
					if isNull {
						return "was null", false
					}
					return "", v == "drop"
				}), c)
			},
			steps: []ksStep{{seq(in("topic", 1, nil, 3), in("topic", 1, "drop", 4)), []ksOut{{1, "was null", 3}, {1, nil, 4}}}}},
		{name: "MapNullable", java: "KStreamMap semantics: the mapper sees and returns nulls",
			build: func(b *dsl.Builder, c *captured) {
				capture(dsl.MapNullable(dsl.Stream(b, "topic", intStrings), func(k int32, v string, isNull bool) (int, string, bool) {
					return int(k) * 10, fmt.Sprint(isNull), v == "drop"
				}), c)
			},
			steps: []ksStep{{seq(in("topic", 1, nil, 3), in("topic", 2, "drop", 4)), []ksOut{{10, "true", 3}, {20, nil, 4}}}}},
	})
	if calls != 1 {
		t.Errorf("mappers called %d times, want 1 (never for a tombstone)", calls)
	}
}
