package mysqlcdc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// querier is a *sql.DB or the snapshot's *sql.Conn.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// serverInfo is what the connector needs to know about the server.
type serverInfo struct {
	version           string
	mariadb           bool
	gtidMode          bool // MySQL gtid_mode=ON; MariaDB always has GTIDs
	explicitTimestamp bool // explicit_defaults_for_timestamp
}

func (s serverInfo) flavor() string {
	if s.mariadb {
		return "mariadb"
	}
	return "mysql"
}

// openDB opens a connection pool for catalog queries and snapshots: binary
// protocol values as text (no parseTime), UTC session time zone (TIMESTAMP
// values come back in UTC, as the binlog has them), utf8mb4.
func openDB(cfg *config) (*sql.DB, error) {
	mc := mysql.NewConfig()
	mc.User = cfg.user
	mc.Passwd = cfg.password.Reveal()
	mc.Net = "tcp"
	mc.Addr = fmt.Sprintf("%s:%d", cfg.host, cfg.port)
	mc.Timeout = cfg.connectTimeout
	mc.ParseTime = false
	mc.Params = map[string]string{"time_zone": "'+00:00'"}
	if err := mc.Apply(mysql.Charset("utf8mb4", "")); err != nil {
		return nil, err
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("mysql-cdc: connection settings: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(2)
	return db, nil
}

// describeServer reads the server's version and checks the binlog
// settings the connector depends on, naming the fix of each problem.
func describeServer(ctx context.Context, q querier) (serverInfo, error) {
	var info serverInfo
	vars, err := globalVariables(ctx, q, "version", "log_bin", "binlog_format", "binlog_row_image", "gtid_mode", "explicit_defaults_for_timestamp")
	if err != nil {
		return info, err
	}
	info.version = vars["version"]
	info.mariadb = strings.Contains(strings.ToLower(info.version), "mariadb")
	info.gtidMode = info.mariadb || strings.EqualFold(vars["gtid_mode"], "ON")
	info.explicitTimestamp = strings.EqualFold(vars["explicit_defaults_for_timestamp"], "ON")
	var errs []error
	if !strings.EqualFold(vars["log_bin"], "ON") && vars["log_bin"] != "1" {
		errs = append(errs, errors.New("the binary log is off: start the server with log_bin (log-bin=mysql-bin)"))
	}
	if !strings.EqualFold(vars["binlog_format"], "ROW") {
		errs = append(errs, fmt.Errorf("binlog_format is %s: set binlog_format=ROW", vars["binlog_format"]))
	}
	if img := vars["binlog_row_image"]; img != "" && !strings.EqualFold(img, "FULL") {
		errs = append(errs, fmt.Errorf("binlog_row_image is %s: set binlog_row_image=FULL (before and after images need every column)", img))
	}
	if len(errs) > 0 {
		return info, fmt.Errorf("mysql-cdc: server %s is not set up for change data capture: %w", info.version, errors.Join(errs...))
	}
	return info, nil
}

func globalVariables(ctx context.Context, q querier, names ...string) (map[string]string, error) {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "'" + n + "'"
	}
	rows, err := q.QueryContext(ctx, "SHOW GLOBAL VARIABLES WHERE Variable_name IN ("+strings.Join(quoted, ",")+")")
	if err != nil {
		return nil, fmt.Errorf("mysql-cdc: read server variables: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[strings.ToLower(k)] = v
	}
	return out, rows.Err()
}

// currentPosition reads the binlog's end position and GTID set: MySQL's
// SHOW BINARY LOG STATUS (SHOW MASTER STATUS before 8.4), MariaDB's SHOW
// MASTER STATUS and @@gtid_binlog_pos. Consistent with data only while
// writes are blocked (the snapshot's global read lock).
func currentPosition(ctx context.Context, q querier, info serverInfo) (binlogPos, error) {
	var pos binlogPos
	var rows *sql.Rows
	var err error
	if !info.mariadb {
		rows, err = q.QueryContext(ctx, "SHOW BINARY LOG STATUS")
	}
	if info.mariadb || err != nil {
		rows, err = q.QueryContext(ctx, "SHOW MASTER STATUS")
	}
	if err != nil {
		return pos, fmt.Errorf("mysql-cdc: read the binlog position (needs REPLICATION CLIENT, on MariaDB 10.5+ BINLOG MONITOR): %w", err)
	}
	cols, _ := rows.Columns()
	found := false
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return pos, err
		}
		for i, c := range cols {
			switch strings.ToLower(c) {
			case "file":
				pos.File = vals[i].String
			case "position":
				var p uint64
				fmt.Sscan(vals[i].String, &p)
				pos.Pos = uint32(p)
			case "executed_gtid_set":
				pos.GTIDs = strings.ReplaceAll(strings.ReplaceAll(vals[i].String, "\n", ""), "\r", "")
			}
		}
		found = true
	}
	rows.Close()
	if !found || pos.File == "" {
		return pos, errors.New("mysql-cdc: SHOW MASTER STATUS returned nothing: the binary log is off (start the server with log_bin)")
	}
	if info.mariadb {
		if pos.GTIDs, err = mariadbGTIDAt(ctx, q, pos.File, pos.Pos); err != nil {
			return pos, err
		}
	}
	return pos, nil
}

