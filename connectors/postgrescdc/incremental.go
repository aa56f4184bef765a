package postgrescdc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/debezium"
)

// Incremental snapshots (Debezium's ad hoc snapshots, after Netflix's
// DBLog): a table is read in chunks ordered by its key while changes keep
// streaming. For each chunk the connector
//
//  1. opens a window at its current stream position (nothing after it has
//     been handled yet) and, with a signal table, writes the
//     snapshot-window-open row;
//  2. reads the chunk in its own transaction, checking that no transaction
//     the stream already delivered is still in progress in that
//     transaction's snapshot (else it reads again: the chunk would miss a
//     change emitted before it);
//  3. writes the high watermark: a snapshot-window-close row (or, with
//     insert_delete, deletes the open row), or without a signal table a
//     logical decoding message;
//  4. drops from the buffered chunk every row whose key a streamed change
//     touches before the high watermark comes back through the stream
//     (those changes are newer than, or as new as, what the chunk read);
//  5. at the high watermark, emits the remaining rows as read events.
//
// So a chunk row never overwrites a newer change, and every change is
// still emitted exactly once. The progress (tables left, last key, the
// table's maximum key when it started) is part of every offset: after a
// crash the current chunk is read again, from the last key Kafka holds.

type incremental struct {
	collections []incCollection // left to snapshot; the first is current
	key         []string        // the last key emitted of the current table
	maxKey      []string        // the current table's largest key when it started
	// visibility is set when continuing an interrupted initial snapshot:
	// that snapshot (pg_current_snapshot()). A chunk row whose version
	// it cannot see was written after the consistent point, so the stream
	// carries it: the row is not read again.
	visibility string
	paused     bool
	window     *chunkWindow
}

type chunkWindow struct {
	id        string
	plan      *tablePlan
	keyless   bool
	index     map[string]int // key -> position in rows
	rows      []*connectors.Struct
	lastKey   []string
	read      int  // rows read (some may have been left out)
	exhausted bool // the chunk read the table's last rows
}

func newIncremental(saved *incrementalSaved) *incremental {
	inc := &incremental{}
	if saved != nil {
		inc.collections, inc.key, inc.maxKey, inc.visibility = saved.collections, saved.key, saved.maxKey, saved.visibility
	}
	return inc
}

// store writes the progress into an offset.
func (inc *incremental) store(o map[string]any) {
	o[keyIncCollections] = jsonText(inc.collections)
	if inc.key != nil {
		o[keyIncPrimaryKey] = inc.key
	}
	if inc.maxKey != nil {
		o[keyIncMaximumKey] = inc.maxKey
	}
	if inc.visibility != "" {
		o[keyIncContinuation] = inc.visibility
	}
}

// nextTable moves on to the next table.
func (inc *incremental) nextTable() {
	inc.collections = inc.collections[1:]
	inc.key, inc.maxKey, inc.window = nil, nil, nil
}

// truncated forgets a truncated table's buffered chunk rows.
func (inc *incremental) truncated(id tableID) {
	if inc.window != nil && inc.window.plan.id == id {
		inc.window.index = map[string]int{}
		for i := range inc.window.rows {
			inc.window.rows[i] = nil
		}
	}
}

// observe drops the chunk rows a streamed change touches.
func (w *chunkWindow) observe(p *tablePlan, m *walMessage) {
	for _, tuple := range [][]tupleColumn{m.old, m.new} {
		if tuple == nil {
			continue
		}
		if k, ok := p.keyOf(tuple); ok {
			if i, found := w.index[k]; found {
				w.rows[i] = nil
				delete(w.index, k)
			}
		}
	}
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// planFor compiles the current plan of a table by name.
func (t *task) planFor(ctx context.Context, conn *pgx.Conn, name string) (*tablePlan, error) {
	id, err := parseTableID(name)
	if err != nil {
		return nil, err
	}
	var oid uint32
	err = conn.QueryRow(ctx, `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r'`,
		id.schema, id.name).Scan(&oid)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres-cdc: find table %s: %w", id, err)
	}
	info, err := readTableInfo(ctx, conn, oid)
	if err != nil {
		return nil, err
	}
	return t.planner.build(info.id, info.relid, info.replIdent, info.columns, info.key)
}

