package s3

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/javafmt"
	"github.com/sluicehq/sluice/internal/recordformat"
)

// Object metadata the sink writes, for recovery in Assign (see
// recovery.go). S3 returns user metadata keys canonicalized
// (X-Amz-Meta-Sluice-Group-Start); they are read case-insensitively.
const (
	// metaGroupStart: the Kafka offset where the object's commit group
	// starts (the first record written after the previous commit). Set on
	// every object, when it starts.
	metaGroupStart = "sluice-group-start"
	// metaGroupNext: the offset committed after the group (the offset
	// after its last record). Only on objects uploaded with one PUT,
	// because a multipart upload's metadata is fixed when it starts.
	metaGroupNext = "sluice-group-next"
	// metaGroupFiles: how many objects the group has (with metaGroupNext).
	metaGroupFiles = "sluice-group-files"
	// metaRecords and metaEndOffset describe the object itself (as
	// Confluent's s3.object.tagging tags do), with metaGroupNext.
	metaRecords   = "sluice-record-count"
	metaEndOffset = "sluice-end-offset"
)

// sinkConfig is the parsed configuration shared by a sink's tasks
// (read-only after New).
type sinkConfig struct {
	st          *store
	topicsDir   string
	dirDelim    string
	fileDelim   string
	format      recordformat.Format
	writerOpts  recordformat.WriterOptions
	gzip        bool
	gzipLevel   int
	ext         string
	contentType string
	padWidth    int
	partSize    int

	flushSize               int
	rotateIntervalMs        int64 // <= 0: off
	rotateSchedule          time.Duration
	scheduleLoc             *time.Location
	rotateOnPartitionChange bool
	maxOpenFiles            int // <= 0: unbounded
	partitioner             *partitioner
	extractor               *timestampExtractor // nil unless time-based partitioning or rotate.interval.ms
	ignoreNulls             bool
	recovery                string // auto, full or none
}

func newSinkConfig(cfg *connectors.Config) (*sinkConfig, error) {
	st, err := newStore(cfg)
	if err != nil {
		return nil, err
	}
	f, _ := parseFormat(cfg.String("format.class"))
	c := &sinkConfig{
		st:                      st,
		topicsDir:               cfg.String("topics.dir"),
		dirDelim:                cfg.String("directory.delim"),
		fileDelim:               cfg.String("file.delim"),
		format:                  f,
		padWidth:                cfg.Int("filename.offset.zero.pad.width"),
		partSize:                cfg.Int("s3.part.size"),
		flushSize:               cfg.Int("flush.size"),
		rotateIntervalMs:        cfg.Duration("rotate.interval.ms").Milliseconds(),
		rotateSchedule:          cfg.Duration("rotate.schedule.interval.ms"),
		rotateOnPartitionChange: cfg.Bool("rotate.file.on.partition.change"),
		maxOpenFiles:            cfg.Int("partitioner.max.open.files"),
		ignoreNulls:             cfg.String("behavior.on.null.values") == "ignore",
		recovery:                cfg.String("recovery.scan"),
	}
	c.writerOpts.DecimalNumeric = cfg.String("json.decimal.format") == "NUMERIC"
	switch f {
	case recordformat.JSON:
		c.ext = ".json"
		if cfg.String("s3.compression.type") == "gzip" {
			c.gzip, c.gzipLevel, c.ext = true, cfg.Int("s3.compression.level"), ".json.gz"
		}
	case recordformat.Avro:
		c.ext = ".avro"
		c.writerOpts.Compression = cfg.String("avro.codec")
	case recordformat.Parquet:
		codec := cfg.String("parquet.codec")
		c.ext = parquetCodecExtensions[codec] + ".parquet"
		c.writerOpts.Compression = codec
		// The writer buffers a row group before it reaches the upload:
		// bound it by the same setting as the part buffer.
		c.writerOpts.RowGroupBytes = int64(c.partSize)
	}
	c.contentType = contentType(f, c.gzip)
	if c.partitioner, err = newPartitioner(cfg); err != nil {
		return nil, err
	}
	if c.partitioner.timeBased() || c.rotateIntervalMs > 0 {
		if c.extractor, err = newExtractor(cfg); err != nil {
			return nil, err
		}
	}
	if c.rotateSchedule > 0 {
		if c.scheduleLoc, err = loadZone(cfg.String("timezone")); err != nil {
			return nil, connectors.Errorf(cfg.Key("timezone"), "required by rotate.schedule.interval.ms: %v", err)
		}
	}
	return c, nil
}

