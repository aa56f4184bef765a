package mysqlcdc

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/debezium"
)

// Debezium's semantic type names.
const (
	jsonName           = "io.debezium.data.Json"
	enumSetName        = "io.debezium.data.EnumSet"
	bitsName           = "io.debezium.data.Bits"
	dateName           = "io.debezium.time.Date"
	timeName           = "io.debezium.time.Time"
	microTimeName      = "io.debezium.time.MicroTime"
	timestampName      = "io.debezium.time.Timestamp"
	microTimestampName = "io.debezium.time.MicroTimestamp"
	zonedTimestampName = "io.debezium.time.ZonedTimestamp"
	yearName           = "io.debezium.time.Year"
	geometryName       = "io.debezium.data.geometry.Geometry"
	decimalPrecision   = "connect.decimal.precision"
)

// valueModes are the configuration settings that shape values.
type valueModes struct {
	decimal, bigint, time, binary string
	mariadb                       bool // the server is MariaDB (JSON is a LONGTEXT)
}

// converter turns one column value, as go-mysql decodes it from a row
// event or as go-sql-driver returns it from the snapshot's binary-protocol
// query, into its Connect value. nil values never reach it.
type converter func(v any) (any, error)

// columnPlan is how one column becomes one field of the row struct.
type columnPlan struct {
	name     string
	ct       colType
	schema   *connectors.Schema
	nullable bool
	// zero is the value of a zero date (0000-00-00) in a NOT NULL column:
	// Debezium's epoch. nil for other types.
	zero       any
	fromBinlog converter
	fromSQL    converter
}

func semantic(t connectors.Type, name string, params map[string]string) *connectors.Schema {
	return &connectors.Schema{Type: t, Name: name, Version: 1, Parameters: params}
}

var errZeroDate = errors.New("zero date")