// maybeChunk reads the next chunk of a running incremental snapshot when
// no window is open. It runs between transactions of the stream.
func (t *task) maybeChunk(ctx context.Context) error {
	inc := t.inc
	if inc == nil || inc.window != nil || inc.paused {
		return nil
	}
	for inc.window == nil {
		if len(inc.collections) == 0 {
			t.log.Info("postgres-cdc: incremental snapshot complete")
			t.inc = nil
			return nil
		}
		conn, err := t.queryConn(ctx)
		if err != nil {
			return err
		}
		coll := inc.collections[0]
		plan, err := t.planFor(ctx, conn, coll.ID)
		if err != nil {
			return err
		}
		if plan == nil || !t.s.filter.table(plan.id) {
			t.log.Warn("postgres-cdc: incremental snapshot: table is not captured (or no longer exists); skipped", "table", coll.ID)
			inc.nextTable()
			continue
		}
		if err := t.readChunk(ctx, conn, plan, coll); err != nil {
			return err
		}
	}
	return nil
}

// readChunk opens a window and reads a chunk of plan's table; an empty
// table (or one read to its end) moves on to the next.
func (t *task) readChunk(ctx context.Context, conn *pgx.Conn, plan *tablePlan, coll incCollection) error {
	inc := t.inc
	keyless := len(plan.keyCols) == 0
	keyList := plan.keyList()
	if keyless {
		keyList = "ctid"
	}
	cond := ""
	if coll.Condition != "" {
		cond = "(" + coll.Condition + ")"
	}
	if inc.maxKey == nil {
		texts := make([]string, 0, len(plan.keyCols))
		for _, k := range strings.Split(keyList, ", ") {
			texts = append(texts, k+"::text")
		}
		q := "SELECT ARRAY[" + strings.Join(texts, ", ") + "] FROM " + plan.id.quoted()
		if cond != "" {
			q += " WHERE " + cond
		}
		q += " ORDER BY " + descList(keyList) + " LIMIT 1"
		var max []string
		if err := conn.QueryRow(ctx, q).Scan(&max); err != nil && err != pgx.ErrNoRows {
			return fmt.Errorf("postgres-cdc: incremental snapshot of %s: read its maximum key: %w", plan.id, err)
		}
		if max == nil {
			t.log.Info("postgres-cdc: incremental snapshot: table is empty", "table", plan.id.String())
			inc.nextTable()
			return nil
		}
		inc.maxKey = max
		t.log.Info("postgres-cdc: incremental snapshot of a table started", "table", plan.id.String(), "max_key", strings.Join(max, ","))
	}
	w := &chunkWindow{id: randomID(), plan: plan, keyless: keyless, index: map[string]int{}}
	if st := t.s.signalTable; st != nil {
		if _, err := conn.Exec(ctx, "INSERT INTO "+st.quoted()+" (id, type, data) VALUES ($1, 'snapshot-window-open', $2)",
			w.id+"-open", `{"openWindowTimestamp": "`+time.Now().UTC().Format(time.RFC3339Nano)+`"}`); err != nil {
			return fmt.Errorf("postgres-cdc: write the low watermark to signal table %s: %w", st, err)
		}
	}
	where := []string{}
	if keyless {
		if len(inc.key) == 1 {
			where = append(where, "ctid > "+quoteLiteral(inc.key[0])+"::tid")
		}
		where = append(where, "ctid <= "+quoteLiteral(inc.maxKey[0])+"::tid")
	} else {
		if len(inc.key) == len(plan.keyCols) {
			where = append(where, plan.keyAfter(inc.key, ">"))
		}
		where = append(where, plan.keyAfter(inc.maxKey, "<="))
	}
	if cond != "" {
		where = append(where, cond)
	}
	sel := plan.selectList()
	if keyless {
		sel += ", ctid"
	}
	if inc.visibility != "" {
		sel += ", xmin::text, age(xmin)"
	}
	q := "SELECT " + sel + " FROM " + plan.id.quoted() + " WHERE " + strings.Join(where, " AND ") +
		" ORDER BY " + keyList + " LIMIT " + strconv.Itoa(t.s.chunkSize)
	for attempt := 0; ; attempt++ {
		retry, err := t.readChunkRows(ctx, conn, w, q)
		if err != nil {
			return fmt.Errorf("postgres-cdc: incremental snapshot of %s: %w", plan.id, err)
		}
		if !retry {
			break
		}
		if attempt >= 50 {
			return fmt.Errorf("postgres-cdc: incremental snapshot of %s: a transaction the stream delivered stayed in progress in every chunk snapshot", plan.id)
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.exhausted = w.read < t.s.chunkSize
	if w.read == 0 {
		inc.nextTable()
		return nil
	}
	// The high watermark.
	var err error
	switch st := t.s.signalTable; {
	case st != nil && t.s.insertDelete:
		_, err = conn.Exec(ctx, "DELETE FROM "+st.quoted()+" WHERE id = $1", w.id+"-open")
	case st != nil:
		_, err = conn.Exec(ctx, "INSERT INTO "+st.quoted()+" (id, type, data) VALUES ($1, 'snapshot-window-close', $2)",
			w.id+"-close", `{"openWindowTimestamp": "", "closeWindowTimestamp": "`+time.Now().UTC().Format(time.RFC3339Nano)+`"}`)
	default:
		_, err = conn.Exec(ctx, "SELECT pg_logical_emit_message(false, $1, $2)", t.watermarkPrefix(), w.id)
	}
	if err != nil {
		return fmt.Errorf("postgres-cdc: write the high watermark: %w", err)
	}
	inc.window = w
	return nil
}

func descList(list string) string {
	parts := strings.Split(list, ", ")
	for i := range parts {
		parts[i] += " DESC"
	}
	return strings.Join(parts, ", ")
}

// readChunkRows reads a chunk in a repeatable-read transaction. retry is
// true when that transaction's snapshot still sees a transaction in
// progress that the stream has already delivered: the chunk would then
// be older than a change emitted before its window.
func (t *task) readChunkRows(ctx context.Context, conn *pgx.Conn, w *chunkWindow, q string) (retry bool, err error) {
	w.index, w.rows, w.lastKey, w.read = map[string]int{}, nil, nil, 0
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return false, err
	}
	defer func() {
		if err != nil || retry {
			_, _ = conn.Exec(context.Background(), "ROLLBACK")
		}
	}()
	var snap string
	if err := conn.QueryRow(ctx, "SELECT pg_current_snapshot()::text").Scan(&snap); err != nil {
		return false, err
	}
	if t.recentXids.anyInProgress(snap) {
		return true, nil
	}
	p := w.plan
	want := len(p.cols)
	if w.keyless {
		want++
	}
	var initial, current *pgSnapshot
	if t.inc.visibility != "" {
		want += 2
		if initial, err = parseSnapshot(t.inc.visibility); err != nil {
			return false, fmt.Errorf("offset %s: %w", keyIncContinuation, err)
		}
		if current, err = parseSnapshot(snap); err != nil {
			return false, err
		}
	}
	tuple := make([]tupleColumn, 0, want)
	lines := &copyLines{row: func(line []byte) error {
		var err error
		if tuple, err = splitCopyRow(line, tuple, want); err != nil {
			return err
		}
		w.read++
		cols := tuple[:len(p.cols)]
		var key string
		if w.keyless {
			w.lastKey = []string{string(tuple[len(p.cols)].data)}
			key = w.lastKey[0]
		} else {
			w.lastKey = p.keyTexts(cols)
			key, _ = p.keyOf(cols)
		}
		if initial != nil {
			// The row version's creator: skip the row if the initial
			// snapshot could not see it (the stream carries that change).
			n := len(tuple)
			xmin, err1 := strconv.ParseUint(string(tuple[n-2].data), 10, 32)
			age, err2 := strconv.ParseInt(string(tuple[n-1].data), 10, 64)
			if err1 != nil || err2 != nil {
				return fmt.Errorf("row version %q age %q", tuple[n-2].data, tuple[n-1].data)
			}
			if age < math.MaxInt32 && !initial.visible(current.extend(uint32(xmin))) {
				return nil
			}
		}
		row, _, err := p.decode(cols, nil)
		if err != nil {
			return err
		}
		if !w.keyless {
			w.index[key] = len(w.rows)
		}
		w.rows = append(w.rows, row)
		return nil
	}}
	if _, err := conn.PgConn().CopyTo(ctx, lines, "COPY ("+q+") TO STDOUT"); err != nil {
		return false, err
	}
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		return false, err
	}
	return false, nil
}

