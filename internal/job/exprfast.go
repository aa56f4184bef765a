package job

import (
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"github.com/expr-lang/expr/ast"
)

// Expressions of the common kind — field reads of records, numbers,
// strings and booleans combined by arithmetic, comparisons and logic —
// are also compiled to Go closures over the records' memory, which run
// without expr-lang's VM: no environment struct filled by reflection, no
// boxing of every intermediate value, no dynamic dispatch on operand
// types. In the job benchmark's stateless pipeline the VM, its
// environment and the boxing were more than half of a record's cost.
//
// The closures compute exactly what the VM computes: they are built from
// the tree expr-lang type-checked and optimized (so constants have the
// types the VM pushes), integers follow expr-lang's runtime (any two
// integers combine as int, an integer and a float as float64, / is always
// float64), and any case the closures do not cover is left to the VM:
// whole expressions with other nodes (builtins, nil, optional chaining,
// maps, ...) at compile time, and, at run time, a record variable that is
// nil or not of its static type, a nil nullable record on a field path,
// or an integer modulo by zero (the closures panic with fastBail). Those
// evaluations run on the VM, which gives its usual results and errors.

// fastKind is how a closure node returns its value.
type fastKind uint8

const (
	fastInt    fastKind = iota + 1 // i: an integer of typ (int, int8..int64)
	fastFloat                      // f: float64 or float32 (held as float64)
	fastString                     // s
	fastBool                       // b
	fastAny                        // x: any other value, boxed as the VM boxes it
)

// fastArgs are an evaluation's variable values, in the program's
// variables' order. They are passed by value: a pointer passed to a
// closure escapes, which cost an allocation per evaluation.
type fastArgs [maxFastVars]any

// maxFastVars is the most variables an expression has (key, value and
// aggregate or timestamp).
const maxFastVars = 3

// fastBail is the panic of a closure that met a case the VM must handle;
// the evaluation is then done again on the VM.
type fastBail struct{}

// fastNode is a compiled expression node: one of its closures is set,
// according to kind. typ is the Go type of the value the VM produces here.
type fastNode struct {
	kind fastKind
	typ  reflect.Type
	i    func(fastArgs) int64
	f    func(fastArgs) float64
	s    func(fastArgs) string
	b    func(fastArgs) bool
	x    func(fastArgs) any
	// field is set for a read of a field of a variable's own record
	// (value.amount), which a record builder copies without a call.
	field *directField
	// constant is set for a number constant, with its value.
	constant *fastConst
}

// fastConst is a number constant's value, as an int64 (kind fastInt) or a
// float64 (kind fastFloat).
type fastConst struct {
	i int64
	f float64
}

// directField is field offset off of the record in variable v.
type directField struct {
	v   int
	off uintptr
}

// fastExpr is a whole expression compiled to closures.
type fastExpr struct {
	root fastNode
	// checks are the variables the expression reads with a concrete
	// static type: a value of another dynamic type (nil included) is left
	// to the VM.
	checks []argCheck
}

// argCheck says variable i must hold a value whose type word is word.
type argCheck struct {
	i    int
	word unsafe.Pointer
}

// argsFit says the values fit the checks.
func argsFit(checks []argCheck, a *fastArgs) bool {
	for _, c := range checks {
		if typeWord(a[c.i]) != c.word {
			return false
		}
	}
	return true
}

// typeWord is the type word of an interface holding v.
func typeWord(v any) unsafe.Pointer { return (*[2]unsafe.Pointer)(unsafe.Pointer(&v))[0] }

// dataWord is the data word of an interface: for a pointer type, the
// pointer.
func dataWord(v *any) unsafe.Pointer { return (*[2]unsafe.Pointer)(unsafe.Pointer(v))[1] }

