package s3

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/recordformat"
)

// The source modes, Confluent's names.
const (
	modeRestore = "RESTORE_BACKUP"
	modeGeneric = "GENERIC"
)

type topicRegex struct {
	topic string
	re    *regexp.Regexp
}

// sourceConfig is the parsed configuration shared by a source's tasks.
type sourceConfig struct {
	st           *store
	mode         string
	prefix       string // listed prefix: topics.dir + directory.delim, or ""
	dirDelim     string
	fileDelim    string
	format       recordformat.Format
	topic        string
	topicRegexes []topicRegex
	pollInterval time.Duration
	pollNew      bool
	batchMax     int
}

func newSourceConfig(cfg *connectors.Config) (*sourceConfig, error) {
	st, err := newStore(cfg)
	if err != nil {
		return nil, err
	}
	f, _ := parseFormat(cfg.String("format.class"))
	c := &sourceConfig{
		st:           st,
		mode:         cfg.String("mode"),
		dirDelim:     cfg.String("directory.delim"),
		fileDelim:    cfg.String("file.delim"),
		format:       f,
		topic:        cfg.String("topic"),
		pollInterval: cfg.Duration("s3.poll.interval.ms"),
		pollNew:      cfg.Bool("s3.poll.new.objects"),
		batchMax:     cfg.Int("record.batch.max.size"),
	}
	if dir := cfg.String("topics.dir"); strings.TrimSpace(dir) != "" {
		c.prefix = dir + c.dirDelim
	}
	if c.topicRegexes, err = parseTopicRegexes(cfg); err != nil {
		return nil, err
	}
	return c, nil
}

func parseTopicRegexes(cfg *connectors.Config) ([]topicRegex, error) {
	var out []topicRegex
	for _, entry := range cfg.List("topic.regex.list") {
		topic, expr, ok := strings.Cut(entry, ":")
		if !ok || strings.TrimSpace(topic) == "" || expr == "" {
			return nil, connectors.Errorf(cfg.Key("topic.regex.list"), "%q is not topic:regex", entry)
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, connectors.Errorf(cfg.Key("topic.regex.list"), "%q: %v", entry, err)
		}
		out = append(out, topicRegex{topic: strings.TrimSpace(topic), re: re})
	}
	return out, nil
}

type source struct{ cfg *sourceConfig }

// Tasks splits the objects by stream (see sourceObject.stream): task i
// reads the streams whose hash modulo the task count is i, which is the
// same for every run of one configuration.
func (s *source) Tasks(maxTasks int) ([]connectors.SourceTask, error) {
	tasks := make([]connectors.SourceTask, maxTasks)
	for i := range tasks {
		tasks[i] = &sourceTask{cfg: s.cfg, st: s.cfg.st, id: i, n: maxTasks, now: time.Now}
	}
	return tasks, nil
}

// sourceTask reads objects in key order. Driven by one goroutine.
//
// Offsets: each stream (the objects of one Kafka partition in one
// directory for the sink's layout, one directory otherwise) is a source
// partition {"bucket": b, "prefix": p}; its offset
// {"object": key, "position": n, "complete": bool} says that the first n
// items of the object (and every earlier object of the stream, in key
// order) are in Kafka. New objects of a stream sort after the ones read
// (the sink's start offsets grow), so resuming at the offset is exact.
type sourceTask struct {
	cfg *sourceConfig
	st  *store
	id  int
	n   int
	tc  connectors.SourceTaskContext
	log *slog.Logger
	now func() time.Time

	cursors map[string]*cursor // by stream prefix

	// The listing pass in progress: a page of keys and where we are in it.
	passStarted time.Time
	inPass      bool
	passes      int
	page        []minio.ObjectInfo
	pageIdx     int
	token       string
	lastPage    bool
	skippedKeys int    // keys of this pass not in the expected layout
	skippedKey  string // one of them, for the log

	cur *objectReader
}

// cursor is the read position of a stream.
type cursor struct {
	object   string
	position int64
	complete bool
	part     map[string]any // the source partition, shared by its records
}

// sourceObject is a listed object that belongs to this task.
type sourceObject struct {
	key       string
	stream    string
	topic     string
	partition int32
}

