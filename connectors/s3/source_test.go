package s3

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// newTestSource parses a source configuration and returns task id of n,
// opened with the committed offsets.
func newTestSource(t testing.TB, fs *fakeS3, over map[string]any, committed []connectors.SourceOffset, id, n int) (*sourceTask, *fakeSourceCtx) {
	t.Helper()
	raw := merge(merge(fs.baseConfig(), map[string]any{"format.class": "json", "s3.poll.new.objects": false}), over)
	p := SourcePlugin()
	cfg, err := p.Spec.Parse("", raw)
	if err != nil {
		t.Fatalf("parse source config: %v", err)
	}
	s, err := p.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := s.Tasks(n)
	if err != nil {
		t.Fatal(err)
	}
	task := tasks[id].(*sourceTask)
	tc := &fakeSourceCtx{log: testLogger(t), committed: committed, tolerate: true}
	if err := task.Open(ctx, tc); err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { task.Close() })
	return task, tc
}

// committer keeps the latest offset of each source partition, as the
// worker's offset store does.
type committer struct {
	offsets map[string]connectors.SourceOffset
}

func (c *committer) add(rs []*connectors.Record) {
	if c.offsets == nil {
		c.offsets = map[string]connectors.SourceOffset{}
	}
	for _, r := range rs {
		if r.SourceOffset != nil {
			c.offsets[fmt.Sprint(r.SourcePartition)] = connectors.SourceOffset{Partition: r.SourcePartition, Offset: r.SourceOffset}
		}
	}
}

func (c *committer) list() []connectors.SourceOffset {
	var out []connectors.SourceOffset
	for _, o := range c.offsets {
		out = append(out, o)
	}
	return out
}

// drain polls until io.EOF (bounded mode) and returns the records.
func drain(t *testing.T, task *sourceTask, limit int) ([]*connectors.Record, bool) {
	t.Helper()
	var out []*connectors.Record
	for range 1000 {
		rs, err := task.Poll(ctx)
		out = append(out, rs...)
		if err == io.EOF {
			return out, true
		}
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		if limit > 0 && len(out) >= limit {
			return out, false
		}
	}
	t.Fatal("the source did not finish")
	return nil, false
}

type tpKey struct {
	topic string
	part  int32
}

