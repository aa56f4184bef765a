package transforms

import (
	"regexp"
	"testing"
	"time"
)

// FuzzDateFormat feeds record values (untrusted) to the SimpleDateFormat
// parser, and configured patterns to the compiler: neither may panic, and
// a pattern that compiles formats any time.
func FuzzDateFormat(f *testing.F) {
	for _, s := range [][2]string{
		{"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-03-05T14:07:09.045-02:30"},
		{"yyyyMMdd", "20240305"},
		{"EEE, d MMM yyyy HH:mm:ss z", "Tue, 5 Mar 2024 14:07:09 GMT+01:00"},
		{"h:mm a", "12:07 PM"},
		{"yy D", "99 366"},
		{"'quoted''' SSSSSSSSSSSSSSSSSSSS", "quoted' 99999999999999999999"},
		{"Z X z", "+2359 -23:59 UTC-7"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, input string) {
		df, err := compileDateFormat(pattern)
		if err != nil {
			return
		}
		df.append(nil, time.Unix(1700000000, 123456789))
		if tm, err := df.parse(input); err == nil {
			df.append(nil, tm)
		}
	})
}

// FuzzFieldPath parses configured field paths and Java replacements.
func FuzzFieldPath(f *testing.F) {
	for _, s := range []string{"a.b", "`a.b`.c", "`a\\`.b`.c", "a.", "`", "``", "$1", "${g}", "\\$", "x$"} {
		f.Add(s)
	}
	re := regexp.MustCompile(`(?P<g>a)(b)`)
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := parseFieldPath(s, "V2"); err == nil && len(p) == 0 {
			t.Errorf("%q parsed to no steps", s)
		}
		if r, err := compileJavaReplacement(re, s); err == nil {
			r.replaceFirst(re, "xaby")
		}
	})
}
