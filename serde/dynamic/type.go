package dynamic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	havro "github.com/hamba/avro/v2"
	"github.com/modern-go/reflect2"
)

// Type is a record type compiled from an Avro record schema: a Go struct
// type built at run time plus the plans that convert, access and encode its
// values. A Type is immutable and safe for concurrent use.
type Type struct {
	root   *node
	schema string // compact Avro schema JSON
	ptr    reflect.Type
	alloc  reflect2.Type // the struct type, to allocate values
	fields []Field
	// records maps every record struct type in the tree to its node, so
	// that Infer reuses a nested record's schema when an expression
	// yields one.
	records map[reflect.Type]*node
}

// Field describes one field of a record Type, for lints, docs and code
// generation.
type Field struct {
	// Name is the Avro field name (the struct tags' name).
	Name string
	// GoName is the exported Go field name. Use Name to find fields; see
	// the package doc on how GoName is derived.
	GoName string
	// Type is the Go type of the struct field.
	Type reflect.Type
	// AvroType describes the field's Avro type for people: "long",
	// "long/timestamp-millis", "bytes/decimal(10,2)", "record com.x.Address",
	// "enum com.x.Currency", "array<string>", "map<long>", "union<null,string>".
	AvroType string
	// Schema is the field's Avro type as self-contained schema JSON: named
	// types it uses are defined in it. Infer accepts it to give an output
	// field exactly this type.
	Schema string
	// Nullable says the field's type is a union with null.
	Nullable bool
	// HasDefault says the field declares a default; Default holds it in
	// the representation of [Type.ToMap].
	HasDefault bool
	Default    any
	// Doc is the field's documentation.
	Doc string
	// Fields are the fields of a record (or nullable record) field.
	Fields []Field
}

// kind is an Avro type as this package handles it.
type kind uint8

const (
	kindNull kind = iota + 1
	kindBoolean
	kindInt
	kindLong
	kindFloat
	kindDouble
	kindString
	kindBytes
	kindFixed
	kindEnum
	kindRecord
	kindArray
	kindMap
	kindNullable // a union of null and one other type
	kindUnion    // any other union
)

// node is one Avro type of a schema with its Go representation.
type node struct {
	kind    kind
	typ     reflect.Type
	logical string // Avro logical type name as hamba/avro parsed it, "" if none
	props   map[string]any

	// Named types (record, enum, fixed).
	fullName  string
	name      string
	namespace string
	doc       string
	aliases   []string

	fields  []*fieldNode          // record
	byName  map[string]*fieldNode // record
	elem    *node                 // array item, map value, nullable's non-null branch
	nullIdx int                   // nullable: the index of null in the union
	symbols []string              // enum
	symDef  string                // enum default symbol, "" if none
	size    int                   // fixed
	prec    int                   // decimal
	scale   int                   // decimal
	union   []*node               // general union branches
	bare    bool                  // general union: values are held bare, not as {"branch": value}
}

// bareBranches are the union branches hamba/avro's default type resolver
// knows. A general union whose branches are all among them holds its
// values bare in an any (a string as string); any other union holds every
// non-null value as map[string]any{"<branch name>": value}.
var bareBranches = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true, "float": true, "double": true, "string": true, "bytes": true,
	"int.date": true, "int.time-millis": true, "long.timestamp-millis": true, "long.timestamp-micros": true,
	"long.time-micros": true, "bytes.decimal": true, "string.uuid": true,
}

// fieldNode is a field of a record node.
type fieldNode struct {
	name       string
	goName     string
	index      int
	node       *node
	doc        string
	aliases    []string
	order      string
	props      map[string]any
	hasDefault bool
	def        any // hamba/avro's parsed default (its generic representation)
}

// FromAvro compiles an Avro record schema (the JSON of an .avsc file) into
// a Type. The schema is parsed on its own, never through hamba/avro's
// global cache, so two versions of one record name do not collide. Named
// types must be defined in the schema itself (registry references are
// resolved by [AvroSerde] for writer schemas, not here).
func FromAvro(schema string) (*Type, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(schema)); err != nil {
		return nil, fmt.Errorf("dynamic: schema is not JSON: %w", err)
	}
	parsed, err := havro.ParseWithCache(compact.String(), "", &havro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("dynamic: invalid Avro schema: %w", err)
	}
	if parsed.Type() != havro.Record {
		return nil, fmt.Errorf("dynamic: schema is a %s, want a record", parsed.Type())
	}
	b := builder{named: map[string]*node{}, building: map[string]bool{}}
	root, err := b.build(parsed, "")
	if err != nil {
		return nil, err
	}
	return newType(root, compact.String()), nil
}

