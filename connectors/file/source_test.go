package fileconn

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/recordformat"
)

func TestSourceLinesBounded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "in.txt")
	writeFile(t, path, "alpha\r\nbeta\n\ngamma") // a last line without its newline
	store := newOffsetStore()
	task, _ := openSource(t, map[string]any{"file": path, "topic": "lines", "tail": false}, store)
	recs := pollToEOF(t, task, store)
	if got := lineValues(recs); !reflect.DeepEqual(got, []string{"alpha", "beta", "", "gamma"}) {
		t.Fatalf("values %q", got)
	}
	for _, r := range recs {
		if r.Topic != "lines" || r.Partition != -1 || r.Key != nil || r.ValueSchema == nil || r.ValueSchema.Type != connectors.TypeString {
			t.Fatalf("record %+v", r)
		}
		if r.SourcePartition[keyFilename] != path || r.SourcePartition[keyInode] == "" {
			t.Fatalf("partition %v", r.SourcePartition)
		}
	}
	last := recs[len(recs)-1]
	if last.SourceOffset[keyPosition] != int64(18) {
		t.Fatalf("last offset %v", last.SourceOffset)
	}
	// The offsets are JSON-encodable, as the worker stores them.
	if _, err := json.Marshal(last.SourceOffset); err != nil {
		t.Fatal(err)
	}
}

// TestSourceResume stops a task after each batch, without committing the
// last one (a crash before the transaction committed): every line arrives
// exactly once over all runs.
func TestSourceResume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "in.txt")
	writeFile(t, path, numbered("line-", 0, 1000))
	store := newOffsetStore()
	raw := map[string]any{"file": path, "topic": "t", "tail": false, "batch.size": 70}
	var delivered []string
	lostBatches := 0
	for run := 0; run < 100; run++ {
		task := newSourceTasks(t, raw, 1)[0]
		if err := task.Open(context.Background(), &sourceCtx{store: store}); err != nil {
			t.Fatal(err)
		}
		recs, err := task.Poll(context.Background())
		if err == io.EOF {
			task.Close()
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// Commit this batch; the next one is lost in a crash.
		store.commit(t, recs)
		delivered = append(delivered, lineValues(recs)...)
		if lost, _ := task.Poll(context.Background()); len(lost) > 0 {
			lostBatches++
		}
		task.Close()
	}
	if lostBatches < 10 {
		t.Fatalf("only %d batches lost: the test does not test", lostBatches)
	}
	if want := wantLines("line-", 0, 1000); !reflect.DeepEqual(delivered, want) {
		t.Fatalf("delivered %d lines, want %d exactly once in order", len(delivered), len(want))
	}
}

// TestSourceKafkaOffset resumes from an offset stored as Kafka's
// FileStreamSource stores it: {"filename"} -> {"position"}.
func TestSourceKafkaOffset(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "in.txt")
	writeFile(t, path, "one\ntwo\nthree\n")
	store := newOffsetStore()
	store.commit(t, []*connectors.Record{{SourcePartition: map[string]any{"filename": path}, SourceOffset: map[string]any{"position": 4}}})
	task, _ := openSource(t, map[string]any{"file": path, "topic": "t", "tail": false}, store)
	if got := lineValues(pollToEOF(t, task, store)); !reflect.DeepEqual(got, []string{"two", "three"}) {
		t.Fatalf("got %q", got)
	}
}

// TestSourceNotTheSameFile: an offset whose file checksum does not match
// (the inode now holds another file) is not applied.
func TestSourceNotTheSameFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "in.txt")
	writeFile(t, path, "aaaa\nbbbb\n")
	store := newOffsetStore()
	task, _ := openSource(t, map[string]any{"file": path, "topic": "t", "tail": false}, store)
	pollToEOF(t, task, store)
	task.Close()
	// Rewrite the same inode with other content of the same length.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("cccc\ndddd\neeee\n"), 0)
	f.Close()
	task, _ = openSource(t, map[string]any{"file": path, "topic": "t", "tail": false}, store)
	if got := lineValues(pollToEOF(t, task, store)); !reflect.DeepEqual(got, []string{"cccc", "dddd", "eeee"}) {
		t.Fatalf("got %q", got)
	}
}

