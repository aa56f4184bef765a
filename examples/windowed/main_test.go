package main

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde"
)

type average struct {
	Sensor     string
	Start, End int64 // ms after base
	Avg        float64
	TS         int64 // ms after base
}

// TestFinalAverages runs the example in-process on an in-process broker
// with fixed readings, one of them late but within the grace period and
// one past it, and checks that exactly the final average of every closed
// window is written, once.
func TestFinalAverages(t *testing.T) {
	b := testbroker.New(t)
	b.CreateTopic(t, ReadingsTopic, 4, nil)
	b.CreateTopic(t, AveragesTopic, 4, nil)
	// Recent (window changelogs are deleted by time), on a window boundary.
	base := time.Now().Truncate(WindowSize).Add(-time.Minute)
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }

	const sensors = 3
	var recs []*kgo.Record
	for s := range sensors {
		for sec := range 25 { // windows [0,10) and [10,20) close; [20,30) stays open
			recs = append(recs, ReadingRecord(s, at(sec)))
			if s == 0 && sec == 11 {
				recs = append(recs, ReadingRecord(s, at(9))) // late, within the grace: counted
			}
			if s == 0 && sec == 12 {
				recs = append(recs, ReadingRecord(s, at(5))) // [0,10) closed at 12s: dropped
			}
		}
	}
	b.Produce(t, recs...)

	want := []average{}
	for s := range sensors {
		for start := 0; start < 20; start += 10 {
			var sum float64
			n := 0
			for sec := start; sec < start+10; sec++ {
				sum += Reading(s, at(sec).Unix())
				n++
			}
			if s == 0 && start == 0 {
				sum += Reading(s, at(9).Unix())
				n++
			}
			want = append(want, average{fmt.Sprintf("sensor-%d", s), int64(start) * 1000, int64(start+10) * 1000, sum / float64(n), int64(start+9) * 1000})
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{brokers: []string{b.Addr()}, appID: "sensor-test", guarantee: "exactly_once_v2",
			stateDir: t.TempDir(), commitInterval: 100 * time.Millisecond, sensors: sensors})
	}()
	keys := serde.TimeWindowed(serde.String(), WindowSize)
	read := func() []average {
		var out []average
		for _, r := range b.ReadAll(t, AveragesTopic) {
			k, err := keys.Deserialize(r.Topic, r.Key)
			if err != nil {
				t.Fatal(err)
			}
			v, err := serde.Float64().Deserialize(r.Topic, r.Value)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, average{k.Key, k.Start - base.UnixMilli(), k.End - base.UnixMilli(), v, r.Timestamp.UnixMilli() - base.UnixMilli()})
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].Sensor != out[j].Sensor {
				return out[i].Sensor < out[j].Sensor
			}
			return out[i].Start < out[j].Start
		})
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(read()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a few more commits: nothing else may come
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := read(); !reflect.DeepEqual(got, want) {
		t.Fatalf("averages\n got %v\nwant %v", got, want)
	}
}
