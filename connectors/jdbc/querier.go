package jdbc

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// querier polls one table (or the query) in the task's mode and keeps its
// position: the offset of the last row returned.
//
// Exactness: every query is ordered by the mode's columns and limited to
// batch.max.rows; the next one starts strictly after the last row
// returned, so a restart from a committed offset neither repeats nor skips
// rows. timestamp mode has no unique position within a group of rows
// sharing a timestamp, so a batch is never cut inside one: the group is
// completed with a second query, and its offset is written on its last row
// only (the worker commits offsets of whole polls).
type querier struct {
	t         *sourceTask
	table     tableID
	identity  string
	partition map[string]any
	topic     string
	from      string // the FROM target: a table or the wrapped query
	incCol    string
	tsCols    []string
	tsExpr    string // SQL of the row's time (COALESCE of tsCols)

	hasInc bool
	inc    int64
	hasTS  bool
	ts     time.Time

	next  time.Time // when to query next
	plans map[string]*rowPlan
	info  *tableInfo // the table's catalog (nil for query)

	bulk      *sql.Rows // an open bulk pass
	bulkPlan  *rowPlan
	bulkStart time.Time
}

// rowPlan turns result rows of one column layout into structs.
type rowPlan struct {
	schema  *connectors.Schema
	columns []sourceColumn
	incIdx  int   // index of the incrementing column, -1
	tsIdx   []int // indexes of the timestamp columns
	dest    []any
	ptrs    []any
}

func (t *sourceTask) newQuerier(ctx context.Context, identity string, id tableID) (*querier, error) {
	cfg, d := t.cfg, t.cfg.d
	q := &querier{t: t, table: id, identity: identity, plans: map[string]*rowPlan{}}
	if cfg.mode == modeIncrementing || cfg.mode == modeTimestampIncrementing {
		q.incCol = cfg.incCol
	}
	if cfg.mode == modeTimestamp || cfg.mode == modeTimestampIncrementing {
		q.tsCols = append([]string(nil), cfg.tsCols...)
	}
	if cfg.query != "" {
		q.identity = partitionQuery
		q.partition = map[string]any{partitionQuery: partitionQuery}
		q.topic = cfg.topicPrefix
		q.from = "(" + cfg.query + ") sluice_query"
	} else {
		q.partition = map[string]any{partitionProtocol: protocolV1, partitionTable: t.qualifiedName(id)}
		q.topic = cfg.topicPrefix + identity
		q.from = d.table(id)
		info, err := d.describeTable(ctx, t.db, id)
		if err != nil {
			return nil, fmt.Errorf("jdbc: %w", err)
		}
		if info == nil {
			return nil, fmt.Errorf("jdbc: table %s does not exist", id)
		}
		q.info = info
	}
	mode := cfg.mode
	if mode == modeBulk {
		q.partition = nil // bulk has no position
		return q, nil
	}
	if mode == modeIncrementing || mode == modeTimestampIncrementing {
		if q.incCol == "" {
			for _, c := range q.info.columns {
				if c.autoIncrement {
					q.incCol = c.name
					break
				}
			}
			if q.incCol == "" {
				return nil, fmt.Errorf("jdbc: table %s has no auto-increment column: set incrementing.column.name", id)
			}
		}
		if q.info != nil {
			c, ok := q.info.column(q.incCol)
			if !ok {
				return nil, fmt.Errorf("jdbc: table %s has no column %q (incrementing.column.name)", id, q.incCol)
			}
			q.incCol = c.name
			if cfg.nonNull && c.nullable {
				return nil, fmt.Errorf("jdbc: cannot poll table %s by column %q: it is nullable, and rows with a null there would never be read; make it NOT NULL or set validate.non.null=false", id, c.name)
			}
		}
	}
	if mode == modeTimestamp || mode == modeTimestampIncrementing {
		anyNonNull := false
		for i, name := range q.tsCols {
			if q.info == nil {
				anyNonNull = true
				continue
			}
			c, ok := q.info.column(name)
			if !ok {
				return nil, fmt.Errorf("jdbc: table %s has no column %q (timestamp.column.name)", id, name)
			}
			q.tsCols[i] = c.name
			anyNonNull = anyNonNull || !c.nullable
		}
		if cfg.nonNull && !anyNonNull {
			return nil, fmt.Errorf("jdbc: cannot poll table %s by timestamp.column.name %v: the column(s) are nullable, and rows without a time would never be read; make one NOT NULL or set validate.non.null=false", id, q.tsCols)
		}
		if len(q.tsCols) == 1 {
			q.tsExpr = d.timeExpr(d.ident(q.tsCols[0]))
		} else {
			quoted := make([]string, len(q.tsCols))
			for i, c := range q.tsCols {
				quoted[i] = d.ident(c)
			}
			q.tsExpr = d.timeExpr("COALESCE(" + strings.Join(quoted, ", ") + ")")
		}
	}
	off, err := q.committedOffset()
	if err != nil {
		return nil, fmt.Errorf("jdbc: read the offset of %s: %w", q.describe(), err)
	}
	if err := q.restore(off); err != nil {
		return nil, fmt.Errorf("jdbc: offset of %s: %w", q.describe(), err)
	}
	return q, nil
}

