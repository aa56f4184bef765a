package httpconn_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	httpconn "github.com/sluicehq/sluice/connectors/http"
)

type sourceHarness struct {
	t      *testing.T
	task   connectors.SourceTask
	tc     *fakeSourceCtx
	url    string
	client *http.Client
}

// startSource builds the http source from raw (on top of a loopback
// listener on port 0 and topic "hooks") through the registry, opens its
// task and finds its address with ListenAddr.
func startSource(t *testing.T, raw map[string]any, committed map[string]map[string]any) *sourceHarness {
	t.Helper()
	p, err := registry(t).Source("http")
	if err != nil {
		t.Fatal(err)
	}
	conf := map[string]any{"listen.address": "127.0.0.1:0", "topic": "hooks"}
	for k, v := range raw {
		conf[k] = v
	}
	cfg, err := p.Spec.Parse("", conf)
	if err != nil {
		t.Fatalf("parse %v: %v", conf, err)
	}
	src, err := p.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := src.Tasks(4)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 1 {
		t.Fatalf("Tasks(4) = %d tasks, want 1 (one listener)", len(tasks))
	}
	tc := &fakeSourceCtx{fakeTaskCtx: newFakeTaskCtx(t), committed: committed}
	task := tasks[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := task.Open(ctx, tc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = task.Close() })
	addr, err := httpconn.ListenAddr(ctx, tc.Connector())
	if err != nil {
		t.Fatal(err)
	}
	path := "/"
	if s, ok := conf["path"].(string); ok {
		path = s
	}
	return &sourceHarness{t: t, task: task, tc: tc, url: "http://" + addr.String() + path, client: &http.Client{}}
}

type response struct {
	status int
	body   string
	header http.Header
	err    error
}

// send makes a request on its own goroutine and hands back its response.
func (h *sourceHarness) send(method, url string, body []byte, header map[string]string) <-chan response {
	out := make(chan response, 1)
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	go func() {
		resp, err := h.client.Do(req)
		if err != nil {
			out <- response{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- response{status: resp.StatusCode, body: string(b), header: resp.Header, err: err}
	}()
	return out
}

func (h *sourceHarness) post(body string, header map[string]string) <-chan response {
	return h.send(http.MethodPost, h.url, []byte(body), header)
}

func wait(t *testing.T, ch <-chan response) response {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("request failed: %v", r.err)
		}
		return r
	case <-time.After(15 * time.Second):
		t.Fatal("no response")
	}
	return response{}
}

// notYet fails if ch delivers within a short while: a request must not be
// answered before its commit.
func notYet(t *testing.T, ch <-chan response, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s: answered %d %q before Commit", what, r.status, r.body)
	case <-time.After(150 * time.Millisecond):
	}
}

// pollN polls until n records came back.
func (h *sourceHarness) pollN(n int) []*connectors.Record {
	h.t.Helper()
	var out []*connectors.Record
	for tries := 0; len(out) < n; tries++ {
		if tries > 20 {
			h.t.Fatalf("polled %d records, want %d", len(out), n)
		}
		recs, err := h.task.Poll(context.Background())
		if err != nil {
			h.t.Fatalf("Poll: %v", err)
		}
		out = append(out, recs...)
	}
	if len(out) != n {
		h.t.Fatalf("polled %d records, want %d", len(out), n)
	}
	return out
}

func (h *sourceHarness) commit(rec *connectors.Record) {
	h.t.Helper()
	err := h.task.Commit(context.Background(), []connectors.SourceOffset{{Partition: rec.SourcePartition, Offset: rec.SourceOffset}})
	if err != nil {
		h.t.Fatal(err)
	}
}

