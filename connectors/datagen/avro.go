package datagen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A minimal reader of Avro schema JSON. The Avro schema itself is converted
// to a Connect schema by internal/connectavro (which validates it fully);
// this reader only walks the same JSON to find the "arg.properties"
// annotations of avro-random-generator, which that conversion drops, and
// the facts the generator needs (logical types, sizes, symbols).

type avroKind uint8

const (
	avroNull avroKind = iota + 1
	avroBoolean
	avroInt
	avroLong
	avroFloat
	avroDouble
	avroBytes
	avroString
	avroRecord
	avroEnum
	avroArray
	avroMap
	avroFixed
	avroUnion
)

var avroPrimitives = map[string]avroKind{
	"null": avroNull, "boolean": avroBoolean, "int": avroInt, "long": avroLong,
	"float": avroFloat, "double": avroDouble, "bytes": avroBytes, "string": avroString,
}

func (k avroKind) String() string {
	for n, p := range avroPrimitives {
		if p == k {
			return n
		}
	}
	switch k {
	case avroRecord:
		return "record"
	case avroEnum:
		return "enum"
	case avroArray:
		return "array"
	case avroMap:
		return "map"
	case avroFixed:
		return "fixed"
	case avroUnion:
		return "union"
	}
	return fmt.Sprintf("avroKind(%d)", uint8(k))
}

type avroNode struct {
	kind      avroKind
	name      string // full name of a record, enum or fixed
	logical   string // logicalType
	precision int    // decimal
	scale     int    // decimal
	size      int    // fixed
	symbols   []string
	fields    []avroField
	items     *avroNode // array
	values    *avroNode // map
	branches  []*avroNode
	props     map[string]any // arg.properties of the type
}

type avroField struct {
	name       string
	node       *avroNode
	props      map[string]any // arg.properties given on the field itself
	def        any
	hasDefault bool
}

// parseAvro parses Avro schema JSON. Numbers stay json.Number so that
// 64-bit annotations (ranges of longs) keep their precision.
func parseAvro(text string) (*avroNode, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not valid JSON: text after the schema")
	}
	p := &avroParser{names: map[string]*avroNode{}}
	return p.parse(raw, "")
}

type avroParser struct {
	names map[string]*avroNode
	depth int
}

// maxDecimalPrecision bounds the digits of generated decimals.
const maxDecimalPrecision = 1000

// maxAvroDepth bounds nesting, so that hostile input cannot exhaust the stack.
const maxAvroDepth = 64

func (p *avroParser) parse(raw any, namespace string) (*avroNode, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxAvroDepth {
		return nil, fmt.Errorf("schema nested deeper than %d levels", maxAvroDepth)
	}
	switch v := raw.(type) {
	case string:
		return p.named(v, namespace)
	case []any:
		u := &avroNode{kind: avroUnion}
		for i, b := range v {
			n, err := p.parse(b, namespace)
			if err != nil {
				return nil, fmt.Errorf("union branch %d: %w", i, err)
			}
			if n.kind == avroUnion {
				return nil, fmt.Errorf("union branch %d: a union may not contain a union", i)
			}
			for _, prev := range u.branches {
				if prev.kind == n.kind && prev.name == n.name {
					return nil, fmt.Errorf("union branch %d: the union already has a %s %s", i, n.kind, n.name)
				}
			}
			u.branches = append(u.branches, n)
		}
		if len(u.branches) == 0 {
			return nil, errors.New("empty union")
		}
		return u, nil
	case map[string]any:
		return p.object(v, namespace)
	}
	return nil, fmt.Errorf("a schema must be a type name, an object or a union list, not %s", describeJSON(raw))
}

func (p *avroParser) named(name, namespace string) (*avroNode, error) {
	if k, ok := avroPrimitives[name]; ok {
		return &avroNode{kind: k}, nil
	}
	if n, ok := p.names[fullName(name, namespace)]; ok {
		return n, nil
	}
	if n, ok := p.names[name]; ok {
		return n, nil
	}
	return nil, fmt.Errorf("unknown type %q", name)
}

func fullName(name, namespace string) string {
	if strings.Contains(name, ".") || namespace == "" {
		return name
	}
	return namespace + "." + name
}