// mariadbGTIDAt is MariaDB's GTID position at a binlog position.
func mariadbGTIDAt(ctx context.Context, q querier, file string, pos uint32) (string, error) {
	rows, err := q.QueryContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", file, pos)
	if err != nil {
		return "", fmt.Errorf("mysql-cdc: BINLOG_GTID_POS(%s, %d): %w", file, pos, err)
	}
	defer rows.Close()
	var g sql.NullString
	if rows.Next() {
		if err := rows.Scan(&g); err != nil {
			return "", err
		}
	}
	return g.String, rows.Err()
}

// mariadbSnapshotPosition is the binlog position of the consistent
// snapshot the session's transaction reads (MariaDB sets it at START
// TRANSACTION WITH CONSISTENT SNAPSHOT): exact without any lock.
func mariadbSnapshotPosition(ctx context.Context, q querier) (binlogPos, bool, error) {
	var pos binlogPos
	rows, err := q.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return pos, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return pos, false, err
		}
		switch strings.ToLower(k) {
		case "binlog_snapshot_file":
			pos.File = v
		case "binlog_snapshot_position":
			var p uint64
			fmt.Sscan(v, &p)
			pos.Pos = uint32(p)
		}
	}
	return pos, pos.File != "", rows.Err()
}

// binaryLogs lists the server's binlog files.
func binaryLogs(ctx context.Context, q querier) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("mysql-cdc: SHOW BINARY LOGS: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := map[string]bool{}
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out[vals[0].String] = true
	}
	return out, rows.Err()
}

// listTables returns the captured base tables, sorted.
func listTables(ctx context.Context, q querier, f *filters) ([][2]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'")
	if err != nil {
		return nil, fmt.Errorf("mysql-cdc: list tables: %w", err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var db, t string
		if err := rows.Scan(&db, &t); err != nil {
			return nil, err
		}
		if f.table(db, t) {
			out = append(out, [2]string{db, t})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i][0] != out[j][0] {
			return out[i][0] < out[j][0]
		}
		return out[i][1] < out[j][1]
	})
	return out, rows.Err()
}

