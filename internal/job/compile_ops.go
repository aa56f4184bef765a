package job

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

func suggest(s string, names []string) string { return connectors.Suggest(s, names) }

var (
	rtInt64   = reflect.TypeOf(int64(0))
	rtFloat64 = reflect.TypeOf(float64(0))
	rtString  = reflect.TypeOf("")
	rtBool    = reflect.TypeOf(false)
	rtTime    = reflect.TypeOf(time.Time{})
)

// internalFormat is how records are written to internal topics
// (repartition topics, changelogs): Avro through the registry when the job
// has one (always at run time), JSON while linting.
func (c *compiler) internalFormat() string {
	if c.opts.RegistryURL != "" {
		return "avro"
	}
	return "json"
}

// goType turns an expression's static result type into a stream type.
func (c *compiler) goType(rt reflect.Type, at *Value) (vtype, bool) {
	if r := c.recordOf(rt); r != nil {
		return vtype{rt: rt, format: c.internalFormat(), record: r}, true
	}
	switch rt.Kind() {
	case reflect.String:
		return tString, true
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Int16, reflect.Int8, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return tLong, true
	case reflect.Float64, reflect.Float32:
		return tDouble, true
	case reflect.Slice:
		if rt.Elem().Kind() == reflect.Uint8 {
			return tBytes, true
		}
	}
	if rt == anyType || rt.Kind() == reflect.Map || rt.Kind() == reflect.Slice || rt.Kind() == reflect.Bool {
		return tJSONAny, true
	}
	c.fail(at.Pos, "the expression returns %s, which cannot be written (want a string, number, record, map or list)", rt)
	return vtype{}, false
}

// exprType is the stream type of an expression's result.
func (c *compiler) exprType(p *program, at *Value) (vtype, bool) { return c.goType(p.out, at) }

// projected is a compiled mapValues/map value: an expression, or fields
// building a record of an inferred type.
type projected struct {
	typ  vtype
	eval func(key, value any) any
	// into builds a record of fields into dst (nil: a new one); nil for
	// a projection by one expression. scalar says every field is a
	// number, string, boolean or time: none can point into the input.
	into   func(key, value, dst any) any
	scalar bool
}

// projection compiles an expression or a map of field expressions over
// vars (key, value). name is the inferred record's name suffix.
func (c *compiler) projection(p *Pipeline, v *Value, vars []variable, suffix string) *projected {
	if v.Kind != KindMap {
		prog, err := compile(v, vars, 0)
		if err != nil {
			c.failErr(err)
			return nil
		}
		t, ok := c.exprType(prog, v)
		if !ok {
			return nil
		}
		conv := converterTo(prog.out, t.rt)
		return &projected{typ: t, eval: func(k, val any) any {
			out, err := prog.run(k, val)
			if err != nil {
				panic(exprPanic{err})
			}
			return conv(out)
		}}
	}
	progs := make([]*program, len(v.Map))
	fields := make([]recordField, len(v.Map))
	failed := false
	for i, e := range v.Map {
		prog, err := compile(e.Val, vars, 0)
		if err != nil {
			c.failErr(err)
			failed = true
			continue
		}
		ft, err := fieldType(prog.out)
		if err != nil {
			c.fail(e.Val.Pos, "field %q: %v", e.Key, err)
			failed = true
			continue
		}
		progs[i], fields[i] = prog, recordField{name: e.Key, rt: ft, pos: e.KeyPos}
	}
	if failed {
		return nil
	}
	rt, err := c.inferRecord(c.recordName(p, suffix), fields)
	if err != nil {
		c.fail(v.Pos, "%v", err)
		return nil
	}
	t := vtype{rt: rt.goType, format: c.internalFormat(), record: rt}
	build := newRecordBuilder(rt, progs, vars)
	scalar := true
	for _, f := range fields {
		switch f.rt {
		case rtInt64, rtFloat64, rtString, rtBool, rtTime:
		default:
			scalar = false
		}
	}
	return &projected{typ: t, scalar: scalar, eval: func(k, val any) any {
		rec := rt.new()
		build.build(rec, fastArgs{k, val})
		return rec
	}, into: func(k, val, dst any) any {
		if dst == nil {
			dst = rt.new()
		}
		// Every field has an expression, so every field is overwritten.
		build.build(dst, fastArgs{k, val})
		return dst
	}}
}

