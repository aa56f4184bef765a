package transforms

import (
	"fmt"
	"sort"

	"github.com/sluicehq/sluice/connectors"
)

func flattenInfo(s side) connectors.Info {
	return connectors.Info{
		Summary: "Flatten nested structs (or maps) of the record " + s.String() + " into top-level fields named with a delimiter.",
		Doc: "Kafka Connect's Flatten" + s.suffix() + ". A field b of a struct field a becomes a.b (with the default delimiter). Arrays and their contents are not changed. " +
			"With a schema, map fields are not supported (an error, as in Kafka Connect); a flattened field is optional if it or any struct above it is optional, and takes its default from its own schema or from the defaults of the structs above it. " +
			"Without a schema, nested maps are flattened; when two paths produce the same name (a key \"a.b\" next to a map \"a\" holding \"b\"), the one that sorts last wins, deterministically. " +
			"Records whose " + s.String() + " is null (tombstones) pass through unchanged.",
		Spec: connectors.Spec{
			Fields: []connectors.ConfigField{
				{Name: "delimiter", Type: connectors.FieldString, Default: ".",
					Doc: "Delimiter to insert between field names from the input record when generating field names for the output record."},
			},
		},
		Example: "transforms: flat\ntransforms.flat.type: Flatten" + s.suffix() + "\ntransforms.flat.delimiter: _\n",
	}
}

type flatten struct {
	id        ident
	side      side
	delimiter string
	cache     planCache[*flattenPlan]
}

type flattenNode struct {
	src      int           // field index in the input struct
	out      int           // field index in the output, for a leaf
	children []flattenNode // for a struct field
}

type flattenPlan struct {
	out   *connectors.Schema
	nodes []flattenNode
}

func newFlatten(s side, cfg *connectors.Config) (connectors.Transform, error) {
	return &flatten{id: newIdent("Flatten"+s.suffix(), cfg), side: s, delimiter: cfg.String("delimiter")}, nil
}

func (t *flatten) name(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + t.delimiter + field
}

func (t *flatten) derive(in *connectors.Schema) (*flattenPlan, error) {
	out := structBasics(in)
	var parentDefault *connectors.Struct
	if d, ok := in.Default.(*connectors.Struct); ok {
		parentDefault = d
	}
	nodes, err := t.deriveStruct(in, "", out, in.Optional, parentDefault)
	if err != nil {
		return nil, err
	}
	out.Finish()
	return &flattenPlan{out: out, nodes: nodes}, nil
}

func (t *flatten) deriveStruct(s *connectors.Schema, prefix string, out *connectors.Schema, optional bool, parentDefault *connectors.Struct) ([]flattenNode, error) {
	nodes := make([]flattenNode, 0, len(s.Fields))
	for i := range s.Fields {
		f := &s.Fields[i]
		name := t.name(prefix, f.Name)
		fieldOptional := optional || f.Schema.Optional
		fieldDefault := f.Schema.Default
		if fieldDefault == nil && parentDefault != nil {
			fieldDefault = fieldValue(parentDefault, f, true)
		}
		switch f.Schema.Type {
		case connectors.TypeStruct:
			var d *connectors.Struct
			if fieldDefault != nil {
				var ok bool
				if d, ok = fieldDefault.(*connectors.Struct); !ok {
					return nil, fmt.Errorf("field %q: its default is %s, not a struct", name, describe(fieldDefault))
				}
			}
			children, err := t.deriveStruct(f.Schema, name, out, fieldOptional, d)
			if err != nil {
				return nil, err
			}
			nodes = append(nodes, flattenNode{src: f.Index, out: -1, children: children})
		case connectors.TypeMap:
			return nil, fmt.Errorf("field %q: Flatten does not support map fields in records with a schema", name)
		default:
			fs := &connectors.Schema{Type: f.Schema.Type, Name: f.Schema.Name, Version: f.Schema.Version, Doc: f.Schema.Doc,
				Parameters: f.Schema.Parameters, ValueSchema: f.Schema.ValueSchema, Optional: fieldOptional, Default: fieldDefault}
			nodes = append(nodes, flattenNode{src: f.Index, out: len(out.Fields)})
			if err := addField(out, name, fs); err != nil {
				return nil, err
			}
		}
	}
	return nodes, nil
}

func fillFlat(st *connectors.Struct, nodes []flattenNode, out *connectors.Struct) {
	fields := st.Schema().Fields
	for _, n := range nodes {
		v := fieldValue(st, &fields[n.src], true)
		if n.children == nil {
			out.Set(n.out, v)
			continue
		}
		if nested, ok := v.(*connectors.Struct); ok {
			fillFlat(nested, n.children, out)
		}
	}
}

func (t *flatten) flattenMap(m map[string]any, prefix string, out map[string]any) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := t.name(prefix, k)
		switch v := m[k].(type) {
		case map[string]any:
			if err := t.flattenMap(v, name, out); err != nil {
				return err
			}
		case *connectors.Struct:
			return fmt.Errorf("field %q holds a struct in a record without a schema", name)
		default:
			out[name] = v
		}
	}
	return nil
}

func (t *flatten) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	schema, v := t.side.get(rec)
	if v == nil {
		return append(dst, rec), nil
	}
	if schema == nil {
		m, err := requireMap(v, "flattening")
		if err != nil {
			return dst, t.id.wrap(rec, err)
		}
		out := make(map[string]any, len(m))
		if err := t.flattenMap(m, "", out); err != nil {
			return dst, t.id.wrap(rec, err)
		}
		t.side.set(rec, nil, out)
		return append(dst, rec), nil
	}
	st, err := requireStruct(schema, v, "flattening")
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	p, err := t.cache.get(schema, t.derive)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	out := connectors.NewStructValue(p.out)
	fillFlat(st, p.nodes, out)
	t.side.set(rec, p.out, out)
	return append(dst, rec), nil
}
