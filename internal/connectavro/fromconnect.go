package connectavro

import (
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
)

// Names and properties of Confluent's AvroData (io.confluent.connect.avro).
const (
	confluentNamespace  = "io.confluent.connect.avro"
	defaultSchemaName   = "ConnectDefault"
	defaultFullName     = confluentNamespace + "." + defaultSchemaName
	mapEntryName        = "MapEntry"
	unionName           = confluentNamespace + ".Union"
	enumParam           = confluentNamespace + ".Enum"
	recordDocParam      = confluentNamespace + ".record.doc"
	fieldDocParamPrefix = confluentNamespace + ".field.doc."
	enumDocParamPrefix  = confluentNamespace + ".enum.doc."
	enumDefParamPrefix  = confluentNamespace + ".enum.default."
	fieldDefaultFlag    = confluentNamespace + ".field.default"

	propConnectName       = "connect.name"
	propConnectDoc        = "connect.doc"
	propConnectVersion    = "connect.version"
	propConnectDefault    = "connect.default"
	propConnectParameters = "connect.parameters"
	propConnectType       = "connect.type"
	propInternalType      = "connect.internal.type"
	paramDecimalPrecision = "connect.decimal.precision"
	paramFixedSize        = "connect.fixed.size"
	defaultPrecision      = 64
)

// aschema is an Avro schema being built from a Connect schema: a small model
// of Avro Java's Schema, so that it can be written as Avro Java's
// Schema.toString writes it (the text Confluent's AvroConverter registers):
// reserved attributes first, custom properties in insertion order, named
// types written in full once and by name afterwards.
type aschema struct {
	typ   string // Avro type name; "union" for unions
	props []prop // custom properties, in insertion order

	name, namespace string // named types (record, fixed)
	doc             string
	fields          []afield
	items, values   *aschema
	size            int
	members         []*aschema
}

type prop struct {
	key string
	val []byte // JSON
}

type afield struct {
	name string
	typ  *aschema
	doc  string
	def  []byte // JSON; nil: no default
}

func (a *aschema) addProp(key string, val []byte) {
	for _, p := range a.props {
		if p.key == key {
			return // Avro keeps the first value of a property
		}
	}
	a.props = append(a.props, prop{key, val})
}

func (a *aschema) fullName() string {
	if a.namespace == "" {
		return a.name
	}
	return a.namespace + "." + a.name
}

func jsonString(s string) []byte { return connectjson.AppendString(nil, s) }

// fromConnectCtx converts one Connect schema (AvroData's FromConnectContext).
type fromConnectCtx struct {
	// named are the non-optional Connect schemas already converted (as
	// AvroData's schemaMap), so that a struct used twice (Debezium's before
	// and after) becomes one record written once and referenced by name.
	named     []namedEntry
	nameIndex int // for ConnectDefault, ConnectDefault2, ...
	depth     int
}

type namedEntry struct {
	connect *connectors.Schema
	avro    *aschema
}

// maxSchemaDepth bounds schema nesting: schemas are trees built by code or
// read from registries, never this deep unless something is wrong.
const maxSchemaDepth = 256

func (c *fromConnectCtx) nameOrDefault(name string) (namespace, short string) {
	if name != "" {
		return splitName(name)
	}
	c.nameIndex++
	if c.nameIndex > 1 {
		return confluentNamespace, defaultSchemaName + strconv.Itoa(c.nameIndex)
	}
	return confluentNamespace, defaultSchemaName
}

func splitName(full string) (namespace, name string) {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "", full
}

func isUnionSchema(s *connectors.Schema) bool {
	return s.Type == connectors.TypeStruct && s.Name == unionName
}

// nonOptional returns s as a required schema (AvroData.nonOptional).
func nonOptional(s *connectors.Schema) *connectors.Schema {
	if !s.Optional {
		return s
	}
	c := s.Copy()
	c.Optional = false
	return c
}

// sameRequired compares two schemas ignoring their top-level optional flag.
func sameRequired(a, b *connectors.Schema) bool {
	if a.Optional == b.Optional {
		return connectors.SameSchema(a, b)
	}
	return connectors.SameSchema(nonOptional(a), nonOptional(b))
}

