package job

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Pos is a position in a job file.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Problem is one error in a job file, at a position: lint reports them as
// "FILE:LINE:COL: message".
type Problem struct {
	Pos Pos
	Msg string
}

func (p Problem) Error() string { return p.Pos.String() + ": " + p.Msg }

// Problems is every problem found in a job file, sorted by position.
type Problems []Problem

func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

func (ps Problems) sorted() Problems {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].Pos, ps[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return ps
}

// Kind is the kind of a YAML value.
type Kind int

// The kinds.
const (
	KindNull Kind = iota
	KindBool
	KindInt
	KindFloat
	KindString
	KindMap
	KindList
)

func (k Kind) String() string {
	return [...]string{"null", "a boolean", "a whole number", "a number", "a string", "a map", "a list"}[k]
}

// Value is a YAML value with its position. Maps keep their key order.
type Value struct {
	Kind  Kind
	Pos   Pos
	Bool  bool
	Int   int64
	Float float64
	Str   string // strings, and the text of every scalar
	Map   []Entry
	List  []*Value
}

// Entry is one key of a map.
type Entry struct {
	Key    string
	KeyPos Pos
	Val    *Value
}

// Get returns the value of key in a map, or nil.
func (v *Value) Get(key string) *Value {
	if v == nil || v.Kind != KindMap {
		return nil
	}
	for _, e := range v.Map {
		if e.Key == key {
			return e.Val
		}
	}
	return nil
}

// Plain converts the value to plain Go values (map[string]any, []any,
// string, int64, float64, bool, nil), for connector configurations.
func (v *Value) Plain() any {
	switch v.Kind {
	case KindBool:
		return v.Bool
	case KindInt:
		return v.Int
	case KindFloat:
		return v.Float
	case KindString:
		return v.Str
	case KindMap:
		m := make(map[string]any, len(v.Map))
		for _, e := range v.Map {
			m[e.Key] = e.Val.Plain()
		}
		return m
	case KindList:
		l := make([]any, len(v.List))
		for i, e := range v.List {
			l[i] = e.Plain()
		}
		return l
	}
	return nil
}

// maxDepth bounds nesting (a hostile file must not exhaust the stack).
const maxDepth = 100

// parseYAML parses one YAML document with positions. ${VAR} and
// ${VAR:-default} in string scalars are replaced from env (a missing
// variable without a default is a problem at its position).
func parseYAML(file string, data []byte, env func(string) (string, bool)) (*Value, Problems) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, Problems{yamlProblem(file, err)}
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return nil, Problems{{Pos{File: file}, "the file is empty: a job needs at least `job:` and a topology or connectors"}}
	}
	if len(f.Docs) > 1 {
		return nil, Problems{{Pos{File: file, Line: 1, Col: 1}, "one job per file: this file holds several YAML documents"}}
	}
	c := &converter{file: file, env: env, anchors: map[string]*Value{}}
	v := c.convert(f.Docs[0].Body, 0)
	return v, c.problems
}

// yamlProblem turns a goccy syntax error into a positioned problem.
func yamlProblem(file string, err error) Problem {
	p := Problem{Pos: Pos{File: file}, Msg: "YAML syntax: " + firstLine(err.Error())}
	var se interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if errors.As(err, &se) {
		if t := se.GetToken(); t != nil && t.Position != nil {
			p.Pos.Line, p.Pos.Col = t.Position.Line, t.Position.Column
		}
		p.Msg = "YAML syntax: " + firstLine(se.GetMessage())
	}
	return p
}

func firstLine(s string) string {
	if i := strings.Index(s, "\n"); i >= 0 {
		return s[:i]
	}
	return s
}

type converter struct {
	file     string
	env      func(string) (string, bool)
	anchors  map[string]*Value
	problems Problems
	nodes    int
}

func (c *converter) pos(n ast.Node) Pos {
	if t := n.GetToken(); t != nil && t.Position != nil {
		return Pos{File: c.file, Line: t.Position.Line, Col: t.Position.Column}
	}
	return Pos{File: c.file}
}

func (c *converter) fail(pos Pos, format string, args ...any) {
	c.problems = append(c.problems, Problem{pos, fmt.Sprintf(format, args...)})
}

