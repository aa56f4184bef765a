package jdbc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// The source's modes (mode).
const (
	modeBulk                  = "bulk"
	modeIncrementing          = "incrementing"
	modeTimestamp             = "timestamp"
	modeTimestampIncrementing = "timestamp+incrementing"
)

// Offset keys, as Confluent's JDBC source stores them, so that offsets
// read the same way.
const (
	offsetIncrementing   = "incrementing"
	offsetTimestamp      = "timestamp"       // milliseconds since the epoch
	offsetTimestampNanos = "timestamp_nanos" // nanoseconds within the second
	partitionTable       = "table"
	partitionQuery       = "query"
	// partitionProtocol marks Confluent's offset protocol 1 (partitions
	// naming the fully qualified table); protocol 0 partitions are
	// {"table": name} alone.
	partitionProtocol = "protocol"
	protocolV1        = "1"
)

func sourceFields() []connectors.ConfigField {
	return append(connectionFields(), []connectors.ConfigField{
		{Name: "mode", Type: connectors.FieldString, Required: true,
			Allowed: []string{modeBulk, modeIncrementing, modeTimestamp, modeTimestampIncrementing},
			Doc:     "How each table (or the query) is polled. bulk: the whole table every poll.interval.ms (at least once: no offsets). incrementing: rows whose incrementing.column.name is above the last one read (new rows only; the column must grow strictly and ids must become visible in order). timestamp: rows whose timestamp.column.name is above the last one read (new and changed rows; a poll never ends between rows sharing a timestamp, so none is lost or repeated across restarts). timestamp+incrementing: both columns, each row located exactly by (timestamp, id): the recommended mode for changed rows."},
		{Name: "incrementing.column.name", Type: connectors.FieldString,
			Doc: "The strictly increasing column (incrementing and timestamp+incrementing modes): an integer, or a DECIMAL/NUMERIC of scale 0. Empty: the table's auto-increment column (serial, identity, AUTO_INCREMENT, SQLite's INTEGER PRIMARY KEY); required with query."},
		{Name: "timestamp.column.name", Type: connectors.FieldList,
			Doc: "The timestamp column(s) (timestamp and timestamp+incrementing modes). Several are combined with COALESCE: a row's time is its first non-null one. Date, datetime and timestamp columns (with or without time zone) are accepted."},
		{Name: "validate.non.null", Type: connectors.FieldBool, Default: true,
			Doc: "Check at start that the incrementing column and at least one timestamp column are NOT NULL, and fail otherwise (rows with nulls there are never read). Set false for views, whose columns databases report as nullable."},
		{Name: "timestamp.delay.interval.ms", Type: connectors.FieldDuration, Default: 0, Check: nonNegativeDuration,
			Doc: "How long after a row's timestamp (by the database's clock) it may be read. Rows are read only up to now minus this delay, so that transactions that stamped a row earlier but commit later are not skipped: set it above your longest write transaction (see the connector documentation for what it guarantees)."},
		{Name: "timestamp.initial", Type: connectors.FieldInt,
			Doc: "Milliseconds since the epoch to start timestamp modes from when a table has no offset yet; -1: the database's current time (only changes from now on). Unset: from the beginning."},
		{Name: "table.whitelist", Type: connectors.FieldList,
			Doc: "The tables to copy (names as the database spells them, optionally schema-qualified: public.orders). Empty: every table of table.types in schema.pattern. Same as table.include.list."},
		{Name: "table.include.list", Type: connectors.FieldList,
			Doc: "The newer name of table.whitelist (set one of them)."},
		{Name: "table.blacklist", Type: connectors.FieldList,
			Doc: "Tables not to copy, when the tables are discovered (table.whitelist empty). Same as table.exclude.list."},
		{Name: "table.exclude.list", Type: connectors.FieldList,
			Doc: "The newer name of table.blacklist."},
		{Name: "table.types", Type: connectors.FieldList, Default: []string{"TABLE"},
			Doc: "The kinds of relations discovered: TABLE, VIEW."},
		{Name: "schema.pattern", Type: connectors.FieldString,
			Doc: "A LIKE pattern of the schemas (PostgreSQL) or databases (MySQL) whose tables are discovered. Empty: PostgreSQL's search_path, MySQL's database of the URL."},
		{Name: "query", Type: connectors.FieldString,
			Doc: "Copy the result of this query instead of tables, to the topic named by topic.prefix. It is wrapped as a subquery (SELECT * FROM (query) ...) to add the mode's conditions, order and limit, so it may have its own WHERE clause; column names are those of its result."},
		{Name: "topic.prefix", Type: connectors.FieldString, Required: true,
			Doc: "Prefix of the topics: a table's records go to <prefix><table> (schema-qualified for tables outside the default schema); with query, the whole topic name."},
		{Name: "poll.interval.ms", Type: connectors.FieldDuration, Default: 5000, Check: positiveDuration,
			Doc: "How often each table is queried for new rows once it is caught up (a table with more rows is queried again at once)."},
		{Name: "batch.max.rows", Type: connectors.FieldInt, Default: 100, Check: connectors.AtLeast(1),
			Doc: "The most rows one query reads (its LIMIT), bounding memory. In timestamp mode a batch that ends inside a group of rows sharing a timestamp is completed with the rest of the group."},
		{Name: "table.poll.interval.ms", Type: connectors.FieldDuration, Default: 60000, Check: positiveDuration,
			Doc: "How often discovered tables (table.whitelist empty) are listed again, so that new tables are picked up."},
		{Name: "numeric.mapping", Type: connectors.FieldString, Default: string(numericNone),
			Allowed: []string{string(numericNone), string(numericPrecisionOnly), string(numericBestFit), string(numericBestFitEagerDouble)},
			Doc:     "How NUMERIC/DECIMAL columns map: none: Connect Decimal; precision_only: integers for scale 0 and precision up to 18; best_fit: integers for scale 0 and doubles for scale > 0 when precision is up to 18, Decimal above; best_fit_eager_double: doubles for every scale > 0. Unlike Confluent it applies to MySQL's DECIMAL columns too."},
		{Name: "numeric.precision.mapping", Type: connectors.FieldBool, Default: false,
			Doc: "Deprecated (Confluent's): true means numeric.mapping=precision_only."},
	}...)
}

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

