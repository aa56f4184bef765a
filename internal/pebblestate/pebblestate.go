// Package pebblestate is Sluice's persistent state engine: one Pebble
// database per task directory holding all of the task's stores under short
// key prefixes, with the changelog checkpoints under a reserved prefix (see
// internal/stateengine for the key layout).
//
// Uncommitted writes live in a Pebble indexed batch, so the owner reads its
// own writes (Get and iterators merge batch and database); Commit applies the
// batch with the checkpoint keys as one Pebble batch. Restore (RawPut) writes
// made while nothing else is pending go to a restore run (run.go), which a
// large commit writes straight into ingested tables (ingest.go).
//
// Durability: commits do not fsync by default (pebble.NoSync). A Pebble
// batch is one WAL record, replayed entirely or not at all, and the WAL is
// recovered as a prefix, so a killed process (or a crashed machine) comes
// back with the store and its checkpoints from the same, possibly earlier,
// commit: consistent, and the changelog tail past that checkpoint is
// replayed. The changelog, not the local store, is the durable copy (Kafka
// Streams goes further and turns RocksDB's WAL off). WithSync(true) fsyncs
// every commit for deployments that want to shorten restores after a power
// loss.
package pebblestate

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/sluicehq/sluice/internal/stateengine"
	"github.com/sluicehq/sluice/state"
)

// Option configures Open.
type Option func(*config)

type config struct {
	cache        *pebble.Cache
	memTableSize uint64
	sync         bool
}

// WithCache shares one block cache between the engines of an instance
// (Pebble reference-counts it: the caller Unrefs its own reference when it
// no longer opens engines with it). Default: a private 8 MiB cache per
// engine.
func WithCache(c *pebble.Cache) Option { return func(cfg *config) { cfg.cache = c } }

// WithMemTableSize sets Pebble's memtable size. Default 16 MiB: large
// enough that a 100k-record restore batch is not split into a flushable
// batch and that restores write few, larger L0 files; with up to two
// memtables alive per task, it bounds a task's write buffer at 32 MiB.
func WithMemTableSize(bytes uint64) Option { return func(cfg *config) { cfg.memTableSize = bytes } }

// WithSync makes every Commit fsync the WAL. Default false (see the package
// doc).
func WithSync(sync bool) Option { return func(cfg *config) { cfg.sync = sync } }

const defaultCacheSize = 8 << 20

