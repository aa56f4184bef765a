package datagen

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// Generation from an Avro schema with avro-random-generator's
// "arg.properties" annotations. The schema is compiled once into a tree of
// closures (one per schema node, annotations already parsed and checked),
// so generating a record walks that tree without maps, reflection or
// parsing; all randomness comes from the record's own PRNG in genCtx.

// genCtx is the state of generating one record.
type genCtx struct {
	r        rng
	seed     uint64
	pos      uint64 // the record's position in the connector's sequence
	tsMillis int64  // the record's event time (Unix milliseconds)
}

// genFunc produces one value in Connect's representation.
type genFunc func(c *genCtx) any

// The annotations each Avro type accepts (avro-random-generator's set,
// minus "kind", "distribution" and the options of other forks).
var allowedProps = map[avroKind][]string{
	avroNull:    {"options"},
	avroBoolean: {"options", "iteration", "odds"},
	avroInt:     {"options", "iteration", "range"},
	avroLong:    {"options", "iteration", "range"},
	avroFloat:   {"options", "iteration", "range"},
	avroDouble:  {"options", "iteration", "range"},
	avroBytes:   {"options", "length", "range"},
	avroString:  {"options", "iteration", "length", "regex", "prefix", "suffix"},
	avroRecord:  {"options"},
	avroEnum:    {"options"},
	avroArray:   {"options", "length"},
	avroMap:     {"options", "length", "keys"},
	avroFixed:   {"options", "range"},
	avroUnion:   {"options", "position"},
}

// Default length bounds of strings, bytes, arrays and maps
// (avro-random-generator's: 8 to 15), and the most any length may be, so
// that a typo cannot make every record gigabytes.
const (
	defaultMinLength = 8
	defaultMaxLength = 16 // exclusive
	maxLength        = 1 << 24
	// openRepeat is how many repetitions beyond the minimum an unbounded
	// regex repetition (*, +, {n,}) may produce.
	openRepeat = 8
)

type compiler struct {
	readFile func(name string) ([]byte, error)
	active   map[*avroNode]bool // records being compiled: recursion guard
	nodes    int                // compiled so far, against maxSchemaNodes
}

// maxSchemaNodes bounds the compiled tree: named types referenced from many
// places expand, and a small hostile schema could expand exponentially.
const maxSchemaNodes = 100_000

func compileAvro(root *avroNode, schema *connectors.Schema, readFile func(string) ([]byte, error)) (genFunc, error) {
	cp := &compiler{readFile: readFile, active: map[*avroNode]bool{}}
	return cp.node(root, schema, "", nil)
}

// where names a schema position in errors.
func where(path string) string {
	if path == "" {
		return "the top-level schema"
	}
	return fmt.Sprintf("field %q", path)
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func mergeProps(typeProps, fieldProps map[string]any) map[string]any {
	if len(fieldProps) == 0 {
		return typeProps
	}
	if len(typeProps) == 0 {
		return fieldProps
	}
	out := make(map[string]any, len(typeProps)+len(fieldProps))
	for k, v := range typeProps {
		out[k] = v
	}
	for k, v := range fieldProps {
		out[k] = v
	}
	return out
}

func checkProps(kind avroKind, props map[string]any) error {
	allowed := allowedProps[kind]
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("arg.properties %q is not supported on %s schemas (supported: %s)", k, kind, strings.Join(allowed, ", "))
		}
	}
	exclusive := func(p string, others ...string) error {
		if _, ok := props[p]; !ok {
			return nil
		}
		for _, o := range others {
			if _, ok := props[o]; ok {
				return fmt.Errorf("arg.properties %q cannot be combined with %q", p, o)
			}
		}
		return nil
	}
	if err := exclusive("options", "length", "regex", "iteration", "range", "prefix", "suffix", "odds", "keys", "position"); err != nil {
		return err
	}
	return exclusive("iteration", "length", "regex", "range", "odds")
}

func (cp *compiler) node(n *avroNode, s *connectors.Schema, path string, fieldProps map[string]any) (genFunc, error) {
	if cp.nodes++; cp.nodes > maxSchemaNodes {
		return nil, fmt.Errorf("the schema expands to more than %d types (named types count once per use)", maxSchemaNodes)
	}
	props := mergeProps(n.props, fieldProps)
	if err := checkProps(n.kind, props); err != nil {
		return nil, fmt.Errorf("%s: %w", where(path), err)
	}
	if n.kind == avroNull {
		return func(*genCtx) any { return nil }, nil
	}
	if s == nil {
		return nil, fmt.Errorf("%s: no Connect schema for Avro %s", where(path), n.kind)
	}
	if o, ok := props["options"]; ok {
		g, err := cp.options(n, s, o)
		if err != nil {
			return nil, fmt.Errorf("%s: options: %w", where(path), err)
		}
		return g, nil
	}
	var g genFunc
	var err error
	switch n.kind {
	case avroBoolean:
		g, err = compileBoolean(s, props)
	case avroInt, avroLong:
		g, err = compileInteger(n, s, props)
	case avroFloat, avroDouble:
		g, err = compileFloat(n, s, props)
	case avroString:
		g, err = compileString(n, s, props)
	case avroBytes, avroFixed:
		g, err = compileBytes(n, s, props)
	case avroEnum:
		if s.Type != connectors.TypeString {
			return nil, mismatch(path, n, s)
		}
		boxed := make([]any, len(n.symbols))
		for i, sym := range n.symbols {
			boxed[i] = sym
		}
		g = func(c *genCtx) any { return boxed[c.r.intn(len(boxed))] }
	case avroArray:
		if s.Type != connectors.TypeArray {
			return nil, mismatch(path, n, s)
		}
		return cp.array(n, s, path, props)
	case avroMap:
		if s.Type != connectors.TypeMap {
			return nil, mismatch(path, n, s)
		}
		return cp.mapNode(n, s, path, props)
	case avroRecord:
		return cp.record(n, s, path)
	case avroUnion:
		return cp.union(n, s, path, props)
	default:
		return nil, fmt.Errorf("%s: unsupported Avro type %s", where(path), n.kind)
	}
	if err != nil {
		var mm *mismatchError
		if errors.As(err, &mm) {
			return nil, mismatch(path, n, s)
		}
		return nil, fmt.Errorf("%s: %w", where(path), err)
	}
	return g, nil
}

