package jdbc

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
)

// This file maps types both ways: database columns to Kafka Connect
// schemas and values (the source), and Connect schemas and values to column
// types and statement parameters (the sink). The tables are in the
// connectors' documentation (typesDoc).

// numericMapping is numeric.mapping.
type numericMapping string

const (
	numericNone               numericMapping = "none"
	numericPrecisionOnly      numericMapping = "precision_only"
	numericBestFit            numericMapping = "best_fit"
	numericBestFitEagerDouble numericMapping = "best_fit_eager_double"
)

// maxIntegerPrecision is the most decimal digits that always fit an int64.
const maxIntegerPrecision = 18

// decimalPrecisionParam is the schema parameter the Avro converter reads a
// decimal's precision from (Kafka Connect's convention).
const decimalPrecisionParam = "connect.decimal.precision"

// readFunc converts a value scanned from a result column (a driver value)
// into the Connect value of the column's field. It is never called with
// nil.
type readFunc func(v any) (any, error)

// sourceColumn is how one result column becomes a struct field.
type sourceColumn struct {
	name   string
	schema *connectors.Schema
	read   readFunc
}

// columnKind is the source-side description of a result column: from the
// driver's column type, refined by the table's catalog where known.
type columnKind struct {
	name             string
	typeName         string // upper case database type name
	columnType       string // full declared type, when known from the catalog
	precision, scale int
	hasPrecision     bool
	nullable         bool
	elemType         string // PostgreSQL array element type
}

// sourceField maps a result column to a Connect field schema and a reader.
func (d *dialect) sourceField(k columnKind, nm numericMapping) sourceColumn {
	opt := func(s *connectors.Schema) *connectors.Schema {
		if k.nullable {
			s.Optional = true
		}
		return s
	}
	col := sourceColumn{name: k.name}
	set := func(s *connectors.Schema, r readFunc) sourceColumn {
		col.schema, col.read = opt(s), r
		return col
	}
	t := k.typeName
	switch d.kind {
	case dialectPostgres:
		if strings.HasPrefix(t, "_") || k.elemType != "" {
			elem := k.elemType
			if elem == "" {
				elem = strings.TrimPrefix(t, "_")
			}
			return d.pgArrayField(col, k, elem, opt)
		}
		switch t {
		case "BOOL":
			return set(connectors.BooleanSchema(), readBool)
		case "INT2":
			return set(connectors.Int16Schema(), readInt16)
		case "INT4":
			return set(connectors.Int32Schema(), readInt32)
		case "INT8":
			return set(connectors.Int64Schema(), readInt64)
		case "FLOAT4":
			return set(connectors.Float32Schema(), readFloat32)
		case "FLOAT8":
			return set(connectors.Float64Schema(), readFloat64)
		case "NUMERIC":
			return set(numericField(k, nm))
		case "BYTEA":
			return set(connectors.BytesSchema(), readBytes)
		case "DATE":
			return set(connectors.DateSchema(), d.readDate)
		case "TIME":
			return set(connectors.TimeSchema(), readTimeOfDay)
		case "TIMESTAMP":
			return set(connectors.TimestampSchema(), d.readWallClock)
		case "TIMESTAMPTZ":
			return set(connectors.TimestampSchema(), readInstant)
		}
	case dialectMySQL:
		switch t {
		case "TINYINT":
			if strings.HasPrefix(strings.ToLower(k.columnType), "tinyint(1)") {
				return set(connectors.BooleanSchema(), readBool)
			}
			return set(connectors.Int8Schema(), readInt8)
		case "BIT":
			if strings.EqualFold(k.columnType, "bit(1)") {
				return set(connectors.BooleanSchema(), readBool)
			}
			return set(connectors.BytesSchema(), readBytes)
		case "SMALLINT", "UNSIGNED TINYINT", "YEAR":
			if t == "YEAR" {
				return set(connectors.Int32Schema(), readInt32)
			}
			return set(connectors.Int16Schema(), readInt16)
		case "MEDIUMINT", "INT", "INTEGER", "UNSIGNED SMALLINT", "UNSIGNED MEDIUMINT":
			return set(connectors.Int32Schema(), readInt32)
		case "BIGINT", "UNSIGNED INT", "UNSIGNED INTEGER":
			return set(connectors.Int64Schema(), readInt64)
		case "UNSIGNED BIGINT":
			return set(decimalField(0, 20), readDecimal(0))
		case "FLOAT":
			return set(connectors.Float32Schema(), readFloat32)
		case "DOUBLE", "REAL":
			return set(connectors.Float64Schema(), readFloat64)
		case "DECIMAL", "NUMERIC":
			return set(numericField(k, nm))
		case "BINARY", "VARBINARY", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "GEOMETRY":
			return set(connectors.BytesSchema(), readBytes)
		case "DATE":
			return set(connectors.DateSchema(), d.readDate)
		case "TIME":
			return set(connectors.TimeSchema(), readTimeOfDay)
		case "DATETIME", "TIMESTAMP":
			return set(connectors.TimestampSchema(), readInstant)
		}
	case dialectSQLite:
		switch {
		case t == "BOOLEAN" || t == "BOOL":
			return set(connectors.BooleanSchema(), readBool)
		case t == "TINYINT":
			return set(connectors.Int8Schema(), readInt8)
		case t == "SMALLINT" || t == "INT2":
			return set(connectors.Int16Schema(), readInt16)
		case t == "INT" || t == "MEDIUMINT" || t == "INT4":
			return set(connectors.Int32Schema(), readInt32)
		case strings.Contains(t, "INT"):
			return set(connectors.Int64Schema(), readInt64)
		case t == "FLOAT4":
			return set(connectors.Float32Schema(), readFloat32)
		case strings.Contains(t, "REAL") || strings.Contains(t, "FLOA") || strings.Contains(t, "DOUB"):
			return set(connectors.Float64Schema(), readFloat64)
		case t == "DECIMAL" || t == "NUMERIC":
			if !k.hasPrecision {
				return set(connectors.Float64Schema(), readFloat64)
			}
			return set(numericField(k, nm))
		case t == "DATE":
			return set(connectors.DateSchema(), d.readDate)
		case t == "TIME":
			return set(connectors.TimeSchema(), readTimeOfDay)
		case t == "DATETIME" || t == "TIMESTAMP":
			return set(connectors.TimestampSchema(), d.readWallClock)
		case strings.Contains(t, "BLOB"):
			return set(connectors.BytesSchema(), readBytes)
		}
	}
	// Text, and every type without a better mapping (PostgreSQL's uuid,
	// json, interval, enums; MySQL's enum, set, json): the database's text
	// representation.
	return set(connectors.StringSchema(), readString)
}

