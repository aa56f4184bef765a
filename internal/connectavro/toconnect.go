package connectavro

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"

	havro "github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
)

// toConnectCtx converts one Avro schema to Connect, as
// AvroData.toConnectSchema (with connect.meta.data=true and
// enhanced.avro.schema.support=false, Confluent's defaults).
type toConnectCtx struct {
	stack []havro.NamedSchema // records being converted, to refuse recursion
}

func deref(s havro.Schema) havro.Schema {
	if r, ok := s.(*havro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

func propsOf(s havro.Schema) map[string]any {
	if p, ok := s.(interface{ Props() map[string]any }); ok {
		return p.Props()
	}
	return nil
}

func logicalOf(s havro.Schema) havro.LogicalSchema {
	if l, ok := s.(havro.LogicalTypeSchema); ok {
		if ls := l.Logical(); ls != nil {
			return ls
		}
	}
	return nil
}

// logicalName is the schema's logical type: parsed by hamba, or left as a
// property when hamba refused its attributes (a decimal whose scale
// exceeds its precision, AvroData's legacy form).
func logicalName(s havro.Schema) string {
	if ls := logicalOf(s); ls != nil {
		return string(ls.Type())
	}
	if lt, ok := propsOf(s)["logicalType"].(string); ok {
		return lt
	}
	return ""
}

// decimalScale is a decimal schema's scale (0 when absent, as in Avro).
func decimalScale(s havro.Schema) (int, bool) {
	if d, ok := logicalOf(s).(*havro.DecimalLogicalSchema); ok {
		return d.Scale(), true
	}
	if f, ok := propsOf(s)["scale"].(float64); ok {
		return int(f), true
	}
	return 0, false
}

func decimalPrecision(s havro.Schema) (int, bool) {
	if d, ok := logicalOf(s).(*havro.DecimalLogicalSchema); ok {
		return d.Precision(), true
	}
	if f, ok := propsOf(s)["precision"].(float64); ok {
		return int(f), true
	}
	return 0, false
}

func (c *toConnectCtx) convert(as havro.Schema, forceOptional bool, fieldDefault any, hasFieldDefault bool, version int) (*connectors.Schema, error) {
	as = deref(as)
	if named, ok := as.(havro.NamedSchema); ok && as.Type() == havro.Record {
		for _, n := range c.stack {
			if n == named {
				return nil, fmt.Errorf("connectavro: record %s refers to itself: recursive schemas are not supported", named.FullName())
			}
		}
		if len(c.stack) >= maxSchemaDepth {
			return nil, fmt.Errorf("connectavro: schema nested deeper than %d levels", maxSchemaDepth)
		}
		c.stack = append(c.stack, named)
		defer func() { c.stack = c.stack[:len(c.stack)-1] }()
	}
	props := propsOf(as)
	logical := logicalName(as)
	s := &connectors.Schema{}
	param := func(k, v string) {
		if s.Parameters == nil {
			s.Parameters = map[string]string{}
		}
		s.Parameters[k] = v
	}
	switch as.Type() {
	case havro.Boolean:
		s.Type = connectors.TypeBoolean
	case havro.Bytes, havro.Fixed:
		s.Type = connectors.TypeBytes
		if strings.EqualFold(logical, "decimal") {
			scale, _ := decimalScale(as)
			d := connectors.DecimalSchema(scale)
			s.Name, s.Version, s.Parameters = d.Name, d.Version, d.Parameters
			if p, ok := decimalPrecision(as); ok && p != defaultPrecision {
				param(paramDecimalPrecision, strconv.Itoa(p))
			}
		}
		if f, ok := as.(*havro.FixedSchema); ok {
			param(paramFixedSize, strconv.Itoa(f.Size()))
		}
	case havro.Double:
		s.Type = connectors.TypeFloat64
	case havro.Float:
		s.Type = connectors.TypeFloat32
	case havro.Int:
		ct, _ := props[propConnectType].(string)
		switch {
		case strings.EqualFold(logical, "date"):
			*s = *connectors.DateSchema()
		case strings.EqualFold(logical, "time-millis"):
			*s = *connectors.TimeSchema()
		case logical != "" || ct == "":
			s.Type = connectors.TypeInt32
		case ct == "int8":
			s.Type = connectors.TypeInt8
		case ct == "int16":
			s.Type = connectors.TypeInt16
		default:
			return nil, fmt.Errorf("connectavro: unknown %s %q on an Avro int", propConnectType, ct)
		}
	case havro.Long:
		if strings.EqualFold(logical, "timestamp-millis") {
			*s = *connectors.TimestampSchema()
		} else {
			s.Type = connectors.TypeInt64
		}
	case havro.String:
		s.Type = connectors.TypeString
	case havro.Array:
		items := deref(as.(*havro.ArraySchema).Items())
		if isMapEntry(items) {
			rec := items.(*havro.RecordSchema)
			key, value := fieldNamed(rec, "key"), fieldNamed(rec, "value")
			if len(rec.Fields()) != 2 || key == nil || value == nil {
				return nil, fmt.Errorf("connectavro: %s is a map encoded as an array of key-value records, but its records do not have exactly the fields key and value", rec.FullName())
			}
			ks, err := (&toConnectCtx{stack: c.stack}).convert(key.Type(), false, nil, false, 0)
			if err != nil {
				return nil, err
			}
			vs, err := (&toConnectCtx{stack: c.stack}).convert(value.Type(), false, nil, false, 0)
			if err != nil {
				return nil, err
			}
			s.Type, s.KeySchema, s.ValueSchema = connectors.TypeMap, ks, vs
			break
		}
		elem, err := c.convert(items, false, nil, false, 0)
		if err != nil {
			return nil, err
		}
		s.Type, s.ValueSchema = connectors.TypeArray, elem
	case havro.Map:
		values, err := c.convert(as.(*havro.MapSchema).Values(), false, nil, false, 0)
		if err != nil {
			return nil, err
		}
		s.Type, s.KeySchema, s.ValueSchema = connectors.TypeMap, connectors.StringSchema(), values
	case havro.Record:
		rec := as.(*havro.RecordSchema)
		s.Type = connectors.TypeStruct
		if rec.Doc() != "" {
			param(recordDocParam, rec.Doc())
		}
		seen := map[string]bool{}
		for _, f := range rec.Fields() {
			if f.Doc() != "" {
				param(fieldDocParamPrefix+f.Name(), f.Doc())
			}
			fs, err := c.convert(f.Type(), false, f.Default(), f.HasDefault(), 0)
			if err != nil {
				return nil, fmt.Errorf("%w (field %s.%s)", err, rec.FullName(), f.Name())
			}
			if seen[f.Name()] {
				return nil, fmt.Errorf("connectavro: record %s has two fields named %q", rec.FullName(), f.Name())
			}
			seen[f.Name()] = true
			s.Fields = append(s.Fields, connectors.Field{Name: f.Name(), Index: len(s.Fields), Schema: fs})
		}
	case havro.Enum:
		en := as.(*havro.EnumSchema)
		s.Type = connectors.TypeString
		if en.Doc() != "" {
			param(enumDocParamPrefix+en.Name(), en.Doc())
		}
		if en.HasDefault() {
			param(enumDefParamPrefix+en.Name(), en.Default())
		}
		param(enumParam, en.FullName())
		for _, sym := range en.Symbols() {
			param(enumParam+"."+sym, sym)
		}
	case havro.Union:
		types := as.(*havro.UnionSchema).Types()
		if len(types) == 2 && (types[0].Type() == havro.Null || types[1].Type() == havro.Null) {
			member := types[0]
			if member.Type() == havro.Null {
				member = types[1]
			}
			if member.Type() != havro.Null {
				// AvroData passes no field default to the member: a
				// default survives through the member's connect.default.
				return c.convert(member, true, nil, false, 0)
			}
		}
		s.Type, s.Name = connectors.TypeStruct, unionName
		seen := map[string]bool{}
		for _, m := range types {
			if m.Type() == havro.Null {
				s.Optional = true
				continue
			}
			name := unionMemberName(m)
			if seen[name] {
				return nil, fmt.Errorf("connectavro: union members map to the same Connect union field %q", name)
			}
			seen[name] = true
			ms, err := c.convert(m, true, nil, false, 0)
			if err != nil {
				return nil, err
			}
			s.Fields = append(s.Fields, connectors.Field{Name: name, Index: len(s.Fields), Schema: ms})
		}
	case havro.Null:
		return nil, errors.New("connectavro: a standalone null schema has no Connect equivalent (null is only allowed in unions)")
	default:
		return nil, fmt.Errorf("connectavro: unsupported Avro type %s", as.Type())
	}

	if doc, ok := props[propConnectDoc].(string); ok {
		s.Doc = doc
	}
	if v, ok := props[propConnectVersion]; ok {
		f, isNum := v.(float64)
		if !isNum || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
			return nil, fmt.Errorf("connectavro: invalid %s %v", propConnectVersion, v)
		}
		s.Version = int(f)
	} else if version > 0 {
		s.Version = version
	}
	if p, ok := props[propConnectParameters]; ok {
		m, isMap := p.(map[string]any)
		if !isMap {
			return nil, fmt.Errorf("connectavro: %s must be an object, got %v", propConnectParameters, p)
		}
		for k, v := range m {
			str, isStr := v.(string)
			if !isStr {
				return nil, fmt.Errorf("connectavro: %s values must be strings, got %v for %q", propConnectParameters, v, k)
			}
			param(k, str)
		}
	}
	for k, v := range props {
		if strings.HasPrefix(k, "avro") {
			if str, ok := v.(string); ok {
				param(k, str)
			} else {
				b, _ := json.Marshal(v)
				param(k, string(b))
			}
		}
	}
	name := ""
	if n, ok := props[propConnectName]; ok {
		str, isStr := n.(string)
		if !isStr {
			return nil, fmt.Errorf("connectavro: invalid %s %v", propConnectName, n)
		}
		name = str
	} else if named, ok := as.(havro.NamedSchema); ok && s.Name == "" {
		// A fixed decimal keeps the logical type's name: AvroData would
		// fail on the mismatch, refusing every fixed decimal not written
		// by itself.
		name = named.FullName()
	}
	if name != "" && !strings.HasPrefix(name, defaultFullName) {
		if s.Name != "" && s.Name != name {
			return nil, fmt.Errorf("connectavro: schema named %q has %s %q", s.Name, propConnectName, name)
		}
		s.Name = name
	}
	if forceOptional {
		s.Optional = true
	}
	s.Finish()

	// Defaults: the Avro field's default wins; otherwise connect.default.
	connectDefault, hasConnectDefault := props[propConnectDefault]
	var def any
	hasDef := false
	switch {
	case hasFieldDefault:
		def, hasDef = fieldDefault, true
		if !hasConnectDefault {
			param(fieldDefaultFlag, "true")
		}
	case hasConnectDefault:
		def, hasDef = connectDefault, true
	}
	if hasDef && def != nil {
		// An invalid default is dropped, as AvroData does (with a warning).
		if v, err := defaultFromAvro(s, as, def); err == nil && v != nil {
			s.Default = v
		}
	}
	return s, nil
}

func fieldNamed(rec *havro.RecordSchema, name string) *havro.Field {
	for _, f := range rec.Fields() {
		if f.Name() == name {
			return f
		}
	}
	return nil
}

func isMapEntry(s havro.Schema) bool {
	rec, ok := s.(*havro.RecordSchema)
	if !ok {
		return false
	}
	if rec.FullName() == confluentNamespace+"."+mapEntryName {
		return true
	}
	t, _ := rec.Prop(propInternalType).(string)
	return t == mapEntryName
}

// unionMemberName is the Connect union field for an Avro union member: a
// record's or enum's short name, otherwise the Avro type name.
func unionMemberName(s havro.Schema) string {
	s = deref(s)
	if named, ok := s.(havro.NamedSchema); ok && (s.Type() == havro.Record || s.Type() == havro.Enum) {
		return named.Name()
	}
	return string(s.Type())
}

// defaultFromAvro converts an Avro default (hamba's parsed field default,
// or the JSON of a connect.default property) to a Connect value of s.
func defaultFromAvro(s *connectors.Schema, as havro.Schema, v any) (any, error) {
	as = deref(as)
	if v == nil {
		return nil, nil
	}
	if u, ok := as.(*havro.UnionSchema); ok {
		first := deref(u.Types()[0])
		if first.Type() == havro.Null {
			return nil, nil
		}
		if isUnionSchema(s) {
			name := unionMemberName(first)
			f, ok := s.Field(name)
			if !ok {
				return nil, fmt.Errorf("no union member %q", name)
			}
			mv, err := defaultFromAvro(f.Schema, first, v)
			if err != nil {
				return nil, err
			}
			st := connectors.NewStructValue(s)
			st.Set(f.Index, mv)
			return st, nil
		}
		return defaultFromAvro(s, first, v)
	}
	var raw any
	switch as.Type() {
	case havro.Int, havro.Long:
		n, ok := toInt64(v)
		if !ok {
			return nil, fmt.Errorf("want a whole number, got %v", v)
		}
		raw = n
	case havro.Float, havro.Double:
		f, ok := toFloat64(v)
		if !ok {
			return nil, fmt.Errorf("want a number, got %v", v)
		}
		raw = f
	case havro.Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("want a boolean, got %v", v)
		}
		raw = b
	case havro.String, havro.Enum:
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %v", v)
		}
		return str, nil
	case havro.Bytes, havro.Fixed:
		b, err := defaultBytes(v)
		if err != nil {
			return nil, err
		}
		raw = b
	case havro.Array:
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want an array, got %v", v)
		}
		if s.Type == connectors.TypeMap { // MapEntry array
			return nil, errors.New("defaults of maps with non-string keys are not supported")
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			x, err := defaultFromAvro(s.ValueSchema, as.(*havro.ArraySchema).Items(), e)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case havro.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("want an object, got %v", v)
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			x, err := defaultFromAvro(s.ValueSchema, as.(*havro.MapSchema).Values(), e)
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	case havro.Record:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("want an object, got %v", v)
		}
		st := connectors.NewStructValue(s)
		for _, af := range as.(*havro.RecordSchema).Fields() {
			f, ok := s.Field(af.Name())
			if !ok {
				continue
			}
			fv, present := m[af.Name()]
			if !present {
				continue
			}
			x, err := defaultFromAvro(f.Schema, af.Type(), fv)
			if err != nil {
				return nil, err
			}
			st.Set(f.Index, x)
		}
		return st, nil
	default:
		return nil, fmt.Errorf("unsupported default for %s", as.Type())
	}
	return logicalFromRaw(s, raw)
}

