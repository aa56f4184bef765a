package dynamic

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/serde"
)

// JSONSerde returns a serde for t's values as JSON objects keyed by the
// Avro field names, in the representation described in the package doc.
// Serialize takes a value of t (a pointer to its struct); Deserialize
// returns one. Decoding errors name the topic, the byte offset and the
// field path. The serde is safe for concurrent use.
func JSONSerde(t *Type) serde.Serde[any] {
	c := &jsonCodec{t: t, enc: map[*node]encFn{}, dec: map[*node]decFn{}}
	s := &jsonSerde{t: t, enc: c.encoder(t.root), dec: c.decoder(t.root)}
	s.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return s
}

type jsonSerde struct {
	t    *Type
	enc  encFn
	dec  decFn
	bufs sync.Pool // *[]byte
}

// encFn appends v (of its node's Go type) as JSON.
type encFn func(buf []byte, v reflect.Value) ([]byte, error)

// decFn reads one JSON value into v (settable, of its node's Go type).
type decFn func(s *jsonScanner, v reflect.Value) error

func (j *jsonSerde) Serialize(topic string, value any) ([]byte, error) {
	rv, err := j.t.check(value, "json encode")
	if err != nil {
		return nil, fmt.Errorf("%w (topic %q)", err, topic)
	}
	bp := j.bufs.Get().(*[]byte)
	buf, err := j.enc((*bp)[:0], rv)
	if err != nil {
		j.bufs.Put(bp)
		return nil, fmt.Errorf("dynamic: json encode %s for topic %q: %w", j.t.root.fullName, topic, err)
	}
	out := append([]byte(nil), buf...)
	if cap(buf) <= 1<<20 {
		*bp = buf
		j.bufs.Put(bp)
	}
	return out, nil
}

func (j *jsonSerde) Deserialize(topic string, data []byte) (any, error) {
	v := reflect.New(j.t.root.typ)
	s := jsonScanner{data: data}
	err := j.dec(&s, v.Elem())
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return nil, fmt.Errorf("dynamic: json decode %s from topic %q: %w", j.t.root.fullName, topic, err)
	}
	return v.Interface(), nil
}

// pathError prefixes an error with the field path where it happened.
type pathError struct {
	path []string // innermost first
	err  error
}

func (e *pathError) Error() string {
	p := slices.Clone(e.path)
	slices.Reverse(p)
	return "field " + strings.Join(p, ".") + ": " + e.err.Error()
}

func (e *pathError) Unwrap() error { return e.err }

func inField(name string, err error) error {
	var pe *pathError
	if errors.As(err, &pe) {
		pe.path = append(pe.path, name)
		return pe
	}
	return &pathError{path: []string{name}, err: err}
}

// jsonCodec compiles the encoders and decoders of a Type's nodes once.
type jsonCodec struct {
	t   *Type
	enc map[*node]encFn
	dec map[*node]decFn
}

func (c *jsonCodec) encoder(n *node) encFn {
	if f, ok := c.enc[n]; ok {
		return f
	}
	f := c.newEncoder(n)
	c.enc[n] = f
	return f
}

func (c *jsonCodec) decoder(n *node) decFn {
	if f, ok := c.dec[n]; ok {
		return f
	}
	f := c.newDecoder(n)
	c.dec[n] = f
	return f
}

// timeOf reads a time.Time without boxing it when v is addressable.
func timeOf(v reflect.Value) time.Time {
	if v.CanAddr() {
		return *(*time.Time)(v.Addr().UnsafePointer())
	}
	return v.Interface().(time.Time)
}

func bytesOf(v reflect.Value) []byte {
	if v.Kind() == reflect.Slice || v.CanAddr() {
		return v.Bytes()
	}
	b := make([]byte, v.Len())
	reflect.Copy(reflect.ValueOf(b), v)
	return b
}

