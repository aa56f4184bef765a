package mysqlcdc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// Register adds the mysql-cdc source connector to reg.
func Register(reg *connectors.Registry) error {
	return reg.AddSource(connectors.SourcePlugin{
		Info:        info,
		ExactlyOnce: true,
		New:         newSource,
	})
}

type source struct {
	cfg *config
}

func newSource(c *connectors.Config) (connectors.Source, error) {
	cfg, err := parseConfig(c)
	if err != nil {
		return nil, err
	}
	return &source{cfg: cfg}, nil
}

// Tasks returns one task: the binlog is one ordered stream.
func (s *source) Tasks(maxTasks int) ([]connectors.SourceTask, error) {
	return []connectors.SourceTask{&task{cfg: s.cfg}}, nil
}

type phase int

const (
	phaseSnapshot phase = iota
	phaseStream
	phaseDone
)

// task is the connector's one task: it snapshots, then follows the binlog.
// The worker calls it from one goroutine; the binlog reader's goroutine
// only hands events over through stream.events.
type task struct {
	cfg   *config
	tc    connectors.SourceTaskContext
	log   *slog.Logger
	db    *sql.DB
	info  serverInfo
	modes valueModes

	partition map[string]any // {"server": topic.prefix}
	state     *schemaState
	ddl       *ddlApplier

	phase phase
	snap  *snapshotRun
	strm  *streamer

	// out is the batch being built by the current Poll.
	out []*connectors.Record
	// carry are records built beyond a batch (kept for the next Poll).
	carry []*connectors.Record
	// failed is an error to return at the next Poll (after the records
	// built before it were returned).
	failed error

	heartbeatAt time.Time
	noSplit     bool // inside a compressed transaction payload
}

func (t *task) Open(ctx context.Context, tc connectors.SourceTaskContext) error {
	t.tc = tc
	t.log = tc.Logger()
	t.partition = map[string]any{"server": t.cfg.prefix}
	db, err := openDB(t.cfg)
	if err != nil {
		return err
	}
	t.db = db
	cctx, cancel := context.WithTimeout(ctx, t.cfg.connectTimeout)
	defer cancel()
	if err := db.PingContext(cctx); err != nil {
		if err, permanent := t.cfg.explainServerError("connect", err); permanent {
			return err
		}
		return connectors.Retriable(fmt.Errorf("mysql-cdc: connect to %s:%d as %q: %w", t.cfg.host, t.cfg.port, t.cfg.user, err))
	}
	if t.info, err = describeServer(cctx, db); err != nil {
		return err
	}
	t.modes = valueModes{decimal: t.cfg.decimalMode, bigint: t.cfg.bigintMode, time: t.cfg.timeMode,
		binary: t.cfg.binaryMode, mariadb: t.info.mariadb}
	t.log.Info("mysql-cdc: connected", "server", t.info.version, "flavor", t.info.flavor(), "gtid_mode", t.info.gtidMode)

	raw, err := tc.Offset(t.partition)
	if err != nil {
		return fmt.Errorf("mysql-cdc: read offsets: %w", err)
	}
	if raw == nil {
		switch t.cfg.snapshotMode {
		case snapshotRecovery:
			return errors.New("mysql-cdc: snapshot.mode=recovery needs committed offsets to recover from, and this connector has none: use snapshot.mode=initial")
		case snapshotNoData:
			return t.startSnapshot(false)
		}
		return t.startSnapshot(true)
	}
	off, err := parseMainOffset(raw)
	if err != nil {
		return fmt.Errorf("mysql-cdc: committed offset %v: %w (reset the connector's offsets to start over)", raw, err)
	}
	if off.Snapshot {
		t.log.Info("mysql-cdc: the previous snapshot did not complete: snapshotting again")
		return t.startSnapshot(t.cfg.snapshotMode != snapshotNoData)
	}
	switch t.cfg.snapshotMode {
	case snapshotAlways:
		return t.startSnapshot(true)
	case snapshotInitialOnly:
		t.log.Info("mysql-cdc: snapshot.mode=initial_only and the snapshot is complete: nothing to do")
		t.phase = phaseDone
		return nil
	case snapshotWhenNeeded:
		ok, why, err := t.positionAvailable(cctx, off)
		if err != nil {
			return err
		}
		if !ok {
			t.log.Warn("mysql-cdc: the committed binlog position is no longer available: snapshotting again (snapshot.mode=when_needed)", "reason", why)
			return t.startSnapshot(true)
		}
	case snapshotRecovery:
		return t.recoverSchemas(cctx, off)
	}
	return t.resume(off)
}

