package postgrescdc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/connectors"
)

// source is the connector: one task (a replication slot is read by one
// connection).
type source struct{ s *settings }

func newSource(cfg *connectors.Config) (connectors.Source, error) {
	s, err := parseSettings(cfg)
	if err != nil {
		return nil, err
	}
	return &source{s: s}, nil
}

func (src *source) Tasks(int) ([]connectors.SourceTask, error) {
	return []connectors.SourceTask{&task{s: src.s}}, nil
}

// Task phases.
const (
	phaseSnapshot = iota + 1 // the initial snapshot runs
	phaseStream              // streaming from the slot
	phaseDone                // initial_only finished
	// initial_only lost its connection mid-snapshot: the rest is read anew.
	phaseResumeSnapshot
)

// task is the connector's only task. Its goroutine (the worker's) owns
// every field; the snapshot reader and the replication reader are
// goroutines of their own that hand over work through channels.
type task struct {
	s         *settings
	tc        connectors.SourceTaskContext
	log       *slog.Logger
	partition map[string]any

	conn    *pgx.Conn // catalog queries, heartbeats, watermarks
	types   *typeMapper
	planner *planner

	phase          int
	snap           *snapshotRun
	snapTables     []string     // the tables of the running snapshot
	snapVisibility string       // its pg_current_snapshot()
	snapProgress   snapProgress // after the last snapshot record returned
	resumeSnapshot *snapProgress

	// Streaming.
	stream      *replStream
	streamStart uint64 // where replication starts when the stream is (re)opened
	slotMissing bool   // the slot must be created (no_data) when streaming starts
	rels        map[uint32]*relState
	held        *walMessage // a message whose handling failed transiently: handled first next time

	// Positions: pos is after the last handled message, resume is what the
	// stream replays up to (skipped), emitted is pos as of the last record
	// returned, committed the last position Kafka holds.
	pos       position
	resume    position
	emitted   position
	committed position

	inTxn      bool
	txn        txnState
	lastCommit uint64 // commit LSN of the last complete transaction
	lastLSN    uint64
	lastXid    uint32
	lastTsUs   int64
	recentXids xidRing

	inc *incremental

	// The signal topic's reader (signal.enabled.channels=kafka) and the
	// next offset to read from it (-1: its end, at the first start).
	kafkaSig     *kafkaSignals
	signalOffset int64

	nextHeartbeat time.Time

	metrics metrics
}

type txnState struct {
	xid        uint32
	final      uint64
	commitTime time.Time
	events     int64
	skipAll    bool
	skip       int64
}

// relState is a relation the stream announced.
type relState struct {
	rel      *relationMessage
	plan     *tablePlan // nil: not captured
	signal   bool       // the signal table
	captured bool
}

func (t *task) Open(ctx context.Context, tc connectors.SourceTaskContext) error {
	t.tc = tc
	t.log = tc.Logger()
	t.partition = map[string]any{"server": t.s.prefix}
	t.rels = map[uint32]*relState{}
	t.metrics.start = time.Now()
	if err := t.connect(ctx); err != nil {
		return err
	}
	if t.s.snapshotMode != snapshotInitialOnly {
		if err := t.ensurePublication(ctx); err != nil {
			return err
		}
	}
	raw, err := tc.Offset(t.partition)
	if err != nil {
		return fmt.Errorf("postgres-cdc: read offsets: %w", err)
	}
	off, err := decodeOffset(raw)
	if err != nil {
		return err
	}
	t.signalOffset = -1
	if off != nil && off.hasSignalOffset {
		t.signalOffset = off.signalOffset
	}
	if t.s.snapshotMode != snapshotInitialOnly {
		// Before anything else: a connector without offsets acts on the
		// signals sent from now on.
		if err := t.ensureKafkaSignals(ctx); err != nil {
			return err
		}
	}
	return t.start(ctx, off)
}

