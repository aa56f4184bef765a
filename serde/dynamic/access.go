package dynamic

import (
	"fmt"
	"reflect"
	"strings"
)

// Accessor reads and writes one field of a Type's values, found by its
// path of Avro field names through nested records. The path is resolved
// once, when the Accessor is made; Get and Set then follow cached field
// indexes. An Accessor is safe for concurrent use (the values are not).
type Accessor struct {
	t     *Type
	path  []string
	steps []int   // struct field index per path element
	nodes []*node // the node of each path element
	leaf  *node
	out   reflect.Type
	where string // for errors
	// nullableParent says a nullable record is on the path: Set then
	// converts before it allocates, so that a failed Set leaves no
	// empty record behind.
	nullableParent bool
}

// Accessor returns the accessor of the field at path (Avro field names,
// outermost first: "customer", "address", "city"). Every element but the
// last must name a record or nullable record field.
func (t *Type) Accessor(path ...string) (*Accessor, error) {
	if len(path) == 0 {
		return nil, fmt.Errorf("dynamic: %s: empty field path", t.root.fullName)
	}
	a := &Accessor{t: t, path: append([]string(nil), path...)}
	rec := t.root
	for i, name := range path {
		if rec == nil {
			return nil, fmt.Errorf("dynamic: %s: field %s is a %s, not a record", t.root.fullName, strings.Join(path[:i], "."), describe(a.leaf))
		}
		f, ok := rec.byName[name]
		if !ok {
			return nil, fmt.Errorf("dynamic: %s: record %s has no field %q%s", t.root.fullName, rec.fullName, name, suggest(name, rec))
		}
		a.steps = append(a.steps, f.index)
		a.nodes = append(a.nodes, f.node)
		a.leaf = f.node
		rec = nil
		switch {
		case f.node.kind == kindRecord:
			rec = f.node
		case f.node.kind == kindNullable && f.node.elem.kind == kindRecord:
			rec = f.node.elem
			a.nullableParent = a.nullableParent || i < len(path)-1
		}
	}
	a.out = valueType(a.leaf)
	a.where = "field " + t.root.fullName + "." + strings.Join(path, ".")
	return a, nil
}

// valueType is the type of what Get returns for a field of node n.
func valueType(n *node) reflect.Type {
	switch {
	case n.kind == kindRecord:
		return reflect.PointerTo(n.typ)
	case n.kind == kindNullable && n.typ != n.elem.typ:
		return valueType(n.elem)
	}
	return n.typ
}

// Path returns the accessor's field path.
func (a *Accessor) Path() []string { return append([]string(nil), a.path...) }

// Type returns the Go type of the values Get returns: the field's type,
// except that a record is returned as a pointer to its struct and a
// nullable field as its non-null type.
func (a *Accessor) Type() reflect.Type { return a.out }

// AvroType describes the field's Avro type as [Field.AvroType] does.
func (a *Accessor) AvroType() string { return describe(a.leaf) }

// Get returns the field's value in rec, a value of the accessor's Type:
// nil when the field, or a nullable record on its path, is null. A record
// field is returned as a pointer into rec (not a copy). Get panics if rec
// is not a value of the Type.
func (a *Accessor) Get(rec any) any {
	v, ok := a.walk(rec, false)
	if !ok {
		return nil
	}
	switch n := a.leaf; {
	case n.kind == kindRecord:
		return v.Addr().Interface()
	case n.kind == kindNullable && n.typ != n.elem.typ:
		if v.IsNil() {
			return nil
		}
		if n.elem.kind == kindRecord {
			return v.Interface()
		}
		return v.Elem().Interface()
	case n.kind == kindNullable, n.kind == kindUnion:
		if v.IsNil() {
			return nil
		}
	}
	return v.Interface()
}

// Set stores v into the field of rec, converting it as [Type.FromMap]
// converts a map's values (an int for a long field, a T for a nullable *T,
// nil for null, ...), and allocating nullable records on the path. A value
// that does not fit the field's type is an error naming the field; rec is
// then unchanged at that field.
func (a *Accessor) Set(rec any, v any) error {
	if a.nullableParent || a.leaf.kind == kindRecord {
		tmp := reflect.New(a.leaf.typ).Elem()
		if err := assign(a.leaf, tmp, v, a.where); err != nil {
			return err
		}
		dst, _ := a.walk(rec, true)
		dst.Set(tmp)
		return nil
	}
	// assign sets scalars, lists, maps and pointers only once the whole
	// value converted.
	dst, _ := a.walk(rec, true)
	return assign(a.leaf, dst, v, a.where)
}

// walk returns the field's reflect.Value in rec, allocating nil nullable
// records on the path if alloc (else reporting false on one).
func (a *Accessor) walk(rec any, alloc bool) (reflect.Value, bool) {
	if reflect.TypeOf(rec) != a.t.ptr {
		panic(fmt.Sprintf("dynamic: accessor of %s used on a %T", a.t.root.fullName, rec))
	}
	rv := reflect.ValueOf(rec)
	if rv.IsNil() {
		panic(fmt.Sprintf("dynamic: accessor of %s used on a nil value", a.t.root.fullName))
	}
	v := rv.Elem()
	last := len(a.steps) - 1
	for i, idx := range a.steps {
		v = v.Field(idx)
		if i == last {
			break
		}
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !alloc {
					return v, false
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
	}
	return v, true
}
