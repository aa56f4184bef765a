package transforms

// Java's SimpleDateFormat patterns, as Kafka Connect's TimestampConverter
// and TimestampRouter take them ("yyyy-MM-dd'T'HH:mm:ss.SSSZ"), compiled
// into a token list that formats and parses without translating to Go's
// reference-time layouts (which cannot express every pattern: a literal
// "1" or "Jan" in a Go layout is a field).
//
// Supported letters: G y M L d D E u a H k K h m s S z Z X, quoted text
// ('T', with '' for a quote). Week-based letters (Y w W F) depend on a
// locale's week rules and are refused with a clear error. Formatting is in
// UTC, as Kafka Connect configures its formats; parsing honours a zone in
// the input (z, Z, X) and is lenient like SimpleDateFormat's default:
// out-of-range values roll over (month 13 is January of the next year),
// spaces before a field are skipped, and text after the pattern is
// ignored.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/javafmt"
)

// dateFormat is a compiled SimpleDateFormat pattern. It is immutable and
// safe for concurrent use (unlike Java's SimpleDateFormat).
type dateFormat struct {
	pattern string
	toks    []javafmt.DateToken
	// now is the clock for two-digit years ("yy" parses into the century
	// starting 80 years before now, as SimpleDateFormat does).
	now func() time.Time
}

var unsupportedLetters = map[byte]string{
	'Y': "week year (use y for the calendar year)",
	'w': "week in year",
	'W': "week in month",
	'F': "day of week in month",
}

func isSupportedLetter(c byte) bool {
	return strings.IndexByte("GyMLdDEuaHkKhmsSzZX", c) >= 0
}

// compileDateFormat compiles a SimpleDateFormat pattern.
func compileDateFormat(pattern string) (*dateFormat, error) {
	toks, err := javafmt.ParseDatePattern(pattern, func(c byte, _ int) error {
		if what, ok := unsupportedLetters[c]; ok {
			return fmt.Errorf("date pattern %q: letter '%c' (%s) is not supported", pattern, c, what)
		}
		if !isSupportedLetter(c) {
			return fmt.Errorf("date pattern %q: illegal pattern character '%c' (quote literal text, as in 'T')", pattern, c)
		}
		return nil
	})
	if _, ok := errors.AsType[*javafmt.UnterminatedQuoteError](err); ok {
		return nil, fmt.Errorf("unterminated quote in date pattern %q", pattern)
	}
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, errors.New("empty date pattern")
	}
	return &dateFormat{pattern: pattern, toks: toks, now: time.Now}, nil
}

var (
	longMonths  = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	shortMonths = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	longDays    = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	shortDays   = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
)

// append formats t (in UTC) to dst.
func (f *dateFormat) append(dst []byte, t time.Time) []byte {
	t = t.UTC()
	for _, tk := range f.toks {
		switch tk.Letter {
		case 0:
			dst = append(dst, tk.Literal...)
		case 'y':
			y := t.Year()
			if y <= 0 {
				y = 1 - y // year of era
			}
			if tk.Count == 2 {
				y %= 100
			}
			dst = javafmt.AppendPadded(dst, int64(y), tk.Count)
		case 'L': // the stand-alone month, the same as M in English
			dst = javafmt.AppendDateField(dst, t, 'M', tk.Count)
		case 'u':
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			dst = javafmt.AppendPadded(dst, int64(wd), tk.Count)
		case 'S':
			dst = javafmt.AppendPadded(dst, int64(t.Nanosecond()/1e6), tk.Count)
		case 'z':
			if tk.Count >= 4 {
				dst = append(dst, "Coordinated Universal Time"...)
			} else {
				dst = append(dst, "UTC"...)
			}
		case 'Z':
			dst = append(dst, "+0000"...)
		case 'X':
			dst = append(dst, 'Z')
		default:
			// The letters Joda-Time shares: G M d D E a H k K h m s.
			dst = javafmt.AppendDateField(dst, t, tk.Letter, tk.Count)
		}
	}
	return dst
}

func (f *dateFormat) format(t time.Time) string { return string(f.append(nil, t)) }

// numericField reports whether a token parses as a number (for abutting
// fields, which then take exactly their count of digits).
func numericField(tk javafmt.DateToken) bool {
	switch tk.Letter {
	case 'y', 'd', 'D', 'u', 'H', 'k', 'K', 'h', 'm', 's', 'S':
		return true
	case 'M', 'L':
		return tk.Count <= 2
	}
	return false
}

