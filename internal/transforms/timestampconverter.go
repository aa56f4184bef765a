package transforms

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

func timestampConverterInfo(s side) connectors.Info {
	return connectors.Info{
		Summary: "Convert timestamps in the record " + s.String() + " between strings, Unix epoch numbers and the Date, Time and Timestamp types.",
		Doc: "Kafka Connect's TimestampConverter" + s.suffix() + ". Converts one field (of a struct with a schema, or a map without one) or, with field empty, the whole " + s.String() + ". " +
			"The input's kind comes from its schema (Timestamp, Date, Time, string, int64) or, without one, from its value (a time, an integer, a string). " +
			"format is a java.text.SimpleDateFormat pattern (yyyy-MM-dd'T'HH:mm:ss.SSSXXX), applied in UTC; letters G y M L d D E u a H k K h m s S z Z X are supported, week-based ones (Y w W F) are not. Parsing is lenient like Java's: text after the pattern is ignored and out-of-range values roll over. " +
			"As in Kafka Connect, conversions go through milliseconds: sub-millisecond precision of unix inputs is lost. A null " + s.String() + " or field stays null (the schema is still converted). " +
			"A converted field keeps its optionality but not its default.",
		Spec: connectors.Spec{
			Fields: []connectors.ConfigField{
				{Name: "field", Type: connectors.FieldString, Default: "", Doc: "The field containing the timestamp, or empty if the entire value is a timestamp."},
				{Name: "target.type", Type: connectors.FieldString, Required: true, Allowed: []string{"string", "unix", "Date", "Time", "Timestamp"},
					Doc: "The desired timestamp representation: string, unix, Date, Time, or Timestamp."},
				{Name: "format", Type: connectors.FieldString, Default: "", Check: checkDateFormat,
					Doc: "A SimpleDateFormat-compatible format for the timestamp. Used to generate the output when type=string or used to parse the input if the input is a string."},
				{Name: "unix.precision", Type: connectors.FieldString, Default: "milliseconds", Allowed: []string{"seconds", "milliseconds", "microseconds", "nanoseconds"},
					Doc: "The desired Unix precision for the timestamp: seconds, milliseconds, microseconds, or nanoseconds. Used to generate the output when type=unix or used to parse the input if the input is a Long."},
				replaceNullField,
			},
			Check: func(cfg *connectors.Config) error {
				if cfg.String("target.type") == "string" && cfg.String("format") == "" {
					return connectors.Errorf(cfg.Key("format"), "required when target.type is string")
				}
				return nil
			},
		},
		Example: "transforms: ts\ntransforms.ts.type: TimestampConverter" + s.suffix() + "\ntransforms.ts.field: created_at\ntransforms.ts.target.type: string\ntransforms.ts.format: yyyy-MM-dd'T'HH:mm:ss.SSSXXX\n",
	}
}

func checkDateFormat(v any) error {
	if v.(string) == "" {
		return nil
	}
	_, err := compileDateFormat(v.(string))
	return err
}

type tsKind uint8

const (
	tsString tsKind = iota + 1
	tsUnix
	tsDate
	tsTime
	tsTimestamp
)

func parseTSKind(s string) tsKind {
	switch s {
	case "string":
		return tsString
	case "unix":
		return tsUnix
	case "Date":
		return tsDate
	case "Time":
		return tsTime
	}
	return tsTimestamp
}

// kindOfSchema is Kafka Connect's timestampTypeFromSchema.
func kindOfSchema(s *connectors.Schema) (tsKind, error) {
	switch {
	case s.Name == connectors.TimestampName:
		return tsTimestamp, nil
	case s.Name == connectors.DateName:
		return tsDate, nil
	case s.Name == connectors.TimeName:
		return tsTime, nil
	case s.Type == connectors.TypeString:
		return tsString, nil
	case s.Type == connectors.TypeInt64:
		return tsUnix, nil
	}
	return 0, fmt.Errorf("schema %s does not correspond to a known timestamp type (Timestamp, Date, Time, string or int64)", s)
}