func (c *fromConnectCtx) convert(s *connectors.Schema, ignoreOptional bool) (*aschema, error) {
	if s == nil {
		return nil, errors.New("connectavro: a schemaless value has no Avro schema (Confluent's Anything record is not supported)")
	}
	if c.depth++; c.depth > maxSchemaDepth {
		return nil, fmt.Errorf("connectavro: schema nested deeper than %d levels", maxSchemaDepth)
	}
	defer func() { c.depth-- }()
	if !isUnionSchema(s) && !s.Optional {
		for _, n := range c.named {
			if n.connect == s || sameRequired(n.connect, s) {
				return n.avro, nil
			}
		}
	}
	var (
		base        *aschema
		connectType string
	)
	switch s.Type {
	case connectors.TypeInt8:
		base, connectType = &aschema{typ: "int"}, "int8"
	case connectors.TypeInt16:
		base, connectType = &aschema{typ: "int"}, "int16"
	case connectors.TypeInt32:
		base = &aschema{typ: "int"}
	case connectors.TypeInt64:
		base = &aschema{typ: "long"}
	case connectors.TypeFloat32:
		base = &aschema{typ: "float"}
	case connectors.TypeFloat64:
		base = &aschema{typ: "double"}
	case connectors.TypeBoolean:
		base = &aschema{typ: "boolean"}
	case connectors.TypeString:
		base = &aschema{typ: "string"}
	case connectors.TypeBytes:
		if sizeText, ok := s.Parameters[paramFixedSize]; ok {
			size, err := strconv.Atoi(sizeText)
			if err != nil || size < 0 {
				return nil, fmt.Errorf("connectavro: schema %s: invalid %s parameter %q", s, paramFixedSize, sizeText)
			}
			ns, name := c.nameOrDefault(s.Name)
			base = &aschema{typ: "fixed", name: name, namespace: ns, size: size}
			c.named = append(c.named, namedEntry{nonOptional(s), base})
		} else {
			base = &aschema{typ: "bytes"}
		}
		if s.Name == connectors.DecimalName {
			scale, err := connectjson.DecimalScale(s.Parameters)
			if err != nil {
				return nil, fmt.Errorf("connectavro: schema %s: %v", s, err)
			}
			base.addProp("scale", []byte(strconv.Itoa(scale)))
			precision := defaultPrecision
			if p, ok := s.Parameters[paramDecimalPrecision]; ok {
				if precision, err = strconv.Atoi(p); err != nil {
					return nil, fmt.Errorf("connectavro: schema %s: invalid %s parameter %q", s, paramDecimalPrecision, p)
				}
			}
			base.addProp("precision", []byte(strconv.Itoa(precision)))
		}
	case connectors.TypeArray:
		if s.ValueSchema == nil {
			return nil, fmt.Errorf("connectavro: array schema %s has no element schema", s)
		}
		items, err := c.convert(s.ValueSchema, false)
		if err != nil {
			return nil, err
		}
		base = &aschema{typ: "array", items: items}
	case connectors.TypeMap:
		if s.ValueSchema == nil {
			return nil, fmt.Errorf("connectavro: map schema %s has no value schema", s)
		}
		key := s.KeySchema
		if key == nil {
			key = connectors.StringSchema()
		}
		if key.Type == connectors.TypeString && !key.Optional {
			values, err := c.convert(s.ValueSchema, false)
			if err != nil {
				return nil, err
			}
			base = &aschema{typ: "map", values: values}
			break
		}
		// Avro maps have string keys: other keys become an array of
		// MapEntry records.
		entry := &aschema{typ: "record", name: mapEntryName, namespace: confluentNamespace}
		if s.Name != "" {
			entry.namespace, entry.name = c.nameOrDefault(s.Name)
			entry.addProp(propInternalType, jsonString(mapEntryName))
		}
		for _, kv := range []struct {
			name   string
			schema *connectors.Schema
		}{{"key", key}, {"value", s.ValueSchema}} {
			f, err := c.field(kv.name, kv.schema, "")
			if err != nil {
				return nil, err
			}
			entry.fields = append(entry.fields, f)
		}
		base = &aschema{typ: "array", items: entry}
	case connectors.TypeStruct:
		switch {
		case isUnionSchema(s):
			u := &aschema{typ: "union"}
			if s.Optional {
				u.members = append(u.members, &aschema{typ: "null"})
			}
			for _, f := range s.Fields {
				m, err := c.convert(nonOptional(f.Schema), true)
				if err != nil {
					return nil, err
				}
				u.members = append(u.members, m)
			}
			return u, nil
		case s.Optional:
			inner, err := c.convert(nonOptional(s), false)
			if err != nil {
				return nil, err
			}
			return &aschema{typ: "union", members: []*aschema{{typ: "null"}, inner}}, nil
		}
		ns, name := c.nameOrDefault(s.Name)
		rec := &aschema{typ: "record", name: name, namespace: ns, doc: s.Parameters[recordDocParam]}
		c.named = append(c.named, namedEntry{s, rec})
		for _, f := range s.Fields {
			if f.Schema == nil {
				return nil, fmt.Errorf("connectavro: struct %s: field %q has no schema", s, f.Name)
			}
			af, err := c.field(f.Name, f.Schema, s.Parameters[fieldDocParamPrefix+f.Name])
			if err != nil {
				return nil, err
			}
			rec.fields = append(rec.fields, af)
		}
		base = rec
	default:
		return nil, fmt.Errorf("connectavro: unsupported schema type %s", s.Type)
	}

	// Connect metadata as connect.* properties, then logical types, then
	// avro* parameters, in AvroData's order.
	if s.Doc != "" {
		base.addProp(propConnectDoc, jsonString(s.Doc))
	}
	if s.Version != 0 {
		base.addProp(propConnectVersion, []byte(strconv.Itoa(s.Version)))
	}
	if params := withoutKey(s.Parameters, fieldDefaultFlag); len(params) > 0 {
		base.addProp(propConnectParameters, connectjson.AppendParameters(nil, params))
	}
	if s.Default != nil {
		if _, flagged := s.Parameters[fieldDefaultFlag]; !flagged {
			def, err := defaultJSON(s, s.Default)
			if err != nil {
				return nil, err
			}
			base.addProp(propConnectDefault, def)
		}
	}
	if s.Name != "" {
		base.addProp(propConnectName, jsonString(s.Name))
	}
	if connectType != "" {
		base.addProp(propConnectType, jsonString(connectType))
	}
	switch s.Name {
	case connectors.DecimalName:
		// Decimals that Avro's logical type cannot describe (a negative
		// scale, or one above the precision) keep only the logicalType
		// property, as AvroData's legacy form.
		base.addProp("logicalType", jsonString("decimal"))
	case connectors.TimeName:
		base.addProp("logicalType", jsonString("time-millis"))
	case connectors.TimestampName:
		base.addProp("logicalType", jsonString("timestamp-millis"))
	case connectors.DateName:
		base.addProp("logicalType", jsonString("date"))
	}
	for _, k := range sortedKeys(s.Parameters) {
		if strings.HasPrefix(k, "avro") {
			base.addProp(k, jsonString(s.Parameters[k]))
		}
	}
	if !s.Optional {
		if base.typ != "record" && base.typ != "fixed" { // those are registered before their fields
			c.named = append(c.named, namedEntry{s, base})
		}
		return base, nil
	}
	if ignoreOptional {
		return base, nil
	}
	if s.Default != nil {
		return &aschema{typ: "union", members: []*aschema{base, {typ: "null"}}}, nil
	}
	return &aschema{typ: "union", members: []*aschema{{typ: "null"}, base}}, nil
}

