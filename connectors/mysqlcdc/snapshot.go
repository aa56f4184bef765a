package mysqlcdc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/debezium"
)

// The consistent snapshot.
//
// One connection runs, in order:
//
//  1. FLUSH TABLES WITH READ LOCK (snapshot.locking.mode minimal or
//     extended): no commit and no DDL can happen from here.
//  2. START TRANSACTION WITH CONSISTENT SNAPSHOT (REPEATABLE READ): the
//     transaction's reads see the database as of this instant.
//  3. The binlog position of that instant: on MariaDB the session's
//     binlog_snapshot_file/position (set by step 2, exact even without a
//     lock) and BINLOG_GTID_POS of it; on MySQL SHOW BINARY LOG STATUS (SHOW
//     MASTER STATUS), exact because the lock stops commits.
//  4. The captured tables and their structure (information_schema), and a
//     `SELECT * ... LIMIT 0` of each, which takes a shared metadata lock
//     that the transaction holds to its end: DDL on a captured table waits
//     until the snapshot ends, so the structures read stay the structures
//     of the rows read.
//  5. UNLOCK TABLES (minimal): writes resume; the transaction still reads
//     the snapshot.
//  6. A schema history record per table (and a schema change event with
//     SHOW CREATE TABLE, include.schema.changes), committed before any
//     row (the poll ends and asks for a commit).
//  7. Each table's rows (explicit columns, binary protocol: exact floats),
//     as op=r events, across as many polls as needed.
//  8. COMMIT, UNLOCK TABLES (extended), and streaming starts at the
//     position of step 3.
//
// Guarantee: every row committed before the position is in the snapshot,
// every change after it is streamed, none twice: the rows and the position
// describe the same instant. An interrupted snapshot is started over from
// step 1 when the task runs again (its offset says snapshot=true): rows
// already written are written again (op=r, same keys), as Debezium does.

type snapshotRun struct {
	withData bool
	started  bool
	conn     *sql.Conn
	pos      binlogPos
	tables   []*tableState
	next     int
	globalRO bool // the global read lock is held

	// scanCtx bounds the table scans, which span polls: the snapshot's
	// life, not one poll's.
	scanCtx    context.Context
	cancelScan context.CancelFunc
	rows       *sql.Rows
	cur        *tableState
	vals       []any
	ptrs       []any
	held       *connectors.Record // the last row built, emitted when the next one comes
	heldSn     *connectors.Struct // its source block (its snapshot marker is set late)
	heldShared bool               // heldSn is shared with other records
	// shared is the source block (snapshot=true) of the rows of one table
	// read in one poll: records and their values are immutable once
	// handed over, so they share it (a block per row was a fifth of the
	// snapshot's allocations). A row with a marker gets its own copy.
	shared      *connectors.Struct
	sharedTable *tableState
	sharedAt    time.Time
	recs        []connectors.Record // storage for the rows' records, one allocation per batch
	raw         []any               // the values of the rows read in a poll, back to back (reused)
	nRows       int64               // rows of the current table
	any         bool                // a row was emitted (the first is "first")
	offMap      map[string]any
}

func (s *snapshotRun) offset(t *task) map[string]any {
	if s.offMap == nil {
		o := mainOffset{binlogPos: s.pos, Snapshot: true}
		if t.state != nil {
			o.Epoch, o.Seq = t.state.epoch, t.state.seq
		}
		s.offMap = o.toMap("")
	}
	return s.offMap
}

func (s *snapshotRun) close() error {
	if s.cancelScan != nil {
		s.cancelScan()
	}
	var errs []error
	if s.rows != nil {
		errs = append(errs, s.rows.Close())
		s.rows = nil
	}
	if s.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _ = s.conn.ExecContext(ctx, "ROLLBACK")
		if s.globalRO {
			_, _ = s.conn.ExecContext(ctx, "UNLOCK TABLES")
		}
		cancel()
		errs = append(errs, s.conn.Close())
		s.conn = nil
	}
	return errors.Join(errs...)
}

