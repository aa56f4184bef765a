package postgrescdc

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/kafka"
)

// Snapshot modes (snapshot.mode), Debezium's names.
const (
	snapshotInitial     = "initial"
	snapshotInitialOnly = "initial_only"
	snapshotNoData      = "no_data"
	snapshotWhenNeeded  = "when_needed"
	snapshotAlways      = "always"
)

// Publication auto-creation modes (publication.autocreate.mode).
const (
	pubAllTables = "all_tables"
	pubDisabled  = "disabled"
	pubFiltered  = "filtered"
	pubNoTables  = "no_tables"
)

func atLeast(n int64) func(any) error { return connectors.AtLeast(n) }

func nonNegativeDuration(v any) error {
	if v.(time.Duration) < 0 {
		return fmt.Errorf("must not be negative, got %v", v)
	}
	return nil
}

func positiveDuration(v any) error {
	if v.(time.Duration) <= 0 {
		return fmt.Errorf("must be positive, got %v", v)
	}
	return nil
}

// identifierRE is what slot and publication names may be: PostgreSQL's
// slot names allow lower-case letters, digits and underscores only.
var identifierRE = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

func checkSlotName(v any) error {
	if !identifierRE.MatchString(v.(string)) {
		return fmt.Errorf("%q is not a valid replication slot name (lower-case letters, digits and underscores, at most 63)", v)
	}
	return nil
}

func checkRegexList(v any) error {
	for _, p := range v.([]string) {
		if _, err := regexp.Compile(p); err != nil {
			return fmt.Errorf("%q is not a regular expression: %v", p, err)
		}
	}
	return nil
}