// numericField maps a NUMERIC/DECIMAL column by numeric.mapping.
func numericField(k columnKind, nm numericMapping) (*connectors.Schema, readFunc) {
	if !k.hasPrecision || k.precision <= 0 {
		// PostgreSQL's unconstrained numeric has no scale that a Connect
		// Decimal schema could fix: the exact text, or a double when the
		// mapping asks for a best fit.
		if nm == numericBestFit || nm == numericBestFitEagerDouble {
			return connectors.Float64Schema(), readFloat64
		}
		return connectors.StringSchema(), readString
	}
	p, s := k.precision, k.scale
	intSchema := func() (*connectors.Schema, readFunc) {
		switch {
		case p > 9:
			return connectors.Int64Schema(), readInt64
		case p > 4:
			return connectors.Int32Schema(), readInt32
		case p > 2:
			return connectors.Int16Schema(), readInt16
		}
		return connectors.Int8Schema(), readInt8
	}
	switch nm {
	case numericPrecisionOnly:
		if s == 0 && p <= maxIntegerPrecision {
			return intSchema()
		}
	case numericBestFit:
		if p <= maxIntegerPrecision {
			if s <= 0 {
				return intSchema()
			}
			return connectors.Float64Schema(), readFloat64
		}
	case numericBestFitEagerDouble:
		if s > 0 {
			return connectors.Float64Schema(), readFloat64
		}
		if p <= maxIntegerPrecision {
			return intSchema()
		}
	}
	return decimalField(s, p), readDecimal(s)
}

func decimalField(scale, precision int) *connectors.Schema {
	s := connectors.DecimalSchema(scale)
	if precision > 0 {
		s.Parameters[decimalPrecisionParam] = strconv.Itoa(precision)
	}
	return s
}

