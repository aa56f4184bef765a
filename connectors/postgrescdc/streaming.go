package postgrescdc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/debezium"
)

// pollStream handles replication messages until a batch is full, the
// queue is empty after some records, or poll.interval.ms passed.
func (t *task) pollStream(ctx context.Context) ([]*connectors.Record, error) {
	if t.stream == nil {
		if _, err := t.queryConn(ctx); err != nil {
			return nil, connectors.Retriable(err)
		}
		// Replay from the handled position: what the server sends again
		// up to it is skipped.
		t.resume, t.streamStart = t.pos, t.pos.lsn
		if t.inc != nil {
			t.inc.window = nil // its high watermark may be lost with the server
		}
		if err := t.openStream(ctx); err != nil {
			if transient(err) || ctx.Err() != nil {
				return nil, connectors.Retriable(err)
			}
			return nil, err
		}
	}
	var out []*connectors.Record
	deadline := time.Now().Add(t.s.pollInterval)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for len(out) < t.s.maxBatch && ctx.Err() == nil {
		if !t.inTxn && t.held == nil {
			t.maybeHeartbeat(ctx)
			if err := t.ensureKafkaSignals(ctx); err != nil {
				t.log.Warn("postgres-cdc: signal topic unavailable; retrying", "topic", t.s.signalTopic, "error", err)
			} else if err := t.applyKafkaSignals(ctx); err != nil {
				if !transient(err) {
					return nil, err
				}
				t.log.Warn("postgres-cdc: signal from the signal topic postponed", "error", err)
			}
			if err := t.maybeChunk(ctx); err != nil {
				if !transient(err) {
					return nil, err
				}
				t.log.Warn("postgres-cdc: incremental snapshot chunk postponed", "error", err)
			}
		}
		m := t.held
		t.held = nil
		if m == nil {
			var ok bool
			select {
			case m, ok = <-t.stream.queue:
			default:
				if len(out) > 0 {
					return t.finishBatch(out), nil
				}
				wait := time.Until(deadline)
				if t.s.heartbeat > 0 && !t.inTxn {
					wait = min(wait, time.Until(t.nextHeartbeat))
				}
				if wait <= 0 {
					if time.Now().After(deadline) {
						return t.finishBatch(out), nil
					}
					continue
				}
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case m, ok = <-t.stream.queue:
				case <-timer.C:
					continue
				case <-ctx.Done():
					return t.finishBatch(out), nil
				}
			}
			if !ok {
				err := t.stream.failure()
				t.stream.close()
				t.stream = nil
				t.inTxn = false
				t.log.Warn("postgres-cdc: replication stream lost; reconnecting", "error", err, "position", formatLSN(t.pos.lsn))
				if len(out) > 0 {
					return t.finishBatch(out), nil
				}
				return nil, connectors.Retriable(err)
			}
		}
		recs, err := t.handle(ctx, m)
		if err != nil {
			if !transient(err) {
				return nil, err
			}
			// Nothing of m was applied: handle it again next time.
			t.held = m
			if len(out) > 0 {
				return t.finishBatch(out), nil
			}
			return nil, connectors.Retriable(err)
		}
		out = append(out, recs...)
	}
	return t.finishBatch(out), nil
}

// finishBatch attaches the position to the batch's last record and
// confirms what may be confirmed.
func (t *task) finishBatch(out []*connectors.Record) []*connectors.Record {
	if len(out) > 0 {
		out[len(out)-1].SourceOffset = t.offset()
		t.emitted = t.pos
	}
	t.confirm()
	return out
}

