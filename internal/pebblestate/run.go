package pebblestate

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// restoreRun holds the restore writes of the open transaction made before
// any other write: point sets and deletes, copied into chunks of memory
// and indexed by position. A large run is committed by writing it straight
// into tables (commitByIngest) without ever building a Pebble batch; a
// small one, or one that a read or an owner write must see, is copied into
// a batch first (applyTo).
//
// Measured on `sluice bench --only restore` before the run existed:
// encoding every restore write into a Pebble batch (Batch.Set, its growth)
// was 13% of the run's CPU, reading the batch back into sortable entries 6%
// and merging them with the owner's writes 5%. Chunks are never copied to
// grow (one contiguous buffer growing by append spent more in its copies
// than everything else of the run), the entries grow by doubling, and
// both are kept for the next restore batch. The entries hold no pointers,
// so the garbage collector does not scan them.
type restoreRun struct {
	chunks  [][]byte // chunks[:cur+1] in use; later ones kept for reuse
	cur     int
	entries []runEntry
	bytes   int // of keys and values
	// sorted: keys are non-decreasing in write order (a changelog of
	// increasing keys), so the commit needs no sort.
	sorted bool
	// retained: the buffers are kept from an ingested run for the next
	// restore batch (see backend.reset).
	retained bool
}

// runChunkSize is the size of a restoreRun's chunks (a larger record gets
// a chunk of its own size).
const runChunkSize = 1 << 20

// runEntry is one write of a restoreRun: the key at
// chunks[chunk][off:off+klen], the value right after it.
type runEntry struct {
	chunk, off uint32
	klen, vlen uint32
	seq        uint32 // write order: the last write of a key wins
	del        bool
}

func (r *restoreRun) empty() bool { return len(r.entries) == 0 }

// size is the bytes of keys and values held.
func (r *restoreRun) size() int { return r.bytes }

func (r *restoreRun) add(key, value []byte, del bool) {
	n := len(r.entries)
	if n == 0 {
		r.sorted = true
	} else if r.sorted && bytes.Compare(r.key(r.entries[n-1]), key) > 0 {
		r.sorted = false
	}
	need := len(key) + len(value)
	if len(r.chunks) == 0 || len(r.chunks[r.cur])+need > cap(r.chunks[r.cur]) {
		r.nextChunk(need)
	}
	c := r.chunks[r.cur]
	off := len(c)
	r.chunks[r.cur] = append(append(c, key...), value...)
	r.bytes += need
	if n == cap(r.entries) {
		grown := make([]runEntry, n, max(4096, 2*n))
		copy(grown, r.entries)
		r.entries = grown
	}
	r.entries = append(r.entries, runEntry{chunk: uint32(r.cur), off: uint32(off), klen: uint32(len(key)), vlen: uint32(len(value)), seq: uint32(n), del: del})
}

// nextChunk makes the current chunk one with room for need bytes.
func (r *restoreRun) nextChunk(need int) {
	if len(r.chunks) > 0 {
		r.cur++
	}
	if r.cur < len(r.chunks) && cap(r.chunks[r.cur]) >= need {
		return // a kept chunk (empty)
	}
	c := make([]byte, 0, max(runChunkSize, need))
	if r.cur < len(r.chunks) {
		r.chunks[r.cur] = c
	} else {
		r.chunks = append(r.chunks, c)
	}
}

func (r *restoreRun) key(e runEntry) []byte {
	end := e.off + e.klen
	return r.chunks[e.chunk][e.off:end:end]
}

func (r *restoreRun) value(e runEntry) []byte {
	start := e.off + e.klen
	end := start + e.vlen
	return r.chunks[e.chunk][start:end:end]
}

// sort orders the entries by key, writes of one key in write order.
func (r *restoreRun) sort() {
	if r.sorted {
		return
	}
	slices.SortFunc(r.entries, func(x, y runEntry) int {
		if c := bytes.Compare(r.key(x), r.key(y)); c != 0 {
			return c
		}
		return cmp.Compare(x.seq, y.seq)
	})
	r.sorted = true
}

// applyTo writes the run into batch: in write order, or sorted by key
// after sort, which keeps the order of each key's writes (the run holds
// point writes only, so the outcome is the same).
func (r *restoreRun) applyTo(batch *pebble.Batch) error {
	for _, e := range r.entries {
		var err error
		if e.del {
			err = batch.Delete(r.key(e), nil)
		} else {
			err = batch.Set(r.key(e), r.value(e), nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// reset empties the run; keep retains its buffers for the next one.
func (r *restoreRun) reset(keep bool) {
	if keep {
		for i := range r.chunks[:min(r.cur+1, len(r.chunks))] {
			r.chunks[i] = r.chunks[i][:0]
		}
		r.entries = r.entries[:0]
	} else {
		r.chunks, r.entries = nil, nil
	}
	r.cur, r.bytes = 0, 0
	r.sorted, r.retained = false, keep
}