// logicalFromRaw converts an underlying value (int64, float64, bool,
// []byte) to the Connect value of s, applying logical types.
func logicalFromRaw(s *connectors.Schema, raw any) (any, error) {
	switch s.Name {
	case connectors.DecimalName:
		b, ok := raw.([]byte)
		if !ok {
			return nil, fmt.Errorf("a decimal default must be bytes, got %v", raw)
		}
		scale, err := connectjson.DecimalScale(s.Parameters)
		if err != nil {
			return nil, err
		}
		return connectjson.DecimalFromBytes(b, scale), nil
	case connectors.DateName, connectors.TimeName:
		n, ok := raw.(int64)
		if !ok || n != int64(int32(n)) {
			return nil, fmt.Errorf("want an int32, got %v", raw)
		}
		if s.Name == connectors.DateName {
			return connectjson.DateFromDays(int32(n)), nil
		}
		return connectjson.TimeFromMillis(int32(n)), nil
	case connectors.TimestampName:
		n, ok := raw.(int64)
		if !ok {
			return nil, fmt.Errorf("want an int64, got %v", raw)
		}
		return connectjson.TimestampFromMillis(n), nil
	}
	switch s.Type {
	case connectors.TypeInt8, connectors.TypeInt16, connectors.TypeInt32, connectors.TypeInt64:
		n, ok := raw.(int64)
		if !ok {
			return nil, fmt.Errorf("want a whole number, got %v", raw)
		}
		return intOf(s.Type, n)
	case connectors.TypeFloat32:
		f, _ := raw.(float64)
		return float32(f), nil
	case connectors.TypeFloat64:
		f, _ := raw.(float64)
		return f, nil
	case connectors.TypeBoolean:
		return raw, nil
	case connectors.TypeBytes:
		return raw, nil
	case connectors.TypeString:
		if b, ok := raw.([]byte); ok {
			return string(b), nil
		}
		return raw, nil
	}
	return nil, fmt.Errorf("cannot convert %v to %s", raw, s)
}