// resume restores the schema history at a committed offset and starts
// streaming from it.
func (t *task) resume(off mainOffset) error {
	t.state = newSchemaState(t.cfg, t.modes, off.Epoch)
	all, err := t.tc.Offsets()
	if err != nil {
		return fmt.Errorf("mysql-cdc: read offsets: %w", err)
	}
	if err := t.state.load(off, all); err != nil {
		return err
	}
	t.ddl = newDDLApplier(t.state, t.cfg.filters, t.info.mariadb, t.info.explicitTimestamp)
	t.log.Info("mysql-cdc: resuming from the committed binlog position", "file", off.File, "pos", off.Pos, "gtids", off.GTIDs,
		"event", off.Event, "row", off.Row, "tables", len(t.state.tables))
	t.strm = newStreamer(t, off.binlogPos)
	t.phase = phaseStream
	return nil
}

// recoverSchemas (snapshot.mode=recovery) keeps the binlog position but
// takes the captured tables' structures from the catalog, as a new epoch.
func (t *task) recoverSchemas(ctx context.Context, off mainOffset) error {
	tables, err := listTables(ctx, t.db, t.cfg.filters)
	if err != nil {
		return err
	}
	defs, err := readTableDefs(ctx, t.db, t.info.mariadb, tables)
	if err != nil {
		return err
	}
	t.state = newSchemaState(t.cfg, t.modes, newEpoch())
	t.ddl = newDDLApplier(t.state, t.cfg.filters, t.info.mariadb, t.info.explicitTimestamp)
	t.strm = newStreamer(t, off.binlogPos)
	t.phase = phaseStream
	src := t.strm.sourceStruct(time.Now(), "", "", 0)
	for _, tb := range tables {
		def := defs[tb[0]+"."+tb[1]]
		if def == nil {
			continue
		}
		rec, err := t.newVersionRecord(def.id(), def, tableChange{kind: changeCreate, id: def.id(), def: def}, "", src)
		if err != nil {
			return err
		}
		if rec != nil {
			t.carry = append(t.carry, rec)
		}
	}
	t.log.Warn("mysql-cdc: snapshot.mode=recovery: the table structures were rebuilt from the catalog; they are right only if no schema change happened since the committed position", "tables", len(defs))
	t.tc.RequestCommit()
	return nil
}

// positionAvailable reports whether the server still has the binlog file
// of an offset (snapshot.mode=when_needed).
func (t *task) positionAvailable(ctx context.Context, off mainOffset) (bool, string, error) {
	logs, err := binaryLogs(ctx, t.db)
	if err != nil {
		return false, "", err
	}
	if !logs[off.File] {
		return false, fmt.Sprintf("binlog file %s was purged", off.File), nil
	}
	return true, "", nil
}

func newEpoch() string { return strconv.FormatInt(time.Now().UnixNano(), 36) }

func (t *task) startSnapshot(withData bool) error {
	t.snap = &snapshotRun{withData: withData}
	t.phase = phaseSnapshot
	return nil
}

// Poll returns the next batch: snapshot rows, then change events.
func (t *task) Poll(ctx context.Context) ([]*connectors.Record, error) {
	if t.failed != nil {
		err := t.failed
		t.failed = nil
		return nil, err
	}
	t.out = t.out[:0]
	if len(t.carry) > 0 {
		t.out = append(t.out, t.carry...)
		t.carry = t.carry[:0]
	}
	var err error
	switch t.phase {
	case phaseSnapshot:
		err = t.pollSnapshot(ctx)
	case phaseStream:
		err = t.pollStream(ctx)
	case phaseDone:
		err = io.EOF
	}
	out := t.finishBatch()
	if err != nil && len(out) > 0 && !errors.Is(err, io.EOF) {
		// Hand over what is built; fail (or retry) at the next poll.
		t.failed = err
		return out, nil
	}
	return out, err
}