func TestSourceAnswersOnlyAfterCommit(t *testing.T) {
	t.Parallel()
	h := startSource(t, map[string]any{
		"path": "/hooks", "format": "string", "key.header": "X-Key",
		"headers.include": "X-Event",
	}, nil)
	first := h.post("hello", map[string]string{"X-Key": "k1", "X-Event": "push", "Idempotency-Key": "idem-1"})
	recs := h.pollN(1)
	notYet(t, first, "first request")
	if h.tc.commitRequests.Load() == 0 {
		t.Error("Poll returned records with a waiting request but did not call RequestCommit")
	}
	second := h.post("world", nil)
	recs = append(recs, h.pollN(1)...)

	r := recs[0]
	if r.Topic != "hooks" || r.Value != "hello" || r.Key != "k1" || r.Partition != -1 || r.Offset != -1 {
		t.Errorf("record = topic %q key %v value %v partition %d offset %d", r.Topic, r.Key, r.Value, r.Partition, r.Offset)
	}
	if r.ValueSchema == nil || r.ValueSchema.Type != connectors.TypeString || r.KeySchema == nil || !r.KeySchema.Optional {
		t.Errorf("schemas: key %v value %v, want optional string and string", r.KeySchema, r.ValueSchema)
	}
	if v, _ := r.Header("X-Event"); string(v) != "push" {
		t.Errorf("header X-Event = %q", v)
	}
	if v, _ := r.Header("Idempotency-Key"); string(v) != "idem-1" {
		t.Errorf("header Idempotency-Key = %q", v)
	}
	if r.Timestamp.IsZero() {
		t.Error("no timestamp")
	}
	wantPart := map[string]any{"listener": "127.0.0.1:0/hooks"}
	// Both offsets carry the idempotency window (the hashed key of the
	// first request), as the offsets topic stores them.
	sum := sha256.Sum256([]byte("idem-1"))
	window := `"keys":["` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"]`
	off0, _ := json.Marshal(r.SourceOffset)
	off1, _ := json.Marshal(recs[1].SourceOffset)
	if !reflect.DeepEqual(r.SourcePartition, wantPart) || string(off0) != `{`+window+`,"seq":0}` || string(off1) != `{`+window+`,"seq":1}` {
		t.Errorf("source positions %v %s, %s", r.SourcePartition, off0, off1)
	}
	if recs[1].Key != nil {
		t.Errorf("a request without the key header has key %v, want nil", recs[1].Key)
	}

	// Committing the first record answers the first request only.
	h.commit(recs[0])
	if res := wait(t, first); res.status != http.StatusOK || strings.TrimSpace(res.body) != `{"records":1}` {
		t.Fatalf("first: %d %q", res.status, res.body)
	}
	notYet(t, second, "second request")
	h.commit(recs[1])
	if res := wait(t, second); res.status != http.StatusOK {
		t.Fatalf("second: %d %q", res.status, res.body)
	}
}

func TestSourceCommitAnswersEveryRequestUpToTheOffset(t *testing.T) {
	t.Parallel()
	h := startSource(t, map[string]any{"format": "bytes"}, nil)
	var pending []<-chan response
	for i := range 5 {
		pending = append(pending, h.post(strings.Repeat("x", i), nil))
	}
	recs := h.pollN(5)
	for i, r := range recs {
		if _, ok := r.Value.([]byte); !ok {
			t.Fatalf("record %d value %T, want []byte", i, r.Value)
		}
	}
	// Offsets are committed per source partition as the latest one only.
	last := recs[len(recs)-1]
	h.commit(last)
	for i, ch := range pending {
		if res := wait(t, ch); res.status != http.StatusOK {
			t.Errorf("request %d: %d %q", i, res.status, res.body)
		}
	}
	// Commit of another partition (another connector's listener) is ignored.
	other := h.post("y", nil)
	rec := h.pollN(1)[0]
	if err := h.task.Commit(context.Background(), []connectors.SourceOffset{{Partition: map[string]any{"listener": "elsewhere"}, Offset: map[string]any{"seq": 1e6}}}); err != nil {
		t.Fatal(err)
	}
	notYet(t, other, "request after a foreign commit")
	h.commit(rec)
	wait(t, other)
}

