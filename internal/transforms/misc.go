package transforms

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/sluicehq/sluice/connectors"
)

var filterInfo = connectors.Info{
	Name:    "Filter",
	Aliases: []string{kafkaClass("Filter")},
	Summary: "Drop records (those its predicate matches, or with negate those it does not).",
	Doc: "Kafka Connect's Filter: it drops every record it is applied to, so it is meant to be used with a predicate. " +
		"Dropped records are not written, and their offsets count as processed.",
	Example: "transforms: dropTombstones\ntransforms.dropTombstones.type: Filter\ntransforms.dropTombstones.predicate: isTombstone\npredicates: isTombstone\npredicates.isTombstone.type: RecordIsTombstone\n",
}

type filter struct{}

func (filter) Apply(dst []*connectors.Record, _ *connectors.Record) ([]*connectors.Record, error) {
	return dst, nil
}

func setSchemaMetadataInfo(s side) connectors.Info {
	return connectors.Info{
		Summary: "Set the name and/or version of the record " + s.String() + "'s schema.",
		Doc: "Kafka Connect's SetSchemaMetadata" + s.suffix() + ". The new schema is a copy of the old one with the name and/or version replaced (derived once per input schema); a struct " + s.String() + " is rebuilt on it. " +
			"A record without a schema is an error, except when the " + s.String() + " is null too (then it passes).",
		Spec: connectors.Spec{
			Fields: []connectors.ConfigField{
				{Name: "schema.name", Type: connectors.FieldString, Doc: "Schema name to set."},
				{Name: "schema.version", Type: connectors.FieldInt, Doc: "Schema version to set."},
				replaceNullField,
			},
			Check: func(cfg *connectors.Config) error {
				if !cfg.IsSet("schema.name") && !cfg.IsSet("schema.version") {
					return connectors.Errorf(cfg.Key("schema.name"), "neither schema.name nor schema.version is set: set at least one")
				}
				return nil
			},
		},
		Example: "transforms: rename\ntransforms.rename.type: SetSchemaMetadata" + s.suffix() + "\ntransforms.rename.schema.name: com.acme.Order\ntransforms.rename.schema.version: 2\n",
	}
}

type setSchemaMetadata struct {
	id          ident
	side        side
	name        *string
	version     *int
	withDefault bool
	cache       planCache[*connectors.Schema]
}

func newSetSchemaMetadata(s side, cfg *connectors.Config) (connectors.Transform, error) {
	t := &setSchemaMetadata{id: newIdent("SetSchemaMetadata"+s.suffix(), cfg), side: s, withDefault: cfg.Bool("replace.null.with.default")}
	if cfg.IsSet("schema.name") {
		n := cfg.String("schema.name")
		t.name = &n
	}
	if cfg.IsSet("schema.version") {
		v := cfg.Int("schema.version")
		t.version = &v
	}
	return t, nil
}

func (t *setSchemaMetadata) derive(in *connectors.Schema) (*connectors.Schema, error) {
	out := in.Copy()
	if t.name != nil {
		out.Name = *t.name
	}
	if t.version != nil {
		out.Version = *t.version
	}
	return out, nil
}

func (t *setSchemaMetadata) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	schema, v := t.side.get(rec)
	if schema == nil {
		if v == nil {
			return append(dst, rec), nil
		}
		return dst, t.id.fail(rec, "the %s has no schema to update", t.side)
	}
	out, err := t.cache.get(schema, t.derive)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	if st, ok := v.(*connectors.Struct); ok {
		if len(st.Schema().Fields) != len(out.Fields) {
			return dst, t.id.fail(rec, "the struct's schema (%s) does not match the record's schema (%s)", st.Schema(), schema)
		}
		ns := connectors.NewStructValue(out)
		in := st.Schema()
		for i := range in.Fields {
			ns.Set(i, fieldValue(st, &in.Fields[i], t.withDefault))
		}
		v = ns
	}
	t.side.set(rec, out, v)
	return append(dst, rec), nil
}

var topicNameMatchesInfo = connectors.Info{
	Name:    "TopicNameMatches",
	Aliases: []string{"org.apache.kafka.connect.transforms.predicates.TopicNameMatches"},
	Summary: "True for records whose topic name matches a regular expression.",
	Doc:     "Kafka Connect's TopicNameMatches predicate. The expression must match the whole topic name; it is run by Go's RE2 engine (Java syntax without lookaround or backreferences).",
	Spec: connectors.Spec{
		Fields: []connectors.ConfigField{
			{Name: "pattern", Type: connectors.FieldString, Required: true, Check: func(v any) error {
				if err := nonEmptyString(v); err != nil {
					return err
				}
				return isRegex(v)
			}, Doc: "A Java regular expression for matching against the name of a record's topic."},
		},
	},
	Example: "predicates: isOrders\npredicates.isOrders.type: TopicNameMatches\npredicates.isOrders.pattern: \"orders-.*\"\n",
}

type topicNameMatches struct{ whole *regexp.Regexp }

