package job

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// A Shape describes one part of the job format. The same shapes validate
// a file (every problem with its position), generate the JSON Schema that
// editors use, and generate docs/jobs.md, so the three cannot drift.
type Shape struct {
	Kind ShapeKind
	// Name is the shape's name in docs and the JSON Schema definitions
	// ("serde", "step"); empty for inline shapes.
	Name    string
	Doc     string
	Example string
	// Fields of an object, in documentation order.
	Fields []*Field
	// Elem is the shape of a dict's values or a list's items.
	Elem *Shape
	// Variants of a one-of: a map with exactly one of these keys (a step
	// "filter: expr"); or, for AnyOf, alternative shapes of the same value
	// ("string" or {avro: {...}}).
	Variants []*Field
	AnyOf    []*Shape
	// Enum lists the allowed values of a string.
	Enum []string
	// Connector is the kind of connector blocks (KindConnector).
	Connector connectors.Kind
}

// ShapeKind is the kind of a shape.
type ShapeKind int

// The shape kinds.
const (
	ShapeString    ShapeKind = iota + 1
	ShapeInt                 // a whole number
	ShapeNumber              // any number
	ShapeBool                // true/false
	ShapeDuration            // "10s", "1m30s", or milliseconds
	ShapeExpr                // an expression (a string), compiled later
	ShapeObject              // a map with declared fields
	ShapeDict                // a map from names to Elem
	ShapeList                // a list of Elem
	ShapeOneOf               // a map with exactly one key among Variants
	ShapeAnyOf               // the first of AnyOf whose kind matches
	ShapeConnector           // a connector configuration (validated by its type's spec)
	ShapeAny                 // anything (checked later)
)

// Field is a field of an object, or a variant of a one-of.
type Field struct {
	Name     string
	Shape    *Shape
	Required bool
	Default  string // documented default, as text
	Doc      string
}

// check validates v against s, appending problems.
func (s *Shape) check(v *Value, path string, ps *Problems) {
	add := func(pos Pos, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		msg = strings.TrimPrefix(msg, ": ") // a top-level key has no path
		*ps = append(*ps, Problem{pos, msg})
	}
	want := func(k ...Kind) bool {
		for _, x := range k {
			if v.Kind == x {
				return true
			}
		}
		return false
	}
	switch s.Kind {
	case ShapeAny:
	case ShapeString, ShapeExpr:
		if !want(KindString, KindInt, KindFloat, KindBool) {
			add(v.Pos, "%s: want %s, got %s", path, s.describe(), v.Kind)
			return
		}
		if len(s.Enum) > 0 {
			for _, e := range s.Enum {
				if strings.EqualFold(e, v.Str) {
					return
				}
			}
			msg := fmt.Sprintf("%s: %q is not one of %s", path, v.Str, strings.Join(s.Enum, ", "))
			if sug := connectors.Suggest(v.Str, s.Enum); sug != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", sug)
			}
			add(v.Pos, "%s", msg)
		}
	case ShapeInt:
		if !want(KindInt) {
			add(v.Pos, "%s: want a whole number, got %s", path, describeValue(v))
		}
	case ShapeNumber:
		if !want(KindInt, KindFloat) {
			add(v.Pos, "%s: want a number, got %s", path, describeValue(v))
		}
	case ShapeBool:
		if !want(KindBool) {
			add(v.Pos, "%s: want true or false, got %s", path, describeValue(v))
		}
	case ShapeDuration:
		if _, err := parseDuration(v); err != nil {
			add(v.Pos, "%s: %v", path, err)
		}
	case ShapeObject:
		if !want(KindMap) {
			add(v.Pos, "%s: want a map with %s, got %s", path, fieldList(s.Fields), describeValue(v))
			return
		}
		names := make([]string, len(s.Fields))
		for i, f := range s.Fields {
			names[i] = f.Name
		}
		for _, e := range v.Map {
			f := s.field(e.Key)
			if f == nil {
				msg := fmt.Sprintf("%s: unknown key %q", path, e.Key)
				if sug := connectors.Suggest(e.Key, names); sug != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", sug)
				} else {
					msg += fmt.Sprintf(" (known: %s)", strings.Join(names, ", "))
				}
				add(e.KeyPos, "%s", msg)
				continue
			}
			f.Shape.check(e.Val, join(path, e.Key), ps)
		}
		for _, f := range s.Fields {
			if f.Required && v.Get(f.Name) == nil {
				add(v.Pos, "%s: %q is required: %s", path, f.Name, firstSentence(f.Doc))
			}
		}
	case ShapeDict:
		if !want(KindMap) {
			add(v.Pos, "%s: want a map of names to %s, got %s", path, s.Elem.describe(), describeValue(v))
			return
		}
		for _, e := range v.Map {
			if !validName(e.Key) {
				add(e.KeyPos, "%s: %q is not a valid name (letters, digits, '.', '_' and '-')", path, e.Key)
			}
			s.Elem.check(e.Val, join(path, e.Key), ps)
		}
	case ShapeList:
		if !want(KindList) {
			add(v.Pos, "%s: want a list of %s, got %s", path, s.Elem.describe(), describeValue(v))
			return
		}
		for i, e := range v.List {
			s.Elem.check(e, fmt.Sprintf("%s[%d]", path, i), ps)
		}
	case ShapeOneOf:
		names := make([]string, len(s.Variants))
		for i, f := range s.Variants {
			names[i] = f.Name
		}
		if !want(KindMap) || len(v.Map) != 1 {
			add(v.Pos, "%s: want one of %s, as a map with that single key (for example `- filter: value.amount > 0`)", path, strings.Join(names, ", "))
			return
		}
		e := v.Map[0]
		var f *Field
		for _, x := range s.Variants {
			if x.Name == e.Key {
				f = x
			}
		}
		if f == nil {
			msg := fmt.Sprintf("%s: unknown %s %q", path, s.Name, e.Key)
			if sug := connectors.Suggest(e.Key, names); sug != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", sug)
			} else {
				msg += fmt.Sprintf(" (known: %s)", strings.Join(names, ", "))
			}
			add(e.KeyPos, "%s", msg)
			return
		}
		f.Shape.check(e.Val, join(path, e.Key), ps)
	case ShapeAnyOf:
		for _, alt := range s.AnyOf {
			if alt.accepts(v.Kind) {
				alt.check(v, path, ps)
				return
			}
		}
		add(v.Pos, "%s: want %s, got %s", path, s.describe(), describeValue(v))
	case ShapeConnector:
		if !want(KindMap) {
			add(v.Pos, "%s: want a connector configuration (a map with type and its fields), got %s", path, describeValue(v))
		}
		// The connector's own spec validates it (lint).
	}
}