// closeWindow emits the chunk's remaining rows at its high watermark and
// records the progress.
func (t *task) closeWindow() []*connectors.Record {
	inc := t.inc
	w := inc.window
	inc.window = nil
	now := time.Now()
	marker := debezium.SnapshotIncremental
	var recs []*connectors.Record
	// One source block for the chunk's rows (the same table and time).
	src := connectors.NewStructValue(sourceSchema)
	us := now.UnixMicro()
	src.Set(srcVersion, connectorVersion)
	src.Set(srcConnector, "postgresql")
	src.Set(srcName, t.s.prefix)
	src.Set(srcTsMs, us/1000)
	src.Set(srcTsUs, us)
	src.Set(srcTsNs, us*1000)
	src.Set(srcSnapshot, marker)
	src.Set(srcDB, t.s.dbname)
	src.Set(srcSchema, w.plan.id.schema)
	src.Set(srcTable, w.plan.id.name)
	src.Share()
	at := debezium.At(now)
	for _, row := range w.rows {
		if row == nil {
			continue
		}
		rec := new(connectors.Record)
		w.plan.tbl.FillRecord(rec, debezium.OpRead, nil, row, src, at, t.partition, nil)
		recs = append(recs, fixKey(rec))
	}
	t.metrics.snapshotRows += int64(len(recs))
	inc.key = w.lastKey
	if w.exhausted {
		t.log.Info("postgres-cdc: incremental snapshot of a table complete", "table", w.plan.id.String())
		inc.nextTable()
	}
	return recs
}

