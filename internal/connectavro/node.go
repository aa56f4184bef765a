package connectavro

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"

	havro "github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/connectors"
)

// kind is how a Connect value maps to Avro binary.
type kind uint8

const (
	kBool kind = iota + 1
	kInt       // Avro int: Connect int8, int16, int32
	kLong
	kFloat
	kDouble
	kString
	kEnum // Avro enum: a Connect string
	kBytes
	kFixed
	kDecimalBytes
	kDecimalFixed
	kDate
	kTimeMillis
	kTimestampMillis
	kArray
	kMap
	kMapEntries // an array of key/value records: a Connect map with non-string keys
	kRecord
	kOptional // a union of null and one type: an optional Connect schema
	kUnion    // any other union: Confluent's io.confluent.connect.avro.Union struct
)

// node is one compiled piece of a codec: a Connect schema and the Avro
// schema it is written as. Nodes are immutable after compilation and shared
// by every goroutine using the codec.
type node struct {
	kind kind
	cs   *connectors.Schema
	as   havro.Schema // dereferenced

	scale   int                 // decimals
	size    int                 // fixed
	symbols []string            // enum
	symIdx  map[string]int32    // enum symbol -> index
	fields  []recordField       // record fields, in Avro order
	elem    *node               // array items, map values, MapEntry value
	key     *node               // MapEntry key
	null    int                 // kOptional/kUnion: index of the null branch, -1 if none
	inner   *node               // kOptional: the non-null branch
	inIdx   int                 // kOptional: index of the non-null branch
	members []unionMember       // kUnion
	genName string              // the branch name hamba's generic unions use
	fixedT  reflect.Type        // kFixed: [size]byte, hamba's generic fixed
	entry   *havro.RecordSchema // kMapEntries: the entry record

	// memo is a kRecord's encoding of the last shared struct it wrote
	// (connectors.Struct.Share): the records of a batch that share one (a
	// CDC event's source block) copy its bytes instead of encoding it
	// again. It holds the struct, whose identity therefore cannot be
	// reused while remembered.
	memo atomic.Pointer[structMemo]
}

type structMemo struct {
	st *connectors.Struct
	b  []byte
}

type recordField struct {
	name  string
	index int // Connect field index
	node  *node
	avro  *havro.Field
}

type unionMember struct {
	index int // Avro branch index
	field int // Connect field index of the Union struct
	node  *node
}

// genericName is hamba's name of a union branch in generic values: the
// full name of a named type, otherwise the type and logical type
// ("long.timestamp-millis").
func genericName(s havro.Schema) string {
	s = deref(s)
	if n, ok := s.(havro.NamedSchema); ok {
		return n.FullName()
	}
	name := string(s.Type())
	if ls := logicalOf(s); ls != nil {
		name += "." + string(ls.Type())
	}
	return name
}

func mismatchErr(cs *connectors.Schema, as havro.Schema) error {
	return fmt.Errorf("connectavro: Connect schema %s does not match Avro schema %s", cs, as.Type())
}

// maxGenericFixed is the largest fixed size given a generic [size]byte
// type: larger ones (no real schema has them) cannot be converted with
// ToGeneric.
const maxGenericFixed = 1 << 20