func (p *avroParser) object(m map[string]any, namespace string) (*avroNode, error) {
	props, err := argProperties(m)
	if err != nil {
		return nil, err
	}
	t, ok := m["type"]
	if !ok {
		return nil, errors.New(`an object schema needs a "type"`)
	}
	ts, isString := t.(string)
	if !isString {
		// {"type": {...}} or {"type": [...]}: a wrapped schema.
		n, err := p.parse(t, namespace)
		if err != nil {
			return nil, err
		}
		return withProps(n, props), nil
	}
	switch ts {
	case "record", "error", "enum", "fixed":
		name, _ := m["name"].(string)
		if name == "" {
			return nil, fmt.Errorf(`a %s needs a "name"`, ts)
		}
		ns := namespace
		if s, ok := m["namespace"].(string); ok {
			ns = s
		}
		full := fullName(name, ns)
		if i := strings.LastIndexByte(full, '.'); i >= 0 {
			ns = full[:i]
		}
		n := &avroNode{name: full, props: props}
		p.names[full] = n // before the fields: records may refer to themselves
		switch ts {
		case "enum":
			n.kind = avroEnum
			syms, _ := m["symbols"].([]any)
			for _, s := range syms {
				str, ok := s.(string)
				if !ok {
					return nil, fmt.Errorf("enum %s: symbols must be strings", full)
				}
				n.symbols = append(n.symbols, str)
			}
			if len(n.symbols) == 0 {
				return nil, fmt.Errorf("enum %s has no symbols", full)
			}
		case "fixed":
			n.kind = avroFixed
			size, err := intProp(m, "size")
			if err != nil || size < 0 || size > maxLength {
				return nil, fmt.Errorf(`fixed %s needs a "size" from 0 to %d`, full, maxLength)
			}
			n.size = size
			if err := p.logical(n, m); err != nil {
				return nil, err
			}
		default:
			n.kind = avroRecord
			fields, ok := m["fields"].([]any)
			if !ok {
				return nil, fmt.Errorf(`record %s needs a "fields" list`, full)
			}
			for i, fr := range fields {
				fm, ok := fr.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("record %s: field %d is not an object", full, i)
				}
				fname, _ := fm["name"].(string)
				if fname == "" {
					return nil, fmt.Errorf("record %s: field %d has no name", full, i)
				}
				for _, prev := range n.fields {
					if prev.name == fname {
						return nil, fmt.Errorf("record %s: two fields are named %q", full, fname)
					}
				}
				ft, ok := fm["type"]
				if !ok {
					return nil, fmt.Errorf("record %s: field %q has no type", full, fname)
				}
				fn, err := p.parse(ft, ns)
				if err != nil {
					return nil, fmt.Errorf("field %q: %w", fname, err)
				}
				fprops, err := argProperties(fm)
				if err != nil {
					return nil, fmt.Errorf("field %q: %w", fname, err)
				}
				def, hasDef := fm["default"]
				n.fields = append(n.fields, avroField{name: fname, node: fn, props: fprops, def: def, hasDefault: hasDef})
			}
		}
		return n, nil
	case "array":
		items, ok := m["items"]
		if !ok {
			return nil, errors.New(`an array needs "items"`)
		}
		in, err := p.parse(items, namespace)
		if err != nil {
			return nil, fmt.Errorf("array items: %w", err)
		}
		return &avroNode{kind: avroArray, items: in, props: props}, nil
	case "map":
		values, ok := m["values"]
		if !ok {
			return nil, errors.New(`a map needs "values"`)
		}
		vn, err := p.parse(values, namespace)
		if err != nil {
			return nil, fmt.Errorf("map values: %w", err)
		}
		return &avroNode{kind: avroMap, values: vn, props: props}, nil
	}
	if k, ok := avroPrimitives[ts]; ok {
		n := &avroNode{kind: k, props: props}
		if err := p.logical(n, m); err != nil {
			return nil, err
		}
		return n, nil
	}
	// {"type": "some.Named", "arg.properties": ...}: a reference with annotations.
	n, err := p.named(ts, namespace)
	if err != nil {
		return nil, err
	}
	return withProps(n, props), nil
}

func (p *avroParser) logical(n *avroNode, m map[string]any) error {
	lt, _ := m["logicalType"].(string)
	n.logical = lt
	if lt == "decimal" {
		prec, err := intProp(m, "precision")
		if err != nil || prec < 1 || prec > maxDecimalPrecision {
			return fmt.Errorf(`a decimal needs a "precision" from 1 to %d`, maxDecimalPrecision)
		}
		n.precision = prec
		if _, ok := m["scale"]; ok {
			scale, err := intProp(m, "scale")
			if err != nil || scale < 0 || scale > prec {
				return errors.New(`a decimal's "scale" must be between 0 and its precision`)
			}
			n.scale = scale
		}
	}
	return nil
}

// withProps returns n with annotations: a copy when props are given, so
// that a named type referenced twice keeps each reference's annotations.
func withProps(n *avroNode, props map[string]any) *avroNode {
	if props == nil {
		return n
	}
	c := *n
	c.props = props
	return &c
}

func argProperties(m map[string]any) (map[string]any, error) {
	raw, ok := m["arg.properties"]
	if !ok {
		return nil, nil
	}
	props, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf(`"arg.properties" must be an object, not %s`, describeJSON(raw))
	}
	return props, nil
}

func intProp(m map[string]any, key string) (int, error) {
	n, ok := m[key].(json.Number)
	if !ok {
		return 0, fmt.Errorf("%q is not a number", key)
	}
	i, err := n.Int64()
	if err != nil || i > 1<<31 || i < -(1<<31) {
		return 0, fmt.Errorf("%q is not a whole number", key)
	}
	return int(i), nil
}

func describeJSON(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "the number " + x.String()
	case string:
		return fmt.Sprintf("the string %q", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// decodeJSONStream reads a sequence of JSON values for "options": {"file":
// ..., "encoding": "json"}: one value per option, as avro-random-generator
// reads them; a file holding one JSON array is taken as the list of options
// unless the schema is itself an array.
func decodeJSONStream(data []byte, schemaIsArray bool) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if len(out) == 1 && !schemaIsArray {
		if list, ok := out[0].([]any); ok {
			return list, nil
		}
	}
	return out, nil
}
