package mysqlcdc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/debezium"
)

// column is one column of a table as the connector's schema history keeps
// it. Type is the column type as information_schema.COLUMNS.COLUMN_TYPE
// shows it ("int(10) unsigned", "enum('a','b')"); MariaDB's JSON columns
// (LONGTEXT with a json_valid check) have type "json".
type column struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Nullable      bool   `json:"null,omitempty"`
	Charset       string `json:"charset,omitempty"` // character set of text columns
	AutoIncrement bool   `json:"autoinc,omitempty"`
	Generated     bool   `json:"generated,omitempty"`
	// Default is the column's constant default value as text (unquoted),
	// nil when it has none, its default is NULL or an expression
	// (CURRENT_TIMESTAMP, functions): the field's default in the schemas.
	Default *string `json:"default,omitempty"`
}

// tableDef is a table's structure at one binlog position.
type tableDef struct {
	DB      string   `json:"db"`
	Name    string   `json:"table"`
	Columns []column `json:"columns"`
	PK      []string `json:"pk,omitempty"`
	Charset string   `json:"charset,omitempty"` // the table's default character set
}

func (d *tableDef) id() string { return d.DB + "." + d.Name }

func (d *tableDef) clone() *tableDef {
	c := *d
	c.Columns = slices.Clone(d.Columns)
	c.PK = slices.Clone(d.PK)
	return &c
}

func (d *tableDef) columnIndex(name string) int {
	for i, c := range d.Columns {
		if equalFoldASCII(c.Name, name) {
			return i
		}
	}
	return -1
}

func (d *tableDef) equal(o *tableDef) bool {
	a, _ := json.Marshal(d)
	b, _ := json.Marshal(o)
	return bytes.Equal(a, b)
}

// equalFoldASCII compares column names as MySQL does (case-insensitively).
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// tableSchema is a captured table's compiled event schemas and value
// converters for one tableDef (one schema version).
type tableSchema struct {
	def    *tableDef
	topic  string
	dbz    *debezium.Table
	plans  []*columnPlan
	types  []colType
	fields []int // field of each column in the row struct; -1 when excluded
	// validated is the last table map the columns were checked against.
	validatedTypes []byte
	validatedMeta  []uint16
	mariadbJSON    bool
}

// sourceSchema is io.debezium.connector.mysql.Source, Debezium's source
// block of the MySQL connector (schema version 1).
var sourceSchema = func() *connectors.Schema {
	optStr := connectors.OptionalOf(connectors.StringSchema())
	optI64 := connectors.OptionalOf(connectors.Int64Schema())
	return connectors.NewStruct("io.debezium.connector.mysql.Source").Version(1).
		Field("version", connectors.StringSchema()).
		Field("connector", connectors.StringSchema()).
		Field("name", connectors.StringSchema()).
		Field("ts_ms", connectors.Int64Schema()).
		Field("snapshot", debezium.SnapshotSchema()).
		Field("db", connectors.StringSchema()).
		Field("sequence", optStr).
		Field("ts_us", optI64).
		Field("ts_ns", optI64).
		Field("table", optStr).
		Field("server_id", connectors.Int64Schema()).
		Field("gtid", optStr).
		Field("file", connectors.StringSchema()).
		Field("pos", connectors.Int64Schema()).
		Field("row", connectors.Int32Schema()).
		Field("thread", optI64).
		Field("query", optStr).MustBuild()
}()

// Field indexes of sourceSchema.
const (
	srcVersion = iota
	srcConnector
	srcName
	srcTsMs
	srcSnapshot
	srcDB
	srcSequence
	srcTsUs
	srcTsNs
	srcTable
	srcServerID
	srcGTID
	srcFile
	srcPos
	srcRow
	srcThread
	srcQuery
)

// connectorVersion is source.version. The events are Debezium's format,
// but not made by Debezium: the version says so.
const connectorVersion = "1.0.0.Sluice"