// pgArrayField maps a PostgreSQL array to a Connect array of optional
// elements, parsing the array's text form.
func (d *dialect) pgArrayField(col sourceColumn, k columnKind, elem string, opt func(*connectors.Schema) *connectors.Schema) sourceColumn {
	var es *connectors.Schema
	var conv func(s string) (any, error)
	switch elem {
	case "BOOL":
		es = connectors.BooleanSchema()
		conv = func(s string) (any, error) {
			switch strings.ToLower(s) {
			case "t", "true":
				return true, nil
			case "f", "false":
				return false, nil
			}
			return nil, fmt.Errorf("%q is not a boolean", s)
		}
	case "INT2":
		es = connectors.Int16Schema()
		conv = func(s string) (any, error) { n, err := strconv.ParseInt(s, 10, 16); return int16(n), err }
	case "INT4":
		es = connectors.Int32Schema()
		conv = func(s string) (any, error) { n, err := strconv.ParseInt(s, 10, 32); return int32(n), err }
	case "INT8":
		es = connectors.Int64Schema()
		conv = func(s string) (any, error) { return strconv.ParseInt(s, 10, 64) }
	case "FLOAT4":
		es = connectors.Float32Schema()
		conv = func(s string) (any, error) { f, err := strconv.ParseFloat(s, 32); return float32(f), err }
	case "FLOAT8":
		es = connectors.Float64Schema()
		conv = func(s string) (any, error) { return strconv.ParseFloat(s, 64) }
	default:
		es = connectors.StringSchema()
		conv = func(s string) (any, error) { return s, nil }
	}
	es.Optional = true
	col.schema = opt(connectors.ArraySchema(es))
	col.read = func(v any) (any, error) {
		text, err := asString(v)
		if err != nil {
			return nil, err
		}
		var elems []*string
		if err := pgArrayScan(text, &elems); err != nil {
			return nil, fmt.Errorf("array %q: %w", text, err)
		}
		out := make([]any, len(elems))
		for i, e := range elems {
			if e == nil {
				continue
			}
			if out[i], err = conv(*e); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return col
}

// pgTextArrays parses array text forms ("{1,NULL,"a b"}"); a pgtype.Map is
// not safe for concurrent use, so each parse takes its own (cheap: only
// arrays need it).
func pgArrayScan(text string, dst *[]*string) error {
	m := pgtype.NewMap()
	return m.Scan(pgtype.TextArrayOID, pgtype.TextFormatCode, []byte(text), dst)
}

// Readers. Drivers hand over different Go types for one SQL type (MySQL's
// text protocol gives bytes, its binary protocol numbers; SQLite gives
// whatever the value's storage class is), so each reader accepts them all.

func asString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return fmt.Sprint(v), nil
}

func readString(v any) (any, error) { return asString(v) }

func readBytes(v any) (any, error) {
	switch x := v.(type) {
	case []byte:
		return x, nil
	case string:
		return []byte(x), nil
	}
	return nil, fmt.Errorf("cannot read %T as bytes", v)
}

func asInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case int:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%d is out of the int64 range", x)
		}
		return int64(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case float64:
		if x != math.Trunc(x) {
			return 0, fmt.Errorf("%v is not an integer", x)
		}
		return int64(x), nil
	case []byte:
		return strconv.ParseInt(strings.TrimSpace(string(x)), 10, 64)
	case string:
		return strconv.ParseInt(strings.TrimSpace(x), 10, 64)
	}
	return 0, fmt.Errorf("cannot read %T as an integer", v)
}

func readIntN(bits int) readFunc {
	lo, hi := int64(-1)<<(bits-1), int64(1)<<(bits-1)-1
	return func(v any) (any, error) {
		n, err := asInt64(v)
		if err != nil {
			return nil, err
		}
		if n < lo || n > hi {
			return nil, fmt.Errorf("%d does not fit int%d", n, bits)
		}
		switch bits {
		case 8:
			return int8(n), nil
		case 16:
			return int16(n), nil
		case 32:
			return int32(n), nil
		}
		return n, nil
	}
}

var (
	readInt8  = readIntN(8)
	readInt16 = readIntN(16)
	readInt32 = readIntN(32)
)

func readInt64(v any) (any, error) { return asInt64(v) }

