package console

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	havro "github.com/hamba/avro/v2"
)

// This file converts between Avro's JSON encoding (as written by Avro Java's
// JsonEncoder and read by Confluent's console tools) and Avro's binary
// encoding, directed by a schema. hamba/avro has no JSON encoding, and its
// generic Go values (time.Time for logical types, [N]byte for fixed, unions
// as maps only sometimes) do not map one to one onto Avro JSON, so the
// conversion is done here on the wire bytes.
//
// Avro JSON: null, booleans and numbers as in JSON; NaN and infinities as
// the strings "NaN", "Infinity" and "-Infinity"; bytes and fixed as strings
// whose code points 0-255 are the bytes; enums as their symbol; records and
// maps as objects; arrays as arrays; a union value as null or as an object
// with one member named after the branch ({"string": "x"}, {"com.x.Rec":
// {...}}). Logical types use their underlying type's encoding.

// maxDepth bounds nesting, against recursive schemas and hostile data.
const maxDepth = 500

// maxZeroSizeItems bounds array/map items that take no bytes (nulls, empty
// records) per value, since their count is not bounded by the data.
const maxZeroSizeItems = 1 << 20

// encodeJSON appends the binary encoding of v, a value decoded from Avro
// JSON with json.Decoder.UseNumber, to dst.
func encodeJSON(dst []byte, schema havro.Schema, v any) ([]byte, error) {
	e := jsonEncoder{buf: dst}
	if err := e.value(schema, v, "", false, 0); err != nil {
		return nil, err
	}
	return e.buf, nil
}

type jsonEncoder struct{ buf []byte }

// pathError is an encoding error at a place in the value.
type pathError struct {
	path string
	msg  string
}

func (e *pathError) Error() string {
	if e.path == "" {
		return e.msg
	}
	return e.path + ": " + e.msg
}

func fail(path, format string, args ...any) error {
	return &pathError{path: path, msg: fmt.Sprintf(format, args...)}
}

