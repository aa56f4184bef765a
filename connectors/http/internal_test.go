package httpconn

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

func TestURLTemplate(t *testing.T) {
	for _, tc := range []struct {
		tmpl  string
		key   any
		want  string
		isErr string
	}{
		{tmpl: "http://h/x", want: "http://h/x"},
		{tmpl: "http://h/${topic}/${partition}", want: "http://h/my.topic/3"},
		{tmpl: "https://h/items/${key}?src=${topic}", key: "a b/c?d&e=f", want: "https://h/items/a%20b%2Fc%3Fd%26e%3Df?src=my.topic"},
		{tmpl: "http://h/${key}", key: int32(-5), want: "http://h/-5"},
		{tmpl: "http://h/${key}", key: []byte("ok"), want: "http://h/ok"},
		{tmpl: "http://h/${key}", key: []byte{0xff, 0x00}, want: "http://h/_wA"},
		{tmpl: "http://h/${key}", key: 1.5, want: "http://h/1.5"},
		{tmpl: "http://h/${key}", isErr: "null key"},
		{tmpl: "http://h/${key}", key: map[string]any{}, isErr: "map"},
	} {
		u, err := parseURLTemplate(tc.tmpl)
		if err != nil {
			t.Fatalf("%s: %v", tc.tmpl, err)
		}
		got, err := u.render(nil, "my.topic", 3, tc.key)
		if tc.isErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.isErr) {
				t.Errorf("%s with key %v: %v, want an error about %s", tc.tmpl, tc.key, err, tc.isErr)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s with key %v = %q, %v; want %q", tc.tmpl, tc.key, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "/relative", "mailto:x@y", "http://h/${nope}", "http://h/${key", "http:///path"} {
		if _, err := parseURLTemplate(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestStatusSet(t *testing.T) {
	s, err := parseStatusSet("408, 429,500-503,550-")
	if err != nil {
		t.Fatal(err)
	}
	var in []int
	for code := 100; code <= 599; code++ {
		if s.has(code) {
			in = append(in, code)
		}
	}
	want := []int{408, 429, 500, 501, 502, 503}
	for c := 550; c <= 599; c++ {
		want = append(want, c)
	}
	if !slices.Equal(in, want) {
		t.Errorf("codes %v", in)
	}
	for _, bad := range []string{"5xx", "600", "99", "503-500", "-500"} {
		if _, err := parseStatusSet(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		h    string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"99999999999", 24 * time.Hour, true},
	} {
		got, ok := parseRetryAfter(tc.h, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q = %v, %v; want %v, %v", tc.h, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := backoff{base: 100 * time.Millisecond, max: time.Second}
	if d := c.delay(5); d != 100*time.Millisecond {
		t.Errorf("constant: %v", d)
	}
	e := backoff{base: 100 * time.Millisecond, max: time.Second, exponential: true}
	for attempt, step := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		step *= time.Millisecond
		for range 50 {
			if d := e.delay(attempt); d < step/2 || d > step {
				t.Fatalf("attempt %d: %v, want within [%v, %v]", attempt, d, step/2, step)
			}
		}
	}
	if d := e.delay(1 << 20); d > time.Second {
		t.Errorf("huge attempt: %v", d)
	}
}

func TestDecodeBodyJSONLines(t *testing.T) {
	vs, err := decodeBody(formatJSONLines, []byte("1\n\n{\"a\":[true]}\r\n  \"s\"  "))
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 || vs[0] != int64(1) || vs[2] != "s" {
		t.Errorf("values %#v", vs)
	}
	if _, err := decodeBody(formatJSONLines, []byte("1\n2 3\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %v, want one naming line 2", err)
	}
}

// TestSpecsAndExamples checks that every field's default parses, that the
// examples are valid configurations, and that docs are present.
func TestSpecsAndExamples(t *testing.T) {
	reg := connectors.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	src, _ := reg.Source("http")
	snk, _ := reg.Sink("http")
	for _, tc := range []struct {
		kind connectors.Kind
		info connectors.Info
	}{{connectors.KindSource, src.Info}, {connectors.KindSink, snk.Info}} {
		if tc.info.Summary == "" || tc.info.Doc == "" || tc.info.Example == "" {
			t.Errorf("%s: summary, doc or example missing", tc.kind)
		}
		for _, f := range tc.info.Spec.Fields {
			if f.Doc == "" {
				t.Errorf("%s field %s has no doc", tc.kind, f.Name)
			}
		}
		common := connectors.CommonSpec(tc.kind)
		own := map[string]any{}
		for _, line := range strings.Split(tc.info.Example, "\n") {
			k, v, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("%s example line %q is not key: value", tc.kind, line)
			}
			if _, isCommon := common.Field(k); isCommon {
				continue
			}
			own[k] = v
		}
		if _, err := tc.info.Spec.Parse("", own); err != nil {
			t.Errorf("%s example: %v", tc.kind, err)
		}
	}
	if !src.ExactlyOnce || snk.ExactlyOnce {
		t.Error("the source supports exactly-once, the sink is at least once")
	}
}

func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{`{"a":1}`, `[1,2,{"b":null}]`, "1\n2\n", "\xff", "", `{"a":`, "[[[[", `"\ud800"`, "1e999", "-0", "12345678901234567890"} {
		f.Add(seed)
	}
	formats := []string{formatJSON, formatJSONArray, formatJSONLines, formatString, formatBytes}
	f.Fuzz(func(t *testing.T, body string) {
		for _, format := range formats {
			vs, err := decodeBody(format, []byte(body))
			if err != nil {
				if vs != nil {
					t.Fatalf("%s: values with an error", format)
				}
				continue
			}
			switch format {
			case formatBytes:
				if len(vs) != 1 || !bytes.Equal(vs[0].([]byte), []byte(body)) {
					t.Fatalf("bytes: %v", vs)
				}
			case formatString, formatJSON:
				if len(vs) != 1 {
					t.Fatalf("%s: %d values", format, len(vs))
				}
			case formatJSONLines:
				lines := 0
				for _, l := range strings.Split(body, "\n") {
					if strings.TrimSpace(l) != "" {
						lines++
					}
				}
				if len(vs) != lines {
					t.Fatalf("json.lines: %d values from %d non-empty lines", len(vs), lines)
				}
			}
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, seed := range []string{"1", "120", "Wed, 21 Oct 2015 07:28:00 GMT", "", "-5", "1.5", "99999999999999999999"} {
		f.Add(seed)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, h string) {
		d, ok := parseRetryAfter(h, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("%q = %v, %v", h, d, ok)
		}
	})
}