// qualifiedName is the table's name in its source partition, as
// Confluent's offset protocol 1 writes it: the table qualified by the
// identifiers the JDBC driver reports, unquoted. PostgreSQL:
// schema.table; MySQL/MariaDB: database.table (the catalog); SQLite: the
// table (attached.table for an attached database).
func (t *sourceTask) qualifiedName(id tableID) string {
	schema := id.schema
	if schema == "" {
		schema = t.currentSchema
	}
	if schema == "" || (t.cfg.d.kind == dialectSQLite && schema == "main") {
		return id.name
	}
	return schema + "." + id.name
}

// committedOffset reads the table's committed offset under its partition,
// else under the partitions older versions wrote: Confluent's protocol 1
// with the database in front (PostgreSQL with pgjdbc 42.7.5 and later,
// which reports the database as the catalog) and protocol 0 ({"table":
// name}, which is also what earlier Sluice versions wrote for tables of
// the default schema).
func (q *querier) committedOffset() (map[string]any, error) {
	if q.partition == nil {
		return nil, nil
	}
	candidates := []map[string]any{q.partition}
	if q.info != nil {
		name := q.partition[partitionTable].(string)
		if q.t.cfg.d.kind == dialectPostgres && q.t.cfg.conn.database != "" {
			candidates = append(candidates, map[string]any{partitionProtocol: protocolV1, partitionTable: q.t.cfg.conn.database + "." + name})
		}
		candidates = append(candidates, map[string]any{partitionTable: q.table.name})
		if q.identity != q.table.name {
			candidates = append(candidates, map[string]any{partitionTable: q.identity})
		}
	}
	for i, p := range candidates {
		off, err := q.t.tc.Offset(p)
		if err != nil {
			return nil, err
		}
		if off != nil {
			if i > 0 {
				q.t.log.Info("jdbc: resuming from an offset stored under an older partition; new offsets use the current one",
					"old_partition", p, "partition", q.partition)
			}
			return off, nil
		}
	}
	return nil, nil
}

func (q *querier) describe() string {
	if q.t.cfg.query != "" {
		return "the query"
	}
	return "table " + q.identity
}

