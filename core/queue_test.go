package core

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The queue keeps fetched slices: records come out in order across
// batches, control records only advance the committable offset, current
// names the popped record even after the queue moved on, and fully read
// batches are dropped (compacted) while the queue never drains.
func TestRecordQueueBatches(t *testing.T) {
	q := &recordQueue{partitionTime: unknownTime, committable: -1}
	ts := time.UnixMilli(1000)
	batch := func(from, n int64, controlAt int64) []*kgo.Record {
		var recs []*kgo.Record
		for o := from; o < from+n; o++ {
			r := &kgo.Record{Offset: o, Timestamp: ts}
			if o == controlAt {
				r.Attrs = controlAttrs()
			}
			recs = append(recs, r)
		}
		return recs
	}
	q.add(batch(0, 3, -1))
	q.add(batch(3, 3, 5)) // offset 5 is a transaction marker
	var got []int64
	for !q.empty() {
		r, _ := q.pop()
		if q.current() != r {
			t.Fatalf("current = %d, want popped %d", q.current().Offset, r.Offset)
		}
		got = append(got, r.Offset)
	}
	if want := []int64{0, 1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Fatalf("popped %v, want %v", got, want)
	}
	if q.committable != 6 || q.size() != 0 {
		t.Fatalf("committable %d size %d, want 6 and 0", q.committable, q.size())
	}
	if q.current().Offset != 4 {
		t.Fatalf("current after draining = %d, want 4", q.current().Offset)
	}

	// A queue that never drains: read batches are compacted away.
	q.add(batch(6, 2, -1))
	for i := int64(0); i < 50; i++ {
		q.add(batch(8+2*i, 2, -1))
		for range 2 {
			if q.empty() {
				t.Fatal("queue empty with records buffered")
			}
			q.pop()
		}
	}
	if len(q.batches) > 4 {
		t.Fatalf("%d batches kept for %d buffered records", len(q.batches), q.size())
	}
	if q.empty() {
		t.Fatal("queue empty with records buffered")
	}
	if r, _ := q.pop(); r.Offset != 106 {
		t.Fatalf("next offset %d, want 106", r.Offset)
	}
}

func controlAttrs() kgo.RecordAttrs { return kgo.NewRecordAttrs(kgo.RecordAttrsOpts{Control: true}) }
