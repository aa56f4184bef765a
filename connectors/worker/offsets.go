package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/listoffsets"
)

// Source offsets live in a compacted topic in Kafka Connect's layout, so
// Connect's tooling reads them and Sluice reads Connect's: the key is the
// JSON array ["<connector>", {<source partition>}], the value the JSON
// object {<source offset>}, a tombstone deletes the partition's offset. The
// record is placed by murmur2 of the key, as Connect's producer does.

// offsetKey encodes a source partition's key. encoding/json sorts map
// keys, so one partition always has the same bytes (compaction keeps one
// record per partition).
func offsetKey(connector string, partition map[string]any) ([]byte, error) {
	b, err := json.Marshal([]any{connector, partition})
	if err != nil {
		return nil, fmt.Errorf("worker: source partition %v of connector %q is not JSON-encodable: %w", partition, connector, err)
	}
	return b, nil
}

// partitionID is the canonical text of a source partition, for maps.
func partitionID(partition map[string]any) (string, error) {
	b, err := json.Marshal(partition)
	if err != nil {
		return "", fmt.Errorf("worker: source partition %v is not JSON-encodable: %w", partition, err)
	}
	return string(b), nil
}

// offsetRecord is the offsets-topic record for one source offset (a
// tombstone when offset is nil).
func offsetRecord(topic, connector string, so connectors.SourceOffset) (*kgo.Record, error) {
	key, err := offsetKey(connector, so.Partition)
	if err != nil {
		return nil, err
	}
	rec := &kgo.Record{Topic: topic, Key: key, Partition: -1}
	if so.Offset != nil {
		if rec.Value, err = json.Marshal(so.Offset); err != nil {
			return nil, fmt.Errorf("worker: source offset %v of connector %q is not JSON-encodable: %w", so.Offset, connector, err)
		}
	}
	return rec, nil
}

// decodeOffsetRecord parses an offsets-topic record. ok is false for
// records of other connectors and for records that are not in Connect's
// layout (they are skipped, as Connect skips them).
func decodeOffsetRecord(connector string, r *kgo.Record) (id string, so connectors.SourceOffset, ok bool) {
	var key []json.RawMessage
	if err := json.Unmarshal(r.Key, &key); err != nil || len(key) != 2 {
		return "", so, false
	}
	var name string
	if err := json.Unmarshal(key[0], &name); err != nil || name != connector {
		return "", so, false
	}
	if err := unmarshalNumbers(key[1], &so.Partition); err != nil || so.Partition == nil {
		return "", so, false
	}
	id, err := partitionID(so.Partition)
	if err != nil {
		return "", so, false
	}
	if r.Value != nil {
		if err := unmarshalNumbers(r.Value, &so.Offset); err != nil {
			return "", so, false
		}
	}
	return id, so, true
}

// unmarshalNumbers decodes JSON keeping whole numbers as int64 (and others
// as float64), so offsets such as byte positions come back as they went in
// rather than as float64.
func unmarshalNumbers(data []byte, v *map[string]any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	fixNumbers(*v)
	return nil
}

func fixNumbers(m map[string]any) {
	for k, v := range m {
		m[k] = fixNumber(v)
	}
}

func fixNumber(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		fixNumbers(x)
	case []any:
		for i := range x {
			x[i] = fixNumber(x[i])
		}
	}
	return v
}

// ReadSourceOffsets reads the committed offsets of a source connector from
// an offsets topic: the whole topic up to its end, read committed (Kafka
// Connect's OffsetStorageReader), waiting for transactions open on it to
// end. opts are the connection settings.
func ReadSourceOffsets(ctx context.Context, opts []kgo.Opt, topic, connector string) ([]connectors.SourceOffset, error) {
	m, err := readOffsets(ctx, opts, topic, connector, nil)
	if err != nil {
		return nil, err
	}
	return sortedOffsets(m), nil
}

// sortedOffsets returns the offsets of m (keyed by source partition id) in
// id order.
func sortedOffsets(m map[string]connectors.SourceOffset) []connectors.SourceOffset {
	out := make([]connectors.SourceOffset, 0, len(m))
	for _, id := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[id])
	}
	return out
}

// readOffsets folds the offsets topic into the latest offset of each source
// partition of connector.
func readOffsets(ctx context.Context, opts []kgo.Opt, topic, connector string, log *slog.Logger) (map[string]connectors.SourceOffset, error) {
	admCl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("worker: offsets reader: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	// Read to the high watermark, not the last stable offset: committed
	// offsets of this connector may sit behind another task's open
	// transaction (a live sibling's, or a crashed one's not yet fenced),
	// and reading only to the LSO would miss them and resume from an older
	// offset. read_committed returns records only up to the LSO, so this
	// waits until the transactions open now have ended (committed,
	// aborted by their task's next incarnation, or by the transaction
	// timeout).
	ends, err := listoffsets.Retry(ctx, func(ctx context.Context) (kadm.ListedOffsets, error) { return adm.ListEndOffsets(ctx, topic) })
	if err != nil {
		return nil, fmt.Errorf("worker: end offsets of offsets topic %q: %w", topic, err)
	}
	starts, err := listoffsets.Retry(ctx, func(ctx context.Context) (kadm.ListedOffsets, error) { return adm.ListStartOffsets(ctx, topic) })
	if err != nil {
		return nil, fmt.Errorf("worker: start offsets of offsets topic %q: %w", topic, err)
	}
	want := map[int32]int64{}
	from := map[string]map[int32]kgo.Offset{topic: {}}
	var listErr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			listErr = fmt.Errorf("worker: end offset of offsets topic %s[%d]: %w", o.Topic, o.Partition, o.Err)
			return
		}
		start := int64(0)
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && s.Err == nil {
			start = s.Offset
		}
		if o.Offset > start {
			want[o.Partition] = o.Offset
			from[topic][o.Partition] = kgo.NewOffset().At(start)
		}
	})
	if listErr != nil {
		return nil, listErr
	}
	out := map[string]connectors.SourceOffset{}
	if len(want) == 0 {
		return out, nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, opts...),
		kgo.ConsumePartitions(from), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		return nil, fmt.Errorf("worker: offsets reader: %w", err)
	}
	defer cl.Close()
	began, warned := time.Now(), false
	for len(want) > 0 {
		if !warned && time.Since(began) > 5*time.Second && log != nil {
			warned = true
			log.Warn("worker: reading offsets waits for transactions still open on the offsets topic (a crashed task's are aborted when it restarts or after the transaction timeout)",
				"topic", topic, "partitions_pending", len(want))
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("worker: reading offsets topic %q: %w", topic, err)
		}
		var fetchErr error
		fs.EachError(func(t string, p int32, e error) {
			if fetchErr == nil && !errors.Is(e, context.Canceled) && !errors.Is(e, context.DeadlineExceeded) {
				fetchErr = fmt.Errorf("worker: reading offsets topic %s[%d]: %w", t, p, e)
			}
		})
		if fetchErr != nil {
			return nil, fetchErr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			id, so, ok := decodeOffsetRecord(connector, r)
			if !ok {
				return
			}
			if so.Offset == nil {
				delete(out, id)
				return
			}
			out[id] = so
		})
	}
	return out, nil
}
