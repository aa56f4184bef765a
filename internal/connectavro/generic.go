package connectavro

import (
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
)

// hamba/avro's generic representation, as its generic decoder produces it
// and its encoder accepts it: records as map[string]any, int as int, long
// as int64, float as float32, double as float64, bytes as []byte, fixed as
// [size]byte, enums as strings, date and timestamp-millis as time.Time,
// time-millis as time.Duration, decimals as *big.Rat, and every union value
// as map[string]any{"<branch name>": value} (nil for null), branch names
// being full names of named types and "type.logicalType" otherwise.

func (n *node) toGeneric(v any) (any, error) {
	if v == nil && n.cs.Default != nil {
		v = n.cs.Default
	}
	switch n.kind {
	case kOptional:
		if v == nil {
			return nil, nil
		}
		g, err := n.inner.toGeneric(v)
		if err != nil {
			return nil, err
		}
		return map[string]any{n.inner.genName: g}, nil
	case kUnion:
		if v == nil && n.null >= 0 {
			return nil, nil
		}
	}
	if v == nil {
		return nil, valueErrorf("%w: null for required schema %s without a default", connectors.ErrSchemaMismatch, n.cs)
	}
	switch n.kind {
	case kInt, kLong:
		i, err := n.integer(v)
		if err != nil {
			return nil, err
		}
		if n.kind == kInt {
			return int(i), nil
		}
		return i, nil
	case kFloat, kDouble:
		return n.floatValue(v)
	case kBool, kString, kBytes:
		if _, err := n.encode(nil, v); err != nil { // type check
			return nil, err
		}
		return v, nil
	case kEnum:
		s, ok := v.(string)
		if !ok {
			return nil, typeErr(n, v)
		}
		if _, ok := n.symIdx[s]; !ok {
			return nil, valueErrorf("%q is not a symbol of enum %s", s, n.genName)
		}
		return s, nil
	case kFixed:
		b, ok := v.([]byte)
		if !ok {
			return nil, typeErr(n, v)
		}
		if len(b) != n.size {
			return nil, valueErrorf("%d bytes for a fixed of size %d", len(b), n.size)
		}
		if n.fixedT == nil {
			return nil, valueErrorf("a fixed of size %d is too large for the generic form", n.size)
		}
		arr := reflect.New(n.fixedT).Elem()
		reflect.Copy(arr, reflect.ValueOf(b))
		return arr.Interface(), nil
	case kDecimalBytes, kDecimalFixed:
		r, ok := v.(*big.Rat)
		if !ok {
			return nil, typeErr(n, v)
		}
		if _, err := n.encode(nil, r); err != nil { // scale and size checks
			return nil, err
		}
		return r, nil
	case kDate, kTimestampMillis:
		if _, err := n.encode(nil, v); err != nil {
			return nil, err
		}
		t := v.(time.Time)
		if n.kind == kTimestampMillis {
			return connectjson.TimestampFromMillis(t.UnixMilli()), nil
		}
		return t.UTC(), nil
	case kTimeMillis:
		t, ok := v.(time.Time)
		if !ok {
			return nil, typeErr(n, v)
		}
		ms, err := connectjson.TimeMillis(t)
		if err != nil {
			return nil, valueErrorf("%v", err)
		}
		return time.Duration(ms) * time.Millisecond, nil
	case kArray:
		return n.convertArray(v, (*node).toGeneric)
	case kMap:
		return n.convertMap(v, (*node).toGeneric)
	case kMapEntries:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, typeErr(n, v)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := make([]any, 0, len(m))
		for _, k := range keys {
			key, err := connectjson.ParseMapKey(n.key.cs, k)
			if err != nil {
				return nil, atPath(valueErrorf("%v", err), "["+strconv.Quote(k)+"]")
			}
			gk, err := n.key.toGeneric(key)
			if err != nil {
				return nil, atPath(err, "["+strconv.Quote(k)+"]")
			}
			gv, err := n.elem.toGeneric(m[k])
			if err != nil {
				return nil, atPath(err, "["+strconv.Quote(k)+"]")
			}
			out = append(out, map[string]any{"key": gk, "value": gv})
		}
		return out, nil
	case kRecord:
		st, ok := v.(*connectors.Struct)
		if !ok {
			return nil, typeErr(n, v)
		}
		if st.Schema() != n.cs && !connectors.SameSchema(st.Schema(), n.cs) {
			return nil, valueErrorf("%w: struct of schema %s where schema %s is wanted", connectors.ErrSchemaMismatch, st.Schema(), n.cs)
		}
		out := make(map[string]any, len(n.fields))
		for i := range n.fields {
			f := &n.fields[i]
			g, err := f.node.toGeneric(st.At(f.index))
			if err != nil {
				return nil, atPath(err, "."+f.name)
			}
			out[f.name] = g
		}
		return out, nil
	case kUnion:
		st, ok := v.(*connectors.Struct)
		if !ok {
			return nil, typeErr(n, v)
		}
		for _, m := range n.members {
			if mv := st.At(m.field); mv != nil {
				g, err := m.node.toGeneric(mv)
				if err != nil {
					return nil, atPath(err, "."+n.cs.Fields[m.field].Name)
				}
				return map[string]any{m.node.genName: g}, nil
			}
		}
		if n.null >= 0 {
			return nil, nil
		}
		return nil, valueErrorf("union struct %s has no member set", n.cs)
	}
	return nil, valueErrorf("internal error: unknown node kind %d", n.kind)
}