// describeJSON names a JSON value for error messages.
func describeJSON(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case json.Number:
		return "number " + x.String()
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return "string " + strconv.Quote(x)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func deref(s havro.Schema) havro.Schema {
	if r, ok := s.(*havro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

// branchName is the name a union branch has in Avro JSON.
func branchName(s havro.Schema) string {
	s = deref(s)
	if n, ok := s.(havro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

func unionNames(u *havro.UnionSchema) string {
	names := make([]string, len(u.Types()))
	for i, t := range u.Types() {
		names[i] = strconv.Quote(branchName(t))
	}
	return "[" + strings.Join(names, ",") + "]"
}

func (e *jsonEncoder) long(n int64) {
	e.buf = binary.AppendVarint(e.buf, n) // zig-zag, as Avro
}

func (e *jsonEncoder) bytes(b []byte) {
	e.long(int64(len(b)))
	e.buf = append(e.buf, b...)
}

// value encodes v with schema. dflt is set inside a field default from the
// schema, where a union's value is that of its first branch, unwrapped.
func (e *jsonEncoder) value(schema havro.Schema, v any, path string, dflt bool, depth int) error {
	if depth > maxDepth {
		return fail(path, "nested deeper than %d levels", maxDepth)
	}
	schema = deref(schema)
	switch s := schema.(type) {
	case *havro.NullSchema:
		if v != nil {
			return fail(path, "expected null, got %s", describeJSON(v))
		}
		return nil
	case *havro.PrimitiveSchema:
		return e.primitive(s.Type(), v, path)
	case *havro.FixedSchema:
		b, err := bytesOf(v)
		if err != nil {
			return fail(path, "expected fixed %s (a string of %d code points 0-255), got %s", s.FullName(), s.Size(), describeJSON(v))
		}
		if len(b) != s.Size() {
			return fail(path, "fixed %s needs %d bytes, got %d", s.FullName(), s.Size(), len(b))
		}
		e.buf = append(e.buf, b...)
		return nil
	case *havro.EnumSchema:
		sym, ok := v.(string)
		if !ok {
			return fail(path, "expected a symbol of enum %s, got %s", s.FullName(), describeJSON(v))
		}
		for i, candidate := range s.Symbols() {
			if candidate == sym {
				e.long(int64(i))
				return nil
			}
		}
		return fail(path, "%q is not a symbol of enum %s (symbols: %s)", sym, s.FullName(), strings.Join(s.Symbols(), ", "))
	case *havro.ArraySchema:
		items, ok := v.([]any)
		if !ok {
			return fail(path, "expected an array, got %s", describeJSON(v))
		}
		if len(items) > 0 {
			e.long(int64(len(items)))
			for i, item := range items {
				if err := e.value(s.Items(), item, path+"["+strconv.Itoa(i)+"]", dflt, depth+1); err != nil {
					return err
				}
			}
		}
		e.long(0)
		return nil
	case *havro.MapSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return fail(path, "expected an object (Avro map), got %s", describeJSON(v))
		}
		if len(m) > 0 {
			e.long(int64(len(m)))
			for _, k := range sortedKeys(m) {
				e.bytes([]byte(k))
				if err := e.value(s.Values(), m[k], path+"["+strconv.Quote(k)+"]", dflt, depth+1); err != nil {
					return err
				}
			}
		}
		e.long(0)
		return nil
	case *havro.RecordSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return fail(path, "expected an object (record %s), got %s", s.FullName(), describeJSON(v))
		}
		known := make(map[string]bool, len(s.Fields()))
		for _, f := range s.Fields() {
			known[f.Name()] = true
			fieldPath := joinPath(path, f.Name())
			fv, present := m[f.Name()]
			switch {
			case present:
				if err := e.value(f.Type(), fv, fieldPath, dflt, depth+1); err != nil {
					return err
				}
			case f.HasDefault():
				if err := e.value(f.Type(), f.Default(), fieldPath, true, depth+1); err != nil {
					return fail(fieldPath, "default: %v", err)
				}
			default:
				return fail(fieldPath, "missing, and the field has no default (record %s)", s.FullName())
			}
		}
		for _, k := range sortedKeys(m) {
			if !known[k] {
				return fail(joinPath(path, k), "record %s has no such field", s.FullName())
			}
		}
		return nil
	case *havro.UnionSchema:
		types := s.Types()
		if dflt {
			e.long(0)
			return e.value(types[0], v, path, true, depth+1)
		}
		if v == nil {
			for i, t := range types {
				if deref(t).Type() == havro.Null {
					e.long(int64(i))
					return nil
				}
			}
			return fail(path, "null is not a branch of union %s", unionNames(s))
		}
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return fail(path, "a union %s value must be null or an object with one member naming the branch, like {%s: ...}; got %s", unionNames(s), strconv.Quote(firstNonNull(s)), describeJSON(v))
		}
		var name string
		var inner any
		for name, inner = range m {
		}
		idx := -1
		for i, t := range types {
			full := branchName(t)
			if full == name {
				idx = i
				break
			}
			// Unqualified names of named types are accepted too.
			if n, ok := deref(t).(havro.NamedSchema); ok && n.Name() == name && idx == -1 {
				idx = i
			}
		}
		if idx < 0 {
			return fail(path, "%q is not a branch of union %s", name, unionNames(s))
		}
		e.long(int64(idx))
		return e.value(types[idx], inner, path, false, depth+1)
	}
	return fail(path, "unsupported schema type %s", schema.Type())
}

func firstNonNull(u *havro.UnionSchema) string {
	for _, t := range u.Types() {
		if deref(t).Type() != havro.Null {
			return branchName(t)
		}
	}
	return "null"
}

func joinPath(path, field string) string {
	if path == "" {
		return "field " + strconv.Quote(field)
	}
	return path + "." + field
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Deterministic output; Avro maps are unordered.
	slices.Sort(keys)
	return keys
}

func (e *jsonEncoder) primitive(t havro.Type, v any, path string) error {
	switch t {
	case havro.Null:
		if v != nil {
			return fail(path, "expected null, got %s", describeJSON(v))
		}
	case havro.Boolean:
		b, ok := v.(bool)
		if !ok {
			return fail(path, "expected a boolean, got %s", describeJSON(v))
		}
		if b {
			e.buf = append(e.buf, 1)
		} else {
			e.buf = append(e.buf, 0)
		}
	case havro.Int, havro.Long:
		bits := 64
		if t == havro.Int {
			bits = 32
		}
		n, err := integer(v, bits)
		if err != nil {
			return fail(path, "expected %s, got %s%s", t, describeJSON(v), err)
		}
		e.long(n)
	case havro.Float, havro.Double:
		f, ok := float(v)
		if !ok {
			return fail(path, "expected %s, got %s", t, describeJSON(v))
		}
		if t == havro.Float {
			e.buf = binary.LittleEndian.AppendUint32(e.buf, math.Float32bits(float32(f)))
		} else {
			e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(f))
		}
	case havro.String:
		s, ok := v.(string)
		if !ok {
			return fail(path, "expected a string, got %s", describeJSON(v))
		}
		e.bytes([]byte(s))
	case havro.Bytes:
		b, err := bytesOf(v)
		if err != nil {
			return fail(path, "expected bytes (a string of code points 0-255), got %s", describeJSON(v))
		}
		e.bytes(b)
	default:
		return fail(path, "unsupported type %s", t)
	}
	return nil
}

// integer accepts a JSON number without fraction, or a Go integer from a
// schema default.
func integer(v any, bits int) (int64, error) {
	var n int64
	switch x := v.(type) {
	case json.Number:
		var err error
		n, err = strconv.ParseInt(x.String(), 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(x.String(), 64)
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return 0, errors.New(" (not an integer)")
			}
			n = int64(f)
		}
	case int:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	case float64:
		if x != math.Trunc(x) {
			return 0, errors.New(" (not an integer)")
		}
		n = int64(x)
	default:
		return 0, errors.New("")
	}
	if bits == 32 && (n < math.MinInt32 || n > math.MaxInt32) {
		return 0, errors.New(" (out of range for a 32-bit int)")
	}
	return n, nil
}