type sink struct{ cfg *sinkConfig }

func (s *sink) Tasks(maxTasks int) ([]connectors.SinkTask, error) {
	tasks := make([]connectors.SinkTask, maxTasks)
	for i := range tasks {
		tasks[i] = newSinkTask(s.cfg)
	}
	return tasks, nil
}

func newSinkTask(cfg *sinkConfig) *sinkTask {
	return &sinkTask{
		cfg:   cfg,
		st:    cfg.st,
		parts: map[connectors.TopicPartition]*partitionWriter{},
		now:   time.Now,
		pool:  &bufferPool{partSize: cfg.partSize},

		listPage: 1000,
	}
}

// sinkTask writes the records of its partitions into objects. It is driven
// by one goroutine (the SinkTask contract) and owns all its state.
//
// Per Kafka partition, records go into a commit group: one open object per
// encoded partition (one for DefaultPartitioner). When the group rotates
// (flush.size records, rotate.interval.ms of record time, a scheduled
// rotation, a schema change) all its objects are completed, and only then
// does the partition's committable offset move past them, as in
// Confluent's TopicPartitionWriter.
type sinkTask struct {
	cfg   *sinkConfig
	st    *store
	tc    connectors.SinkTaskContext
	log   *slog.Logger
	parts map[connectors.TopicPartition]*partitionWriter
	now   func() time.Time
	pool  *bufferPool
	enc   []byte // scratch for encoded partitions
	// listPage is the page size of the first listing in recovery (1,000,
	// S3's maximum); tests lower it to exercise the search.
	listPage int
	// wake asks the worker for a commit (so a PreCommit, which rotates)
	// when the earliest scheduled rotation of an open group is due, at
	// wakeAt. See scheduleWake.
	wake   *time.Timer
	wakeAt time.Time
}

// partitionWriter is the state of one assigned Kafka partition.
type partitionWriter struct {
	tp connectors.TopicPartition
	// next is the offset of the next record to take: records below it are
	// written, skipped or (after recovery) already in the bucket. -1 until
	// known.
	next int64
	// durable is the offset after the last completed group, -1 if none
	// completed since Assign.
	durable int64
	// processed says a record was taken since Assign, so that next (and
	// not only durable) may be reported when no group is open.
	processed bool
	group     *fileGroup
	// failed: an upload of this partition failed; it is retried before
	// anything else happens to the partition.
	failed        bool
	lastFile      *openFile // the file of the last record written (rotate.file.on.partition.change)
	nextScheduled time.Time
}

// fileGroup is the set of objects of one partition between two commits.
type fileGroup struct {
	start      int64
	files      map[string]*openFile
	order      []*openFile
	count      int
	baseTs     int64 // the extracted time of its first record (rotate.interval.ms)
	closing    bool  // being completed; nothing more is written to it
	nextOffset int64 // with closing: the offset to commit after it
}

// openFile is one object being written.
type openFile struct {
	encoded    string
	key        string
	start      int64
	lastOffset int64
	records    int
	fw         recordformat.Writer
	gz         *gzip.Writer
	up         *objectUpload
	closed     bool // the format writer (and gzip) are closed; only the upload may remain
}

