package s3

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/testwait"
)

var ctx = context.Background()

func tp(topic string, p int32) connectors.TopicPartition {
	return connectors.TopicPartition{Topic: topic, Partition: p}
}

// ids reads the "id" of every JSON line of the object.
func ids(t *testing.T, fs *fakeS3, key string) []int64 {
	t.Helper()
	var out []int64
	for _, l := range lines(fs.get(t, key)) {
		var v struct{ ID int64 }
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("%s: line %q: %v", key, l, err)
		}
		out = append(out, v.ID)
	}
	return out
}

func mustPut(t *testing.T, task *sinkTask, rs []*connectors.Record) {
	t.Helper()
	if err := task.Put(ctx, rs); err != nil {
		t.Fatalf("put: %v", err)
	}
}

func preCommit(t *testing.T, task *sinkTask, current map[connectors.TopicPartition]int64) map[connectors.TopicPartition]int64 {
	t.Helper()
	out, err := task.PreCommit(ctx, current)
	if err != nil {
		t.Fatalf("precommit: %v", err)
	}
	return out
}

// The object keys of Confluent's documentation and quick start:
// topics/<topic>/partition=<p>/<topic>+<p>+<start offset, 10 digits>.json,
// one object per flush.size records, and the offsets committed only after
// the objects holding the records are complete.
func TestSinkDefaultPartitionerKeysAndCommits(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	task, tc := newTestSink(t, fs, nil)
	if err := task.Assign(ctx, []connectors.TopicPartition{tp("s3_topic", 0), tp("s3_topic", 1)}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, task, append(recs("s3_topic", 0, 0, 7, nil), recs("s3_topic", 1, 100, 5, nil)...))
	want := []string{
		"topics/s3_topic/partition=0/s3_topic+0+0000000000.json",
		"topics/s3_topic/partition=0/s3_topic+0+0000000003.json",
		"topics/s3_topic/partition=1/s3_topic+1+0000000100.json",
	}
	if got := fs.keys(t, ""); !slices.Equal(got, want) {
		t.Fatalf("keys:\n got %q\nwant %q", got, want)
	}
	if got := ids(t, fs, want[1]); !slices.Equal(got, []int64{3, 4, 5}) {
		t.Fatalf("%s holds %v", want[1], got)
	}
	if got, wantLine := lines(fs.get(t, want[0]))[0], `{"id":0,"name":"s3_topic-0-0"}`; got != wantLine {
		t.Fatalf("first line %s, want %s", got, wantLine)
	}
	current := map[connectors.TopicPartition]int64{tp("s3_topic", 0): 7, tp("s3_topic", 1): 105}
	got := preCommit(t, task, current)
	if got[tp("s3_topic", 0)] != 6 || got[tp("s3_topic", 1)] != 103 || len(got) != 2 {
		t.Fatalf("precommit = %v, want partition 0 at 6 and 1 at 103 (the ends of the completed objects)", got)
	}
	if tc.commitReq == 0 {
		t.Fatal("the task never asked for a commit after completing objects")
	}
	// Two more records complete partition 0's third object.
	mustPut(t, task, recs("s3_topic", 0, 7, 2, nil))
	if got := ids(t, fs, "topics/s3_topic/partition=0/s3_topic+0+0000000006.json"); !slices.Equal(got, []int64{6, 7, 8}) {
		t.Fatalf("third object holds %v", got)
	}
	if got := preCommit(t, task, map[connectors.TopicPartition]int64{tp("s3_topic", 0): 9}); got[tp("s3_topic", 0)] != 9 {
		t.Fatalf("precommit = %v, want 9", got)
	}
	// Nothing open for partition 1 after Revoke; its uncommitted records are dropped.
	if err := task.Revoke(ctx, []connectors.TopicPartition{tp("s3_topic", 1)}); err != nil {
		t.Fatal(err)
	}
	if got := preCommit(t, task, nil); len(got) != 1 {
		t.Fatalf("precommit after revoke = %v", got)
	}
}