type mismatchError struct{}

func (*mismatchError) Error() string { return "schema mismatch" }

var errMismatch = &mismatchError{}

// mismatch reports a Connect schema that does not have the shape the Avro
// schema implies: a disagreement with internal/connectavro, not a user
// error.
func mismatch(path string, n *avroNode, s *connectors.Schema) error {
	return fmt.Errorf("%s: the Connect schema (%s) does not fit the Avro %s (internal/connectavro converted it unexpectedly)", where(path), s, n.kind)
}

func (cp *compiler) record(n *avroNode, s *connectors.Schema, path string) (genFunc, error) {
	if s.Type != connectors.TypeStruct {
		return nil, mismatch(path, n, s)
	}
	if cp.active[n] {
		return nil, fmt.Errorf("%s: record %s contains itself; recursive schemas cannot be generated", where(path), n.name)
	}
	cp.active[n] = true
	defer delete(cp.active, n)
	gens := make([]genFunc, len(s.Fields))
	for _, f := range n.fields {
		cf, ok := s.Field(f.name)
		if !ok {
			return nil, fmt.Errorf("%s: the Connect schema has no field %q", where(path), f.name)
		}
		g, err := cp.node(f.node, cf.Schema, joinPath(path, f.name), f.props)
		if err != nil {
			return nil, err
		}
		gens[cf.Index] = g
	}
	for i, g := range gens {
		if g == nil {
			return nil, fmt.Errorf("%s: Connect field %q has no Avro field", where(path), s.Fields[i].Name)
		}
	}
	return func(c *genCtx) any {
		st := connectors.NewStructValue(s)
		for i, g := range gens {
			st.Set(i, g(c))
		}
		return st
	}, nil
}

func (cp *compiler) union(n *avroNode, s *connectors.Schema, path string, props map[string]any) (genFunc, error) {
	var nonNull []int
	for i, b := range n.branches {
		if b.kind != avroNull {
			nonNull = append(nonNull, i)
		}
	}
	position := -1
	if p, ok := props["position"]; ok {
		i, err := jsonInt(p)
		if err != nil || i < 0 || i >= int64(len(n.branches)) {
			return nil, fmt.Errorf("%s: position must be a branch index from 0 to %d", where(path), len(n.branches)-1)
		}
		position = int(i)
	}
	hasNull := len(nonNull) < len(n.branches)
	if hasNull && !s.Optional && s.Default == nil && len(nonNull) > 0 {
		return nil, mismatch(path, n, s)
	}
	// Branches are drawn uniformly, null included, as avro-random-generator
	// does: ["null", "string"] is null half of the time.
	pick := func(c *genCtx) int {
		if position >= 0 {
			return position
		}
		return c.r.intn(len(n.branches))
	}
	switch len(nonNull) {
	case 0:
		return func(*genCtx) any { return nil }, nil
	case 1:
		g, err := cp.node(n.branches[nonNull[0]], s, path, nil)
		if err != nil {
			return nil, err
		}
		if !hasNull {
			return g, nil
		}
		if position >= 0 {
			if n.branches[position].kind == avroNull {
				return func(*genCtx) any { return nil }, nil
			}
			return g, nil
		}
		branches := len(n.branches)
		return func(c *genCtx) any {
			if c.r.intn(branches) < branches-1 {
				return g(c)
			}
			return nil
		}, nil
	}
	// A union of several types is a struct with one optional field per
	// non-null branch, in order (Confluent's io.confluent.connect.avro.Union).
	if s.Type != connectors.TypeStruct || len(s.Fields) != len(nonNull) {
		return nil, mismatch(path, n, s)
	}
	gens := make([]genFunc, len(n.branches))
	field := make([]int, len(n.branches))
	for j, bi := range nonNull {
		g, err := cp.node(n.branches[bi], s.Fields[j].Schema, joinPath(path, s.Fields[j].Name), nil)
		if err != nil {
			return nil, err
		}
		gens[bi], field[bi] = g, j
	}
	return func(c *genCtx) any {
		b := pick(c)
		if gens[b] == nil {
			return nil
		}
		st := connectors.NewStructValue(s)
		st.Set(field[b], gens[b](c))
		return st
	}, nil
}

func (cp *compiler) array(n *avroNode, s *connectors.Schema, path string, props map[string]any) (genFunc, error) {
	lb, err := lengthBounds(props["length"], false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where(path), err)
	}
	item, err := cp.node(n.items, s.ValueSchema, path+"[]", nil)
	if err != nil {
		return nil, err
	}
	return func(c *genCtx) any {
		out := make([]any, lb.draw(&c.r))
		for i := range out {
			out[i] = item(c)
		}
		return out
	}, nil
}

