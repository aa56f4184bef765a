package jdbc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// The sink's insert modes (insert.mode) and primary key modes (pk.mode).
const (
	insertInsert = "insert"
	insertUpsert = "upsert"
	insertUpdate = "update"

	pkNone        = "none"
	pkKafka       = "kafka"
	pkRecordKey   = "record_key"
	pkRecordValue = "record_value"
)

// defaultKafkaPK are the columns of pk.mode=kafka, as Confluent names them.
var defaultKafkaPK = []string{"__connect_topic", "__connect_partition", "__connect_offset"}

func sinkFields() []connectors.ConfigField {
	return append(connectionFields(), []connectors.ConfigField{
		{Name: "insert.mode", Type: connectors.FieldString, Default: insertInsert, Allowed: []string{insertInsert, insertUpsert, insertUpdate},
			Doc: "insert: INSERT (a row that exists already is a record error). upsert: insert or replace by the primary key (PostgreSQL and SQLite ON CONFLICT DO UPDATE, MySQL ON DUPLICATE KEY UPDATE): idempotent, so records delivered again after a crash leave the same table (effectively once). update: UPDATE by the primary key (rows that do not exist are not created)."},
		{Name: "delete.enabled", Type: connectors.FieldBool, Default: false,
			Doc: "Turn tombstones (records with a null value) into DELETEs by the record key's columns. Needs pk.mode=record_key. When false, a tombstone is a record error (dead-lettered under errors.tolerance=all)."},
		{Name: "pk.mode", Type: connectors.FieldString, Default: pkNone, Allowed: []string{pkNone, pkKafka, pkRecordKey, pkRecordValue},
			Doc: "Where the primary key comes from. none: no key (insert only). kafka: the record's topic, partition and offset (columns __connect_topic, __connect_partition, __connect_offset, or the three names of pk.fields); idempotent only with insert.mode=upsert. record_key: the key's fields (a struct: pk.fields or all its fields; a primitive: the one column named by pk.fields). record_value: the value's fields (pk.fields or all)."},
		{Name: "pk.fields", Type: connectors.FieldList,
			Doc: "The key columns, as pk.mode explains. Required for a primitive key."},
		{Name: "fields.whitelist", Type: connectors.FieldList,
			Doc: "The value fields written (besides the key); empty: all."},
		{Name: "table.name.format", Type: connectors.FieldString, Default: "${topic}",
			Doc: "The destination table; ${topic} is replaced by the record's topic. A dot separates a schema (PostgreSQL) or database (MySQL) from the table: route Debezium-style topic names (a.b.c) with a RegexRouter transform first."},
		{Name: "auto.create", Type: connectors.FieldBool, Default: false,
			Doc: "Create a missing table (CREATE TABLE IF NOT EXISTS) from the record's schema, with the primary key of pk.mode."},
		{Name: "auto.evolve", Type: connectors.FieldBool, Default: false,
			Doc: "Add columns for fields the table lacks (ALTER TABLE ADD COLUMN, nullable, with the field's default if it has one). Columns are never dropped, renamed or narrowed."},
		{Name: "batch.size", Type: connectors.FieldInt, Default: 3000, Check: connectors.AtLeast(1),
			Doc: "The most rows one INSERT/upsert statement carries (fewer if the database's parameter limit needs). All rows of one put go in one transaction whatever its size."},
		{Name: "max.retries", Type: connectors.FieldInt, Default: 10, Check: connectors.AtLeast(-1),
			Doc: "How many times a put that failed for a retriable reason (a lost connection, a deadlock) is tried again, retry.backoff.ms apart, before the task fails. -1: forever."},
		{Name: "retry.backoff.ms", Type: connectors.FieldDuration, Default: 3000, Check: nonNegativeDuration,
			Doc: "The wait before a put is tried again after a retriable failure (the worker adds its own short backoff)."},
	}...)
}

