package dynamic

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"time"
)

// FromMap builds a record value from m, a map from Avro field name to
// value. Values may be in the representation of [Type.ToMap], in
// avro.NewGeneric's (which holds a nullable record, enum, array, map or
// fixed as map[string]any{"<branch name>": value}), or in the looser one
// of decoded JSON fixtures: any numeric type for a number (checked for
// range and, for integers, integrality), json.Number, nested maps for
// records, any slice for arrays; a string for bytes (its UTF-8 bytes) or
// fixed (of the right length); for a time, a time.Time, an RFC 3339
// string ("2006-01-02" for dates) or a number in the schema's unit; for a
// time of day, a time.Duration, a "15:04:05.000" string or a number in
// the unit; for a decimal, a *big.Rat, a number or a decimal string; for
// a nullable field, the value, a pointer to it, or nil. A field missing
// from m takes its Avro default, or nil when nullable; a missing field
// with neither is an error. Keys that are not fields are an error (a
// misspelt fixture key should not pass silently), with a suggestion.
func (t *Type) FromMap(m map[string]any) (any, error) {
	v := reflect.New(t.root.typ)
	if err := assign(t.root, v.Elem(), m, t.root.fullName); err != nil {
		return nil, err
	}
	return v.Interface(), nil
}

// ToMap returns v, a value of t, as a map from Avro field name to value:
// int as int, long as int64, float as float32, double as float64, bytes as
// []byte, fixed as a [N]byte array, enum as string, nested records and
// maps as map[string]any, arrays as []any, a nullable field as its value
// or nil, logical types as in the struct (time.Time, time.Duration,
// *big.Rat), general unions as held. This is avro.NewGeneric's
// representation except for nullable unions of records, enums, arrays,
// maps and fixed, which NewGeneric wraps as {"<branch name>": value}.
func (t *Type) ToMap(v any) (map[string]any, error) {
	rv, err := t.check(v, "ToMap")
	if err != nil {
		return nil, err
	}
	m, _ := toGeneric(t.root, rv).(map[string]any)
	return m, nil
}

// convError says that v cannot be a value of n at where.
func convError(where string, n *node, v any, why string) error {
	s := fmt.Sprintf("%v", v)
	if len(s) > 64 {
		s = s[:61] + "..."
	}
	msg := fmt.Sprintf("dynamic: %s: %s (%T) is not a valid %s", where, s, v, describe(n))
	if why != "" {
		msg += ": " + why
	}
	return fmt.Errorf("%s", msg)
}