func (cp *compiler) mapNode(n *avroNode, s *connectors.Schema, path string, props map[string]any) (genFunc, error) {
	lb, err := lengthBounds(props["length"], false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where(path), err)
	}
	keyProps := map[string]any{}
	if k, ok := props["keys"]; ok {
		m, ok := k.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: keys must be an object of string annotations", where(path))
		}
		keyProps = m
	}
	key, err := cp.node(&avroNode{kind: avroString, props: keyProps}, connectors.StringSchema(), path+"{key}", nil)
	if err != nil {
		return nil, err
	}
	value, err := cp.node(n.values, s.ValueSchema, path+"{}", nil)
	if err != nil {
		return nil, err
	}
	return func(c *genCtx) any {
		size := lb.draw(&c.r)
		out := make(map[string]any, size)
		for range size {
			k, _ := key(c).(string)
			out[k] = value(c)
		}
		return out
	}, nil
}

// options picks uniformly among given values.
func (cp *compiler) options(n *avroNode, s *connectors.Schema, raw any) (genFunc, error) {
	var list []any
	switch o := raw.(type) {
	case []any:
		list = o
	case map[string]any:
		file, _ := o["file"].(string)
		enc, _ := o["encoding"].(string)
		if file == "" || enc == "" {
			return nil, errors.New(`as an object, options needs "file" and "encoding"`)
		}
		if enc != "json" {
			return nil, fmt.Errorf("encoding %q is not supported (only json)", enc)
		}
		data, err := cp.readFile(file)
		if err != nil {
			return nil, fmt.Errorf("read options file: %w", err)
		}
		if list, err = decodeJSONStream(data, n.kind == avroArray); err != nil {
			return nil, fmt.Errorf("options file %q: %w", file, err)
		}
	default:
		return nil, fmt.Errorf("must be a list or an object, not %s", describeJSON(raw))
	}
	if len(list) == 0 {
		return nil, errors.New("the list is empty")
	}
	values := make([]any, len(list))
	mutable := false
	for i, o := range list {
		v, err := jsonValue(o, n, s)
		if err != nil {
			return nil, fmt.Errorf("option %d: %w", i, err)
		}
		values[i] = v
		switch v.(type) {
		case *connectors.Struct, []any, map[string]any, []byte, *big.Rat:
			mutable = true
		}
	}
	if !mutable {
		return func(c *genCtx) any { return values[c.r.intn(len(values))] }, nil
	}
	// Every record gets its own copy: a record's value belongs to it.
	return func(c *genCtx) any { return cloneValue(values[c.r.intn(len(values))]) }, nil
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case *connectors.Struct:
		st := connectors.NewStructValue(x.Schema())
		for i := range x.Schema().Fields {
			st.Set(i, cloneValue(x.At(i)))
		}
		return st
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneValue(e)
		}
		return out
	case []byte:
		return append([]byte(nil), x...)
	case *big.Rat:
		return new(big.Rat).Set(x)
	}
	return v
}

// lengthRange is a half-open range [min, max) of lengths.
type lengthRange struct{ min, max int }

func (l lengthRange) draw(r *rng) int {
	if l.max-l.min <= 1 {
		return l.min
	}
	return l.min + r.intn(l.max-l.min)
}

// lengthBounds parses "length": a number (exact) or {"min", "max"} (max
// exclusive). With only a min, lengths go up to min+8 (avro-random-generator
// would go up to 2^31). Without a length, the default is 8 to 15, or no
// bound at all for a regex's strings (unbounded).
func lengthBounds(raw any, unbounded bool) (lengthRange, error) {
	if raw == nil {
		if unbounded {
			return lengthRange{0, maxLength}, nil
		}
		return lengthRange{defaultMinLength, defaultMaxLength}, nil
	}
	switch v := raw.(type) {
	case json.Number:
		n, err := v.Int64()
		if err != nil || n < 0 || n > maxLength {
			return lengthRange{}, fmt.Errorf("length must be a whole number from 0 to %d", maxLength)
		}
		return lengthRange{int(n), int(n) + 1}, nil
	case map[string]any:
		lo, hasMin, err := optInt(v, "min")
		if err != nil {
			return lengthRange{}, fmt.Errorf("length: %w", err)
		}
		hi, hasMax, err := optInt(v, "max")
		if err != nil {
			return lengthRange{}, fmt.Errorf("length: %w", err)
		}
		if !hasMin && !hasMax {
			return lengthRange{}, errors.New(`length needs "min" or "max"`)
		}
		if !hasMax {
			hi = lo + openRepeat + 1
		}
		if lo < 0 || hi <= lo || hi > maxLength+1 {
			return lengthRange{}, fmt.Errorf("length needs 0 <= min < max <= %d (max is exclusive), got min %d, max %d", maxLength+1, lo, hi)
		}
		for _, k := range sortedKeys(v) {
			if k != "min" && k != "max" {
				return lengthRange{}, fmt.Errorf("length: unknown key %q (want min, max)", k)
			}
		}
		return lengthRange{int(lo), int(hi)}, nil
	}
	return lengthRange{}, fmt.Errorf("length must be a number or {min, max}, not %s", describeJSON(raw))
}

func optInt(m map[string]any, key string) (int64, bool, error) {
	raw, ok := m[key]
	if !ok {
		return 0, false, nil
	}
	i, err := jsonInt(raw)
	if err != nil {
		return 0, false, fmt.Errorf("%q: %w", key, err)
	}
	return i, true, nil
}

func jsonInt(raw any) (int64, error) {
	n, ok := raw.(json.Number)
	if !ok {
		return 0, fmt.Errorf("want a whole number, got %s", describeJSON(raw))
	}
	i, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("want a whole number, got %s", n)
	}
	return i, nil
}

