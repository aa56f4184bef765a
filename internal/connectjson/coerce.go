package connectjson

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// coercer converts schemaless values to values of a schema, as
// JsonConverter.convertToConnect does with a payload and its schema. It is
// stricter than Connect where Connect silently truncates or nulls (a string
// where a number is wanted, 300 for an int8, 1.5 for an int32): those are
// errors naming the field.
type coercer struct{}

func coerceErr(p *path, format string, args ...any) error {
	return fmt.Errorf("connectjson: %s: %w: %s", where(p), connectors.ErrSchemaMismatch, fmt.Sprintf(format, args...))
}

// describe names a schemaless value's JSON kind for errors.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64, json.Number, int, int32, int16, int8, float32:
		return fmt.Sprintf("the number %v", x)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

func (c coercer) coerce(p *path, s *connectors.Schema, v any) (any, error) {
	if s == nil {
		return normalize(v), nil
	}
	if v == nil {
		if s.Default != nil {
			return s.Default, nil
		}
		if s.Optional {
			return nil, nil
		}
		return nil, coerceErr(p, "null for required schema %s without a default", s)
	}
	if s.Name != "" {
		switch s.Name {
		case connectors.DecimalName:
			return c.decimal(p, s, v)
		case connectors.DateName:
			if t, ok := v.(time.Time); ok {
				return t, nil
			}
			n, ok := wholeNumber(v)
			if !ok || n != int64(int32(n)) {
				return nil, coerceErr(p, "a Date is an int32 of days since 1970-01-01, got %s", describe(v))
			}
			return DateFromDays(int32(n)), nil
		case connectors.TimeName:
			if t, ok := v.(time.Time); ok {
				return t, nil
			}
			n, ok := wholeNumber(v)
			if !ok || !ValidTimeMillis(n) {
				return nil, coerceErr(p, "a Time is an int32 of milliseconds since midnight (less than a day), got %s", describe(v))
			}
			return TimeFromMillis(int32(n)), nil
		case connectors.TimestampName:
			if t, ok := v.(time.Time); ok {
				return t, nil
			}
			n, ok := wholeNumber(v)
			if !ok {
				return nil, coerceErr(p, "a Timestamp is an int64 of milliseconds since 1970-01-01, got %s", describe(v))
			}
			return TimestampFromMillis(n), nil
		}
	}
	switch s.Type {
	case connectors.TypeInt8, connectors.TypeInt16, connectors.TypeInt32, connectors.TypeInt64:
		n, ok := wholeNumber(v)
		if !ok {
			return nil, coerceErr(p, "want a whole number for %s, got %s", s.Type, describe(v))
		}
		if !fitsInt(s.Type, n) {
			return nil, coerceErr(p, "%d is out of range for %s", n, s.Type)
		}
		return typedInt(s.Type, n), nil
	case connectors.TypeFloat32, connectors.TypeFloat64:
		f, ok := numberValue(v)
		if !ok {
			str, isStr := v.(string)
			if !isStr {
				return nil, coerceErr(p, "want a number for %s, got %s", s.Type, describe(v))
			}
			// Jackson writes non-finite numbers as these strings.
			switch str {
			case "NaN":
				f = math.NaN()
			case "Infinity":
				f = math.Inf(1)
			case "-Infinity":
				f = math.Inf(-1)
			default:
				return nil, coerceErr(p, "want a number for %s, got %s", s.Type, describe(v))
			}
		}
		if s.Type == connectors.TypeFloat32 {
			return float32(f), nil
		}
		return f, nil
	case connectors.TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, coerceErr(p, "want a boolean, got %s", describe(v))
		}
		return b, nil
	case connectors.TypeString:
		str, ok := v.(string)
		if !ok {
			return nil, coerceErr(p, "want a string, got %s", describe(v))
		}
		return str, nil
	case connectors.TypeBytes:
		switch b := v.(type) {
		case []byte:
			return b, nil
		case string:
			out, err := decodeBase64(b)
			if err != nil {
				return nil, coerceErr(p, "bytes must be base64: %v", err)
			}
			return out, nil
		}
		return nil, coerceErr(p, "want base64 bytes (a string), got %s", describe(v))
	case connectors.TypeArray:
		arr, ok := v.([]any)
		if !ok {
			return nil, coerceErr(p, "want an array, got %s", describe(v))
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			x, err := c.coerce(nil, s.ValueSchema, e)
			if err != nil {
				_, err = c.coerce(p.index(i), s.ValueSchema, e) // the error with its path
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case connectors.TypeMap:
		return c.mapValue(p, s, v)
	case connectors.TypeStruct:
		if st, ok := v.(*connectors.Struct); ok {
			if st.Schema() == s || connectors.SameSchema(st.Schema(), s) {
				return st, nil
			}
			return nil, coerceErr(p, "struct of schema %s where schema %s is wanted", st.Schema(), s)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, coerceErr(p, "want an object for %s, got %s", s, describe(v))
		}
		st := connectors.NewStructValue(s)
		for i := range s.Fields {
			f := &s.Fields[i]
			x, err := c.coerce(nil, f.Schema, obj[f.Name])
			if err != nil {
				_, err = c.coerce(p.child(f.Name), f.Schema, obj[f.Name])
				return nil, err
			}
			st.Set(i, x)
		}
		return st, nil
	}
	return nil, coerceErr(p, "unsupported schema type %s", s.Type)
}

func (c coercer) mapValue(p *path, s *connectors.Schema, v any) (any, error) {
	if s.KeySchema == nil || s.KeySchema.Type == connectors.TypeString {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, coerceErr(p, "want an object for %s, got %s", s, describe(v))
		}
		out := make(map[string]any, len(obj))
		for k, e := range obj {
			x, err := c.coerce(nil, s.ValueSchema, e)
			if err != nil {
				_, err = c.coerce(p.key(k), s.ValueSchema, e)
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	}
	// Non-string keys: an array of [key, value] pairs, as Kafka Connect
	// writes them; the keys are kept as text (Sluice maps have string keys).
	if obj, ok := v.(map[string]any); ok {
		// Already a Sluice map (for example a default value).
		out := make(map[string]any, len(obj))
		for k, e := range obj {
			if _, err := ParseMapKey(s.KeySchema, k); err != nil {
				return nil, coerceErr(p.key(k), "%v", err)
			}
			x, err := c.coerce(p.key(k), s.ValueSchema, e)
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	}
	pairs, ok := v.([]any)
	if !ok {
		return nil, coerceErr(p, "a map with %s keys is an array of [key, value] pairs, got %s", s.KeySchema.Type, describe(v))
	}
	out := make(map[string]any, len(pairs))
	for i, e := range pairs {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return nil, coerceErr(p.index(i), "want a [key, value] pair, got %s", describe(e))
		}
		key, err := c.coerce(p.index(i), s.KeySchema, pair[0])
		if err != nil {
			return nil, err
		}
		k, err := FormatMapKey(s.KeySchema, key)
		if err != nil {
			return nil, coerceErr(p.index(i), "%v", err)
		}
		x, err := c.coerce(p.key(k), s.ValueSchema, pair[1])
		if err != nil {
			return nil, err
		}
		out[k] = x
	}
	return out, nil
}

func (c coercer) decimal(p *path, s *connectors.Schema, v any) (any, error) {
	scale, err := DecimalScale(s.Parameters)
	if err != nil {
		return nil, coerceErr(p, "%v", err)
	}
	var r *big.Rat
	switch x := v.(type) {
	case *big.Rat:
		r = x
	case string: // BASE64: the unscaled value's two's-complement bytes
		b, err := decodeBase64(x)
		if err != nil {
			return nil, coerceErr(p, "a decimal is a number or base64 bytes: %v", err)
		}
		return DecimalFromBytes(b, scale), nil
	case []byte:
		return DecimalFromBytes(x, scale), nil
	case int64:
		r = new(big.Rat).SetInt64(x)
	case json.Number:
		var ok bool
		if r, ok = new(big.Rat).SetString(string(x)); !ok {
			return nil, coerceErr(p, "%q is not a decimal number", string(x))
		}
	case float64:
		// The shortest text of the double is the decimal its writer meant.
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, coerceErr(p, "%v is not a decimal number", x)
		}
		r, _ = new(big.Rat).SetString(strconv.FormatFloat(x, 'g', -1, 64))
	default:
		if n, ok := IntValue(v); ok {
			r = new(big.Rat).SetInt64(n)
			break
		}
		return nil, coerceErr(p, "want a decimal (a number or base64 bytes), got %s", describe(v))
	}
	if _, err := DecimalUnscaled(r, scale); err != nil {
		return nil, coerceErr(p, "%v", err)
	}
	return r, nil
}

// wholeNumber returns v as int64 if it is a whole number in range: an
// integer, or a float or json.Number with no fractional part.
func wholeNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case float64:
		if n != math.Trunc(n) || n < math.MinInt64 || n >= math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case float32:
		return wholeNumber(float64(n))
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		r, ok := new(big.Rat).SetString(string(n))
		if !ok || !r.IsInt() || !r.Num().IsInt64() {
			return 0, false
		}
		return r.Num().Int64(), true
	}
	return IntValue(v)
}

// normalize turns exact-mode numbers (json.Number) into the schemaless
// representation (int64 or float64).
func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := numberValue(x)
		return f
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	}
	return v
}

// decodeBase64 decodes standard base64, padded (as Jackson writes it) or
// not.
func decodeBase64(s string) ([]byte, error) {
	if len(s)%4 == 0 {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