// restore reads the committed offset (Confluent's layout: incrementing,
// timestamp in milliseconds and timestamp_nanos, the nanoseconds within
// the second).
func (q *querier) restore(off map[string]any) error {
	if off == nil {
		if ini := q.t.initial; ini != nil && q.tsExpr != "" {
			q.hasTS, q.ts = true, *ini
			if q.incCol != "" {
				q.hasInc, q.inc = true, math.MinInt64
			}
		}
		return nil
	}
	if v, ok := off[offsetIncrementing]; ok && v != nil {
		n, err := offsetInt(v)
		if err != nil {
			return fmt.Errorf("%s: %w", offsetIncrementing, err)
		}
		q.hasInc, q.inc = true, n
	}
	if v, ok := off[offsetTimestamp]; ok && v != nil {
		ms, err := offsetInt(v)
		if err != nil {
			return fmt.Errorf("%s: %w", offsetTimestamp, err)
		}
		sec := ms / 1000
		if ms%1000 < 0 {
			sec--
		}
		nanos := (ms - sec*1000) * int64(time.Millisecond)
		if nv, ok := off[offsetTimestampNanos]; ok && nv != nil {
			if nanos, err = offsetInt(nv); err != nil {
				return fmt.Errorf("%s: %w", offsetTimestampNanos, err)
			}
		}
		q.hasTS, q.ts = true, time.Unix(sec, nanos).UTC()
	}
	if q.incCol != "" && q.tsExpr != "" && q.hasTS && !q.hasInc {
		q.hasInc, q.inc = true, math.MinInt64
	}
	return nil
}

func offsetInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case float64:
		return int64(x), nil
	case int:
		return int64(x), nil
	case string:
		return strconv.ParseInt(x, 10, 64)
	}
	return 0, fmt.Errorf("unexpected %T", v)
}

// offsetOf is the offset after a row at (inc, ts).
func (q *querier) offsetOf() map[string]any {
	m := make(map[string]any, 3)
	if q.hasInc {
		m[offsetIncrementing] = q.inc
	}
	if q.hasTS {
		m[offsetTimestamp] = q.ts.UnixMilli()
		m[offsetTimestampNanos] = int64(q.ts.Nanosecond())
	}
	return m
}

func (q *querier) close() {
	if q.bulk != nil {
		q.bulk.Close()
		q.bulk = nil
	}
}

// poll runs one query and returns its rows. Its position advances only
// when it returns records without error.
func (q *querier) poll(ctx context.Context) ([]*connectors.Record, error) {
	cfg := q.t.cfg
	if cfg.mode == modeBulk {
		return q.pollBulk(ctx)
	}
	d := q.t.cfg.d
	ident := d.ident
	var sqlText strings.Builder
	var args []any
	sqlText.WriteString("SELECT * FROM " + q.from)
	p := func() string { args = append(args, nil); return d.param(len(args)) }
	limit := " LIMIT " + strconv.Itoa(cfg.maxRows)
	var end time.Time
	if q.tsExpr != "" {
		now, err := d.dbNow(ctx, q.t.db)
		if err != nil {
			return nil, err
		}
		end = now.Add(-cfg.delay)
	}
	switch cfg.mode {
	case modeIncrementing:
		if q.hasInc {
			sqlText.WriteString(" WHERE " + ident(q.incCol) + " > " + p())
			args[len(args)-1] = q.inc
		}
		sqlText.WriteString(" ORDER BY " + ident(q.incCol) + " ASC" + limit)
	case modeTimestamp:
		sqlText.WriteString(" WHERE ")
		if q.hasTS {
			sqlText.WriteString(q.tsExpr + " > " + p() + " AND ")
			args[len(args)-1] = d.timeParam(q.ts)
		}
		sqlText.WriteString(q.tsExpr + " < " + p())
		args[len(args)-1] = d.timeParam(end)
		sqlText.WriteString(" ORDER BY " + q.tsExpr + " ASC" + q.tieBreak() + limit)
	case modeTimestampIncrementing:
		sqlText.WriteString(" WHERE " + q.tsExpr + " < " + p())
		args[len(args)-1] = d.timeParam(end)
		if q.hasTS {
			sqlText.WriteString(" AND ((" + q.tsExpr + " = " + p())
			args[len(args)-1] = d.timeParam(q.ts)
			sqlText.WriteString(" AND " + ident(q.incCol) + " > " + p())
			args[len(args)-1] = q.inc
			sqlText.WriteString(") OR " + q.tsExpr + " > " + p() + ")")
			args[len(args)-1] = d.timeParam(q.ts)
		}
		sqlText.WriteString(" ORDER BY " + q.tsExpr + " ASC, " + ident(q.incCol) + " ASC" + limit)
	}
	rows, err := q.query(ctx, sqlText.String(), args)
	if err != nil {
		return nil, err
	}
	full := len(rows) == cfg.maxRows
	if cfg.mode == modeTimestamp && full {
		// The batch may end inside a group of rows sharing the last
		// timestamp: replace its tail by the whole group.
		last := rows[len(rows)-1].ts
		cut := len(rows)
		for cut > 0 && rows[cut-1].ts.Equal(last) {
			cut--
		}
		group, err := q.query(ctx, "SELECT * FROM "+q.from+" WHERE "+q.tsExpr+" = "+d.param(1)+" ORDER BY "+q.tsExpr+q.tieBreak(), []any{d.timeParam(last)})
		if err != nil {
			return nil, err
		}
		rows = append(rows[:cut], group...)
	}
	if full {
		q.next = time.Now()
	} else {
		q.next = time.Now().Add(cfg.poll)
	}
	return q.records(rows)
}

