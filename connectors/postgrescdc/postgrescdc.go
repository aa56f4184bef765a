// Package postgrescdc is the postgres-cdc source connector: change data
// capture from PostgreSQL through logical replication (pgoutput), in the
// format of Debezium's PostgreSQL connector, exactly once into Kafka.
//
// Register adds the connector type "postgres-cdc" (alias Debezium's
// io.debezium.connector.postgresql.PostgresConnector) to a registry; the
// bundled registry does so for the sluice binary. The connector's Info.Doc
// describes set-up, snapshots, offsets and the type mapping.
package postgrescdc

import "github.com/sluicehq/sluice/connectors"

// Register adds the postgres-cdc source connector to reg.
func Register(reg *connectors.Registry) error {
	return reg.AddSource(connectors.SourcePlugin{
		Info:        info,
		ExactlyOnce: true,
		New:         newSource,
	})
}

var info = connectors.Info{
	Name:    "postgres-cdc",
	Aliases: []string{"io.debezium.connector.postgresql.PostgresConnector", "PostgresConnector"},
	Summary: "Streams PostgreSQL row changes (logical replication, pgoutput) as Debezium change events, with consistent snapshots, incremental snapshots and heartbeats, exactly once.",
	Doc:     doc,
	Spec:    spec,
	Example: `name: inventory-cdc
type: postgres-cdc
database.hostname: 127.0.0.1
database.port: 5432
database.user: cdc
database.password: ${env:PGPASSWORD}
database.dbname: inventory
topic.prefix: dbserver1
table.include.list: public.customers,public.orders
slot.name: sluice_inventory
publication.name: sluice_inventory
signal.data.collection: public.debezium_signal
heartbeat.interval.ms: 10000
key.converter: avro
key.converter.schema.registry.url: http://127.0.0.1:8081
value.converter: avro
value.converter.schema.registry.url: http://127.0.0.1:8081`,
}