func newType(root *node, schema string) *Type {
	t := &Type{root: root, schema: schema, ptr: reflect.PointerTo(root.typ), alloc: reflect2.Type2(root.typ), records: map[reflect.Type]*node{}}
	t.fields = fieldsOf(root)
	collectRecords(root, t.records)
	return t
}

func collectRecords(n *node, into map[reflect.Type]*node) {
	switch n.kind {
	case kindRecord:
		if _, ok := into[n.typ]; ok {
			return
		}
		into[n.typ] = n
		for _, f := range n.fields {
			collectRecords(f.node, into)
		}
	case kindArray, kindMap, kindNullable:
		collectRecords(n.elem, into)
	}
}

// New returns a pointer to a new zero value of the struct type, in an any.
func (t *Type) New() any {
	// reflect2 allocates without reflect.New's look-up of the pointer
	// type (a sync.Map load for a struct type built by reflect.StructOf).
	return t.alloc.New()
}

// Reflect returns the struct type (values are pointers to it).
func (t *Type) Reflect() reflect.Type { return t.ptr.Elem() }

// Name returns the record's full name ("com.x.Order").
func (t *Type) Name() string { return t.root.fullName }

// AvroSchema returns the record's Avro schema: the text given to FromAvro
// without insignificant whitespace, or the schema Infer generated.
func (t *Type) AvroSchema() string { return t.schema }

// Fields describes the record's fields in schema order. The slice is a
// copy; nested Fields slices are shared and must not be modified.
func (t *Type) Fields() []Field { return append([]Field(nil), t.fields...) }

// String returns the record's full name.
func (t *Type) String() string { return t.root.fullName }

// check returns the struct pointer held in v, or an error naming op.
func (t *Type) check(v any, op string) (reflect.Value, error) {
	if reflect.TypeOf(v) != t.ptr {
		return reflect.Value{}, fmt.Errorf("dynamic: %s: value is a %T, want a %s value (%s)", op, v, t.root.fullName, t.ptr)
	}
	rv := reflect.ValueOf(v)
	if rv.IsNil() {
		return reflect.Value{}, fmt.Errorf("dynamic: %s: nil %s value", op, t.root.fullName)
	}
	return rv.Elem(), nil
}

func fieldsOf(n *node) []Field {
	out := make([]Field, len(n.fields))
	for i, f := range n.fields {
		fd := Field{
			Name:       f.name,
			GoName:     f.goName,
			Type:       f.node.typ,
			AvroType:   describe(f.node),
			Schema:     schemaJSON(f.node),
			Nullable:   f.node.kind == kindNullable || f.node.kind == kindNull || (f.node.kind == kindUnion && f.node.hasNull()),
			HasDefault: f.hasDefault,
			Doc:        f.doc,
		}
		if f.hasDefault {
			if v, err := defaultValue(f); err == nil {
				fd.Default = toGeneric(f.node, v)
			}
		}
		rec := f.node
		if rec.kind == kindNullable {
			rec = rec.elem
		}
		if rec.kind == kindRecord {
			fd.Fields = fieldsOf(rec)
		}
		out[i] = fd
	}
	return out
}

func (n *node) hasNull() bool {
	for _, b := range n.union {
		if b.kind == kindNull {
			return true
		}
	}
	return false
}

// describe is Field.AvroType.
func describe(n *node) string {
	base := ""
	switch n.kind {
	case kindNull:
		return "null"
	case kindBoolean:
		base = "boolean"
	case kindInt:
		base = "int"
	case kindLong:
		base = "long"
	case kindFloat:
		base = "float"
	case kindDouble:
		base = "double"
	case kindString:
		base = "string"
	case kindBytes:
		base = "bytes"
	case kindFixed:
		base = fmt.Sprintf("fixed %s(%d)", n.fullName, n.size)
	case kindEnum:
		return "enum " + n.fullName
	case kindRecord:
		return "record " + n.fullName
	case kindArray:
		return "array<" + describe(n.elem) + ">"
	case kindMap:
		return "map<" + describe(n.elem) + ">"
	case kindNullable:
		if n.nullIdx == 0 {
			return "union<null," + describe(n.elem) + ">"
		}
		return "union<" + describe(n.elem) + ",null>"
	case kindUnion:
		parts := make([]string, len(n.union))
		for i, b := range n.union {
			parts[i] = describe(b)
		}
		return "union<" + strings.Join(parts, ",") + ">"
	}
	switch n.logical {
	case "":
		return base
	case "decimal":
		return fmt.Sprintf("%s/decimal(%d,%d)", base, n.prec, n.scale)
	}
	return base + "/" + n.logical
}