type timestampConverter struct {
	id          ident
	side        side
	field       string
	target      tsKind
	format      *dateFormat // nil when not configured
	precision   string
	withDefault bool
	required    *connectors.Schema // the target's schema
	optional    *connectors.Schema
	cache       planCache[*tsPlan]
}

type tsPlan struct {
	out   *connectors.Schema
	index int // the converted field, -1 if the schema lacks it
	from  tsKind
	err   error // the field's schema is not a timestamp
}

func newTimestampConverter(s side, cfg *connectors.Config) (connectors.Transform, error) {
	t := &timestampConverter{id: newIdent("TimestampConverter"+s.suffix(), cfg), side: s, field: cfg.String("field"),
		target: parseTSKind(cfg.String("target.type")), precision: cfg.String("unix.precision"),
		withDefault: cfg.Bool("replace.null.with.default")}
	if p := cfg.String("format"); p != "" {
		f, err := compileDateFormat(p)
		if err != nil {
			return nil, connectors.Errorf(cfg.Key("format"), "%v", err)
		}
		t.format = f
	}
	switch t.target {
	case tsString:
		t.required = connectors.StringSchema()
	case tsUnix:
		t.required = connectors.Int64Schema()
	case tsDate:
		t.required = connectors.DateSchema()
	case tsTime:
		t.required = connectors.TimeSchema()
	default:
		t.required = connectors.TimestampSchema()
	}
	t.optional = connectors.OptionalOf(t.required)
	return t, nil
}

func (t *timestampConverter) targetSchema(optional bool) *connectors.Schema {
	if optional {
		return t.optional
	}
	return t.required
}

// inferKind is Kafka Connect's inferTimestampType, for schemaless values.
func inferKind(v any) (tsKind, error) {
	switch x := v.(type) {
	case time.Time:
		return tsTimestamp, nil
	case string:
		return tsString, nil
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return tsUnix, nil
		}
	default:
		if _, ok := asInt64(v); ok {
			return tsUnix, nil
		}
	}
	return 0, fmt.Errorf("TimestampConverter does not support %s values as timestamps (want a time, an integer or a string)", describe(v))
}

