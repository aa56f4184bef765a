package transforms

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/connectors"
)

func replaceFieldInfo(s side) connectors.Info {
	return connectors.Info{
		Summary: "Filter (include, exclude) or rename fields of the record " + s.String() + ".",
		Doc: "Kafka Connect's ReplaceField" + s.suffix() + ". Works on a struct with a schema (the new schema keeps the input schema's name, version, doc and parameters, and is derived once per input schema) or on a map without one. " +
			"exclude takes precedence over include; an empty include keeps every field. Renames apply after filtering. Records whose " + s.String() + " is null (tombstones) pass through unchanged. " +
			"The deprecated whitelist and blacklist (removed in Kafka 4.0) are accepted as aliases of include and exclude.",
		Spec: connectors.Spec{
			Fields: []connectors.ConfigField{
				{Name: "exclude", Type: connectors.FieldList, Doc: "Fields to exclude. This takes precedence over the fields to include."},
				{Name: "include", Type: connectors.FieldList, Doc: "Fields to include. If specified, only these fields will be used."},
				{Name: "renames", Type: connectors.FieldList, Check: checkRenames, Doc: "Field rename mappings, as colon-separated pairs: foo:bar,abc:xyz."},
				{Name: "blacklist", Type: connectors.FieldList, Doc: "Deprecated: use exclude."},
				{Name: "whitelist", Type: connectors.FieldList, Doc: "Deprecated: use include."},
				replaceNullField,
			},
			Check: func(cfg *connectors.Config) error {
				var errs []error
				for _, pair := range [][2]string{{"include", "whitelist"}, {"exclude", "blacklist"}} {
					if cfg.IsSet(pair[0]) && cfg.IsSet(pair[1]) {
						errs = append(errs, connectors.Errorf(cfg.Key(pair[1]), "deprecated alias of %s, which is also set: keep only %s", pair[0], pair[0]))
					}
				}
				return errors.Join(errs...)
			},
		},
		Example: "transforms: tidy\ntransforms.tidy.type: ReplaceField" + s.suffix() + "\ntransforms.tidy.exclude: internal_id\ntransforms.tidy.renames: cust:customer_id,amt:amount\n",
	}
}

func checkRenames(v any) error {
	_, err := parseRenames(v.([]string))
	return err
}

func parseRenames(list []string) (map[string]string, error) {
	m := make(map[string]string, len(list))
	for _, r := range list {
		from, to, ok := strings.Cut(r, ":")
		if !ok || from == "" || to == "" || strings.Contains(to, ":") {
			return nil, fmt.Errorf("invalid rename mapping %q (want old:new)", r)
		}
		m[from] = to
	}
	return m, nil
}

type replaceField struct {
	id          ident
	side        side
	exclude     map[string]bool
	include     map[string]bool
	renames     map[string]string
	withDefault bool
	cache       planCache[*replacePlan]
}

type replacePlan struct {
	out *connectors.Schema
	src []int // input field index of each output field
}

func toSet(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

func newReplaceField(s side, cfg *connectors.Config) (connectors.Transform, error) {
	include, exclude := cfg.List("include"), cfg.List("exclude")
	if !cfg.IsSet("include") {
		include = cfg.List("whitelist")
	}
	if !cfg.IsSet("exclude") {
		exclude = cfg.List("blacklist")
	}
	renames, err := parseRenames(cfg.List("renames"))
	if err != nil {
		return nil, connectors.Errorf(cfg.Key("renames"), "%v", err)
	}
	return &replaceField{
		id: newIdent("ReplaceField"+s.suffix(), cfg), side: s,
		exclude: toSet(exclude), include: toSet(include), renames: renames,
		withDefault: cfg.Bool("replace.null.with.default"),
	}, nil
}

func (t *replaceField) keep(name string) bool {
	return !t.exclude[name] && (len(t.include) == 0 || t.include[name])
}

func (t *replaceField) renamed(name string) string {
	if r, ok := t.renames[name]; ok {
		return r
	}
	return name
}

func (t *replaceField) derive(in *connectors.Schema) (*replacePlan, error) {
	out := structBasics(in)
	p := &replacePlan{out: out}
	for _, f := range in.Fields {
		if !t.keep(f.Name) {
			continue
		}
		if err := addField(out, t.renamed(f.Name), f.Schema); err != nil {
			return nil, err
		}
		p.src = append(p.src, f.Index)
	}
	out.Finish()
	return p, nil
}

func (t *replaceField) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	schema, v := t.side.get(rec)
	if v == nil {
		return append(dst, rec), nil
	}
	if schema == nil {
		m, err := requireMap(v, "field replacement")
		if err != nil {
			return dst, t.id.wrap(rec, err)
		}
		out := make(map[string]any, len(m))
		for k, x := range m {
			if t.keep(k) {
				out[t.renamed(k)] = x
			}
		}
		t.side.set(rec, nil, out)
		return append(dst, rec), nil
	}
	st, err := requireStruct(schema, v, "field replacement")
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	p, err := t.cache.get(st.Schema(), t.derive)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	in := st.Schema()
	out := connectors.NewStructValue(p.out)
	for i, si := range p.src {
		out.Set(i, fieldValue(st, &in.Fields[si], t.withDefault))
	}
	t.side.set(rec, p.out, out)
	return append(dst, rec), nil
}
