package dsl_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
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

// kkLeftUpperLower are KStreamKStreamLeftJoinTest#testWindowing's
// testUpperWindowBound and testLowerWindowBound (after A0, A1 and a0..a3
// at 0).
var kkLeftUpperLower = []ksStep{
	{eachInc(topic2, allKeys, "b", 1000), nil},
	{each(topic1, allKeys, "B", 1100), wk(allKeys, "B#+b#", 1100, false)},
	{each(topic1, allKeys, "C", 1101), wk(allKeys[1:], "C#+b#", 1101, false)},
	{each(topic1, allKeys, "D", 1102), wk(allKeys[2:], "D#+b#", 1102, false)},
	{each(topic1, allKeys, "E", 1103), wk(allKeys[3:], "E#+b#", 1103, false)},
	{each(topic1, allKeys, "F", 1104), nil},
	{in(topic1, 0, "dummy", 1405), []ksOut{
		{0, "C0+null", 1101}, {0, "D0+null", 1102}, {1, "D1+null", 1102}, {0, "E0+null", 1103}, {1, "E1+null", 1103},
		{2, "E2+null", 1103}, {0, "F0+null", 1104}, {1, "F1+null", 1104}, {2, "F2+null", 1104}, {3, "F3+null", 1104}}},
	// Lower bound: out-of-order left records whose window has ended join
	// what is retained, or yield their unmatched result at once.
	{each(topic1, allKeys, "G", 899), wk(allKeys, "G#+null", 899, false)},
	{each(topic1, allKeys, "H", 900), []ksOut{{0, "H0+b0", 1000}, {1, "H1+null", 900}, {2, "H2+null", 900}, {3, "H3+null", 900}}},
	{each(topic1, allKeys, "I", 901), []ksOut{{0, "I0+b0", 1000}, {1, "I1+b1", 1001}, {2, "I2+null", 901}, {3, "I3+null", 901}}},
	{each(topic1, allKeys, "J", 902), []ksOut{{0, "J0+b0", 1000}, {1, "J1+b1", 1001}, {2, "J2+b2", 1002}, {3, "J3+null", 902}}},
	{each(topic1, allKeys, "K", 903), wk(allKeys, "K#+b#", 1000, true)},
	{in(topic1, 0, "dummy", 1203), []ksOut{{0, "dummy+null", 1203}}},
}