func (t *sourceTask) Open(ctx context.Context, tc connectors.SourceTaskContext) error {
	t.tc = tc
	t.log = tc.Logger()
	if t.log == nil {
		t.log = slog.Default()
	}
	if err := t.st.check(ctx); err != nil {
		return err
	}
	t.cursors = map[string]*cursor{}
	offsets, err := tc.Offsets()
	if err != nil {
		return fmt.Errorf("s3: read committed offsets: %w", err)
	}
	for _, o := range offsets {
		bucket, _ := o.Partition["bucket"].(string)
		prefix, _ := o.Partition["prefix"].(string)
		if bucket != t.st.bucket || prefix == "" || !t.owns(prefix) || o.Offset == nil {
			continue
		}
		obj, _ := o.Offset["object"].(string)
		pos, ok := asInt64(o.Offset["position"])
		if obj == "" || !ok {
			return fmt.Errorf("s3: committed offset %v of source partition %v is not {object, position}: reset the connector's offsets", o.Offset, o.Partition)
		}
		complete, _ := o.Offset["complete"].(bool)
		t.cursors[prefix] = &cursor{object: obj, position: pos, complete: complete, part: o.Partition}
	}
	return nil
}

func asInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case float64:
		return int64(n), n == float64(int64(n))
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

func (t *sourceTask) owns(stream string) bool {
	if t.n <= 1 {
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(stream))
	return int(h.Sum32()%uint32(t.n)) == t.id
}

func (t *sourceTask) Poll(ctx context.Context) ([]*connectors.Record, error) {
	deadline := t.now().Add(time.Second)
	var out []*connectors.Record
	for len(out) < t.cfg.batchMax && ctx.Err() == nil {
		if t.cur == nil {
			obj, ok, err := t.nextObject(ctx)
			if err != nil {
				if len(out) > 0 {
					return out, nil // the error comes again at the next Poll
				}
				return nil, err
			}
			if !ok {
				if !t.cfg.pollNew {
					return out, io.EOF
				}
				if len(out) > 0 {
					return out, nil
				}
				// Wait for the next pass, at most until the deadline, so
				// that the worker can commit and stop promptly.
				wait := min(t.passStarted.Add(t.cfg.pollInterval).Sub(t.now()), deadline.Sub(t.now()))
				if wait > 0 {
					timer := time.NewTimer(wait)
					select {
					case <-ctx.Done():
					case <-timer.C:
					}
					timer.Stop()
				}
				return nil, nil
			}
			if err := t.open(ctx, obj); err != nil {
				if len(out) > 0 {
					return out, nil
				}
				return nil, err
			}
			continue
		}
		rec, err := t.cur.next(t)
		switch {
		case err == io.EOF:
			t.closeObject(true)
		case err != nil:
			// A read failure: the object is read again at the next Poll,
			// after the last item taken.
			t.closeObject(false)
			if len(out) > 0 {
				return out, nil
			}
			return nil, err
		case rec != nil:
			out = append(out, rec)
		}
	}
	if t.cur != nil {
		t.cur.finishRun()
	}
	return out, nil
}

// nextObject returns the next listed object of this task that is not
// read yet, listing a new page when needed. The object stays current in
// the page until it is done (closeObject, markComplete), so a failure
// reads it again. ok is false when a pass has ended and the next one is
// not due (s3.poll.interval.ms after the last one started), or never
// comes (s3.poll.new.objects=false).
func (t *sourceTask) nextObject(ctx context.Context) (sourceObject, bool, error) {
	if !t.inPass {
		if t.passes > 0 && (!t.cfg.pollNew || t.now().Before(t.passStarted.Add(t.cfg.pollInterval))) {
			return sourceObject{}, false, nil
		}
		t.inPass, t.passStarted = true, t.now()
		t.page, t.pageIdx, t.token, t.lastPage = nil, 0, "", false
		t.skippedKeys, t.skippedKey = 0, ""
	}
	for {
		for ; t.pageIdx < len(t.page); t.pageIdx++ {
			obj, ok := t.classify(t.page[t.pageIdx].Key)
			if !ok || !t.owns(obj.stream) {
				continue
			}
			if c := t.cursors[obj.stream]; c != nil && (obj.key < c.object || (obj.key == c.object && c.complete)) {
				continue
			}
			return obj, true, nil
		}
		if t.lastPage {
			t.passes++
			t.inPass = false
			if t.skippedKeys > 0 {
				t.log.Warn("s3: skipped objects whose keys are not in the sink's layout <topics.dir>/<topic>/<partition path>/<topic>+<partition>+<offset><extension> (use mode=GENERIC to read any keys)",
					"skipped", t.skippedKeys, "example", t.skippedKey)
			}
			return sourceObject{}, false, nil
		}
		res, err := t.st.core.ListObjectsV2(t.st.bucket, t.cfg.prefix, "", t.token, "", 1000)
		if err != nil {
			return sourceObject{}, false, t.st.wrap("list", t.cfg.prefix, err)
		}
		t.page, t.pageIdx = res.Contents, 0
		t.token = res.NextContinuationToken
		t.lastPage = !res.IsTruncated || res.NextContinuationToken == ""
	}
}

