package postgrescdc

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
)

// Values arrive as PostgreSQL's text representations: pgoutput sends every
// column as text, and snapshots read with COPY ... TO STDOUT (text), so one
// decoder per type serves both and a row reads the same in a snapshot and
// in the stream. The connections fix the settings that shape the text
// (DateStyle=ISO, IntervalStyle=iso_8601, TimeZone=UTC, bytea_output=hex,
// lc_monetary=C): see sessionParams.

// typeOptions are the settings that shape the type mapping.
type typeOptions struct {
	decimalMode    string // precise, double, string
	timeMode       string // adaptive, adaptive_time_microseconds, connect, isostring, microseconds, nanoseconds
	intervalMode   string // numeric, string
	binaryMode     string // bytes, base64, base64-url-safe, hex
	moneyDigits    int
	includeUnknown bool
	placeholder    string
}

// Built-in type OIDs (pg_type.dat).
const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidXML         = 142
	oidPoint       = 600
	oidCIDR        = 650
	oidFloat4      = 700
	oidFloat8      = 701
	oidMACAddr8    = 774
	oidMoney       = 790
	oidMACAddr     = 829
	oidInet        = 869
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestampTZ = 1184
	oidInterval    = 1186
	oidTimeTZ      = 1266
	oidBit         = 1560
	oidVarbit      = 1562
	oidNumeric     = 1700
	oidUUID        = 2950
	oidTSVector    = 3614
	oidJSONB       = 3802
	oidInt4Range   = 3904
	oidNumRange    = 3906
	oidTSRange     = 3908
	oidTSTZRange   = 3910
	oidDateRange   = 3912
	oidInt8Range   = 3926
)

// pgType is a row of pg_type (with its enum labels).
type pgType struct {
	oid       uint32
	namespace string
	name      string
	typtype   byte // b base, c composite, d domain, e enum, p pseudo, r range, m multirange
	category  byte // A array, ...
	elem      uint32
	base      uint32 // domains: the base type
	typmod    int32  // domains: the base type's modifier
	delim     byte
	labels    []string // enums, in enumsortorder
	labelSet  map[string]bool
}

// Semantic type names (Debezium's and Kafka Connect's).
const (
	semDate           = "io.debezium.time.Date"
	semTime           = "io.debezium.time.Time"
	semMicroTime      = "io.debezium.time.MicroTime"
	semNanoTime       = "io.debezium.time.NanoTime"
	semTimestamp      = "io.debezium.time.Timestamp"
	semMicroTimestamp = "io.debezium.time.MicroTimestamp"
	semNanoTimestamp  = "io.debezium.time.NanoTimestamp"
	semZonedTimestamp = "io.debezium.time.ZonedTimestamp"
	semZonedTime      = "io.debezium.time.ZonedTime"
	semIsoDate        = "io.debezium.time.IsoDate"
	semIsoTime        = "io.debezium.time.IsoTime"
	semIsoTimestamp   = "io.debezium.time.IsoTimestamp"
	semMicroDuration  = "io.debezium.time.MicroDuration"
	semInterval       = "io.debezium.time.Interval"
	semJSON           = "io.debezium.data.Json"
	semXML            = "io.debezium.data.Xml"
	semUUID           = "io.debezium.data.Uuid"
	semLtree          = "io.debezium.data.Ltree"
	semEnum           = "io.debezium.data.Enum"
	semBits           = "io.debezium.data.Bits"
	semVarDecimal     = "io.debezium.data.VariableScaleDecimal"
	semPoint          = "io.debezium.data.geometry.Point"
)

func named(t connectors.Type, name string) *connectors.Schema {
	return &connectors.Schema{Type: t, Name: name, Version: 1}
}

var varDecimalSchema = connectors.NewStruct(semVarDecimal).Version(1).Doc("Variable scaled decimal").
	Field("scale", connectors.Int32Schema()).
	Field("value", connectors.BytesSchema()).MustBuild()

var optVarDecimalSchema = connectors.OptionalOf(varDecimalSchema)

var pointSchema = connectors.NewStruct(semPoint).Version(1).Doc("Geometry (POINT)").
	Field("x", connectors.Float64Schema()).
	Field("y", connectors.Float64Schema()).
	Field("wkb", connectors.OptionalOf(connectors.BytesSchema())).
	Field("srid", connectors.OptionalOf(connectors.Int32Schema())).MustBuild()

var optPointSchema = connectors.OptionalOf(pointSchema)

// codec maps one column type: its schema and its text decoder.
type codec struct {
	schema *connectors.Schema // required
	opt    *connectors.Schema // optional
	decode func(b []byte) (any, error)
	// decodeOpt decodes for the optional schema where values carry their
	// schema (structs); nil: decode.
	decodeOpt func(b []byte) (any, error)
	// toast is the value of an unchanged TOASTed column that PostgreSQL did
	// not send (unavailable.value.placeholder in the column's
	// representation); nil if the type cannot carry it.
	toast any
	// enum is set for enums (and arrays of them): a label that is not in
	// it means the type gained a value, so the schema must be rebuilt.
	enum *pgType
}

// errUnknownType: the column's type has no mapping (and
// include.unknown.datatypes is false): the column is left out.
var errUnknownType = errors.New("no mapping for the type")

// errStaleEnum is returned by an enum decoder for a label it does not
// know: the type gained a value since its schema was built.
var errStaleEnum = errors.New("enum label not in the cached type")

// typeMapper builds codecs from pg_type, caching one per type and modifier
// so that tables share schema pointers (converters cache by pointer).
type typeMapper struct {
	opts  typeOptions
	mu    sync.Mutex
	types map[uint32]*pgType
	cache map[codecKey]*codec
}

type codecKey struct {
	oid    uint32
	typmod int32
}

func newTypeMapper(opts typeOptions, types map[uint32]*pgType) *typeMapper {
	return &typeMapper{opts: opts, types: types, cache: map[codecKey]*codec{}}
}