// assign stores v, converted to n's Go type, into dst (a settable value of
// n.typ, or of a Go type Infer chose for n).
func assign(n *node, dst reflect.Value, v any, where string) error {
	if v != nil && reflect.TypeOf(v) == dst.Type() && n.kind != kindBytes && n.kind != kindUnion && n.kind != kindEnum {
		// Already the field's type (a struct from another record of the
		// same Type, a time.Time, an expression result of the right
		// type): no conversion.
		dst.Set(reflect.ValueOf(v))
		return nil
	}
	switch n.kind {
	case kindNull:
		if v != nil {
			return convError(where, n, v, "")
		}
		return nil
	case kindNullable:
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			// avro.NewGeneric's form of a nullable union of a record,
			// enum, array, map, fixed or local timestamp: {"<branch>":
			// value}. For a map branch the form is ambiguous: a map whose
			// only key is "map" is unwrapped only if it does not convert
			// as it is.
			if val, ok := m[branchName(n.elem)]; ok {
				if n.elem.kind != kindMap || assign(n.elem, reflect.New(n.elem.typ).Elem(), v, where) != nil {
					v = val
				}
			}
		}
		if v == nil || isNilPointer(v) {
			dst.SetZero()
			return nil
		}
		elem := reflect.New(dst.Type().Elem())
		if err := assign(n.elem, elem.Elem(), v, where); err != nil {
			return err
		}
		dst.Set(elem)
		return nil
	case kindUnion:
		return assignUnion(n, dst, v, where)
	case kindBoolean:
		b, ok := v.(bool)
		if !ok {
			return convError(where, n, v, "")
		}
		dst.SetBool(b)
		return nil
	case kindInt, kindLong:
		switch n.logical {
		case "date", "timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros":
			t, err := toTime(n, v)
			if err != nil {
				return convError(where, n, v, err.Error())
			}
			dst.Set(reflect.ValueOf(t))
			return nil
		case "time-millis", "time-micros":
			d, err := toTimeOfDay(n, v)
			if err != nil {
				return convError(where, n, v, err.Error())
			}
			dst.SetInt(int64(d))
			return nil
		}
		return setInteger(n, dst, v, where)
	case kindFloat, kindDouble:
		f, ok := toFloat(v)
		if !ok {
			return convError(where, n, v, "")
		}
		if dst.OverflowFloat(f) {
			return convError(where, n, v, "out of range")
		}
		dst.SetFloat(f)
		return nil
	case kindString:
		s, ok := v.(string)
		if !ok {
			return convError(where, n, v, "")
		}
		dst.SetString(s)
		return nil
	case kindEnum:
		s, ok := v.(string)
		if !ok {
			return convError(where, n, v, "")
		}
		if !slices.Contains(n.symbols, s) {
			return convError(where, n, v, fmt.Sprintf("symbols are %v", n.symbols))
		}
		dst.SetString(s)
		return nil
	case kindBytes, kindFixed:
		if n.logical == "decimal" {
			r, err := toRat(n, v)
			if err != nil {
				return convError(where, n, v, err.Error())
			}
			dst.Set(reflect.ValueOf(r))
			return nil
		}
		b, ok := toBytes(v)
		if !ok {
			return convError(where, n, v, "")
		}
		if n.kind == kindBytes {
			dst.SetBytes(append([]byte{}, b...))
			return nil
		}
		if len(b) != n.size {
			return convError(where, n, v, fmt.Sprintf("%d bytes, want %d", len(b), n.size))
		}
		reflect.Copy(dst, reflect.ValueOf(b))
		return nil
	case kindRecord:
		return assignRecord(n, dst, v, where)
	case kindArray:
		src := reflect.ValueOf(v)
		if src.Kind() != reflect.Slice && src.Kind() != reflect.Array {
			return convError(where, n, v, "not a list")
		}
		out := reflect.MakeSlice(dst.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			if err := assign(n.elem, out.Index(i), src.Index(i).Interface(), where+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		dst.Set(out)
		return nil
	case kindMap:
		src := reflect.ValueOf(v)
		if src.Kind() != reflect.Map || src.Type().Key().Kind() != reflect.String {
			return convError(where, n, v, "not a map with string keys")
		}
		out := reflect.MakeMapWithSize(dst.Type(), src.Len())
		it := src.MapRange()
		for it.Next() {
			elem := reflect.New(dst.Type().Elem()).Elem()
			key := it.Key().String()
			if err := assign(n.elem, elem, it.Value().Interface(), where+"["+strconv.Quote(key)+"]"); err != nil {
				return err
			}
			out.SetMapIndex(reflect.ValueOf(key).Convert(dst.Type().Key()), elem)
		}
		dst.Set(out)
		return nil
	}
	return convError(where, n, v, "unsupported type")
}

func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

func assignRecord(n *node, dst reflect.Value, v any, where string) error {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.Type().Elem() == dst.Type() {
		if rv.IsNil() {
			return convError(where, n, v, "nil record")
		}
		dst.Set(rv.Elem())
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return convError(where, n, v, "not a map")
	}
	for key := range m {
		if _, ok := n.byName[key]; !ok {
			return fmt.Errorf("dynamic: %s: record %s has no field %q%s", where, n.fullName, key, suggest(key, n))
		}
	}
	for _, f := range n.fields {
		at := where + "." + f.name
		val, ok := m[f.name]
		if !ok {
			if err := setMissing(f, dst.Field(f.index)); err != nil {
				return fmt.Errorf("dynamic: %s: %w", at, err)
			}
			continue
		}
		if err := assign(f.node, dst.Field(f.index), val, at); err != nil {
			return err
		}
	}
	return nil
}

// setMissing fills a field absent from the input with its default, nil
// when nullable, or fails.
func setMissing(f *fieldNode, dst reflect.Value) error {
	if f.hasDefault {
		if err := assign(f.node, dst, f.def, "default"); err != nil {
			return fmt.Errorf("missing, and its default does not convert: %w", err)
		}
		return nil
	}
	switch f.node.kind {
	case kindNullable, kindNull:
		dst.SetZero()
		return nil
	case kindUnion:
		if f.node.hasNull() {
			dst.SetZero()
			return nil
		}
	}
	return errMissing
}

// errMissing is the error for a field that is absent from the input and
// has neither a default nor null among its types.
var errMissing = errors.New("missing (the field has no default and is not nullable)")

// suggest returns ` (did you mean "x"?)` for the field name closest to key.
func suggest(key string, n *node) string {
	best, bestDist := "", 3
	for _, f := range n.fields {
		if d := editDistance(key, f.name); d < bestDist {
			best, bestDist = f.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// assignUnion stores a general union's value: nil (if a branch is null),
// or a value of one branch — bare or as map[string]any{"<branch>": value}
// — converted to the first branch that holds it, in the union's form (see
// bareBranches).
func assignUnion(n *node, dst reflect.Value, v any, where string) error {
	if v == nil {
		if !n.hasNull() {
			return convError(where, n, v, "no null branch")
		}
		dst.SetZero()
		return nil
	}
	i, typed, err := unionBranch(n, v)
	if err != nil {
		return convError(where, n, v, err.Error())
	}
	if n.union[i].kind == kindNull {
		dst.SetZero()
		return nil
	}
	g := unionValue(n, n.union[i], typed)
	dst.Set(reflect.ValueOf(&g).Elem())
	return nil
}

// unionValue returns typed, a value of branch b, as a general union
// holds it.
func unionValue(n, b *node, typed reflect.Value) any {
	g := toGeneric(b, typed)
	if !n.bare {
		g = map[string]any{branchName(b): g}
	}
	return g
}

// unionBranch finds the branch of a general union that holds x (bare or
// in the one-key map form) and converts x to that branch's Go type.
func unionBranch(n *node, x any) (int, reflect.Value, error) {
	if m, ok := x.(map[string]any); ok && len(m) == 1 {
		for name, val := range m {
			for i, b := range n.union {
				if branchName(b) == name {
					tmp := reflect.New(b.typ).Elem()
					if err := assign(b, tmp, val, "union branch "+name); err != nil {
						return 0, tmp, err
					}
					return i, tmp, nil
				}
			}
		}
	}
	for i, b := range n.union {
		if b.kind == kindNull {
			continue
		}
		tmp := reflect.New(b.typ).Elem()
		if assign(b, tmp, x, "") == nil {
			return i, tmp, nil
		}
	}
	return 0, reflect.Value{}, fmt.Errorf("matches no branch")
}

// branchName is hamba/avro's name for a union branch: the full name of a
// named type, else the type name with its logical type ("long.timestamp-millis").
func branchName(n *node) string {
	switch n.kind {
	case kindRecord, kindEnum, kindFixed:
		return n.fullName
	}
	name := ""
	switch n.kind {
	case kindNull:
		name = "null"
	case kindBoolean:
		name = "boolean"
	case kindInt:
		name = "int"
	case kindLong:
		name = "long"
	case kindFloat:
		name = "float"
	case kindDouble:
		name = "double"
	case kindString:
		name = "string"
	case kindBytes:
		name = "bytes"
	case kindArray:
		return "array"
	case kindMap:
		return "map"
	}
	if n.logical != "" {
		name += "." + n.logical
	}
	return name
}

// toGeneric returns v (of n's Go type) in avro.NewGeneric's representation.
func toGeneric(n *node, v reflect.Value) any {
	switch n.kind {
	case kindNull:
		return nil
	case kindBoolean:
		return v.Bool()
	case kindInt, kindLong:
		if n.logical != "" && v.Type() != reflect.TypeFor[int32]() && v.Type() != reflect.TypeFor[int64]() {
			return v.Interface() // time.Time, time.Duration
		}
		if n.kind == kindInt {
			return int(intOf(v))
		}
		return intOf(v)
	case kindFloat:
		return float32(v.Float())
	case kindDouble:
		return v.Float()
	case kindString, kindEnum:
		return v.String()
	case kindBytes:
		if n.logical == "decimal" {
			return v.Interface()
		}
		return v.Bytes()
	case kindFixed:
		return v.Interface()
	case kindRecord:
		m := make(map[string]any, len(n.fields))
		for _, f := range n.fields {
			m[f.name] = toGeneric(f.node, v.Field(f.index))
		}
		return m
	case kindArray:
		if v.IsNil() {
			return []any{}
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = toGeneric(n.elem, v.Index(i))
		}
		return out
	case kindMap:
		out := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			out[it.Key().String()] = toGeneric(n.elem, it.Value())
		}
		return out
	case kindNullable:
		if v.IsNil() {
			return nil
		}
		if v.Type() == n.elem.typ {
			return toGeneric(n.elem, v)
		}
		return toGeneric(n.elem, v.Elem())
	case kindUnion:
		return v.Interface()
	}
	return v.Interface()
}

func intOf(v reflect.Value) int64 {
	switch v.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return int64(v.Uint())
	}
	return v.Int()
}

func setInteger(n *node, dst reflect.Value, v any, where string) error {
	i, ok := toInt64(v)
	if !ok {
		return convError(where, n, v, "not an integer in range")
	}
	switch dst.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if dst.OverflowInt(i) {
			return convError(where, n, v, "out of range")
		}
		dst.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if i < 0 || dst.OverflowUint(uint64(i)) {
			return convError(where, n, v, "out of range")
		}
		dst.SetUint(uint64(i))
	default:
		return convError(where, n, v, "unsupported Go type "+dst.Type().String())
	}
	return nil
}

// toInt64 converts an exact integer of any numeric type.
func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		return int64(x), uint64(x) <= math.MaxInt64
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case float32:
		return floatToInt(float64(x))
	case float64:
		return floatToInt(x)
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, true
		}
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			return floatToInt(f)
		}
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int64(rv.Uint()), rv.Uint() <= math.MaxInt64
	}
	return 0, false
}