func TestKSFidelityStreamStreamLeftJoin(t *testing.T) {
	grace10, grace0, noGrace := dsl.JoinWindowsOf(ms(100), ms(10)), dsl.JoinWindowsOf(ms(100), 0), dsl.JoinWindowsOf(ms(100), 0)
	runScenarios(t, []ksScenario{
		{name: "testLeftJoinDuplicates", java: "KStreamKStreamLeftJoinTest#testLeftJoinDuplicates",
			build: kkJoin("left", grace10), steps: []ksStep{
				{seq(in(topic1, 0, "A0", 0), in(topic1, 0, "A0-0", 0), in(topic2, 1, "a0", 111), in(topic2, 2, "dummy", 500)),
					[]ksOut{{0, "A0+null", 0}, {0, "A0-0+null", 0}}},
				{seq(in(topic1, 2, "A2", 1000), in(topic1, 2, "A2-0", 1000), in(topic2, 2, "a2", 1001)),
					[]ksOut{{2, "A2+a2", 1001}, {2, "A2-0+a2", 1001}}},
				{in(topic2, 3, "a3", 315), nil},
			}},
		{name: "testLeftExpiredNonJoinedRecordsAreEmittedByTheLeftProcessor", java: "KStreamKStreamLeftJoinTest#testLeftExpiredNonJoinedRecordsAreEmittedByTheLeftProcessor",
			build: kkJoin("left", grace0), steps: []ksStep{
				{seq(in(topic1, 0, "A0", 1), in(topic1, 1, "A1", 2), in(topic1, 0, "A0-0", 3)), nil},
				{in(topic2, 1, "a1", 3), []ksOut{{1, "A1+a1", 3}}},
				{in(topic1, 2, "dummy", 401), []ksOut{{0, "A0+null", 1}, {0, "A0-0+null", 3}}},
				{in(topic2, 2, "dummy", 401), []ksOut{{2, "dummy+dummy", 401}}},
			}},
		{name: "testLeftExpiredNonJoinedRecordsAreEmittedByTheRightProcessor", java: "KStreamKStreamLeftJoinTest#testLeftExpiredNonJoinedRecordsAreEmittedByTheRightProcessor",
			build: kkJoin("left", grace0), steps: []ksStep{
				{seq(in(topic1, 0, "A0", 1), in(topic1, 1, "A1", 2), in(topic1, 0, "A0-0", 3)), nil},
				{in(topic2, 1, "a1", 3), []ksOut{{1, "A1+a1", 3}}},
				{in(topic2, 2, "dummy", 401), []ksOut{{0, "A0+null", 1}, {0, "A0-0+null", 3}}},
				{in(topic1, 2, "dummy", 402), []ksOut{{2, "dummy+dummy", 402}}},
			}},
		{name: "testRightNonJoinedRecordsAreNeverEmittedByTheLeftProcessor", java: "KStreamKStreamLeftJoinTest#testRightNonJoinedRecordsAreNeverEmittedByTheLeftProcessor",
			build: kkJoin("left", grace0), steps: []ksStep{
				{seq(in(topic2, 0, "A0", 1), in(topic2, 1, "A1", 2), in(topic2, 0, "A0-0", 3)), nil},
				{in(topic1, 1, "a1", 3), []ksOut{{1, "a1+A1", 3}}},
				{in(topic1, 2, "dummy", 401), nil},
				{in(topic2, 2, "dummy", 402), []ksOut{{2, "dummy+dummy", 402}}},
			}},
		{name: "testRightNonJoinedRecordsAreNeverEmittedByTheRightProcessor", java: "KStreamKStreamLeftJoinTest#testRightNonJoinedRecordsAreNeverEmittedByTheRightProcessor",
			build: kkJoin("left", noGrace), steps: []ksStep{
				{seq(in(topic2, 0, "A0", 1), in(topic2, 1, "A1", 2), in(topic2, 0, "A0-0", 3)), nil},
				{in(topic1, 1, "a1", 3), []ksOut{{1, "a1+A1", 3}}},
				{in(topic2, 2, "dummy", 401), nil},
				{in(topic1, 2, "dummy", 402), []ksOut{{2, "dummy+dummy", 402}}},
			}},
		{name: "testLeftJoinedRecordsWithZeroAfterAreEmitted", java: "KStreamKStreamLeftJoinTest#testLeftJoinedRecordsWithZeroAfterAreEmitted",
			build: kkJoin("left", dsl.JoinWindowsOf(ms(100), 0).After(0)), steps: []ksStep{
				{eachInc(topic1, allKeys, "A", 1000), wk(allKeys[:3], "A#+null", 1000, true)},
				{each(topic2, allKeys, "a", 999), wk(allKeys, "A#+a#", 1000, true)},
				{each(topic2, allKeys, "b", 1000), wk(allKeys, "A#+b#", 1000, true)},
				{each(topic2, allKeys, "c", 1001), wk(allKeys[1:], "A#+c#", 1000, true)},
				{each(topic2, allKeys, "d", 1002), wk(allKeys[2:], "A#+d#", 1000, true)},
				{each(topic2, allKeys, "e", 1003), wk(allKeys[3:], "A#+e#", 1000, true)},
				{each(topic2, allKeys, "f", 1100), nil},
			}},
		{name: "testLeftJoinWithDefaultSuppliers", java: "KStreamKStreamLeftJoinTest#testLeftJoinWithDefaultSuppliers (runLeftJoin)",
			build: kkJoin("left", noGrace), steps: []ksStep{
				{each(topic1, k01, "A", 0), nil},
				{each(topic2, k01, "a", 0), wk(k01, "A#+a#", 0, false)},
				{each(topic1, allKeys[:3], "B", 0), wk(k01, "B#+a#", 0, false)},
				{each(topic2, allKeys, "b", 0), []ksOut{{0, "A0+b0", 0}, {0, "B0+b0", 0}, {1, "A1+b1", 0}, {1, "B1+b1", 0}, {2, "B2+b2", 0}}},
				{each(topic1, allKeys, "C", 0), []ksOut{
					{0, "C0+a0", 0}, {0, "C0+b0", 0}, {1, "C1+a1", 0}, {1, "C1+b1", 0}, {2, "C2+b2", 0}, {3, "C3+b3", 0}}},
				{in(topic1, 0, "dummy", 1000), nil},
			}},
		{name: "testOrdering", java: "KStreamKStreamLeftJoinTest#testOrdering",
			build: kkJoin("left", noGrace), steps: []ksStep{
				{seq(in(topic1, 0, "A0", 0), in(topic1, 1, "A1", 100)), nil},
				{in(topic2, 1, "a1", 110), []ksOut{{0, "A0+null", 0}, {1, "A1+a1", 110}}},
			}},
		{name: "testGracePeriod", java: "KStreamKStreamLeftJoinTest#testGracePeriod",
			build: kkJoin("left", grace10), steps: []ksStep{
				{each(topic1, k01, "A", 0), nil},
				{each(topic2, allKeys, "a", 101), nil},
				{in(topic2, 0, "dummy", 1201), []ksOut{{0, "A0+null", 0}, {1, "A1+null", 0}}},
			}},
		{name: "testWindowing", java: "KStreamKStreamLeftJoinTest#testWindowing (testUpperWindowBound, testLowerWindowBound)",
			build: kkJoin("left", noGrace), steps: append([]ksStep{
				{each(topic1, k01, "A", 0), nil},
				{each(topic2, allKeys, "a", 0), wk(k01, "A#+a#", 0, false)},
			}, kkLeftUpperLower...)},
		{name: "shouldNotEmitLeftJoinResultForAsymmetricWindow", java: "KStreamKStreamLeftJoinTest#shouldNotEmitLeftJoinResultForAsymmetricWindow",
			build: kkJoin("left", dsl.JoinWindowsOf(ms(100), 0).Before(0)), steps: []ksStep{
				{eachInc(topic1, k01, "A", 0), nil},
				{in(topic2, 0, "a0", 100), []ksOut{{0, "A0+a0", 100}}},
				{in(topic2, 1, "a1", 102), []ksOut{{1, "A1+null", 1}}},
			}},
	})
}