// fieldType is the record field type for an expression's result type.
func fieldType(rt reflect.Type) (reflect.Type, error) {
	switch rt.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Int16, reflect.Int8, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return rtInt64, nil
	case reflect.Float64, reflect.Float32:
		return rtFloat64, nil
	case reflect.String:
		return rtString, nil
	case reflect.Bool:
		return rtBool, nil
	}
	if rt == rtTime {
		return rtTime, nil
	}
	if rt.Kind() == reflect.Pointer && rt.Elem().Kind() == reflect.Struct {
		return rt, nil // a nested record
	}
	if rt.Kind() == reflect.Slice || rt.Kind() == reflect.Map {
		return rt, nil
	}
	return nil, fmt.Errorf("its type (%s) is not known before run time: convert it with int(...), float(...), string(...) or a comparison", rt)
}

// converterTo converts run-time results to the chosen stream type.
func converterTo(from, to reflect.Type) func(any) any {
	if from == to || to == anyType {
		return func(v any) any { return v }
	}
	return func(v any) any {
		out, err := convertTo(v, to)
		if err != nil {
			panic(exprPanic{err})
		}
		return out
	}
}

// recordName makes an Avro full name for an inferred record.
func (c *compiler) recordName(p *Pipeline, suffix string) string {
	clean := func(s string) string {
		var b strings.Builder
		for i, r := range s {
			if r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9') {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
			}
		}
		return b.String()
	}
	return fmt.Sprintf("sluice.jobs.%s.%s.Step%d%s", clean(c.j.Name), clean(p.Name), c.step, suffix)
}

