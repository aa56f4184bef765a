// Package javafmt writes values as Java writes them, for output that must
// match Kafka Connect's and Confluent's byte for byte: Double.toString and
// Float.toString, BigDecimal.toString, and the date patterns of
// SimpleDateFormat and Joda-Time (the part of their syntax and letters
// they share). Every function is safe for concurrent use.
package javafmt

import (
	"math"
	"math/big"
	"strconv"
)

// AppendDouble appends f as Java's Double.toString writes it (JDK 19 and
// later, whose algorithm is specified): the shortest digits that identify
// the value, at least two, in plain notation with at least one fractional
// digit for 1e-3 <= |f| < 1e7 ("42.0", "0.001"), in computerized
// scientific notation otherwise ("1.0E7", "1.0E-4"); "NaN", "Infinity",
// "-Infinity".
func AppendDouble(dst []byte, f float64) []byte { return appendFloat(dst, f, 64) }

// AppendFloat appends f as Java's Float.toString writes it (the rules of
// [AppendDouble] at float precision).
func AppendFloat(dst []byte, f float32) []byte { return appendFloat(dst, float64(f), 32) }

// Double is [AppendDouble] as a string.
func Double(f float64) string {
	var buf [32]byte
	return string(AppendDouble(buf[:0], f))
}

// Float is [AppendFloat] as a string.
func Float(f float32) string {
	var buf [32]byte
	return string(AppendFloat(buf[:0], f))
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	if math.Signbit(f) {
		dst = append(dst, '-')
		f = -f
	}
	if f == 0 {
		return append(dst, "0.0"...)
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, bits) // d[.ddd]e±XX
	plain := f >= 1e-3 && f < 1e7
	if e[1] == 'e' && !plain {
		// One digit is shortest, but scientific notation shows two, and
		// Java chooses the two-digit decimal closest to the value
		// (4.9E-324, not 5.0E-324). (In the plain range a one-digit
		// shortest value is exact to two digits, so ".0" is right there.)
		e = strconv.AppendFloat(buf[:0], f, 'e', 1, bits)
	}
	var digitsBuf [24]byte
	digits := digitsBuf[:0]
	i := 0
	for ; e[i] != 'e'; i++ {
		if e[i] != '.' {
			digits = append(digits, e[i])
		}
	}
	exp, _ := strconv.Atoi(string(e[i+1:]))
	if plain {
		if exp >= 0 {
			intLen := exp + 1
			if len(digits) <= intLen {
				dst = append(dst, digits...)
				for k := len(digits); k < intLen; k++ {
					dst = append(dst, '0')
				}
				return append(dst, ".0"...)
			}
			dst = append(dst, digits[:intLen]...)
			dst = append(dst, '.')
			return append(dst, digits[intLen:]...)
		}
		dst = append(dst, "0."...)
		for k := 0; k < -exp-1; k++ {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	dst = append(dst, digits[0], '.')
	if len(digits) > 1 {
		dst = append(dst, digits[1:]...)
	} else {
		dst = append(dst, '0')
	}
	dst = append(dst, 'E')
	return strconv.AppendInt(dst, int64(exp), 10)
}

// AppendBigDecimal appends unscaled × 10^-scale as Java's
// BigDecimal.toString writes it (and so Jackson, for Kafka Connect's
// decimal.format=NUMERIC): plain when the scale is not negative and the
// adjusted exponent is at least -6 ("12.30", "0.000001"), scientific
// otherwise ("1E-7", "1.23E+5").
func AppendBigDecimal(dst []byte, unscaled *big.Int, scale int) []byte {
	var buf [64]byte
	digits := unscaled.Append(buf[:0], 10)
	if digits[0] == '-' {
		dst = append(dst, '-')
		digits = digits[1:]
	}
	if scale == 0 {
		return append(dst, digits...)
	}
	adjusted := len(digits) - 1 - scale
	if scale > 0 && adjusted >= -6 {
		point := len(digits) - scale
		if point > 0 {
			dst = append(dst, digits[:point]...)
			dst = append(dst, '.')
			return append(dst, digits[point:]...)
		}
		dst = append(dst, '0', '.')
		for range -point {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	dst = append(dst, digits[0])
	if len(digits) > 1 {
		dst = append(dst, '.')
		dst = append(dst, digits[1:]...)
	}
	// adjusted is never 0 here: scientific notation is for a negative
	// scale (adjusted > 0) or adjusted < -6.
	dst = append(dst, 'E')
	if adjusted > 0 {
		dst = append(dst, '+')
	}
	return strconv.AppendInt(dst, int64(adjusted), 10)
}