// kkOuterLong builds KStreamKStreamOuterJoinTest's join: topic2 carries
// Long values (StreamJoined.with(Integer, String, Long)).
func kkOuterLong(w dsl.JoinWindows) func(b *dsl.Builder, c *captured) {
	return func(b *dsl.Builder, c *captured) {
		s1 := dsl.Stream(b, topic1, intStrings)
		s2 := dsl.Stream(b, topic2, dsl.ConsumedWith(serde.Int32(), serde.Int64()))
		capture(dsl.OuterJoin(s1, s2, func(l string, hasL bool, r int64, hasR bool) string {
			return toStringOuterJoiner(l, hasL, fmt.Sprint(r), hasR)
		}, w, dsl.StreamJoinedWith(serde.Int32(), serde.String(), serde.Int64())), c)
	}
}

// eachLong pipes key+add as a Long for every key at ts ("pipeInput(key,
// (long) key + add, time)").
func eachLong(keys []int, add, ts int64) []ksIn {
	out := make([]ksIn, len(keys))
	for i, k := range keys {
		out[i] = ksIn{topic2, k, int64(k) + add, ts}
	}
	return out
}

func TestKSFidelityStreamStreamOuterJoin(t *testing.T) {
	grace10, grace0, noGrace := dsl.JoinWindowsOf(ms(100), ms(10)), dsl.JoinWindowsOf(ms(100), 0), dsl.JoinWindowsOf(ms(100), 0)
	l, r := func(k int, v string, ts int64) []ksIn { return in(topic1, k, v, ts) }, func(k int, v, ts int64) []ksIn { return in(topic2, k, v, ts) }
	upperLower := []ksStep{
		{seq(eachLong(allKeys[:1], 20, 1000), eachLong(allKeys[1:2], 20, 1001), eachLong(allKeys[2:3], 20, 1002), eachLong(allKeys[3:], 20, 1003)),
			[]ksOut{{2, "null+12", 0}, {3, "null+13", 0}}},
		{each(topic1, allKeys, "B", 1100), wk(allKeys, "B#+2#", 1100, false)},
		{each(topic1, allKeys, "C", 1101), wk(allKeys[1:], "C#+2#", 1101, false)},
		{each(topic1, allKeys, "D", 1102), wk(allKeys[2:], "D#+2#", 1102, false)},
		{each(topic1, allKeys, "E", 1103), wk(allKeys[3:], "E#+2#", 1103, false)},
		{each(topic1, allKeys, "F", 1104), nil},
		{l(0, "dummy", 1405), []ksOut{
			{0, "C0+null", 1101}, {0, "D0+null", 1102}, {1, "D1+null", 1102}, {0, "E0+null", 1103}, {1, "E1+null", 1103},
			{2, "E2+null", 1103}, {0, "F0+null", 1104}, {1, "F1+null", 1104}, {2, "F2+null", 1104}, {3, "F3+null", 1104}}},
		{each(topic1, allKeys, "G", 899), wk(allKeys, "G#+null", 899, false)},
		{each(topic1, allKeys, "H", 900), []ksOut{{0, "H0+20", 1000}, {1, "H1+null", 900}, {2, "H2+null", 900}, {3, "H3+null", 900}}},
		{each(topic1, allKeys, "I", 901), []ksOut{{0, "I0+20", 1000}, {1, "I1+21", 1001}, {2, "I2+null", 901}, {3, "I3+null", 901}}},
		{each(topic1, allKeys, "J", 902), []ksOut{{0, "J0+20", 1000}, {1, "J1+21", 1001}, {2, "J2+22", 1002}, {3, "J3+null", 902}}},
		{each(topic1, allKeys, "K", 903), wk(allKeys, "K#+2#", 1000, true)},
		{l(0, "dummy", 1103), []ksOut{{0, "dummy+null", 1103}}},
	}
	runScenarios(t, []ksScenario{
		{name: "testOuterJoinDuplicates", java: "KStreamKStreamOuterJoinTest#testOuterJoinDuplicates",
			build: kkOuterLong(grace10), steps: []ksStep{
				{seq(l(0, "A0", 0), l(0, "A0-0", 0), r(1, 11, 0), r(1, 12, 0), r(1, 10, 111), r(3, 100, 211)),
					[]ksOut{{1, "null+11", 0}, {1, "null+12", 0}, {0, "A0+null", 0}, {0, "A0-0+null", 0}}},
				{seq(l(2, "A2", 200), l(2, "A2-0", 200), r(2, 13, 201), r(2, 14, 201)),
					[]ksOut{{2, "A2+13", 201}, {2, "A2-0+13", 201}, {2, "A2+14", 201}, {2, "A2-0+14", 201}}},
				{r(3, 100, 1500), []ksOut{{1, "null+10", 111}, {3, "null+100", 211}}},
			}},
		{name: "testLeftExpiredNonJoinedRecordsAreEmittedByTheLeftProcessor", java: "KStreamKStreamOuterJoinTest#testLeftExpiredNonJoinedRecordsAreEmittedByTheLeftProcessor",
			build: kkOuterLong(noGrace), steps: []ksStep{
				{seq(l(0, "A0", 1), l(1, "A1", 2), l(0, "A0-0", 3)), nil},
				{r(1, 11, 3), []ksOut{{1, "A1+11", 3}}},
				{l(2, "dummy", 401), []ksOut{{0, "A0+null", 1}, {0, "A0-0+null", 3}}},
				{r(2, 100, 401), []ksOut{{2, "dummy+100", 401}}},
			}},
		{name: "testLeftExpiredNonJoinedRecordsAreEmittedByTheRightProcessor", java: "KStreamKStreamOuterJoinTest#testLeftExpiredNonJoinedRecordsAreEmittedByTheRightProcessor",
			build: kkOuterLong(grace0), steps: []ksStep{
				{seq(l(0, "A0", 1), l(1, "A1", 2), l(0, "A0-0", 3)), nil},
				{r(1, 11, 3), []ksOut{{1, "A1+11", 3}}},
				{r(2, 100, 401), []ksOut{{0, "A0+null", 1}, {0, "A0-0+null", 3}}},
				{l(2, "dummy", 402), []ksOut{{2, "dummy+100", 402}}},
			}},
		{name: "testRightExpiredNonJoinedRecordsAreEmittedByTheLeftProcessor", java: "KStreamKStreamOuterJoinTest#testRightExpiredNonJoinedRecordsAreEmittedByTheLeftProcessor",
			build: kkOuterLong(noGrace), steps: []ksStep{
				{seq(r(0, 10, 1), r(1, 11, 2), r(0, 12, 3)), nil},
				{l(1, "A1", 3), []ksOut{{1, "A1+11", 3}}},
				{l(2, "dummy", 401), []ksOut{{0, "null+10", 1}, {0, "null+12", 3}}},
				{r(2, 100, 402), []ksOut{{2, "dummy+100", 402}}},
			}},
		{name: "testRightExpiredNonJoinedRecordsAreEmittedByTheRightProcessor", java: "KStreamKStreamOuterJoinTest#testRightExpiredNonJoinedRecordsAreEmittedByTheRightProcessor",
			build: kkOuterLong(grace0), steps: []ksStep{
				{seq(r(0, 10, 1), r(1, 11, 2), r(0, 12, 3)), nil},
				{l(1, "A1", 3), []ksOut{{1, "A1+11", 3}}},
				{r(2, 100, 401), []ksOut{{0, "null+10", 1}, {0, "null+12", 3}}},
				{l(2, "dummy", 402), []ksOut{{2, "dummy+100", 402}}},
			}},
		{name: "testOrdering", java: "KStreamKStreamOuterJoinTest#testOrdering",
			build: kkOuterLong(noGrace), steps: []ksStep{
				{seq(l(0, "A0", 0), l(1, "A1", 100)), nil},
				{r(1, 11, 110), []ksOut{{0, "A0+null", 0}, {1, "A1+11", 110}}},
			}},
		{name: "testGracePeriod", java: "KStreamKStreamOuterJoinTest#testGracePeriod",
			build: kkOuterLong(grace10), steps: []ksStep{
				{seq(l(0, "A0", 0), r(1, 11, 0)), nil},
				{seq(l(1, "A1", 101), r(0, 10, 101)), nil},
				{r(0, 100, 112), []ksOut{{1, "null+11", 0}, {0, "A0+null", 0}}},
			}},
		{name: "testEmitAllNonJoinedResultsForAsymmetricWindow", java: "KStreamKStreamOuterJoinTest#testEmitAllNonJoinedResultsForAsymmetricWindow",
			build: kkOuterLong(dsl.JoinWindowsOf(ms(5), 0).After(ms(20))), steps: []ksStep{
				{l(0, "A0", 29), nil},
				{l(1, "A1", 30), nil},
				{r(2, 12, 31), nil},
				{r(3, 13, 36), nil},
				{r(4, 14, 37), []ksOut{{2, "null+12", 31}}},
				{r(5, 15, 50), []ksOut{{0, "A0+null", 29}, {3, "null+13", 36}, {4, "null+14", 37}}},
			}},
		{name: "testOuterJoinWithDefaultSuppliers", java: "KStreamKStreamOuterJoinTest#testOuterJoinWithDefaultSuppliers (runOuterJoin)",
			build: kkOuterLong(noGrace), steps: []ksStep{
				{each(topic1, k01, "A", 0), nil},
				{eachLong(k01, 10, 0), []ksOut{{0, "A0+10", 0}, {1, "A1+11", 0}}},
				{each(topic1, allKeys[:3], "B", 0), []ksOut{{0, "B0+10", 0}, {1, "B1+11", 0}}},
				{eachLong(allKeys, 20, 0), []ksOut{{0, "A0+20", 0}, {0, "B0+20", 0}, {1, "A1+21", 0}, {1, "B1+21", 0}, {2, "B2+22", 0}}},
				{each(topic1, allKeys, "C", 0), []ksOut{
					{0, "C0+10", 0}, {0, "C0+20", 0}, {1, "C1+11", 0}, {1, "C1+21", 0}, {2, "C2+22", 0}, {3, "C3+23", 0}}},
				{l(0, "dummy", 400), nil},
			}},
		{name: "testWindowing", java: "KStreamKStreamOuterJoinTest#testWindowing (testUpperWindowBound, testLowerWindowBound)",
			build: kkOuterLong(noGrace), steps: append([]ksStep{
				{each(topic1, k01, "A", 0), nil},
				{eachLong(allKeys, 10, 0), []ksOut{{0, "A0+10", 0}, {1, "A1+11", 0}}},
			}, upperLower...)},
		{name: "testShouldNotEmitLeftJoinResultForAsymmetricBeforeWindow", java: "KStreamKStreamOuterJoinTest#testShouldNotEmitLeftJoinResultForAsymmetricBeforeWindow",
			build: kkOuterLong(dsl.JoinWindowsOf(ms(100), 0).Before(0)), steps: []ksStep{
				{eachInc(topic1, k01, "A", 0), nil},
				{r(0, 10, 100), []ksOut{{0, "A0+10", 100}}},
				{r(1, 11, 102), []ksOut{{1, "A1+null", 1}}},
				{r(2, 12, 103), []ksOut{{1, "null+11", 102}}},
				{l(2, "A2", 103), []ksOut{{2, "A2+12", 103}}},
			}},
		{name: "testShouldNotEmitLeftJoinResultForAsymmetricAfterWindow", java: "KStreamKStreamOuterJoinTest#testShouldNotEmitLeftJoinResultForAsymmetricAfterWindow",
			build: kkOuterLong(dsl.JoinWindowsOf(ms(100), 0).After(0)), steps: []ksStep{
				{eachInc(topic1, k01, "A", 0), []ksOut{{0, "A0+null", 0}}},
				{r(1, 11, 1), []ksOut{{1, "A1+11", 1}}},
				{r(2, 12, 101), nil},
				{r(3, 13, 101), nil},
				{l(2, "A2", 201), []ksOut{{2, "A2+12", 201}}},
			}},
	})
}

