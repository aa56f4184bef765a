package pebblestate

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/sluicehq/sluice/internal/stateengine"
)

// ingestMinBytes is the smallest restore batch committed by ingestion
// rather than through the memtable: below it, the memtable is cheaper
// than writing and linking table files.
const ingestMinBytes = 4 << 20

// ingestFilePrefix names the tables written for ingestion in the DB's
// directory; Pebble links them in under its own names and they are removed
// after the ingestion (or, left by a crash, when the engine is opened).
const ingestFilePrefix = "sluice-ingest-"

// removeIngestLeftovers removes tables a crash left before their ingestion.
func removeIngestLeftovers(dir string) error {
	paths, err := filepath.Glob(filepath.Join(dir, ingestFilePrefix+"*.sst"))
	if err != nil {
		return err
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}

// ingestEntry is one point write of the owner in the transaction being
// ingested.
type ingestEntry struct {
	key, value []byte
	del        bool
	seq        int // position in the transaction: the last write of a key wins
}

func compareIngestEntries(x, y ingestEntry) int {
	if c := bytes.Compare(x.key, y.key); c != 0 {
		return c
	}
	return cmp.Compare(x.seq, y.seq)
}

// collectPointWrites reads a batch's writes, sorted by key (a key's writes
// in order); it reports false if the batch holds other than point sets and
// deletes.
func collectPointWrites(batch *pebble.Batch) ([]ingestEntry, bool, error) {
	entries := make([]ingestEntry, 0, batch.Count())
	r := batch.Reader()
	for {
		kind, key, value, ok, err := r.Next()
		if err != nil {
			return nil, false, err
		}
		if !ok {
			break
		}
		switch kind {
		case pebble.InternalKeyKindSet:
			entries = append(entries, ingestEntry{key: key, value: value, seq: len(entries)})
		case pebble.InternalKeyKindDelete:
			entries = append(entries, ingestEntry{key: key, del: true, seq: len(entries)})
		default:
			return nil, false, nil
		}
	}
	if !slices.IsSortedFunc(entries, compareIngestEntries) {
		slices.SortFunc(entries, compareIngestEntries)
	}
	return entries, true, nil
}

// commitByIngest commits the pending transaction (the restore run, then
// the owner's writes in idx; bulk is empty) by writing it into new tables
// and ingesting them into the DB in one step, instead of committing a
// batch: a restore batch (100,000 records) would otherwise go to the WAL,
// then through a flushable batch to an L0 table, and every such table
// would overlap the others (each batch carries the checkpoint key under
// MetaPrefix, below all data), so compactions rewrote the restored data
// again and again (measured on `sluice bench --only restore`: compactions,
// flushes and the WAL were half of the restore's CPU time). Here the
// engine's metadata and the data go to separate tables; a data table
// overlapping no other lands directly in the bottom level, without
// compaction (changelogs of increasing keys), and the others in L0, as a
// flush would put them.
//
// Ingesting several tables is one manifest edit, so data and checkpoints
// become visible and durable together, as with a batch. It reports false,
// having done nothing, when the owner's writes hold other than point sets
// and deletes (range deletions of window retention): the caller commits
// the transaction as a batch.
func (b *backend) commitByIngest() (bool, error) {
	owner, ok, err := collectPointWrites(b.idx)
	if !ok || err != nil {
		return false, err
	}
	// The run sorted (a changelog of increasing keys is already), then
	// merged with the owner's few writes while the tables are written:
	// of equal keys, the owner's write is the later one.
	run := &b.run
	run.sort()

	var paths []string
	defer func() {
		for _, p := range paths {
			_ = os.Remove(p)
		}
	}()
	var w *sstable.Writer
	var wMeta bool
	finish := func() error {
		if w == nil {
			return nil
		}
		err := w.Close()
		w = nil
		return err
	}
	write := func(key, value []byte, del bool) error {
		meta := len(key) > 0 && key[0] == stateengine.MetaPrefix
		if w == nil || meta != wMeta {
			if err := finish(); err != nil {
				return err
			}
			b.ingestSeq++
			path := filepath.Join(b.dir, fmt.Sprintf("%s%d.sst", ingestFilePrefix, b.ingestSeq))
			f, err := vfs.Default.Create(path, vfs.WriteCategoryUnspecified)
			if err != nil {
				return err
			}
			paths = append(paths, path)
			w = sstable.NewWriter(objstorageprovider.NewFileWritable(f), b.writerOpts)
			wMeta = meta
		}
		if del {
			return w.Delete(key)
		}
		return w.Set(key, value)
	}
	entries := run.entries
	i, j := 0, 0
	for i < len(entries) || j < len(owner) {
		// Of a key's writes within each run, the last wins.
		if i+1 < len(entries) && bytes.Equal(run.key(entries[i]), run.key(entries[i+1])) {
			i++
			continue
		}
		if j+1 < len(owner) && bytes.Equal(owner[j].key, owner[j+1].key) {
			j++
			continue
		}
		var err error
		switch {
		case i < len(entries) && j < len(owner):
			e, o := entries[i], owner[j]
			c := bytes.Compare(run.key(e), o.key)
			switch {
			case c == 0: // overwritten by the owner
				i++
				continue
			case c < 0:
				err = write(run.key(e), run.value(e), e.del)
				i++
			default:
				err = write(o.key, o.value, o.del)
				j++
			}
		case i < len(entries):
			e := entries[i]
			err = write(run.key(e), run.value(e), e.del)
			i++
		default:
			o := owner[j]
			err = write(o.key, o.value, o.del)
			j++
		}
		if err != nil {
			if w != nil {
				w.Close()
				w = nil
			}
			return false, err
		}
	}
	if err := finish(); err != nil {
		return false, err
	}
	if len(paths) == 0 {
		return true, nil
	}
	if err := b.db.Ingest(context.Background(), paths); err != nil {
		return false, fmt.Errorf("ingest restored tables: %w", err)
	}
	return true, nil
}
