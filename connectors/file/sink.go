package fileconn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/recordformat"
)

func sinkPlugin() connectors.SinkPlugin {
	return connectors.SinkPlugin{
		Info: connectors.Info{
			Name:    "file",
			Summary: "Writes each topic-partition into rolling files (JSON lines, CSV, Avro, Parquet or lines), exactly once.",
			Doc: `Writes the record values of each topic-partition it reads into files in file.dir, named

    <topic>+<partition>+<first offset, 20 digits>+<last offset, 20 digits><extension>

for example orders+3+00000000000000001000+00000000000000001999.json: the offsets are those of the first and last records the file accounts for (records that could not be written and went to the error handler count too), the extension that of the format (.json, .csv, .avro, .parquet, .txt). Values only: keys and headers are not written.

Formats: json (one JSON document per line, Kafka Connect's JsonConverter payload form; schemaless values too), csv (a header row, then one row per record; struct values with primitive fields), avro (an Avro object container file, one schema per file), parquet (one schema per file; nested structs, arrays and maps), lines (string or bytes values, one per line).

Rotation: a file is completed when it holds flush.size records, when it reaches file.size.bytes, when a record's timestamp is rotate.interval.ms or more after the file's first record's (a deterministic rule: the record starts the next file), when the wall clock crosses a multiple of rotate.schedule.interval.ms after the file was started (so that a quiet partition's records are not held back), or when a record's value schema differs from the file's (avro, parquet and csv hold one schema per file). At least one of the first four must be set.

Exactly once. Records are streamed into a hidden temporary file (.<topic>+<partition>+<first offset>.<random>.tmp) in file.dir, so memory is bounded by the format's buffer (an Avro block, a Parquet row group), not by the file. A completed file is flushed, fsynced, renamed to its final name and the directory fsynced; only then does the task let the worker commit the offset after it. When a partition is assigned, the task lists that partition's final files, deletes its leftover temporary files and seeks the consumer to the offset after the last file's last offset, skipping any record at an earlier offset. So after a crash, a rebalance or a consumer offset that lagged, every record is in exactly one file: none twice, none missing. A temporary file is discarded when its partition is revoked or the task stops; its records are read again. Two sinks must not share a directory for the same topics.`,
			Spec: connectors.Spec{
				Fields: []connectors.ConfigField{
					{Name: "file.dir", Type: connectors.FieldString,
						Doc: "The directory to write files in (created if missing). Set file.dir or directory."},
					{Name: "directory", Type: connectors.FieldString,
						Doc: "Another name for file.dir."},
					{Name: "format", Type: connectors.FieldString, Default: "json", Allowed: recordformat.Formats,
						Doc: "The file format: json, csv, avro, parquet or lines."},
					{Name: "flush.size", Type: connectors.FieldInt, Default: 10000,
						Doc: "Complete a file once it holds this many records (Confluent's flush.size); 0 or less: no limit."},
					{Name: "file.size.bytes", Type: connectors.FieldInt, Default: -1,
						Doc: "Complete a file once it reaches about this many bytes (what is written plus what the format buffers); -1: no limit."},
					{Name: "rotate.interval.ms", Type: connectors.FieldDuration, Default: -1,
						Doc: "Complete a file when a record's timestamp is this long or more after the timestamp of the file's first record; the record starts the next file (Confluent's rotate.interval.ms with record time). -1: off."},
					{Name: "rotate.schedule.interval.ms", Type: connectors.FieldDuration, Default: -1,
						Doc: "Complete files when the wall clock crosses a multiple of this interval (counted from the Unix epoch, in UTC) after they were started, even if no record arrives: the task checks every quarter interval, at most every second (Confluent's rotate.schedule.interval.ms). -1: off."},
					{Name: "avro.codec", Type: connectors.FieldString, Default: "null", Allowed: []string{"null", "deflate", "snappy", "zstandard"},
						Doc: "format avro: the block compression."},
					{Name: "parquet.codec", Type: connectors.FieldString, Default: "snappy", Allowed: []string{"none", "snappy", "gzip", "zstd", "lz4"},
						Doc: "format parquet: the page compression."},
					{Name: "parquet.row.group.size.bytes", Type: connectors.FieldInt, Default: int64(recordformat.DefaultRowGroupBytes), Check: atLeast(1024),
						Doc: "format parquet: a row group is written when its buffered size reaches this. It bounds the task's memory per open file."},
					{Name: "json.decimal.format", Type: connectors.FieldString, Default: "BASE64", Allowed: []string{"BASE64", "NUMERIC"},
						Doc: "format json: decimals as base64 strings of their unscaled bytes (BASE64, Kafka Connect's default) or as numbers (NUMERIC)."},
					{Name: "csv.separator", Type: connectors.FieldString, Default: ",",
						Doc: "format csv: the field separator, one byte (\\t for a tab)."},
				},
				Check: checkSinkConfig,
			},
			Example: `name: orders-archive
type: file
topics: orders
file.dir: /data/archive/orders
format: parquet
flush.size: 100000
rotate.schedule.interval.ms: 600000
value.converter: avro
value.converter.schema.registry.url: http://127.0.0.1:8081`,
		},
		ExactlyOnce: true,
		New: func(cfg *connectors.Config) (connectors.Sink, error) {
			c, err := parseSinkConfig(cfg)
			if err != nil {
				return nil, err
			}
			return &sink{cfg: c}, nil
		},
	}
}