// setTypes replaces the type catalog (after a reload) and forgets the
// codecs built from the old one.
func (m *typeMapper) setTypes(types map[uint32]*pgType) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.types = types
	m.cache = map[codecKey]*codec{}
}

// codecFor returns the codec of a column type; errUnknownType when the type
// has no mapping and unknown types are left out.
func (m *typeMapper) codecFor(oid uint32, typmod int32) (*codec, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.codecLocked(oid, typmod, 0)
}

func (m *typeMapper) codecLocked(oid uint32, typmod int32, depth int) (*codec, error) {
	k := codecKey{oid, typmod}
	if c, ok := m.cache[k]; ok {
		return c, nil
	}
	if depth > 8 {
		return nil, fmt.Errorf("type %d: domains nested too deep", oid)
	}
	c, err := m.build(oid, typmod, depth)
	if err != nil {
		return nil, err
	}
	if c.opt == nil {
		c.opt = connectors.OptionalOf(c.schema)
	}
	if c.decodeOpt == nil {
		c.decodeOpt = c.decode
	}
	m.cache[k] = c
	return c, nil
}

func (m *typeMapper) build(oid uint32, typmod int32, depth int) (*codec, error) {
	o := m.opts
	str := func(s *connectors.Schema) *codec {
		return &codec{schema: s, decode: decodeString, toast: o.placeholder}
	}
	switch oid {
	case oidBool:
		return &codec{schema: connectors.BooleanSchema(), decode: decodeBool}, nil
	case oidInt2:
		return &codec{schema: connectors.Int16Schema(), decode: decodeInt16}, nil
	case oidInt4:
		return &codec{schema: connectors.Int32Schema(), decode: decodeInt32}, nil
	case oidInt8, oidOID:
		return &codec{schema: connectors.Int64Schema(), decode: decodeInt64}, nil
	case oidFloat4:
		return &codec{schema: connectors.Float32Schema(), decode: decodeFloat32}, nil
	case oidFloat8:
		return &codec{schema: connectors.Float64Schema(), decode: decodeFloat64}, nil
	case oidText, oidVarchar, oidBPChar, oidName, oidChar, oidInet, oidCIDR, oidMACAddr, oidMACAddr8,
		oidInt4Range, oidInt8Range, oidNumRange, oidTSRange, oidTSTZRange, oidDateRange, oidTSVector:
		return str(connectors.StringSchema()), nil
	case oidJSON, oidJSONB:
		return str(named(connectors.TypeString, semJSON)), nil
	case oidXML:
		return str(named(connectors.TypeString, semXML)), nil
	case oidUUID:
		return str(named(connectors.TypeString, semUUID)), nil
	case oidBytea:
		return m.byteaCodec(), nil
	case oidNumeric:
		return m.numericCodec(typmod), nil
	case oidMoney:
		return m.moneyCodec(), nil
	case oidDate:
		return m.dateCodec(), nil
	case oidTime:
		return m.timeCodec(timePrecision(typmod)), nil
	case oidTimestamp:
		return m.timestampCodec(timePrecision(typmod)), nil
	case oidTimestampTZ:
		p := timePrecision(typmod)
		return &codec{schema: named(connectors.TypeString, semZonedTimestamp), toast: o.placeholder,
			decode: func(b []byte) (any, error) { return decodeZonedTimestamp(b, p) }}, nil
	case oidTimeTZ:
		return &codec{schema: named(connectors.TypeString, semZonedTime), toast: o.placeholder, decode: decodeZonedTime}, nil
	case oidInterval:
		if o.intervalMode == "string" {
			return &codec{schema: named(connectors.TypeString, semInterval), decode: decodeIntervalString}, nil
		}
		return &codec{schema: named(connectors.TypeInt64, semMicroDuration), decode: decodeIntervalMicros}, nil
	case oidBit, oidVarbit:
		n := int(typmod)
		if oid == oidVarbit && typmod < 0 {
			n = math.MaxInt32
		}
		if n == 1 {
			return &codec{schema: connectors.BooleanSchema(), decode: decodeBit1}, nil
		}
		s := named(connectors.TypeBytes, semBits)
		s.Parameters = map[string]string{"length": strconv.Itoa(n)}
		return &codec{schema: s, decode: decodeBits}, nil
	case oidPoint:
		return &codec{schema: pointSchema, opt: optPointSchema,
			decode:    func(b []byte) (any, error) { return decodePoint(b, pointSchema) },
			decodeOpt: func(b []byte) (any, error) { return decodePoint(b, optPointSchema) }}, nil
	}
	t := m.types[oid]
	if t == nil {
		return m.unknown(oid, "an unknown type")
	}
	switch {
	case t.typtype == 'd':
		mod := typmod
		if mod < 0 {
			mod = t.typmod
		}
		return m.codecLocked(t.base, mod, depth+1)
	case t.typtype == 'e':
		s := named(connectors.TypeString, semEnum)
		s.Parameters = map[string]string{"allowed": strings.Join(t.labels, ",")}
		enum := t
		return &codec{schema: s, toast: o.placeholder, enum: enum, decode: func(b []byte) (any, error) {
			if !enum.labelSet[unsafeString(b)] {
				return nil, errStaleEnum
			}
			return string(b), nil
		}}, nil
	case t.category == 'A' && t.elem != 0:
		elem, err := m.codecLocked(t.elem, typmod, depth+1)
		if err != nil {
			return nil, err
		}
		return m.arrayCodec(elem, t.delim), nil
	case t.typtype == 'b' && t.name == "citext":
		return str(connectors.StringSchema()), nil
	case t.typtype == 'b' && t.name == "ltree":
		return str(named(connectors.TypeString, semLtree)), nil
	case t.typtype == 'r' || t.typtype == 'm':
		return str(connectors.StringSchema()), nil
	}
	return m.unknown(oid, fmt.Sprintf("type %s.%s", t.namespace, t.name))
}

