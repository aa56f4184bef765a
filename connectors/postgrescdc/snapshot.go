package postgrescdc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/sluicehq/sluice/connectors"
)

func sortIDs(ids []tableID) {
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].schema != ids[j].schema {
			return ids[i].schema < ids[j].schema
		}
		return ids[i].name < ids[j].name
	})
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
	t.snap = startSnapshotRun(t.s, snapConn, plans, key, cp, xid, t.partition)
	return nil
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
	b, ok := t.snap.next(ctx, timer.C)
	if !ok {
		return nil, errors.New("postgres-cdc: the snapshot reader ended without finishing")
	}
	if b == nil {
		return nil, nil
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
	// A decoder's error arrives while the receiver may still be reading.
	t.snap.close()
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
