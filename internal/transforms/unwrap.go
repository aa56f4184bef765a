package transforms

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/connectors"
)

// Debezium's delete.tombstone.handling.mode values.
const (
	deleteDrop                 = "drop"
	deleteTombstone            = "tombstone"
	deleteRewrite              = "rewrite"
	deleteRewriteWithTombstone = "rewrite-with-tombstone"
	deleteToTombstone          = "delete-to-tombstone"
)

var extractNewRecordStateInfo = connectors.Info{
	Name:    "ExtractNewRecordState",
	Aliases: []string{"io.debezium.transforms.ExtractNewRecordState"},
	Summary: "Flatten Debezium change events (postgres-cdc, mysql-cdc) to the row state after the change, as Debezium's ExtractNewRecordState (\"unwrap\").",
	Doc: "Debezium's event flattening: a change event's envelope (before, after, source, op, ts_ms) is replaced by its `after` row, " +
		"so that sinks such as jdbc can write rows. Deletes and tombstones follow delete.tombstone.handling.mode: " +
		"`tombstone` (default) leaves only the tombstone that the connector writes after each delete (a null value with the row's key: the jdbc sink with delete.enabled deletes the row); " +
		"`drop` removes deletes and tombstones; `rewrite` keeps deletes as their `before` row with `__deleted` = \"true\" (and \"false\" on other rows) and drops tombstones; " +
		"`rewrite-with-tombstone` does the same and keeps tombstones; `delete-to-tombstone` turns deletes into tombstones and drops the connector's own tombstones (for sources with tombstones.on.delete=false). " +
		"Debezium 1.x's drop.tombstones and delete.handling.mode are accepted when delete.tombstone.handling.mode is not set. " +
		"add.fields copies metadata into the row (`op`, `ts_ms` and other envelope fields by name; `table`, `lsn`, `db`, any source field by name or as `source.<field>`), " +
		"named add.fields.prefix + the name with dots as underscores (`__op`, `__source_ts_ms`), or a name given as `field:NAME`; add.headers does the same into headers (as text). " +
		"route.by.field sends the record to the topic named by a row field. Records that are not change events (heartbeats, schema changes, other data) pass unchanged. " +
		"Works on records with schemas (Avro, JSON with schemas) and without (JSON maps).",
	Spec: connectors.Spec{
		Fields: []connectors.ConfigField{
			{Name: "delete.tombstone.handling.mode", Type: connectors.FieldString, Default: deleteTombstone,
				Allowed: []string{deleteDrop, deleteTombstone, deleteRewrite, deleteRewriteWithTombstone, deleteToTombstone},
				Doc:     "How delete events and tombstones are emitted (see the description)."},
			{Name: "drop.tombstones", Type: connectors.FieldBool, Default: true,
				Doc: "Debezium 1.x: drop tombstones. Used only when delete.tombstone.handling.mode is not set."},
			{Name: "delete.handling.mode", Type: connectors.FieldString, Default: "drop", Allowed: []string{"drop", "none", "rewrite"},
				Doc: "Debezium 1.x: drop deletes, keep them as nulls (none) or rewrite them with __deleted. Used only when delete.tombstone.handling.mode is not set."},
			{Name: "add.fields", Type: connectors.FieldList,
				Doc: "Metadata fields to add to the row: op, ts_ms, table, lsn, source.ts_ms, ... (optionally field:NEW_NAME)."},
			{Name: "add.fields.prefix", Type: connectors.FieldString, Default: "__", Doc: "Prefix of the added fields' names."},
			{Name: "add.headers", Type: connectors.FieldList,
				Doc: "Metadata fields to add as headers (values as text), named like add.fields."},
			{Name: "add.headers.prefix", Type: connectors.FieldString, Default: "__", Doc: "Prefix of the added headers' names."},
			{Name: "route.by.field", Type: connectors.FieldString,
				Doc: "A row field whose value becomes the record's topic (the before row's for deletes)."},
		},
		Check: func(cfg *connectors.Config) error {
			for _, key := range []string{"add.fields", "add.headers"} {
				for _, f := range cfg.List(key) {
					if _, err := parseMetaField(f, ""); err != nil {
						return connectors.Errorf(cfg.Key(key), "%v", err)
					}
				}
			}
			return nil
		},
	},
	Example: "transforms: unwrap\ntransforms.unwrap.type: io.debezium.transforms.ExtractNewRecordState\ntransforms.unwrap.add.fields: op,table,source.ts_ms\n",
}

