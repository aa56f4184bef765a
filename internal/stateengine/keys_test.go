package stateengine

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// The escaped encoding keeps the raw keys' order and is prefix-free.
func TestEscapedOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gen := func() []byte {
		b := make([]byte, r.IntN(5))
		for i := range b {
			b[i] = []byte{0, 1, 0xFF, 'a'}[r.IntN(4)]
		}
		return b
	}
	for i := 0; i < 20000; i++ {
		a, b := gen(), gen()
		ea, eb := appendEscaped(nil, a), appendEscaped(nil, b)
		if want, got := bytes.Compare(a, b), bytes.Compare(ea, eb); want != got {
			t.Fatalf("%x vs %x: raw %d, escaped %d", a, b, want, got)
		}
		if !bytes.Equal(a, b) && (bytes.HasPrefix(ea, eb) || bytes.HasPrefix(eb, ea)) {
			t.Fatalf("%x and %x encode with a common prefix", a, b)
		}
		dec, rest, err := readEscaped(nil, append(ea, 7))
		if err != nil || !bytes.Equal(dec, a) || !bytes.Equal(rest, []byte{7}) {
			t.Fatalf("decode %x: %x %x %v", a, dec, rest, err)
		}
	}
	for _, tc := range []struct{ t, i, want int64 }{{0, 10, 0}, {9, 10, 0}, {10, 10, 1}, {-1, 10, -1}, {-10, 10, -1}, {-11, 10, -2}} {
		if got := segmentID(tc.t, tc.i); got != tc.want {
			t.Errorf("segmentID(%d, %d) = %d, want %d", tc.t, tc.i, got, tc.want)
		}
	}
}
