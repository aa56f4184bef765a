package transforms

import (
	"fmt"

	"github.com/sluicehq/sluice/connectors"
)

var insertHeaderInfo = connectors.Info{
	Name:    "InsertHeader",
	Aliases: []string{kafkaClass("InsertHeader")},
	Summary: "Add a header with a literal value to every record.",
	Doc: "Kafka Connect's InsertHeader. The header is appended (headers with the same name are kept). Its value is the UTF-8 bytes of value.literal, verbatim. " +
		"(Kafka Connect parses the literal into a typed value and the worker's SimpleHeaderConverter writes it back as text, which gives the same bytes for ordinary literals; " +
		"it normalizes a few, such as \"007\" to \"7\" and \"[1, 2]\" to \"[1,2]\", which Sluice does not.)",
	Spec: connectors.Spec{
		Fields: []connectors.ConfigField{
			{Name: "header", Type: connectors.FieldString, Required: true, Doc: "The name of the header."},
			{Name: "value.literal", Type: connectors.FieldString, Required: true, Doc: "The literal value that is to be set as the header value on all records."},
		},
	},
	Example: "transforms: origin\ntransforms.origin.type: InsertHeader\ntransforms.origin.header: origin\ntransforms.origin.value.literal: sluice\n",
}

type insertHeader struct {
	header string
	value  []byte
}

func newInsertHeader(cfg *connectors.Config) (connectors.Transform, error) {
	return &insertHeader{header: cfg.String("header"), value: []byte(cfg.String("value.literal"))}, nil
}

func (t *insertHeader) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	// The full slice expression makes append copy: spare capacity of the
	// record's headers may belong to a slice another record shares.
	// Header values are read-only by convention, so one literal serves
	// every record.
	n := len(rec.Headers)
	rec.Headers = append(rec.Headers[:n:n], connectors.Header{Key: t.header, Value: t.value})
	return append(dst, rec), nil
}

var dropHeadersInfo = connectors.Info{
	Name:    "DropHeaders",
	Aliases: []string{kafkaClass("DropHeaders")},
	Summary: "Remove headers by name from every record.",
	Doc:     "Kafka Connect's DropHeaders. Every header whose name is listed is removed; the others keep their order.",
	Spec: connectors.Spec{
		Fields: []connectors.ConfigField{
			{Name: "headers", Type: connectors.FieldList, Required: true, Check: nonEmptyList, Doc: "The name of the headers to be removed."},
		},
	},
	Example: "transforms: clean\ntransforms.clean.type: DropHeaders\ntransforms.clean.headers: trace-id,internal\n",
}

type dropHeaders struct {
	names map[string]bool
}

func newDropHeaders(cfg *connectors.Config) (connectors.Transform, error) {
	return &dropHeaders{names: toSet(cfg.List("headers"))}, nil
}

func (t *dropHeaders) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	drop := 0
	for _, h := range rec.Headers {
		if t.names[h.Key] {
			drop++
		}
	}
	if drop == 0 {
		return append(dst, rec), nil
	}
	// A new slice rather than filtering in place: the record's headers
	// may share their backing array with a record it was cloned from.
	kept := make([]connectors.Header, 0, len(rec.Headers)-drop)
	for _, h := range rec.Headers {
		if !t.names[h.Key] {
			kept = append(kept, h)
		}
	}
	rec.Headers = kept
	return append(dst, rec), nil
}

