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

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
	"github.com/sluicehq/sluice/internal/javafmt"
)

// decimalScale returns the scale of a Decimal schema (its "scale"
// parameter), or -1 if the schema is not a decimal.
func decimalScale(s *connectors.Schema) int {
	if s == nil || s.Name != connectors.DecimalName {
		return -1
	}
	n, err := connectjson.DecimalScale(s.Parameters)
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

// appendJavaDecimal appends r at the given scale (rounded half to even to
// it; noScale for the scale that represents r exactly) as Java's
// BigDecimal.toString writes it.
func appendJavaDecimal(dst []byte, r *big.Rat, scale int) []byte {
	if scale == noScale {
		scale = naturalScale(r)
	}
	return javafmt.AppendBigDecimal(dst, unscaled(r, scale), scale)
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
// structures are escaped as JSON requires, as the JSON converter escapes
// them (Kafka escapes only quotes and backslashes), dates inside
// structures are quoted (Kafka writes them bare, which is not JSON), and
// map keys are sorted (Kafka follows the map's iteration order).
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
			return connectjson.AppendString(dst, x), nil
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
		return javafmt.AppendFloat(dst, x), nil
	case float64:
		return javafmt.AppendDouble(dst, x), nil
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
			dst = connectjson.AppendString(dst, k)
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
			dst = connectjson.AppendString(dst, f.Name)
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
