package transforms

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// side is the part of a record a $Key or $Value transform works on.
type side uint8

const (
	keySide side = iota + 1
	valueSide
)

func (s side) suffix() string {
	if s == keySide {
		return "$Key"
	}
	return "$Value"
}

func (s side) String() string {
	if s == keySide {
		return "key"
	}
	return "value"
}

func (s side) get(rec *connectors.Record) (*connectors.Schema, any) {
	if s == keySide {
		return rec.KeySchema, rec.Key
	}
	return rec.ValueSchema, rec.Value
}

func (s side) set(rec *connectors.Record, schema *connectors.Schema, v any) {
	if s == keySide {
		rec.KeySchema, rec.Key = schema, v
	} else {
		rec.ValueSchema, rec.Value = schema, v
	}
}

// ident names a configured transform in its errors: the alias the user
// gave it and its type, as in `transform "mask" (MaskField$Value)`.
type ident struct {
	typ   string
	alias string
}

func newIdent(typ string, cfg *connectors.Config) ident {
	// The framework parses a transform's fields with the prefix
	// "transforms.<alias>."; a config parsed without prefix (in tests, by
	// hand) has no alias.
	alias := strings.TrimSuffix(strings.TrimPrefix(cfg.Key(""), "transforms."), ".")
	return ident{typ: typ, alias: alias}
}

func (id ident) String() string {
	if id.alias == "" {
		return id.typ
	}
	return fmt.Sprintf("transform %q (%s)", id.alias, id.typ)
}

// fail returns a record error: it names the transform and the record's
// position, then says what was wrong.
func (id ident) fail(rec *connectors.Record, format string, args ...any) error {
	return fmt.Errorf("transforms: %s on %s: %s", id, rec.Where(), fmt.Sprintf(format, args...))
}

// wrap is fail for an error built elsewhere (a derivation, a cast).
func (id ident) wrap(rec *connectors.Record, err error) error {
	return fmt.Errorf("transforms: %s on %s: %w", id, rec.Where(), err)
}

// describe names a value's type in errors, in the data model's terms.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case *connectors.Struct:
		if n := x.Schema().Name; n != "" {
			return "struct " + n
		}
		return "struct"
	case map[string]any:
		return "map"
	case []any:
		return "array"
	case []byte:
		return "bytes"
	case bool:
		return "boolean"
	case string:
		return "string"
	case int8:
		return "int8"
	case int16:
		return "int16"
	case int32:
		return "int32"
	case int64, int:
		return "int64"
	case float32:
		return "float32"
	case float64:
		return "float64"
	case json.Number:
		return "number"
	case *big.Rat:
		return "decimal"
	case time.Time:
		return "timestamp"
	}
	return fmt.Sprintf("%T", v)
}

// requireStruct checks that a schemaful value is a struct, as Kafka
// Connect's Requirements.requireStruct.
func requireStruct(schema *connectors.Schema, v any, purpose string) (*connectors.Struct, error) {
	st, ok := v.(*connectors.Struct)
	if !ok || schema.Type != connectors.TypeStruct {
		return nil, fmt.Errorf("%s needs a struct, got %s with schema %s", purpose, describe(v), schema)
	}
	return st, nil
}

// requireMap checks that a schemaless value is a map, as Kafka Connect's
// Requirements.requireMap.
func requireMap(v any, purpose string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		if _, isStruct := v.(*connectors.Struct); isStruct {
			return nil, fmt.Errorf("%s got a struct without a schema", purpose)
		}
		return nil, fmt.Errorf("%s needs a map when the record has no schema, got %s", purpose, describe(v))
	}
	return m, nil
}

// fieldValue returns a struct field's value; with withDefault (Kafka
// Connect's replace.null.with.default, true by default) a null is
// replaced by the field schema's default, as Kafka Connect's Struct.get
// does.
func fieldValue(st *connectors.Struct, f *connectors.Field, withDefault bool) any {
	v := st.At(f.Index)
	if v == nil && withDefault {
		return f.Schema.Default
	}
	return v
}

// structBasics starts a struct schema with the name, version, doc and
// parameters of in (Kafka Connect's SchemaUtil.copySchemaBasics). Like
// Kafka Connect, it does not carry over optionality or the default.
func structBasics(in *connectors.Schema) *connectors.Schema {
	out := &connectors.Schema{Type: connectors.TypeStruct, Name: in.Name, Version: in.Version, Doc: in.Doc}
	if in.Parameters != nil {
		out.Parameters = make(map[string]string, len(in.Parameters))
		for k, v := range in.Parameters {
			out.Parameters[k] = v
		}
	}
	return out
}

// addField appends a field to a struct schema under construction,
// refusing duplicate names as Kafka Connect's SchemaBuilder does.
func addField(s *connectors.Schema, name string, fs *connectors.Schema) error {
	for _, f := range s.Fields {
		if f.Name == name {
			return fmt.Errorf("the new schema would have two fields named %q", name)
		}
	}
	s.Fields = append(s.Fields, connectors.Field{Name: name, Index: len(s.Fields), Schema: fs})
	return nil
}

// copyMap returns a shallow copy of m with room for extra more keys:
// schemaless values may be shared with other records, so transforms
// never change them in place.
func copyMap(m map[string]any, extra int) map[string]any {
	out := make(map[string]any, len(m)+extra)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// nonEmptyList is a ConfigField.Check for lists that need an element
// (Kafka Connect's NonEmptyListValidator).
func nonEmptyList(v any) error {
	if len(v.([]string)) == 0 {
		return errors.New("must list at least one name")
	}
	return nil
}

// nonEmptyString is a ConfigField.Check (Kafka Connect's NonEmptyString).
func nonEmptyString(v any) error {
	if v.(string) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

// replaceNullField is the replace.null.with.default field that Kafka
// Connect added to the transforms that copy struct fields (KIP-1040).
var replaceNullField = connectors.ConfigField{
	Name: "replace.null.with.default", Type: connectors.FieldBool, Default: true,
	Doc: "Whether a null struct field that has a default value in its schema is read as that default (true, as Kafka Connect's Struct.get does) or kept null (false).",
}

// kafkaClass is the Kafka Connect class name of a transform type.
func kafkaClass(name string) string { return "org.apache.kafka.connect.transforms." + name }

// variants registers a $Key and a $Value transform built by newFn.
func variants(reg *connectors.Registry, base string, info func(s side) connectors.Info, newFn func(s side, cfg *connectors.Config) (connectors.Transform, error)) error {
	for _, s := range []side{keySide, valueSide} {
		in := info(s)
		in.Name = base + s.suffix()
		in.Aliases = append(in.Aliases, kafkaClass(in.Name))
		if err := reg.AddTransform(connectors.TransformPlugin{
			Info: in,
			New:  func(cfg *connectors.Config) (connectors.Transform, error) { return newFn(s, cfg) },
		}); err != nil {
			return err
		}
	}
	return nil
}
