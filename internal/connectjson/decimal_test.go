package connectjson

import (
	"math"
	"math/big"
	"testing"
)

// DecimalFromInt64 builds the fraction without big.Rat's normalisation:
// it must equal SetFrac64's normalised result exactly (same numerator and
// denominator), and behave as any Rat in later arithmetic.
func TestDecimalFromInt64(t *testing.T) {
	values := []int64{0, 1, -1, 2, 5, 10, 25, 125, 1000, 1234567, -1234500, 999999999999999999,
		-999999999999999999, 1 << 40, -(1 << 40), 3, 7, 20, 50, 640, math.MaxInt64 / 10}
	for _, n := range values {
		for scale := 0; scale <= 18; scale++ {
			got := DecimalFromInt64(n, scale)
			want := new(big.Rat).SetFrac64(n, int64(pow10s[scale]))
			if got.Num().Cmp(want.Num()) != 0 || got.Denom().Cmp(want.Denom()) != 0 {
				t.Fatalf("DecimalFromInt64(%d, %d) = %s, want %s", n, scale, got.RatString(), want.RatString())
			}
			if sum := new(big.Rat).Add(got, want); sum.Cmp(new(big.Rat).Mul(want, big.NewRat(2, 1))) != 0 {
				t.Fatalf("DecimalFromInt64(%d, %d): arithmetic gives %s", n, scale, sum.RatString())
			}
			if u, err := DecimalUnscaled(got, scale); err != nil || !u.IsInt64() || u.Int64() != n {
				t.Fatalf("DecimalFromInt64(%d, %d) unscales to %v, %v", n, scale, u, err)
			}
		}
	}
	for _, scale := range []int{-2, 19, 30} {
		got := DecimalFromInt64(12345, scale)
		if want := DecimalFromUnscaled(big.NewInt(12345), scale); got.Cmp(want) != 0 {
			t.Fatalf("DecimalFromInt64(12345, %d) = %s, want %s", scale, got.RatString(), want.RatString())
		}
	}
}

func BenchmarkDecimalFromInt64(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = DecimalFromInt64(int64(i)*7+12345, 2)
	}
}

func BenchmarkDecimalSetFrac64(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = new(big.Rat).SetFrac64(int64(i)*7+12345, 100)
	}
}