func float(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(x.String(), 64)
		return f, err == nil
	case string:
		switch x {
		case "NaN":
			return math.NaN(), true
		case "Infinity":
			return math.Inf(1), true
		case "-Infinity":
			return math.Inf(-1), true
		}
	case float32:
		return float64(x), true
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// bytesOf accepts an Avro JSON bytes string, or the []byte / [N]byte a
// schema default parses into.
func bytesOf(v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		b := make([]byte, 0, len(x))
		for _, r := range x {
			if r > 255 {
				return nil, fmt.Errorf("code point U+%04X above 255", r)
			}
			b = append(b, byte(r))
		}
		return b, nil
	case []byte:
		return x, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		b := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(b), rv)
		return b, nil
	}
	return nil, errors.New("not bytes")
}

// decodeJSON appends the Avro JSON encoding of the binary value in data to
// dst. data must hold exactly one value.
func decodeJSON(dst []byte, schema havro.Schema, data []byte) ([]byte, error) {
	d := jsonDecoder{data: data, out: dst}
	if err := d.value(schema, 0); err != nil {
		return nil, fmt.Errorf("at byte %d: %w", d.pos, err)
	}
	if d.pos != len(data) {
		return nil, fmt.Errorf("%d bytes left over after the value", len(data)-d.pos)
	}
	return d.out, nil
}

type jsonDecoder struct {
	data      []byte
	pos       int
	out       []byte
	zeroItems int
}

var errTruncated = errors.New("unexpected end of data")

func (d *jsonDecoder) long() (int64, error) {
	n, size := binary.Varint(d.data[d.pos:])
	if size <= 0 {
		if size == 0 {
			return 0, errTruncated
		}
		return 0, errors.New("varint overflows 64 bits")
	}
	d.pos += size
	return n, nil
}

func (d *jsonDecoder) int() (int64, error) {
	n, err := d.long()
	if err == nil && (n < math.MinInt32 || n > math.MaxInt32) {
		return 0, fmt.Errorf("int %d out of 32-bit range", n)
	}
	return n, err
}

func (d *jsonDecoder) take(n int64) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("negative length %d", n)
	}
	if n > int64(len(d.data)-d.pos) {
		return nil, errTruncated
	}
	b := d.data[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return b, nil
}

func (d *jsonDecoder) lengthPrefixed() ([]byte, error) {
	n, err := d.long()
	if err != nil {
		return nil, err
	}
	return d.take(n)
}