// planColumn builds the schema and the converters of a column. charset is
// the column's character set (for text types).
func planColumn(c column, ct colType, modes valueModes) (*columnPlan, error) {
	p := &columnPlan{name: c.Name, ct: ct, nullable: c.Nullable}
	var s *connectors.Schema
	switch ct.kind() {
	case kindTinyInt:
		s = connectors.Int16Schema()
		p.fromBinlog = intConverter(8, ct.unsigned, func(v int64) any { return int16(v) })
		p.fromSQL = sqlIntConverter(func(v int64) any { return int16(v) })
	case kindSmallInt:
		if ct.unsigned {
			s = connectors.Int32Schema()
			p.fromBinlog = intConverter(16, true, func(v int64) any { return int32(v) })
			p.fromSQL = sqlIntConverter(func(v int64) any { return int32(v) })
		} else {
			s = connectors.Int16Schema()
			p.fromBinlog = intConverter(16, false, func(v int64) any { return int16(v) })
			p.fromSQL = sqlIntConverter(func(v int64) any { return int16(v) })
		}
	case kindMediumInt:
		s = connectors.Int32Schema()
		p.fromBinlog = intConverter(24, ct.unsigned, func(v int64) any { return int32(v) })
		p.fromSQL = sqlIntConverter(func(v int64) any { return int32(v) })
	case kindInt:
		if ct.unsigned {
			s = connectors.Int64Schema()
			p.fromBinlog = intConverter(32, true, func(v int64) any { return v })
			p.fromSQL = sqlIntConverter(func(v int64) any { return v })
		} else {
			s = connectors.Int32Schema()
			p.fromBinlog = intConverter(32, false, func(v int64) any { return int32(v) })
			p.fromSQL = sqlIntConverter(func(v int64) any { return int32(v) })
		}
	case kindBigInt:
		if ct.unsigned && modes.bigint == "precise" {
			s = decimalSchema(20, 0)
			p.fromBinlog = func(v any) (any, error) {
				u, err := asUint64(v)
				if err != nil {
					return nil, err
				}
				return new(big.Rat).SetInt(new(big.Int).SetUint64(u)), nil
			}
			p.fromSQL = p.fromBinlog
		} else {
			s = connectors.Int64Schema()
			// long mode: values above 2^63-1 wrap, as Debezium's long does.
			p.fromBinlog = intConverter(64, false, func(v int64) any { return v })
			p.fromSQL = func(v any) (any, error) {
				if ct.unsigned {
					// Above 2^63-1 the driver returns text.
					u, err := asUint64(v)
					return int64(u), err
				}
				return sqlIntConverter(func(v int64) any { return v })(v)
			}
		}
	case kindDecimal:
		prec, scale := ct.decimalPrecisionScale()
		switch modes.decimal {
		case "double":
			s = connectors.Float64Schema()
			p.fromBinlog = func(v any) (any, error) {
				return strconv.ParseFloat(textOf(v), 64)
			}
		case "string":
			s = connectors.StringSchema()
			p.fromBinlog = func(v any) (any, error) { return textOf(v), nil }
		default:
			s = decimalSchema(prec, scale)
			p.fromBinlog = func(v any) (any, error) { return parseDecimal(textOf(v)) }
		}
		p.fromSQL = p.fromBinlog
	case kindFloat:
		if ct.scale < 0 && ct.length <= 24 {
			s = connectors.Float32Schema()
			p.fromBinlog = floatConverter(true)
		} else {
			s = connectors.Float64Schema()
			p.fromBinlog = floatConverter(false)
		}
		p.fromSQL = p.fromBinlog
	case kindDouble:
		s = connectors.Float64Schema()
		p.fromBinlog = floatConverter(false)
		p.fromSQL = p.fromBinlog
	case kindBit:
		n := ct.length
		if n < 0 {
			n = 1
		}
		if n == 1 {
			s = connectors.BooleanSchema()
			p.fromBinlog = func(v any) (any, error) {
				i, err := asInt64(v)
				return i != 0, err
			}
			p.fromSQL = func(v any) (any, error) {
				b, ok := v.([]byte)
				if !ok {
					return nil, fmt.Errorf("BIT(1) value of type %T", v)
				}
				return len(b) > 0 && b[len(b)-1] != 0, nil
			}
		} else {
			s = semantic(connectors.TypeBytes, bitsName, map[string]string{"length": strconv.Itoa(n)})
			size := (n + 7) / 8
			p.fromBinlog = func(v any) (any, error) {
				i, err := asInt64(v)
				if err != nil {
					return nil, err
				}
				out := make([]byte, size)
				for k := range out {
					out[k] = byte(uint64(i) >> (8 * k))
				}
				return out, nil
			}
			p.fromSQL = func(v any) (any, error) {
				b, ok := v.([]byte)
				if !ok {
					return nil, fmt.Errorf("BIT value of type %T", v)
				}
				// The server sends big-endian bytes; Debezium's Bits are
				// little-endian.
				out := make([]byte, size)
				for k := 0; k < size && k < len(b); k++ {
					out[k] = b[len(b)-1-k]
				}
				return out, nil
			}
		}
	case kindChar:
		s = connectors.StringSchema()
		dec, err := charsetDecoder(c.Charset)
		if err != nil {
			return nil, err
		}
		p.fromBinlog = dec
		p.fromSQL = utf8Text
	case kindJSON:
		s = semantic(connectors.TypeString, jsonName, nil)
		dec, err := charsetDecoder(c.Charset)
		if err != nil {
			return nil, err
		}
		if !modes.mariadb {
			dec = utf8Text
		}
		p.fromBinlog = dec
		p.fromSQL = utf8Text
	case kindBinary:
		pad := 0
		if ct.base == "binary" {
			pad = ct.length
			if pad < 0 {
				pad = 1
			}
		}
		s, p.fromBinlog = binaryConverter(modes.binary, pad)
		p.fromSQL = p.fromBinlog
	case kindEnum:
		s = semantic(connectors.TypeString, debezium.EnumName, map[string]string{"allowed": strings.Join(ct.elems, ",")})
		elems := ct.elems
		p.fromBinlog = func(v any) (any, error) {
			if str, ok := textValue(v); ok {
				return str, nil
			}
			i, err := asInt64(v)
			if err != nil {
				return nil, err
			}
			if i <= 0 || int(i) > len(elems) {
				// 0 is MySQL's error value '' (an invalid value inserted
				// in non-strict mode).
				return "", nil
			}
			return elems[i-1], nil
		}
		p.fromSQL = utf8Text
	case kindSet:
		s = semantic(connectors.TypeString, enumSetName, map[string]string{"allowed": strings.Join(ct.elems, ",")})
		elems := ct.elems
		p.fromBinlog = func(v any) (any, error) {
			if str, ok := textValue(v); ok {
				return str, nil
			}
			i, err := asInt64(v)
			if err != nil {
				return nil, err
			}
			var b strings.Builder
			for k, e := range elems {
				if uint64(i)&(1<<uint(k)) != 0 {
					if b.Len() > 0 {
						b.WriteByte(',')
					}
					b.WriteString(e)
				}
			}
			return b.String(), nil
		}
		p.fromSQL = utf8Text
	case kindDate:
		if modes.time == "connect" {
			s = connectors.DateSchema()
			p.fromBinlog = func(v any) (any, error) {
				y, m, d, err := parseDate(textOf(v))
				if err != nil {
					return nil, err
				}
				return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), nil
			}
			p.zero = time.Unix(0, 0).UTC()
		} else {
			s = semantic(connectors.TypeInt32, dateName, nil)
			p.fromBinlog = func(v any) (any, error) {
				y, m, d, err := parseDate(textOf(v))
				if err != nil {
					return nil, err
				}
				return int32(time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() / 86400), nil
			}
			p.zero = int32(0)
		}
		p.fromSQL = p.fromBinlog
	case kindTime:
		switch {
		case modes.time == "connect":
			s = connectors.TimeSchema()
			p.fromBinlog = func(v any) (any, error) {
				us, err := parseTimeMicros(textOf(v))
				if err != nil {
					return nil, err
				}
				return time.UnixMilli(us / 1000).UTC(), nil
			}
		case modes.time == "adaptive" && ct.fsp() <= 3:
			s = semantic(connectors.TypeInt32, timeName, nil)
			p.fromBinlog = func(v any) (any, error) {
				us, err := parseTimeMicros(textOf(v))
				return int32(us / 1000), err
			}
		default:
			s = semantic(connectors.TypeInt64, microTimeName, nil)
			p.fromBinlog = func(v any) (any, error) { return parseTimeMicros(textOf(v)) }
		}
		p.fromSQL = p.fromBinlog
	case kindDateTime:
		switch {
		case modes.time == "connect":
			s = connectors.TimestampSchema()
			p.fromBinlog = func(v any) (any, error) { return dateTimeOf(v) }
			p.zero = time.Unix(0, 0).UTC()
		case ct.fsp() <= 3:
			s = semantic(connectors.TypeInt64, timestampName, nil)
			p.fromBinlog = func(v any) (any, error) {
				t, err := dateTimeOf(v)
				return t.UnixMilli(), err
			}
			p.zero = int64(0)
		default:
			s = semantic(connectors.TypeInt64, microTimestampName, nil)
			p.fromBinlog = func(v any) (any, error) {
				t, err := dateTimeOf(v)
				return t.UnixMicro(), err
			}
			p.zero = int64(0)
		}
		p.fromSQL = p.fromBinlog
	case kindTimestamp:
		s = semantic(connectors.TypeString, zonedTimestampName, nil)
		fsp := ct.fsp()
		p.fromBinlog = func(v any) (any, error) {
			t, err := dateTimeOf(v)
			if err != nil {
				return nil, err
			}
			return zonedTimestamp(t, fsp), nil
		}
		p.fromSQL = p.fromBinlog
		p.zero = zonedTimestamp(time.Unix(0, 0).UTC(), fsp)
	case kindYear:
		s = semantic(connectors.TypeInt32, yearName, nil)
		p.fromBinlog = func(v any) (any, error) {
			i, err := asInt64(v)
			return int32(i), err
		}
		p.fromSQL = p.fromBinlog
	case kindGeometry:
		s = geometrySchema()
		gs := s
		p.fromBinlog = func(v any) (any, error) {
			b := bytesOf(v)
			if len(b) < 4 {
				return nil, fmt.Errorf("geometry value of %d bytes", len(b))
			}
			st := connectors.NewStructValue(gs)
			st.Set(0, append([]byte(nil), b[4:]...))
			st.Set(1, int32(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24))
			return st, nil
		}
		p.fromSQL = p.fromBinlog
	default:
		return nil, fmt.Errorf("column %q: type %q is not supported (see the type mapping in the connector's documentation); exclude the column with column.exclude.list", c.Name, c.Type)
	}
	if c.Nullable {
		s.Optional = true
	}
	p.schema = s
	if p.zero != nil {
		p.fromBinlog = zeroDate(p.fromBinlog, p.zero, c.Nullable)
		p.fromSQL = zeroDate(p.fromSQL, p.zero, c.Nullable)
	}
	return p, nil
}

