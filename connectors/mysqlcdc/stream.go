package mysqlcdc

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
	"github.com/sluicehq/sluice/internal/debezium"
)

// Binlog streaming and positions.
//
// A transaction in the binlog starts with a GTID event (MySQL, MariaDB) or
// a BEGIN query, and ends with an XID event, a COMMIT query, or after its
// one statement (DDL; MariaDB's standalone GTID groups). The connector
// numbers the events of the transaction in progress from 0 (its first
// event). A record's offset is the restart point: outside a transaction
// the next event's position and the GTIDs completed; inside one the
// transaction's first event, the GTIDs completed before it, the number of
// its events fully processed (event) and of rows of the next event already
// emitted (row), as Debezium's offsets do. Restarting (after a crash, a
// lost connection, a server restart) reads from the transaction's start
// (by GTID set when the offset has one, else by file and position) and
// skips what was emitted, so a crash in the middle of a transaction
// neither loses nor repeats a row. A poll's last record carries the
// position after everything processed so far: records in between produced
// nothing, so the position covers them.

type streamItem struct {
	ev  *replication.BinlogEvent
	err error
}

// partialRows is a rows event whose rows are emitted across polls.
type partialRows struct {
	ev     *replication.BinlogEvent
	rows   *replication.RowsEvent
	schema *tableSchema
	idx    int64 // the event's index in its transaction
	next   int   // next row to emit
	n      int
	step   int // 2 for updates (before and after image)
	op     string
	source *connectors.Struct // the rows' source block but for row
}

type streamer struct {
	t *task

	// The connection (nil while disconnected).
	syncer *replication.BinlogSyncer
	events chan streamItem
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// from is where the connection started: Event and Row skip the start
	// of the first transaction after connecting.
	from       binlogPos
	skipFirst  bool // the first transaction is still to come
	skipActive bool // the current transaction is that first one

	file     string
	resume   binlogPos // the restart point outside a transaction
	gtids    gomysql.GTIDSet
	serverID uint32

	inTxn          bool
	standalone     bool // the transaction is one statement
	mysqlAfterGTID bool // MySQL: GTID event read, no BEGIN yet
	txn            binlogPos
	done           int64 // events of the transaction fully processed
	rowsDone       int   // rows of the event in progress already emitted
	txnGTID        string
	txnSkip        bool // a transaction of a GTID source not followed
	txnTime        time.Time
	thread         int64
	query          string

	tables  map[uint64]*tableSchema // table id → schema; nil: not captured
	partial *partialRows
}

func newStreamer(t *task, from binlogPos) *streamer {
	return &streamer{t: t, from: from, resume: from, file: from.File, serverID: from.ServerID, thread: -1}
}

// position is the restart point after everything processed.
func (s *streamer) position() binlogPos {
	var p binlogPos
	if s.inTxn {
		p = s.txn
		p.Event = s.done
		p.Row = s.rowsDone
	} else {
		p = s.resume
	}
	if s.gtids != nil {
		// Updated at each transaction's end: during a transaction it is
		// the set before it.
		p.GTIDs = s.gtids.String()
	}
	return p
}

func (s *streamer) offset() map[string]any {
	o := mainOffset{binlogPos: s.position()}
	st := s.t.state
	o.Epoch, o.Seq = st.epoch, st.seq
	return o.toMap(st.pendingJSON())
}

// offsetAfterRow is the offset just after row r of event idx of the
// transaction in progress (for a row that is reported instead of emitted).
func (s *streamer) offsetAfterRow(idx int64, r, n int) map[string]any {
	p := s.txn
	if s.gtids != nil {
		p.GTIDs = s.gtids.String()
	}
	if r+1 >= n {
		p.Event, p.Row = idx+1, 0
	} else {
		p.Event, p.Row = idx, r+1
	}
	o := mainOffset{binlogPos: p, Epoch: s.t.state.epoch, Seq: s.t.state.seq}
	return o.toMap(s.t.state.pendingJSON())
}