func floatToInt(f float64) (int64, bool) {
	if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	}
	return 0, false
}

func toBytes(v any) ([]byte, bool) {
	switch x := v.(type) {
	case []byte:
		return x, true
	case string:
		return []byte(x), true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		b := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(b), rv)
		return b, true
	}
	return nil, false
}

const (
	dateLayout      = "2006-01-02"
	localTimeLayout = "2006-01-02T15:04:05.999999999"
	timeOfDayLayout = "15:04:05.999999999"
	timeOfDayMillis = "15:04:05.000"
	timeOfDayMicros = "15:04:05.000000"
	timestampMillis = "2006-01-02T15:04:05.000Z07:00"
	timestampMicros = "2006-01-02T15:04:05.000000Z07:00"
	localMillis     = "2006-01-02T15:04:05.000"
	localMicros     = "2006-01-02T15:04:05.000000"
)

// toTime converts v to a date or timestamp of n's logical type.
func toTime(n *node, v any) (time.Time, error) {
	local := n.logical == "local-timestamp-millis" || n.logical == "local-timestamp-micros"
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case string:
		switch {
		case n.logical == "date":
			if t, err := time.Parse(dateLayout, x); err == nil {
				return t, nil
			}
			t, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return time.Time{}, fmt.Errorf("want a date such as 2006-01-02")
			}
			return t.UTC(), nil
		case local:
			t, err := time.ParseInLocation(localTimeLayout, x, time.Local)
			if err != nil {
				if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
					return time.Time{}, fmt.Errorf("want a local date-time such as 2006-01-02T15:04:05.000")
				}
			}
			return t, nil
		}
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return time.Time{}, fmt.Errorf("want an RFC 3339 timestamp such as 2006-01-02T15:04:05.000Z")
		}
		return t.UTC(), nil
	}
	i, ok := toInt64(v)
	if !ok {
		return time.Time{}, fmt.Errorf("want a time, a string or an integer")
	}
	var t time.Time
	switch n.logical {
	case "date":
		if i < math.MinInt32 || i > math.MaxInt32 {
			return time.Time{}, fmt.Errorf("day number out of range")
		}
		return time.Unix(i*86400, 0).UTC(), nil
	case "timestamp-millis", "local-timestamp-millis":
		t = time.UnixMilli(i).UTC()
	default:
		t = time.UnixMicro(i).UTC()
	}
	if local {
		t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.Local)
	}
	return t, nil
}