// tieBreak orders rows sharing a timestamp by the table's primary key, so
// that timestamp mode reads them in a stable order (any order is correct).
func (q *querier) tieBreak() string {
	if q.info == nil {
		return ""
	}
	var b strings.Builder
	for _, c := range q.info.primaryKey() {
		b.WriteString(", " + q.t.cfg.d.ident(c) + " ASC")
	}
	return b.String()
}

// polledRow is a row read, with its position.
type polledRow struct {
	value  *connectors.Struct
	inc    int64
	ts     time.Time
	err    error // the row could not be converted (it is reported)
	posErr error // the row's position could not be read (the poll fails)
	text   string
}

// query runs a statement and converts its rows.
func (q *querier) query(ctx context.Context, sqlText string, args []any) ([]polledRow, error) {
	rs, err := q.t.db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	plan, err := q.plan(rs)
	if err != nil {
		return nil, err
	}
	var out []polledRow
	for rs.Next() {
		out = append(out, q.readRow(rs, plan))
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// readRow scans and converts the current row.
func (q *querier) readRow(rs *sql.Rows, plan *rowPlan) polledRow {
	clear(plan.dest)
	if err := rs.Scan(plan.ptrs...); err != nil {
		return polledRow{posErr: err}
	}
	st := connectors.NewStructValue(plan.schema)
	var row polledRow
	// The position first: a row whose other values cannot be converted is
	// still passed (and reported) at its place.
	convert := func(i int) (any, error) {
		v := plan.dest[i]
		if v == nil {
			return nil, nil
		}
		cv, err := plan.columns[i].read(v)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", plan.columns[i].name, err)
		}
		st.Set(i, cv)
		return cv, nil
	}
	if plan.incIdx >= 0 {
		v, err := convert(plan.incIdx)
		if err == nil {
			row.inc, err = incValue(v)
		}
		if err != nil {
			row.posErr = fmt.Errorf("incrementing column %q: %w", q.incCol, err)
			return row
		}
	}
	for _, i := range plan.tsIdx {
		v, err := convert(i)
		if err != nil {
			row.posErr = fmt.Errorf("timestamp column: %w", err)
			return row
		}
		if tv, ok := v.(time.Time); ok && row.ts.IsZero() {
			row.ts = tv
		}
	}
	if q.t.cfg.d.kind == dialectSQLite {
		// Compared at the millisecond (see dialect.timeExpr).
		row.ts = row.ts.Truncate(time.Millisecond)
	}
	for i := range plan.columns {
		if i == plan.incIdx || contains0(plan.tsIdx, i) {
			continue
		}
		if _, err := convert(i); err != nil {
			row.err = err
			break
		}
	}
	if row.err != nil {
		row.text = rowText(plan, plan.dest)
		return row
	}
	row.value = st
	return row
}

// rowText renders a row that could not be converted, for the dead-letter
// topic.
func rowText(plan *rowPlan, dest []any) string {
	var b strings.Builder
	for i, c := range plan.columns {
		if i > 0 {
			b.WriteString(", ")
		}
		s := "NULL"
		if dest[i] != nil {
			s, _ = asString(dest[i])
		}
		b.WriteString(c.name + "=" + s)
	}
	return b.String()
}

// incValue reads an incrementing column's value.
func incValue(v any) (int64, error) {
	switch x := v.(type) {
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case *big.Rat:
		if !x.IsInt() || !x.Num().IsInt64() {
			return 0, fmt.Errorf("incrementing value %s is not an integer in the int64 range", x.FloatString(4))
		}
		return x.Num().Int64(), nil
	case string:
		return strconv.ParseInt(x, 10, 64)
	case nil:
		return 0, fmt.Errorf("incrementing value is null")
	}
	return 0, fmt.Errorf("incrementing column of type %T is not an integer column", v)
}

// plan returns the row plan for the result's column layout (built once
// per layout: a column added to the table gives a new schema).
func (q *querier) plan(rs *sql.Rows) (*rowPlan, error) {
	cts, err := rs.ColumnTypes()
	if err != nil {
		return nil, err
	}
	var sig strings.Builder
	for _, ct := range cts {
		sig.WriteString(ct.Name())
		sig.WriteByte(0)
		sig.WriteString(ct.DatabaseTypeName())
		sig.WriteByte(0)
	}
	if p, ok := q.plans[sig.String()]; ok {
		return p, nil
	}
	d := q.t.cfg.d
	if q.info != nil && len(q.plans) > 0 {
		// The layout changed: read the catalog again for the new columns.
		if info, err := d.describeTable(context.Background(), q.t.db, q.table); err == nil && info != nil {
			q.info = info
		}
	}
	name := ""
	if q.table.name != "" {
		name = q.table.name
	}
	b := connectors.NewStruct(name)
	plan := &rowPlan{incIdx: -1}
	for i, ct := range cts {
		k := columnKind{name: ct.Name(), nullable: true}
		k.typeName, k.precision, k.scale = sqliteTypeName(ct.DatabaseTypeName())
		if p, s, ok := ct.DecimalSize(); ok && p > 0 && p <= 1000 {
			k.precision, k.scale, k.hasPrecision = int(p), int(s), true
		} else if k.precision > 0 {
			k.hasPrecision = true
		}
		if n, ok := ct.Nullable(); ok {
			k.nullable = n
		}
		if q.info != nil {
			if c, ok := q.info.column(ct.Name()); ok {
				k.typeName, k.columnType, k.nullable, k.elemType = c.typeName, c.columnType, c.nullable, c.elemType
				if c.precision > 0 {
					k.precision, k.scale, k.hasPrecision = c.precision, c.scale, true
				} else if c.typeName == "NUMERIC" && d.kind == dialectPostgres {
					k.hasPrecision = false
				}
			}
		}
		if d.kind == dialectMySQL && strings.Contains(strings.ToLower(k.columnType), "unsigned") && !strings.HasPrefix(k.typeName, "UNSIGNED ") {
			k.typeName = "UNSIGNED " + k.typeName
		}
		sc := d.sourceField(k, q.t.cfg.numeric)
		plan.columns = append(plan.columns, sc)
		b.Field(sc.name, sc.schema)
		if q.incCol != "" && sc.name == q.incCol {
			plan.incIdx = i
		}
		for _, tc := range q.tsCols {
			if sc.name == tc {
				if sc.schema.Name != connectors.TimestampName && sc.schema.Name != connectors.DateName {
					return nil, fmt.Errorf("timestamp column %q is of type %s, which is not a date or time", tc, ct.DatabaseTypeName())
				}
			}
		}
	}
	for _, tc := range q.tsCols {
		for i, c := range plan.columns {
			if c.name == tc {
				plan.tsIdx = append(plan.tsIdx, i)
			}
		}
	}
	if q.incCol != "" && q.t.cfg.mode != modeBulk && q.t.cfg.mode != modeTimestamp && plan.incIdx < 0 {
		return nil, fmt.Errorf("the result has no column %q (incrementing.column.name)", q.incCol)
	}
	if q.tsExpr != "" && len(plan.tsIdx) != len(q.tsCols) {
		return nil, fmt.Errorf("the result lacks timestamp column(s) %v", q.tsCols)
	}
	schema, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("result columns: %w", err)
	}
	plan.schema = schema
	plan.dest = make([]any, len(cts))
	plan.ptrs = make([]any, len(cts))
	for i := range plan.dest {
		plan.ptrs[i] = &plan.dest[i]
	}
	if len(q.plans) > 64 {
		clear(q.plans)
	}
	q.plans[sig.String()] = plan
	return plan, nil
}

