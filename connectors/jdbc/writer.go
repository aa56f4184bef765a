package jdbc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// shapeKey identifies a layout of records: their table and schemas (by
// pointer: converters share schemas).
type shapeKey struct {
	table                string
	keySchema, valSchema *connectors.Schema
	delete               bool
}

// getter extracts a column's value from a record.
type getter func(rec *connectors.Record) (any, error)

// shape is a compiled layout: which columns a record fills, how each value
// is extracted and converted, and the statements that write it.
type shape struct {
	task    *sinkTask
	table   *tableState
	keyCols []string // key columns, first in cols
	cols    []string // every column written, as the table names them
	get     []getter
	write   []writeFunc

	noop bool // deletes from a table that does not exist

	insertSQLs map[int]string
	updSQL     string
	delSQLs    map[int]string
}

// row is a record ready to write.
type row struct {
	rec    *connectors.Record
	shape  *shape
	args   []any // one per shape column
	key    string
	delete bool
}

// tableFor maps a topic to its table (table.name.format).
func (t *sinkTask) tableFor(ctx context.Context, topic string) (*tableState, error) {
	name := strings.ReplaceAll(t.cfg.tableFormat, "${topic}", topic)
	if ts, ok := t.tables[name]; ok {
		return ts, nil
	}
	id := parseTableID(name)
	info, err := t.d.describeTable(ctx, t.db, id)
	if err != nil {
		return nil, err
	}
	ts := &tableState{id: id, info: info}
	t.tables[name] = ts
	return ts, nil
}

// row turns a record into a row of its shape (nil: nothing to write).
func (t *sinkTask) row(ctx context.Context, rec *connectors.Record) (*row, error) {
	del := rec.Value == nil
	if del && !t.cfg.deletes {
		return nil, fmt.Errorf("the record has a null value (a tombstone) but delete.enabled=false: set delete.enabled=true (with pk.mode=record_key) to delete rows, or filter tombstones out")
	}
	ts, err := t.tableFor(ctx, rec.Topic)
	if err != nil {
		return nil, err
	}
	if !del {
		if err := checkValueSchema(rec); err != nil {
			return nil, err
		}
	}
	k := shapeKey{table: ts.id.String(), keySchema: rec.KeySchema, valSchema: rec.ValueSchema, delete: del}
	sh, ok := t.shapes[k]
	if !ok {
		if sh, err = t.newShape(ctx, ts, rec, del); err != nil {
			return nil, err
		}
		if len(t.shapes) >= 1024 {
			clear(t.shapes)
		}
		t.shapes[k] = sh
	}
	if sh.noop {
		return nil, nil
	}
	r := &row{rec: rec, shape: sh, delete: del, args: make([]any, len(sh.cols))}
	for i, g := range sh.get {
		v, err := g(rec)
		if err != nil {
			return nil, err
		}
		if v != nil {
			if v, err = sh.write[i](v); err != nil {
				return nil, fmt.Errorf("column %q: %w", sh.cols[i], err)
			}
		}
		r.args[i] = v
	}
	if n := len(sh.keyCols); n > 0 {
		r.key = keyString(r.args[:n])
		for i := 0; i < n; i++ {
			if r.args[i] == nil {
				return nil, fmt.Errorf("primary key column %q is null", sh.cols[i])
			}
		}
	}
	return r, nil
}

// checkValueSchema refuses values that are not structs with a schema, as
// Confluent's JDBC sink does: a schemaless value (a JSON object read
// without schemas) says nothing of its columns' types, and its keys may
// differ from record to record.
func checkValueSchema(rec *connectors.Record) error {
	vs := rec.ValueSchema
	if vs == nil {
		return fmt.Errorf("the record's value has no schema (a schemaless %s): the jdbc sink writes struct values with a schema, whose fields are the columns; "+
			"use a converter that carries schemas (avro, or json with value.converter.schemas.enable=true and values in the {\"schema\":...,\"payload\":...} envelope)", goKind(rec.Value))
	}
	if vs.Type != connectors.TypeStruct {
		return fmt.Errorf("the record's value schema is %s, not a struct: the jdbc sink writes struct values, whose fields are the columns (wrap a primitive value with a HoistField$Value transform)", vs)
	}
	if _, ok := rec.Value.(*connectors.Struct); !ok {
		return fmt.Errorf("the record's value is a %T, but its schema is a struct", rec.Value)
	}
	return nil
}