// zeroDate maps MySQL's zero dates (0000-00-00) to null in nullable
// columns and to the epoch in NOT NULL ones, as Debezium does.
func zeroDate(conv converter, zero any, nullable bool) converter {
	return func(v any) (any, error) {
		out, err := conv(v)
		if errors.Is(err, errZeroDate) {
			if nullable {
				return nil, nil
			}
			return zero, nil
		}
		return out, err
	}
}

func decimalSchema(precision, scale int) *connectors.Schema {
	s := connectors.DecimalSchema(scale)
	s.Parameters[decimalPrecision] = strconv.Itoa(precision)
	return s
}

func geometrySchema() *connectors.Schema {
	return connectors.NewStruct(geometryName).Version(1).Doc("Geometry").
		Field("wkb", connectors.BytesSchema()).
		Field("srid", connectors.OptionalOf(connectors.Int32Schema())).MustBuild()
}

// intConverter converts row event integers. Without binlog row metadata
// (MariaDB's default) go-mysql decodes every integer as signed: unsigned
// columns are reinterpreted from their bit width.
func intConverter(bits uint, unsigned bool, out func(int64) any) converter {
	return func(v any) (any, error) {
		i, err := asInt64(v)
		if err != nil {
			return nil, err
		}
		if unsigned && i < 0 && bits < 64 {
			i += 1 << bits
		}
		return out(i), nil
	}
}