func TestSourceResumesSequenceAfterCommittedOffset(t *testing.T) {
	t.Parallel()
	// The offsets topic hands JSON numbers back as float64.
	h := startSource(t, map[string]any{"format": "string"}, map[string]map[string]any{"127.0.0.1:0/": {"seq": float64(41)}})
	h.post("a", nil)
	rec := h.pollN(1)[0]
	if got := rec.SourceOffset["seq"]; got != int64(42) {
		t.Fatalf("first seq after committed 41 = %v, want 42", got)
	}
}

func TestSourceAuthentication(t *testing.T) {
	t.Parallel()
	h := startSource(t, map[string]any{"format": "string", "auth.bearer.token": "s3cret"}, nil)
	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"no header", nil},
		{"wrong token", map[string]string{"Authorization": "Bearer s3cre"}},
		{"longer token", map[string]string{"Authorization": "Bearer s3cret!"}},
		{"wrong scheme", map[string]string{"Authorization": "Basic s3cret"}},
		{"token only", map[string]string{"Authorization": "s3cret"}},
	} {
		res := wait(t, h.post("x", tc.header))
		if res.status != http.StatusUnauthorized || !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %q (WWW-Authenticate %q), want 401", tc.name, res.status, res.body, res.header.Get("WWW-Authenticate"))
		}
	}
	ok := h.post("x", map[string]string{"Authorization": "bearer s3cret"})
	rec := h.pollN(1)[0]
	h.commit(rec)
	if res := wait(t, ok); res.status != http.StatusOK {
		t.Fatalf("right token: %d %q", res.status, res.body)
	}
}

func TestSourceHMACSignature(t *testing.T) {
	t.Parallel()
	h := startSource(t, map[string]any{"format": "string", "auth.hmac.secret": "topsecret"}, nil)
	body := `{"action":"opened"}`
	mac := hmac.New(sha256.New, []byte("topsecret"))
	mac.Write([]byte(body))
	good := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	for _, sig := range []string{"", "sha256=00", strings.TrimPrefix(good, "sha256="), good[:len(good)-1] + "0"} {
		if res := wait(t, h.post(body, map[string]string{"X-Hub-Signature-256": sig})); res.status != http.StatusUnauthorized {
			t.Errorf("signature %q: %d, want 401", sig, res.status)
		}
	}
	ok := h.post(body, map[string]string{"X-Hub-Signature-256": good})
	h.commit(h.pollN(1)[0])
	if res := wait(t, ok); res.status != http.StatusOK {
		t.Fatalf("good signature: %d %q", res.status, res.body)
	}
}

func TestSourceBodyLimit(t *testing.T) {
	t.Parallel()
	h := startSource(t, map[string]any{"format": "bytes", "max.body.bytes": 64}, nil)
	// Declared too large: refused before reading.
	if res := wait(t, h.post(strings.Repeat("x", 65), nil)); res.status != http.StatusRequestEntityTooLarge {
		t.Errorf("65 bytes with Content-Length: %d, want 413", res.status)
	}
	// Chunked, no Content-Length: refused while reading.
	req, _ := http.NewRequest(http.MethodPost, h.url, io.MultiReader(strings.NewReader(strings.Repeat("y", 40)), strings.NewReader(strings.Repeat("y", 40))))
	req.ContentLength = -1
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("80 chunked bytes: %d, want 413", resp.StatusCode)
	}
	// A gzip body is limited after decompression.
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(bytes.Repeat([]byte("z"), 1000))
	zw.Close()
	if res := wait(t, h.send(http.MethodPost, h.url, zb.Bytes(), map[string]string{"Content-Encoding": "gzip"})); res.status != http.StatusRequestEntityTooLarge {
		t.Errorf("gzip bomb: %d, want 413", res.status)
	}
	// Exactly the limit is fine, and a small gzip body arrives decompressed.
	ok := h.post(strings.Repeat("x", 64), nil)
	zb.Reset()
	zw = gzip.NewWriter(&zb)
	zw.Write([]byte("unzipped"))
	zw.Close()
	okz := h.send(http.MethodPost, h.url, zb.Bytes(), map[string]string{"Content-Encoding": "gzip"})
	recs := h.pollN(2)
	got := []string{string(recs[0].Value.([]byte)), string(recs[1].Value.([]byte))}
	slices.Sort(got)
	if !slices.Equal(got, []string{"unzipped", strings.Repeat("x", 64)}) {
		t.Errorf("values %q", got)
	}
	h.commit(recs[1])
	wait(t, ok)
	wait(t, okz)
	if res := wait(t, h.send(http.MethodPost, h.url, []byte("x"), map[string]string{"Content-Encoding": "br"})); res.status != http.StatusUnsupportedMediaType {
		t.Errorf("Content-Encoding br: %d, want 415", res.status)
	}
}