var spec = connectors.Spec{
	Fields: []connectors.ConfigField{
		{Name: "database.hostname", Type: connectors.FieldString, Required: true,
			Doc: "The PostgreSQL server's host name or IP address."},
		{Name: "database.port", Type: connectors.FieldInt, Default: 5432, Check: atLeast(1),
			Doc: "The PostgreSQL server's port."},
		{Name: "database.user", Type: connectors.FieldString, Required: true,
			Doc: "The user to connect as: it needs the REPLICATION attribute (or rds_replication), CONNECT on the database, SELECT on the captured tables, and, for the publication and signal table, the privileges described in the connector's set-up section."},
		{Name: "database.password", Type: connectors.FieldString, Secret: true,
			Doc: "The user's password (never logged)."},
		{Name: "database.dbname", Type: connectors.FieldString, Required: true,
			Doc: "The database to capture changes from (one database per connector)."},
		{Name: "database.sslmode", Type: connectors.FieldString, Default: "prefer",
			Allowed: []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"},
			Doc:     "Whether and how to use TLS, as libpq's sslmode (Debezium's default: prefer)."},
		{Name: "database.sslrootcert", Type: connectors.FieldString,
			Doc: "A file of CA certificates that verify the server (verify-ca, verify-full)."},
		{Name: "database.sslcert", Type: connectors.FieldString,
			Doc: "The client certificate file, for certificate authentication."},
		{Name: "database.sslkey", Type: connectors.FieldString,
			Doc: "The client certificate's private key file."},
		{Name: "topic.prefix", Type: connectors.FieldString, Required: true,
			Doc: "The logical server name: the prefix of every topic (<topic.prefix>.<schema>.<table>), of the schema names, the source partition {\"server\": topic.prefix} and source.name. Letters, digits, '.', '_' and '-'. Never change it for a running connector: its offsets are keyed by it."},
		{Name: "plugin.name", Type: connectors.FieldString, Default: "pgoutput", Allowed: []string{"pgoutput"},
			Doc: "The logical decoding plug-in: pgoutput, built into PostgreSQL 10 and later (the only one supported)."},
		{Name: "slot.name", Type: connectors.FieldString, Default: "debezium", Check: checkSlotName,
			Doc: "The replication slot to stream from: created at the first start if missing, never dropped unless slot.drop.on.stop is true. One slot per connector."},
		{Name: "slot.drop.on.stop", Type: connectors.FieldBool, Default: false,
			Doc: "Drop the replication slot when the connector stops gracefully. For tests and throw-away set-ups only: a dropped slot releases its WAL, so the changes made while the connector is stopped are lost (the next start needs a snapshot)."},
		{Name: "slot.max.retries", Type: connectors.FieldInt, Default: 6, Check: atLeast(0),
			Doc: "How often to retry starting replication while the slot is still in use by another process (a previous incarnation of the task that has not disconnected yet)."},
		{Name: "slot.retry.delay.ms", Type: connectors.FieldDuration, Default: 10000, Check: nonNegativeDuration,
			Doc: "The wait between those retries."},
		{Name: "publication.name", Type: connectors.FieldString, Default: "dbz_publication", Check: checkSlotName,
			Doc: "The publication that selects the tables whose changes pgoutput sends."},
		{Name: "publication.autocreate.mode", Type: connectors.FieldString, Default: pubFiltered,
			Allowed: []string{pubAllTables, pubDisabled, pubFiltered, pubNoTables},
			Doc:     "filtered (Sluice's default): create the publication for the captured tables (and the signal table) if it is missing, and set its table list to them when it exists (ALTER PUBLICATION ... SET TABLE) — the connector's user must own the tables. all_tables (Debezium's default): create it FOR ALL TABLES if missing (needs a superuser). no_tables: create it empty; add tables yourself. disabled: the publication must exist."},
		{Name: "schema.include.list", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions matching the schema names to capture (each must match the whole name). Default: every schema except pg_catalog, information_schema and pg_toast. Exclusive with schema.exclude.list."},
		{Name: "schema.exclude.list", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions matching schema names not to capture. Exclusive with schema.include.list."},
		{Name: "table.include.list", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions matching the tables to capture, as schemaName.tableName (each must match the whole name). Default: every table of the captured schemas. Exclusive with table.exclude.list."},
		{Name: "table.exclude.list", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions matching tables (schemaName.tableName) not to capture. Exclusive with table.include.list."},
		{Name: "column.include.list", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions matching the columns to include, as schemaName.tableName.columnName. Primary key columns are always included. Exclusive with column.exclude.list."},
		{Name: "column.exclude.list", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions matching columns (schemaName.tableName.columnName) to leave out of events. Primary key columns are always included. Exclusive with column.include.list."},
		{Name: "snapshot.mode", Type: connectors.FieldString, Default: snapshotInitial,
			Allowed: []string{snapshotInitial, snapshotInitialOnly, snapshotNoData, snapshotWhenNeeded, snapshotAlways},
			Doc:     "When to snapshot the captured tables (see Snapshots): initial (when the connector has no offsets), initial_only (snapshot, then finish without streaming), no_data (never; stream from the slot's position), when_needed (when there are no offsets or the slot cannot continue from them: it is missing or its WAL was removed), always (at every start)."},
		{Name: "snapshot.include.collection.list", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions matching the captured tables (schemaName.tableName) that initial snapshots read. Default: every captured table."},
		{Name: "signal.data.collection", Type: connectors.FieldString,
			Doc: "The signal table, as schemaName.tableName, with columns id (varchar), type (varchar) and data (varchar or text), as Debezium's. Inserting a row with type execute-snapshot (or stop-snapshot) and data {\"data-collections\": [...], \"type\": \"incremental\"} starts (or stops) an incremental snapshot; the connector writes its snapshot-window-open and snapshot-window-close watermark rows there. It is added to a filtered publication automatically. Its signals are acted on while signal.enabled.channels includes source (the default). Default: no signal table (incremental snapshots then use pg_logical_emit_message for their watermarks, and start only from the signal topic or to continue an interrupted initial snapshot)."},
		{Name: "signal.enabled.channels", Type: connectors.FieldList, Default: []string{"source"},
			Doc: "Where signals come from, as Debezium's: source (the signal table, signal.data.collection) and kafka (the signal topic, signal.kafka.topic). Both may be enabled."},
		{Name: "signal.kafka.topic", Type: connectors.FieldString,
			Doc: "The signal topic (partition 0 is read). Each record keyed by topic.prefix with a value {\"type\": \"execute-snapshot\", \"data\": {\"data-collections\": [\"public.orders\"], \"type\": \"incremental\"}} is a signal; the types and data are the signal table's. The position in the topic is kept in the connector's offsets (incremental_snapshot_signal_offset), so each signal is acted on exactly once; a connector without offsets starts at the topic's end. Default: <topic.prefix>-signal."},
		{Name: "signal.kafka.bootstrap.servers", Type: connectors.FieldList,
			Doc: "The Kafka brokers holding the signal topic (host:port, ...). Required when signal.enabled.channels includes kafka. TLS and SASL are set with signal.consumer.*."},
		{Name: "signal.consumer", Type: connectors.FieldMap, Prefix: true, Secret: true,
			Doc: "Kafka client properties of the signal consumer, written as signal.consumer.<property> keys (Debezium's pass-through, prefix stripped) or as a map: security.protocol, sasl.mechanism, sasl.username and sasl.password or sasl.jaas.config, sasl.oauthbearer.token.file or sasl.oauthbearer.token.command, ssl.ca.location, ssl.certificate.location, ssl.key.location, ssl.endpoint.identification.algorithm, client.id. They are read as Sluice's --kafka-config files are (the kafka package), so a secured cluster works as for the engine; other consumer properties (group.id, ...) are ignored. The brokers are signal.kafka.bootstrap.servers."},
		{Name: "signal.kafka.poll.timeout.ms", Type: connectors.FieldDuration, Default: 100, Check: positiveDuration,
			Doc: "The longest wait of one fetch from the signal topic."},
		{Name: "incremental.snapshot.chunk.size", Type: connectors.FieldInt, Default: 1024, Check: atLeast(1),
			Doc: "The rows an incremental snapshot reads per chunk (and buffers in memory)."},
		{Name: "incremental.snapshot.watermarking.strategy", Type: connectors.FieldString, Default: "insert_insert",
			Allowed: []string{"insert_insert", "insert_delete"},
			Doc:     "How watermarks are written to the signal table: insert_insert adds an open and a close row per chunk; insert_delete adds the open row and deletes it to close the window (the table does not grow)."},
		{Name: "heartbeat.interval.ms", Type: connectors.FieldDuration, Default: 0, Check: nonNegativeDuration,
			Doc: "How often to emit a heartbeat: the connector writes a logical decoding message (pg_logical_emit_message) and, when it comes back through the slot, a record to <topic.heartbeat.prefix>.<topic.prefix> whose offset lets the slot's confirmed position move even when no captured table changes. 0 disables heartbeats (the slot then still advances while the connector has nothing in flight, from the server's keepalives)."},
		{Name: "heartbeat.action.query", Type: connectors.FieldString,
			Doc: "A statement to run at every heartbeat (for example an update of a heartbeat table), as Debezium's."},
		{Name: "topic.heartbeat.prefix", Type: connectors.FieldString, Default: "__debezium-heartbeat",
			Doc: "The prefix of the heartbeat topic, <prefix>.<topic.prefix>."},
		{Name: "tombstones.on.delete", Type: connectors.FieldBool, Default: true,
			Doc: "Follow each delete event with a tombstone (the key and a null value), so that log compaction removes the row."},
		{Name: "skipped.operations", Type: connectors.FieldList, Default: []string{"t"},
			Doc: "Operations not to emit: any of c (inserts), u (updates), d (deletes), t (truncates); none for none. Default t, as Debezium's."},
		{Name: "decimal.handling.mode", Type: connectors.FieldString, Default: "precise", Allowed: []string{"precise", "double", "string"},
			Doc: "How NUMERIC, DECIMAL and MONEY columns are represented: precise (Kafka Connect's Decimal, or io.debezium.data.VariableScaleDecimal for NUMERIC without a scale), double (FLOAT64, lossy) or string."},
		{Name: "time.precision.mode", Type: connectors.FieldString, Default: "adaptive",
			Allowed: []string{"adaptive", "adaptive_time_microseconds", "connect", "isostring", "microseconds", "nanoseconds"},
			Doc:     "How DATE, TIME and TIMESTAMP columns are represented (see the type mapping): adaptive (io.debezium.time.* at the column's precision), adaptive_time_microseconds (TIME always as MicroTime), connect (Kafka Connect's Date, Time, Timestamp: milliseconds), isostring (ISO-8601 strings), microseconds, nanoseconds."},
		{Name: "interval.handling.mode", Type: connectors.FieldString, Default: "numeric", Allowed: []string{"numeric", "string"},
			Doc: "How INTERVAL columns are represented: numeric (io.debezium.time.MicroDuration, approximate microseconds with 365.25/12 days per month) or string (io.debezium.time.Interval, P<y>Y<m>M<d>DT<h>H<m>M<s>S)."},
		{Name: "binary.handling.mode", Type: connectors.FieldString, Default: "bytes", Allowed: []string{"bytes", "base64", "base64-url-safe", "hex"},
			Doc: "How BYTEA columns are represented: bytes, or a base64, base64-url-safe or hex string."},
		{Name: "money.fraction.digits", Type: connectors.FieldInt, Default: 2, Check: atLeast(0),
			Doc: "The scale of MONEY columns as decimals."},
		{Name: "include.unknown.datatypes", Type: connectors.FieldBool, Default: false,
			Doc: "Columns of types without a mapping (hstore, geometric types other than point, composite types, ...): false leaves them out of events (with a warning naming the column), true emits their text representation as a STRING."},
		{Name: "unavailable.value.placeholder", Type: connectors.FieldString, Default: "__debezium_unavailable_value",
			Doc: "The value emitted for an unchanged TOASTed column of a table without REPLICA IDENTITY FULL (PostgreSQL does not send it): the text for string columns, its UTF-8 bytes for binary columns, a one-element list of it for arrays of strings. Set REPLICA IDENTITY FULL on such tables to get the real values."},
		{Name: "max.batch.size", Type: connectors.FieldInt, Default: 2048, Check: atLeast(1),
			Doc: "The most records one poll returns (under exactly-once, the most in one Kafka transaction with the default transaction.boundary=poll); a poll that closes an incremental snapshot chunk may return that chunk on top."},
		{Name: "max.queue.size", Type: connectors.FieldInt, Default: 8192, Check: atLeast(1),
			Doc: "The most replication messages buffered between the connection and the task; it bounds memory when Kafka is slower than PostgreSQL."},
		{Name: "poll.interval.ms", Type: connectors.FieldDuration, Default: 500, Check: positiveDuration,
			Doc: "How long a poll waits for changes before returning what it has (or nothing)."},
		{Name: "status.update.interval.ms", Type: connectors.FieldDuration, Default: 10000, Check: positiveDuration,
			Doc: "How often the connector sends its confirmed position to the server while nothing else needs a reply (it also replies at once to the server's requests, and right after each Kafka commit)."},
		{Name: "flush.lsn.source", Type: connectors.FieldBool, Default: true,
			Doc: "Confirm processed positions to the slot (after the Kafka transaction holding them committed). false: never confirm; something else must advance the slot, or it pins WAL forever."},
		{Name: "metrics.log.interval.ms", Type: connectors.FieldDuration, Default: 60000, Check: nonNegativeDuration,
			Doc: "How often the task logs its metrics (slot lag in bytes, last event time, snapshot progress) at INFO; 0 disables the log line."},
	},
	Check: func(cfg *connectors.Config) error {
		_, err := parseSettings(cfg)
		return err
	},
}

// settings is the parsed configuration.
type settings struct {
	host, dbname, user string
	port               int
	password           connectors.Secret
	sslmode            string
	sslrootcert        string
	sslcert, sslkey    string

	prefix      string
	slot        string
	dropSlot    bool
	slotRetries int
	slotDelay   time.Duration
	publication string
	pubMode     string

	filter       *tableFilter
	snapshotMode string
	snapshotOnly []*regexp.Regexp // snapshot.include.collection.list; nil: all

	signalTable   *tableID // nil: none
	sourceSignals bool     // signal.enabled.channels has source
	kafkaSignals  bool     // signal.enabled.channels has kafka
	// signalTableSignalsOff: the signal table holds only watermarks (the
	// source channel is not enabled).
	signalTableSignalsOff bool
	signalTopic           string       // signal.kafka.topic
	signalKafka           kafka.Config // signal.kafka.bootstrap.servers and signal.consumer.*
	signalPollTimeout     time.Duration
	chunkSize             int
	insertDelete          bool

	heartbeat       time.Duration
	heartbeatQuery  string
	heartbeatPrefix string

	tombstones bool
	skipOps    map[string]bool

	types typeOptions

	maxBatch        int
	maxQueue        int
	pollInterval    time.Duration
	statusInterval  time.Duration
	flushLSN        bool
	metricsInterval time.Duration
}

var topicPrefixRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func parseSettings(cfg *connectors.Config) (*settings, error) {
	s := &settings{
		host: cfg.String("database.hostname"), port: cfg.Int("database.port"),
		user: cfg.String("database.user"), password: cfg.Secret("database.password"),
		dbname: cfg.String("database.dbname"), sslmode: cfg.String("database.sslmode"),
		sslrootcert: cfg.String("database.sslrootcert"), sslcert: cfg.String("database.sslcert"), sslkey: cfg.String("database.sslkey"),
		prefix: cfg.String("topic.prefix"), slot: cfg.String("slot.name"), dropSlot: cfg.Bool("slot.drop.on.stop"),
		slotRetries: cfg.Int("slot.max.retries"), slotDelay: cfg.Duration("slot.retry.delay.ms"),
		publication: cfg.String("publication.name"), pubMode: cfg.String("publication.autocreate.mode"),
		snapshotMode: cfg.String("snapshot.mode"),
		chunkSize:    cfg.Int("incremental.snapshot.chunk.size"),
		insertDelete: cfg.String("incremental.snapshot.watermarking.strategy") == "insert_delete",
		heartbeat:    cfg.Duration("heartbeat.interval.ms"), heartbeatQuery: strings.TrimSpace(cfg.String("heartbeat.action.query")),
		heartbeatPrefix: cfg.String("topic.heartbeat.prefix"),
		tombstones:      cfg.Bool("tombstones.on.delete"),
		skipOps:         map[string]bool{},
		types: typeOptions{
			decimalMode:    cfg.String("decimal.handling.mode"),
			timeMode:       cfg.String("time.precision.mode"),
			intervalMode:   cfg.String("interval.handling.mode"),
			binaryMode:     cfg.String("binary.handling.mode"),
			moneyDigits:    cfg.Int("money.fraction.digits"),
			includeUnknown: cfg.Bool("include.unknown.datatypes"),
			placeholder:    cfg.String("unavailable.value.placeholder"),
		},
		maxBatch: cfg.Int("max.batch.size"), maxQueue: cfg.Int("max.queue.size"),
		pollInterval: cfg.Duration("poll.interval.ms"), statusInterval: cfg.Duration("status.update.interval.ms"),
		flushLSN: cfg.Bool("flush.lsn.source"), metricsInterval: cfg.Duration("metrics.log.interval.ms"),
	}
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, connectors.Errorf(cfg.Key(key), format, args...))
	}
	if strings.TrimSpace(s.host) == "" {
		fail("database.hostname", "must not be empty")
	}
	if strings.TrimSpace(s.dbname) == "" {
		fail("database.dbname", "must not be empty")
	}
	if strings.TrimSpace(s.user) == "" {
		fail("database.user", "must not be empty")
	}
	if !topicPrefixRE.MatchString(s.prefix) {
		fail("topic.prefix", "%q is not a valid topic prefix (letters, digits, '.', '_' and '-')", s.prefix)
	}
	for _, pair := range [][2]string{{"schema.include.list", "schema.exclude.list"}, {"table.include.list", "table.exclude.list"}, {"column.include.list", "column.exclude.list"}} {
		if len(cfg.List(pair[0])) > 0 && len(cfg.List(pair[1])) > 0 {
			fail(pair[1], "set either %s or %s, not both", pair[0], pair[1])
		}
	}
	s.filter = &tableFilter{
		schemaInclude: compileAll(cfg.List("schema.include.list")), schemaExclude: compileAll(cfg.List("schema.exclude.list")),
		tableInclude: compileAll(cfg.List("table.include.list")), tableExclude: compileAll(cfg.List("table.exclude.list")),
		columnInclude: compileAll(cfg.List("column.include.list")), columnExclude: compileAll(cfg.List("column.exclude.list")),
	}
	if l := cfg.List("snapshot.include.collection.list"); len(l) > 0 {
		s.snapshotOnly = compileAll(l)
	}
	if st := strings.TrimSpace(cfg.String("signal.data.collection")); st != "" {
		id, err := parseTableID(st)
		if err != nil {
			fail("signal.data.collection", "%v", err)
		} else {
			s.signalTable = &id
		}
	}
	for _, ch := range cfg.List("signal.enabled.channels") {
		switch ch = strings.ToLower(strings.TrimSpace(ch)); ch {
		case "source":
			s.sourceSignals = true
		case "kafka":
			s.kafkaSignals = true
		case "":
		default:
			fail("signal.enabled.channels", "%q is not a supported signal channel (want source or kafka; Debezium's jmx and file channels are not supported)", ch)
		}
	}
	s.signalTopic = strings.TrimSpace(cfg.String("signal.kafka.topic"))
	if s.signalTopic == "" {
		s.signalTopic = s.prefix + "-signal"
	}
	s.signalPollTimeout = cfg.Duration("signal.kafka.poll.timeout.ms")
	var brokers []string
	for _, b := range cfg.List("signal.kafka.bootstrap.servers") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if s.kafkaSignals && len(brokers) == 0 {
		fail("signal.kafka.bootstrap.servers", "must name the brokers of the signal topic when signal.enabled.channels includes kafka")
	}
	consumer := maps.Clone(cfg.Map("signal.consumer"))
	if _, ok := consumer[kafka.BootstrapServers]; ok {
		fail("signal.consumer", "set the brokers with signal.kafka.bootstrap.servers, not signal.consumer.%s", kafka.BootstrapServers)
	}
	consumer[kafka.BootstrapServers] = strings.Join(brokers, ",")
	if kc, err := kafka.Parse(consumer); err != nil {
		fail("signal.consumer", "%v", err)
	} else {
		s.signalKafka = kc
	}
	if !s.sourceSignals && s.signalTable != nil {
		// Debezium's rule: without the source channel the signal table
		// carries no signals; it still holds the watermarks.
		s.signalTableSignalsOff = true
	}
	for _, op := range cfg.List("skipped.operations") {
		switch op = strings.ToLower(strings.TrimSpace(op)); op {
		case "none":
		case "c", "u", "d", "t":
			s.skipOps[op] = true
		default:
			fail("skipped.operations", "%q is not an operation (want c, u, d, t or none)", op)
		}
	}
	if s.types.moneyDigits > 38 {
		fail("money.fraction.digits", "at most 38, got %d", s.types.moneyDigits)
	}
	return s, errors.Join(errs...)
}

// compileAll compiles regular expressions anchored at both ends, as
// Debezium matches its include and exclude lists against whole names.
func compileAll(list []string) []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, p := range list {
		if re, err := regexp.Compile("^(?:" + strings.TrimSpace(p) + ")$"); err == nil {
			out = append(out, re)
		}
	}
	return out
}

func matchesAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// tableID names a table by schema and name.
type tableID struct{ schema, name string }

func (id tableID) String() string { return id.schema + "." + id.name }

// quoted is the table's name as SQL, each part quoted.
func (id tableID) quoted() string { return quoteIdent(id.schema) + "." + quoteIdent(id.name) }

// parseTableID parses schemaName.tableName (a name without a schema is in
// public). Quoting is not supported: names with dots cannot be written.
func parseTableID(s string) (tableID, error) {
	schema, name, ok := strings.Cut(s, ".")
	if !ok {
		return tableID{schema: "public", name: s}, nil
	}
	if schema == "" || name == "" || strings.Contains(name, ".") {
		return tableID{}, fmt.Errorf("%q is not schemaName.tableName", s)
	}
	return tableID{schema: schema, name: name}, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// tableFilter applies the include and exclude lists.
type tableFilter struct {
	schemaInclude, schemaExclude []*regexp.Regexp
	tableInclude, tableExclude   []*regexp.Regexp
	columnInclude, columnExclude []*regexp.Regexp
}

var systemSchemas = map[string]bool{"pg_catalog": true, "information_schema": true, "pg_toast": true}

// table reports whether a table is captured.
func (f *tableFilter) table(id tableID) bool {
	if systemSchemas[id.schema] || strings.HasPrefix(id.schema, "pg_temp") || strings.HasPrefix(id.schema, "pg_toast") {
		return false
	}
	if len(f.schemaInclude) > 0 && !matchesAny(f.schemaInclude, id.schema) {
		return false
	}
	if matchesAny(f.schemaExclude, id.schema) {
		return false
	}
	full := id.String()
	if len(f.tableInclude) > 0 && !matchesAny(f.tableInclude, full) {
		return false
	}
	return !matchesAny(f.tableExclude, full)
}

// column reports whether a non-key column is included.
func (f *tableFilter) column(id tableID, column string) bool {
	full := id.String() + "." + column
	if len(f.columnInclude) > 0 && !matchesAny(f.columnInclude, full) {
		return false
	}
	return !matchesAny(f.columnExclude, full)
}
