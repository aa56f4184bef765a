package transforms

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/javafmt"
)

func castInfo(s side) connectors.Info {
	return connectors.Info{
		Summary: "Cast fields of the record " + s.String() + ", or the whole " + s.String() + ", to another primitive type.",
		Doc: "Kafka Connect's Cast" + s.suffix() + ". spec is either field:type pairs (for a struct with a schema or a map without one) or a single type for the whole " + s.String() + ". " +
			"Targets: int8, int16, int32, int64, float32, float64, boolean, string. Sources: those types and bytes (bytes cast only to string, as base64). " +
			"Conversions follow Java, as in Kafka Connect: narrowing integers wraps (300 as int8 is 44), floats truncate toward zero and saturate, a number is true when its integer part is not 0, a string is true only when it is \"true\" (any case), " +
			"strings parse strictly (\"1.5\" does not cast to int32), numbers cast to string as Java writes them (42.0, 1.0E10). " +
			"Date, Time and Timestamp fields cast to numbers as their encoded values (days, milliseconds of the day, epoch milliseconds) and to strings in ISO 8601 (yyyy-MM-dd, HH:mm:ss.SSS'Z' or yyyy-MM-dd'T'HH:mm:ss.SSS'Z', by value, in UTC); decimals cast like Java's BigDecimal. " +
			"A cast field keeps its optionality and its default (cast too); fields named in spec but absent from a schema are ignored. Records whose " + s.String() + " is null pass through unchanged. " +
			"Casting the whole value of a logical type (say a Timestamp to int64) drops the logical type's name, which Kafka Connect keeps by mistake.",
		Spec: connectors.Spec{
			Fields: []connectors.ConfigField{
				{Name: "spec", Type: connectors.FieldList, Required: true, Check: checkCastSpec,
					Doc: "Fields and the types to cast them to, as field1:type,field2:type (struct or map values), or a single type to cast the entire value. Valid types are int8, int16, int32, int64, float32, float64, boolean and string; bytes can only be cast to string."},
				replaceNullField,
			},
		},
		Example: "transforms: types\ntransforms.types.type: Cast" + s.suffix() + "\ntransforms.types.spec: amount:float64,quantity:int32,id:string\n",
	}
}

func checkCastSpec(v any) error {
	_, _, err := parseCastSpec(v.([]string))
	return err
}

var castTargets = []connectors.Type{
	connectors.TypeInt8, connectors.TypeInt16, connectors.TypeInt32, connectors.TypeInt64,
	connectors.TypeFloat32, connectors.TypeFloat64, connectors.TypeBoolean, connectors.TypeString,
}

func parseCastTarget(s string) (connectors.Type, error) {
	t, err := connectors.ParseType(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid type %q (want int8, int16, int32, int64, float32, float64, boolean or string)", strings.TrimSpace(s))
	}
	for _, ok := range castTargets {
		if t == ok {
			return t, nil
		}
	}
	return 0, fmt.Errorf("cannot cast to %s (supported: int8, int16, int32, int64, float32, float64, boolean, string)", t)
}

// parseCastSpec returns per-field casts, or a whole-value cast (whole > 0).
func parseCastSpec(spec []string) (fields map[string]connectors.Type, whole connectors.Type, err error) {
	if len(spec) == 0 {
		return nil, 0, errors.New("must specify at least one field to cast")
	}
	fields = map[string]connectors.Type{}
	for _, m := range spec {
		parts := strings.Split(m, ":")
		switch len(parts) {
		case 1:
			if len(spec) > 1 {
				return nil, 0, fmt.Errorf("%q casts the entire value, so it must be the only entry of spec", m)
			}
			whole, err = parseCastTarget(parts[0])
			if err != nil {
				return nil, 0, err
			}
		case 2:
			name := strings.TrimSpace(parts[0])
			if name == "" {
				return nil, 0, fmt.Errorf("invalid cast %q: empty field name", m)
			}
			t, err := parseCastTarget(parts[1])
			if err != nil {
				return nil, 0, fmt.Errorf("field %q: %v", name, err)
			}
			fields[name] = t
		default:
			return nil, 0, fmt.Errorf("invalid cast %q (want field:type)", m)
		}
	}
	return fields, whole, nil
}