// handle applies one replication message and returns its records. On
// error nothing of the message is applied.
func (t *task) handle(ctx context.Context, m *walMessage) ([]*connectors.Record, error) {
	switch m.kind {
	case 'B':
		t.inTxn = true
		t.txn = txnState{xid: m.xid, final: m.finalLSN, commitTime: m.commitTime}
		switch {
		case m.finalLSN < t.resume.lsn:
			t.txn.skipAll = true
		case m.finalLSN == t.resume.lsn:
			t.txn.skip = t.resume.events
		}
		t.pos = position{lsn: m.finalLSN}
	case 'C':
		t.inTxn = false
		t.pos = position{lsn: m.endLSN}
		if !t.txn.skipAll {
			t.lastCommit = m.commitLSN
		}
		t.recentXids.add(t.txn.xid)
	case 'R':
		return nil, t.relation(ctx, m.rel)
	case 'Y':
		conn, err := t.queryConn(ctx)
		if err != nil {
			return nil, err
		}
		types, err := loadTypes(ctx, conn)
		if err != nil {
			return nil, err
		}
		t.types.setTypes(types)
	case 'I', 'U', 'D', 'T':
		return t.change(ctx, m)
	case 'M':
		if m.transactional {
			if !t.inTxn {
				return nil, nil
			}
			t.txn.events++
			t.pos = position{lsn: t.txn.final, events: t.txn.events}
			return nil, nil
		}
		if m.messageLSN < t.resume.lsn {
			return nil, nil
		}
		if !t.inTxn {
			t.pos = position{lsn: m.messageLSN + 1}
		}
		switch m.prefix {
		case t.heartbeatPrefix():
			return t.heartbeatRecord(), nil
		case t.watermarkPrefix():
			if t.inc != nil && t.inc.window != nil && string(m.content) == t.inc.window.id {
				return t.closeWindow(), nil
			}
		}
	case 'k':
		// Everything before the server's WAL end was sent before this
		// keepalive: between transactions, the handled position moves
		// there, which lets the slot advance while the captured tables are
		// idle.
		if !t.inTxn && m.walEnd > t.pos.lsn {
			t.pos = position{lsn: m.walEnd}
		}
		t.metrics.serverWALEnd = m.walEnd
	case 'O':
	}
	return nil, nil
}

// relation records a relation announced by the stream and compiles its
// plan if it is captured.
func (t *task) relation(ctx context.Context, rel *relationMessage) error {
	id := tableID{schema: rel.namespace, name: rel.name}
	rs := &relState{rel: rel}
	if t.s.signalTable != nil && id == *t.s.signalTable {
		rs.signal = true
	} else if !t.s.filter.table(id) {
		t.rels[rel.id] = rs
		return nil
	}
	rs.captured = !rs.signal
	plan, err := t.planRelation(ctx, rel)
	if err != nil {
		return err
	}
	rs.plan = plan
	t.rels[rel.id] = rs
	if t.inc != nil && t.inc.window != nil && t.inc.window.plan.id == id && t.inc.window.plan.tbl != plan.tbl {
		// The table changed under the chunk: read it again.
		t.log.Info("postgres-cdc: table changed during an incremental snapshot chunk; the chunk is read again", "table", id.String())
		t.inc.window = nil
	}
	return nil
}

func (t *task) planRelation(ctx context.Context, rel *relationMessage) (*tablePlan, error) {
	conn, err := t.queryConn(ctx)
	if err != nil {
		return nil, err
	}
	key, err := readKey(ctx, conn, rel.id)
	if err != nil {
		return nil, fmt.Errorf("postgres-cdc: read the key of %s.%s: %w", rel.namespace, rel.name, err)
	}
	cols := make([]columnInfo, len(rel.columns))
	for i, c := range rel.columns {
		cols[i] = columnInfo{name: c.name, typ: c.typ, typmod: c.typmod}
	}
	// A key column the stream does not mark is not sent in old tuples;
	// trust the catalog's key only when the relation agrees.
	return t.planner.build(tableID{schema: rel.namespace, name: rel.name}, rel.id, rel.replIdent, cols, key)
}

// refreshTypes reloads the type catalog and recompiles the stream's plans
// (an enum gained a label).
func (t *task) refreshTypes(ctx context.Context) error {
	conn, err := t.queryConn(ctx)
	if err != nil {
		return err
	}
	types, err := loadTypes(ctx, conn)
	if err != nil {
		return err
	}
	t.types.setTypes(types)
	for _, rs := range t.rels {
		if rs.plan == nil {
			continue
		}
		plan, err := t.planRelation(ctx, rs.rel)
		if err != nil {
			return err
		}
		rs.plan = plan
	}
	return nil
}

// change handles an insert, update, delete or truncate.
func (t *task) change(ctx context.Context, m *walMessage) ([]*connectors.Record, error) {
	if !t.inTxn {
		return nil, fmt.Errorf("postgres-cdc: a %q message outside a transaction", m.kind)
	}
	ev := t.txn.events + 1
	var recs []*connectors.Record
	if !t.txn.skipAll && ev > t.txn.skip {
		var err error
		for attempt := 0; ; attempt++ {
			recs, err = t.changeRecords(ctx, m)
			if errors.Is(err, errStaleEnum) && attempt == 0 {
				if err := t.refreshTypes(ctx); err != nil {
					return nil, err
				}
				continue
			}
			break
		}
		if err != nil {
			return nil, err
		}
		t.lastLSN, t.lastXid = m.walStart, t.txn.xid
		t.lastTsUs = t.txn.commitTime.UnixMicro()
		if len(recs) > 0 {
			t.metrics.lastEvent = t.txn.commitTime
			t.metrics.events += int64(len(recs))
		}
	}
	t.txn.events = ev
	t.pos = position{lsn: t.txn.final, events: ev}
	return recs, nil
}

