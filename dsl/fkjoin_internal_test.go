package dsl

import (
	"encoding/hex"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/serde"
)

// TestMurmur3x64128 checks published MurmurHash3_x64_128 digests (seed 0,
// h1 then h2 little-endian, as Guava's murmur3_128 prints them); the
// inputs cover a short tail and two blocks plus a tail past 8 bytes.
func TestMurmur3x64128(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "00000000000000000000000000000000"},
		{"hello", "029bbd41b3a7d8cb191dae486a901e5b"},
		{"The quick brown fox jumps over the lazy dog", "6c1b07bc7bbc4be347939ac4a93c437a"},
	} {
		h1, h2 := murmur3x64128([]byte(c.in), 0)
		var le [16]byte
		for i := range 8 {
			le[i], le[8+i] = byte(h1>>(8*i)), byte(h2>>(8*i))
		}
		if got := hex.EncodeToString(le[:]); got != c.want {
			t.Errorf("murmur3(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

// TestFKWireFormats: subscriptions and responses round-trip in Kafka
// Streams' layouts (with and without a hash and a foreign value).
func TestFKWireFormats(t *testing.T) {
	ss := subscriptionSerde[string]{serde.String()}
	for _, sub := range []subscription[string]{
		{Instruction: fkPropagateOnlyIfForeign, HasHash: true, Hash: valueHash([]byte("v")), Partition: 7, Key: "order-1"},
		{Instruction: fkDeleteAndPropagate, Partition: 0, Key: ""},
	} {
		b, err := ss.Serialize("t", sub)
		if err != nil {
			t.Fatal(err)
		}
		if sub.HasHash && (b[0] != 1 || len(b) != 2+16+len(sub.Key)+4) || !sub.HasHash && (b[0] != 0x81 || len(b) != 2+len(sub.Key)+4) {
			t.Errorf("subscription %+v encoded as %x", sub, b)
		}
		got, err := ss.Deserialize("t", b)
		if err != nil || !reflect.DeepEqual(got, sub) {
			t.Errorf("subscription round trip: %+v, %v; want %+v", got, err, sub)
		}
	}
	// A version 0 subscription has no partition.
	if got, err := ss.Deserialize("t", []byte{0x80, 2, 'k'}); err != nil || got.Key != "k" || got.Instruction != fkPropagateNullIfNoForeign || got.HasHash {
		t.Errorf("v0 subscription: %+v, %v", got, err)
	}
	rs := fkResponseSerde[string]{serde.String()}
	for _, resp := range []fkResponse[string]{
		{HasHash: true, Hash: valueHash([]byte("v")), HasForeign: true, Foreign: "x"},
		{HasHash: true, Hash: valueHash([]byte("v"))},
		{},
	} {
		b, err := rs.Serialize("t", resp)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rs.Deserialize("t", b)
		if err != nil || !reflect.DeepEqual(got, resp) {
			t.Errorf("response round trip: %+v, %v; want %+v", got, err, resp)
		}
	}
	for _, bad := range [][]byte{nil, {5}, {1, 9}} {
		if _, err := ss.Deserialize("t", bad); err == nil {
			t.Errorf("subscription %x: no error", bad)
		}
	}
	if _, err := rs.Deserialize("t", []byte{0, 1, 2}); err == nil {
		t.Error("short response hash: no error")
	}
}