func TestSourceMethodAndPath(t *testing.T) {
	t.Parallel()
	h := startSource(t, map[string]any{"format": "string", "path": "/in"}, nil)
	res := wait(t, h.send(http.MethodGet, h.url, nil, nil))
	if res.status != http.StatusMethodNotAllowed || res.header.Get("Allow") != "POST, PUT" {
		t.Errorf("GET: %d Allow %q", res.status, res.header.Get("Allow"))
	}
	if res := wait(t, h.send(http.MethodPost, strings.TrimSuffix(h.url, "/in")+"/other", []byte("x"), nil)); res.status != http.StatusNotFound {
		t.Errorf("other path: %d", res.status)
	}
	put := h.send(http.MethodPut, h.url, []byte("put"), nil)
	h.commit(h.pollN(1)[0])
	if res := wait(t, put); res.status != http.StatusOK {
		t.Errorf("PUT: %d", res.status)
	}
}

func TestSourceMalformedBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, format, body string
	}{
		{"invalid UTF-8", "string", "\xff\xfe"},
		{"truncated JSON", "json", `{"a":`},
		{"empty JSON", "json", ``},
		{"not an array", "json.array", `{"a":1}`},
		{"bad line", "json.lines", "{\"a\":1}\n{oops}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, tolerance := range []string{"all", "none"} {
				h := startSource(t, map[string]any{"format": tc.format}, nil)
				if tolerance == "none" {
					h.tc.reportErr = errors.New("tolerance none")
				}
				goodBody := map[string]string{"string": "fine", "json": `"fine"`, "json.array": `["fine"]`, "json.lines": `"fine"`}[tc.format]
				good := h.post(goodBody, nil)
				// Let the good request be queued first.
				first := h.pollN(1)
				res := wait(t, h.post(tc.body, nil))
				if res.status != http.StatusBadRequest || !strings.Contains(res.body, "error") {
					t.Fatalf("%s: %d %q, want 400", tolerance, res.status, res.body)
				}
				recs, err := h.task.Poll(context.Background())
				reps := h.tc.Reports()
				if len(reps) != 1 || !bytes.Equal(reps[0].rec.Value.([]byte), []byte(tc.body)) || reps[0].err == nil {
					t.Fatalf("%s: reports %+v, want the raw body", tolerance, reps)
				}
				if !reflect.DeepEqual(reps[0].rec.SourceOffset, map[string]any{"seq": int64(1)}) {
					t.Errorf("%s: reported position %v, want seq 1", tolerance, reps[0].rec.SourceOffset)
				}
				if tolerance == "none" {
					if err == nil {
						t.Fatalf("Poll under tolerance none returned %d records and no error", len(recs))
					}
					// The task fails: the worker closes it; waiting requests get 503.
					h.task.Close()
					if res := wait(t, good); res.status != http.StatusServiceUnavailable {
						t.Errorf("waiting request after failure: %d", res.status)
					}
					continue
				}
				if err != nil || len(recs) != 0 {
					t.Fatalf("Poll under tolerance all: %d records, %v", len(recs), err)
				}
				h.commit(first[0])
				if res := wait(t, good); res.status != http.StatusOK {
					t.Errorf("good request: %d %q", res.status, res.body)
				}
			}
		})
	}
}

