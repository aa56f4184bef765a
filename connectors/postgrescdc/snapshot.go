package postgrescdc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/debezium"
)

func sortIDs(ids []tableID) {
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].schema != ids[j].schema {
			return ids[i].schema < ids[j].schema
		}
		return ids[i].name < ids[j].name
	})
}

// snapshotRun reads the initial snapshot on its own goroutine and
// connection, inside the transaction that imported the slot's exported
// snapshot, and hands over ready records in batches: the reading (COPY,
// parsing, value conversion) runs in parallel with the worker's
// converting and producing.
type snapshotRun struct {
	batches chan snapBatch
	cancel  context.CancelFunc
	done    chan struct{}
}

// snapBatch is records of the snapshot and the progress after the last of
// them.
type snapBatch struct {
	recs   []*connectors.Record
	tables []string // the remaining tables, the current one first
	key    []string // the last key read of tables[0]
	done   bool     // the snapshot is complete (recs hold its last records)
	err    error
	rows   int64
	table  string
}

// startSnapshot begins the initial snapshot of tables (nil: every captured
// table), resuming after key in the first. slotExists: the slot was
// created earlier, so a temporary slot provides the consistent snapshot.
func (t *task) startSnapshot(ctx context.Context, tables []string, key []string, slotExists bool) error {
	snapConn, err := t.s.connect(ctx)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		snapConn.Close(context.Background())
		return err
	}
	var snapshotName string
	var cp uint64
	if t.s.snapshotMode != snapshotInitialOnly {
		repl, err := t.s.connectReplication(ctx)
		if err != nil {
			return fail(err)
		}
		slot, temporary := t.s.slot, slotExists
		if temporary {
			// The slot exists but its exported snapshot is gone: a
			// temporary slot exports a snapshot consistent with the
			// position it starts at, and streaming the real slot from
			// that position continues exactly where the snapshot ends.
			slot = fmt.Sprintf("%s_snap_%d", t.s.slot, time.Now().UnixNano()%1e9)
		}
		res, err := pglogrepl.CreateReplicationSlot(ctx, repl, slot, "pgoutput",
			pglogrepl.CreateReplicationSlotOptions{Temporary: temporary, Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT"})
		if err != nil {
			repl.Close(ctx)
			return fail(fmt.Errorf("postgres-cdc: create replication slot %q: %w", slot, err))
		}
		defer repl.Close(context.Background()) // after the import below; drops a temporary slot
		snapshotName = res.SnapshotName
		if cp, err = parseLSN(res.ConsistentPoint); err != nil {
			return fail(fmt.Errorf("postgres-cdc: slot %q: %w", slot, err))
		}
		if !temporary {
			t.log.Info("postgres-cdc: created the replication slot", "slot", slot, "consistent_point", res.ConsistentPoint)
		}
	}
	if _, err := snapConn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return fail(fmt.Errorf("postgres-cdc: begin the snapshot transaction: %w", err))
	}
	if snapshotName != "" {
		if _, err := snapConn.Exec(ctx, "SET TRANSACTION SNAPSHOT "+quoteLiteral(snapshotName)); err != nil {
			return fail(fmt.Errorf("postgres-cdc: import the slot's snapshot: %w", err))
		}
	}
	if err := snapConn.QueryRow(ctx, "SELECT pg_current_snapshot()::text").Scan(&t.snapVisibility); err != nil {
		return fail(fmt.Errorf("postgres-cdc: snapshot visibility: %w", err))
	}
	var xid int64
	if err := snapConn.QueryRow(ctx, "SELECT txid_current()").Scan(&xid); err != nil {
		return fail(fmt.Errorf("postgres-cdc: snapshot transaction id: %w", err))
	}
	// The table list and their columns as of the snapshot.
	var ids []tableID
	if tables == nil {
		if ids, err = t.capturedTables(ctx, true); err != nil {
			return fail(err)
		}
	} else {
		for _, s := range tables {
			id, err := parseTableID(s)
			if err != nil {
				return fail(fmt.Errorf("postgres-cdc: offset: %w", err))
			}
			ids = append(ids, id)
		}
	}
	oids, err := listTables(ctx, snapConn)
	if err != nil {
		return fail(err)
	}
	var plans []*tablePlan
	var estimate int64
	t.snapTables = t.snapTables[:0]
	for _, id := range ids {
		oid, ok := oids[id]
		if !ok {
			t.log.Warn("postgres-cdc: table to snapshot no longer exists", "table", id.String())
			continue
		}
		info, err := readTableInfo(ctx, snapConn, oid)
		if err != nil {
			return fail(err)
		}
		p, err := t.planner.build(info.id, info.relid, info.replIdent, info.columns, info.key)
		if err != nil {
			return fail(err)
		}
		var n float64
		_ = snapConn.QueryRow(ctx, "SELECT GREATEST(reltuples, 0) FROM pg_class WHERE oid = $1", oid).Scan(&n)
		estimate += int64(n)
		plans = append(plans, p)
		t.snapTables = append(t.snapTables, p.id.String())
	}
	t.phase = phaseSnapshot
	t.streamStart = cp
	t.pos = position{lsn: cp}
	t.resume, t.emitted, t.committed = t.pos, t.pos, t.pos
	t.lastLSN, t.lastXid = cp, uint32(xid)
	t.metrics.snapshotTables, t.metrics.snapshotEstimate = len(plans), estimate
	t.metrics.snapshotStart = time.Now()
	t.log.Info("postgres-cdc: snapshot started", "tables", len(plans), "estimated_rows", estimate,
		"consistent_point", formatLSN(cp), "mode", t.s.snapshotMode)
	runCtx, cancel := context.WithCancel(context.Background())
	run := &snapshotRun{batches: make(chan snapBatch, 2), cancel: cancel, done: make(chan struct{})}
	r := &snapshotReader{s: t.s, conn: snapConn, plans: plans, key: key, cp: cp, xid: xid, partition: t.partition}
	go func() {
		defer close(run.done)
		defer snapConn.Close(context.Background())
		r.run(runCtx, run.batches)
	}()
	t.snap = run
	return nil
}