// classify maps a key to its stream, topic and partition, or rejects it.
func (t *sourceTask) classify(key string) (sourceObject, bool) {
	if strings.HasSuffix(key, "/") {
		return sourceObject{}, false // a "directory" placeholder
	}
	d := t.cfg.dirDelim
	rel := strings.TrimPrefix(key, t.cfg.prefix)
	dir := ""
	name := rel
	if i := strings.LastIndex(rel, d); i >= 0 {
		dir, name = rel[:i+len(d)], rel[i+len(d):]
	}
	if t.cfg.mode == modeGeneric {
		obj := sourceObject{key: key, stream: t.cfg.prefix + dir, partition: -1, topic: t.cfg.topic}
		if len(t.cfg.topicRegexes) > 0 {
			obj.topic = ""
			for _, tr := range t.cfg.topicRegexes {
				if tr.re.MatchString(key) {
					obj.topic = tr.topic
					break
				}
			}
			if obj.topic == "" {
				return sourceObject{}, false
			}
		}
		return obj, true
	}
	// RESTORE_BACKUP: <topic>/<encoded partition>/<topic>+<partition>+<offset><ext>.
	if !t.hasFormatExtension(name) {
		t.skip(key)
		return sourceObject{}, false
	}
	fd := t.cfg.fileDelim
	j := strings.LastIndex(name, fd)
	if j < 0 {
		t.skip(key)
		return sourceObject{}, false
	}
	offsetPart := name[j+len(fd):]
	head := name[:j]
	k := strings.LastIndex(head, fd)
	if k < 0 {
		t.skip(key)
		return sourceObject{}, false
	}
	topic, partStr := head[:k], head[k+len(fd):]
	p, err := strconv.ParseInt(partStr, 10, 32)
	if err != nil || p < 0 || topic == "" || offsetPart == "" || offsetPart[0] < '0' || offsetPart[0] > '9' ||
		!strings.HasPrefix(rel, topic+d) {
		t.skip(key)
		return sourceObject{}, false
	}
	obj := sourceObject{key: key, stream: t.cfg.prefix + dir + head + fd, topic: topic, partition: int32(p)}
	if t.cfg.topic != "" {
		obj.topic = t.cfg.topic
	}
	return obj, true
}

func (t *sourceTask) skip(key string) {
	t.skippedKeys++
	if t.skippedKey == "" {
		t.skippedKey = key
	}
}

func (t *sourceTask) hasFormatExtension(name string) bool {
	switch t.cfg.format {
	case recordformat.JSON:
		return strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".json.gz")
	case recordformat.Avro:
		return strings.HasSuffix(name, ".avro")
	case recordformat.Parquet:
		return strings.HasSuffix(name, ".parquet")
	}
	return false
}

// objectReader reads one object's items, one item ahead so that the last
// record of the object is known as such.
type objectReader struct {
	obj    sourceObject
	part   map[string]any
	body   *minio.Object
	bodyRd *ioErrReader
	gz     *gzip.Reader
	r      recordformat.Reader

	position int64 // items taken (records and reported items)
	ahead    *recordformat.Item
	aheadErr error

	lastRec      *connectors.Record
	lastPos      int64
	lastComplete bool
}

