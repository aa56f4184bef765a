// Package mysqlcdc is the mysql-cdc source connector: change data capture
// from MySQL 8 and MariaDB 10.11 through the row-based binary log, with
// Debezium's MySQL connector's configuration names, event envelope,
// topics and source block, and exactly-once delivery into Kafka.
//
// Register adds the connector type "mysql-cdc" to a registry; the bundled
// registry does so for the sluice binary. The connector's documentation
// (`sluice connectors describe mysql-cdc`) covers set-up, snapshots,
// schema history, offsets and the type mapping.
package mysqlcdc

import "github.com/sluicehq/sluice/connectors"

var info = connectors.Info{
	Name:    "mysql-cdc",
	Aliases: []string{"io.debezium.connector.mysql.MySqlConnector", "MySqlConnector", "io.debezium.connector.mariadb.MariaDbConnector"},
	Summary: "Change data capture from MySQL 8 and MariaDB through the row binlog: a consistent snapshot, then every insert, update, delete and schema change, as Debezium's MySQL connector writes them, exactly once.",
	Doc:     doc,
	Spec:    spec,
	Example: `name: inventory-cdc
type: mysql-cdc
database.hostname: 127.0.0.1
database.port: 3306
database.user: cdc
database.password: ${env:MYSQL_CDC_PASSWORD}
database.server.id: 184054
topic.prefix: dbserver1
database.include.list: inventory
snapshot.mode: initial
heartbeat.interval.ms: 10000
key.converter: json
key.converter.schemas.enable: true
value.converter: json
value.converter.schemas.enable: true`,
}