func (d *jsonDecoder) value(schema havro.Schema, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	schema = deref(schema)
	switch s := schema.(type) {
	case *havro.NullSchema:
		d.out = append(d.out, "null"...)
		return nil
	case *havro.PrimitiveSchema:
		return d.primitive(s.Type())
	case *havro.FixedSchema:
		b, err := d.take(int64(s.Size()))
		if err != nil {
			return err
		}
		d.out = appendBytesString(d.out, b)
		return nil
	case *havro.EnumSchema:
		i, err := d.int()
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(s.Symbols())) {
			return fmt.Errorf("enum index %d out of range for %s", i, s.FullName())
		}
		d.out = appendString(d.out, s.Symbols()[i])
		return nil
	case *havro.ArraySchema:
		d.out = append(d.out, '[')
		first := true
		err := d.blocks(func() error {
			if !first {
				d.out = append(d.out, ',')
			}
			first = false
			return d.value(s.Items(), depth+1)
		})
		d.out = append(d.out, ']')
		return err
	case *havro.MapSchema:
		d.out = append(d.out, '{')
		first := true
		err := d.blocks(func() error {
			if !first {
				d.out = append(d.out, ',')
			}
			first = false
			k, err := d.lengthPrefixed()
			if err != nil {
				return err
			}
			d.out = appendString(d.out, string(k))
			d.out = append(d.out, ':')
			return d.value(s.Values(), depth+1)
		})
		d.out = append(d.out, '}')
		return err
	case *havro.RecordSchema:
		d.out = append(d.out, '{')
		for i, f := range s.Fields() {
			if i > 0 {
				d.out = append(d.out, ',')
			}
			d.out = appendString(d.out, f.Name())
			d.out = append(d.out, ':')
			if err := d.value(f.Type(), depth+1); err != nil {
				return err
			}
		}
		d.out = append(d.out, '}')
		return nil
	case *havro.UnionSchema:
		i, err := d.long()
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(s.Types())) {
			return fmt.Errorf("union index %d out of range", i)
		}
		branch := s.Types()[i]
		if deref(branch).Type() == havro.Null {
			d.out = append(d.out, "null"...)
			return nil
		}
		d.out = append(d.out, '{')
		d.out = appendString(d.out, branchName(branch))
		d.out = append(d.out, ':')
		if err := d.value(branch, depth+1); err != nil {
			return err
		}
		d.out = append(d.out, '}')
		return nil
	}
	return fmt.Errorf("unsupported schema type %s", schema.Type())
}

func (d *jsonDecoder) blocks(item func() error) error {
	for {
		count, err := d.long()
		if err != nil {
			return err
		}
		if count == 0 {
			return nil
		}
		if count < 0 {
			if count == math.MinInt64 {
				return errors.New("invalid block count")
			}
			count = -count
			if _, err := d.long(); err != nil { // block size in bytes
				return err
			}
		}
		for range count {
			start := d.pos
			if err := item(); err != nil {
				return err
			}
			if d.pos == start {
				if d.zeroItems++; d.zeroItems > maxZeroSizeItems {
					return fmt.Errorf("more than %d items of zero size", maxZeroSizeItems)
				}
			}
		}
	}
}

func (d *jsonDecoder) primitive(t havro.Type) error {
	switch t {
	case havro.Null:
		d.out = append(d.out, "null"...)
	case havro.Boolean:
		b, err := d.take(1)
		if err != nil {
			return err
		}
		switch b[0] {
		case 0:
			d.out = append(d.out, "false"...)
		case 1:
			d.out = append(d.out, "true"...)
		default:
			return fmt.Errorf("boolean byte 0x%02x", b[0])
		}
	case havro.Int:
		n, err := d.int()
		if err != nil {
			return err
		}
		d.out = strconv.AppendInt(d.out, n, 10)
	case havro.Long:
		n, err := d.long()
		if err != nil {
			return err
		}
		d.out = strconv.AppendInt(d.out, n, 10)
	case havro.Float:
		b, err := d.take(4)
		if err != nil {
			return err
		}
		d.out = appendFloat(d.out, float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), 32)
	case havro.Double:
		b, err := d.take(8)
		if err != nil {
			return err
		}
		d.out = appendFloat(d.out, math.Float64frombits(binary.LittleEndian.Uint64(b)), 64)
	case havro.String:
		b, err := d.lengthPrefixed()
		if err != nil {
			return err
		}
		d.out = appendString(d.out, string(b))
	case havro.Bytes:
		b, err := d.lengthPrefixed()
		if err != nil {
			return err
		}
		d.out = appendBytesString(d.out, b)
	default:
		return fmt.Errorf("unsupported type %s", t)
	}
	return nil
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

// appendBytesString writes bytes as an Avro JSON string: byte b is code
// point b.
func appendBytesString(dst, b []byte) []byte {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return appendString(dst, sb.String())
}

// appendString writes s as a JSON string, without HTML escaping; invalid
// UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
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
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else if r == '\u2028' || r == '\u2029' {
			dst = append(dst, `\u202`...)
			dst = append(dst, hex[r&0xf])
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
