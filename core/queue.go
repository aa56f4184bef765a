package core

// The record queue of a task's input partition.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordQueue buffers the fetched records of one input partition of a task.
type recordQueue struct {
	topic     string // cluster topic name
	partition int32
	source    rawReceiver
	extractor TimestampExtractor

	// batches are the fetched record slices in fetch order; the head
	// record is batches[bi][head]. Buffering a fetch appends the slice
	// itself: no per-record pointer copy, each of which would cost a write
	// barrier while the GC marks. n counts the records not yet popped.
	batches [][]*kgo.Record
	bi      int
	head    int
	n       int
	// curB and curH locate the record pop returned last (indexes, not a
	// pointer: no write barrier).
	curB, curH int
	// headTS is the extracted timestamp of the head record when
	// headReady. As in Kafka Streams, a record's timestamp is extracted
	// when it becomes the head, so buffering a fetch touches no record and
	// each record is read once, right before it is processed.
	headTS    int64
	headReady bool
	invalid   InvalidTimestampPolicy

	partitionTime int64 // largest extracted timestamp, unknownTime before any
	// committable is the next offset to commit: past every record that was
	// processed, skipped or dropped.
	committable      int64
	committableEpoch int32
	// keyCheck checks records against the default partitioner; nil
	// unless the topic is a user topic of a co-partition group.
	keyCheck *partitionCheck
	// end is the partition's known end offset (high watermark, or last
	// stable offset under read_committed) and position the next offset the
	// consumer will return; both -1 when unknown. Used for the idle rules.
	end, position int64
	// e2e accumulates the end-to-end latency at the source node (nil when
	// not recorded).
	e2e *e2eLatency
	// metrics are the partition's bound series (see thread.report).
	metrics queueSeries
}

func (q *recordQueue) size() int { return q.n }

// empty reports whether no data record is buffered, first skipping control
// records at the head (they only advance the committable offset).
func (q *recordQueue) empty() bool {
	if q.headReady {
		return false
	}
	for q.n > 0 {
		b := q.batches[q.bi]
		if q.head == len(b) {
			q.bi, q.head = q.bi+1, 0
			continue
		}
		r := b[q.head]
		if !r.Attrs.IsControl() {
			q.extractHead(r)
			return false
		}
		q.committable, q.committableEpoch = r.Offset+1, r.LeaderEpoch
		q.head++
		q.n--
	}
	return true
}

// extractHead extracts the head record's timestamp and advances the
// partition time (the largest valid timestamp so far).
func (q *recordQueue) extractHead(r *kgo.Record) {
	var ts int64
	if q.extractor == nil {
		ts = r.Timestamp.UnixMilli()
	} else {
		pt := time.Time{}
		if q.partitionTime != unknownTime {
			pt = time.UnixMilli(q.partitionTime)
		}
		ts = q.extractor(r, pt).UnixMilli()
	}
	if ts < 0 && q.partitionTime != unknownTime && q.invalid == UsePartitionTimeOnInvalidTimestamp {
		ts = q.partitionTime // the partition time as of this record
	}
	if ts > q.partitionTime {
		q.partitionTime = ts
	}
	q.headTS, q.headReady = ts, true
}

// pop removes the head record; empty must have returned false. The popped
// record stays reachable through current until the next add.
func (q *recordQueue) pop() (*kgo.Record, int64) {
	r, ts := q.batches[q.bi][q.head], q.headTS
	q.curB, q.curH = q.bi, q.head
	q.head++
	q.n--
	q.headReady = false
	return r, ts
}

// current is the record pop returned last.
func (q *recordQueue) current() *kgo.Record { return q.batches[q.curB][q.curH] }

// add buffers a fetched slice of records. Fully read batches are dropped
// here, all at once when everything was read, else by compaction once
// they are the majority (a queue that never drains).
func (q *recordQueue) add(recs []*kgo.Record) {
	if q.n == 0 {
		clear(q.batches)
		q.batches, q.bi, q.head = q.batches[:0], 0, 0
	} else if q.bi > 0 && q.bi >= len(q.batches)/2 {
		k := copy(q.batches, q.batches[q.bi:])
		clear(q.batches[k:])
		q.batches, q.bi = q.batches[:k], 0
	}
	q.batches = append(q.batches, recs)
	q.n += len(recs)
}

// lag is the number of records known to exist past what was fetched; -1
// when unknown.
func (q *recordQueue) lag() int64 {
	if q.end < 0 || q.position < 0 {
		return -1
	}
	if q.end <= q.position {
		return 0
	}
	return q.end - q.position
}