// metaField is one entry of add.fields or add.headers.
type metaField struct {
	envelope bool   // a top-level envelope field (op, ts_ms); else a source field
	field    string // its name in the envelope or source struct
	out      string // the added field's or header's name
}

// envelopeFields are the names that refer to the envelope itself, not to
// its source struct, when given without a "struct." qualifier.
var envelopeFields = map[string]bool{"op": true, "ts_ms": true, "ts_us": true, "ts_ns": true}

func parseMetaField(s, prefix string) (metaField, error) {
	spec, rename, renamed := strings.Cut(strings.TrimSpace(s), ":")
	if spec == "" || (renamed && rename == "") {
		return metaField{}, fmt.Errorf("%q is not a field name (field or struct.field, optionally :NEW_NAME)", s)
	}
	m := metaField{out: prefix + strings.ReplaceAll(spec, ".", "_")}
	if renamed {
		m.out = rename
	}
	switch st, f, dotted := strings.Cut(spec, "."); {
	case !dotted:
		m.envelope, m.field = envelopeFields[spec], spec
	case st == "source" && f != "":
		m.field = f
	default:
		return metaField{}, fmt.Errorf("%q: only source.<field> or a field name can be added", s)
	}
	return m, nil
}

type extractNewRecordState struct {
	id            ident
	mode          string
	fields        []metaField
	headers       []metaField
	routeBy       string
	rewrite       bool
	keepTombstone bool
	cache         planCache[*unwrapPlan]
}

func newExtractNewRecordState(cfg *connectors.Config) (connectors.Transform, error) {
	t := &extractNewRecordState{id: newIdent("ExtractNewRecordState", cfg), routeBy: cfg.String("route.by.field")}
	t.mode = cfg.String("delete.tombstone.handling.mode")
	if !cfg.IsSet("delete.tombstone.handling.mode") && (cfg.IsSet("drop.tombstones") || cfg.IsSet("delete.handling.mode")) {
		t.mode = legacyDeleteMode(cfg.Bool("drop.tombstones"), cfg.String("delete.handling.mode"))
	}
	t.rewrite = t.mode == deleteRewrite || t.mode == deleteRewriteWithTombstone
	t.keepTombstone = t.mode == deleteTombstone || t.mode == deleteRewriteWithTombstone
	for _, f := range cfg.List("add.fields") {
		m, err := parseMetaField(f, cfg.String("add.fields.prefix"))
		if err != nil {
			return nil, connectors.Errorf(cfg.Key("add.fields"), "%v", err)
		}
		t.fields = append(t.fields, m)
	}
	for _, f := range cfg.List("add.headers") {
		m, err := parseMetaField(f, cfg.String("add.headers.prefix"))
		if err != nil {
			return nil, connectors.Errorf(cfg.Key("add.headers"), "%v", err)
		}
		t.headers = append(t.headers, m)
	}
	return t, nil
}

// legacyDeleteMode maps Debezium 1.x's two settings onto the one mode.
// delete.handling.mode=none kept deletes as null values: with
// drop.tombstones that is delete-to-tombstone; without, the delete's null
// and the connector's tombstone were two tombstones, and keeping only the
// second (tombstone) has the same effect on a compacted topic or a sink.
func legacyDeleteMode(dropTombstones bool, deletes string) string {
	switch deletes {
	case "rewrite":
		if dropTombstones {
			return deleteRewrite
		}
		return deleteRewriteWithTombstone
	case "none":
		if dropTombstones {
			return deleteToTombstone
		}
		return deleteTombstone
	default:
		if dropTombstones {
			return deleteDrop
		}
		return deleteTombstone
	}
}

// unwrapPlan is what an envelope schema compiles to.
type unwrapPlan struct {
	before, after, op, source int // field indexes in the envelope; -1 if absent
	row                       *connectors.Schema
	out                       *connectors.Schema // row + added fields (+ __deleted)
	added                     []addedField
	deleted                   int // index of __deleted in out; -1 if not rewriting
	routeBy                   int // index of route.by.field in the row; -1 if unset
}