func jsonFloat(raw any) (float64, error) {
	n, ok := raw.(json.Number)
	if !ok {
		return 0, fmt.Errorf("want a number, got %s", describeJSON(raw))
	}
	f, err := n.Float64()
	if err != nil {
		return 0, fmt.Errorf("want a number, got %s", n)
	}
	return f, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func compileBoolean(s *connectors.Schema, props map[string]any) (genFunc, error) {
	if s.Type != connectors.TypeBoolean {
		return nil, errMismatch
	}
	if it, ok := props["iteration"]; ok {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, errors.New("iteration must be an object")
		}
		start, ok := m["start"].(bool)
		if !ok || len(m) != 1 {
			return nil, errors.New(`iteration of a boolean takes only "start", a boolean`)
		}
		return func(c *genCtx) any { return start != (c.pos%2 == 1) }, nil
	}
	if o, ok := props["odds"]; ok {
		p, err := jsonFloat(o)
		if err != nil || p < 0 || p > 1 {
			return nil, errors.New("odds must be a number from 0.0 to 1.0")
		}
		return func(c *genCtx) any { return c.r.chance(p) }, nil
	}
	return func(c *genCtx) any { return c.r.next()&1 == 1 }, nil
}

// intKind describes how an Avro int or long maps to its Connect value.
type intKind struct {
	lo, hi int64           // representable values, inclusive
	box    func(int64) any // to the Connect value
	// event converts the record's event time (ms) to this type's unit, for
	// the date and time logical types; nil for plain numbers.
	event func(ms int64) int64
	// unit converts a time.Time to this type's unit, for ranges given as
	// RFC 3339 text.
	unit func(t time.Time) int64
}