// toRaw reads a timestamp of kind from v, at millisecond precision.
func (t *timestampConverter) toRaw(kind tsKind, v any) (time.Time, error) {
	switch kind {
	case tsString:
		s, ok := v.(string)
		if !ok {
			return time.Time{}, fmt.Errorf("expected a string timestamp, found %s", describe(v))
		}
		if t.format == nil {
			return time.Time{}, errors.New("cannot parse a string timestamp without format (set format to its SimpleDateFormat pattern)")
		}
		tm, err := t.format.parse(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("could not parse timestamp: %w", err)
		}
		return tm, nil
	case tsUnix:
		var n int64
		if num, ok := v.(json.Number); ok {
			i, err := num.Int64()
			if err != nil {
				return time.Time{}, fmt.Errorf("expected a Unix timestamp as a whole number, found %s", num)
			}
			n = i
		} else if i, ok := asInt64(v); ok {
			n = i
		} else {
			return time.Time{}, fmt.Errorf("expected a Unix timestamp as an int64, found %s", describe(v))
		}
		var ms int64
		switch t.precision {
		case "seconds":
			ms = saturatingMul(n, 1000)
		case "microseconds":
			ms = n / 1000
		case "nanoseconds":
			ms = n / 1000000
		default:
			ms = n
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	tm, ok := v.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("expected a date or time value, found %s", describe(v))
	}
	return time.UnixMilli(tm.UnixMilli()).UTC(), nil
}

// saturatingMul multiplies as Java's TimeUnit conversions do, clamping on
// overflow.
func saturatingMul(n, m int64) int64 {
	if n > math.MaxInt64/m {
		return math.MaxInt64
	}
	if n < math.MinInt64/m {
		return math.MinInt64
	}
	return n * m
}

func (t *timestampConverter) toType(tm time.Time) any {
	switch t.target {
	case tsString:
		return t.format.format(tm)
	case tsUnix:
		ms := tm.UnixMilli()
		switch t.precision {
		case "seconds":
			return ms / 1000
		case "microseconds":
			return saturatingMul(ms, 1000)
		case "nanoseconds":
			return saturatingMul(ms, 1000000)
		}
		return ms
	case tsDate:
		y, m, d := tm.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case tsTime:
		ms := tm.UnixMilli()
		return time.UnixMilli(ms - floorDiv(ms, millisPerDay)*millisPerDay).UTC()
	}
	return tm
}

// convert converts v (nil stays nil); kind 0 infers it from the value.
func (t *timestampConverter) convert(v any, kind tsKind) (any, error) {
	if v == nil {
		return nil, nil
	}
	if kind == 0 {
		var err error
		if kind, err = inferKind(v); err != nil {
			return nil, err
		}
	}
	tm, err := t.toRaw(kind, v)
	if err != nil {
		return nil, err
	}
	return t.toType(tm), nil
}

func (t *timestampConverter) derive(in *connectors.Schema) (*tsPlan, error) {
	if in.Type != connectors.TypeStruct {
		return nil, fmt.Errorf("converting field %q needs a struct, got schema %s", t.field, in)
	}
	out := structBasics(in)
	out.Optional = in.Optional
	p := &tsPlan{out: out, index: -1}
	for _, f := range in.Fields {
		if f.Name != t.field {
			out.Fields = append(out.Fields, f)
			continue
		}
		p.index = f.Index
		p.from, p.err = kindOfSchema(f.Schema)
		out.Fields = append(out.Fields, connectors.Field{Name: f.Name, Schema: t.targetSchema(f.Schema.Optional)})
	}
	out.Finish()
	if in.Default != nil {
		st, ok := in.Default.(*connectors.Struct)
		if !ok {
			return nil, fmt.Errorf("the struct schema's default is %s, not a struct", describe(in.Default))
		}
		d, err := t.convertStruct(p, st, true)
		if err != nil {
			return nil, fmt.Errorf("default value: %w", err)
		}
		out.Default = d
	}
	return p, nil
}

func (t *timestampConverter) convertStruct(p *tsPlan, st *connectors.Struct, withDefault bool) (*connectors.Struct, error) {
	in := st.Schema()
	out := connectors.NewStructValue(p.out)
	for i := range in.Fields {
		v := fieldValue(st, &in.Fields[i], withDefault)
		if i == p.index {
			if p.err != nil {
				return nil, fmt.Errorf("field %q: %w", t.field, p.err)
			}
			c, err := t.convert(v, p.from)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", t.field, err)
			}
			v = c
		}
		out.Set(i, v)
	}
	return out, nil
}

func (t *timestampConverter) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	schema, v := t.side.get(rec)
	if schema == nil {
		if v == nil || t.field == "" {
			c, err := t.convert(v, 0)
			if err != nil {
				return dst, t.id.wrap(rec, err)
			}
			t.side.set(rec, nil, c)
			return append(dst, rec), nil
		}
		m, err := requireMap(v, "converting timestamp formats")
		if err != nil {
			return dst, t.id.wrap(rec, err)
		}
		out := copyMap(m, 1)
		c, err := t.convert(m[t.field], 0)
		if err != nil {
			return dst, t.id.wrap(rec, fmt.Errorf("field %q: %w", t.field, err))
		}
		out[t.field] = c // as Kafka Connect, a missing field is added as null
		t.side.set(rec, nil, out)
		return append(dst, rec), nil
	}
	if t.field == "" {
		kind, err := kindOfSchema(schema)
		if err != nil {
			return dst, t.id.wrap(rec, err)
		}
		c, err := t.convert(v, kind)
		if err != nil {
			return dst, t.id.wrap(rec, err)
		}
		t.side.set(rec, t.targetSchema(schema.Optional), c)
		return append(dst, rec), nil
	}
	if v != nil {
		if _, err := requireStruct(schema, v, "converting timestamp formats"); err != nil {
			return dst, t.id.wrap(rec, err)
		}
	}
	p, err := t.cache.get(schema, t.derive)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	if v == nil {
		t.side.set(rec, p.out, nil)
		return append(dst, rec), nil
	}
	out, err := t.convertStruct(p, v.(*connectors.Struct), t.withDefault)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	t.side.set(rec, p.out, out)
	return append(dst, rec), nil
}