// connect opens the binlog connection at s.from.
func (s *streamer) connect(ctx context.Context) error {
	t := s.t
	cfg := t.cfg
	flavor := t.info.flavor()
	gs, err := gomysql.ParseGTIDSet(flavor, s.from.GTIDs)
	if err != nil {
		return fmt.Errorf("mysql-cdc: GTID set %q of the offset: %w", s.from.GTIDs, err)
	}
	s.gtids = gs
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.events = make(chan streamItem, cfg.maxQueue)
	dialer := &net.Dialer{Timeout: cfg.connectTimeout, KeepAlive: 30 * time.Second}
	bc := replication.BinlogSyncerConfig{
		ServerID:                cfg.serverID,
		Flavor:                  flavor,
		Host:                    cfg.host,
		Port:                    uint16(cfg.port),
		User:                    cfg.user,
		Password:                cfg.password.Reveal(),
		TimestampStringLocation: time.UTC,
		ParseTime:               true,
		RenderJSONAsMySQLText:   !t.info.mariadb,
		// The server sends heartbeats while idle; a connection silent
		// for longer is dead (a server that vanished without a reset).
		HeartbeatPeriod:         10 * time.Second,
		ReadTimeout:             60 * time.Second,
		DisableRetrySync:        true,
		Dialer:                  dialer.DialContext,
		Logger:                  slog.New(quietHandler{t.log.Handler()}),
		SynchronousEventHandler: s,
	}
	if t.info.mariadb {
		// Always, whatever include.query says: offsets count a
		// transaction's events, and the count must not change when the
		// setting does between a crash and the restart.
		bc.DumpCommandFlag |= replication.BINLOG_SEND_ANNOTATE_ROWS_EVENT
	}
	syncer := replication.NewBinlogSyncer(bc)
	var bs *replication.BinlogStreamer
	if s.from.GTIDs != "" && t.info.gtidMode {
		start := s.from.GTIDs
		if cfg.filters.gtidFiltered() {
			server, err := currentPosition(ctx, t.db, t.info)
			if err != nil {
				syncer.Close()
				return err
			}
			if start, err = restartGTIDs(t.info.mariadb, start, server.GTIDs, cfg.filters); err != nil {
				syncer.Close()
				return err
			}
		}
		set, err := gomysql.ParseGTIDSet(flavor, start)
		if err != nil {
			syncer.Close()
			return fmt.Errorf("mysql-cdc: GTID set %q: %w", start, err)
		}
		bs, err = syncer.StartSyncGTID(set)
		if err != nil {
			syncer.Close()
			return fmt.Errorf("mysql-cdc: start reading the binlog after GTIDs %s: %w", start, err)
		}
	} else {
		bs, err = syncer.StartSync(gomysql.Position{Name: s.from.File, Pos: s.from.Pos})
		if err != nil {
			syncer.Close()
			return fmt.Errorf("mysql-cdc: start reading the binlog at %s:%d: %w", s.from.File, s.from.Pos, err)
		}
	}
	s.syncer = syncer
	s.file = s.from.File
	s.resume = s.from
	s.serverID = s.from.ServerID
	s.inTxn, s.partial = false, nil
	s.done, s.rowsDone = 0, 0
	s.skipFirst = s.from.Event > 0 || s.from.Row > 0
	s.skipActive = false
	s.tables = map[uint64]*tableSchema{}
	// In synchronous mode the streamer only reports the connection's end.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_, err := bs.GetEvent(s.ctx)
		if err == nil || s.ctx.Err() != nil {
			return
		}
		select {
		case s.events <- streamItem{err: err}:
		case <-s.ctx.Done():
		}
	}()
	t.log.Info("mysql-cdc: reading the binlog", "file", s.from.File, "pos", s.from.Pos, "gtids", s.from.GTIDs, "skip_events", s.from.Event, "skip_rows", s.from.Row)
	return nil
}