func (t *task) pollSnapshot(ctx context.Context) error {
	s := t.snap
	if !s.started {
		if err := t.beginSnapshot(ctx); err != nil {
			_ = s.close()
			t.snap = &snapshotRun{withData: s.withData}
			if err, permanent := t.cfg.explainServerError("snapshot", err); permanent {
				return err
			}
			// A lost connection or a lock timeout: start over at the next
			// poll, after the worker's backoff.
			return connectors.Retriable(err)
		}
		s.started = true
		if len(t.out) > 0 {
			// Commit the schema history before the first row.
			t.tc.RequestCommit()
			return nil
		}
	}
	// One processing time per poll: the rows' ts_ms are the poll's.
	now := time.Now()
	at := debezium.At(now)
	for len(t.out) < t.cfg.maxBatch {
		if s.rows == nil {
			more, err := t.openNextTable(ctx)
			if err != nil {
				return err
			}
			if !more {
				return t.finishSnapshot(ctx)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		// Read as many rows of the table as the batch has room for, then
		// convert them together (on several goroutines: the conversion to
		// Debezium's values is most of the per-row work), then build their
		// events in order.
		ncols := len(s.vals)
		raw := s.raw[:0]
		ended := false
		for n := t.cfg.maxBatch - len(t.out); n > 0; n-- {
			if !s.rows.Next() {
				ended = true
				break
			}
			if err := s.rows.Scan(s.ptrs...); err != nil {
				return t.snapshotFailed(fmt.Errorf("mysql-cdc: snapshot of %s: %w", s.cur.id, err))
			}
			raw = append(raw, s.vals...)
		}
		s.raw = raw
		nrows := 0
		if ncols > 0 {
			nrows = len(raw) / ncols
		}
		rowStructs, rowErrs := convertRows(s.cur.schema, raw, ncols, nrows)
		for i, row := range rowStructs {
			if err := rowErrs[i]; err != nil {
				vals := raw[i*ncols : (i+1)*ncols]
				rawRec := &connectors.Record{Topic: s.cur.schema.topic, Partition: -1, Offset: -1,
					Value: []byte(fmt.Sprint(vals...)), SourcePartition: t.partition, SourceOffset: s.offset(t)}
				if rerr := t.tc.Report(rawRec, err); rerr != nil {
					clear(raw)
					return rerr
				}
				continue
			}
			t.snapshotRow(row, now, at)
		}
		clear(raw) // the values are in the records now
		if ended {
			err := s.rows.Err()
			s.rows.Close()
			s.rows = nil
			if err != nil {
				return t.snapshotFailed(fmt.Errorf("mysql-cdc: snapshot of %s: %w", s.cur.id, err))
			}
			if s.nRows > 0 && s.heldSn.At(srcSnapshot) != debezium.SnapshotFirst {
				s.markHeld("last_in_data_collection")
			}
		}
	}
	return nil
}

// snapshotRow makes a snapshot row's read event and holds it back (the
// held one goes out), so that the last row's marker can still be set.
func (t *task) snapshotRow(row *connectors.Struct, now time.Time, at debezium.Processed) {
	s := t.snap
	marker := debezium.SnapshotTrue
	switch {
	case !s.any:
		marker = debezium.SnapshotFirst
	case s.nRows == 0:
		marker = "first_in_data_collection"
	}
	s.any = true
	s.nRows++
	if s.shared == nil || s.sharedTable != s.cur || !s.sharedAt.Equal(now) {
		s.shared, s.sharedTable, s.sharedAt = t.snapshotSourceAt(s.cur.schema.def, debezium.SnapshotTrue, now).Share(), s.cur, now
	}
	src := s.shared
	if marker != debezium.SnapshotTrue {
		src = copyStruct(src)
		src.Set(srcSnapshot, marker)
	}
	if len(s.recs) == 0 {
		s.recs = make([]connectors.Record, t.cfg.maxBatch+1)
	}
	rec := &s.recs[0]
	s.recs = s.recs[1:]
	s.cur.schema.dbz.FillRecord(rec, debezium.OpRead, nil, row, src, at, t.partition, nil)
	if s.held != nil {
		t.out = append(t.out, s.held)
	}
	s.held, s.heldSn, s.heldShared = rec, src, src == s.shared
}

// minConvertRows is the fewest rows a conversion goroutine gets.
const minConvertRows = 128

// convertRows converts nrows rows of ncols values each (raw, back to back)
// into row structs, on up to GOMAXPROCS goroutines; a row that does not
// convert has a nil struct and its error.
func convertRows(ts *tableSchema, raw []any, ncols, nrows int) ([]*connectors.Struct, []error) {
	out := make([]*connectors.Struct, nrows)
	errs := make([]error, nrows)
	convert := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i], errs[i] = ts.rowFromSQL(raw[i*ncols : (i+1)*ncols])
		}
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), nrows/minConvertRows))
	per := (nrows + workers - 1) / workers
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		lo, hi := min(w*per, nrows), min((w+1)*per, nrows)
		wg.Add(1)
		go func() {
			defer wg.Done()
			convert(lo, hi)
		}()
	}
	convert(0, min(per, nrows))
	wg.Wait()
	return out, errs
}

func (t *task) snapshotFailed(err error) error {
	_ = t.snap.close()
	t.snap = &snapshotRun{withData: t.snap.withData}
	t.out = t.out[:0]
	if err, permanent := t.cfg.explainServerError("snapshot", err); permanent {
		return err
	}
	t.log.Warn("mysql-cdc: snapshot failed; it starts over", "error", err)
	return connectors.Retriable(err)
}