func (t *sinkTask) Open(ctx context.Context, tc connectors.SinkTaskContext) error {
	t.tc = tc
	t.log = tc.Logger()
	if t.log == nil {
		t.log = slog.Default()
	}
	return t.st.check(ctx)
}

// Assign starts writers for newly assigned partitions. A partition the
// task already owns keeps its state (its buffered records would not be
// delivered again). For each new partition, recovery finds where its
// output in the bucket ends and seeks the consumer there.
func (t *sinkTask) Assign(ctx context.Context, partitions []connectors.TopicPartition) error {
	var fresh []connectors.TopicPartition
	for _, tp := range partitions {
		if t.parts[tp] == nil {
			fresh = append(fresh, tp)
		}
	}
	found, err := t.recoverAll(ctx, fresh)
	if err != nil {
		return err
	}
	for i, tp := range fresh {
		pw := &partitionWriter{tp: tp, next: -1, durable: -1}
		if t.cfg.rotateSchedule > 0 {
			pw.nextScheduled = nextScheduledRotation(t.now(), t.cfg.rotateSchedule, t.cfg.scheduleLoc)
		}
		t.parts[tp] = pw
		if found[i].ok {
			pw.next = found[i].next
			t.tc.Seek(tp, found[i].next)
		}
	}
	return nil
}

func (t *sinkTask) Put(ctx context.Context, records []*connectors.Record) error {
	defer t.scheduleWake()
	now := t.now()
	for _, pw := range t.parts {
		if pw.failed {
			if err := t.resume(ctx, pw); err != nil {
				return err
			}
		}
	}
	var pw *partitionWriter
	for _, rec := range records {
		if pw == nil || pw.tp.Partition != rec.Partition || pw.tp.Topic != rec.Topic {
			// Batches come in runs of one partition: look up once per run.
			if pw = t.parts[connectors.TopicPartition{Topic: rec.Topic, Partition: rec.Partition}]; pw == nil {
				return fmt.Errorf("s3: record %s is of a partition not assigned to this task", rec.Where())
			}
		}
		if pw.next >= 0 && rec.Offset < pw.next {
			continue // written before a retry, or already in the bucket
		}
		if err := t.writeRecord(ctx, pw, rec, now); err != nil {
			return err
		}
	}
	return t.rotateIdle(ctx, now)
}

// scheduleWake arms a timer that calls RequestCommit when the earliest
// scheduled rotation (rotate.schedule.interval.ms) of a partition with
// open objects comes round. The worker calls Put only when records come
// and PreCommit every offset.flush.interval.ms (60 s by default), so
// without it an idle partition's objects would be completed up to that
// much later than scheduled; Kafka Connect calls put after every consumer
// poll, which is what Confluent's sink relies on. The timer only asks for
// a commit: the rotation itself runs in PreCommit, on the task's
// goroutine.
func (t *sinkTask) scheduleWake() {
	if t.cfg.rotateSchedule <= 0 || t.tc == nil {
		return
	}
	var due time.Time
	for _, pw := range t.parts {
		if pw.group != nil && pw.group.count > 0 && (due.IsZero() || pw.nextScheduled.Before(due)) {
			due = pw.nextScheduled
		}
	}
	if due.IsZero() || due.Equal(t.wakeAt) {
		return
	}
	t.wakeAt = due
	d := max(due.Sub(t.now()), 0)
	if t.wake == nil {
		t.wake = time.AfterFunc(d, t.tc.RequestCommit)
		return
	}
	t.wake.Reset(d)
}

