package connectjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of arrays and objects, as Jackson's
// StreamReadConstraints do (default 1000): deeper documents are refused
// instead of recursing without bound.
const maxDepth = 1000

// parser decodes JSON into schemaless values. It is a single pass over the
// bytes with no reflection; every allocation is a value it returns.
type parser struct {
	data  []byte
	pos   int
	depth int
	// exact keeps numbers that are not int64 as json.Number (their text),
	// so that Coerce can turn them into exact decimals.
	exact bool
}

// SyntaxError is a JSON syntax error at a byte offset of the input.
type SyntaxError struct {
	Offset int
	msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("connectjson: invalid JSON at byte %d: %s", e.Offset, e.msg)
}

func (p *parser) fail(format string, args ...any) error {
	return &SyntaxError{Offset: p.pos, msg: fmt.Sprintf(format, args...)}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// document parses exactly one value surrounded by optional whitespace.
func (p *parser) document() (any, error) {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, p.fail("no JSON value (the input is empty)")
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.fail("unexpected data after the JSON value")
	}
	return v, nil
}

func (p *parser) value() (any, error) {
	if p.pos >= len(p.data) {
		return nil, p.fail("unexpected end of input")
	}
	switch c := p.data[p.pos]; c {
	case '{':
		return p.object()
	case '[':
		return p.array()
	case '"':
		return p.str()
	case 't':
		return true, p.literal("true")
	case 'f':
		return false, p.literal("false")
	case 'n':
		return nil, p.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return p.number()
		}
		return nil, p.fail("unexpected character %q", c)
	}
}

func (p *parser) literal(lit string) error {
	if len(p.data)-p.pos < len(lit) || string(p.data[p.pos:p.pos+len(lit)]) != lit {
		return p.fail("invalid literal (want %s)", lit)
	}
	p.pos += len(lit)
	return nil
}

func (p *parser) object() (any, error) {
	empty, err := p.open('}')
	if err != nil {
		return nil, err
	}
	m := make(map[string]any)
	if empty {
		return m, nil
	}
	for {
		p.skipSpace()
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		m[k] = v // the last of duplicate keys wins, as in Jackson and encoding/json
		more, err := p.next('}')
		if err != nil {
			return nil, err
		}
		if !more {
			return m, nil
		}
	}
}

func (p *parser) array() (any, error) {
	empty, err := p.open(']')
	if err != nil {
		return nil, err
	}
	arr := make([]any, 0, 4)
	if empty {
		return arr, nil
	}
	for {
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		more, err := p.next(']')
		if err != nil {
			return nil, err
		}
		if !more {
			return arr, nil
		}
	}
}

// open enters the object or array at its opening bracket (closing is '}'
// or ']'), one nesting level deeper, and reports whether it is empty: then
// it has been passed over whole.
func (p *parser) open(closing byte) (empty bool, err error) {
	if p.depth++; p.depth > maxDepth {
		return false, p.fail("nested deeper than %d levels", maxDepth)
	}
	p.pos++
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == closing {
		p.pos++
		p.depth--
		return true, nil
	}
	return false, nil
}

// key reads an object key and the ':' after it, and the space after that.
func (p *parser) key() (string, error) {
	if p.pos >= len(p.data) || p.data[p.pos] != '"' {
		return "", p.fail("want an object key (a string)")
	}
	k, err := p.str()
	if err != nil {
		return "", err
	}
	return k, p.colon()
}

// skipKey is key without building the key.
func (p *parser) skipKey() error {
	if p.pos >= len(p.data) || p.data[p.pos] != '"' {
		return p.fail("want an object key (a string)")
	}
	if err := p.skipString(); err != nil {
		return err
	}
	return p.colon()
}

func (p *parser) colon() error {
	p.skipSpace()
	if p.pos >= len(p.data) || p.data[p.pos] != ':' {
		return p.fail("want ':' after an object key")
	}
	p.pos++
	p.skipSpace()
	return nil
}

// next passes over what follows a member of an object or array (closing
// is '}' or ']'): a ',' (more is true: another member follows) or the
// closing bracket, which ends the nesting level.
func (p *parser) next(closing byte) (more bool, err error) {
	in := "an object"
	if closing == ']' {
		in = "an array"
	}
	p.skipSpace()
	if p.pos >= len(p.data) {
		return false, p.fail("unexpected end of input in %s", in)
	}
	switch p.data[p.pos] {
	case ',':
		p.pos++
		return true, nil
	case closing:
		p.pos++
		p.depth--
		return false, nil
	}
	return false, p.fail("want ',' or '%c' in %s", closing, in)
}