func (r *snapshotRun) close() {
	r.cancel()
	for range r.batches {
	}
	<-r.done
}

// snapshotReader is the snapshot goroutine's state.
type snapshotReader struct {
	s         *settings
	conn      *pgx.Conn
	plans     []*tablePlan
	key       []string // resume after this key in plans[0]
	cp        uint64
	xid       int64
	partition map[string]any

	// One record is held back, so that the last ones can be marked.
	pending         *connectors.Record
	pendingProgress heldProgress
	batch           []*connectors.Record
	batchProgress   heldProgress
	first           bool
	rows            int64
	// recs is storage for the records of the batch being built: one
	// allocation per batch instead of one per row.
	recs []connectors.Record
	// src is the source block shared by the records of a batch (records
	// and their values are immutable once handed over); marked records
	// (first, last, ...) get their own copy.
	src   *connectors.Struct
	srcAt time.Time
}

// snapProgress is where a snapshot record leaves the snapshot: its table
// (the first of the remaining ones) and its key.
type snapProgress struct {
	tables []string
	key    []string
}

// heldProgress is a snapProgress whose key is kept as raw bytes in a
// reused buffer: only a batch's last record needs its key as strings, so
// the others never allocate them.
type heldProgress struct {
	tables []string
	table  string
	key    []byte // the key columns' text, back to back
	ends   []int  // where each key column ends in key
}

func (h *heldProgress) set(tables []string, table string) {
	h.tables, h.table, h.key, h.ends = tables, table, h.key[:0], h.ends[:0]
}

func (h *heldProgress) addKey(b []byte) {
	h.key = append(h.key, b...)
	h.ends = append(h.ends, len(h.key))
}

// keyStrings returns the key as strings (nil without one).
func (h *heldProgress) keyStrings() []string {
	if len(h.ends) == 0 {
		return nil
	}
	out := make([]string, len(h.ends))
	start := 0
	for i, end := range h.ends {
		out[i] = string(h.key[start:end])
		start = end
	}
	return out
}

