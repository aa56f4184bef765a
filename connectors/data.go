package connectors

import (
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"
)

// Type is the type of a [Schema], Kafka Connect's Schema.Type.
type Type uint8

// The schema types. Their Go value representations are listed on [Schema].
const (
	TypeInt8 Type = iota + 1
	TypeInt16
	TypeInt32
	TypeInt64
	TypeFloat32
	TypeFloat64
	TypeBoolean
	TypeString
	TypeBytes
	TypeArray
	TypeMap
	TypeStruct
)

var typeNames = map[Type]string{
	TypeInt8: "int8", TypeInt16: "int16", TypeInt32: "int32", TypeInt64: "int64",
	TypeFloat32: "float32", TypeFloat64: "float64", TypeBoolean: "boolean",
	TypeString: "string", TypeBytes: "bytes", TypeArray: "array", TypeMap: "map",
	TypeStruct: "struct",
}

// String returns Kafka Connect's lower-case type name ("int32", "struct").
func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// ParseType parses a Kafka Connect type name (case-insensitive).
func ParseType(s string) (Type, error) {
	for t, n := range typeNames {
		if strings.EqualFold(n, s) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("connectors: unknown schema type %q (want one of int8, int16, int32, int64, float32, float64, boolean, string, bytes, array, map, struct)", s)
}

// IsPrimitive reports whether t is neither array, map nor struct.
func (t Type) IsPrimitive() bool { return t >= TypeInt8 && t <= TypeBytes }

// Logical type names, as Kafka Connect's org.apache.kafka.connect.data
// classes name them. A logical type is a schema with one of these names over
// its underlying type.
const (
	// DecimalName: bytes holding a big-endian two's-complement unscaled
	// integer; the scale is the schema parameter "scale". Go value: *big.Rat.
	DecimalName = "org.apache.kafka.connect.data.Decimal"
	// DecimalScaleParam is the parameter holding a decimal's scale.
	DecimalScaleParam = "scale"
	// DateName: int32 days since the Unix epoch. Go value: time.Time (UTC midnight).
	DateName = "org.apache.kafka.connect.data.Date"
	// TimeName: int32 milliseconds since midnight. Go value: time.Time on 1970-01-01 UTC.
	TimeName = "org.apache.kafka.connect.data.Time"
	// TimestampName: int64 milliseconds since the Unix epoch. Go value: time.Time.
	TimestampName = "org.apache.kafka.connect.data.Timestamp"
)

// Schema describes a key or value, as Kafka Connect's Schema does. Schemas
// are immutable once built: share them, and compare or cache them by pointer
// (transforms cache derived schemas by the input schema's pointer, as Kafka
// Connect's transforms do by identity).
//
// Go values by type: int8, int16, int32, int64, float32, float64, bool,
// string, []byte; array: []any; map: map[string]any (keys must be strings,
// as in Avro and JSON); struct: *[Struct]. Logical types: see [DecimalName],
// [DateName], [TimeName], [TimestampName]. An optional schema's value may
// be nil. A record without a schema (schemaless, as from JSON without
// envelope) carries plain Go values: nil, bool, string, []byte, int64,
// float64, json.Number, []any and map[string]any.
type Schema struct {
	Type       Type
	Optional   bool
	Name       string // fully qualified name of a struct or logical type; optional
	Version    int    // 0: unversioned
	Doc        string
	Default    any // nil: no default (an optional schema's default is then nil)
	Parameters map[string]string

	// Fields of a struct, in order; Field.Index is the position.
	Fields []Field
	// KeySchema and ValueSchema of a map; ValueSchema is also an array's element schema.
	KeySchema, ValueSchema *Schema

	fieldIndex map[string]int
}

// Field is one field of a struct schema.
type Field struct {
	Name   string
	Index  int
	Schema *Schema
}

// Field returns the named field of a struct schema, or false.
func (s *Schema) Field(name string) (Field, bool) {
	if s.fieldIndex != nil {
		i, ok := s.fieldIndex[name]
		if !ok {
			return Field{}, false
		}
		return s.Fields[i], true
	}
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// String describes the schema briefly, for errors: "struct com.acme.Order",
// "optional int32", "array<string>".
func (s *Schema) String() string {
	if s == nil {
		return "no schema"
	}
	var b strings.Builder
	if s.Optional {
		b.WriteString("optional ")
	}
	switch s.Type {
	case TypeArray:
		fmt.Fprintf(&b, "array<%s>", s.ValueSchema)
	case TypeMap:
		fmt.Fprintf(&b, "map<%s,%s>", s.KeySchema, s.ValueSchema)
	default:
		b.WriteString(s.Type.String())
	}
	if s.Name != "" {
		b.WriteString(" " + s.Name)
	}
	return b.String()
}

// Builders. Each returns a new schema that the caller may adjust with the
// chainable setters before sharing it.

// Int8Schema .. BytesSchema are required primitive schemas; OptionalOf
// makes an optional copy.
func Int8Schema() *Schema    { return &Schema{Type: TypeInt8} }
func Int16Schema() *Schema   { return &Schema{Type: TypeInt16} }
func Int32Schema() *Schema   { return &Schema{Type: TypeInt32} }
func Int64Schema() *Schema   { return &Schema{Type: TypeInt64} }
func Float32Schema() *Schema { return &Schema{Type: TypeFloat32} }
func Float64Schema() *Schema { return &Schema{Type: TypeFloat64} }
func BooleanSchema() *Schema { return &Schema{Type: TypeBoolean} }
func StringSchema() *Schema  { return &Schema{Type: TypeString} }
func BytesSchema() *Schema   { return &Schema{Type: TypeBytes} }

// ArraySchema is a required array of elem.
func ArraySchema(elem *Schema) *Schema { return &Schema{Type: TypeArray, ValueSchema: elem} }

// MapSchema is a required map from string keys to values of value.
func MapSchema(value *Schema) *Schema {
	return &Schema{Type: TypeMap, KeySchema: StringSchema(), ValueSchema: value}
}

// DecimalSchema is a required decimal with the given scale.
func DecimalSchema(scale int) *Schema {
	return &Schema{Type: TypeBytes, Name: DecimalName, Version: 1,
		Parameters: map[string]string{DecimalScaleParam: fmt.Sprint(scale)}}
}

// DateSchema, TimeSchema and TimestampSchema are the required logical time types.
func DateSchema() *Schema      { return &Schema{Type: TypeInt32, Name: DateName, Version: 1} }
func TimeSchema() *Schema      { return &Schema{Type: TypeInt32, Name: TimeName, Version: 1} }
func TimestampSchema() *Schema { return &Schema{Type: TypeInt64, Name: TimestampName, Version: 1} }

// OptionalOf returns an optional copy of s (s itself if already optional).
func OptionalOf(s *Schema) *Schema {
	if s.Optional {
		return s
	}
	c := s.Copy()
	c.Optional = true
	return c
}

// Copy returns a shallow copy of s that may be changed before sharing: the
// fields slice and parameters map are copied, nested schemas are shared.
func (s *Schema) Copy() *Schema {
	c := *s
	c.Fields = append([]Field(nil), s.Fields...)
	if s.Parameters != nil {
		c.Parameters = make(map[string]string, len(s.Parameters))
		for k, v := range s.Parameters {
			c.Parameters[k] = v
		}
	}
	c.fieldIndex = nil
	if s.Type == TypeStruct {
		c.index()
	}
	return &c
}

// StructBuilder builds a struct schema field by field.
type StructBuilder struct {
	s   *Schema
	err error
}

// NewStruct starts a required struct schema with the given full name
// (may be empty).
func NewStruct(name string) *StructBuilder {
	return &StructBuilder{s: &Schema{Type: TypeStruct, Name: name}}
}

// Field appends a field. A duplicate name is reported by Build.
func (b *StructBuilder) Field(name string, schema *Schema) *StructBuilder {
	if b.err == nil {
		if schema == nil {
			b.err = fmt.Errorf("connectors: struct %q: field %q has no schema", b.s.Name, name)
		} else if _, dup := b.s.Field(name); dup {
			b.err = fmt.Errorf("connectors: struct %q: duplicate field %q", b.s.Name, name)
		}
	}
	b.s.Fields = append(b.s.Fields, Field{Name: name, Index: len(b.s.Fields), Schema: schema})
	return b
}

// Optional makes the struct optional.
func (b *StructBuilder) Optional() *StructBuilder { b.s.Optional = true; return b }

// Version sets the schema version.
func (b *StructBuilder) Version(v int) *StructBuilder { b.s.Version = v; return b }

// Doc sets the schema's documentation.
func (b *StructBuilder) Doc(doc string) *StructBuilder { b.s.Doc = doc; return b }

// Build returns the schema, or the first error (a duplicate or nil field).
func (b *StructBuilder) Build() (*Schema, error) {
	if b.err != nil {
		return nil, b.err
	}
	b.s.index()
	return b.s, nil
}

// MustBuild is Build for schemas known at compile time; it panics on error.
func (b *StructBuilder) MustBuild() *Schema {
	s, err := b.Build()
	if err != nil {
		panic(err)
	}
	return s
}

// index numbers the fields and, for wide structs, builds a name index
// (below 8 fields a linear scan is faster than a map lookup).
func (s *Schema) index() {
	for i := range s.Fields {
		s.Fields[i].Index = i
	}
	s.fieldIndex = nil
	if len(s.Fields) < 8 {
		return
	}
	s.fieldIndex = make(map[string]int, len(s.Fields))
	for i := range s.Fields {
		s.fieldIndex[s.Fields[i].Name] = i
	}
}

// Finish prepares a struct schema built by hand (a literal or a Copy whose
// Fields were changed): it numbers the fields and indexes their names. It
// returns s. Builders and Copy call it already.
func (s *Schema) Finish() *Schema {
	s.index()
	return s
}

// Struct is a value of a struct schema: one value per field, by index.
// A Struct is owned by one record at a time; transforms that change a struct
// build a new one.
type Struct struct {
	schema *Schema
	values []any
	shared bool // see Share
}

// NewStructValue returns an empty struct of schema s (every field nil).
func NewStructValue(s *Schema) *Struct {
	// One allocation holds the struct and its values for up to 16 fields
	// (change events build several structs per row, and the second
	// allocation was a tenth of a CDC snapshot's allocations).
	n := len(s.Fields)
	switch {
	case n <= 2:
		b := &struct {
			st Struct
			v  [2]any
		}{}
		b.st = Struct{schema: s, values: b.v[:n:n]}
		return &b.st
	case n <= 4:
		b := &struct {
			st Struct
			v  [4]any
		}{}
		b.st = Struct{schema: s, values: b.v[:n:n]}
		return &b.st
	case n <= 8:
		b := &struct {
			st Struct
			v  [8]any
		}{}
		b.st = Struct{schema: s, values: b.v[:n:n]}
		return &b.st
	case n <= 16:
		b := &struct {
			st Struct
			v  [16]any
		}{}
		b.st = Struct{schema: s, values: b.v[:n:n]}
		return &b.st
	}
	return &Struct{schema: s, values: make([]any, n)}
}

// Schema returns the struct's schema.
func (st *Struct) Schema() *Schema { return st.schema }

// Get returns the value of the named field; nil if unset or unknown.
func (st *Struct) Get(name string) any {
	f, ok := st.schema.Field(name)
	if !ok {
		return nil
	}
	return st.values[f.Index]
}

// At returns the value of the field at index i.
func (st *Struct) At(i int) any { return st.values[i] }

// Put sets the named field and returns st. It panics on an unknown field
// name, a programming error.
func (st *Struct) Put(name string, v any) *Struct {
	f, ok := st.schema.Field(name)
	if !ok {
		panic(fmt.Sprintf("connectors: struct %s has no field %q", st.schema, name))
	}
	if st.shared {
		panic(fmt.Sprintf("connectors: Put on a shared struct %s (build a new one)", st.schema))
	}
	st.values[f.Index] = v
	return st
}

// Set sets the field at index i. It panics on a shared struct (see Share).
func (st *Struct) Set(i int, v any) {
	if st.shared {
		panic(fmt.Sprintf("connectors: Set on a shared struct %s (build a new one)", st.schema))
	}
	st.values[i] = v
}

// Share declares st immutable from now on and referenced by many records,
// as a CDC source's source block is by the rows of a batch, and returns
// it. Converters may then cache its encoding by identity, so that it is
// encoded once rather than once per record. Set and Put panic on a shared
// struct: build a new one to change it (as transforms do).
func (st *Struct) Share() *Struct {
	st.shared = true
	return st
}

// Shared reports whether Share was called on st.
func (st *Struct) Shared() bool { return st.shared }

// Validate checks that every field's value fits its schema.
func (st *Struct) Validate() error { return Validate(st.schema, st) }

// String renders the struct like Kafka Connect's Struct.toString.
func (st *Struct) String() string {
	var b strings.Builder
	b.WriteString("Struct{")
	first := true
	for i, f := range st.schema.Fields {
		if st.values[i] == nil {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "%s=%v", f.Name, st.values[i])
	}
	b.WriteByte('}')
	return b.String()
}

// ErrSchemaMismatch is wrapped by Validate's errors: a value does not fit
// its schema.
var ErrSchemaMismatch = errors.New("connectors: value does not match schema")

// Validate checks that value fits schema (types, required fields, nested
// values), naming the path of the first mismatch.
func Validate(schema *Schema, value any) error { return validate("", schema, value) }

func validate(path string, s *Schema, v any) error {
	at := func() string {
		if path == "" {
			return "value"
		}
		return "field " + path
	}
	if v == nil {
		if s.Optional || s.Default != nil {
			return nil
		}
		return fmt.Errorf("%w: %s is null but its schema (%s) is required", ErrSchemaMismatch, at(), s)
	}
	bad := func() error {
		return fmt.Errorf("%w: %s holds %T, schema wants %s", ErrSchemaMismatch, at(), v, s)
	}
	switch s.Name {
	case DecimalName:
		if _, ok := v.(*big.Rat); !ok {
			return bad()
		}
		return nil
	case DateName, TimeName, TimestampName:
		if _, ok := v.(time.Time); !ok {
			return bad()
		}
		return nil
	}
	ok := false
	switch s.Type {
	case TypeInt8:
		_, ok = v.(int8)
	case TypeInt16:
		_, ok = v.(int16)
	case TypeInt32:
		_, ok = v.(int32)
	case TypeInt64:
		_, ok = v.(int64)
	case TypeFloat32:
		_, ok = v.(float32)
	case TypeFloat64:
		_, ok = v.(float64)
	case TypeBoolean:
		_, ok = v.(bool)
	case TypeString:
		_, ok = v.(string)
	case TypeBytes:
		_, ok = v.([]byte)
	case TypeArray:
		arr, isArr := v.([]any)
		if !isArr {
			return bad()
		}
		for i, e := range arr {
			if err := validate(fmt.Sprintf("%s[%d]", path, i), s.ValueSchema, e); err != nil {
				return err
			}
		}
		return nil
	case TypeMap:
		m, isMap := v.(map[string]any)
		if !isMap {
			return bad()
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := validate(fmt.Sprintf("%s[%q]", path, k), s.ValueSchema, m[k]); err != nil {
				return err
			}
		}
		return nil
	case TypeStruct:
		st, isStruct := v.(*Struct)
		if !isStruct {
			return bad()
		}
		if st.schema != s && !SameSchema(st.schema, s) {
			return fmt.Errorf("%w: %s is a struct of another schema (%s, want %s)", ErrSchemaMismatch, at(), st.schema, s)
		}
		for i, f := range s.Fields {
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			if err := validate(p, f.Schema, st.values[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if !ok {
		return bad()
	}
	return nil
}

// SameSchema reports whether a and b describe the same schema (deep
// comparison of every attribute; defaults compared with fmt).
func SameSchema(a, b *Schema) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	if a.Type != b.Type || a.Optional != b.Optional || a.Name != b.Name || a.Version != b.Version ||
		a.Doc != b.Doc || len(a.Fields) != len(b.Fields) || len(a.Parameters) != len(b.Parameters) ||
		fmt.Sprint(a.Default) != fmt.Sprint(b.Default) {
		return false
	}
	for k, v := range a.Parameters {
		if bv, ok := b.Parameters[k]; !ok || bv != v {
			return false
		}
	}
	for i := range a.Fields {
		if a.Fields[i].Name != b.Fields[i].Name || !SameSchema(a.Fields[i].Schema, b.Fields[i].Schema) {
			return false
		}
	}
	return SameSchema(a.KeySchema, b.KeySchema) && SameSchema(a.ValueSchema, b.ValueSchema)
}
