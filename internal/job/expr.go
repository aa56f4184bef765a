package job

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/sluicehq/sluice/connectors"
)

// Expressions use expr-lang/expr: a maintained, fast (compiled to
// bytecode), sandboxed expression language with static type checking
// against Go types, which is what makes a typo in a field name a lint
// error. Record values are Go structs of types generated from their
// schemas (serde/dynamic), so `value.amount` compiles to a field access,
// not a map lookup.

// variable is one name an expression sees.
type variable struct {
	name string
	typ  reflect.Type
}

// envType builds the struct type of an expression's environment: one
// field per variable, named by an `expr` tag.
func envType(vars []variable) reflect.Type {
	fields := make([]reflect.StructField, len(vars))
	for i, v := range vars {
		t := v.typ
		if t == nil {
			t = anyType
		}
		fields[i] = reflect.StructField{Name: fmt.Sprintf("V%d", i), Type: t, Tag: reflect.StructTag(`expr:"` + v.name + `"`)}
	}
	return reflect.StructOf(fields)
}

var anyType = reflect.TypeOf((*any)(nil)).Elem()

// program is a compiled expression with the environment it runs in.
type program struct {
	src  string
	pos  Pos
	prog *vm.Program
	env  reflect.Type
	out  reflect.Type // the static result type (interface any when unknown)
	vms  sync.Pool
	envs *envPool
	// fast is the expression compiled to closures, nil when it has parts
	// only the VM runs (see exprfast.go).
	fast *fastExpr
}

// compile compiles src against vars. want, if set, is the required result
// kind (bool for predicates); otherwise any result type is accepted.
func compile(v *Value, vars []variable, want reflect.Kind) (*program, error) {
	src := v.Str
	et := envType(vars)
	// The environment is declared as a struct value, not a pointer: with
	// a pointer, expr-lang compiles every variable to a look-up by name at
	// run time (runtime.Fetch walking the struct's fields and tags) instead
	// of a field index. Programs still run on a pointer to the struct.
	opts := []expr.Option{expr.Env(reflect.New(et).Elem().Interface())}
	if want == reflect.Bool {
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, exprProblem(v, err)
	}
	p := &program{src: src, pos: v.Pos, prog: prog, env: et, out: prog.Node().Type(), envs: newEnvPool(et)}
	if p.out == nil {
		p.out = anyType
	}
	p.vms.New = func() any { return new(vm.VM) }
	p.fast = compileFast(prog.Node(), vars)
	return p, nil
}

// exprProblem places an expr-lang error at its position in the file.
func exprProblem(v *Value, err error) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return Problem{v.Pos, fmt.Sprintf("expression %q: %v", v.Str, err)}
	}
	pos := v.Pos
	lines := strings.Split(v.Str, "\n")
	if fe.Line > len(lines) { // past the end (an unexpected EOF)
		fe.Line, fe.Column = len(lines), len(lines[len(lines)-1])
	}
	if fe.Line > 1 {
		pos.Line += fe.Line - 1
		pos.Col = fe.Column + 1
	} else {
		pos.Col += fe.Column
	}
	return Problem{pos, fmt.Sprintf("expression %q: %s", v.Str, friendlier(fe.Message))}
}

// structTypeRe matches expr-lang's rendering of a generated record type.
var structTypeRe = regexp.MustCompile(`(?:type )?(?:\*)?struct \{.*\} has no field (\S+)`)
var exprTagRe = regexp.MustCompile(`expr:\\?"([^"\\]+)\\?"`)

// friendlier rewrites expr-lang's messages about generated record types
// (which print the whole struct type) into the record's field names and a
// suggestion.
func friendlier(msg string) string {
	m := structTypeRe.FindStringSubmatchIndex(msg)
	if m == nil {
		return msg
	}
	typ := msg[m[0]:m[1]]
	missing := msg[m[2]:m[3]]
	var fields []string
	seen := map[string]bool{}
	depth := 0
	// Only the outer struct's fields: skip nested struct bodies.
	for i := 0; i < len(typ); i++ {
		switch typ[i] {
		case '{':
			depth++
		case '}':
			depth--
		}
		if depth == 1 && strings.HasPrefix(typ[i:], "expr:") {
			if t := exprTagRe.FindStringSubmatch(typ[i:]); t != nil && !seen[t[1]] {
				seen[t[1]] = true
				fields = append(fields, t[1])
			}
		}
	}
	out := fmt.Sprintf("no field %q", missing)
	if sug := connectors.Suggest(missing, fields); sug != "" {
		out += fmt.Sprintf(" (did you mean %q?)", sug)
	}
	if len(fields) > 0 {
		out += "; fields: " + strings.Join(fields, ", ")
	}
	return msg[:m[0]] + out + msg[m[1]:]
}

// env is an expression environment for the VM: a pointer to a struct of
// the program's environment type, taken from a pool (building one per
// evaluation with reflection was a large part of a job's per-record cost).
type env struct {
	v    reflect.Value // the struct
	ptr  any           // its address, as expr-lang takes it
	pool *envPool
}

// envPool pools the environments of one environment type. Programs keep
// theirs, so that taking one costs no look-up by type.
type envPool struct{ pool sync.Pool }

func newEnvPool(t reflect.Type) *envPool {
	ep := &envPool{}
	ep.pool.New = func() any {
		p := reflect.New(t)
		return &env{v: p.Elem(), ptr: p.Interface(), pool: ep}
	}
	return ep
}

// get returns an environment holding vals (nil values leave their
// fields' zero values).
func (ep *envPool) get(vals ...any) *env {
	e := ep.pool.Get().(*env)
	for i, v := range vals {
		if v != nil {
			e.v.Field(i).Set(reflect.ValueOf(v))
		}
	}
	return e
}

// put clears the environment (so it keeps no record alive) and pools it.
func (e *env) put() {
	e.v.SetZero()
	e.pool.pool.Put(e)
}

// run evaluates the expression with the values of its variables in vars'
// order: with the closures where they apply, else on the VM.
func (p *program) run(vals ...any) (any, error) {
	if p.fast != nil {
		var a fastArgs
		copy(a[:], vals)
		if out, ok := p.fast.eval(a); ok {
			return out, nil
		}
	}
	e := p.envs.get(vals...)
	out, err := p.runEnv(e)
	e.put()
	return out, err
}

// test evaluates a predicate over a key and a value (compiled with want
// bool).
func (p *program) test(k, v any) (bool, error) {
	if p.fast != nil && p.fast.root.kind == fastBool {
		if out, ok := p.fast.test(fastArgs{k, v}); ok {
			return out, nil
		}
	}
	e := p.envs.get(k, v)
	out, err := p.runEnv(e)
	e.put()
	b, _ := out.(bool)
	return b, err
}

// runEnv evaluates the expression on the VM in an environment built for
// its variables (programs compiled with the same variables share one).
func (p *program) runEnv(e *env) (any, error) {
	m := p.vms.Get().(*vm.VM)
	out, err := m.Run(p.prog, e.ptr)
	p.vms.Put(m)
	if err != nil {
		return nil, fmt.Errorf("%s: expression %q: %w", p.pos, p.src, err)
	}
	return out, nil
}
