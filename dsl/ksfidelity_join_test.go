package dsl_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

const (
	topic1 = "topic1"
	topic2 = "topic2"
)

var k01 = allKeys[:2]

// kkJoin builds Java's stream1.join/leftJoin/outerJoin(stream2,
// TOSTRING_JOINER, windows, StreamJoined.with(Integer, String, String))
// over topic1 and topic2, captured.
func kkJoin(kind string, w dsl.JoinWindows) func(b *dsl.Builder, c *captured) {
	return func(b *dsl.Builder, c *captured) {
		s1 := dsl.Stream(b, topic1, intStrings)
		s2 := dsl.Stream(b, topic2, intStrings)
		joined := dsl.StreamJoinedWith(serde.Int32(), serde.String(), serde.String())
		switch kind {
		case "inner":
			capture(dsl.Join(s1, s2, toStringJoiner, w, joined), c)
		case "left":
			capture(dsl.LeftJoin(s1, s2, toStringLeftJoiner, w, joined), c)
		case "outer":
			capture(dsl.OuterJoin(s1, s2, toStringOuterJoiner, w, joined), c)
		}
	}
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// kkJoinSteps are the inputs and outputs shared by
// KStreamKStreamJoinTest#testJoin and #testOuterJoin (all at time 0; the
// outer join's 24 h grace never closes a window).
var kkJoinSteps = []ksStep{
	{each(topic1, k01, "A", 0), nil},
	{each(topic2, k01, "a", 0), wk(k01, "A#+a#", 0, false)},
	{each(topic1, allKeys, "B", 0), wk(k01, "B#+a#", 0, false)},
	{each(topic2, allKeys, "b", 0), []ksOut{
		{0, "A0+b0", 0}, {0, "B0+b0", 0}, {1, "A1+b1", 0}, {1, "B1+b1", 0}, {2, "B2+b2", 0}, {3, "B3+b3", 0}}},
	{each(topic1, allKeys, "C", 0), []ksOut{
		{0, "C0+a0", 0}, {0, "C0+b0", 0}, {1, "C1+a1", 0}, {1, "C1+b1", 0}, {2, "C2+b2", 0}, {3, "C3+b3", 0}}},
	{each(topic2, k01, "c", 0), []ksOut{
		{0, "A0+c0", 0}, {0, "B0+c0", 0}, {0, "C0+c0", 0}, {1, "A1+c1", 0}, {1, "B1+c1", 0}, {1, "C1+c1", 0}}},
}

func TestKSFidelityStreamStreamJoin(t *testing.T) {
	noGrace100 := dsl.JoinWindowsOf(ms(100), 0)
	runScenarios(t, []ksScenario{
		{name: "testJoin", java: "KStreamKStreamJoinTest#testJoin",
			build: kkJoin("inner", noGrace100), steps: kkJoinSteps},
		{name: "testOuterJoin", java: "KStreamKStreamJoinTest#testOuterJoin",
			build: kkJoin("outer", dsl.JoinWindowsOf(ms(100), 24*time.Hour)), steps: kkJoinSteps},
		{name: "testWindowing", java: "KStreamKStreamJoinTest#testWindowing",
			// Out-of-order records (g..k, H..L) whose window is still
			// retained (size + grace = 200 ms) still join.
			build: kkJoin("inner", noGrace100), steps: []ksStep{
				{each(topic1, k01, "A", 0), nil},
				{each(topic2, k01, "a", 0), wk(k01, "A#+a#", 0, false)},
				{eachInc(topic1, allKeys, "B", 1000), nil},
				{each(topic2, allKeys, "b", 1100), wk(allKeys, "B#+b#", 1100, false)},
				{each(topic2, allKeys, "c", 1101), wk(allKeys[1:], "B#+c#", 1101, false)},
				{each(topic2, allKeys, "d", 1102), wk(allKeys[2:], "B#+d#", 1102, false)},
				{each(topic2, allKeys, "e", 1103), wk(allKeys[3:], "B#+e#", 1103, false)},
				{each(topic2, allKeys, "f", 1104), nil},
				{each(topic2, allKeys, "g", 899), nil},
				{each(topic2, allKeys, "h", 900), wk(allKeys[:1], "B#+h#", 1000, true)},
				{each(topic2, allKeys, "i", 901), wk(allKeys[:2], "B#+i#", 1000, true)},
				{each(topic2, allKeys, "j", 902), wk(allKeys[:3], "B#+j#", 1000, true)},
				{each(topic2, allKeys, "k", 903), wk(allKeys, "B#+k#", 1000, true)},
				{eachInc(topic2, allKeys, "l", 2000), nil},
				{each(topic1, allKeys, "C", 2100), wk(allKeys, "C#+l#", 2100, false)},
				{each(topic1, allKeys, "D", 2101), wk(allKeys[1:], "D#+l#", 2101, false)},
				{each(topic1, allKeys, "E", 2102), wk(allKeys[2:], "E#+l#", 2102, false)},
				{each(topic1, allKeys, "F", 2103), wk(allKeys[3:], "F#+l#", 2103, false)},
				{each(topic1, allKeys, "G", 2104), nil},
				{each(topic1, allKeys, "H", 1899), nil},
				{each(topic1, allKeys, "I", 1900), wk(allKeys[:1], "I#+l#", 2000, true)},
				{each(topic1, allKeys, "J", 1901), wk(allKeys[:2], "J#+l#", 2000, true)},
				{each(topic1, allKeys, "K", 1902), wk(allKeys[:3], "K#+l#", 2000, true)},
				{each(topic1, allKeys, "L", 1903), wk(allKeys, "L#+l#", 2000, true)},
			}},
		{name: "testAsymmetricWindowingAfter", java: "KStreamKStreamJoinTest#testAsymmetricWindowingAfter",
			build: kkJoin("inner", dsl.JoinWindowsOf(0, 0).After(ms(100))), steps: []ksStep{
				{eachInc(topic1, allKeys, "A", 1000), nil},
				{each(topic2, allKeys, "a", 999), nil},
				{each(topic2, allKeys, "b", 1000), wk(allKeys[:1], "A#+b#", 1000, false)},
				{each(topic2, allKeys, "c", 1001), wk(allKeys[:2], "A#+c#", 1001, false)},
				{each(topic2, allKeys, "d", 1002), wk(allKeys[:3], "A#+d#", 1002, false)},
				{each(topic2, allKeys, "e", 1003), wk(allKeys, "A#+e#", 1003, false)},
				{each(topic2, allKeys, "f", 1100), wk(allKeys, "A#+f#", 1100, false)},
				{each(topic2, allKeys, "g", 1101), wk(allKeys[1:], "A#+g#", 1101, false)},
				{each(topic2, allKeys, "h", 1102), wk(allKeys[2:], "A#+h#", 1102, false)},
				{each(topic2, allKeys, "i", 1103), wk(allKeys[3:], "A#+i#", 1103, false)},
				{each(topic2, allKeys, "j", 1104), nil},
			}},
		{name: "testAsymmetricWindowingBefore", java: "KStreamKStreamJoinTest#testAsymmetricWindowingBefore",
			build: kkJoin("inner", dsl.JoinWindowsOf(0, 0).Before(ms(100))), steps: []ksStep{
				{eachInc(topic1, allKeys, "A", 1000), nil},
				{each(topic2, allKeys, "a", 899), nil},
				{each(topic2, allKeys, "b", 900), wk(allKeys[:1], "A#+b#", 1000, true)},
				{each(topic2, allKeys, "c", 901), wk(allKeys[:2], "A#+c#", 1000, true)},
				{each(topic2, allKeys, "d", 902), wk(allKeys[:3], "A#+d#", 1000, true)},
				{each(topic2, allKeys, "e", 903), wk(allKeys, "A#+e#", 1000, true)},
				{each(topic2, allKeys, "f", 1000), wk(allKeys, "A#+f#", 1000, true)},
				{each(topic2, allKeys, "g", 1001), wk(allKeys[1:], "A#+g#", 1000, true)},
				{each(topic2, allKeys, "h", 1002), wk(allKeys[2:], "A#+h#", 1000, true)},
				{each(topic2, allKeys, "i", 1003), wk(allKeys[3:], "A#+i#", 1000, true)},
				{each(topic2, allKeys, "j", 1004), nil},
			}},
	})
}