// field converts a struct field (AvroData.addAvroRecordField): a field
// whose schema has a default gets it as the Avro field default, an optional
// one without a default gets null.
func (c *fromConnectCtx) field(name string, s *connectors.Schema, doc string) (afield, error) {
	t, err := c.convert(s, false)
	if err != nil {
		return afield{}, fmt.Errorf("%w (field %q)", err, name)
	}
	f := afield{name: name, typ: t, doc: doc}
	switch {
	case s.Default != nil:
		def, err := defaultJSON(s, s.Default)
		if err != nil {
			return afield{}, fmt.Errorf("connectavro: default of field %q: %w", name, err)
		}
		// Avro requires a default to match the first union branch, which
		// for an optional struct is null; and MapEntry arrays cannot take
		// Connect's [[key, value]] form. AvroData drops such invalid
		// defaults (with a warning); so does Sluice.
		if validFieldDefault(t, def) {
			f.def = def
		}
	case s.Optional:
		f.def = []byte("null")
	}
	return f, nil
}

func validFieldDefault(t *aschema, def []byte) bool {
	if t.typ == "union" {
		t = t.members[0]
		if t.typ == "null" {
			return string(def) == "null"
		}
	}
	if t.typ == "array" && t.items.typ == "record" && t.items.name == mapEntryName {
		return false
	}
	return true
}