func TestSinkSettingsOfKeys(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	task, _ := newTestSink(t, fs, map[string]any{
		"topics.dir": "backup/raw", "file.delim": "-", "filename.offset.zero.pad.width": 4,
		"s3.compression.type": "gzip", "flush.size": 2,
	})
	if err := task.Assign(ctx, []connectors.TopicPartition{tp("t", 3)}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, task, recs("t", 3, 42, 2, nil))
	if got, want := fs.keys(t, ""), []string{"backup/raw/t/partition=3/t-3-0042.json.gz"}; !slices.Equal(got, want) {
		t.Fatalf("keys %q, want %q", got, want)
	}
}

func TestSinkFieldPartitioner(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	task, _ := newTestSink(t, fs, map[string]any{
		"partitioner.class":    "io.confluent.connect.storage.partitioner.FieldPartitioner",
		"partition.field.name": "region,tier",
		"flush.size":           4,
	})
	if err := task.Assign(ctx, []connectors.TopicPartition{tp("orders", 0)}); err != nil {
		t.Fatal(err)
	}
	regions := []string{"eu", "us", "eu", "us", "us", "eu"}
	mustPut(t, task, recs("orders", 0, 0, 6, func(r *connectors.Record) {
		r.Value.(map[string]any)["region"] = regions[r.Offset]
		r.Value.(map[string]any)["tier"] = r.Offset % 2
	}))
	// flush.size counts the partition's records over all its objects, as
	// in Confluent: the first four complete two objects together.
	want := []string{
		"topics/orders/region=eu/tier=0/orders+0+0000000000.json",
		"topics/orders/region=us/tier=1/orders+0+0000000001.json",
	}
	if got := fs.keys(t, ""); !slices.Equal(got, want) {
		t.Fatalf("keys:\n got %q\nwant %q", got, want)
	}
	if got := ids(t, fs, want[0]); !slices.Equal(got, []int64{0, 2}) {
		t.Fatalf("eu objects hold %v", got)
	}
	if got := preCommit(t, task, nil); got[tp("orders", 0)] != 4 {
		t.Fatalf("precommit %v, want 4", got)
	}

	// partitioner.max.open.files: a record for a third object completes
	// the two open ones first.
	task2, _ := newTestSink(t, fs, map[string]any{
		"partitioner.class": "FieldPartitioner", "partition.field.name": "region",
		"flush.size": 100, "partitioner.max.open.files": 2, "topics.dir": "capped",
	})
	if err := task2.Assign(ctx, []connectors.TopicPartition{tp("orders", 0)}); err != nil {
		t.Fatal(err)
	}
	abc := []string{"a", "b", "a", "c", "a"}
	mustPut(t, task2, recs("orders", 0, 0, 5, func(r *connectors.Record) { r.Value.(map[string]any)["region"] = abc[r.Offset] }))
	if got, want := fs.keys(t, "capped/"), []string{
		"capped/orders/region=a/orders+0+0000000000.json",
		"capped/orders/region=b/orders+0+0000000001.json",
	}; !slices.Equal(got, want) {
		t.Fatalf("keys with max open files:\n got %q\nwant %q", got, want)
	}
	if got := preCommit(t, task2, nil); got[tp("orders", 0)] != 3 {
		t.Fatalf("precommit %v, want 3", got)
	}

	// Struct values, as Confluent's FieldPartitioner: integer, string and
	// boolean fields, nested by dotted names; "null" for null fields.
	inner := connectors.NewStruct("Inner").Field("code", connectors.Int32Schema()).MustBuild()
	schema := connectors.NewStruct("Order").
		Field("ok", connectors.BooleanSchema()).
		Field("inner", inner).
		Field("note", connectors.OptionalOf(connectors.StringSchema())).MustBuild()
	p := &partitioner{kind: partitionerField, delim: "/",
		fieldNames: []string{"ok", "inner.code", "note"},
		fieldPaths: [][]string{{"ok"}, {"inner", "code"}, {"note"}}}
	v := connectors.NewStructValue(schema).Put("ok", true).Put("inner", connectors.NewStructValue(inner).Put("code", int32(42)))
	got, err := p.encode(nil, &connectors.Record{ValueSchema: schema, Value: v}, 0)
	if err != nil || string(got) != "ok=true/inner.code=42/note=null" {
		t.Fatalf("encode = %q, %v", got, err)
	}
	if _, err := p.encode(nil, &connectors.Record{Value: "not a struct"}, 0); err == nil {
		t.Fatal("a string value was partitioned by field")
	}
}

