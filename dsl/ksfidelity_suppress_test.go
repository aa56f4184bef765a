package dsl_test

import (
	"testing"

	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// valueCounts is SuppressScenarioTest's table("input", caching and logging
// disabled).groupBy((k, v) -> (v, k)).count(), suppressed by s.
func valueCounts(s dsl.Suppressed) func(b *dsl.Builder, c *captured) {
	return func(b *dsl.Builder, c *captured) {
		t := dsl.Table(b, "input", stringStrings, dsl.Materialized[string, string]{DisableCaching: true, DisableLogging: true})
		g := dsl.GroupByTable(t, func(k, v string) (string, string) { return v, k }, dsl.GroupedWith(serde.String(), serde.String()))
		captureTable(g.Count().Suppress(s), c)
	}
}

// windowedCounts is SuppressScenarioTest's stream("input").groupBy((k, v)
// -> k).windowedBy(windows).count(caching disabled), suppressed until the
// windows close.
func windowedCounts(w dsl.TimeWindows) func(b *dsl.Builder, c *captured) {
	return func(b *dsl.Builder, c *captured) {
		g := dsl.GroupBy(dsl.Stream(b, "input", stringStrings), func(k, _ string) string { return k }, dsl.GroupedWith(serde.String(), serde.String()))
		counts := dsl.WindowedBy(g, w).Count(dsl.Materialized[string, int64]{Name: "counts", DisableCaching: true})
		captureTable(counts.Suppress(dsl.UntilWindowCloses(dsl.UnboundedBuffer())), c)
	}
}

func TestKSFidelitySuppress(t *testing.T) {
	n := func(k string, v int64, ts int64) ksOut { return ksOut{k, v, ts} }
	wn := func(k string, start, size, v, ts int64) ksOut { return ksOut{win(k, start, size), v, ts} }
	runScenarios(t, []ksScenario{
		{name: "shouldImmediatelyEmitEventsWithZeroEmitAfter", java: "SuppressScenarioTest#shouldImmediatelyEmitEventsWithZeroEmitAfter (suppressed output)",
			build: valueCounts(dsl.UntilTimeLimit(0, dsl.UnboundedBuffer())),
			steps: []ksStep{
				{[]ksIn{kv("input", "k1", "v1", 0), kv("input", "k1", "v2", 1), kv("input", "k2", "v1", 2)},
					[]ksOut{n("v1", 1, 0), n("v1", 0, 1), n("v2", 1, 1), n("v1", 1, 2)}},
				{[]ksIn{kv("input", "x", "x", 3)}, []ksOut{n("x", 1, 3)}},
				{[]ksIn{kv("input", "x", "y", 4)}, []ksOut{n("x", 0, 4), n("y", 1, 4)}},
			}},
		{name: "shouldSuppressIntermediateEventsWithTimeLimit", java: "SuppressScenarioTest#shouldSuppressIntermediateEventsWithTimeLimit (suppressed output)",
			build: valueCounts(dsl.UntilTimeLimit(ms(2), dsl.UnboundedBuffer())),
			steps: []ksStep{
				{[]ksIn{kv("input", "k1", "v1", 0), kv("input", "k1", "v2", 1), kv("input", "k2", "v1", 2)}, []ksOut{n("v1", 1, 2)}},
				{[]ksIn{kv("input", "tick", "tick", 3)}, []ksOut{n("v2", 1, 1)}},
				{[]ksIn{kv("input", "tick", "tock", 4)}, nil},
			}},
		{name: "shouldSupportFinalResultsForTimeWindows", java: "SuppressScenarioTest#shouldSupportFinalResultsForTimeWindows (suppressed output)",
			build: windowedCounts(dsl.TumblingWindows(ms(2), ms(1))),
			steps: []ksStep{{[]ksIn{
				kv("input", "k1", "v1", 0), kv("input", "k1", "v1", 1), kv("input", "k1", "v1", 2), kv("input", "k1", "v1", 1),
				kv("input", "k1", "v1", 0), kv("input", "k1", "v1", 5), kv("input", "k1", "v1", 0),
			}, []ksOut{wn("k1", 0, 2, 4, 1), wn("k1", 2, 2, 1, 2)}}}},
		{name: "shouldSupportFinalResultsForTimeWindowsWithLargeJump", java: "SuppressScenarioTest#shouldSupportFinalResultsForTimeWindowsWithLargeJump (suppressed output)",
			build: windowedCounts(dsl.TumblingWindows(ms(2), ms(2))),
			steps: []ksStep{{[]ksIn{
				kv("input", "k1", "v1", 0), kv("input", "k1", "v1", 1), kv("input", "k1", "v1", 2), kv("input", "k1", "v1", 0),
				kv("input", "k1", "v1", 3), kv("input", "k1", "v1", 0), kv("input", "k1", "v1", 4), kv("input", "k1", "v1", 0),
				kv("input", "k1", "v1", 30),
			}, []ksOut{wn("k1", 0, 2, 4, 1), wn("k1", 2, 2, 2, 3), wn("k1", 4, 2, 1, 4)}}}},
		{name: "shouldSupportFinalResultsForSessionWindows", java: "SuppressScenarioTest#shouldSupportFinalResultsForSessionWindows (suppressed output)",
			build: func(b *dsl.Builder, c *captured) {
				g := dsl.GroupBy(dsl.Stream(b, "input", stringStrings), func(k, _ string) string { return k }, dsl.GroupedWith(serde.String(), serde.String()))
				counts := dsl.WindowedBySession(g, dsl.SessionWindowsOf(ms(5), 0)).Count(dsl.Materialized[string, int64]{Name: "counts", DisableCaching: true})
				captureTable(counts.Suppress(dsl.UntilWindowCloses(dsl.UnboundedBuffer())), c)
			},
			steps: []ksStep{{[]ksIn{
				kv("input", "k1", "v1", 0), kv("input", "k1", "v1", 5), kv("input", "k1", "v1", 1), kv("input", "k2", "v1", 11),
				kv("input", "k1", "v1", 5), kv("input", "k1", "v1", 30),
			}, []ksOut{{serde.Windowed[string]{Key: "k1", Start: 0, End: 5}, int64(3), 5}, {serde.Windowed[string]{Key: "k2", Start: 11, End: 11}, int64(1), 11}}}}},
		{name: "shouldSupportFinalResultsForSessionWindows/raw", java: "SuppressScenarioTest#shouldSupportFinalResultsForSessionWindows (raw output)",
			build: func(b *dsl.Builder, c *captured) {
				g := dsl.GroupBy(dsl.Stream(b, "input", stringStrings), func(k, _ string) string { return k }, dsl.GroupedWith(serde.String(), serde.String()))
				captureTable(dsl.WindowedBySession(g, dsl.SessionWindowsOf(ms(5), 0)).Count(dsl.Materialized[string, int64]{Name: "counts", DisableCaching: true}), c)
			},
			steps: []ksStep{{[]ksIn{
				kv("input", "k1", "v1", 0), kv("input", "k1", "v1", 5), kv("input", "k1", "v1", 1), kv("input", "k2", "v1", 11),
				kv("input", "k1", "v1", 5), kv("input", "k1", "v1", 30),
			}, []ksOut{
				{serde.Windowed[string]{Key: "k1", Start: 0, End: 0}, int64(1), 0}, {serde.Windowed[string]{Key: "k1", Start: 0, End: 0}, nil, 0},
				{serde.Windowed[string]{Key: "k1", Start: 0, End: 5}, int64(2), 5}, {serde.Windowed[string]{Key: "k1", Start: 0, End: 5}, nil, 5},
				{serde.Windowed[string]{Key: "k1", Start: 0, End: 5}, int64(3), 5}, {serde.Windowed[string]{Key: "k2", Start: 11, End: 11}, int64(1), 11},
				{serde.Windowed[string]{Key: "k1", Start: 30, End: 30}, int64(1), 30},
			}}}},
		{name: "shouldSupportFinalResultsForTimeWindows/raw", java: "SuppressScenarioTest#shouldSupportFinalResultsForTimeWindows (raw output)",
			build: func(b *dsl.Builder, c *captured) {
				g := dsl.GroupBy(dsl.Stream(b, "input", stringStrings), func(k, _ string) string { return k }, dsl.GroupedWith(serde.String(), serde.String()))
				captureTable(dsl.WindowedBy(g, dsl.TumblingWindows(ms(2), ms(1))).Count(dsl.Materialized[string, int64]{Name: "counts", DisableCaching: true}), c)
			},
			steps: []ksStep{{[]ksIn{
				kv("input", "k1", "v1", 0), kv("input", "k1", "v1", 1), kv("input", "k1", "v1", 2), kv("input", "k1", "v1", 1),
				kv("input", "k1", "v1", 0), kv("input", "k1", "v1", 5), kv("input", "k1", "v1", 0),
			}, []ksOut{wn("k1", 0, 2, 1, 0), wn("k1", 0, 2, 2, 1), wn("k1", 2, 2, 1, 2), wn("k1", 0, 2, 3, 1), wn("k1", 0, 2, 4, 1), wn("k1", 4, 2, 1, 5)}}}},
	})
}