type cast struct {
	id          ident
	side        side
	fields      map[string]connectors.Type
	whole       connectors.Type // 0: per-field casts
	withDefault bool
	cache       planCache[*castPlan]
}

// castOp casts one field; a nil *castOp copies it unchanged.
type castOp struct {
	target  connectors.Type
	logical string // the input's logical type name, if any
	scale   int    // the input decimal's scale, noScale if none
	err     error  // the input type cannot be cast: fails non-null values
}

type castPlan struct {
	out   *connectors.Schema
	ops   []*castOp // by field index; for a whole-value cast, ops[0]
	whole *castOp
}

func newCast(s side, cfg *connectors.Config) (connectors.Transform, error) {
	fields, whole, err := parseCastSpec(cfg.List("spec"))
	if err != nil {
		return nil, connectors.Errorf(cfg.Key("spec"), "%v", err)
	}
	return &cast{id: newIdent("Cast"+s.suffix(), cfg), side: s, fields: fields, whole: whole,
		withDefault: cfg.Bool("replace.null.with.default")}, nil
}

func isLogical(name string) bool {
	switch name {
	case connectors.DecimalName, connectors.DateName, connectors.TimeName, connectors.TimestampName:
		return true
	}
	return false
}

func newCastOp(in *connectors.Schema, target connectors.Type) *castOp {
	op := &castOp{target: target, scale: noScale}
	if isLogical(in.Name) {
		op.logical = in.Name
		if in.Name == connectors.DecimalName {
			op.scale = decimalScale(in)
		}
	}
	if !in.Type.IsPrimitive() {
		op.err = fmt.Errorf("cannot cast from %s (Cast supports int8, int16, int32, int64, float32, float64, boolean, string and bytes)", in.Type)
	}
	return op
}

// castSchema is the schema of a cast value: the target type, with the
// input's optionality and its default cast.
func castSchema(in *connectors.Schema, op *castOp) (*connectors.Schema, error) {
	out := &connectors.Schema{Type: op.target, Optional: in.Optional}
	if in.Default != nil {
		d, err := op.apply(in.Default)
		if err != nil {
			return nil, fmt.Errorf("default value: %w", err)
		}
		out.Default = d
	}
	return out, nil
}

func (t *cast) derive(in *connectors.Schema) (*castPlan, error) {
	if t.whole != 0 {
		op := newCastOp(in, t.whole)
		out, err := castSchema(in, op)
		if err != nil {
			return nil, err
		}
		if !isLogical(in.Name) {
			// Kafka Connect's copySchemaBasics: keep name, version, doc,
			// parameters (but not a logical type's, which would re-type
			// the value).
			out.Name, out.Version, out.Doc, out.Parameters = in.Name, in.Version, in.Doc, in.Parameters
		}
		return &castPlan{out: out, whole: op}, nil
	}
	if in.Type != connectors.TypeStruct {
		return nil, fmt.Errorf("casting fields needs a struct, got schema %s", in)
	}
	out := structBasics(in)
	out.Optional = in.Optional
	p := &castPlan{out: out, ops: make([]*castOp, len(in.Fields))}
	for i, f := range in.Fields {
		target, ok := t.fields[f.Name]
		if !ok {
			out.Fields = append(out.Fields, f)
			continue
		}
		op := newCastOp(f.Schema, target)
		fs, err := castSchema(f.Schema, op)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		p.ops[i] = op
		out.Fields = append(out.Fields, connectors.Field{Name: f.Name, Schema: fs})
	}
	out.Finish()
	if in.Default != nil {
		st, ok := in.Default.(*connectors.Struct)
		if !ok {
			return nil, fmt.Errorf("the struct schema's default is %s, not a struct", describe(in.Default))
		}
		d, err := p.castStruct(st, true)
		if err != nil {
			return nil, fmt.Errorf("default value: %w", err)
		}
		out.Default = d
	}
	return p, nil
}