// defaultBytes reads a bytes default: hamba's []byte or [N]byte, or the
// JSON string whose code points 0-255 are the bytes.
func defaultBytes(v any) ([]byte, error) {
	switch b := v.(type) {
	case []byte:
		return append([]byte(nil), b...), nil
	case string:
		out := make([]byte, 0, len(b))
		for _, r := range b {
			if r > 255 {
				return nil, fmt.Errorf("bytes default %q has a character above U+00FF", b)
			}
			out = append(out, byte(r))
		}
		return out, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		out := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(out), rv)
		return out, nil
	}
	return nil, fmt.Errorf("want bytes, got %T", v)
}

// intOf returns n as the Go type of an integer schema type, range-checked.
func intOf(t connectors.Type, n int64) (any, error) {
	switch t {
	case connectors.TypeInt8:
		if n < math.MinInt8 || n > math.MaxInt8 {
			return nil, fmt.Errorf("%d is out of range for int8", n)
		}
		return int8(n), nil
	case connectors.TypeInt16:
		if n < math.MinInt16 || n > math.MaxInt16 {
			return nil, fmt.Errorf("%d is out of range for int16", n)
		}
		return int16(n), nil
	case connectors.TypeInt32:
		if n < math.MinInt32 || n > math.MaxInt32 {
			return nil, fmt.Errorf("%d is out of range for int32", n)
		}
		return int32(n), nil
	}
	return n, nil
}

// toInt64 accepts any Go integer, whole floats (JSON numbers) and
// durations (hamba/avro's time-millis).
func toInt64(v any) (int64, bool) {
	if n, ok := connectjson.IntValue(v); ok {
		return n, true
	}
	switch n := v.(type) {
	case float64:
		if n != math.Trunc(n) || n < math.MinInt64 || n >= math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case float32:
		return toInt64(float64(n))
	case time.Duration:
		return int64(n), true
	}
	return 0, false
}

func toFloat64(v any) (float64, bool) {
	switch f := v.(type) {
	case float64:
		return f, true
	case float32:
		return float64(f), true
	case json.Number:
		x, err := f.Float64()
		return x, err == nil
	case *big.Rat:
		x, _ := f.Float64()
		return x, true
	}
	if n, ok := toInt64(v); ok {
		return float64(n), true
	}
	return 0, false
}
