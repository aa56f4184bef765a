package connectjson

import (
	"encoding/binary"
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
	i := plainPrefix(s)
	if i == len(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	return appendStringFrom(dst, s, i)
}

// appendStringFrom is AppendString given that s[:i] needs no escaping.
func appendStringFrom(dst []byte, s string, i int) []byte {
	dst = append(dst, '"')
	start := 0
	for i < len(s) {
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

// plainPrefix returns the length of s's longest prefix of bytes that a JSON
// string holds as they are (printable ASCII but '"' and '\\'), testing
// eight bytes at a time: most strings are plain, and the byte-at-a-time
// loop was most of the time spent writing JSON.
func plainPrefix(s string) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64([]byte(s[i : i+8]))
		// A byte < 0x20, '"' (0x22), '\\' (0x5C) or >= 0x80 sets its high
		// bit in one of these (the classic has-less and has-zero tests,
		// exact about whether any byte matches).
		ctl := (x - 0x20*ones) &^ x
		quote := x ^ 0x22*ones
		quote = (quote - ones) &^ quote
		bs := x ^ 0x5C*ones
		bs = (bs - ones) &^ bs
		if (ctl|quote|bs|x)&highs != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if b := s[i]; b >= utf8.RuneSelf || !plainASCII[b] {
			break
		}
	}
	return i
}

const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

// appendInt is strconv.AppendInt(dst, n, 10), two digits a step into a
// stack buffer: change events hold many long integers (timestamps in ms,
// µs and ns, LSNs), and strconv's general routine was a quarter of the
// time spent writing them.
func appendInt(dst []byte, n int64) []byte {
	if n >= 0 && n < 10 {
		return append(dst, byte('0'+n))
	}
	u := uint64(n)
	if n < 0 {
		dst = append(dst, '-')
		u = -u
	}
	var b [20]byte
	i := len(b)
	for u >= 100 {
		q := u / 100
		r := (u - q*100) * 2
		u = q
		i -= 2
		b[i], b[i+1] = digitPairs[r], digitPairs[r+1]
	}
	if u >= 10 {
		i -= 2
		b[i], b[i+1] = digitPairs[u*2], digitPairs[u*2+1]
	} else {
		i--
		b[i] = byte('0' + u)
	}
	return append(dst, b[i:]...)
}
