package core

import (
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The pool hands back only records that were put, each at most once and
// with the numbers franz-go set on delivery cleared,
// across the promise goroutine and the thread's goroutine.
func TestRecordPoolRecycles(t *testing.T) {
	p := &recordPool{}
	const n = 10 * recordBatch
	sent := make(chan *kgo.Record, n)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the promise side: one goroutine, as franz-go's promises are serial
		defer wg.Done()
		for r := range sent {
			p.put(r)
		}
	}()
	made := map[*kgo.Record]bool{}
	for i := range n {
		r := &kgo.Record{Topic: "t", Key: []byte{byte(i)}, Value: []byte("v"), Headers: []kgo.RecordHeader{{Key: "h"}}, Offset: int64(i) + 1, Partition: 3, ProducerID: 7}
		made[r] = true
		sent <- r
	}
	close(sent)
	wg.Wait()
	got := map[*kgo.Record]bool{}
	for {
		r := p.get()
		if r == nil {
			break
		}
		if !made[r] || got[r] {
			t.Fatalf("record %p handed out twice or never put", r)
		}
		got[r] = true
		if r.Offset != 0 || r.Partition != 0 || r.ProducerID != 0 {
			t.Fatalf("recycled record keeps delivery numbers: %+v", r)
		}
	}
	// Whole batches come back; a partial batch waits on the promise side.
	if len(got) != n {
		t.Fatalf("got %d records back, want %d", len(got), n)
	}
}

func TestRecordPoolBounded(t *testing.T) {
	p := &recordPool{}
	for range maxPooledRecords + 4*recordBatch {
		p.put(&kgo.Record{})
	}
	if p.pooled > maxPooledRecords+recordBatch {
		t.Fatalf("pool holds %d records, bound %d", p.pooled, maxPooledRecords)
	}
}