// Open opens (creating if needed) the engine stored in dir.
func Open(dir string, opts ...Option) (state.Engine, error) {
	cfg := config{memTableSize: 16 << 20}
	for _, o := range opts {
		o(&cfg)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	cache := cfg.cache
	if cache == nil {
		cache = pebble.NewCache(defaultCacheSize)
		defer cache.Unref() // the DB holds its own reference
	}
	popts := &pebble.Options{
		Cache:                       cache,
		MemTableSize:                cfg.memTableSize,
		MemTableStopWritesThreshold: 4,
		FormatMajorVersion:          pebble.FormatNewest,
		Logger:                      quietLogger{},
	}
	db, err := pebble.Open(dir, popts)
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	if err := removeIngestLeftovers(dir); err != nil {
		db.Close()
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	wopts := popts.Clone()
	wopts.EnsureDefaults()
	// Ingested tables in the row-block format (see backend.writerOpts),
	// within what the DB's format accepts.
	ingestFormat := min(max(sstable.TableFormatPebblev4, db.FormatMajorVersion().MinTableFormat()), db.TableFormat())
	b := &backend{db: db, dir: dir, opts: popts, wo: pebble.NoSync, ro: map[*roCursor]struct{}{},
		writerOpts: wopts.MakeWriterOptions(0, ingestFormat)}
	if cfg.sync {
		b.wo = pebble.Sync
	}
	b.idx = db.NewIndexedBatch()
	b.bulk = db.NewBatch()
	b.pend = map[string]pendValue{}
	b.committed = map[string][]byte{}
	e, err := stateengine.New(b)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	return e, nil
}

// PebbleOptions returns the options e's Pebble DB was opened with, nil if
// e is not an engine of this package (for tests that check that settings
// reach Pebble). The options must not be modified.
func PebbleOptions(e state.Engine) *pebble.Options {
	be, ok := e.(interface{ Backend() stateengine.Backend })
	if !ok {
		return nil
	}
	if b, ok := be.Backend().(*backend); ok {
		return b.opts
	}
	return nil
}

// Metrics returns the Pebble metrics of e's DB, nil if e is not an engine
// of this package (for tests and diagnostics).
func Metrics(e state.Engine) *pebble.Metrics {
	be, ok := e.(interface{ Backend() stateengine.Backend })
	if !ok {
		return nil
	}
	if b, ok := be.Backend().(*backend); ok {
		return b.db.Metrics()
	}
	return nil
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)              {}
func (quietLogger) Errorf(format string, args ...any) { log.Printf("pebblestate: "+format, args...) }
func (quietLogger) Fatalf(format string, args ...any) { log.Fatalf("pebblestate: "+format, args...) }

type backend struct {
	db   *pebble.DB
	dir  string
	opts *pebble.Options // as given to pebble.Open
	wo   *pebble.WriteOptions

	// Owner only. A transaction's writes are, in order: run (restore point
	// writes made while bulk and idx were empty), bulk (restore writes,
	// range deletions among them, made while idx was empty), idx (the
	// owner's writes and the restore writes after them).
	run  restoreRun
	idx  *pebble.Batch
	bulk *pebble.Batch
	// bulkHint: the size of the last committed restore batch, to
	// preallocate the next one (0: none pending).
	bulkHint int
	// writerOpts and ingestSeq write the tables of commitByIngest. They
	// are written in the row-block format (TableFormatPebblev4), not the
	// DB's newer columnar one: writing them costs less (restore
	// throughput of BenchmarkRestore +15%), Pebble reads both, and
	// compactions rewrite them in the DB's format.
	writerOpts sstable.WriterOptions
	ingestSeq  int

	// pend mirrors the owner's point writes of the open transaction (latest
	// per key; deleted: nil value with present set), so that Get serves
	// them from a map and otherwise reads committed data directly, instead
	// of Pebble's merged batch+DB lookup (about 1 us per call). It is off
	// (pendOff) after a restore write into idx until the next commit or
	// abort; Get then takes the merged path.
	pend    map[string]pendValue
	pendOff bool
	// dropped mirrors the owner's range deletes of the open transaction
	// (window and session stores drop expired segments with one per
	// advance). A point write and a range delete each take the next seq,
	// so a key is deleted by a range that came after its latest pend
	// write. Pebble's own merged lookup would re-fragment every range
	// delete of the batch on each Get after a write (the batch's cache of
	// fragments is invalidated by every write): quadratic in a long
	// transaction, 19% of a windowed job's CPU when it was used.
	dropped []droppedRange
	seq     uint64

	// committed caches committed values read or written by the owner
	// (bounded by committedCacheEntries; a present key only), so that hot
	// keys skip Pebble's lookup machinery. Invalidated by every owner or
	// restore write to the key, cleared by range deletes.
	committed      map[string][]byte
	committedBytes int

	closeMu sync.RWMutex // held for reading by committed reads, for writing by Close
	closed  atomic.Bool
	roMu    sync.Mutex
	ro      map[*roCursor]struct{}
}

// indexed folds pending restore writes into the indexed batch so the owner
// can read them.
func (b *backend) indexed() (*pebble.Batch, error) {
	if b.closed.Load() {
		return nil, state.ErrClosed
	}
	if b.bulk.Empty() && b.run.empty() {
		return b.idx, nil
	}
	// idx is about to hold restore writes that pend does not mirror.
	b.overlayOff()
	idx := b.db.NewIndexedBatch()
	if err := b.run.applyTo(idx); err != nil {
		return nil, err
	}
	b.run.reset(false)
	if err := idx.Apply(b.bulk, nil); err != nil {
		return nil, err
	}
	if err := idx.Apply(b.idx, nil); err != nil {
		return nil, err
	}
	b.idx.Close()
	b.idx = idx
	b.bulk.Close()
	b.bulk = b.db.NewBatch()
	return idx, nil
}

// committedCacheBytes bounds the committed-value cache of one task (keys,
// values and a per-entry overhead), so that a store of any size keeps a
// small Go heap.
const committedCacheBytes = 8 << 20

const committedEntryOverhead = 64

func (b *backend) cacheCommitted(key string, value []byte) {
	b.uncache(key)
	size := len(key) + len(value) + committedEntryOverhead
	if size > committedCacheBytes/64 {
		return // too large to be worth caching
	}
	if b.committedBytes+size > committedCacheBytes {
		for k := range b.committed { // drop arbitrary entries down to 90%
			b.uncache(k)
			if b.committedBytes+size <= committedCacheBytes*9/10 {
				break
			}
		}
	}
	b.committed[key] = value
	b.committedBytes += size
}

func (b *backend) uncache(key string) {
	if v, ok := b.committed[key]; ok {
		b.committedBytes -= len(key) + len(v) + committedEntryOverhead
		delete(b.committed, key)
	}
}

func (b *backend) uncacheAll() {
	clear(b.committed)
	b.committedBytes = 0
}

type pendValue struct {
	value   []byte
	deleted bool
	seq     uint64
}

// droppedRange is a range delete [start, end) of the open transaction.
type droppedRange struct {
	start, end []byte
	seq        uint64
}

// droppedAt returns the seq of the latest range delete of the open
// transaction that covers key, 0 if none does.
func (b *backend) droppedAt(key string) uint64 {
	var seq uint64
	for _, r := range b.dropped {
		if r.seq > seq && key >= string(r.start) && key < string(r.end) {
			seq = r.seq
		}
	}
	return seq
}

func (b *backend) Get(key []byte) ([]byte, error) {
	if b.closed.Load() {
		return nil, state.ErrClosed
	}
	if !b.pendOff && b.bulk.Empty() && b.run.empty() {
		v, ok := b.pend[string(key)]
		if len(b.dropped) > 0 {
			if d := b.droppedAt(string(key)); d > 0 && (!ok || v.seq < d) {
				return nil, nil
			}
		}
		if ok {
			if v.deleted {
				return nil, nil
			}
			return bytes.Clone(v.value), nil
		}
		// Not written in this transaction: the committed value is current.
		if v, ok := b.committed[string(key)]; ok {
			return bytes.Clone(v), nil
		}
		c, err := get(b.db.Get(key))
		if err == nil && c != nil {
			b.cacheCommitted(string(key), bytes.Clone(c))
		}
		return c, err
	}
	idx, err := b.indexed()
	if err != nil {
		return nil, err
	}
	return get(idx.Get(key))
}

func get(v []byte, closer interface{ Close() error }, err error) ([]byte, error) {
	if err == pebble.ErrNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v = bytes.Clone(v)
	return v, closer.Close()
}

func (b *backend) NewCursor(lower, upper []byte) (stateengine.Cursor, error) {
	idx, err := b.indexed()
	if err != nil {
		return nil, err
	}
	it, err := idx.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	return &cursor{Iterator: it}, nil
}

func (b *backend) Set(key, value []byte) error {
	if b.closed.Load() {
		return state.ErrClosed
	}
	if err := b.idx.Set(key, value, nil); err != nil {
		return err
	}
	b.uncache(string(key))
	if !b.pendOff {
		b.seq++
		b.pend[string(key)] = pendValue{value: bytes.Clone(value), seq: b.seq}
	}
	return nil
}

func (b *backend) Delete(key []byte) error {
	if b.closed.Load() {
		return state.ErrClosed
	}
	if err := b.idx.Delete(key, nil); err != nil {
		return err
	}
	b.uncache(string(key))
	if !b.pendOff {
		b.seq++
		b.pend[string(key)] = pendValue{deleted: true, seq: b.seq}
	}
	return nil
}

func (b *backend) DeleteRange(start, end []byte) error {
	if b.closed.Load() {
		return state.ErrClosed
	}
	if err := b.idx.DeleteRange(start, end, nil); err != nil {
		return err
	}
	b.uncacheAll()
	if b.pendOff {
		return nil
	}
	b.seq++
	for i := range b.dropped {
		// A store's segments are dropped from its prefix up to a growing
		// bound: the latest delete from a start covers the earlier ones.
		if r := &b.dropped[i]; bytes.Equal(r.start, start) && bytes.Compare(r.end, end) <= 0 {
			r.end, r.seq = bytes.Clone(end), b.seq
			return nil
		}
	}
	b.dropped = append(b.dropped, droppedRange{start: bytes.Clone(start), end: bytes.Clone(end), seq: b.seq})
	return nil
}

// overlayOff stops serving Get from pend until the transaction ends.
func (b *backend) overlayOff() {
	b.pendOff = true
	clear(b.pend)
	b.dropped = b.dropped[:0]
}

// restoreBatch is where a restore write goes when it cannot go to the run:
// the plain batch unless owner writes are pending, which restore writes
// must follow.
func (b *backend) restoreBatch() (*pebble.Batch, error) {
	if b.closed.Load() {
		return nil, state.ErrClosed
	}
	if b.idx.Empty() {
		if b.bulkHint > 0 && b.bulk.Empty() {
			if cap(b.bulk.Repr()) < b.bulkHint { // not a reset batch keeping its buffer
				b.bulk.Close()
				b.bulk = b.db.NewBatchWithSize(b.bulkHint, pebble.WithMaxRetainedSizeBytes(maxBulkPrealloc))
			}
			b.bulkHint = 0
		}
		return b.bulk, nil
	}
	b.overlayOff() // a restore write among owner writes: pend no longer mirrors idx
	return b.idx, nil
}

// toRun reports whether a restore point write goes to the run: nothing
// else is pending.
func (b *backend) toRun() bool {
	return b.bulk.Empty() && b.idx.Empty() && !b.closed.Load()
}

func (b *backend) RestoreSet(key, value []byte) error {
	if len(b.committed) > 0 { // (a restore into a new store has nothing cached)
		b.uncache(string(key))
	}
	if b.toRun() {
		b.run.add(key, value, false)
		return nil
	}
	batch, err := b.restoreBatch()
	if err != nil {
		return err
	}
	return batch.Set(key, value, nil)
}

func (b *backend) RestoreDelete(key []byte) error {
	if len(b.committed) > 0 {
		b.uncache(string(key))
	}
	if b.toRun() {
		b.run.add(key, nil, true)
		return nil
	}
	batch, err := b.restoreBatch()
	if err != nil {
		return err
	}
	return batch.Delete(key, nil)
}

func (b *backend) RestoreDeleteRange(start, end []byte) error {
	b.uncacheAll()
	batch, err := b.restoreBatch()
	if err != nil {
		return err
	}
	return batch.DeleteRange(start, end, nil)
}

func (b *backend) Commit() error {
	if b.closed.Load() {
		return state.ErrClosed
	}
	var err error
	var ingested bool
	idxUsed, bulkUsed, runUsed := !b.idx.Empty(), !b.bulk.Empty(), !b.run.empty()
	promote := !b.pendOff
	if runUsed && !bulkUsed && b.run.size() >= ingestMinBytes {
		if ingested, err = b.commitByIngest(); err != nil {
			err = fmt.Errorf("state: commit restored data of %s: %w", b.dir, err)
		}
	}
	switch {
	case ingested || err != nil:
	case runUsed:
		// A small run (or one followed by range deletions): through a batch.
		batch := b.db.NewBatchWithSize(b.run.size() + len(b.run.entries)*8 + b.bulk.Len() + b.idx.Len())
		if err = b.run.applyTo(batch); err != nil {
			batch.Close()
			break
		}
		if err = batch.Apply(b.bulk, nil); err == nil {
			err = batch.Apply(b.idx, nil)
		}
		if err != nil {
			batch.Close()
			break
		}
		err = batch.Commit(b.wo)
		batch.Close()
	case bulkUsed:
		// A restore commits batches of similar sizes: the next one starts
		// at this one's size (allocated with the next restore write)
		// rather than growing by doubling, each step a copy. (Measured on
		// `sluice bench --only restore`: the copies were 10% of the run.)
		// Read before Commit: Pebble empties a large batch it committed.
		b.bulkHint = min(b.bulk.Len()*5/4, maxBulkPrealloc)
		if !b.idx.Empty() {
			if err = b.bulk.Apply(b.idx, nil); err != nil {
				return err
			}
		}
		err = b.bulk.Commit(b.wo)
	case idxUsed:
		err = b.idx.Commit(b.wo)
	}
	if err == nil && promote {
		// The transaction's writes are now the committed values.
		for k, v := range b.pend {
			if v.deleted || (len(b.dropped) > 0 && b.droppedAt(k) > v.seq) {
				b.uncache(k)
			} else {
				b.cacheCommitted(k, v.value)
			}
		}
	} else {
		b.uncacheAll()
	}
	b.reset(idxUsed, bulkUsed, runUsed && ingested)
	return err
}

// reset starts a new transaction. Used batches are replaced, not reused: a
// committed batch cannot take writes again, and a large one is kept by
// Pebble as a flushable batch that still references its buffer.
//
// The buffers of a restore run that was ingested are not referenced by
// Pebble: they are reused by the next restore run, and dropped at the
// first transaction without an ingested run (a restore commits runs of
// similar sizes; growing a new buffer by doubling was 10% of
// `sluice bench --only restore` when it happened at every commit).
func (b *backend) reset(idxUsed, bulkUsed, runIngested bool) {
	clear(b.pend)
	b.pendOff = false
	b.dropped = b.dropped[:0]
	if runIngested || b.run.retained || !b.run.empty() {
		b.run.reset(runIngested)
	}
	if bulkUsed {
		b.bulk.Close()
		b.bulk = b.db.NewBatch()
	}
	if idxUsed {
		b.idx.Close()
		b.idx = b.db.NewIndexedBatch()
	}
}

// maxBulkPrealloc bounds the buffer a new restore batch starts with.
const maxBulkPrealloc = 32 << 20

func (b *backend) Abort() error {
	if b.closed.Load() {
		return state.ErrClosed
	}
	b.reset(!b.idx.Empty(), !b.bulk.Empty(), false)
	return nil
}

func (b *backend) Committed() stateengine.Reader { return committedReader{b} }

func (b *backend) Close() error {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.closed.Load() {
		return nil
	}
	b.closed.Store(true)
	b.roMu.Lock()
	for c := range b.ro {
		c.closeLocked()
	}
	clear(b.ro)
	b.roMu.Unlock()
	b.idx.Close()
	b.bulk.Close()
	// Flushing the memtable makes the next Open skip WAL replay (measured:
	// 32 tasks with 12 MB unflushed each reopen in 3 s without it).
	ferr := b.db.Flush()
	if err := b.db.Close(); err != nil {
		return err
	}
	return ferr
}

func (b *backend) Destroy() error {
	if err := b.Close(); err != nil {
		return err
	}
	return os.RemoveAll(b.dir)
}

type cursor struct {
	*pebble.Iterator
	err error
}

func (c *cursor) Value() []byte {
	v, err := c.ValueAndErr()
	if err != nil {
		c.err = err
		return nil
	}
	return v
}

func (c *cursor) Error() error {
	if c.err != nil {
		return c.err
	}
	return c.Iterator.Error()
}

type committedReader struct{ b *backend }

func (r committedReader) Get(key []byte) ([]byte, error) {
	r.b.closeMu.RLock()
	defer r.b.closeMu.RUnlock()
	if r.b.closed.Load() {
		return nil, state.ErrClosed
	}
	return get(r.b.db.Get(key))
}

func (r committedReader) NewCursor(lower, upper []byte) (stateengine.Cursor, error) {
	r.b.closeMu.RLock()
	defer r.b.closeMu.RUnlock()
	if r.b.closed.Load() {
		return nil, state.ErrClosed
	}
	it, err := r.b.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	c := &roCursor{c: cursor{Iterator: it}, b: r.b}
	r.b.roMu.Lock()
	r.b.ro[c] = struct{}{}
	r.b.roMu.Unlock()
	return c, nil
}

// roCursor is a committed-data cursor used by another goroutine. Close of
// the engine closes it (Pebble refuses to close with open iterators), so
// every method takes its lock.
type roCursor struct {
	mu     sync.Mutex
	c      cursor
	b      *backend
	closed bool
}

func (c *roCursor) closeLocked() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.c.Iterator.Close()
	}
}

func (c *roCursor) move(f func(*cursor) bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed && f(&c.c)
}

func (c *roCursor) First() bool          { return c.move(func(x *cursor) bool { return x.First() }) }
func (c *roCursor) Last() bool           { return c.move(func(x *cursor) bool { return x.Last() }) }
func (c *roCursor) SeekGE(k []byte) bool { return c.move(func(x *cursor) bool { return x.SeekGE(k) }) }
func (c *roCursor) SeekLT(k []byte) bool { return c.move(func(x *cursor) bool { return x.SeekLT(k) }) }
func (c *roCursor) Next() bool           { return c.move(func(x *cursor) bool { return x.Next() }) }
func (c *roCursor) Prev() bool           { return c.move(func(x *cursor) bool { return x.Prev() }) }

func (c *roCursor) Key() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	return c.c.Key()
}

func (c *roCursor) Value() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	return c.c.Value()
}

func (c *roCursor) Error() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		if c.b.closed.Load() {
			return state.ErrClosed
		}
		return nil
	}
	return c.c.Error()
}

func (c *roCursor) Close() error {
	c.b.roMu.Lock()
	delete(c.b.ro, c)
	c.b.roMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.c.Iterator.Close()
}