func asFloat64(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case []byte:
		return strconv.ParseFloat(strings.TrimSpace(string(x)), 64)
	case string:
		return strconv.ParseFloat(strings.TrimSpace(x), 64)
	}
	return 0, fmt.Errorf("cannot read %T as a number", v)
}

func readFloat64(v any) (any, error) { return asFloat64(v) }

func readFloat32(v any) (any, error) {
	if f, ok := v.(float32); ok {
		return f, nil
	}
	f, err := asFloat64(v)
	return float32(f), err
}

func readBool(v any) (any, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case []byte:
		if len(x) == 1 && (x[0] == 0 || x[0] == 1) { // BIT(1)
			return x[0] == 1, nil
		}
		return parseBoolText(string(x))
	case string:
		return parseBoolText(x)
	}
	n, err := asInt64(v)
	if err != nil {
		return nil, err
	}
	return n != 0, nil
}

func parseBoolText(s string) (any, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "y", "yes", "on":
		return true, nil
	case "0", "f", "false", "n", "no", "off":
		return false, nil
	}
	return nil, fmt.Errorf("%q is not a boolean", s)
}

// readDecimal reads a decimal value at the column's scale: exact from the
// text drivers give for DECIMAL columns; rounded to the scale from a double
// (SQLite keeps decimals as REAL).
func readDecimal(scale int) readFunc {
	return func(v any) (any, error) {
		var text string
		switch x := v.(type) {
		case float64:
			text = strconv.FormatFloat(x, 'f', scale, 64)
		case float32:
			text = strconv.FormatFloat(float64(x), 'f', scale, 32)
		default:
			var err error
			if text, err = asString(v); err != nil {
				return nil, err
			}
		}
		r, ok := new(big.Rat).SetString(strings.TrimSpace(text))
		if !ok {
			return nil, fmt.Errorf("%q is not a decimal number", text)
		}
		return r, nil
	}
}

// Time readers. A Connect Date is UTC midnight, a Time a time of day on
// 1970-01-01 UTC with millisecond precision, a Timestamp an instant with
// millisecond precision (finer parts are dropped when converted, not here:
// the value keeps what the database gave, so offsets stay exact).

func (d *dialect) readDate(v any) (any, error) {
	switch x := v.(type) {
	case time.Time:
		return time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC), nil
	case string, []byte:
		s, _ := asString(x)
		if s == "infinity" || s == "-infinity" {
			return nil, fmt.Errorf("date %s has no Connect representation", s)
		}
		t, err := parseSQLiteTime(s, time.UTC)
		if err != nil {
			return nil, err
		}
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
	}
	return nil, fmt.Errorf("cannot read %T as a date", v)
}

func readTimeOfDay(v any) (any, error) {
	var s string
	switch x := v.(type) {
	case time.Time:
		return time.Date(1970, 1, 1, x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), time.UTC), nil
	default:
		var err error
		if s, err = asString(v); err != nil {
			return nil, err
		}
	}
	s = strings.TrimSpace(s)
	for _, layout := range []string{"15:04:05.999999999", "15:04:05", "15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return time.Date(1970, 1, 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), nil
		}
	}
	return nil, fmt.Errorf("time %q is not a time of day (Connect's Time holds 00:00 to 24:00)", s)
}

// readInstant reads a column whose driver already produced the instant
// (timestamptz; MySQL values parsed in db.timezone).
func readInstant(v any) (any, error) {
	if t, ok := v.(time.Time); ok {
		return t.UTC(), nil
	}
	s, err := asString(v)
	if err != nil {
		return nil, err
	}
	t, err := parseSQLiteTime(s, time.UTC)
	if err != nil {
		return nil, err
	}
	return t.UTC(), nil
}

// readWallClock reads a zoneless date-time as a wall-clock time in
// db.timezone: pgx and SQLite give it as a UTC time.Time with the wall
// clock's fields.
func (d *dialect) readWallClock(v any) (any, error) {
	switch x := v.(type) {
	case time.Time:
		return wallIn(x, d.loc), nil
	case string, []byte:
		s, _ := asString(x)
		t, err := parseSQLiteTime(s, d.loc)
		if err != nil {
			return nil, err
		}
		return t.UTC(), nil
	}
	return nil, fmt.Errorf("cannot read %T as a timestamp", v)
}