// str parses a string starting at its opening quote.
func (p *parser) str() (string, error) {
	start := p.pos + 1
	ascii := true
	for i := start; i < len(p.data); i++ {
		c := p.data[i]
		switch {
		case c == '"':
			raw := p.data[start:i]
			p.pos = i + 1
			if ascii || utf8.Valid(raw) {
				return string(raw), nil
			}
			return string(appendValidUTF8(make([]byte, 0, len(raw)+8), raw)), nil
		case c == '\\':
			return p.strSlow(start)
		case c < 0x20:
			p.pos = i
			return "", p.fail("control character 0x%02X in a string (escape it)", c)
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	p.pos = len(p.data)
	return "", p.fail("unterminated string")
}

// strSlow decodes a string with escapes.
func (p *parser) strSlow(start int) (string, error) {
	buf := make([]byte, 0, 32)
	i := start
	for i < len(p.data) {
		c := p.data[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return string(buf), nil
		case c < 0x20:
			p.pos = i
			return "", p.fail("control character 0x%02X in a string (escape it)", c)
		case c == '\\':
			if i+1 >= len(p.data) {
				p.pos = i
				return "", p.fail("unterminated escape")
			}
			e := p.data[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := hex4(p.data[i:])
				if !ok {
					p.pos = i
					return "", p.fail(`invalid \u escape`)
				}
				i += 4
				if utf16.IsSurrogate(r) {
					// A high surrogate followed by an escaped low one is one
					// code point; a lone surrogate becomes U+FFFD, as in
					// encoding/json.
					if len(p.data)-i >= 6 && p.data[i] == '\\' && p.data[i+1] == 'u' {
						if r2, ok := hex4(p.data[i+2:]); ok {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								i += 6
								buf = utf8.AppendRune(buf, dec)
								continue
							}
						}
					}
					r = utf8.RuneError
				}
				buf = utf8.AppendRune(buf, r)
			default:
				p.pos = i - 1
				return "", p.fail("invalid escape character %q", e)
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRune(p.data[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, "\uFFFD"...)
			} else {
				buf = append(buf, p.data[i:i+size]...)
			}
			i += size
		}
	}
	p.pos = len(p.data)
	return "", p.fail("unterminated string")
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// appendValidUTF8 appends s with every invalid byte replaced by U+FFFD.
func appendValidUTF8(dst, s []byte) []byte {
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, s[:size]...)
		}
		s = s[size:]
	}
	return dst
}

// number parses a JSON number: an int64 if it is written without fraction
// or exponent and fits, otherwise a float64 (or its text as json.Number in
// exact mode).
func (p *parser) number() (any, error) {
	start := p.pos
	end, integral, ok := scanNumber(p.data, start)
	if !ok {
		p.pos = end
		return nil, p.fail("invalid number")
	}
	p.pos = end
	lit := p.data[start:end]
	if integral {
		if n, ok := parseInt64(lit); ok {
			return n, nil
		}
	}
	if p.exact {
		return json.Number(lit), nil
	}
	f, err := strconv.ParseFloat(unsafeString(lit), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, p.fail("invalid number")
	}
	// Out of range: ±Inf, as Jackson's doubleValue gives for a huge
	// literal (and 0 for a tiny one, as ParseFloat does).
	return f, nil
}

// scanNumber scans the JSON number grammar
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? from start.
func scanNumber(data []byte, start int) (end int, integral, ok bool) {
	i := start
	if i < len(data) && data[i] == '-' {
		i++
	}
	if i >= len(data) {
		return i, false, false
	}
	switch {
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		return i, false, false
	}
	integral = true
	if i < len(data) && data[i] == '.' {
		integral = false
		i++
		digits := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == digits {
			return i, false, false
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		integral = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		digits := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == digits {
			return i, false, false
		}
	}
	return i, integral, true
}

// isJSONNumber reports whether b is exactly one JSON number.
func isJSONNumber(b []byte) bool {
	end, _, ok := scanNumber(b, 0)
	return ok && end == len(b)
}

// parseInt64 parses a validated integer literal, reporting overflow.
func parseInt64(lit []byte) (int64, bool) {
	neg := lit[0] == '-'
	digits := lit
	if neg {
		digits = lit[1:]
	}
	if len(digits) <= 18 { // cannot overflow
		var n int64
		for _, c := range digits {
			n = n*10 + int64(c-'0')
		}
		if neg {
			n = -n
		}
		return n, true
	}
	n, err := strconv.ParseInt(unsafeString(lit), 10, 64)
	return n, err == nil
}

// skip passes over one value, validating it, without building it.
func (p *parser) skip() error {
	if p.pos >= len(p.data) {
		return p.fail("unexpected end of input")
	}
	switch c := p.data[p.pos]; c {
	case '{', '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		if empty, err := p.open(closing); empty || err != nil {
			return err
		}
		for {
			p.skipSpace()
			if c == '{' {
				if err := p.skipKey(); err != nil {
					return err
				}
			}
			if err := p.skip(); err != nil {
				return err
			}
			if more, err := p.next(closing); !more {
				return err
			}
		}
	case '"':
		return p.skipString()
	case 't':
		return p.literal("true")
	case 'f':
		return p.literal("false")
	case 'n':
		return p.literal("null")
	default:
		end, _, ok := scanNumber(p.data, p.pos)
		p.pos = end
		if !ok {
			return p.fail("invalid number")
		}
		return nil
	}
}

func (p *parser) skipString() error {
	for i := p.pos + 1; i < len(p.data); i++ {
		switch c := p.data[i]; {
		case c == '"':
			p.pos = i + 1
			return nil
		case c == '\\':
			// Validate the escape by decoding the rest of the string.
			_, err := p.strSlow(p.pos + 1)
			return err
		case c < 0x20:
			p.pos = i
			return p.fail("control character 0x%02X in a string (escape it)", c)
		}
	}
	p.pos = len(p.data)
	return p.fail("unterminated string")
}

// numberValue converts a decoded number (int64, float64, json.Number) to
// float64.
func numberValue(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, false
		}
		return f, true
	case float32:
		return float64(n), true
	}
	if n, ok := IntValue(v); ok {
		return float64(n), true
	}
	return 0, false
}
