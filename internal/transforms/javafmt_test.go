package transforms

import (
	"math/big"
	"testing"
)

// Expected strings are Java's BigDecimal.toString (Double.toString and
// Float.toString are internal/javafmt's, tested there).
func TestJavaNumberText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		unscaled int64
		scale    int
		want     string
	}{
		{123, 0, "123"}, {123, 2, "1.23"}, {123, 5, "0.00123"}, {123, 8, "0.00000123"}, {123, 9, "1.23E-7"},
		{-123, 2, "-1.23"}, {123, -2, "1.23E+4"}, {0, 2, "0.00"}, {0, 8, "0E-8"}, {1, -1, "1E+1"},
	} {
		r := new(big.Rat).SetFrac(big.NewInt(c.unscaled), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(c.scale, 0))), nil))
		if c.scale < 0 {
			r = new(big.Rat).SetInt(new(big.Int).Mul(big.NewInt(c.unscaled), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-c.scale)), nil)))
		}
		if got := string(appendJavaDecimal(nil, r, c.scale)); got != c.want {
			t.Errorf("BigDecimal(%d, scale %d) = %q, want %q", c.unscaled, c.scale, got, c.want)
		}
	}
	if got := string(appendJavaDecimal(nil, big.NewRat(1, 3), 2)); got != "0.33" {
		t.Errorf("1/3 at scale 2 = %q", got)
	}
	if got := string(appendJavaDecimal(nil, big.NewRat(-5, 2), noScale)); got != "-2.5" {
		t.Errorf("-5/2 without scale = %q", got)
	}
}