func (p *castPlan) castStruct(st *connectors.Struct, withDefault bool) (*connectors.Struct, error) {
	in := st.Schema()
	out := connectors.NewStructValue(p.out)
	for i := range in.Fields {
		f := &in.Fields[i]
		v := fieldValue(st, f, withDefault)
		if op := p.ops[i]; op != nil {
			c, err := op.apply(v)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
			v = c
		}
		out.Set(i, v)
	}
	return out, nil
}

func (t *cast) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	schema, v := t.side.get(rec)
	if v == nil {
		return append(dst, rec), nil
	}
	if schema == nil {
		if t.whole != 0 {
			c, err := castValue(v, t.whole, "", noScale)
			if err != nil {
				return dst, t.id.wrap(rec, err)
			}
			t.side.set(rec, nil, c)
			return append(dst, rec), nil
		}
		m, err := requireMap(v, "casting fields")
		if err != nil {
			return dst, t.id.wrap(rec, err)
		}
		out := copyMap(m, len(t.fields))
		for name, target := range t.fields {
			c, err := castValue(m[name], target, "", noScale)
			if err != nil {
				return dst, t.id.wrap(rec, fmt.Errorf("field %q: %w", name, err))
			}
			// Like Kafka Connect, a field missing from the map is added
			// as null.
			out[name] = c
		}
		t.side.set(rec, nil, out)
		return append(dst, rec), nil
	}
	p, err := t.cache.get(schema, t.derive)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	if p.whole != nil {
		c, err := p.whole.apply(v)
		if err != nil {
			return dst, t.id.wrap(rec, err)
		}
		t.side.set(rec, p.out, c)
		return append(dst, rec), nil
	}
	st, err := requireStruct(schema, v, "casting fields")
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	out, err := p.castStruct(st, t.withDefault)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	t.side.set(rec, p.out, out)
	return append(dst, rec), nil
}

func (op *castOp) apply(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if op.err != nil {
		return nil, op.err
	}
	return castValue(v, op.target, op.logical, op.scale)
}

// castValue converts v to target as Kafka Connect's Cast does (Java
// semantics). logical is the input's logical type name ("" if none) and
// scale a decimal input's scale.
func castValue(v any, target connectors.Type, logical string, scale int) (any, error) {
	if v == nil {
		return nil, nil
	}
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			v = i
		} else if f, err := n.Float64(); err == nil {
			v = f
		} else {
			return nil, fmt.Errorf("cannot cast the number %s", n)
		}
	}
	if tm, ok := v.(time.Time); ok && target != connectors.TypeString {
		// Logical types cast as their encoded values.
		switch logical {
		case connectors.DateName:
			v = int32(floorDiv(tm.UnixMilli(), millisPerDay))
		case connectors.TimeName:
			v = int32(tm.UnixMilli() - floorDiv(tm.UnixMilli(), millisPerDay)*millisPerDay)
		default:
			v = tm.UnixMilli()
		}
	}
	switch target {
	case connectors.TypeInt8, connectors.TypeInt16, connectors.TypeInt32, connectors.TypeInt64:
		return castToInt(v, target)
	case connectors.TypeFloat32, connectors.TypeFloat64:
		f, err := castToFloat(v, target)
		if err != nil {
			return nil, err
		}
		if target == connectors.TypeFloat32 {
			return float32(f), nil
		}
		return f, nil
	case connectors.TypeBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			return strings.EqualFold(x, "true"), nil
		case float32:
			return javaFloatToInt64(float64(x)) != 0, nil
		case float64:
			return javaFloatToInt64(x) != 0, nil
		case *big.Rat:
			return ratLow64(x) != 0, nil
		}
		if i, ok := asInt64(v); ok {
			return i != 0, nil
		}
	case connectors.TypeString:
		switch x := v.(type) {
		case string:
			return x, nil
		case bool:
			return strconv.FormatBool(x), nil
		case float32:
			return javafmt.Float(x), nil
		case float64:
			return javafmt.Double(x), nil
		case []byte:
			return base64.StdEncoding.EncodeToString(x), nil
		case *big.Rat:
			return string(appendJavaDecimal(nil, x, scale)), nil
		case time.Time:
			return string(appendJavaDate(nil, x)), nil
		}
		if i, ok := asInt64(v); ok {
			return strconv.FormatInt(i, 10), nil
		}
	}
	return nil, unsupportedCast(v, target)
}