// appendTimeNumber appends t as a number in n's unit: days, milliseconds
// or microseconds since the epoch (of the wall clock for local times).
func appendTimeNumber(buf []byte, n *node, t time.Time) []byte {
	if strings.HasPrefix(n.logical, "local-") {
		t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	}
	switch n.logical {
	case "date":
		return strconv.AppendInt(buf, t.Unix()/86400, 10)
	case "timestamp-millis", "local-timestamp-millis":
		return strconv.AppendInt(buf, t.Unix()*1e3+int64(t.Nanosecond()/1e6), 10)
	}
	return strconv.AppendInt(buf, t.Unix()*1e6+int64(t.Nanosecond()/1e3), 10)
}

func appendTimeOfDay(buf []byte, d time.Duration, micros bool) []byte {
	t := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).Add(d)
	layout := timeOfDayMillis
	if micros {
		layout = timeOfDayMicros
	}
	buf = append(buf, '"')
	buf = t.AppendFormat(buf, layout)
	return append(buf, '"')
}

func (c *jsonCodec) newEncoder(n *node) encFn {
	switch n.kind {
	case kindNull:
		return func(buf []byte, _ reflect.Value) ([]byte, error) { return append(buf, "null"...), nil }
	case kindBoolean:
		return func(buf []byte, v reflect.Value) ([]byte, error) { return strconv.AppendBool(buf, v.Bool()), nil }
	case kindInt, kindLong:
		switch {
		case n.typ == timeType:
			layout := timestampMillis
			switch n.logical {
			case "date":
				layout = dateLayout
			case "timestamp-micros":
				layout = timestampMicros
			case "local-timestamp-millis":
				layout = localMillis
			case "local-timestamp-micros":
				layout = localMicros
			}
			local := strings.HasPrefix(n.logical, "local-")
			return func(buf []byte, v reflect.Value) ([]byte, error) {
				t := timeOf(v)
				if local {
					t = t.Local()
				} else {
					t = t.UTC()
				}
				if y := t.Year(); y < 0 || y > 9999 {
					// RFC 3339 has four-digit years: write the number
					// in the schema's unit, which reads back.
					return appendTimeNumber(buf, n, t), nil
				}
				buf = append(buf, '"')
				buf = t.AppendFormat(buf, layout)
				return append(buf, '"'), nil
			}
		case n.logical == "time-millis" || n.logical == "time-micros":
			micros := n.logical == "time-micros"
			unit := time.Millisecond
			if micros {
				unit = time.Microsecond
			}
			return func(buf []byte, v reflect.Value) ([]byte, error) {
				d := time.Duration(v.Int())
				if d < 0 || d >= 24*time.Hour {
					// Not a time of day (Avro does not check): write the
					// number in the schema's unit.
					return strconv.AppendInt(buf, int64(d/unit), 10), nil
				}
				return appendTimeOfDay(buf, d, micros), nil
			}
		}
		return func(buf []byte, v reflect.Value) ([]byte, error) { return strconv.AppendInt(buf, intOf(v), 10), nil }
	case kindFloat, kindDouble:
		bits := 64
		if n.kind == kindFloat {
			bits = 32
		}
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			f := v.Float()
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return buf, fmt.Errorf("%v cannot be written as JSON", f)
			}
			return strconv.AppendFloat(buf, f, 'g', -1, bits), nil
		}
	case kindString, kindEnum:
		return func(buf []byte, v reflect.Value) ([]byte, error) { return appendJSONString(buf, v.String()), nil }
	case kindBytes, kindFixed:
		if n.typ == ratPtrType {
			scale := n.scale
			return func(buf []byte, v reflect.Value) ([]byte, error) {
				r := (*big.Rat)(v.UnsafePointer())
				if r == nil {
					return buf, errors.New("nil decimal in a field that is not nullable")
				}
				return append(buf, r.FloatString(scale)...), nil
			}
		}
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			b := bytesOf(v)
			buf = append(buf, '"')
			buf = base64.StdEncoding.AppendEncode(buf, b)
			return append(buf, '"'), nil
		}
	case kindRecord:
		type fieldEnc struct {
			key   []byte // `"name":`
			index int
			name  string
			enc   encFn
		}
		fields := make([]fieldEnc, len(n.fields))
		for i, f := range n.fields {
			key := appendJSONString(nil, f.name)
			fields[i] = fieldEnc{key: append(key, ':'), index: f.index, name: f.name, enc: c.encoder(f.node)}
		}
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			buf = append(buf, '{')
			for i, f := range fields {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, f.key...)
				var err error
				if buf, err = f.enc(buf, v.Field(f.index)); err != nil {
					return buf, inField(f.name, err)
				}
			}
			return append(buf, '}'), nil
		}
	case kindArray:
		elem := c.encoder(n.elem)
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			buf = append(buf, '[')
			for i := range v.Len() {
				if i > 0 {
					buf = append(buf, ',')
				}
				var err error
				if buf, err = elem(buf, v.Index(i)); err != nil {
					return buf, inField(strconv.Itoa(i), err)
				}
			}
			return append(buf, ']'), nil
		}
	case kindMap:
		elem := c.encoder(n.elem)
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			keys := v.MapKeys()
			sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
			buf = append(buf, '{')
			for i, k := range keys {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = appendJSONString(buf, k.String())
				buf = append(buf, ':')
				var err error
				if buf, err = elem(buf, v.MapIndex(k)); err != nil {
					return buf, inField(strconv.Quote(k.String()), err)
				}
			}
			return append(buf, '}'), nil
		}
	case kindNullable:
		elem := c.encoder(n.elem)
		direct := n.typ == n.elem.typ // *big.Rat: nil is null
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			if v.IsNil() {
				return append(buf, "null"...), nil
			}
			if direct {
				return elem(buf, v)
			}
			return elem(buf, v.Elem())
		}
	case kindUnion:
		branches := make([]encFn, len(n.union))
		for i, b := range n.union {
			branches[i] = c.encoder(b)
		}
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			if v.IsNil() {
				return append(buf, "null"...), nil
			}
			i, typed, err := unionBranch(n, v.Elem().Interface())
			if err != nil {
				return buf, fmt.Errorf("%v (%T) %w of %s", v.Elem().Interface(), v.Elem().Interface(), err, describe(n))
			}
			if n.union[i].kind == kindNull {
				return append(buf, "null"...), nil
			}
			return branches[i](buf, typed)
		}
	}
	return func(buf []byte, _ reflect.Value) ([]byte, error) {
		return buf, fmt.Errorf("cannot encode %s", describe(n))
	}
}

