package core

import (
	"encoding/base64"
	"errors"
	"maps"
	"testing"
)

// TestOffsetMetaKafkaStreamsBytes checks the encoding against Kafka
// Streams' TopicPartitionMetadata#encode, computed by hand: version byte 2,
// the partition time as a big-endian long, no processor metadata, standard
// base64 with padding. 1700000000000 = 0x0000018BCFE56800, so the bytes
// are 02 00 00 01 8B CF E5 68 00: "AgAA" "AYvP" "5WgA".
func TestOffsetMetaKafkaStreamsBytes(t *testing.T) {
	for _, tc := range []struct {
		time int64
		want string
	}{
		{1700000000000, "AgAAAYvP5WgA"},
		{0, "AgAAAAAAAAAA"},
		// RecordQueue.UNKNOWN (-1) for a partition without a time.
		{unknownTime, "Av//////////"},
	} {
		if got := encodeOffsetMeta(tc.time, nil); got != tc.want {
			t.Errorf("encode(%d) = %q, want %q", tc.time, got, tc.want)
		}
		md, err := decodeOffsetMeta(tc.want)
		if err != nil {
			t.Errorf("decode(%q): %v", tc.want, err)
			continue
		}
		if md.partitionTime != tc.time || md.processor != nil {
			t.Errorf("decode(%q) = %+v, want partition time %d and no processor metadata", tc.want, md, tc.time)
		}
	}
}

func TestOffsetMetaDecode(t *testing.T) {
	// Version 1 (Kafka Streams 2.4 to 3.2): [1][long].
	v1 := base64.StdEncoding.EncodeToString([]byte{1, 0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0})
	// Version 2 with ProcessorMetadata#serialize of {"agg-store": 42}:
	// [int 1][int 9]["agg-store"][long 42].
	v2meta := []byte{2, 0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0,
		0, 0, 0, 1,
		0, 0, 0, 9, 'a', 'g', 'g', '-', 's', 't', 'o', 'r', 'e',
		0, 0, 0, 0, 0, 0, 0, 42}
	v2 := base64.StdEncoding.EncodeToString(v2meta)
	for _, tc := range []struct {
		name string
		in   string
		time int64
		proc map[string]int64
	}{
		{"empty", "", unknownTime, nil},
		{"version 1", v1, 1700000000000, nil},
		{"version 2 with processor metadata", v2, 1700000000000, map[string]int64{"agg-store": 42}},
		{"unpadded base64", base64.RawStdEncoding.EncodeToString([]byte{2, 0, 0, 0, 0, 0, 0, 0, 7}), 7, nil},
	} {
		md, err := decodeOffsetMeta(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if md.partitionTime != tc.time || !maps.Equal(md.processor, tc.proc) {
			t.Errorf("%s: decoded %+v, want time %d, processor %v", tc.name, md, tc.time, tc.proc)
		}
	}
	// Processor metadata round-trips (and encodes as Kafka Streams would
	// for a one-entry map).
	if got := encodeOffsetMeta(1700000000000, map[string]int64{"agg-store": 42}); got != v2 {
		t.Errorf("encode with processor metadata = %q, want %q", got, v2)
	}
	md, err := decodeOffsetMeta(encodeOffsetMeta(5, map[string]int64{"b": -3, "a": 1 << 40}))
	if err != nil || md.partitionTime != 5 || !maps.Equal(md.processor, map[string]int64{"b": -3, "a": 1 << 40}) {
		t.Errorf("round trip: %+v, %v", md, err)
	}

	// Not ours: franz-go's default (the member id), other tools' strings,
	// truncated or padded versions, an unknown version.
	for _, in := range []string{
		"sluice-StreamThread-1-6e0c8a53-0a4e-4b0c-9a3f-1f0e8b1d2c3a",
		"kgo",
		"hello world",
		base64.StdEncoding.EncodeToString([]byte{2, 0, 0, 0}),
		base64.StdEncoding.EncodeToString([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 9}),
		base64.StdEncoding.EncodeToString([]byte{3, 0, 0, 0, 0, 0, 0, 0, 1}),
		base64.StdEncoding.EncodeToString(append(v2meta[:len(v2meta):len(v2meta)], 0)),
		base64.StdEncoding.EncodeToString(v2meta[:len(v2meta)-1]),
	} {
		md, err := decodeOffsetMeta(in)
		if !errors.Is(err, errForeignOffsetMeta) {
			t.Errorf("decode(%q): err %v, want errForeignOffsetMeta", in, err)
		}
		if md.partitionTime != unknownTime || md.processor != nil {
			t.Errorf("decode(%q) = %+v, want nothing", in, md)
		}
	}
}

func TestMergeProcessorMeta(t *testing.T) {
	got := mergeProcessorMeta(nil, map[string]int64{"a": 1, "b": 5})
	got = mergeProcessorMeta(got, map[string]int64{"a": 3, "b": 2})
	got = mergeProcessorMeta(got, nil)
	if want := map[string]int64{"a": 3, "b": 5}; !maps.Equal(got, want) {
		t.Errorf("merged %v, want %v", got, want)
	}
}

// FuzzDecodeOffsetMeta: committed metadata is whatever any client wrote;
// decoding never panics, and what decodes encodes back to the same time
// and processor metadata.
func FuzzDecodeOffsetMeta(f *testing.F) {
	f.Add("AgAAAYvP5WgA")
	f.Add("AQAAAYvP5WgA")
	f.Add("Av//////////")
	f.Add(encodeOffsetMeta(9, map[string]int64{"x": 1}))
	f.Add("member-1")
	f.Fuzz(func(t *testing.T, in string) {
		md, err := decodeOffsetMeta(in)
		if err != nil {
			return
		}
		again, err := decodeOffsetMeta(encodeOffsetMeta(md.partitionTime, md.processor))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if again.partitionTime != md.partitionTime || !maps.Equal(again.processor, md.processor) {
			t.Fatalf("round trip %+v -> %+v", md, again)
		}
	})
}
