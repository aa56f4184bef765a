package connectjson

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/javafmt"
)

// Conversions of Kafka Connect's logical types to their underlying values
// and back, shared with the Avro codec (connectavro). They enforce what
// Kafka Connect's Decimal, Date and Time classes enforce, so that a value
// Connect would refuse is refused here too instead of being silently
// changed.

const millisPerDay = 24 * 60 * 60 * 1000

var (
	ten      = big.NewInt(10)
	bigOne   = big.NewInt(1)
	errScale = errors.New("has more fractional digits than the schema's scale")
)

// DecimalScale returns the scale of a Decimal schema (its "scale"
// parameter).
func DecimalScale(parameters map[string]string) (int, error) {
	s, ok := parameters["scale"]
	if !ok {
		return 0, errors.New("decimal schema has no scale parameter")
	}
	scale, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("decimal schema has an invalid scale parameter %q", s)
	}
	return scale, nil
}

func pow10(n int) *big.Int {
	return new(big.Int).Exp(ten, big.NewInt(int64(n)), nil)
}

// DecimalUnscaled returns the unscaled integer of v at scale (v × 10^scale),
// or an error if v has more fractional digits than scale allows: Kafka
// Connect refuses such values rather than rounding them.
func DecimalUnscaled(v *big.Rat, scale int) (*big.Int, error) {
	if v == nil {
		return nil, errors.New("nil decimal")
	}
	num, den := new(big.Int).Set(v.Num()), v.Denom()
	if scale >= 0 {
		num.Mul(num, pow10(scale))
	} else {
		den = new(big.Int).Mul(den, pow10(-scale))
	}
	if den.Cmp(bigOne) == 0 {
		return num, nil
	}
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Sign() != 0 {
		return nil, fmt.Errorf("decimal %s %w (%d)", v.FloatString(decimalDigits(v)), errScale, scale)
	}
	return q, nil
}

// decimalDigits is the number of fractional digits to show v with in an
// error: enough for any terminating decimal, bounded for the rest.
func decimalDigits(v *big.Rat) int {
	n := v.Denom().BitLen()
	return min(n, 40)
}

// DecimalFromUnscaled returns unscaled × 10^-scale.
func DecimalFromUnscaled(unscaled *big.Int, scale int) *big.Rat {
	r := new(big.Rat).SetInt(unscaled)
	if scale > 0 {
		r.Quo(r, new(big.Rat).SetInt(pow10(scale)))
	} else if scale < 0 {
		r.Mul(r, new(big.Rat).SetInt(pow10(-scale)))
	}
	return r
}

// AppendTwosComplement appends the minimal big-endian two's-complement
// encoding of n, as Java's BigInteger.toByteArray (Kafka Connect's Decimal
// and Avro's decimal use it). Zero is one zero byte.
func AppendTwosComplement(dst []byte, n *big.Int) []byte {
	switch n.Sign() {
	case 0:
		return append(dst, 0)
	case 1:
		b := n.Bytes()
		if b[0]&0x80 != 0 {
			dst = append(dst, 0)
		}
		return append(dst, b...)
	}
	// Negative: the two's complement of |n| in the fewest bytes that keep
	// the sign bit set.
	abs := new(big.Int).Neg(n)
	nbytes := (abs.BitLen() + 7) / 8
	// -2^(8k-1) fits k bytes; anything else with the top bit of |n| in
	// position 8k-1 needs one more byte.
	mod := new(big.Int).Lsh(bigOne, uint(nbytes*8))
	tc := new(big.Int).Sub(mod, abs)
	b := tc.FillBytes(make([]byte, nbytes))
	if b[0]&0x80 == 0 {
		dst = append(dst, 0xFF)
	}
	return append(dst, b...)
}

// TwosComplementInt parses a big-endian two's-complement integer (empty is
// zero).
func TwosComplementInt(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(bigOne, uint(len(b)*8)))
	}
	return n
}

// DateDays returns the days since the Unix epoch of t, which must be
// midnight UTC (Kafka Connect's Date refuses other times).
func DateDays(t time.Time) (int32, error) {
	ms := t.UnixMilli()
	if ms%millisPerDay != 0 || t.Nanosecond()%int(time.Millisecond) != 0 {
		return 0, fmt.Errorf("date %s is not midnight UTC (a Kafka Connect Date has no time of day)", t.UTC().Format(time.RFC3339Nano))
	}
	days := ms / millisPerDay
	if days != int64(int32(days)) {
		return 0, fmt.Errorf("date %s is out of range", t.UTC().Format(time.RFC3339))
	}
	return int32(days), nil
}

// DateFromDays is the UTC midnight days after the Unix epoch.
func DateFromDays(days int32) time.Time {
	return time.UnixMilli(int64(days) * millisPerDay).UTC()
}

// TimeMillis returns the milliseconds since midnight of t, which must be
// less than a day from 1970-01-01T00:00Z (Kafka Connect's Time refuses
// other dates: it checks millis / 86400000 == 0, which lets a time just
// before the epoch through as a negative value).
func TimeMillis(t time.Time) (int32, error) {
	ms := t.UnixMilli()
	if ms/millisPerDay != 0 {
		return 0, fmt.Errorf("time %s is not on 1970-01-01 UTC (a Kafka Connect Time has no date)", t.UTC().Format(time.RFC3339Nano))
	}
	return int32(ms), nil
}

