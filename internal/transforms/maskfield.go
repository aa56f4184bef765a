package transforms

import (
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

func maskFieldInfo(s side) connectors.Info {
	return connectors.Info{
		Summary: "Mask fields of the record " + s.String() + " with a null-like value of their type or a replacement.",
		Doc: "Kafka Connect's MaskField" + s.suffix() + ". Each listed field is replaced by the \"zero\" of its type (0, false, empty string, empty array or map, the epoch for dates and times, 0 for decimals) or, with replacement, by the replacement converted to the field's type (numbers and strings only). " +
			"A null field stays null. Bytes and struct fields cannot be masked; booleans, dates, arrays and maps cannot take a replacement. Works on a struct with a schema (which is kept) or on a map without one (where a listed field that is missing is added as null, as in Kafka Connect). " +
			"As in Kafka Connect, a record whose " + s.String() + " is null (a tombstone) is an error: pair the transform with the RecordIsTombstone predicate and negate: true to let tombstones through.",
		Spec: connectors.Spec{
			Fields: []connectors.ConfigField{
				{Name: "fields", Type: connectors.FieldList, Required: true, Check: nonEmptyList, Doc: "Names of fields to mask."},
				{Name: "replacement", Type: connectors.FieldString, Check: nonEmptyString,
					Doc: "Custom value replacement, that will be applied to all 'fields' values (numeric or non-empty string values only). Numbers are parsed as Java's BigDecimal and narrowed to the field's type."},
				replaceNullField,
			},
		},
		Example: "transforms: pii\ntransforms.pii.type: MaskField" + s.suffix() + "\ntransforms.pii.fields: ssn,phone\ntransforms.pii.replacement: \"****\"\n",
	}
}

type maskField struct {
	id          ident
	side        side
	fields      []string
	masked      map[string]bool
	replacement *string
	withDefault bool
	cache       planCache[*maskPlan]
}

// maskOp is the masked value of one struct field, computed once per schema.
type maskOp struct {
	value any
	err   error // the field's type cannot be masked (fails non-null values)
}

type maskPlan struct {
	ops []*maskOp // by field index; nil: not masked
}

func newMaskField(s side, cfg *connectors.Config) (connectors.Transform, error) {
	t := &maskField{id: newIdent("MaskField"+s.suffix(), cfg), side: s, fields: cfg.List("fields"),
		withDefault: cfg.Bool("replace.null.with.default")}
	t.masked = toSet(t.fields)
	if cfg.IsSet("replacement") {
		r := cfg.String("replacement")
		t.replacement = &r
	}
	return t, nil
}

// sampleOf returns a value of schema's Go type, to decide its mask once.
func sampleOf(s *connectors.Schema) any {
	switch s.Name {
	case connectors.DecimalName:
		return new(big.Rat)
	case connectors.DateName, connectors.TimeName, connectors.TimestampName:
		return time.Time{}
	}
	switch s.Type {
	case connectors.TypeInt8:
		return int8(0)
	case connectors.TypeInt16:
		return int16(0)
	case connectors.TypeInt32:
		return int32(0)
	case connectors.TypeInt64:
		return int64(0)
	case connectors.TypeFloat32:
		return float32(0)
	case connectors.TypeFloat64:
		return float64(0)
	case connectors.TypeBoolean:
		return false
	case connectors.TypeString:
		return ""
	case connectors.TypeBytes:
		return []byte{}
	case connectors.TypeArray:
		return []any{}
	case connectors.TypeMap:
		return map[string]any{}
	}
	return &connectors.Struct{}
}

func (t *maskField) derive(in *connectors.Schema) (*maskPlan, error) {
	p := &maskPlan{ops: make([]*maskOp, len(in.Fields))}
	for i, f := range in.Fields {
		if !t.masked[f.Name] {
			continue
		}
		v, err := maskValue(sampleOf(f.Schema), t.replacement)
		p.ops[i] = &maskOp{value: v, err: err}
	}
	return p, nil
}

// maskValue returns the mask of a non-null value, by its type, as Kafka
// Connect's MaskField.
func maskValue(v any, replacement *string) (any, error) {
	if replacement == nil {
		switch v.(type) {
		case bool:
			return false, nil
		case int8:
			return int8(0), nil
		case int16:
			return int16(0), nil
		case int32:
			return int32(0), nil
		case int64:
			return int64(0), nil
		case int:
			return 0, nil
		case float32:
			return float32(0), nil
		case float64:
			return float64(0), nil
		case json.Number:
			return json.Number("0"), nil
		case *big.Rat:
			return new(big.Rat), nil
		case time.Time:
			return time.UnixMilli(0).UTC(), nil
		case string:
			return "", nil
		case []any:
			return []any{}, nil
		case map[string]any:
			return map[string]any{}, nil
		}
		return nil, fmt.Errorf("cannot mask a value of type %s", describe(v))
	}
	r := *replacement
	switch v.(type) {
	case string:
		return r, nil
	case int8, int16, int32, int64, int, float32, float64, json.Number, *big.Rat:
		n, ok := parseJavaDecimal(r)
		if !ok {
			return nil, fmt.Errorf("cannot mask a %s field with replacement %q: not a number", describe(v), r)
		}
		switch v.(type) {
		case int8:
			return int8(ratLow64(n)), nil
		case int16:
			return int16(ratLow64(n)), nil
		case int32:
			return int32(ratLow64(n)), nil
		case int64:
			return ratLow64(n), nil
		case int:
			return int(ratLow64(n)), nil
		case float32:
			f, _ := n.Float64()
			return float32(f), nil
		case float64:
			f, _ := n.Float64()
			return f, nil
		case json.Number:
			return json.Number(r), nil
		}
		return n, nil
	}
	return nil, fmt.Errorf("cannot mask a value of type %s with a replacement (only numbers and strings take one)", describe(v))
}

func (t *maskField) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	schema, v := t.side.get(rec)
	if schema == nil {
		m, err := requireMap(v, "masking fields")
		if err != nil {
			return dst, t.id.wrap(rec, err)
		}
		out := copyMap(m, len(t.fields))
		for _, name := range t.fields {
			x := m[name]
			if x != nil {
				if x, err = maskValue(x, t.replacement); err != nil {
					return dst, t.id.wrap(rec, fmt.Errorf("field %q: %w", name, err))
				}
			}
			out[name] = x
		}
		t.side.set(rec, nil, out)
		return append(dst, rec), nil
	}
	st, err := requireStruct(schema, v, "masking fields")
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	in := st.Schema()
	p, err := t.cache.get(in, t.derive)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	out := connectors.NewStructValue(in)
	for i := range in.Fields {
		f := &in.Fields[i]
		x := fieldValue(st, f, t.withDefault)
		if op := p.ops[i]; op != nil && x != nil {
			if op.err != nil {
				return dst, t.id.wrap(rec, fmt.Errorf("field %q: %w", f.Name, op.err))
			}
			switch op.value.(type) {
			case []any:
				x = []any{} // a fresh value per record: values are not shared
			case map[string]any:
				x = map[string]any{}
			default:
				x = op.value
			}
		}
		out.Set(i, x)
	}
	t.side.set(rec, schema, out)
	return append(dst, rec), nil
}
