package postgrescdc

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// sessionParams fix the settings that shape the text of values, on the
// query connections and on the replication connection (whose walsender
// runs pgoutput's output functions with them).
var sessionParams = map[string]string{
	"application_name":   "sluice-postgres-cdc",
	"DateStyle":          "ISO, YMD",
	"IntervalStyle":      "iso_8601",
	"TimeZone":           "UTC",
	"bytea_output":       "hex",
	"lc_monetary":        "C",
	"extra_float_digits": "1",
}

// connString builds a libpq keyword/value string (the password is set on
// the parsed config, never in text).
func (s *settings) connString() string {
	kv := func(k, v string) string {
		return k + "='" + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), `'`, `\'`) + "'"
	}
	parts := []string{kv("host", s.host), fmt.Sprintf("port=%d", s.port), kv("user", s.user), kv("dbname", s.dbname),
		kv("sslmode", s.sslmode), "connect_timeout=30"}
	if s.sslrootcert != "" {
		parts = append(parts, kv("sslrootcert", s.sslrootcert))
	}
	if s.sslcert != "" {
		parts = append(parts, kv("sslcert", s.sslcert))
	}
	if s.sslkey != "" {
		parts = append(parts, kv("sslkey", s.sslkey))
	}
	return strings.Join(parts, " ")
}

func (s *settings) pgxConfig() (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(s.connString())
	if err != nil {
		return nil, fmt.Errorf("postgres-cdc: connection settings: %w", err)
	}
	cfg.Password = s.password.Reveal()
	for k, v := range sessionParams {
		cfg.RuntimeParams[k] = v
	}
	// Plain protocol round trips are what the catalog queries need; the
	// statement cache would only hold connections' memory.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	return cfg, nil
}

// connect opens a query connection.
func (s *settings) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := s.pgxConfig()
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres-cdc: connect to %s:%d database %q as %q: %w", s.host, s.port, s.dbname, s.user, err)
	}
	return conn, nil
}

// connectReplication opens a logical replication connection.
func (s *settings) connectReplication(ctx context.Context) (*pgconn.PgConn, error) {
	cfg, err := s.pgxConfig()
	if err != nil {
		return nil, err
	}
	pc := cfg.Config.Copy()
	pc.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres-cdc: open a replication connection to %s:%d database %q as %q (the user needs the REPLICATION attribute and pg_hba.conf must allow it): %w",
			s.host, s.port, s.dbname, s.user, err)
	}
	return conn, nil
}

// loadTypes reads pg_type (without the row types of tables) with enum
// labels.
func loadTypes(ctx context.Context, conn *pgx.Conn) (map[uint32]*pgType, error) {
	rows, err := conn.Query(ctx, `
SELECT t.oid, n.nspname, t.typname, t.typtype::text, t.typcategory::text, t.typelem, t.typbasetype, t.typtypmod, t.typdelim::text,
       COALESCE((SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '{}')
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype <> 'c'`)
	if err != nil {
		return nil, fmt.Errorf("postgres-cdc: read pg_type: %w", err)
	}
	defer rows.Close()
	out := map[uint32]*pgType{}
	for rows.Next() {
		var t pgType
		var typtype, category, delim string
		if err := rows.Scan(&t.oid, &t.namespace, &t.name, &typtype, &category, &t.elem, &t.base, &t.typmod, &delim, &t.labels); err != nil {
			return nil, fmt.Errorf("postgres-cdc: read pg_type: %w", err)
		}
		if typtype != "" {
			t.typtype = typtype[0]
		}
		if category != "" {
			t.category = category[0]
		}
		if delim != "" {
			t.delim = delim[0]
		}
		if len(t.labels) > 0 {
			t.labelSet = make(map[string]bool, len(t.labels))
			for _, l := range t.labels {
				t.labelSet[l] = true
			}
		}
		out[t.oid] = &t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres-cdc: read pg_type: %w", err)
	}
	return out, nil
}

// columnInfo is a table column from the catalog.
type columnInfo struct {
	name   string
	typ    uint32
	typmod int32
}

// tableInfo is what the connector needs of a table besides its columns'
// values: the columns (as pgoutput sends them: not dropped, not
// generated, in attnum order), the key and the replica identity.
type tableInfo struct {
	id        tableID
	relid     uint32
	replIdent byte
	columns   []columnInfo
	key       []string // the primary key, else the replica identity index; nil: none
}

