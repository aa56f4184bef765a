package transforms

// Text renderings that must match Kafka Connect's byte for byte: numbers
// as Java's toString writes them (Cast to string, header values), decimals
// as BigDecimal.toString, dates as Values.dateFormatFor, and header values
// as the SimpleHeaderConverter (Kafka Connect's default header converter)
// renders them.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/connectors"
)

// appendJavaFloat appends f as Java's Double.toString (bits 64) or
// Float.toString (bits 32) writes it (JDK 19 and later, whose algorithm
// is specified): the shortest digits that identify the value, at least
// two, in plain notation with at least one fractional digit for
// 1e-3 <= |f| < 1e7 ("42.0", "0.001"), in computerized scientific notation
// otherwise ("1.0E7", "1.0E-4"); "NaN", "Infinity", "-Infinity".
func appendJavaFloat(dst []byte, f float64, bits int) []byte {
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
		// shortest value is exact, so ".0" is right there.)
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

// javaDouble is appendJavaFloat as a string.
func javaDouble(f float64) string {
	var buf [32]byte
	return string(appendJavaFloat(buf[:0], f, 64))
}

// javaFloat is appendJavaFloat for a float32 as a string.
func javaFloat(f float32) string {
	var buf [32]byte
	return string(appendJavaFloat(buf[:0], float64(f), 32))
}

// decimalScale returns the scale of a Decimal schema (its "scale"
// parameter), or -1 if the schema is not a decimal.
func decimalScale(s *connectors.Schema) int {
	if s == nil || s.Name != connectors.DecimalName {
		return -1
	}
	n, err := strconv.Atoi(s.Parameters[connectors.DecimalScaleParam])
	if err != nil {
		return -1
	}
	return n
}

// unscaled returns r * 10^scale rounded half to even: the unscaled value
// of a decimal of that scale.
func unscaled(r *big.Rat, scale int) *big.Int {
	num := new(big.Int).Set(r.Num())
	den := new(big.Int).Set(r.Denom())
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(scale))), nil)
	if scale >= 0 {
		num.Mul(num, p)
	} else {
		den.Mul(den, p)
	}
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if m.Sign() != 0 {
		// Round half to even, as a decimal that does not fit its scale
		// would be by BigDecimal.setScale(HALF_EVEN).
		twice := new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2))
		c := twice.Cmp(den)
		if c > 0 || (c == 0 && q.Bit(0) == 1) {
			if num.Sign() < 0 {
				q.Sub(q, big.NewInt(1))
			} else {
				q.Add(q, big.NewInt(1))
			}
		}
	}
	return q
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// naturalScale is the smallest scale that represents r exactly (for a
// decimal without a schema), up to 64 digits.
func naturalScale(r *big.Rat) int {
	if r.IsInt() {
		return 0
	}
	x := new(big.Rat).Set(r)
	ten := big.NewRat(10, 1)
	for s := 1; s <= 64; s++ {
		x.Mul(x, ten)
		if x.IsInt() {
			return s
		}
	}
	return 64
}

// appendJavaDecimal appends r at the given scale as Java's
// BigDecimal.toString writes it: plain notation unless the scale is
// negative or the adjusted exponent is below -6 ("0.00000012" is written
// "1.2E-7").
func appendJavaDecimal(dst []byte, r *big.Rat, scale int) []byte {
	if scale == noScale {
		scale = naturalScale(r)
	}
	u := unscaled(r, scale)
	if u.Sign() < 0 {
		dst = append(dst, '-')
		u.Neg(u)
	}
	coeff := u.String()
	if scale == 0 {
		return append(dst, coeff...)
	}
	adjusted := -scale + len(coeff) - 1
	if scale > 0 && adjusted >= -6 {
		if len(coeff) > scale {
			dst = append(dst, coeff[:len(coeff)-scale]...)
			dst = append(dst, '.')
			return append(dst, coeff[len(coeff)-scale:]...)
		}
		dst = append(dst, "0."...)
		for k := len(coeff); k < scale; k++ {
			dst = append(dst, '0')
		}
		return append(dst, coeff...)
	}
	dst = append(dst, coeff[0])
	if len(coeff) > 1 {
		dst = append(dst, '.')
		dst = append(dst, coeff[1:]...)
	}
	if adjusted != 0 {
		dst = append(dst, 'E')
		if adjusted > 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(adjusted), 10)
	}
	return dst
}

