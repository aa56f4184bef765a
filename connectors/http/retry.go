package httpconn

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// statusSet is a set of HTTP status codes written as Confluent's
// retry.on.status.codes: codes and ranges separated by commas, a range
// open at the top when it ends with "-" ("429,500-", "408,429,500-599").
type statusSet []statusRange

type statusRange struct{ lo, hi int }

func parseStatusSet(s string) (statusSet, error) {
	var set statusSet
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(item, "-")
		a, err := parseStatus(lo)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", item, err)
		}
		b := a
		if isRange {
			if strings.TrimSpace(hi) == "" {
				b = 599
			} else if b, err = parseStatus(hi); err != nil {
				return nil, fmt.Errorf("%q: %v", item, err)
			}
			if b < a {
				return nil, fmt.Errorf("%q: the range ends before it starts", item)
			}
		}
		set = append(set, statusRange{a, b})
	}
	return set, nil
}

func parseStatus(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 100 || n > 599 {
		return 0, fmt.Errorf("%q is not an HTTP status code (100-599)", strings.TrimSpace(s))
	}
	return n, nil
}

func (s statusSet) has(code int) bool {
	for _, r := range s {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP-date (RFC 9110 10.2.3). It returns false when the header is absent
// or unreadable; a date in the past is a zero delay.
func parseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}

// backoff computes the wait before retry number attempt (0 for the first
// retry).
type backoff struct {
	base        time.Duration
	max         time.Duration
	exponential bool
}

// delay is base under CONSTANT_VALUE; under EXPONENTIAL_WITH_JITTER it is
// base·2^attempt capped at max, of which a random half is waited ("equal
// jitter": never less than half the step, so retries of many tasks spread
// out without collapsing to zero).
func (b backoff) delay(attempt int) time.Duration {
	if !b.exponential {
		return min(b.base, b.max)
	}
	d := b.base
	for i := 0; i < attempt && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
