package postgrescdc

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// metrics are the task's figures, logged every metrics.log.interval.ms
// (the worker's metrics seam is not reachable from a task).
type metrics struct {
	start            time.Time
	lastLog          time.Time
	events           int64
	lastEvent        time.Time // commit time of the last change emitted
	confirmed        uint64
	serverWALEnd     uint64
	snapshotStart    time.Time
	snapshotDone     time.Time
	snapshotTables   int
	snapshotEstimate int64
	snapshotRows     int64
	snapshotTable    string
}

// maybeLogMetrics logs the slot's lag in bytes (the server's WAL position
// minus the slot's confirmed position), the last event's time and the
// snapshot's progress.
func (t *task) maybeLogMetrics(ctx context.Context) {
	iv := t.s.metricsInterval
	if iv <= 0 || time.Since(t.metrics.lastLog) < iv {
		return
	}
	if t.metrics.lastLog.IsZero() {
		t.metrics.lastLog = time.Now()
		return
	}
	t.metrics.lastLog = time.Now()
	args := []any{"events", t.metrics.events}
	if !t.metrics.lastEvent.IsZero() {
		args = append(args, "last_event_time", t.metrics.lastEvent.UTC().Format(time.RFC3339Nano),
			"lag_seconds", time.Since(t.metrics.lastEvent).Seconds())
	}
	if t.conn != nil && !t.conn.IsClosed() {
		var lag *int64
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := t.conn.QueryRow(qctx, `SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1`, t.s.slot).Scan(&lag)
		cancel()
		if err == nil && lag != nil {
			args = append(args, "slot_lag_bytes", *lag)
		}
	}
	if t.metrics.confirmed != 0 {
		args = append(args, "confirmed_lsn", formatLSN(t.metrics.confirmed))
	}
	if t.phase == phaseSnapshot || !t.metrics.snapshotStart.IsZero() && t.metrics.snapshotDone.IsZero() {
		pct := 0.0
		if t.metrics.snapshotEstimate > 0 {
			pct = min(100, 100*float64(t.metrics.snapshotRows)/float64(t.metrics.snapshotEstimate))
		}
		args = append(args, "snapshot_rows", t.metrics.snapshotRows, "snapshot_tables", t.metrics.snapshotTables,
			"snapshot_table", t.metrics.snapshotTable, "snapshot_percent", pct)
	}
	if t.inc != nil {
		args = append(args, "incremental_snapshot_tables_left", len(t.inc.collections), "incremental_snapshot_rows", t.metrics.snapshotRows)
	}
	t.log.Info("postgres-cdc: metrics", args...)
}

// xidRing remembers the ids of the last transactions the stream delivered.
type xidRing struct {
	ring [4096]uint32
	n    int
	set  map[uint32]int
}

func (r *xidRing) add(xid uint32) {
	if r.set == nil {
		r.set = make(map[uint32]int, len(r.ring))
	}
	i := r.n % len(r.ring)
	if r.n >= len(r.ring) {
		old := r.ring[i]
		if r.set[old]--; r.set[old] <= 0 {
			delete(r.set, old)
		}
	}
	r.ring[i] = xid
	r.set[xid]++
	r.n++
}

// anyInProgress reports whether a snapshot (pg_current_snapshot's text,
// xmin:xmax:xip,...) still sees one of the remembered transactions in
// progress.
func (r *xidRing) anyInProgress(snapshot string) bool {
	parts := strings.Split(snapshot, ":")
	if len(parts) != 3 || parts[2] == "" || len(r.set) == 0 {
		return false
	}
	for _, x := range strings.Split(parts[2], ",") {
		v, err := strconv.ParseUint(x, 10, 64)
		if err != nil {
			continue
		}
		// pg_current_snapshot gives 64-bit xids (epoch << 32 | xid).
		if r.set[uint32(v)] > 0 {
			return true
		}
	}
	return false
}