func integerKind(n *avroNode, s *connectors.Schema) (intKind, error) {
	k := intKind{lo: math.MinInt32, hi: math.MaxInt32}
	if n.kind == avroLong {
		k.lo, k.hi = math.MinInt64, math.MaxInt64
	}
	switch n.logical {
	case "timestamp-millis", "local-timestamp-millis":
		k.event = func(ms int64) int64 { return ms }
		k.unit = func(t time.Time) int64 { return t.UnixMilli() }
	case "timestamp-micros", "local-timestamp-micros":
		k.event = func(ms int64) int64 { return ms * 1000 }
		k.unit = func(t time.Time) int64 { return t.UnixMicro() }
	case "timestamp-nanos", "local-timestamp-nanos":
		k.event = func(ms int64) int64 { return ms * 1e6 }
		k.unit = func(t time.Time) int64 { return t.UnixNano() }
	case "date":
		k.event = func(ms int64) int64 { return floorDiv(ms, 86_400_000) }
		k.unit = func(t time.Time) int64 { return floorDiv(t.Unix(), 86400) }
	case "time-millis":
		k.event = func(ms int64) int64 { return ms - floorDiv(ms, 86_400_000)*86_400_000 }
		k.lo, k.hi = 0, 86_400_000-1
	case "time-micros":
		k.event = func(ms int64) int64 { return (ms - floorDiv(ms, 86_400_000)*86_400_000) * 1000 }
		k.lo, k.hi = 0, 86_400_000_000-1
	}
	switch {
	case s.Name == connectors.TimestampName:
		switch n.logical {
		case "timestamp-micros", "local-timestamp-micros":
			k.box = func(v int64) any { return time.UnixMicro(v).UTC() }
		case "timestamp-nanos", "local-timestamp-nanos":
			k.box = func(v int64) any { return time.Unix(0, v).UTC() }
		default:
			k.box = func(v int64) any { return time.UnixMilli(v).UTC() }
		}
	case s.Name == connectors.DateName:
		k.box = func(v int64) any { return time.Unix(v*86400, 0).UTC() }
	case s.Name == connectors.TimeName:
		if n.logical == "time-micros" {
			k.box = func(v int64) any { return time.UnixMicro(v).UTC() }
		} else {
			k.box = func(v int64) any { return time.UnixMilli(v).UTC() }
		}
	case s.Type == connectors.TypeInt8:
		k.lo, k.hi = max(k.lo, math.MinInt8), min(k.hi, math.MaxInt8)
		k.box = func(v int64) any { return int8(v) }
	case s.Type == connectors.TypeInt16:
		k.lo, k.hi = max(k.lo, math.MinInt16), min(k.hi, math.MaxInt16)
		k.box = func(v int64) any { return int16(v) }
	case s.Type == connectors.TypeInt32:
		if n.kind == avroLong {
			return k, errMismatch
		}
		k.box = func(v int64) any { return int32(v) }
	case s.Type == connectors.TypeInt64:
		k.box = func(v int64) any { return v }
	default:
		return k, errMismatch
	}
	return k, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func compileInteger(n *avroNode, s *connectors.Schema, props map[string]any) (genFunc, error) {
	k, err := integerKind(n, s)
	if err != nil {
		return nil, err
	}
	if it, ok := props["iteration"]; ok {
		next, err := intIteration(it, k)
		if err != nil {
			return nil, err
		}
		return func(c *genCtx) any { return k.box(next(c.pos)) }, nil
	}
	if rg, ok := props["range"]; ok {
		lo, hi, err := intRange(rg, k)
		if err != nil {
			return nil, err
		}
		return uniformInt(lo, hi, k.box), nil
	}
	if k.event != nil {
		return func(c *genCtx) any { return k.box(k.event(c.tsMillis)) }, nil
	}
	return uniformInt(k.lo, k.hi, k.box), nil
}

// uniformInt draws from [lo, hi] (inclusive).
func uniformInt(lo, hi int64, box func(int64) any) genFunc {
	span := uint64(hi) - uint64(lo) + 1 // 0: all 2^64 values
	if span == 0 {
		return func(c *genCtx) any { return box(int64(c.r.next())) }
	}
	return func(c *genCtx) any { return box(int64(uint64(lo) + c.r.below(span))) }
}

// intRange parses {"min", "max"} (min inclusive, max exclusive, as
// avro-random-generator) into inclusive bounds. Date and timestamp types
// also take RFC 3339 text.
func intRange(raw any, k intKind) (lo, hi int64, err error) {
	m, ok := raw.(map[string]any)
	if !ok {
		return 0, 0, errors.New("range must be an object {min, max}")
	}
	lo, hi = k.lo, k.hi
	bound := func(key string) (int64, bool, error) {
		v, ok := m[key]
		if !ok {
			return 0, false, nil
		}
		if str, isStr := v.(string); isStr && k.unit != nil {
			t, err := time.Parse(time.RFC3339Nano, str)
			if err != nil {
				return 0, false, fmt.Errorf("range %s: %q is not an RFC 3339 time", key, str)
			}
			return k.unit(t), true, nil
		}
		i, err := jsonInt(v)
		if err != nil {
			return 0, false, fmt.Errorf("range %s: %w", key, err)
		}
		return i, true, nil
	}
	for _, key := range sortedKeys(m) {
		if key != "min" && key != "max" {
			return 0, 0, fmt.Errorf("range: unknown key %q (want min, max)", key)
		}
	}
	min, hasMin, err := bound("min")
	if err != nil {
		return 0, 0, err
	}
	max, hasMax, err := bound("max")
	if err != nil {
		return 0, 0, err
	}
	if hasMin {
		if min < k.lo || min > k.hi {
			return 0, 0, fmt.Errorf("range min %d is outside the type's values [%d, %d]", min, k.lo, k.hi)
		}
		lo = min
	}
	if hasMax {
		if max <= lo {
			return 0, 0, fmt.Errorf("range max %d must be above min %d (max is exclusive)", max, lo)
		}
		if max-1 > k.hi {
			return 0, 0, fmt.Errorf("range max %d is beyond the type's largest value %d (max is exclusive)", max, k.hi)
		}
		hi = max - 1
	}
	if !hasMin && !hasMax {
		return 0, 0, errors.New(`range needs "min" or "max"`)
	}
	return lo, hi, nil
}

// intIteration parses {"start", "restart", "step", "initial"} with
// avro-random-generator's defaults: step 1 (or -1 when restart < start),
// restart the type's end, initial = start. Value n (from 0) is start +
// ((initial-start) + n*step) wrapped into [start, restart). n is the
// record's position in the whole connector's sequence, so ids are unique
// across tasks and continue exactly after a restart.
func intIteration(raw any, k intKind) (func(pos uint64) int64, error) {
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, errors.New("iteration must be an object")
	}
	for _, key := range sortedKeys(m) {
		switch key {
		case "start", "restart", "step", "initial":
		default:
			return nil, fmt.Errorf("iteration: unknown key %q (want start, restart, step, initial)", key)
		}
	}
	start, hasStart, err := optInt(m, "start")
	if err != nil {
		return nil, fmt.Errorf("iteration: %w", err)
	}
	if !hasStart {
		return nil, errors.New(`iteration needs "start"`)
	}
	restart, hasRestart, err := optInt(m, "restart")
	if err != nil {
		return nil, fmt.Errorf("iteration: %w", err)
	}
	step, hasStep, err := optInt(m, "step")
	if err != nil {
		return nil, fmt.Errorf("iteration: %w", err)
	}
	initial, hasInitial, err := optInt(m, "initial")
	if err != nil {
		return nil, fmt.Errorf("iteration: %w", err)
	}
	for _, v := range []int64{start, restart, initial} {
		if v < k.lo || v > k.hi {
			return nil, fmt.Errorf("iteration: %d is outside the type's values [%d, %d]", v, k.lo, k.hi)
		}
	}
	switch {
	case !hasStep && !hasRestart:
		step, restart = 1, k.hi
	case !hasRestart:
		if step == 0 {
			return nil, errors.New("iteration step cannot be 0")
		}
		restart = k.hi
		if step < 0 {
			restart = k.lo
		}
	case !hasStep:
		switch {
		case restart > start:
			step = 1
		case restart < start:
			step = -1
		default:
			return nil, errors.New("iteration start and restart cannot be equal")
		}
	default:
		if step == 0 || restart == start {
			return nil, errors.New("iteration step cannot be 0, nor restart equal start")
		}
		if (restart > start) != (step > 0) {
			return nil, errors.New("iteration step must go from start towards restart")
		}
	}
	if restart == start {
		return nil, errors.New("iteration start and restart cannot be equal")
	}
	if !hasInitial {
		initial = start
	}
	up := restart > start
	var modulus, offset uint64
	if up {
		modulus = uint64(restart) - uint64(start)
		if initial < start || initial >= restart {
			return nil, fmt.Errorf("iteration initial %d must be in [start, restart)", initial)
		}
		offset = uint64(initial) - uint64(start)
	} else {
		modulus = uint64(start) - uint64(restart)
		if initial > start || initial <= restart {
			return nil, fmt.Errorf("iteration initial %d must be in (restart, start]", initial)
		}
		offset = uint64(start) - uint64(initial)
	}
	stride := uint64(step)
	if step < 0 {
		stride = -stride
	}
	return func(pos uint64) int64 {
		hi, lo := bits.Mul64(pos, stride)
		var carry uint64
		lo, carry = bits.Add64(lo, offset, 0)
		hi += carry
		r := bits.Rem64(hi, lo, modulus)
		if up {
			return int64(uint64(start) + r)
		}
		return int64(uint64(start) - r)
	}, nil
}

