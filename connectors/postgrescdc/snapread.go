package postgrescdc

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/debezium"
)

// The initial snapshot's reading.
//
// One goroutine (the receiver) owns the snapshot connection: it runs each
// table's COPY (in key order), copies the rows' text into batches of up to
// max.batch.size rows and decides everything that depends on the order of
// rows: the snapshot markers (first, first_in_data_collection,
// last_in_data_collection, last) and each batch's progress (the remaining
// tables). A full batch is handed on only when the next row arrives, so
// that the last row of a table, and of the snapshot, is always in a batch
// not yet handed on when its end is known.
//
// Decoder goroutines turn batches into records (COPY text to Debezium
// values, rows to change events): the per-row CPU work, spread over cores.
// Batches reach the task in reading order through one channel, which each
// batch enters before a decoder gets it; the task waits for the batch's
// decoding to finish. The records and the offsets are thus exactly those
// of a sequential reader. The channel's capacity bounds the batches in
// flight (and the memory).

// snapshotRun is a running initial snapshot read.
type snapshotRun struct {
	batches chan *snapJob // in reading order; closed when the receiver ends
	cancel  context.CancelFunc
	done    chan struct{} // closed when the receiver and every decoder ended
}

// snapJob is a batch of rows on its way: the receiver fills the raw part,
// a decoder the result, then closes ready.
type snapJob struct {
	buf   []byte        // the rows' COPY text, back to back
	rows  []rawRow      // each row's end in buf and table
	marks []snapMark    // snapshot markers, applied in order (a later one wins)
	plans []*tablePlan  // rawRow.plan indexes it
	out   snapBatch     // the decoded batch (or an error)
	ready chan struct{} // closed when out is set
}

type rawRow struct {
	end  int32
	plan int32
}

type snapMark struct {
	row    int
	marker string
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

// snapProgress is where a snapshot record leaves the snapshot: its table
// (the first of the remaining ones) and its key.
type snapProgress struct {
	tables []string
	key    []string
}

// snapshotDecoders is how many goroutines decode snapshot rows.
func snapshotDecoders() int { return min(runtime.GOMAXPROCS(0), 4) }

// startSnapshotRun starts reading the snapshot of plans on conn (in the
// snapshot's transaction), resuming after key in the first table.
func startSnapshotRun(s *settings, conn *pgx.Conn, plans []*tablePlan, key []string, cp uint64, xid int64, partition map[string]any) *snapshotRun {
	ctx, cancel := context.WithCancel(context.Background())
	decoders := snapshotDecoders()
	run := &snapshotRun{batches: make(chan *snapJob, decoders+1), cancel: cancel, done: make(chan struct{})}
	work := make(chan *snapJob, decoders+1)
	var wg sync.WaitGroup
	for range decoders {
		d := &snapshotDecoder{s: s, cp: cp, xid: xid, partition: partition}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				d.decode(j)
				close(j.ready)
			}
		}()
	}
	r := &snapshotReceiver{s: s, conn: conn, plans: plans, key: key, out: run.batches, work: work}
	go func() {
		defer close(run.done)
		defer wg.Wait()
		defer close(work)
		defer close(run.batches)
		defer conn.Close(context.Background())
		r.run(ctx)
	}()
	return run
}

// close stops the read and waits for its goroutines.
func (r *snapshotRun) close() {
	r.cancel()
	for range r.batches {
	}
	<-r.done
}

// next returns the next batch, waiting at most until timer fires or ctx
// ends (nil, true then); ok is false if the reader ended without a last
// batch.
func (r *snapshotRun) next(ctx context.Context, timer <-chan time.Time) (b *snapBatch, ok bool) {
	var j *snapJob
	select {
	case j, ok = <-r.batches:
	case <-timer:
		return nil, true
	case <-ctx.Done():
		return nil, true
	}
	if !ok {
		return nil, false
	}
	<-j.ready // decoders never block: the wait is the decoding's
	return &j.out, true
}