// aggregate compiles count, sum, min, max, avg, reduce and aggregate over
// a grouped (and maybe windowed) stream.
func (c *compiler) aggregate(p *Pipeline, n *node, s *Step, name dsl.Named) *node {
	keys := c.keySerde(n.key, s.Pos)
	var (
		rt      *recordType
		init    func() any
		add     func(k, v, agg any) any
		outType vtype
	)
	valueExpr := func() (*program, reflect.Type, bool) {
		prog, err := compile(s.Arg, kvVars(n), 0)
		if err != nil {
			c.failErr(err)
			return nil, nil, false
		}
		return prog, prog.out, true
	}
	eval := func(prog *program, k, v any) any {
		out, err := prog.run(k, v)
		if err != nil {
			panic(exprPanic{err})
		}
		return out
	}
	mk := func(fields ...recordField) bool {
		var err error
		if rt, err = c.inferRecord(c.recordName(p, strings.ToUpper(s.Op[:1])+s.Op[1:]), fields); err != nil {
			c.fail(s.Pos, "%v", err)
			return false
		}
		outType = vtype{rt: rt.goType, format: c.internalFormat(), record: rt}
		return true
	}
	switch s.Op {
	case "count":
		if !mk(recordField{name: "count", rt: rtInt64}) {
			return nil
		}
		init = func() any { r := rt.new(); rt.mustSet(r, 0, int64(0)); return r }
		add = func(_, _ any, agg any) any {
			r := rt.clone(agg)
			rt.mustSet(r, 0, rt.get(agg, 0).(int64)+1)
			return r
		}
	case "sum":
		prog, out, ok := valueExpr()
		if !ok {
			return nil
		}
		ft := rtFloat64
		if isIntKind(out.Kind()) {
			ft = rtInt64
		} else if !isFloatKind(out.Kind()) {
			c.fail(s.Arg.Pos, "sum: the expression returns %s, want a number", out)
			return nil
		}
		if !mk(recordField{name: "sum", rt: ft}) {
			return nil
		}
		zero, _ := convertTo(0, ft)
		init = func() any { r := rt.new(); rt.mustSet(r, 0, zero); return r }
		add = func(k, v, agg any) any {
			x := eval(prog, k, v)
			r := rt.clone(agg)
			if ft == rtInt64 {
				xi, _ := convertTo(x, rtInt64)
				rt.mustSet(r, 0, rt.get(agg, 0).(int64)+xi.(int64))
			} else {
				xf, _ := convertTo(x, rtFloat64)
				rt.mustSet(r, 0, rt.get(agg, 0).(float64)+xf.(float64))
			}
			return r
		}
	case "min", "max":
		prog, out, ok := valueExpr()
		if !ok {
			return nil
		}
		var less func(a, b any) bool
		var ft reflect.Type
		switch {
		case isIntKind(out.Kind()), isFloatKind(out.Kind()):
			ft = rtFloat64
			less = func(a, b any) bool { return a.(float64) < b.(float64) }
		case out.Kind() == reflect.String:
			ft = rtString
			less = func(a, b any) bool { return a.(string) < b.(string) }
		case out == rtTime:
			ft = rtTime
			less = func(a, b any) bool { return a.(time.Time).Before(b.(time.Time)) }
		default:
			c.fail(s.Arg.Pos, "%s: the expression returns %s, want a number, string or time", s.Op, out)
			return nil
		}
		if !mk(recordField{name: s.Op, rt: ft, optional: true}) {
			return nil
		}
		isMax := s.Op == "max"
		init = func() any { return rt.new() }
		add = func(k, v, agg any) any {
			x, err := convertTo(eval(prog, k, v), ft)
			if err != nil {
				panic(exprPanic{err})
			}
			cur := rt.get(agg, 0)
			r := rt.clone(agg)
			if cur == nil || (isMax && less(cur, x)) || (!isMax && less(x, cur)) {
				rt.mustSet(r, 0, x)
			}
			return r
		}
	case "avg":
		prog, out, ok := valueExpr()
		if !ok {
			return nil
		}
		if !isIntKind(out.Kind()) && !isFloatKind(out.Kind()) {
			c.fail(s.Arg.Pos, "avg: the expression returns %s, want a number", out)
			return nil
		}
		if !mk(recordField{name: "avg", rt: rtFloat64}, recordField{name: "sum", rt: rtFloat64}, recordField{name: "count", rt: rtInt64}) {
			return nil
		}
		init = func() any {
			r := rt.new()
			rt.mustSet(r, 0, 0.0)
			rt.mustSet(r, 1, 0.0)
			rt.mustSet(r, 2, int64(0))
			return r
		}
		add = func(k, v, agg any) any {
			x, _ := convertTo(eval(prog, k, v), rtFloat64)
			sum := rt.get(agg, 1).(float64) + x.(float64)
			cnt := rt.get(agg, 2).(int64) + 1
			r := rt.clone(agg)
			rt.mustSet(r, 0, sum/float64(cnt))
			rt.mustSet(r, 1, sum)
			rt.mustSet(r, 2, cnt)
			return r
		}
	case "reduce":
		prog, err := compile(s.Arg, []variable{{"aggregate", n.value.rt}, {"value", n.value.rt}}, 0)
		if err != nil {
			c.failErr(err)
			return nil
		}
		if prog.out != n.value.rt && prog.out != anyType {
			c.fail(s.Arg.Pos, "reduce: the expression returns %s, but the values are %s (reduce keeps the value type; use aggregate to build another)", prog.out, n.value)
			return nil
		}
		outType = n.value
		red := func(agg, v any) any {
			out, err := prog.run(agg, v)
			if err != nil {
				panic(exprPanic{err})
			}
			return out
		}
		values := c.serde(n.value, s.Pos)
		return c.finishAgg(n, s, name, keys, values, outType, nil, nil, red)
	case "aggregate":
		initV, addV := s.Arg.Get("initial"), s.Arg.Get("add")
		var fields []recordField
		var initProgs []*program
		for _, e := range initV.Map {
			prog, err := compile(e.Val, nil, 0)
			if err != nil {
				c.failErr(err)
				return nil
			}
			ft, err := fieldType(prog.out)
			if err != nil {
				c.fail(e.Val.Pos, "initial %q: %v", e.Key, err)
				return nil
			}
			fields = append(fields, recordField{name: e.Key, rt: ft, pos: e.KeyPos})
			initProgs = append(initProgs, prog)
		}
		if !mk(fields...) {
			return nil
		}
		addProgs := make([]*program, len(fields))
		for _, e := range addV.Map {
			i := rt.index(e.Key)
			if i < 0 {
				c.fail(e.KeyPos, "add: %q is not a field of initial", e.Key)
				return nil
			}
			prog, err := compile(e.Val, []variable{{"key", n.key.rt}, {"value", n.value.rt}, {"aggregate", rt.goType}}, 0)
			if err != nil {
				c.failErr(err)
				return nil
			}
			addProgs[i] = prog
		}
		init = func() any {
			r := rt.new()
			for i, p := range initProgs {
				out, err := p.run()
				if err != nil {
					panic(exprPanic{err})
				}
				rt.mustSet(r, i, out)
			}
			return r
		}
		build := newRecordBuilder(rt, addProgs, []variable{{"key", n.key.rt}, {"value", n.value.rt}, {"aggregate", rt.goType}})
		add = func(k, v, agg any) any {
			// The expressions read agg; the clone gets the new values.
			r := rt.clone(agg)
			build.build(r, fastArgs{k, v, agg})
			return r
		}
	}
	return c.finishAgg(n, s, name, keys, c.serde(outType, s.Pos), outType, init, add, nil)
}