// appendJSONString appends s as a JSON string, escaping what RFC 8259
// requires and replacing invalid UTF-8 with U+FFFD.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, "\ufffd"...)
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

func (c *jsonCodec) newDecoder(n *node) decFn {
	switch n.kind {
	case kindNull:
		return func(s *jsonScanner, _ reflect.Value) error {
			if !s.null() {
				return s.unexpected("null")
			}
			return nil
		}
	case kindBoolean:
		return func(s *jsonScanner, v reflect.Value) error {
			b, err := s.boolean()
			v.SetBool(b)
			return err
		}
	case kindInt, kindLong:
		if n.typ == timeType || n.logical == "time-millis" || n.logical == "time-micros" {
			isTime := n.typ == timeType
			return func(s *jsonScanner, v reflect.Value) error {
				start := s.pos
				var x any
				if s.peek() == '"' {
					str, err := s.str()
					if err != nil {
						return err
					}
					x = str
				} else {
					i, err := s.integer()
					if err != nil {
						return err
					}
					x = i
				}
				if isTime {
					t, err := toTime(n, x)
					if err != nil {
						s.pos = start
						return s.errorf("%v for %s", err, describe(n))
					}
					*(*time.Time)(v.Addr().UnsafePointer()) = t
					return nil
				}
				d, err := toTimeOfDay(n, x)
				if err != nil {
					s.pos = start
					return s.errorf("%v for %s", err, describe(n))
				}
				v.SetInt(int64(d))
				return nil
			}
		}
		return func(s *jsonScanner, v reflect.Value) error {
			start := s.pos
			i, err := s.integer()
			if err != nil {
				return err
			}
			switch v.Kind() {
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				if v.OverflowInt(i) {
					s.pos = start
					return s.errorf("%d is out of range for %s", i, describe(n))
				}
				v.SetInt(i)
			default:
				if i < 0 || v.OverflowUint(uint64(i)) {
					s.pos = start
					return s.errorf("%d is out of range for %s", i, describe(n))
				}
				v.SetUint(uint64(i))
			}
			return nil
		}
	case kindFloat, kindDouble:
		return func(s *jsonScanner, v reflect.Value) error {
			start := s.pos
			f, err := s.float()
			if err != nil {
				return err
			}
			if v.OverflowFloat(f) {
				s.pos = start
				return s.errorf("%g is out of range for %s", f, describe(n))
			}
			v.SetFloat(f)
			return nil
		}
	case kindString:
		return func(s *jsonScanner, v reflect.Value) error {
			str, err := s.str()
			v.SetString(str)
			return err
		}
	case kindEnum:
		symbols := make(map[string]string, len(n.symbols))
		for _, sym := range n.symbols {
			symbols[sym] = sym
		}
		return func(s *jsonScanner, v reflect.Value) error {
			start := s.pos
			b, err := s.stringBytes()
			if err != nil {
				return err
			}
			sym, ok := symbols[string(b)]
			if !ok {
				s.pos = start
				return s.errorf("%q is not a symbol of enum %s %v", b, n.fullName, n.symbols)
			}
			v.SetString(sym) // the interned symbol: no allocation
			return nil
		}
	case kindBytes, kindFixed:
		if n.typ == ratPtrType {
			return func(s *jsonScanner, v reflect.Value) error {
				var tok []byte
				var err error
				start := s.pos
				if s.peek() == '"' {
					tok, err = s.stringBytes()
				} else {
					tok, err = s.number()
				}
				if err != nil {
					return err
				}
				r, err := parseDecimal(string(tok))
				if err != nil {
					s.pos = start
					return s.errorf("%q: %v", tok, err)
				}
				v.Set(reflect.ValueOf(r))
				return nil
			}
		}
		return func(s *jsonScanner, v reflect.Value) error {
			start := s.pos
			b, err := s.stringBytes()
			if err != nil {
				return err
			}
			out, err := base64.StdEncoding.AppendDecode(nil, b)
			if err != nil {
				s.pos = start
				return s.errorf("not base64: %v", err)
			}
			if n.kind == kindBytes {
				v.SetBytes(out)
				return nil
			}
			if len(out) != n.size {
				s.pos = start
				return s.errorf("%d bytes for fixed %s of size %d", len(out), n.fullName, n.size)
			}
			reflect.Copy(v, reflect.ValueOf(out))
			return nil
		}
	case kindRecord:
		return c.recordDecoder(n)
	case kindArray:
		elem := c.decoder(n.elem)
		return func(s *jsonScanner, v reflect.Value) error {
			if err := s.expect('['); err != nil {
				return err
			}
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			if s.peek() == ']' {
				s.pos++
				return nil
			}
			for i := 0; ; i++ {
				v.Grow(1)
				v.SetLen(i + 1)
				if err := elem(s, v.Index(i)); err != nil {
					return inField(strconv.Itoa(i), err)
				}
				if more, err := s.next(']'); err != nil || !more {
					return err
				}
			}
		}
	case kindMap:
		elem := c.decoder(n.elem)
		keyType := n.typ.Key()
		elemType := n.typ.Elem()
		return func(s *jsonScanner, v reflect.Value) error {
			if err := s.expect('{'); err != nil {
				return err
			}
			m := reflect.MakeMap(v.Type())
			v.Set(m)
			if s.peek() == '}' {
				s.pos++
				return nil
			}
			for {
				key, err := s.str()
				if err != nil {
					return err
				}
				if err := s.expect(':'); err != nil {
					return err
				}
				val := reflect.New(elemType).Elem()
				if err := elem(s, val); err != nil {
					return inField(strconv.Quote(key), err)
				}
				m.SetMapIndex(reflect.ValueOf(key).Convert(keyType), val)
				if more, err := s.next('}'); err != nil || !more {
					return err
				}
			}
		}
	case kindNullable:
		elem := c.decoder(n.elem)
		direct := n.typ == n.elem.typ
		return func(s *jsonScanner, v reflect.Value) error {
			if s.null() {
				v.SetZero()
				return nil
			}
			if direct {
				return elem(s, v)
			}
			p := reflect.New(v.Type().Elem())
			if err := elem(s, p.Elem()); err != nil {
				return err
			}
			v.Set(p)
			return nil
		}
	case kindUnion:
		branches := make([]decFn, len(n.union))
		for i, b := range n.union {
			branches[i] = c.decoder(b)
		}
		return func(s *jsonScanner, v reflect.Value) error {
			if s.peek() == 'n' && n.hasNull() {
				if !s.null() {
					return s.unexpected("a value")
				}
				v.SetZero()
				return nil
			}
			start := s.pos
			if err := s.skip(0); err != nil {
				return err
			}
			end := s.pos
			// The first branch that reads the whole value wins, in the
			// union's order.
			for i, b := range n.union {
				if b.kind == kindNull {
					continue
				}
				sub := jsonScanner{data: s.data[:end], pos: start}
				tmp := reflect.New(b.typ).Elem()
				if branches[i](&sub, tmp) != nil || sub.end() != nil {
					continue
				}
				g := unionValue(n, b, tmp)
				v.Set(reflect.ValueOf(&g).Elem())
				return nil
			}
			s.pos = start
			return s.errorf("the value matches no branch of %s", describe(n))
		}
	}
	return func(s *jsonScanner, _ reflect.Value) error {
		return s.errorf("cannot decode %s", describe(n))
	}
}

