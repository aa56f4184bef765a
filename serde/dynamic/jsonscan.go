package dynamic

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonScanner reads JSON text. It validates what it reads (strings,
// numbers, literals, nesting) to RFC 8259, so that text it accepts is
// JSON; values of unknown fields are skipped with the same checks.
type jsonScanner struct {
	data    []byte
	pos     int
	scratch []byte // unescaped string bytes, reused
}

// maxJSONDepth bounds nesting in skipped and schemaless values, so that
// hostile input cannot exhaust the stack.
const maxJSONDepth = 1000

var errJSONEnd = errors.New("unexpected end of JSON")

func (s *jsonScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", s.pos, fmt.Sprintf(format, args...))
}

func (s *jsonScanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte without consuming it, or 0 at the
// end.
func (s *jsonScanner) peek() byte {
	s.ws()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

func (s *jsonScanner) expect(c byte) error {
	if s.peek() != c {
		return s.unexpected(strconv.QuoteRune(rune(c)))
	}
	s.pos++
	return nil
}

// literal consumes one of true, false, null.
func (s *jsonScanner) literal(lit string) bool {
	if len(s.data)-s.pos >= len(lit) && string(s.data[s.pos:s.pos+len(lit)]) == lit {
		s.pos += len(lit)
		return true
	}
	return false
}

// null consumes a null if one is next.
func (s *jsonScanner) null() bool {
	return s.peek() == 'n' && s.literal("null")
}

func (s *jsonScanner) boolean() (bool, error) {
	switch s.peek() {
	case 't':
		if s.literal("true") {
			return true, nil
		}
	case 'f':
		if s.literal("false") {
			return false, nil
		}
	}
	return false, s.unexpected("a boolean")
}

// unexpected describes the value found where want was expected.
func (s *jsonScanner) unexpected(want string) error {
	if s.pos >= len(s.data) {
		return s.errorf("%v, want %s", errJSONEnd, want)
	}
	found := "invalid JSON"
	switch c := s.data[s.pos]; {
	case c == '"':
		found = "a string"
	case c == '{':
		found = "an object"
	case c == '[':
		found = "an array"
	case c == 't' || c == 'f':
		found = "a boolean"
	case c == 'n':
		found = "null"
	case c == '-' || (c >= '0' && c <= '9'):
		found = "a number"
	}
	return s.errorf("found %s, want %s", found, want)
}

// number consumes a number token and returns its text.
func (s *jsonScanner) number() ([]byte, error) {
	s.ws()
	start := s.pos
	d := s.data
	i := s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return nil, s.unexpected("a number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.pos = i
			return nil, s.errorf("invalid number")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.pos = i
			return nil, s.errorf("invalid number")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	s.pos = i
	return d[start:i], nil
}

// integer consumes a number that must be an integer (5, -3, 5.0, 1e3).
func (s *jsonScanner) integer() (int64, error) {
	start := s.pos
	tok, err := s.number()
	if err != nil {
		return 0, err
	}
	if i, err := strconv.ParseInt(string(tok), 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	if i, ok := floatToInt(f); err == nil && ok {
		return i, nil
	}
	s.pos = start
	return 0, s.errorf("%s is not an integer in range", tok)
}

func (s *jsonScanner) float() (float64, error) {
	tok, err := s.number()
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		return 0, s.errorf("%s is out of range", tok)
	}
	return f, nil
}

// stringBytes consumes a string and returns its unescaped UTF-8 bytes,
// valid until the next call (they alias the input or the scratch buffer).
// Invalid UTF-8 is replaced by U+FFFD, as encoding/json does.
func (s *jsonScanner) stringBytes() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.unexpected("a string")
	}
	s.pos++
	start := s.pos
	d := s.data
	for i := start; i < len(d); i++ {
		c := d[i]
		switch {
		case c == '"':
			s.pos = i + 1
			if utf8.Valid(d[start:i]) {
				return d[start:i], nil
			}
			return s.slowString(start)
		case c == '\\':
			return s.slowString(start)
		case c < 0x20:
			s.pos = i
			return nil, s.errorf("control character in string")
		}
	}
	s.pos = len(d)
	return nil, s.errorf("%v in a string", errJSONEnd)
}

func (s *jsonScanner) slowString(start int) ([]byte, error) {
	out := s.scratch[:0]
	d := s.data
	i := start
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			s.pos = i + 1
			s.scratch = out
			return out, nil
		case c < 0x20:
			s.pos = i
			return nil, s.errorf("control character in string")
		case c == '\\':
			if i+1 >= len(d) {
				s.pos = len(d)
				return nil, s.errorf("%v in a string", errJSONEnd)
			}
			switch e := d[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
				i += 2
			case 'b':
				out = append(out, '\b')
				i += 2
			case 'f':
				out = append(out, '\f')
				i += 2
			case 'n':
				out = append(out, '\n')
				i += 2
			case 'r':
				out = append(out, '\r')
				i += 2
			case 't':
				out = append(out, '\t')
				i += 2
			case 'u':
				r, ok := hex4(d, i+2)
				if !ok {
					s.pos = i
					return nil, s.errorf("invalid \\u escape")
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2, ok := rune(-1), false
					if i+1 < len(d) && d[i] == '\\' && d[i+1] == 'u' {
						r2, ok = hex4(d, i+2)
					}
					if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				s.pos = i
				return nil, s.errorf("invalid escape \\%c", e)
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, d[i:i+size]...)
			}
			i += size
		}
	}
	s.pos = len(d)
	return nil, s.errorf("%v in a string", errJSONEnd)
}