// connect opens the query connection and loads the type catalog.
func (t *task) connect(ctx context.Context) error {
	conn, err := t.s.connect(ctx)
	if err != nil {
		return err
	}
	types, err := loadTypes(ctx, conn)
	if err != nil {
		conn.Close(ctx)
		return err
	}
	t.conn = conn
	if t.types == nil {
		t.types = newTypeMapper(t.s.types, types)
		t.planner = newPlanner(t.s, t.types, t.log)
	} else {
		t.types.setTypes(types)
	}
	return nil
}

// queryConn returns the query connection, reopening it after a failure.
func (t *task) queryConn(ctx context.Context) (*pgx.Conn, error) {
	if t.conn != nil && !t.conn.IsClosed() {
		return t.conn, nil
	}
	if t.conn != nil {
		t.conn.Close(ctx)
		t.conn = nil
	}
	conn, err := t.s.connect(ctx)
	if err != nil {
		return nil, err
	}
	t.conn = conn
	return conn, nil
}

// start decides, from the committed offset and the slot, whether to
// snapshot and where to stream from (see the connector's documentation,
// Snapshots).
func (t *task) start(ctx context.Context, off *savedOffset) error {
	mode := t.s.snapshotMode
	if mode == snapshotInitialOnly {
		switch {
		case off == nil:
			return t.startSnapshot(ctx, nil, nil, false)
		case off.snapshot:
			t.log.Info("postgres-cdc: resuming the interrupted initial_only snapshot", "tables", off.tables)
			return t.startSnapshot(ctx, off.tables, off.key, false)
		default:
			t.log.Info("postgres-cdc: snapshot.mode=initial_only and the snapshot is complete: nothing to do")
			t.phase = phaseDone
			return nil
		}
	}
	slot, err := readSlot(ctx, t.conn, t.s.slot)
	if err != nil {
		return err
	}
	if slot != nil {
		if slot.plugin != "pgoutput" || slot.slotType != "logical" || slot.database != t.s.dbname {
			return fmt.Errorf("postgres-cdc: replication slot %q exists but is a %s slot of plugin %q for database %q, not a logical pgoutput slot of %q: choose another slot.name",
				t.s.slot, slot.slotType, slot.plugin, slot.database, t.s.dbname)
		}
		if slot.walStatus == "lost" {
			if mode == snapshotWhenNeeded || mode == snapshotAlways {
				return fmt.Errorf("postgres-cdc: replication slot %q is invalidated (its WAL was removed, max_slot_wal_keep_size): drop it (SELECT pg_drop_replication_slot('%s')) and restart; snapshot.mode=%s will then take a new snapshot",
					t.s.slot, t.s.slot, mode)
			}
			return fmt.Errorf("postgres-cdc: replication slot %q is invalidated (its WAL was removed, max_slot_wal_keep_size): changes were lost; drop the slot, reset the connector's offsets or use snapshot.mode=when_needed, and restart", t.s.slot)
		}
	}
	switch {
	case off == nil && mode == snapshotNoData:
		if slot == nil {
			t.slotMissing = true
		} else {
			t.streamStart = slot.confirmed
		}
		t.pos = position{lsn: t.streamStart}
		t.resume, t.emitted, t.committed = t.pos, t.pos, t.pos
		return t.beginStreaming(ctx)
	case off == nil || mode == snapshotAlways:
		return t.startSnapshot(ctx, nil, nil, slot != nil)
	case slot == nil:
		if mode == snapshotWhenNeeded {
			t.log.Warn("postgres-cdc: the replication slot is missing: taking a new snapshot (snapshot.mode=when_needed)", "slot", t.s.slot)
			return t.startSnapshot(ctx, nil, nil, false)
		}
		return fmt.Errorf("postgres-cdc: the connector has offsets but replication slot %q does not exist (dropped?): the changes since cannot be streamed; set snapshot.mode=when_needed (or always) to take a new snapshot, or reset the connector's offsets", t.s.slot)
	}
	// Resume streaming from the committed position.
	t.pos, t.resume, t.emitted, t.committed = off.pos, off.pos, off.pos, off.pos
	t.lastLSN, t.lastXid, t.lastCommit = off.lastLSN, uint32(off.lastTxID), off.lastCommit
	t.streamStart = off.pos.lsn
	if off.snapshot {
		// The initial snapshot was interrupted: its slot holds the changes
		// since its consistent point, so stream from there and read the
		// remaining rows as an incremental snapshot (no row is repeated,
		// none is missed, no chunk overwrites a newer change).
		t.log.Info("postgres-cdc: continuing the interrupted initial snapshot as an incremental snapshot", "tables", off.tables)
		t.inc = newIncremental(nil)
		for _, tb := range off.tables {
			t.inc.collections = append(t.inc.collections, incCollection{ID: tb})
		}
		t.inc.key, t.inc.visibility = off.key, off.visible
	} else if off.inc != nil {
		t.inc = newIncremental(off.inc)
	}
	return t.beginStreaming(ctx)
}