// finishAgg builds the aggregation on the grouped stream, windowed or not.
func (c *compiler) finishAgg(n *node, s *Step, name dsl.Named, keys, values serde.Serde[any], out vtype,
	init func() any, add func(k, v, agg any) any, reduce func(agg, v any) any) *node {
	mat := dsl.Materialized[any, any]{Name: string(name), Keys: keys, Values: values}
	aggFn := func(k, v, agg any) any { return add(k, v, agg) }
	c.queryableAggregation(string(name), n, keys, values)
	if n.windows == nil {
		var t *dsl.KTable[any, any]
		if reduce != nil {
			t = n.grouped.Reduce(reduce, mat)
		} else {
			t = dsl.Aggregate(n.grouped, init, aggFn, mat)
		}
		return &node{kind: kTable, table: t, key: n.key, value: out}
	}
	w := n.windows
	var wt *dsl.KTable[serde.Windowed[any], any]
	switch w.kind {
	case "session":
		sw := dsl.WindowedBySession(n.grouped, dsl.SessionWindowsOf(w.size, w.grace))
		if reduce != nil {
			wt = sw.Reduce(reduce, mat)
		} else {
			merger := func(k, a, b any) any {
				c.fail(s.Pos, "internal: session merge")
				return a
			}
			_ = merger
			c.fail(s.Pos, "%s: session windows need a mergeable aggregation; use count, sum or reduce (not supported yet for this step)", s.Op)
			return nil
		}
	default:
		var tw *dsl.TimeWindowedKStream[any, any]
		switch w.kind {
		case "tumbling":
			tw = dsl.WindowedBy(n.grouped, dsl.TumblingWindows(w.size, w.grace))
		case "hopping":
			tw = dsl.WindowedBy(n.grouped, dsl.HoppingWindows(w.size, w.advance, w.grace))
		case "sliding":
			tw = dsl.WindowedBySliding(n.grouped, dsl.SlidingWindowsOf(w.size, w.grace))
		}
		if reduce != nil {
			wt = tw.Reduce(reduce, mat)
		} else {
			wt = dsl.WindowedAggregate(tw, init, aggFn, mat)
		}
	}
	return &node{kind: kWindowedTable, wtable: wt, windows: w, key: n.key, value: out}
}