// readTableDefs reads the structure of tables from information_schema.
// Tables that do not exist are absent from the result.
func readTableDefs(ctx context.Context, q querier, mariadb bool, tables [][2]string) (map[string]*tableDef, error) {
	byDB := map[string]map[string]bool{}
	for _, t := range tables {
		if byDB[t[0]] == nil {
			byDB[t[0]] = map[string]bool{}
		}
		byDB[t[0]][t[1]] = true
	}
	dbs := make([]string, 0, len(byDB))
	for db := range byDB {
		dbs = append(dbs, db)
	}
	sort.Strings(dbs)
	out := map[string]*tableDef{}
	for _, db := range dbs {
		if err := readDatabaseDefs(ctx, q, mariadb, db, byDB[db], out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func readDatabaseDefs(ctx context.Context, q querier, mariadb bool, db string, want map[string]bool, out map[string]*tableDef) error {
	defs := map[string]*tableDef{}
	rows, err := q.QueryContext(ctx, `SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, CHARACTER_SET_NAME, EXTRA, COLUMN_DEFAULT
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION`, db)
	if err != nil {
		return fmt.Errorf("mysql-cdc: read the columns of database %q: %w", db, err)
	}
	for rows.Next() {
		var table, name, colType, dataType, nullable, extra string
		var charset, dflt sql.NullString
		if err := rows.Scan(&table, &name, &colType, &dataType, &nullable, &charset, &extra, &dflt); err != nil {
			rows.Close()
			return err
		}
		if !want[table] {
			continue
		}
		d := defs[table]
		if d == nil {
			d = &tableDef{DB: db, Name: table}
			defs[table] = d
		}
		lowerExtra := strings.ToLower(extra)
		d.Columns = append(d.Columns, column{
			Name:          name,
			Type:          normalizeColumnType(colType),
			Nullable:      strings.EqualFold(nullable, "YES"),
			Charset:       charset.String,
			AutoIncrement: strings.Contains(lowerExtra, "auto_increment"),
			Generated:     strings.Contains(lowerExtra, "generated") && !strings.Contains(lowerExtra, "default_generated"),
			Default:       catalogDefault(dflt, extra, mariadb),
		})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.QueryContext(ctx, `SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_NAME, SEQ_IN_INDEX`, db)
	if err != nil {
		return fmt.Errorf("mysql-cdc: read the primary keys of database %q: %w", db, err)
	}
	for rows.Next() {
		var table, name string
		if err := rows.Scan(&table, &name); err != nil {
			rows.Close()
			return err
		}
		if d := defs[table]; d != nil {
			d.PK = append(d.PK, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.QueryContext(ctx, `SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?`, db)
	if err != nil {
		return fmt.Errorf("mysql-cdc: read the tables of database %q: %w", db, err)
	}
	for rows.Next() {
		var table string
		var coll sql.NullString
		if err := rows.Scan(&table, &coll); err != nil {
			rows.Close()
			return err
		}
		if d := defs[table]; d != nil {
			d.Charset = charsetOfCollation(coll.String)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if mariadb {
		// MariaDB's JSON is LONGTEXT with a column check json_valid(`c`).
		rows, err = q.QueryContext(ctx, `SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?`, db)
		if err == nil {
			for rows.Next() {
				var table, clause string
				if err := rows.Scan(&table, &clause); err != nil {
					rows.Close()
					return err
				}
				d := defs[table]
				if d == nil {
					continue
				}
				for i := range d.Columns {
					c := &d.Columns[i]
					if c.Type == "longtext" && strings.EqualFold(strings.ReplaceAll(clause, " ", ""), "json_valid(`"+c.Name+"`)") {
						c.Type = "json"
					}
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
	}
	for name, d := range defs {
		out[db+"."+name] = d
	}
	return nil
}

// normalizeColumnType lower-cases a COLUMN_TYPE outside quoted ENUM and
// SET values.
func normalizeColumnType(s string) string {
	var b strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// charsetOfCollation derives a character set from a collation name
// ("utf8mb4_general_ci" → "utf8mb4").
func charsetOfCollation(coll string) string {
	if coll == "" {
		return ""
	}
	if coll == "binary" {
		return "binary"
	}
	cs, _, _ := strings.Cut(coll, "_")
	return cs
}

// databaseCharset reads a database's default character set.
func databaseCharset(ctx context.Context, q querier, db string) (string, error) {
	rows, err := q.QueryContext(ctx, "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var cs string
	if rows.Next() {
		if err := rows.Scan(&cs); err != nil {
			return "", err
		}
	}
	return cs, rows.Err()
}

// showCreateTable returns SHOW CREATE TABLE's statement.
func showCreateTable(ctx context.Context, q querier, db, table string) (string, error) {
	rows, err := q.QueryContext(ctx, "SHOW CREATE TABLE "+quoteIdent(db)+"."+quoteIdent(table))
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var name, ddl string
	if rows.Next() {
		if err := rows.Scan(&name, &ddl); err != nil {
			return "", err
		}
	}
	return ddl, rows.Err()
}

func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}