// builder turns a parsed hamba/avro schema into nodes.
type builder struct {
	named    map[string]*node // named types built so far, by full name
	building map[string]bool  // records under construction (recursion check)
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	ratPtrType   = reflect.TypeFor[*big.Rat]()
	anyType      = reflect.TypeFor[any]()
	bytesType    = reflect.TypeFor[[]byte]()
)

// build returns the node of s; where names the position for errors
// ("field customer.address").
func (b *builder) build(s havro.Schema, where string) (*node, error) {
	if ref, ok := s.(*havro.RefSchema); ok {
		name := ref.Schema().FullName()
		if b.building[name] {
			return nil, fmt.Errorf("dynamic: %s: record %s contains itself; recursive records cannot be built as Go struct types (read them with avro.NewGeneric)", where, name)
		}
		if n, ok := b.named[name]; ok {
			return n, nil
		}
		return b.build(ref.Schema(), where)
	}
	n := &node{}
	if p, ok := s.(interface{ Props() map[string]any }); ok {
		n.props = p.Props()
	}
	if named, ok := s.(havro.NamedSchema); ok {
		n.fullName, n.name, n.namespace, n.aliases = named.FullName(), named.Name(), named.Namespace(), named.Aliases()
		if prev, ok := b.named[n.fullName]; ok {
			return prev, nil
		}
	}
	switch s := s.(type) {
	case *havro.NullSchema:
		n.kind, n.typ = kindNull, anyType
	case *havro.PrimitiveSchema:
		if err := primitive(n, s); err != nil {
			return nil, fmt.Errorf("dynamic: %s: %w", where, err)
		}
	case *havro.FixedSchema:
		n.kind, n.size = kindFixed, s.Size()
		n.typ = reflect.ArrayOf(s.Size(), reflect.TypeFor[byte]())
		if l := s.Logical(); l != nil {
			n.logical = string(l.Type())
			if d, ok := l.(*havro.DecimalLogicalSchema); ok {
				n.prec, n.scale, n.typ = d.Precision(), d.Scale(), ratPtrType
			}
		}
		b.named[n.fullName] = n
	case *havro.EnumSchema:
		n.kind, n.typ, n.doc = kindEnum, reflect.TypeFor[string](), s.Doc()
		n.symbols = s.Symbols()
		if s.HasDefault() {
			n.symDef = s.Default()
		}
		b.named[n.fullName] = n
	case *havro.ArraySchema:
		elem, err := b.build(s.Items(), where+"[]")
		if err != nil {
			return nil, err
		}
		n.kind, n.elem, n.typ = kindArray, elem, reflect.SliceOf(elem.typ)
	case *havro.MapSchema:
		elem, err := b.build(s.Values(), where+"{}")
		if err != nil {
			return nil, err
		}
		n.kind, n.elem, n.typ = kindMap, elem, reflect.MapOf(reflect.TypeFor[string](), elem.typ)
	case *havro.UnionSchema:
		return b.union(n, s, where)
	case *havro.RecordSchema:
		if err := b.record(n, s, where); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("dynamic: %s: unsupported Avro type %s", where, s.Type())
	}
	return n, nil
}

func primitive(n *node, s *havro.PrimitiveSchema) error {
	if l := s.Logical(); l != nil {
		// Logical types without a Go mapping below keep the base type's
		// Go type and are written back unchanged.
		n.logical = string(l.Type())
	}
	switch s.Type() {
	case havro.Boolean:
		n.kind, n.typ = kindBoolean, reflect.TypeFor[bool]()
	case havro.Int:
		n.kind, n.typ = kindInt, reflect.TypeFor[int32]()
		switch n.logical {
		case "date":
			n.typ = timeType
		case "time-millis":
			n.typ = durationType
		}
	case havro.Long:
		n.kind, n.typ = kindLong, reflect.TypeFor[int64]()
		switch n.logical {
		case "timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros":
			n.typ = timeType
		case "time-micros":
			n.typ = durationType
		}
	case havro.Float:
		n.kind, n.typ = kindFloat, reflect.TypeFor[float32]()
	case havro.Double:
		n.kind, n.typ = kindDouble, reflect.TypeFor[float64]()
	case havro.String:
		n.kind, n.typ = kindString, reflect.TypeFor[string]()
	case havro.Bytes:
		n.kind, n.typ = kindBytes, bytesType
		if d, ok := s.Logical().(*havro.DecimalLogicalSchema); ok {
			n.prec, n.scale, n.typ = d.Precision(), d.Scale(), ratPtrType
		}
	case havro.Null:
		n.kind, n.typ = kindNull, anyType
	default:
		return fmt.Errorf("unsupported Avro type %s", s.Type())
	}
	return nil
}

