package transforms

import (
	"math"
	"math/big"
	"testing"
)

// Expected strings are Java's Double.toString, Float.toString and
// BigDecimal.toString.
func TestJavaNumberText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		f    float64
		want string
	}{
		{1, "1.0"}, {0.1, "0.1"}, {100, "100.0"}, {1234567, "1234567.0"}, {1e7, "1.0E7"}, {0.001, "0.001"},
		{1e-4, "1.0E-4"}, {123456789.123, "1.23456789123E8"}, {math.Copysign(0, -1), "-0.0"}, {0, "0.0"},
		{math.MaxFloat64, "1.7976931348623157E308"}, {math.SmallestNonzeroFloat64, "4.9E-324"},
		{9.223372036854776e18, "9.223372036854776E18"}, {-1.125, "-1.125"}, {math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"}, {9999999.999, "9999999.999"}, {0.00123, "0.00123"},
	} {
		if got := javaDouble(c.f); got != c.want {
			t.Errorf("javaDouble(%v) = %q, want %q", c.f, got, c.want)
		}
	}
	for _, c := range []struct {
		f    float32
		want string
	}{
		{0.1, "0.1"}, {1e10, "1.0E10"}, {math.MaxFloat32, "3.4028235E38"}, {math.SmallestNonzeroFloat32, "1.4E-45"}, {32, "32.0"}, {1.1, "1.1"},
	} {
		if got := javaFloat(c.f); got != c.want {
			t.Errorf("javaFloat(%v) = %q, want %q", c.f, got, c.want)
		}
	}
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
