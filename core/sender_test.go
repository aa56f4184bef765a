package core

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The sender produces in hand-over order across batches, partial batches
// and sync points; sync returns only when everything before it was
// produced; after drop nothing more is produced; close waits for the
// goroutine.
func TestSenderOrderSyncDrop(t *testing.T) {
	var mu sync.Mutex
	var produced []int64
	gate := make(chan struct{}) // holds the producer back until the test opens it
	var promised atomic.Int64
	s := newSender(func(r *kgo.Record, promise func(*kgo.Record, error)) {
		<-gate
		mu.Lock()
		produced = append(produced, r.Offset)
		mu.Unlock()
		promise(r, nil)
	})
	promise := func(*kgo.Record, error) { promised.Add(1) }
	const n = 3*sendBatch + 17 // full batches and a partial one
	for i := range n {
		if i == sendBatch { // let the first batch through, keep the rest queued
			close(gate)
		}
		s.send(&kgo.Record{Offset: int64(i)}, promise)
	}
	s.sync()
	mu.Lock()
	got := append([]int64(nil), produced...)
	mu.Unlock()
	if len(got) != n {
		t.Fatalf("after sync %d of %d records produced", len(got), n)
	}
	for i, o := range got {
		if o != int64(i) {
			t.Fatalf("record %d produced as number %d: order lost", o, i)
		}
	}
	if promised.Load() != n {
		t.Fatalf("%d promises called, want %d", promised.Load(), n)
	}

	s.drop()
	for i := range 10 {
		s.send(&kgo.Record{Offset: int64(n + i)}, promise)
	}
	s.close()
	if len(produced) != n {
		t.Fatalf("%d records produced after drop", len(produced)-n)
	}
}