func TestSourceMalformedBodyReject(t *testing.T) {
	t.Parallel()
	h := startSource(t, map[string]any{"format": "string", "behavior.on.malformed.body": "reject"}, nil)
	h.tc.reportErr = errors.New("tolerance none")
	if res := wait(t, h.post("\xff", nil)); res.status != http.StatusBadRequest {
		t.Fatalf("%d, want 400", res.status)
	}
	recs, err := h.task.Poll(context.Background())
	if err != nil || len(recs) != 0 || len(h.tc.Reports()) != 0 {
		t.Fatalf("Poll after a rejected body: %d records, %v, %d reports; want nothing", len(recs), err, len(h.tc.Reports()))
	}
}

func TestSourceRequestTimeout(t *testing.T) {
	t.Parallel()
	h := startSource(t, map[string]any{"format": "string", "request.timeout.ms": 100, "max.pending.requests": 1}, nil)
	ch := h.post("slow", map[string]string{"Idempotency-Key": "k"})
	rec := h.pollN(1)[0]
	res := wait(t, ch)
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" || !strings.Contains(res.body, "Idempotency-Key") {
		t.Fatalf("%d %q Retry-After %q, want 503 with Retry-After", res.status, res.body, res.header.Get("Retry-After"))
	}
	// The timed-out request still holds its slot until its record commits.
	if res := wait(t, h.post("next", nil)); res.status != http.StatusTooManyRequests {
		t.Errorf("while the timed-out record is uncommitted: %d, want 429", res.status)
	}
	h.commit(rec)
	next := h.post("next", nil)
	h.commit(h.pollN(1)[0])
	if res := wait(t, next); res.status != http.StatusOK {
		t.Errorf("after the commit: %d, want 200", res.status)
	}
}

func TestSourceShutdownAnswers503(t *testing.T) {
	t.Parallel()
	h := startSource(t, map[string]any{"format": "string"}, nil)
	polled := h.post("polled", nil)
	h.pollN(1)
	// Not polled: queued, or still on its way in, when the task closes.
	queued := h.post("queued", nil)
	time.Sleep(50 * time.Millisecond)
	if err := h.task.Close(); err != nil {
		t.Fatal(err)
	}
	if res := wait(t, polled); res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Errorf("polled: %d %q", res.status, res.body)
	}
	// The other request may have been queued (503) or may have met the
	// closing server (connection closed); it is never answered 2xx.
	select {
	case res := <-queued:
		if res.err == nil && res.status != http.StatusServiceUnavailable {
			t.Errorf("queued: %d %q", res.status, res.body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("queued: no response")
	}
	// The listener is closed, and the address is no longer advertised.
	if _, err := http.Post(h.url, "text/plain", strings.NewReader("late")); err == nil {
		t.Error("the listener still accepts requests after Close")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := httpconn.ListenAddr(ctx, h.tc.Connector()); err == nil {
		t.Error("ListenAddr still finds the closed task")
	}
	if err := h.task.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSourceBackpressure(t *testing.T) {
	t.Parallel()
	h := startSource(t, map[string]any{"format": "string", "max.pending.requests": 2}, nil)
	a := h.post("a", nil)
	recs := h.pollN(1)
	b := h.post("b", nil)
	recs = append(recs, h.pollN(1)...)
	res := wait(t, h.post("c", nil))
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Fatalf("third pending request: %d %q Retry-After %q, want 429", res.status, res.body, res.header.Get("Retry-After"))
	}
	h.commit(recs[0])
	wait(t, a)
	c := h.post("c", nil)
	recs = append(recs, h.pollN(1)...)
	h.commit(recs[2])
	for _, ch := range []<-chan response{b, c} {
		if res := wait(t, ch); res.status != http.StatusOK {
			t.Errorf("%d %q", res.status, res.body)
		}
	}
}

func TestSourcePollIsIdleBound(t *testing.T) {
	t.Parallel()
	h := startSource(t, map[string]any{"format": "string"}, nil)
	// Idle: Poll comes back empty on its own (within about a second).
	recs, err := h.task.Poll(context.Background())
	if err != nil || len(recs) != 0 {
		t.Fatalf("idle Poll: %d records, %v", len(recs), err)
	}
	// Cancelled: Poll comes back at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if recs, err := h.task.Poll(ctx); err != nil || len(recs) != 0 {
		t.Fatalf("cancelled Poll: %d records, %v", len(recs), err)
	}
	// A request still waiting for its commit makes an idle Poll ask again.
	h.post("w", nil)
	h.pollN(1)
	before := h.tc.commitRequests.Load()
	if _, err := h.task.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.tc.commitRequests.Load() <= before {
		t.Error("an idle Poll with a waiting request did not call RequestCommit")
	}
}

func TestSourceTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certPEM, keyPEM, pool := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	h := startSource(t, map[string]any{"format": "string", "listen.tls.cert.file": certFile, "listen.tls.key.file": keyFile}, nil)
	h.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	url := strings.Replace(h.url, "http://", "https://", 1)
	ch := h.send(http.MethodPost, url, []byte("secure"), nil)
	rec := h.pollN(1)[0]
	if rec.Value != "secure" {
		t.Fatalf("value %v", rec.Value)
	}
	h.commit(rec)
	if res := wait(t, ch); res.status != http.StatusOK {
		t.Fatalf("%d %q", res.status, res.body)
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), pool
}