// beginStreaming switches to streaming; the stream opens on the next poll.
func (t *task) beginStreaming(ctx context.Context) error {
	t.phase = phaseStream
	if t.s.heartbeat > 0 {
		t.nextHeartbeat = time.Now().Add(t.s.heartbeat)
	}
	return t.openStream(ctx)
}

// openStream opens the replication connection and starts streaming from
// t.streamStart, creating the slot first when no_data found none.
func (t *task) openStream(ctx context.Context) error {
	var conn *pgconn.PgConn
	var err error
	for attempt := 0; ; attempt++ {
		conn, err = t.s.connectReplication(ctx)
		if err != nil {
			return err
		}
		if t.slotMissing {
			res, err := pglogrepl.CreateReplicationSlot(ctx, conn, t.s.slot, "pgoutput",
				pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "NOEXPORT_SNAPSHOT"})
			if err != nil {
				conn.Close(ctx)
				return fmt.Errorf("postgres-cdc: create replication slot %q: %w", t.s.slot, err)
			}
			cp, _ := parseLSN(res.ConsistentPoint)
			t.log.Info("postgres-cdc: created the replication slot (no snapshot)", "slot", t.s.slot, "lsn", res.ConsistentPoint)
			t.slotMissing = false
			t.streamStart = cp
			t.pos, t.resume, t.emitted, t.committed = position{lsn: cp}, position{lsn: cp}, position{lsn: cp}, position{lsn: cp}
		}
		confirmed := uint64(0)
		if t.s.flushLSN {
			confirmed = t.committed.lsn
		}
		t.stream, err = startStream(ctx, conn, t.s.slot, t.s.publication, t.streamStart, t.s.maxQueue, t.s.statusInterval, confirmed)
		if err == nil {
			break
		}
		conn.Close(ctx)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55006" && attempt < t.s.slotRetries {
			// "replication slot ... is active for PID n": an earlier
			// incarnation has not disconnected yet.
			t.log.Info("postgres-cdc: the replication slot is still in use; retrying", "slot", t.s.slot, "attempt", attempt+1, "error", pgErr.Message)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(t.s.slotDelay):
			}
			continue
		}
		return fmt.Errorf("postgres-cdc: start replication from slot %q at %s: %w", t.s.slot, formatLSN(t.streamStart), err)
	}
	t.log.Info("postgres-cdc: streaming", "slot", t.s.slot, "publication", t.s.publication, "from", formatLSN(t.streamStart))
	return nil
}