// HandleEvent receives events on the binlog reader's goroutine: the queue
// (max.queue.size) is the read-ahead, and a full queue holds the reader,
// and so the connection, back.
func (s *streamer) HandleEvent(e *replication.BinlogEvent) error {
	select {
	case s.events <- streamItem{ev: e}:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// disconnect closes the connection; the next poll reconnects at the
// position reached.
func (s *streamer) disconnect() {
	if s.syncer == nil {
		return
	}
	s.from = s.position()
	s.cancel()
	s.syncer.Close()
	s.wg.Wait()
	s.syncer = nil
	s.inTxn, s.partial = false, nil
}

func (s *streamer) close() { s.disconnect() }

func (t *task) pollStream(ctx context.Context) error {
	s := t.strm
	if s.syncer == nil {
		cctx, cancel := context.WithTimeout(ctx, t.cfg.connectTimeout)
		err := s.connect(cctx)
		cancel()
		if err != nil {
			if err, permanent := t.cfg.explainBinlogError("binlog connection", err); permanent {
				return err
			}
			return connectors.Retriable(err)
		}
	}
	if s.partial != nil {
		if !t.emitRows() {
			return nil
		}
	}
	wait := time.NewTimer(time.Second)
	defer wait.Stop()
	var linger <-chan time.Time
	for len(t.out) < t.cfg.maxBatch {
		var item streamItem
		if len(t.out) == 0 {
			select {
			case item = <-s.events:
			case <-wait.C:
				return t.maybeHeartbeat()
			case <-ctx.Done():
				return nil
			}
		} else {
			select {
			case item = <-s.events:
			default:
				if t.cfg.pollInterval == 0 {
					return t.maybeHeartbeat()
				}
				if linger == nil {
					linger = time.After(t.cfg.pollInterval)
				}
				select {
				case item = <-s.events:
				case <-linger:
					return t.maybeHeartbeat()
				case <-ctx.Done():
					return nil
				}
			}
		}
		if item.err != nil {
			s.disconnect()
			if err, permanent := t.cfg.explainBinlogError(fmt.Sprintf("binlog connection at %s:%d (GTIDs %q)", s.from.File, s.from.Pos, s.from.GTIDs), item.err); permanent {
				return err
			}
			t.log.Warn("mysql-cdc: binlog connection lost; reconnecting at the position reached", "file", s.from.File, "pos", s.from.Pos, "error", item.err.Error())
			return connectors.Retriable(fmt.Errorf("mysql-cdc: binlog connection: %w", item.err))
		}
		if err := t.processEvent(ctx, item.ev); err != nil {
			if connectors.IsRetriable(err) {
				s.disconnect()
			}
			return err
		}
		if s.partial != nil {
			// The batch is full in the middle of a rows event.
			return nil
		}
	}
	return t.maybeHeartbeat()
}

// maybeHeartbeat adds a heartbeat record between transactions when
// heartbeat.interval.ms has passed: it carries the position, so the
// committed offset moves while the captured tables are idle.
func (t *task) maybeHeartbeat() error {
	if t.cfg.heartbeat <= 0 || t.strm.inTxn || time.Since(t.heartbeatAt) < t.cfg.heartbeat {
		return nil
	}
	t.out = append(t.out, t.heartbeatRecord())
	return nil
}

// heartbeatRecord is Debezium's heartbeat: key {serverName}, value
// {ts_ms}, in the main partition (its offset is set by the batch's end).
func (t *task) heartbeatRecord() *connectors.Record {
	t.heartbeatAt = time.Now()
	key := connectors.NewStructValue(heartbeatKeySchema).Put("serverName", t.cfg.prefix)
	val := connectors.NewStructValue(heartbeatValueSchema).Put("ts_ms", t.heartbeatAt.UnixMilli())
	return &connectors.Record{Topic: t.cfg.heartbeatTopic, Partition: -1, Offset: -1,
		KeySchema: heartbeatKeySchema, Key: key, ValueSchema: heartbeatValueSchema, Value: val,
		SourcePartition: t.partition}
}

func (t *task) processEvent(ctx context.Context, ev *replication.BinlogEvent) error {
	s := t.strm
	h := ev.Header
	artificial := h.LogPos == 0 || h.Flags&replication.LOG_EVENT_ARTIFICIAL_F != 0
	if !artificial && h.ServerID != 0 {
		s.serverID = h.ServerID
	}
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		s.file = string(e.NextLogName)
		if !artificial && !s.inTxn && !s.skipFirst {
			s.resume = binlogPos{File: s.file, Pos: uint32(e.Position), ServerID: s.serverID, TsSec: int64(h.Timestamp)}
		}
		return nil
	case *replication.HeartbeatEvent:
		return nil
	case *replication.MariadbGTIDEvent:
		return t.beginTxn(h, e.GTID.String(), e.IsStandalone(), time.Time{})
	case *replication.GTIDEvent:
		return t.mysqlGTID(h, e)
	case *replication.GtidTaggedLogEvent:
		return t.mysqlGTID(h, &e.GTIDEvent)
	case *replication.QueryEvent:
		return t.handleQuery(ctx, h, e)
	case *replication.TransactionPayloadEvent:
		// MySQL's compressed transactions: the inner events are the
		// transaction's events (emitted whole, whatever max.batch.size);
		// the payload's end is the position after.
		t.noSplit = true
		defer func() { t.noSplit = false }()
		for _, inner := range e.Events {
			inner.Header.LogPos = h.LogPos
			if err := t.processEvent(ctx, inner); err != nil {
				return err
			}
		}
		return nil
	}
	if !s.inTxn {
		// Events between transactions (format description, previous
		// GTIDs, GTID list, checkpoints): the restart point moves past,
		// unless the first transaction is still to be skipped into.
		if !artificial && h.LogPos > 0 && !s.skipFirst {
			s.resume = binlogPos{File: s.file, Pos: h.LogPos, ServerID: s.serverID, TsSec: int64(h.Timestamp)}
		}
		return nil
	}
	switch e := ev.Event.(type) {
	case *replication.TableMapEvent:
		if err := t.tableMap(ctx, h, e); err != nil {
			return err
		}
	case *replication.RowsEvent:
		return t.rowsEvent(ev, e)
	case *replication.XIDEvent:
		s.done++
		t.endTxn(h)
		return nil
	case *replication.RowsQueryEvent:
		s.query = string(e.Query)
	case *replication.MariadbAnnotateRowsEvent:
		s.query = string(e.Query)
	}
	s.done++
	return nil
}

func (t *task) mysqlGTID(h *replication.EventHeader, e *replication.GTIDEvent) error {
	gtid := ""
	if set, err := e.GTIDNext(); err == nil && !isAnonymousSID(e.SID) {
		gtid = set.String()
	}
	var commit time.Time
	if e.OriginalCommitTimestamp > 0 {
		commit = e.OriginalCommitTime()
	}
	if err := t.beginTxn(h, gtid, false, commit); err != nil {
		return err
	}
	t.strm.mysqlAfterGTID = true
	return nil
}

func isAnonymousSID(sid []byte) bool {
	for _, b := range sid {
		if b != 0 {
			return false
		}
	}
	return true
}

func (t *task) beginTxn(h *replication.EventHeader, gtid string, standalone bool, commit time.Time) error {
	s := t.strm
	if s.inTxn {
		t.log.Warn("mysql-cdc: a transaction started before the previous one ended", "file", s.file, "pos", h.LogPos-h.EventSize)
	}
	s.inTxn, s.standalone, s.mysqlAfterGTID = true, standalone, false
	s.txn = binlogPos{File: s.file, Pos: h.LogPos - h.EventSize, ServerID: h.ServerID, TsSec: int64(h.Timestamp)}
	s.done, s.rowsDone = 1, 0
	s.txnGTID = gtid
	s.txnSkip = gtid != "" && t.cfg.filters.gtidFiltered() && !t.cfg.filters.gtidSource(gtidSource(t.info.mariadb, gtid))
	s.txnTime = commit
	if s.txnTime.IsZero() {
		s.txnTime = time.Unix(int64(h.Timestamp), 0)
	}
	s.thread, s.query = -1, ""
	s.skipActive = false
	if s.skipFirst {
		s.skipFirst = false
		s.skipActive = true
		if s.from.GTIDs == "" || !t.info.gtidMode {
			if s.txn.File != s.from.File || s.txn.Pos != s.from.Pos {
				return fmt.Errorf("mysql-cdc: the committed offset points into a transaction starting at %s:%d, but the binlog's next transaction starts at %s:%d (was the binlog replaced?)",
					s.from.File, s.from.Pos, s.txn.File, s.txn.Pos)
			}
		}
	}
	return nil
}

func (t *task) endTxn(h *replication.EventHeader) {
	s := t.strm
	if s.txnGTID != "" && s.gtids != nil {
		if err := s.gtids.Update(s.txnGTID); err != nil {
			t.log.Warn("mysql-cdc: GTID not added to the set", "gtid", s.txnGTID, "error", err)
		}
	}
	s.inTxn, s.standalone, s.mysqlAfterGTID, s.skipActive = false, false, false, false
	s.resume = binlogPos{File: s.file, Pos: h.LogPos, ServerID: s.serverID, TsSec: int64(h.Timestamp)}
	s.done, s.rowsDone = 0, 0
	s.query = ""
}

func isStatement(q, kw string) bool {
	q = strings.TrimSpace(q)
	return len(q) >= len(kw) && strings.EqualFold(q[:len(kw)], kw) && (len(q) == len(kw) || q[len(kw)] == ' ' || q[len(kw)] == ';')
}

func (t *task) handleQuery(ctx context.Context, h *replication.EventHeader, e *replication.QueryEvent) error {
	s := t.strm
	q := string(e.Query)
	switch {
	case isStatement(q, "BEGIN") || isStatement(q, "START TRANSACTION"):
		if !s.inTxn {
			if err := t.beginTxn(h, "", false, time.Time{}); err != nil {
				return err
			}
		} else {
			s.done++
		}
		s.mysqlAfterGTID = false
		s.thread = int64(e.SlaveProxyID)
		return nil
	case isStatement(q, "COMMIT") || isStatement(q, "ROLLBACK") || isStatement(q, "XA COMMIT") || isStatement(q, "XA ROLLBACK"):
		if s.inTxn {
			s.done++
			t.endTxn(h)
		}
		return nil
	}
	single := !s.inTxn || s.standalone || s.mysqlAfterGTID
	if !s.inTxn {
		if err := t.beginTxn(h, "", true, time.Time{}); err != nil {
			return err
		}
		// The statement itself is the transaction's first event.
		s.done = 0
	}
	s.thread = int64(e.SlaveProxyID)
	if isSchemaStatement(q) && !s.txnSkip {
		if err := t.handleDDL(ctx, h, e); err != nil {
			return err
		}
	}
	s.done++
	if single {
		t.endTxn(h)
	}
	return nil
}

// sourceStruct builds the source block of a binlog event.
func (s *streamer) sourceStruct(processed time.Time, db, table string, pos uint32) *connectors.Struct {
	t := s.t
	st := connectors.NewStructValue(sourceSchema)
	st.Set(srcVersion, connectorVersion)
	st.Set(srcConnector, "mysql")
	st.Set(srcName, t.cfg.prefix)
	ts := s.txnTime
	if ts.IsZero() {
		ts = processed
	}
	st.Set(srcTsMs, ts.UnixMilli())
	st.Set(srcTsUs, ts.UnixMicro())
	st.Set(srcTsNs, ts.UnixNano())
	st.Set(srcSnapshot, debezium.SnapshotFalse)
	st.Set(srcDB, db)
	if table != "" {
		st.Set(srcTable, table)
	}
	st.Set(srcServerID, int64(s.serverID))
	if s.txnGTID != "" {
		st.Set(srcGTID, s.txnGTID)
	}
	st.Set(srcFile, s.file)
	st.Set(srcPos, int64(pos))
	st.Set(srcRow, int32(0))
	if s.thread >= 0 {
		st.Set(srcThread, s.thread)
	}
	if t.cfg.includeQuery && s.query != "" {
		st.Set(srcQuery, s.query)
	}
	return st
}

// tableMap resolves the schema of a table map's table, checking it against
// the map's column types.
func (t *task) tableMap(ctx context.Context, h *replication.EventHeader, tm *replication.TableMapEvent) error {
	s := t.strm
	db, name := string(tm.Schema), string(tm.Table)
	if s.txnSkip || !t.cfg.filters.table(db, name) {
		s.tables[tm.TableID] = nil
		return nil
	}
	schema, err := t.schemaForTableMap(ctx, h, tm)
	if err != nil {
		return err
	}
	s.tables[tm.TableID] = schema
	return nil
}

func (t *task) schemaForTableMap(ctx context.Context, h *replication.EventHeader, tm *replication.TableMapEvent) (*tableSchema, error) {
	db, name := string(tm.Schema), string(tm.Table)
	id := db + "." + name
	st := t.state.tables[id]
	var mismatch error
	if st != nil && st.schema != nil && !st.stale {
		if mismatch = st.schema.checkTableMap(tm); mismatch == nil {
			return st.schema, nil
		}
	}
	// Unknown, stale or mismatched: the catalog, if it fits the table map.
	defs, err := readTableDefs(ctx, t.db, t.info.mariadb, [][2]string{{db, name}})
	if err != nil {
		return nil, connectors.Retriable(err)
	}
	if def := defs[id]; def != nil {
		if cand, err := buildTableSchema(t.cfg, t.modes, def); err == nil && cand.checkTableMap(tm) == nil {
			kind := changeAlter
			if st == nil || st.current() == nil {
				kind = changeCreate
			}
			t.log.Warn("mysql-cdc: table structure taken from the catalog (a DDL the connector could not follow, or a table it did not know)",
				"table", id, "file", t.strm.file, "pos", h.LogPos-h.EventSize, "mismatch", mismatch)
			src := t.strm.sourceStruct(time.Now(), db, name, h.LogPos-h.EventSize)
			rec, err := t.newVersionRecord(id, def, tableChange{kind: kind, id: id, def: def}, "", src)
			if err != nil {
				return nil, err
			}
			if rec != nil {
				t.out = append(t.out, rec)
				t.tc.RequestCommit()
			}
			return t.state.tables[id].schema, nil
		}
	}
	why := mismatch
	if why == nil {
		why = fmt.Errorf("the connector has no structure of %s and the catalog's does not match the binlog", id)
	}
	switch t.cfg.inconsistentMode {
	case "warn":
		t.log.Warn("mysql-cdc: skipping the row events of a table whose structure is unknown (inconsistent.schema.handling.mode=warn)",
			"table", id, "file", t.strm.file, "pos", h.LogPos-h.EventSize, "error", why)
		return nil, nil
	case "skip":
		return nil, nil
	}
	return nil, fmt.Errorf("mysql-cdc: row events of %s at %s:%d cannot be decoded: %w (set inconsistent.schema.handling.mode=warn to skip them, or restart with snapshot.mode=recovery if no schema change happened since the offsets' position)",
		id, t.strm.file, h.LogPos-h.EventSize, why)
}

// rowsEvent starts emitting a rows event.
func (t *task) rowsEvent(ev *replication.BinlogEvent, e *replication.RowsEvent) error {
	s := t.strm
	idx := s.done
	schema := s.tables[e.TableID]
	var op string
	step := 1
	switch e.Type() {
	case replication.EnumRowsEventTypeInsert:
		op = debezium.OpCreate
	case replication.EnumRowsEventTypeUpdate:
		op, step = debezium.OpUpdate, 2
	case replication.EnumRowsEventTypeDelete:
		op = debezium.OpDelete
	}
	if schema == nil || s.txnSkip || op == "" || t.cfg.skip[op] {
		s.done++
		return nil
	}
	n := len(e.Rows) / step
	start := 0
	if s.skipActive {
		switch {
		case idx < s.from.Event:
			start = n
		case idx == s.from.Event:
			start = s.from.Row
		}
	}
	s.partial = &partialRows{ev: ev, rows: e, schema: schema, idx: idx, next: start, n: n, step: step, op: op}
	s.rowsDone = start
	t.emitRows()
	return nil
}

// emitRows emits rows of the partial rows event until the batch is full;
// true when the event is done.
func (t *task) emitRows() bool {
	s := t.strm
	p := s.partial
	h := p.ev.Header
	pos := h.LogPos - h.EventSize
	now := time.Now()
	if p.source == nil {
		p.source = s.sourceStruct(now, p.schema.def.DB, p.schema.def.Name, pos)
	}
	for p.next < p.n {
		if len(t.out) >= t.cfg.maxBatch && !t.noSplit {
			return false
		}
		r := p.next
		if err := t.emitRow(p, r, now); err != nil {
			raw := &connectors.Record{Topic: p.schema.topic, Partition: -1, Offset: -1,
				Value:           []byte(fmt.Sprint(p.rows.Rows[r*p.step : r*p.step+p.step])),
				SourcePartition: t.partition, SourceOffset: s.offsetAfterRow(p.idx, r, p.n)}
			if rerr := t.tc.Report(raw, err); rerr != nil {
				t.failed = rerr
			}
		}
		p.next++
		s.rowsDone = p.next
	}
	s.partial = nil
	s.done++
	s.rowsDone = 0
	return true
}

func (t *task) emitRow(p *partialRows, r int, now time.Time) error {
	ts := p.schema
	// Per row a copy of the event's source block: the values are boxed
	// once per event.
	src := connectors.NewStructValue(sourceSchema)
	for i := range sourceSchema.Fields {
		src.Set(i, p.source.At(i))
	}
	src.Set(srcRow, int32(r))
	switch p.op {
	case debezium.OpCreate:
		after, err := ts.rowFromBinlog(p.rows.Rows[r])
		if err != nil {
			return err
		}
		t.out = append(t.out, ts.dbz.Record(debezium.OpCreate, nil, after, src, now, t.partition, nil))
	case debezium.OpDelete:
		before, err := ts.rowFromBinlog(p.rows.Rows[r])
		if err != nil {
			return err
		}
		rec := ts.dbz.Record(debezium.OpDelete, before, nil, src, now, t.partition, nil)
		t.out = append(t.out, rec)
		t.tombstone(ts, rec)
	case debezium.OpUpdate:
		before, err := ts.rowFromBinlog(p.rows.Rows[2*r])
		if err != nil {
			return err
		}
		after, err := ts.rowFromBinlog(p.rows.Rows[2*r+1])
		if err != nil {
			return err
		}
		oldKey, newKey := ts.dbz.KeyOf(before), ts.dbz.KeyOf(after)
		if oldKey != nil && !sameKey(oldKey, newKey) {
			// A primary key change: delete (and tombstone) the old key,
			// create the new, with Debezium's headers naming each other.
			del := ts.dbz.Record(debezium.OpDelete, before, nil, src, now, t.partition, nil)
			del.Headers = append(del.Headers, connectors.Header{Key: "__debezium.newkey", Value: keyJSON(ts, newKey)})
			t.out = append(t.out, del)
			t.tombstone(ts, del)
			cre := ts.dbz.Record(debezium.OpCreate, nil, after, src, now, t.partition, nil)
			cre.Headers = append(cre.Headers, connectors.Header{Key: "__debezium.oldkey", Value: keyJSON(ts, oldKey)})
			t.out = append(t.out, cre)
			return nil
		}
		t.out = append(t.out, ts.dbz.Record(debezium.OpUpdate, before, after, src, now, t.partition, nil))
	}
	return nil
}

func (t *task) tombstone(ts *tableSchema, del *connectors.Record) {
	if !t.cfg.tombstones || del.Key == nil {
		return
	}
	tomb := ts.dbz.Tombstone(del.Key.(*connectors.Struct), t.partition)
	tomb.Timestamp = del.Timestamp
	t.out = append(t.out, tomb)
}

func keyJSON(ts *tableSchema, key *connectors.Struct) []byte {
	b, err := connectjson.Append(nil, ts.dbz.Key, key, connectjson.Options{})
	if err != nil {
		return []byte(key.String())
	}
	return b
}

func sameKey(a, b *connectors.Struct) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.String() == b.String()
}