// changeRecords builds a change's records (and feeds the incremental
// snapshot's window and the signal table's signals).
func (t *task) changeRecords(ctx context.Context, m *walMessage) ([]*connectors.Record, error) {
	if m.kind == 'T' {
		var recs []*connectors.Record
		for _, rid := range m.relIDs {
			rs := t.rels[rid]
			if rs == nil || rs.plan == nil || !rs.captured {
				continue
			}
			if t.inc != nil {
				t.inc.truncated(rs.plan.id)
			}
			if t.s.skipOps["t"] {
				continue
			}
			rec := fixKey(rs.plan.tbl.Record(debezium.OpTruncate, nil, nil, t.streamSource(rs.plan, m.walStart), time.Now(), t.partition, nil))
			rec.KeySchema = nil
			recs = append(recs, rec)
		}
		return recs, nil
	}
	rs := t.rels[m.relID]
	if rs == nil {
		return nil, fmt.Errorf("postgres-cdc: a change of relation %d before its relation message", m.relID)
	}
	if rs.plan == nil {
		return nil, nil
	}
	p := rs.plan
	if rs.signal {
		return t.signal(ctx, p, m)
	}
	if t.inc != nil && t.inc.window != nil && t.inc.window.plan.id == p.id {
		t.inc.window.observe(p, m)
	}
	full := m.oldKind == 'O'
	var before, after *connectors.Struct
	var err error
	var placeholder bool
	if m.old != nil {
		if before, _, err = p.decode(m.old, nil); err != nil {
			return nil, err
		}
	}
	if m.new != nil {
		var fallback []tupleColumn
		if full {
			fallback = m.old
		}
		if after, placeholder, err = p.decode(m.new, fallback); err != nil {
			return nil, err
		}
	}
	if placeholder && !p.toastWarned {
		p.toastWarned = true
		t.log.Warn("postgres-cdc: an update left a TOASTed column unchanged and PostgreSQL did not send its value: the event carries the placeholder (unavailable.value.placeholder); set REPLICA IDENTITY FULL on the table for exact values",
			"table", p.id.String(), "placeholder", t.s.types.placeholder)
	}
	now := time.Now()
	src := t.streamSource(p, m.walStart)
	rec := func(op string, before, after *connectors.Struct) *connectors.Record {
		return fixKey(p.tbl.Record(op, before, after, src, now, t.partition, nil))
	}
	var recs []*connectors.Record
	switch m.kind {
	case 'I':
		if !t.s.skipOps["c"] {
			recs = append(recs, rec(debezium.OpCreate, nil, after))
		}
	case 'U':
		if p.keyChanged(m.old, m.new) {
			// A primary key update is a delete of the old key (and its
			// tombstone) and a create of the new one, as Debezium emits
			// it, with headers naming the other key.
			oldKey, newKey := p.tbl.KeyOf(before), p.tbl.KeyOf(after)
			if !t.s.skipOps["d"] {
				d := rec(debezium.OpDelete, before, nil)
				d.Headers = append(d.Headers, connectors.Header{Key: "__debezium.newkey", Value: keyJSON(newKey)})
				recs = append(recs, d)
				if t.s.tombstones {
					recs = append(recs, t.tombstone(p, oldKey))
				}
			}
			if !t.s.skipOps["c"] {
				c := rec(debezium.OpCreate, nil, after)
				c.Headers = append(c.Headers, connectors.Header{Key: "__debezium.oldkey", Value: keyJSON(oldKey)})
				recs = append(recs, c)
			}
			break
		}
		if !t.s.skipOps["u"] {
			if !full {
				// Without REPLICA IDENTITY FULL the old row is not known
				// (a key-only old tuple comes only with a key change).
				before = nil
			}
			recs = append(recs, rec(debezium.OpUpdate, before, after))
		}
	case 'D':
		if !t.s.skipOps["d"] {
			d := rec(debezium.OpDelete, before, nil)
			recs = append(recs, d)
			if t.s.tombstones && d.Key != nil {
				recs = append(recs, t.tombstone(p, d.Key.(*connectors.Struct)))
			}
		}
	}
	return recs, nil
}