// ensurePublication creates the publication when missing and, in
// filtered mode, keeps its table list equal to the captured tables.
func (t *task) ensurePublication(ctx context.Context) error {
	var exists bool
	var allTables bool
	err := t.conn.QueryRow(ctx, `SELECT true, puballtables FROM pg_publication WHERE pubname = $1`, t.s.publication).Scan(&exists, &allTables)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres-cdc: read publication %q: %w", t.s.publication, err)
	}
	pub := quoteIdent(t.s.publication)
	switch t.s.pubMode {
	case pubDisabled:
		if !exists {
			return fmt.Errorf("postgres-cdc: publication %q does not exist and publication.autocreate.mode=disabled: create it (CREATE PUBLICATION %s FOR TABLE ...)", t.s.publication, pub)
		}
		return nil
	case pubAllTables:
		if !exists {
			if _, err := t.conn.Exec(ctx, "CREATE PUBLICATION "+pub+" FOR ALL TABLES"); err != nil {
				return fmt.Errorf("postgres-cdc: create publication %q FOR ALL TABLES (needs a superuser; or use publication.autocreate.mode=filtered): %w", t.s.publication, err)
			}
			t.log.Info("postgres-cdc: created the publication for all tables", "publication", t.s.publication)
		}
		return nil
	case pubNoTables:
		if !exists {
			if _, err := t.conn.Exec(ctx, "CREATE PUBLICATION "+pub); err != nil {
				return fmt.Errorf("postgres-cdc: create publication %q: %w", t.s.publication, err)
			}
			t.log.Info("postgres-cdc: created an empty publication: add the tables to capture to it", "publication", t.s.publication)
		}
		return nil
	}
	// filtered
	tables, err := t.capturedTables(ctx, false)
	if err != nil {
		return err
	}
	if t.s.signalTable != nil {
		tables = appendUnique(tables, *t.s.signalTable)
	}
	if len(tables) == 0 {
		return fmt.Errorf("postgres-cdc: no table of database %q matches the include and exclude lists: nothing to capture", t.s.dbname)
	}
	list := ""
	for i, id := range tables {
		if i > 0 {
			list += ", "
		}
		list += id.quoted()
	}
	if !exists {
		if _, err := t.conn.Exec(ctx, "CREATE PUBLICATION "+pub+" FOR TABLE "+list); err != nil {
			return fmt.Errorf("postgres-cdc: create publication %q for %d tables (the user must own them): %w", t.s.publication, len(tables), err)
		}
		t.log.Info("postgres-cdc: created the publication", "publication", t.s.publication, "tables", len(tables))
		return nil
	}
	if allTables {
		return nil
	}
	rows, err := t.conn.Query(ctx, `SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1`, t.s.publication)
	if err != nil {
		return fmt.Errorf("postgres-cdc: read publication %q: %w", t.s.publication, err)
	}
	have := map[tableID]bool{}
	for rows.Next() {
		var id tableID
		if err := rows.Scan(&id.schema, &id.name); err != nil {
			rows.Close()
			return fmt.Errorf("postgres-cdc: read publication %q: %w", t.s.publication, err)
		}
		have[id] = true
	}
	rows.Close()
	same := len(have) == len(tables)
	for _, id := range tables {
		same = same && have[id]
	}
	if !same {
		if _, err := t.conn.Exec(ctx, "ALTER PUBLICATION "+pub+" SET TABLE "+list); err != nil {
			return fmt.Errorf("postgres-cdc: update publication %q to the captured tables: %w", t.s.publication, err)
		}
		t.log.Info("postgres-cdc: updated the publication's tables to the captured tables", "publication", t.s.publication, "tables", len(tables))
	}
	return nil
}

func appendUnique(ids []tableID, id tableID) []tableID {
	for _, x := range ids {
		if x == id {
			return ids
		}
	}
	return append(ids, id)
}

// capturedTables lists the captured tables, sorted; forSnapshot applies
// snapshot.include.collection.list and leaves out the signal table.
func (t *task) capturedTables(ctx context.Context, forSnapshot bool) ([]tableID, error) {
	conn, err := t.queryConn(ctx)
	if err != nil {
		return nil, err
	}
	all, err := listTables(ctx, conn)
	if err != nil {
		return nil, err
	}
	var out []tableID
	for id := range all {
		if !t.s.filter.table(id) {
			continue
		}
		if forSnapshot {
			if t.s.signalTable != nil && id == *t.s.signalTable {
				continue
			}
			if t.s.snapshotOnly != nil && !matchesAny(t.s.snapshotOnly, id.String()) {
				continue
			}
		}
		out = append(out, id)
	}
	sortIDs(out)
	return out, nil
}