func TestSourceConfigErrors(t *testing.T) {
	t.Parallel()
	p, _ := registry(t).Source("http")
	for _, tc := range []struct {
		raw  map[string]any
		keys []string
	}{
		{map[string]any{}, []string{"listen.address", "topic"}},
		{map[string]any{"listen.address": "8080", "topic": "t"}, []string{"listen.address"}},
		{map[string]any{"listen.address": ":8080", "topic": "t", "path": "hooks"}, []string{"path"}},
		{map[string]any{"listen.address": ":8080", "topic": "t", "format": "xml"}, []string{"format"}},
		{map[string]any{"listen.address": ":8080", "topic": "t", "methods": "GET"}, []string{"methods"}},
		{map[string]any{"listen.address": ":8080", "topic": "t", "listen.tls.cert.file": "c.pem"}, []string{"listen.tls.key.file"}},
		{map[string]any{"listen.address": ":8080", "topic": "t", "max.pending.requests": 0}, []string{"max.pending.requests"}},
	} {
		_, err := p.Spec.Parse("", tc.raw)
		if got := fieldErrorKeys(err); !slices.Equal(got, tc.keys) {
			t.Errorf("%v: error keys %v, want %v (%v)", tc.raw, got, tc.keys, err)
		}
	}
	// A port already taken fails Open with the key named.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg, err := p.Spec.Parse("", map[string]any{"listen.address": ln.Addr().String(), "topic": "t"})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := p.New(cfg)
	tasks, _ := src.Tasks(1)
	err = tasks[0].Open(context.Background(), &fakeSourceCtx{fakeTaskCtx: newFakeTaskCtx(t)})
	if err == nil || !strings.Contains(err.Error(), "listen.address") {
		t.Errorf("Open on a taken port: %v", err)
	}
	tasks[0].Close()
}

