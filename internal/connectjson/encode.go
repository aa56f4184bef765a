package connectjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"time"
	"unsafe"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/javafmt"
)

// encoder writes Kafka Connect payloads. Schemaful values take a type switch
// per value and no reflection; schemaless values of unusual Go types fall
// back to encoding/json.
type encoder struct {
	opts Options
}

// path builds a field path for errors lazily: the hot path never formats it.
type path struct {
	parent *path
	field  string // ".name" or "[3]" or `["key"]`
}

func (p *path) String() string {
	if p == nil {
		return ""
	}
	return p.parent.String() + p.field
}

func (p *path) child(name string) *path {
	if p == nil {
		return &path{field: name}
	}
	return &path{parent: p, field: "." + name}
}

func (p *path) index(i int) *path { return &path{parent: p, field: "[" + strconv.Itoa(i) + "]"} }
func (p *path) key(k string) *path {
	return &path{parent: p, field: "[" + strconv.Quote(k) + "]"}
}

// where names the value at p for errors: "value" or "field a.b[2]".
func where(p *path) string {
	if p == nil {
		return "value"
	}
	return "field " + p.String()
}

func (e *encoder) errorf(p *path, format string, args ...any) error {
	return fmt.Errorf("connectjson: %s: %s", where(p), fmt.Sprintf(format, args...))
}

func (e *encoder) mismatch(p *path, s *connectors.Schema, v any) error {
	return fmt.Errorf("connectjson: %s: %w: %T does not fit schema %s", where(p), connectors.ErrSchemaMismatch, v, s)
}

