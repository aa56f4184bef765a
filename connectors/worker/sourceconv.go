package worker

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
)

// Parallel conversion of a source's polled records.
//
// Transforms and converters are per-record work that is safe for
// concurrent use (their contracts say so: a connector's tasks share them),
// and they were most of a CDC snapshot's CPU on the run's goroutine. A
// large poll batch is cut into contiguous chunks converted on their own
// goroutines; the run's goroutine then walks the results in poll order and
// does everything that has an order or owns state: tracking offsets,
// errors.tolerance and dead letters, retrying transient failures, topic
// creation and Produce. Records therefore reach the producer in exactly
// the order of the sequential path, so per-partition (per-key) order,
// offsets and the transaction's content are unchanged; only the CPU work
// is spread.

// minConvChunk is the fewest records a conversion goroutine gets: below
// it, starting goroutines costs more than it saves.
const minConvChunk = 128

// convItem is one output record of a polled record after transforms and
// converters.
type convItem struct {
	out        *connectors.Record
	key, value []byte
	stage      connectors.Stage // the failed stage; "" on success
	class      string           // the failed transform's type (StageTransformation)
	err        error
}

// convChunk is the conversion of a contiguous run of polled records.
type convChunk struct {
	recs   []*connectors.Record
	ends   []int // ends[i]: the end of recs[i]'s items in items
	items  []convItem
	outBuf []*connectors.Record
}

// convert runs the transforms and converters over the chunk's records. It
// touches nothing but the chunk and the records (each record is owned by
// one chunk).
func (ch *convChunk) convert(cc *connectors.ConnectorConfig) {
	ch.ends, ch.items = ch.ends[:0], ch.items[:0]
	for _, rec := range ch.recs {
		rec.Offset = -1
		outs, step, err := applyTransforms(cc.Transforms, ch.outBuf[:0], rec)
		ch.outBuf = outs[:0]
		if err != nil {
			ch.items = append(ch.items, convItem{out: rec, stage: connectors.StageTransformation, class: step, err: err})
			ch.ends = append(ch.ends, len(ch.items))
			continue
		}
		for _, o := range outs {
			it := convItem{out: o}
			if o.Key != nil {
				it.key, it.err = cc.KeyConverter.FromConnect(o.Topic, o.KeySchema, o.Key)
				if it.err != nil {
					it.stage = connectors.StageKeyConverter
				}
			}
			if it.err == nil && o.Value != nil {
				it.value, it.err = cc.ValueConverter.FromConnect(o.Topic, o.ValueSchema, o.Value)
				if it.err != nil {
					it.stage = connectors.StageValueConverter
				}
			}
			ch.items = append(ch.items, it)
		}
		ch.ends = append(ch.ends, len(ch.items))
	}
	clear(ch.outBuf[:cap(ch.outBuf)])
}

// release drops the chunk's references to records and bytes (the producer
// owns them now) but keeps its buffers for the next batch.
func (ch *convChunk) release() {
	clear(ch.items)
	ch.recs, ch.items = nil, ch.items[:0]
}

// convWorkers is how many goroutines convert a batch of n records.
func (r *sourceRun) convWorkers(n int) int {
	w := min(r.c.w.cfg.SourceConversionWorkers, n/minConvChunk)
	return max(w, 1)
}

// writeParallel is write's loop over recs with the conversion spread over
// workers goroutines (see the top of this file).
func (r *sourceRun) writeParallel(ctx context.Context, recs []*connectors.Record, workers int) error {
	if cap(r.chunks) < workers {
		r.chunks = make([]convChunk, workers)
	}
	chunks := r.chunks[:workers]
	per := (len(recs) + workers - 1) / workers
	var wg sync.WaitGroup
	for i := range chunks {
		lo := min(i*per, len(recs))
		hi := min(lo+per, len(recs))
		chunks[i].recs = recs[lo:hi]
		if i == 0 {
			continue // the run's goroutine converts the first chunk itself
		}
		wg.Add(1)
		go func(ch *convChunk) {
			defer wg.Done()
			ch.convert(r.c.cc)
		}(&chunks[i])
	}
	chunks[0].convert(r.c.cc)
	wg.Wait()
	defer func() {
		for i := range chunks {
			chunks[i].release()
		}
	}()
	for ci := range chunks {
		ch := &chunks[ci]
		start := 0
		for i, rec := range ch.recs {
			if err := r.track(rec); err != nil {
				return err
			}
			end := ch.ends[i]
			for j := start; j < end; j++ {
				if err := r.produceConverted(ctx, &ch.items[j]); err != nil {
					return err
				}
			}
			start = end
		}
	}
	return nil
}

// produceConverted is send's second half for a record converted off the
// run's goroutine: failures go through errors.tolerance as in send (a
// transient one is converted again here, with retries), successes to the
// producer.
func (r *sourceRun) produceConverted(ctx context.Context, it *convItem) error {
	o := it.out
	if it.err != nil && it.stage != connectors.StageTransformation && isTransient(it.err) {
		// Convert again on this goroutine, with the retry policy.
		it.err, it.stage = nil, ""
		var err error
		if o.Key != nil {
			if it.key, err = r.convert(ctx, r.c.cc.KeyConverter, o.Topic, o.KeySchema, o.Key); err != nil {
				it.err, it.stage = err, connectors.StageKeyConverter
			}
		}
		if it.err == nil && o.Value != nil {
			if it.value, err = r.convert(ctx, r.c.cc.ValueConverter, o.Topic, o.ValueSchema, o.Value); err != nil {
				it.err, it.stage = err, connectors.StageValueConverter
			}
		}
	}
	switch it.stage {
	case connectors.StageTransformation:
		return r.recordFailed(ctx, o, rawBytes(o.Key), rawBytes(o.Value), connectors.StageTransformation, it.class, it.err)
	case connectors.StageKeyConverter:
		return r.recordFailed(ctx, o, rawBytes(o.Key), rawBytes(o.Value), connectors.StageKeyConverter, r.c.cc.KeyConverterType, it.err)
	case connectors.StageValueConverter:
		return r.recordFailed(ctx, o, it.key, rawBytes(o.Value), connectors.StageValueConverter, r.c.cc.ValueConverterType, it.err)
	}
	return r.produce(ctx, o, it.key, it.value)
}

// produce hands a converted record to the producer.
func (r *sourceRun) produce(ctx context.Context, o *connectors.Record, key, val []byte) error {
	if o.Topic == "" {
		return fmt.Errorf("worker: connector %q task %d: a record has no topic (%s)", r.c.cc.Name, r.t.id, o.Where())
	}
	if err := r.ensureTopic(ctx, o.Topic); err != nil {
		return err
	}
	kr := &kgo.Record{Topic: o.Topic, Key: key, Value: val, Partition: o.Partition, Timestamp: o.Timestamp}
	if len(o.Headers) > 0 {
		kr.Headers = make([]kgo.RecordHeader, len(o.Headers))
		for i, h := range o.Headers {
			kr.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
		}
	}
	r.cl.Produce(ctx, kr, r.promise)
	return nil
}
