package dsl_test

import (
	"testing"

	"github.com/sluicehq/sluice/dsl"
)

// ktJoin builds Java's table1.join/leftJoin/outerJoin(table2,
// TOSTRING_JOINER).toStream() over topic1 and topic2.
func ktJoin(kind string) func(b *dsl.Builder, c *captured) {
	return func(b *dsl.Builder, c *captured) {
		t1 := dsl.Table(b, topic1, intStrings)
		t2 := dsl.Table(b, topic2, intStrings)
		switch kind {
		case "inner":
			captureTable(dsl.JoinTables(t1, t2, toStringJoiner), c)
		case "left":
			captureTable(dsl.LeftJoinTables(t1, t2, toStringLeftJoiner), c)
		case "outer":
			captureTable(dsl.OuterJoinTables(t1, t2, toStringOuterJoiner), c)
		}
	}
}

// ktJoinSteps are the inputs of KTableKTable{Inner,Left,Outer}JoinTest's
// doTestJoin/testJoin, with each join's expected outputs. Deletes carry the
// deleting record's timestamp, so a join result derived from a delete has
// max(delete time, other side's time) — with the task's stream time (42
// and 73 here, raised by the null-key records) the last two steps fail.
func ktJoinSteps(kind string) []ksStep {
	pick := func(inner, left, outer []ksOut) []ksOut {
		switch kind {
		case "inner":
			return inner
		case "left":
			return left
		}
		return outer
	}
	leftOuter := func(l []ksOut) []ksOut { return pick(nil, l, l) }
	return []ksStep{
		{seq(eachInc(topic1, k01, "X", 5), in(topic1, nil, "SomeVal", 42)),
			leftOuter([]ksOut{{0, "X0+null", 5}, {1, "X1+null", 6}})},
		{seq(in(topic2, 0, "Y0", 0), in(topic2, 1, "Y1", 10), in(topic2, nil, "AnotherVal", 73)),
			[]ksOut{{0, "X0+Y0", 5}, {1, "X1+Y1", 10}}},
		{each(topic1, allKeys, "XX", 7), want([]ksOut{{0, "XX0+Y0", 7}, {1, "XX1+Y1", 10}},
			leftOuter([]ksOut{{2, "XX2+null", 7}, {3, "XX3+null", 7}}))},
		{seq(in(topic2, 0, "YY0", 0), in(topic2, 1, "YY1", 5), in(topic2, 2, "YY2", 10), in(topic2, 3, "YY3", 15)),
			[]ksOut{{0, "XX0+YY0", 7}, {1, "XX1+YY1", 7}, {2, "XX2+YY2", 10}, {3, "XX3+YY3", 15}}},
		{each(topic1, allKeys, "XXX", 6), []ksOut{{0, "XXX0+YY0", 6}, {1, "XXX1+YY1", 6}, {2, "XXX2+YY2", 10}, {3, "XXX3+YY3", 15}}},
		{seq(in(topic2, 0, nil, 5), in(topic2, 1, nil, 7)),
			pick([]ksOut{{0, nil, 6}, {1, nil, 7}}, []ksOut{{0, "XXX0+null", 6}, {1, "XXX1+null", 7}}, []ksOut{{0, "XXX0+null", 6}, {1, "XXX1+null", 7}})},
		{each(topic1, allKeys, "XXXX", 13), want(leftOuter([]ksOut{{0, "XXXX0+null", 13}, {1, "XXXX1+null", 13}}),
			[]ksOut{{2, "XXXX2+YY2", 13}, {3, "XXXX3+YY3", 15}})},
		{seq(in(topic1, 0, nil, 0), in(topic1, 1, nil, 42), in(topic1, 2, nil, 5), in(topic1, 3, nil, 20)),
			pick([]ksOut{{2, nil, 10}, {3, nil, 20}},
				[]ksOut{{0, nil, 0}, {1, nil, 42}, {2, nil, 10}, {3, nil, 20}},
				[]ksOut{{0, nil, 0}, {1, nil, 42}, {2, "null+YY2", 10}, {3, "null+YY3", 20}})},
	}
}

func TestKSFidelityTableTableJoin(t *testing.T) {
	runScenarios(t, []ksScenario{
		{name: "inner/testJoin", java: "KTableKTableInnerJoinTest#testJoin", build: ktJoin("inner"), steps: ktJoinSteps("inner")},
		{name: "left/testJoin", java: "KTableKTableLeftJoinTest#testJoin", build: ktJoin("left"), steps: ktJoinSteps("left")},
		{name: "outer/testJoin", java: "KTableKTableOuterJoinTest#testJoin", build: ktJoin("outer"), steps: ktJoinSteps("outer")},
	})
}

const (
	streamTopic = "streamTopic"
	tableTopic  = "tableTopic"
)

// ksktJoin builds KStreamKTable{,Left}JoinTest's stream.join/leftJoin(table,
// TOSTRING_JOINER).
func ksktJoin(left bool) func(b *dsl.Builder, c *captured) {
	return func(b *dsl.Builder, c *captured) {
		s := dsl.Stream(b, streamTopic, intStrings)
		t := dsl.Table(b, tableTopic, intStrings)
		if left {
			capture(dsl.LeftJoinTable(s, t, toStringLeftJoiner), c)
		} else {
			capture(dsl.JoinTable(s, t, toStringJoiner), c)
		}
	}
}