// byPartition groups record ids by topic and partition, in read order.
func byPartition(t *testing.T, rs []*connectors.Record) map[tpKey][]int64 {
	t.Helper()
	out := map[tpKey][]int64{}
	for _, r := range rs {
		m, ok := r.Value.(map[string]any)
		if !ok {
			t.Fatalf("value %T", r.Value)
		}
		id, ok := asInt64(m["id"])
		if !ok {
			t.Fatalf("id %T %v", m["id"], m["id"])
		}
		out[tpKey{r.Topic, r.Partition}] = append(out[tpKey{r.Topic, r.Partition}], id)
	}
	return out
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// writeWithSink writes records of two topics and three partitions with
// the sink and completes every object.
func writeWithSink(t *testing.T, fs *fakeS3, over map[string]any) map[tpKey][]int64 {
	t.Helper()
	task, _ := newTestSink(t, fs, merge(map[string]any{"flush.size": 4}, over))
	parts := []connectors.TopicPartition{tp("orders", 0), tp("orders", 1), tp("users", 0)}
	if err := task.Assign(ctx, parts); err != nil {
		t.Fatal(err)
	}
	want := map[tpKey][]int64{}
	for i, p := range parts {
		n := 12 + 4*i // whole objects only
		mustPut(t, task, recs(p.Topic, p.Partition, 0, n, nil))
		want[tpKey{p.Topic, p.Partition}] = seq(0, int64(n))
	}
	return want
}

// The source reads back what the sink wrote: every record, its topic and
// Kafka partition, in offset order per partition; then io.EOF.
func TestSourceRestoresWhatTheSinkWrote(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	want := writeWithSink(t, fs, nil)
	task, tc := newTestSource(t, fs, nil, nil, 0, 1)
	got, done := drain(t, task, 0)
	if !done {
		t.Fatal("not done")
	}
	if g := byPartition(t, got); fmt.Sprint(g) != fmt.Sprint(want) {
		t.Fatalf("read\n %v\nwant\n %v", g, want)
	}
	if len(tc.reports) != 0 {
		t.Fatalf("reports: %v", tc.reports)
	}
	// Only the last record of each object run carries an offset, and it
	// names the object.
	last := got[len(got)-1]
	if last.SourceOffset["object"] != "topics/users/partition=0/users+0+0000000016.json" || last.SourceOffset["complete"] != true {
		t.Fatalf("last offset %v", last.SourceOffset)
	}
	if rs, err := task.Poll(ctx); err != io.EOF || len(rs) != 0 {
		t.Fatalf("poll after the end: %d records, %v", len(rs), err)
	}

	// Gzip JSON objects and a topic override.
	fs2 := newFakeS3(t)
	writeWithSink(t, fs2, map[string]any{"s3.compression.type": "gzip"})
	task2, _ := newTestSource(t, fs2, map[string]any{"topic": "restored"}, nil, 0, 1)
	got2, _ := drain(t, task2, 0)
	g2 := byPartition(t, got2)
	if len(g2) != 2 || len(g2[tpKey{"restored", 0}]) != 12+20 || !slices.Equal(g2[tpKey{"restored", 1}], seq(0, 16)) {
		t.Fatalf("gzip restore into one topic: %v", g2)
	}
}

// Resuming from committed offsets gives every record exactly once, also
// when the offset is inside an object; split between two tasks too.
func TestSourceResumesExactly(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	want := writeWithSink(t, fs, nil)
	for _, batch := range []int{1, 3, 5, 7} {
		var com committer
		var all []*connectors.Record
		for round := 0; ; round++ {
			task, _ := newTestSource(t, fs, map[string]any{"record.batch.max.size": batch}, com.list(), 0, 1)
			rs, done := drain(t, task, 10) // a "crash" after about ten records
			// Only records whose offsets were committed count; the others
			// are lost with the crash and must come again.
			cut := len(rs)
			for cut > 0 && rs[cut-1].SourceOffset == nil {
				cut--
			}
			if done {
				cut = len(rs)
			}
			com.add(rs[:cut])
			all = append(all, rs[:cut]...)
			task.Close()
			if done {
				break
			}
			if round > 100 {
				t.Fatal("no progress")
			}
		}
		if g := byPartition(t, all); fmt.Sprint(g) != fmt.Sprint(want) {
			t.Fatalf("batch %d: resumed reads\n %v\nwant\n %v", batch, g, want)
		}
	}

	// Two tasks share the streams and read each record once between them.
	var all []*connectors.Record
	for id := range 2 {
		task, _ := newTestSource(t, fs, nil, nil, id, 2)
		rs, _ := drain(t, task, 0)
		all = append(all, rs...)
	}
	if g := byPartition(t, all); fmt.Sprint(g) != fmt.Sprint(want) {
		t.Fatalf("two tasks read\n %v\nwant\n %v", g, want)
	}
}

// Unbounded, the source lists again every s3.poll.interval.ms and reads
// objects that appeared since.
func TestSourcePollsForNewObjects(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	fs.put(t, "in/a/1.json", []byte("{\"id\":1}\n{\"id\":2}\n"))
	task, _ := newTestSource(t, fs, map[string]any{
		"mode": "GENERIC", "topics.dir": "in", "topic": "events",
		"s3.poll.new.objects": true, "s3.poll.interval.ms": 20,
	}, nil, 0, 1)
	var got []*connectors.Record
	poll := func(want int) {
		t.Helper()
		for range 200 {
			rs, err := task.Poll(ctx)
			if err != nil {
				t.Fatalf("poll: %v", err)
			}
			got = append(got, rs...)
			if len(got) >= want {
				return
			}
		}
		t.Fatalf("read %d records, want %d", len(got), want)
	}
	poll(2)
	fs.put(t, "in/a/2.json", []byte("{\"id\":3}\n"))
	fs.put(t, "in/b/1.json", []byte("{\"id\":4}\n"))
	poll(4)
	if g := byPartition(t, got); !slices.Equal(g[tpKey{"events", -1}], []int64{1, 2, 3, 4}) {
		t.Fatalf("read %v", g)
	}
	time.Sleep(30 * time.Millisecond)
	if rs, err := task.Poll(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("poll with nothing new: %d records, %v", len(rs), err)
	}
}

// GENERIC mode with topic.regex.list, gzip objects, and a malformed line
// that is reported while the rest is read.
func TestSourceGenericMode(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, "{\"id\":10}\n{\"id\":11}\n")
	zw.Close()
	fs.put(t, "feeds/clicks/2024-01-01.json.gz", gz.Bytes())
	fs.put(t, "feeds/orders/2024-01-01.json", []byte("{\"id\":20}\nnot json\n{\"id\":21}\n"))
	fs.put(t, "feeds/other/readme.txt", []byte("ignored"))
	task, tc := newTestSource(t, fs, map[string]any{
		"mode": "GENERIC", "topics.dir": "feeds",
		"topic.regex.list": "clicks:^feeds/clicks/,orders:/orders/.*\\.json$",
	}, nil, 0, 1)
	got, _ := drain(t, task, 0)
	g := byPartition(t, got)
	if !slices.Equal(g[tpKey{"clicks", -1}], []int64{10, 11}) || !slices.Equal(g[tpKey{"orders", -1}], []int64{20, 21}) || len(g) != 2 {
		t.Fatalf("read %v", g)
	}
	if len(tc.reports) != 1 || string(tc.reports[0].rec.Value.([]byte)) != "not json" || tc.reports[0].rec.SourceOffset["position"] != int64(2) {
		t.Fatalf("reports %+v", tc.reports)
	}

	// A missing topic in GENERIC mode is a configuration error.
	spec := SourcePlugin().Spec
	_, err := spec.Parse("", merge(fs.baseConfig(), map[string]any{"format.class": "json", "mode": "GENERIC"}))
	if err == nil || !strings.Contains(err.Error(), "topic:") {
		t.Fatalf("GENERIC without topic: %v", err)
	}
}

