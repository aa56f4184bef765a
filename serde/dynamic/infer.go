package dynamic

import (
	"fmt"
	"math/big"
	"reflect"
	"strings"

	havro "github.com/hamba/avro/v2"
)

// InferField is one field of a record built by [Infer]: typically the
// output of a job step that computes each field with an expression.
type InferField struct {
	// Name is the Avro field name: a letter or underscore, then letters,
	// digits or underscores.
	Name string
	// Type is the static Go type of the field's values (the result type
	// expr-lang gives the expression). It may be nil when Schema is set.
	Type reflect.Type
	// Nullable says the value may be nil: the field becomes a union with
	// null, with default null, and its Go type a pointer.
	Nullable bool
	// Schema, if set, is the field's Avro type as schema JSON — for an
	// expression that copies an input field, that field's [Field.Schema],
	// so that logical types, enums and decimals survive. Type, if also
	// set, must be convertible to it.
	Schema string
	// Doc documents the field in the schema.
	Doc string
}

// Infer builds a record Type named fullName ("com.acme.orders.Enriched")
// with one field per InferField, and generates its Avro schema so that
// values can be written as Avro and registered. Go types map to Avro as
// follows; the struct field keeps the given Go type, so an expression's
// result is stored without conversion:
//
//	bool                          boolean
//	int8, int16, int32, uint8, uint16   int
//	int, int64, uint32            long
//	float32, float64              float, double
//	string                        string
//	[]byte, [N]byte               bytes, fixed (named <record>_<field>)
//	time.Time                     long/timestamp-millis (sub-millisecond digits are dropped when written)
//	time.Duration                 long (nanoseconds)
//	[]T, map[string]T             array, map
//	*T                            ["null", T] with default null
//	a record struct of a known Type   that record (its schema, name and logical types)
//	another struct                a record named <record>_<field> from its exported fields
//	                              (named by their avro tags, else their Go names)
//
// known lists Types whose record structs (the root and nested ones) may
// appear among the field types: an expression `value.customer` yields the
// input's customer struct, which keeps its Avro definition. Types without
// an Avro mapping (any, uint64, *big.Rat without Schema, channels, ...)
// are errors naming the field.
func Infer(fullName string, fields []InferField, known ...*Type) (*Type, error) {
	ns, name := splitFullName(fullName)
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("dynamic: infer %q: record name: %w", fullName, err)
	}
	for _, part := range strings.Split(ns, ".") {
		if ns == "" {
			break
		}
		if err := validName(part); err != nil {
			return nil, fmt.Errorf("dynamic: infer %q: namespace: %w", fullName, err)
		}
	}
	inf := inferrer{records: map[reflect.Type]*node{}}
	for _, k := range known {
		for typ, n := range k.records {
			// Records with identical fields share one Go struct type;
			// the first known Type's definition wins.
			if _, ok := inf.records[typ]; !ok {
				inf.records[typ] = n
			}
		}
	}
	root := &node{kind: kindRecord, fullName: fullName, name: name, namespace: ns, byName: map[string]*fieldNode{}}
	avroNames := map[string]bool{}
	for _, f := range fields {
		avroNames[f.Name] = true
	}
	used := map[string]bool{}
	structFields := make([]reflect.StructField, 0, len(fields))
	for i, f := range fields {
		if err := validName(f.Name); err != nil {
			return nil, fmt.Errorf("dynamic: infer %s: field %q: %w", fullName, f.Name, err)
		}
		if _, dup := root.byName[f.Name]; dup {
			return nil, fmt.Errorf("dynamic: infer %s: field %q declared twice", fullName, f.Name)
		}
		n, err := inf.field(fullName, f)
		if err != nil {
			return nil, fmt.Errorf("dynamic: infer %s: field %q: %w", fullName, f.Name, err)
		}
		fn := &fieldNode{name: f.Name, goName: goFieldName(f.Name, avroNames, used), index: i, node: n, doc: f.Doc}
		if n.kind == kindNullable && n.nullIdx == 0 {
			fn.hasDefault = true // default null
		}
		root.fields = append(root.fields, fn)
		root.byName[f.Name] = fn
		structFields = append(structFields, reflect.StructField{Name: fn.goName, Type: n.typ, Tag: fieldTag(f.Name)})
	}
	root.typ = reflect.StructOf(structFields)
	w := schemaWriter{defined: map[string]*node{}}
	w.write(root)
	if w.err != nil {
		return nil, fmt.Errorf("dynamic: infer %s: %w", fullName, w.err)
	}
	schema := w.buf.String()
	// The generated schema must be one hamba/avro (and so the registry's
	// other clients) accepts.
	if _, err := havro.ParseWithCache(schema, "", &havro.SchemaCache{}); err != nil {
		return nil, fmt.Errorf("dynamic: infer %s: generated schema does not parse: %w", fullName, err)
	}
	return newType(root, schema), nil
}