// toTimeOfDay converts v to a time of day (time-millis, time-micros).
func toTimeOfDay(n *node, v any) (time.Duration, error) {
	switch x := v.(type) {
	case time.Duration:
		return x, nil
	case string:
		t, err := time.Parse(timeOfDayLayout, x)
		if err != nil {
			return 0, fmt.Errorf("want a time of day such as 15:04:05.000")
		}
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
			time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond()), nil
	}
	i, ok := toInt64(v)
	if !ok {
		return 0, fmt.Errorf("want a duration, a string or an integer")
	}
	unit := time.Microsecond
	if n.logical == "time-millis" {
		unit = time.Millisecond
	}
	// Avro does not restrict the number to one day; neither does this.
	if i > math.MaxInt64/int64(unit) || i < math.MinInt64/int64(unit) {
		return 0, fmt.Errorf("out of range")
	}
	return time.Duration(i) * unit, nil
}

// toRat converts v to a decimal.
func toRat(n *node, v any) (*big.Rat, error) {
	switch x := v.(type) {
	case *big.Rat:
		if x == nil {
			return nil, fmt.Errorf("nil decimal")
		}
		return new(big.Rat).Set(x), nil
	case big.Rat:
		return new(big.Rat).Set(&x), nil
	case string:
		return parseDecimal(x)
	case json.Number:
		return parseDecimal(string(x))
	case float32, float64:
		f, _ := toFloat(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("not a finite number")
		}
		// The shortest decimal that round-trips, not the binary
		// fraction: 0.1 becomes 1/10.
		r, _ := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
		return r, nil
	case []byte:
		return ratFromUnscaled(x, n.scale), nil
	}
	if b, ok := toBytes(v); ok && n.kind == kindFixed {
		return ratFromUnscaled(b, n.scale), nil
	}
	if i, ok := toInt64(v); ok {
		return new(big.Rat).SetInt64(i), nil
	}
	return nil, fmt.Errorf("want a decimal")
}