const doc = `Reads a MySQL 8 or MariaDB 10.11 server's row-based binary log like a replica and writes one change event per row change, in Debezium's MySQL connector's format, to <topic.prefix>.<database>.<table>; a consistent snapshot of the existing rows comes first. Configuration names and semantics are Debezium's (database.hostname, topic.prefix, table.include.list, snapshot.mode, decimal.handling.mode, ...). One task reads the binlog in order; tasks.max is ignored beyond 1.

Set-up (server). The binlog on, in row format with full row images, and a server id (a replica needs one too; database.server.id is the connector's, different from every server's and replica's):
  MySQL 8:   server-id=1  log_bin=mysql-bin  binlog_format=ROW  binlog_row_image=FULL  gtid_mode=ON  enforce_gtid_consistency=ON (GTIDs optional; recommended)
  MariaDB:   server_id=1  log_bin=mysql-bin  binlog_format=ROW  binlog_row_image=FULL  (GTIDs are always on)
Keep binlogs long enough for the connector to catch up after downtime (binlog_expire_logs_seconds). The connector checks log_bin, binlog_format and binlog_row_image at start and names what to change. binlog_row_value_options must not be PARTIAL_JSON. For source.query set include.query=true and binlog_rows_query_log_events=ON (MySQL) or binlog_annotate_row_events=ON (MariaDB).
Set-up (user). GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'cdc'@'%'; (MariaDB 10.5+: REPLICATION CLIENT is named BINLOG MONITOR, and REPLICATION SLAVE REPLICA; SELECT may be limited to the captured databases). RELOAD is for the snapshot's FLUSH TABLES WITH READ LOCK (snapshot.locking.mode=none does without). Wrong credentials, a missing privilege (MariaDB refuses the replica registration without REPLICATION SLAVE as "access denied") and a binlog position the server no longer has stop the task at once with an error that names the fix, rather than retrying until errors.retry.timeout.

Events. The key is the primary key's columns (schema <topic>.Key), or the message.key.columns override; tables without either have null keys. The value is Debezium's envelope <topic>.Envelope: before, after (structs <topic>.Value with every captured column), source, transaction (null), op (r for snapshot rows, c, u, d, t for truncates when skipped.operations allows), ts_ms, ts_us, ts_ns (the connector's processing time). An update that changes the primary key is a delete (header __debezium.newkey: the new key as JSON), its tombstone, and a create (header __debezium.oldkey). A delete is followed by a tombstone (key, null value) unless tombstones.on.delete=false. The record timestamp is the change's commit time.
The source block is io.debezium.connector.mysql.Source: version ("` + connectorVersion + `": the events are Debezium's format, not made by Debezium), connector ("mysql", also for MariaDB), name (topic.prefix), ts_ms/ts_us/ts_ns (commit time: MySQL's original commit timestamp, else the event's second), snapshot (true, first, first_in_data_collection, last_in_data_collection, last; false while streaming), db, sequence (null), table, server_id (0 in snapshots), gtid (MariaDB "domain-server-seq", MySQL "uuid:n"; null in snapshots and without GTIDs), file and pos (the binlog file and the event's position; the snapshot's position in snapshots), row (the row's index in its row event), thread (the session's id when the binlog has it: MySQL, DDL on MariaDB), query (include.query).
Schema change events (include.schema.changes) go to the topic named topic.prefix, keyed by io.debezium.connector.mysql.SchemaChangeKey {databaseName}, valued io.debezium.connector.mysql.SchemaChangeValue {source, ts_ms, databaseName, schemaName, ddl, tableChanges: [{type CREATE|ALTER|DROP, id "db"."table" (a renamed table: "old","new"), table {defaultCharsetName, primaryKeyColumnNames, columns [{name, jdbcType, typeName, typeExpression, charsetName, length, scale, position, optional, autoIncremented, generated, enumValues}]}}]}: one per DDL statement and database; the snapshot writes one per captured table with SHOW CREATE TABLE's statement. Heartbeats (heartbeat.interval.ms) go to __debezium-heartbeat.<topic.prefix>: key {serverName}, value {ts_ms}; one heartbeat is also written when a snapshot completes without any row (no_data, empty tables), whatever heartbeat.interval.ms says, so that the completed position is committed before streaming starts.

Snapshot (snapshot.mode). initial (default): at the first start, a consistent snapshot of the captured tables, then the binlog from the snapshot's position; initial_only: the snapshot, then the task finishes; no_data (alias schema_only): the structures and the position only; when_needed: a snapshot also when the committed binlog file was purged; always: a snapshot at every start; recovery (alias schema_only_recovery): keep the committed position but rebuild the structures from the catalog (only right when no schema change happened since that position). Not available: never (stream from the first binlog file without any snapshot), configuration_based and custom.
How the snapshot is consistent: on one connection, FLUSH TABLES WITH READ LOCK; START TRANSACTION WITH CONSISTENT SNAPSHOT; the binlog position of that instant (MariaDB: the session's binlog_snapshot_file/position, exact even without the lock, and BINLOG_GTID_POS of it; MySQL: SHOW BINARY LOG STATUS / SHOW MASTER STATUS, exact because the lock stops commits); the captured tables' structures from information_schema, and a shared metadata lock on each (a LIMIT 0 read in the transaction: DDL on a captured table waits until the snapshot ends); UNLOCK TABLES (writes resume within milliseconds; with snapshot.locking.mode=extended the lock is kept to the end; with none it is never taken); the schema history records are committed; then each table's rows are read in that transaction (explicit columns, binary protocol, so FLOAT values are exact) as op=r events; COMMIT; streaming starts at the position read. Every row committed before the position is in the snapshot and every change after it is streamed: no gap and no duplicate. A snapshot interrupted by a crash or a lost connection starts over from the beginning (its offset says snapshot=true), so rows already written are written again (op=r, same keys), as Debezium does.

Schema history. Row events carry values, not column names (and, without binlog_row_metadata, not even signedness or ENUM values), so decoding an event needs the table's structure as of the event's position, which the catalog no longer has once later DDL ran. The connector keeps that history: the snapshot reads the structures at its position; while streaming, each DDL of the binlog is parsed with a MySQL grammar (TiDB's parser) and applied (CREATE, CREATE ... LIKE, ALTER ADD/DROP/MODIFY/CHANGE/RENAME COLUMN, PRIMARY KEY, CONVERT TO CHARACTER SET, RENAME, DROP, DROP DATABASE); each change is a new schema version, and the next event of the table is decoded with it, so events before and after an ALTER each have their own schema. Every table map of the binlog is checked against the structure (column count; types, decimal precision and scale, fractional seconds, bit widths); an unparsable statement, an unknown captured table or a mismatch falls back to the catalog, used only if it matches the binlog, else inconsistent.schema.handling.mode decides (fail by default: never wrong data). Implicit character sets of columns added by DDL are resolved from the table's or database's defaults.
MariaDB-only syntax that does not change structures (CREATE OR REPLACE, ALTER ONLINE, ALGORITHM=NOCOPY, WAIT n, INVISIBLE) is read too; what the grammar lacks (spatial column types, system versioning) takes the catalog path. The catalog path is only as right as the catalog at the moment the row event is read: a later DDL on the same table already run on the server (when catching up after downtime) makes the table map disagree and stops the connector (inconsistent.schema.handling.mode) rather than produce wrong data, except for changes the table map cannot show (a column renamed, keeping its type).
Each version is stored as the source offset of a table partition {"server", "table"} carried by the version's record in the schema history topic (schema.history.internal.kafka.topic, default <topic.prefix>.schema-history: Debezium-style records, one per table version, for inspection; the connector does not read it back), and the main offset carries schema_seq, the number of the last version at its position. Under exactly-once a version, its record and the positions after it commit in one transaction; after a restart each table's structure is its last version at or before the restart position's schema_seq, so events after a restart (even between a DDL and its table's next events) are decoded with the schema they were written with. Under at-least-once a table partition keeps the versions since the last committed position and the main offset lists versions not yet confirmed durable (schemas_pending), so a partly written commit still restores the right structures.

Offsets and delivery. The source partition is {"server": topic.prefix}; its offset has Debezium's fields: file and pos (where to restart: the start of the transaction in progress, or the next event), gtids (the transactions completed), event (events of the transaction in progress already processed) and row (rows of the next event already emitted), server_id, ts_sec, snapshot (while snapshotting), plus schema_epoch, schema_seq and schemas_pending. A restart reads from the GTID set when the offset has one (so the connector can follow a replica after a failover), else from the file and position, and skips what was already emitted: a crash, a lost connection or a server restart in the middle of a transaction neither loses nor repeats a row. With the worker's exactly-once mode (exactly_once_v2) every change event is in Kafka exactly once (read_committed); a transaction's events keep their commit order (one task, ordered). Records of a large transaction may span several Kafka transactions. Under at-least-once a crash may repeat events since the last committed offset.
Binlog connection: the connector registers as a replica with database.server.id, reads with a bounded queue (max.queue.size), reconnects after a lost connection (retried with the worker's backoff, errors.retry.timeout) and resumes at the position reached. Heartbeats (heartbeat.interval.ms) let the committed position follow the binlog while captured tables are idle and others are busy, so a restart neither rereads a long stretch nor fails on purged binlogs.

Type mapping (Kafka Connect type, semantic name):
  TINYINT, TINYINT(1), BOOLEAN   int16 (Debezium maps BOOLEAN columns read in snapshots to int16 too; this connector always does, so a column has one schema)
  SMALLINT                       int16; UNSIGNED: int32
  MEDIUMINT [UNSIGNED]           int32
  INT                            int32; UNSIGNED: int64
  BIGINT                         int64; UNSIGNED: int64 (wraps above 2^63-1) or, bigint.unsigned.handling.mode=precise, Decimal(20,0)
  DECIMAL(M,D), NUMERIC          bytes org.apache.kafka.connect.data.Decimal (scale D, connect.decimal.precision M); float64 (double) or string (string) by decimal.handling.mode
  FLOAT                          float32; FLOAT(M,D) and FLOAT(p>24): float64
  DOUBLE, REAL                   float64
  BIT(1)                         boolean
  BIT(n>1)                       bytes io.debezium.data.Bits (length n; little-endian, ceil(n/8) bytes)
  CHAR, VARCHAR, TEXT types      string (decoded from the column's character set: utf8mb3/utf8mb4, ascii, latin1 and the common single- and multi-byte sets)
  BINARY, VARBINARY, BLOB types  bytes (BINARY(n) padded to n), or base64 / base64-url-safe / hex strings by binary.handling.mode
  JSON (MySQL; MariaDB's JSON, a LONGTEXT with a json_valid check)   string io.debezium.data.Json
  ENUM                           string io.debezium.data.Enum (parameter allowed: the values)
  SET                            string io.debezium.data.EnumSet (allowed: the values; the value: the members, comma-separated)
  YEAR                           int32 io.debezium.time.Year
  DATE                           int32 io.debezium.time.Date (days since 1970-01-01); connect: org.apache.kafka.connect.data.Date
  TIME(fsp)                      int64 io.debezium.time.MicroTime (microseconds; negative and over 24 h allowed); adaptive and fsp<=3: int32 io.debezium.time.Time (ms); connect: org.apache.kafka.connect.data.Time
  DATETIME(0..3)                 int64 io.debezium.time.Timestamp (ms since the epoch, the value read as UTC); connect: org.apache.kafka.connect.data.Timestamp
  DATETIME(4..6)                 int64 io.debezium.time.MicroTimestamp (µs); connect: org.apache.kafka.connect.data.Timestamp
  TIMESTAMP(fsp)                 string io.debezium.time.ZonedTimestamp (UTC, ISO 8601, exactly fsp fractional digits: 2024-01-02T03:04:05.500Z)
  GEOMETRY, POINT, ... types     struct io.debezium.data.geometry.Geometry {wkb bytes, srid int32}
Nullable columns are optional fields. A column's constant DEFAULT is its field's default (Connect default, Avro "default"), as in Debezium, so adding a NOT NULL column with a DEFAULT is a BACKWARD-compatible schema change; expression defaults (CURRENT_TIMESTAMP, functions) and NULL give no default. Zero dates (0000-00-00) are null in nullable columns and the epoch in NOT NULL ones. Other types (MariaDB's UUID, INET4, INET6, MySQL's VECTOR) fail the table's schema with an error naming the column: exclude such columns with column.exclude.list.

Not supported: XA transactions (their rows are emitted at XA PREPARE, even if later rolled back), MariaDB's compressed columns (COMPRESSED; log_bin_compress is fine), incremental (ad hoc) snapshots and signals, transaction metadata events (provide.transaction.metadata), custom converters (Debezium's converters=...), TLS to the database (database.ssl.*), column masking and truncation. A compressed MySQL transaction payload (binlog_transaction_compression) is emitted in one poll whatever max.batch.size.`