// rotateIdle applies rotate.schedule.interval.ms to partitions that got no
// record (Confluent's commitOnTimeIfNoData).
func (t *sinkTask) rotateIdle(ctx context.Context, now time.Time) error {
	if t.cfg.rotateSchedule <= 0 {
		return nil
	}
	for _, pw := range t.parts {
		if now.Before(pw.nextScheduled) {
			continue
		}
		pw.nextScheduled = nextScheduledRotation(now, t.cfg.rotateSchedule, t.cfg.scheduleLoc)
		if pw.group != nil && pw.group.count > 0 && !pw.failed {
			if err := t.commit(ctx, pw); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *sinkTask) writeRecord(ctx context.Context, pw *partitionWriter, rec *connectors.Record, now time.Time) error {
	if rec.Value == nil {
		if !t.cfg.ignoreNulls {
			err := fmt.Errorf("s3: record %s has a null value (a tombstone), which behavior.on.null.values=fail does not write; set it to ignore to skip tombstones", rec.Where())
			if rerr := t.tc.Report(rec, err); rerr != nil {
				return rerr
			}
		}
		t.skip(pw, rec)
		return nil
	}
	var ts int64
	if t.cfg.extractor != nil {
		var err error
		if ts, err = t.cfg.extractor.extract(rec, now); err != nil {
			return t.reportAndSkip(pw, rec, err)
		}
	}
	enc, err := t.cfg.partitioner.encode(t.enc[:0], rec, ts)
	t.enc = enc
	if err != nil {
		return t.reportAndSkip(pw, rec, err)
	}
	for {
		if g := pw.group; g != nil && g.count > 0 && t.rotateBefore(pw, g, enc, ts, now) {
			if err := t.commit(ctx, pw); err != nil {
				return err
			}
			continue
		}
		f, created, err := t.file(ctx, pw, enc, rec.Offset)
		if err != nil {
			return err
		}
		f.up.ctx = ctx
		err = f.fw.Write(rec)
		if errors.Is(err, recordformat.ErrSchemaChanged) && !created {
			// The schema changed (schema.compatibility=NONE): complete the
			// group and start new objects with the new schema.
			if err := t.commit(ctx, pw); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			if created {
				t.dropFile(ctx, pw, f)
			}
			return t.reportAndSkip(pw, rec, fmt.Errorf("s3: write %s to %q: %w", rec.Where(), f.key, err))
		}
		g := pw.group
		if g.count == 0 {
			g.baseTs = ts
		}
		f.records++
		f.lastOffset = rec.Offset
		g.count++
		pw.lastFile = f
		pw.next = rec.Offset + 1
		pw.processed = true
		if f.up.err != nil {
			pw.failed = true
			return f.up.err
		}
		if g.count >= t.cfg.flushSize {
			return t.commit(ctx, pw)
		}
		return nil
	}
}

// rotateBefore reports whether the group must be completed before rec is
// written, as Confluent's rotateOnTime: rotate.interval.ms of extracted
// time since the group's first record, a change of encoded partition
// (with rotate.interval.ms and rotate.file.on.partition.change), or a due
// rotate.schedule.interval.ms; or, as rotateOnPartitionerMaxOpenFiles, a
// record for a new object when partitioner.max.open.files are open.
func (t *sinkTask) rotateBefore(pw *partitionWriter, g *fileGroup, enc []byte, ts int64, now time.Time) bool {
	periodic := false
	if t.cfg.rotateIntervalMs > 0 {
		periodic = ts-g.baseTs >= t.cfg.rotateIntervalMs ||
			(t.cfg.rotateOnPartitionChange && pw.lastFile != nil && pw.lastFile.encoded != string(enc))
	}
	scheduled := t.cfg.rotateSchedule > 0 && !now.Before(pw.nextScheduled)
	if !periodic && !scheduled && t.cfg.maxOpenFiles > 0 && len(g.order) >= t.cfg.maxOpenFiles && g.files[string(enc)] == nil {
		return true // partitioner.max.open.files: deterministic, like flush.size
	}
	if periodic || scheduled {
		if t.cfg.rotateSchedule > 0 {
			pw.nextScheduled = nextScheduledRotation(now, t.cfg.rotateSchedule, t.cfg.scheduleLoc)
		}
		return true
	}
	return false
}

func (t *sinkTask) reportAndSkip(pw *partitionWriter, rec *connectors.Record, err error) error {
	if rerr := t.tc.Report(rec, err); rerr != nil {
		return rerr
	}
	t.skip(pw, rec)
	return nil
}

func (t *sinkTask) skip(pw *partitionWriter, rec *connectors.Record) {
	pw.next = rec.Offset + 1
	pw.processed = true
}

// file returns the open object of the encoded partition in the
// partition's group, starting the group and the object as needed.
func (t *sinkTask) file(ctx context.Context, pw *partitionWriter, enc []byte, offset int64) (*openFile, bool, error) {
	g := pw.group
	if g == nil {
		g = &fileGroup{start: offset, files: map[string]*openFile{}}
		pw.group = g
	}
	if f := g.files[string(enc)]; f != nil {
		return f, false, nil
	}
	encoded := string(enc)
	key := t.objectKey(pw.tp, encoded, offset)
	meta := map[string]string{metaGroupStart: strconv.FormatInt(g.start, 10)}
	up := newObjectUpload(t.st, t.pool, key, t.cfg.contentType, meta)
	up.ctx = ctx
	var w io.Writer = up
	f := &openFile{encoded: encoded, key: key, start: offset, up: up}
	if t.cfg.gzip {
		gz, err := gzip.NewWriterLevel(up, t.cfg.gzipLevel)
		if err != nil {
			return nil, false, fmt.Errorf("s3: gzip writer for %q: %w", key, err)
		}
		f.gz, w = gz, gz
	}
	fw, err := recordformat.NewWriter(t.cfg.format, w, t.cfg.writerOpts)
	if err != nil {
		return nil, false, fmt.Errorf("s3: %s writer for %q: %w", t.cfg.format, key, err)
	}
	f.fw = fw
	g.files[encoded] = f
	g.order = append(g.order, f)
	return f, true, nil
}

// objectKey is Confluent's key layout:
// <topics.dir>/<topic>/<encoded partition>/<topic>+<partition>+<start offset, zero-padded><ext>.
func (t *sinkTask) objectKey(tp connectors.TopicPartition, encoded string, start int64) string {
	var b strings.Builder
	d := t.cfg.dirDelim
	if strings.TrimSpace(t.cfg.topicsDir) != "" {
		b.WriteString(t.cfg.topicsDir)
		b.WriteString(d)
	}
	b.WriteString(tp.Topic)
	b.WriteString(d)
	b.WriteString(encoded)
	b.WriteString(d)
	b.WriteString(t.fileName(tp, start))
	return b.String()
}

func (t *sinkTask) fileName(tp connectors.TopicPartition, start int64) string {
	return tp.Topic + t.cfg.fileDelim + strconv.Itoa(int(tp.Partition)) + t.cfg.fileDelim +
		padOffset(start, t.cfg.padWidth) + t.cfg.ext
}

func padOffset(v int64, width int) string {
	return string(javafmt.AppendPadded(nil, v, width))
}

// dropFile removes an object that got no record (its first record failed).
func (t *sinkTask) dropFile(ctx context.Context, pw *partitionWriter, f *openFile) {
	g := pw.group
	f.up.abort(ctx)
	delete(g.files, f.encoded)
	for i, o := range g.order {
		if o == f {
			g.order = append(g.order[:i], g.order[i+1:]...)
			break
		}
	}
	if len(g.order) == 0 {
		pw.group = nil
	}
}

// commit completes every object of the partition's group and makes the
// offset after the group committable. After a failure it can be called
// again: it resumes where it stopped and nothing is written twice under
// another key.
func (t *sinkTask) commit(ctx context.Context, pw *partitionWriter) error {
	g := pw.group
	if !g.closing {
		g.closing = true
		g.nextOffset = pw.next
	}
	files := strconv.Itoa(len(g.order))
	next := strconv.FormatInt(g.nextOffset, 10)
	for _, f := range g.order {
		f.up.ctx = ctx
		if !f.closed {
			if err := f.fw.Close(); err != nil {
				return fmt.Errorf("s3: complete %s data of %q: %w", t.cfg.format, f.key, err)
			}
			if f.gz != nil {
				if err := f.gz.Close(); err != nil {
					return fmt.Errorf("s3: complete gzip stream of %q: %w", f.key, err)
				}
			}
			f.closed = true
		}
		meta := map[string]string{
			metaGroupStart: strconv.FormatInt(g.start, 10),
			metaGroupNext:  next,
			metaGroupFiles: files,
			metaRecords:    strconv.Itoa(f.records),
			metaEndOffset:  strconv.FormatInt(f.lastOffset, 10),
		}
		if err := f.up.finish(ctx, meta); err != nil {
			pw.failed = true
			return err
		}
	}
	t.log.Debug("s3: committed objects", "partition", pw.tp.String(), "objects", len(g.order), "records", g.count, "next_offset", g.nextOffset)
	pw.durable = g.nextOffset
	pw.group = nil
	pw.lastFile = nil
	pw.failed = false
	t.tc.RequestCommit()
	return nil
}

// resume retries what failed in a partition: the group's completion, or
// the parts of its objects that could not be uploaded.
func (t *sinkTask) resume(ctx context.Context, pw *partitionWriter) error {
	g := pw.group
	if g == nil {
		pw.failed = false
		return nil
	}
	if g.closing {
		return t.commit(ctx, pw)
	}
	for _, f := range g.order {
		if err := f.up.retry(ctx); err != nil {
			return err
		}
	}
	pw.failed = false
	if g.count >= t.cfg.flushSize {
		return t.commit(ctx, pw)
	}
	return nil
}

func (t *sinkTask) PreCommit(ctx context.Context, current map[connectors.TopicPartition]int64) (map[connectors.TopicPartition]int64, error) {
	if t.cfg.rotateSchedule > 0 {
		defer t.scheduleWake()
		if err := t.rotateIdle(ctx, t.now()); err != nil {
			// The offsets below stay correct; the rotation is retried at
			// the next Put or PreCommit.
			t.log.Warn("s3: scheduled rotation failed", "error", err)
		}
	}
	out := make(map[connectors.TopicPartition]int64, len(t.parts))
	for tp, pw := range t.parts {
		switch {
		case pw.group == nil && !pw.failed && pw.processed:
			// Everything taken is in completed objects or was skipped.
			out[tp] = pw.next
		case pw.durable >= 0:
			out[tp] = pw.durable
		}
		if c, ok := current[tp]; ok && out[tp] > c {
			out[tp] = c
		}
	}
	return out, nil
}

func (t *sinkTask) Revoke(ctx context.Context, partitions []connectors.TopicPartition) error {
	for _, tp := range partitions {
		if pw := t.parts[tp]; pw != nil {
			t.dropPartition(ctx, pw)
			delete(t.parts, tp)
		}
	}
	return nil
}

// dropPartition abandons the partition's open objects: their records were
// not committed and will be delivered again to whoever owns the partition.
func (t *sinkTask) dropPartition(ctx context.Context, pw *partitionWriter) {
	if pw.group == nil {
		return
	}
	for _, f := range pw.group.order {
		f.up.abort(ctx)
	}
	pw.group = nil
}

func (t *sinkTask) Close() error {
	if t.wake != nil {
		t.wake.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for tp, pw := range t.parts {
		t.dropPartition(ctx, pw)
		delete(t.parts, tp)
	}
	return nil
}

// checkPartSize bounds s3.part.size as Confluent does: S3 needs parts of
// at least 5 MiB (but the last), and the buffer is an int.
func checkPartSize(v any) error {
	n := v.(int64)
	if n < 5<<20 || n > math.MaxInt32 {
		return fmt.Errorf("%d is out of range: S3 parts are 5 MiB (5242880) to 2 GiB", n)
	}
	return nil
}