func withoutKey(m map[string]string, key string) map[string]string {
	if _, ok := m[key]; !ok {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// defaultJSON writes a Connect default value in Avro's JSON default form
// (AvroData.defaultValueFromConnect): logical values as their underlying
// numbers or bytes, bytes as a string of code points 0-255.
func defaultJSON(s *connectors.Schema, v any) ([]byte, error) {
	return appendDefault(nil, s, v)
}

func appendDefault(dst []byte, s *connectors.Schema, v any) ([]byte, error) {
	if v == nil {
		return append(dst, "null"...), nil
	}
	bad := func() error {
		return fmt.Errorf("connectavro: default %v (%T) does not fit schema %s", v, v, s)
	}
	switch s.Name {
	case connectors.DecimalName:
		r, ok := v.(*big.Rat)
		if !ok {
			return dst, bad()
		}
		scale, err := connectjson.DecimalScale(s.Parameters)
		if err != nil {
			return dst, err
		}
		unscaled, err := connectjson.DecimalUnscaled(r, scale)
		if err != nil {
			return dst, err
		}
		return appendLatin1(dst, connectjson.AppendTwosComplement(nil, unscaled)), nil
	case connectors.DateName, connectors.TimeName, connectors.TimestampName:
		t, ok := v.(time.Time)
		if !ok {
			return dst, bad()
		}
		switch s.Name {
		case connectors.DateName:
			d, err := connectjson.DateDays(t)
			if err != nil {
				return dst, err
			}
			return strconv.AppendInt(dst, int64(d), 10), nil
		case connectors.TimeName:
			ms, err := connectjson.TimeMillis(t)
			if err != nil {
				return dst, err
			}
			return strconv.AppendInt(dst, int64(ms), 10), nil
		}
		return strconv.AppendInt(dst, connectjson.TimestampMillis(t), 10), nil
	}
	switch s.Type {
	case connectors.TypeInt8, connectors.TypeInt16, connectors.TypeInt32, connectors.TypeInt64:
		n, ok := toInt64(v)
		if !ok {
			return dst, bad()
		}
		return strconv.AppendInt(dst, n, 10), nil
	case connectors.TypeFloat32:
		switch f := v.(type) {
		case float32:
			return connectjson.AppendFloat32(dst, f), nil
		case float64:
			return connectjson.AppendFloat32(dst, float32(f)), nil
		}
		return dst, bad()
	case connectors.TypeFloat64:
		switch f := v.(type) {
		case float64:
			return connectjson.AppendFloat64(dst, f), nil
		case float32:
			return connectjson.AppendFloat64(dst, float64(f)), nil
		}
		return dst, bad()
	case connectors.TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return dst, bad()
		}
		return strconv.AppendBool(dst, b), nil
	case connectors.TypeString:
		str, ok := v.(string)
		if !ok {
			return dst, bad()
		}
		return connectjson.AppendString(dst, str), nil
	case connectors.TypeBytes:
		b, ok := v.([]byte)
		if !ok {
			return dst, bad()
		}
		return appendLatin1(dst, b), nil
	case connectors.TypeArray:
		arr, ok := v.([]any)
		if !ok {
			return dst, bad()
		}
		dst = append(dst, '[')
		var err error
		for i, e := range arr {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendDefault(dst, s.ValueSchema, e); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case connectors.TypeMap:
		m, ok := v.(map[string]any)
		if !ok {
			return dst, bad()
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		stringKeys := s.KeySchema == nil || s.KeySchema.Type == connectors.TypeString && !s.KeySchema.Optional
		if stringKeys {
			dst = append(dst, '{')
		} else {
			dst = append(dst, '[')
		}
		var err error
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			if stringKeys {
				dst = connectjson.AppendString(dst, k)
				dst = append(dst, ':')
			} else {
				key, err := connectjson.ParseMapKey(s.KeySchema, k)
				if err != nil {
					return dst, err
				}
				dst = append(dst, '[')
				if dst, err = appendDefault(dst, s.KeySchema, key); err != nil {
					return dst, err
				}
				dst = append(dst, ',')
			}
			if dst, err = appendDefault(dst, s.ValueSchema, m[k]); err != nil {
				return dst, err
			}
			if !stringKeys {
				dst = append(dst, ']')
			}
		}
		if stringKeys {
			return append(dst, '}'), nil
		}
		return append(dst, ']'), nil
	case connectors.TypeStruct:
		st, ok := v.(*connectors.Struct)
		if !ok {
			return dst, bad()
		}
		if isUnionSchema(s) {
			// A union's default is its set member's value.
			for i, f := range s.Fields {
				if x := st.At(i); x != nil {
					return appendDefault(dst, f.Schema, x)
				}
			}
			return append(dst, "null"...), nil
		}
		dst = append(dst, '{')
		var err error
		for i, f := range s.Fields {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = connectjson.AppendString(dst, f.Name)
			dst = append(dst, ':')
			fv := st.At(i)
			if fv == nil {
				fv = f.Schema.Default
			}
			if dst, err = appendDefault(dst, f.Schema, fv); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	}
	return dst, bad()
}

// appendLatin1 writes bytes as Avro's JSON default form of bytes: a string
// whose code points 0-255 are the byte values.
func appendLatin1(dst, b []byte) []byte {
	runes := make([]rune, len(b))
	for i, c := range b {
		runes[i] = rune(c)
	}
	return connectjson.AppendString(dst, string(runes))
}

// write serializes the model as Avro Java's Schema.toString does.
type schemaWriter struct {
	buf     []byte
	written map[*aschema]bool // named types already written in full
	space   string            // the enclosing namespace
}

func (w *schemaWriter) schema(a *aschema) {
	switch a.typ {
	case "union":
		w.buf = append(w.buf, '[')
		for i, m := range a.members {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.schema(m)
		}
		w.buf = append(w.buf, ']')
		return
	case "record", "fixed":
		if w.written[a] {
			name := a.fullName()
			if a.namespace == w.space {
				name = a.name
			}
			w.buf = connectjson.AppendString(w.buf, name)
			return
		}
		w.written[a] = true
	default:
		if len(a.props) == 0 && a.items == nil && a.values == nil {
			w.buf = connectjson.AppendString(w.buf, a.typ)
			return
		}
	}
	w.buf = append(w.buf, `{"type":`...)
	w.buf = connectjson.AppendString(w.buf, a.typ)
	switch a.typ {
	case "record", "fixed":
		w.buf = append(w.buf, `,"name":`...)
		w.buf = connectjson.AppendString(w.buf, a.name)
		if a.namespace != w.space {
			w.buf = append(w.buf, `,"namespace":`...)
			w.buf = connectjson.AppendString(w.buf, a.namespace)
		}
		if a.doc != "" {
			w.buf = append(w.buf, `,"doc":`...)
			w.buf = connectjson.AppendString(w.buf, a.doc)
		}
		if a.typ == "fixed" {
			w.buf = append(w.buf, `,"size":`...)
			w.buf = strconv.AppendInt(w.buf, int64(a.size), 10)
			break
		}
		saved := w.space
		w.space = a.namespace
		w.buf = append(w.buf, `,"fields":[`...)
		for i, f := range a.fields {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = append(w.buf, `{"name":`...)
			w.buf = connectjson.AppendString(w.buf, f.name)
			w.buf = append(w.buf, `,"type":`...)
			w.schema(f.typ)
			if f.doc != "" {
				w.buf = append(w.buf, `,"doc":`...)
				w.buf = connectjson.AppendString(w.buf, f.doc)
			}
			if f.def != nil {
				w.buf = append(w.buf, `,"default":`...)
				w.buf = append(w.buf, f.def...)
			}
			w.buf = append(w.buf, '}')
		}
		w.buf = append(w.buf, ']')
		w.space = saved
	case "array":
		w.buf = append(w.buf, `,"items":`...)
		w.schema(a.items)
	case "map":
		w.buf = append(w.buf, `,"values":`...)
		w.schema(a.values)
	}
	for _, p := range a.props {
		w.buf = append(w.buf, ',')
		w.buf = connectjson.AppendString(w.buf, p.key)
		w.buf = append(w.buf, ':')
		w.buf = append(w.buf, p.val...)
	}
	w.buf = append(w.buf, '}')
}

// fromConnect returns the Avro schema text for a Connect schema.
func fromConnect(s *connectors.Schema) (string, error) {
	ctx := &fromConnectCtx{}
	a, err := ctx.convert(s, false)
	if err != nil {
		return "", err
	}
	w := schemaWriter{written: map[*aschema]bool{}}
	w.schema(a)
	return string(w.buf), nil
}