// unwrapUnion returns the value of a generic union map{"branch": value}
// when v is one with a known branch name.
func unwrapUnion(v any, names ...string) (any, string, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return nil, "", false
	}
	for k, x := range m {
		if k == "null" {
			return nil, k, true
		}
		if slices.Contains(names, k) {
			return x, k, true
		}
	}
	return nil, "", false
}

func (n *node) fromGeneric(v any) (any, error) {
	switch n.kind {
	case kOptional:
		if v == nil {
			return nil, nil
		}
		if x, _, ok := unwrapUnion(v, n.inner.genName); ok {
			v = x
			if v == nil {
				return nil, nil
			}
		}
		return n.inner.fromGeneric(v)
	case kUnion:
		if v == nil {
			if n.null >= 0 {
				return nil, nil
			}
			break
		}
		names := make([]string, len(n.members))
		for i, m := range n.members {
			names[i] = m.node.genName
		}
		st := connectors.NewStructValue(n.cs)
		if x, name, ok := unwrapUnion(v, names...); ok {
			if name == "null" {
				return nil, nil
			}
			m := n.members[slices.Index(names, name)]
			mv, err := m.node.fromGeneric(x)
			if err != nil {
				return nil, atPath(err, "."+n.cs.Fields[m.field].Name)
			}
			st.Set(m.field, mv)
			return st, nil
		}
		// A bare value: the first member it converts to.
		for _, m := range n.members {
			if mv, err := m.node.fromGeneric(v); err == nil {
				st.Set(m.field, mv)
				return st, nil
			}
		}
		return nil, typeErr(n, v)
	}
	if v == nil {
		if n.cs.Optional {
			return nil, nil
		}
		return nil, valueErrorf("%w: null for required schema %s", connectors.ErrSchemaMismatch, n.cs)
	}
	switch n.kind {
	case kInt, kLong:
		i, err := n.integer(v)
		if err != nil {
			return nil, err
		}
		if n.kind == kInt {
			return intOf(n.cs.Type, i) // in range: integer checked it
		}
		return i, nil
	case kFloat, kDouble:
		return n.floatValue(v)
	case kBool:
		if _, ok := v.(bool); !ok {
			return nil, typeErr(n, v)
		}
		return v, nil
	case kString, kEnum:
		switch s := v.(type) {
		case string:
			return s, nil
		case []byte:
			return string(s), nil
		}
		return nil, typeErr(n, v)
	case kBytes, kFixed:
		switch b := v.(type) {
		case []byte:
			return slices.Clone(b), nil
		case string:
			return []byte(b), nil
		}
		b, err := defaultBytes(v) // [N]byte
		if err != nil {
			return nil, typeErr(n, v)
		}
		return b, nil
	case kDecimalBytes, kDecimalFixed:
		switch r := v.(type) {
		case *big.Rat:
			return new(big.Rat).Set(r), nil
		case big.Rat:
			return new(big.Rat).Set(&r), nil
		case []byte:
			return connectjson.DecimalFromBytes(r, n.scale), nil
		}
		return nil, typeErr(n, v)
	case kDate, kTimestampMillis:
		t, ok := v.(time.Time)
		if !ok {
			if i, isInt := toInt64(v); isInt && !isFloat(v) {
				if n.kind == kDate {
					return connectjson.DateFromDays(int32(i)), nil
				}
				return connectjson.TimestampFromMillis(i), nil
			}
			return nil, typeErr(n, v)
		}
		return t.UTC(), nil
	case kTimeMillis:
		switch t := v.(type) {
		case time.Duration:
			return connectjson.TimeFromMillis(int32(t / time.Millisecond)), nil
		case time.Time:
			return t.UTC(), nil
		}
		if i, ok := toInt64(v); ok && !isFloat(v) {
			return connectjson.TimeFromMillis(int32(i)), nil
		}
		return nil, typeErr(n, v)
	case kArray:
		return n.convertArray(v, (*node).fromGeneric)
	case kMap:
		return n.convertMap(v, (*node).fromGeneric)
	case kMapEntries:
		arr, ok := v.([]any)
		if !ok {
			return nil, typeErr(n, v)
		}
		out := make(map[string]any, len(arr))
		for i, e := range arr {
			entry, ok := e.(map[string]any)
			if !ok {
				return nil, atPath(valueErrorf("map entry is %T, want a record", e), "["+strconv.Itoa(i)+"]")
			}
			k, err := n.key.fromGeneric(entry["key"])
			if err != nil {
				return nil, atPath(err, "["+strconv.Itoa(i)+"].key")
			}
			ks, err := connectjson.FormatMapKey(n.key.cs, k)
			if err != nil {
				return nil, atPath(valueErrorf("%v", err), "["+strconv.Itoa(i)+"].key")
			}
			x, err := n.elem.fromGeneric(entry["value"])
			if err != nil {
				return nil, atPath(err, "["+strconv.Quote(ks)+"]")
			}
			out[ks] = x
		}
		return out, nil
	case kRecord:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, typeErr(n, v)
		}
		st := connectors.NewStructValue(n.cs)
		for i := range n.fields {
			f := &n.fields[i]
			x, err := f.node.fromGeneric(m[f.name])
			if err != nil {
				return nil, atPath(err, "."+f.name)
			}
			st.Set(f.index, x)
		}
		return st, nil
	}
	return nil, valueErrorf("internal error: unknown node kind %d", n.kind)
}

// convertArray converts the items of an array value with conv (toGeneric
// or fromGeneric), for an array node.
func (n *node) convertArray(v any, conv func(*node, any) (any, error)) (any, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, typeErr(n, v)
	}
	out := make([]any, len(arr))
	for i, e := range arr {
		x, err := conv(n.elem, e)
		if err != nil {
			return nil, atPath(err, "["+strconv.Itoa(i)+"]")
		}
		out[i] = x
	}
	return out, nil
}

// convertMap converts the values of a map value with conv (toGeneric or
// fromGeneric), for a map node.
func (n *node) convertMap(v any, conv func(*node, any) (any, error)) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, typeErr(n, v)
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		x, err := conv(n.elem, e)
		if err != nil {
			return nil, atPath(err, "["+strconv.Quote(k)+"]")
		}
		out[k] = x
	}
	return out, nil
}