func TestSourceJSONFormats(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		format, body string
		want         []any
	}{
		{"json", `{"id": 7, "price": 1.5, "tags": ["a"], "ok": true, "none": null}`,
			[]any{map[string]any{"id": int64(7), "price": 1.5, "tags": []any{"a"}, "ok": true, "none": nil}}},
		{"json", `"just a string"`, []any{"just a string"}},
		{"json.array", `[{"n":1}, {"n":2}, 3]`, []any{map[string]any{"n": int64(1)}, map[string]any{"n": int64(2)}, int64(3)}},
		{"json.lines", "{\"n\":1}\n\n  \n{\"n\":2}\r\n[3]", []any{map[string]any{"n": int64(1)}, map[string]any{"n": int64(2)}, []any{int64(3)}}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			t.Parallel()
			h := startSource(t, map[string]any{"format": tc.format, "headers.include": "X-Src"}, nil)
			ch := h.post(tc.body, map[string]string{"X-Src": "test"})
			recs := h.pollN(len(tc.want))
			for i, r := range recs {
				if r.ValueSchema != nil {
					t.Errorf("record %d has value schema %v, want schemaless", i, r.ValueSchema)
				}
				if !reflect.DeepEqual(r.Value, tc.want[i]) {
					t.Errorf("record %d = %#v, want %#v", i, r.Value, tc.want[i])
				}
				if v, _ := r.Header("X-Src"); string(v) != "test" {
					t.Errorf("record %d header X-Src %q", i, v)
				}
				if !reflect.DeepEqual(r.SourceOffset, map[string]any{"seq": int64(i)}) {
					t.Errorf("record %d offset %v", i, r.SourceOffset)
				}
			}
			// All or nothing: answered once the last record commits.
			if len(recs) > 1 {
				h.commit(recs[len(recs)-2])
				notYet(t, ch, "request with one record uncommitted")
			}
			h.commit(recs[len(recs)-1])
			res := wait(t, ch)
			if res.status != http.StatusOK || !strings.Contains(res.body, `"records":`) {
				t.Fatalf("%d %q", res.status, res.body)
			}
		})
	}
	t.Run("empty array", func(t *testing.T) {
		t.Parallel()
		h := startSource(t, map[string]any{"format": "json.array"}, nil)
		if res := wait(t, h.post(`[]`, nil)); res.status != http.StatusOK || strings.TrimSpace(res.body) != `{"records":0}` {
			t.Fatalf("%d %q", res.status, res.body)
		}
	})
}

// A request that repeats a recent idempotency key is answered without its
// records being written again: with the first request when that one is
// still waiting, at once when it is committed, and also by a task
// restarted from the committed offset, which carries the window of keys.
func TestSourceDropsRetriedRequests(t *testing.T) {
	t.Parallel()
	raw := map[string]any{"format": "string", "idempotency.window.size": 3}
	h := startSource(t, raw, nil)
	key := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }
	isDuplicate := func(what string, res response) {
		t.Helper()
		if res.status != http.StatusOK || !strings.Contains(res.body, `"duplicate":true`) {
			t.Errorf("%s: %d %q, want 200 duplicate", what, res.status, res.body)
		}
	}
	first := h.post("a", key("k1"))
	a := h.pollN(1)[0]
	retry := h.post("a", key("k1")) // the sender timed out and retries
	notYet(t, retry, "retry of a waiting request")
	h.commit(a)
	if res := wait(t, first); res.status != http.StatusOK || strings.Contains(res.body, "duplicate") {
		t.Errorf("first request: %d %q", res.status, res.body)
	}
	isDuplicate("retry while waiting", wait(t, retry))
	isDuplicate("retry after the commit", wait(t, h.post("a", key("k1"))))
	if recs, err := h.task.Poll(context.Background()); err != nil || len(recs) != 0 {
		t.Fatalf("Poll after retries = %d records, %v; want none", len(recs), err)
	}

	// A restarted task knows the committed keys from the offset (as JSON
	// hands it back), and no others.
	b, err := json.Marshal(a.SourceOffset)
	if err != nil {
		t.Fatal(err)
	}
	var committed map[string]any
	if err := json.Unmarshal(b, &committed); err != nil {
		t.Fatal(err)
	}
	h.task.Close()
	h = startSource(t, raw, map[string]map[string]any{"127.0.0.1:0/": committed})
	isDuplicate("retry after a restart", wait(t, h.post("a", key("k1"))))
	// Keys k2..k4 push k1 out of the window of 3: k1 is new again.
	var pending []<-chan response
	var last *connectors.Record
	for _, k := range []string{"k2", "k3", "k4", "k1"} {
		pending = append(pending, h.post(k, key(k)))
		last = h.pollN(1)[0]
	}
	if last.Value != "k1" {
		t.Fatalf("last record %v, want k1 written again", last.Value)
	}
	h.commit(last)
	for i, ch := range pending {
		if res := wait(t, ch); res.status != http.StatusOK || strings.Contains(res.body, "duplicate") {
			t.Errorf("request %d: %d %q", i, res.status, res.body)
		}
	}
}