// goKind names a schemaless value's kind for messages.
func goKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "JSON object"
	case []any:
		return "JSON array"
	case string:
		return "string"
	case []byte:
		return "byte array"
	}
	return fmt.Sprintf("%T", v)
}

// keyString identifies a row's key within a put.
func keyString(vals []any) string {
	if len(vals) == 1 {
		switch v := vals[0].(type) {
		case string:
			return v
		case int64:
			return strconv.FormatInt(v, 10)
		}
	}
	var b strings.Builder
	for _, v := range vals {
		switch x := v.(type) {
		case string:
			b.WriteString(strconv.Itoa(len(x)))
			b.WriteByte(':')
			b.WriteString(x)
		case []byte:
			b.WriteString(strconv.Itoa(len(x)))
			b.WriteByte('b')
			b.Write(x)
		case time.Time:
			b.WriteString(strconv.FormatInt(x.UnixNano(), 10))
		default:
			fmt.Fprintf(&b, "%T:%v", v, v)
		}
		b.WriteByte(0)
	}
	return b.String()
}

// field is a column to fill, before the table is known.
type field struct {
	name   string
	schema *connectors.Schema
	get    getter
	key    bool
}

// newShape compiles the layout of rec, creating or evolving the table as
// configured.
func (t *sinkTask) newShape(ctx context.Context, ts *tableState, rec *connectors.Record, del bool) (*shape, error) {
	keys, err := t.keyFields(rec)
	if err != nil {
		return nil, err
	}
	fields := keys
	if !del {
		vals, err := t.valueFields(rec, keys)
		if err != nil {
			return nil, err
		}
		fields = append(append([]field(nil), keys...), vals...)
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("no columns to write for table %s: the record has no key or value fields (check pk.mode, pk.fields and fields.whitelist)", ts.id)
	}
	if ts.info == nil && del {
		// Nothing to delete in a table that does not exist; creating it
		// from a key alone would make a table without value columns.
		return &shape{task: t, table: ts, noop: true}, nil
	}
	if ts.info == nil {
		if err := t.createTable(ctx, ts, fields); err != nil {
			return nil, err
		}
	}
	var missing []field
	for _, f := range fields {
		if _, ok := ts.info.column(f.name); !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		if err := t.evolveTable(ctx, ts, missing); err != nil {
			return nil, err
		}
	}
	sh := &shape{task: t, table: ts, insertSQLs: map[int]string{}, delSQLs: map[int]string{}}
	for _, f := range fields {
		c, _ := ts.info.column(f.name)
		sh.cols = append(sh.cols, c.name)
		if f.key {
			sh.keyCols = append(sh.keyCols, c.name)
		}
		sh.get = append(sh.get, f.get)
		sh.write = append(sh.write, t.d.writer(f.schema, t.d.category(c)))
	}
	if t.cfg.insertMode != insertInsert && len(sh.keyCols) == len(sh.cols) && t.cfg.insertMode == insertUpdate && !del {
		return nil, fmt.Errorf("insert.mode=update needs value columns besides the key columns %v", sh.keyCols)
	}
	return sh, nil
}

