package transforms

import (
	"errors"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

func insertFieldInfo(s side) connectors.Info {
	optDoc := " Suffix the name with ! to make the field required, or ? to keep it optional (the default)."
	return connectors.Info{
		Summary: "Insert fields into the record " + s.String() + " from the record's topic, partition, offset and timestamp, or a static value.",
		Doc: "Kafka Connect's InsertField$" + strings.TrimPrefix(s.suffix(), "$") + ". Works on a struct with a schema (the new fields are appended to a copy of the schema, derived once per input schema) or on a map without one. " +
			"Records whose " + s.String() + " is null (tombstones) pass through unchanged. The partition is inserted only when the record has one (sink records, or source records with an explicit partition); the offset exists only on sink records, and inserting it into a source record fails. " +
			"In a struct the partition is an int32, the offset an int64 and the timestamp a Timestamp (logical type); in a map all three are int64 (the timestamp in epoch milliseconds). A record without a timestamp leaves the field null. " +
			"An inserted field whose name is already in the schema is an error; in a map it overwrites the key.",
		Spec: connectors.Spec{
			Fields: []connectors.ConfigField{
				{Name: "topic.field", Type: connectors.FieldString, Doc: "Field name for the Kafka topic." + optDoc},
				{Name: "partition.field", Type: connectors.FieldString, Doc: "Field name for the Kafka partition (int32)." + optDoc},
				{Name: "offset.field", Type: connectors.FieldString, Doc: "Field name for the Kafka offset (int64); only sink records have one." + optDoc},
				{Name: "timestamp.field", Type: connectors.FieldString, Doc: "Field name for the record timestamp." + optDoc},
				{Name: "static.field", Type: connectors.FieldString, Doc: "Field name for a static string value (static.value)." + optDoc},
				{Name: "static.value", Type: connectors.FieldString, Doc: "The static value of static.field."},
				replaceNullField,
			},
			Check: func(cfg *connectors.Config) error {
				var errs []error
				anySet := false
				for _, k := range []string{"topic.field", "partition.field", "offset.field", "timestamp.field", "static.field"} {
					if cfg.IsSet(k) {
						anySet = true
						if n, _ := parseInsertion(cfg.String(k)); n == "" {
							errs = append(errs, connectors.Errorf(cfg.Key(k), "the field name is empty"))
						}
					}
				}
				if !anySet {
					errs = append(errs, connectors.Errorf(cfg.Key("topic.field"), "no field insertion configured: set at least one of topic.field, partition.field, offset.field, timestamp.field and static.field"))
				}
				if cfg.IsSet("static.field") != cfg.IsSet("static.value") {
					if cfg.IsSet("static.field") {
						errs = append(errs, connectors.Errorf(cfg.Key("static.value"), "required with static.field %q", cfg.String("static.field")))
					} else {
						errs = append(errs, connectors.Errorf(cfg.Key("static.field"), "required with static.value (the field to insert it into)"))
					}
				}
				return errors.Join(errs...)
			},
		},
		Example: "transforms: meta\ntransforms.meta.type: InsertField" + s.suffix() + "\ntransforms.meta.topic.field: source_topic\ntransforms.meta.timestamp.field: ts!\ntransforms.meta.static.field: origin\ntransforms.meta.static.value: sluice\n",
	}
}

// parseInsertion splits "name!" or "name?" into the name and optionality.
func parseInsertion(spec string) (name string, optional bool) {
	switch {
	case strings.HasSuffix(spec, "?"):
		return spec[:len(spec)-1], true
	case strings.HasSuffix(spec, "!"):
		return spec[:len(spec)-1], false
	}
	return spec, true
}

type insertion struct {
	name     string
	optional bool
}

type insertField struct {
	id          ident
	side        side
	topic       *insertion
	partition   *insertion
	offset      *insertion
	timestamp   *insertion
	static      *insertion
	staticValue string
	withDefault bool
	cache       planCache[*insertPlan]
}

type insertPlan struct {
	out *connectors.Schema
	n   int // fields copied from the input
	// Indexes of the inserted fields in out, -1 when not inserted.
	topic, partition, offset, timestamp, static int
}

var optionalTimestamp = connectors.OptionalOf(connectors.TimestampSchema())

func newInsertField(s side, cfg *connectors.Config) (connectors.Transform, error) {
	t := &insertField{id: newIdent("InsertField"+s.suffix(), cfg), side: s, withDefault: cfg.Bool("replace.null.with.default")}
	get := func(k string) *insertion {
		if !cfg.IsSet(k) {
			return nil
		}
		n, o := parseInsertion(cfg.String(k))
		return &insertion{name: n, optional: o}
	}
	t.topic, t.partition, t.offset = get("topic.field"), get("partition.field"), get("offset.field")
	t.timestamp, t.static = get("timestamp.field"), get("static.field")
	t.staticValue = cfg.String("static.value")
	return t, nil
}

func (t *insertField) derive(in *connectors.Schema) (*insertPlan, error) {
	out := structBasics(in)
	out.Fields = append(make([]connectors.Field, 0, len(in.Fields)+5), in.Fields...)
	p := &insertPlan{out: out, n: len(in.Fields), topic: -1, partition: -1, offset: -1, timestamp: -1, static: -1}
	add := func(ins *insertion, idx *int, required, optional *connectors.Schema) error {
		if ins == nil {
			return nil
		}
		fs := required
		if ins.optional {
			fs = optional
		}
		*idx = len(out.Fields)
		return addField(out, ins.name, fs)
	}
	for _, err := range []error{
		add(t.topic, &p.topic, connectors.StringSchema(), connectors.OptionalOf(connectors.StringSchema())),
		add(t.partition, &p.partition, connectors.Int32Schema(), connectors.OptionalOf(connectors.Int32Schema())),
		add(t.offset, &p.offset, connectors.Int64Schema(), connectors.OptionalOf(connectors.Int64Schema())),
		add(t.timestamp, &p.timestamp, connectors.TimestampSchema(), optionalTimestamp),
		add(t.static, &p.static, connectors.StringSchema(), connectors.OptionalOf(connectors.StringSchema())),
	} {
		if err != nil {
			return nil, err
		}
	}
	out.Finish()
	return p, nil
}

func (t *insertField) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	schema, v := t.side.get(rec)
	if v == nil {
		return append(dst, rec), nil
	}
	if t.offset != nil && rec.Offset < 0 {
		return dst, t.id.fail(rec, "offset.field %q: only sink records have a Kafka offset", t.offset.name)
	}
	if schema == nil {
		m, err := requireMap(v, "field insertion")
		if err != nil {
			return dst, t.id.wrap(rec, err)
		}
		out := copyMap(m, 5)
		if t.topic != nil {
			out[t.topic.name] = rec.Topic
		}
		if t.partition != nil && rec.Partition >= 0 {
			out[t.partition.name] = int64(rec.Partition)
		}
		if t.offset != nil {
			out[t.offset.name] = rec.Offset
		}
		if t.timestamp != nil && !rec.Timestamp.IsZero() {
			out[t.timestamp.name] = rec.Timestamp.UnixMilli()
		}
		if t.static != nil {
			out[t.static.name] = t.staticValue
		}
		t.side.set(rec, nil, out)
		return append(dst, rec), nil
	}
	st, err := requireStruct(schema, v, "field insertion")
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	p, err := t.cache.get(st.Schema(), t.derive)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	out := connectors.NewStructValue(p.out)
	in := st.Schema()
	for i := 0; i < p.n; i++ {
		out.Set(i, fieldValue(st, &in.Fields[i], t.withDefault))
	}
	if p.topic >= 0 {
		out.Set(p.topic, rec.Topic)
	}
	if p.partition >= 0 && rec.Partition >= 0 {
		out.Set(p.partition, rec.Partition)
	}
	if p.offset >= 0 {
		out.Set(p.offset, rec.Offset)
	}
	if p.timestamp >= 0 && !rec.Timestamp.IsZero() {
		out.Set(p.timestamp, time.UnixMilli(rec.Timestamp.UnixMilli()).UTC())
	}
	if p.static >= 0 {
		out.Set(p.static, t.staticValue)
	}
	t.side.set(rec, p.out, out)
	return append(dst, rec), nil
}
