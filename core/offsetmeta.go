package core

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Committed offset metadata, as Kafka Streams writes it
// (TopicPartitionMetadata): every input partition's offset is committed
// with the partition time, so that a restarted or moved task resumes with
// the stream time it had, not with none. The string is the standard
// base64 (with padding, java.util.Base64's encoder) of
//
//	version 1: [1][partition time, int64 big endian]
//	version 2: [2][partition time, int64 big endian][processor metadata]
//
// where the processor metadata (ProcessorMetadata#serialize) is empty when
// there is none, else [entries int32] then per entry [key length int32]
// [key UTF-8][value int64], all big endian. Kafka Streams writes version 2
// and writes -1 (RecordQueue.UNKNOWN) for a partition without a time.
// Processor metadata is a map of names to times (Kafka Streams keeps the
// last emitted window close time of an emit-on-window-close aggregation
// there); Sluice keeps what it finds and commits it again, but writes none
// of its own.
const (
	offsetMetaV1     = 1
	offsetMetaLatest = 2
	// noPartitionTime is Kafka Streams' RecordQueue.UNKNOWN on the wire.
	noPartitionTime = -1
)

// offsetMeta is the decoded metadata of one committed offset.
type offsetMeta struct {
	// partitionTime is unknownTime when the metadata holds none.
	partitionTime int64
	processor     map[string]int64
}

// errForeignOffsetMeta is wrapped by decodeOffsetMeta's errors: the
// metadata was not written by Kafka Streams or Sluice (franz-go commits the
// group member id by default, for example).
var errForeignOffsetMeta = errors.New("core: offset metadata is not Kafka Streams' partition time")

// encodeOffsetMeta encodes a partition time (unknownTime for none) and
// processor metadata as Kafka Streams' TopicPartitionMetadata#encode does.
func encodeOffsetMeta(partitionTime int64, processor map[string]int64) string {
	if partitionTime < 0 {
		partitionTime = noPartitionTime
	}
	b := make([]byte, 0, 9)
	b = append(b, offsetMetaLatest)
	b = binary.BigEndian.AppendUint64(b, uint64(partitionTime))
	if len(processor) > 0 {
		// Kafka Streams writes its HashMap's order; sorted keys keep
		// Sluice's commits deterministic, and either order decodes alike.
		keys := make([]string, 0, len(processor))
		for k := range processor {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
		for _, k := range keys {
			b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
			b = append(b, k...)
			b = binary.BigEndian.AppendUint64(b, uint64(processor[k]))
		}
	}
	return base64.StdEncoding.EncodeToString(b)
}

// decodeOffsetMeta decodes committed offset metadata written by Kafka
// Streams (versions 1 and 2) or Sluice. Empty metadata is no partition
// time and no error. Anything else that is not exactly that format is an
// error wrapping errForeignOffsetMeta: Kafka Streams, more lenient, reads
// the first 9 bytes of any base64 string starting with a version byte,
// which could take a stranger's metadata for a partition time.
func decodeOffsetMeta(s string) (offsetMeta, error) {
	md := offsetMeta{partitionTime: unknownTime}
	if s == "" {
		return md, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// java.util.Base64's decoder also accepts missing padding.
		var rawErr error
		if b, rawErr = base64.RawStdEncoding.DecodeString(s); rawErr != nil {
			return md, fmt.Errorf("%w: base64: %w", errForeignOffsetMeta, err)
		}
	}
	if len(b) < 9 {
		return md, fmt.Errorf("%w: %d bytes, want at least 9", errForeignOffsetMeta, len(b))
	}
	version, rest := b[0], b[9:]
	switch version {
	case offsetMetaV1:
		if len(rest) > 0 {
			return md, fmt.Errorf("%w: version 1 with %d trailing bytes", errForeignOffsetMeta, len(rest))
		}
	case offsetMetaLatest:
		if md.processor, err = decodeProcessorMeta(rest); err != nil {
			return offsetMeta{partitionTime: unknownTime}, fmt.Errorf("%w: processor metadata: %w", errForeignOffsetMeta, err)
		}
	default:
		return md, fmt.Errorf("%w: unsupported version %d (this version reads 1 and 2)", errForeignOffsetMeta, version)
	}
	if pt := int64(binary.BigEndian.Uint64(b[1:9])); pt >= 0 {
		md.partitionTime = pt
	}
	return md, nil
}

// decodeProcessorMeta decodes ProcessorMetadata#serialize; empty is none.
func decodeProcessorMeta(b []byte) (map[string]int64, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("%d bytes, too short for an entry count", len(b))
	}
	n := int64(int32(binary.BigEndian.Uint32(b)))
	b = b[4:]
	// Every entry takes at least 12 bytes: a bound before allocating.
	if n < 0 || n > int64(len(b)/12) {
		return nil, fmt.Errorf("entry count %d does not fit %d bytes", n, len(b))
	}
	m := make(map[string]int64, n)
	for i := range n {
		if len(b) < 4 {
			return nil, fmt.Errorf("entry %d: truncated key length", i)
		}
		kl := int64(int32(binary.BigEndian.Uint32(b)))
		b = b[4:]
		if kl < 0 || kl+8 > int64(len(b)) {
			return nil, fmt.Errorf("entry %d: key length %d does not fit %d bytes", i, kl, len(b))
		}
		key := string(b[:kl])
		if !utf8.ValidString(key) {
			return nil, fmt.Errorf("entry %d: key is not UTF-8", i)
		}
		m[key] = int64(binary.BigEndian.Uint64(b[kl:]))
		b = b[kl+8:]
	}
	if len(b) > 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(b))
	}
	return m, nil
}

// mergeProcessorMeta adds from's entries to into, keeping the larger value
// of a key in both (ProcessorMetadata#update), and returns into.
func mergeProcessorMeta(into, from map[string]int64) map[string]int64 {
	for k, v := range from {
		if into == nil {
			into = make(map[string]int64, len(from))
		}
		if old, ok := into[k]; !ok || old < v {
			into[k] = v
		}
	}
	return into
}