// wallIn reinterprets t's wall clock in loc (keeping t's zone if it has
// one that is not UTC: the driver already placed it).
func wallIn(t time.Time, loc *time.Location) time.Time {
	if loc == nil || loc == time.UTC {
		return t.UTC()
	}
	if t.Location() != time.UTC {
		return t.UTC()
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc).UTC()
}

// parseSQLiteTime parses the text forms of dates and times that SQLite's
// date functions and the drivers write, in loc when the text has no zone.
func parseSQLiteTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{
		"2006-01-02 15:04:05.999999999-07:00", "2006-01-02T15:04:05.999999999-07:00",
		"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02",
		"2006-01-02 15:04:05.999999999 -0700 MST",
	} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date-time", s)
}

// Sink side.

// colCategory is how a sink writes values into a column, from the
// column's type in the database.
type colCategory int

const (
	catOther colCategory = iota // text the database parses (uuid, enum, inet, ...)
	catInt
	catFloat
	catBool
	catText
	catDecimal
	catDate
	catTime
	catTimestamp   // zoneless: wall clock in db.timezone
	catTimestampTZ // an instant
	catBytes
	catJSON
	catArray // PostgreSQL arrays
)

// category classifies a column of the target table.
func (d *dialect) category(c *columnInfo) colCategory {
	t := c.typeName
	switch d.kind {
	case dialectPostgres:
		if c.elemType != "" || strings.HasPrefix(t, "_") {
			return catArray
		}
		switch t {
		case "INT2", "INT4", "INT8", "OID":
			return catInt
		case "FLOAT4", "FLOAT8":
			return catFloat
		case "BOOL":
			return catBool
		case "NUMERIC", "MONEY":
			return catDecimal
		case "TEXT", "VARCHAR", "BPCHAR", "NAME", "CITEXT", "CHAR":
			return catText
		case "BYTEA":
			return catBytes
		case "DATE":
			return catDate
		case "TIME", "TIMETZ":
			return catTime
		case "TIMESTAMP":
			return catTimestamp
		case "TIMESTAMPTZ":
			return catTimestampTZ
		case "JSON", "JSONB":
			return catJSON
		}
	case dialectMySQL:
		switch t {
		case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "INTEGER", "BIGINT", "YEAR":
			if t == "TINYINT" && strings.HasPrefix(strings.ToLower(c.columnType), "tinyint(1)") {
				return catBool
			}
			return catInt
		case "FLOAT", "DOUBLE", "REAL":
			return catFloat
		case "DECIMAL", "NUMERIC":
			return catDecimal
		case "CHAR", "VARCHAR", "TEXT", "TINYTEXT", "MEDIUMTEXT", "LONGTEXT", "ENUM", "SET":
			return catText
		case "BINARY", "VARBINARY", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB":
			return catBytes
		case "DATE":
			return catDate
		case "TIME":
			return catTime
		case "DATETIME", "TIMESTAMP":
			return catTimestamp
		case "JSON":
			return catJSON
		}
	case dialectSQLite:
		switch {
		case t == "BOOLEAN" || t == "BOOL":
			return catBool
		case strings.Contains(t, "INT"):
			return catInt
		case strings.Contains(t, "REAL") || strings.Contains(t, "FLOA") || strings.Contains(t, "DOUB"):
			return catFloat
		case t == "DECIMAL" || t == "NUMERIC":
			return catDecimal
		case t == "DATE":
			return catDate
		case t == "TIME":
			return catTime
		case t == "DATETIME" || t == "TIMESTAMP":
			return catTimestamp
		case strings.Contains(t, "BLOB"):
			return catBytes
		case strings.Contains(t, "CHAR") || strings.Contains(t, "CLOB") || strings.Contains(t, "TEXT"):
			return catText
		}
	}
	return catOther
}