// compileFast compiles a type-checked expression tree, or returns nil if
// the tree has nodes the closures do not cover.
func compileFast(node ast.Node, vars []variable) *fastExpr {
	if len(vars) > maxFastVars || strconv.IntSize != 64 {
		return nil // (expr-lang's integers are ints: int64 here)
	}
	c := &fastCompiler{vars: vars}
	root, ok := c.node(node)
	if !ok {
		return nil
	}
	// The root's static type must be what the closures produce (an
	// interface-typed root would be fine for the VM but is not produced
	// here).
	if t := node.Type(); t != nil && t != root.typ {
		return nil
	}
	fe := &fastExpr{root: root}
	for i, used := range c.used {
		if used && vars[i].typ != nil && vars[i].typ.Kind() != reflect.Interface {
			fe.checks = append(fe.checks, argCheck{i, typeWord(reflect.New(vars[i].typ).Elem().Interface())})
		}
	}
	return fe
}

// eval evaluates the expression, boxing the result as the VM does; false
// when the VM must evaluate it.
func (fe *fastExpr) eval(a fastArgs) (out any, ok bool) {
	if !argsFit(fe.checks, &a) {
		return nil, false
	}
	return fe.evalArgs(a)
}

// test evaluates a predicate (a bool expression); false, false when the
// VM must evaluate it.
func (fe *fastExpr) test(a fastArgs) (result, ok bool) {
	if !argsFit(fe.checks, &a) {
		return false, false
	}
	defer func() {
		if r := recover(); r != nil {
			if _, bail := r.(fastBail); !bail {
				panic(r)
			}
			result, ok = false, false
		}
	}()
	return fe.root.b(a), true
}

func (fe *fastExpr) evalArgs(a fastArgs) (out any, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, bail := r.(fastBail); !bail {
				panic(r)
			}
			out, ok = nil, false
		}
	}()
	return fe.root.box(a), true
}

// box evaluates n and boxes the value with n's type.
func (n *fastNode) box(a fastArgs) any {
	switch n.kind {
	case fastInt:
		v := n.i(a)
		switch n.typ.Kind() {
		case reflect.Int:
			return int(v)
		case reflect.Int64:
			return v
		case reflect.Int32:
			return int32(v)
		case reflect.Int16:
			return int16(v)
		case reflect.Int8:
			return int8(v)
		}
	case fastFloat:
		if n.typ.Kind() == reflect.Float32 {
			return float32(n.f(a))
		}
		return n.f(a)
	case fastString:
		return n.s(a)
	case fastBool:
		return n.b(a)
	case fastAny:
		return n.x(a)
	}
	panic("job: fast expression node of unknown kind")
}

type fastCompiler struct {
	vars []variable
	used [maxFastVars]bool
}

var (
	rtInt     = reflect.TypeOf(0)
	rtInt32   = reflect.TypeOf(int32(0))
	rtInt16   = reflect.TypeOf(int16(0))
	rtInt8    = reflect.TypeOf(int8(0))
	rtFloat32 = reflect.TypeOf(float32(0))
)

// scalarKind is the closure kind of values of Go type t, 0 for types the
// closures hold only boxed. Named types (time.Duration, ...) are boxed:
// the VM's arithmetic treats them apart.
func scalarKind(t reflect.Type) fastKind {
	switch t {
	case rtInt, rtInt64, rtInt32, rtInt16, rtInt8:
		return fastInt
	case rtFloat64, rtFloat32:
		return fastFloat
	case rtString:
		return fastString
	case rtBool:
		return fastBool
	}
	return 0
}

func (c *fastCompiler) node(n ast.Node) (fastNode, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return constNode(n.Type(), n.Value)
	case *ast.FloatNode:
		return constNode(n.Type(), n.Value)
	case *ast.StringNode:
		return constNode(rtString, n.Value)
	case *ast.BoolNode:
		return constNode(rtBool, n.Value)
	case *ast.ConstantNode:
		if n.Value == nil {
			return fastNode{}, false
		}
		return constNode(reflect.TypeOf(n.Value), n.Value)
	case *ast.IdentifierNode:
		return c.identifier(n)
	case *ast.MemberNode:
		return c.member(n)
	case *ast.UnaryNode:
		return c.unary(n)
	case *ast.BinaryNode:
		return c.binary(n)
	case *ast.ConditionalNode:
		return c.conditional(n)
	}
	return fastNode{}, false
}

