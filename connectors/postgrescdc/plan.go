package postgrescdc

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/debezium"
)

// connectorVersion is source.version: the events are in Debezium's format
// but not made by Debezium, and the version says so (as mysql-cdc's).
const connectorVersion = "1.0.0.Sluice"

// sourceSchema is io.debezium.connector.postgresql.Source, the source
// block of Debezium's PostgreSQL connector (schema version 1; Debezium's
// origin fields for replicated origins are not produced).
var sourceSchema = func() *connectors.Schema {
	optStr := connectors.OptionalOf(connectors.StringSchema())
	optI64 := connectors.OptionalOf(connectors.Int64Schema())
	return connectors.NewStruct("io.debezium.connector.postgresql.Source").Version(1).
		Field("version", connectors.StringSchema()).
		Field("connector", connectors.StringSchema()).
		Field("name", connectors.StringSchema()).
		Field("ts_ms", connectors.Int64Schema()).
		Field("snapshot", debezium.SnapshotSchema()).
		Field("db", connectors.StringSchema()).
		Field("sequence", optStr).
		Field("ts_us", optI64).
		Field("ts_ns", optI64).
		Field("schema", connectors.StringSchema()).
		Field("table", connectors.StringSchema()).
		Field("txId", optI64).
		Field("lsn", optI64).
		Field("xmin", optI64).MustBuild()
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
	srcSchema
	srcTable
	srcTxID
	srcLSN
	srcXmin
)

// tablePlan is a captured table's compiled form for one version of its
// columns: the event schemas and a codec per column.
type tablePlan struct {
	id        tableID
	relid     uint32
	replIdent byte
	tbl       *debezium.Table
	cols      []colPlan
	keyCols   []int // indexes into cols, in key order
	hasEnum   bool

	toastWarned bool
}

type colPlan struct {
	name   string
	field  int // the field of the row struct; -1: left out
	codec  *codec
	decode func([]byte) (any, error) // for the field's schema (required or optional)
}

// planner builds table plans. One table version always gets the same
// *debezium.Table (by signature), so the converters' per-schema caches hit
// across reconnections and snapshots.
type planner struct {
	s      *settings
	types  *typeMapper
	log    *slog.Logger
	tables map[string]*debezium.Table
	warned map[string]bool
}

func newPlanner(s *settings, types *typeMapper, log *slog.Logger) *planner {
	return &planner{s: s, types: types, log: log, tables: map[string]*debezium.Table{}, warned: map[string]bool{}}
}

func (p *planner) topic(id tableID) string { return debezium.Topic(p.s.prefix, id.schema, id.name) }

// build compiles a table's plan from its columns (in the order pgoutput
// sends them) and key.
func (p *planner) build(id tableID, relid uint32, replIdent byte, cols []columnInfo, key []string) (*tablePlan, error) {
	tp := &tablePlan{id: id, relid: relid, replIdent: replIdent, cols: make([]colPlan, len(cols))}
	isKey := map[string]int{}
	for i, k := range key {
		isKey[k] = i
	}
	tp.keyCols = make([]int, len(key))
	for i := range tp.keyCols {
		tp.keyCols[i] = -1
	}
	rb := connectors.NewStruct("")
	var sig strings.Builder
	sig.WriteString(p.topic(id))
	field := 0
	for i, c := range cols {
		cp := colPlan{name: c.name, field: -1}
		ki, keyCol := isKey[c.name]
		if keyCol {
			tp.keyCols[ki] = i
		}
		if !keyCol && !p.s.filter.column(id, c.name) {
			tp.cols[i] = cp
			continue
		}
		cd, err := p.types.codecFor(c.typ, c.typmod)
		if err != nil {
			if errors.Is(err, errUnknownType) && !keyCol {
				if w := id.String() + "." + c.name; !p.warned[w] {
					p.warned[w] = true
					p.log.Warn("postgres-cdc: column left out of events: its type has no mapping", "table", id.String(), "column", c.name, "error", err)
				}
				tp.cols[i] = cp
				continue
			}
			return nil, fmt.Errorf("postgres-cdc: table %s column %q: %w", id, c.name, err)
		}
		cp.codec, cp.field, cp.decode = cd, field, cd.decodeOpt
		if keyCol {
			cp.decode = cd.decode
		}
		tp.cols[i] = cp
		field++
		tp.hasEnum = tp.hasEnum || cd.enum != nil
		// Key columns are required, the others optional: a delete's
		// before image of a table without REPLICA IDENTITY FULL holds only
		// the key, an added column is null in older rows, and so every
		// schema change stays compatible.
		s := cd.opt
		if keyCol {
			s = cd.schema
		}
		rb.Field(c.name, s)
		fmt.Fprintf(&sig, "|%s:%p:%t", c.name, cd, keyCol)
	}
	for i, ci := range tp.keyCols {
		if ci < 0 {
			return nil, fmt.Errorf("postgres-cdc: table %s: key column %q is not among the columns pgoutput sends (a generated column?)", id, key[i])
		}
	}
	if len(key) == 0 {
		tp.keyCols = nil
	}
	fmt.Fprintf(&sig, "|key=%s", strings.Join(key, ","))
	if tbl, ok := p.tables[sig.String()]; ok {
		tp.tbl = tbl
		return tp, nil
	}
	row, err := rb.Build()
	if err != nil {
		return nil, fmt.Errorf("postgres-cdc: table %s: %w", id, err)
	}
	var keyNames []string
	for _, ci := range tp.keyCols {
		keyNames = append(keyNames, cols[ci].name)
	}
	tbl, err := debezium.NewTable(p.topic(id), row, keyNames, sourceSchema)
	if err != nil {
		return nil, fmt.Errorf("postgres-cdc: table %s: %w", id, err)
	}
	p.tables[sig.String()] = tbl
	tp.tbl = tbl
	return tp, nil
}