// signal handles a change of the signal table: Debezium's signals
// (execute-snapshot, stop-snapshot, pause-snapshot, resume-snapshot, log)
// and the watermarks this connector writes.
func (t *task) signal(ctx context.Context, p *tablePlan, m *walMessage) ([]*connectors.Record, error) {
	if m.kind == 'D' {
		// insert_delete closes a window by deleting its open row.
		if t.inc != nil && t.inc.window != nil && m.old != nil {
			row, _, err := p.decode(m.old, nil)
			if err == nil && fmt.Sprint(row.Get("id")) == t.inc.window.id+"-open" {
				return t.closeWindow(), nil
			}
		}
		return nil, nil
	}
	if m.kind != 'I' {
		return nil, nil
	}
	row, _, err := p.decode(m.new, nil)
	if err != nil {
		return nil, fmt.Errorf("postgres-cdc: signal table %s: %w", p.id, err)
	}
	id, _ := row.Get("id").(string)
	typ, _ := row.Get("type").(string)
	data, _ := row.Get("data").(string)
	switch typ {
	case "snapshot-window-open":
		return nil, nil
	case "snapshot-window-close":
		if t.inc != nil && t.inc.window != nil && id == t.inc.window.id+"-close" {
			return t.closeWindow(), nil
		}
		return nil, nil
	}
	if t.s.signalTableSignalsOff {
		t.log.Warn("postgres-cdc: signal in the signal table ignored: signal.enabled.channels does not include source", "signal", id, "type", typ)
		return nil, nil
	}
	return nil, t.applySignal(ctx, id, typ, data)
}

// applySignal acts on a signal from the signal table or the signal topic.
// On error nothing of it was applied.
func (t *task) applySignal(ctx context.Context, id, typ, data string) error {
	switch typ {
	case "execute-snapshot":
		return t.executeSnapshot(ctx, id, data)
	case "stop-snapshot":
		return t.stopSnapshot(ctx, id, data)
	case "pause-snapshot":
		if t.inc != nil {
			t.inc.paused = true
			t.log.Info("postgres-cdc: incremental snapshot paused", "signal", id)
		}
	case "resume-snapshot":
		if t.inc != nil {
			t.inc.paused = false
			t.log.Info("postgres-cdc: incremental snapshot resumed", "signal", id)
		}
	case "log":
		var d struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal([]byte(data), &d)
		t.log.Info("postgres-cdc: log signal", "signal", id, "message", d.Message)
	default:
		t.log.Warn("postgres-cdc: unknown signal type ignored", "signal", id, "type", typ)
	}
	return nil
}

type snapshotSignal struct {
	DataCollections      []string `json:"data-collections"`
	Type                 string   `json:"type"`
	AdditionalConditions []struct {
		DataCollection string `json:"data-collection"`
		Filter         string `json:"filter"`
	} `json:"additional-conditions"`
	AdditionalCondition string `json:"additional-condition"`
}