func (e *encoder) value(dst []byte, p *path, s *connectors.Schema, v any) ([]byte, error) {
	if s == nil {
		return e.schemaless(dst, p, v)
	}
	if v == nil {
		if s.Default != nil {
			return e.value(dst, p, s, s.Default)
		}
		if s.Optional {
			return append(dst, "null"...), nil
		}
		return dst, fmt.Errorf("connectjson: %s: %w: null for required schema %s without a default", where(p), connectors.ErrSchemaMismatch, s)
	}
	if s.Name != "" {
		switch s.Name {
		case connectors.DecimalName:
			return e.decimal(dst, p, s, v)
		case connectors.DateName:
			t, ok := v.(time.Time)
			if !ok {
				return dst, e.mismatch(p, s, v)
			}
			days, err := DateDays(t)
			if err != nil {
				return dst, e.errorf(p, "%v", err)
			}
			return appendInt(dst, int64(days)), nil
		case connectors.TimeName:
			t, ok := v.(time.Time)
			if !ok {
				return dst, e.mismatch(p, s, v)
			}
			ms, err := TimeMillis(t)
			if err != nil {
				return dst, e.errorf(p, "%v", err)
			}
			return appendInt(dst, int64(ms)), nil
		case connectors.TimestampName:
			t, ok := v.(time.Time)
			if !ok {
				return dst, e.mismatch(p, s, v)
			}
			return appendInt(dst, TimestampMillis(t)), nil
		}
	}
	switch s.Type {
	case connectors.TypeString:
		str, ok := v.(string)
		if !ok {
			return dst, e.mismatch(p, s, v)
		}
		return AppendString(dst, str), nil
	case connectors.TypeInt32, connectors.TypeInt64, connectors.TypeInt8, connectors.TypeInt16:
		n, ok := IntValue(v)
		if !ok {
			return dst, e.mismatch(p, s, v)
		}
		if !fitsInt(s.Type, n) {
			return dst, e.errorf(p, "%d is out of range for %s", n, s.Type)
		}
		return appendInt(dst, n), nil
	case connectors.TypeFloat64:
		switch f := v.(type) {
		case float64:
			return AppendFloat64(dst, f), nil
		case float32:
			return AppendFloat64(dst, float64(f)), nil
		case json.Number:
			x, err := f.Float64()
			if err != nil {
				return dst, e.errorf(p, "%q is not a number", string(f))
			}
			return AppendFloat64(dst, x), nil
		}
		return dst, e.mismatch(p, s, v)
	case connectors.TypeFloat32:
		switch f := v.(type) {
		case float32:
			return AppendFloat32(dst, f), nil
		case float64:
			return AppendFloat32(dst, float32(f)), nil
		case json.Number:
			x, err := strconv.ParseFloat(string(f), 32)
			if err != nil {
				return dst, e.errorf(p, "%q is not a float32", string(f))
			}
			return AppendFloat32(dst, float32(x)), nil
		}
		return dst, e.mismatch(p, s, v)
	case connectors.TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return dst, e.mismatch(p, s, v)
		}
		return strconv.AppendBool(dst, b), nil
	case connectors.TypeBytes:
		b, ok := v.([]byte)
		if !ok {
			return dst, e.mismatch(p, s, v)
		}
		return appendBase64(dst, b), nil
	case connectors.TypeStruct:
		st, ok := v.(*connectors.Struct)
		if !ok {
			return dst, e.mismatch(p, s, v)
		}
		if st.Schema() != s && !connectors.SameSchema(st.Schema(), s) {
			return dst, fmt.Errorf("connectjson: %s: %w: struct of schema %s where schema %s is wanted", where(p), connectors.ErrSchemaMismatch, st.Schema(), s)
		}
		if m := e.opts.Memo; m != nil && st.Shared() {
			if last := m.last.Load(); last != nil && last.st == st && last.schema == s {
				return append(dst, last.b...), nil
			}
			start := len(dst)
			dst, err := e.structFields(dst, p, s, st)
			if err == nil {
				m.last.Store(&memoEntry{st: st, schema: s, b: bytes.Clone(dst[start:])})
			}
			return dst, err
		}
		return e.structFields(dst, p, s, st)
	case connectors.TypeArray:
		arr, ok := v.([]any)
		if !ok {
			return dst, e.mismatch(p, s, v)
		}
		dst = append(dst, '[')
		var err error
		for i, elem := range arr {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = e.value(dst, nil, s.ValueSchema, elem); err != nil {
				_, err = e.value(nil, p.index(i), s.ValueSchema, elem) // the error with its path
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case connectors.TypeMap:
		m, ok := v.(map[string]any)
		if !ok {
			return dst, e.mismatch(p, s, v)
		}
		return e.mapValue(dst, p, s, m)
	}
	return dst, e.errorf(p, "unsupported schema type %s", s.Type)
}

func (e *encoder) structFields(dst []byte, p *path, s *connectors.Schema, st *connectors.Struct) ([]byte, error) {
	dst = append(dst, '{')
	var err error
	for i := range s.Fields {
		f := &s.Fields[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, f.Name)
		dst = append(dst, ':')
		if dst, err = e.value(dst, nil, f.Schema, st.At(i)); err != nil {
			// The error was built without the field's path to keep the hot
			// path allocation-free; rebuild it with the path.
			_, err = e.value(nil, p.child(f.Name), f.Schema, st.At(i))
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

func (e *encoder) mapValue(dst []byte, p *path, s *connectors.Schema, m map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var err error
	if s.KeySchema == nil || s.KeySchema.Type == connectors.TypeString {
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, k)
			dst = append(dst, ':')
			if dst, err = e.value(dst, nil, s.ValueSchema, m[k]); err != nil {
				_, err = e.value(nil, p.key(k), s.ValueSchema, m[k]) // the error with its path
				return dst, err
			}
		}
		return append(dst, '}'), nil
	}
	// Kafka Connect writes maps with non-string keys as arrays of
	// [key, value] pairs. Sluice maps have string keys: they hold the key's
	// text, parsed back into the key schema's type here.
	dst = append(dst, '[')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		key, err := ParseMapKey(s.KeySchema, k)
		if err != nil {
			return dst, e.errorf(p.key(k), "%v", err)
		}
		dst = append(dst, '[')
		if dst, err = e.value(dst, p.key(k), s.KeySchema, key); err != nil {
			return dst, err
		}
		dst = append(dst, ',')
		if dst, err = e.value(dst, p.key(k), s.ValueSchema, m[k]); err != nil {
			return dst, err
		}
		dst = append(dst, ']')
	}
	return append(dst, ']'), nil
}

func (e *encoder) decimal(dst []byte, p *path, s *connectors.Schema, v any) ([]byte, error) {
	r, ok := v.(*big.Rat)
	if !ok {
		return dst, e.mismatch(p, s, v)
	}
	scale, err := DecimalScale(s.Parameters)
	if err != nil {
		return dst, e.errorf(p, "%v", err)
	}
	if e.opts.DecimalNumeric {
		out, err := appendDecimalText(dst, r, scale)
		if err != nil {
			return dst, e.errorf(p, "%v", err)
		}
		return out, nil
	}
	var buf [32]byte
	b, err := AppendDecimalBytes(buf[:0], r, scale)
	if err != nil {
		return dst, e.errorf(p, "%v", err)
	}
	return appendBase64(dst, b), nil
}

func appendBase64(dst, b []byte) []byte {
	dst = append(dst, '"')
	n := base64.StdEncoding.EncodedLen(len(b))
	if cap(dst)-len(dst) < n+1 {
		grown := make([]byte, len(dst), len(dst)+n+1+len(dst)/4)
		copy(grown, dst)
		dst = grown
	}
	base64.StdEncoding.Encode(dst[len(dst):len(dst)+n], b)
	dst = dst[:len(dst)+n]
	return append(dst, '"')
}

// IntValue returns any Go integer (and a json.Number holding an integer)
// as int64; false for other values and for unsigned integers above
// math.MaxInt64.
func IntValue(v any) (int64, bool) {
	switch n := v.(type) {
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint:
		if uint64(n) > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

func fitsInt(t connectors.Type, n int64) bool {
	switch t {
	case connectors.TypeInt8:
		return n >= math.MinInt8 && n <= math.MaxInt8
	case connectors.TypeInt16:
		return n >= math.MinInt16 && n <= math.MaxInt16
	case connectors.TypeInt32:
		return n >= math.MinInt32 && n <= math.MaxInt32
	}
	return true
}

// typedInt returns n as the Go type of t (range already checked).
func typedInt(t connectors.Type, n int64) any {
	switch t {
	case connectors.TypeInt8:
		return int8(n)
	case connectors.TypeInt16:
		return int16(n)
	case connectors.TypeInt32:
		return int32(n)
	}
	return n
}

// schemaless writes a value without a schema, as JsonConverter infers the
// type of schemaless data from its Java class.
func (e *encoder) schemaless(dst []byte, p *path, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return AppendString(dst, x), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case int64:
		return appendInt(dst, x), nil
	case float64:
		return AppendFloat64(dst, x), nil
	case int, int8, int16, int32, uint8, uint16, uint32:
		n, _ := IntValue(x)
		return appendInt(dst, n), nil
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	case float32:
		return AppendFloat32(dst, x), nil
	case json.Number:
		if !isJSONNumber([]byte(x)) {
			return dst, e.errorf(p, "%q is not a JSON number", string(x))
		}
		return append(dst, x...), nil
	case []byte:
		return appendBase64(dst, x), nil
	case []any:
		dst = append(dst, '[')
		var err error
		for i, elem := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = e.schemaless(dst, p.index(i), elem); err != nil {
				return dst, err
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
		var err error
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, k)
			dst = append(dst, ':')
			if dst, err = e.schemaless(dst, p.key(k), x[k]); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case *connectors.Struct:
		// Kafka Connect refuses a Struct without a schema; the struct
		// carries its own, so write it with that.
		return e.value(dst, p, x.Schema(), x)
	case *big.Rat:
		// A decimal without a schema: a plain JSON number if it has a
		// terminating decimal expansion.
		scale, ok := terminatingScale(x)
		if !ok {
			return dst, e.errorf(p, "decimal %s has no finite decimal representation", x.RatString())
		}
		unscaled, err := DecimalUnscaled(x, scale)
		if err != nil {
			return dst, e.errorf(p, "%v", err)
		}
		return javafmt.AppendBigDecimal(dst, unscaled, scale), nil
	}
	// Anything else (typed slices and maps, time.Time, structs with json
	// tags): encoding/json, without its HTML escaping (Jackson has none).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, e.errorf(p, "cannot encode %T: %v", v, err)
	}
	return append(dst, bytes.TrimRight(buf.Bytes(), "\n")...), nil
}

// terminatingScale returns the number of fractional digits of r if its
// decimal expansion terminates (its denominator has no prime factors but 2
// and 5).
func terminatingScale(r *big.Rat) (int, bool) {
	den := new(big.Int).Set(r.Denom())
	twos, fives := 0, 0
	two, five := big.NewInt(2), big.NewInt(5)
	m := new(big.Int)
	for {
		q, rem := new(big.Int).QuoRem(den, two, m)
		if rem.Sign() != 0 {
			break
		}
		den, twos = q, twos+1
	}
	for {
		q, rem := new(big.Int).QuoRem(den, five, m)
		if rem.Sign() != 0 {
			break
		}
		den, fives = q, fives+1
	}
	if den.Cmp(bigOne) != 0 {
		return 0, false
	}
	return max(twos, fives), true
}

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// ParseMapKey parses the text of a map key (Sluice maps have string keys)
// into a value of a primitive key schema: Kafka Connect maps may have keys
// of any type, which JSON and Avro write with the key's own type.
func ParseMapKey(keySchema *connectors.Schema, key string) (any, error) {
	switch keySchema.Type {
	case connectors.TypeString:
		return key, nil
	case connectors.TypeInt8, connectors.TypeInt16, connectors.TypeInt32, connectors.TypeInt64:
		n, err := strconv.ParseInt(key, 10, 64)
		if err != nil || !fitsInt(keySchema.Type, n) {
			return nil, fmt.Errorf("map key %q is not a %s", key, keySchema.Type)
		}
		return typedInt(keySchema.Type, n), nil
	case connectors.TypeFloat32:
		f, err := strconv.ParseFloat(key, 32)
		if err != nil {
			return nil, fmt.Errorf("map key %q is not a float32", key)
		}
		return float32(f), nil
	case connectors.TypeFloat64:
		f, err := strconv.ParseFloat(key, 64)
		if err != nil {
			return nil, fmt.Errorf("map key %q is not a float64", key)
		}
		return f, nil
	case connectors.TypeBoolean:
		b, err := strconv.ParseBool(key)
		if err != nil {
			return nil, fmt.Errorf("map key %q is not a boolean", key)
		}
		return b, nil
	case connectors.TypeBytes:
		if keySchema.Name == "" {
			return []byte(key), nil
		}
	}
	return nil, fmt.Errorf("map keys of schema %s are not supported (Sluice map keys are strings; only primitive key schemas can be converted)", keySchema)
}

// FormatMapKey returns the text of a map key of a primitive key schema, the
// inverse of ParseMapKey.
func FormatMapKey(keySchema *connectors.Schema, key any) (string, error) {
	switch k := key.(type) {
	case string:
		return k, nil
	case bool:
		return strconv.FormatBool(k), nil
	case float32:
		return strconv.FormatFloat(float64(k), 'g', -1, 32), nil
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64), nil
	case []byte:
		return string(k), nil
	}
	if n, ok := IntValue(key); ok {
		return strconv.FormatInt(n, 10), nil
	}
	return "", fmt.Errorf("map keys of schema %s are not supported (Sluice map keys are strings; only primitive key schemas can be converted)", keySchema)
}