// parse parses s, leniently as SimpleDateFormat does by default.
func (f *dateFormat) parse(s string) (time.Time, error) {
	fail := func() (time.Time, error) {
		return time.Time{}, fmt.Errorf("value %q does not match the date pattern %q", s, f.pattern)
	}
	year, month, day, yday := 1970, 1, 1, -1
	hour24, hour12, minute, second, millis := -1, -1, 0, 0, 0
	pm, bc, daySet := false, false, false
	loc := time.UTC
	pos := 0
	for i, tk := range f.toks {
		if tk.Letter == 0 {
			if !strings.HasPrefix(s[pos:], tk.Literal) {
				return fail()
			}
			pos += len(tk.Literal)
			continue
		}
		// SimpleDateFormat skips spaces and tabs before a field.
		for pos < len(s) && (s[pos] == ' ' || s[pos] == '\t') {
			pos++
		}
		if pos >= len(s) {
			return fail()
		}
		if numericField(tk) {
			width := 0
			if i+1 < len(f.toks) && numericField(f.toks[i+1]) {
				width = tk.Count
			}
			start := pos
			end := pos
			for end < len(s) && s[end] >= '0' && s[end] <= '9' && (width == 0 || end-start < width) {
				end++
			}
			if end == start || end-start > 18 {
				return fail()
			}
			n, _ := strconv.Atoi(s[start:end])
			pos = end
			switch tk.Letter {
			case 'y':
				if tk.Count <= 2 && end-start == 2 {
					// Two-digit years fall in the 100 years starting 80
					// years ago, as SimpleDateFormat's default century.
					startYear := f.now().Year() - 80
					n += startYear / 100 * 100
					if n < startYear {
						n += 100
					}
				}
				year = n
			case 'M', 'L':
				month = n
			case 'd':
				day, daySet = n, true
			case 'D':
				yday = n
			case 'u':
				// The day of the week does not change the date.
			case 'H':
				hour24 = n
			case 'k':
				if n == 24 {
					n = 0
				}
				hour24 = n
			case 'K':
				hour12 = n
			case 'h':
				if n == 12 {
					n = 0
				}
				hour12 = n
			case 'm':
				minute = n
			case 's':
				second = n
			case 'S':
				millis = n
			}
			continue
		}
		rest := s[pos:]
		switch tk.Letter {
		case 'M', 'L':
			k, n := matchName(rest, longMonths, shortMonths)
			if k < 0 {
				return fail()
			}
			month, pos = k+1, pos+n
		case 'E':
			k, n := matchName(rest, longDays, shortDays)
			if k < 0 {
				return fail()
			}
			pos += n
		case 'a':
			k, n := matchName(rest, []string{"AM", "PM"}, nil)
			if k < 0 {
				return fail()
			}
			pm, pos = k == 1, pos+n
		case 'G':
			k, n := matchName(rest, []string{"AD", "BC"}, nil)
			if k < 0 {
				return fail()
			}
			bc, pos = k == 1, pos+n
		case 'z', 'Z', 'X':
			l, n, ok := parseZone(rest)
			if !ok {
				return fail()
			}
			loc, pos = l, pos+n
		}
	}
	hour := 0
	switch {
	case hour24 >= 0:
		hour = hour24
	case hour12 >= 0:
		hour = hour12
		if pm {
			hour += 12
		}
	}
	if bc {
		year = 1 - year
	}
	if yday >= 0 && !daySet {
		month, day = 1, yday
	}
	// time.Date normalizes out-of-range values, as a lenient Calendar does.
	return time.Date(year, time.Month(month), day, hour, minute, second+millis/1000, (millis%1000)*1e6, loc).UTC(), nil
}

// matchName matches the longest of names (case-insensitively) at the start
// of s, trying long names before short ones; it returns the index and the
// length matched, or -1.
func matchName(s string, long, short []string) (int, int) {
	for _, names := range [][]string{long, short} {
		best, bestLen := -1, 0
		for i, n := range names {
			if len(n) > bestLen && len(s) >= len(n) && strings.EqualFold(s[:len(n)], n) {
				best, bestLen = i, len(n)
			}
		}
		if best >= 0 {
			return best, bestLen
		}
	}
	return -1, 0
}

// parseZone parses a time zone at the start of s: "Z", "UTC", "GMT", "UT",
// optionally followed by an offset, or an offset alone: ±hh, ±hhmm,
// ±hh:mm, ±h:mm.
func parseZone(s string) (*time.Location, int, bool) {
	n := 0
	named := false
	for _, p := range []string{"UTC", "GMT", "UT"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			n, named = len(p), true
			break
		}
	}
	if !named && len(s) > 0 && (s[0] == 'Z' || s[0] == 'z') {
		return time.UTC, 1, true
	}
	if n >= len(s) || (s[n] != '+' && s[n] != '-') {
		if named {
			return time.UTC, n, true
		}
		return nil, 0, false
	}
	sign := 1
	if s[n] == '-' {
		sign = -1
	}
	i := n + 1
	digits := func(max int) (int, int) {
		j := i
		for j < len(s) && j-i < max && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		v, _ := strconv.Atoi(s[i:j])
		return v, j - i
	}
	h, hn := digits(2)
	if hn == 0 {
		if named {
			return time.UTC, n, true
		}
		return nil, 0, false
	}
	i += hn
	m := 0
	if i < len(s) && s[i] == ':' {
		i++
		var mn int
		m, mn = digits(2)
		if mn != 2 {
			return nil, 0, false
		}
		i += mn
	} else if hn == 2 {
		var mn int
		m, mn = digits(2)
		if mn == 2 {
			i += mn
		} else {
			m = 0
		}
	}
	if h > 23 || m > 59 {
		return nil, 0, false
	}
	off := sign * (h*3600 + m*60)
	if off == 0 {
		return time.UTC, i, true
	}
	return time.FixedZone("", off), i, true
}
