package dsl_test

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// stringRemover is Java's MockAggregator.TOSTRING_REMOVER: agg + "-" + value.
func stringRemover(_ string, v, agg string) string { return agg + "-" + v }

// nullableStrings is a serde of *string whose nil is Java's null key.
var nullableStrings = serde.Funcs(func(topic string, v *string) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return []byte(*v), nil
}, func(topic string, b []byte) (*string, error) {
	s := string(b)
	return &s, nil
})

func TestKSFidelityTableAggregate(t *testing.T) {
	grouped := dsl.GroupedWith(serde.String(), serde.String())
	runScenarios(t, []ksScenario{
		{name: "testAggBasic", java: "KTableAggregateTest#testAggBasic",
			build: func(b *dsl.Builder, c *captured) {
				g := dsl.GroupByTable(dsl.Table(b, "topic1", stringStrings), func(k, v string) (string, string) { return k, v }, grouped)
				captureTable(dsl.AggregateTable(g, func() string { return "0" }, stringAdder, stringRemover,
					dsl.MaterializedAs[string, string]("topic1-Canonized").WithSerdes(serde.String(), serde.String())), c)
			},
			steps: []ksStep{{[]ksIn{
				kv("topic1", "A", "1", 10), kv("topic1", "B", "2", 15), kv("topic1", "A", "3", 20), kv("topic1", "B", "4", 18),
				kv("topic1", "C", "5", 5), kv("topic1", "D", "6", 25), kv("topic1", "B", "7", 15), kv("topic1", "C", "8", 10),
			}, []ksOut{
				{"A", "0+1", 10}, {"B", "0+2", 15}, {"A", "0+1-1+3", 20}, {"B", "0+2-2+4", 18},
				{"C", "0+5", 5}, {"D", "0+6", 25}, {"B", "0+2-2+4-4+7", 18}, {"C", "0+5-5+8", 10},
			}}}},
		{name: "testAggRepartition", java: "KTableAggregateTest#testAggRepartition",
			// Java's mapper returns a null key for "null" and a null
			// KeyValue for "NULL"; both drop the row, as a nil *string key
			// does here.
			build: func(b *dsl.Builder, c *captured) {
				g := dsl.GroupByTable(dsl.Table(b, "topic1", stringStrings), func(k, v string) (*string, string) {
					if k == "null" || k == "NULL" {
						return nil, v
					}
					return &v, v
				}, dsl.GroupedWith(nullableStrings, serde.String()))
				captureTable(dsl.AggregateTable(g, func() string { return "0" },
					func(_ *string, v, agg string) string { return agg + "+" + v },
					func(_ *string, v, agg string) string { return agg + "-" + v },
					dsl.MaterializedAs[*string, string]("topic1-Canonized").WithSerdes(nullableStrings, serde.String())), c)
			},
			steps: []ksStep{{[]ksIn{
				kv("topic1", "A", "1", 10), {"topic1", "A", nil, 15}, kv("topic1", "A", "1", 12), kv("topic1", "B", "2", 20),
				kv("topic1", "null", "3", 25), kv("topic1", "B", "4", 23), kv("topic1", "NULL", "5", 24), kv("topic1", "B", "7", 22),
			}, []ksOut{
				{"1", "0+1", 10}, {"1", "0+1-1", 15}, {"1", "0+1-1+1", 15}, {"2", "0+2", 20},
				{"2", "0+2-2", 23}, {"4", "0+4", 23}, {"4", "0+4-4", 23}, {"7", "0+7", 22},
			}}}},
		{name: "testCount", java: "KTableAggregateTest#testCount (testCountHelper)",
			build: func(b *dsl.Builder, c *captured) {
				g := dsl.GroupByTable(dsl.Table(b, "count-test-input", stringStrings), func(_, v string) (string, string) { return v, v }, grouped)
				captureTable(g.Count(dsl.MaterializedAs[string, int64]("count").WithSerdes(serde.String(), serde.Int64())), c)
			},
			steps: []ksStep{{[]ksIn{
				kv("count-test-input", "A", "green", 10), kv("count-test-input", "B", "green", 9), kv("count-test-input", "A", "blue", 12),
				kv("count-test-input", "C", "yellow", 15), kv("count-test-input", "D", "green", 11),
			}, []ksOut{
				{"green", int64(1), 10}, {"green", int64(2), 10}, {"green", int64(1), 12}, {"blue", int64(1), 12},
				{"yellow", int64(1), 15}, {"green", int64(2), 12},
			}}}},
		{name: "testRemoveOldBeforeAddNew", java: "KTableAggregateTest#testRemoveOldBeforeAddNew",
			build: func(b *dsl.Builder, c *captured) {
				g := dsl.GroupByTable(dsl.Table(b, "count-test-input", stringStrings), func(k, _ string) (string, string) { return k[:1], k[1:2] }, grouped)
				captureTable(dsl.AggregateTable(g, func() string { return "" },
					func(_, v, agg string) string { return agg + v },
					func(_, v, agg string) string { return strings.ReplaceAll(agg, v, "") },
					dsl.MaterializedAs[string, string]("someStore").WithSerdes(serde.String(), serde.String())), c)
			},
			steps: []ksStep{{[]ksIn{
				kv("count-test-input", "11", "A", 10), kv("count-test-input", "12", "B", 8),
				{"count-test-input", "11", nil, 12}, kv("count-test-input", "12", "C", 6),
			}, []ksOut{{"1", "1", 10}, {"1", "12", 10}, {"1", "2", 12}, {"1", "2", 12}}}}},
	})
}