type sinkConfig struct {
	dir              string
	format           recordformat.Format
	flushSize        int64
	fileSize         int64
	rotateInterval   time.Duration
	scheduleInterval time.Duration
	writer           recordformat.WriterOptions
}

func checkSinkConfig(cfg *connectors.Config) error {
	_, err := parseSinkConfig(cfg)
	return err
}

func parseSinkConfig(cfg *connectors.Config) (*sinkConfig, error) {
	c := &sinkConfig{
		format:           recordformat.Format(cfg.String("format")),
		flushSize:        cfg.Int64("flush.size"),
		fileSize:         cfg.Int64("file.size.bytes"),
		rotateInterval:   cfg.Duration("rotate.interval.ms"),
		scheduleInterval: cfg.Duration("rotate.schedule.interval.ms"),
	}
	var errs []error
	dir, alt := cfg.String("file.dir"), cfg.String("directory")
	switch {
	case dir == "" && alt == "":
		errs = append(errs, connectors.Errorf(cfg.Key("file.dir"), "required: the directory to write files in"))
	case dir != "" && alt != "" && dir != alt:
		errs = append(errs, connectors.Errorf(cfg.Key("directory"), "set either file.dir or directory, not both"))
	case dir == "":
		dir = alt
	}
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			errs = append(errs, connectors.Errorf(cfg.Key("file.dir"), "%v", err))
		}
		c.dir = abs
	}
	if c.flushSize <= 0 && c.fileSize <= 0 && c.rotateInterval <= 0 && c.scheduleInterval <= 0 {
		errs = append(errs, connectors.Errorf(cfg.Key("flush.size"), "no rotation rule: set flush.size, file.size.bytes, rotate.interval.ms or rotate.schedule.interval.ms, or files are never completed"))
	}
	switch c.format {
	case recordformat.Avro:
		c.writer.Compression = cfg.String("avro.codec")
	case recordformat.Parquet:
		c.writer.Compression = cfg.String("parquet.codec")
	}
	c.writer.RowGroupBytes = cfg.Int64("parquet.row.group.size.bytes")
	c.writer.DecimalNumeric = cfg.String("json.decimal.format") == "NUMERIC"
	if sep, err := parseSeparator(cfg, "csv.separator"); err != nil {
		errs = append(errs, err)
	} else {
		c.writer.CSVSeparator = sep
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

type sink struct{ cfg *sinkConfig }

func (s *sink) Tasks(maxTasks int) ([]connectors.SinkTask, error) {
	tasks := make([]connectors.SinkTask, max(maxTasks, 1))
	for i := range tasks {
		tasks[i] = &sinkTask{cfg: s.cfg}
	}
	return tasks, nil
}

// sinkTask writes its partitions' files. The worker calls its methods from
// one goroutine; with rotate.schedule.interval.ms a timer goroutine of the
// task also completes files (a quiet partition gets no Put to do it), so
// mu guards the partitions.
type sinkTask struct {
	cfg *sinkConfig
	tc  connectors.SinkTaskContext
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	parts map[connectors.TopicPartition]*partitionFile
	last  *partitionFile // the partition of the previous record: Put's fast path
	bgErr error          // a failure of the timer goroutine or the finisher, reported by the next call
	stop  chan struct{}  // stops the timer goroutine
	done  chan struct{}

	// The finisher goroutine makes completed files durable (footer, fsync,
	// rename, directory fsync) while the task goes on writing the next
	// ones: a file's fsync no longer stalls consumption. It works through
	// finishQ in order and never takes mu; it hands its results over in
	// finished (guarded by fmu), which the task's calls apply under mu
	// (collect). inflight counts files queued and not yet finished, so
	// drain can wait for them.
	finishQ      chan *completedFile
	finisherDone chan struct{}
	fmu          sync.Mutex
	finished     []*completedFile
	inflight     sync.WaitGroup
}

// maxQueuedFiles bounds the completed files waiting for the finisher: when
// it falls behind (a slow disk), rolling blocks, so the data written but
// not yet durable, and what a crash makes the task read again, stay
// bounded by a few files.
const maxQueuedFiles = 4

// completedFile is a file whose last record is written, handed to the
// finisher.
type completedFile struct {
	p     *partitionFile
	f     *os.File
	w     recordformat.Writer
	tmp   string
	final string
	end   int64 // offset of its last record
	err   error // the finisher's result
}

// partitionFile is the state of one assigned partition and its open file.
type partitionFile struct {
	tp connectors.TopicPartition
	// next is the offset after the last record in a completed file or
	// handled: records before it are skipped as already written.
	next int64
	// durable is the offset after the last finished file: what PreCommit
	// lets the worker commit (-1: nothing yet).
	durable int64
	// queued is the offset after the last file handed to the finisher (or
	// the last record handled without a file): durable once pending files
	// are finished (-1: nothing yet).
	queued int64
	// pending counts this partition's files handed to the finisher whose
	// result collect has not applied yet.
	pending int

	// The open file, if f != nil.
	f        *os.File
	tmp      string
	cw       *countingWriter // the file's own: its writer goes to the finisher with it
	w        recordformat.Writer
	start    int64 // offset of the file's first record
	end      int64 // offset of its last record (written or reported)
	count    int64
	firstTS  time.Time
	deadline time.Time // rotate.schedule.interval.ms
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (t *sinkTask) Open(ctx context.Context, tc connectors.SinkTaskContext) error {
	t.tc, t.log = tc, tc.Logger()
	t.parts = map[connectors.TopicPartition]*partitionFile{}
	if t.now == nil {
		t.now = time.Now
	}
	if err := os.MkdirAll(t.cfg.dir, 0o755); err != nil {
		return fmt.Errorf("file: create file.dir: %w", err)
	}
	t.finishQ, t.finisherDone = make(chan *completedFile, maxQueuedFiles), make(chan struct{})
	go t.finisher()
	if t.cfg.scheduleInterval > 0 {
		t.stop, t.done = make(chan struct{}), make(chan struct{})
		go t.scheduler(min(t.cfg.scheduleInterval/4, time.Second))
	}
	return nil
}

// scheduler completes files whose rotate.schedule.interval.ms deadline
// passed, even when no record arrives (the worker calls neither Put nor
// PreCommit while a partition is quiet), and asks for a commit.
func (t *sinkTask) scheduler(every time.Duration) {
	defer close(t.done)
	tick := time.NewTicker(max(every, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		t.mu.Lock()
		if t.bgErr == nil {
			t.bgErr = t.rollDue()
		}
		t.mu.Unlock()
	}
}

// fileName is the final name of a file holding offsets start..end of tp.
func fileName(tp connectors.TopicPartition, start, end int64, ext string) string {
	return fmt.Sprintf("%s+%d+%020d+%020d%s", tp.Topic, tp.Partition, start, end, ext)
}

// parseFileName returns the offset range of a final file of tp, or false.
func parseFileName(tp connectors.TopicPartition, name string) (start, end int64, ok bool) {
	prefix := tp.Topic + "+" + strconv.Itoa(int(tp.Partition)) + "+"
	rest, found := strings.CutPrefix(name, prefix)
	if !found || len(rest) < 41 || rest[20] != '+' {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(rest[:20], 10, 64)
	end, err2 := strconv.ParseInt(rest[21:41], 10, 64)
	if err1 != nil || err2 != nil || end < start {
		return 0, 0, false
	}
	return start, end, true
}

func tmpPrefix(tp connectors.TopicPartition) string {
	return "." + tp.Topic + "+" + strconv.Itoa(int(tp.Partition)) + "+"
}

// Assign recovers each partition's state from the directory: the last
// completed file's end is where the partition goes on (the consumer is
// sought there), and temporary files left by a crash are deleted.
func (t *sinkTask) Assign(ctx context.Context, partitions []connectors.TopicPartition) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.parts == nil {
		return errors.New("file: Assign called before Open (the SinkTask contract is Open first)")
	}
	// Files of partitions owned before must be in place before the
	// directory is read.
	t.drain()
	entries, err := os.ReadDir(t.cfg.dir)
	if err != nil {
		return fmt.Errorf("file: list file.dir: %w", err)
	}
	for _, tp := range partitions {
		if old := t.parts[tp]; old != nil {
			t.abort(old)
		}
		p := &partitionFile{tp: tp, next: -1, durable: -1, queued: -1}
		tmp := tmpPrefix(tp)
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, tmp) && strings.HasSuffix(name, ".tmp") {
				if err := os.Remove(filepath.Join(t.cfg.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("file: delete leftover temporary file: %w", err)
				}
				t.log.Info("deleted a temporary file left by an earlier run", "file", name)
				continue
			}
			if _, end, ok := parseFileName(tp, name); ok && end+1 > p.next {
				p.next, p.durable, p.queued = end+1, end+1, end+1
			}
		}
		if p.next >= 0 {
			t.tc.Seek(tp, p.next)
		}
		t.parts[tp] = p
	}
	t.last = nil
	return nil
}

func (t *sinkTask) Put(ctx context.Context, records []*connectors.Record) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.collect(); err != nil {
		return err
	}
	for _, rec := range records {
		p := t.last
		if p == nil || p.tp.Topic != rec.Topic || p.tp.Partition != rec.Partition {
			tp := connectors.TopicPartition{Topic: rec.Topic, Partition: rec.Partition}
			p = t.parts[tp]
			if p == nil {
				return fmt.Errorf("file: record of %s, a partition not assigned to the task", tp)
			}
			t.last = p
		}
		if rec.Offset < p.next {
			continue // already in a completed file
		}
		if err := t.put(p, rec); err != nil {
			return err
		}
	}
	if t.cfg.scheduleInterval > 0 {
		return t.rollDue()
	}
	return nil
}

func (t *sinkTask) put(p *partitionFile, rec *connectors.Record) error {
	if p.f != nil && t.cfg.rotateInterval > 0 && !rec.Timestamp.IsZero() && !p.firstTS.IsZero() &&
		rec.Timestamp.Sub(p.firstTS) >= t.cfg.rotateInterval {
		if err := t.roll(p); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		if p.f == nil {
			if err := t.create(p, rec); err != nil {
				return err
			}
		}
		err := p.w.Write(rec)
		if err == nil {
			break
		}
		if errors.Is(err, recordformat.ErrSchemaChanged) && attempt == 0 {
			if err := t.roll(p); err != nil {
				return err
			}
			continue
		}
		// The record cannot be written in this format: the error handler
		// decides (dead letter or stop). Nothing of it reached the file.
		if rerr := t.tc.Report(rec, err); rerr != nil {
			return rerr
		}
		next := rec.Offset + 1
		if p.count == 0 {
			// Nothing written to the file yet: the record is handled now,
			// durable as soon as the files before it are.
			t.abort(p)
			p.queued = next
			if p.pending == 0 {
				p.durable = next
			}
		} else {
			p.end = rec.Offset
		}
		p.next = next
		return nil
	}
	p.end = rec.Offset
	p.next = rec.Offset + 1
	p.count++
	if p.count == 1 {
		p.firstTS = rec.Timestamp
	}
	if t.cfg.flushSize > 0 && p.count >= t.cfg.flushSize {
		return t.roll(p)
	}
	if t.cfg.fileSize > 0 {
		size := p.cw.n
		if b, ok := p.w.(recordformat.BufferedSizer); ok {
			size += b.Buffered()
		}
		if size >= t.cfg.fileSize {
			return t.roll(p)
		}
	}
	return nil
}

// create starts p's temporary file with rec as its first record.
func (t *sinkTask) create(p *partitionFile, rec *connectors.Record) error {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := fmt.Sprintf("%s%020d.%s.tmp", tmpPrefix(p.tp), rec.Offset, hex.EncodeToString(rnd[:]))
	path := filepath.Join(t.cfg.dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("file: create %s: %w", path, err)
	}
	p.f, p.tmp = f, path
	p.cw = &countingWriter{w: f}
	w, err := recordformat.NewWriter(t.cfg.format, p.cw, t.cfg.writer)
	if err != nil {
		t.abort(p)
		return fmt.Errorf("file: %w", err)
	}
	p.w = w
	p.start, p.end, p.count, p.firstTS = rec.Offset, rec.Offset, 0, time.Time{}
	if t.cfg.scheduleInterval > 0 {
		p.deadline = t.now().Truncate(t.cfg.scheduleInterval).Add(t.cfg.scheduleInterval)
	}
	return nil
}

// roll completes p's file: it goes to the finisher, and p starts a new
// file with its next record. The file's end is durable once the finisher
// has written the format's footer, fsynced it, renamed it to its final
// name and fsynced the directory (finish).
func (t *sinkTask) roll(p *partitionFile) error {
	if p.f == nil {
		return nil
	}
	if p.count == 0 {
		t.abort(p)
		return nil
	}
	c := &completedFile{p: p, f: p.f, w: p.w, tmp: p.tmp, end: p.end,
		final: filepath.Join(t.cfg.dir, fileName(p.tp, p.start, p.end, recordformat.Extension(t.cfg.format)))}
	p.f, p.w, p.count = nil, nil, 0
	p.queued = p.end + 1
	p.pending++
	t.inflight.Add(1)
	t.finishQ <- c // blocks while maxQueuedFiles wait
	return nil
}

// finisher finishes completed files in the order they were completed,
// one at a time, each with its own directory fsync: a later file of a
// partition is never in place (after a crash) without the earlier ones,
// since Assign resumes after a partition's last file. After a failure it
// discards every file still queued, for the same reason.
func (t *sinkTask) finisher() {
	defer close(t.finisherDone)
	var failed error
	for c := range t.finishQ {
		if failed != nil {
			c.f.Close()
			_ = os.Remove(c.tmp)
			c.err = fmt.Errorf("not completed after an earlier file failed: %w", failed)
		} else if c.err = finish(c, t.cfg.dir); c.err != nil {
			failed = c.err
		}
		t.fmu.Lock()
		t.finished = append(t.finished, c)
		t.fmu.Unlock()
		if c.err == nil {
			t.tc.RequestCommit()
		}
		t.inflight.Done()
	}
}

// finish makes c durable under its final name.
func finish(c *completedFile, dir string) error {
	err := c.w.Close()
	if err == nil {
		err = c.f.Sync()
	}
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(c.tmp, c.final)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		_ = os.Remove(c.tmp)
	}
	return err
}