// unknown is the fallback of a type without a mapping.
func (m *typeMapper) unknown(oid uint32, what string) (*codec, error) {
	if !m.opts.includeUnknown {
		return nil, fmt.Errorf("%w %s (oid %d): set include.unknown.datatypes=true to emit its text", errUnknownType, what, oid)
	}
	return &codec{schema: connectors.StringSchema(), decode: decodeString, toast: m.opts.placeholder}, nil
}

func (m *typeMapper) byteaCodec() *codec {
	o := m.opts
	switch o.binaryMode {
	case "base64", "base64-url-safe", "hex":
		enc := base64.StdEncoding.EncodeToString
		switch o.binaryMode {
		case "base64-url-safe":
			enc = base64.URLEncoding.EncodeToString
		case "hex":
			enc = hex.EncodeToString
		}
		return &codec{schema: connectors.StringSchema(), toast: o.placeholder, decode: func(b []byte) (any, error) {
			raw, err := decodeByteaText(b)
			if err != nil {
				return nil, err
			}
			return enc(raw), nil
		}}
	}
	return &codec{schema: connectors.BytesSchema(), toast: []byte(o.placeholder), decode: func(b []byte) (any, error) {
		return decodeByteaText(b)
	}}
}

// numeric typmod: ((precision << 16) | scale) + 4, the scale signed in
// 11 bits (PostgreSQL 15 allows negative scales).
func numericPrecisionScale(typmod int32) (precision, scale int, ok bool) {
	if typmod < 4 {
		return 0, 0, false
	}
	t := typmod - 4
	return int((t >> 16) & 0xffff), int(((t & 0x7ff) ^ 1024) - 1024), true
}

func (m *typeMapper) numericCodec(typmod int32) *codec {
	switch m.opts.decimalMode {
	case "double":
		return &codec{schema: connectors.Float64Schema(), decode: decodeNumericDouble}
	case "string":
		return &codec{schema: connectors.StringSchema(), toast: m.opts.placeholder, decode: decodeNumericString}
	}
	precision, scale, ok := numericPrecisionScale(typmod)
	if !ok || scale < 0 {
		return &codec{schema: varDecimalSchema, opt: optVarDecimalSchema,
			decode:    func(b []byte) (any, error) { return decodeVariableDecimal(b, varDecimalSchema) },
			decodeOpt: func(b []byte) (any, error) { return decodeVariableDecimal(b, optVarDecimalSchema) }}
	}
	s := connectors.DecimalSchema(scale)
	s.Parameters["connect.decimal.precision"] = strconv.Itoa(precision)
	return &codec{schema: s, decode: decodeDecimal}
}

func (m *typeMapper) moneyCodec() *codec {
	digits := m.opts.moneyDigits
	switch m.opts.decimalMode {
	case "double":
		return &codec{schema: connectors.Float64Schema(), decode: func(b []byte) (any, error) {
			r, err := parseMoney(b, digits)
			if err != nil {
				return nil, err
			}
			f, _ := r.Float64()
			return f, nil
		}}
	case "string":
		return &codec{schema: connectors.StringSchema(), decode: func(b []byte) (any, error) {
			r, err := parseMoney(b, digits)
			if err != nil {
				return nil, err
			}
			return r.FloatString(digits), nil
		}}
	}
	return &codec{schema: connectors.DecimalSchema(digits), decode: func(b []byte) (any, error) {
		return parseMoney(b, digits)
	}}
}

// timePrecision is the fractional digits of a time or timestamp column
// (-1, no modifier: 6).
func timePrecision(typmod int32) int {
	if typmod < 0 || typmod > 6 {
		return 6
	}
	return int(typmod)
}

func (m *typeMapper) dateCodec() *codec {
	switch m.opts.timeMode {
	case "connect":
		return &codec{schema: connectors.DateSchema(), decode: func(b []byte) (any, error) {
			days, err := parseDate(b)
			if err != nil {
				return nil, err
			}
			return time.Unix(days*86400, 0).UTC(), nil
		}}
	case "isostring":
		return &codec{schema: named(connectors.TypeString, semIsoDate), decode: func(b []byte) (any, error) {
			days, err := parseDate(b)
			if err != nil {
				return nil, err
			}
			return time.Unix(days*86400, 0).UTC().Format("2006-01-02") + "Z", nil
		}}
	}
	return &codec{schema: named(connectors.TypeInt32, semDate), decode: func(b []byte) (any, error) {
		days, err := parseDate(b)
		if err != nil {
			return nil, err
		}
		return clampInt32(days), nil
	}}
}

func clampInt32(v int64) int32 {
	if v > math.MaxInt32 {
		return math.MaxInt32
	}
	if v < math.MinInt32 {
		return math.MinInt32
	}
	return int32(v)
}

func (m *typeMapper) timeCodec(precision int) *codec {
	mode := m.opts.timeMode
	switch {
	case mode == "connect":
		return &codec{schema: connectors.TimeSchema(), decode: func(b []byte) (any, error) {
			us, err := parseTime(b)
			if err != nil {
				return nil, err
			}
			return time.UnixMilli(us / 1000).UTC(), nil
		}}
	case mode == "isostring":
		return &codec{schema: named(connectors.TypeString, semIsoTime), decode: func(b []byte) (any, error) {
			us, err := parseTime(b)
			if err != nil {
				return nil, err
			}
			return formatClock(us, -1) + "Z", nil
		}}
	case mode == "nanoseconds":
		return &codec{schema: named(connectors.TypeInt64, semNanoTime), decode: func(b []byte) (any, error) {
			us, err := parseTime(b)
			return us * 1000, err
		}}
	case mode == "adaptive" && precision <= 3:
		return &codec{schema: named(connectors.TypeInt32, semTime), decode: func(b []byte) (any, error) {
			us, err := parseTime(b)
			return int32(us / 1000), err
		}}
	}
	return &codec{schema: named(connectors.TypeInt64, semMicroTime), decode: func(b []byte) (any, error) {
		return parseTime(b)
	}}
}