// ValidTimeMillis reports whether ms is a Time value TimeMillis accepts.
func ValidTimeMillis(ms int64) bool { return ms/millisPerDay == 0 }

// TimeFromMillis is 1970-01-01 UTC plus ms milliseconds.
func TimeFromMillis(ms int32) time.Time { return time.UnixMilli(int64(ms)).UTC() }

// TimestampMillis returns the milliseconds since the Unix epoch of t
// (sub-millisecond precision is dropped, as a java.util.Date has none).
func TimestampMillis(t time.Time) int64 { return t.UnixMilli() }

// TimestampFromMillis is the UTC time ms milliseconds after the Unix epoch.
func TimestampFromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// pow10s are the powers of ten that fit an int64.
var pow10s = func() (p [19]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// DecimalFromInt64 is the decimal unscaled × 10^-scale, as
// DecimalFromUnscaled, for the common case of an unscaled value that fits
// an int64 and a scale of 0 to 18. It builds the normalised fraction
// directly (the denominator's only prime factors are 2 and 5, so stripping
// those from both sides leaves it in lowest terms) instead of paying
// big.Rat's general GCD: three small allocations, no big arithmetic.
func DecimalFromInt64(unscaled int64, scale int) *big.Rat {
	if scale < 0 || scale > 18 {
		return DecimalFromUnscaled(big.NewInt(unscaled), scale)
	}
	r := new(big.Rat).SetInt64(unscaled)
	if unscaled == 0 || scale == 0 {
		return r
	}
	num, den := unscaled, pow10s[scale]
	for den%2 == 0 && num%2 == 0 {
		num, den = num/2, den/2
	}
	for den%5 == 0 && num%5 == 0 {
		num, den = num/5, den/5
	}
	if den == 1 {
		return r.SetInt64(num)
	}
	// Num and Denom are references into r (documented by math/big): set
	// them to the reduced fraction, which is already normalised.
	r.Num().SetInt64(num)
	r.Denom().SetUint64(den)
	return r
}

// unscaled64 is DecimalUnscaled for the common case of a decimal whose
// unscaled value fits an int64, without allocating.
func unscaled64(v *big.Rat, scale int) (int64, bool) {
	if v == nil || scale < 0 || scale > 18 {
		return 0, false
	}
	num, den := v.Num(), v.Denom()
	if !num.IsInt64() || !den.IsUint64() {
		return 0, false
	}
	p, d := pow10s[scale], den.Uint64()
	if d == 0 || p%d != 0 {
		return 0, false
	}
	m := p / d
	n := num.Int64()
	neg := n < 0
	abs := uint64(n)
	if neg {
		abs = -abs
	}
	hi, lo := bits.Mul64(abs, m)
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(lo), true
	}
	return int64(lo), true
}

// appendTwosComplement64 is AppendTwosComplement for an int64.
func appendTwosComplement64(dst []byte, n int64) []byte {
	size := 1
	for size < 8 {
		limit := int64(1) << (8*size - 1)
		if n >= -limit && n < limit {
			break
		}
		size++
	}
	for i := size - 1; i >= 0; i-- {
		dst = append(dst, byte(n>>(8*i)))
	}
	return dst
}

// AppendDecimalBytes appends the minimal big-endian two's-complement bytes
// of v's unscaled value at scale (Kafka Connect's Decimal.fromLogical), or
// returns an error if v has more fractional digits than scale allows.
func AppendDecimalBytes(dst []byte, v *big.Rat, scale int) ([]byte, error) {
	if n, ok := unscaled64(v, scale); ok {
		return appendTwosComplement64(dst, n), nil
	}
	unscaled, err := DecimalUnscaled(v, scale)
	if err != nil {
		return dst, err
	}
	return AppendTwosComplement(dst, unscaled), nil
}

// DecimalFromBytes is the decimal of unscaled two's-complement bytes at
// scale (Kafka Connect's Decimal.toLogical).
func DecimalFromBytes(b []byte, scale int) *big.Rat {
	if len(b) > 0 && len(b) <= 8 && scale >= 0 && scale <= 18 {
		n := int64(int8(b[0])) // sign-extended
		for _, c := range b[1:] {
			n = n<<8 | int64(c)
		}
		return DecimalFromInt64(n, scale)
	}
	return DecimalFromUnscaled(TwosComplementInt(b), scale)
}

// appendDecimalText appends v at scale as Java's BigDecimal.toString.
func appendDecimalText(dst []byte, v *big.Rat, scale int) ([]byte, error) {
	if n, ok := unscaled64(v, scale); ok {
		return javafmt.AppendBigDecimal(dst, big.NewInt(n), scale), nil
	}
	unscaled, err := DecimalUnscaled(v, scale)
	if err != nil {
		return dst, err
	}
	return javafmt.AppendBigDecimal(dst, unscaled, scale), nil
}