// keyFields are the primary key columns of rec by pk.mode.
func (t *sinkTask) keyFields(rec *connectors.Record) ([]field, error) {
	cfg := t.cfg
	switch cfg.pkMode {
	case pkKafka:
		names := defaultKafkaPK
		if len(cfg.pkFields) == 3 {
			names = cfg.pkFields
		}
		return []field{
			{name: names[0], schema: connectors.StringSchema(), key: true, get: func(r *connectors.Record) (any, error) { return r.Topic, nil }},
			{name: names[1], schema: connectors.Int32Schema(), key: true, get: func(r *connectors.Record) (any, error) { return r.Partition, nil }},
			{name: names[2], schema: connectors.Int64Schema(), key: true, get: func(r *connectors.Record) (any, error) { return r.Offset, nil }},
		}, nil
	case pkRecordKey:
		if rec.Key == nil {
			return nil, fmt.Errorf("pk.mode=record_key but the record has no key")
		}
		ks := rec.KeySchema
		switch {
		case ks != nil && ks.Type == connectors.TypeStruct:
			names := cfg.pkFields
			if len(names) == 0 {
				for _, f := range ks.Fields {
					names = append(names, f.Name)
				}
			}
			var out []field
			for _, n := range names {
				f, ok := ks.Field(n)
				if !ok {
					return nil, fmt.Errorf("pk.fields names %q, which the key schema %s lacks", n, ks)
				}
				idx := f.Index
				out = append(out, field{name: n, schema: f.Schema, key: true, get: func(r *connectors.Record) (any, error) {
					st, ok := r.Key.(*connectors.Struct)
					if !ok {
						return nil, fmt.Errorf("the key is a %T, its schema a struct", r.Key)
					}
					return st.At(idx), nil
				}})
			}
			return out, nil
		case ks != nil && ks.Type.IsPrimitive():
			if len(cfg.pkFields) != 1 {
				return nil, fmt.Errorf("the record key is a primitive (%s): set pk.fields to the one column it fills", ks.Type)
			}
			return []field{{name: cfg.pkFields[0], schema: ks, key: true, get: func(r *connectors.Record) (any, error) { return r.Key, nil }}}, nil
		case ks == nil:
			return nil, fmt.Errorf("pk.mode=record_key but the record's key has no schema (a schemaless %s): use a key converter that carries schemas (string for text keys, avro, or json with key.converter.schemas.enable=true)", goKind(rec.Key))
		}
		return nil, fmt.Errorf("the key schema is %s: pk.mode=record_key needs a struct or a primitive key", ks)
	case pkRecordValue:
		if rec.Value == nil {
			return nil, fmt.Errorf("pk.mode=record_value but the record has no value")
		}
		vs := rec.ValueSchema
		if err := checkValueSchema(rec); err != nil {
			return nil, err
		}
		names := cfg.pkFields
		if len(names) == 0 {
			for _, f := range vs.Fields {
				names = append(names, f.Name)
			}
		}
		var out []field
		for _, n := range names {
			f, ok := vs.Field(n)
			if !ok {
				return nil, fmt.Errorf("pk.fields names %q, which the value schema %s lacks", n, vs)
			}
			out = append(out, field{name: n, schema: f.Schema, key: true, get: structGetter(f.Index)})
		}
		return out, nil
	}
	return nil, nil
}

func structGetter(idx int) getter {
	return func(r *connectors.Record) (any, error) {
		st, ok := r.Value.(*connectors.Struct)
		if !ok {
			return nil, fmt.Errorf("the value is a %T, its schema a struct", r.Value)
		}
		return st.At(idx), nil
	}
}

// valueFields are the value's columns besides the key's.
func (t *sinkTask) valueFields(rec *connectors.Record, keys []field) ([]field, error) {
	isKey := map[string]bool{}
	for _, k := range keys {
		isKey[k.name] = true
	}
	wl := t.cfg.whitelist
	var out []field
	vs := rec.ValueSchema
	if vs == nil || vs.Type != connectors.TypeStruct {
		return nil, checkValueSchema(rec)
	}
	for _, f := range vs.Fields {
		if isKey[f.Name] || (wl != nil && !wl[f.Name]) {
			continue
		}
		out = append(out, field{name: f.Name, schema: f.Schema, get: structGetter(f.Index)})
	}
	return out, nil
}

