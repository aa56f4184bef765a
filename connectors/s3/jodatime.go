package s3

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/javafmt"
)

// jodaFormat formats instants with a Joda-Time DateTimeFormat pattern, the
// syntax of Confluent's path.format ('year'=YYYY/'month'=MM/'day'=dd), so a
// Confluent sink configuration gives the same object keys here. Only the
// English locale has text fields (month and day names, AM/PM, eras), as Go
// has no locale data; numeric patterns work in every locale.
//
// The pattern is compiled once into segments; formatting appends to a
// buffer without reflection.
type jodaFormat struct {
	segs []javafmt.DateToken
	loc  *time.Location
	zone string // the zone id as configured, for ZZZ
}

// jodaLetters are the pattern letters Joda-Time defines.
const jodaLetters = "GCYxweEyDMdaKhHkmsSzZ"

// compileJoda parses a Joda-Time pattern. Unknown letters are an error, as
// in Joda ("Illegal pattern component"); so are text fields outside
// English and long zone names, which Go cannot print.
func compileJoda(pattern string, loc *time.Location, zoneID string, english bool) (*jodaFormat, error) {
	segs, err := javafmt.ParseDatePattern(pattern, func(c byte, n int) error {
		if !strings.ContainsRune(jodaLetters, rune(c)) {
			return fmt.Errorf("illegal pattern component %q", string(c))
		}
		text := c == 'G' || c == 'E' || c == 'a' || (c == 'M' && n >= 3)
		if text && !english {
			return fmt.Errorf("pattern component %q prints text, which is only supported in the English locale (set locale to en or use numeric fields)", strings.Repeat(string(c), n))
		}
		if c == 'z' && n >= 4 {
			return fmt.Errorf("pattern component %q (long time zone names) is not supported; use z, Z, ZZ or ZZZ", strings.Repeat(string(c), n))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &jodaFormat{segs: segs, loc: loc, zone: zoneID}, nil
}

// appendFormat appends the instant (Unix milliseconds) formatted in the
// format's zone.
func (f *jodaFormat) appendFormat(dst []byte, ms int64) []byte {
	t := time.UnixMilli(ms).In(f.loc)
	for _, s := range f.segs {
		n := s.Count
		switch s.Letter {
		case 0:
			dst = append(dst, s.Literal...)
		case 'C':
			dst = javafmt.AppendPadded(dst, int64(yearOfEra(t.Year())/100), n)
		case 'Y':
			dst = appendYear(dst, yearOfEra(t.Year()), n)
		case 'y':
			dst = appendYear(dst, t.Year(), n)
		case 'x':
			wy, _ := t.ISOWeek()
			dst = appendYear(dst, wy, n)
		case 'w':
			_, w := t.ISOWeek()
			dst = javafmt.AppendPadded(dst, int64(w), n)
		case 'e':
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			dst = javafmt.AppendPadded(dst, int64(wd), n)
		case 'S':
			// Joda prints the fraction of the second truncated to n digits.
			millis := int64(t.Nanosecond() / int(time.Millisecond))
			switch {
			case n < 3:
				scale := int64(1)
				for i := n; i < 3; i++ {
					scale *= 10
				}
				dst = javafmt.AppendPadded(dst, millis/scale, n)
			default:
				dst = javafmt.AppendPadded(dst, millis, 3)
				for i := 3; i < n; i++ {
					dst = append(dst, '0')
				}
			}
		case 'z':
			name, _ := t.Zone()
			dst = append(dst, name...)
		case 'Z':
			if n >= 3 {
				dst = append(dst, f.zone...)
				break
			}
			_, off := t.Zone()
			sign := byte('+')
			if off < 0 {
				sign, off = '-', -off
			}
			dst = append(dst, sign)
			dst = javafmt.AppendPadded(dst, int64(off/3600), 2)
			if n == 2 {
				dst = append(dst, ':')
			}
			dst = javafmt.AppendPadded(dst, int64(off%3600/60), 2)
		default:
			// The letters SimpleDateFormat shares: G M d D E a K h H k m s.
			dst = javafmt.AppendDateField(dst, t, s.Letter, n)
		}
	}
	return dst
}

func yearOfEra(y int) int {
	if y <= 0 {
		return 1 - y
	}
	return y
}

// appendYear prints a year as Joda does: two digits for a count of 2,
// otherwise at least count digits.
func appendYear(dst []byte, y, n int) []byte {
	if n == 2 {
		v := y % 100
		if v < 0 {
			v += 100
		}
		return javafmt.AppendPadded(dst, int64(v), 2)
	}
	return javafmt.AppendPadded(dst, int64(y), n)
}

// loadZone resolves a timezone setting as Joda's DateTimeZone.forID does:
// a zone id ("Europe/Paris", "UTC") or a fixed offset "[+-]hh:mm".
func loadZone(id string) (*time.Location, error) {
	if id == "" {
		return nil, fmt.Errorf("empty time zone")
	}
	if id[0] == '+' || id[0] == '-' {
		var h, m int
		rest := id[1:]
		hs, ms, _ := strings.Cut(rest, ":")
		var err1, err2 error
		h, err1 = strconv.Atoi(hs)
		if ms != "" {
			m, err2 = strconv.Atoi(ms)
		}
		if err1 != nil || err2 != nil || h > 23 || m > 59 || len(hs) != 2 || (ms != "" && len(ms) != 2) {
			return nil, fmt.Errorf("%q is not an offset like +01:00", id)
		}
		off := h*3600 + m*60
		if id[0] == '-' {
			off = -off
		}
		return time.FixedZone(id, off), nil
	}
	loc, err := time.LoadLocation(id)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (use a zone id such as UTC or America/New_York, or an offset such as +01:00)", id)
	}
	return loc, nil
}

// zoneOffsetMs is the zone's offset from UTC at instant ms, in ms.
func zoneOffsetMs(loc *time.Location, ms int64) int64 {
	_, off := time.UnixMilli(ms).In(loc).Zone()
	return int64(off) * 1000
}

// timeBucket is Confluent's TimeBasedPartitioner.getPartition: the start
// of the partition.duration.ms bucket holding ms, with buckets aligned to
// local time in the zone (so daily buckets start at local midnight). Like
// Java's, the division truncates toward zero.
func timeBucket(durationMs, ms int64, loc *time.Location) int64 {
	local := ms + zoneOffsetMs(loc, ms)
	bucket := (local / durationMs) * durationMs
	// Joda's convertLocalToUTC(local, false): the offset in force at the
	// local instant, re-evaluated once for instants near a transition.
	off := zoneOffsetMs(loc, bucket-zoneOffsetMs(loc, bucket))
	return bucket - off
}

// nextScheduledRotation is Confluent's DateTimeUtils.getNextTimeAdjustedByDay:
// the next multiple of period after now, counted from the start of the
// local day, and at most the start of the next day.
func nextScheduledRotation(now time.Time, period time.Duration, loc *time.Location) time.Time {
	local := now.In(loc)
	startOfDay := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	startOfNextDay := time.Date(local.Year(), local.Month(), local.Day()+1, 0, 0, 0, 0, loc)
	dayMs := startOfNextDay.Sub(startOfDay).Milliseconds()
	periodMs := period.Milliseconds()
	sinceStart := now.UnixMilli() - startOfDay.UnixMilli()
	next := (sinceStart/periodMs + 1) * periodMs
	return time.UnixMilli(startOfDay.UnixMilli() + min(next, dayMs))
}