func (c *converter) convert(n ast.Node, depth int) *Value {
	c.nodes++
	if depth > maxDepth || c.nodes > 1_000_000 {
		c.fail(c.pos(n), "the document nests too deeply or is too large")
		return &Value{Kind: KindNull, Pos: c.pos(n)}
	}
	switch n := n.(type) {
	case *ast.NullNode:
		return &Value{Kind: KindNull, Pos: c.pos(n)}
	case *ast.BoolNode:
		return &Value{Kind: KindBool, Pos: c.pos(n), Bool: n.Value, Str: n.GetToken().Value}
	case *ast.IntegerNode:
		v := &Value{Kind: KindInt, Pos: c.pos(n), Str: n.GetToken().Value}
		switch x := n.Value.(type) {
		case int64:
			v.Int = x
		case uint64:
			if x > math.MaxInt64 {
				c.fail(v.Pos, "%s is too large", v.Str)
			}
			v.Int = int64(x)
		default:
			c.fail(v.Pos, "unsupported integer %v", x)
		}
		return v
	case *ast.FloatNode:
		return &Value{Kind: KindFloat, Pos: c.pos(n), Float: n.Value, Str: n.GetToken().Value}
	case *ast.InfinityNode:
		return &Value{Kind: KindFloat, Pos: c.pos(n), Float: n.Value, Str: n.GetToken().Value}
	case *ast.NanNode:
		return &Value{Kind: KindFloat, Pos: c.pos(n), Float: math.NaN(), Str: n.GetToken().Value}
	case *ast.StringNode:
		return c.str(c.pos(n), n.Value)
	case *ast.LiteralNode:
		return c.str(c.pos(n), n.Value.Value)
	case *ast.MappingNode:
		v := &Value{Kind: KindMap, Pos: c.pos(n)}
		seen := map[string]bool{}
		for _, mv := range n.Values {
			c.entry(v, mv, seen, depth)
		}
		return v
	case *ast.MappingValueNode:
		v := &Value{Kind: KindMap, Pos: c.pos(n.Key)}
		c.entry(v, n, map[string]bool{}, depth)
		return v
	case *ast.SequenceNode:
		v := &Value{Kind: KindList, Pos: c.pos(n)}
		for _, e := range n.Values {
			v.List = append(v.List, c.convert(e, depth+1))
		}
		return v
	case *ast.AnchorNode:
		v := c.convert(n.Value, depth+1)
		c.anchors[n.Name.GetToken().Value] = v
		return v
	case *ast.AliasNode:
		name := n.Value.GetToken().Value
		if a, ok := c.anchors[name]; ok {
			return a
		}
		c.fail(c.pos(n), "unknown alias *%s", name)
		return &Value{Kind: KindNull, Pos: c.pos(n)}
	case *ast.TagNode:
		return c.convert(n.Value, depth+1)
	case *ast.MergeKeyNode:
		c.fail(c.pos(n), "merge keys (<<) are not supported in job files")
		return &Value{Kind: KindNull, Pos: c.pos(n)}
	}
	if n == nil {
		return &Value{Kind: KindNull}
	}
	c.fail(c.pos(n), "unsupported YAML node (%s)", n.Type())
	return &Value{Kind: KindNull, Pos: c.pos(n)}
}

func (c *converter) entry(m *Value, mv *ast.MappingValueNode, seen map[string]bool, depth int) {
	if _, merge := mv.Key.(*ast.MergeKeyNode); merge {
		c.fail(c.pos(mv.Key), "merge keys (<<) are not supported in job files")
		return
	}
	kp := c.pos(mv.Key)
	var key string
	switch k := mv.Key.(type) {
	case *ast.StringNode:
		key = k.Value
	case *ast.MappingKeyNode:
		key = k.Value.GetToken().Value
	default:
		key = mv.Key.GetToken().Value
	}
	if seen[key] {
		c.fail(kp, "duplicate key %q", key)
		return
	}
	seen[key] = true
	val := c.convert(mv.Value, depth+1)
	if val.Pos.Line == 0 {
		val.Pos = kp
	}
	m.Map = append(m.Map, Entry{Key: key, KeyPos: kp, Val: val})
}

// str interpolates ${VAR} and ${VAR:-default}.
func (c *converter) str(pos Pos, s string) *Value {
	v := &Value{Kind: KindString, Pos: pos, Str: s}
	if !strings.Contains(s, "${") {
		return v
	}
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		j := strings.Index(rest[i:], "}")
		if j < 0 {
			c.fail(pos, "unterminated ${ in %q", s)
			return v
		}
		ref := rest[i+2 : i+j]
		name, def, hasDef := strings.Cut(ref, ":-")
		val, ok := c.env(name)
		switch {
		case ok && (val != "" || !hasDef):
			b.WriteString(val)
		case hasDef:
			b.WriteString(def)
		default:
			c.fail(pos, "environment variable %s is not set (use ${%s:-default} for a default)", name, name)
		}
		rest = rest[i+j+1:]
	}
	v.Str = b.String()
	return v
}

// osEnv looks variables up in the process environment.
func osEnv(name string) (string, bool) { return os.LookupEnv(name) }