// Bounds on decimal text: big.Rat would otherwise compute 10^999999999
// for a short, hostile exponent, and converts long digit strings in
// quadratic time. Avro decimals rarely exceed 38 digits.
const (
	maxDecimalExponent = 1000
	maxDecimalDigits   = 4096
)

// parseDecimal parses a decimal number: an optional sign, digits with an
// optional fraction, and an optional exponent of at most
// maxDecimalExponent.
func parseDecimal(s string) (*big.Rat, error) {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return nil, fmt.Errorf("want a decimal number")
	}
	if digits > maxDecimalDigits {
		return nil, fmt.Errorf("more than %d digits", maxDecimalDigits)
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		exp, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return nil, fmt.Errorf("want a decimal number")
		}
		if exp > maxDecimalExponent || exp < -maxDecimalExponent {
			return nil, fmt.Errorf("exponent %d out of range", exp)
		}
		i = len(s)
	}
	if i != len(s) {
		return nil, fmt.Errorf("want a decimal number")
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("want a decimal number")
	}
	return r, nil
}

// ratFromUnscaled decodes Avro's decimal bytes: the unscaled value as a
// big-endian two's-complement integer.
func ratFromUnscaled(b []byte, scale int) *big.Rat {
	i := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		i.Sub(i, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	return new(big.Rat).SetFrac(i, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
}
