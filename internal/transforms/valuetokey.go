package transforms

import (
	"fmt"

	"github.com/sluicehq/sluice/connectors"
)

var valueToKeyInfo = connectors.Info{
	Name:    "ValueToKey",
	Aliases: []string{kafkaClass("ValueToKey")},
	Summary: "Replace the record key with a new key formed from fields of the record value.",
	Doc: "Kafka Connect's ValueToKey. With a schema, the key becomes a struct (unnamed, required) of the listed fields with their schemas, in the listed order; a field missing from the value's schema is an error. " +
		"Without a schema, the key becomes a map of the listed keys (null where missing). The value is not changed. As in Kafka Connect, a null value (a tombstone) is an error: use a predicate to skip tombstones.",
	Spec: connectors.Spec{
		Fields: []connectors.ConfigField{
			{Name: "fields", Type: connectors.FieldList, Required: true, Check: nonEmptyList, Doc: "Field names on the record value to extract as the record key."},
			replaceNullField,
		},
	},
	Example: "transforms: key\ntransforms.key.type: ValueToKey\ntransforms.key.fields: customer_id,order_id\n",
}

type valueToKey struct {
	id          ident
	fields      []string
	withDefault bool
	cache       planCache[*valueToKeyPlan]
}

type valueToKeyPlan struct {
	key *connectors.Schema
	src []int
}

func newValueToKey(cfg *connectors.Config) (connectors.Transform, error) {
	return &valueToKey{id: newIdent("ValueToKey", cfg), fields: cfg.List("fields"), withDefault: cfg.Bool("replace.null.with.default")}, nil
}

func (t *valueToKey) derive(in *connectors.Schema) (*valueToKeyPlan, error) {
	key := &connectors.Schema{Type: connectors.TypeStruct}
	p := &valueToKeyPlan{key: key}
	for _, name := range t.fields {
		f, ok := in.Field(name)
		if !ok {
			return nil, fmt.Errorf("field %q does not exist in the value schema %s", name, in)
		}
		if err := addField(key, name, f.Schema); err != nil {
			return nil, err
		}
		p.src = append(p.src, f.Index)
	}
	key.Finish()
	return p, nil
}

func (t *valueToKey) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	if rec.ValueSchema == nil {
		m, err := requireMap(rec.Value, "copying fields from value to key")
		if err != nil {
			return dst, t.id.wrap(rec, err)
		}
		key := make(map[string]any, len(t.fields))
		for _, f := range t.fields {
			key[f] = m[f]
		}
		rec.KeySchema, rec.Key = nil, key
		return append(dst, rec), nil
	}
	st, err := requireStruct(rec.ValueSchema, rec.Value, "copying fields from value to key")
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	in := st.Schema()
	p, err := t.cache.get(in, t.derive)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	key := connectors.NewStructValue(p.key)
	for i, si := range p.src {
		key.Set(i, fieldValue(st, &in.Fields[si], t.withDefault))
	}
	rec.KeySchema, rec.Key = p.key, key
	return append(dst, rec), nil
}
