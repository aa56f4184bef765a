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

// ingestEntry is one point write of the transaction being ingested.
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

// mergeIngestEntries merges two sorted runs; a is returned as is when b
// is empty.
func mergeIngestEntries(a, b []ingestEntry) []ingestEntry {
	if len(b) == 0 {
		return a
	}
	out := make([]ingestEntry, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if compareIngestEntries(a[0], b[0]) <= 0 {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	out = append(out, a...)
	return append(out, b...)
}

// commitByIngest commits the pending transaction (restore writes in bulk,
// then owner writes in idx) by writing it into new tables and ingesting
// them into the DB in one step, instead of committing a batch: a restore
// batch (100,000 records) would otherwise go to the WAL, then through a
// flushable batch to an L0 table, and every such table would overlap the
// others (each batch carries the checkpoint key under MetaPrefix, below all
// data), so compactions rewrote the restored data again and again
// (measured on `sluice bench --only restore`: compactions, flushes and the
// WAL were half of the restore's CPU time). Here the engine's metadata and
// the data go to separate tables; a data table overlapping no other lands
// directly in the bottom level, without compaction (changelogs of
// increasing keys), and the others in L0, as a flush would put them.
//
// Ingesting several tables is one manifest edit, so data and checkpoints
// become visible and durable together, as with a batch. It reports false,
// having done nothing, when the transaction holds other than point sets
// and deletes (range deletions of window retention): the caller commits it
// as a batch.
func (b *backend) commitByIngest() (bool, error) {
	// The restore writes, then the owner's (checkpoints, registry): each
	// run sorted on its own, then merged; a run of increasing keys (a
	// changelog written in key order) needs no sort.
	collect := func(batch *pebble.Batch, seq int) ([]ingestEntry, bool, error) {
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
				entries = append(entries, ingestEntry{key: key, value: value, seq: seq + len(entries)})
			case pebble.InternalKeyKindDelete:
				entries = append(entries, ingestEntry{key: key, del: true, seq: seq + len(entries)})
			default:
				return nil, false, nil
			}
		}
		if !slices.IsSortedFunc(entries, compareIngestEntries) {
			slices.SortFunc(entries, compareIngestEntries)
		}
		return entries, true, nil
	}
	restored, ok, err := collect(b.bulk, 0)
	if !ok || err != nil {
		return false, err
	}
	owner, ok, err := collect(b.idx, len(restored))
	if !ok || err != nil {
		return false, err
	}
	entries := mergeIngestEntries(restored, owner)

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
	for i, e := range entries {
		if i+1 < len(entries) && bytes.Equal(entries[i+1].key, e.key) {
			continue // overwritten later in the transaction
		}
		meta := len(e.key) > 0 && e.key[0] == stateengine.MetaPrefix
		if w == nil || meta != wMeta {
			if err := finish(); err != nil {
				return false, err
			}
			b.ingestSeq++
			path := filepath.Join(b.dir, fmt.Sprintf("%s%d.sst", ingestFilePrefix, b.ingestSeq))
			f, err := vfs.Default.Create(path, vfs.WriteCategoryUnspecified)
			if err != nil {
				return false, err
			}
			paths = append(paths, path)
			w = sstable.NewWriter(objstorageprovider.NewFileWritable(f), b.writerOpts)
			wMeta = meta
		}
		var err error
		if e.del {
			err = w.Delete(e.key)
		} else {
			err = w.Set(e.key, e.value)
		}
		if err != nil {
			w.Close()
			w = nil
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