func headerFromInfo(s side) connectors.Info {
	return connectors.Info{
		Summary: "Copy or move fields of the record " + s.String() + " into headers.",
		Doc: "Kafka Connect's HeaderFrom" + s.suffix() + ". The i-th field of fields goes to the i-th header of headers, appended to the record's headers. move also removes the fields (from a copy of the schema, derived once per input schema); copy leaves the " + s.String() + " as it is. " +
			"Header values are written as Kafka Connect's default header converter (SimpleHeaderConverter) writes them: strings as they are, numbers and booleans as Java's toString (42, 1.5, 1.0E10, true), bytes as base64, dates in ISO 8601 (UTC), decimals as Java's BigDecimal.toString, structs, maps and arrays as JSON ({\"a\":1,\"b\":\"x\"}); a null field gives a header with a null value. " +
			"A field missing from the schema is an error (in a map it gives a null header). As in Kafka Connect, a null " + s.String() + " (a tombstone) is an error: use a predicate to skip tombstones.",
		Spec: connectors.Spec{
			Fields: []connectors.ConfigField{
				{Name: "fields", Type: connectors.FieldList, Required: true, Check: nonEmptyList, Doc: "Field names in the record whose values are to be copied or moved to headers."},
				{Name: "headers", Type: connectors.FieldList, Required: true, Check: nonEmptyList, Doc: "Header names, in the same order as the field names listed in the fields configuration property."},
				{Name: "operation", Type: connectors.FieldString, Required: true, Allowed: []string{"move", "copy"},
					Doc: "Either move if the fields are to be moved to the headers (removed from the key/value), or copy if the fields are to be copied to the headers (retained in the key/value)."},
				replaceNullField,
			},
			Check: func(cfg *connectors.Config) error {
				if len(cfg.List("fields")) != len(cfg.List("headers")) {
					return connectors.Errorf(cfg.Key("headers"), "must have as many elements (%d) as fields (%d)", len(cfg.List("headers")), len(cfg.List("fields")))
				}
				return nil
			},
		},
		Example: "transforms: toHeaders\ntransforms.toHeaders.type: HeaderFrom" + s.suffix() + "\ntransforms.toHeaders.fields: id,tenant\ntransforms.toHeaders.headers: record-id,tenant\ntransforms.toHeaders.operation: copy\n",
	}
}

type headerFrom struct {
	id          ident
	side        side
	fields      []string
	headers     []string
	move        bool
	moved       map[string]bool
	purpose     string
	withDefault bool
	cache       planCache[*headerFromPlan]
}

type headerFromPlan struct {
	src  []*connectors.Field // the field of each header
	out  *connectors.Schema  // for move: the schema without the fields
	keep []int               // for move: input index of each output field
}

func newHeaderFrom(s side, cfg *connectors.Config) (connectors.Transform, error) {
	t := &headerFrom{id: newIdent("HeaderFrom"+s.suffix(), cfg), side: s, fields: cfg.List("fields"), headers: cfg.List("headers"),
		move: cfg.String("operation") == "move", withDefault: cfg.Bool("replace.null.with.default")}
	t.moved = toSet(t.fields)
	t.purpose = "header " + cfg.String("operation")
	return t, nil
}

func (t *headerFrom) derive(in *connectors.Schema) (*headerFromPlan, error) {
	p := &headerFromPlan{}
	for _, name := range t.fields {
		i := -1
		for k := range in.Fields {
			if in.Fields[k].Name == name {
				i = k
				break
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("field %q is not in the schema %s", name, in)
		}
		p.src = append(p.src, &in.Fields[i])
	}
	if t.move {
		p.out = structBasics(in)
		for _, f := range in.Fields {
			if !t.moved[f.Name] {
				p.out.Fields = append(p.out.Fields, connectors.Field{Name: f.Name, Schema: f.Schema})
				p.keep = append(p.keep, f.Index)
			}
		}
		p.out.Finish()
	}
	return p, nil
}

func (t *headerFrom) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	schema, v := t.side.get(rec)
	headers := make([]connectors.Header, 0, len(rec.Headers)+len(t.headers))
	headers = append(headers, rec.Headers...)
	if schema == nil {
		m, err := requireMap(v, t.purpose)
		if err != nil {
			return dst, t.id.wrap(rec, err)
		}
		out := m
		if t.move {
			out = copyMap(m, 0)
		}
		for i, name := range t.fields {
			b, err := headerBytes(nil, m[name])
			if err != nil {
				return dst, t.id.wrap(rec, fmt.Errorf("field %q: %w", name, err))
			}
			headers = append(headers, connectors.Header{Key: t.headers[i], Value: b})
			if t.move {
				delete(out, name)
			}
		}
		t.side.set(rec, nil, out)
		rec.Headers = headers
		return append(dst, rec), nil
	}
	st, err := requireStruct(schema, v, t.purpose)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	p, err := t.cache.get(schema, t.derive)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	for i, f := range p.src {
		b, err := headerBytes(f.Schema, fieldValue(st, f, t.withDefault))
		if err != nil {
			return dst, t.id.wrap(rec, fmt.Errorf("field %q: %w", f.Name, err))
		}
		headers = append(headers, connectors.Header{Key: t.headers[i], Value: b})
	}
	if t.move {
		in := st.Schema()
		out := connectors.NewStructValue(p.out)
		for i, si := range p.keep {
			out.Set(i, fieldValue(st, &in.Fields[si], t.withDefault))
		}
		t.side.set(rec, p.out, out)
	}
	rec.Headers = headers
	return append(dst, rec), nil
}
