package connectavro

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	havro "github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
)

// Decoding is compiled from a writer schema and a reader node: with the
// codec's own schema as the writer it is plain decoding; with another
// schema it is Avro schema resolution (fields matched by name or alias,
// missing ones taking the reader's defaults, writer-only ones skipped,
// numeric promotions, string/bytes interchange, enum symbols by name).
//
// Untrusted data cannot make it allocate beyond the data's size: every
// length is checked against the bytes left, every array or map count
// against the smallest possible encoding of its items, and items that take
// no bytes (nulls, empty records) are limited to maxZeroSizeItems per
// value. hamba/avro is not used here for that reason (it trusts lengths;
// see serde/avro's validateBody).

// maxZeroSizeItems bounds array and map items that take no bytes in one
// decoded value, which a count could otherwise multiply without limit.
const maxZeroSizeItems = 1 << 20

var errTruncated = errors.New("unexpected end of data")

type reader struct {
	data      []byte
	pos       int
	zeroItems int
}

func (r *reader) long() (int64, error) {
	var u uint64
	for shift := uint(0); shift < 70; shift += 7 {
		if r.pos >= len(r.data) {
			return 0, errTruncated
		}
		b := r.data[r.pos]
		r.pos++
		u |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, errors.New("varint longer than 10 bytes")
}

func (r *reader) int() (int32, error) {
	start := r.pos
	n, err := r.long()
	if err != nil {
		return 0, err
	}
	if r.pos-start > 5 || n != int64(int32(n)) {
		return 0, fmt.Errorf("invalid int encoding (%d)", n)
	}
	return int32(n), nil
}

func (r *reader) bytes() ([]byte, error) {
	n, err := r.long()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("negative length %d", n)
	}
	if n > int64(len(r.data)-r.pos) {
		return nil, errTruncated
	}
	b := r.data[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return b, nil
}

func (r *reader) fixed(size int) ([]byte, error) {
	if size < 0 || size > len(r.data)-r.pos {
		return nil, errTruncated
	}
	b := r.data[r.pos : r.pos+size]
	r.pos += size
	return b, nil
}

// blockCount reads the next array or map block's item count (0 at the
// end), bounding it by the data left.
func (r *reader) blockCount(minItemSize int) (int, error) {
	count, err := r.long()
	if err != nil || count == 0 {
		return 0, err
	}
	if count < 0 {
		if count == math.MinInt64 {
			return 0, errors.New("invalid block count")
		}
		count = -count
		if _, err := r.long(); err != nil { // the block's size in bytes
			return 0, err
		}
	}
	if minItemSize > 0 {
		if count > int64((len(r.data)-r.pos)/minItemSize) {
			return 0, fmt.Errorf("block of %d items is longer than the data left", count)
		}
	} else {
		if count > maxZeroSizeItems-int64(r.zeroItems) {
			return 0, fmt.Errorf("more than %d items without content", maxZeroSizeItems)
		}
		r.zeroItems += int(count)
	}
	return int(count), nil
}

// readBranch reads a union's branch index and returns the function of
// that branch (a decoder or a skipper).
func readBranch[F any](r *reader, branches []F) (F, error) {
	var none F
	i, err := r.long()
	if err != nil {
		return none, err
	}
	if i < 0 || i >= int64(len(branches)) {
		return none, fmt.Errorf("union index %d out of range (%d branches)", i, len(branches))
	}
	return branches[i], nil
}

type decodeFn func(r *reader) (any, error)
type skipFn func(r *reader) error

// minSize is the fewest bytes a value of s takes.
func minSize(s havro.Schema, depth int) int {
	s = deref(s)
	switch s.Type() {
	case havro.Null:
		return 0
	case havro.Float:
		return 4
	case havro.Double:
		return 8
	case havro.Fixed:
		return max(0, s.(*havro.FixedSchema).Size())
	case havro.Record:
		if depth > maxSchemaDepth {
			return 0
		}
		n := 0
		for _, f := range s.(*havro.RecordSchema).Fields() {
			n += minSize(f.Type(), depth+1)
		}
		return n
	}
	return 1 // booleans, varints, lengths, union indexes, block ends
}

func nullDecoder(*reader) (any, error) { return nil, nil }

func failDecoder(err error) decodeFn {
	return func(*reader) (any, error) { return nil, err }
}

func resolveErr(w havro.Schema, rd *node) error {
	return fmt.Errorf("connectavro: writer type %s cannot be read as %s (Avro schema resolution)", deref(w).Type(), rd.cs)
}

// resolve compiles the decoder of data written with w into values of rd.
func resolve(w havro.Schema, rd *node, depth int) (decodeFn, error) {
	if depth > maxSchemaDepth {
		return nil, fmt.Errorf("connectavro: schema nested deeper than %d levels", maxSchemaDepth)
	}
	w = deref(w)
	if wu, ok := w.(*havro.UnionSchema); ok {
		types := wu.Types()
		branches := make([]decodeFn, len(types))
		for i, t := range types {
			fn, err := resolve(t, rd, depth+1)
			if err != nil {
				// Only records using this branch fail.
				fn = failDecoder(fmt.Errorf("union branch %d: %w", i, err))
			}
			branches[i] = fn
		}
		return func(r *reader) (any, error) {
			branch, err := readBranch(r, branches)
			if err != nil {
				return nil, err
			}
			return branch(r)
		}, nil
	}
	switch rd.kind {
	case kOptional:
		if w.Type() == havro.Null {
			return nullDecoder, nil
		}
		return resolve(w, rd.inner, depth+1)
	case kUnion:
		if w.Type() == havro.Null {
			if rd.null >= 0 {
				return nullDecoder, nil
			}
			return nil, resolveErr(w, rd)
		}
		return resolveUnionMember(w, rd, depth)
	}
	if w.Type() == havro.Null {
		return nil, resolveErr(w, rd)
	}
	wt := w.Type()
	switch rd.kind {
	case kBool:
		if wt == havro.Boolean {
			return func(r *reader) (any, error) {
				b, err := r.fixed(1)
				if err != nil {
					return nil, err
				}
				return b[0] == 1, nil // as Java's BinaryDecoder
			}, nil
		}
	case kInt, kDate, kTimeMillis:
		if wt != havro.Int {
			break
		}
		kind, t := rd.kind, rd.cs.Type
		return func(r *reader) (any, error) {
			n, err := r.int()
			if err != nil {
				return nil, err
			}
			switch kind {
			case kDate:
				return connectjson.DateFromDays(n), nil
			case kTimeMillis:
				if !connectjson.ValidTimeMillis(int64(n)) {
					return nil, fmt.Errorf("time-millis %d is not within a day", n)
				}
				return connectjson.TimeFromMillis(n), nil
			}
			return intOf(t, int64(n))
		}, nil
	case kLong, kTimestampMillis:
		if wt != havro.Int && wt != havro.Long {
			break
		}
		ts := rd.kind == kTimestampMillis
		return func(r *reader) (any, error) {
			n, err := r.long()
			if err != nil {
				return nil, err
			}
			if wt == havro.Int && n != int64(int32(n)) {
				return nil, fmt.Errorf("invalid int encoding (%d)", n)
			}
			if ts {
				return connectjson.TimestampFromMillis(n), nil
			}
			return n, nil
		}, nil
	case kFloat, kDouble:
		double := rd.kind == kDouble
		switch wt {
		case havro.Int, havro.Long:
			return func(r *reader) (any, error) {
				n, err := r.long()
				if err != nil {
					return nil, err
				}
				if double {
					return float64(n), nil
				}
				return float32(n), nil
			}, nil
		case havro.Float:
			return func(r *reader) (any, error) {
				b, err := r.fixed(4)
				if err != nil {
					return nil, err
				}
				f := math.Float32frombits(binary.LittleEndian.Uint32(b))
				if double {
					return float64(f), nil
				}
				return f, nil
			}, nil
		case havro.Double:
			if !double {
				break
			}
			return func(r *reader) (any, error) {
				b, err := r.fixed(8)
				if err != nil {
					return nil, err
				}
				return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
			}, nil
		}
	case kString:
		if wt == havro.String || wt == havro.Bytes {
			return func(r *reader) (any, error) {
				b, err := r.bytes()
				if err != nil {
					return nil, err
				}
				return string(b), nil
			}, nil
		}
	case kBytes:
		if wt == havro.String || wt == havro.Bytes {
			return func(r *reader) (any, error) {
				b, err := r.bytes()
				if err != nil {
					return nil, err
				}
				return slices.Clone(b), nil
			}, nil
		}
	case kDecimalBytes:
		if wt == havro.Bytes {
			scale := rd.scale
			return func(r *reader) (any, error) {
				b, err := r.bytes()
				if err != nil {
					return nil, err
				}
				return connectjson.DecimalFromBytes(b, scale), nil
			}, nil
		}
	case kFixed, kDecimalFixed:
		wf, ok := w.(*havro.FixedSchema)
		if !ok || wf.Size() != rd.size {
			break
		}
		size, decimal, scale := rd.size, rd.kind == kDecimalFixed, rd.scale
		return func(r *reader) (any, error) {
			b, err := r.fixed(size)
			if err != nil {
				return nil, err
			}
			if decimal {
				return connectjson.DecimalFromBytes(b, scale), nil
			}
			return slices.Clone(b), nil
		}, nil
	case kEnum:
		we, ok := w.(*havro.EnumSchema)
		if !ok {
			break
		}
		re := rd.as.(*havro.EnumSchema)
		syms := we.Symbols()
		out := make([]any, len(syms)) // the reader's symbol for each writer symbol, or nil
		for i, s := range syms {
			if _, ok := rd.symIdx[s]; ok {
				out[i] = s
			} else if re.HasDefault() {
				out[i] = re.Default()
			}
		}
		return func(r *reader) (any, error) {
			i, err := r.int()
			if err != nil {
				return nil, err
			}
			if i < 0 || int(i) >= len(out) {
				return nil, fmt.Errorf("enum index %d out of range (%d symbols)", i, len(out))
			}
			if out[i] == nil {
				return nil, fmt.Errorf("enum symbol %q is not in the reader's enum %s, which has no default", syms[i], re.FullName())
			}
			return out[i], nil
		}, nil
	case kArray:
		wa, ok := w.(*havro.ArraySchema)
		if !ok {
			break
		}
		elem, err := resolve(wa.Items(), rd.elem, depth+1)
		if err != nil {
			return nil, err
		}
		min := minSize(wa.Items(), 0)
		return func(r *reader) (any, error) {
			out := []any{}
			for {
				n, err := r.blockCount(min)
				if err != nil || n == 0 {
					return out, err
				}
				out = slices.Grow(out, n)
				for range n {
					v, err := elem(r)
					if err != nil {
						return nil, atPath(err, "["+strconv.Itoa(len(out))+"]")
					}
					out = append(out, v)
				}
			}
		}, nil
	case kMap:
		wm, ok := w.(*havro.MapSchema)
		if !ok {
			break
		}
		value, err := resolve(wm.Values(), rd.elem, depth+1)
		if err != nil {
			return nil, err
		}
		min := 1 + minSize(wm.Values(), 0)
		return func(r *reader) (any, error) {
			out := map[string]any{}
			for {
				n, err := r.blockCount(min)
				if err != nil || n == 0 {
					return out, err
				}
				for range n {
					kb, err := r.bytes()
					if err != nil {
						return nil, err
					}
					k := string(kb)
					v, err := value(r)
					if err != nil {
						return nil, atPath(err, "["+strconv.Quote(k)+"]")
					}
					out[k] = v
				}
			}
		}, nil
	case kMapEntries:
		wa, ok := w.(*havro.ArraySchema)
		if !ok {
			break
		}
		wrec, ok := deref(wa.Items()).(*havro.RecordSchema)
		if !ok {
			break
		}
		wk, wv := fieldNamed(wrec, "key"), fieldNamed(wrec, "value")
		if wk == nil || wv == nil || len(wrec.Fields()) != 2 {
			break
		}
		key, err := resolve(wk.Type(), rd.key, depth+1)
		if err != nil {
			return nil, err
		}
		value, err := resolve(wv.Type(), rd.elem, depth+1)
		if err != nil {
			return nil, err
		}
		keyFirst := wrec.Fields()[0].Name() == "key"
		keySchema := rd.key.cs
		min := minSize(wrec, 0)
		return func(r *reader) (any, error) {
			out := map[string]any{}
			for {
				n, err := r.blockCount(min)
				if err != nil || n == 0 {
					return out, err
				}
				for range n {
					var k, v any
					if keyFirst {
						if k, err = key(r); err == nil {
							v, err = value(r)
						}
					} else if v, err = value(r); err == nil {
						k, err = key(r)
					}
					if err != nil {
						return nil, err
					}
					ks, err := connectjson.FormatMapKey(keySchema, k)
					if err != nil {
						return nil, err
					}
					out[ks] = v
				}
			}
		}, nil
	case kRecord:
		wr, ok := w.(*havro.RecordSchema)
		if !ok {
			break
		}
		return resolveRecord(wr, rd, depth)
	}
	return nil, resolveErr(w, rd)
}

// resolveUnionMember reads a non-union writer value into a reader union
// struct: the first member of the same type, else the first the writer's
// type promotes to.
func resolveUnionMember(w havro.Schema, rd *node, depth int) (decodeFn, error) {
	pick := func(exact bool) (unionMember, decodeFn, bool) {
		for _, m := range rd.members {
			ms := m.node.as
			if ms.Type() != w.Type() && exact {
				continue
			}
			if exact {
				if wn, ok := w.(havro.NamedSchema); ok {
					if mn, ok := ms.(havro.NamedSchema); !ok || mn.Name() != wn.Name() {
						continue
					}
				}
			}
			fn, err := resolve(w, m.node, depth+1)
			if err == nil {
				return m, fn, true
			}
		}
		return unionMember{}, nil, false
	}
	m, fn, ok := pick(true)
	if !ok {
		if m, fn, ok = pick(false); !ok {
			return nil, resolveErr(w, rd)
		}
	}
	cs := rd.cs
	return func(r *reader) (any, error) {
		v, err := fn(r)
		if err != nil {
			return nil, err
		}
		st := connectors.NewStructValue(cs)
		st.Set(m.field, v)
		return st, nil
	}, nil
}

type fieldStep struct {
	name   string
	target int // Connect field index; -1: skip
	dec    decodeFn
	skip   skipFn
}

type fieldDefault struct {
	index int
	value any
}

func resolveRecord(wr *havro.RecordSchema, rd *node, depth int) (decodeFn, error) {
	steps := make([]fieldStep, 0, len(wr.Fields()))
	matched := make([]bool, len(rd.fields))
	for _, wf := range wr.Fields() {
		ri := -1
		for i, rf := range rd.fields {
			if rf.name == wf.Name() {
				ri = i
				break
			}
		}
		if ri < 0 {
			for i, rf := range rd.fields {
				if slices.Contains(rf.avro.Aliases(), wf.Name()) {
					ri = i
					break
				}
			}
		}
		if ri < 0 || matched[ri] {
			skip, err := skipper(wf.Type(), depth+1)
			if err != nil {
				return nil, err
			}
			steps = append(steps, fieldStep{name: wf.Name(), target: -1, skip: skip})
			continue
		}
		matched[ri] = true
		rf := rd.fields[ri]
		dec, err := resolve(wf.Type(), rf.node, depth+1)
		if err != nil {
			return nil, fmt.Errorf("%w (field %q)", err, rf.name)
		}
		steps = append(steps, fieldStep{name: rf.name, target: rf.index, dec: dec})
	}
	var defaults []fieldDefault
	for i, rf := range rd.fields {
		if matched[i] {
			continue
		}
		if !rf.avro.HasDefault() {
			return nil, fmt.Errorf("connectavro: reader field %q is not in the writer schema and has no default (Avro schema resolution)", rf.name)
		}
		v, err := defaultFromAvro(rf.node.cs, rf.avro.Type(), rf.avro.Default())
		if err != nil {
			return nil, fmt.Errorf("connectavro: default of reader field %q: %w", rf.name, err)
		}
		defaults = append(defaults, fieldDefault{rf.index, v})
	}
	cs := rd.cs
	return func(r *reader) (any, error) {
		st := connectors.NewStructValue(cs)
		for i := range steps {
			s := &steps[i]
			if s.target < 0 {
				if err := s.skip(r); err != nil {
					return nil, atPath(err, "."+s.name)
				}
				continue
			}
			v, err := s.dec(r)
			if err != nil {
				return nil, atPath(err, "."+s.name)
			}
			st.Set(s.target, v)
		}
		for _, d := range defaults {
			st.Set(d.index, d.value)
		}
		return st, nil
	}, nil
}

// skipper compiles a skipper of values written with w.
func skipper(w havro.Schema, depth int) (skipFn, error) {
	if depth > maxSchemaDepth {
		return nil, fmt.Errorf("connectavro: schema nested deeper than %d levels", maxSchemaDepth)
	}
	w = deref(w)
	skipN := func(n int) skipFn {
		return func(r *reader) error { _, err := r.fixed(n); return err }
	}
	switch w.Type() {
	case havro.Null:
		return func(*reader) error { return nil }, nil
	case havro.Boolean:
		return skipN(1), nil
	case havro.Int, havro.Long, havro.Enum:
		return func(r *reader) error { _, err := r.long(); return err }, nil
	case havro.Float:
		return skipN(4), nil
	case havro.Double:
		return skipN(8), nil
	case havro.String, havro.Bytes:
		return func(r *reader) error { _, err := r.bytes(); return err }, nil
	case havro.Fixed:
		return skipN(w.(*havro.FixedSchema).Size()), nil
	case havro.Union:
		types := w.(*havro.UnionSchema).Types()
		branches := make([]skipFn, len(types))
		for i, t := range types {
			s, err := skipper(t, depth+1)
			if err != nil {
				return nil, err
			}
			branches[i] = s
		}
		return func(r *reader) error {
			branch, err := readBranch(r, branches)
			if err != nil {
				return err
			}
			return branch(r)
		}, nil
	case havro.Record:
		fields := w.(*havro.RecordSchema).Fields()
		skips := make([]skipFn, len(fields))
		for i, f := range fields {
			s, err := skipper(f.Type(), depth+1)
			if err != nil {
				return nil, err
			}
			skips[i] = s
		}
		return func(r *reader) error {
			for _, s := range skips {
				if err := s(r); err != nil {
					return err
				}
			}
			return nil
		}, nil
	case havro.Array, havro.Map:
		var item skipFn
		var err error
		min := 0
		if a, ok := w.(*havro.ArraySchema); ok {
			item, err = skipper(a.Items(), depth+1)
			min = minSize(a.Items(), 0)
		} else {
			var value skipFn
			m := w.(*havro.MapSchema)
			value, err = skipper(m.Values(), depth+1)
			min = 1 + minSize(m.Values(), 0)
			item = func(r *reader) error {
				if _, err := r.bytes(); err != nil {
					return err
				}
				return value(r)
			}
		}
		if err != nil {
			return nil, err
		}
		return func(r *reader) error {
			for {
				n, err := r.blockCount(min)
				if err != nil || n == 0 {
					return err
				}
				for range n {
					if err := item(r); err != nil {
						return err
					}
				}
			}
		}, nil
	}
	return nil, fmt.Errorf("connectavro: cannot skip Avro type %s", w.Type())
}