func sqlIntConverter(out func(int64) any) converter {
	return func(v any) (any, error) {
		i, err := asInt64(v)
		if err != nil {
			return nil, err
		}
		return out(i), nil
	}
}

func asInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		return int64(x), nil
	case []byte:
		return strconv.ParseInt(string(x), 10, 64)
	case string:
		return strconv.ParseInt(x, 10, 64)
	}
	return 0, fmt.Errorf("integer value of type %T", v)
}

func asUint64(v any) (uint64, error) {
	switch x := v.(type) {
	case uint64:
		return x, nil
	case []byte:
		return strconv.ParseUint(string(x), 10, 64)
	case string:
		return strconv.ParseUint(x, 10, 64)
	}
	i, err := asInt64(v)
	return uint64(i), err
}

func floatConverter(single bool) converter {
	return func(v any) (any, error) {
		var f float64
		switch x := v.(type) {
		case float32:
			if single {
				return x, nil
			}
			f = float64(x)
		case float64:
			f = x
		case []byte, string:
			var err error
			if f, err = strconv.ParseFloat(textOf(x), 64); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("floating-point value of type %T", v)
		}
		if single {
			return float32(f), nil
		}
		return f, nil
	}
}

func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

func textValue(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}

func bytesOf(v any) []byte {
	switch x := v.(type) {
	case []byte:
		return x
	case string:
		return []byte(x)
	}
	return nil
}

// utf8Text converts values the snapshot query returns in the connection's
// character set (utf8mb4).
func utf8Text(v any) (any, error) {
	switch x := v.(type) {
	case []byte:
		return string(x), nil
	case string:
		return x, nil
	}
	return nil, fmt.Errorf("text value of type %T", v)
}