// collect applies the finisher's results to the partitions: a finished
// file's end becomes durable; a failure is the task's error from then on.
// The caller holds mu.
func (t *sinkTask) collect() error {
	t.fmu.Lock()
	done := t.finished
	t.finished = nil
	t.fmu.Unlock()
	for _, c := range done {
		p := c.p
		p.pending--
		if c.err != nil {
			if t.bgErr == nil {
				t.bgErr = fmt.Errorf("file: complete %s: %w", c.final, c.err)
			}
			continue
		}
		if p.pending == 0 {
			p.durable = p.queued
		} else {
			p.durable = c.end + 1
		}
	}
	return t.bgErr
}

// drain waits until the finisher has finished every queued file and
// applies the results. The caller holds mu, so no file is queued
// meanwhile.
func (t *sinkTask) drain() error {
	if t.finishQ == nil {
		return t.bgErr
	}
	t.inflight.Wait()
	return t.collect()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// abort discards p's temporary file.
func (t *sinkTask) abort(p *partitionFile) {
	if p.f == nil {
		return
	}
	p.f.Close()
	_ = os.Remove(p.tmp)
	p.f, p.w = nil, nil
	p.count = 0
	// Records of the discarded file are read again (those of files
	// handed to the finisher are not).
	p.next = p.queued
}

// rollDue completes files whose rotate.schedule.interval.ms deadline passed.
func (t *sinkTask) rollDue() error {
	now := t.now()
	for _, p := range t.parts {
		if p.f != nil && !now.Before(p.deadline) {
			if err := t.roll(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// PreCommit returns, per partition, the offset after its last completed
// file: records in the open temporary file are not durable yet.
func (t *sinkTask) PreCommit(ctx context.Context, current map[connectors.TopicPartition]int64) (map[connectors.TopicPartition]int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.collect(); err != nil {
		return nil, err
	}
	if t.cfg.scheduleInterval > 0 {
		if err := t.rollDue(); err != nil {
			return nil, err
		}
	}
	out := make(map[connectors.TopicPartition]int64, len(t.parts))
	for tp, p := range t.parts {
		if p.durable >= 0 {
			out[tp] = p.durable
		}
	}
	return out, nil
}

// FlushAll completes every open file (connectors.SinkFlusher): a
// gracefully stopped sink leaves everything it consumed in final files.
func (t *sinkTask) FlushAll(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.collect(); err != nil {
		return err
	}
	for _, p := range t.parts {
		if err := t.roll(p); err != nil {
			return err
		}
	}
	return t.drain()
}

// Revoke discards the revoked partitions' temporary files: their records
// will be read again by the partitions' next owner.
func (t *sinkTask) Revoke(ctx context.Context, partitions []connectors.TopicPartition) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Their completed files must be in place before the next owner lists
	// the directory. A failure stays the task's error (bgErr).
	_ = t.drain()
	for _, tp := range partitions {
		if p := t.parts[tp]; p != nil {
			t.abort(p)
			delete(t.parts, tp)
		}
	}
	t.last = nil
	return nil
}

func (t *sinkTask) Close() error {
	if t.stop != nil {
		close(t.stop)
		<-t.done
		t.stop = nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_ = t.drain()
	for _, p := range t.parts {
		t.abort(p)
	}
	t.parts = map[connectors.TopicPartition]*partitionFile{}
	t.last = nil
	if t.finishQ != nil {
		close(t.finishQ)
		<-t.finisherDone
		t.finishQ = nil
	}
	return nil
}