// accepts reports whether a value of kind k fits the shape at first sight
// (for AnyOf).
func (s *Shape) accepts(k Kind) bool {
	switch s.Kind {
	case ShapeString, ShapeExpr:
		return k == KindString
	case ShapeInt:
		return k == KindInt
	case ShapeNumber:
		return k == KindInt || k == KindFloat
	case ShapeBool:
		return k == KindBool
	case ShapeDuration:
		return k == KindString || k == KindInt
	case ShapeObject, ShapeDict, ShapeOneOf, ShapeConnector:
		return k == KindMap
	case ShapeList:
		return k == KindList
	case ShapeAny:
		return true
	}
	return false
}

func (s *Shape) field(name string) *Field {
	for _, f := range s.Fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

func (s *Shape) describe() string {
	switch s.Kind {
	case ShapeString:
		if len(s.Enum) > 0 {
			return "one of " + strings.Join(s.Enum, ", ")
		}
		return "a string"
	case ShapeExpr:
		return "an expression"
	case ShapeInt:
		return "a whole number"
	case ShapeNumber:
		return "a number"
	case ShapeBool:
		return "true or false"
	case ShapeDuration:
		return "a duration (10s, 1m30s) or milliseconds"
	case ShapeObject:
		return "a map with " + fieldList(s.Fields)
	case ShapeDict:
		return "a map of names"
	case ShapeList:
		return "a list"
	case ShapeOneOf:
		return "a " + s.Name
	case ShapeAnyOf:
		var alts []string
		for _, a := range s.AnyOf {
			alts = append(alts, a.describe())
		}
		return strings.Join(alts, " or ")
	case ShapeConnector:
		return "a connector configuration"
	}
	return "a value"
}

func fieldList(fs []*Field) string {
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
	}
	if len(names) > 6 {
		names = append(names[:6], "...")
	}
	return strings.Join(names, ", ")
}

func describeValue(v *Value) string {
	switch v.Kind {
	case KindMap, KindList, KindNull:
		return v.Kind.String()
	}
	return fmt.Sprintf("%s %q", v.Kind, v.Str)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '.' || r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return false
		}
	}
	return true
}

func firstSentence(doc string) string {
	if i := strings.Index(doc, ". "); i >= 0 {
		doc = doc[:i]
	}
	return strings.TrimSuffix(strings.TrimSpace(doc), ".")
}

// parseDuration reads "10s", "1m30s", "500ms" or a number of milliseconds.
func parseDuration(v *Value) (time.Duration, error) {
	switch v.Kind {
	case KindInt:
		return time.Duration(v.Int) * time.Millisecond, nil
	case KindString:
		d, err := time.ParseDuration(strings.TrimSpace(v.Str))
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (want 10s, 1m30s, 500ms or milliseconds)", v.Str)
		}
		return d, nil
	}
	return 0, fmt.Errorf("want a duration (10s, 1m30s) or milliseconds, got %s", describeValue(v))
}