func TestSourceFormats(t *testing.T) {
	t.Parallel()
	s := connectors.NewStruct("x.Row").Field("id", connectors.Int32Schema()).
		Field("name", connectors.OptionalOf(connectors.StringSchema())).MustBuild()
	var avroData strings.Builder
	w, err := recordformat.NewWriter(recordformat.Avro, &avroData, recordformat.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := w.Write(&connectors.Record{ValueSchema: s, Value: connectors.NewStructValue(s).Put("id", int32(i)).Put("name", fmt.Sprint("n", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		format, content string
		extra           map[string]any
		want            []string
		schema          func(*connectors.Schema) bool
	}{
		{format: "json", content: "{\"id\":1,\"name\":\"a\"}\n[1,2]\n",
			want: []string{"map[id:1 name:a]", "[1 2]"}, schema: func(s *connectors.Schema) bool { return s == nil }},
		{format: "json", content: "{\"id\":1,\"name\":\"a\"}\n",
			extra: map[string]any{"value.schema": `{"type":"struct","name":"x.Row","fields":[{"field":"id","type":"int32"},{"field":"name","type":"string","optional":true}]}`},
			want:  []string{"Struct{id=1,name=a}"}, schema: func(s *connectors.Schema) bool { return s != nil && s.Name == "x.Row" }},
		{format: "csv", content: "id;name\n1;a\n2;\n",
			extra: map[string]any{"csv.separator": ";"},
			want:  []string{"Struct{id=1,name=a}", "Struct{id=2}"}, schema: func(s *connectors.Schema) bool { return s.Type == connectors.TypeStruct && s.Fields[0].Schema.Optional }},
		{format: "csv", content: "id,name\n7,x\n",
			extra: map[string]any{"value.schema": `{"type":"struct","fields":[{"field":"id","type":"int32"},{"field":"name","type":"string","optional":true}]}`},
			want:  []string{"Struct{id=7,name=x}"}, schema: func(s *connectors.Schema) bool { return s.Fields[0].Schema.Type == connectors.TypeInt32 }},
		{format: "avro", content: avroData.String(),
			want:   []string{"Struct{id=0,name=n0}", "Struct{id=1,name=n1}", "Struct{id=2,name=n2}", "Struct{id=3,name=n3}", "Struct{id=4,name=n4}"},
			schema: func(s *connectors.Schema) bool { return s.Name == "x.Row" }},
	} {
		t.Run(tc.format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "in")
			writeFile(t, path, tc.content)
			raw := map[string]any{"file": path, "topic": "t", "format": tc.format, "tail": false}
			for k, v := range tc.extra {
				raw[k] = v
			}
			store := newOffsetStore()
			task, _ := openSource(t, raw, store)
			recs := pollToEOF(t, task, store)
			if got := lineValues(recs); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("values %q, want %q", got, tc.want)
			}
			for _, r := range recs {
				if !tc.schema(r.ValueSchema) {
					t.Fatalf("schema %v", r.ValueSchema)
				}
			}
			if tc.format == "avro" {
				if pos := recs[len(recs)-1].SourceOffset[keyPosition]; pos != int64(5) {
					t.Fatalf("avro position %v, want the item count", pos)
				}
				// Resuming from an item index.
				task.Close()
				store2 := newOffsetStore()
				off := recs[1].SourceOffset
				if off == nil {
					off = map[string]any{keyPosition: int64(2)}
				}
				store2.commit(t, []*connectors.Record{{SourcePartition: recs[0].SourcePartition, SourceOffset: map[string]any{keyPosition: int64(2)}}})
				task2, _ := openSource(t, raw, store2)
				if got := lineValues(pollToEOF(t, task2, store2)); !reflect.DeepEqual(got, tc.want[2:]) {
					t.Fatalf("resumed %q", got)
				}
			}
		})
	}
}

func TestSourceMalformed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "in.json")
	writeFile(t, path, "{\"a\":1}\n{not json\n{\"a\":2}\n{\"a\":\n")
	store := newOffsetStore()
	task, ctx := openSource(t, map[string]any{"file": path, "topic": "t", "format": "json", "tail": false}, store)
	recs := pollToEOF(t, task, store)
	if got := lineValues(recs); !reflect.DeepEqual(got, []string{"map[a:1]", "map[a:2]"}) {
		t.Fatalf("values %q", got)
	}
	if len(ctx.reported) != 2 {
		t.Fatalf("reported %d", len(ctx.reported))
	}
	r := ctx.reported[0]
	if string(r.rec.Value.([]byte)) != "{not json" || r.rec.SourceOffset[keyPosition] != int64(18) || r.rec.Topic != "t" || r.err == nil {
		t.Fatalf("reported %+v %v", r.rec, r.err)
	}
	if string(ctx.reported[1].rec.Value.([]byte)) != "{\"a\":" {
		t.Fatalf("reported %q", ctx.reported[1].rec.Value)
	}
	// errors.tolerance=none: the report's error stops the poll.
	store2 := newOffsetStore()
	task2 := newSourceTasks(t, map[string]any{"file": path, "topic": "t", "format": "json", "tail": false}, 1)[0]
	strict := &sourceCtx{store: store2, strict: true}
	if err := task2.Open(context.Background(), strict); err != nil {
		t.Fatal(err)
	}
	defer task2.Close()
	if _, err := task2.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "tolerance=none") {
		t.Fatalf("strict poll: %v", err)
	}
}

func TestSourceTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "a\nb\n")
	store := newOffsetStore()
	task, _ := openSource(t, map[string]any{"file": path, "topic": "t", "poll.interval.ms": 20}, store)
	got := lineValues(pollN(t, task, store, 2))
	appendFile(t, path, "c\nhalf")
	got = append(got, lineValues(pollN(t, task, store, 1))...)
	// The unterminated line is held back...
	if recs, err := task.Poll(context.Background()); err != nil || len(recs) != 0 {
		t.Fatalf("held-back line returned: %v %v", lineValues(recs), err)
	}
	appendFile(t, path, "-done\nd\n")
	got = append(got, lineValues(pollN(t, task, store, 2))...)
	if want := []string{"a", "b", "c", "half-done", "d"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestSourceRotateRename: logrotate's create mode. The renamed file is
// finished (appends after the rename and a last line without newline
// included) and the new file at the path read from its start.
func TestSourceRotateRename(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, numbered("old-", 0, 5))
	store := newOffsetStore()
	task, _ := openSource(t, map[string]any{"file": path, "topic": "t", "poll.interval.ms": 20}, store)
	got := lineValues(pollN(t, task, store, 5))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", numbered("old-", 5, 8)+"old-last")
	writeFile(t, path, numbered("new-", 0, 4))
	got = append(got, lineValues(pollN(t, task, store, 8))...)
	sort.Strings(got)
	want := append(wantLines("old-", 0, 8), "old-last")
	want = append(want, wantLines("new-", 0, 4)...)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// Nothing more: the renamed file was finished once.
	if recs, _ := task.Poll(context.Background()); len(recs) != 0 {
		t.Fatalf("more records: %q", lineValues(recs))
	}
}

// TestSourceRotatedWhileDown: the task restarts after its file was renamed
// and replaced; it finishes the renamed file from its committed position,
// found by inode, and reads the new file from its start.
func TestSourceRotatedWhileDown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, numbered("old-", 0, 3))
	store := newOffsetStore()
	raw := map[string]any{"file": path, "topic": "t", "poll.interval.ms": 20}
	task, _ := openSource(t, raw, store)
	pollN(t, task, store, 3)
	task.Close()
	appendFile(t, path, numbered("old-", 3, 6))
	if err := os.Rename(path, filepath.Join(dir, "app.log.1")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, numbered("new-", 0, 2))
	task, _ = openSource(t, raw, store)
	got := lineValues(pollN(t, task, store, 5))
	sort.Strings(got)
	want := append(wantLines("new-", 0, 2), wantLines("old-", 3, 6)...)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestSourceTruncate: copytruncate. The file is read again from its start.
func TestSourceTruncate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, numbered("first-", 0, 10))
	store := newOffsetStore()
	task, _ := openSource(t, map[string]any{"file": path, "topic": "t", "poll.interval.ms": 20}, store)
	pollN(t, task, store, 10)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, numbered("second-", 0, 3))
	got := lineValues(pollN(t, task, store, 3))
	if want := wantLines("second-", 0, 3); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Truncated and regrown past the old position before the task looked:
	// the changed first bytes give it away.
	time.Sleep(30 * time.Millisecond)
	writeFile(t, path, numbered("third-", 0, 20))
	got = lineValues(pollN(t, task, store, 20))
	if want := wantLines("third-", 0, 20); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestSourceGlobPicksUpNewFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.log"), "a1\na2\n")
	writeFile(t, filepath.Join(dir, "skip.txt"), "no\n")
	store := newOffsetStore()
	task, _ := openSource(t, map[string]any{"files": filepath.Join(dir, "*.log"), "topic": "t", "poll.interval.ms": 20}, store)
	got := lineValues(pollN(t, task, store, 2))
	writeFile(t, filepath.Join(dir, "b.log"), "b1\n")
	got = append(got, lineValues(pollN(t, task, store, 1))...)
	if want := []string{"a1", "a2", "b1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
}