func isIntKind(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return true
	}
	return false
}

func isFloatKind(k reflect.Kind) bool { return k == reflect.Float32 || k == reflect.Float64 }

// windowedToStream turns a windowed table into a stream keyed by the
// plain key, with window_start and window_end added to each value.
func (c *compiler) windowedToStream(p *Pipeline, n *node, s *Step, name dsl.Named) *node {
	var fields []recordField
	var src *recordType
	if n.value.record != nil {
		src = n.value.record
		fields = append(fields, src.fields...)
	} else {
		ft, err := fieldType(n.value.rt)
		if err != nil {
			c.fail(s.Pos, "toStream: %v", err)
			return nil
		}
		fields = append(fields, recordField{name: "value", rt: ft})
	}
	fields = append(fields, recordField{name: "window_start", rt: rtTime}, recordField{name: "window_end", rt: rtTime})
	rt, err := c.inferRecord(c.recordName(p, "Windowed"), fields)
	if err != nil {
		c.fail(s.Pos, "%v", err)
		return nil
	}
	out := vtype{rt: rt.goType, format: c.internalFormat(), record: rt}
	nf := len(fields) - 2
	st := dsl.Map(n.wtable.ToStream(name), func(wk serde.Windowed[any], v any) (any, any) {
		r := rt.new()
		if src != nil {
			for i := 0; i < nf; i++ {
				rt.mustSet(r, i, src.get(v, i))
			}
		} else {
			rt.mustSet(r, 0, v)
		}
		rt.mustSet(r, nf, time.UnixMilli(wk.Start).UTC())
		rt.mustSet(r, nf+1, time.UnixMilli(wk.End).UTC())
		return wk.Key, r
	}, dsl.Named(string(name)+"-unwindow"))
	return &node{kind: kStream, stream: st.WithSerdes(c.keySerde(n.key, s.Pos), c.serde(out, s.Pos)), key: n.key, value: out}
}