// Infinite timestamps, as Debezium maps them (the PostgreSQL JDBC
// driver's DATE_POSITIVE_INFINITY and DATE_NEGATIVE_INFINITY).
const (
	positiveInfinity = 9223372036825200000
	negativeInfinity = -9223372036832400000
)

func (m *typeMapper) timestampCodec(precision int) *codec {
	mode := m.opts.timeMode
	micros := func(b []byte) (int64, bool, error) {
		switch string(b) {
		case "infinity":
			return positiveInfinity, true, nil
		case "-infinity":
			return negativeInfinity, true, nil
		}
		us, err := parseTimestamp(b)
		return us, false, err
	}
	switch {
	case mode == "connect":
		return &codec{schema: connectors.TimestampSchema(), decode: func(b []byte) (any, error) {
			us, inf, err := micros(b)
			if inf {
				return time.UnixMilli(us).UTC(), err
			}
			return time.UnixMicro(us).UTC(), err
		}}
	case mode == "isostring":
		return &codec{schema: named(connectors.TypeString, semIsoTimestamp), toast: m.opts.placeholder, decode: func(b []byte) (any, error) {
			us, inf, err := micros(b)
			if err != nil {
				return nil, err
			}
			if inf {
				return string(b), nil
			}
			return formatTimestamp(us, -1) + "Z", nil
		}}
	case mode == "nanoseconds":
		return &codec{schema: named(connectors.TypeInt64, semNanoTimestamp), decode: func(b []byte) (any, error) {
			us, inf, err := micros(b)
			if err != nil {
				return nil, err
			}
			if inf {
				if us > 0 {
					return int64(math.MaxInt64), nil
				}
				return int64(math.MinInt64), nil
			}
			if us > math.MaxInt64/1000 || us < math.MinInt64/1000 {
				return nil, fmt.Errorf("timestamp %s is outside the range of nanoseconds since the epoch (use time.precision.mode=microseconds)", b)
			}
			return us * 1000, nil
		}}
	case (mode == "adaptive" || mode == "adaptive_time_microseconds") && precision <= 3:
		return &codec{schema: named(connectors.TypeInt64, semTimestamp), decode: func(b []byte) (any, error) {
			us, inf, err := micros(b)
			if inf {
				return us, err
			}
			return floorDiv(us, 1000), err
		}}
	}
	return &codec{schema: named(connectors.TypeInt64, semMicroTimestamp), decode: func(b []byte) (any, error) {
		us, _, err := micros(b)
		return us, err
	}}
}

func (m *typeMapper) arrayCodec(elem *codec, delim byte) *codec {
	if delim == 0 {
		delim = ','
	}
	var toast any
	switch elem.toast.(type) {
	case string:
		toast = []any{m.opts.placeholder}
	case []byte:
		toast = []any{[]byte(m.opts.placeholder)}
	}
	if toast == nil {
		// Debezium's placeholder for arrays of integers: the
		// placeholder's bytes as numbers.
		switch elem.schema.Type {
		case connectors.TypeInt32:
			l := make([]any, 0, len(m.opts.placeholder))
			for _, c := range []byte(m.opts.placeholder) {
				l = append(l, int32(int8(c)))
			}
			toast = l
		case connectors.TypeInt64:
			l := make([]any, 0, len(m.opts.placeholder))
			for _, c := range []byte(m.opts.placeholder) {
				l = append(l, int64(int8(c)))
			}
			toast = l
		}
	}
	decodeElem := elem.decodeOpt
	return &codec{schema: connectors.ArraySchema(elem.opt), toast: toast, enum: elem.enum, decode: func(b []byte) (any, error) {
		items, err := parseArray(b, delim)
		if err != nil {
			return nil, err
		}
		out := make([]any, len(items))
		for i, it := range items {
			if it == nil {
				continue
			}
			v, err := decodeElem(it)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}}
}

// unsafeString views b as a string without copying; b must not change
// while the string is used (decoders use it for lookups and parsing only).
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func decodeString(b []byte) (any, error) { return string(b), nil }

func decodeBool(b []byte) (any, error) {
	if len(b) == 1 {
		switch b[0] {
		case 't':
			return true, nil
		case 'f':
			return false, nil
		}
	}
	return nil, fmt.Errorf("%q is not a boolean", b)
}

// parseInt parses a decimal integer without allocating.
func parseInt(b []byte, bits int) (int64, error) {
	if len(b) == 0 || len(b) > 20 {
		return 0, fmt.Errorf("%q is not an integer", b)
	}
	neg := false
	i := 0
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		i = 1
		if len(b) == 1 {
			return 0, fmt.Errorf("%q is not an integer", b)
		}
	}
	var n uint64
	for ; i < len(b); i++ {
		c := b[i] - '0'
		if c > 9 {
			return 0, fmt.Errorf("%q is not an integer", b)
		}
		n = n*10 + uint64(c)
		if n > 1<<63 {
			return 0, fmt.Errorf("%q is out of range", b)
		}
	}
	limit := uint64(1) << (bits - 1)
	if (!neg && n >= limit) || (neg && n > limit) {
		return 0, fmt.Errorf("%q is out of range for %d bits", b, bits)
	}
	if neg {
		return -int64(n), nil
	}
	return int64(n), nil
}

func decodeInt16(b []byte) (any, error) {
	n, err := parseInt(b, 16)
	return int16(n), err
}

func decodeInt32(b []byte) (any, error) {
	n, err := parseInt(b, 32)
	return int32(n), err
}

func decodeInt64(b []byte) (any, error) {
	if len(b) > 0 && b[0] != '-' {
		// oid is unsigned 32-bit; int8 is signed 64-bit: both fit.
		n, err := strconv.ParseUint(unsafeString(b), 10, 64)
		if err == nil && n <= math.MaxInt64 {
			return int64(n), nil
		}
	}
	return parseInt(b, 64)
}

func decodeFloat32(b []byte) (any, error) {
	f, err := strconv.ParseFloat(unsafeString(b), 32)
	if err != nil {
		return nil, fmt.Errorf("%q is not a real", b)
	}
	return float32(f), nil
}

