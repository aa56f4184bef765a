package fileconn

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
	"github.com/sluicehq/sluice/internal/recordformat"
)

// Source partition and offset keys. The partition is Kafka FileStreamSource's
// {"filename": path} plus the file's identity, the offset its
// {"position": n} plus a checksum of the file's first bytes.
const (
	keyFilename = "filename"
	keyInode    = "inode"
	keyPosition = "position"
	keyHead     = "head"
	keyHeadLen  = "head.len"
)

// headBytes is how much of a file's start its checksum covers: enough to
// tell a file from another that reuses its inode, or from its own
// truncated and rewritten self.
const headBytes = 1024

var sourceFormats = []string{string(recordformat.Lines), string(recordformat.JSON), string(recordformat.CSV), string(recordformat.Avro)}

func sourcePlugin() connectors.SourcePlugin {
	return connectors.SourcePlugin{
		Info: connectors.Info{
			Name:    "file",
			Aliases: []string{"FileStreamSource", "org.apache.kafka.connect.file.FileStreamSourceConnector"},
			Summary: "Reads files (one path or globs; lines, JSON lines, CSV or Avro) into a topic, following growing and rotated files, exactly once.",
			Doc: `Reads the file named by file, or every file matched by the globs in files, into topic: one record per line (format lines, a string value, as Kafka's FileStreamSource), per JSON document of a JSON-lines file (schemaless values, or values of value.schema), per CSV row after the header (a struct of optional strings named by the header, or of value.schema), or per item of an Avro object container file (values of the file's schema). Record keys are null.

Offsets. Each file is a source partition {"filename": absolute path, "inode": "device:inode"}; its offset is {"position": the byte offset after the last record (the item count for Avro), "head": a checksum of the file's first 1 KiB, "head.len": its length}. On restart a file resumes right after its committed position, so under exactly-once (exactly.once.support, KIP-618) every line reaches the topic exactly once: the records and their offsets commit in one transaction. The inode lets a file keep its offset when it is renamed; the checksum tells it from a new file that reuses the inode. An offset stored as Kafka's FileStreamSource stores it, {"filename": path} -> {"position": n} (for example with sluice connectors offsets reset), applies to the file at that path when no offset with an inode is stored for the path.

Tailing (tail=true, the default, as FileStreamSource): at the end of a file the task waits for more; a last line without its newline is held back until the line ends. Every poll.interval.ms the globs are matched again (new files are picked up) and each file's path is checked: a file renamed away or deleted (logrotate's create mode) is read to its end, held back lines included, and closed once it has stopped growing for one poll interval, while a new file at its path is read from its start; a file truncated in place (copytruncate) is read again from its start (lines written between the last read and the truncation are lost, as with any copytruncate reader). If the task restarts in the middle of a rotation, it finds the renamed file by its inode in the same directory and finishes it. Every matched file is held open while it is tailed.

Bounded mode (tail=false): each matched file is read to its end (a last line without a newline included) and closed; once every matched file is done and the globs match nothing new, the task finishes (sluice run --until-done relies on it).

Malformed input (a line that is not JSON, a CSV row with a bad quote or the wrong number of fields, a line longer than max.item.bytes) is handed to the error handler with its raw bytes: dead-lettered under errors.tolerance=all, stopping the task under none.

Tasks. With files, the files are split across tasks.max tasks by a hash of their identity (inode, else path), so a renamed file stays with its task. With file, one task runs.`,
			Spec: connectors.Spec{
				Fields: []connectors.ConfigField{
					{Name: "file", Type: connectors.FieldString,
						Doc: "The file to read (Kafka FileStreamSource's file). Set file or files, not both. Relative paths are taken from the working directory."},
					{Name: "files", Type: connectors.FieldList,
						Doc: "Glob patterns of the files to read (Go filepath.Match syntax: *, ?, [a-z]; no **), matched again every poll.interval.ms. Set file or files, not both."},
					{Name: "topic", Type: connectors.FieldString, Required: true,
						Doc: "The topic to write the records to."},
					{Name: "format", Type: connectors.FieldString, Default: "lines", Allowed: sourceFormats,
						Doc: "The file format: lines (one string value per line), json (one JSON document per line), csv (RFC 4180 with a header row) or avro (Avro object container files)."},
					{Name: "batch.size", Type: connectors.FieldInt, Default: 2000, Check: atLeast(1),
						Doc: "The most records one poll returns (Kafka FileStreamSource's batch.size)."},
					{Name: "tail", Type: connectors.FieldBool, Default: true,
						Doc: "Keep reading files as they grow and survive their rotation (true), or read each matched file to its end and finish (false)."},
					{Name: "poll.interval.ms", Type: connectors.FieldDuration, Default: 1000, Check: positiveDuration,
						Doc: "How often the globs are matched again and files are checked for rotation and truncation."},
					{Name: "value.schema", Type: connectors.FieldString,
						Doc: "format json or csv: a Kafka Connect JSON schema ({\"type\":\"struct\",\"fields\":[...]}) the values are converted to; a value that does not fit is malformed input. Default: json values are schemaless, csv values structs of optional strings."},
					{Name: "csv.separator", Type: connectors.FieldString, Default: ",",
						Doc: "format csv: the field separator, one byte (\\t for a tab)."},
					{Name: "max.item.bytes", Type: connectors.FieldInt, Default: int64(recordformat.DefaultMaxItemSize), Check: atLeast(1024),
						Doc: "The longest line, CSV row or Avro block; it bounds the memory of each open file's reader. A longer line or row is malformed input (its first 64 KiB are kept)."},
				},
				Check: checkSourceConfig,
			},
			Example: `name: app-logs
type: file
files: /var/log/app/*.log
topic: app-logs
format: lines
tail: true
value.converter: string
exactly.once.support: required`,
		},
		ExactlyOnce: true,
		New: func(cfg *connectors.Config) (connectors.Source, error) {
			c, err := parseSourceConfig(cfg)
			if err != nil {
				return nil, err
			}
			return &source{cfg: c}, nil
		},
	}
}

