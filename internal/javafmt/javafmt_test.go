package javafmt

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
)

// Expected strings are Java's Double.toString (JDK 19 and later),
// Float.toString and BigDecimal.toString.
func TestNumbers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		f    float64
		want string
	}{
		{1, "1.0"}, {0.1, "0.1"}, {100, "100.0"}, {1234567, "1234567.0"}, {1e7, "1.0E7"}, {0.001, "0.001"},
		{1e-4, "1.0E-4"}, {123456789.123, "1.23456789123E8"}, {math.Copysign(0, -1), "-0.0"}, {0, "0.0"},
		{math.MaxFloat64, "1.7976931348623157E308"}, {math.SmallestNonzeroFloat64, "4.9E-324"},
		{9.223372036854776e18, "9.223372036854776E18"}, {-1.125, "-1.125"}, {math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"}, {9999999.999, "9999999.999"}, {0.00123, "0.00123"},
		{1e21, "1.0E21"}, {1.5e300, "1.5E300"}, {-2.5e-10, "-2.5E-10"},
	} {
		if got := Double(c.f); got != c.want {
			t.Errorf("Double(%v) = %q, want %q", c.f, got, c.want)
		}
	}
	for _, c := range []struct {
		f    float32
		want string
	}{
		{0.1, "0.1"}, {1e10, "1.0E10"}, {math.MaxFloat32, "3.4028235E38"}, {math.SmallestNonzeroFloat32, "1.4E-45"}, {32, "32.0"}, {1.1, "1.1"},
	} {
		if got := Float(c.f); got != c.want {
			t.Errorf("Float(%v) = %q, want %q", c.f, got, c.want)
		}
	}
	for _, c := range []struct {
		unscaled int64
		scale    int
		want     string
	}{
		{123, 0, "123"}, {123, 2, "1.23"}, {123, 5, "0.00123"}, {123, 8, "0.00000123"}, {123, 9, "1.23E-7"},
		{-123, 2, "-1.23"}, {123, -2, "1.23E+4"}, {0, 2, "0.00"}, {0, 8, "0E-8"}, {1, -1, "1E+1"}, {-5, 7, "-5E-7"},
	} {
		if got := string(AppendBigDecimal(nil, big.NewInt(c.unscaled), c.scale)); got != c.want {
			t.Errorf("BigDecimal(%d, scale %d) = %q, want %q", c.unscaled, c.scale, got, c.want)
		}
	}
}

func TestParseDatePattern(t *testing.T) {
	t.Parallel()
	var fields []string
	toks, err := ParseDatePattern("yyyy-MM-dd'T'HH''mm 'o''clock'", func(c byte, n int) error {
		fields = append(fields, strings.Repeat(string(c), n))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range toks {
		if tk.Letter == 0 {
			got = append(got, "<"+tk.Literal+">")
		} else {
			got = append(got, strings.Repeat(string(tk.Letter), tk.Count))
		}
	}
	if s := strings.Join(got, " "); s != "yyyy <-> MM <-> dd <T> HH <'> mm < o'clock>" {
		t.Errorf("tokens: %s", s)
	}
	if s := strings.Join(fields, " "); s != "yyyy MM dd HH mm" {
		t.Errorf("fields checked: %s", s)
	}

	_, err = ParseDatePattern("yyyy 'open", func(byte, int) error { return nil })
	if q, ok := errors.AsType[*UnterminatedQuoteError](err); !ok || q.Pos != 5 {
		t.Errorf("unterminated quote: %v", err)
	}
	bad := errors.New("bad letter")
	if _, err := ParseDatePattern("yyyy 'open", func(byte, int) error { return bad }); err != bad {
		t.Errorf("a field's error comes first and as it is: %v", err)
	}
}

func TestAppendDateField(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, time.March, 5, 0, 7, 9, 0, time.UTC) // a Tuesday, day 65
	for _, c := range []struct {
		letter byte
		count  int
		want   string
	}{
		{'G', 1, "AD"}, {'M', 1, "3"}, {'M', 2, "03"}, {'M', 3, "Mar"}, {'M', 4, "March"},
		{'d', 2, "05"}, {'D', 3, "065"}, {'E', 3, "Tue"}, {'E', 4, "Tuesday"}, {'a', 1, "AM"},
		{'H', 2, "00"}, {'k', 2, "24"}, {'K', 1, "0"}, {'h', 1, "12"}, {'m', 2, "07"}, {'s', 1, "9"},
		{'y', 4, ""},
	} {
		if got := string(AppendDateField(nil, at, c.letter, c.count)); got != c.want {
			t.Errorf("%s = %q, want %q", strings.Repeat(string(c.letter), c.count), got, c.want)
		}
	}
	if got := string(AppendDateField(nil, time.Date(-43, 1, 1, 13, 0, 0, 0, time.UTC), 'G', 1)); got != "BC" {
		t.Errorf("G before year 1 = %q", got)
	}
	if got := string(AppendPadded(nil, -7, 3)); got != "-007" {
		t.Errorf("AppendPadded(-7, 3) = %q", got)
	}
}
