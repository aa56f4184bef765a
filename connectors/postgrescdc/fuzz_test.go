package postgrescdc

import "testing"

// The decoders of bytes from the server (pgoutput messages, COPY rows,
// value texts) must reject malformed input with an error, never panic.

func FuzzPgoutput(f *testing.F) {
	f.Add([]byte("B\x00\x00\x00\x00\x00\x00\x12\x34\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x63"))
	f.Add([]byte("R\x00\x00@\x00public\x00t\x00d\x00\x01\x01id\x00\x00\x00\x00\x17\xff\xff\xff\xff"))
	f.Add([]byte("I\x00\x00@\x00N\x00\x02t\x00\x00\x00\x011n"))
	f.Add([]byte("U\x00\x00@\x00O\x00\x01t\x00\x00\x00\x011N\x00\x01u"))
	f.Add([]byte("D\x00\x00@\x00K\x00\x01t\x00\x00\x00\x011"))
	f.Add([]byte("T\x00\x00\x00\x01\x00\x00\x00@\x00"))
	f.Add([]byte("M\x00\x00\x00\x00\x00\x00\x00\x00\x01p\x00\x00\x00\x00\x01x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodePgoutput(data)
		if err == nil && m == nil {
			t.Fatal("nil message without an error")
		}
	})
}

func FuzzCopyRow(f *testing.F) {
	f.Add([]byte("1\ta\\tb\t\\N\t\\x41\\101"), 5)
	f.Add([]byte("\\"), 1)
	f.Fuzz(func(t *testing.T, line []byte, want int) {
		_, _ = splitCopyRow(append([]byte(nil), line...), nil, want)
	})
}

func FuzzValues(f *testing.F) {
	for _, s := range []string{"{1,NULL,\"a\\\"b\"}", "[0:1]={1,2}", "2024-01-02 03:04:05.678901+02", "0044-03-15 BC",
		"P1Y2M3DT4H5M6.5S", "-12.3400", "NaN", "$1,234.56", "(1.5,-2)", "\\x00ff", "1010", "13:45:12.5+05:30"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseArray(b, ',')
		_, _ = parseDate(b)
		_, _ = parseTime(b)
		_, _ = parseTimestamp(b)
		_, _ = decodeZonedTimestamp(b, 6)
		_, _ = decodeZonedTime(b)
		if iv, err := parseInterval(b); err == nil {
			_ = iv.iso()
			_ = iv.micros()
		}
		_, _ = decodeDecimal(b)
		_, _ = decodeVariableDecimal(b, varDecimalSchema)
		_, _ = parseMoney(b, 2)
		_, _ = decodePoint(b, pointSchema)
		_, _ = decodeByteaText(b)
		_, _ = decodeBits(b)
		_, _ = decodeBool(b)
		_, _ = decodeInt64(b)
		_, _ = decodeFloat32(b)
	})
}