// createTable creates a missing table (auto.create) from the fields.
func (t *sinkTask) createTable(ctx context.Context, ts *tableState, fields []field) error {
	if !t.cfg.autoCreate {
		return fmt.Errorf("table %s does not exist in %s database %q: create it, or set auto.create=true", ts.id, t.d.kind, t.cfg.conn.database)
	}
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS " + t.d.table(ts.id) + " (")
	var pk []string
	for i, f := range fields {
		typ, err := t.d.sqlType(f.schema, f.key)
		if err != nil {
			return fmt.Errorf("field %q: %w", f.name, err)
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t.d.ident(f.name) + " " + typ)
		if f.key || !f.schema.Optional {
			b.WriteString(" NOT NULL")
		}
		if def := t.defaultClause(f.schema, typ); def != "" {
			b.WriteString(" DEFAULT " + def)
		}
		if f.key {
			pk = append(pk, t.d.ident(f.name))
		}
	}
	if len(pk) > 0 {
		b.WriteString(", PRIMARY KEY (" + strings.Join(pk, ", ") + ")")
	}
	b.WriteString(")")
	t.log.Info("jdbc: creating table (auto.create)", "table", ts.id.String(), "sql", b.String())
	if _, err := t.db.ExecContext(ctx, b.String()); err != nil {
		// Another task or instance may have created it at the same moment:
		// PostgreSQL then fails the later CREATE with a unique violation on
		// pg_type or duplicate_table, MySQL with error 1050. A table that
		// is there now is used as it is (auto.evolve adds what it lacks).
		if info, derr := t.d.describeTable(ctx, t.db, ts.id); derr == nil && info != nil {
			t.log.Info("jdbc: table created concurrently by another task", "table", ts.id.String(), "create_error", err)
			return t.redescribe(ctx, ts)
		}
		return fmt.Errorf("create table %s: %w", ts.id, err)
	}
	return t.redescribe(ctx, ts)
}

func (t *sinkTask) defaultClause(s *connectors.Schema, typ string) string {
	def := sqlDefault(s)
	if def == "" {
		return ""
	}
	if t.d.kind == dialectMySQL && (strings.Contains(typ, "TEXT") || strings.Contains(typ, "BLOB") || typ == "JSON") {
		return "" // MySQL refuses defaults on TEXT and BLOB columns
	}
	if s.Type == connectors.TypeBoolean && t.d.kind == dialectSQLite {
		if def == "TRUE" {
			return "1"
		}
		return "0"
	}
	return def
}

// evolveTable adds the missing columns (auto.evolve), nullable.
func (t *sinkTask) evolveTable(ctx context.Context, ts *tableState, missing []field) error {
	names := make([]string, len(missing))
	for i, f := range missing {
		names[i] = f.name
	}
	if !t.cfg.autoEvolve {
		return fmt.Errorf("table %s has no column(s) %s for the record's fields: add them, set auto.evolve=true, or leave the fields out with fields.whitelist", ts.id, strings.Join(names, ", "))
	}
	for _, f := range missing {
		if f.key {
			return fmt.Errorf("table %s has no primary key column %q: auto.evolve adds value columns only", ts.id, f.name)
		}
		typ, err := t.d.sqlType(f.schema, false)
		if err != nil {
			return fmt.Errorf("field %q: %w", f.name, err)
		}
		stmt := "ALTER TABLE " + t.d.table(ts.id) + " ADD COLUMN "
		if t.d.kind == dialectPostgres {
			stmt += "IF NOT EXISTS "
		}
		stmt += t.d.ident(f.name) + " " + typ
		if def := t.defaultClause(f.schema, typ); def != "" {
			stmt += " DEFAULT " + def
		}
		t.log.Info("jdbc: adding a column (auto.evolve)", "table", ts.id.String(), "sql", stmt)
		if _, err := t.db.ExecContext(ctx, stmt); err != nil && !isDuplicateColumn(err) {
			return fmt.Errorf("add column %q to table %s: %w", f.name, ts.id, err)
		}
	}
	return t.redescribe(ctx, ts)
}

// isDuplicateColumn recognises "the column exists already" (another task
// added it first).
func isDuplicateColumn(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "duplicate column") || strings.Contains(msg, "1060")
}

