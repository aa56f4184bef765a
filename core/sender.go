package core

import (
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// sender calls Produce for a stream thread on a goroutine of its own.
// franz-go's Produce does per-record work under the producer's locks
// (partitioning, buffer accounting, appending to a batch) that took about
// half of the thread's time per record; on the sender goroutine it runs
// beside the processing of the next records. The thread hands records
// over in batches of sendBatch (and whatever is left at the end of each
// step); one goroutine produces them in order. Every point that needs all
// records sent so far inside the client (a flush, the end of a
// transaction) calls sync first. At most sendInFlight batches wait for
// the sender: when the client blocks (its buffer is full), the thread
// blocks on the hand-over, as it blocked in Produce before.
type sender struct {
	produce func(*kgo.Record, func(*kgo.Record, error))
	batches chan *outBatch
	free    chan *outBatch
	cur     *outBatch // being filled; owned by the thread's goroutine
	done    chan struct{}
	// dropping makes the sender discard what it has not produced yet (a
	// thread stopping on an error: nothing after it will be committed).
	dropping atomic.Bool
}

type outRecord struct {
	rec     *kgo.Record
	promise func(*kgo.Record, error)
}

type outBatch struct {
	recs []outRecord
	// synced, when set, marks a sync point: closed once every record
	// handed over before it was given to the client.
	synced chan struct{}
}

const (
	sendBatch    = 256 // records per hand-over
	sendInFlight = 8   // batches waiting for the sender goroutine
)

func newSender(produce func(*kgo.Record, func(*kgo.Record, error))) *sender {
	s := &sender{
		produce: produce,
		batches: make(chan *outBatch, sendInFlight),
		free:    make(chan *outBatch, sendInFlight+1),
		done:    make(chan struct{}),
	}
	go s.run()
	return s
}

func (s *sender) run() {
	defer close(s.done)
	for b := range s.batches {
		if b.synced != nil {
			close(b.synced)
			continue
		}
		if !s.dropping.Load() {
			for i := range b.recs {
				s.produce(b.recs[i].rec, b.recs[i].promise)
			}
		}
		clear(b.recs) // the records are recycled after delivery: drop them
		b.recs = b.recs[:0]
		select {
		case s.free <- b:
		default:
		}
	}
}

// send hands rec over to be produced.
func (s *sender) send(rec *kgo.Record, promise func(*kgo.Record, error)) {
	if s.cur == nil {
		select {
		case s.cur = <-s.free:
		default:
			s.cur = &outBatch{recs: make([]outRecord, 0, sendBatch)}
		}
	}
	s.cur.recs = append(s.cur.recs, outRecord{rec, promise})
	if len(s.cur.recs) == sendBatch {
		s.batches <- s.cur
		s.cur = nil
	}
}

// push hands over the partly filled batch, so that records never wait for
// a batch to fill (called at the end of every step of the thread).
func (s *sender) push() {
	if s.cur != nil && len(s.cur.recs) > 0 {
		s.batches <- s.cur
		s.cur = nil
	}
}

// sync returns once every record handed over so far was given to the
// client (or dropped, when dropping).
func (s *sender) sync() {
	s.push()
	m := &outBatch{synced: make(chan struct{})}
	s.batches <- m
	<-m.synced
}

// drop makes the sender discard records it has not produced yet.
func (s *sender) drop() { s.dropping.Store(true) }

// close stops the sender goroutine after it handled everything handed
// over (produced, or dropped after drop).
func (s *sender) close() {
	s.push()
	close(s.batches)
	<-s.done
}
