package connectjson

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// appendStringByByte is AppendString without the eight-bytes-at-a-time
// prefix scan: the reference the fast path must match.
func appendStringByByte(dst []byte, s string) []byte { return appendStringFrom(dst, s, 0) }

// Every byte that needs care, at every position of strings around the
// eight-byte word size, in plain text.
func TestAppendStringMatchesByteLoop(t *testing.T) {
	special := []string{"\"", "\\", "\n", "\x00", "\x1f", "\x7f", " ", "!", "#", "[", "]", "\x80", "é", "€", "\xff", "\u2028", "<"}
	for n := 0; n <= 20; n++ {
		for pos := 0; pos <= n; pos++ {
			for _, sp := range special {
				b := make([]byte, 0, n+4)
				for i := 0; i < n; i++ {
					if i == pos {
						b = append(b, sp...)
					}
					b = append(b, byte('a'+i%26))
				}
				if pos == n {
					b = append(b, sp...)
				}
				s := string(b)
				if got, want := string(AppendString(nil, s)), string(appendStringByByte(nil, s)); got != want {
					t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			if rng.IntN(8) == 0 {
				b[i] = byte(rng.IntN(256))
			} else {
				b[i] = byte(0x20 + rng.IntN(0x5f))
			}
		}
		if got, want := string(AppendString([]byte("x"), string(b))), string(appendStringByByte([]byte("x"), string(b))); got != want {
			t.Fatalf("AppendString(%q) = %s, want %s", b, got, want)
		}
	}
}

func BenchmarkAppendString(b *testing.B) {
	s := "order note 123456 with a longer plain ASCII text of the kind columns hold"
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendString(buf[:0], s)
	}
}

func BenchmarkAppendStringByByte(b *testing.B) {
	s := "order note 123456 with a longer plain ASCII text of the kind columns hold"
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		buf = appendStringByByte(buf[:0], s)
	}
}

func TestAppendIntMatchesStrconv(t *testing.T) {
	check := func(n int64) {
		if got, want := string(appendInt([]byte("x"), n)), strconv.AppendInt([]byte("x"), n, 10); got != string(want) {
			t.Fatalf("appendInt(%d) = %s, want %s", n, got, want)
		}
	}
	for _, n := range []int64{0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, -1, -9, -10, -99, -100, math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1} {
		check(n)
	}
	for p := int64(1); p < math.MaxInt64/10; p *= 10 {
		for _, d := range []int64{-1, 0, 1} {
			check(p + d)
			check(-(p + d))
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		n := int64(rng.Uint64())
		check(n)
		check(n >> rng.IntN(64))
	}
}