// TestSourceBoundedGlob: tail=false over several files finishes with EOF
// once all are read, and a restart reads nothing again.
func TestSourceBoundedGlob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i := range 3 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%d.csv", i)), fmt.Sprintf("n\n%d\n%d\n", 2*i, 2*i+1))
	}
	store := newOffsetStore()
	raw := map[string]any{"files": []any{filepath.Join(dir, "f*.csv")}, "topic": "t", "format": "csv", "tail": false}
	task, _ := openSource(t, raw, store)
	got := lineValues(pollToEOF(t, task, store))
	if len(got) != 6 {
		t.Fatalf("got %q", got)
	}
	task.Close()
	task, _ = openSource(t, raw, store)
	if again := pollToEOF(t, task, store); len(again) != 0 {
		t.Fatalf("read again after restart: %q", lineValues(again))
	}
}

func TestSourceTasksSplitFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var want []string
	for i := range 12 {
		name := fmt.Sprintf("f%02d.log", i)
		writeFile(t, filepath.Join(dir, name), numbered(name+"-", 0, 3))
		want = append(want, wantLines(name+"-", 0, 3)...)
	}
	store := newOffsetStore()
	tasks := newSourceTasks(t, map[string]any{"files": filepath.Join(dir, "*.log"), "topic": "t", "tail": false}, 3)
	if len(tasks) != 3 {
		t.Fatalf("%d tasks", len(tasks))
	}
	var got []string
	perTask := map[int]int{}
	for i, task := range tasks {
		if err := task.Open(context.Background(), &sourceCtx{store: store, id: i}); err != nil {
			t.Fatal(err)
		}
		recs := pollToEOF(t, task, store)
		task.Close()
		perTask[i] = len(recs)
		got = append(got, lineValues(recs)...)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %d lines, want each of %d once", len(got), len(want))
	}
	for i, n := range perTask {
		if n == 0 || n%3 != 0 {
			t.Fatalf("task %d read %d lines: files are not split whole across tasks (%v)", i, n, perTask)
		}
	}
	if single := newSourceTasks(t, map[string]any{"file": filepath.Join(dir, "f00.log"), "topic": "t"}, 3); len(single) != 1 {
		t.Fatalf("one file, %d tasks", len(single))
	}
}

func TestSourceConfigErrors(t *testing.T) {
	t.Parallel()
	p := sourcePlugin()
	for _, tc := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"topic": "t"}, "file: required"},
		{map[string]any{"topic": "t", "file": "a", "files": "b*"}, "files: set either"},
		{map[string]any{"topic": "t", "file": "a", "format": "xml"}, "format"},
		{map[string]any{"topic": "t", "file": "a", "format": "lines", "value.schema": `{"type":"string"}`}, "value.schema: applies to"},
		{map[string]any{"topic": "t", "file": "a", "format": "csv", "value.schema": `{"type":"string"}`}, "needs a struct"},
		{map[string]any{"topic": "t", "file": "a", "csv.separator": "ab"}, "csv.separator"},
		{map[string]any{"topic": "t", "files": "[a"}, "bad pattern"},
	} {
		_, err := p.Spec.Parse("", tc.raw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.raw, err, tc.want)
		}
	}
}

func TestRegister(t *testing.T) {
	t.Parallel()
	reg := connectors.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"file", "FileStreamSource", "org.apache.kafka.connect.file.FileStreamSourceConnector"} {
		if p, err := reg.Source(name); err != nil || !p.ExactlyOnce {
			t.Fatalf("source %q: %v", name, err)
		}
	}
	if p, err := reg.Sink("file"); err != nil || !p.ExactlyOnce {
		t.Fatalf("sink: %v", err)
	}
	// The examples parse.
	for _, kind := range []connectors.Kind{connectors.KindSource, connectors.KindSink} {
		for _, pi := range reg.List() {
			if pi.Kind != kind || pi.Example == "" {
				continue
			}
			raw := map[string]any{}
			for _, line := range strings.Split(pi.Example, "\n") {
				k, v, _ := strings.Cut(line, ":")
				raw[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
			if _, err := connectors.ParseConnector(reg, kind, raw, connectors.ParseOptions{}); err != nil && !strings.Contains(err.Error(), "converter") {
				t.Errorf("%s example: %v", kind, err)
			}
		}
	}
}