// pushToStream is the Java tests' pushToStream: keys[i] at time i.
func pushToStream(n int, prefix string) []ksIn { return eachInc(streamTopic, allKeys[:n], prefix, 0) }

// pushToTable is the Java tests' pushToTable, whose timestamps are random
// (r.nextInt(Integer.MAX_VALUE)); no output depends on them, so fixed
// arbitrary ones stand in.
func pushToTable(n int, prefix string) []ksIn {
	return eachInc(tableTopic, allKeys[:n], prefix, 1_000_000)
}

// pushNullValueToTable deletes keys 0 and 1 at time 0.
func pushNullValueToTable() []ksIn {
	return seq(in(tableTopic, 0, nil, 0), in(tableTopic, 1, nil, 0))
}

func TestKSFidelityStreamTableJoin(t *testing.T) {
	x01 := []ksOut{{0, "X0+null", 0}, {1, "X1+null", 1}}
	runScenarios(t, []ksScenario{
		{name: "inner/shouldNotJoinWithEmptyTableOnStreamUpdates", java: "KStreamKTableJoinTest#shouldNotJoinWithEmptyTableOnStreamUpdates",
			build: ksktJoin(false), steps: []ksStep{{pushToStream(2, "X"), nil}}},
		{name: "inner/shouldNotJoinOnTableUpdates", java: "KStreamKTableJoinTest#shouldNotJoinOnTableUpdates",
			build: ksktJoin(false), steps: []ksStep{
				{pushToStream(2, "X"), nil},
				{pushToTable(2, "Y"), nil},
				{pushToStream(4, "X"), wk(k01, "X#+Y#", 0, true)},
				{pushToTable(4, "YY"), nil},
				{pushToStream(4, "X"), wk(allKeys, "X#+YY#", 0, true)},
				{pushToTable(4, "YYY"), nil},
			}},
		{name: "inner/shouldJoinOnlyIfMatchFoundOnStreamUpdates", java: "KStreamKTableJoinTest#shouldJoinOnlyIfMatchFoundOnStreamUpdates",
			build: ksktJoin(false), steps: []ksStep{
				{pushToTable(2, "Y"), nil},
				{pushToStream(4, "X"), wk(k01, "X#+Y#", 0, true)},
			}},
		{name: "inner/shouldClearTableEntryOnNullValueUpdates", java: "KStreamKTableJoinTest#shouldClearTableEntryOnNullValueUpdates",
			build: ksktJoin(false), steps: []ksStep{
				{pushToTable(4, "Y"), nil},
				{pushToStream(4, "X"), wk(allKeys, "X#+Y#", 0, true)},
				{pushNullValueToTable(), nil},
				{pushToStream(4, "XX"), wk(allKeys[2:], "XX#+Y#", 0, true)},
			}},
		{name: "left/shouldJoinWithEmptyTableOnStreamUpdates", java: "KStreamKTableLeftJoinTest#shouldJoinWithEmptyTableOnStreamUpdates",
			build: ksktJoin(true), steps: []ksStep{{pushToStream(2, "X"), x01}}},
		{name: "left/shouldNotJoinOnTableUpdates", java: "KStreamKTableLeftJoinTest#shouldNotJoinOnTableUpdates",
			build: ksktJoin(true), steps: []ksStep{
				{pushToStream(2, "X"), x01},
				{pushToTable(2, "Y"), nil},
				{pushToStream(4, "X"), []ksOut{{0, "X0+Y0", 0}, {1, "X1+Y1", 1}, {2, "X2+null", 2}, {3, "X3+null", 3}}},
				{pushToTable(4, "YY"), nil},
				{pushToStream(4, "X"), wk(allKeys, "X#+YY#", 0, true)},
				{pushToTable(4, "YYY"), nil},
			}},
		{name: "left/shouldJoinRegardlessIfMatchFoundOnStreamUpdates", java: "KStreamKTableLeftJoinTest#shouldJoinRegardlessIfMatchFoundOnStreamUpdates",
			build: ksktJoin(true), steps: []ksStep{
				{pushToTable(2, "Y"), nil},
				{pushToStream(4, "X"), []ksOut{{0, "X0+Y0", 0}, {1, "X1+Y1", 1}, {2, "X2+null", 2}, {3, "X3+null", 3}}},
			}},
		{name: "left/shouldClearTableEntryOnNullValueUpdates", java: "KStreamKTableLeftJoinTest#shouldClearTableEntryOnNullValueUpdates",
			build: ksktJoin(true), steps: []ksStep{
				{pushToTable(4, "Y"), nil},
				{pushToStream(4, "X"), wk(allKeys, "X#+Y#", 0, true)},
				{pushNullValueToTable(), nil},
				{pushToStream(4, "XX"), []ksOut{{0, "XX0+null", 0}, {1, "XX1+null", 1}, {2, "XX2+Y2", 2}, {3, "XX3+Y3", 3}}},
			}},
	})
}
