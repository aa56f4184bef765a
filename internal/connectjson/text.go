package connectjson

import (
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
)

// This file writes JSON scalars the way Kafka Connect's JsonConverter does
// through Jackson, so that Sluice's bytes match Connect's: strings escape
// only what JSON requires (", \ and control characters, with Jackson's
// \b \t \n \f \r short forms and upper-case \u00XX), leaving '<', '>', '&',
// U+2028 and U+2029 as they are (encoding/json escapes them); floating-point
// numbers use Java's Double.toString and Float.toString forms ("1.0",
// "1.0E10"); NaN and infinities are written as the strings Jackson writes
// ("NaN", "Infinity", "-Infinity"). Invalid UTF-8 is replaced by U+FFFD, as
// encoding/json does (a Java string cannot hold it).

const hexUpper = "0123456789ABCDEF"

// plainASCII[b] is true for bytes that are copied into a JSON string as they
// are.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// AppendString appends s as a JSON string, escaped as Jackson (and so Kafka
// Connect) escapes it; invalid UTF-8 becomes U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if plainASCII[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexUpper[b>>4], hexUpper[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendFloat64 appends f as Jackson writes a Java double: Double.toString's
// form ("1.0", "0.001", "1.0E7", "1.0E-4"), with the shortest digits that
// read back as f. NaN and infinities are written as the JSON strings "NaN",
// "Infinity" and "-Infinity".
func AppendFloat64(dst []byte, f float64) []byte { return appendJavaFloat(dst, f, 64) }

// AppendFloat32 appends f as Jackson writes a Java float (Float.toString).
func AppendFloat32(dst []byte, f float32) []byte { return appendJavaFloat(dst, float64(f), 32) }

func appendJavaFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	// Shortest digits d1.d2d3...e±x; Java uses the same (shortest
	// round-trip) digits since JDK 19 and the same thresholds always:
	// plain notation for 1e-3 <= |f| < 1e7, computerized scientific
	// notation otherwise.
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, bits)
	mant, exp := splitExp(e)
	digits := make([]byte, 0, len(mant))
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	if exp >= -3 && exp < 7 {
		if exp >= 0 {
			intLen := exp + 1
			if len(digits) <= intLen {
				dst = append(dst, digits...)
				for range intLen - len(digits) {
					dst = append(dst, '0')
				}
				return append(dst, '.', '0')
			}
			dst = append(dst, digits[:intLen]...)
			dst = append(dst, '.')
			return append(dst, digits[intLen:]...)
		}
		dst = append(dst, '0', '.')
		for range -exp - 1 {
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

// splitExp splits strconv's 'e' format ("1.2345e+07") into mantissa and
// exponent.
func splitExp(e []byte) ([]byte, int) {
	for i := len(e) - 1; i >= 0; i-- {
		if e[i] == 'e' {
			exp, _ := strconv.Atoi(string(e[i+1:]))
			return e[:i], exp
		}
	}
	return e, 0
}

// AppendBigDecimal appends unscaled × 10^-scale as Java's
// BigDecimal.toString writes it (what Jackson writes for a decimal with
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
	dst = append(dst, 'E')
	if adjusted > 0 {
		dst = append(dst, '+')
	}
	return strconv.AppendInt(dst, int64(adjusted), 10)
}
