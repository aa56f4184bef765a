package jdbc

import (
	"fmt"
	"math/big"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// Debezium's semantic types. The postgres-cdc and mysql-cdc connectors (as
// Debezium's) write temporal columns as numbers named by these schemas
// under time.precision.mode=adaptive (their default), unconstrained
// numerics as a VariableScaleDecimal struct, JSON and UUID as named
// strings. Confluent's JDBC sink knows none of them and writes the bare
// numbers (BIGINT columns holding microseconds); this sink, as Debezium's
// own JDBC sink, writes them as the dates, times and decimals they are, so
// that replaying change topics (flattened by ExtractNewRecordState)
// rebuilds the source table with its types. Into an existing integer or
// floating-point column the number is written as it is, which is what
// Confluent's sink does.
const (
	dbzDate           = "io.debezium.time.Date"           // int32 days since the epoch
	dbzTime           = "io.debezium.time.Time"           // int32 milliseconds past midnight
	dbzMicroTime      = "io.debezium.time.MicroTime"      // int64 microseconds past midnight
	dbzNanoTime       = "io.debezium.time.NanoTime"       // int64 nanoseconds past midnight
	dbzTimestamp      = "io.debezium.time.Timestamp"      // int64 milliseconds, wall clock as UTC
	dbzMicroTimestamp = "io.debezium.time.MicroTimestamp" // int64 microseconds, wall clock as UTC
	dbzNanoTimestamp  = "io.debezium.time.NanoTimestamp"  // int64 nanoseconds, wall clock as UTC
	dbzZonedTimestamp = "io.debezium.time.ZonedTimestamp" // ISO 8601 text with an offset: an instant
	dbzJSON           = "io.debezium.data.Json"           // JSON text
	dbzUUID           = "io.debezium.data.Uuid"           // UUID text
	dbzVarDecimal     = "io.debezium.data.VariableScaleDecimal"
)

// debeziumSQLType is the column type auto.create and auto.evolve give a
// field of a Debezium semantic type ("" for the others).
func (d *dialect) debeziumSQLType(s *connectors.Schema, key bool) string {
	fine := s.Name == dbzMicroTimestamp || s.Name == dbzNanoTimestamp || s.Name == dbzMicroTime || s.Name == dbzNanoTime
	switch s.Name {
	case dbzDate:
		return "DATE"
	case dbzTime, dbzMicroTime, dbzNanoTime:
		switch {
		case d.kind == dialectMySQL && fine:
			return "TIME(6)"
		case d.kind == dialectMySQL:
			return "TIME(3)"
		}
		return "TIME"
	case dbzTimestamp, dbzMicroTimestamp, dbzNanoTimestamp:
		switch {
		case d.kind == dialectMySQL && fine:
			return "DATETIME(6)"
		case d.kind == dialectMySQL:
			return "DATETIME(3)"
		}
		return "TIMESTAMP"
	case dbzZonedTimestamp:
		switch d.kind {
		case dialectPostgres:
			return "TIMESTAMPTZ"
		case dialectMySQL:
			return "DATETIME(6)" // in db.timezone
		}
		return "TIMESTAMP"
	case dbzJSON:
		switch d.kind {
		case dialectPostgres:
			return "JSONB"
		case dialectMySQL:
			if key {
				return ""
			}
			return "JSON"
		}
		return "TEXT"
	case dbzUUID:
		switch d.kind {
		case dialectPostgres:
			return "UUID"
		case dialectMySQL:
			return "CHAR(36)"
		}
		return "TEXT"
	case dbzVarDecimal:
		switch d.kind {
		case dialectPostgres:
			return "NUMERIC"
		case dialectMySQL:
			return "DECIMAL(65,30)"
		}
		return "NUMERIC"
	}
	return ""
}

// debeziumWriter converts values of a Debezium semantic type for a column
// of category cat (nil: not such a type; the general conversion applies).
func (d *dialect) debeziumWriter(s *connectors.Schema, cat colCategory) writeFunc {
	if s == nil {
		return nil
	}
	raw := cat == catInt || cat == catFloat || cat == catDecimal
	var unit time.Duration // of the temporal numbers
	switch s.Name {
	case dbzTime, dbzTimestamp:
		unit = time.Millisecond
	case dbzMicroTime, dbzMicroTimestamp:
		unit = time.Microsecond
	case dbzNanoTime, dbzNanoTimestamp:
		unit = time.Nanosecond
	}
	switch s.Name {
	case dbzDate:
		if raw {
			return nil
		}
		return func(v any) (any, error) {
			days, err := asInt64(v)
			if err != nil {
				return nil, err
			}
			return d.fromTime(connectors.DateSchema(), time.Unix(days*86400, 0).UTC(), cat)
		}
	case dbzTime, dbzMicroTime, dbzNanoTime:
		if raw {
			return nil
		}
		return func(v any) (any, error) {
			n, err := asInt64(v)
			if err != nil {
				return nil, err
			}
			switch cat {
			case catTime, catText, catOther:
				return time.Unix(0, 0).UTC().Add(time.Duration(n) * unit).Format("15:04:05.999999999"), nil
			}
			return nil, fmt.Errorf("a %s value cannot be written to a column of this type", shortLogical(s.Name))
		}
	case dbzTimestamp, dbzMicroTimestamp, dbzNanoTimestamp:
		if raw {
			return nil
		}
		return func(v any) (any, error) {
			n, err := asInt64(v)
			if err != nil {
				return nil, err
			}
			var u time.Time
			switch unit {
			case time.Millisecond:
				u = time.UnixMilli(n).UTC()
			case time.Microsecond:
				u = time.UnixMicro(n).UTC()
			default:
				u = time.Unix(0, n).UTC()
			}
			// Debezium encodes a zoneless timestamp's wall clock as if it
			// were UTC: it is the same wall clock in db.timezone.
			wall := time.Date(u.Year(), u.Month(), u.Day(), u.Hour(), u.Minute(), u.Second(), u.Nanosecond(), d.loc)
			return d.fromTime(connectors.TimestampSchema(), wall, cat)
		}
	case dbzZonedTimestamp:
		if cat == catText || cat == catOther {
			return nil
		}
		return func(v any) (any, error) {
			text, err := asString(v)
			if err != nil {
				return nil, err
			}
			at, err := time.Parse(time.RFC3339Nano, text)
			if err != nil {
				return nil, fmt.Errorf("ZonedTimestamp %q: %w", text, err)
			}
			return d.fromTime(connectors.TimestampSchema(), at, cat)
		}
	case dbzVarDecimal:
		return func(v any) (any, error) {
			st, ok := v.(*connectors.Struct)
			if !ok {
				return nil, fmt.Errorf("a VariableScaleDecimal is a struct, not %T", v)
			}
			scale, err := asInt64(st.Get("scale"))
			if err != nil {
				return nil, fmt.Errorf("VariableScaleDecimal scale: %w", err)
			}
			b, _ := st.Get("value").([]byte)
			r := new(big.Rat).SetInt(twosComplement(b))
			if scale != 0 {
				r.Quo(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(scale), nil)))
			}
			return d.convert(connectors.DecimalSchema(int(scale)), r, cat)
		}
	}
	return nil
}

// twosComplement reads a big-endian two's-complement integer (a Connect
// Decimal's unscaled value).
func twosComplement(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	return n
}