func (c *jsonCodec) recordDecoder(n *node) decFn {
	type fieldDec struct {
		f   *fieldNode
		dec decFn
	}
	byName := make(map[string]int, len(n.fields))
	fields := make([]fieldDec, len(n.fields))
	for i, f := range n.fields {
		byName[f.name] = i
		fields[i] = fieldDec{f: f, dec: c.decoder(f.node)}
	}
	return func(s *jsonScanner, v reflect.Value) error {
		if err := s.expect('{'); err != nil {
			return err
		}
		var seenSmall [2]uint64
		var seenLarge []bool
		if len(fields) > 128 {
			seenLarge = make([]bool, len(fields))
		}
		if s.peek() == '}' {
			s.pos++
		} else {
			for {
				key, err := s.stringBytes()
				if err != nil {
					return err
				}
				i, known := byName[string(key)]
				if err := s.expect(':'); err != nil {
					return err
				}
				if !known {
					if err := s.skip(0); err != nil {
						return err
					}
				} else {
					fd := fields[i]
					if err := fd.dec(s, v.Field(fd.f.index)); err != nil {
						return inField(fd.f.name, err)
					}
					if seenLarge != nil {
						seenLarge[i] = true
					} else {
						seenSmall[i/64] |= 1 << (i % 64)
					}
				}
				more, err := s.next('}')
				if err != nil {
					return err
				}
				if !more {
					break
				}
			}
		}
		for i, fd := range fields {
			seen := seenSmall[i/64]&(1<<(i%64)) != 0
			if seenLarge != nil {
				seen = seenLarge[i]
			}
			if !seen {
				if err := setMissing(fd.f, v.Field(fd.f.index)); err != nil {
					return inField(fd.f.name, err)
				}
			}
		}
		return nil
	}
}

// SchemalessJSONSerde returns a serde for JSON values without a schema:
// Deserialize returns an object as map[string]any (nested objects too),
// an array as []any, integral numbers without fraction or exponent that
// fit an int64 as int64, other numbers as float64, and strings, booleans
// and nil as such; top-level values of any type are accepted. Serialize
// writes any value with encoding/json. The serde is safe for concurrent
// use.
func SchemalessJSONSerde() serde.Serde[any] { return schemalessSerde{} }

type schemalessSerde struct{}

func (schemalessSerde) Serialize(topic string, value any) ([]byte, error) {
	b, err := json.Marshal(value)
	if err != nil {
		return nil, fmt.Errorf("dynamic: json encode for topic %q: %w", topic, err)
	}
	return b, nil
}

func (schemalessSerde) Deserialize(topic string, data []byte) (any, error) {
	s := jsonScanner{data: data}
	v, err := s.anyValue(0)
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return nil, fmt.Errorf("dynamic: json decode from topic %q: %w", topic, err)
	}
	return v, nil
}