const doc = `Captures the row changes of a PostgreSQL database (10 or later; tested with 15) through logical replication with the built-in pgoutput plug-in, and writes them as Debezium change events: the same topics, keys, envelopes, source blocks, schema names and type mapping as Debezium's PostgreSQL connector (its configuration names too), so Debezium consumers, Kafka Connect sinks and Kafka Streams applications read them unchanged.

Events. Each captured table has the topic <topic.prefix>.<schema>.<table>. The key is the primary key (else the replica identity index; null without either), as a struct named <topic>.Key. The value is the envelope <topic>.Envelope: before, after (structs <topic>.Value), source (io.debezium.connector.postgresql.Source: version "1.0.0.Sluice", connector "postgresql", name = topic.prefix, ts_ms/ts_us/ts_ns = the commit time, snapshot, db, sequence ["<last commit LSN>","<LSN>"], schema, table, txId, lsn, xmin = null), op (c create, u update, d delete, r read by a snapshot, t truncate), ts_ms/ts_us/ts_ns (when the connector processed it), transaction (null). A delete is followed by a tombstone (tombstones.on.delete). A primary key update is a delete of the old key (with its tombstone, header __debezium.newkey) followed by a create of the new one (header __debezium.oldkey), as Debezium emits it. Truncates are skipped unless skipped.operations leaves t out. The before image of updates and deletes depends on the table's REPLICA IDENTITY: DEFAULT gives no before image for updates and only the key columns for deletes; FULL gives the whole old row. Key columns are required fields and every other column is optional (unlike Debezium, which marks NOT NULL columns required): that is what lets a delete's before image hold only the key and keeps every schema change compatible.

Schema changes. pgoutput sends a table's new column list (a Relation message) before its first change after an ALTER TABLE; the connector compiles a new schema version from it, which the converter registers (Avro: under Debezium's subject names, <topic>-key and <topic>-value) before writing the first event that uses it. Added columns are new optional fields, dropped columns disappear: both are backward- and forward-compatible changes. An enum that gains a value (ALTER TYPE ... ADD VALUE) gets a new schema with the new allowed list at its first use. Primary key changes are read from the catalog when the Relation message arrives (put writes on hold while changing a primary key, as Debezium advises).

Type mapping (value schemas; "name" is the semantic type):
  boolean                         BOOLEAN
  bit(1), varbit(1)               BOOLEAN
  bit(n), varbit(n)               BYTES io.debezium.data.Bits (parameter length; little-endian bits)
  smallint, smallserial           INT16
  integer, serial                 INT32
  bigint, bigserial, oid          INT64
  real                            FLOAT32
  double precision                FLOAT64
  numeric(p,s), decimal(p,s)      BYTES org.apache.kafka.connect.data.Decimal (scale s, connect.decimal.precision p)    [decimal.handling.mode=precise]
  numeric, decimal (no scale)     STRUCT io.debezium.data.VariableScaleDecimal {scale INT32, value BYTES}                  [precise]
  numeric, decimal, money         FLOAT64 [double]; STRING [string]; NaN is "NAN" or NaN, and cannot be precise (an error)
  money                           BYTES Decimal (scale money.fraction.digits)                                             [precise]
  char, varchar, text, bpchar, name, citext, inet, cidr, macaddr, macaddr8, tsvector, int4range, int8range, numrange, tsrange, tstzrange, daterange   STRING
  json, jsonb                     STRING io.debezium.data.Json
  xml                             STRING io.debezium.data.Xml
  uuid                            STRING io.debezium.data.Uuid
  ltree                           STRING io.debezium.data.Ltree
  enum types                      STRING io.debezium.data.Enum (parameter allowed: the labels in their sort order)
  bytea                           BYTES [binary.handling.mode=bytes]; STRING base64, base64-url-safe or hex
  date                            INT32 io.debezium.time.Date (days since the epoch; infinity as the int32 limits) [time.precision.mode=adaptive, adaptive_time_microseconds, microseconds, nanoseconds]; Kafka Connect Date [connect]; STRING io.debezium.time.IsoDate [isostring]
  time(0..3)                      INT32 io.debezium.time.Time (ms) [adaptive]
  time(4..6), time                INT64 io.debezium.time.MicroTime (µs) [adaptive]; always MicroTime [adaptive_time_microseconds, microseconds]; INT64 NanoTime [nanoseconds]; Kafka Connect Time (ms) [connect]; STRING IsoTime [isostring]
  timestamp(0..3)                 INT64 io.debezium.time.Timestamp (ms since the epoch, as UTC) [adaptive, adaptive_time_microseconds]
  timestamp(4..6), timestamp      INT64 io.debezium.time.MicroTimestamp (µs) [adaptive, adaptive_time_microseconds, microseconds]; NanoTimestamp [nanoseconds]; Kafka Connect Timestamp [connect]; STRING IsoTimestamp [isostring]; infinity as 9223372036825200000 and -9223372036832400000, as Debezium
  timestamptz                     STRING io.debezium.time.ZonedTimestamp (ISO-8601 in UTC, the column's fractional digits: 2024-01-02T03:04:05.123456Z; infinity stays "infinity")
  timetz                          STRING io.debezium.time.ZonedTime (in UTC: 11:45:12.123Z)
  interval                        INT64 io.debezium.time.MicroDuration (approximate µs, 365.25/12 days a month) [interval.handling.mode=numeric]; STRING io.debezium.time.Interval (P1Y2M3DT4H5M6.78S) [string]
  point                           STRUCT io.debezium.data.geometry.Point {x, y FLOAT64, wkb BYTES (OGC WKB), srid INT32 null}
  arrays of any of these          ARRAY of the element's schema (optional elements); multi-dimensional arrays are an error
  domains                         as their base type
  other types (hstore, geometric types other than point, composite types, PostGIS, ...): left out of events with a warning naming the column, or, with include.unknown.datatypes=true, STRING holding PostgreSQL's text.

TOAST. PostgreSQL does not repeat an unchanged TOASTed value (a large text, bytea, json or array) in an UPDATE unless the table has REPLICA IDENTITY FULL. With FULL the connector takes it from the old row, so the event is exact. Without it, the field holds unavailable.value.placeholder (__debezium_unavailable_value; its bytes for bytea, a one-element list for arrays of strings) and the connector logs a warning naming the table the first time; a column whose type cannot hold the placeholder (a numeric, an array of numbers) makes the event an error that names the table and says to set REPLICA IDENTITY FULL. Never a silent wrong value.

Set-up.
  1. postgresql.conf: wal_level = logical; max_replication_slots and max_wal_senders at least one more than the slots in use (two during a snapshot taken while the slot already exists: a temporary slot provides it); consider max_slot_wal_keep_size, which bounds the WAL a stalled slot may keep (a slot past it is invalidated: when_needed then takes a new snapshot after you drop it).
  2. A user with the REPLICATION attribute (CREATE ROLE cdc REPLICATION LOGIN PASSWORD '...'; on RDS: GRANT rds_replication TO cdc), CONNECT on the database, USAGE on the schemas and SELECT on the captured tables; pg_hba.conf must allow it to connect to the database (replication connections to a database match the database's entries, not "replication").
  3. The publication: with publication.autocreate.mode=filtered (the default) the connector creates publication.name FOR TABLE the captured tables (and the signal table), and resets its table list when the include lists change, for which the user must own the tables (or be a superuser); create it yourself (CREATE PUBLICATION dbz_publication FOR TABLE ...) and set disabled otherwise. all_tables creates it FOR ALL TABLES (superuser).
  4. REPLICA IDENTITY: tables without a primary key need REPLICA IDENTITY FULL (or USING INDEX) for PostgreSQL to accept their updates and deletes once published; set FULL where events need whole before images or exact unchanged TOASTed values (it costs WAL volume).
  5. The slot: created at the first start (slot.name); it holds WAL until the connector confirms it, so drop it (SELECT pg_drop_replication_slot('debezium')) when you retire the connector. slot.drop.on.stop=true drops it at every graceful stop (tests only).
  6. A signal table for incremental snapshots: CREATE TABLE debezium_signal (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048)); the connector's user needs INSERT and DELETE on it.
Only one task runs (a slot has one reader); tasks.max is ignored beyond 1.

Snapshots (snapshot.mode). initial (default): when the connector has no offsets, it creates the slot with an exported snapshot, reads every captured table (snapshot.include.collection.list) in that snapshot with COPY, ordered by key, as read events (source.snapshot first, true, first_in_data_collection, last_in_data_collection, last), then streams from the slot's consistent point: no change is missed or repeated. If the slot already exists without offsets, a temporary slot provides a snapshot consistent with the position the real slot then streams from. initial_only: the same snapshot, without a slot; then the task finishes. no_data: no snapshot; stream from the slot's position (creating the slot if missing). when_needed: as initial, and also when the slot is missing (its position is gone). always: a new snapshot at every start. An interrupted snapshot (a crash, a lost server) resumes after the last row Kafka holds: the remaining rows are read as an incremental snapshot while changes stream from the consistent point, and a row whose current version the original snapshot could not see (its xmin) is left to the stream, which carries that change; so a crash in the middle repeats no row, reads no row that the stream also creates, and misses no change (initial_only, which has no stream, reads the rest in a new transaction). Tables without a primary key are ordered by ctid (their rows can be read twice if updated while the snapshot is interrupted).

Incremental snapshots. Insert into the signal table (signal.data.collection) a row with type execute-snapshot and data {"data-collections": ["public.orders"], "type": "incremental"} (entries are regular expressions over schema.table; "additional-conditions": [{"data-collection": "public.orders", "filter": "region = 'EU'"}] restricts the rows); stop-snapshot stops it, pause-snapshot and resume-snapshot pause it. Tables are read in chunks of incremental.snapshot.chunk.size rows by key while changes stream, with Netflix DBLog's watermarks: the connector writes snapshot-window-open and snapshot-window-close rows to the signal table around each chunk and drops from the chunk every row that a change streamed before the close row touches, so a snapshot row never overwrites a newer change. Read events have source.snapshot=incremental. Progress is in the offsets: after a crash the current chunk is read again. Signals from the signal table arrive through the stream, so each is acted on exactly once.

Signal topic. With signal.enabled.channels=kafka (or source,kafka) the same signals also come from a Kafka topic (signal.kafka.topic, default <topic.prefix>-signal, partition 0, read committed, from signal.kafka.bootstrap.servers, with TLS and SASL set by signal.consumer.* as Debezium's pass-through), as Debezium's Kafka signal channel: a record whose key is the topic.prefix and whose value is {"type": "execute-snapshot", "data": {"data-collections": ["public.orders"], "type": "INCREMENTAL"}} (data may also be a JSON string); records keyed otherwise belong to other connectors and are skipped. The next offset to read is kept in the connector's own offsets (incremental_snapshot_signal_offset), written in the same Kafka transaction as the events that follow the signal, so each signal is acted on exactly once across crashes; there is no consumer group. A connector without offsets starts at the topic's end (signals sent before its first start are ignored). Without a signal table the chunk watermarks are logical decoding messages (pg_logical_emit_message), so incremental snapshots need no write access to a table.

Offsets and exactly-once. The source partition is {"server": topic.prefix}. The offset holds Debezium's lsn, txId, ts_usec, lsn_proc and lsn_commit, and resume_lsn and resume_events: the exact resume point, the commit LSN of the transaction being streamed and how many of its changes were written (a transaction may span several polls and Kafka transactions), or the position between transactions. After a crash the connector streams from resume_lsn and skips what was written, so under exactly_once_v2 (KIP-618) every change reaches Kafka exactly once; at least once otherwise. The slot's confirmed position (confirmed_flush_lsn) is advanced only in Commit, after the Kafka transaction holding the changes committed, so a crash never loses WAL the connector still needs; when everything written is committed the connector also confirms the positions the server reports in its keepalives, so a slot whose tables are idle does not hold WAL that other tables' traffic produces. A lost connection (a server restart) is retried: streaming resumes at the last change handled.

Heartbeats. heartbeat.interval.ms writes a logical decoding message (pg_logical_emit_message) at that interval and, when it comes back through the slot, a record to __debezium-heartbeat.<topic.prefix> (key io.debezium.connector.common.ServerNameKey, value io.debezium.connector.common.Heartbeat) whose offset carries the position: the offsets and the slot keep moving while the captured tables are idle. heartbeat.action.query runs a statement at each heartbeat.

Metrics. Every metrics.log.interval.ms the task logs (the connector SDK gives tasks no metrics registry yet; the worker's own per-task metrics, records polled and written, commit times, are exported as usual) the slot's lag in bytes (pg_current_wal_lsn() minus confirmed_flush_lsn), the confirmed position, the number of events and the last event's commit time, and while a snapshot runs its rows, tables and estimated percent.

Not supported: other decoding plug-ins (decoderbufs, wal2json), transaction metadata topics (provide.transaction.metadata), message events for logical decoding messages (op m), the jmx and file signal channels and TLS/SASL for the signal topic's consumer, blocking snapshots, message.key.columns, column masking and truncation options (use transforms), publish_via_partition_root (partitions are captured as their own tables).`