func (t *task) Poll(ctx context.Context) ([]*connectors.Record, error) {
	t.maybeLogMetrics(ctx)
	switch t.phase {
	case phaseSnapshot:
		return t.pollSnapshot(ctx)
	case phaseStream:
		return t.pollStream(ctx)
	case phaseDone:
		return nil, io.EOF
	case phaseResumeSnapshot:
		if _, err := t.queryConn(ctx); err != nil {
			return nil, connectors.Retriable(err)
		}
		if err := t.startSnapshot(ctx, t.resumeSnapshot.tables, t.resumeSnapshot.key, false); err != nil {
			return nil, connectors.Retriable(err)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("postgres-cdc: task not open")
}

// Commit learns which positions Kafka holds; the slot's confirmed
// position follows them (never ahead: a crash then loses nothing).
func (t *task) Commit(_ context.Context, committed []connectors.SourceOffset) error {
	for _, so := range committed {
		if so.Partition["server"] != t.s.prefix {
			continue
		}
		off, err := decodeOffset(so.Offset)
		if err != nil || off == nil {
			continue
		}
		if t.committed.less(off.pos) {
			t.committed = off.pos
		}
	}
	t.confirm()
	return nil
}

// confirm tells the slot how far it may release WAL: the handled position
// once everything returned is in Kafka (the messages handled since the
// last record produced none), else the committed one.
func (t *task) confirm() {
	if t.stream == nil || !t.s.flushLSN {
		return
	}
	lsn := t.committed.lsn
	if !t.committed.less(t.emitted) && t.phase == phaseStream {
		lsn = max(lsn, t.pos.lsn)
	}
	t.stream.confirm(lsn)
	t.metrics.confirmed = lsn
}

func (t *task) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if t.snap != nil {
		t.snap.close()
		t.snap = nil
	}
	if t.stream != nil {
		t.stream.close()
		t.stream = nil
	}
	if t.kafkaSig != nil {
		t.kafkaSig.close()
		t.kafkaSig = nil
	}
	var err error
	if t.conn != nil {
		if t.s.dropSlot && t.tc != nil {
			// Only on request (slot.drop.on.stop): a dropped slot loses
			// the changes made until the next start.
			if _, e := t.conn.Exec(ctx, "SELECT pg_drop_replication_slot($1) FROM pg_replication_slots WHERE slot_name = $1", t.s.slot); e != nil {
				err = fmt.Errorf("postgres-cdc: drop replication slot %q (slot.drop.on.stop): %w", t.s.slot, e)
			} else {
				t.log.Info("postgres-cdc: dropped the replication slot (slot.drop.on.stop=true)", "slot", t.s.slot)
			}
		}
		t.conn.Close(ctx)
		t.conn = nil
	}
	return err
}

// transient reports whether err is a lost or unavailable server (worth
// retrying after reconnecting), not a bad statement or value.
func transient(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 (connection exception), 57P (operator intervention:
		// shutdown, crash recovery), 53 (insufficient resources).
		c := pgErr.Code
		return len(c) >= 2 && (c[:2] == "08" || c[:2] == "53" || (len(c) >= 3 && c[:3] == "57P"))
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed)
}

// offset is the source offset of the position handled so far.
func (t *task) offset() map[string]any {
	o := map[string]any{
		keyResumeLSN: int64(t.pos.lsn),
		keyLSN:       int64(t.lastLSN),
		keyLSNProc:   int64(t.lastLSN),
		keyLSNCommit: int64(t.lastCommit),
		keyTxID:      int64(t.lastXid),
		keyTsUsec:    t.lastTsUs,
	}
	if t.pos.events > 0 {
		o[keyResumeEvents] = t.pos.events
	}
	if t.inc != nil && len(t.inc.collections) > 0 {
		t.inc.store(o)
	}
	if t.signalOffset >= 0 {
		o[keySignalOffset] = t.signalOffset
	}
	return o
}