// matchTables resolves a signal's data-collections (regular expressions
// matching schemaName.tableName) against the captured tables.
func (t *task) matchTables(ctx context.Context, patterns []string) ([]string, error) {
	tables, err := t.capturedTables(ctx, false)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, pat := range patterns {
		re, err := regexp.Compile("^(?:" + pat + ")$")
		if err != nil {
			t.log.Warn("postgres-cdc: signal data-collection is not a regular expression", "data-collection", pat, "error", err)
			continue
		}
		for _, id := range tables {
			if t.s.signalTable != nil && id == *t.s.signalTable {
				continue
			}
			if re.MatchString(id.String()) && !containsString(out, id.String()) {
				out = append(out, id.String())
			}
		}
	}
	return out, nil
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (t *task) executeSnapshot(ctx context.Context, id, data string) error {
	var sig snapshotSignal
	if err := json.Unmarshal([]byte(data), &sig); err != nil {
		t.log.Warn("postgres-cdc: execute-snapshot signal with malformed data ignored", "signal", id, "error", err)
		return nil
	}
	if typ := strings.ToLower(sig.Type); typ != "" && typ != "incremental" {
		t.log.Warn("postgres-cdc: only incremental snapshots can be signalled; signal ignored", "signal", id, "type", sig.Type)
		return nil
	}
	tables, err := t.matchTables(ctx, sig.DataCollections)
	if err != nil {
		return err
	}
	if len(tables) == 0 {
		t.log.Warn("postgres-cdc: execute-snapshot signal matches no captured table", "signal", id, "data-collections", sig.DataCollections)
		return nil
	}
	if t.inc == nil {
		t.inc = newIncremental(nil)
	}
	for _, tb := range tables {
		cond := sig.AdditionalCondition
		for _, c := range sig.AdditionalConditions {
			if c.DataCollection == tb {
				cond = c.Filter
			}
		}
		dup := false
		for _, c := range t.inc.collections {
			dup = dup || c.ID == tb
		}
		if !dup {
			t.inc.collections = append(t.inc.collections, incCollection{ID: tb, Condition: cond})
		}
	}
	t.log.Info("postgres-cdc: incremental snapshot requested", "signal", id, "tables", tables)
	return nil
}

func (t *task) stopSnapshot(ctx context.Context, id, data string) error {
	if t.inc == nil {
		return nil
	}
	var sig snapshotSignal
	_ = json.Unmarshal([]byte(data), &sig)
	if len(sig.DataCollections) == 0 {
		t.log.Info("postgres-cdc: incremental snapshot stopped", "signal", id)
		t.inc = nil
		return nil
	}
	tables, err := t.matchTables(ctx, sig.DataCollections)
	if err != nil {
		return err
	}
	var keep []incCollection
	for i, c := range t.inc.collections {
		if containsString(tables, c.ID) {
			if i == 0 {
				t.inc.key, t.inc.maxKey, t.inc.window = nil, nil, nil
			}
			continue
		}
		keep = append(keep, c)
	}
	t.inc.collections = keep
	t.log.Info("postgres-cdc: tables removed from the incremental snapshot", "signal", id, "tables", tables)
	return nil
}

// pgSnapshot is a parsed pg_current_snapshot(): transactions below xmin
// are finished, from xmax on not yet started, those in xip in progress.
type pgSnapshot struct {
	xmin, xmax uint64
	xip        map[uint64]bool
}

func parseSnapshot(text string) (*pgSnapshot, error) {
	parts := strings.Split(text, ":")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%q is not a snapshot", text)
	}
	s := &pgSnapshot{xip: map[uint64]bool{}}
	var err1, err2 error
	s.xmin, err1 = strconv.ParseUint(parts[0], 10, 64)
	s.xmax, err2 = strconv.ParseUint(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%q is not a snapshot", text)
	}
	if parts[2] != "" {
		for _, x := range strings.Split(parts[2], ",") {
			v, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a snapshot", text)
			}
			s.xip[v] = true
		}
	}
	return s, nil
}

// extend makes a 32-bit transaction id (a row's xmin, at most 2^31 old
// unless frozen) a 64-bit one, relative to this snapshot's xmax.
func (s *pgSnapshot) extend(xid uint32) uint64 {
	x := s.xmax&^0xffffffff | uint64(xid)
	if x >= s.xmax && x >= 1<<32 {
		x -= 1 << 32
	}
	return x
}

// visible reports whether the snapshot sees a committed transaction's
// writes.
func (s *pgSnapshot) visible(xid uint64) bool {
	if xid < 3 { // bootstrap and frozen
		return true
	}
	if xid >= s.xmax {
		return false
	}
	return !s.xip[xid]
}
