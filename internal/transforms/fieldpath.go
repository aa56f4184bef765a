package transforms

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/connectors"
)

// Field paths of KIP-821 (field.syntax.version): V1 names a top-level
// field, the whole string being its name; V2 walks nested structs and maps
// with dots, and a step that contains dots is wrapped in backticks
// ("`foo.bar`.baz"), a backtick inside such a step being escaped with a
// backslash when it is followed by a dot.

var fieldSyntaxField = connectors.ConfigField{
	Name: "field.syntax.version", Type: connectors.FieldString, Default: "V1", Allowed: []string{"V1", "V2"},
	Doc: "The syntax of field paths. V1: the path is the name of a field at the root of the struct or map. V2: nested fields are reached with dots (address.city), and backticks wrap names that contain dots (`foo.bar`.baz). (KIP-821)",
}

type fieldPath []string

func (p fieldPath) String() string { return strings.Join(p, ".") }

func parseFieldPath(text string, syntax string) (fieldPath, error) {
	if syntax != "V2" {
		return fieldPath{text}, nil
	}
	var steps []string
	idx := 0
	for idx < len(text) && idx >= 0 {
		if text[idx] != '`' {
			start := idx
			dot := strings.IndexByte(text[idx:], '.')
			if dot >= 0 {
				idx += dot
				steps = append(steps, text[start:idx])
				idx++
			} else {
				steps = append(steps, text[start:])
				idx = -1
			}
			continue
		}
		backtickAt := idx
		idx++
		var field strings.Builder
		start := idx
		for {
			next := strings.IndexByte(text[idx:], '`')
			if next < 0 {
				return nil, incompleteBacktick(text, backtickAt)
			}
			idx += next
			escaped := text[idx-1] == '\\'
			if idx >= len(text)-1 { // the path ends with this backtick
				if escaped {
					return nil, incompleteBacktick(text, backtickAt)
				}
				field.WriteString(text[start:idx])
				steps = append(steps, field.String())
				idx++
				break
			}
			if text[idx+1] != '.' {
				// Not followed by a dot: part of the name.
				idx++
				continue
			}
			if escaped {
				field.WriteString(text[start : idx-1])
				field.WriteByte('`')
				idx++
				start = idx
				continue
			}
			field.WriteString(text[start:idx])
			steps = append(steps, field.String())
			idx += 2
			break
		}
	}
	if strings.HasSuffix(text, ".") {
		steps = append(steps, "")
	}
	if len(steps) == 0 {
		steps = []string{""}
	}
	return steps, nil
}

func incompleteBacktick(path string, at int) error {
	return fmt.Errorf("incomplete backtick pair in path %q: add a backslash before the backtick at position %d to escape it", path, at)
}

// resolved is a field path resolved against a schema: the field index at
// every step and the last field.
type resolved struct {
	indexes []int
	field   connectors.Field
}

// resolve finds the path's field in a struct schema (Kafka Connect's
// SingleFieldPath.fieldFrom); ok is false when a step is missing.
func (p fieldPath) resolve(s *connectors.Schema) (r resolved, ok bool, err error) {
	cur := s
	for i, step := range p {
		if cur.Type != connectors.TypeStruct {
			return r, false, fmt.Errorf("cannot look up field %q in %s (at %q of path %q)", step, cur, step, p.String())
		}
		f, found := cur.Field(step)
		if !found {
			return r, false, nil
		}
		r.indexes = append(r.indexes, f.Index)
		if i == len(p)-1 {
			r.field = f
			return r, true, nil
		}
		cur = f.Schema
	}
	return r, false, nil
}

// valueFromStruct reads a resolved path from a struct; a null struct on
// the way gives null. Nested structs are read with their defaults.
func (r resolved) valueFromStruct(st *connectors.Struct, withDefault bool) (any, error) {
	cur := st
	for i, idx := range r.indexes {
		f := &cur.Schema().Fields[idx]
		if i == len(r.indexes)-1 {
			return fieldValue(cur, f, withDefault), nil
		}
		v := fieldValue(cur, f, true)
		if v == nil {
			return nil, nil
		}
		next, ok := v.(*connectors.Struct)
		if !ok {
			return nil, fmt.Errorf("nested field access: field %q holds %s, not a struct", f.Name, describe(v))
		}
		cur = next
	}
	return nil, nil
}

// valueFromMap reads the path from schemaless maps; a missing or null step
// gives null.
func (p fieldPath) valueFromMap(m map[string]any) (any, error) {
	cur := m
	for i, step := range p {
		v := cur[step]
		if i == len(p)-1 {
			return v, nil
		}
		if v == nil {
			return nil, nil
		}
		next, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("nested field access: %q holds %s, not a map", step, describe(v))
		}
		cur = next
	}
	return nil, nil
}
