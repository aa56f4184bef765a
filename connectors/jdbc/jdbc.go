// Package jdbc is Sluice's jdbc connector type: a source that polls tables
// (or a query) of PostgreSQL, MySQL/MariaDB or SQLite into Kafka, and a sink
// that writes records into their tables, with the configuration names and
// semantics of Confluent's JDBC source and sink connectors.
//
// The name is Kafka Connect's; there is no JDBC here: connection.url takes
// JDBC URLs (jdbc:postgresql://, jdbc:mysql://, jdbc:mariadb://,
// jdbc:sqlite:) and opens them with Go drivers (pgx, go-sql-driver/mysql,
// modernc.org/sqlite) through database/sql. One dialect abstraction
// (dialect.go) holds what differs between the databases.
//
// Register adds both to a registry; the sluice binary does that through
// connectors/bundled.
package jdbc

import (
	"errors"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// Register adds the jdbc source and the jdbc sink to reg.
func Register(reg *connectors.Registry) error {
	return errors.Join(reg.AddSource(SourcePlugin()), reg.AddSink(SinkPlugin()))
}

// SourcePlugin returns the jdbc source's plugin declaration. ExactlyOnce is
// true: the incrementing and timestamp modes resume exactly after their
// committed offsets. Bulk mode has no offsets and stays at least once (a
// pass interrupted by a crash is read again from its start).
func SourcePlugin() connectors.SourcePlugin {
	return connectors.SourcePlugin{
		Info: connectors.Info{
			Name:    "jdbc",
			Aliases: []string{"io.confluent.connect.jdbc.JdbcSourceConnector", "JdbcSourceConnector"},
			Summary: "Polls tables or a query of PostgreSQL, MySQL/MariaDB or SQLite into topics (bulk, incrementing, timestamp, timestamp+incrementing), with Confluent's JDBC source settings and offsets.",
			Doc:     sourceDoc + typesDoc,
			Spec:    connectors.Spec{Fields: sourceFields(), Check: checkSourceConfig},
			Example: sourceExample,
		},
		ExactlyOnce: true,
		New: func(cfg *connectors.Config) (connectors.Source, error) {
			sc, err := newSourceConfig(cfg)
			if err != nil {
				return nil, err
			}
			return &source{cfg: sc}, nil
		},
	}
}

// SinkPlugin returns the jdbc sink's plugin declaration. ExactlyOnce is
// false: insert mode writes a redelivered record again; upsert mode is
// idempotent, which makes the table's content effectively once (see the
// documentation).
func SinkPlugin() connectors.SinkPlugin {
	return connectors.SinkPlugin{
		Info: connectors.Info{
			Name:    "jdbc",
			Aliases: []string{"io.confluent.connect.jdbc.JdbcSinkConnector", "JdbcSinkConnector"},
			Summary: "Writes records into tables of PostgreSQL, MySQL/MariaDB or SQLite (insert, upsert, update, deletes), creating and evolving tables, with Confluent's JDBC sink settings.",
			Doc:     sinkDoc + typesDoc,
			Spec:    connectors.Spec{Fields: sinkFields(), Check: checkSinkConfig},
			Example: sinkExample,
		},
		New: func(cfg *connectors.Config) (connectors.Sink, error) {
			sc, err := newSinkConfig(cfg)
			if err != nil {
				return nil, err
			}
			return &sink{cfg: sc}, nil
		},
	}
}

// dialectNames are Confluent's dialect.name values this connector speaks.
var dialectNames = map[string]dialectKind{
	"PostgreSqlDatabaseDialect": dialectPostgres,
	"MySqlDatabaseDialect":      dialectMySQL,
	"SqliteDatabaseDialect":     dialectSQLite,
}

func connectionFields() []connectors.ConfigField {
	return []connectors.ConfigField{
		{Name: "connection.url", Type: connectors.FieldString, Required: true,
			Doc: "The database: jdbc:postgresql://host:5432/database, jdbc:mysql://host:3306/database, jdbc:mariadb://host:3306/database, jdbc:sqlite:/path/file.db (or a postgres:// URL). Properties after ? are translated for the Go driver: user, password, ssl/sslmode/sslrootcert/sslcert/sslkey, currentSchema, ApplicationName, connectTimeout, targetServerType (PostgreSQL); user, password, useSSL, requireSSL, verifyServerCertificate, sslMode, connectTimeout, socketTimeout (MySQL). Properties that tune the JDBC driver itself (reWriteBatchedInserts, rewriteBatchedStatements, cachePrepStmts, ...) are accepted and ignored; others are refused."},
		{Name: "connection.user", Type: connectors.FieldString,
			Doc: "The database user (overrides one in the URL)."},
		{Name: "connection.password", Type: connectors.FieldString, Secret: true,
			Doc: "The user's password (overrides one in the URL)."},
		{Name: "connection.attempts", Type: connectors.FieldInt, Default: 3, Check: connectors.AtLeast(1),
			Doc: "How many times a task tries to connect at start before it fails."},
		{Name: "connection.backoff.ms", Type: connectors.FieldDuration, Default: 10000, Check: nonNegativeDuration,
			Doc: "The wait between connection attempts."},
		{Name: "dialect.name", Type: connectors.FieldString, Allowed: []string{"", "PostgreSqlDatabaseDialect", "MySqlDatabaseDialect", "SqliteDatabaseDialect"},
			Doc: "The database dialect; empty: from connection.url (it must agree with the URL when set)."},
		{Name: "db.timezone", Type: connectors.FieldString, Default: "UTC",
			Doc: "The time zone (IANA name) of date-time columns without a zone (PostgreSQL timestamp, MySQL DATETIME and TIMESTAMP as the session shows them, SQLite text): their values are wall-clock times there. Also the MySQL session's time_zone (names other than UTC need the server's time zone tables)."},
		{Name: "quote.sql.identifiers", Type: connectors.FieldString, Default: "always", Allowed: []string{"always", "never"},
			Doc: "always: quote table and column names in SQL (names keep their case); never: write them as they are (the database folds unquoted names: PostgreSQL to lower case)."},
	}
}

// connection is the parsed connection settings shared by source and sink.
type connection struct {
	spec     *connSpec
	attempts int
	backoff  time.Duration
	dialect  *dialect
}

func connectionFromConfig(cfg *connectors.Config) (*connection, error) {
	loc, err := time.LoadLocation(cfg.String("db.timezone"))
	if err != nil {
		return nil, connectors.Errorf("db.timezone", "%q is not a time zone name: %v", cfg.String("db.timezone"), err)
	}
	spec, err := parseConnectionURL(cfg.String("connection.url"), cfg.String("connection.user"), cfg.Secret("connection.password").Reveal(), loc)
	if err != nil {
		// The URL may hold a password: the message names the problem, not
		// the URL.
		return nil, connectors.Errorf("connection.url", "%v", err)
	}
	if name := cfg.String("dialect.name"); name != "" && dialectNames[name] != spec.kind {
		return nil, connectors.Errorf("dialect.name", "%s does not match connection.url, a %s URL", name, spec.kind)
	}
	return &connection{spec: spec, attempts: cfg.Int("connection.attempts"), backoff: cfg.Duration("connection.backoff.ms"),
		dialect: &dialect{kind: spec.kind, quote: cfg.String("quote.sql.identifiers") == "always", loc: loc}}, nil
}

const sourceDoc = `The jdbc source copies rows of database tables (or of one query) into Kafka topics by polling, as Confluent's JDBC source connector does, with its settings and offsets. It needs no database set-up beyond a user that may read the tables (and their catalog), and for the incremental modes an index on the columns they order by.

Tables: table.whitelist (or table.include.list) names them; otherwise every table of table.types in schema.pattern is copied, minus table.blacklist, and new tables are picked up every table.poll.interval.ms. A table's records go to topic.prefix + table name, without key (add one with the ValueToKey transform), with a struct value named after the table. query replaces tables: its rows go to the topic topic.prefix. Tasks split the tables (tasks.max).

Modes and positions (mode). Each table's source partition is {"protocol": "1", "table": "schema.table"} (MySQL: "database.table"; SQLite: "table"), {"query": "query"} for a query, and its offset {"incrementing": id, "timestamp": milliseconds, "timestamp_nanos": nanoseconds within the second}, as Confluent's connector stores them (offset protocol 1); offsets Confluent stored under protocol 0 ({"table": name}) or, with pgjdbc 42.7.5 and later, under "database.schema.table" are resumed from. Every query is ordered by the mode's columns and limited to batch.max.rows, and starts strictly after the last row read:
- bulk: the whole table every poll.interval.ms; no offsets (at least once, and every pass repeats every row).
- incrementing: WHERE id > last ORDER BY id. New rows only; exact across restarts.
- timestamp+incrementing: WHERE ts < now - delay AND ((ts = last_ts AND id > last_id) OR ts > last_ts) ORDER BY ts, id. New and updated rows, each position unique: exact across restarts. The recommended mode for changing rows.
- timestamp: WHERE ts > last_ts AND ts < now - delay ORDER BY ts. Rows sharing a timestamp have no position between them, so a poll never ends inside such a group: a batch that would end inside one is completed by a second query for the whole group, and only the group's last row carries the offset. A restart therefore neither repeats nor loses rows (Confluent can repeat part of a group after a restart). The price: one poll may hold more than batch.max.rows rows, up to the largest group sharing one timestamp.

Delivery: the incremental modes resume exactly after their committed offsets, so under the worker's exactly_once_v2 each row version is written exactly once (records and offsets commit in one transaction). Bulk mode is at least once.

Late-committing transactions (Confluent's known loss). A polling source sees rows in commit order, but orders them by a value assigned earlier (the timestamp when the row was written, the id when it was allocated). If transaction A stamps a row at 10:00:00 and commits at 10:00:05 while transaction B stamps 10:00:02 and commits at 10:00:03, a poll at 10:00:04 reads B's row and moves the offset past 10:00:02; A's row, visible from 10:00:05, is below the offset and is never read. timestamp.delay.interval.ms closes that gap: only rows stamped before the database's current time minus the delay are read. What it guarantees: with timestamps assigned by the database's clock when the row is written (DEFAULT now(), CURRENT_TIMESTAMP, a trigger), every transaction that commits within the delay of stamping its rows is read completely, because by the time a poll reaches a timestamp, every transaction that stamped it has committed. What it cannot guarantee: transactions that run longer than the delay (PostgreSQL's now() is the transaction's start time, so the delay must exceed the longest transaction's duration; MySQL's CURRENT_TIMESTAMP is the statement's time), timestamps set by application clocks that differ from the database's, rows whose timestamp is set to a time in the past, and incrementing mode, which has no timestamp to delay by (ids allocated by concurrent transactions can commit out of order: use incrementing mode only when ids become visible in order, such as a single writer, or use timestamp+incrementing with a delay). The cost is latency: rows arrive the delay after they are written. For complete change capture use the postgres-cdc or mysql-cdc connectors.

Columns: validate.non.null (default true) refuses nullable incrementing and timestamp columns (rows with nulls there are never read). A result whose columns change (a column added to the table) gets a new value schema. Rows whose values cannot be converted are reported as TASK_POLL errors with their position (dead-lettered under errors.tolerance=all). Time windows use the database's clock, never the worker's.

A lost connection is retried (the worker backs off and polls again; nothing is consumed by a failed poll).
`

const sinkDoc = `The jdbc sink writes records into database tables, as Confluent's JDBC sink connector does, with its settings. The user needs INSERT/UPDATE/DELETE on the tables, and CREATE and ALTER for auto.create and auto.evolve.

Rows: a record's value is a struct with a schema (the avro converter, or json with value.converter.schemas.enable=true) whose fields are columns; table.name.format names the table (${topic}). pk.mode picks the primary key columns: kafka (topic, partition, offset), record_key (the key's fields, or one column named by pk.fields for a primitive key), record_value (value fields), or none. fields.whitelist restricts the value columns. Records without a schema (JSON objects read with schemas.enable=false) are refused as record errors, as Confluent's sink refuses them: their columns' types are unknown.

Writing: every put (a poll of records) is written in one database transaction, in multi-row INSERT statements of up to batch.size rows prepared once per layout, and committed before the worker commits the consumer offsets. insert.mode insert writes INSERTs; upsert writes INSERT ... ON CONFLICT (key) DO UPDATE (PostgreSQL, SQLite) or INSERT ... ON DUPLICATE KEY UPDATE (MySQL); update writes UPDATE ... WHERE key. With delete.enabled (pk.mode=record_key) a tombstone deletes its key's row; deletes and writes of one put keep their order per key. Within a put, several records of one key in upsert or update mode collapse to the last.

Delivery: records are delivered again after a crash (from the last committed consumer offset). In upsert mode that rewrites the same rows with the same values (and deletes apply again), so the table ends exactly as if each record had been written once: effectively once. In insert mode a redelivered record is inserted again: a duplicate row without a key, or a duplicate-key error (a record error) with one; pk.mode=kafka makes inserts idempotent only together with insert.mode=upsert. update mode is idempotent.

Replaying change events (postgres-cdc, mysql-cdc, Debezium): flatten them with the ExtractNewRecordState transform (io.debezium.transforms.ExtractNewRecordState; its default keeps the tombstone written after each delete), route topic names to table names with RegexRouter (or set table.name.format), and set insert.mode=upsert, pk.mode=record_key, delete.enabled=true: each row version is upserted by its primary key and each tombstone deletes its row, so the table converges to the source's content, also when events are delivered again.

Tables: auto.create creates a missing table from the first record's schemas (CREATE TABLE IF NOT EXISTS, NOT NULL for required fields, the primary key of pk.mode); auto.evolve adds a nullable column for each new field (ALTER TABLE ADD COLUMN). Columns are never dropped, renamed or narrowed, and existing column types are never changed: values are converted to the column's type.

Errors: a row the database refuses (a constraint violation, a value out of range or of the wrong type, a duplicate key in insert mode) does not fail the put: the put is written again row by row in one transaction, and each refused row is reported (dead-lettered under errors.tolerance=all, failing the task under none) while the others are written. Records that cannot become rows (a missing key field, a tombstone without delete.enabled, a field without a column) are reported the same way. A lost connection, a deadlock or a serialization failure is retried max.retries times, retry.backoff.ms apart (as a RetriableError, so the worker hands the same records again), then fails the task. A table changed under the task (a column dropped) is described again and the put retried once.
`

const typesDoc = `
Type mapping, source (column -> Connect). PostgreSQL: boolean -> boolean; smallint -> int16; integer -> int32; bigint -> int64; real -> float32; double precision -> float64; numeric(p,s) -> by numeric.mapping (Decimal with scale s by default; unconstrained numeric -> string, or float64 with best_fit); bytea -> bytes; date -> Date; time -> Time; timestamp -> Timestamp (wall clock in db.timezone); timestamptz -> Timestamp; arrays of boolean, integers and floats -> arrays of them, other arrays -> array of string; text, varchar, char, uuid, json, jsonb, interval, enums and every other type -> string (their text). MySQL/MariaDB: TINYINT(1) and BIT(1) -> boolean; TINYINT -> int8; SMALLINT, TINYINT UNSIGNED -> int16; MEDIUMINT, INT, SMALLINT UNSIGNED, MEDIUMINT UNSIGNED, YEAR -> int32; BIGINT, INT UNSIGNED -> int64; BIGINT UNSIGNED -> Decimal(0); FLOAT -> float32; DOUBLE -> float64; DECIMAL(p,s) -> by numeric.mapping; BINARY, VARBINARY, BLOBs -> bytes; DATE -> Date; TIME -> Time; DATETIME, TIMESTAMP -> Timestamp (in db.timezone); CHAR, VARCHAR, TEXTs, ENUM, SET, JSON -> string. SQLite (by declared type): BOOLEAN -> boolean; TINYINT -> int8; SMALLINT -> int16; INT, MEDIUMINT -> int32; INTEGER, BIGINT and other *INT* -> int64; FLOAT4 -> float32; REAL, DOUBLE, FLOAT -> float64; DECIMAL(p,s), NUMERIC(p,s) -> by numeric.mapping (values are stored as REAL: exact to 15 digits); DATE -> Date; TIME -> Time; DATETIME, TIMESTAMP -> Timestamp (text, wall clock in db.timezone; compared at the millisecond); BLOB -> bytes; everything else -> string. Nullable columns give optional fields (all columns of a query, where nullability is unknown, except what MySQL reports).

Type mapping, sink (Connect -> column created by auto.create/auto.evolve; PostgreSQL / MySQL / SQLite): int8 SMALLINT / TINYINT / TINYINT; int16 SMALLINT / SMALLINT / SMALLINT; int32 INT / INT / INT; int64 BIGINT / BIGINT / BIGINT; float32 REAL / FLOAT / FLOAT4; float64 DOUBLE PRECISION / DOUBLE / DOUBLE; boolean BOOLEAN / BOOLEAN / BOOLEAN; string TEXT / LONGTEXT (VARCHAR(256) in a key) / TEXT; bytes BYTEA / LONGBLOB (VARBINARY(256) in a key) / BLOB; Decimal NUMERIC(p,s) / DECIMAL(p,s) / DECIMAL(p,s) with p from the connect.decimal.precision parameter, else 65; Date DATE; Time TIME / TIME(3) / TIME; Timestamp TIMESTAMP (wall clock in db.timezone) / DATETIME(3) / TIMESTAMP (text); arrays of primitives: PostgreSQL arrays (INT[], TEXT[], ...), else JSON; maps and structs: JSONB / JSON / TEXT, as Kafka Connect's JsonConverter writes payloads. Into existing columns values are converted to the column's type (numbers to text, text to numbers, times to dates, ...); a value that does not convert is a record error. Debezium's semantic types (postgres-cdc and mysql-cdc with time.precision.mode=adaptive, their default) are written as what they mean, as Debezium's own JDBC sink does (Confluent's writes the bare numbers): io.debezium.time.Date -> DATE; Time, MicroTime, NanoTime -> TIME / TIME(3 or 6) / TIME; Timestamp, MicroTimestamp, NanoTimestamp (a zoneless wall clock) -> TIMESTAMP / DATETIME(3 or 6) / TIMESTAMP, the same wall clock; ZonedTimestamp -> TIMESTAMPTZ / DATETIME(6) in db.timezone / TIMESTAMP; io.debezium.data.Json -> JSONB / JSON / TEXT; Uuid -> UUID / CHAR(36) / TEXT; VariableScaleDecimal -> NUMERIC / DECIMAL(65,30) / NUMERIC. Into an existing integer or floating-point column their numbers are written as they are. Round trips through the sink and the source give the same types except: int8 in PostgreSQL comes back as int16; maps, structs and non-PostgreSQL arrays come back as JSON strings; times lose precision below the millisecond (Connect's precision).
`

const sourceExample = `name: orders-from-postgres
type: jdbc
connection.url: jdbc:postgresql://db.internal:5432/shop
connection.user: sluice
connection.password: ${env:SHOP_DB_PASSWORD}
table.whitelist: public.orders,public.customers
mode: timestamp+incrementing
timestamp.column.name: updated_at
incrementing.column.name: id
timestamp.delay.interval.ms: 5000
topic.prefix: shop.
poll.interval.ms: 1000
batch.max.rows: 500
value.converter: avro
value.converter.schema.registry.url: http://registry:8081
`

const sinkExample = `name: orders-to-mysql
type: jdbc
topics: shop.orders
connection.url: jdbc:mysql://warehouse.internal:3306/dw
connection.user: sluice
connection.password: ${env:DW_PASSWORD}
table.name.format: orders
insert.mode: upsert
pk.mode: record_key
delete.enabled: true
auto.create: true
auto.evolve: true
value.converter: avro
value.converter.schema.registry.url: http://registry:8081
key.converter: avro
key.converter.schema.registry.url: http://registry:8081
`
