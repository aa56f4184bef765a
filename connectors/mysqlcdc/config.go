package mysqlcdc

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// Snapshot modes (snapshot.mode), Debezium's names.
const (
	snapshotInitial     = "initial"
	snapshotInitialOnly = "initial_only"
	snapshotNoData      = "no_data"
	snapshotSchemaOnly  = "schema_only" // Debezium's older name of no_data
	snapshotWhenNeeded  = "when_needed"
	snapshotAlways      = "always"
	snapshotRecovery    = "recovery"
	// Debezium's older name of recovery.
	snapshotSchemaOnlyRecovery = "schema_only_recovery"
)

// Locking modes (snapshot.locking.mode).
const (
	lockMinimal  = "minimal"
	lockExtended = "extended"
	lockNone     = "none"
)

func checkRegexList(v any) error {
	for _, p := range v.([]string) {
		if _, err := regexp.Compile("^(?:" + p + ")$"); err != nil {
			return fmt.Errorf("%q is not a regular expression: %v", p, err)
		}
	}
	return nil
}

func positive(v any) error {
	if v.(int64) <= 0 {
		return errors.New("must be positive")
	}
	return nil
}

func nonNegativeDuration(v any) error {
	if v.(time.Duration) < 0 {
		return errors.New("must not be negative")
	}
	return nil
}

func checkServerID(v any) error {
	if n := v.(int64); n <= 0 || n > 1<<32-1 {
		return errors.New("must be between 1 and 4294967295 (a replication server id)")
	}
	return nil
}

func checkSkipped(v any) error {
	for _, op := range v.([]string) {
		switch op {
		case "c", "u", "d", "t", "none":
		default:
			return fmt.Errorf("%q is not an operation (want c, u, d, t or none)", op)
		}
	}
	return nil
}

func checkKeyColumns(v any) error {
	_, err := parseMessageKeyColumns(v.(string))
	return err
}