func (p topicNameMatches) Test(rec *connectors.Record) bool { return p.whole.MatchString(rec.Topic) }

var hasHeaderKeyInfo = connectors.Info{
	Name:    "HasHeaderKey",
	Aliases: []string{"org.apache.kafka.connect.transforms.predicates.HasHeaderKey"},
	Summary: "True for records with at least one header with the configured name.",
	Doc:     "Kafka Connect's HasHeaderKey predicate.",
	Spec: connectors.Spec{
		Fields: []connectors.ConfigField{
			{Name: "name", Type: connectors.FieldString, Required: true, Check: nonEmptyString, Doc: "The header name."},
		},
	},
	Example: "predicates: hasTrace\npredicates.hasTrace.type: HasHeaderKey\npredicates.hasTrace.name: trace-id\n",
}

type hasHeaderKey struct{ name string }

func (p hasHeaderKey) Test(rec *connectors.Record) bool {
	for _, h := range rec.Headers {
		if h.Key == p.name {
			return true
		}
	}
	return false
}

var recordIsTombstoneInfo = connectors.Info{
	Name:    "RecordIsTombstone",
	Aliases: []string{"org.apache.kafka.connect.transforms.predicates.RecordIsTombstone"},
	Summary: "True for records which are tombstones (i.e. have null value).",
	Doc:     "Kafka Connect's RecordIsTombstone predicate: true when the record's value is null, whatever its schema.",
	Example: "predicates: isTombstone\npredicates.isTombstone.type: RecordIsTombstone\n",
}

type recordIsTombstone struct{}

func (recordIsTombstone) Test(rec *connectors.Record) bool { return rec.Value == nil }

// Register adds Kafka Connect's transforms (each field transform as $Key
// and $Value, under its Kafka Connect class name too), the Explode$Value
// extension, and the predicates TopicNameMatches, HasHeaderKey and
// RecordIsTombstone to reg.
//
// Every transform is safe for concurrent use by the tasks of a connector.
// Those that change schemas derive the new schema once per input schema
// (compared by pointer) and keep the last 16 derivations, as Kafka
// Connect's transforms do.
func Register(reg *connectors.Registry) error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }

	add(variants(reg, "InsertField", insertFieldInfo, newInsertField))
	add(variants(reg, "ReplaceField", replaceFieldInfo, newReplaceField))
	add(variants(reg, "MaskField", maskFieldInfo, newMaskField))
	add(variants(reg, "Cast", castInfo, newCast))
	add(variants(reg, "ExtractField", extractFieldInfo, newExtractField))
	add(variants(reg, "HoistField", hoistFieldInfo, newHoistField))
	add(variants(reg, "Flatten", flattenInfo, newFlatten))
	add(variants(reg, "TimestampConverter", timestampConverterInfo, newTimestampConverter))
	add(variants(reg, "HeaderFrom", headerFromInfo, newHeaderFrom))
	add(variants(reg, "SetSchemaMetadata", setSchemaMetadataInfo, newSetSchemaMetadata))
	add(reg.AddTransform(connectors.TransformPlugin{Info: valueToKeyInfo, New: newValueToKey}))
	add(reg.AddTransform(connectors.TransformPlugin{Info: regexRouterInfo, New: newRegexRouter}))
	add(reg.AddTransform(connectors.TransformPlugin{Info: timestampRouterInfo, New: newTimestampRouter}))
	add(reg.AddTransform(connectors.TransformPlugin{Info: insertHeaderInfo, New: newInsertHeader}))
	add(reg.AddTransform(connectors.TransformPlugin{Info: dropHeadersInfo, New: newDropHeaders}))
	add(reg.AddTransform(connectors.TransformPlugin{Info: filterInfo,
		New: func(*connectors.Config) (connectors.Transform, error) { return filter{}, nil }}))
	add(reg.AddTransform(connectors.TransformPlugin{Info: explodeInfo, New: newExplode}))
	add(reg.AddTransform(connectors.TransformPlugin{Info: extractNewRecordStateInfo, New: newExtractNewRecordState}))

	add(reg.AddPredicate(connectors.PredicatePlugin{Info: topicNameMatchesInfo, New: func(cfg *connectors.Config) (connectors.Predicate, error) {
		_, whole, err := compileJavaRegex(cfg.String("pattern"))
		if err != nil {
			return nil, connectors.Errorf(cfg.Key("pattern"), "%v", err)
		}
		return topicNameMatches{whole: whole}, nil
	}}))
	add(reg.AddPredicate(connectors.PredicatePlugin{Info: hasHeaderKeyInfo, New: func(cfg *connectors.Config) (connectors.Predicate, error) {
		return hasHeaderKey{name: cfg.String("name")}, nil
	}}))
	add(reg.AddPredicate(connectors.PredicatePlugin{Info: recordIsTombstoneInfo, New: func(*connectors.Config) (connectors.Predicate, error) {
		return recordIsTombstone{}, nil
	}}))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("transforms: register: %w", err)
	}
	return nil
}