func splitFullName(fullName string) (ns, name string) {
	if i := strings.LastIndexByte(fullName, '.'); i >= 0 {
		return fullName[:i], fullName[i+1:]
	}
	return "", fullName
}

// validName checks an Avro name: [A-Za-z_][A-Za-z0-9_]*.
func validName(s string) error {
	if s == "" {
		return fmt.Errorf("empty name")
	}
	for i, r := range s {
		letter := r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z')
		if !letter && (i == 0 || r < '0' || r > '9') {
			return fmt.Errorf("%q is not an Avro name (a letter or _, then letters, digits or _)", s)
		}
	}
	return nil
}

type inferrer struct {
	records map[reflect.Type]*node
	inProg  map[reflect.Type]bool
}

func (inf *inferrer) field(recName string, f InferField) (*node, error) {
	var n *node
	if f.Schema != "" {
		parsed, err := havro.ParseWithCache(f.Schema, "", &havro.SchemaCache{})
		if err != nil {
			return nil, fmt.Errorf("schema: %w", err)
		}
		b := builder{named: map[string]*node{}, building: map[string]bool{}}
		if n, err = b.build(parsed, "field "+f.Name); err != nil {
			return nil, err
		}
		if f.Type != nil && !convertible(f.Type, n) {
			return nil, fmt.Errorf("values of type %s cannot be written as Avro %s", f.Type, describe(n))
		}
	} else {
		if f.Type == nil {
			return nil, fmt.Errorf("neither a Go type nor a schema")
		}
		var err error
		if n, err = inf.node(f.Type, recName+"_"+f.Name); err != nil {
			return nil, err
		}
	}
	if f.Nullable && n.kind != kindNullable && !(n.kind == kindUnion && n.hasNull()) && n.kind != kindNull {
		n = nullable(n)
	}
	return n, nil
}

// nullable wraps n in a union with null (null first, so that null can be
// the default).
func nullable(n *node) *node {
	return &node{kind: kindNullable, elem: n, nullIdx: 0, typ: reflect.PointerTo(n.typ)}
}