func decodeFloat64(b []byte) (any, error) {
	f, err := strconv.ParseFloat(unsafeString(b), 64)
	if err != nil {
		return nil, fmt.Errorf("%q is not a double precision", b)
	}
	return f, nil
}

// decodeByteaText decodes bytea's hex output (\x0a0b...).
func decodeByteaText(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != '\\' || b[1] != 'x' {
		return nil, fmt.Errorf("bytea value is not in hex format (bytea_output=hex): %.20q", b)
	}
	out := make([]byte, (len(b)-2)/2)
	if _, err := hex.Decode(out, b[2:]); err != nil {
		return nil, fmt.Errorf("bytea value: %v", err)
	}
	return out, nil
}

// parseDecimal splits numeric text into its unscaled integer and scale.
// special is "NaN", "Infinity" or "-Infinity" for those values.
func parseDecimal(b []byte) (unscaled *big.Int, scale int, special string, err error) {
	switch s := unsafeString(b); s {
	case "NaN", "Infinity", "-Infinity":
		return nil, 0, strings.Clone(s), nil
	}
	if len(b) == 0 {
		return nil, 0, "", errors.New("empty numeric")
	}
	digits := make([]byte, 0, len(b))
	seenPoint := false
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
			if seenPoint {
				scale++
			}
		case c == '.' && !seenPoint:
			seenPoint = true
		case (c == '-' || c == '+') && i == 0:
			if c == '-' {
				digits = append(digits, c)
			}
		default:
			return nil, 0, "", fmt.Errorf("%q is not a numeric", b)
		}
	}
	unscaled = new(big.Int)
	if _, ok := unscaled.SetString(string(digits), 10); !ok {
		return nil, 0, "", fmt.Errorf("%q is not a numeric", b)
	}
	return unscaled, scale, "", nil
}

var bigTen = big.NewInt(10)

func pow10(n int) *big.Int { return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil) }

// smallDecimal parses a plain decimal of at most 18 digits without
// allocating beyond the result.
func smallDecimal(b []byte) (unscaled int64, scale int, ok bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, 0, false
	}
	neg, i, digits, point := false, 0, 0, false
	if b[0] == '-' {
		neg, i = true, 1
	}
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			unscaled = unscaled*10 + int64(c-'0')
			digits++
			if point {
				scale++
			}
		case c == '.' && !point:
			point = true
		default:
			return 0, 0, false
		}
	}
	if digits == 0 || digits > 18 {
		return 0, 0, false
	}
	if neg {
		unscaled = -unscaled
	}
	return unscaled, scale, true
}

func decodeDecimal(b []byte) (any, error) {
	if n, scale, ok := smallDecimal(b); ok {
		return connectjson.DecimalFromInt64(n, scale), nil
	}
	unscaled, scale, special, err := parseDecimal(b)
	if err != nil {
		return nil, err
	}
	if special != "" {
		// Kafka Connect's Decimal has no NaN or infinity.
		return nil, fmt.Errorf("numeric %s cannot be represented as a decimal (use decimal.handling.mode=double or string)", special)
	}
	return new(big.Rat).SetFrac(unscaled, pow10(scale)), nil
}

func decodeVariableDecimal(b []byte, schema *connectors.Schema) (any, error) {
	if n, scale, ok := smallDecimal(b); ok {
		v := connectors.NewStructValue(schema)
		v.Set(0, int32(scale))
		v.Set(1, twosComplement(big.NewInt(n)))
		return v, nil
	}
	unscaled, scale, special, err := parseDecimal(b)
	if err != nil {
		return nil, err
	}
	if special != "" {
		return nil, fmt.Errorf("numeric %s cannot be represented as a decimal (use decimal.handling.mode=double or string)", special)
	}
	v := connectors.NewStructValue(schema)
	v.Set(0, int32(scale))
	v.Set(1, twosComplement(unscaled))
	return v, nil
}

// twosComplement is Java's BigInteger.toByteArray: the shortest big-endian
// two's-complement encoding.
func twosComplement(n *big.Int) []byte {
	if n.Sign() >= 0 {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// -n = ^(n-1): encode |n|-1 and invert.
	m := new(big.Int).Neg(n)
	m.Sub(m, big.NewInt(1))
	b := m.Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	for i := range b {
		b[i] = ^b[i]
	}
	return b
}

func decodeNumericDouble(b []byte) (any, error) {
	f, err := strconv.ParseFloat(unsafeString(b), 64)
	if err != nil {
		return nil, fmt.Errorf("%q is not a numeric", b)
	}
	return f, nil
}

func decodeNumericString(b []byte) (any, error) {
	if unsafeString(b) == "NaN" {
		return "NAN", nil
	}
	return string(b), nil
}

// parseMoney reads money's output in the C locale ("$1,234.56",
// "-$1,234.56") as a decimal of the given scale.
func parseMoney(b []byte, digits int) (*big.Rat, error) {
	clean := make([]byte, 0, len(b))
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9', c == '.':
			clean = append(clean, c)
		case c == '-' || c == '(':
			if len(clean) == 0 || clean[0] != '-' {
				clean = append([]byte{'-'}, clean...)
			}
		}
	}
	r, ok := new(big.Rat).SetString(string(clean))
	if !ok {
		return nil, fmt.Errorf("%q is not a money amount (lc_monetary=C)", b)
	}
	// Round to the configured scale, as Debezium's setScale.
	scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(pow10(digits)))
	q := new(big.Int).Quo(scaled.Num(), scaled.Denom())
	return new(big.Rat).SetFrac(q, pow10(digits)), nil
}

// Dates and times. PostgreSQL prints years with at least four digits and
// " BC" for years before 1 (year 1 BC is astronomical year 0).