// markHeld sets the held record's snapshot marker, giving it a source
// block of its own if it shares one.
func (s *snapshotRun) markHeld(marker string) {
	if s.heldShared {
		s.heldSn, s.heldShared = copyStruct(s.heldSn), false
		s.held.Value.(*connectors.Struct).Put("source", s.heldSn)
	}
	s.heldSn.Set(srcSnapshot, marker)
}

// copyStruct is a shallow copy of a struct (its values are immutable).
func copyStruct(st *connectors.Struct) *connectors.Struct {
	out := connectors.NewStructValue(st.Schema())
	for i := range st.Schema().Fields {
		out.Set(i, st.At(i))
	}
	return out
}

func (t *task) snapshotSource(def *tableDef, marker string) *connectors.Struct {
	return t.snapshotSourceAt(def, marker, time.Now())
}

// snapshotSourceAt is a snapshot row's source block, read at now.
func (t *task) snapshotSourceAt(def *tableDef, marker string, now time.Time) *connectors.Struct {
	s := connectors.NewStructValue(sourceSchema)
	s.Set(srcVersion, connectorVersion)
	s.Set(srcConnector, "mysql")
	s.Set(srcName, t.cfg.prefix)
	s.Set(srcTsMs, now.UnixMilli())
	s.Set(srcTsUs, now.UnixMicro())
	s.Set(srcTsNs, now.UnixNano())
	s.Set(srcSnapshot, marker)
	if def != nil {
		s.Set(srcDB, def.DB)
		s.Set(srcTable, def.Name)
	} else {
		s.Set(srcDB, "")
	}
	s.Set(srcServerID, int64(0))
	s.Set(srcFile, t.snap.pos.File)
	s.Set(srcPos, int64(t.snap.pos.Pos))
	s.Set(srcRow, int32(0))
	return s
}

func (t *task) beginSnapshot(ctx context.Context) error {
	s := t.snap
	conn, err := t.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("mysql-cdc: snapshot connection: %w", err)
	}
	s.conn = conn
	lockSecs := int64(math.Ceil(t.cfg.lockTimeout.Seconds()))
	if lockSecs < 1 {
		lockSecs = 1
	}
	for _, q := range []string{
		fmt.Sprintf("SET SESSION lock_wait_timeout = %d", lockSecs),
		// The row scan waits while the worker writes to Kafka.
		"SET SESSION net_write_timeout = 3600",
		"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mysql-cdc: snapshot: %s: %w", q, err)
		}
	}
	if t.cfg.lockMode != lockNone {
		if _, err := conn.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
			return fmt.Errorf("mysql-cdc: snapshot: FLUSH TABLES WITH READ LOCK (needs the RELOAD privilege; snapshot.locking.mode=none takes no global lock): %w", err)
		}
		s.globalRO = true
	}
	if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
		return fmt.Errorf("mysql-cdc: snapshot: START TRANSACTION WITH CONSISTENT SNAPSHOT: %w", err)
	}
	var ok bool
	if t.info.mariadb {
		if s.pos, ok, err = mariadbSnapshotPosition(ctx, conn); err != nil {
			return fmt.Errorf("mysql-cdc: snapshot: binlog snapshot position: %w", err)
		}
		if ok {
			if s.pos.GTIDs, err = mariadbGTIDAt(ctx, conn, s.pos.File, s.pos.Pos); err != nil {
				return err
			}
		}
	}
	if !ok {
		if s.pos, err = currentPosition(ctx, conn, t.info); err != nil {
			return err
		}
		if t.cfg.lockMode == lockNone && !t.info.mariadb {
			t.log.Warn("mysql-cdc: snapshot.locking.mode=none on MySQL: the binlog position is read without a lock, so writes committed meanwhile may appear both in the snapshot and in the stream")
		}
	}
	tables, err := listTables(ctx, conn, t.cfg.filters)
	if err != nil {
		return err
	}
	for _, tb := range tables {
		// A shared metadata lock until the transaction ends.
		rows, err := conn.QueryContext(ctx, "SELECT * FROM "+quoteIdent(tb[0])+"."+quoteIdent(tb[1])+" LIMIT 0")
		if err != nil {
			return fmt.Errorf("mysql-cdc: snapshot: lock %s.%s: %w", tb[0], tb[1], err)
		}
		rows.Close()
	}
	defs, err := readTableDefs(ctx, conn, t.info.mariadb, tables)
	if err != nil {
		return err
	}
	ddls := map[string]string{}
	if t.cfg.includeSchema {
		for _, tb := range tables {
			ddl, err := showCreateTable(ctx, conn, tb[0], tb[1])
			if err != nil {
				return fmt.Errorf("mysql-cdc: snapshot: SHOW CREATE TABLE %s.%s: %w", tb[0], tb[1], err)
			}
			ddls[tb[0]+"."+tb[1]] = ddl
		}
	}
	if t.cfg.lockMode == lockMinimal {
		if _, err := conn.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
			return fmt.Errorf("mysql-cdc: snapshot: UNLOCK TABLES: %w", err)
		}
		s.globalRO = false
	}
	t.log.Info("mysql-cdc: snapshot started", "file", s.pos.File, "pos", s.pos.Pos, "gtids", s.pos.GTIDs, "tables", len(tables), "rows", s.withData)

	t.state = newSchemaState(t.cfg, t.modes, newEpoch())
	t.ddl = newDDLApplier(t.state, t.cfg.filters, t.info.mariadb, t.info.explicitTimestamp)
	s.offMap = nil
	s.tables = s.tables[:0]
	for _, tb := range tables {
		def := defs[tb[0]+"."+tb[1]]
		if def == nil {
			continue
		}
		change := tableChange{kind: changeCreate, id: def.id(), def: def}
		src := t.snapshotSource(def, debezium.SnapshotTrue)
		rec, err := t.newVersionRecord(def.id(), def, change, ddls[def.id()], src)
		if err != nil {
			return fmt.Errorf("mysql-cdc: snapshot: %w", err)
		}
		t.out = append(t.out, rec)
		if t.cfg.includeSchema {
			t.out = append(t.out, t.schemaChangeRecord(def.DB, ddls[def.id()], []tableChange{change}, src))
		}
		s.tables = append(s.tables, t.state.tables[def.id()])
	}
	return nil
}