// snapshotReceiver is the receiver goroutine's state.
type snapshotReceiver struct {
	s     *settings
	conn  *pgx.Conn
	plans []*tablePlan
	key   []string // resume after this key in plans[0]
	out   chan<- *snapJob
	work  chan<- *snapJob

	cur     *snapJob
	first   bool  // no row read yet
	rows    int64 // rows read
	tables  []string
	curPlan int32
}

func (r *snapshotReceiver) newJob() *snapJob {
	return &snapJob{buf: make([]byte, 0, 64*r.s.maxBatch), rows: make([]rawRow, 0, r.s.maxBatch),
		plans: r.plans, ready: make(chan struct{})}
}

// send hands a job to the task (in order) and to a decoder.
func (r *snapshotReceiver) send(ctx context.Context, j *snapJob) bool {
	select {
	case r.out <- j:
	case <-ctx.Done():
		return false
	}
	r.work <- j // never blocks for long: its capacity is the task channel's
	return true
}

// fail hands an error to the task, in order after the batches sent.
func (r *snapshotReceiver) fail(ctx context.Context, err error) {
	j := &snapJob{out: snapBatch{err: err}, ready: make(chan struct{})}
	close(j.ready)
	select {
	case r.out <- j:
	case <-ctx.Done():
	}
}

func (r *snapshotReceiver) run(ctx context.Context) {
	r.first = true
	r.cur = r.newJob()
	for i, p := range r.plans {
		r.tables = make([]string, 0, len(r.plans)-i)
		for _, q := range r.plans[i:] {
			r.tables = append(r.tables, q.id.String())
		}
		var after []string
		if i == 0 {
			after = r.key
		}
		r.curPlan = int32(i)
		if err := r.copyTable(ctx, p, after); err != nil {
			if ctx.Err() == nil {
				r.fail(ctx, err)
			}
			return
		}
		if n := len(r.cur.rows); n > 0 && r.cur.rows[n-1].plan == int32(i) {
			r.cur.marks = append(r.cur.marks, snapMark{n - 1, "last_in_data_collection"})
		}
	}
	if n := len(r.cur.rows); n > 0 {
		r.cur.marks = append(r.cur.marks, snapMark{n - 1, debezium.SnapshotLast})
	}
	if _, err := r.conn.Exec(ctx, "COMMIT"); err != nil {
		if ctx.Err() == nil {
			r.fail(ctx, fmt.Errorf("postgres-cdc: end the snapshot transaction: %w", err))
		}
		return
	}
	r.cur.out.done = true
	r.send(ctx, r.cur)
}

