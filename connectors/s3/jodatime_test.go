package s3

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

func TestJodaFormat(t *testing.T) {
	t.Parallel()
	la, err := loadZone("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	// 2015-04-02 01:00 in Los Angeles (PDT, -07:00), as Confluent's tests.
	at := time.Date(2015, 4, 2, 1, 0, 0, 0, la).UnixMilli()
	pm := time.Date(2015, 4, 2, 13, 5, 9, 120*int(time.Millisecond), la).UnixMilli()
	midnight := time.Date(2015, 4, 2, 0, 30, 0, 0, la).UnixMilli()
	for _, c := range []struct {
		pattern string
		ms      int64
		want    string
	}{
		{"'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH", at, "year=2015/month=04/day=02/hour=01"},
		{"'year'=YYYY/'month'=M/'day'=d/'hour'=H", at, "year=2015/month=4/day=2/hour=1"},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSZ", pm, "2015-04-02T13:05:09.120-0700"},
		{"ZZ|ZZZ", at, "-07:00|America/Los_Angeles"},
		{"EEE, dd MMM yy|EEEE MMMM", at, "Thu, 02 Apr 15|Thursday April"},
		{"'it''s' HH''", at, "it's 01'"},
		{"hh a|KK|kk|h", pm, "01 PM|01|13|1"},
		{"kk|HH", midnight, "24|00"},
		{"D|ww|e|C|G|xxxx|S|SS|SSSS", pm, "92|14|4|20|AD|2015|1|12|1200"},
		{"z", at, "PDT"},
		{"'dt'=yyyyMMdd/'hr'=HH", at, "dt=20150402/hr=01"},
	} {
		f, err := compileJoda(c.pattern, la, "America/Los_Angeles", true)
		if err != nil {
			t.Errorf("%q: %v", c.pattern, err)
			continue
		}
		if got := string(f.appendFormat(nil, c.ms)); got != c.want {
			t.Errorf("%q: %q, want %q", c.pattern, got, c.want)
		}
	}
	for _, bad := range []string{"YYYY/q", "'open", "zzzz"} {
		if _, err := compileJoda(bad, la, "", true); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
	if _, err := compileJoda("MMM", la, "", false); err == nil {
		t.Error("a text month compiled in a non-English locale")
	}
	if _, err := compileJoda("'year'=YYYY/MM", la, "", false); err != nil {
		t.Errorf("numeric pattern in a non-English locale: %v", err)
	}
}

func TestTimeBucketsAndSchedule(t *testing.T) {
	t.Parallel()
	la, _ := loadZone("America/Los_Angeles")
	kolkata, _ := loadZone("Asia/Kolkata")
	plus, err := loadZone("+05:30")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		loc      *time.Location
		duration time.Duration
		at, want time.Time
	}{
		{la, time.Hour, time.Date(2015, 4, 2, 1, 30, 0, 0, la), time.Date(2015, 4, 2, 1, 0, 0, 0, la)},
		{la, 24 * time.Hour, time.Date(2015, 4, 2, 23, 59, 0, 0, la), time.Date(2015, 4, 2, 0, 0, 0, 0, la)},
		{kolkata, 15 * time.Minute, time.Date(2024, 1, 1, 10, 44, 0, 0, kolkata), time.Date(2024, 1, 1, 10, 30, 0, 0, kolkata)},
		{plus, 24 * time.Hour, time.Date(2024, 1, 1, 2, 0, 0, 0, plus), time.Date(2024, 1, 1, 0, 0, 0, 0, plus)},
		{time.UTC, time.Hour, time.Date(2024, 1, 1, 10, 59, 59, 999e6, time.UTC), time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)},
	} {
		got := timeBucket(c.duration.Milliseconds(), c.at.UnixMilli(), c.loc)
		if got != c.want.UnixMilli() {
			t.Errorf("bucket of %v by %v: %v, want %v", c.at, c.duration, time.UnixMilli(got).In(c.loc), c.want)
		}
	}
	for _, c := range []struct {
		now    time.Time
		period time.Duration
		want   time.Time
	}{
		{time.Date(2024, 3, 1, 10, 0, 30, 0, time.UTC), time.Minute, time.Date(2024, 3, 1, 10, 1, 0, 0, time.UTC)},
		{time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC), time.Hour, time.Date(2024, 3, 1, 11, 0, 0, 0, time.UTC)},
		{time.Date(2024, 3, 1, 22, 0, 0, 0, time.UTC), 7 * time.Hour, time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)},
		{time.Date(2024, 3, 1, 22, 0, 0, 0, la), 12 * time.Hour, time.Date(2024, 3, 2, 0, 0, 0, 0, la)},
	} {
		if got := nextScheduledRotation(c.now, c.period, c.now.Location()); !got.Equal(c.want) {
			t.Errorf("next rotation after %v every %v: %v, want %v", c.now, c.period, got, c.want)
		}
	}
	for _, bad := range []string{"", "Mars/Olympus", "+5:30", "+25:00"} {
		if _, err := loadZone(bad); err == nil {
			t.Errorf("zone %q loaded", bad)
		}
	}
}

func TestRecordFieldTimestamps(t *testing.T) {
	t.Parallel()
	e := &timestampExtractor{kind: extractorRecordField, name: "meta.ts", field: []string{"meta", "ts"}}
	want := time.Date(2015, 4, 2, 8, 0, 0, 0, time.UTC).UnixMilli()
	for _, v := range []any{want, float64(want), "2015-04-02T01:00:00-07:00", "2015-04-02T08:00:00.000Z", "1427961600000", time.UnixMilli(want)} {
		got, err := e.extract(withMeta(v), time.Time{})
		if err != nil || got != want {
			t.Errorf("%T %v: %d, %v; want %d", v, v, got, err, want)
		}
	}
	if _, err := e.extract(withMeta("yesterday"), time.Time{}); err == nil {
		t.Error("a non-time string was taken as a timestamp")
	}
}

func withMeta(ts any) *connectors.Record {
	return &connectors.Record{Value: map[string]any{"meta": map[string]any{"ts": ts}}}
}

func FuzzJodaPattern(f *testing.F) {
	f.Add("'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH", int64(1_700_000_000_000))
	f.Add("EEE MMM d ''yy h:mm a z ZZ ZZZ SSSS", int64(-1))
	f.Fuzz(func(t *testing.T, pattern string, ms int64) {
		ms %= 1 << 50 // dates within ±35,000 years
		fm, err := compileJoda(pattern, time.UTC, "UTC", true)
		if err != nil {
			return
		}
		fm.appendFormat(nil, ms)
	})
}