// convertible says whether assign can store values of Go type t into a
// field of node n.
func convertible(t reflect.Type, n *node) bool {
	if t == n.typ || t.Kind() == reflect.Interface {
		return true
	}
	switch n.kind {
	case kindNullable:
		if t.Kind() == reflect.Pointer {
			return convertible(t.Elem(), n.elem)
		}
		return convertible(t, n.elem)
	case kindUnion:
		for _, b := range n.union {
			if convertible(t, b) {
				return true
			}
		}
		return false
	case kindBoolean:
		return t.Kind() == reflect.Bool
	case kindInt, kindLong:
		if n.typ == timeType {
			return t == timeType || t.Kind() == reflect.String || isNumber(t)
		}
		return isNumber(t)
	case kindFloat, kindDouble:
		return isNumber(t)
	case kindString, kindEnum:
		return t.Kind() == reflect.String
	case kindBytes, kindFixed:
		if n.typ == ratPtrType {
			return isNumber(t) || t.Kind() == reflect.String || t == ratPtrType || t == reflect.TypeFor[big.Rat]()
		}
		return t == bytesType || t.Kind() == reflect.String || (t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8)
	case kindRecord:
		return t == n.typ || (t.Kind() == reflect.Pointer && t.Elem() == n.typ) || t.Kind() == reflect.Map
	case kindArray:
		return (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && convertible(t.Elem(), n.elem)
	case kindMap:
		return t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && convertible(t.Elem(), n.elem)
	}
	return false
}

func isNumber(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// node infers the node of Go type t; name names records and fixed types
// it creates.
func (inf *inferrer) node(t reflect.Type, name string) (*node, error) {
	if n, ok := inf.records[t]; ok {
		return n, nil
	}
	switch t {
	case timeType:
		return &node{kind: kindLong, logical: "timestamp-millis", typ: t}, nil
	case durationType:
		return &node{kind: kindLong, typ: t}, nil
	case ratPtrType, reflect.TypeFor[big.Rat]():
		return nil, fmt.Errorf("a decimal needs its precision and scale: give the field a Schema")
	case bytesType:
		return &node{kind: kindBytes, typ: t}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return &node{kind: kindBoolean, typ: t}, nil
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return &node{kind: kindInt, typ: t}, nil
	case reflect.Int, reflect.Int64, reflect.Uint32:
		return &node{kind: kindLong, typ: t}, nil
	case reflect.Float32:
		return &node{kind: kindFloat, typ: t}, nil
	case reflect.Float64:
		return &node{kind: kindDouble, typ: t}, nil
	case reflect.String:
		return &node{kind: kindString, typ: t}, nil
	case reflect.Array:
		if t.Elem().Kind() != reflect.Uint8 {
			break
		}
		ns, simple := splitFullName(name)
		return &node{kind: kindFixed, typ: t, size: t.Len(), fullName: name, name: simple, namespace: ns}, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			break // a named byte slice type: hamba/avro takes only []byte
		}
		elem, err := inf.node(t.Elem(), name+"_item")
		if err != nil {
			return nil, err
		}
		return &node{kind: kindArray, elem: elem, typ: t}, nil
	case reflect.Map:
		if t.Key() != reflect.TypeFor[string]() {
			return nil, fmt.Errorf("map keys of type %s: Avro map keys are strings", t.Key())
		}
		elem, err := inf.node(t.Elem(), name+"_value")
		if err != nil {
			return nil, err
		}
		return &node{kind: kindMap, elem: elem, typ: t}, nil
	case reflect.Pointer:
		elem, err := inf.node(t.Elem(), name)
		if err != nil {
			return nil, err
		}
		if elem.kind == kindNullable {
			return nil, fmt.Errorf("type %s: a pointer to a nullable value", t)
		}
		return &node{kind: kindNullable, elem: elem, typ: t}, nil
	case reflect.Struct:
		return inf.record(t, name)
	case reflect.Interface:
		return nil, fmt.Errorf("type %s has no static type: convert the value (for example int(x), string(x)) or declare the field's schema", t)
	}
	return nil, fmt.Errorf("type %s has no Avro mapping", t)
}

// record infers a record from a Go struct type, matching fields as
// hamba/avro does: by avro tag, else by Go name.
func (inf *inferrer) record(t reflect.Type, name string) (*node, error) {
	if inf.inProg == nil {
		inf.inProg = map[reflect.Type]bool{}
	}
	if inf.inProg[t] {
		return nil, fmt.Errorf("struct %s contains itself", t)
	}
	inf.inProg[t] = true
	defer delete(inf.inProg, t)
	ns, simple := splitFullName(name)
	n := &node{kind: kindRecord, typ: t, fullName: name, name: simple, namespace: ns, byName: map[string]*fieldNode{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		if sf.Anonymous {
			return nil, fmt.Errorf("struct %s: embedded field %s is not supported", t, sf.Name)
		}
		fname := sf.Name
		if tag, ok := sf.Tag.Lookup("avro"); ok {
			if tag == "-" {
				continue
			}
			fname = tag
		}
		if err := validName(fname); err != nil {
			return nil, fmt.Errorf("struct %s field %s: %w", t, sf.Name, err)
		}
		fn, err := inf.node(sf.Type, name+"_"+fname)
		if err != nil {
			return nil, fmt.Errorf("struct %s field %s: %w", t, sf.Name, err)
		}
		f := &fieldNode{name: fname, goName: sf.Name, index: i, node: fn}
		if fn.kind == kindNullable {
			f.hasDefault = true
		}
		n.fields = append(n.fields, f)
		n.byName[fname] = f
	}
	inf.records[t] = n
	return n, nil
}