// TestKSFidelityStreamStreamOuterJoinHeaders ports
// KStreamKStreamOuterJoinTest#testShouldForwardCurrentHeaders: results,
// the unmatched ones emitted when a window closes included, carry the
// headers of the record being processed.
func TestKSFidelityStreamStreamOuterJoinHeaders(t *testing.T) {
	b := dsl.NewBuilder()
	s1 := dsl.Stream(b, topic1, intStrings)
	s2 := dsl.Stream(b, topic2, dsl.ConsumedWith(serde.Int32(), serde.Int64()))
	type out struct {
		ksOut
		h byte
	}
	var got []out
	joined := dsl.OuterJoin(s1, s2, func(l string, hasL bool, r int64, hasR bool) string {
		return toStringOuterJoiner(l, hasL, fmt.Sprint(r), hasR)
	}, dsl.JoinWindowsOf(ms(100), ms(10)), dsl.StreamJoinedWith(serde.Int32(), serde.String(), serde.Int64()))
	dsl.Process(joined, core.ProcessorFunc[int32, string, int32, string](func(_ core.ProcessorContext[int32, string], r core.Record[int32, string]) error {
		o := out{ksOut: ksOut{int(r.Key), r.Value, r.Timestamp.UnixMilli()}}
		if len(r.Headers) == 1 && r.Headers[0].Key == "h" && len(r.Headers[0].Value) == 1 {
			o.h = r.Headers[0].Value[0]
		}
		got = append(got, o)
		return nil
	}).Supplier())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := core.NewTestDriver(topo)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pipe := func(topic string, key int, value any, h byte, ts int64) {
		t.Helper()
		if err := d.Pipe(&kgo.Record{Topic: topic, Key: encode(key), Value: encode(value), Timestamp: time.UnixMilli(ts),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{h}}}}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want ...out) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v\nwant %v", got, want)
		}
		got = nil
	}
	pipe(topic1, 0, "A0", 1, 0)
	pipe(topic2, 1, int64(10), 2, 0)
	pipe(topic2, 3, int64(100), 3, 211)
	check(out{ksOut{1, "null+10", 0}, 3}, out{ksOut{0, "A0+null", 0}, 3})
	pipe(topic1, 2, "A2", 4, 200)
	pipe(topic2, 2, int64(12), 5, 200)
	check(out{ksOut{2, "A2+12", 200}, 5})
}