// TimeBasedPartitioner with Confluent's hourly layout, the Record
// extractor and rotate.interval.ms: keys by time bucket, objects completed
// when the record time passes the interval or the bucket changes.
func TestSinkTimeBasedPartitioner(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	task, _ := newTestSink(t, fs, map[string]any{
		"partitioner.class":     "TimeBasedPartitioner",
		"path.format":           "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH/",
		"partition.duration.ms": 3600000,
		"locale":                "en-US",
		"timezone":              "UTC",
		"timestamp.extractor":   "Record",
		"rotate.interval.ms":    600000, // 10 minutes
		"flush.size":            1000,
	})
	if err := task.Assign(ctx, []connectors.TopicPartition{tp("clicks", 0)}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, 1, 7, 15, 0, 0, 0, time.UTC)
	at := []time.Duration{0, 5 * time.Minute, 11 * time.Minute, 20 * time.Minute, 59 * time.Minute, 61 * time.Minute, 62 * time.Minute}
	mustPut(t, task, recs("clicks", 0, 0, len(at), func(r *connectors.Record) { r.Timestamp = base.Add(at[r.Offset]) }))
	want := []string{
		"topics/clicks/year=2024/month=01/day=07/hour=15/clicks+0+0000000000.json", // 15:00, 15:05
		"topics/clicks/year=2024/month=01/day=07/hour=15/clicks+0+0000000002.json", // 15:11, 15:20
		"topics/clicks/year=2024/month=01/day=07/hour=15/clicks+0+0000000004.json", // 15:59 (then the hour changes)
	}
	if got := fs.keys(t, ""); !slices.Equal(got, want) {
		t.Fatalf("keys:\n got %q\nwant %q", got, want)
	}
	if got := preCommit(t, task, nil); got[tp("clicks", 0)] != 5 {
		t.Fatalf("precommit %v, want 5 (records 5 and 6 are in the open 16:00 object)", got)
	}

	// Hourly and Daily partitioners in another zone (Confluent's tests:
	// America/Santiago keeps daylight saving time).
	for _, c := range []struct {
		class string
		ms    int64
		want  string
	}{
		{"HourlyPartitioner", 1715224653000, "year=2024/month=05/day=08/hour=23"},
		{"HourlyPartitioner", 1706411853000, "year=2024/month=01/day=28/hour=00"},
		{"DailyPartitioner", 1715224653000, "year=2024/month=05/day=08"},
	} {
		spec := SinkPlugin().Spec
		cfg, err := spec.Parse("", merge(fs.baseConfig(), map[string]any{
			"format.class": "json", "flush.size": 1, "partitioner.class": c.class,
			"locale": "es_CL", "timezone": "America/Santiago", "timestamp.extractor": "Record",
		}))
		if err != nil {
			t.Fatal(err)
		}
		p, err := newPartitioner(cfg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.encode(nil, &connectors.Record{}, c.ms)
		if err != nil || string(got) != c.want {
			t.Errorf("%s at %d: %q, %v; want %q", c.class, c.ms, got, err, c.want)
		}
	}
}

// An object larger than s3.part.size goes up in parts while it is
// written: the task holds one part buffer, never the object.
func TestSinkMultipartUpload(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	const partSize = 5 << 20
	task, _ := newTestSink(t, fs, map[string]any{"s3.part.size": partSize, "flush.size": 12000})
	if err := task.Assign(ctx, []connectors.TopicPartition{tp("big", 0)}); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 1000)
	parts := 0
	for from := int64(0); from < 12000; from += 500 {
		mustPut(t, task, recs("big", 0, from, 500, func(r *connectors.Record) { r.Value.(map[string]any)["pad"] = pad }))
		if g := task.parts[tp("big", 0)].group; g != nil {
			for _, f := range g.order {
				if c := cap(f.up.buf); c > partSize {
					t.Fatalf("part buffer grew to %d bytes, beyond s3.part.size", c)
				}
				parts = max(parts, len(f.up.parts))
			}
		}
	}
	if parts < 2 {
		t.Fatalf("only %d parts were uploaded before the object was complete", parts)
	}
	key := "topics/big/partition=0/big+0+0000000000.json"
	info, err := fs.client.StatObject(ctx, testBucket, key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	uploads, completes := fs.partUploads, fs.completes
	fs.mu.Unlock()
	if info.Size < 2*partSize || uploads != 3 || completes != 1 {
		t.Fatalf("object of %d bytes from %d part uploads and %d completions; want one 3-part upload of over 10 MiB", info.Size, uploads, completes)
	}
	// A multipart object cannot carry the offset after its group (its
	// metadata is fixed when the upload starts), so recovery rewrites it:
	// the consumer is sent back to its start.
	task2, tc2 := newTestSink(t, fs, map[string]any{"s3.part.size": partSize, "flush.size": 12000})
	if err := task2.Assign(ctx, []connectors.TopicPartition{tp("big", 0)}); err != nil {
		t.Fatal(err)
	}
	if off, ok := tc2.seeks[tp("big", 0)]; !ok || off != 0 {
		t.Fatalf("recovery seeks %v, want to 0", tc2.seeks)
	}
	got := ids(t, fs, key)
	if len(got) != 12000 {
		t.Fatalf("%d records in the object, want 12000", len(got))
	}
	for i, id := range got {
		if id != int64(i) {
			t.Fatalf("record %d has id %d", i, id)
		}
	}
}

// A failed part upload is a retriable error; the worker hands the same
// batch again, and the sink writes every record once.
func TestSinkRetriesFailedUploads(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	task, _ := newTestSink(t, fs, map[string]any{"flush.size": 4})
	if err := task.Assign(ctx, []connectors.TopicPartition{tp("r", 0)}); err != nil {
		t.Fatal(err)
	}
	fs.inject(fault{match: isPutOf("r+0+0000000004"), status: 503, code: "SlowDown", count: 2})
	batch := recs("r", 0, 0, 10, nil)
	err := task.Put(ctx, batch)
	if !connectors.IsRetriable(err) {
		t.Fatalf("put with S3 failing: %v, want a retriable error", err)
	}
	if !strings.Contains(err.Error(), testBucket) || !strings.Contains(err.Error(), fs.srv.URL) {
		t.Fatalf("error %q does not name the bucket and endpoint", err)
	}
	if got := preCommit(t, task, nil); got[tp("r", 0)] != 4 {
		t.Fatalf("precommit during the failure = %v, want 4", got)
	}
	if err := task.Put(ctx, batch); !connectors.IsRetriable(err) {
		t.Fatalf("second put: %v, want a retriable error", err)
	}
	mustPut(t, task, batch) // the fault is spent
	mustPut(t, task, recs("r", 0, 10, 2, nil))
	var all []int64
	for _, k := range fs.keys(t, "") {
		all = append(all, ids(t, fs, k)...)
	}
	if want := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}; !slices.Equal(all, want) {
		t.Fatalf("records in the bucket %v, want %v", all, want)
	}
}