func compileFloat(n *avroNode, s *connectors.Schema, props map[string]any) (genFunc, error) {
	var box func(float64) any
	switch s.Type {
	case connectors.TypeFloat32:
		box = func(v float64) any { return float32(v) }
	case connectors.TypeFloat64:
		box = func(v float64) any { return v }
	default:
		return nil, errMismatch
	}
	limit := math.MaxFloat64
	if n.kind == avroFloat {
		limit = math.MaxFloat32
	}
	if it, ok := props["iteration"]; ok {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, errors.New("iteration must be an object")
		}
		get := func(key string) (float64, bool, error) {
			v, ok := m[key]
			if !ok {
				return 0, false, nil
			}
			f, err := jsonFloat(v)
			return f, true, err
		}
		for _, key := range sortedKeys(m) {
			switch key {
			case "start", "restart", "step", "initial":
			default:
				return nil, fmt.Errorf("iteration: unknown key %q (want start, restart, step, initial)", key)
			}
		}
		start, hasStart, err := get("start")
		if err != nil || !hasStart {
			return nil, errors.New(`iteration needs "start", a number`)
		}
		restart, hasRestart, err := get("restart")
		if err != nil {
			return nil, fmt.Errorf("iteration restart: %w", err)
		}
		step, hasStep, err := get("step")
		if err != nil {
			return nil, fmt.Errorf("iteration step: %w", err)
		}
		initial, hasInitial, err := get("initial")
		if err != nil {
			return nil, fmt.Errorf("iteration initial: %w", err)
		}
		switch {
		case !hasStep && !hasRestart:
			step, restart = 1, limit
		case !hasRestart:
			restart = limit
			if step < 0 {
				restart = -limit
			}
		case !hasStep:
			step = 1
			if restart < start {
				step = -1
			}
		}
		if step == 0 || restart == start || (restart > start) != (step > 0) {
			return nil, errors.New("iteration step must be non-zero and go from start towards restart")
		}
		if !hasInitial {
			initial = start
		}
		modulus := restart - start
		return func(c *genCtx) any {
			return box(start + math.Mod((initial-start)+float64(c.pos)*step, modulus))
		}, nil
	}
	if rg, ok := props["range"]; ok {
		m, ok := rg.(map[string]any)
		if !ok {
			return nil, errors.New("range must be an object {min, max}")
		}
		lo, hi := -limit, limit
		hasAny := false
		for _, key := range sortedKeys(m) {
			f, err := jsonFloat(m[key])
			if err != nil {
				return nil, fmt.Errorf("range %s: %w", key, err)
			}
			switch key {
			case "min":
				lo = f
			case "max":
				hi = f
			default:
				return nil, fmt.Errorf("range: unknown key %q (want min, max)", key)
			}
			hasAny = true
		}
		if !hasAny {
			return nil, errors.New(`range needs "min" or "max"`)
		}
		if lo >= hi {
			return nil, fmt.Errorf("range min %v must be below max %v (max is exclusive)", lo, hi)
		}
		span := hi - lo
		if math.IsInf(span, 0) || lo < -limit || hi > limit {
			return nil, errors.New("range is too wide for the type: give both min and max")
		}
		return func(c *genCtx) any {
			v := lo + c.r.float()*span
			if v >= hi { // rounding at the top of the range
				v = math.Nextafter(hi, lo)
			}
			return box(v)
		}, nil
	}
	return func(c *genCtx) any { return box(c.r.float()) }, nil
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func compileString(n *avroNode, s *connectors.Schema, props map[string]any) (genFunc, error) {
	if s.Type != connectors.TypeString {
		return nil, errMismatch
	}
	prefix, suffix := "", ""
	if p, ok := props["prefix"]; ok {
		str, ok := p.(string)
		if !ok {
			return nil, errors.New("prefix must be a string")
		}
		prefix = str
	}
	if p, ok := props["suffix"]; ok {
		str, ok := p.(string)
		if !ok {
			return nil, errors.New("suffix must be a string")
		}
		suffix = str
	}
	if it, ok := props["iteration"]; ok {
		next, err := intIteration(it, intKind{lo: math.MinInt32, hi: math.MaxInt32})
		if err != nil {
			return nil, err
		}
		return func(c *genCtx) any { return prefix + strconv.FormatInt(next(c.pos), 10) + suffix }, nil
	}
	if re, ok := props["regex"]; ok {
		expr, ok := re.(string)
		if !ok {
			return nil, errors.New("regex must be a string")
		}
		rg, err := compileRegex(expr)
		if err != nil {
			return nil, err
		}
		_, hasLength := props["length"]
		lb, err := lengthBounds(props["length"], true)
		if err != nil {
			return nil, err
		}
		// A length bounds the regex's strings: draw a few candidates and keep
		// the first within bounds (the last one otherwise).
		return func(c *genCtx) any {
			buf := make([]byte, 0, 32)
			buf = append(buf, prefix...)
			mark := len(buf)
			for try := 0; ; try++ {
				buf = rg.append(buf[:mark], &c.r)
				l := len(buf) - mark
				if !hasLength || (l >= lb.min && l < lb.max) || try == 15 {
					break
				}
			}
			return string(append(buf, suffix...))
		}, nil
	}
	if _, ok := props["length"]; ok || n.logical != "uuid" {
		lb, err := lengthBounds(props["length"], false)
		if err != nil {
			return nil, err
		}
		return func(c *genCtx) any {
			size := lb.draw(&c.r)
			buf := make([]byte, 0, len(prefix)+size+len(suffix))
			buf = append(buf, prefix...)
			for range size {
				buf = append(buf, alnum[c.r.intn(len(alnum))])
			}
			return string(append(buf, suffix...))
		}, nil
	}
	return func(c *genCtx) any { return prefix + uuid4(&c.r) + suffix }, nil
}