func atLeast(n int64) func(any) error {
	return func(v any) error {
		if v.(int64) < n {
			return fmt.Errorf("must be at least %d", n)
		}
		return nil
	}
}

func positiveDuration(v any) error {
	if v.(time.Duration) <= 0 {
		return errors.New("must be positive")
	}
	return nil
}

type sourceConfig struct {
	file         string   // absolute; or
	patterns     []string // absolute globs
	topic        string
	format       recordformat.Format
	batchSize    int
	tail         bool
	pollInterval time.Duration
	valueSchema  *connectors.Schema
	csvSep       byte
	maxItem      int
}

func checkSourceConfig(cfg *connectors.Config) error {
	_, err := parseSourceConfig(cfg)
	return err
}

func parseSeparator(cfg *connectors.Config, key string) (byte, error) {
	s := cfg.String(key)
	if s == `\t` {
		s = "\t"
	}
	if len(s) != 1 || s[0] == '"' || s[0] == '\r' || s[0] == '\n' {
		return 0, connectors.Errorf(cfg.Key(key), "want one byte other than a quote or a line break, got %q", s)
	}
	return s[0], nil
}

func parseSourceConfig(cfg *connectors.Config) (*sourceConfig, error) {
	c := &sourceConfig{
		topic:        cfg.String("topic"),
		format:       recordformat.Format(cfg.String("format")),
		batchSize:    cfg.Int("batch.size"),
		tail:         cfg.Bool("tail"),
		pollInterval: cfg.Duration("poll.interval.ms"),
		maxItem:      cfg.Int("max.item.bytes"),
	}
	var errs []error
	file, files := cfg.String("file"), cfg.List("files")
	switch {
	case file == "" && len(files) == 0:
		errs = append(errs, connectors.Errorf(cfg.Key("file"), "required: set file (one path) or files (glob patterns)"))
	case file != "" && len(files) > 0:
		errs = append(errs, connectors.Errorf(cfg.Key("files"), "set either file or files, not both"))
	case file != "":
		abs, err := filepath.Abs(file)
		if err != nil {
			errs = append(errs, connectors.Errorf(cfg.Key("file"), "%v", err))
		}
		c.file = abs
	default:
		for _, p := range files {
			if _, err := filepath.Match(p, ""); err != nil {
				errs = append(errs, connectors.Errorf(cfg.Key("files"), "bad pattern %q: %v", p, err))
				continue
			}
			abs, err := filepath.Abs(p)
			if err != nil {
				errs = append(errs, connectors.Errorf(cfg.Key("files"), "%v", err))
				continue
			}
			c.patterns = append(c.patterns, abs)
		}
	}
	if c.topic == "" {
		errs = append(errs, connectors.Errorf(cfg.Key("topic"), "must not be empty"))
	}
	if sep, err := parseSeparator(cfg, "csv.separator"); err != nil {
		errs = append(errs, err)
	} else {
		c.csvSep = sep
	}
	if text := cfg.String("value.schema"); text != "" {
		if c.format != recordformat.JSON && c.format != recordformat.CSV {
			errs = append(errs, connectors.Errorf(cfg.Key("value.schema"), "applies to format json and csv only, not %s", c.format))
		} else if s, err := parseSchema(text); err != nil {
			errs = append(errs, connectors.Errorf(cfg.Key("value.schema"), "%v", err))
		} else if c.format == recordformat.CSV && s.Type != connectors.TypeStruct {
			errs = append(errs, connectors.Errorf(cfg.Key("value.schema"), "format csv needs a struct schema, not %s", s))
		} else {
			c.valueSchema = s
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func parseSchema(text string) (*connectors.Schema, error) {
	v, err := connectjson.Decode([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	return connectjson.ParseSchema(v)
}

type source struct{ cfg *sourceConfig }

// Tasks returns one task for file, and maxTasks tasks for files, each of
// which reads the files whose identity hashes to it.
func (s *source) Tasks(maxTasks int) ([]connectors.SourceTask, error) {
	n := 1
	if len(s.cfg.patterns) > 0 {
		n = max(maxTasks, 1)
	}
	tasks := make([]connectors.SourceTask, n)
	for i := range tasks {
		tasks[i] = &sourceTask{cfg: s.cfg, index: i, count: n}
	}
	return tasks, nil
}

var lineSchema = connectors.StringSchema()

// sourceTask reads its share of the files. Its methods run on the worker's
// task goroutine only (the SourceTask contract), so it needs no locks.
type sourceTask struct {
	cfg          *sourceConfig
	index, count int
	tc           connectors.SourceTaskContext
	log          *slog.Logger

	active   []*tracked                // files being read, in discovery order
	byKey    map[string]*tracked       // active files by identity
	finished map[string]finishedFile   // files read to their end and closed, by identity
	byInode  map[string]committed      // committed offsets by file identity
	byName   map[string]map[string]any // offsets stored without an identity, by filename
	// namedByInode: filenames with offsets stored with an identity; an
	// offset stored without one no longer applies to them.
	namedByInode map[string]bool
	nextScan     time.Time
	rr           int // where the next poll starts reading, for fairness
}

type finishedFile struct {
	size, pos int64
}

type committed struct {
	name   string
	offset map[string]any
}

// tracked is one open file.
type tracked struct {
	path      string // where it was found: its partition's filename
	key       string // identity: "device:inode", or "path:" + path
	id        fileID
	f         *os.File
	r         recordformat.Reader
	partition map[string]any
	pos       int64 // position after the last item returned or reported
	size      int64 // largest size seen
	head      uint32
	headLen   int64
	rotated   bool      // its path names another file now, or none
	finishAt  time.Time // when a rotated file that stopped growing is closed
	draining  bool      // reading to the very end, held-back line included
}

func keyOf(id fileID, path string) string {
	if id.valid() {
		return id.String()
	}
	return "path:" + path
}

func (t *sourceTask) Open(ctx context.Context, tc connectors.SourceTaskContext) error {
	t.tc = tc
	t.log = tc.Logger()
	t.byKey = map[string]*tracked{}
	t.finished = map[string]finishedFile{}
	t.byInode = map[string]committed{}
	t.byName = map[string]map[string]any{}
	t.namedByInode = map[string]bool{}
	offsets, err := tc.Offsets()
	if err != nil {
		return fmt.Errorf("file: read committed offsets: %w", err)
	}
	for _, o := range offsets {
		name, _ := o.Partition[keyFilename].(string)
		if name == "" || o.Offset == nil || !t.matches(name) {
			continue
		}
		if inode, _ := o.Partition[keyInode].(string); inode != "" {
			t.byInode[inode] = committed{name: name, offset: o.Offset}
			t.namedByInode[name] = true
		} else {
			t.byName[name] = o.Offset
		}
	}
	if err := t.scan(); err != nil {
		return err
	}
	return t.recoverRotated()
}

// matches reports whether path is one of the task's inputs by name.
func (t *sourceTask) matches(path string) bool {
	if t.cfg.file != "" {
		return path == t.cfg.file
	}
	for _, p := range t.cfg.patterns {
		if ok, _ := filepath.Match(p, path); ok {
			return true
		}
	}
	return false
}

func (t *sourceTask) mine(key string) bool {
	if t.count <= 1 {
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32()%uint32(t.count)) == t.index
}

// match returns the paths of the input files, sorted.
func (t *sourceTask) match() ([]string, error) {
	if t.cfg.file != "" {
		return []string{t.cfg.file}, nil
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range t.cfg.patterns {
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("file: glob %q: %w", p, err)
		}
		for _, x := range m {
			if !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// scan picks up new files and notices rotated and truncated ones.
func (t *sourceTask) scan() error {
	t.nextScan = time.Now().Add(t.cfg.pollInterval)
	paths, err := t.match()
	if err != nil {
		return err
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		id := idOf(fi)
		key := keyOf(id, p)
		if !t.mine(key) || t.byKey[key] != nil {
			continue
		}
		if fin, ok := t.finished[key]; ok && fi.Size() <= fin.size {
			continue
		}
		if err := t.open(p, nil); err != nil {
			return err
		}
	}
	if !t.cfg.tail {
		return nil
	}
	for _, tr := range t.active {
		if tr.rotated {
			continue
		}
		fi, err := os.Stat(tr.path)
		if err != nil || (tr.id.valid() && idOf(fi) != tr.id) {
			tr.rotated = true
			tr.finishAt = time.Now().Add(t.cfg.pollInterval)
			t.log.Info("file rotated: reading it to its end", "file", tr.path)
			continue
		}
		if fi.Size() < tr.size || !t.headMatches(tr) {
			if err := t.restart(tr, fi.Size()); err != nil {
				return err
			}
		}
	}
	return nil
}

// recoverRotated finishes files whose committed offsets name a path that
// now holds another file: rotated while the task was down. They are looked
// for by inode in the directory of their old path.
func (t *sourceTask) recoverRotated() error {
	dirs := map[string][]os.DirEntry{}
	inodes := make([]string, 0, len(t.byInode))
	for inode := range t.byInode {
		inodes = append(inodes, inode)
	}
	sort.Strings(inodes)
	for _, inode := range inodes {
		c := t.byInode[inode]
		if !t.mine(inode) || t.byKey[inode] != nil {
			continue
		}
		dir := filepath.Dir(c.name)
		entries, ok := dirs[dir]
		if !ok {
			entries, _ = os.ReadDir(dir)
			dirs[dir] = entries
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if err != nil || keyOf(idOf(fi), "") != inode {
				continue
			}
			p := filepath.Join(dir, e.Name())
			if err := t.open(p, &c.name); err != nil {
				return err
			}
			if tr := t.byKey[inode]; tr != nil && t.cfg.tail {
				tr.rotated = true
				tr.finishAt = time.Now().Add(t.cfg.pollInterval)
				t.log.Info("file rotated while the task was down: reading it to its end", "file", c.name, "now", p)
			}
			break
		}
	}
	return nil
}

// open starts reading the file at path (named partitionName in its source
// partition, path itself if nil) from its committed position, if any.
func (t *sourceTask) open(path string, partitionName *string) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // gone between the glob and the open
		}
		return fmt.Errorf("file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("file: %w", err)
	}
	id := idOf(fi)
	key := keyOf(id, path)
	if t.byKey[key] != nil || !t.mine(key) {
		f.Close()
		return nil
	}
	name := path
	if partitionName != nil {
		name = *partitionName
	}
	tr := &tracked{path: name, key: key, id: id, f: f, size: fi.Size(),
		partition: map[string]any{keyFilename: name}}
	if id.valid() {
		tr.partition[keyInode] = id.String()
	}
	off := t.byInode[key].offset
	if off == nil && !t.namedByInode[name] {
		off = t.byName[name]
	}
	if fin, ok := t.finished[key]; ok {
		// Read to its end earlier in this run, and grown since.
		off = nil
		tr.pos = fin.pos
	}
	if off != nil {
		pos, _ := toInt64(off[keyPosition])
		headLen, hasHead := toInt64(off[keyHeadLen])
		head, _ := toInt64(off[keyHead])
		switch {
		case hasHead && (headLen > fi.Size() || t.checksum(f, headLen) != uint32(head)):
			t.log.Warn("file is not the one of the committed offset (its first bytes differ): reading it from the start", "file", path, "committed.position", pos)
		case t.cfg.format != recordformat.Avro && pos > fi.Size():
			t.log.Warn("file is shorter than its committed position (truncated): reading it from the start", "file", path, "committed.position", pos, "size", fi.Size())
		default:
			tr.pos = max(pos, 0)
		}
	}
	if err := t.startReader(tr); err != nil {
		f.Close()
		return err
	}
	t.updateHead(tr)
	t.active = append(t.active, tr)
	t.byKey[key] = tr
	return nil
}

func (t *sourceTask) startReader(tr *tracked) error {
	if _, err := tr.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("file: %s: %w", tr.path, err)
	}
	r, err := recordformat.NewReader(t.cfg.format, tr.f, recordformat.ReaderOptions{
		Start: tr.pos, Partial: t.cfg.tail, ValueSchema: t.cfg.valueSchema,
		CSVSeparator: t.cfg.csvSep, MaxItemSize: t.cfg.maxItem,
	})
	if err != nil {
		return fmt.Errorf("file: %s: %w", tr.path, err)
	}
	tr.r = r
	tr.draining = !t.cfg.tail
	return nil
}

// restart reads a file truncated in place again from its start.
func (t *sourceTask) restart(tr *tracked, size int64) error {
	t.log.Warn("file truncated: reading it again from the start", "file", tr.path, "position", tr.pos, "size", size)
	tr.pos, tr.size, tr.headLen = 0, size, 0
	if err := t.startReader(tr); err != nil {
		return err
	}
	t.updateHead(tr)
	return nil
}

func (t *sourceTask) checksum(f *os.File, n int64) uint32 {
	buf := make([]byte, n)
	m, _ := f.ReadAt(buf, 0)
	return crc32.ChecksumIEEE(buf[:m])
}

// updateHead extends the checksum of the file's first bytes while the file
// is shorter than headBytes.
func (t *sourceTask) updateHead(tr *tracked) {
	if tr.headLen >= headBytes {
		return
	}
	if fi, err := tr.f.Stat(); err == nil {
		tr.size = max(tr.size, fi.Size())
	}
	if n := min(tr.size, headBytes); n > tr.headLen {
		tr.head, tr.headLen = t.checksum(tr.f, n), n
	}
}

func (t *sourceTask) headMatches(tr *tracked) bool {
	return tr.headLen == 0 || t.checksum(tr.f, tr.headLen) == tr.head
}

func (t *sourceTask) offset(tr *tracked) map[string]any {
	t.updateHead(tr)
	return map[string]any{keyPosition: tr.pos, keyHead: int64(tr.head), keyHeadLen: tr.headLen}
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case float64:
		return int64(x), true
	case interface{ Int64() (int64, error) }:
		n, err := x.Int64()
		return n, err == nil
	}
	return 0, false
}

// errBatchFull stops reading a file when the batch is full.
var errBatchFull = errors.New("batch full")

// read appends the records of tr's next items to out, up to the batch
// size. It returns io.EOF at the file's (current) end.
func (t *sourceTask) read(tr *tracked, out []*connectors.Record, arena *[]connectors.Record) ([]*connectors.Record, error) {
	first := len(out)
	defer func() {
		if len(out) > first {
			out[len(out)-1].SourceOffset = t.offset(tr)
		}
	}()
	for len(out) < t.cfg.batchSize {
		it, err := tr.r.Next()
		if err == nil {
			tr.pos = it.Pos
			if len(*arena) == 0 {
				// Records are allocated in chunks that grow with the batch,
				// so that a poll of one tailed line does not allocate a
				// whole batch.
				*arena = make([]connectors.Record, min(t.cfg.batchSize-len(out), max(16, len(out)), 1024))
			}
			r := &(*arena)[0]
			*arena = (*arena)[1:]
			r.Topic, r.Partition, r.Offset = t.cfg.topic, -1, -1
			r.Value, r.ValueSchema = it.Value, it.Schema
			if t.cfg.format == recordformat.Lines {
				r.ValueSchema = lineSchema
			}
			r.SourcePartition = tr.partition
			out = append(out, r)
			continue
		}
		var ie *recordformat.ItemError
		if errors.As(err, &ie) {
			tr.pos = ie.Pos
			raw := &connectors.Record{Topic: t.cfg.topic, Partition: -1, Offset: -1,
				ValueSchema: connectors.BytesSchema(), Value: ie.Raw,
				SourcePartition: tr.partition, SourceOffset: t.offset(tr)}
			if rerr := t.tc.Report(raw, fmt.Errorf("file %s before position %d: %w", tr.path, ie.Pos, ie.Err)); rerr != nil {
				return out, rerr
			}
			continue
		}
		if err == io.EOF {
			return out, io.EOF
		}
		return out, fmt.Errorf("file: %s: %w", tr.path, err)
	}
	return out, errBatchFull
}

// atEOF handles a file read to its current end: notices truncation,
// finishes rotated and bounded files. It reports whether the file stays
// active.
func (t *sourceTask) atEOF(tr *tracked) (bool, error) {
	fi, err := tr.f.Stat()
	if err != nil {
		return false, fmt.Errorf("file: %s: %w", tr.path, err)
	}
	if t.cfg.tail && !tr.rotated && (fi.Size() < tr.size || (t.cfg.format != recordformat.Avro && fi.Size() < tr.pos)) {
		return true, t.restart(tr, fi.Size())
	}
	grew := fi.Size() > tr.size
	tr.size = max(tr.size, fi.Size())
	if tr.draining {
		t.close(tr)
		return false, nil
	}
	if tr.rotated && grew {
		tr.finishAt = time.Now().Add(t.cfg.pollInterval) // still being written
	}
	if tr.rotated && !time.Now().Before(tr.finishAt) {
		if tt, ok := tr.r.(recordformat.Tailer); ok {
			tt.SetPartial(false)
		}
		tr.draining = true
	}
	return true, nil
}

func (t *sourceTask) close(tr *tracked) {
	tr.f.Close()
	delete(t.byKey, tr.key)
	t.finished[tr.key] = finishedFile{size: tr.size, pos: tr.pos}
	for i, a := range t.active {
		if a == tr {
			t.active = append(t.active[:i], t.active[i+1:]...)
			break
		}
	}
}

// Poll reads up to batch.size records from the task's files, starting
// where the last poll stopped. With nothing to read it waits, rereading the
// files' ends with a growing pause (10 ms to 200 ms), for up to a second.
func (t *sourceTask) Poll(ctx context.Context) ([]*connectors.Record, error) {
	deadline := time.Now().Add(time.Second)
	pause := 10 * time.Millisecond
	for {
		if !time.Now().Before(t.nextScan) {
			if err := t.scan(); err != nil {
				return nil, err
			}
		}
		out, err := t.readBatch()
		if err != nil || len(out) > 0 {
			return out, err
		}
		if !t.cfg.tail && len(t.active) == 0 {
			// Done, unless new files appeared.
			if err := t.scan(); err != nil {
				return nil, err
			}
			if len(t.active) == 0 {
				return nil, io.EOF
			}
			continue
		}
		now := time.Now()
		if !now.Before(deadline) {
			return nil, nil
		}
		wait := min(pause, deadline.Sub(now), max(t.nextScan.Sub(now), time.Millisecond))
		pause = min(2*pause, 200*time.Millisecond)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, nil
		case <-timer.C:
		}
	}
}

func (t *sourceTask) readBatch() ([]*connectors.Record, error) {
	var out []*connectors.Record
	var arena []connectors.Record
	for n := 0; n < len(t.active) && len(out) < t.cfg.batchSize; {
		if t.rr >= len(t.active) {
			t.rr = 0
		}
		tr := t.active[t.rr]
		var err error
		out, err = t.read(tr, out, &arena)
		switch err {
		case errBatchFull:
			return out, nil // the next poll goes on with this file
		case io.EOF:
			stays, err := t.atEOF(tr)
			if err != nil {
				return out, err
			}
			if stays {
				if tr.draining {
					continue // read the held-back line now
				}
				t.rr++
			}
			n++
		default:
			return out, err
		}
	}
	return out, nil
}

// Commit has nothing to release: positions are in the offsets.
func (t *sourceTask) Commit(ctx context.Context, committed []connectors.SourceOffset) error {
	return nil
}

func (t *sourceTask) Close() error {
	for _, tr := range t.active {
		tr.f.Close()
	}
	t.active = nil
	return nil
}