// finishBatch returns the batch, with the main partition's offset on its
// last main-partition record: the position after everything processed so
// far, which covers every earlier record (records in between produced
// nothing).
func (t *task) finishBatch() []*connectors.Record {
	out := make([]*connectors.Record, len(t.out))
	copy(out, t.out)
	t.out = t.out[:0]
	for i := len(out) - 1; i >= 0; i-- {
		if isMain(out[i].SourcePartition, t.partition) {
			if out[i].SourceOffset == nil {
				out[i].SourceOffset = t.currentOffset()
			}
			break
		}
	}
	return out
}

func isMain(p, main map[string]any) bool {
	if len(p) != len(main) {
		return false
	}
	return p["server"] == main["server"] && p["table"] == nil
}

// currentOffset is the main offset of the position reached.
func (t *task) currentOffset() map[string]any {
	switch t.phase {
	case phaseSnapshot:
		if t.snap != nil {
			return t.snap.offset(t)
		}
	case phaseStream, phaseDone:
		if t.strm != nil {
			return t.strm.offset()
		}
	}
	return nil
}

func (t *task) Commit(ctx context.Context, committed []connectors.SourceOffset) error {
	if t.state != nil {
		t.state.committed(committed)
	}
	return nil
}

func (t *task) Close() error {
	var errs []error
	if t.snap != nil {
		// The snapshot transaction is abandoned: errors do not matter.
		_ = t.snap.close()
	}
	if t.strm != nil {
		t.strm.close()
	}
	if t.db != nil {
		errs = append(errs, t.db.Close())
	}
	return errors.Join(errs...)
}

// catalog implements catalogAccess over the task's connection pool.
func (t *task) tableDefs(ctx context.Context, tables [][2]string) (map[string]*tableDef, error) {
	return readTableDefs(ctx, t.db, t.info.mariadb, tables)
}

func (t *task) databaseCharset(ctx context.Context, db string) (string, error) {
	return databaseCharset(ctx, t.db, db)
}

// newVersionRecord records a table's new structure (nil: dropped) and
// returns its schema history record, which carries the table partition's
// offset; nil when the same version was written before a restart.
func (t *task) newVersionRecord(id string, def *tableDef, change tableChange, ddl string, source *connectors.Struct) (*connectors.Record, error) {
	ts, dup, err := t.state.addVersion(id, def)
	if err != nil {
		return nil, err
	}
	if dup {
		return nil, nil
	}
	off, err := t.state.tableOffset(ts)
	if err != nil {
		return nil, err
	}
	db := ""
	if change.def != nil {
		db = change.def.DB
	}
	key := schemaChangeKey(db)
	value := schemaChangeValue(source, time.Now().UnixMilli(), db, ddl, []tableChange{change})
	return &connectors.Record{Topic: t.cfg.historyTopic, Partition: -1, Offset: -1,
		KeySchema: schemaChangeKeySchema, Key: key, ValueSchema: schemaChangeValueSchema, Value: value,
		SourcePartition: ts.partition, SourceOffset: off}, nil
}

// schemaChangeRecord is a schema change event for the topic named
// topic.prefix, in the main partition.
func (t *task) schemaChangeRecord(db, ddl string, changes []tableChange, source *connectors.Struct) *connectors.Record {
	return &connectors.Record{Topic: t.cfg.prefix, Partition: -1, Offset: -1,
		KeySchema: schemaChangeKeySchema, Key: schemaChangeKey(db),
		ValueSchema: schemaChangeValueSchema, Value: schemaChangeValue(source, time.Now().UnixMilli(), db, ddl, changes),
		SourcePartition: t.partition}
}