// uuid4 formats 122 random bits as a version 4 UUID.
func uuid4(r *rng) string {
	var b [16]byte
	a, z := r.next(), r.next()
	for i := range 8 {
		b[i] = byte(a >> (8 * i))
		b[8+i] = byte(z >> (8 * i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[x>>4], hex[x&0xf])
	}
	return string(out)
}

func compileBytes(n *avroNode, s *connectors.Schema, props map[string]any) (genFunc, error) {
	if s.Name == connectors.DecimalName {
		return compileDecimal(n, s, props)
	}
	if s.Type != connectors.TypeBytes {
		return nil, errMismatch
	}
	if _, ok := props["range"]; ok {
		return nil, errors.New("range applies to decimals, not plain bytes")
	}
	lb := lengthRange{n.size, n.size + 1}
	if n.kind == avroBytes {
		var err error
		if lb, err = lengthBounds(props["length"], false); err != nil {
			return nil, err
		}
	} else if _, ok := props["length"]; ok {
		return nil, errors.New("a fixed has its size: length does not apply")
	}
	return func(c *genCtx) any {
		out := make([]byte, lb.draw(&c.r))
		for i := 0; i < len(out); i += 8 {
			w := c.r.next()
			for j := i; j < len(out) && j < i+8; j++ {
				out[j] = byte(w)
				w >>= 8
			}
		}
		return out
	}, nil
}

// compileDecimal draws decimals of the declared precision (every digit
// random, either sign, as avro-random-generator), or uniformly within a
// range {min, max} given as numbers.
func compileDecimal(n *avroNode, s *connectors.Schema, props map[string]any) (genFunc, error) {
	scale := n.scale
	if p, ok := s.Parameters[connectors.DecimalScaleParam]; ok {
		if v, err := strconv.Atoi(p); err == nil {
			scale = v
		}
	}
	precision := n.precision
	if precision == 0 { // decimal over fixed without precision: what fits
		precision = int(float64(8*n.size-1) * math.Log10(2))
	}
	denom := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	if rg, ok := props["range"]; ok {
		m, ok := rg.(map[string]any)
		if !ok {
			return nil, errors.New("range must be an object {min, max}")
		}
		limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(precision)), nil)
		bound := func(key string, def *big.Int) (*big.Int, error) {
			v, ok := m[key]
			if !ok {
				return def, nil
			}
			num, ok := v.(json.Number)
			if !ok {
				return nil, fmt.Errorf("range %s: want a number", key)
			}
			r, ok := new(big.Rat).SetString(num.String())
			if !ok {
				return nil, fmt.Errorf("range %s: %s is not a number", key, num)
			}
			r.Mul(r, new(big.Rat).SetInt(denom))
			// ceil, so that min is inclusive and max exclusive on the grid.
			q := new(big.Int).Quo(r.Num(), r.Denom())
			if new(big.Rat).SetInt(q).Cmp(r) < 0 {
				q.Add(q, big.NewInt(1))
			}
			return q, nil
		}
		for _, key := range sortedKeys(m) {
			if key != "min" && key != "max" {
				return nil, fmt.Errorf("range: unknown key %q (want min, max)", key)
			}
		}
		lo, err := bound("min", new(big.Int).Neg(new(big.Int).Sub(limit, big.NewInt(1))))
		if err != nil {
			return nil, err
		}
		hi, err := bound("max", limit)
		if err != nil {
			return nil, err
		}
		span := new(big.Int).Sub(hi, lo)
		if span.Sign() <= 0 {
			return nil, errors.New("range min must be below max (max is exclusive)")
		}
		if !lo.IsInt64() || !span.IsUint64() {
			return nil, errors.New("range of a decimal must span fewer than 2^64 steps of its scale")
		}
		lo64, span64 := lo.Int64(), span.Uint64()
		return func(c *genCtx) any {
			u := new(big.Int).SetInt64(lo64)
			u.Add(u, new(big.Int).SetUint64(c.r.below(span64)))
			return new(big.Rat).SetFrac(u, denom)
		}, nil
	}
	return func(c *genCtx) any {
		u := new(big.Int)
		digits := precision
		for digits > 0 {
			chunk := min(digits, 18)
			p := uint64(math.Pow10(chunk))
			u.Mul(u, new(big.Int).SetUint64(p))
			u.Add(u, new(big.Int).SetUint64(c.r.below(p)))
			digits -= chunk
		}
		if c.r.next()&1 == 1 {
			u.Neg(u)
		}
		return new(big.Rat).SetFrac(u, denom)
	}, nil
}