// listTables lists the ordinary tables (partitions included, partitioned
// parents not: pgoutput sends changes under the partitions' names) with
// their OIDs.
func listTables(ctx context.Context, conn *pgx.Conn) (map[tableID]uint32, error) {
	rows, err := conn.Query(ctx, `
SELECT n.nspname, c.relname, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'`)
	if err != nil {
		return nil, fmt.Errorf("postgres-cdc: list tables: %w", err)
	}
	defer rows.Close()
	out := map[tableID]uint32{}
	for rows.Next() {
		var id tableID
		var oid uint32
		if err := rows.Scan(&id.schema, &id.name, &oid); err != nil {
			return nil, fmt.Errorf("postgres-cdc: list tables: %w", err)
		}
		out[id] = oid
	}
	return out, rows.Err()
}

// readTableInfo reads a table's columns, key and replica identity by OID.
func readTableInfo(ctx context.Context, conn *pgx.Conn, relid uint32) (*tableInfo, error) {
	t := &tableInfo{relid: relid}
	var ident string
	err := conn.QueryRow(ctx, `SELECT n.nspname, c.relname, c.relreplident::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1`, relid).
		Scan(&t.id.schema, &t.id.name, &ident)
	if err == pgx.ErrNoRows {
		return nil, fmt.Errorf("postgres-cdc: table with OID %d no longer exists", relid)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres-cdc: read table %d: %w", relid, err)
	}
	if ident != "" {
		t.replIdent = ident[0]
	}
	rows, err := conn.Query(ctx, `
SELECT a.attname, a.atttypid, a.atttypmod FROM pg_attribute a
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum`, relid)
	if err != nil {
		return nil, fmt.Errorf("postgres-cdc: read columns of %s: %w", t.id, err)
	}
	for rows.Next() {
		var c columnInfo
		if err := rows.Scan(&c.name, &c.typ, &c.typmod); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres-cdc: read columns of %s: %w", t.id, err)
		}
		t.columns = append(t.columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres-cdc: read columns of %s: %w", t.id, err)
	}
	if t.key, err = readKey(ctx, conn, relid); err != nil {
		return nil, fmt.Errorf("postgres-cdc: read the key of %s: %w", t.id, err)
	}
	return t, nil
}

// readKey returns the primary key's columns in key order, else those of
// the replica identity index, else nil.
func readKey(ctx context.Context, conn *pgx.Conn, relid uint32) ([]string, error) {
	rows, err := conn.Query(ctx, `
SELECT a.attname FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.ord`, relid)
	if err != nil {
		return nil, err
	}
	key, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(key) > 0 {
		return key, err
	}
	rows, err = conn.Query(ctx, `
SELECT a.attname FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1 AND i.indisreplident ORDER BY k.ord`, relid)
	if err != nil {
		return nil, err
	}
	key, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if len(key) == 0 {
		key = nil
	}
	return key, err
}

// slotInfo is a row of pg_replication_slots.
type slotInfo struct {
	plugin    string
	database  string
	slotType  string
	active    bool
	confirmed uint64
	restart   uint64
	walStatus string // reserved, extended, unreserved, lost
}

func readSlot(ctx context.Context, conn *pgx.Conn, name string) (*slotInfo, error) {
	var s slotInfo
	var db, plugin, wal *string
	var confirmed, restart *string
	err := conn.QueryRow(ctx, `
SELECT plugin, slot_type, database, active, confirmed_flush_lsn::text, restart_lsn::text, wal_status
FROM pg_replication_slots WHERE slot_name = $1`, name).Scan(&plugin, &s.slotType, &db, &s.active, &confirmed, &restart, &wal)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres-cdc: read replication slot %q: %w", name, err)
	}
	if plugin != nil {
		s.plugin = *plugin
	}
	if db != nil {
		s.database = *db
	}
	if wal != nil {
		s.walStatus = *wal
	}
	if confirmed != nil {
		s.confirmed, _ = parseLSN(*confirmed)
	}
	if restart != nil {
		s.restart, _ = parseLSN(*restart)
	}
	return &s, nil
}

// parseLSN parses PostgreSQL's X/Y notation.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("%q is not an LSN", s)
	}
	var h, l uint64
	if _, err := fmt.Sscanf(hi, "%X", &h); err != nil {
		return 0, fmt.Errorf("%q is not an LSN", s)
	}
	if _, err := fmt.Sscanf(lo, "%X", &l); err != nil {
		return 0, fmt.Errorf("%q is not an LSN", s)
	}
	return h<<32 | l, nil
}

func formatLSN(l uint64) string { return fmt.Sprintf("%X/%X", l>>32, uint32(l)) }