// sqlType is the column type that auto.create and auto.evolve give a field
// of schema s (key columns of MySQL need a bounded length).
func (d *dialect) sqlType(s *connectors.Schema, key bool) (string, error) {
	if t := d.debeziumSQLType(s, key); t != "" {
		return t, nil
	}
	switch s.Name {
	case connectors.DecimalName:
		scale, _ := strconv.Atoi(s.Parameters[connectors.DecimalScaleParam])
		maxP := 65
		if d.kind == dialectPostgres {
			maxP = 1000
		}
		p := 65
		if ps, ok := s.Parameters[decimalPrecisionParam]; ok {
			if n, err := strconv.Atoi(ps); err == nil && n > 0 {
				p = n
			}
		}
		p = min(max(p, scale+1), maxP)
		if scale > p {
			return "", fmt.Errorf("decimal scale %d does not fit the database's precision limit %d", scale, maxP)
		}
		if d.kind == dialectPostgres {
			return fmt.Sprintf("NUMERIC(%d,%d)", p, scale), nil
		}
		return fmt.Sprintf("DECIMAL(%d,%d)", p, scale), nil
	case connectors.DateName:
		return "DATE", nil
	case connectors.TimeName:
		if d.kind == dialectMySQL {
			return "TIME(3)", nil
		}
		return "TIME", nil
	case connectors.TimestampName:
		switch d.kind {
		case dialectMySQL:
			return "DATETIME(3)", nil
		}
		return "TIMESTAMP", nil
	}
	pg := map[connectors.Type]string{connectors.TypeInt8: "SMALLINT", connectors.TypeInt16: "SMALLINT",
		connectors.TypeInt32: "INT", connectors.TypeInt64: "BIGINT", connectors.TypeFloat32: "REAL",
		connectors.TypeFloat64: "DOUBLE PRECISION", connectors.TypeBoolean: "BOOLEAN", connectors.TypeString: "TEXT",
		connectors.TypeBytes: "BYTEA"}
	switch d.kind {
	case dialectPostgres:
		if t, ok := pg[s.Type]; ok {
			return t, nil
		}
		if s.Type == connectors.TypeArray && s.ValueSchema != nil && s.ValueSchema.Type.IsPrimitive() && s.ValueSchema.Name == "" {
			if elem, ok := pg[s.ValueSchema.Type]; ok && s.ValueSchema.Type != connectors.TypeBytes {
				return elem + "[]", nil
			}
		}
		return "JSONB", nil
	case dialectMySQL:
		switch s.Type {
		case connectors.TypeInt8:
			return "TINYINT", nil
		case connectors.TypeInt16:
			return "SMALLINT", nil
		case connectors.TypeInt32:
			return "INT", nil
		case connectors.TypeInt64:
			return "BIGINT", nil
		case connectors.TypeFloat32:
			return "FLOAT", nil
		case connectors.TypeFloat64:
			return "DOUBLE", nil
		case connectors.TypeBoolean:
			return "BOOLEAN", nil
		case connectors.TypeString:
			if key {
				return "VARCHAR(256)", nil
			}
			return "LONGTEXT", nil
		case connectors.TypeBytes:
			if key {
				return "VARBINARY(256)", nil
			}
			return "LONGBLOB", nil
		}
		return "JSON", nil
	case dialectSQLite:
		switch s.Type {
		case connectors.TypeInt8:
			return "TINYINT", nil
		case connectors.TypeInt16:
			return "SMALLINT", nil
		case connectors.TypeInt32:
			return "INT", nil
		case connectors.TypeInt64:
			return "BIGINT", nil
		case connectors.TypeFloat32:
			return "FLOAT4", nil
		case connectors.TypeFloat64:
			return "DOUBLE", nil
		case connectors.TypeBoolean:
			return "BOOLEAN", nil
		case connectors.TypeString:
			return "TEXT", nil
		case connectors.TypeBytes:
			return "BLOB", nil
		}
		return "TEXT", nil // JSON text
	}
	return "", fmt.Errorf("no column type for %s", s)
}

// sqlDefault renders a field's default value for a DDL DEFAULT clause, or
// "" when it has none that can be written portably.
func sqlDefault(s *connectors.Schema) string {
	if s.Default == nil || s.Name != "" {
		return ""
	}
	switch v := s.Default.(type) {
	case bool:
		if v {
			return "TRUE"
		}
		return "FALSE"
	case int8, int16, int32, int64, int:
		return fmt.Sprint(v)
	case float32:
		if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
			return ""
		}
		return strconv.FormatFloat(float64(v), 'g', -1, 32)
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return ""
}

// writeFunc converts a Connect value into the parameter for a column. It is
// never called with nil.
type writeFunc func(v any) (any, error)