func TestSinkBadCredentials(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	raw := merge(fs.baseConfig(), map[string]any{"format.class": "json", "flush.size": 3, "aws.access.key.id": "AKIDWRONG"})
	p := SinkPlugin()
	cfg, err := p.Spec.Parse("", raw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tasks, _ := s.Tasks(1)
	err = tasks[0].Open(ctx, newFakeSinkCtx(t))
	if err == nil {
		t.Fatal("open with a wrong access key succeeded")
	}
	if connectors.IsRetriable(err) {
		t.Fatalf("bad credentials are retriable: %v", err)
	}
	for _, want := range []string{"access denied", `"` + testBucket + `"`, fs.srv.URL, "aws.access.key.id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), testSecretKey) {
		t.Fatal("the error shows the secret key")
	}

	// An endpoint that does not answer is retriable.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	raw = merge(fs.baseConfig(), map[string]any{"format.class": "json", "flush.size": 3, "store.url": dead.URL})
	cfg, _ = p.Spec.Parse("", raw)
	s, _ = p.New(cfg)
	tasks, _ = s.Tasks(1)
	if err := tasks[0].Open(ctx, newFakeSinkCtx(t)); !connectors.IsRetriable(err) || !strings.Contains(err.Error(), dead.URL) {
		t.Fatalf("open with the endpoint down: %v, want a retriable error naming it", err)
	}

	// A missing bucket is as clear.
	raw = merge(fs.baseConfig(), map[string]any{"format.class": "json", "flush.size": 3, "s3.bucket.name": "nope"})
	cfg, _ = p.Spec.Parse("", raw)
	s, _ = p.New(cfg)
	tasks, _ = s.Tasks(1)
	if err := tasks[0].Open(ctx, newFakeSinkCtx(t)); err == nil || !strings.Contains(err.Error(), `bucket "nope" does not exist`) {
		t.Fatalf("open with a missing bucket: %v", err)
	}
}

func TestSinkNullsAndBadRecords(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	task, tc := newTestSink(t, fs, map[string]any{"flush.size": 2})
	if err := task.Assign(ctx, []connectors.TopicPartition{tp("n", 0)}); err != nil {
		t.Fatal(err)
	}
	batch := recs("n", 0, 0, 5, func(r *connectors.Record) {
		if r.Offset == 1 {
			r.Value = nil
		}
	})
	mustPut(t, task, batch)
	if len(tc.reports) != 1 || tc.reports[0].rec.Offset != 1 || !strings.Contains(tc.reports[0].err.Error(), "behavior.on.null.values") {
		t.Fatalf("reports %v, want the tombstone at offset 1", tc.reports)
	}
	if got := ids(t, fs, "topics/n/partition=0/n+0+0000000000.json"); !slices.Equal(got, []int64{0, 2}) {
		t.Fatalf("first object %v", got)
	}
	// Under errors.tolerance=none the report stops the task.
	tc.tolerate = false
	err := task.Put(ctx, recs("n", 0, 5, 1, func(r *connectors.Record) { r.Value = nil }))
	if err == nil || !strings.Contains(err.Error(), "n[0]@5") {
		t.Fatalf("put of a tombstone under tolerance none: %v", err)
	}

	// behavior.on.null.values=ignore skips them, and the offset after them
	// is committable.
	task2, tc2 := newTestSink(t, fs, map[string]any{"flush.size": 2, "behavior.on.null.values": "ignore", "topics.dir": "other"})
	if err := task2.Assign(ctx, []connectors.TopicPartition{tp("n", 0)}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, task2, append(recs("n", 0, 0, 2, nil), recs("n", 0, 2, 2, func(r *connectors.Record) { r.Value = nil })...))
	if len(tc2.reports) != 0 {
		t.Fatalf("ignored tombstones were reported: %v", tc2.reports)
	}
	if got := preCommit(t, task2, nil); got[tp("n", 0)] != 4 {
		t.Fatalf("precommit %v, want 4", got)
	}
}

func TestSinkConfigErrors(t *testing.T) {
	t.Parallel()
	p := SinkPlugin()
	base := map[string]any{"s3.bucket.name": "b", "format.class": "json", "flush.size": 1}
	for _, c := range []struct {
		over map[string]any
		key  string
	}{
		{map[string]any{"flush.size": nil}, "flush.size"},
		{map[string]any{"format.class": "io.confluent.connect.s3.format.bytearray.ByteArrayFormat"}, "format.class"},
		{map[string]any{"partitioner.class": "RandomPartitioner"}, "partitioner.class"},
		{map[string]any{"partitioner.class": "FieldPartitioner"}, "partition.field.name"},
		{map[string]any{"partitioner.class": "TimeBasedPartitioner", "locale": "en", "timezone": "UTC", "path.format": "YYYY"}, "partition.duration.ms"},
		{map[string]any{"partitioner.class": "TimeBasedPartitioner", "locale": "en", "timezone": "UTC", "partition.duration.ms": 1000}, "path.format"},
		{map[string]any{"partitioner.class": "HourlyPartitioner", "timezone": "UTC"}, "locale"},
		{map[string]any{"partitioner.class": "DailyPartitioner", "locale": "en", "timezone": "Mars/Olympus"}, "timezone"},
		{map[string]any{"partitioner.class": "TimeBasedPartitioner", "locale": "fr", "timezone": "UTC", "partition.duration.ms": 1000, "path.format": "MMMM"}, "path.format"},
		{map[string]any{"rotate.schedule.interval.ms": 60000}, "timezone"},
		{map[string]any{"format.class": "avro", "s3.compression.type": "gzip"}, "s3.compression.type"},
		{map[string]any{"s3.part.size": 1024}, "s3.part.size"},
		{map[string]any{"aws.access.key.id": "x"}, "aws.secret.access.key"},
		{map[string]any{"store.url": "ftp://x"}, "store.url"},
	} {
		_, err := p.Spec.Parse("", merge(base, c.over))
		if err == nil || !strings.Contains(err.Error(), c.key+":") {
			t.Errorf("%v: error %v, want one naming %s", c.over, err, c.key)
		}
	}
	cfg, err := p.Spec.Parse("", merge(base, map[string]any{"aws.access.key.id": "id", "aws.secret.access.key": "hush"}))
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(cfg.Redacted()); strings.Contains(s, "hush") {
		t.Fatalf("redacted config shows the secret: %s", s)
	}
}

func TestRegister(t *testing.T) {
	t.Parallel()
	reg := connectors.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Sink("s3"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Sink("io.confluent.connect.s3.S3SinkConnector"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Source("s3"); err != nil {
		t.Fatal(err)
	}
	// The examples parse.
	for _, ex := range []struct {
		spec    connectors.Spec
		example string
	}{{SinkPlugin().Spec, sinkExample}, {SourcePlugin().Spec, sourceExample}} {
		raw := map[string]any{}
		for _, l := range strings.Split(strings.TrimSpace(ex.example), "\n") {
			k, v, _ := strings.Cut(l, ": ")
			switch k {
			case "name", "type", "topics":
				continue
			}
			raw[k] = v
		}
		if _, err := ex.spec.Parse("", raw); err != nil {
			t.Errorf("example does not parse: %v", err)
		}
	}
}

// An idle partition's objects are completed on schedule even when the
// worker's commits are far apart: the task asks for a commit when the
// rotation is due, and the PreCommit that follows rotates.
func TestSinkScheduledRotationAsksForACommit(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	task, tc := newTestSink(t, fs, map[string]any{"flush.size": 1000, "rotate.schedule.interval.ms": 100, "timezone": "UTC"})
	p := tp("idle", 0)
	if err := task.Assign(ctx, []connectors.TopicPartition{p}); err != nil {
		t.Fatal(err)
	}
	requests := func() int {
		tc.mu.Lock()
		defer tc.mu.Unlock()
		return tc.commitReq
	}
	before := requests()
	mustPut(t, task, recs("idle", 0, 0, 2, nil))
	testwait.Until(t, "a commit request when the scheduled rotation comes round", 10*time.Second, func() bool { return requests() != before })
	if got := preCommit(t, task, map[connectors.TopicPartition]int64{p: 2}); got[p] != 2 {
		t.Fatalf("precommit = %v, want 2: the scheduled rotation completed nothing", got)
	}
	if got := allIDs(t, fs, ""); !slices.Equal(got, []int64{0, 1}) {
		t.Fatalf("bucket holds %v", got)
	}
}