// daysFromCivil is Howard Hinnant's algorithm (proleptic Gregorian, as
// PostgreSQL's calendar).
func daysFromCivil(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := int64((153*mp+2)/5 + d - 1)
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func digitsN(b []byte, n int) (int, bool) {
	if len(b) < n {
		return 0, false
	}
	v := 0
	for i := 0; i < n; i++ {
		c := b[i] - '0'
		if c > 9 {
			return 0, false
		}
		v = v*10 + int(c)
	}
	return v, true
}

// parseDateParts reads "YYYY-MM-DD" (the year may be longer) and returns
// the rest.
func parseDateParts(b []byte) (y int64, m, d int, rest []byte, err error) {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i < 4 || i+6 > len(b) || b[i] != '-' || b[i+3] != '-' {
		return 0, 0, 0, nil, fmt.Errorf("%q is not a date", b)
	}
	yy, err := strconv.ParseInt(unsafeString(b[:i]), 10, 64)
	if err != nil {
		return 0, 0, 0, nil, fmt.Errorf("%q is not a date", b)
	}
	mm, ok1 := digitsN(b[i+1:], 2)
	dd, ok2 := digitsN(b[i+4:], 2)
	if !ok1 || !ok2 || mm < 1 || mm > 12 || dd < 1 || dd > 31 {
		return 0, 0, 0, nil, fmt.Errorf("%q is not a date", b)
	}
	return yy, mm, dd, b[i+6:], nil
}

func bcYear(y int64, rest []byte) (int64, []byte) {
	if len(rest) >= 3 && string(rest[len(rest)-3:]) == " BC" {
		return 1 - y, rest[:len(rest)-3]
	}
	return y, rest
}

// parseDate returns days since 1970-01-01; infinity and -infinity map to
// the int32 limits.
func parseDate(b []byte) (int64, error) {
	switch string(b) {
	case "infinity":
		return math.MaxInt32, nil
	case "-infinity":
		return math.MinInt32, nil
	}
	y, m, d, rest, err := parseDateParts(b)
	if err != nil {
		return 0, err
	}
	y, rest = bcYear(y, rest)
	if len(rest) != 0 {
		return 0, fmt.Errorf("%q is not a date", b)
	}
	return daysFromCivil(y, m, d), nil
}

// parseClock reads "HH:MM:SS[.ffffff]" and returns microseconds and the
// rest.
func parseClock(b []byte) (int64, []byte, error) {
	if len(b) < 8 || b[2] != ':' || b[5] != ':' {
		return 0, nil, fmt.Errorf("%q is not a time", b)
	}
	h, ok1 := digitsN(b, 2)
	mi, ok2 := digitsN(b[3:], 2)
	s, ok3 := digitsN(b[6:], 2)
	if !ok1 || !ok2 || !ok3 || h > 24 || mi > 59 || s > 60 {
		return 0, nil, fmt.Errorf("%q is not a time", b)
	}
	us := (int64(h)*3600 + int64(mi)*60 + int64(s)) * 1e6
	rest := b[8:]
	if len(rest) > 0 && rest[0] == '.' {
		frac := int64(0)
		n := 0
		i := 1
		for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9'; i++ {
			if n < 6 {
				frac = frac*10 + int64(rest[i]-'0')
				n++
			}
		}
		for ; n < 6; n++ {
			frac *= 10
		}
		us += frac
		rest = rest[i:]
	}
	return us, rest, nil
}

// parseTime returns microseconds since midnight.
func parseTime(b []byte) (int64, error) {
	us, rest, err := parseClock(b)
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("%q is not a time", b)
	}
	return us, err
}

// parseTimestamp returns microseconds since the epoch of a timestamp
// without time zone ("2024-01-02 03:04:05.123456[ BC]").
func parseTimestamp(b []byte) (int64, error) {
	y, m, d, rest, err := parseDateParts(b)
	if err != nil || len(rest) < 9 || rest[0] != ' ' {
		return 0, fmt.Errorf("%q is not a timestamp", b)
	}
	y, rest = bcYear(y, rest)
	us, rest, err := parseClock(rest[1:])
	if err != nil || len(rest) != 0 {
		return 0, fmt.Errorf("%q is not a timestamp", b)
	}
	return daysFromCivil(y, m, d)*86400e6 + us, nil
}

// parseOffset reads a UTC offset "+HH[:MM[:SS]]" and returns seconds.
func parseOffset(b []byte) (int64, []byte, error) {
	if len(b) < 3 || (b[0] != '+' && b[0] != '-') {
		return 0, nil, fmt.Errorf("%q is not a UTC offset", b)
	}
	sign := int64(1)
	if b[0] == '-' {
		sign = -1
	}
	h, ok := digitsN(b[1:], 2)
	if !ok {
		return 0, nil, fmt.Errorf("%q is not a UTC offset", b)
	}
	secs := int64(h) * 3600
	rest := b[3:]
	for _, mult := range []int64{60, 1} {
		if len(rest) >= 3 && rest[0] == ':' {
			v, ok := digitsN(rest[1:], 2)
			if !ok {
				return 0, nil, fmt.Errorf("%q is not a UTC offset", b)
			}
			secs += int64(v) * mult
			rest = rest[3:]
		}
	}
	return sign * secs, rest, nil
}

// parseTimestampTZ returns microseconds since the epoch of a timestamp
// with time zone ("2024-01-02 03:04:05.123456+00[ BC]").
func parseTimestampTZ(b []byte) (int64, error) {
	y, m, d, rest, err := parseDateParts(b)
	if err != nil || len(rest) < 9 || rest[0] != ' ' {
		return 0, fmt.Errorf("%q is not a timestamp with time zone", b)
	}
	y, rest = bcYear(y, rest)
	us, rest, err := parseClock(rest[1:])
	if err != nil {
		return 0, fmt.Errorf("%q is not a timestamp with time zone", b)
	}
	off, rest, err := parseOffset(rest)
	if err != nil || len(rest) != 0 {
		return 0, fmt.Errorf("%q is not a timestamp with time zone", b)
	}
	return daysFromCivil(y, m, d)*86400e6 + us - off*1e6, nil
}