// constNode is a constant of type t (as expr-lang's compiler pushes it:
// an integer literal takes its node's type, int or float).
func constNode(t reflect.Type, v any) (fastNode, bool) {
	if t == nil {
		return fastNode{}, false
	}
	rv := reflect.ValueOf(v)
	switch scalarKind(t) {
	case fastInt:
		if !rv.CanInt() {
			return fastNode{}, false
		}
		x := rv.Int()
		if reflect.New(t).Elem().OverflowInt(x) {
			return fastNode{}, false // the VM's compiler refuses it
		}
		return fastNode{kind: fastInt, typ: t, constant: &fastConst{i: x}, i: func(fastArgs) int64 { return x }}, true
	case fastFloat:
		var x float64
		switch {
		case rv.CanFloat():
			x = rv.Float()
		case rv.CanInt():
			x = float64(rv.Int())
		default:
			return fastNode{}, false
		}
		if t == rtFloat32 {
			x = float64(float32(x))
		}
		return fastNode{kind: fastFloat, typ: t, constant: &fastConst{f: x}, f: func(fastArgs) float64 { return x }}, true
	case fastString:
		if rv.Kind() != reflect.String {
			return fastNode{}, false
		}
		x := rv.String()
		return fastNode{kind: fastString, typ: t, s: func(fastArgs) string { return x }}, true
	case fastBool:
		if rv.Kind() != reflect.Bool {
			return fastNode{}, false
		}
		x := rv.Bool()
		return fastNode{kind: fastBool, typ: t, b: func(fastArgs) bool { return x }}, true
	}
	return fastNode{}, false
}

func (c *fastCompiler) identifier(n *ast.IdentifierNode) (fastNode, bool) {
	idx := -1
	for i, v := range c.vars {
		if v.name == n.Value {
			idx = i
			break
		}
	}
	if idx < 0 {
		return fastNode{}, false // $env, a builtin, ...
	}
	c.used[idx] = true
	t := c.vars[idx].typ
	if t == nil {
		t = anyType
	}
	switch scalarKind(t) {
	case fastInt:
		switch t {
		case rtInt:
			return fastNode{kind: fastInt, typ: t, i: func(a fastArgs) int64 { return int64(a[idx].(int)) }}, true
		case rtInt64:
			return fastNode{kind: fastInt, typ: t, i: func(a fastArgs) int64 { return a[idx].(int64) }}, true
		case rtInt32:
			return fastNode{kind: fastInt, typ: t, i: func(a fastArgs) int64 { return int64(a[idx].(int32)) }}, true
		}
		return fastNode{}, false
	case fastFloat:
		if t == rtFloat32 {
			return fastNode{kind: fastFloat, typ: t, f: func(a fastArgs) float64 { return float64(a[idx].(float32)) }}, true
		}
		return fastNode{kind: fastFloat, typ: t, f: func(a fastArgs) float64 { return a[idx].(float64) }}, true
	case fastString:
		return fastNode{kind: fastString, typ: t, s: func(a fastArgs) string { return a[idx].(string) }}, true
	case fastBool:
		return fastNode{kind: fastBool, typ: t, b: func(a fastArgs) bool { return a[idx].(bool) }}, true
	}
	// Records (pointers to structs), interfaces and other values are
	// passed as they are: the VM's environment field holds the same.
	return fastNode{kind: fastAny, typ: t, x: func(a fastArgs) any { return a[idx] }}, true
}

// fieldPath is a chain of member accesses from a variable: the address
// of the field is computed from the variable's record pointer by adding
// offsets and following pointers to nested records.
type fieldPath struct {
	variable int
	steps    []fieldStep
}

// fieldStep moves to a field: add offset; then, if deref, the field is a
// pointer to a nested record to follow (nil: the VM fails the
// evaluation with its message, so the closures bail out).
type fieldStep struct {
	offset uintptr
	deref  bool
}