// writer compiles the conversion of values of field schema s (nil for
// schemaless values) into parameters for a column of category cat.
func (d *dialect) writer(s *connectors.Schema, cat colCategory) writeFunc {
	if w := d.debeziumWriter(s, cat); w != nil {
		return w
	}
	if s != nil {
		switch {
		case s.Type == connectors.TypeInt64 && s.Name == "" && (cat == catInt || cat == catOther && d.kind != dialectPostgres):
			return func(v any) (any, error) { return v, nil }
		case s.Type == connectors.TypeString && s.Name == "" && (cat == catText || cat == catOther || cat == catJSON):
			return func(v any) (any, error) { return v, nil }
		case s.Type == connectors.TypeFloat64 && cat == catFloat:
			return func(v any) (any, error) { return v, nil }
		case s.Type == connectors.TypeBoolean && cat == catBool:
			return func(v any) (any, error) { return v, nil }
		case s.Type == connectors.TypeBytes && s.Name == "" && cat == catBytes:
			return func(v any) (any, error) { return v, nil }
		case s.Type == connectors.TypeStruct || s.Type == connectors.TypeMap || (s.Type == connectors.TypeArray && cat != catArray):
			return func(v any) (any, error) { return jsonText(s, v) }
		case s.Type == connectors.TypeArray && cat == catArray:
			return func(v any) (any, error) { return pgArrayLiteral(s, v) }
		}
	}
	return func(v any) (any, error) { return d.convert(s, v, cat) }
}

// convert is the general conversion, by the value's Go type.
func (d *dialect) convert(s *connectors.Schema, v any, cat colCategory) (any, error) {
	switch x := v.(type) {
	case int8:
		return d.fromInt(int64(x), cat)
	case int16:
		return d.fromInt(int64(x), cat)
	case int32:
		return d.fromInt(int64(x), cat)
	case int64:
		return d.fromInt(x, cat)
	case int:
		return d.fromInt(int64(x), cat)
	case float32:
		return d.fromFloat(float64(x), 32, cat)
	case float64:
		return d.fromFloat(x, 64, cat)
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return d.fromInt(n, cat)
		}
		f, err := x.Float64()
		if err != nil {
			return nil, err
		}
		return d.fromFloat(f, 64, cat)
	case bool:
		switch cat {
		case catBool:
			return x, nil
		case catInt, catFloat, catDecimal:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		}
		return strconv.FormatBool(x), nil
	case string:
		switch cat {
		case catInt:
			n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not an integer", x)
			}
			return n, nil
		case catFloat:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", x)
			}
			return f, nil
		case catBool:
			b, err := parseBoolText(x)
			if err != nil {
				return nil, err
			}
			return b, nil
		case catBytes:
			return []byte(x), nil
		case catJSON:
			if !json.Valid([]byte(x)) {
				// A plain string into a JSON column: as a JSON string.
				b, _ := json.Marshal(x)
				return string(b), nil
			}
		}
		return x, nil
	case []byte:
		switch cat {
		case catBytes, catOther:
			if d.kind == dialectPostgres && cat == catOther {
				return string(x), nil
			}
			return x, nil
		case catJSON:
			return jsonText(s, x)
		}
		return string(x), nil
	case *big.Rat:
		scale := 0
		if s != nil {
			scale, _ = strconv.Atoi(s.Parameters[connectors.DecimalScaleParam])
		} else if !x.IsInt() {
			scale = 18
		}
		switch cat {
		case catFloat:
			f, _ := x.Float64()
			return f, nil
		case catInt:
			if !x.IsInt() {
				return nil, fmt.Errorf("%s is not an integer", x.FloatString(scale))
			}
			return x.Num().Int64(), nil
		case catJSON:
			return x.FloatString(scale), nil
		}
		return x.FloatString(scale), nil
	case time.Time:
		return d.fromTime(s, x, cat)
	case []any:
		if cat == catArray {
			return pgArrayLiteral(s, x)
		}
		return jsonText(s, x)
	case map[string]any, *connectors.Struct:
		return jsonText(s, x)
	}
	return nil, fmt.Errorf("cannot write a value of Go type %T", v)
}