// openNextTable starts the scan of the next table whose rows the snapshot
// reads; false when none is left.
func (t *task) openNextTable(ctx context.Context) (bool, error) {
	s := t.snap
	for s.withData && s.next < len(s.tables) {
		ts := s.tables[s.next]
		s.next++
		def := ts.schema.def
		if !t.cfg.snapshotsRows(def.DB, def.Name) {
			continue
		}
		cols := make([]string, len(def.Columns))
		for i, c := range def.Columns {
			cols[i] = quoteIdent(c.Name)
		}
		// A parameter makes the driver use the binary protocol: floats
		// come exact, not as text rounded to 6 digits.
		q := "SELECT " + strings.Join(cols, ",") + " FROM " + quoteIdent(def.DB) + "." + quoteIdent(def.Name) + " LIMIT ?"
		if s.scanCtx == nil {
			s.scanCtx, s.cancelScan = context.WithCancel(context.Background())
		}
		rows, err := s.conn.QueryContext(s.scanCtx, q, uint64(math.MaxInt64))
		if err != nil {
			return false, t.snapshotFailed(fmt.Errorf("mysql-cdc: snapshot of %s: %w", ts.id, err))
		}
		s.rows, s.cur, s.nRows = rows, ts, 0
		s.vals = make([]any, len(cols))
		s.ptrs = make([]any, len(cols))
		for i := range s.vals {
			s.ptrs[i] = &s.vals[i]
		}
		return true, nil
	}
	return false, nil
}

// finishSnapshot emits the last row with the completed offset, ends the
// snapshot transaction and hands over to the stream (or finishes,
// initial_only).
func (t *task) finishSnapshot(ctx context.Context) error {
	s := t.snap
	if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return t.snapshotFailed(fmt.Errorf("mysql-cdc: snapshot: COMMIT: %w", err))
	}
	if s.globalRO {
		if _, err := s.conn.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
			return t.snapshotFailed(fmt.Errorf("mysql-cdc: snapshot: UNLOCK TABLES: %w", err))
		}
		s.globalRO = false
	}
	_ = s.conn.Close()
	s.conn = nil
	if s.cancelScan != nil {
		s.cancelScan()
	}
	done := mainOffset{binlogPos: s.pos, Epoch: t.state.epoch, Seq: t.state.seq}
	if s.held != nil {
		s.markHeld(debezium.SnapshotLast)
		s.held.SourceOffset = done.toMap("")
		t.out = append(t.out, s.held)
		s.held = nil
	} else {
		// No row: a heartbeat carries the completed position (whatever
		// heartbeat.interval.ms says). Without it a restart would take
		// another snapshot at a later position and changes streamed
		// meanwhile but not yet committed would be lost.
		hb := t.heartbeatRecord()
		hb.SourceOffset = done.toMap("")
		t.out = append(t.out, hb)
		t.tc.RequestCommit()
	}
	t.log.Info("mysql-cdc: snapshot completed", "tables", len(s.tables))
	t.snap = nil
	if t.cfg.snapshotMode == snapshotInitialOnly {
		t.phase = phaseDone
		return io.EOF
	}
	t.strm = newStreamer(t, s.pos)
	t.phase = phaseStream
	return nil
}