func (t *task) tombstone(p *tablePlan, key *connectors.Struct) *connectors.Record {
	rec := p.tbl.Tombstone(key, t.partition)
	if key == nil {
		rec.Key = nil
	}
	return rec
}

// keyJSON renders a key for the __debezium.oldkey/newkey headers.
func keyJSON(k *connectors.Struct) []byte {
	if k == nil {
		return nil
	}
	m := map[string]any{}
	for i, f := range k.Schema().Fields {
		v := k.At(i)
		if b, ok := v.([]byte); ok {
			v = b
		}
		m[f.Name] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return []byte(k.String())
	}
	return b
}

// streamSource builds a streamed change's source block.
func (t *task) streamSource(p *tablePlan, lsn uint64) *connectors.Struct {
	src := connectors.NewStructValue(sourceSchema)
	us := t.txn.commitTime.UnixMicro()
	src.Set(srcVersion, connectorVersion)
	src.Set(srcConnector, "postgresql")
	src.Set(srcName, t.s.prefix)
	src.Set(srcTsMs, us/1000)
	src.Set(srcTsUs, us)
	src.Set(srcTsNs, us*1000)
	src.Set(srcSnapshot, debezium.SnapshotFalse)
	src.Set(srcDB, t.s.dbname)
	last := "null"
	if t.lastCommit != 0 {
		last = `"` + strconv.FormatUint(t.lastCommit, 10) + `"`
	}
	src.Set(srcSequence, "["+last+`,"`+strconv.FormatUint(lsn, 10)+`"]`)
	src.Set(srcSchema, p.id.schema)
	src.Set(srcTable, p.id.name)
	src.Set(srcTxID, int64(t.txn.xid))
	src.Set(srcLSN, int64(lsn))
	return src
}

// Heartbeats.

func (t *task) heartbeatPrefix() string { return "sluice_heartbeat_" + t.s.slot }
func (t *task) watermarkPrefix() string { return "sluice_watermark_" + t.s.slot }

var (
	heartbeatKeySchema = connectors.NewStruct("io.debezium.connector.common.ServerNameKey").Version(1).
				Field("serverName", connectors.StringSchema()).MustBuild()
	heartbeatValueSchema = connectors.NewStruct("io.debezium.connector.common.Heartbeat").Version(1).
				Field("ts_ms", connectors.Int64Schema()).MustBuild()
)

// maybeHeartbeat runs heartbeat.action.query and writes the heartbeat
// message when due. Failures are logged: a heartbeat is not worth failing
// the task for.
func (t *task) maybeHeartbeat(ctx context.Context) {
	if t.s.heartbeat <= 0 || time.Now().Before(t.nextHeartbeat) {
		return
	}
	t.nextHeartbeat = time.Now().Add(t.s.heartbeat)
	conn, err := t.queryConn(ctx)
	if err != nil {
		t.log.Warn("postgres-cdc: heartbeat skipped", "error", err)
		return
	}
	if t.s.heartbeatQuery != "" {
		if _, err := conn.Exec(ctx, t.s.heartbeatQuery); err != nil {
			t.log.Warn("postgres-cdc: heartbeat.action.query failed", "error", err)
		}
	}
	// The message comes back through the slot after every change before
	// it: its position is one the slot can safely be confirmed to.
	if _, err := conn.Exec(ctx, "SELECT pg_logical_emit_message(false, $1, $2)", t.heartbeatPrefix(), strconv.FormatInt(time.Now().UnixMilli(), 10)); err != nil {
		t.log.Warn("postgres-cdc: heartbeat message failed", "error", err)
		return
	}
}

func (t *task) heartbeatRecord() []*connectors.Record {
	if t.s.heartbeat <= 0 {
		return nil
	}
	key := connectors.NewStructValue(heartbeatKeySchema)
	key.Set(0, t.s.prefix)
	val := connectors.NewStructValue(heartbeatValueSchema)
	now := time.Now()
	val.Set(0, now.UnixMilli())
	return []*connectors.Record{{
		Topic: t.s.heartbeatPrefix + "." + t.s.prefix, Partition: -1, Offset: -1, Timestamp: now,
		KeySchema: heartbeatKeySchema, Key: key, ValueSchema: heartbeatValueSchema, Value: val,
		SourcePartition: t.partition,
	}}
}