type addedField struct {
	envelope bool
	index    int // in the envelope or the source struct; -1 when the field is absent
}

// isEnvelope reports whether a schema is a Debezium change event's: a struct
// with op and after (and before) fields.
func isEnvelope(s *connectors.Schema) bool {
	if s == nil || s.Type != connectors.TypeStruct {
		return false
	}
	op, okOp := s.Field("op")
	after, okAfter := s.Field("after")
	return okOp && okAfter && op.Schema.Type == connectors.TypeString && after.Schema.Type == connectors.TypeStruct
}

func (t *extractNewRecordState) derive(env *connectors.Schema) (*unwrapPlan, error) {
	p := &unwrapPlan{before: -1, after: -1, op: -1, source: -1, deleted: -1, routeBy: -1}
	for _, f := range env.Fields {
		switch f.Name {
		case "before":
			p.before = f.Index
		case "after":
			p.after = f.Index
			p.row = f.Schema
		case "op":
			p.op = f.Index
		case "source":
			p.source = f.Index
		}
	}
	var sourceSchema *connectors.Schema
	if p.source >= 0 {
		sourceSchema = env.Fields[p.source].Schema
	}
	b := connectors.NewStruct(p.row.Name)
	for _, f := range p.row.Fields {
		b.Field(f.Name, f.Schema)
	}
	for _, m := range t.fields {
		a, schema := resolveMeta(m, env, sourceSchema)
		if schema == nil {
			continue // a field the event does not have is skipped, as in Debezium
		}
		p.added = append(p.added, a)
		b.Field(m.out, connectors.OptionalOf(schema))
	}
	if t.rewrite {
		p.deleted = len(p.row.Fields) + len(p.added)
		b.Field("__deleted", connectors.OptionalOf(connectors.StringSchema()))
	}
	out, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("the flattened row's schema: %w", err)
	}
	out.Optional, out.Version, out.Doc, out.Parameters = p.row.Optional, p.row.Version, p.row.Doc, p.row.Parameters
	p.out = out
	if t.routeBy != "" {
		f, ok := p.row.Field(t.routeBy)
		if !ok {
			return nil, fmt.Errorf("route.by.field %q is not a field of the row (%s)", t.routeBy, p.row)
		}
		p.routeBy = f.Index
	}
	return p, nil
}

// resolveMeta finds an added field in the envelope or its source struct.
func resolveMeta(m metaField, env, source *connectors.Schema) (addedField, *connectors.Schema) {
	if m.envelope {
		if f, ok := env.Field(m.field); ok {
			return addedField{envelope: true, index: f.Index}, f.Schema
		}
		return addedField{}, nil
	}
	if source != nil && source.Type == connectors.TypeStruct {
		if f, ok := source.Field(m.field); ok {
			return addedField{index: f.Index}, f.Schema
		}
	}
	return addedField{}, nil
}

func (t *extractNewRecordState) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	if rec.Value == nil {
		if t.keepTombstone {
			return append(dst, rec), nil
		}
		return dst, nil
	}
	if rec.ValueSchema == nil {
		if m, ok := rec.Value.(map[string]any); ok {
			if _, isEvent := m["op"].(string); isEvent {
				return t.applyMap(dst, rec, m)
			}
		}
		return append(dst, rec), nil
	}
	if !isEnvelope(rec.ValueSchema) {
		return append(dst, rec), nil
	}
	env, err := requireStruct(rec.ValueSchema, rec.Value, "change event flattening")
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	p, err := t.cache.get(rec.ValueSchema, t.derive)
	if err != nil {
		return dst, t.id.wrap(rec, err)
	}
	op, _ := env.At(p.op).(string)
	row, _ := env.At(p.after).(*connectors.Struct)
	deleted := op == "d"
	if deleted {
		switch t.mode {
		case deleteDrop, deleteTombstone:
			// tombstone: the connector's own tombstone follows the delete.
			return dst, nil
		case deleteToTombstone:
			rec.ValueSchema, rec.Value = nil, nil
			t.addHeaders(rec, env, p, op)
			return append(dst, rec), nil
		}
		if p.before >= 0 {
			row, _ = env.At(p.before).(*connectors.Struct)
		}
		if row == nil {
			return dst, t.id.fail(rec, "a delete event without a before row cannot be rewritten (the table's replica identity/row image does not include it)")
		}
	}
	if row == nil {
		return dst, t.id.fail(rec, "a %q change event without an after row", op)
	}
	out := connectors.NewStructValue(p.out)
	n := len(p.row.Fields)
	for i := range n {
		out.Set(i, row.At(i))
	}
	var source *connectors.Struct
	if p.source >= 0 {
		source, _ = env.At(p.source).(*connectors.Struct)
	}
	for i, a := range p.added {
		out.Set(n+i, metaValue(a, env, source))
	}
	if p.deleted >= 0 {
		out.Set(p.deleted, strconv.FormatBool(deleted))
	}
	if p.routeBy >= 0 {
		topic, ok := row.At(p.routeBy).(string)
		if !ok || topic == "" {
			return dst, t.id.fail(rec, "route.by.field %q is empty or not text", t.routeBy)
		}
		rec.Topic = topic
	}
	t.addHeaders(rec, env, p, op)
	rec.ValueSchema, rec.Value = p.out, out
	return append(dst, rec), nil
}