// sourceConfig is the parsed configuration of a source.
type sourceConfig struct {
	conn        *connSpec
	attempts    int
	backoff     time.Duration
	d           *dialect
	mode        string
	incCol      string
	tsCols      []string
	nonNull     bool
	delay       time.Duration
	tsInitial   *int64
	include     []string
	exclude     []string
	tableTypes  []string
	schemaLike  string
	query       string
	topicPrefix string
	poll        time.Duration
	tablePoll   time.Duration
	maxRows     int
	numeric     numericMapping
}

func checkSourceConfig(cfg *connectors.Config) error {
	var errs []error
	mode := cfg.String("mode")
	if mode == modeIncrementing || mode == modeTimestampIncrementing {
		if cfg.String("query") != "" && cfg.String("incrementing.column.name") == "" {
			errs = append(errs, connectors.Errorf("incrementing.column.name", "required with query in mode %s (there is no table to find the auto-increment column of)", mode))
		}
	}
	if (mode == modeTimestamp || mode == modeTimestampIncrementing) && len(cfg.List("timestamp.column.name")) == 0 {
		errs = append(errs, connectors.Errorf("timestamp.column.name", "required in mode %s", mode))
	}
	if len(cfg.List("table.whitelist")) > 0 && len(cfg.List("table.include.list")) > 0 {
		errs = append(errs, connectors.Errorf("table.include.list", "set either table.whitelist or table.include.list, not both"))
	}
	if len(cfg.List("table.blacklist")) > 0 && len(cfg.List("table.exclude.list")) > 0 {
		errs = append(errs, connectors.Errorf("table.exclude.list", "set either table.blacklist or table.exclude.list, not both"))
	}
	include := append(cfg.List("table.whitelist"), cfg.List("table.include.list")...)
	exclude := append(cfg.List("table.blacklist"), cfg.List("table.exclude.list")...)
	if len(include) > 0 && len(exclude) > 0 {
		errs = append(errs, connectors.Errorf("table.blacklist", "set either the tables to include or those to exclude, not both"))
	}
	if cfg.String("query") != "" && (len(include) > 0 || len(exclude) > 0) {
		errs = append(errs, connectors.Errorf("query", "set either query or table lists, not both"))
	}
	if cfg.IsSet("timestamp.initial") && cfg.Int64("timestamp.initial") < -1 {
		errs = append(errs, connectors.Errorf("timestamp.initial", "want milliseconds since the epoch or -1"))
	}
	if _, err := connectionFromConfig(cfg); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func newSourceConfig(cfg *connectors.Config) (*sourceConfig, error) {
	cc, err := connectionFromConfig(cfg)
	if err != nil {
		return nil, err
	}
	sc := &sourceConfig{
		conn: cc.spec, attempts: cc.attempts, backoff: cc.backoff, d: cc.dialect,
		mode:        cfg.String("mode"),
		incCol:      strings.TrimSpace(cfg.String("incrementing.column.name")),
		tsCols:      cfg.List("timestamp.column.name"),
		nonNull:     cfg.Bool("validate.non.null"),
		delay:       cfg.Duration("timestamp.delay.interval.ms"),
		include:     append(cfg.List("table.whitelist"), cfg.List("table.include.list")...),
		exclude:     append(cfg.List("table.blacklist"), cfg.List("table.exclude.list")...),
		tableTypes:  cfg.List("table.types"),
		schemaLike:  cfg.String("schema.pattern"),
		query:       strings.TrimRight(strings.TrimSpace(cfg.String("query")), "; \n\t"),
		topicPrefix: cfg.String("topic.prefix"),
		poll:        cfg.Duration("poll.interval.ms"),
		tablePoll:   cfg.Duration("table.poll.interval.ms"),
		maxRows:     cfg.Int("batch.max.rows"),
		numeric:     numericMapping(cfg.String("numeric.mapping")),
	}
	if cfg.Bool("numeric.precision.mapping") && !cfg.IsSet("numeric.mapping") {
		sc.numeric = numericPrecisionOnly
	}
	if cfg.IsSet("timestamp.initial") {
		v := cfg.Int64("timestamp.initial")
		sc.tsInitial = &v
	}
	if sc.query != "" && sc.incCol != "" {
		sc.incCol = lastPart(sc.incCol)
	}
	if sc.query != "" {
		for i, c := range sc.tsCols {
			sc.tsCols[i] = lastPart(c)
		}
	}
	return sc, nil
}

// lastPart drops a qualifier: a wrapped query's result columns are named
// without their table ("o.updated_at" is "updated_at").
func lastPart(col string) string {
	parts := splitQualified(col)
	return strings.Trim(parts[len(parts)-1], "\"`")
}

// source is a configured jdbc source connector.
type source struct{ cfg *sourceConfig }

// Tasks splits the tables among tasks: listed tables in list order, round
// robin; discovered tables by a hash of their name, so that every task
// decides alone, and at every discovery, which new tables are its own.
func (s *source) Tasks(maxTasks int) ([]connectors.SourceTask, error) {
	n := maxTasks
	switch {
	case s.cfg.query != "":
		n = 1
	case len(s.cfg.include) > 0:
		n = min(n, len(s.cfg.include))
	}
	tasks := make([]connectors.SourceTask, n)
	for i := range tasks {
		tasks[i] = &sourceTask{cfg: s.cfg, index: i, count: n}
	}
	return tasks, nil
}

// sourceTask polls its share of the tables. The worker calls it from one
// goroutine at a time; it owns its connection pool and queriers.
type sourceTask struct {
	cfg          *sourceConfig
	index, count int

	tc            connectors.SourceTaskContext
	log           *slog.Logger
	db            *sql.DB
	currentSchema string
	initial       *time.Time // timestamp.initial resolved
	queriers      map[string]*querier
	order         []*querier
	nextDiscovery time.Time
}

func (t *sourceTask) Open(ctx context.Context, tc connectors.SourceTaskContext) error {
	t.tc, t.log = tc, tc.Logger()
	db, err := t.cfg.conn.open(ctx, t.cfg.attempts, t.cfg.backoff)
	if err != nil {
		return fmt.Errorf("jdbc: %w", err)
	}
	t.db = db
	t.queriers = map[string]*querier{}
	if t.currentSchema, err = t.cfg.d.currentSchema(ctx, db); err != nil {
		return fmt.Errorf("jdbc: read the current schema: %w", err)
	}
	if ini := t.cfg.tsInitial; ini != nil {
		var at time.Time
		if *ini == -1 {
			if at, err = t.cfg.d.dbNow(ctx, db); err != nil {
				return fmt.Errorf("jdbc: read the database clock: %w", err)
			}
		} else {
			at = time.UnixMilli(*ini)
		}
		t.initial = &at
	}
	switch {
	case t.cfg.query != "":
		q, err := t.newQuerier(ctx, "", tableID{})
		if err != nil {
			return err
		}
		t.add(q)
	case len(t.cfg.include) > 0:
		for i, name := range t.cfg.include {
			if i%t.count != t.index {
				continue
			}
			id := parseTableID(name)
			info, err := t.cfg.d.describeTable(ctx, db, id)
			if err != nil {
				return fmt.Errorf("jdbc: %w", err)
			}
			if info == nil {
				return fmt.Errorf("jdbc: table %q (table.whitelist) does not exist in %s database %q, or the user may not see it", name, t.cfg.d.kind, t.cfg.conn.database)
			}
			q, err := t.newQuerier(ctx, strings.TrimSpace(name), id)
			if err != nil {
				return err
			}
			t.add(q)
		}
	default:
		if err := t.discover(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (t *sourceTask) add(q *querier) {
	t.queriers[q.identity] = q
	t.order = append(t.order, q)
}

// discover lists the tables and starts polling the new ones this task owns
// (and stops polling dropped ones).
func (t *sourceTask) discover(ctx context.Context) error {
	t.nextDiscovery = time.Now().Add(t.cfg.tablePoll)
	ids, err := t.cfg.d.listTables(ctx, t.db, t.cfg.schemaLike, t.cfg.tableTypes)
	if err != nil {
		return fmt.Errorf("jdbc: %w", err)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		identity := id.name
		if id.schema != "" && id.schema != t.currentSchema {
			identity = id.schema + "." + id.name
		}
		if contains(t.cfg.exclude, identity) || contains(t.cfg.exclude, id.String()) || !t.owns(identity) {
			continue
		}
		seen[identity] = true
		if _, ok := t.queriers[identity]; ok {
			continue
		}
		q, err := t.newQuerier(ctx, identity, id)
		if err != nil {
			return err
		}
		t.log.Info("jdbc: polling table", "table", identity, "topic", q.topic, "mode", t.cfg.mode)
		t.add(q)
	}
	kept := t.order[:0]
	for _, q := range t.order {
		if seen[q.identity] {
			kept = append(kept, q)
			continue
		}
		t.log.Info("jdbc: table is gone; no longer polling it", "table", q.identity)
		q.close()
		delete(t.queriers, q.identity)
	}
	t.order = kept
	return nil
}

// owns reports whether a discovered table belongs to this task.
func (t *sourceTask) owns(identity string) bool {
	if t.count <= 1 {
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(identity))
	return int(h.Sum32()%uint32(t.count)) == t.index
}

// Poll runs the next due query and returns its rows as records; it waits
// for the next due table (at most about a second).
func (t *sourceTask) Poll(ctx context.Context) ([]*connectors.Record, error) {
	deadline := time.Now().Add(time.Second)
	for {
		if t.cfg.query == "" && len(t.cfg.include) == 0 && !time.Now().Before(t.nextDiscovery) {
			if err := t.discover(ctx); err != nil {
				return nil, t.wrap(err)
			}
		}
		var next *querier
		for _, q := range t.order {
			if next == nil || q.next.Before(next.next) {
				next = q
			}
		}
		now := time.Now()
		if next == nil || next.next.After(now) {
			wake := deadline
			if next != nil && next.next.Before(wake) {
				wake = next.next
			}
			if !now.Before(deadline) {
				return nil, nil
			}
			timer := time.NewTimer(wake.Sub(now))
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil, nil
			case <-timer.C:
			}
			continue
		}
		recs, err := next.poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil
			}
			return nil, t.wrap(fmt.Errorf("jdbc: poll %s: %w", next.describe(), err))
		}
		if len(recs) > 0 {
			return recs, nil
		}
		if !time.Now().Before(deadline) {
			return nil, nil
		}
	}
}

// wrap makes failures of the connection retriable: the worker polls again
// after a backoff, and nothing was consumed.
func (t *sourceTask) wrap(err error) error {
	if c := t.cfg.d.classify(err); c == errConnection || c == errTransient {
		return connectors.Retriable(err)
	}
	return err
}

// Commit has nothing to release: offsets are the position.
func (t *sourceTask) Commit(context.Context, []connectors.SourceOffset) error { return nil }

func (t *sourceTask) Close() error {
	for _, q := range t.order {
		q.close()
	}
	if t.db != nil {
		return t.db.Close()
	}
	return nil
}