func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (s *jsonScanner) str() (string, error) {
	b, err := s.stringBytes()
	return string(b), err
}

// skip consumes one value of any type.
func (s *jsonScanner) skip(depth int) error {
	if depth > maxJSONDepth {
		return s.errorf("nested deeper than %d", maxJSONDepth)
	}
	switch s.peek() {
	case '{':
		s.pos++
		if s.peek() == '}' {
			s.pos++
			return nil
		}
		for {
			if _, err := s.stringBytes(); err != nil {
				return err
			}
			if err := s.expect(':'); err != nil {
				return err
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if more, err := s.next('}'); err != nil || !more {
				return err
			}
		}
	case '[':
		s.pos++
		if s.peek() == ']' {
			s.pos++
			return nil
		}
		for {
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if more, err := s.next(']'); err != nil || !more {
				return err
			}
		}
	case '"':
		_, err := s.stringBytes()
		return err
	case 't', 'f':
		_, err := s.boolean()
		return err
	case 'n':
		if s.literal("null") {
			return nil
		}
	default:
		_, err := s.number()
		return err
	}
	return s.unexpected("a value")
}

// next consumes the separator after an item of an object or array: it
// reports true after a comma, false after the closing byte.
func (s *jsonScanner) next(closing byte) (bool, error) {
	switch s.peek() {
	case ',':
		s.pos++
		return true, nil
	case closing:
		s.pos++
		return false, nil
	}
	return false, s.unexpected(fmt.Sprintf("',' or %q", closing))
}

// anyValue parses one value of any type: objects as map[string]any,
// arrays as []any, integral numbers (no fraction or exponent, in range)
// as int64, other numbers as float64.
func (s *jsonScanner) anyValue(depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, s.errorf("nested deeper than %d", maxJSONDepth)
	}
	switch s.peek() {
	case '{':
		s.pos++
		m := map[string]any{}
		if s.peek() == '}' {
			s.pos++
			return m, nil
		}
		for {
			key, err := s.str()
			if err != nil {
				return nil, err
			}
			if err := s.expect(':'); err != nil {
				return nil, err
			}
			v, err := s.anyValue(depth + 1)
			if err != nil {
				return nil, err
			}
			m[key] = v
			if more, err := s.next('}'); err != nil || !more {
				return m, err
			}
		}
	case '[':
		s.pos++
		list := []any{}
		if s.peek() == ']' {
			s.pos++
			return list, nil
		}
		for {
			v, err := s.anyValue(depth + 1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
			if more, err := s.next(']'); err != nil || !more {
				return list, err
			}
		}
	case '"':
		return s.str()
	case 't', 'f':
		return s.boolean()
	case 'n':
		if s.literal("null") {
			return nil, nil
		}
		return nil, s.unexpected("a value")
	}
	tok, err := s.number()
	if err != nil {
		return nil, err
	}
	if i, err := strconv.ParseInt(string(tok), 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil && !math.IsInf(f, 0) {
		return nil, s.errorf("invalid number %s", tok)
	}
	if math.IsInf(f, 0) {
		return nil, s.errorf("number %s is out of range", tok)
	}
	return f, nil
}

// end checks that only white space follows the value.
func (s *jsonScanner) end() error {
	if s.peek() != 0 || s.pos < len(s.data) {
		return s.errorf("data after the JSON value")
	}
	return nil
}