// errToast: an unchanged TOASTed value cannot be represented in the
// column's type without REPLICA IDENTITY FULL.
var errToast = errors.New("unchanged TOASTed value")

// decode converts a tuple into the row struct. fallback (the old row of a
// REPLICA IDENTITY FULL update, may be nil) supplies unchanged TOASTed
// values that PostgreSQL does not repeat in the new tuple; without it they
// become the placeholder, and placeholder reports that.
func (tp *tablePlan) decode(tuple, fallback []tupleColumn) (row *connectors.Struct, placeholder bool, err error) {
	if len(tuple) != len(tp.cols) {
		return nil, false, fmt.Errorf("postgres-cdc: table %s: a tuple of %d columns for %d known columns", tp.id, len(tuple), len(tp.cols))
	}
	row = connectors.NewStructValue(tp.tbl.Row)
	for i := range tp.cols {
		c := &tp.cols[i]
		if c.field < 0 {
			continue
		}
		tc := tuple[i]
		if tc.kind == colUnchanged && fallback != nil && i < len(fallback) && fallback[i].kind == colText {
			tc = fallback[i]
		}
		switch tc.kind {
		case colNull:
		case colText:
			v, err := c.decode(tc.data)
			if err != nil {
				if errors.Is(err, errStaleEnum) {
					return nil, false, err
				}
				return nil, false, fmt.Errorf("postgres-cdc: table %s column %q: %w", tp.id, c.name, err)
			}
			row.Set(c.field, v)
		case colUnchanged:
			if c.codec.toast == nil {
				return nil, false, fmt.Errorf("postgres-cdc: table %s column %q: %w of a type the placeholder cannot stand for: set REPLICA IDENTITY FULL on the table", tp.id, c.name, errToast)
			}
			row.Set(c.field, c.codec.toast)
			placeholder = true
		default:
			return nil, false, fmt.Errorf("postgres-cdc: table %s column %q: binary tuple data was not requested", tp.id, c.name)
		}
	}
	return row, placeholder, nil
}

// keyOf returns a tuple's key as text (length-prefixed raw values), for
// matching a snapshot chunk's rows with streamed changes; ok is false if a
// key value is missing.
func (tp *tablePlan) keyOf(tuple []tupleColumn) (string, bool) {
	if len(tp.keyCols) == 0 {
		return "", false
	}
	var b strings.Builder
	for _, ci := range tp.keyCols {
		if ci >= len(tuple) || tuple[ci].kind != colText {
			return "", false
		}
		b.WriteString(strconv.Itoa(len(tuple[ci].data)))
		b.WriteByte(':')
		b.Write(tuple[ci].data)
	}
	return b.String(), true
}

// keyTexts returns the key values' text, for offsets.
func (tp *tablePlan) keyTexts(tuple []tupleColumn) []string {
	out := make([]string, len(tp.keyCols))
	for i, ci := range tp.keyCols {
		out[i] = string(tuple[ci].data)
	}
	return out
}

// keyChanged reports whether an update's old key tuple differs from the
// new row's key.
func (tp *tablePlan) keyChanged(old, new []tupleColumn) bool {
	if len(tp.keyCols) == 0 || old == nil {
		return false
	}
	for _, ci := range tp.keyCols {
		if ci >= len(old) || ci >= len(new) {
			return false
		}
		o, n := old[ci], new[ci]
		if o.kind == colText && n.kind == colText && string(o.data) != string(n.data) {
			return true
		}
	}
	return false
}

// selectList is the plan's columns for a snapshot query, in tuple order.
func (tp *tablePlan) selectList() string {
	names := make([]string, len(tp.cols))
	for i, c := range tp.cols {
		if c.field < 0 {
			// Left out: read NULL in its place so positions match.
			names[i] = "NULL"
			continue
		}
		names[i] = quoteIdent(c.name)
	}
	return strings.Join(names, ", ")
}

// keyList is the key columns as SQL, for ORDER BY and comparisons.
func (tp *tablePlan) keyList() string {
	names := make([]string, len(tp.keyCols))
	for i, ci := range tp.keyCols {
		names[i] = quoteIdent(tp.cols[ci].name)
	}
	return strings.Join(names, ", ")
}

// keyAfter is "(k1, k2) > ('v1', 'v2')" for resuming after a key.
func (tp *tablePlan) keyAfter(key []string, op string) string {
	vals := make([]string, len(key))
	for i, v := range key {
		vals[i] = quoteLiteral(v)
	}
	return "(" + tp.keyList() + ") " + op + " (" + strings.Join(vals, ", ") + ")"
}