// formatFraction appends the fractional seconds of us (0..999999): width
// digits, or as many as needed (none for zero) when width < 0.
func formatFraction(dst []byte, us int64, width int) []byte {
	if width == 0 || (width < 0 && us == 0) {
		return dst
	}
	var digits [6]byte
	for i := 5; i >= 0; i-- {
		digits[i] = byte('0' + us%10)
		us /= 10
	}
	n := width
	if width < 0 {
		n = 6
		for n > 0 && digits[n-1] == '0' {
			n--
		}
	}
	dst = append(dst, '.')
	return append(dst, digits[:n]...)
}

// formatClock formats microseconds since midnight as HH:MM:SS[.fff].
func formatClock(us int64, width int) string {
	secs := us / 1e6
	b := make([]byte, 0, 16)
	b = appendTwo(b, int(secs/3600))
	b = append(b, ':')
	b = appendTwo(b, int(secs/60%60))
	b = append(b, ':')
	b = appendTwo(b, int(secs%60))
	return string(formatFraction(b, us%1e6, width))
}

func appendTwo(b []byte, v int) []byte { return append(b, byte('0'+v/10%10), byte('0'+v%10)) }

// formatTimestamp formats microseconds since the epoch as
// YYYY-MM-DDTHH:MM:SS[.fff] (UTC), Java's ISO_LOCAL_DATE_TIME.
func formatTimestamp(us int64, width int) string {
	t := time.UnixMicro(us).UTC()
	b := make([]byte, 0, 32)
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	return string(formatFraction(b, int64(t.Nanosecond()/1000), width))
}

// decodeZonedTimestamp is Debezium's ZonedTimestamp: ISO-8601 in UTC with
// the column's fractional digits ("2024-01-02T03:04:05.123456Z");
// infinity stays "infinity".
func decodeZonedTimestamp(b []byte, precision int) (any, error) {
	switch string(b) {
	case "infinity", "-infinity":
		return string(b), nil
	}
	if s, ok := fastZonedTimestamp(b, precision); ok {
		return s, nil
	}
	us, err := parseTimestampTZ(b)
	if err != nil {
		return nil, err
	}
	return formatTimestamp(us, precision) + "Z", nil
}

// fastZonedTimestamp rewrites the common form of a timestamptz in UTC
// (the session's TimeZone), "2024-01-02 03:04:05[.123456]+00", without
// parsing it into a time; anything else (other years, BC, an offset,
// digits the width would cut) is left to the general path. PostgreSQL
// prints the fraction without trailing zeros, rounded to the column's
// precision.
func fastZonedTimestamp(b []byte, width int) (string, bool) {
	n := len(b)
	if n < 22 || b[n-3] != '+' || b[n-2] != '0' || b[n-1] != '0' ||
		b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return "", false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if b[i] < '0' || b[i] > '9' {
			return "", false
		}
	}
	frac := b[19 : n-3]
	if len(frac) > 0 {
		if frac[0] != '.' || len(frac) > 7 || frac[len(frac)-1] == '0' {
			return "", false
		}
		frac = frac[1:]
		for _, c := range frac {
			if c < '0' || c > '9' {
				return "", false
			}
		}
	}
	if width >= 0 && len(frac) > width {
		return "", false
	}
	var out [32]byte
	dst := append(out[:0], b[:10]...)
	dst = append(dst, 'T')
	dst = append(dst, b[11:19]...)
	switch {
	case width < 0:
		if len(frac) > 0 {
			dst = append(dst, '.')
			dst = append(dst, frac...)
		}
	case width > 0:
		dst = append(dst, '.')
		dst = append(dst, frac...)
		for i := len(frac); i < width; i++ {
			dst = append(dst, '0')
		}
	}
	dst = append(dst, 'Z')
	return string(dst), true
}

// decodeZonedTime is Debezium's ZonedTime: the time in UTC, ISO-8601
// ("11:45:12.123Z").
func decodeZonedTime(b []byte) (any, error) {
	us, rest, err := parseClock(b)
	if err != nil {
		return nil, err
	}
	off, rest, err := parseOffset(rest)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%q is not a time with time zone", b)
	}
	us = ((us-off*1e6)%86400e6 + 86400e6) % 86400e6
	return formatClock(us, -1) + "Z", nil
}

// interval is an interval's components, as PostgreSQL's iso_8601 output
// gives them (each signed).
type interval struct {
	years, months, days, hours, minutes int64
	seconds                             float64
	secondsText                         string // as printed, for the string form
}

// parseInterval reads IntervalStyle=iso_8601 output ("P1Y2M3DT4H5M6.78S",
// "PT0S", "P-1Y-2M", "PT-0.5S").
func parseInterval(b []byte) (interval, error) {
	var iv interval
	if len(b) < 2 || b[0] != 'P' {
		return iv, fmt.Errorf("%q is not an ISO-8601 interval (IntervalStyle=iso_8601)", b)
	}
	timePart := false
	rest := b[1:]
	for len(rest) > 0 {
		if rest[0] == 'T' {
			timePart = true
			rest = rest[1:]
			continue
		}
		i := 0
		if i < len(rest) && (rest[i] == '-' || rest[i] == '+') {
			i++
		}
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i >= len(rest) {
			return iv, fmt.Errorf("%q is not an ISO-8601 interval", b)
		}
		num, unit := rest[:i], rest[i]
		rest = rest[i+1:]
		if unit == 'S' && timePart {
			f, err := strconv.ParseFloat(string(num), 64)
			if err != nil {
				return iv, fmt.Errorf("%q is not an ISO-8601 interval", b)
			}
			iv.seconds, iv.secondsText = f, string(num)
			continue
		}
		n, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			return iv, fmt.Errorf("%q is not an ISO-8601 interval", b)
		}
		switch {
		case unit == 'Y' && !timePart:
			iv.years = n
		case unit == 'M' && !timePart:
			iv.months = n
		case unit == 'W' && !timePart:
			iv.days += 7 * n
		case unit == 'D' && !timePart:
			iv.days += n
		case unit == 'H' && timePart:
			iv.hours = n
		case unit == 'M' && timePart:
			iv.minutes = n
		default:
			return iv, fmt.Errorf("%q is not an ISO-8601 interval", b)
		}
	}
	return iv, nil
}