// addr returns the address of the field; a nil record on the way bails
// out.
func (p *fieldPath) addr(a fastArgs) unsafe.Pointer {
	ptr := dataWord(&a[p.variable])
	if ptr == nil {
		panic(fastBail{})
	}
	for _, s := range p.steps {
		ptr = unsafe.Add(ptr, s.offset)
		if s.deref {
			ptr = *(*unsafe.Pointer)(ptr)
			if ptr == nil {
				panic(fastBail{})
			}
		}
	}
	return ptr
}

// exprField finds the struct field expr-lang resolves for a property
// name: the field whose `expr` tag is the name, or which has no tag and
// is so named.
func exprField(st reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < st.NumField(); i++ {
		f := st.Field(i)
		if f.Anonymous || !f.IsExported() {
			return reflect.StructField{}, false // expr-lang's promotion rules: not covered
		}
		tag := f.Tag.Get("expr")
		if tag == name || (tag == "" && f.Name == name) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// member compiles a chain of field reads from a record variable.
func (c *fastCompiler) member(n *ast.MemberNode) (fastNode, bool) {
	var props []string
	var cur ast.Node = n
	for {
		m, ok := cur.(*ast.MemberNode)
		if !ok {
			break
		}
		prop, ok := m.Property.(*ast.StringNode)
		if !ok || m.Optional || m.Method {
			return fastNode{}, false
		}
		props = append(props, prop.Value)
		cur = m.Node
	}
	ident, ok := cur.(*ast.IdentifierNode)
	if !ok {
		return fastNode{}, false
	}
	base, ok := c.identifier(ident)
	if !ok || base.kind != fastAny || base.typ.Kind() != reflect.Pointer || base.typ.Elem().Kind() != reflect.Struct {
		return fastNode{}, false
	}
	path := &fieldPath{variable: -1}
	for i, v := range c.vars {
		if v.name == ident.Value {
			path.variable = i
		}
	}
	st := base.typ.Elem()
	var ft reflect.Type
	for i := len(props) - 1; i >= 0; i-- {
		if st == nil {
			return fastNode{}, false
		}
		f, ok := exprField(st, props[i])
		if !ok {
			return fastNode{}, false
		}
		step := fieldStep{offset: f.Offset}
		ft, st = f.Type, nil
		if i > 0 { // the field is read through
			switch {
			case ft.Kind() == reflect.Struct:
				st = ft
			case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct:
				st, step.deref = ft.Elem(), true
			}
		}
		path.steps = append(path.steps, step)
	}
	if t := n.Type(); t == nil || t != ft {
		return fastNode{}, false
	}
	if len(path.steps) == 1 {
		// A field of the variable's record (the usual case): one offset.
		if n, ok := topField(path.variable, path.steps[0].offset, ft); ok {
			return n, true
		}
	}
	switch ft {
	case rtInt64:
		return fastNode{kind: fastInt, typ: ft, i: func(a fastArgs) int64 {
			return *(*int64)(path.addr(a))
		}}, true
	case rtInt32:
		return fastNode{kind: fastInt, typ: ft, i: func(a fastArgs) int64 {
			return int64(*(*int32)(path.addr(a)))
		}}, true
	case rtInt:
		return fastNode{kind: fastInt, typ: ft, i: func(a fastArgs) int64 {
			return int64(*(*int)(path.addr(a)))
		}}, true
	case rtFloat64:
		return fastNode{kind: fastFloat, typ: ft, f: func(a fastArgs) float64 {
			return *(*float64)(path.addr(a))
		}}, true
	case rtFloat32:
		return fastNode{kind: fastFloat, typ: ft, f: func(a fastArgs) float64 {
			return float64(*(*float32)(path.addr(a)))
		}}, true
	case rtString:
		return fastNode{kind: fastString, typ: ft, s: func(a fastArgs) string {
			return *(*string)(path.addr(a))
		}}, true
	case rtBool:
		return fastNode{kind: fastBool, typ: ft, b: func(a fastArgs) bool {
			return *(*bool)(path.addr(a))
		}}, true
	}
	// Anything else is read as the VM reads it: the field's value in an
	// interface (a nested record pointer is shared, not copied).
	return fastNode{kind: fastAny, typ: ft, x: func(a fastArgs) any {
		return reflect.NewAt(ft, path.addr(a)).Elem().Interface()
	}}, true
}

// topField reads a scalar field of variable v's record at offset off.
func topField(v int, off uintptr, ft reflect.Type) (fastNode, bool) {
	rec := func(a fastArgs) unsafe.Pointer {
		p := dataWord(&a[v])
		if p == nil {
			panic(fastBail{})
		}
		return unsafe.Add(p, off)
	}
	field := &directField{v, off}
	switch ft {
	case rtInt64:
		return fastNode{kind: fastInt, typ: ft, field: field, i: func(a fastArgs) int64 { return *(*int64)(rec(a)) }}, true
	case rtInt32:
		return fastNode{kind: fastInt, typ: ft, field: field, i: func(a fastArgs) int64 { return int64(*(*int32)(rec(a))) }}, true
	case rtFloat64:
		return fastNode{kind: fastFloat, typ: ft, field: field, f: func(a fastArgs) float64 { return *(*float64)(rec(a)) }}, true
	case rtString:
		return fastNode{kind: fastString, typ: ft, field: field, s: func(a fastArgs) string { return *(*string)(rec(a)) }}, true
	case rtBool:
		return fastNode{kind: fastBool, typ: ft, field: field, b: func(a fastArgs) bool { return *(*bool)(rec(a)) }}, true
	}
	return fastNode{}, false
}

// addr is the address of the field in a.
func (d *directField) addr(a *fastArgs) unsafe.Pointer {
	p := dataWord(&a[d.v])
	if p == nil {
		panic(fastBail{})
	}
	return unsafe.Add(p, d.off)
}

func (c *fastCompiler) unary(n *ast.UnaryNode) (fastNode, bool) {
	x, ok := c.node(n.Node)
	if !ok {
		return fastNode{}, false
	}
	switch n.Operator {
	case "!", "not":
		if x.kind != fastBool {
			return fastNode{}, false
		}
		return fastNode{kind: fastBool, typ: rtBool, b: func(a fastArgs) bool { return !x.b(a) }}, true
	case "+":
		if x.kind != fastInt && x.kind != fastFloat {
			return fastNode{}, false
		}
		return x, true
	case "-":
		switch {
		case x.kind == fastInt && (x.typ == rtInt || x.typ == rtInt64):
			return fastNode{kind: fastInt, typ: x.typ, i: func(a fastArgs) int64 { return -x.i(a) }}, true
		case x.kind == fastFloat:
			return fastNode{kind: fastFloat, typ: x.typ, f: func(a fastArgs) float64 { return -x.f(a) }}, true
		}
	}
	return fastNode{}, false
}

func (c *fastCompiler) conditional(n *ast.ConditionalNode) (fastNode, bool) {
	cond, ok1 := c.node(n.Cond)
	x, ok2 := c.node(n.Exp1)
	y, ok3 := c.node(n.Exp2)
	if !ok1 || !ok2 || !ok3 || cond.kind != fastBool {
		return fastNode{}, false
	}
	if x.kind == y.kind && x.typ == y.typ {
		out := fastNode{kind: x.kind, typ: x.typ}
		switch x.kind {
		case fastInt:
			out.i = func(a fastArgs) int64 {
				if cond.b(a) {
					return x.i(a)
				}
				return y.i(a)
			}
		case fastFloat:
			out.f = func(a fastArgs) float64 {
				if cond.b(a) {
					return x.f(a)
				}
				return y.f(a)
			}
		case fastString:
			out.s = func(a fastArgs) string {
				if cond.b(a) {
					return x.s(a)
				}
				return y.s(a)
			}
		case fastBool:
			out.b = func(a fastArgs) bool {
				if cond.b(a) {
					return x.b(a)
				}
				return y.b(a)
			}
		case fastAny:
			out.x = func(a fastArgs) any {
				if cond.b(a) {
					return x.x(a)
				}
				return y.x(a)
			}
		}
		return out, true
	}
	// Branches of different types: the result is boxed, as on the VM.
	t := n.Type()
	if t == nil || t.Kind() != reflect.Interface {
		return fastNode{}, false
	}
	return fastNode{kind: fastAny, typ: t, x: func(a fastArgs) any {
		if cond.b(a) {
			return x.box(a)
		}
		return y.box(a)
	}}, true
}

func isNumber(k fastKind) bool { return k == fastInt || k == fastFloat }

// asFloat reads a number node as float64 (expr-lang converts both
// operands of a mixed operation with float64(x)).
func asFloat(n fastNode) func(fastArgs) float64 {
	if n.kind == fastFloat {
		return n.f
	}
	i := n.i
	return func(a fastArgs) float64 { return float64(i(a)) }
}

func (c *fastCompiler) binary(n *ast.BinaryNode) (fastNode, bool) {
	l, ok1 := c.node(n.Left)
	r, ok2 := c.node(n.Right)
	if !ok1 || !ok2 {
		return fastNode{}, false
	}
	if cmp := fieldConstCompare(n.Operator, l, r); cmp != nil {
		return fastNode{kind: fastBool, typ: rtBool, b: cmp}, true
	}
	ints := l.kind == fastInt && r.kind == fastInt
	nums := isNumber(l.kind) && isNumber(r.kind)
	strs := l.kind == fastString && r.kind == fastString
	bools := l.kind == fastBool && r.kind == fastBool
	li, ri := l.i, r.i
	ls, rs := l.s, r.s
	lb, rb := l.b, r.b
	var lf, rf func(fastArgs) float64
	if nums {
		lf, rf = asFloat(l), asFloat(r)
	}
	boolean := func(f func(fastArgs) bool) (fastNode, bool) {
		return fastNode{kind: fastBool, typ: rtBool, b: f}, true
	}
	integer := func(f func(fastArgs) int64) (fastNode, bool) {
		return fastNode{kind: fastInt, typ: rtInt, i: f}, true
	}
	float := func(f func(fastArgs) float64) (fastNode, bool) {
		return fastNode{kind: fastFloat, typ: rtFloat64, f: f}, true
	}
	switch n.Operator {
	case "and", "&&":
		if bools {
			return boolean(func(a fastArgs) bool { return lb(a) && rb(a) })
		}
	case "or", "||":
		if bools {
			return boolean(func(a fastArgs) bool { return lb(a) || rb(a) })
		}
	case "==", "!=":
		var eq func(fastArgs) bool
		switch {
		case ints:
			eq = func(a fastArgs) bool { return li(a) == ri(a) }
		case nums:
			eq = func(a fastArgs) bool { return lf(a) == rf(a) }
		case strs:
			eq = func(a fastArgs) bool { return ls(a) == rs(a) }
		case bools:
			eq = func(a fastArgs) bool { return lb(a) == rb(a) }
		default:
			return fastNode{}, false
		}
		if n.Operator == "!=" {
			return boolean(func(a fastArgs) bool { return !eq(a) })
		}
		return boolean(eq)
	case "<":
		switch {
		case ints:
			return boolean(func(a fastArgs) bool { return li(a) < ri(a) })
		case nums:
			return boolean(func(a fastArgs) bool { return lf(a) < rf(a) })
		case strs:
			return boolean(func(a fastArgs) bool { return ls(a) < rs(a) })
		}
	case ">":
		switch {
		case ints:
			return boolean(func(a fastArgs) bool { return li(a) > ri(a) })
		case nums:
			return boolean(func(a fastArgs) bool { return lf(a) > rf(a) })
		case strs:
			return boolean(func(a fastArgs) bool { return ls(a) > rs(a) })
		}
	case "<=":
		switch {
		case ints:
			return boolean(func(a fastArgs) bool { return li(a) <= ri(a) })
		case nums:
			return boolean(func(a fastArgs) bool { return lf(a) <= rf(a) })
		case strs:
			return boolean(func(a fastArgs) bool { return ls(a) <= rs(a) })
		}
	case ">=":
		switch {
		case ints:
			return boolean(func(a fastArgs) bool { return li(a) >= ri(a) })
		case nums:
			return boolean(func(a fastArgs) bool { return lf(a) >= rf(a) })
		case strs:
			return boolean(func(a fastArgs) bool { return ls(a) >= rs(a) })
		}
	case "+":
		switch {
		case ints:
			return integer(func(a fastArgs) int64 { return li(a) + ri(a) })
		case nums:
			return float(func(a fastArgs) float64 { return lf(a) + rf(a) })
		case strs:
			return fastNode{kind: fastString, typ: rtString, s: func(a fastArgs) string { return ls(a) + rs(a) }}, true
		}
	case "-":
		switch {
		case ints:
			return integer(func(a fastArgs) int64 { return li(a) - ri(a) })
		case nums:
			return float(func(a fastArgs) float64 { return lf(a) - rf(a) })
		}
	case "*":
		switch {
		case ints:
			return integer(func(a fastArgs) int64 { return li(a) * ri(a) })
		case nums:
			return float(func(a fastArgs) float64 { return lf(a) * rf(a) })
		}
	case "/":
		if nums {
			return float(func(a fastArgs) float64 { return lf(a) / rf(a) })
		}
	case "%":
		if ints {
			return integer(func(a fastArgs) int64 {
				x, d := li(a), ri(a)
				if d == 0 {
					panic(fastBail{}) // the VM's run-time error
				}
				return x % d
			})
		}
	case "contains":
		if strs {
			return boolean(func(a fastArgs) bool { return strings.Contains(ls(a), rs(a)) })
		}
	case "startsWith":
		if strs {
			return boolean(func(a fastArgs) bool { return strings.HasPrefix(ls(a), rs(a)) })
		}
	case "endsWith":
		if strs {
			return boolean(func(a fastArgs) bool { return strings.HasSuffix(ls(a), rs(a)) })
		}
	}
	return fastNode{}, false
}

// fieldConstCompare compiles the usual filter, a comparison of a number
// field of a variable's record with a constant (value.amount > 100), to
// one closure; nil for other operands. As in expr-lang, two integers
// compare as integers, else both as float64.
func fieldConstCompare(op string, l, r fastNode) func(fastArgs) bool {
	d, c := l.field, r.constant
	if d == nil || c == nil {
		return nil
	}
	switch {
	case l.typ == rtInt64 && r.kind == fastInt:
		k := c.i
		switch op {
		case "<":
			return func(a fastArgs) bool { return *(*int64)(d.addr(&a)) < k }
		case ">":
			return func(a fastArgs) bool { return *(*int64)(d.addr(&a)) > k }
		case "<=":
			return func(a fastArgs) bool { return *(*int64)(d.addr(&a)) <= k }
		case ">=":
			return func(a fastArgs) bool { return *(*int64)(d.addr(&a)) >= k }
		case "==":
			return func(a fastArgs) bool { return *(*int64)(d.addr(&a)) == k }
		case "!=":
			return func(a fastArgs) bool { return *(*int64)(d.addr(&a)) != k }
		}
	case l.typ == rtFloat64:
		k := c.f
		if r.kind == fastInt {
			k = float64(c.i)
		}
		switch op {
		case "<":
			return func(a fastArgs) bool { return *(*float64)(d.addr(&a)) < k }
		case ">":
			return func(a fastArgs) bool { return *(*float64)(d.addr(&a)) > k }
		case "<=":
			return func(a fastArgs) bool { return *(*float64)(d.addr(&a)) <= k }
		case ">=":
			return func(a fastArgs) bool { return *(*float64)(d.addr(&a)) >= k }
		case "==":
			return func(a fastArgs) bool { return *(*float64)(d.addr(&a)) == k }
		case "!=":
			return func(a fastArgs) bool { return *(*float64)(d.addr(&a)) != k }
		}
	}
	return nil
}