func (d *dialect) fromInt(n int64, cat colCategory) (any, error) {
	switch cat {
	case catInt, catFloat, catDecimal, catJSON:
		return n, nil
	case catBool:
		return n != 0, nil
	case catOther:
		if d.kind == dialectPostgres {
			return strconv.FormatInt(n, 10), nil
		}
		return n, nil
	case catDate, catTime, catTimestamp, catTimestampTZ, catBytes, catArray:
		return nil, fmt.Errorf("an integer cannot be written to a column of this type")
	}
	return strconv.FormatInt(n, 10), nil
}

func (d *dialect) fromFloat(f float64, bits int, cat colCategory) (any, error) {
	switch cat {
	case catFloat:
		return f, nil
	case catInt:
		if f != math.Trunc(f) {
			return nil, fmt.Errorf("%v is not an integer", f)
		}
		return int64(f), nil
	case catDecimal, catText, catOther, catJSON:
		if math.IsInf(f, 0) || math.IsNaN(f) {
			if cat == catDecimal && d.kind != dialectPostgres {
				return nil, fmt.Errorf("%v cannot be written to a decimal column", f)
			}
		}
		return strconv.FormatFloat(f, 'g', -1, bits), nil
	case catBool:
		return f != 0, nil
	}
	return nil, fmt.Errorf("a number cannot be written to a column of this type")
}

// fromTime writes a time by its logical type (Date, Time, Timestamp; a
// schemaless time.Time counts as a Timestamp).
func (d *dialect) fromTime(s *connectors.Schema, t time.Time, cat colCategory) (any, error) {
	name := connectors.TimestampName
	if s != nil && s.Name != "" {
		name = s.Name
	}
	switch name {
	case connectors.DateName:
		switch cat {
		case catDate, catText, catOther:
			return t.UTC().Format("2006-01-02"), nil
		case catTimestamp, catTimestampTZ:
			return d.timestampParam(t.UTC(), cat), nil
		}
	case connectors.TimeName:
		switch cat {
		case catTime, catText, catOther:
			return t.UTC().Format("15:04:05.000"), nil
		}
	default:
		switch cat {
		case catTimestamp, catTimestampTZ:
			return d.timestampParam(t, cat), nil
		case catDate:
			return t.In(d.loc).Format("2006-01-02"), nil
		case catText, catOther:
			return t.UTC().Format(time.RFC3339Nano), nil
		case catInt:
			return t.UnixMilli(), nil
		}
	}
	return nil, fmt.Errorf("a %s value cannot be written to a column of this type", shortLogical(name))
}

func shortLogical(name string) string { return name[strings.LastIndex(name, ".")+1:] }

// timestampParam is an instant as a parameter for a timestamp column:
// zoneless columns take the wall clock in db.timezone.
func (d *dialect) timestampParam(t time.Time, cat colCategory) any {
	switch d.kind {
	case dialectSQLite:
		return t.In(d.loc).Format("2006-01-02 15:04:05.000")
	case dialectPostgres:
		if cat == catTimestampTZ {
			return t
		}
		return t.In(d.loc)
	}
	return t // go-sql-driver converts to db.timezone (its Loc)
}

// jsonText renders a value as JSON text for a JSON (or text) column, as
// Kafka Connect's JsonConverter writes payloads (decimals as numbers).
func jsonText(s *connectors.Schema, v any) (any, error) {
	b, err := connectjson.Append(nil, s, v, connectjson.Options{DecimalNumeric: true})
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// pgArrayLiteral renders an array as PostgreSQL's array text form.
func pgArrayLiteral(s *connectors.Schema, v any) (any, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("an array column needs an array, not %T", v)
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range arr {
		if i > 0 {
			b.WriteByte(',')
		}
		if e == nil {
			b.WriteString("NULL")
			continue
		}
		var text string
		switch x := e.(type) {
		case string:
			text = x
		case []byte:
			text = string(x)
		case bool:
			text = strconv.FormatBool(x)
		case float32:
			text = strconv.FormatFloat(float64(x), 'g', -1, 32)
		case float64:
			text = strconv.FormatFloat(x, 'g', -1, 64)
		case *big.Rat:
			text = x.FloatString(10)
		case time.Time:
			text = x.UTC().Format(time.RFC3339Nano)
		case int8, int16, int32, int64, int:
			text = fmt.Sprint(x)
		default:
			j, err := jsonText(nil, x)
			if err != nil {
				return nil, err
			}
			text = j.(string)
		}
		b.WriteByte('"')
		for _, r := range text {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String(), nil
}