// daysPerMonthAvg is Debezium's MicroDuration.DAYS_PER_MONTH_AVG.
const daysPerMonthAvg = 365.25 / 12.0

// micros is Debezium's MicroDuration.durationMicros, computed in the same
// floating-point steps so that the results are identical.
func (iv interval) micros() int64 {
	numberOfDays := float64(iv.years*12+iv.months)*daysPerMonthAvg + float64(iv.days)
	numberOfSeconds := ((numberOfDays*24+float64(iv.hours))*60+float64(iv.minutes))*60 + iv.seconds
	return int64(numberOfSeconds * 1e6)
}

// iso is Debezium's Interval.toIsoString: every component present.
func (iv interval) iso() string {
	secs := "0"
	if iv.secondsText != "" {
		r, ok := new(big.Rat).SetString(iv.secondsText)
		if ok {
			secs = stripZeros(r.FloatString(9))
		}
	}
	return fmt.Sprintf("P%dY%dM%dDT%dH%dM%sS", iv.years, iv.months, iv.days, iv.hours, iv.minutes, secs)
}

// stripZeros is BigDecimal.stripTrailingZeros().toPlainString() of a
// decimal string.
func stripZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

func decodeIntervalMicros(b []byte) (any, error) {
	iv, err := parseInterval(b)
	if err != nil {
		return nil, err
	}
	return iv.micros(), nil
}

func decodeIntervalString(b []byte) (any, error) {
	iv, err := parseInterval(b)
	if err != nil {
		return nil, err
	}
	return iv.iso(), nil
}

func decodeBit1(b []byte) (any, error) {
	if len(b) != 1 || (b[0] != '0' && b[0] != '1') {
		return nil, fmt.Errorf("%q is not a bit", b)
	}
	return b[0] == '1', nil
}

// decodeBits is Debezium's Bits: bit i (from the right of the text) is
// bit i%8 of byte i/8, the bytes sized to the highest set bit.
func decodeBits(b []byte) (any, error) {
	highest := -1
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case '1':
			highest = len(b) - 1 - i
		case '0':
		default:
			return nil, fmt.Errorf("%q is not a bit string", b)
		}
	}
	out := make([]byte, (highest+8)/8)
	for i := 0; i <= highest; i++ {
		if b[len(b)-1-i] == '1' {
			out[i/8] |= 1 << (i % 8)
		}
	}
	return out, nil
}

// decodePoint reads "(x,y)" into Debezium's Point with its OGC WKB.
func decodePoint(b []byte, schema *connectors.Schema) (any, error) {
	s := unsafeString(b)
	if len(s) < 5 || s[0] != '(' || s[len(s)-1] != ')' {
		return nil, fmt.Errorf("%q is not a point", b)
	}
	xs, ys, ok := strings.Cut(s[1:len(s)-1], ",")
	if !ok {
		return nil, fmt.Errorf("%q is not a point", b)
	}
	x, err1 := strconv.ParseFloat(xs, 64)
	y, err2 := strconv.ParseFloat(ys, 64)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%q is not a point", b)
	}
	wkb := make([]byte, 21)
	wkb[0] = 1 // little endian
	wkb[1] = 1 // type 1: point (uint32 LE)
	putFloat64LE(wkb[5:], x)
	putFloat64LE(wkb[13:], y)
	v := connectors.NewStructValue(schema)
	v.Set(0, x)
	v.Set(1, y)
	v.Set(2, wkb)
	return v, nil
}

func putFloat64LE(b []byte, f float64) {
	u := math.Float64bits(f)
	for i := 0; i < 8; i++ {
		b[i] = byte(u >> (8 * i))
	}
}

// parseArray parses a one-dimensional array literal ({a,"b c",NULL}) into
// its items (nil for NULL), unquoted and unescaped. A leading dimension
// decoration ([0:2]=) is skipped. Multi-dimensional arrays are an error.
func parseArray(b []byte, delim byte) ([][]byte, error) {
	if len(b) > 0 && b[0] == '[' {
		eq := strings.IndexByte(unsafeString(b), '=')
		if eq < 0 {
			return nil, fmt.Errorf("array literal %.40q: bad dimensions", b)
		}
		b = b[eq+1:]
	}
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("array literal %.40q: want {...}", b)
	}
	body := b[1 : len(b)-1]
	if len(body) == 0 {
		return [][]byte{}, nil
	}
	var items [][]byte
	i := 0
	for {
		if i < len(body) && body[i] == '{' {
			return nil, fmt.Errorf("array literal %.40q: multi-dimensional arrays are not supported", b)
		}
		if i < len(body) && body[i] == '"' {
			var item []byte
			i++
			closed := false
			for i < len(body) {
				c := body[i]
				if c == '\\' && i+1 < len(body) {
					item = append(item, body[i+1])
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				item = append(item, c)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("array literal %.40q: unterminated quote", b)
			}
			if item == nil {
				item = []byte{}
			}
			items = append(items, item)
		} else {
			start := i
			for i < len(body) && body[i] != delim {
				if body[i] == '"' || body[i] == '{' || body[i] == '}' {
					return nil, fmt.Errorf("array literal %.40q: unexpected %q", b, body[i])
				}
				i++
			}
			item := body[start:i]
			if string(item) == "NULL" {
				items = append(items, nil)
			} else {
				if len(item) == 0 {
					return nil, fmt.Errorf("array literal %.40q: empty item", b)
				}
				items = append(items, item)
			}
		}
		if i == len(body) {
			return items, nil
		}
		if body[i] != delim {
			return nil, fmt.Errorf("array literal %.40q: want %q after an item", b, delim)
		}
		i++
		if i == len(body) {
			return nil, fmt.Errorf("array literal %.40q: trailing delimiter", b)
		}
	}
}
