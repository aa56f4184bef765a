package transforms

import (
	"fmt"

	"github.com/sluicehq/sluice/connectors"
)

// Explode$Value is a Sluice extension: Kafka Connect's transforms turn one
// record into at most one, this one turns a record with an array into a
// record per element.
var explodeInfo = connectors.Info{
	Name:    "Explode$Value",
	Summary: "Emit one record per element of an array field of the record value (a Sluice extension; Kafka Connect's transforms are one-to-one).",
	Doc: "For a value {id: 7, items: [a, b]} and field=items, emits {id: 7, items: a} and {id: 7, items: b}, in order; with field.as.value=true it emits the values a and b themselves. " +
		"With a schema, the array field is replaced by a field of the array's element schema (the struct keeps its name, version and doc; the schema is derived once per input schema), or the element schema becomes the value schema; " +
		"without a schema, the value must be a map. A null, missing or empty array emits no record, as SQL's EXPLODE does; a null value (a tombstone) passes through unchanged. " +
		"Every emitted record keeps the key, headers, topic, partition and timestamp of the input. For source records only the last emitted record carries the source offset, " +
		"so the input's position is committed only once all its elements are written; sink records all carry the input's Kafka offset.",
	Spec: connectors.Spec{
		Fields: []connectors.ConfigField{
			{Name: "field", Type: connectors.FieldString, Required: true, Check: nonEmptyString, Doc: "The array field of the value to explode."},
			{Name: "field.as.value", Type: connectors.FieldBool, Default: false,
				Doc: "Emit each element as the whole record value, instead of the value with the array field replaced by the element."},
		},
	},
	Example: "transforms: lines\ntransforms.lines.type: Explode$Value\ntransforms.lines.field: line_items\n",
}

type explode struct {
	id      ident
	field   string
	asValue bool
	cache   planCache[*explodePlan]
}

type explodePlan struct {
	index int
	elem  *connectors.Schema // the array's element schema
	out   *connectors.Schema // the value with the field replaced by an element
}

func newExplode(cfg *connectors.Config) (connectors.Transform, error) {
	return &explode{id: newIdent("Explode$Value", cfg), field: cfg.String("field"), asValue: cfg.Bool("field.as.value")}, nil
}

func (t *explode) derive(in *connectors.Schema) (*explodePlan, error) {
	f, ok := in.Field(t.field)
	if !ok {
		return nil, fmt.Errorf("field %q is not in the value schema %s", t.field, in)
	}
	if f.Schema.Type != connectors.TypeArray {
		return nil, fmt.Errorf("field %q is a %s, not an array", t.field, f.Schema)
	}
	p := &explodePlan{index: f.Index, elem: f.Schema.ValueSchema}
	if !t.asValue {
		out := structBasics(in)
		out.Fields = append([]connectors.Field(nil), in.Fields...)
		out.Fields[f.Index].Schema = p.elem
		p.out = out.Finish()
	}
	return p, nil
}

// emit appends one record per element: clones of rec, rec itself last
// (only it keeps the source offset).
func emit(dst []*connectors.Record, rec *connectors.Record, n int, set func(r *connectors.Record, i int)) []*connectors.Record {
	for i := 0; i < n; i++ {
		r := rec
		if i < n-1 {
			r = rec.Clone()
			r.SourceOffset = nil
		}
		set(r, i)
		dst = append(dst, r)
	}
	return dst
}

// elements returns the array in the exploded field: none (so no record)
// when the field is null.
func (t *explode) elements(rec *connectors.Record, raw any) ([]any, error) {
	if raw == nil {
		return nil, nil
	}
	arr, ok := raw.([]any)
	if !ok {
		return nil, t.id.fail(rec, "field %q holds %s, not an array", t.field, describe(raw))
	}
	return arr, nil
}

func (t *explode) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	if rec.Value == nil {
		return append(dst, rec), nil
	}
	if rec.ValueSchema == nil {
		m, err := requireMap(rec.Value, "exploding")
		if err != nil {
			return dst, t.id.wrap(rec, err)
		}
		arr, err := t.elements(rec, m[t.field])
		if err != nil {
			return dst, err
		}
		return emit(dst, rec, len(arr), func(r *connectors.Record, i int) {
			if t.asValue {
				r.Value = arr[i]
				return
			}
			out := copyMap(m, 0)
			out[t.field] = arr[i]
			r.Value = out
		}), nil
	}
	st, err := requireStruct(rec.ValueSchema, rec.Value, "exploding")
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	in := st.Schema()
	p, err := t.cache.get(in, t.derive)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	arr, err := t.elements(rec, fieldValue(st, &in.Fields[p.index], true))
	if err != nil {
		return dst, err
	}
	return emit(dst, rec, len(arr), func(r *connectors.Record, i int) {
		if t.asValue {
			r.ValueSchema, r.Value = p.elem, arr[i]
			return
		}
		out := connectors.NewStructValue(p.out)
		for k := range in.Fields {
			out.Set(k, st.At(k))
		}
		out.Set(p.index, arr[i])
		r.ValueSchema, r.Value = p.out, out
	}), nil
}