func metaValue(a addedField, env, source *connectors.Struct) any {
	if a.envelope {
		return env.At(a.index)
	}
	if source == nil {
		return nil
	}
	return source.At(a.index)
}

func (t *extractNewRecordState) addHeaders(rec *connectors.Record, env *connectors.Struct, p *unwrapPlan, op string) {
	if len(t.headers) == 0 {
		return
	}
	var source *connectors.Struct
	var sourceSchema *connectors.Schema
	if p.source >= 0 {
		source, _ = env.At(p.source).(*connectors.Struct)
		sourceSchema = env.Schema().Fields[p.source].Schema
	}
	for _, m := range t.headers {
		a, schema := resolveMeta(m, env.Schema(), sourceSchema)
		if schema == nil {
			continue
		}
		rec.Headers = append(rec.Headers, connectors.Header{Key: m.out, Value: headerText(metaValue(a, env, source))})
	}
}

func headerText(v any) []byte {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []byte(x)
	case []byte:
		return x
	default:
		return fmt.Appendf(nil, "%v", x)
	}
}

// applyMap flattens a change event without a schema (JSON without the
// schema envelope): the same rules on maps.
func (t *extractNewRecordState) applyMap(dst []*connectors.Record, rec *connectors.Record, env map[string]any) ([]*connectors.Record, error) {
	op, _ := env["op"].(string)
	row, _ := env["after"].(map[string]any)
	source, _ := env["source"].(map[string]any)
	deleted := op == "d"
	if deleted {
		switch t.mode {
		case deleteDrop, deleteTombstone:
			return dst, nil
		case deleteToTombstone:
			rec.Value = nil
			t.addMapHeaders(rec, env, source)
			return append(dst, rec), nil
		}
		row, _ = env["before"].(map[string]any)
		if row == nil {
			return dst, t.id.fail(rec, "a delete event without a before row cannot be rewritten")
		}
	}
	if row == nil {
		return dst, t.id.fail(rec, "a %q change event without an after row", op)
	}
	out := make(map[string]any, len(row)+len(t.fields)+1)
	for k, v := range row {
		out[k] = v
	}
	for _, m := range t.fields {
		if v, ok := mapMeta(m, env, source); ok {
			out[m.out] = v
		}
	}
	if t.rewrite {
		out["__deleted"] = strconv.FormatBool(deleted)
	}
	if t.routeBy != "" {
		topic, ok := row[t.routeBy].(string)
		if !ok || topic == "" {
			return dst, t.id.fail(rec, "route.by.field %q is missing, empty or not text", t.routeBy)
		}
		rec.Topic = topic
	}
	t.addMapHeaders(rec, env, source)
	rec.Value = out
	return append(dst, rec), nil
}

func mapMeta(m metaField, env, source map[string]any) (any, bool) {
	if m.envelope {
		v, ok := env[m.field]
		return v, ok
	}
	v, ok := source[m.field]
	return v, ok
}

func (t *extractNewRecordState) addMapHeaders(rec *connectors.Record, env, source map[string]any) {
	for _, m := range t.headers {
		if v, ok := mapMeta(m, env, source); ok {
			rec.Headers = append(rec.Headers, connectors.Header{Key: m.out, Value: headerText(v)})
		}
	}
}