// Keys that are not in the sink's layout are skipped in RESTORE_BACKUP.
func TestSourceSkipsForeignKeys(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	fs.put(t, "topics/t/partition=0/t+0+0000000000.json", []byte("{\"id\":0}\n"))
	fs.put(t, "topics/t/partition=0/notes.json", []byte("{\"id\":99}\n"))
	fs.put(t, "topics/t/partition=0/t+0+0000000001.avro", []byte("x"))
	fs.put(t, "topics/u/partition=0/t+0+0000000005.json", []byte("{\"id\":98}\n"))
	task, _ := newTestSource(t, fs, nil, nil, 0, 1)
	got, _ := drain(t, task, 0)
	if g := byPartition(t, got); len(g) != 1 || !slices.Equal(g[tpKey{"t", 0}], []int64{0}) {
		t.Fatalf("read %v", g)
	}
	if task.skippedKeys != 0 {
		// counted in the pass just finished, then reset at the next one
		t.Logf("skipped %d", task.skippedKeys)
	}
}

func TestSourceBadCredentials(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	p := SourcePlugin()
	cfg, err := p.Spec.Parse("", merge(fs.baseConfig(), map[string]any{"format.class": "json", "aws.access.key.id": "AKIDWRONG"}))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := p.New(cfg)
	tasks, _ := s.Tasks(1)
	err = tasks[0].Open(ctx, &fakeSourceCtx{log: testLogger(t)})
	if err == nil || connectors.IsRetriable(err) || !strings.Contains(err.Error(), "access denied") || !strings.Contains(err.Error(), testBucket) {
		t.Fatalf("open with a wrong key: %v", err)
	}
}

func TestSourceKeyClassification(t *testing.T) {
	t.Parallel()
	task := &sourceTask{cfg: &sourceConfig{mode: modeRestore, prefix: "topics/", dirDelim: "/", fileDelim: "+", format: "json"}}
	for _, c := range []struct {
		key    string
		ok     bool
		topic  string
		part   int32
		stream string
	}{
		{"topics/a.b-c/partition=7/a.b-c+7+0000000010.json", true, "a.b-c", 7, "topics/a.b-c/partition=7/a.b-c+7+"},
		{"topics/t/year=2024/month=01/t+0+0000000000.json.gz", true, "t", 0, "topics/t/year=2024/month=01/t+0+"},
		{"topics/t/partition=0/t+x+0000000000.json", false, "", 0, ""},
		{"topics/t/partition=0/t+0+.json", false, "", 0, ""},
		{"topics/t/", false, "", 0, ""},
		{"topics/t+0+1.json", false, "", 0, ""},
	} {
		obj, ok := task.classify(c.key)
		if ok != c.ok || (ok && (obj.topic != c.topic || obj.partition != c.part || obj.stream != c.stream)) {
			t.Errorf("%s: %+v %v", c.key, obj, ok)
		}
	}
}

func FuzzSourceKey(f *testing.F) {
	f.Add("topics/t/partition=0/t+0+0000000000.json")
	f.Add("topics/+/+/++.json.gz")
	f.Add("topics/t/x/t+-1+5.parquet")
	task := &sourceTask{cfg: &sourceConfig{mode: modeRestore, prefix: "topics/", dirDelim: "/", fileDelim: "+", format: "json"}}
	f.Fuzz(func(t *testing.T, key string) {
		obj, ok := task.classify(key)
		if ok && (obj.partition < 0 || !strings.HasPrefix(obj.stream, "topics/") || obj.topic == "") {
			t.Fatalf("%q: %+v", key, obj)
		}
	})
}
