package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sluicehq/sluice/connectors"
)

const (
	testBucket    = "lake"
	testAccessKey = "AKIDSLUICETEST"
	testSecretKey = "secret-of-the-test"
)

// fakeS3 is gofakes3 in-process behind an httptest server (path-style
// addressing). gofakes3 does not check signatures, so a small middleware
// refuses requests signed with another access key id the way S3 does
// (403 InvalidAccessKeyId), and tests can inject server errors.
type fakeS3 struct {
	srv    *httptest.Server
	client *minio.Client

	mu          sync.Mutex
	faults      []fault
	partUploads int
	completes   int
}

// fault makes matching requests fail with status (count times; -1: always).
type fault struct {
	match  func(r *http.Request) bool
	status int
	code   string
	count  int
}

func newFakeS3(t testing.TB) *fakeS3 {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	fs := &fakeS3{}
	inner := faker.Server()
	fs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if i := strings.Index(auth, "Credential="); i >= 0 {
			id, _, _ := strings.Cut(auth[i+len("Credential="):], "/")
			if id != testAccessKey {
				writeS3Error(w, http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
				return
			}
		}
		fs.count(r)
		if status, code, ok := fs.takeFault(r); ok {
			writeS3Error(w, status, code, "injected by the test")
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(fs.srv.Close)
	client, err := minio.New(strings.TrimPrefix(fs.srv.URL, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4(testAccessKey, testSecretKey, ""),
		Region:       "us-west-2",
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	fs.client = client
	return fs
}

func writeS3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>1</RequestId></Error>`, code, msg)
}

func (fs *fakeS3) inject(f fault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults = append(fs.faults, f)
}

func (fs *fakeS3) count(r *http.Request) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if isPartUpload(r) {
		fs.partUploads++
	}
	if r.Method == http.MethodPost && r.URL.Query().Has("uploadId") {
		fs.completes++
	}
}

func (fs *fakeS3) takeFault(r *http.Request) (int, string, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i := range fs.faults {
		f := &fs.faults[i]
		if f.count != 0 && f.match(r) {
			if f.count > 0 {
				f.count--
			}
			return f.status, f.code, true
		}
	}
	return 0, "", false
}

// isPartUpload matches multipart part uploads.
func isPartUpload(r *http.Request) bool {
	return r.Method == http.MethodPut && r.URL.Query().Get("partNumber") != ""
}

// isPutOf matches single-PUT uploads of keys containing s.
func isPutOf(s string) func(r *http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "" && strings.Contains(r.URL.Path, s)
	}
}

// keys lists the bucket's keys under prefix, sorted.
func (fs *fakeS3) keys(t testing.TB, prefix string) []string {
	t.Helper()
	var out []string
	for o := range fs.client.ListObjects(context.Background(), testBucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out = append(out, o.Key)
	}
	sort.Strings(out)
	return out
}

func (fs *fakeS3) get(t testing.TB, key string) []byte {
	t.Helper()
	obj, err := fs.client.GetObject(context.Background(), testBucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

func (fs *fakeS3) put(t testing.TB, key string, data []byte) {
	t.Helper()
	if _, err := fs.client.PutObject(context.Background(), testBucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

// baseConfig is the connection part of a configuration for the fake.
func (fs *fakeS3) baseConfig() map[string]any {
	return map[string]any{
		"s3.bucket.name":        testBucket,
		"store.url":             fs.srv.URL,
		"aws.access.key.id":     testAccessKey,
		"aws.secret.access.key": testSecretKey,
		"s3.part.retries":       0,
	}
}

func merge(base map[string]any, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// newTestSink parses a sink configuration and returns one task, opened.
func newTestSink(t testing.TB, fs *fakeS3, over map[string]any) (*sinkTask, *fakeSinkCtx) {
	t.Helper()
	raw := merge(merge(fs.baseConfig(), map[string]any{"format.class": "json", "flush.size": 3}), over)
	p := SinkPlugin()
	cfg, err := p.Spec.Parse("", raw)
	if err != nil {
		t.Fatalf("parse sink config: %v", err)
	}
	s, err := p.New(cfg)
	if err != nil {
		t.Fatalf("new sink: %v", err)
	}
	tasks, err := s.Tasks(1)
	if err != nil {
		t.Fatal(err)
	}
	task := tasks[0].(*sinkTask)
	tc := newFakeSinkCtx(t)
	if err := task.Open(context.Background(), tc); err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { task.Close() })
	return task, tc
}

type reported struct {
	rec *connectors.Record
	err error
}

// fakeSinkCtx is a SinkTaskContext recording what the task asks for.
type fakeSinkCtx struct {
	log       *slog.Logger
	mu        sync.Mutex
	seeks     map[connectors.TopicPartition]int64
	reports   []reported
	tolerate  bool // errors.tolerance=all
	commitReq int
}

func newFakeSinkCtx(t testing.TB) *fakeSinkCtx {
	return &fakeSinkCtx{log: testLogger(t), seeks: map[connectors.TopicPartition]int64{}, tolerate: true}
}

func (c *fakeSinkCtx) Connector() string    { return "s3-test" }
func (c *fakeSinkCtx) TaskID() int          { return 0 }
func (c *fakeSinkCtx) Logger() *slog.Logger { return c.log }
func (c *fakeSinkCtx) RequestCommit() {
	c.mu.Lock()
	c.commitReq++
	c.mu.Unlock()
}
func (c *fakeSinkCtx) Seek(tp connectors.TopicPartition, offset int64) {
	c.mu.Lock()
	c.seeks[tp] = offset
	c.mu.Unlock()
}
func (c *fakeSinkCtx) Report(rec *connectors.Record, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reports = append(c.reports, reported{rec, err})
	if !c.tolerate {
		return &connectors.RecordError{Connector: "s3-test", Stage: connectors.StageTaskPut, Where: rec.Where(), Err: err}
	}
	return nil
}

// fakeSourceCtx is a SourceTaskContext with committed offsets.
type fakeSourceCtx struct {
	log       *slog.Logger
	committed []connectors.SourceOffset
	reports   []reported
	tolerate  bool
}

func (c *fakeSourceCtx) Connector() string    { return "s3-test" }
func (c *fakeSourceCtx) TaskID() int          { return 0 }
func (c *fakeSourceCtx) Logger() *slog.Logger { return c.log }
func (c *fakeSourceCtx) RequestCommit()       {}
func (c *fakeSourceCtx) Offset(partition map[string]any) (map[string]any, error) {
	for _, o := range c.committed {
		if fmt.Sprint(o.Partition) == fmt.Sprint(partition) {
			return o.Offset, nil
		}
	}
	return nil, nil
}
func (c *fakeSourceCtx) Offsets() ([]connectors.SourceOffset, error) { return c.committed, nil }
func (c *fakeSourceCtx) Report(raw *connectors.Record, err error) error {
	c.reports = append(c.reports, reported{raw, err})
	if !c.tolerate {
		return errors.New("errors.tolerance=none: " + err.Error())
	}
	return nil
}

// testLogger logs to the test's log, only shown on failure or with -v.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// recs makes records of one partition with offsets from..from+n-1 and
// schemaless values {"id": offset, "name": "..."}; mod adjusts each.
func recs(topic string, partition int32, from int64, n int, mod func(r *connectors.Record)) []*connectors.Record {
	out := make([]*connectors.Record, n)
	for i := range out {
		off := from + int64(i)
		r := &connectors.Record{
			Topic: topic, Partition: partition, Offset: off,
			Timestamp: time.UnixMilli(1_700_000_000_000 + off*1000),
			Value:     map[string]any{"id": off, "name": fmt.Sprintf("%s-%d-%d", topic, partition, off)},
		}
		if mod != nil {
			mod(r)
		}
		out[i] = r
	}
	return out
}

// lines splits JSON lines.
func lines(b []byte) []string {
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
