package postgrescdc

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"reflect"
	"testing"
)

func TestParseArray(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // "<nil>" for NULL
		err  bool
	}{
		{in: `{}`, want: []string{}},
		{in: `{1,2,3}`, want: []string{"1", "2", "3"}},
		{in: `{a,NULL,"NULL","b c","d\"e","f\\g",""}`, want: []string{"a", "<nil>", "NULL", "b c", `d"e`, `f\g`, ""}},
		{in: `[0:1]={7,8}`, want: []string{"7", "8"}},
		{in: `{{1,2},{3,4}}`, err: true},
		{in: `{1,}`, err: true},
		{in: `{"a}`, err: true},
		{in: `1,2`, err: true},
		{in: `{a"b}`, err: true},
	} {
		items, err := parseArray([]byte(tc.in), ',')
		if tc.err {
			if err == nil {
				t.Errorf("%s: no error", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		got := []string{}
		for _, it := range items {
			if it == nil {
				got = append(got, "<nil>")
			} else {
				got = append(got, string(it))
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTemporal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		days int64
	}{
		{"1970-01-01", 0}, {"2024-02-29", 19782}, {"1969-12-31", -1}, {"0001-01-01", -719162}, {"0001-12-31 BC", -719163},
		{"10000-01-01", 2932897}, {"infinity", 1<<31 - 1},
	} {
		got, err := parseDate([]byte(tc.in))
		if err != nil || got != tc.days {
			t.Errorf("date %s = %d, %v; want %d", tc.in, got, err, tc.days)
		}
	}
	us, err := parseTimestamp([]byte("2024-01-02 03:04:05.678901"))
	if err != nil || us != 1704164645678901 {
		t.Errorf("timestamp = %d, %v", us, err)
	}
	us, err = parseTimestamp([]byte("1969-12-31 23:59:59.5"))
	if err != nil || us != -500000 {
		t.Errorf("timestamp before the epoch = %d, %v", us, err)
	}
	for in, want := range map[string]string{
		"2024-01-02 03:04:05+00":       "2024-01-02T03:04:05.000000Z",
		"2024-01-02 03:04:05.5+02":     "2024-01-02T01:04:05.500000Z",
		"2024-01-02 00:30:00-05:30":    "2024-01-02T06:00:00.000000Z",
		"2024-01-02 00:00:00+00:00:30": "2024-01-01T23:59:30.000000Z",
		"infinity":                     "infinity",
	} {
		got, err := decodeZonedTimestamp([]byte(in), 6)
		if err != nil || got != want {
			t.Errorf("timestamptz %s = %v, %v; want %s", in, got, err, want)
		}
	}
	if got, _ := decodeZonedTimestamp([]byte("2024-01-02 03:04:05.123+00"), 3); got != "2024-01-02T03:04:05.123Z" {
		t.Errorf("timestamptz(3) = %v", got)
	}
	for in, want := range map[string]string{"13:45:12+02": "11:45:12Z", "01:00:00.25+03": "22:00:00.25Z", "23:00:00-02": "01:00:00Z"} {
		if got, err := decodeZonedTime([]byte(in)); err != nil || got != want {
			t.Errorf("timetz %s = %v, %v; want %s", in, got, err, want)
		}
	}
	if us, err := parseTime([]byte("24:00:00")); err != nil || us != 86400e6 {
		t.Errorf("time 24:00:00 = %d, %v", us, err)
	}
	for _, bad := range []string{"", "2024-13-01", "2024-01-02T03:04:05", "12:3", "x"} {
		if _, err := parseTimestamp([]byte(bad)); err == nil {
			t.Errorf("timestamp %q parsed", bad)
		}
	}
}

func TestInterval(t *testing.T) {
	for _, tc := range []struct {
		in     string
		micros int64
		iso    string
	}{
		{"P1Y2M3DT4H5M6.5S", 37091106500000, "P1Y2M3DT4H5M6.5S"},
		{"PT0S", 0, "P0Y0M0DT0H0M0S"},
		{"P-1Y-2M3DT-4H-5M-6.78S", -36572706780000, "P-1Y-2M3DT-4H-5M-6.78S"},
		{"P1W", 7 * 86400e6, "P0Y0M7DT0H0M0S"},
		{"PT0.000001S", 1, "P0Y0M0DT0H0M0.000001S"},
	} {
		iv, err := parseInterval([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got := iv.micros(); got != tc.micros {
			t.Errorf("%s: %d µs, want %d", tc.in, got, tc.micros)
		}
		if got := iv.iso(); got != tc.iso {
			t.Errorf("%s: %s, want %s", tc.in, got, tc.iso)
		}
	}
	for _, bad := range []string{"", "1 day", "P1", "PT1Y", "P1H"} {
		if _, err := parseInterval([]byte(bad)); err == nil {
			t.Errorf("interval %q parsed", bad)
		}
	}
}

func TestNumbers(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want []byte
	}{{0, []byte{0}}, {1, []byte{1}}, {-1, []byte{0xff}}, {127, []byte{0x7f}}, {128, []byte{0, 0x80}}, {-128, []byte{0x80}}, {-129, []byte{0xff, 0x7f}}, {1234, []byte{4, 0xd2}}} {
		if got := twosComplement(big.NewInt(tc.n)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("twosComplement(%d) = %x, want %x", tc.n, got, tc.want)
		}
	}
	for in, want := range map[string]string{"$1,234.56": "1234.56", "-$0.01": "-0.01", "($5.00)": "-5.00", "$12.345": "12.34"} {
		r, err := parseMoney([]byte(in), 2)
		if err != nil || r.FloatString(2) != want {
			t.Errorf("money %s = %v, %v; want %s", in, r, err, want)
		}
	}
	// numeric(10,2), numeric(5,-2), numeric (no modifier)
	if p, s, ok := numericPrecisionScale((10<<16 | 2) + 4); !ok || p != 10 || s != 2 {
		t.Errorf("numeric(10,2) = %d,%d,%v", p, s, ok)
	}
	if p, s, ok := numericPrecisionScale((5<<16 | (-2 & 0x7ff)) + 4); !ok || p != 5 || s != -2 {
		t.Errorf("numeric(5,-2) = %d,%d,%v", p, s, ok)
	}
	if _, _, ok := numericPrecisionScale(-1); ok {
		t.Error("numeric without a modifier has a scale")
	}
	for in, want := range map[string]int64{"0": 0, "-32768": -32768, "32767": 32767} {
		if got, err := parseInt([]byte(in), 16); err != nil || got != want {
			t.Errorf("int16 %s = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"32768", "-32769", "", "-", "1a", "99999999999999999999999"} {
		if _, err := parseInt([]byte(bad), 16); err == nil {
			t.Errorf("int16 %q parsed", bad)
		}
	}
	if v, err := decodeBits([]byte("1010")); err != nil || !reflect.DeepEqual(v, []byte{0x0a}) {
		t.Errorf("bits 1010 = %x, %v", v, err)
	}
	if v, err := decodeBits([]byte("100000000")); err != nil || !reflect.DeepEqual(v, []byte{0, 1}) {
		t.Errorf("bits 100000000 = %x, %v", v, err)
	}
}

func TestCopyRow(t *testing.T) {
	row := []byte(`1	a\tb\\c\nd	\N	\x41\101	`)
	cols, err := splitCopyRow(row, nil, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []tupleColumn{{colText, []byte("1")}, {colText, []byte("a\tb\\c\nd")}, {kind: colNull}, {colText, []byte("AA")}, {colText, []byte{}}}
	for i := range want {
		if cols[i].kind != want[i].kind || string(cols[i].data) != string(want[i].data) {
			t.Errorf("column %d = %q %q, want %q %q", i, cols[i].kind, cols[i].data, want[i].kind, want[i].data)
		}
	}
	if _, err := splitCopyRow([]byte("1\t2"), nil, 3); err == nil {
		t.Error("a short row was accepted")
	}
	var got []string
	w := &copyLines{row: func(line []byte) error { got = append(got, string(line)); return nil }}
	for _, chunk := range []string{"a\tb\nc", "d\n", "e\nf\n"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(got, []string{"a\tb", "cd", "e", "f"}) {
		t.Errorf("rows %q", got)
	}
}

// pgoutput messages built as the server sends them.
func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestDecodePgoutput(t *testing.T) {
	rel := cat([]byte("R"), be32(16384), []byte("public\x00"), []byte("t\x00"), []byte("d"), be16(2),
		[]byte{1}, []byte("id\x00"), be32(23), be32(0xffffffff),
		[]byte{0}, []byte("v\x00"), be32(25), be32(0xffffffff))
	m, err := decodePgoutput(rel)
	if err != nil {
		t.Fatal(err)
	}
	if m.rel.id != 16384 || m.rel.namespace != "public" || len(m.rel.columns) != 2 || !m.rel.columns[0].key || m.rel.columns[1].typmod != -1 {
		t.Fatalf("relation %+v", m.rel)
	}
	upd := cat([]byte("U"), be32(16384), []byte("O"), be16(2), []byte("t"), be32(1), []byte("1"), []byte("u"),
		[]byte("N"), be16(2), []byte("t"), be32(1), []byte("2"), []byte("n"))
	m, err = decodePgoutput(upd)
	if err != nil {
		t.Fatal(err)
	}
	if m.oldKind != 'O' || string(m.old[0].data) != "1" || m.old[1].kind != colUnchanged || string(m.new[0].data) != "2" || m.new[1].kind != colNull {
		t.Fatalf("update %+v", m)
	}
	begin := cat([]byte("B"), be64(0x1234), be64(1), be32(99))
	if m, err = decodePgoutput(begin); err != nil || m.finalLSN != 0x1234 || m.xid != 99 {
		t.Fatalf("begin %+v %v", m, err)
	}
	msg := cat([]byte("M"), []byte{0}, be64(77), []byte("p\x00"), be32(2), []byte("hi"))
	if m, err = decodePgoutput(msg); err != nil || m.transactional || m.messageLSN != 77 || m.prefix != "p" || string(m.content) != "hi" {
		t.Fatalf("message %+v %v", m, err)
	}
	// Every truncation of a valid message is an error, never a panic.
	for _, full := range [][]byte{rel, upd, begin, msg} {
		for n := 0; n < len(full); n++ {
			if _, err := decodePgoutput(full[:n]); err == nil {
				t.Errorf("%q truncated to %d bytes decoded", full[0], n)
			}
		}
	}
}

func TestOffsets(t *testing.T) {
	o, err := decodeOffset(map[string]any{keyResumeLSN: int64(100), keyResumeEvents: int64(3), keyLSNCommit: int64(90), keyTxID: int64(7),
		keySnapshot: snapshotInitialType, keySnapshotTables: []any{"public.a", "public.b"}, keySnapshotKey: []any{"12"}, keySnapshotVisible: "5:9:7"})
	if err != nil {
		t.Fatal(err)
	}
	if o.pos != (position{100, 3}) || !o.snapshot || !reflect.DeepEqual(o.tables, []string{"public.a", "public.b"}) || o.key[0] != "12" || o.lastCommit != 90 || o.visible != "5:9:7" {
		t.Fatalf("%+v", o)
	}
	// A Debezium offset: resume at its last commit.
	o, err = decodeOffset(map[string]any{keyLSN: int64(200), keyLSNCommit: int64(150), keyTxID: int64(1)})
	if err != nil || o.pos != (position{150, 0}) || o.snapshot {
		t.Fatalf("%+v %v", o, err)
	}
	inc := newIncremental(nil)
	inc.collections = []incCollection{{ID: "public.t", Condition: "a > 1"}}
	inc.key, inc.maxKey, inc.visibility = []string{"3"}, []string{"9"}, "1:2:"
	m := map[string]any{keyResumeLSN: int64(1)}
	inc.store(m)
	o, err = decodeOffset(roundTrip(t, m))
	if err != nil || o.inc == nil || o.inc.collections[0].Condition != "a > 1" || o.inc.key[0] != "3" || o.inc.maxKey[0] != "9" || o.inc.visibility != "1:2:" {
		t.Fatalf("incremental %+v %v", o.inc, err)
	}
	if _, err := decodeOffset(map[string]any{keyResumeLSN: "x"}); err == nil {
		t.Error("a bad offset decoded")
	}
}

// roundTrip passes an offset through JSON as the offsets topic does.
func roundTrip(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	out := map[string]any{}
	for k, v := range m {
		switch x := v.(type) {
		case []string:
			l := make([]any, len(x))
			for i, s := range x {
				l[i] = s
			}
			out[k] = l
		default:
			out[k] = x
		}
	}
	return out
}

func TestSnapshotVisibility(t *testing.T) {
	s, err := parseSnapshot("100:110:103,105")
	if err != nil {
		t.Fatal(err)
	}
	for xid, want := range map[uint64]bool{2: true, 99: true, 102: true, 103: false, 105: false, 109: true, 110: false, 200: false} {
		if got := s.visible(xid); got != want {
			t.Errorf("visible(%d) = %v", xid, got)
		}
	}
	big, _ := parseSnapshot(fmt.Sprintf("%d:%d:", 5<<32+10, 5<<32+20))
	if got := big.extend(15); got != 5<<32+15 {
		t.Errorf("extend(15) = %d", got)
	}
	if got := big.extend(0xfffffff0); got != 4<<32+0xfffffff0 {
		t.Errorf("extend from the previous epoch = %d", got)
	}
	var r xidRing
	for i := uint32(0); i < 5000; i++ {
		r.add(i)
	}
	if r.anyInProgress("10:20:15") || !r.anyInProgress("4990:5010:4995") {
		t.Error("xidRing forgets the wrong transactions")
	}
}

// TestFastZonedTimestamp: the shortcut for UTC timestamptz text gives
// exactly what parsing and formatting give, and declines other forms.
func TestFastZonedTimestamp(t *testing.T) {
	for _, in := range []string{
		"2024-01-02 03:04:05+00", "2024-01-02 03:04:05.1+00", "2024-01-02 03:04:05.123456+00", "1970-01-01 00:00:00+00",
		"0001-01-01 00:00:00+00", "2024-01-02 03:04:05.12+00", "2024-01-02 03:04:05+05:30", "2024-01-02 03:04:05.5-07",
		"0044-03-15 12:00:00+00 BC", "12345-01-01 00:00:00+00", "2024-01-02 03:04:05.120+00", "2024-01-0x 03:04:05+00",
	} {
		for _, width := range []int{-1, 0, 1, 2, 3, 6} {
			us, err := parseTimestampTZ([]byte(in))
			fast, ok := fastZonedTimestamp([]byte(in), width)
			if !ok {
				continue
			}
			if err != nil {
				t.Fatalf("%q: the shortcut accepted what the parser rejects: %v", in, err)
			}
			if slow := formatTimestamp(us, width) + "Z"; fast != slow {
				t.Errorf("%q width %d: shortcut %q, parser %q", in, width, fast, slow)
			}
		}
	}
	for _, in := range []string{"2024-01-02 03:04:05+05:30", "0044-03-15 12:00:00+00 BC", "12345-01-01 00:00:00+00", "2024-01-02 03:04:05.120+00"} {
		if _, ok := fastZonedTimestamp([]byte(in), -1); ok {
			t.Errorf("%q: the shortcut should decline it", in)
		}
	}
}