func buildTableSchema(cfg *config, modes valueModes, def *tableDef) (*tableSchema, error) {
	ts := &tableSchema{def: def, topic: topicName(cfg.prefix + "." + def.DB + "." + def.Name), mariadbJSON: modes.mariadb}
	rb := connectors.NewStruct("")
	keyCols := cfg.keyColumnsFor(def.DB, def.Name)
	if keyCols == nil {
		keyCols = def.PK
	}
	inKey := map[string]bool{}
	for _, k := range keyCols {
		i := def.columnIndex(k)
		if i < 0 {
			return nil, fmt.Errorf("table %s: key column %q is not a column", def.id(), k)
		}
		inKey[def.Columns[i].Name] = true
	}
	resolvedKey := make([]string, 0, len(keyCols))
	for _, k := range keyCols {
		resolvedKey = append(resolvedKey, def.Columns[def.columnIndex(k)].Name)
	}
	n := 0
	for _, c := range def.Columns {
		ct, err := parseColumnType(c.Type)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", def.id(), err)
		}
		ts.types = append(ts.types, ct)
		// Key columns stay in the value even when excluded: the key is
		// taken from the row.
		if !inKey[c.Name] && !cfg.filters.column(def.DB, def.Name, c.Name) {
			ts.plans = append(ts.plans, nil)
			ts.fields = append(ts.fields, -1)
			continue
		}
		p, err := planColumn(c, ct, modes)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", def.id(), err)
		}
		p.withDefault(c.Default)
		ts.plans = append(ts.plans, p)
		ts.fields = append(ts.fields, n)
		n++
		rb.Field(c.Name, p.schema)
	}
	row, err := rb.Build()
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", def.id(), err)
	}
	ts.dbz, err = debezium.NewTable(ts.topic, row, resolvedKey, sourceSchema)
	if err != nil {
		return nil, err
	}
	if !cfg.avroNames {
		// schema.name.adjustment.mode=none: the names as they are. The
		// schemas are new (NewTable built them): renaming them before any
		// use is safe; the envelope's before and after share Row.
		base := ts.topic
		ts.dbz.Row.Name = base + ".Value"
		ts.dbz.Envelope.Name = base + ".Envelope"
		if ts.dbz.Key != nil {
			ts.dbz.Key.Name = base + ".Key"
		}
	}
	return ts, nil
}

// rowFromBinlog converts a row image of a row event.
func (ts *tableSchema) rowFromBinlog(row []any) (*connectors.Struct, error) {
	if len(row) != len(ts.plans) {
		return nil, fmt.Errorf("table %s: row event has %d columns, the schema %d", ts.def.id(), len(row), len(ts.plans))
	}
	st := connectors.NewStructValue(ts.dbz.Row)
	for i, p := range ts.plans {
		if p == nil {
			continue
		}
		v := row[i]
		if v == nil {
			if !p.nullable {
				return nil, fmt.Errorf("table %s: column %q is NOT NULL but the row event has no value for it (binlog_row_image must be FULL)", ts.def.id(), p.name)
			}
			continue
		}
		out, err := p.fromBinlog(v)
		if err != nil {
			return nil, fmt.Errorf("table %s column %q (%s): %w", ts.def.id(), p.name, p.ct, err)
		}
		st.Set(ts.fields[i], out)
	}
	return st, nil
}

// rowFromSQL converts a row the snapshot query read (every column, in
// order).
func (ts *tableSchema) rowFromSQL(vals []any) (*connectors.Struct, error) {
	st := connectors.NewStructValue(ts.dbz.Row)
	for i, p := range ts.plans {
		if p == nil || vals[i] == nil {
			continue
		}
		out, err := p.fromSQL(vals[i])
		if err != nil {
			return nil, fmt.Errorf("table %s column %q (%s): %w", ts.def.id(), p.name, p.ct, err)
		}
		st.Set(ts.fields[i], out)
	}
	return st, nil
}

// checkTableMap verifies that a table map event describes the columns of
// this schema version: the same count, and types (with the metadata that
// changes decoding: decimal precision and scale, fractional seconds, bit
// width) that fit. A mismatch means the connector's schema of the table is
// not the one the row events were written with.
func (ts *tableSchema) checkTableMap(tm *replication.TableMapEvent) error {
	if bytes.Equal(tm.ColumnType, ts.validatedTypes) && slices.Equal(tm.ColumnMeta, ts.validatedMeta) {
		return nil
	}
	if int(tm.ColumnCount) != len(ts.types) {
		return fmt.Errorf("the binlog's table map of %s has %d columns, the connector's schema %d (%v)", ts.def.id(), tm.ColumnCount, len(ts.types), ts.columnNames())
	}
	for i, ct := range ts.types {
		if !ct.binlogTypeOK(tm.ColumnType[i], tm.ColumnMeta[i], ts.mariadbJSON) {
			return fmt.Errorf("the binlog's table map of %s has type code %d (metadata %d) for column %d %q, the connector's schema has %s",
				ts.def.id(), tm.ColumnType[i], tm.ColumnMeta[i], i+1, ts.def.Columns[i].Name, ct)
		}
	}
	ts.validatedTypes = slices.Clone(tm.ColumnType)
	ts.validatedMeta = slices.Clone(tm.ColumnMeta)
	return nil
}

func (ts *tableSchema) columnNames() []string {
	out := make([]string, len(ts.def.Columns))
	for i, c := range ts.def.Columns {
		out[i] = c.Name
	}
	return out
}