// noScale marks a decimal whose scale is not known (no Decimal schema):
// it is written with the fewest fractional digits that represent it.
const noScale = math.MinInt32

// millisPerDay as Kafka Connect's Values uses it.
const millisPerDay = 24 * 60 * 60 * 1000

// appendJavaDate appends t as Kafka Connect's Values.dateFormatFor
// formats a java.util.Date: "HH:mm:ss.SSS'Z'" for values below one day
// after the epoch, "yyyy-MM-dd" for whole days, "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
// otherwise. (Kafka Connect formats in the JVM's time zone; we write UTC,
// which is what a worker in UTC writes and what the 'Z' claims.)
func appendJavaDate(dst []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	t = time.UnixMilli(ms).UTC()
	switch {
	case ms < millisPerDay:
		return t.AppendFormat(dst, "15:04:05.000Z")
	case ms%millisPerDay == 0:
		return t.AppendFormat(dst, "2006-01-02")
	}
	return t.AppendFormat(dst, "2006-01-02T15:04:05.000Z")
}

// headerBytes renders a value (of schema, nil when schemaless) as Kafka
// Connect's SimpleHeaderConverter writes header values (Values.
// convertToString): strings as they are, numbers and booleans as Java's
// toString, bytes as base64, dates as appendJavaDate, decimals as
// BigDecimal.toString, and structs, maps and arrays as JSON ({"a":1},
// [1,2]). A null value gives a null header value.
//
// Differences from Kafka Connect, all in nested values: strings inside
// structures are escaped as JSON requires (Kafka escapes only quotes and
// backslashes), dates inside structures are quoted (Kafka writes them
// bare, which is not JSON), and map keys are sorted (Kafka follows the
// map's iteration order).
func headerBytes(schema *connectors.Schema, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return appendHeaderValue(nil, schema, v, false)
}

func appendHeaderValue(dst []byte, schema *connectors.Schema, v any, embedded bool) ([]byte, error) {
	var elem *connectors.Schema
	if schema != nil {
		elem = schema.ValueSchema
	}
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		if embedded {
			return appendJSONString(dst, x), nil
		}
		return append(dst, x...), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case int8:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case float32:
		return appendJavaFloat(dst, float64(x), 32), nil
	case float64:
		return appendJavaFloat(dst, x, 64), nil
	case json.Number:
		return append(dst, x...), nil
	case []byte:
		if embedded {
			dst = append(dst, '"')
		}
		dst = base64.StdEncoding.AppendEncode(dst, x)
		if embedded {
			dst = append(dst, '"')
		}
		return dst, nil
	case *big.Rat:
		scale := decimalScale(schema)
		if scale < 0 {
			scale = noScale
		}
		return appendJavaDecimal(dst, x, scale), nil
	case time.Time:
		if embedded {
			dst = append(dst, '"')
			dst = appendJavaDate(dst, x)
			return append(dst, '"'), nil
		}
		return appendJavaDate(dst, x), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendHeaderValue(dst, elem, e, true); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			var err error
			if dst, err = appendHeaderValue(dst, elem, x[k], true); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	case *connectors.Struct:
		s := x.Schema()
		dst = append(dst, '{')
		for i := range s.Fields {
			f := &s.Fields[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, f.Name)
			dst = append(dst, ':')
			var err error
			if dst, err = appendHeaderValue(dst, f.Schema, fieldValue(x, f, true), true); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	}
	return nil, fmt.Errorf("cannot render a value of Go type %T as a header", v)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