func (t *sinkTask) redescribe(ctx context.Context, ts *tableState) error {
	info, err := t.d.describeTable(ctx, t.db, ts.id)
	if err != nil {
		return err
	}
	if info == nil {
		return errors.New("table " + ts.id.String() + " is not visible after creating it")
	}
	ts.info = info
	// Shapes compiled against the old description are stale.
	for k, sh := range t.shapes {
		if sh.table == ts {
			delete(t.shapes, k)
		}
	}
	return nil
}

// SQL of a shape's statements, built once per row count.

func (sh *shape) insertSQL(d *dialect, mode string, n int) string {
	if s, ok := sh.insertSQLs[n]; ok {
		return s
	}
	var b strings.Builder
	b.WriteString("INSERT INTO " + d.table(sh.table.id) + " (")
	for i, c := range sh.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.ident(c))
	}
	b.WriteString(") VALUES ")
	p := 0
	for r := 0; r < n; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for i := range sh.cols {
			if i > 0 {
				b.WriteString(", ")
			}
			p++
			b.WriteString(d.param(p))
		}
		b.WriteByte(')')
	}
	if mode == insertUpsert {
		nonKey := sh.cols[len(sh.keyCols):]
		switch d.kind {
		case dialectMySQL:
			b.WriteString(" ON DUPLICATE KEY UPDATE ")
			if len(nonKey) == 0 {
				k := d.ident(sh.keyCols[0])
				b.WriteString(k + " = " + k)
			}
			for i, c := range nonKey {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(d.ident(c) + " = VALUES(" + d.ident(c) + ")")
			}
		default:
			b.WriteString(" ON CONFLICT (")
			for i, c := range sh.keyCols {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(d.ident(c))
			}
			b.WriteString(")")
			if len(nonKey) == 0 {
				b.WriteString(" DO NOTHING")
			} else {
				b.WriteString(" DO UPDATE SET ")
				for i, c := range nonKey {
					if i > 0 {
						b.WriteString(", ")
					}
					b.WriteString(d.ident(c) + " = EXCLUDED." + d.ident(c))
				}
			}
		}
	}
	s := b.String()
	sh.insertSQLs[n] = s
	return s
}

func (sh *shape) updateSQL(d *dialect) string {
	if sh.updSQL != "" {
		return sh.updSQL
	}
	var b strings.Builder
	b.WriteString("UPDATE " + d.table(sh.table.id) + " SET ")
	p := 0
	for i, c := range sh.cols[len(sh.keyCols):] {
		if i > 0 {
			b.WriteString(", ")
		}
		p++
		b.WriteString(d.ident(c) + " = " + d.param(p))
	}
	b.WriteString(" WHERE ")
	for i, c := range sh.keyCols {
		if i > 0 {
			b.WriteString(" AND ")
		}
		p++
		b.WriteString(d.ident(c) + " = " + d.param(p))
	}
	sh.updSQL = b.String()
	return sh.updSQL
}

// updateArgs orders a row's values for updateSQL: values, then the key.
func (sh *shape) updateArgs(r *row) []any {
	n := len(sh.keyCols)
	args := make([]any, 0, len(r.args))
	args = append(args, r.args[n:]...)
	return append(args, r.args[:n]...)
}

func (sh *shape) deleteSQL(d *dialect, n int) string {
	if s, ok := sh.delSQLs[n]; ok {
		return s
	}
	var b strings.Builder
	b.WriteString("DELETE FROM " + d.table(sh.table.id) + " WHERE ")
	p := 0
	if len(sh.keyCols) == 1 {
		b.WriteString(d.ident(sh.keyCols[0]) + " IN (")
		for r := 0; r < n; r++ {
			if r > 0 {
				b.WriteString(", ")
			}
			p++
			b.WriteString(d.param(p))
		}
		b.WriteString(")")
	} else {
		b.WriteString("(")
		for i, c := range sh.keyCols {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(d.ident(c))
		}
		b.WriteString(") IN (")
		for r := 0; r < n; r++ {
			if r > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for i := range sh.keyCols {
				if i > 0 {
					b.WriteString(", ")
				}
				p++
				b.WriteString(d.param(p))
			}
			b.WriteByte(')')
		}
		b.WriteString(")")
	}
	s := b.String()
	sh.delSQLs[n] = s
	return s
}