func unsupportedCast(v any, target connectors.Type) error {
	switch v.(type) {
	case []byte:
		return fmt.Errorf("cannot cast bytes to %s (bytes can only be cast to string)", target)
	case map[string]any, []any, *connectors.Struct:
		return fmt.Errorf("cannot cast from %s (Cast supports int8, int16, int32, int64, float32, float64, boolean, string and bytes)", describe(v))
	}
	return fmt.Errorf("cannot cast %s to %s", describe(v), target)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// asInt64 widens Go's integer types.
func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case int:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), true
	case uint:
		return int64(x), true
	}
	return 0, false
}

// javaFloatToInt64 is Java's (long) cast of a double: truncation toward
// zero, saturating, NaN to 0.
func javaFloatToInt64(f float64) int64 {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// javaFloatToInt32 is Java's (int) cast of a double.
func javaFloatToInt32(f float64) int32 {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt32:
		return math.MaxInt32
	case f <= math.MinInt32:
		return math.MinInt32
	}
	return int32(f)
}

var mask64 = new(big.Int).SetUint64(math.MaxUint64)

// ratLow64 is Java's BigDecimal.longValue: the integer part (truncated
// toward zero), keeping its low 64 bits.
func ratLow64(r *big.Rat) int64 {
	i := new(big.Int).Quo(r.Num(), r.Denom())
	if i.IsInt64() {
		return i.Int64()
	}
	return int64(new(big.Int).And(i, mask64).Uint64())
}

func narrow(i int64, target connectors.Type) any {
	switch target {
	case connectors.TypeInt8:
		return int8(i)
	case connectors.TypeInt16:
		return int16(i)
	case connectors.TypeInt32:
		return int32(i)
	}
	return i
}

func intBits(t connectors.Type) int {
	switch t {
	case connectors.TypeInt8:
		return 8
	case connectors.TypeInt16:
		return 16
	case connectors.TypeInt32:
		return 32
	}
	return 64
}

func castToInt(v any, target connectors.Type) (any, error) {
	switch x := v.(type) {
	case bool:
		if x {
			return narrow(1, target), nil
		}
		return narrow(0, target), nil
	case string:
		i, err := strconv.ParseInt(x, 10, intBits(target))
		if err != nil {
			return nil, fmt.Errorf("cannot cast %q to %s: not a whole number in its range", x, target)
		}
		return narrow(i, target), nil
	case float32:
		if target == connectors.TypeInt64 {
			return javaFloatToInt64(float64(x)), nil
		}
		return narrow(int64(javaFloatToInt32(float64(x))), target), nil
	case float64:
		if target == connectors.TypeInt64 {
			return javaFloatToInt64(x), nil
		}
		return narrow(int64(javaFloatToInt32(x)), target), nil
	case *big.Rat:
		return narrow(ratLow64(x), target), nil
	}
	if i, ok := asInt64(v); ok {
		return narrow(i, target), nil
	}
	return nil, unsupportedCast(v, target)
}

func castToFloat(v any, target connectors.Type) (float64, error) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		bits := 64
		if target == connectors.TypeFloat32 {
			bits = 32
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(x), bits)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("cannot cast %q to %s: not a number", x, target)
		}
		return f, nil
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	case *big.Rat:
		if target == connectors.TypeFloat32 {
			f, _ := x.Float32()
			return float64(f), nil
		}
		f, _ := x.Float64()
		return f, nil
	}
	if i, ok := asInt64(v); ok {
		if target == connectors.TypeFloat32 {
			return float64(float32(i)), nil
		}
		return float64(i), nil
	}
	return 0, unsupportedCast(v, target)
}

// javaBigDecimalSyntax is the syntax of Java's new BigDecimal(String).
var javaBigDecimalSyntax = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)

// parseJavaDecimal parses a number as Java's new BigDecimal(String).
func parseJavaDecimal(s string) (*big.Rat, bool) {
	if !javaBigDecimalSyntax.MatchString(s) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}
