package connectjson

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/sluicehq/sluice/connectors"
)

// Kafka Connect's JSON form of a schema (JsonConverter.asJsonSchema): an
// object with "type", then "items" (arrays), "keys" and "values" (maps) or
// "fields" (structs), then "optional" (always), "name", "version", "doc",
// "parameters" and "default" when set. A struct field is the field's schema
// object with "field" (its name) appended last — Jackson keeps insertion
// order, so Connect writes {"type":"int32","optional":false,"field":"id"}.

func appendSchema(dst []byte, s *connectors.Schema, opts Options, field *connectors.Field) ([]byte, error) {
	dst = append(dst, `{"type":`...)
	dst = AppendString(dst, jsonTypeName(s.Type))
	var err error
	switch s.Type {
	case connectors.TypeArray:
		if s.ValueSchema == nil {
			return dst, fmt.Errorf("connectjson: array schema without an element schema")
		}
		dst = append(dst, `,"items":`...)
		if dst, err = appendSchema(dst, s.ValueSchema, opts, nil); err != nil {
			return dst, err
		}
	case connectors.TypeMap:
		if s.ValueSchema == nil {
			return dst, fmt.Errorf("connectjson: map schema without a value schema")
		}
		key := s.KeySchema
		if key == nil {
			key = connectors.StringSchema()
		}
		dst = append(dst, `,"keys":`...)
		if dst, err = appendSchema(dst, key, opts, nil); err != nil {
			return dst, err
		}
		dst = append(dst, `,"values":`...)
		if dst, err = appendSchema(dst, s.ValueSchema, opts, nil); err != nil {
			return dst, err
		}
	case connectors.TypeStruct:
		dst = append(dst, `,"fields":[`...)
		for i := range s.Fields {
			f := &s.Fields[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			if f.Schema == nil {
				return dst, fmt.Errorf("connectjson: struct %s: field %q has no schema", s, f.Name)
			}
			if dst, err = appendSchema(dst, f.Schema, opts, f); err != nil {
				return dst, err
			}
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"optional":`...)
	dst = strconv.AppendBool(dst, s.Optional)
	if s.Name != "" {
		dst = append(dst, `,"name":`...)
		dst = AppendString(dst, s.Name)
	}
	if s.Version != 0 {
		dst = append(dst, `,"version":`...)
		dst = strconv.AppendInt(dst, int64(s.Version), 10)
	}
	if s.Doc != "" {
		dst = append(dst, `,"doc":`...)
		dst = AppendString(dst, s.Doc)
	}
	if len(s.Parameters) > 0 {
		dst = append(dst, `,"parameters":`...)
		dst = AppendParameters(dst, s.Parameters)
	}
	if s.Default != nil {
		dst = append(dst, `,"default":`...)
		e := encoder{opts: opts}
		if dst, err = e.value(dst, nil, s, s.Default); err != nil {
			return dst, fmt.Errorf("connectjson: default of schema %s: %w", s, err)
		}
	}
	if field != nil {
		dst = append(dst, `,"field":`...)
		dst = AppendString(dst, field.Name)
	}
	return append(dst, '}'), nil
}

// AppendParameters appends schema parameters as a JSON object of strings.
// A Go map has no order: keys are sorted, except that "scale" comes first,
// where Kafka Connect's Decimal puts it (its parameters keep insertion
// order), so the common decimal schemas match Connect's bytes.
func AppendParameters(dst []byte, params map[string]string) []byte {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if (keys[i] == "scale") != (keys[j] == "scale") {
			return keys[i] == "scale"
		}
		return keys[i] < keys[j]
	})
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, k)
		dst = append(dst, ':')
		dst = AppendString(dst, params[k])
	}
	return append(dst, '}')
}

// parseSchema builds a schema from its decoded JSON form, as
// JsonConverter.asConnectSchema does.
func parseSchema(p *path, v any) (*connectors.Schema, error) {
	if v == nil {
		return nil, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, schemaErr(p, "a schema is an object, got %s", describe(v))
	}
	typeName, ok := obj["type"].(string)
	if !ok {
		return nil, schemaErr(p, `a schema must have a "type" string`)
	}
	t, ok := jsonTypes[typeName]
	if !ok {
		return nil, schemaErr(p, "unknown schema type %q (want one of boolean, int8, int16, int32, int64, float, double, string, bytes, array, map, struct)", typeName)
	}
	var err error
	s := &connectors.Schema{Type: t}
	switch t {
	case connectors.TypeArray:
		items := obj["items"]
		if items == nil {
			return nil, schemaErr(p, `an array schema must have "items"`)
		}
		if s.ValueSchema, err = parseSchema(p.child("items"), items); err != nil {
			return nil, err
		}
	case connectors.TypeMap:
		keys, hasKeys := obj["keys"]
		if !hasKeys {
			return nil, schemaErr(p, `a map schema must have "keys"`)
		}
		values, hasValues := obj["values"]
		if !hasValues {
			return nil, schemaErr(p, `a map schema must have "values"`)
		}
		if s.KeySchema, err = parseSchema(p.child("keys"), keys); err != nil {
			return nil, err
		}
		if s.ValueSchema, err = parseSchema(p.child("values"), values); err != nil {
			return nil, err
		}
		if s.KeySchema == nil || s.ValueSchema == nil {
			return nil, schemaErr(p, "a map schema's keys and values must be schemas, not null")
		}
	case connectors.TypeStruct:
		fields, ok := obj["fields"].([]any)
		if !ok {
			return nil, schemaErr(p, `a struct schema's "fields" must be an array`)
		}
		seen := make(map[string]bool, len(fields))
		for i, fv := range fields {
			fobj, ok := fv.(map[string]any)
			if !ok {
				return nil, schemaErr(p.child("fields").index(i), "a field is an object, got %s", describe(fv))
			}
			name, ok := fobj["field"].(string)
			if !ok {
				return nil, schemaErr(p.child("fields").index(i), `a field must have a "field" name string`)
			}
			if seen[name] {
				return nil, schemaErr(p.child("fields").index(i), "duplicate field %q", name)
			}
			seen[name] = true
			fs, err := parseSchema(p.child(name), fobj)
			if err != nil {
				return nil, err
			}
			s.Fields = append(s.Fields, connectors.Field{Name: name, Index: i, Schema: fs})
		}
	}
	if opt, ok := obj["optional"].(bool); ok {
		s.Optional = opt
	}
	if name, ok := obj["name"].(string); ok {
		s.Name = name
	}
	if ver, ok := wholeNumber(obj["version"]); ok && obj["version"] != nil {
		if ver != int64(int32(ver)) {
			return nil, schemaErr(p, "version %d is out of range", ver)
		}
		s.Version = int(ver)
	}
	if doc, ok := obj["doc"].(string); ok {
		s.Doc = doc
	}
	if params, ok := obj["parameters"].(map[string]any); ok {
		s.Parameters = make(map[string]string, len(params))
		for k, pv := range params {
			str, ok := pv.(string)
			if !ok {
				return nil, schemaErr(p, "schema parameter %q must be a string, got %s", k, describe(pv))
			}
			s.Parameters[k] = str
		}
	}
	if s.Name == connectors.DecimalName {
		if _, err := DecimalScale(s.Parameters); err != nil {
			return nil, schemaErr(p, "%v", err)
		}
	}
	s.Finish()
	if def, ok := obj["default"]; ok && def != nil {
		d, err := coercer{}.coerce(p, s, def)
		if err != nil {
			return nil, fmt.Errorf("connectjson: default of schema %s: %w", s, err)
		}
		s.Default = d
	}
	return s, nil
}

// jsonTypes are JsonConverter's type names: Connect's, except float and
// double for float32 and float64.
var jsonTypes = map[string]connectors.Type{
	"boolean": connectors.TypeBoolean, "int8": connectors.TypeInt8, "int16": connectors.TypeInt16,
	"int32": connectors.TypeInt32, "int64": connectors.TypeInt64, "float": connectors.TypeFloat32,
	"double": connectors.TypeFloat64, "string": connectors.TypeString, "bytes": connectors.TypeBytes,
	"array": connectors.TypeArray, "map": connectors.TypeMap, "struct": connectors.TypeStruct,
}

func jsonTypeName(t connectors.Type) string {
	switch t {
	case connectors.TypeFloat32:
		return "float"
	case connectors.TypeFloat64:
		return "double"
	}
	return t.String()
}

func schemaErr(p *path, format string, args ...any) error {
	at := "schema"
	if p != nil {
		at = "schema of " + p.String()
	}
	return fmt.Errorf("connectjson: invalid %s: %s", at, fmt.Sprintf(format, args...))
}
