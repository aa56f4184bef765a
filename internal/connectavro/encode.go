package connectavro

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
)

// Avro binary encoding, written directly from Connect values by the
// compiled nodes: no reflection, no intermediate generic values. Arrays and
// maps are written as one block with a positive count, as Java's
// BinaryEncoder (and so Confluent's serializer) writes them; map entries
// are sorted by key so that equal values give equal bytes.

// encodeFields writes a record's fields.
func (n *node) encodeFields(dst []byte, st *connectors.Struct) ([]byte, error) {
	var err error
	for i := range n.fields {
		f := &n.fields[i]
		if dst, err = f.node.encode(dst, st.At(f.index)); err != nil {
			return dst, atPath(err, "."+f.name)
		}
	}
	return dst, nil
}

func appendLong(dst []byte, v int64) []byte {
	u := uint64((v << 1) ^ (v >> 63))
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

func appendBytes(dst, b []byte) []byte {
	dst = appendLong(dst, int64(len(b)))
	return append(dst, b...)
}

func appendStr(dst []byte, s string) []byte {
	dst = appendLong(dst, int64(len(s)))
	return append(dst, s...)
}

func typeErr(n *node, v any) error {
	return valueErrorf("%w: %T does not fit schema %s", connectors.ErrSchemaMismatch, v, n.cs)
}

func (n *node) encode(dst []byte, v any) ([]byte, error) {
	if v == nil && n.cs.Default != nil && n.kind != kOptional {
		v = n.cs.Default
	}
	switch n.kind {
	case kOptional:
		if v == nil {
			if n.cs.Default != nil {
				return n.encode(dst, n.cs.Default)
			}
			return appendLong(dst, int64(n.null)), nil
		}
		dst = appendLong(dst, int64(n.inIdx))
		return n.inner.encode(dst, v)
	}
	if v == nil {
		if n.kind == kUnion && n.null >= 0 {
			return appendLong(dst, int64(n.null)), nil
		}
		return dst, valueErrorf("%w: null for required schema %s without a default", connectors.ErrSchemaMismatch, n.cs)
	}
	switch n.kind {
	case kString:
		s, ok := v.(string)
		if !ok {
			return dst, typeErr(n, v)
		}
		return appendStr(dst, s), nil
	case kInt, kLong:
		i, err := n.integer(v)
		if err != nil {
			return dst, err
		}
		return appendLong(dst, i), nil
	case kDouble:
		f, err := n.float(v)
		if err != nil {
			return dst, err
		}
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f)), nil
	case kFloat:
		f, err := n.float(v)
		if err != nil {
			return dst, err
		}
		return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(f))), nil
	case kBool:
		b, ok := v.(bool)
		if !ok {
			return dst, typeErr(n, v)
		}
		if b {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case kBytes:
		b, ok := v.([]byte)
		if !ok {
			return dst, typeErr(n, v)
		}
		return appendBytes(dst, b), nil
	case kFixed:
		b, ok := v.([]byte)
		if !ok {
			return dst, typeErr(n, v)
		}
		if len(b) != n.size {
			return dst, valueErrorf("%d bytes for a fixed of size %d", len(b), n.size)
		}
		return append(dst, b...), nil
	case kEnum:
		s, ok := v.(string)
		if !ok {
			return dst, typeErr(n, v)
		}
		i, ok := n.symIdx[s]
		if !ok {
			return dst, valueErrorf("%q is not a symbol of enum %s", s, n.genName)
		}
		return appendLong(dst, int64(i)), nil
	case kDecimalBytes, kDecimalFixed:
		r, ok := v.(*big.Rat)
		if !ok {
			return dst, typeErr(n, v)
		}
		var buf [32]byte
		b, err := connectjson.AppendDecimalBytes(buf[:0], r, n.scale)
		if err != nil {
			return dst, valueErrorf("%v", err)
		}
		if n.kind == kDecimalBytes {
			return appendBytes(dst, b), nil
		}
		if len(b) > n.size {
			return dst, valueErrorf("decimal %s needs %d bytes, more than the fixed size %d", r.FloatString(n.scale), len(b), n.size)
		}
		pad := byte(0)
		if b[0]&0x80 != 0 {
			pad = 0xFF
		}
		for range n.size - len(b) {
			dst = append(dst, pad)
		}
		return append(dst, b...), nil
	case kDate, kTimeMillis, kTimestampMillis:
		t, ok := v.(time.Time)
		if !ok {
			return dst, typeErr(n, v)
		}
		switch n.kind {
		case kDate:
			d, err := connectjson.DateDays(t)
			if err != nil {
				return dst, valueErrorf("%v", err)
			}
			return appendLong(dst, int64(d)), nil
		case kTimeMillis:
			ms, err := connectjson.TimeMillis(t)
			if err != nil {
				return dst, valueErrorf("%v", err)
			}
			return appendLong(dst, int64(ms)), nil
		}
		return appendLong(dst, connectjson.TimestampMillis(t)), nil
	case kRecord:
		st, ok := v.(*connectors.Struct)
		if !ok {
			return dst, typeErr(n, v)
		}
		if st.Schema() != n.cs && !connectors.SameSchema(st.Schema(), n.cs) {
			return dst, valueErrorf("%w: struct of schema %s where schema %s is wanted", connectors.ErrSchemaMismatch, st.Schema(), n.cs)
		}
		if !st.Shared() {
			return n.encodeFields(dst, st)
		}
		if m := n.memo.Load(); m != nil && m.st == st {
			return append(dst, m.b...), nil
		}
		start := len(dst)
		dst, err := n.encodeFields(dst, st)
		if err == nil {
			n.memo.Store(&structMemo{st: st, b: bytes.Clone(dst[start:])})
		}
		return dst, err
	case kArray:
		arr, ok := v.([]any)
		if !ok {
			return dst, typeErr(n, v)
		}
		if len(arr) > 0 {
			dst = appendLong(dst, int64(len(arr)))
			var err error
			for i, e := range arr {
				if dst, err = n.elem.encode(dst, e); err != nil {
					return dst, atPath(err, "["+strconv.Itoa(i)+"]")
				}
			}
		}
		return append(dst, 0), nil
	case kMap, kMapEntries:
		m, ok := v.(map[string]any)
		if !ok {
			return dst, typeErr(n, v)
		}
		if len(m) > 0 {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			dst = appendLong(dst, int64(len(keys)))
			var err error
			for _, k := range keys {
				if n.kind == kMap {
					dst = appendStr(dst, k)
				} else {
					key, kerr := connectjson.ParseMapKey(n.key.cs, k)
					if kerr != nil {
						return dst, atPath(valueErrorf("%v", kerr), "["+strconv.Quote(k)+"]")
					}
					if dst, err = n.key.encode(dst, key); err != nil {
						return dst, atPath(err, "["+strconv.Quote(k)+"]")
					}
				}
				if dst, err = n.elem.encode(dst, m[k]); err != nil {
					return dst, atPath(err, "["+strconv.Quote(k)+"]")
				}
			}
		}
		return append(dst, 0), nil
	case kUnion:
		st, ok := v.(*connectors.Struct)
		if !ok {
			return dst, typeErr(n, v)
		}
		for _, m := range n.members {
			if mv := st.At(m.field); mv != nil {
				dst = appendLong(dst, int64(m.index))
				out, err := m.node.encode(dst, mv)
				if err != nil {
					return dst, atPath(err, "."+n.cs.Fields[m.field].Name)
				}
				return out, nil
			}
		}
		if n.null >= 0 {
			return appendLong(dst, int64(n.null)), nil
		}
		return dst, valueErrorf("union struct %s has no member set", n.cs)
	}
	return dst, fmt.Errorf("connectavro: internal error: unknown node kind %d", n.kind)
}

// integer returns v, a Go integer of any type (not a float, even a whole
// one), for an int or long node; for an int node it must fit the node's
// Connect type (int8, int16 or int32).
func (n *node) integer(v any) (int64, error) {
	i, ok := toInt64(v)
	if !ok || isFloat(v) {
		return 0, typeErr(n, v)
	}
	if n.kind == kInt {
		if _, err := intOf(n.cs.Type, i); err != nil {
			return 0, valueErrorf("%v", err)
		}
	}
	return i, nil
}

// float returns v, a float32 or float64, for a float or double node.
func (n *node) float(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	}
	return 0, typeErr(n, v)
}

// floatValue is float as the node's Go type (the same in Connect and in
// hamba/avro's generic form): float32 for a float node, float64 for a
// double.
func (n *node) floatValue(v any) (any, error) {
	f, err := n.float(v)
	if err != nil {
		return nil, err
	}
	if n.kind == kFloat {
		return float32(f), nil
	}
	return f, nil
}

func isFloat(v any) bool {
	switch v.(type) {
	case float32, float64:
		return true
	}
	return false
}