// handleDDL applies a DDL statement and emits the schema history records
// of the tables it changed and the schema change events.
func (t *task) handleDDL(ctx context.Context, h *replication.EventHeader, e *replication.QueryEvent) error {
	s := t.strm
	q := string(e.Query)
	defaultDB := string(e.Schema)
	res, err := t.ddl.apply(ctx, t, defaultDB, q)
	if err != nil {
		return connectors.Retriable(err)
	}
	pos := h.LogPos - h.EventSize
	if len(res.stale) > 0 {
		t.log.Warn("mysql-cdc: a DDL statement was not understood; the tables it names are checked against the catalog at their next row event",
			"tables", res.stale, "file", s.file, "pos", pos, "ddl", q)
		for _, id := range res.stale {
			t.state.table(id).stale = true
		}
	}
	if len(res.catalog) > 0 {
		defs, err := readTableDefs(ctx, t.db, t.info.mariadb, res.catalog)
		if err != nil {
			return connectors.Retriable(err)
		}
		for _, tb := range res.catalog {
			id := tb[0] + "." + tb[1]
			if def := defs[id]; def != nil {
				res.changes = append(res.changes, tableChange{kind: changeCreate, id: id, def: def})
			} else {
				t.state.table(id).stale = true
			}
		}
	}
	now := time.Now()
	byDB := map[string][]tableChange{}
	for _, c := range res.changes {
		db, table := defaultDB, ""
		if c.def != nil {
			db, table = c.def.DB, c.def.Name
		}
		byDB[db] = append(byDB[db], c)
		def := c.def
		if c.kind == changeDrop {
			def = nil
		}
		src := s.sourceStruct(now, db, table, pos)
		rec, err := t.newVersionRecord(c.id, def, c, q, src)
		if err != nil {
			return err
		}
		if rec != nil {
			t.out = append(t.out, rec)
		}
	}
	if t.cfg.includeSchema {
		for _, db := range res.databases {
			src := s.sourceStruct(now, db, "", pos)
			t.out = append(t.out, t.schemaChangeRecord(db, q, byDB[db], src))
		}
	}
	if !t.cfg.skip[debezium.OpTruncate] {
		for _, id := range res.truncated {
			st := t.state.tables[id]
			if st == nil || st.schema == nil {
				continue
			}
			src := s.sourceStruct(now, st.schema.def.DB, st.schema.def.Name, pos)
			t.out = append(t.out, &connectors.Record{Topic: st.schema.topic, Partition: -1, Offset: -1,
				ValueSchema: st.schema.dbz.Envelope, Value: st.schema.dbz.Event(debezium.OpTruncate, nil, nil, src, now),
				Timestamp: s.txnTime, SourcePartition: t.partition})
		}
	}
	if len(res.changes) > 0 {
		// Table versions are confirmed by the commit: ask for it now.
		t.tc.RequestCommit()
	}
	return nil
}

// quietHandler lowers go-mysql's informational logs (connection details,
// every rotation) to debug level.
type quietHandler struct{ slog.Handler }

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo {
		r.Level = slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	if l == slog.LevelInfo {
		l = slog.LevelDebug
	}
	return h.Handler.Enabled(ctx, l)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(as)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}
