package connectjson

import (
	"math"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/javafmt"
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
func AppendFloat64(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(javafmt.AppendDouble(append(dst, '"'), f), '"')
	}
	return javafmt.AppendDouble(dst, f)
}

// AppendFloat32 appends f as Jackson writes a Java float (Float.toString).
func AppendFloat32(dst []byte, f float32) []byte {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return append(javafmt.AppendFloat(append(dst, '"'), f), '"')
	}
	return javafmt.AppendFloat(dst, f)
}