// charsetDecoder returns the converter of row event text in a column
// character set: row events carry the column's bytes as stored.
func charsetDecoder(charset string) (converter, error) {
	cs := strings.ToLower(charset)
	switch cs {
	case "", "utf8", "utf8mb3", "utf8mb4", "ascii", "binary":
		return utf8Text, nil
	case "latin1":
		// MySQL's latin1 is Windows-1252.
		return latin1Text, nil
	}
	enc := encodingOf(cs)
	if enc == nil {
		return nil, fmt.Errorf("character set %q is not supported for row event decoding", charset)
	}
	return func(v any) (any, error) {
		b := bytesOf(v)
		out, err := enc.NewDecoder().Bytes(b)
		if err != nil {
			return nil, fmt.Errorf("decode %s text: %w", charset, err)
		}
		return string(out), nil
	}, nil
}

func latin1Text(v any) (any, error) {
	if s, ok := v.(string); ok && isASCII(s) {
		return s, nil
	}
	b := bytesOf(v)
	if isASCII(b) {
		return string(b), nil
	}
	out, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return nil, err
	}
	return string(out), nil
}

func isASCII[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func encodingOf(cs string) encoding.Encoding {
	switch cs {
	case "latin2":
		return charmap.ISO8859_2
	case "latin5":
		return charmap.ISO8859_9
	case "latin7":
		return charmap.ISO8859_13
	case "greek":
		return charmap.ISO8859_7
	case "hebrew":
		return charmap.ISO8859_8
	case "cp1250":
		return charmap.Windows1250
	case "cp1251":
		return charmap.Windows1251
	case "cp1256":
		return charmap.Windows1256
	case "cp1257":
		return charmap.Windows1257
	case "cp850":
		return charmap.CodePage850
	case "cp852":
		return charmap.CodePage852
	case "cp866":
		return charmap.CodePage866
	case "koi8r":
		return charmap.KOI8R
	case "koi8u":
		return charmap.KOI8U
	case "macroman":
		return charmap.Macintosh
	case "ucs2", "utf16":
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	case "utf16le":
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	case "utf32":
		return utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM)
	case "gbk", "gb2312":
		return simplifiedchinese.GBK
	case "gb18030":
		return simplifiedchinese.GB18030
	case "big5":
		return traditionalchinese.Big5
	case "sjis", "cp932":
		return japanese.ShiftJIS
	case "ujis", "eucjpms":
		return japanese.EUCJP
	case "euckr":
		return korean.EUCKR
	}
	return nil
}

// binaryConverter follows binary.handling.mode. pad is the length of a
// BINARY(n) column: row events drop its trailing zero bytes.
func binaryConverter(mode string, pad int) (*connectors.Schema, converter) {
	raw := func(v any) []byte {
		b := bytesOf(v)
		if pad > 0 && len(b) < pad {
			p := make([]byte, pad)
			copy(p, b)
			return p
		}
		return b
	}
	switch mode {
	case "base64":
		return connectors.StringSchema(), func(v any) (any, error) { return base64.StdEncoding.EncodeToString(raw(v)), nil }
	case "base64-url-safe":
		return connectors.StringSchema(), func(v any) (any, error) { return base64.URLEncoding.EncodeToString(raw(v)), nil }
	case "hex":
		return connectors.StringSchema(), func(v any) (any, error) { return hex.EncodeToString(raw(v)), nil }
	}
	return connectors.BytesSchema(), func(v any) (any, error) { return raw(v), nil }
}

// parseDate parses YYYY-MM-DD (a zero or partial-zero date gives errZeroDate).
func parseDate(s string) (y, m, d int, err error) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, fmt.Errorf("%q is not a date", s)
	}
	y, e1 := strconv.Atoi(s[:4])
	m, e2 := strconv.Atoi(s[5:7])
	d, e3 := strconv.Atoi(s[8:10])
	if e1 != nil || e2 != nil || e3 != nil {
		return 0, 0, 0, fmt.Errorf("%q is not a date", s)
	}
	if m == 0 || d == 0 {
		return 0, 0, 0, errZeroDate
	}
	return y, m, d, nil
}