// records turns rows into records, advancing the position. Rows that could
// not be converted are reported (dead-lettered under errors.tolerance=all)
// with their position.
func (q *querier) records(rows []polledRow) ([]*connectors.Record, error) {
	mode := q.t.cfg.mode
	out := make([]*connectors.Record, 0, len(rows))
	for i, r := range rows {
		if r.posErr != nil {
			return nil, r.posErr
		}
		if mode != modeBulk {
			if q.incCol != "" && mode != modeTimestamp {
				q.hasInc, q.inc = true, r.inc
			}
			if q.tsExpr != "" {
				q.hasTS, q.ts = true, r.ts
			}
		}
		var off map[string]any
		if q.partition != nil {
			// In timestamp mode only the last row of a group of rows sharing
			// a timestamp carries the position: resuming after it cannot
			// skip the rest of the group.
			if mode != modeTimestamp || i == len(rows)-1 || !rows[i+1].ts.Equal(r.ts) {
				off = q.offsetOf()
			}
		}
		if r.err != nil {
			raw := &connectors.Record{Topic: q.topic, Partition: -1, Offset: -1, Value: r.text,
				SourcePartition: q.partition, SourceOffset: off}
			if err := q.t.tc.Report(raw, fmt.Errorf("jdbc: %s: %w", q.describe(), r.err)); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, &connectors.Record{Topic: q.topic, Partition: -1, Offset: -1,
			ValueSchema: r.value.Schema(), Value: r.value, SourcePartition: q.partition, SourceOffset: off})
	}
	return out, nil
}

// pollBulk reads the next batch of the current bulk pass (starting one
// when due). The pass's result set stays open between polls.
func (q *querier) pollBulk(ctx context.Context) ([]*connectors.Record, error) {
	cfg := q.t.cfg
	if q.bulk == nil {
		rs, err := q.t.db.QueryContext(context.WithoutCancel(ctx), "SELECT * FROM "+q.from)
		if err != nil {
			return nil, err
		}
		plan, err := q.plan(rs)
		if err != nil {
			rs.Close()
			return nil, err
		}
		q.bulk, q.bulkPlan, q.bulkStart = rs, plan, time.Now()
	}
	var rows []polledRow
	for len(rows) < cfg.maxRows && q.bulk.Next() {
		rows = append(rows, q.readRow(q.bulk, q.bulkPlan))
	}
	if len(rows) < cfg.maxRows {
		err := q.bulk.Err()
		q.bulk.Close()
		q.bulk = nil
		if err != nil {
			return nil, err
		}
		q.next = q.bulkStart.Add(cfg.poll)
	} else {
		q.next = time.Now()
	}
	return q.records(rows)
}

func contains0(list []int, v int) bool {
	for _, e := range list {
		if e == v {
			return true
		}
	}
	return false
}
