package transforms

import (
	"fmt"

	"github.com/sluicehq/sluice/connectors"
)

func extractFieldInfo(s side) connectors.Info {
	return connectors.Info{
		Summary: "Replace the record " + s.String() + " with one of its fields.",
		Doc: "Kafka Connect's ExtractField" + s.suffix() + ". From a struct with a schema, the " + s.String() + " becomes the field's value and schema (a field missing from the schema is an error); from a map without a schema, the value of the key (null if missing). " +
			"A null " + s.String() + " stays null (with a schema, the field's schema). With field.syntax.version=V2 the field may be nested (address.city), as in Kafka 3.7+ (KIP-821).",
		Spec: connectors.Spec{
			Fields: []connectors.ConfigField{
				{Name: "field", Type: connectors.FieldString, Required: true, Doc: "Field name to extract."},
				fieldSyntaxField,
				replaceNullField,
			},
			Check: func(cfg *connectors.Config) error {
				if _, err := parseFieldPath(cfg.String("field"), cfg.String("field.syntax.version")); err != nil {
					return connectors.Errorf(cfg.Key("field"), "%v", err)
				}
				return nil
			},
		},
		Example: "transforms: id\ntransforms.id.type: ExtractField" + s.suffix() + "\ntransforms.id.field: id\n",
	}
}

type extractField struct {
	id          ident
	side        side
	path        fieldPath
	withDefault bool
	cache       planCache[resolved]
}

func newExtractField(s side, cfg *connectors.Config) (connectors.Transform, error) {
	path, err := parseFieldPath(cfg.String("field"), cfg.String("field.syntax.version"))
	if err != nil {
		return nil, connectors.Errorf(cfg.Key("field"), "%v", err)
	}
	return &extractField{id: newIdent("ExtractField"+s.suffix(), cfg), side: s, path: path,
		withDefault: cfg.Bool("replace.null.with.default")}, nil
}

func (t *extractField) derive(in *connectors.Schema) (resolved, error) {
	r, ok, err := t.path.resolve(in)
	if err != nil {
		return r, err
	}
	if !ok {
		return r, fmt.Errorf("unknown field %q in schema %s", t.path.String(), in)
	}
	return r, nil
}

func (t *extractField) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	schema, v := t.side.get(rec)
	if schema == nil {
		if v == nil {
			return append(dst, rec), nil
		}
		m, err := requireMap(v, "field extraction")
		if err != nil {
			return dst, t.id.wrap(rec, err)
		}
		x, err := t.path.valueFromMap(m)
		if err != nil {
			return dst, t.id.wrap(rec, err)
		}
		t.side.set(rec, nil, x)
		return append(dst, rec), nil
	}
	if v != nil {
		if _, err := requireStruct(schema, v, "field extraction"); err != nil {
			return dst, t.id.wrap(rec, err)
		}
	}
	r, err := t.cache.get(schema, t.derive)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	var x any
	if v != nil {
		if x, err = r.valueFromStruct(v.(*connectors.Struct), t.withDefault); err != nil {
			return dst, t.id.wrap(rec, err)
		}
	}
	t.side.set(rec, r.field.Schema, x)
	return append(dst, rec), nil
}

func hoistFieldInfo(s side) connectors.Info {
	return connectors.Info{
		Summary: "Wrap the record " + s.String() + " in a struct (or map) with a single field.",
		Doc: "Kafka Connect's HoistField" + s.suffix() + ". With a schema, the " + s.String() + " becomes a struct (unnamed, required) whose one field has the original schema; without, a map with one key. " +
			"A null " + s.String() + " is wrapped too (as a null field), which with a schema needs the original schema to be optional.",
		Spec: connectors.Spec{
			Fields: []connectors.ConfigField{
				{Name: "field", Type: connectors.FieldString, Required: true,
					Doc: "Field name for the single field that will be created in the resulting Struct or Map."},
			},
		},
		Example: "transforms: wrap\ntransforms.wrap.type: HoistField" + s.suffix() + "\ntransforms.wrap.field: line\n",
	}
}

type hoistField struct {
	id    ident
	side  side
	field string
	cache planCache[*connectors.Schema]
}

func newHoistField(s side, cfg *connectors.Config) (connectors.Transform, error) {
	return &hoistField{id: newIdent("HoistField"+s.suffix(), cfg), side: s, field: cfg.String("field")}, nil
}

func (t *hoistField) derive(in *connectors.Schema) (*connectors.Schema, error) {
	return connectors.NewStruct("").Field(t.field, in).Build()
}

func (t *hoistField) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	schema, v := t.side.get(rec)
	if schema == nil {
		t.side.set(rec, nil, map[string]any{t.field: v})
		return append(dst, rec), nil
	}
	if v == nil && !schema.Optional && schema.Default == nil {
		return dst, t.id.fail(rec, "the %s is null but its schema (%s) is required, so it cannot be a field of the new struct", t.side, schema)
	}
	out, err := t.cache.get(schema, t.derive)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	st := connectors.NewStructValue(out)
	st.Set(0, v)
	t.side.set(rec, out, st)
	return append(dst, rec), nil
}
