package fileconn

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/recordformat"
	"github.com/sluicehq/sluice/internal/testwait"
)

func openSink(t *testing.T, raw map[string]any, tps ...connectors.TopicPartition) (*sinkTask, *sinkCtx) {
	t.Helper()
	p := sinkPlugin()
	cfg, err := p.Spec.Parse("", raw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := s.Tasks(1)
	if err != nil {
		t.Fatal(err)
	}
	task := tasks[0].(*sinkTask)
	ctx := &sinkCtx{}
	if err := task.Open(context.Background(), ctx); err != nil {
		t.Fatal(err)
	}
	if err := task.Assign(context.Background(), tps); err != nil {
		t.Fatal(err)
	}
	return task, ctx
}

// finishQueued waits until the finisher has made every completed file
// durable (rolls are asynchronous) and applies the results.
func finishQueued(t *testing.T, task *sinkTask) {
	t.Helper()
	task.mu.Lock()
	defer task.mu.Unlock()
	if err := task.drain(); err != nil {
		t.Fatal(err)
	}
}

var tp0 = connectors.TopicPartition{Topic: "orders", Partition: 0}

func jsonRecs(tp connectors.TopicPartition, from, to int) []*connectors.Record {
	var out []*connectors.Record
	for i := from; i < to; i++ {
		out = append(out, &connectors.Record{Topic: tp.Topic, Partition: tp.Partition, Offset: int64(i),
			Value: map[string]any{"n": int64(i)}, Timestamp: time.UnixMilli(int64(1000 * i))})
	}
	return out
}

// finals lists the completed files in dir.
func finals(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func temps(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}

// readBack reads every completed file in name order, returning the "n" of
// each JSON value.
func readBack(t *testing.T, dir string, format recordformat.Format) []int64 {
	t.Helper()
	var out []int64
	for _, name := range finals(t, dir) {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		r, err := recordformat.NewReader(format, f, recordformat.ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			it, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			switch v := it.Value.(type) {
			case map[string]any:
				out = append(out, v["n"].(int64))
			case *connectors.Struct:
				out = append(out, v.Get("n").(int64))
			}
		}
		f.Close()
	}
	return out
}

func seq(from, to int) []int64 {
	var out []int64
	for i := from; i < to; i++ {
		out = append(out, int64(i))
	}
	return out
}

func TestSinkFlushSizeAndNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tp1 := connectors.TopicPartition{Topic: "orders", Partition: 1}
	task, ctx := openSink(t, map[string]any{"file.dir": dir, "flush.size": 10}, tp0, tp1)
	defer task.Close()
	recs := append(jsonRecs(tp0, 0, 25), jsonRecs(tp1, 100, 105)...)
	if err := task.Put(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	finishQueued(t, task)
	want := []string{
		"orders+0+00000000000000000000+00000000000000000009.json",
		"orders+0+00000000000000000010+00000000000000000019.json",
	}
	if got := finals(t, dir); !reflect.DeepEqual(got, want) {
		t.Fatalf("files %q, want %q", got, want)
	}
	if n := len(temps(t, dir)); n != 2 {
		t.Fatalf("%d temporary files, want 2 (one per partition)", n)
	}
	commit, err := task.PreCommit(context.Background(), map[connectors.TopicPartition]int64{tp0: 25, tp1: 105})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(commit, map[connectors.TopicPartition]int64{tp0: 20}) {
		t.Fatalf("precommit %v: only completed files are durable", commit)
	}
	if ctx.commits == 0 {
		t.Fatal("no commit requested after a file was completed")
	}
	b, _ := os.ReadFile(filepath.Join(dir, want[0]))
	if !strings.HasPrefix(string(b), "{\"n\":0}\n{\"n\":1}\n") {
		t.Fatalf("content %q", b)
	}
	// Revoke discards the open file; the records come again to the next owner.
	if err := task.Revoke(context.Background(), []connectors.TopicPartition{tp0, tp1}); err != nil {
		t.Fatal(err)
	}
	if n := len(temps(t, dir)); n != 0 {
		t.Fatalf("%d temporary files after revoke", n)
	}
}

func TestSinkRotation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		raw  map[string]any
		recs []*connectors.Record
		want []string // file ranges "start-end"
	}{
		{"file.size.bytes", map[string]any{"file.size.bytes": 30, "flush.size": 0}, jsonRecs(tp0, 0, 10),
			[]string{"0-3", "4-7"}}, // {"n":0}\n is 8 bytes; files roll at 32 bytes
		{"rotate.interval.ms", map[string]any{"rotate.interval.ms": 2500, "flush.size": 0}, jsonRecs(tp0, 0, 10),
			[]string{"0-2", "3-5", "6-8"}}, // timestamps 1 s apart
		{"flush.size", map[string]any{"flush.size": 4}, jsonRecs(tp0, 5, 15),
			[]string{"5-8", "9-12"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			raw := map[string]any{"file.dir": dir}
			for k, v := range tc.raw {
				raw[k] = v
			}
			task, _ := openSink(t, raw, tp0)
			defer task.Close()
			if err := task.Put(context.Background(), tc.recs); err != nil {
				t.Fatal(err)
			}
			finishQueued(t, task)
			var got []string
			for _, name := range finals(t, dir) {
				s, e, ok := parseFileName(tp0, name)
				if !ok {
					t.Fatalf("bad name %q", name)
				}
				got = append(got, fmt.Sprintf("%d-%d", s, e))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("files %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSinkScheduledRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	task, _ := openSink(t, map[string]any{"directory": dir, "flush.size": 0, "rotate.schedule.interval.ms": "1h"}, tp0)
	defer task.Close()
	var mu sync.Mutex
	now := time.Date(2025, 1, 1, 10, 59, 0, 0, time.UTC)
	task.mu.Lock()
	task.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	task.mu.Unlock()
	if err := task.Put(context.Background(), jsonRecs(tp0, 0, 3)); err != nil {
		t.Fatal(err)
	}
	if c, _ := task.PreCommit(context.Background(), nil); len(c) != 0 || len(finals(t, dir)) != 0 {
		t.Fatalf("rolled early: %v", c)
	}
	mu.Lock()
	now = now.Add(time.Minute) // 11:00 crossed
	mu.Unlock()
	// The first PreCommit after the hour completes the file; it is
	// durable, and committed, once the finisher is done with it.
	if _, err := task.PreCommit(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	finishQueued(t, task)
	c, _ := task.PreCommit(context.Background(), nil)
	if c[tp0] != 3 || len(finals(t, dir)) != 1 {
		t.Fatalf("not rolled at the hour: %v %v", c, finals(t, dir))
	}
	// Without Put or PreCommit, the task's timer completes a quiet
	// partition's file and asks for a commit.
	if err := task.Put(context.Background(), jsonRecs(tp0, 3, 5)); err != nil {
		t.Fatal(err)
	}
	ctx := task.tc.(*sinkCtx)
	ctx.mu.Lock()
	commits := ctx.commits
	ctx.mu.Unlock()
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	// The timer completes the file, then asks for the commit: wait for
	// both (under load the second comes a moment after the first).
	requested := func() bool {
		ctx.mu.Lock()
		defer ctx.mu.Unlock()
		return ctx.commits != commits
	}
	testwait.Until(t, "the timer to complete the file and request a commit", 10*time.Second, func() bool {
		return len(finals(t, dir)) == 2 && requested()
	}, testwait.Detail(func() string { return fmt.Sprintf("files %v, commit requested %v", finals(t, dir), requested()) }))
}

func TestSinkSchemaChangeRolls(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	task, _ := openSink(t, map[string]any{"file.dir": dir, "format": "csv", "flush.size": 100}, tp0)
	defer task.Close()
	a := connectors.NewStruct("a").Field("n", connectors.Int64Schema()).MustBuild()
	b := connectors.NewStruct("b").Field("n", connectors.Int64Schema()).Field("x", connectors.StringSchema()).MustBuild()
	var recs []*connectors.Record
	for i := range 6 {
		s := a
		v := connectors.NewStructValue(a).Put("n", int64(i))
		if i >= 3 {
			s = b
			v = connectors.NewStructValue(b).Put("n", int64(i)).Put("x", "y")
		}
		recs = append(recs, &connectors.Record{Topic: "orders", Offset: int64(i), ValueSchema: s, Value: v})
	}
	// A record that csv cannot hold goes to the error handler.
	recs = append(recs, &connectors.Record{Topic: "orders", Offset: 6, Value: "not a struct"})
	if err := task.Put(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	ctx := task.tc.(*sinkCtx)
	if len(ctx.reported) != 1 || ctx.reported[0].rec.Offset != 6 {
		t.Fatalf("reported %v", ctx.reported)
	}
	if err := task.roll(task.parts[tp0]); err != nil {
		t.Fatal(err)
	}
	finishQueued(t, task)
	got := finals(t, dir)
	want := []string{"orders+0+00000000000000000000+00000000000000000002.csv", "orders+0+00000000000000000003+00000000000000000006.csv"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("files %q, want %q", got, want)
	}
	body, _ := os.ReadFile(filepath.Join(dir, want[1]))
	if string(body) != "n,x\n3,y\n4,y\n5,y\n" {
		t.Fatalf("second file %q", body)
	}
}

// TestSinkExactlyOnceAfterCrash: a task dies with a completed file not yet
// committed and a temporary file half written; the next task, fed again
// from an older offset, writes every record exactly once with no gap.
func TestSinkExactlyOnceAfterCrash(t *testing.T) {
	t.Parallel()
	for _, format := range []recordformat.Format{recordformat.JSON, recordformat.Avro, recordformat.Parquet} {
		t.Run(string(format), func(t *testing.T) {
			dir := t.TempDir()
			raw := map[string]any{"file.dir": dir, "flush.size": 10, "format": string(format)}
			s := connectors.NewStruct("x.N").Field("n", connectors.Int64Schema()).MustBuild()
			mk := func(from, to int) []*connectors.Record {
				var out []*connectors.Record
				for i := from; i < to; i++ {
					r := &connectors.Record{Topic: tp0.Topic, Offset: int64(i), Value: map[string]any{"n": int64(i)}}
					if format != recordformat.JSON {
						r.ValueSchema, r.Value = s, connectors.NewStructValue(s).Put("n", int64(i))
					}
					out = append(out, r)
				}
				return out
			}
			first, _ := openSink(t, raw, tp0)
			if err := first.Put(context.Background(), mk(0, 25)); err != nil {
				t.Fatal(err)
			}
			finishQueued(t, first)
			// Crash: the consumer committed only offset 10 (PreCommit said 20,
			// the commit did not happen), the temporary file of 20..24 stays.
			for _, p := range first.parts {
				p.f.Close() // the process dies: its descriptors close, the file stays
			}
			if len(temps(t, dir)) != 1 {
				t.Fatal("no temporary file left behind")
			}
			second, ctx := openSink(t, raw, tp0)
			defer second.Close()
			if ctx.seeks[tp0] != 20 {
				t.Fatalf("seek %v, want 20 (after the last completed file)", ctx.seeks)
			}
			if n := len(temps(t, dir)); n != 0 {
				t.Fatalf("%d temporary files left after assign", n)
			}
			// Redelivery from the committed offset 10, as a lagging consumer would.
			for _, batch := range [][2]int{{10, 17}, {17, 33}, {33, 40}} {
				if err := second.Put(context.Background(), mk(batch[0], batch[1])); err != nil {
					t.Fatal(err)
				}
			}
			finishQueued(t, second)
			c, err := second.PreCommit(context.Background(), map[connectors.TopicPartition]int64{tp0: 40})
			if err != nil || c[tp0] != 40 {
				t.Fatalf("precommit %v %v", c, err)
			}
			if got := readBack(t, dir, format); !reflect.DeepEqual(got, seq(0, 40)) {
				t.Fatalf("records in files %v, want 0..39 once each", got)
			}
		})
	}
}

// TestSinkFilesReadable writes Avro and Parquet files of a nested schema and
// reads them back with the record format readers.
func TestSinkFilesReadable(t *testing.T) {
	t.Parallel()
	item := connectors.NewStruct("x.Item").Field("sku", connectors.StringSchema()).Field("qty", connectors.Int32Schema()).MustBuild()
	s := connectors.NewStruct("x.Order").
		Field("n", connectors.Int64Schema()).
		Field("items", connectors.ArraySchema(item)).
		Field("note", connectors.OptionalOf(connectors.StringSchema())).
		Field("at", connectors.TimestampSchema()).MustBuild()
	var recs []*connectors.Record
	for i := range 50 {
		v := connectors.NewStructValue(s).Put("n", int64(i)).Put("at", time.UnixMilli(int64(i)*1000).UTC()).
			Put("items", []any{connectors.NewStructValue(item).Put("sku", fmt.Sprint("s", i)).Put("qty", int32(i))})
		if i%2 == 0 {
			v.Put("note", "even")
		}
		recs = append(recs, &connectors.Record{Topic: "orders", Offset: int64(i), ValueSchema: s, Value: v})
	}
	for _, format := range []recordformat.Format{recordformat.Avro, recordformat.Parquet} {
		t.Run(string(format), func(t *testing.T) {
			dir := t.TempDir()
			task, _ := openSink(t, map[string]any{"file.dir": dir, "flush.size": 20, "format": string(format)}, tp0)
			defer task.Close()
			if err := task.Put(context.Background(), recs); err != nil {
				t.Fatal(err)
			}
			finishQueued(t, task)
			files := finals(t, dir)
			if len(files) != 2 || !strings.HasSuffix(files[0], recordformat.Extension(format)) {
				t.Fatalf("files %q", files)
			}
			i := 0
			for _, name := range files {
				f, err := os.Open(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				r, err := recordformat.NewReader(format, f, recordformat.ReaderOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for {
					it, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					if got, want := fmt.Sprint(it.Value), fmt.Sprint(recs[i].Value); got != want {
						t.Fatalf("item %d: %s, want %s", i, got, want)
					}
					if it.Schema.Name != "x.Order" {
						t.Fatalf("schema %v", it.Schema)
					}
					i++
				}
				f.Close()
			}
			if i != 40 {
				t.Fatalf("read %d records", i)
			}
		})
	}
}

func TestSinkConfigErrors(t *testing.T) {
	t.Parallel()
	p := sinkPlugin()
	for _, tc := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{}, "file.dir: required"},
		{map[string]any{"file.dir": "a", "directory": "b"}, "directory: set either"},
		{map[string]any{"file.dir": "a", "flush.size": 0}, "no rotation rule"},
		{map[string]any{"file.dir": "a", "format": "xml"}, "format"},
		{map[string]any{"file.dir": "a", "avro.codec": "bzip2"}, "avro.codec"},
	} {
		_, err := p.Spec.Parse("", tc.raw)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.raw, err, tc.want)
		}
	}
}

func TestParseFileName(t *testing.T) {
	t.Parallel()
	name := fileName(tp0, 5, 1234567, ".json")
	if s, e, ok := parseFileName(tp0, name); !ok || s != 5 || e != 1234567 {
		t.Fatalf("%q: %d %d %v", name, s, e, ok)
	}
	for _, bad := range []string{"orders+1+00000000000000000000+00000000000000000001.json", "orders+0+x", "orders.x+0+00000000000000000000+00000000000000000001.json", "orders+0+00000000000000000009+00000000000000000001.json"} {
		if _, _, ok := parseFileName(tp0, bad); ok {
			t.Errorf("%q parsed as a file of %s", bad, tp0)
		}
	}
}

// TestSinkFinishFailureLeavesNoGap: when a completed file cannot be put in
// place, the files queued after it are discarded too (a later file without
// the earlier one would make the next owner resume after a gap), nothing
// of the partition becomes committable, and the task reports the failure.
func TestSinkFinishFailureLeavesNoGap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	task, _ := openSink(t, map[string]any{"file.dir": dir, "flush.size": 10}, tp0)
	defer task.Close()
	// A non-empty directory where the first file is to be renamed to.
	blocker := filepath.Join(dir, fileName(tp0, 0, 9, ".json"))
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := task.Put(context.Background(), jsonRecs(tp0, 0, 35)); err != nil {
		t.Fatal(err) // the rolls are queued; the failure comes later
	}
	task.mu.Lock()
	err := task.drain()
	task.mu.Unlock()
	if err == nil || !strings.Contains(err.Error(), blocker) {
		t.Fatalf("drain: %v, want the failure naming %s", err, blocker)
	}
	if got := finals(t, dir); !reflect.DeepEqual(got, []string{filepath.Base(blocker)}) {
		t.Fatalf("final files %q: a later file was put in place after a failed one", got)
	}
	if _, err := task.PreCommit(context.Background(), map[connectors.TopicPartition]int64{tp0: 35}); err == nil {
		t.Fatal("PreCommit after a failed file: no error")
	}
	if err := task.Put(context.Background(), jsonRecs(tp0, 35, 36)); err == nil {
		t.Fatal("Put after a failed file: no error")
	}
	// Only the open file's temporary file remains; discarded ones are gone.
	if n := len(temps(t, dir)); n != 1 {
		t.Fatalf("%d temporary files, want the open one only", n)
	}
}

// TestSinkRevokeWaitsForQueuedFiles: files completed before a revocation
// are in place when Revoke returns, so the partition's next owner, listing
// the directory, resumes after them.
func TestSinkRevokeWaitsForQueuedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	task, _ := openSink(t, map[string]any{"file.dir": dir, "flush.size": 10}, tp0)
	defer task.Close()
	if err := task.Put(context.Background(), jsonRecs(tp0, 0, 45)); err != nil {
		t.Fatal(err)
	}
	if err := task.Revoke(context.Background(), []connectors.TopicPartition{tp0}); err != nil {
		t.Fatal(err)
	}
	if n := len(finals(t, dir)); n != 4 {
		t.Fatalf("%d files in place after Revoke, want 4", n)
	}
	next, ctx := openSink(t, map[string]any{"file.dir": dir, "flush.size": 10}, tp0)
	defer next.Close()
	if ctx.seeks[tp0] != 40 {
		t.Fatalf("next owner seeks to %v, want 40", ctx.seeks)
	}
}