func (r *snapshotReader) run(ctx context.Context, out chan<- snapBatch) {
	defer close(out)
	r.first = true
	send := func(b snapBatch) bool {
		select {
		case out <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for i, p := range r.plans {
		remaining := make([]string, 0, len(r.plans)-i)
		for _, q := range r.plans[i:] {
			remaining = append(remaining, q.id.String())
		}
		key := r.key
		if i > 0 {
			key = nil
		}
		if err := r.readTable(ctx, p, key, remaining, send); err != nil {
			if ctx.Err() == nil {
				send(snapBatch{err: err})
			}
			return
		}
		if r.pending != nil && r.pendingProgress.table == p.id.String() {
			setSnapshotMarker(r.pending, "last_in_data_collection")
		}
	}
	if r.pending != nil {
		setSnapshotMarker(r.pending, debezium.SnapshotLast)
		r.batch = append(r.batch, r.pending)
		r.pending = nil
	}
	if _, err := r.conn.Exec(ctx, "COMMIT"); err != nil && ctx.Err() == nil {
		send(snapBatch{err: fmt.Errorf("postgres-cdc: end the snapshot transaction: %w", err)})
		return
	}
	send(snapBatch{recs: r.batch, done: true, rows: r.rows})
}

// setSnapshotMarker gives a record its own source block with marker.
func setSnapshotMarker(rec *connectors.Record, marker string) {
	env := rec.Value.(*connectors.Struct)
	shared := env.Get("source").(*connectors.Struct)
	src := connectors.NewStructValue(sourceSchema)
	for i := range sourceSchema.Fields {
		src.Set(i, shared.At(i))
	}
	src.Set(srcSnapshot, marker)
	env.Put("source", src)
}

// readTable streams one table with COPY, ordered by its key (so that an
// interrupted snapshot resumes after the last key Kafka holds), and sends
// full batches.
func (r *snapshotReader) readTable(ctx context.Context, p *tablePlan, after []string, remaining []string, send func(snapBatch) bool) error {
	keyless := len(p.keyCols) == 0
	q := "SELECT " + p.selectList()
	if keyless {
		// Without a key, the physical position orders the rows.
		q += ", ctid FROM " + p.id.quoted()
		if len(after) == 1 {
			q += " WHERE ctid > " + quoteLiteral(after[0]) + "::tid"
		}
		q += " ORDER BY ctid"
	} else {
		q += " FROM " + p.id.quoted()
		if len(after) == len(p.keyCols) {
			q += " WHERE " + p.keyAfter(after, ">")
		}
		q += " ORDER BY " + p.keyList()
	}
	want := len(p.cols)
	if keyless {
		want++
	}
	tuple := make([]tupleColumn, 0, want)
	now := time.Now()
	at := debezium.At(now)
	firstInTable := true
	table := p.id.String()
	lines := &copyLines{row: func(line []byte) error {
		var err error
		tuple, err = splitCopyRow(line, tuple, want)
		if err != nil {
			return fmt.Errorf("postgres-cdc: snapshot of %s: %w", p.id, err)
		}
		cols := tuple
		if keyless {
			cols = tuple[:len(p.cols)]
		}
		row, _, err := p.decode(cols, nil)
		if err != nil {
			return fmt.Errorf("postgres-cdc: snapshot of %s: %w", p.id, err)
		}
		if len(r.recs) == 0 {
			r.recs = make([]connectors.Record, r.s.maxBatch+1)
		}
		rec := &r.recs[0]
		r.recs = r.recs[1:]
		r.record(rec, p, row, now, at)
		switch {
		case r.first:
			setSnapshotMarker(rec, debezium.SnapshotFirst)
		case firstInTable:
			setSnapshotMarker(rec, "first_in_data_collection")
		}
		r.first, firstInTable = false, false
		if r.pending != nil {
			r.batch = append(r.batch, r.pending)
			// The pending record's progress becomes the batch's; its
			// buffers are reused for the new pending record.
			r.batchProgress, r.pendingProgress = r.pendingProgress, r.batchProgress
		}
		r.pending = rec
		r.pendingProgress.set(remaining, table)
		if keyless {
			r.pendingProgress.addKey(tuple[len(p.cols)].data)
		} else {
			for _, ci := range p.keyCols {
				r.pendingProgress.addKey(cols[ci].data)
			}
		}
		r.rows++
		if len(r.batch) >= r.s.maxBatch {
			bp := &r.batchProgress
			if !send(snapBatch{recs: r.batch, tables: bp.tables, key: bp.keyStrings(), rows: r.rows, table: bp.table}) {
				return ctx.Err()
			}
			r.batch = make([]*connectors.Record, 0, r.s.maxBatch)
			now = time.Now()
			at = debezium.At(now)
		}
		return nil
	}}
	if _, err := r.conn.PgConn().CopyTo(ctx, lines, "COPY ("+q+") TO STDOUT"); err != nil {
		return fmt.Errorf("postgres-cdc: snapshot of %s: %w", p.id, err)
	}
	return nil
}

// record builds a snapshot row's read event in rec; at is now's envelope
// times.
func (r *snapshotReader) record(rec *connectors.Record, p *tablePlan, row *connectors.Struct, now time.Time, at debezium.Processed) {
	if r.src == nil || !r.srcAt.Equal(now) || r.src.At(srcTable) != p.id.name || r.src.At(srcSchema) != p.id.schema {
		r.src, r.srcAt = r.source(p, now), now
	}
	p.tbl.FillRecord(rec, debezium.OpRead, nil, row, r.src, at, r.partition, nil)
	fixKey(rec)
}

// source builds a snapshot source block (snapshot=true).
func (r *snapshotReader) source(p *tablePlan, now time.Time) *connectors.Struct {
	src := connectors.NewStructValue(sourceSchema)
	src.Set(srcSnapshot, debezium.SnapshotTrue)
	us := now.UnixMicro()
	src.Set(srcVersion, connectorVersion)
	src.Set(srcConnector, "postgresql")
	src.Set(srcName, r.s.prefix)
	src.Set(srcTsMs, us/1000)
	src.Set(srcTsUs, us)
	src.Set(srcTsNs, us*1000)
	src.Set(srcDB, r.s.dbname)
	src.Set(srcSequence, `[null,"`+strconv.FormatUint(r.cp, 10)+`"]`)
	src.Set(srcSchema, p.id.schema)
	src.Set(srcTable, p.id.name)
	src.Set(srcTxID, r.xid)
	src.Set(srcLSN, int64(r.cp))
	return src
}

// fixKey clears a typed nil key (debezium.Table.Record stores KeyOf's nil
// *Struct for events without a row).
func fixKey(rec *connectors.Record) *connectors.Record {
	if k, ok := rec.Key.(*connectors.Struct); ok && k == nil {
		rec.Key = nil
	}
	return rec
}

// pollSnapshot returns the next batch of the initial snapshot; when it is
// complete, streaming starts (or, for initial_only, the task finishes).
func (t *task) pollSnapshot(ctx context.Context) ([]*connectors.Record, error) {
	timer := time.NewTimer(t.s.pollInterval)
	defer timer.Stop()
	var b snapBatch
	var ok bool
	select {
	case b, ok = <-t.snap.batches:
	case <-timer.C:
		return nil, nil
	case <-ctx.Done():
		return nil, nil
	}
	if !ok {
		return nil, errors.New("postgres-cdc: the snapshot reader ended without finishing")
	}
	if b.err != nil {
		return nil, t.snapshotFailed(ctx, b.err)
	}
	t.metrics.snapshotRows += int64(len(b.recs))
	if !b.done {
		if len(b.recs) > 0 {
			t.snapProgress = snapProgress{tables: b.tables, key: b.key}
			off := t.offset()
			off[keySnapshot] = snapshotInitialType
			off[keyLastSnapshot] = false
			off[keySnapshotTables] = b.tables
			off[keySnapshotVisible] = t.snapVisibility
			if b.key != nil {
				off[keySnapshotKey] = b.key
			}
			b.recs[len(b.recs)-1].SourceOffset = off
			t.metrics.snapshotTable = b.table
		}
		return b.recs, nil
	}
	// Complete.
	<-t.snap.done
	t.snap = nil
	t.metrics.snapshotDone = time.Now()
	t.log.Info("postgres-cdc: snapshot complete", "rows", b.rows, "tables", t.metrics.snapshotTables,
		"seconds", t.metrics.snapshotDone.Sub(t.metrics.snapshotStart).Seconds())
	if t.s.snapshotMode == snapshotInitialOnly {
		t.phase = phaseDone
		if len(b.recs) > 0 {
			off := t.offset()
			off[keyLastSnapshot] = true
			b.recs[len(b.recs)-1].SourceOffset = off
		}
		return b.recs, io.EOF
	}
	if len(b.recs) > 0 {
		off := t.offset()
		off[keyLastSnapshot] = true
		b.recs[len(b.recs)-1].SourceOffset = off
		t.emitted = t.pos
	}
	if err := t.beginStreaming(ctx); err != nil {
		// The snapshot's records are written; streaming starts on the
		// next poll.
		t.log.Warn("postgres-cdc: could not start streaming yet", "error", err)
		t.stream = nil
	}
	return b.recs, nil
}

// snapshotFailed handles a failed snapshot read. A lost server does not
// fail the task: the rows Kafka does not hold yet are read again, after
// the last one returned (in a new transaction for initial_only, else as
// an incremental snapshot while streaming from the consistent point,
// which keeps every row consistent with the changes streamed).
func (t *task) snapshotFailed(ctx context.Context, err error) error {
	<-t.snap.done
	t.snap = nil
	if !transient(err) {
		return err
	}
	tables, key := t.snapProgress.tables, t.snapProgress.key
	if tables == nil {
		tables = t.snapTables
	}
	t.log.Warn("postgres-cdc: the snapshot was interrupted by a lost connection; continuing after the last row returned", "error", err, "tables", tables)
	if t.s.snapshotMode == snapshotInitialOnly {
		t.resumeSnapshot = &snapProgress{tables: tables, key: key}
		t.phase = phaseResumeSnapshot
		return connectors.Retriable(err)
	}
	t.inc = newIncremental(nil)
	for _, tb := range tables {
		t.inc.collections = append(t.inc.collections, incCollection{ID: tb})
	}
	t.inc.key, t.inc.visibility = key, t.snapVisibility
	t.phase = phaseStream
	if t.s.heartbeat > 0 {
		t.nextHeartbeat = time.Now().Add(t.s.heartbeat)
	}
	return connectors.Retriable(err)
}