// dateTimeOf reads a DATETIME or TIMESTAMP value: a time.Time (go-mysql's
// ParseTime; TIMESTAMPs come in the local zone) or text.
func dateTimeOf(v any) (time.Time, error) {
	if t, ok := v.(time.Time); ok {
		return t.UTC(), nil
	}
	return parseDateTime(textOf(v))
}

// parseDateTime parses "YYYY-MM-DD HH:MM:SS[.ffffff]" as UTC.
func parseDateTime(s string) (time.Time, error) {
	y, mo, d, err := parseDate(s)
	if err != nil {
		return time.Time{}, err
	}
	var h, mi, sec, nanos int
	if len(s) > 10 {
		if len(s) < 19 || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
			return time.Time{}, fmt.Errorf("%q is not a date and time", s)
		}
		h, err = strconv.Atoi(s[11:13])
		if err == nil {
			mi, err = strconv.Atoi(s[14:16])
		}
		if err == nil {
			sec, err = strconv.Atoi(s[17:19])
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a date and time", s)
		}
		if len(s) > 20 && s[19] == '.' {
			if nanos, err = fractionNanos(s[20:]); err != nil {
				return time.Time{}, fmt.Errorf("%q is not a date and time", s)
			}
		}
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, nanos, time.UTC), nil
}

func fractionNanos(f string) (int, error) {
	if len(f) > 9 {
		f = f[:9]
	}
	n, err := strconv.Atoi(f)
	if err != nil {
		return 0, err
	}
	for i := len(f); i < 9; i++ {
		n *= 10
	}
	return n, nil
}

// parseTimeMicros parses MySQL's TIME text "[-]HHH:MM:SS[.ffffff]" into
// microseconds (negative and beyond 24 h allowed, as MySQL's TIME is a
// duration).
func parseTimeMicros(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	hms, frac, _ := strings.Cut(s, ".")
	parts := strings.Split(hms, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("%q is not a time", s)
	}
	var v [3]int64
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a time", s)
		}
		v[i] = n
	}
	us := ((v[0]*60+v[1])*60 + v[2]) * 1_000_000
	if frac != "" {
		n, err := fractionNanos(frac)
		if err != nil {
			return 0, fmt.Errorf("%q is not a time", s)
		}
		us += int64(n / 1000)
	}
	if neg {
		us = -us
	}
	return us, nil
}

// zonedTimestamp formats a UTC time as Debezium's ZonedTimestamp: ISO 8601
// with exactly fsp fractional digits.
func zonedTimestamp(t time.Time, fsp int) string {
	b := make([]byte, 0, 32)
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	if fsp > 0 {
		frac := t.Nanosecond()
		digits := strconv.Itoa(frac + 1_000_000_000)[1:] // 9 digits
		b = append(b, '.')
		b = append(b, digits[:min(fsp, 9)]...)
	}
	return string(append(b, 'Z'))
}

var pow10 = func() [19]int64 {
	var p [19]int64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// parseDecimal reads a decimal's text ("-123.45"). Values of up to 18
// digits (DECIMAL(18) and below, the common case) take a fast path:
// big.Rat's SetString computes powers of ten with big arithmetic and was
// half of a row's conversion time for a table with one DECIMAL column.
func parseDecimal(s string) (*big.Rat, error) {
	digits, frac := 0, -1
	var n int64
	neg := false
	fast := len(s) > 0
	for i := 0; i < len(s) && fast; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 18 {
				fast = false
				break
			}
			n = n*10 + int64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0:
			frac = 0
		case c == '-' && i == 0:
			neg = true
		case c == '+' && i == 0:
		default:
			fast = false
		}
	}
	if fast && digits > 0 {
		if neg {
			n = -n
		}
		if frac <= 0 {
			return new(big.Rat).SetInt64(n), nil
		}
		return new(big.Rat).SetFrac64(n, pow10[frac]), nil
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("%q is not a decimal", s)
	}
	return r, nil
}