// copyTable streams one table with COPY, ordered by its key (so that an
// interrupted snapshot resumes after the last key Kafka holds), into
// batches.
func (r *snapshotReceiver) copyTable(ctx context.Context, p *tablePlan, after []string) error {
	q := "SELECT " + p.selectList()
	if len(p.keyCols) == 0 {
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
	w := &rowCollector{r: r, ctx: ctx, firstInTable: true}
	if _, err := r.conn.PgConn().CopyTo(ctx, w, "COPY ("+q+") TO STDOUT"); err != nil {
		return fmt.Errorf("postgres-cdc: snapshot of %s: %w", p.id, err)
	}
	return nil
}

// rowCollector is the io.Writer given to CopyTo: it cuts the stream into
// rows (a CopyData message normally holds one) and copies them into the
// receiver's current batch.
type rowCollector struct {
	r            *snapshotReceiver
	ctx          context.Context
	partial      bool // the batch ends in an incomplete row
	firstInTable bool
}

func (w *rowCollector) Write(p []byte) (int, error) {
	r := w.r
	n := len(p)
	for len(p) > 0 {
		if !w.partial && len(r.cur.rows) >= r.s.maxBatch {
			// A row follows a full batch: the batch's last row is not the
			// last of anything, so the batch can go.
			if !r.send(w.ctx, r.cur) {
				return 0, w.ctx.Err()
			}
			r.cur = r.newJob()
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.cur.buf = append(r.cur.buf, p...)
			w.partial = true
			return n, nil
		}
		j := r.cur
		j.buf = append(j.buf, p[:i]...)
		p = p[i+1:]
		w.partial = false
		j.rows = append(j.rows, rawRow{end: int32(len(j.buf)), plan: r.curPlan})
		switch {
		case r.first:
			j.marks = append(j.marks, snapMark{len(j.rows) - 1, debezium.SnapshotFirst})
		case w.firstInTable:
			j.marks = append(j.marks, snapMark{len(j.rows) - 1, "first_in_data_collection"})
		}
		r.first, w.firstInTable = false, false
		r.rows++
		j.out.rows = r.rows
		j.out.tables = r.tables
	}
	return n, nil
}

// snapshotDecoder is a decoder goroutine's state.
type snapshotDecoder struct {
	s         *settings
	cp        uint64
	xid       int64
	partition map[string]any

	tuple []tupleColumn
	// src is the source block shared by a batch's records of one table
	// (records and their values are immutable once handed over); marked
	// records (first, last, ...) get their own copy.
	src     *connectors.Struct
	srcPlan *tablePlan
	srcAt   time.Time
}

// decode fills j.out from j's rows.
func (d *snapshotDecoder) decode(j *snapJob) {
	if j.out.err != nil {
		return
	}
	now := time.Now()
	at := debezium.At(now)
	recs := make([]connectors.Record, len(j.rows))
	ptrs := make([]*connectors.Record, len(j.rows))
	start := 0
	var last *tablePlan
	for i, row := range j.rows {
		p := j.plans[row.plan]
		line := j.buf[start:row.end]
		start = int(row.end)
		keyless := len(p.keyCols) == 0
		want := len(p.cols)
		if keyless {
			want++
		}
		var err error
		if d.tuple, err = splitCopyRow(line, d.tuple, want); err != nil {
			j.out = snapBatch{err: fmt.Errorf("postgres-cdc: snapshot of %s: %w", p.id, err)}
			return
		}
		cols := d.tuple[:len(p.cols)]
		rowStruct, _, err := p.decode(cols, nil)
		if err != nil {
			j.out = snapBatch{err: fmt.Errorf("postgres-cdc: snapshot of %s: %w", p.id, err)}
			return
		}
		if d.src == nil || d.srcPlan != p || !d.srcAt.Equal(now) {
			d.src, d.srcPlan, d.srcAt = d.source(p, now), p, now
		}
		rec := &recs[i]
		p.tbl.FillRecord(rec, debezium.OpRead, nil, rowStruct, d.src, at, d.partition, nil)
		fixKey(rec)
		ptrs[i] = rec
		if i == len(j.rows)-1 {
			// The batch's progress: its last row's key.
			last = p
			if keyless {
				j.out.key = []string{string(d.tuple[len(p.cols)].data)}
			} else {
				j.out.key = p.keyTexts(d.tuple)
			}
		}
	}
	for _, m := range j.marks {
		setSnapshotMarker(ptrs[m.row], m.marker)
	}
	j.out.recs = ptrs
	if last != nil {
		j.out.table = last.id.String()
	}
	j.buf, j.rows, j.marks = nil, nil, nil
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

// source builds a snapshot source block (snapshot=true), shared by the
// batch's records of one table.
func (d *snapshotDecoder) source(p *tablePlan, now time.Time) *connectors.Struct {
	src := connectors.NewStructValue(sourceSchema)
	src.Set(srcSnapshot, debezium.SnapshotTrue)
	us := now.UnixMicro()
	src.Set(srcVersion, connectorVersion)
	src.Set(srcConnector, "postgresql")
	src.Set(srcName, d.s.prefix)
	src.Set(srcTsMs, us/1000)
	src.Set(srcTsUs, us)
	src.Set(srcTsNs, us*1000)
	src.Set(srcDB, d.s.dbname)
	src.Set(srcSequence, `[null,"`+strconv.FormatUint(d.cp, 10)+`"]`)
	src.Set(srcSchema, p.id.schema)
	src.Set(srcTable, p.id.name)
	src.Set(srcTxID, d.xid)
	src.Set(srcLSN, int64(d.cp))
	return src.Share()
}