var spec = connectors.Spec{
	Fields: []connectors.ConfigField{
		{Name: "database.hostname", Type: connectors.FieldString, Required: true,
			Doc: "Host name or IP address of the MySQL or MariaDB server."},
		{Name: "database.port", Type: connectors.FieldInt, Default: 3306, Check: positive,
			Doc: "Port of the server."},
		{Name: "database.user", Type: connectors.FieldString, Required: true,
			Doc: "User to connect as. It needs SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE and REPLICATION CLIENT (MariaDB 10.5+: BINLOG MONITOR) on *.*; see the set-up section."},
		{Name: "database.password", Type: connectors.FieldString, Secret: true,
			Doc: "Password of database.user."},
		{Name: "database.server.id", Type: connectors.FieldInt, Required: true, Check: checkServerID,
			Doc: "The replication server id the connector registers with when it reads the binlog: unique among the servers and replicas of the cluster (a second client with the same id disconnects the first)."},
		{Name: "topic.prefix", Type: connectors.FieldString, Required: true,
			Check: func(v any) error {
				if v.(string) == "" || !validTopicChars(v.(string)) {
					return errors.New("must be non-empty and use only letters, digits, '.', '_' and '-'")
				}
				return nil
			},
			Doc: "Logical name of the server: the prefix of every topic (<topic.prefix>.<database>.<table>), the schema change topic itself, the source partition of the offsets and source.name. Do not change it once the connector has run."},
		{Name: "database.include.list", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions (anchored, comma-separated) of the databases to capture. Default: every database. Do not set together with database.exclude.list."},
		{Name: "database.exclude.list", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions (anchored) of databases not to capture."},
		{Name: "table.include.list", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions (anchored) of the tables to capture, matched against <database>.<table>. Default: every table of the captured databases. Do not set together with table.exclude.list."},
		{Name: "table.exclude.list", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions (anchored) of tables (<database>.<table>) not to capture."},
		{Name: "column.include.list", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions (anchored) of the columns (<database>.<table>.<column>) to include in change event values. Default: every column. Do not set together with column.exclude.list."},
		{Name: "column.exclude.list", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions (anchored) of columns (<database>.<table>.<column>) to leave out of change event values."},
		{Name: "table.ignore.builtin", Type: connectors.FieldBool, Default: true,
			Doc: "Ignore the system databases (mysql, sys, information_schema, performance_schema) whatever the include lists say."},
		{Name: "message.key.columns", Type: connectors.FieldString, Check: checkKeyColumns,
			Doc: "Custom message keys: entries <database>.<table regex>:<column>,<column> separated by ';' (for example inventory.customers:pk1,pk2;(.*).purchaseorders:pk3). The listed columns form the key instead of the primary key; this also gives keys to tables without a primary key."},
		{Name: "snapshot.mode", Type: connectors.FieldString, Default: snapshotInitial,
			Allowed: []string{snapshotInitial, snapshotInitialOnly, snapshotNoData, snapshotSchemaOnly, snapshotWhenNeeded, snapshotAlways, snapshotRecovery, snapshotSchemaOnlyRecovery},
			Doc:     "When to snapshot: initial (when there are no offsets: the tables' rows as op=r events, then the binlog), initial_only (snapshot, then finish without streaming), no_data (schema_only: capture the schemas and the binlog position, no rows; stream from there), when_needed (snapshot when there are no offsets or the offsets' binlog position is no longer on the server), always (snapshot at every start, then stream from the new position), recovery (schema_only_recovery: restart from the offsets but rebuild the table schemas from the catalog: only when no schema change happened since the offsets' position)."},
		{Name: "snapshot.locking.mode", Type: connectors.FieldString, Default: lockMinimal,
			Allowed: []string{lockMinimal, lockExtended, lockNone},
			Doc:     "How the snapshot locks: minimal holds FLUSH TABLES WITH READ LOCK only while it reads the binlog position and the schemas and takes shared metadata locks on the captured tables (writes go on during the row scan; DDL on captured tables waits until the snapshot ends); extended holds the global read lock for the whole snapshot (no writes); none takes no global lock (needs no RELOAD privilege; on MariaDB the position is still exact, from binlog_snapshot_file/position, but a schema change during the snapshot's first step is not detected; on MySQL the position and the data may disagree under concurrent writes)."},
		{Name: "snapshot.lock.timeout.ms", Type: connectors.FieldDuration, Default: 10000, Check: nonNegativeDuration,
			Doc: "How long the snapshot waits for its locks (lock_wait_timeout) before it fails."},
		{Name: "snapshot.include.collection.list", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions (anchored) of the captured tables (<database>.<table>) whose rows the snapshot reads. Default: every captured table. Other captured tables are streamed from the snapshot's position without their existing rows."},
		{Name: "gtid.source.includes", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions (anchored) of the GTID sources to follow: MySQL server UUIDs, MariaDB domain ids. Transactions of other sources are skipped, and on restart their GTIDs are taken as the server's. Do not set together with gtid.source.excludes."},
		{Name: "gtid.source.excludes", Type: connectors.FieldList, Check: checkRegexList,
			Doc: "Regular expressions (anchored) of GTID sources (MySQL server UUIDs, MariaDB domain ids) to skip."},
		{Name: "include.schema.changes", Type: connectors.FieldBool, Default: true,
			Doc: "Write a schema change event (DDL and the table's structure after it) to the topic named topic.prefix for every DDL on a captured table or database, keyed by the database name."},
		{Name: "include.query", Type: connectors.FieldBool, Default: false,
			Doc: "Put the SQL statement that made a change into source.query. Needs binlog_rows_query_log_events=ON (MySQL) or binlog_annotate_row_events=ON (MariaDB, the default). The statement may show columns or values that the include lists leave out."},
		{Name: "tombstones.on.delete", Type: connectors.FieldBool, Default: true,
			Doc: "Follow each delete event with a tombstone (the key and a null value), so that log compaction removes the row's key."},
		{Name: "skipped.operations", Type: connectors.FieldList, Default: "t", Check: checkSkipped,
			Doc: "Operations not to emit while streaming: c (inserts), u (updates), d (deletes), t (truncates), or none."},
		{Name: "decimal.handling.mode", Type: connectors.FieldString, Default: "precise", Allowed: []string{"precise", "double", "string"},
			Doc: "DECIMAL and NUMERIC values as Kafka Connect decimals (precise), float64 (double) or text (string)."},
		{Name: "bigint.unsigned.handling.mode", Type: connectors.FieldString, Default: "long", Allowed: []string{"long", "precise"},
			Doc: "BIGINT UNSIGNED values as int64 (long; values above 2^63-1 wrap to negative numbers, as in Debezium) or as decimals of scale 0 (precise)."},
		{Name: "time.precision.mode", Type: connectors.FieldString, Default: "adaptive_time_microseconds", Allowed: []string{"adaptive_time_microseconds", "adaptive", "connect"},
			Doc: "Temporal types: adaptive_time_microseconds (Debezium's types by column precision; TIME as microseconds), adaptive (the same, but TIME(0..3) as milliseconds), connect (Kafka Connect's Date, Time and Timestamp logical types, millisecond precision)."},
		{Name: "binary.handling.mode", Type: connectors.FieldString, Default: "bytes", Allowed: []string{"bytes", "base64", "base64-url-safe", "hex"},
			Doc: "BINARY, VARBINARY and BLOB values as bytes or as base64, URL-safe base64 or hex text."},
		{Name: "schema.name.adjustment.mode", Type: connectors.FieldString, Default: "none", Allowed: []string{"none", "avro"},
			Doc: "Schema names (<topic.prefix>.<database>.<table>.Key/Value/Envelope) as they are (none, Debezium 2's default) or made valid Avro names (avro: characters other than letters, digits and '_' become '_'; needed with an Avro converter when the prefix, database or table names have such characters)."},
		{Name: "inconsistent.schema.handling.mode", Type: connectors.FieldString, Default: "fail", Allowed: []string{"fail", "warn", "skip"},
			Doc: "What to do with a row event of a captured table whose schema the connector does not know, or whose columns disagree with the known schema and with the server's catalog: fail (stop with an error naming the position), warn (log and skip the event) or skip."},
		{Name: "heartbeat.interval.ms", Type: connectors.FieldDuration, Default: 0, Check: nonNegativeDuration,
			Doc: "Write a heartbeat record ({ts_ms}, keyed by the server name) to __debezium-heartbeat.<topic.prefix> at this interval while streaming, carrying the binlog position. It moves the committed offset forward while the captured tables are idle and others are busy, so that a restart does not reread (or lose, if purged) a long stretch of binlog. 0 disables heartbeats."},
		{Name: "topic.heartbeat.prefix", Type: connectors.FieldString, Default: "__debezium-heartbeat",
			Doc: "Prefix of the heartbeat topic <prefix>.<topic.prefix>."},
		{Name: "schema.history.internal.kafka.topic", Type: connectors.FieldString,
			Doc: "The connector's schema history topic: one record per table schema version (the DDL, its binlog position and the table's structure). Its records carry the schema versions as source offsets, which is how the connector decodes old binlog events after a restart (see Schema history). Default: <topic.prefix>.schema-history. Use one partition and unlimited retention."},
		{Name: "connect.timeout.ms", Type: connectors.FieldDuration, Default: 30000, Check: nonNegativeDuration,
			Doc: "How long to wait for a connection to the server."},
		{Name: "max.batch.size", Type: connectors.FieldInt, Default: 2048, Check: positive,
			Doc: "Most change events a poll returns (a row's delete, tombstone and create stay together)."},
		{Name: "max.queue.size", Type: connectors.FieldInt, Default: 8192, Check: positive,
			Doc: "Most binlog events read ahead of the poll loop: the binlog connection waits when the queue is full."},
		{Name: "poll.interval.ms", Type: connectors.FieldDuration, Default: 500, Check: nonNegativeDuration,
			Doc: "How long a poll waits for more events once it has some (and the binlog has nothing at hand): longer gives larger batches and transactions, shorter lower latency."},
	},
	Check: checkConfig,
}

func checkConfig(cfg *connectors.Config) error {
	var errs []error
	for _, pair := range [][2]string{
		{"database.include.list", "database.exclude.list"},
		{"table.include.list", "table.exclude.list"},
		{"column.include.list", "column.exclude.list"},
		{"gtid.source.includes", "gtid.source.excludes"},
	} {
		if len(cfg.List(pair[0])) > 0 && len(cfg.List(pair[1])) > 0 {
			errs = append(errs, connectors.Errorf(cfg.Key(pair[1]), "set either %s or %s, not both", pair[0], pair[1]))
		}
	}
	for _, op := range cfg.List("skipped.operations") {
		if op == "none" && len(cfg.List("skipped.operations")) > 1 {
			errs = append(errs, connectors.Errorf(cfg.Key("skipped.operations"), "none cannot be combined with operations"))
		}
	}
	if cfg.Int("max.queue.size") <= cfg.Int("max.batch.size") && cfg.IsSet("max.queue.size") {
		errs = append(errs, connectors.Errorf(cfg.Key("max.queue.size"), "must be larger than max.batch.size (%d)", cfg.Int("max.batch.size")))
	}
	return errors.Join(errs...)
}

// config is the parsed connector configuration.
type config struct {
	host     string
	port     int
	user     string
	password connectors.Secret
	serverID uint32
	prefix   string

	filters *filters
	keyCols []keyColumnsRule

	snapshotMode     string
	lockMode         string
	lockTimeout      time.Duration
	snapshotTables   []*regexp.Regexp // nil: every captured table
	includeSchema    bool
	includeQuery     bool
	tombstones       bool
	skip             map[string]bool
	decimalMode      string
	bigintMode       string
	timeMode         string
	binaryMode       string
	inconsistentMode string
	avroNames        bool
	heartbeat        time.Duration
	heartbeatTopic   string
	historyTopic     string
	connectTimeout   time.Duration
	maxBatch         int
	maxQueue         int
	pollInterval     time.Duration
}

func parseConfig(c *connectors.Config) (*config, error) {
	cfg := &config{
		host:             c.String("database.hostname"),
		port:             c.Int("database.port"),
		user:             c.String("database.user"),
		password:         c.Secret("database.password"),
		serverID:         uint32(c.Int64("database.server.id")),
		prefix:           c.String("topic.prefix"),
		snapshotMode:     c.String("snapshot.mode"),
		lockMode:         c.String("snapshot.locking.mode"),
		lockTimeout:      c.Duration("snapshot.lock.timeout.ms"),
		includeSchema:    c.Bool("include.schema.changes"),
		includeQuery:     c.Bool("include.query"),
		tombstones:       c.Bool("tombstones.on.delete"),
		skip:             map[string]bool{},
		decimalMode:      c.String("decimal.handling.mode"),
		bigintMode:       c.String("bigint.unsigned.handling.mode"),
		timeMode:         c.String("time.precision.mode"),
		binaryMode:       c.String("binary.handling.mode"),
		inconsistentMode: c.String("inconsistent.schema.handling.mode"),
		avroNames:        c.String("schema.name.adjustment.mode") == "avro",
		heartbeat:        c.Duration("heartbeat.interval.ms"),
		historyTopic:     c.String("schema.history.internal.kafka.topic"),
		connectTimeout:   c.Duration("connect.timeout.ms"),
		maxBatch:         c.Int("max.batch.size"),
		maxQueue:         c.Int("max.queue.size"),
		pollInterval:     c.Duration("poll.interval.ms"),
	}
	switch cfg.snapshotMode {
	case snapshotSchemaOnly:
		cfg.snapshotMode = snapshotNoData
	case snapshotSchemaOnlyRecovery:
		cfg.snapshotMode = snapshotRecovery
	}
	if cfg.maxQueue <= cfg.maxBatch {
		cfg.maxQueue = cfg.maxBatch + 1
	}
	if cfg.connectTimeout == 0 {
		cfg.connectTimeout = 30 * time.Second
	}
	cfg.heartbeatTopic = c.String("topic.heartbeat.prefix") + "." + cfg.prefix
	if cfg.historyTopic == "" {
		cfg.historyTopic = cfg.prefix + ".schema-history"
	}
	for _, op := range c.List("skipped.operations") {
		if op != "none" {
			cfg.skip[op] = true
		}
	}
	var err error
	cfg.filters, err = newFilters(c)
	if err != nil {
		return nil, err
	}
	if cfg.keyCols, err = parseMessageKeyColumns(c.String("message.key.columns")); err != nil {
		return nil, connectors.Errorf(c.Key("message.key.columns"), "%v", err)
	}
	if l := c.List("snapshot.include.collection.list"); len(l) > 0 {
		cfg.snapshotTables = compileAll(l)
	}
	return cfg, nil
}

// keyColumnsRule is one entry of message.key.columns.
type keyColumnsRule struct {
	table   *regexp.Regexp // anchored, against <database>.<table>
	columns []string
}

func parseMessageKeyColumns(s string) ([]keyColumnsRule, error) {
	var out []keyColumnsRule
	for _, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		i := strings.LastIndex(entry, ":")
		if i <= 0 || i == len(entry)-1 {
			return nil, fmt.Errorf("entry %q is not <database>.<table>:<column>[,<column>...]", entry)
		}
		re, err := regexp.Compile("^(?:" + entry[:i] + ")$")
		if err != nil {
			return nil, fmt.Errorf("entry %q: %v", entry, err)
		}
		rule := keyColumnsRule{table: re}
		for _, c := range strings.Split(entry[i+1:], ",") {
			if c = strings.TrimSpace(c); c != "" {
				rule.columns = append(rule.columns, c)
			}
		}
		if len(rule.columns) == 0 {
			return nil, fmt.Errorf("entry %q names no column", entry)
		}
		out = append(out, rule)
	}
	return out, nil
}

// keyColumnsFor returns the message.key.columns override of a table, or nil.
func (c *config) keyColumnsFor(db, table string) []string {
	id := db + "." + table
	for _, r := range c.keyCols {
		if r.table.MatchString(id) {
			return r.columns
		}
	}
	return nil
}

// snapshotsRows reports whether the snapshot reads the rows of a captured table.
func (c *config) snapshotsRows(db, table string) bool {
	if c.snapshotTables == nil {
		return true
	}
	return matchAny(c.snapshotTables, db+"."+table)
}

func validTopicChars(s string) bool {
	for _, r := range s {
		if !(r == '.' || r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return false
		}
	}
	return true
}

// topicName makes a valid Kafka topic name, replacing characters Kafka
// refuses with '_', as Debezium's topic naming strategy does.
func topicName(s string) string {
	if validTopicChars(s) {
		return s
	}
	b := []byte(s)
	out := make([]byte, 0, len(b))
	for _, r := range s {
		if r == '.' || r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			out = append(out, byte(r))
		} else {
			out = append(out, '_')
		}
	}
	return string(out)
}