// ioErrReader remembers failures of the underlying reader, to tell a
// network failure (retriable) from a corrupt object (reported).
type ioErrReader struct {
	r   io.Reader
	err error
}

func (e *ioErrReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// sizedReaderAt gives Parquet an io.ReaderAt with its size.
type sizedReaderAt struct {
	io.Reader
	at   io.ReaderAt
	size int64
	e    *ioErrReader
}

func (s *sizedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.at.ReadAt(p, off)
	if err != nil && err != io.EOF {
		s.e.err = err
	}
	return n, err
}

func (s *sizedReaderAt) Size() int64 { return s.size }

// open starts reading obj after its stream's cursor. An object that turns
// out to be empty, gone or unreadable is done with (reported if
// unreadable) and t.cur stays nil.
func (t *sourceTask) open(ctx context.Context, obj sourceObject) error {
	c := t.cursors[obj.stream]
	if c == nil {
		c = &cursor{part: map[string]any{"bucket": t.st.bucket, "prefix": obj.stream}}
		t.cursors[obj.stream] = c
	}
	skip := int64(0)
	if c.object == obj.key {
		skip = c.position
	}
	body, err := t.st.client.GetObject(ctx, t.st.bucket, obj.key, minio.GetObjectOptions{})
	if err != nil {
		return t.st.wrap("read", obj.key, err)
	}
	r := &objectReader{obj: obj, part: c.part, body: body, bodyRd: &ioErrReader{r: body}}
	var in io.Reader = r.bodyRd
	opts := recordformat.ReaderOptions{}
	fail := func(err error) error {
		body.Close()
		return t.readFailure(obj, c, r, err)
	}
	switch {
	case t.cfg.format == recordformat.Parquet:
		info, err := body.Stat()
		if err != nil {
			r.bodyRd.err = err
			return fail(err)
		}
		in = &sizedReaderAt{Reader: r.bodyRd, at: body, size: info.Size, e: r.bodyRd}
		opts.Start = skip
	case strings.HasSuffix(obj.key, ".gz"):
		gz, err := gzip.NewReader(bufio.NewReaderSize(r.bodyRd, 64<<10))
		if err == io.EOF && r.bodyRd.err == nil {
			body.Close()
			t.markComplete(c, obj) // an empty object
			return nil
		}
		if err != nil {
			return fail(fmt.Errorf("not a gzip stream: %w", err))
		}
		r.gz, in = gz, gz
	case t.cfg.format == recordformat.Avro:
		opts.Start = skip
	}
	fr, err := recordformat.NewReader(t.cfg.format, in, opts)
	if err != nil {
		return fail(err)
	}
	r.r = fr
	if opts.Start > 0 {
		r.position = skip
	}
	// Skip the items a text format cannot seek past.
	for r.position < skip {
		_, err := fr.Next()
		if err == io.EOF {
			break
		}
		var ie *recordformat.ItemError
		if err != nil && !errors.As(err, &ie) {
			return fail(err)
		}
		r.position++
	}
	r.ahead, r.aheadErr = r.read()
	t.cur = r
	return nil
}

func (r *objectReader) read() (*recordformat.Item, error) {
	item, err := r.r.Next()
	if err != nil {
		return nil, err
	}
	return &item, nil
}

// next returns the next record, or nil after reporting a bad item, or
// io.EOF at the end of the object, or a read failure (retriable).
func (r *objectReader) next(t *sourceTask) (*connectors.Record, error) {
	item, err := r.ahead, r.aheadErr
	if err == io.EOF {
		return nil, io.EOF
	}
	c := t.cursors[r.obj.stream]
	var ie *recordformat.ItemError
	if err != nil && !errors.As(err, &ie) {
		rerr := t.readFailure(r.obj, c, r, err)
		if rerr == nil {
			return nil, nil // reported; the object is done with
		}
		return nil, rerr
	}
	r.position++
	if t.cfg.format != recordformat.JSON {
		// Avro and Parquet positions are item ordinals + 1.
		if item != nil && item.Pos > 0 {
			r.position = item.Pos
		} else if ie != nil && ie.Pos > 0 {
			r.position = ie.Pos
		}
	}
	r.ahead, r.aheadErr = r.read()
	complete := r.aheadErr == io.EOF
	c.object, c.position, c.complete = r.obj.key, r.position, complete
	if ie != nil {
		raw := &connectors.Record{
			Topic: r.obj.topic, Partition: r.obj.partition, Offset: -1,
			ValueSchema: connectors.OptionalOf(connectors.BytesSchema()), Value: ie.Raw,
			SourcePartition: r.part,
			SourceOffset:    map[string]any{"object": r.obj.key, "position": r.position, "complete": complete},
		}
		if rerr := t.tc.Report(raw, fmt.Errorf("s3: object %q in bucket %q, item %d: %w", r.obj.key, t.st.bucket, r.position, ie.Err)); rerr != nil {
			return nil, rerr
		}
		return nil, nil
	}
	rec := &connectors.Record{
		Topic:           r.obj.topic,
		Partition:       r.obj.partition,
		Offset:          -1,
		ValueSchema:     item.Schema,
		Value:           item.Value,
		SourcePartition: r.part,
	}
	r.lastRec, r.lastPos, r.lastComplete = rec, r.position, complete
	return rec, nil
}

// finishRun puts the read position on the last record taken from the
// object since the last call: one offset per object and batch is enough,
// as an offset covers every earlier record of its source partition.
func (r *objectReader) finishRun() {
	if r.lastRec != nil {
		r.lastRec.SourceOffset = map[string]any{"object": r.obj.key, "position": r.lastPos, "complete": r.lastComplete}
		r.lastRec = nil
	}
}

// readFailure handles a failure to read an object: an I/O failure is
// returned (retriable: the object is read again from the cursor); a
// vanished object is skipped with a warning; anything else means the
// object (from here on) is not in the format, and it is reported (dead
// letter of its key under errors.tolerance=all) and skipped.
func (t *sourceTask) readFailure(obj sourceObject, c *cursor, r *objectReader, err error) error {
	if ioErr := r.bodyRd.err; ioErr != nil {
		if isNotFound(ioErr) {
			t.log.Warn("s3: object vanished before it was read to its end; skipping it", "object", obj.key, "items_read", c.position)
			t.markComplete(c, obj)
			return nil
		}
		return t.st.wrap("read", obj.key, ioErr)
	}
	raw := &connectors.Record{
		Topic: obj.topic, Partition: obj.partition, Offset: -1,
		ValueSchema: connectors.OptionalOf(connectors.BytesSchema()), Value: []byte(obj.key),
		SourcePartition: c.part,
		SourceOffset:    map[string]any{"object": obj.key, "position": r.position, "complete": true},
	}
	if rerr := t.tc.Report(raw, fmt.Errorf("s3: object %q in bucket %q cannot be read as %s after item %d: %w", obj.key, t.st.bucket, t.cfg.format, r.position, err)); rerr != nil {
		return rerr
	}
	t.markComplete(c, obj)
	return nil
}

// markComplete moves the stream past obj and the listing to the next key.
func (t *sourceTask) markComplete(c *cursor, obj sourceObject) {
	if c.object != obj.key {
		c.position = 0
	}
	c.object, c.complete = obj.key, true
	if t.cur != nil && t.cur.obj.key == obj.key {
		t.closeObject(true)
		return
	}
	t.pageIdx++
}

// closeObject closes the current object. done: it was read to its end,
// and the listing moves on; otherwise the same object is opened again
// (from the cursor) next time.
func (t *sourceTask) closeObject(done bool) {
	r := t.cur
	if r == nil {
		return
	}
	r.finishRun()
	if r.gz != nil {
		r.gz.Close()
	}
	r.body.Close()
	t.cur = nil
	if done {
		if c := t.cursors[r.obj.stream]; c != nil && c.object == r.obj.key {
			c.complete = true
		}
		t.pageIdx++
	}
}

func (t *sourceTask) Commit(ctx context.Context, committed []connectors.SourceOffset) error {
	return nil
}

func (t *sourceTask) Close() error {
	if t.cur != nil {
		t.cur.lastRec = nil
		t.closeObject(false)
	}
	return nil
}