// join compiles the join step.
func (c *compiler) join(p *Pipeline, n *node, s *Step, name dsl.Named) *node {
	a := s.Arg
	var targets []string
	for _, k := range []string{"table", "global.table", "stream"} {
		if a.Get(k) != nil {
			targets = append(targets, k)
		}
	}
	if len(targets) != 1 {
		c.fail(s.Pos, "join: name exactly one of table, global.table, stream")
		return nil
	}
	ref := a.Get(targets[0])
	other, ok := c.named[ref.Str]
	if !ok {
		c.unknownRef(Ref{ref.Str, ref.Pos})
		return nil
	}
	typ := "inner"
	if t := a.Get("type"); t != nil {
		typ = strings.ToLower(t.Str)
	}
	rightType := other.value.rt
	if typ != "inner" && rightType.Kind() != reflect.Pointer && rightType.Kind() != reflect.Interface && rightType.Kind() != reflect.Map {
		rightType = anyType // nil when unmatched
	}
	leftType := n.value.rt
	if typ == "outer" && leftType.Kind() != reflect.Pointer && leftType.Kind() != reflect.Interface && leftType.Kind() != reflect.Map {
		leftType = anyType
	}
	vars := []variable{{"left", leftType}, {"right", rightType}}
	proj := c.projection(p, a.Get("value"), vars, "Joined")
	if proj == nil {
		return nil
	}
	// projection's eval passes its two arguments as the first two
	// variables: here left and right.
	joined := func(l, r any) any { return proj.eval(l, r) }
	values := c.serde(proj.typ, s.Pos)
	keys := c.keySerde(n.key, s.Pos)
	switch targets[0] {
	case "table":
		if !c.need(s, n, kStream) {
			return nil
		}
		if other.kind != kTable {
			c.fail(ref.Pos, "join: %q is %s, not a table (use global.table or stream)", ref.Str, other.kind)
			return nil
		}
		if !sameType(n.key, other.key) {
			c.fail(ref.Pos, "join: the stream's keys are %s, the table's %s: re-key the stream first (selectKey) so they match", n.key, other.key)
			return nil
		}
		j := dsl.Joined[any, any]{Name: string(name), Keys: keys, Values: c.serde(n.value, s.Pos)}
		var st *dsl.KStream[any, any]
		switch typ {
		case "inner":
			st = dsl.JoinTable(n.stream, other.table, joined, j)
		case "left":
			st = dsl.LeftJoinTable(n.stream, other.table, func(l, r any, found bool) any {
				if !found {
					r = nil
				}
				return joined(l, r)
			}, j)
		default:
			c.fail(a.Get("type").Pos, "join: a stream-table join is inner or left")
			return nil
		}
		return &node{kind: kStream, stream: st.WithSerdes(keys, values), key: n.key, value: proj.typ}
	case "global.table":
		if !c.need(s, n, kStream) {
			return nil
		}
		if other.kind != kGlobal {
			c.fail(ref.Pos, "join: %q is %s, not a global table", ref.Str, other.kind)
			return nil
		}
		kv := a.Get("key.expr")
		if kv == nil {
			c.fail(s.Pos, "join: a global table join needs key.expr: the table key to look up")
			return nil
		}
		kp, err := compile(kv, kvVars(n), 0)
		if err != nil {
			c.failErr(err)
			return nil
		}
		sel := func(k, v any) any {
			out, err := kp.run(k, v)
			if err != nil {
				panic(exprPanic{err})
			}
			return out
		}
		var st *dsl.KStream[any, any]
		switch typ {
		case "inner":
			st = dsl.JoinGlobal(n.stream, other.global, sel, joined, name)
		case "left":
			st = dsl.LeftJoinGlobal(n.stream, other.global, sel, func(l, r any, found bool) any {
				if !found {
					r = nil
				}
				return joined(l, r)
			}, name)
		default:
			c.fail(a.Get("type").Pos, "join: a stream-global join is inner or left")
			return nil
		}
		return &node{kind: kStream, stream: st.WithSerdes(keys, values), key: n.key, value: proj.typ}
	case "stream":
		if !c.need(s, n, kStream) {
			return nil
		}
		if other.kind != kStream {
			c.fail(ref.Pos, "join: %q is %s, not a stream", ref.Str, other.kind)
			return nil
		}
		within := a.Get("within")
		if within == nil {
			c.fail(s.Pos, "join: a stream-stream join needs within: the largest time difference of joined records")
			return nil
		}
		d, _ := parseDuration(within)
		var grace time.Duration
		if g := a.Get("grace"); g != nil {
			grace, _ = parseDuration(g)
		}
		sj := dsl.StreamJoined[any, any, any]{Name: string(name), Keys: keys, LeftValues: c.serde(n.value, s.Pos), RightValues: c.serde(other.value, s.Pos)}
		w := dsl.JoinWindowsOf(d, grace)
		var st *dsl.KStream[any, any]
		switch typ {
		case "inner":
			st = dsl.Join(n.stream, other.stream, joined, w, sj)
		case "left":
			st = dsl.LeftJoin(n.stream, other.stream, func(l, r any, matched bool) any {
				if !matched {
					r = nil
				}
				return joined(l, r)
			}, w, sj)
		case "outer":
			st = dsl.OuterJoin(n.stream, other.stream, func(l any, hasL bool, r any, hasR bool) any {
				if !hasL {
					l = nil
				}
				if !hasR {
					r = nil
				}
				return joined(l, r)
			}, w, sj)
		}
		return &node{kind: kStream, stream: st.WithSerdes(keys, values), key: n.key, value: proj.typ}
	}
	return nil
}