func (b *builder) union(n *node, s *havro.UnionSchema, where string) (*node, error) {
	types := s.Types()
	if s.Nullable() && len(types) == 2 {
		nullIdx, typIdx := s.Indices()
		elem, err := b.build(types[typIdx], where)
		if err != nil {
			return nil, err
		}
		// A nullable decimal is a **big.Rat, not a *big.Rat whose nil is
		// null: hamba/avro's decoder for the latter writes a *big.Rat into
		// the big.Rat it allocates, corrupting memory.
		n.kind, n.elem, n.nullIdx, n.typ = kindNullable, elem, nullIdx, reflect.PointerTo(elem.typ)
		return n, nil
	}
	n.kind, n.typ, n.bare = kindUnion, anyType, true
	for i, t := range types {
		elem, err := b.build(t, fmt.Sprintf("%s<branch %d>", where, i))
		if err != nil {
			return nil, err
		}
		n.union = append(n.union, elem)
		n.bare = n.bare && bareBranches[branchName(elem)]
	}
	return n, nil
}

func (b *builder) record(n *node, s *havro.RecordSchema, where string) error {
	n.kind, n.doc = kindRecord, s.Doc()
	b.building[n.fullName] = true
	defer delete(b.building, n.fullName)
	avroNames := make(map[string]bool, len(s.Fields()))
	for _, f := range s.Fields() {
		avroNames[f.Name()] = true
	}
	used := map[string]bool{}
	structFields := make([]reflect.StructField, 0, len(s.Fields()))
	n.byName = make(map[string]*fieldNode, len(s.Fields()))
	for i, f := range s.Fields() {
		at := f.Name()
		if where != "" {
			at = where + "." + f.Name()
		}
		fn, err := b.build(f.Type(), "field "+at)
		if err != nil {
			return err
		}
		goName := goFieldName(f.Name(), avroNames, used)
		fld := &fieldNode{
			name: f.Name(), goName: goName, index: i, node: fn, doc: f.Doc(), aliases: f.Aliases(),
			order: string(f.Order()), props: f.Props(), hasDefault: f.HasDefault(), def: f.Default(),
		}
		n.fields = append(n.fields, fld)
		n.byName[fld.name] = fld
		structFields = append(structFields, reflect.StructField{Name: goName, Type: fn.typ, Tag: fieldTag(f.Name())})
	}
	n.typ = reflect.StructOf(structFields)
	b.named[n.fullName] = n
	return nil
}

// fieldTag tags a struct field with its Avro name for hamba/avro, expr-lang
// and encoding/json.
func fieldTag(name string) reflect.StructTag {
	q := strconv.Quote(name)
	return reflect.StructTag("avro:" + q + " expr:" + q + " json:" + q)
}

// goFieldName derives a unique exported Go name from an Avro field name.
// The name never equals another field's Avro name: expr-lang's run-time
// field lookup (for values typed any) accepts a Go name as well as the tag,
// and such a collision would make the lookup ambiguous.
func goFieldName(avroName string, avroNames, used map[string]bool) string {
	var b strings.Builder
	for i, r := range avroName {
		switch {
		case i == 0 && r == '_', i == 0 && !unicode.IsLetter(r):
			b.WriteString("X")
			b.WriteRune(r)
		case i == 0:
			b.WriteRune(unicode.ToUpper(r))
		case r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	base := b.String()
	if base == "" {
		base = "X"
	}
	name := base
	for i := 2; used[name] || (avroNames[name] && name != avroName); i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	used[name] = true
	return name
}

// defaultValue converts a field's declared default into its Go type. A
// union's default is of its first branch, which assign accepts for
// nullable and general unions alike.
func defaultValue(f *fieldNode) (reflect.Value, error) {
	v := reflect.New(f.node.typ).Elem()
	return v, assign(f.node, v, f.def, "default of field "+f.name)
}
