package jdbc

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// dialectKind names a supported database.
type dialectKind int

const (
	dialectPostgres dialectKind = iota + 1
	dialectMySQL                // MySQL and MariaDB
	dialectSQLite
)

func (k dialectKind) String() string {
	switch k {
	case dialectPostgres:
		return "PostgreSQL"
	case dialectMySQL:
		return "MySQL"
	case dialectSQLite:
		return "SQLite"
	}
	return fmt.Sprintf("dialect(%d)", int(k))
}

// dialect is everything that differs between the databases: identifier
// quoting, placeholders, upsert syntax, type names in DDL, metadata
// queries, the database clock and error codes. It is immutable and shared.
type dialect struct {
	kind dialectKind
	// quote: quote.sql.identifiers=always. With never, identifiers are
	// written as configured (and the database folds their case).
	quote bool
	// loc is db.timezone: zoneless date-time columns hold wall-clock
	// times there.
	loc *time.Location
}

// ident quotes one identifier (a column or table name part).
func (d *dialect) ident(name string) string {
	if !d.quote {
		return name
	}
	if d.kind == dialectMySQL {
		return "`" + strings.ReplaceAll(name, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// tableID names a table: an optional schema (a PostgreSQL schema, a MySQL
// database, an attached SQLite database) and the table's name.
type tableID struct {
	schema, name string
}

// parseTableID splits "schema.table" (or "catalog.schema.table", whose
// catalog is dropped: it is the connection's database) into its parts.
// Surrounding quotes of either part are removed.
func parseTableID(s string) tableID {
	parts := splitQualified(s)
	unq := func(p string) string {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && (p[0] == '"' && p[len(p)-1] == '"' || p[0] == '`' && p[len(p)-1] == '`') {
			return p[1 : len(p)-1]
		}
		return p
	}
	switch len(parts) {
	case 1:
		return tableID{name: unq(parts[0])}
	default:
		return tableID{schema: unq(parts[len(parts)-2]), name: unq(parts[len(parts)-1])}
	}
}

// splitQualified splits on dots outside quotes.
func splitQualified(s string) []string {
	var parts []string
	var quote byte
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '`':
			quote = c
		case c == '.':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func (t tableID) String() string {
	if t.schema == "" {
		return t.name
	}
	return t.schema + "." + t.name
}

// table renders a table name for SQL.
func (d *dialect) table(t tableID) string {
	if t.schema == "" {
		return d.ident(t.name)
	}
	return d.ident(t.schema) + "." + d.ident(t.name)
}

// param is the placeholder of the n-th (1-based) parameter.
func (d *dialect) param(n int) string {
	if d.kind == dialectPostgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// maxParams is the most parameters one statement may have.
func (d *dialect) maxParams() int {
	switch d.kind {
	case dialectPostgres, dialectMySQL:
		return 65535
	}
	// SQLITE_MAX_VARIABLE_NUMBER's default since SQLite 3.32.
	return 32766
}

// nowQuery returns the database's current time (the clock that DEFAULT
// now() and CURRENT_TIMESTAMP columns use), so that the source's time
// windows do not depend on the worker's clock.
func (d *dialect) nowQuery() string {
	switch d.kind {
	case dialectPostgres:
		return "SELECT statement_timestamp()"
	case dialectMySQL:
		return "SELECT CURRENT_TIMESTAMP(6)"
	}
	return "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"
}

// dbNow reads the database clock.
func (d *dialect) dbNow(ctx context.Context, db queryer) (time.Time, error) {
	var v any
	if err := db.QueryRowContext(ctx, d.nowQuery()).Scan(&v); err != nil {
		return time.Time{}, err
	}
	switch x := v.(type) {
	case time.Time:
		if d.kind == dialectMySQL {
			return x, nil // parsed in db.timezone (the session's time_zone)
		}
		return x, nil
	case string:
		return parseSQLiteTime(x, time.UTC)
	case []byte:
		return parseSQLiteTime(string(x), time.UTC)
	}
	return time.Time{}, fmt.Errorf("unexpected clock value %T", v)
}

// timeExpr is how a timestamp column is compared and ordered. SQLite keeps
// times as text in several formats ("2024-05-01 10:00:00",
// "2024-05-01T10:00:00.123Z"): strftime normalises them to one that
// compares correctly (millisecond precision).
func (d *dialect) timeExpr(quotedCol string) string {
	if d.kind == dialectSQLite {
		return "strftime('%Y-%m-%d %H:%M:%f', " + quotedCol + ")"
	}
	return quotedCol
}

// timeParam is the parameter compared with timeExpr: the instant t as a
// time in db.timezone (the drivers write zoneless columns' wall clock in
// the time's location).
func (d *dialect) timeParam(t time.Time) any {
	switch d.kind {
	case dialectSQLite:
		return t.In(d.loc).Format("2006-01-02 15:04:05.000")
	}
	return t.In(d.loc)
}

// queryer is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// columnInfo describes a table column from the database's catalog.
type columnInfo struct {
	name     string
	typeName string // the database's type name, upper case: INT4, VARCHAR, DECIMAL, TIMESTAMPTZ
	// columnType is the full declared type: numeric(10,2), tinyint(1),
	// DECIMAL(10,2).
	columnType    string
	nullable      bool
	primaryKey    bool
	autoIncrement bool
	// precision and scale of numeric columns; precision 0 when unknown
	// (PostgreSQL's unconstrained numeric).
	precision, scale int
	// elemType is the element type name of a PostgreSQL array column.
	elemType string
}

// tableInfo is a table's columns in order.
type tableInfo struct {
	id      tableID
	columns []columnInfo
	byName  map[string]int
}

func newTableInfo(id tableID, cols []columnInfo) *tableInfo {
	ti := &tableInfo{id: id, columns: cols, byName: make(map[string]int, len(cols))}
	for i, c := range cols {
		ti.byName[c.name] = i
	}
	return ti
}

// column finds a column by name: exactly, else ignoring case (databases
// that fold unquoted names).
func (ti *tableInfo) column(name string) (*columnInfo, bool) {
	if i, ok := ti.byName[name]; ok {
		return &ti.columns[i], true
	}
	for i := range ti.columns {
		if strings.EqualFold(ti.columns[i].name, name) {
			return &ti.columns[i], true
		}
	}
	return nil, false
}

func (ti *tableInfo) primaryKey() []string {
	var pk []string
	for _, c := range ti.columns {
		if c.primaryKey {
			pk = append(pk, c.name)
		}
	}
	return pk
}

// describeTable reads a table's columns from the catalog; nil (and no
// error) when the table does not exist.
func (d *dialect) describeTable(ctx context.Context, db queryer, t tableID) (*tableInfo, error) {
	var cols []columnInfo
	var err error
	switch d.kind {
	case dialectPostgres:
		cols, err = d.describePostgres(ctx, db, t)
	case dialectMySQL:
		cols, err = d.describeMySQL(ctx, db, t)
	case dialectSQLite:
		cols, err = d.describeSQLite(ctx, db, t)
	}
	if err != nil {
		return nil, fmt.Errorf("describe table %s: %w", t, err)
	}
	if len(cols) == 0 {
		return nil, nil
	}
	return newTableInfo(t, cols), nil
}

func (d *dialect) describePostgres(ctx context.Context, db queryer, t tableID) ([]columnInfo, error) {
	// to_regclass resolves the name as the database would in a query
	// (search_path for an unqualified name), quoted exactly as written.
	name := `"` + strings.ReplaceAll(t.name, `"`, `""`) + `"`
	if t.schema != "" {
		name = `"` + strings.ReplaceAll(t.schema, `"`, `""`) + `".` + name
	}
	rows, err := db.QueryContext(ctx, `
SELECT a.attname, upper(t.typname), format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, a.atttypmod,
       coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') LIKE 'nextval(%' OR a.attidentity <> '',
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY(i.indkey)),
       coalesce(upper(et.typname), '')
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []columnInfo
	for rows.Next() {
		var c columnInfo
		var typmod int64
		if err := rows.Scan(&c.name, &c.typeName, &c.columnType, &c.nullable, &typmod, &c.autoIncrement, &c.primaryKey, &c.elemType); err != nil {
			return nil, err
		}
		if c.typeName == "NUMERIC" && typmod >= 4 {
			c.precision = int(((typmod - 4) >> 16) & 0xffff)
			c.scale = int((typmod - 4) & 0xffff)
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

func (d *dialect) describeMySQL(ctx context.Context, db queryer, t tableID) ([]columnInfo, error) {
	var schema any
	if t.schema != "" {
		schema = t.schema
	}
	rows, err := db.QueryContext(ctx, `
SELECT COLUMN_NAME, UPPER(DATA_TYPE), COLUMN_TYPE, IS_NULLABLE = 'YES', COALESCE(NUMERIC_PRECISION, 0), COALESCE(NUMERIC_SCALE, 0),
       COLUMN_KEY = 'PRI', EXTRA LIKE '%auto_increment%'
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?
ORDER BY ORDINAL_POSITION`, schema, t.name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []columnInfo
	for rows.Next() {
		var c columnInfo
		if err := rows.Scan(&c.name, &c.typeName, &c.columnType, &c.nullable, &c.precision, &c.scale, &c.primaryKey, &c.autoIncrement); err != nil {
			return nil, err
		}
		if c.typeName != "DECIMAL" && c.typeName != "NUMERIC" {
			c.precision, c.scale = 0, 0
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

func (d *dialect) describeSQLite(ctx context.Context, db queryer, t tableID) ([]columnInfo, error) {
	q := `SELECT name, type, "notnull", pk FROM pragma_table_info(?)`
	args := []any{t.name}
	if t.schema != "" {
		q = `SELECT name, type, "notnull", pk FROM pragma_table_info(?, ?)`
		args = append(args, t.schema)
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []columnInfo
	pks := 0
	for rows.Next() {
		var c columnInfo
		var notNull, pk int
		if err := rows.Scan(&c.name, &c.columnType, &notNull, &pk); err != nil {
			return nil, err
		}
		c.nullable = notNull == 0
		c.primaryKey = pk > 0
		if c.primaryKey {
			pks++
		}
		c.typeName, c.precision, c.scale = sqliteTypeName(c.columnType)
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// An INTEGER PRIMARY KEY is the rowid: it autoincrements, and is never
	// null even where not declared NOT NULL.
	for i := range cols {
		if pks == 1 && cols[i].primaryKey && strings.EqualFold(strings.TrimSpace(cols[i].columnType), "INTEGER") {
			cols[i].autoIncrement = true
			cols[i].nullable = false
		}
	}
	return cols, nil
}

// sqliteTypeName splits a declared SQLite type ("DECIMAL(10, 2)") into its
// upper-case name and numbers.
func sqliteTypeName(decl string) (name string, precision, scale int) {
	decl = strings.ToUpper(strings.TrimSpace(decl))
	name, args, ok := strings.Cut(decl, "(")
	name = strings.TrimSpace(name)
	if ok {
		args = strings.TrimSuffix(strings.TrimSpace(args), ")")
		p, s, _ := strings.Cut(args, ",")
		precision, _ = strconv.Atoi(strings.TrimSpace(p))
		scale, _ = strconv.Atoi(strings.TrimSpace(s))
	}
	return name, precision, scale
}

// listTables lists the tables (and, if types says so, views) that the
// source may copy. schemaPattern is a LIKE pattern ("" for the default
// schema: PostgreSQL's current schemas, MySQL's database).
func (d *dialect) listTables(ctx context.Context, db queryer, schemaPattern string, types []string) ([]tableID, error) {
	wantTables, wantViews := false, false
	for _, t := range types {
		switch strings.ToUpper(strings.TrimSpace(t)) {
		case "TABLE":
			wantTables = true
		case "VIEW":
			wantViews = true
		}
	}
	var q string
	var args []any
	switch d.kind {
	case dialectPostgres:
		q = `SELECT table_schema, table_name, table_type = 'VIEW' FROM information_schema.tables
WHERE table_type IN ('BASE TABLE', 'VIEW') AND table_schema NOT IN ('pg_catalog', 'information_schema')`
		if schemaPattern != "" {
			q += ` AND table_schema LIKE $1`
			args = append(args, schemaPattern)
		} else {
			q += ` AND table_schema = ANY (current_schemas(false))`
		}
	case dialectMySQL:
		q = `SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE = 'VIEW' FROM information_schema.TABLES
WHERE TABLE_TYPE IN ('BASE TABLE', 'VIEW')`
		if schemaPattern != "" {
			q += ` AND TABLE_SCHEMA LIKE ?`
			args = append(args, schemaPattern)
		} else {
			q += ` AND TABLE_SCHEMA = DATABASE()`
		}
	case dialectSQLite:
		q = `SELECT '', name, type = 'view' FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'`
	}
	q += " ORDER BY 1, 2"
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var out []tableID
	for rows.Next() {
		var schema, name string
		var view bool
		if err := rows.Scan(&schema, &name, &view); err != nil {
			return nil, err
		}
		if (view && !wantViews) || (!view && !wantTables) {
			continue
		}
		out = append(out, tableID{schema: schema, name: name})
	}
	return out, rows.Err()
}

// currentSchema is the schema unqualified names resolve to (PostgreSQL's
// current_schema(), MySQL's DATABASE(), SQLite's main).
func (d *dialect) currentSchema(ctx context.Context, db queryer) (string, error) {
	var q string
	switch d.kind {
	case dialectPostgres:
		q = "SELECT coalesce(current_schema(), '')"
	case dialectMySQL:
		q = "SELECT COALESCE(DATABASE(), '')"
	default:
		return "", nil
	}
	var s string
	err := db.QueryRowContext(ctx, q).Scan(&s)
	return s, err
}

// errClass is how a failed statement is handled.
type errClass int

const (
	// errOther: a failure that retrying will not fix (a syntax error, a
	// missing privilege): the task fails.
	errOther errClass = iota
	// errConnection: the connection broke or the server is unavailable:
	// retried (RetriableError).
	errConnection
	// errTransient: a deadlock or serialization failure: the transaction
	// is retried.
	errTransient
	// errData: the database refused the data of a row (a constraint, a
	// value out of range, a value of the wrong type): the batch is written
	// again row by row and the rows it refuses are reported.
	errData
	// errSchema: a column or table is missing (changed under the
	// connector): the table's description is read again and the batch
	// retried once.
	errSchema
)

// classify tells how err from the database should be handled.
func (d *dialect) classify(err error) errClass {
	if err == nil {
		return errOther
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errConnection
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		code := pgErr.Code
		switch {
		case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "57P"), code == "53300", code == "53400":
			return errConnection // connection exceptions, admin shutdown, too many connections
		case code == "40001", code == "40P01", code == "55P03":
			return errTransient // serialization failure, deadlock, lock not available
		case strings.HasPrefix(code, "22"), strings.HasPrefix(code, "23"):
			return errData // data exception, integrity constraint violation
		case code == "42703", code == "42P01":
			return errSchema // undefined column, undefined table
		case code == "42804":
			return errData // datatype mismatch
		case code == "21000":
			// cardinality violation: one upsert statement met a key twice
			// (keys equal to the database but not byte for byte, such as
			// citext): the rows are written one by one.
			return errData
		}
		return errOther
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		switch myErr.Number {
		case 1213, 1205, 1614:
			return errTransient // deadlock, lock wait timeout, transaction branch rolled back
		case 1040, 1053, 2006, 2013, 1927, 1317:
			return errConnection // too many connections, shutdown, server gone, connection killed
		case 1062, 1586, 1048, 1364, 1366, 1292, 1265, 1264, 1406, 1451, 1452, 1216, 1217, 3819, 4025, 1690, 1367, 3140, 4038:
			return errData // duplicate key, null, no default, bad value, truncation, out of range, FK, CHECK, invalid JSON
		case 1054, 1146:
			return errSchema // unknown column, no such table
		}
		return errOther
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() & 0xff {
		case 19, 20, 18, 25: // CONSTRAINT, MISMATCH, TOOBIG, RANGE
			return errData
		case 5, 6: // BUSY, LOCKED
			return errTransient
		case 1:
			msg := sqliteErr.Error()
			if strings.Contains(msg, "no such column") || strings.Contains(msg, "no such table") || strings.Contains(msg, "has no column named") {
				return errSchema
			}
		}
		return errOther
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return errConnection
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return errConnection
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return errConnection
	}
	msg := err.Error()
	if strings.Contains(msg, "conn closed") || strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "failed to connect") || strings.Contains(msg, "unexpected EOF") {
		return errConnection
	}
	return errOther
}