// compile pairs a Connect schema with its Avro schema.
func compile(cs *connectors.Schema, as havro.Schema, depth int) (*node, error) {
	if depth > maxSchemaDepth {
		return nil, fmt.Errorf("connectavro: schema nested deeper than %d levels", maxSchemaDepth)
	}
	as = deref(as)
	n := &node{cs: cs, as: as, null: -1, genName: genericName(as)}
	if u, ok := as.(*havro.UnionSchema); ok {
		types := u.Types()
		if isUnionSchema(cs) {
			n.kind = kUnion
			for i, t := range types {
				if deref(t).Type() == havro.Null {
					n.null = i
					continue
				}
				f, ok := cs.Field(unionMemberName(t))
				if !ok {
					return nil, fmt.Errorf("connectavro: union struct %s has no field %q for Avro union member %s", cs, unionMemberName(t), deref(t).Type())
				}
				m, err := compile(f.Schema, t, depth+1)
				if err != nil {
					return nil, err
				}
				n.members = append(n.members, unionMember{index: i, field: f.Index, node: m})
			}
			return n, nil
		}
		if len(types) != 2 || (types[0].Type() != havro.Null && types[1].Type() != havro.Null) {
			return nil, fmt.Errorf("connectavro: Connect schema %s does not match an Avro union of %d types", cs, len(types))
		}
		n.kind = kOptional
		n.null, n.inIdx = 0, 1
		if types[1].Type() == havro.Null {
			n.null, n.inIdx = 1, 0
		}
		inner, err := compile(cs, types[n.inIdx], depth+1)
		if err != nil {
			return nil, err
		}
		n.inner = inner
		return n, nil
	}
	is := func(t connectors.Type) bool { return cs.Type == t }
	switch as.Type() {
	case havro.Boolean:
		if !is(connectors.TypeBoolean) {
			return nil, mismatchErr(cs, as)
		}
		n.kind = kBool
	case havro.Int:
		switch {
		case cs.Name == connectors.DateName && is(connectors.TypeInt32):
			n.kind = kDate
		case cs.Name == connectors.TimeName && is(connectors.TypeInt32):
			n.kind = kTimeMillis
		case is(connectors.TypeInt8), is(connectors.TypeInt16), is(connectors.TypeInt32):
			n.kind = kInt
		default:
			return nil, mismatchErr(cs, as)
		}
	case havro.Long:
		switch {
		case cs.Name == connectors.TimestampName && is(connectors.TypeInt64):
			n.kind = kTimestampMillis
		case is(connectors.TypeInt64):
			n.kind = kLong
		default:
			return nil, mismatchErr(cs, as)
		}
	case havro.Float:
		if !is(connectors.TypeFloat32) {
			return nil, mismatchErr(cs, as)
		}
		n.kind = kFloat
	case havro.Double:
		if !is(connectors.TypeFloat64) {
			return nil, mismatchErr(cs, as)
		}
		n.kind = kDouble
	case havro.String:
		if !is(connectors.TypeString) {
			return nil, mismatchErr(cs, as)
		}
		n.kind = kString
	case havro.Enum:
		if !is(connectors.TypeString) {
			return nil, mismatchErr(cs, as)
		}
		n.kind = kEnum
		n.symbols = as.(*havro.EnumSchema).Symbols()
		n.symIdx = make(map[string]int32, len(n.symbols))
		for i, s := range n.symbols {
			n.symIdx[s] = int32(i)
		}
	case havro.Bytes, havro.Fixed:
		if !is(connectors.TypeBytes) {
			return nil, mismatchErr(cs, as)
		}
		fixed, isFixed := as.(*havro.FixedSchema)
		if isFixed {
			n.size = fixed.Size()
			if n.size <= maxGenericFixed {
				n.fixedT = reflect.ArrayOf(n.size, reflect.TypeFor[byte]())
			}
		}
		switch {
		case cs.Name == connectors.DecimalName:
			scale, err := decimalScaleParam(cs)
			if err != nil {
				return nil, err
			}
			n.scale = scale
			n.kind = kDecimalBytes
			if isFixed {
				n.kind = kDecimalFixed
			}
		case isFixed:
			n.kind = kFixed
		default:
			n.kind = kBytes
		}
	case havro.Array:
		items := deref(as.(*havro.ArraySchema).Items())
		if is(connectors.TypeMap) && isMapEntry(items) {
			rec := items.(*havro.RecordSchema)
			kf, vf := fieldNamed(rec, "key"), fieldNamed(rec, "value")
			if kf == nil || vf == nil || len(rec.Fields()) != 2 {
				return nil, fmt.Errorf("connectavro: map entry record %s must have exactly the fields key and value", rec.FullName())
			}
			key := cs.KeySchema
			if key == nil {
				key = connectors.StringSchema()
			}
			var err error
			if n.key, err = compile(key, kf.Type(), depth+1); err != nil {
				return nil, err
			}
			if n.elem, err = compile(cs.ValueSchema, vf.Type(), depth+1); err != nil {
				return nil, err
			}
			n.kind, n.entry = kMapEntries, rec
			break
		}
		if !is(connectors.TypeArray) || cs.ValueSchema == nil {
			return nil, mismatchErr(cs, as)
		}
		elem, err := compile(cs.ValueSchema, items, depth+1)
		if err != nil {
			return nil, err
		}
		n.kind, n.elem = kArray, elem
	case havro.Map:
		if !is(connectors.TypeMap) || cs.ValueSchema == nil || (cs.KeySchema != nil && cs.KeySchema.Type != connectors.TypeString) {
			return nil, mismatchErr(cs, as)
		}
		elem, err := compile(cs.ValueSchema, as.(*havro.MapSchema).Values(), depth+1)
		if err != nil {
			return nil, err
		}
		n.kind, n.elem = kMap, elem
	case havro.Record:
		if !is(connectors.TypeStruct) {
			return nil, mismatchErr(cs, as)
		}
		rec := as.(*havro.RecordSchema)
		if len(rec.Fields()) != len(cs.Fields) {
			return nil, fmt.Errorf("connectavro: struct %s has %d fields, Avro record %s %d", cs, len(cs.Fields), rec.FullName(), len(rec.Fields()))
		}
		for _, af := range rec.Fields() {
			f, ok := cs.Field(af.Name())
			if !ok {
				return nil, fmt.Errorf("connectavro: struct %s has no field %q of Avro record %s", cs, af.Name(), rec.FullName())
			}
			fn, err := compile(f.Schema, af.Type(), depth+1)
			if err != nil {
				return nil, fmt.Errorf("%w (field %q)", err, af.Name())
			}
			n.fields = append(n.fields, recordField{name: af.Name(), index: f.Index, node: fn, avro: af})
		}
		n.kind = kRecord
	default:
		return nil, mismatchErr(cs, as)
	}
	return n, nil
}

func decimalScaleParam(cs *connectors.Schema) (int, error) {
	s, ok := cs.Parameters["scale"]
	if !ok {
		return 0, fmt.Errorf("connectavro: decimal schema %s has no scale parameter", cs)
	}
	scale, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("connectavro: decimal schema %s has an invalid scale %q", cs, s)
	}
	return scale, nil
}

// valueError is an error about a value, with the path of the field it
// occurred in, built from the inside out only when an error happens.
type valueError struct {
	path []string // innermost segment first
	err  error
}

func (e *valueError) Error() string {
	var b strings.Builder
	b.WriteString("connectavro: ")
	if len(e.path) > 0 {
		b.WriteString("field ")
		for i := len(e.path) - 1; i >= 0; i-- {
			seg := e.path[i]
			if i == len(e.path)-1 {
				seg = strings.TrimPrefix(seg, ".")
			}
			b.WriteString(seg)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.err.Error())
	return b.String()
}

func (e *valueError) Unwrap() error { return e.err }

func atPath(err error, seg string) error {
	if ve, ok := err.(*valueError); ok {
		ve.path = append(ve.path, seg)
		return ve
	}
	return &valueError{path: []string{seg}, err: err}
}

func valueErrorf(format string, args ...any) error {
	return &valueError{err: fmt.Errorf(format, args...)}
}
