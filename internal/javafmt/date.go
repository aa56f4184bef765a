package javafmt

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DateToken is one piece of a compiled date pattern: a field (a run of one
// pattern letter) or literal text.
type DateToken struct {
	Letter  byte   // the pattern letter; 0 for literal text
	Count   int    // how many times the letter is repeated
	Literal string // the text, when Letter is 0
}

// UnterminatedQuoteError is returned by [ParseDatePattern] for a quote
// that is not closed.
type UnterminatedQuoteError struct {
	Pos int // the byte offset of the opening quote
}

func (e *UnterminatedQuoteError) Error() string {
	return fmt.Sprintf("unterminated quote at position %d", e.Pos)
}

// ParseDatePattern splits a date pattern into tokens with the syntax
// SimpleDateFormat and Joda-Time's DateTimeFormat share: a run of one ASCII
// letter is a field; text in single quotes is literal, and two quotes in a
// row are one quote (inside quoted text too); every other character is
// literal. Adjacent literal text is one token.
//
// Which letters are fields differs between the two, so field is called for
// each run of a letter, in pattern order, before the pattern is read
// further; an error from it is returned as it is. An unclosed quote is an
// [*UnterminatedQuoteError].
func ParseDatePattern(pattern string, field func(letter byte, count int) error) ([]DateToken, error) {
	var toks []DateToken
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, DateToken{Literal: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(pattern); {
		c := pattern[i]
		switch {
		case c == '\'':
			if i+1 < len(pattern) && pattern[i+1] == '\'' {
				lit.WriteByte('\'')
				i += 2
				continue
			}
			j := i + 1
			closed := false
			for j < len(pattern) {
				if pattern[j] == '\'' {
					if j+1 < len(pattern) && pattern[j+1] == '\'' {
						lit.WriteByte('\'')
						j += 2
						continue
					}
					closed = true
					break
				}
				lit.WriteByte(pattern[j])
				j++
			}
			if !closed {
				return nil, &UnterminatedQuoteError{Pos: i}
			}
			i = j + 1
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(pattern) && pattern[j] == c {
				j++
			}
			if err := field(c, j-i); err != nil {
				return nil, err
			}
			flush()
			toks = append(toks, DateToken{Letter: c, Count: j - i})
			i = j
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return toks, nil
}

// AppendDateField appends the field of t that count repetitions of letter
// name, for the letters that mean the same in SimpleDateFormat and
// Joda-Time, in the English locale: G (era: AD, BC), M (month: 1, 01, Jan,
// January), d (day of month), D (day of year), E (day of week: Mon,
// Monday), a (AM, PM), H (hour 0-23), k (hour 1-24), K (hour 0-11), h
// (hour 1-12), m (minute) and s (second). Numbers are padded with zeros to
// count digits. For any other letter it appends nothing.
func AppendDateField(dst []byte, t time.Time, letter byte, count int) []byte {
	switch letter {
	case 'G':
		if t.Year() > 0 {
			return append(dst, "AD"...)
		}
		return append(dst, "BC"...)
	case 'M':
		switch {
		case count >= 4:
			return append(dst, t.Month().String()...)
		case count == 3:
			return append(dst, t.Month().String()[:3]...)
		}
		return AppendPadded(dst, int64(t.Month()), count)
	case 'd':
		return AppendPadded(dst, int64(t.Day()), count)
	case 'D':
		return AppendPadded(dst, int64(t.YearDay()), count)
	case 'E':
		name := t.Weekday().String()
		if count < 4 {
			name = name[:3]
		}
		return append(dst, name...)
	case 'a':
		if t.Hour() < 12 {
			return append(dst, "AM"...)
		}
		return append(dst, "PM"...)
	case 'H':
		return AppendPadded(dst, int64(t.Hour()), count)
	case 'k':
		h := t.Hour()
		if h == 0 {
			h = 24
		}
		return AppendPadded(dst, int64(h), count)
	case 'K':
		return AppendPadded(dst, int64(t.Hour()%12), count)
	case 'h':
		h := t.Hour() % 12
		if h == 0 {
			h = 12
		}
		return AppendPadded(dst, int64(h), count)
	case 'm':
		return AppendPadded(dst, int64(t.Minute()), count)
	case 's':
		return AppendPadded(dst, int64(t.Second()), count)
	}
	return dst
}

// AppendPadded appends v in decimal with at least width digits (zeros in
// front), after a '-' if it is negative.
func AppendPadded(dst []byte, v int64, width int) []byte {
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	var buf [20]byte
	s := strconv.AppendInt(buf[:0], v, 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}