// sinkConfig is the parsed configuration of a sink.
type sinkConfig struct {
	conn         *connSpec
	attempts     int
	backoff      time.Duration
	d            *dialect
	insertMode   string
	deletes      bool
	pkMode       string
	pkFields     []string
	whitelist    map[string]bool
	tableFormat  string
	autoCreate   bool
	autoEvolve   bool
	batchSize    int
	maxRetries   int
	retryBackoff time.Duration
}

func checkSinkConfig(cfg *connectors.Config) error {
	var errs []error
	pk, mode := cfg.String("pk.mode"), cfg.String("insert.mode")
	if cfg.Bool("delete.enabled") && pk != pkRecordKey {
		errs = append(errs, connectors.Errorf("delete.enabled", "needs pk.mode=record_key (deletes are by the record key), not %s", pk))
	}
	if (mode == insertUpsert || mode == insertUpdate) && pk == pkNone {
		errs = append(errs, connectors.Errorf("pk.mode", "insert.mode=%s needs a primary key: set pk.mode to kafka, record_key or record_value", mode))
	}
	if pk == pkKafka && len(cfg.List("pk.fields")) != 0 && len(cfg.List("pk.fields")) != 3 {
		errs = append(errs, connectors.Errorf("pk.fields", "with pk.mode=kafka, name none (the defaults %s) or exactly three columns (topic, partition, offset)", strings.Join(defaultKafkaPK, ", ")))
	}
	if pk == pkNone && len(cfg.List("pk.fields")) > 0 {
		errs = append(errs, connectors.Errorf("pk.fields", "has no effect with pk.mode=none"))
	}
	if !strings.Contains(cfg.String("table.name.format"), "${topic}") && strings.Contains(cfg.String("table.name.format"), "${") {
		errs = append(errs, connectors.Errorf("table.name.format", "the only placeholder is ${topic}"))
	}
	if _, err := connectionFromConfig(cfg); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func newSinkConfig(cfg *connectors.Config) (*sinkConfig, error) {
	cc, err := connectionFromConfig(cfg)
	if err != nil {
		return nil, err
	}
	sc := &sinkConfig{conn: cc.spec, attempts: cc.attempts, backoff: cc.backoff, d: cc.dialect,
		insertMode: cfg.String("insert.mode"), deletes: cfg.Bool("delete.enabled"),
		pkMode: cfg.String("pk.mode"), pkFields: cfg.List("pk.fields"),
		tableFormat: cfg.String("table.name.format"), autoCreate: cfg.Bool("auto.create"), autoEvolve: cfg.Bool("auto.evolve"),
		batchSize: cfg.Int("batch.size"), maxRetries: cfg.Int("max.retries"), retryBackoff: cfg.Duration("retry.backoff.ms")}
	if wl := cfg.List("fields.whitelist"); len(wl) > 0 {
		sc.whitelist = map[string]bool{}
		for _, f := range wl {
			sc.whitelist[f] = true
		}
	}
	return sc, nil
}

// sink is a configured jdbc sink connector.
type sink struct{ cfg *sinkConfig }

func (s *sink) Tasks(maxTasks int) ([]connectors.SinkTask, error) {
	tasks := make([]connectors.SinkTask, maxTasks)
	for i := range tasks {
		tasks[i] = &sinkTask{cfg: s.cfg}
	}
	return tasks, nil
}

// sinkTask writes records into tables. The worker never calls it
// concurrently; it owns one database connection, its table descriptions,
// compiled shapes and prepared statements.
type sinkTask struct {
	cfg *sinkConfig
	d   *dialect
	tc  connectors.SinkTaskContext
	log *slog.Logger
	db  *sql.DB

	tables  map[string]*tableState // by table name
	shapes  map[shapeKey]*shape
	stmts   map[string]*sql.Stmt
	retries int // consecutive retriable failures
}

// tableState is a destination table as the task knows it.
type tableState struct {
	id   tableID
	info *tableInfo // nil: the table does not exist
}

func (t *sinkTask) Open(ctx context.Context, tc connectors.SinkTaskContext) error {
	t.tc, t.log, t.d = tc, tc.Logger(), t.cfg.d
	db, err := t.cfg.conn.open(ctx, t.cfg.attempts, t.cfg.backoff)
	if err != nil {
		return fmt.Errorf("jdbc: %w", err)
	}
	// One connection: puts are sequential, and statements are prepared
	// once on it (database/sql re-prepares them if it reconnects).
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	t.db = db
	t.resetCaches()
	return nil
}

func (t *sinkTask) resetCaches() {
	for _, s := range t.stmts {
		s.Close()
	}
	t.tables = map[string]*tableState{}
	t.shapes = map[shapeKey]*shape{}
	t.stmts = map[string]*sql.Stmt{}
}

func (t *sinkTask) Assign(context.Context, []connectors.TopicPartition) error { return nil }
func (t *sinkTask) Revoke(context.Context, []connectors.TopicPartition) error { return nil }

// PreCommit: every Put is committed in the database before it returns.
func (t *sinkTask) PreCommit(_ context.Context, current map[connectors.TopicPartition]int64) (map[connectors.TopicPartition]int64, error) {
	return current, nil
}

func (t *sinkTask) Close() error {
	if t.db == nil {
		return nil
	}
	for _, s := range t.stmts {
		s.Close()
	}
	return t.db.Close()
}

// Put writes the records in one transaction. Records the database refuses
// (a constraint, a bad value) and records that cannot become rows are
// reported; a lost connection or a deadlock is retried (max.retries).
func (t *sinkTask) Put(ctx context.Context, records []*connectors.Record) error {
	err := t.put(ctx, records)
	if err != nil && t.d.classify(err) == errSchema {
		// A table changed under the task (dropped, a column removed):
		// describe the tables again and write once more.
		t.log.Warn("jdbc: a table changed under the sink; reading its description again", "error", err)
		t.resetCaches()
		err = t.put(ctx, records)
	}
	if err == nil {
		t.retries = 0
		return nil
	}
	var rep *reportError
	if errors.As(err, &rep) {
		return rep.err
	}
	switch t.d.classify(err) {
	case errConnection, errTransient:
		if t.cfg.maxRetries >= 0 && t.retries >= t.cfg.maxRetries {
			return fmt.Errorf("jdbc: write failed after %d retries (max.retries): %w", t.retries, err)
		}
		t.retries++
		t.log.Warn("jdbc: write failed; retrying", "attempt", t.retries, "backoff", t.cfg.retryBackoff, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(t.cfg.retryBackoff):
		}
		return connectors.Retriable(fmt.Errorf("jdbc: write: %w", err))
	}
	return fmt.Errorf("jdbc: write: %w", err)
}

// reportError carries the error of tc.Report (errors.tolerance=none) out of
// the writing code: Put returns it as it is.
type reportError struct{ err error }

func (e *reportError) Error() string { return e.err.Error() }

func (t *sinkTask) report(rec *connectors.Record, err error) error {
	if rerr := t.tc.Report(rec, fmt.Errorf("jdbc: %w", err)); rerr != nil {
		return &reportError{rerr}
	}
	return nil
}

func (t *sinkTask) put(ctx context.Context, records []*connectors.Record) error {
	for name, ts := range t.tables {
		if ts.info == nil {
			delete(t.tables, name) // look again: it may have been created since
			for k, sh := range t.shapes {
				if sh.table == ts {
					delete(t.shapes, k)
				}
			}
		}
	}
	var phases []*phase
	var cur *phase
	for _, rec := range records {
		r, err := t.row(ctx, rec)
		if err != nil {
			if c := t.d.classify(err); c == errConnection || c == errTransient {
				return err
			}
			if err := t.report(rec, err); err != nil {
				return err
			}
			continue
		}
		if r == nil {
			continue
		}
		if cur == nil || !cur.accepts(r) {
			cur = newPhase(r)
			phases = append(phases, cur)
		}
		cur.add(r)
	}
	if len(phases) == 0 {
		return nil
	}
	if err := t.prepare(ctx, phases); err != nil {
		return err
	}
	err := t.writeTx(ctx, phases, false)
	if err != nil && t.d.classify(err) == errData {
		// Some row was refused: write the batch again row by row, in one
		// transaction, reporting the rows refused.
		err = t.writeTx(ctx, phases, true)
	}
	return err
}

// writeTx writes the phases in one transaction; perRow writes each row on
// its own behind a savepoint and reports the rows the database refuses.
func (t *sinkTask) writeTx(ctx context.Context, phases []*phase, perRow bool) (err error) {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	for _, p := range phases {
		if perRow {
			err = t.writePhaseRows(ctx, tx, p)
		} else {
			err = t.writePhase(ctx, tx, p)
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (t *sinkTask) writePhase(ctx context.Context, tx *sql.Tx, p *phase) error {
	sh := p.shape
	if len(p.deletes) > 0 {
		for _, chunk := range t.chunks(len(p.deletes), len(sh.keyCols)) {
			stmt := tx.StmtContext(ctx, t.stmts[sh.deleteSQL(t.d, chunk.n)])
			if _, err := stmt.ExecContext(ctx, keyArgs(p.deletes[chunk.from:chunk.from+chunk.n], len(sh.keyCols))...); err != nil {
				return err
			}
		}
	}
	if len(p.upserts) == 0 {
		return nil
	}
	us := p.upShape
	if t.cfg.insertMode == insertUpdate {
		stmt := tx.StmtContext(ctx, t.stmts[us.updateSQL(t.d)])
		for _, r := range p.upserts {
			if _, err := stmt.ExecContext(ctx, us.updateArgs(r)...); err != nil {
				return err
			}
		}
		return nil
	}
	for _, chunk := range t.chunks(len(p.upserts), len(us.cols)) {
		stmt := tx.StmtContext(ctx, t.stmts[us.insertSQL(t.d, t.cfg.insertMode, chunk.n)])
		if _, err := stmt.ExecContext(ctx, rowArgs(p.upserts[chunk.from:chunk.from+chunk.n], len(us.cols))...); err != nil {
			return err
		}
	}
	return nil
}

func (t *sinkTask) writePhaseRows(ctx context.Context, tx *sql.Tx, p *phase) error {
	sh := p.shape
	one := func(r *row, sqlText string, args []any) error {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT sluice_row"); err != nil {
			return err
		}
		_, err := tx.StmtContext(ctx, t.stmts[sqlText]).ExecContext(ctx, args...)
		if err == nil {
			_, err = tx.ExecContext(ctx, "RELEASE SAVEPOINT sluice_row")
			return err
		}
		if t.d.classify(err) != errData {
			return err
		}
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT sluice_row"); rerr != nil {
			return rerr
		}
		return t.report(r.rec, fmt.Errorf("table %s refused the row: %w", sh.table.id, err))
	}
	for _, r := range p.deletes {
		if err := one(r, sh.deleteSQL(t.d, 1), keyArgs([]*row{r}, len(sh.keyCols))); err != nil {
			return err
		}
	}
	us := p.upShape
	for _, r := range p.upserts {
		var err error
		if t.cfg.insertMode == insertUpdate {
			err = one(r, us.updateSQL(t.d), us.updateArgs(r))
		} else {
			err = one(r, us.insertSQL(t.d, t.cfg.insertMode, 1), rowArgs([]*row{r}, len(us.cols)))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// chunk is a run of rows written by one statement.
type chunk struct{ from, n int }

// chunks splits n rows of cols parameters each into statements of at most
// batch.size rows (and the database's parameter limit); the remainder is
// split into powers of two, so that a shape needs at most a dozen distinct
// statements, each prepared once.
func (t *sinkTask) chunks(n, cols int) []chunk {
	size := t.cfg.batchSize
	if cols > 0 {
		size = min(size, t.d.maxParams()/cols)
	}
	size = max(size, 1)
	var out []chunk
	from := 0
	for n-from >= size {
		out = append(out, chunk{from, size})
		from += size
	}
	for rest := n - from; rest > 0; rest = n - from {
		p := 1
		for p*2 <= rest {
			p *= 2
		}
		out = append(out, chunk{from, p})
		from += p
	}
	return out
}

// prepare prepares every statement the phases need that is not prepared
// yet (before the transaction: the task's one connection is free then).
func (t *sinkTask) prepare(ctx context.Context, phases []*phase) error {
	need := func(sqlText string) error {
		if _, ok := t.stmts[sqlText]; ok {
			return nil
		}
		if len(t.stmts) >= 512 {
			for _, s := range t.stmts {
				s.Close()
			}
			clear(t.stmts)
		}
		s, err := t.db.PrepareContext(ctx, sqlText)
		if err != nil {
			return err
		}
		t.stmts[sqlText] = s
		return nil
	}
	for _, p := range phases {
		sh := p.shape
		if len(p.deletes) > 0 {
			if err := need(sh.deleteSQL(t.d, 1)); err != nil {
				return err
			}
			for _, c := range t.chunks(len(p.deletes), len(sh.keyCols)) {
				if err := need(sh.deleteSQL(t.d, c.n)); err != nil {
					return err
				}
			}
		}
		if len(p.upserts) == 0 {
			continue
		}
		us := p.upShape
		if t.cfg.insertMode == insertUpdate {
			if err := need(us.updateSQL(t.d)); err != nil {
				return err
			}
			continue
		}
		if err := need(us.insertSQL(t.d, t.cfg.insertMode, 1)); err != nil {
			return err
		}
		for _, c := range t.chunks(len(p.upserts), len(us.cols)) {
			if err := need(us.insertSQL(t.d, t.cfg.insertMode, c.n)); err != nil {
				return err
			}
		}
	}
	return nil
}

func keyArgs(rows []*row, nKey int) []any {
	args := make([]any, 0, len(rows)*nKey)
	for _, r := range rows {
		args = append(args, r.args[:nKey]...)
	}
	return args
}

func rowArgs(rows []*row, n int) []any {
	args := make([]any, 0, len(rows)*n)
	for _, r := range rows {
		args = append(args, r.args...)
	}
	return args
}

// phase is a run of a put's records for one table and key layout, written
// as deletes first, then inserts/upserts. Records join a phase while that
// order gives what writing them one by one would: a delete of a key that
// an earlier record of the phase writes ends the phase. In upsert and
// update modes a later record of a key replaces an earlier one (the
// shape's columns are all written, so the last record decides the row).
type phase struct {
	shape   *shape // the table and key layout
	upShape *shape // the value layout of the upserts
	deletes []*row
	upserts []*row
	delKeys map[string]bool
	upKeys  map[string]int
	dedupe  bool
}

func newPhase(r *row) *phase {
	return &phase{shape: r.shape, delKeys: map[string]bool{}, upKeys: map[string]int{},
		dedupe: r.shape.task.cfg.insertMode != insertInsert && len(r.shape.keyCols) > 0}
}

func (p *phase) accepts(r *row) bool {
	if r.shape.table != p.shape.table || !sameNames(r.shape.keyCols, p.shape.keyCols) {
		return false
	}
	if r.delete {
		_, written := p.upKeys[r.key]
		return !written
	}
	return p.upShape == nil || p.upShape == r.shape
}

func (p *phase) add(r *row) {
	if r.delete {
		if !p.delKeys[r.key] {
			p.delKeys[r.key] = true
			p.deletes = append(p.deletes, r)
		}
		return
	}
	p.upShape = r.shape
	if len(r.shape.keyCols) > 0 {
		if i, ok := p.upKeys[r.key]; ok && p.dedupe {
			p.upserts[i] = r
			return
		}
		p.upKeys[r.key] = len(p.upserts)
	}
	p.upserts = append(p.upserts, r)
}

func sameNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