// jsonValue converts a JSON value given in the schema (an option, a field
// default) to Connect's representation of schema s (Avro node n).
func jsonValue(raw any, n *avroNode, s *connectors.Schema) (any, error) {
	if raw == nil {
		if n.kind == avroNull || s == nil || s.Optional || n.kind == avroUnion {
			return nil, nil
		}
		return nil, fmt.Errorf("null is not a %s", n.kind)
	}
	if s == nil {
		return nil, fmt.Errorf("%s is not null", describeJSON(raw))
	}
	bad := func() error { return fmt.Errorf("%s is not a valid %s", describeJSON(raw), n.kind) }
	switch n.kind {
	case avroNull:
		return nil, bad()
	case avroBoolean:
		b, ok := raw.(bool)
		if !ok {
			return nil, bad()
		}
		return b, nil
	case avroInt, avroLong:
		k, err := integerKind(n, s)
		if err != nil {
			return nil, err
		}
		i, err := jsonInt(raw)
		if err != nil || i < k.lo || i > k.hi {
			return nil, bad()
		}
		return k.box(i), nil
	case avroFloat, avroDouble:
		f, err := jsonFloat(raw)
		if err != nil {
			return nil, bad()
		}
		if s.Type == connectors.TypeFloat32 {
			return float32(f), nil
		}
		return f, nil
	case avroString:
		str, ok := raw.(string)
		if !ok {
			return nil, bad()
		}
		return str, nil
	case avroEnum:
		str, ok := raw.(string)
		if !ok || !slices.Contains(n.symbols, str) {
			return nil, fmt.Errorf("%s is not a symbol of enum %s", describeJSON(raw), n.name)
		}
		return str, nil
	case avroBytes, avroFixed:
		if s.Name == connectors.DecimalName {
			var text string
			switch v := raw.(type) {
			case json.Number:
				text = v.String()
			case string:
				text = v
			default:
				return nil, bad()
			}
			r, ok := new(big.Rat).SetString(text)
			if !ok {
				return nil, bad()
			}
			return r, nil
		}
		str, ok := raw.(string)
		if !ok {
			return nil, bad()
		}
		if n.kind == avroFixed && len(str) != n.size {
			return nil, fmt.Errorf("%q is not %d bytes long", str, n.size)
		}
		return []byte(str), nil
	case avroArray:
		list, ok := raw.([]any)
		if !ok {
			return nil, bad()
		}
		out := make([]any, len(list))
		for i, e := range list {
			v, err := jsonValue(e, n.items, s.ValueSchema)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out[i] = v
		}
		return out, nil
	case avroMap:
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, bad()
		}
		out := make(map[string]any, len(m))
		for _, k := range sortedKeys(m) {
			v, err := jsonValue(m[k], n.values, s.ValueSchema)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", k, err)
			}
			out[k] = v
		}
		return out, nil
	case avroRecord:
		m, ok := raw.(map[string]any)
		if !ok || s.Type != connectors.TypeStruct {
			return nil, bad()
		}
		st := connectors.NewStructValue(s)
		for _, f := range n.fields {
			cf, ok := s.Field(f.name)
			if !ok {
				return nil, fmt.Errorf("the Connect schema has no field %q", f.name)
			}
			v, given := m[f.name]
			if !given {
				if !f.hasDefault {
					if cf.Schema.Optional {
						continue
					}
					return nil, fmt.Errorf("field %q is missing and has no default", f.name)
				}
				v = f.def
			}
			cv, err := jsonValue(v, f.node, cf.Schema)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", f.name, err)
			}
			st.Set(cf.Index, cv)
		}
		for _, k := range sortedKeys(m) {
			if _, ok := s.Field(k); !ok {
				return nil, fmt.Errorf("record %s has no field %q", n.name, k)
			}
		}
		return st, nil
	case avroUnion:
		var nonNull []*avroNode
		for _, b := range n.branches {
			if b.kind != avroNull {
				nonNull = append(nonNull, b)
			}
		}
		if len(nonNull) == 1 {
			return jsonValue(raw, nonNull[0], s)
		}
		if s.Type != connectors.TypeStruct || len(s.Fields) != len(nonNull) {
			return nil, bad()
		}
		for j, b := range nonNull {
			if v, err := jsonValue(raw, b, s.Fields[j].Schema); err == nil {
				st := connectors.NewStructValue(s)
				st.Set(j, v)
				return st, nil
			}
		}
		return nil, fmt.Errorf("%s fits no branch of the union", describeJSON(raw))
	}
	return nil, bad()
}

// keyFunc returns how a top-level field's value becomes the record key:
// its text, as Confluent's datagen uses the field's toString (strings as
// they are, numbers in decimal, dates as 2006-01-02, timestamps in RFC 3339
// with milliseconds). A null value gives a null key.
func keyFunc(s *connectors.Schema) (func(v any) any, error) {
	switch s.Name {
	case connectors.DateName:
		return func(v any) any {
			if t, ok := v.(time.Time); ok {
				return t.UTC().Format(time.DateOnly)
			}
			return nil
		}, nil
	case connectors.TimeName:
		return func(v any) any {
			if t, ok := v.(time.Time); ok {
				return t.UTC().Format("15:04:05.000")
			}
			return nil
		}, nil
	case connectors.TimestampName:
		return func(v any) any {
			if t, ok := v.(time.Time); ok {
				return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
			}
			return nil
		}, nil
	case connectors.DecimalName:
		scale, _ := strconv.Atoi(s.Parameters[connectors.DecimalScaleParam])
		return func(v any) any {
			if r, ok := v.(*big.Rat); ok {
				return r.FloatString(scale)
			}
			return nil
		}, nil
	}
	switch s.Type {
	case connectors.TypeString, connectors.TypeBoolean, connectors.TypeInt8, connectors.TypeInt16,
		connectors.TypeInt32, connectors.TypeInt64, connectors.TypeFloat32, connectors.TypeFloat64:
		return keyText, nil
	}
	return nil, fmt.Errorf("is a %s: the key field must be a string, number, boolean, enum or date/time", s)
}

func keyText(v any) any {
	switch x := v.(type) {
	case string:
		return x
	case int8:
		return strconv.FormatInt(int64(x), 10)
	case int16:
		return strconv.FormatInt(int64(x), 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return nil
}
