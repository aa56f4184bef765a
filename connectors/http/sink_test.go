package httpconn_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// recorded is a request the test server received.
type recorded struct {
	method, path, query, body string
	header                    http.Header
	at                        time.Time
}

// apiServer is a real HTTP server that records requests and answers them
// as answer says (200 when answer is nil).
type apiServer struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	answer func(r recorded, n int, w http.ResponseWriter) // n: requests so far, this one included
}

func newAPIServer(t *testing.T, answer func(r recorded, n int, w http.ResponseWriter)) *apiServer {
	s := &apiServer{answer: answer}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec := recorded{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery, body: string(b), header: r.Header.Clone(), at: time.Now()}
		s.mu.Lock()
		s.reqs = append(s.reqs, rec)
		n := len(s.reqs)
		s.mu.Unlock()
		if s.answer != nil {
			s.answer(rec, n, w)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *apiServer) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

type sinkHarness struct {
	task connectors.SinkTask
	tc   *fakeSinkCtx
}

func startSink(t *testing.T, raw map[string]any) *sinkHarness {
	t.Helper()
	p, err := registry(t).Sink("http")
	if err != nil {
		t.Fatal(err)
	}
	conf := map[string]any{"retry.backoff.ms": 1}
	for k, v := range raw {
		conf[k] = v
	}
	cfg, err := p.Spec.Parse("", conf)
	if err != nil {
		t.Fatalf("parse %v: %v", conf, err)
	}
	snk, err := p.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := snk.Tasks(1)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("Tasks: %d, %v", len(tasks), err)
	}
	h := &sinkHarness{task: tasks[0], tc: &fakeSinkCtx{fakeTaskCtx: newFakeTaskCtx(t)}}
	if err := h.task.Open(context.Background(), h.tc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.task.Close() })
	return h
}

func (h *sinkHarness) put(t *testing.T, recs []*connectors.Record) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return h.task.Put(ctx, recs)
}

func rec(topic string, partition int32, offset int64, key, value any) *connectors.Record {
	return &connectors.Record{Topic: topic, Partition: partition, Offset: offset, Key: key, Value: value}
}

func TestSinkBatchingAndURLTemplate(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, nil)
	h := startSink(t, map[string]any{
		"http.api.url":   srv.URL + "/t/${topic}/k/${key}?p=${partition}",
		"batch.max.size": 2,
	})
	recs := []*connectors.Record{
		rec("orders", 0, 10, "a", "v10"),
		rec("orders", 1, 5, "a", "v5"),
		rec("orders", 0, 11, "b/c d", "v11"),
		rec("orders", 0, 12, "a", "v12"),
		rec("orders", 0, 13, "a", "v13"),
		rec("orders", 1, 6, "a", "v6"),
		rec("orders", 0, 14, int64(42), "v14"),
	}
	if err := h.put(t, recs); err != nil {
		t.Fatal(err)
	}
	current := map[connectors.TopicPartition]int64{{Topic: "orders", Partition: 0}: 15, {Topic: "orders", Partition: 1}: 7}
	got, err := h.task.PreCommit(context.Background(), current)
	if err != nil || len(got) != 2 || got[connectors.TopicPartition{Topic: "orders", Partition: 0}] != 15 {
		t.Fatalf("PreCommit = %v, %v; want current unchanged", got, err)
	}
	var lines []string
	for _, r := range srv.requests() {
		if r.method != http.MethodPost || r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("request %s with Content-Type %q", r.method, r.header.Get("Content-Type"))
		}
		lines = append(lines, fmt.Sprintf("%s?%s %q", r.path, r.query, r.body))
	}
	// Per partition in offset order; per partition and URL up to 2 records.
	want := []string{
		`/t/orders/k/a?p=0 "v10\nv12"`,
		`/t/orders/k/b%2Fc%20d?p=0 "v11"`,
		`/t/orders/k/a?p=0 "v13"`,
		`/t/orders/k/42?p=0 "v14"`,
		`/t/orders/k/a?p=1 "v5\nv6"`,
	}
	if !slices.Equal(lines, want) {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestSinkBodyFormats(t *testing.T) {
	t.Parallel()
	schema := connectors.NewStruct("order").Field("id", connectors.Int32Schema()).Field("name", connectors.StringSchema()).MustBuild()
	st := connectors.NewStructValue(schema).Put("id", int32(1)).Put("name", "x")
	values := []*connectors.Record{
		{Topic: "t", Offset: 0, Value: "plain"},
		{Topic: "t", Offset: 1, Value: []byte(`{"raw":true}`)},
		{Topic: "t", Offset: 2, ValueSchema: schema, Value: st},
		{Topic: "t", Offset: 3, Value: map[string]any{"n": int64(2)}},
	}
	for _, tc := range []struct {
		name        string
		conf        map[string]any
		contentType string
		body        string
	}{
		{"string lines", map[string]any{"batch.max.size": 10}, "text/plain; charset=utf-8",
			"plain\n{\"raw\":true}\n{\"id\":1,\"name\":\"x\"}\n{\"n\":2}"},
		{"json lines", map[string]any{"batch.max.size": 10, "request.body.format": "json"}, "application/x-ndjson",
			"\"plain\"\n\"" + base64.StdEncoding.EncodeToString([]byte(`{"raw":true}`)) + "\"\n{\"id\":1,\"name\":\"x\"}\n{\"n\":2}"},
		{"json array", map[string]any{"batch.max.size": 10, "request.body.format": "json", "batch.json.as.array": true, "batch.prefix": "ignored"}, "application/json",
			"[\"plain\",\"" + base64.StdEncoding.EncodeToString([]byte(`{"raw":true}`)) + "\",{\"id\":1,\"name\":\"x\"},{\"n\":2}]"},
		{"prefix suffix separator", map[string]any{"batch.max.size": 10, "batch.prefix": "<", "batch.suffix": ">", "batch.separator": "|"}, "text/plain; charset=utf-8",
			"<plain|{\"raw\":true}|{\"id\":1,\"name\":\"x\"}|{\"n\":2}>"},
		{"header override", map[string]any{"batch.max.size": 10, "request.body.format": "json", "batch.json.as.array": true, "headers": map[string]any{"Content-Type": "application/vnd.api+json"}}, "application/vnd.api+json",
			"[\"plain\",\"" + base64.StdEncoding.EncodeToString([]byte(`{"raw":true}`)) + "\",{\"id\":1,\"name\":\"x\"},{\"n\":2}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newAPIServer(t, nil)
			conf := map[string]any{"http.api.url": srv.URL}
			for k, v := range tc.conf {
				conf[k] = v
			}
			h := startSink(t, conf)
			if err := h.put(t, values); err != nil {
				t.Fatal(err)
			}
			reqs := srv.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			if reqs[0].body != tc.body || reqs[0].header.Get("Content-Type") != tc.contentType {
				t.Errorf("body %q (%s)\nwant %q (%s)", reqs[0].body, reqs[0].header.Get("Content-Type"), tc.body, tc.contentType)
			}
		})
	}
}

func TestSinkRetriesThenSucceeds(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, func(r recorded, n int, w http.ResponseWriter) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	h := startSink(t, map[string]any{"http.api.url": srv.URL, "batch.max.size": 5, "max.retries": 3, "idempotency.key.header": "Idempotency-Key"})
	if err := h.put(t, []*connectors.Record{rec("t", 0, 0, nil, "a"), rec("t", 0, 1, nil, "b")}); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (503, 500, 200)", len(reqs))
	}
	for i, r := range reqs {
		if r.body != "a\nb" || r.header.Get("Idempotency-Key") != "t-0-0-1" {
			t.Errorf("attempt %d: body %q key %q", i, r.body, r.header.Get("Idempotency-Key"))
		}
	}
	if len(h.tc.Reports()) != 0 {
		t.Errorf("reports: %v", h.tc.Reports())
	}
}

func TestSinkHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, func(r recorded, n int, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	h := startSink(t, map[string]any{"http.api.url": srv.URL, "retry.backoff.ms": 1})
	if err := h.put(t, []*connectors.Record{rec("t", 0, 0, nil, "a")}); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	// The backoff alone would wait about a millisecond; Retry-After asked
	// for a second. (A lower bound: waiting is the behaviour under test.)
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 900*time.Millisecond {
		t.Errorf("retried after %v, want at least the 1s of Retry-After", gap)
	}
}

func TestSinkGivesUpRetriablyAndDoesNotResendDeliveredBatches(t *testing.T) {
	t.Parallel()
	var healthy atomic.Bool
	srv := newAPIServer(t, func(r recorded, n int, w http.ResponseWriter) {
		if strings.HasSuffix(r.path, "/1") && !healthy.Load() {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "upstream down")
		}
	})
	h := startSink(t, map[string]any{"http.api.url": srv.URL + "/p/${partition}", "batch.max.size": 2, "max.retries": 2})
	recs := []*connectors.Record{
		rec("t", 0, 0, nil, "p0-0"), rec("t", 1, 0, nil, "p1-0"), rec("t", 0, 1, nil, "p0-1"),
		rec("t", 1, 1, nil, "p1-1"), rec("t", 1, 2, nil, "p1-2"), rec("t", 0, 2, nil, "p0-2"),
	}
	err := h.put(t, recs)
	if !connectors.IsRetriable(err) || !strings.Contains(err.Error(), "502") || !strings.Contains(err.Error(), "upstream down") {
		t.Fatalf("Put = %v, want a retriable error naming the 502", err)
	}
	count := func(path string) (n int) {
		for _, r := range srv.requests() {
			if r.path == path {
				n++
			}
		}
		return n
	}
	if c0, c1 := count("/p/0"), count("/p/1"); c0 != 2 || c1 != 3 {
		t.Fatalf("partition 0: %d requests (want 2 batches), partition 1: %d (want 1 + 2 retries, the second batch held back)", c0, c1)
	}
	// Whatever offsets the worker passes, PreCommit holds partition 1 back
	// at its first unsent record; partition 0 was written.
	tp0, tp1 := connectors.TopicPartition{Topic: "t", Partition: 0}, connectors.TopicPartition{Topic: "t", Partition: 1}
	got, err := h.task.PreCommit(context.Background(), map[connectors.TopicPartition]int64{tp0: 3, tp1: 3})
	if err != nil || got[tp0] != 3 || got[tp1] != 0 {
		t.Errorf("PreCommit after the failed Put = %v, %v; want t[0] 3, t[1] 0", got, err)
	}
	// The worker hands the same records again: partition 0 is not resent.
	healthy.Store(true)
	if err := h.put(t, recs); err != nil {
		t.Fatal(err)
	}
	if c0, c1 := count("/p/0"), count("/p/1"); c0 != 2 || c1 != 5 {
		t.Errorf("after the retry: partition 0: %d requests (want still 2), partition 1: %d (want 5)", c0, c1)
	}
	if got, _ := h.task.PreCommit(context.Background(), map[connectors.TopicPartition]int64{tp0: 3, tp1: 3}); got[tp1] != 3 {
		t.Errorf("PreCommit after the successful Put = %v, want current", got)
	}
	var p1 []string
	for _, r := range srv.requests() {
		if r.path == "/p/1" {
			p1 = append(p1, r.body)
		}
	}
	if want := []string{"p1-0\np1-1", "p1-0\np1-1", "p1-0\np1-1", "p1-0\np1-1", "p1-2"}; !slices.Equal(p1, want) {
		t.Errorf("partition 1 bodies %q, want %q", p1, want)
	}
}

func TestSinkConnectionErrorsAreRetried(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	h := startSink(t, map[string]any{"http.api.url": "http://" + addr + "/x?apikey=secret", "max.retries": 2})
	err = h.put(t, []*connectors.Record{rec("t", 0, 0, nil, "a")})
	if !connectors.IsRetriable(err) || !strings.Contains(err.Error(), "gave up after 2 retries") {
		t.Fatalf("Put = %v, want a retriable error after 2 retries", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("the error shows the URL's query: %v", err)
	}
}

func TestSinkPermanentErrorsGoToTheErrorHandler(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, func(r recorded, n int, w http.ResponseWriter) {
		if strings.Contains(r.body, "bad") {
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"error":"field x is required"}`)
		}
	})
	h := startSink(t, map[string]any{"http.api.url": srv.URL, "batch.max.size": 2})
	recs := []*connectors.Record{rec("t", 0, 0, nil, "ok1"), rec("t", 0, 1, nil, "bad"), rec("t", 0, 2, nil, "ok2"), rec("t", 0, 3, nil, "ok3")}
	if err := h.put(t, recs); err != nil {
		t.Fatal(err)
	}
	reps := h.tc.Reports()
	if len(reps) != 2 || reps[0].rec != recs[0] || reps[1].rec != recs[1] {
		t.Fatalf("reported %d records, want the 2 of the failed batch", len(reps))
	}
	for _, r := range reps {
		if msg := r.err.Error(); !strings.Contains(msg, "422") || !strings.Contains(msg, "field x is required") {
			t.Errorf("error %q lacks the status or the response", msg)
		}
	}
	if reqs := srv.requests(); len(reqs) != 2 || reqs[1].body != "ok2\nok3" {
		t.Errorf("requests %v: the batch after the failed one must still be sent, once", reqs)
	}

	// errors.tolerance=none: Report refuses and Put fails with its error.
	h2 := startSink(t, map[string]any{"http.api.url": srv.URL})
	h2.tc.reportErr = errors.New("none")
	err := h2.put(t, []*connectors.Record{rec("t", 0, 7, nil, "bad")})
	var re *connectors.RecordError
	if !errors.As(err, &re) || connectors.IsRetriable(err) {
		t.Fatalf("Put under tolerance none = %v, want the handler's error", err)
	}
}

func TestSinkRedirects(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, func(r recorded, n int, w http.ResponseWriter) {
		switch r.path {
		case "/moved":
			w.Header().Set("Location", "/new")
			w.WriteHeader(http.StatusFound)
		case "/temp":
			w.Header().Set("Location", "/new")
			w.WriteHeader(http.StatusTemporaryRedirect)
		}
	})
	h := startSink(t, map[string]any{"http.api.url": srv.URL + "/${topic}"})
	if err := h.put(t, []*connectors.Record{rec("moved", 0, 0, nil, "a"), rec("temp", 0, 0, nil, "b")}); err != nil {
		t.Fatal(err)
	}
	// 302 would turn the POST into a bodiless GET: refused and reported.
	if reps := h.tc.Reports(); len(reps) != 1 || reps[0].rec.Topic != "moved" || !strings.Contains(reps[0].err.Error(), "302") {
		t.Errorf("reports %v, want the record sent to /moved", reps)
	}
	var got []string
	for _, r := range srv.requests() {
		got = append(got, r.method+" "+r.path+" "+r.body)
	}
	if want := []string{"POST /moved a", "POST /temp b", "POST /new b"}; !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
}

func TestSinkIdempotencyKeyIsStableAcrossRedelivery(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, nil)
	conf := map[string]any{"http.api.url": srv.URL, "batch.max.size": 3, "idempotency.key.header": "Idempotency-Key"}
	var recs []*connectors.Record
	for off := int64(4); off <= 10; off++ {
		recs = append(recs, rec("t", 2, off, nil, "v"+strconv.FormatInt(off, 10)))
	}
	keysOf := func(from int) map[string]string {
		out := map[string]string{}
		for _, r := range srv.requests()[from:] {
			out[r.header.Get("Idempotency-Key")] = r.body
		}
		return out
	}
	// First delivery: one Put of offsets 4..10.
	if err := startSink(t, conf).put(t, recs); err != nil {
		t.Fatal(err)
	}
	first := keysOf(0)
	want := map[string]string{"t-2-4-5": "v4\nv5", "t-2-6-8": "v6\nv7\nv8", "t-2-9-10": "v9\nv10"}
	if fmt.Sprint(first) != fmt.Sprint(want) {
		t.Fatalf("first delivery %v, want batches cut at multiples of 3: %v", first, want)
	}
	// Redelivery after a crash by a new task, handed over in other chunks:
	// every batch gets the same key and body again.
	n := len(srv.requests())
	h := startSink(t, conf)
	if err := h.put(t, recs[:2]); err != nil {
		t.Fatal(err)
	}
	if err := h.put(t, recs[2:]); err != nil {
		t.Fatal(err)
	}
	if again := keysOf(n); fmt.Sprint(again) != fmt.Sprint(want) {
		t.Errorf("redelivery %v, want the same keys and bodies %v", again, want)
	}
}

func TestSinkAuthAndHeaders(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, nil)
	for _, tc := range []struct {
		name  string
		conf  map[string]any
		check func(http.Header) string
	}{
		{"basic", map[string]any{"auth.type": "BASIC", "connection.user": "u", "connection.password": "p:w"}, func(h http.Header) string {
			return h.Get("Authorization") + " want Basic " + base64.StdEncoding.EncodeToString([]byte("u:p:w"))
		}},
		{"bearer", map[string]any{"auth.type": "bearer", "bearer.token": "tok"}, func(h http.Header) string {
			return h.Get("Authorization") + " want Bearer tok"
		}},
		{"headers", map[string]any{"headers": "X-Team=data,X-Env=test", "sensitive.headers": "X-Api-Key: k1 | X-Other:k2", "request.method": "put"}, func(h http.Header) string {
			return h.Get("X-Team") + h.Get("X-Env") + h.Get("X-Api-Key") + h.Get("X-Other") + " want datatestk1k2"
		}},
	} {
		n := len(srv.requests())
		conf := map[string]any{"http.api.url": srv.URL}
		for k, v := range tc.conf {
			conf[k] = v
		}
		if err := startSink(t, conf).put(t, []*connectors.Record{rec("t", 0, 0, nil, "a")}); err != nil {
			t.Fatal(err)
		}
		r := srv.requests()[n]
		got, want, _ := strings.Cut(tc.check(r.header), " want ")
		if got != want {
			t.Errorf("%s: got %q, want %q", tc.name, got, want)
		}
		if tc.name == "headers" && r.method != http.MethodPut {
			t.Errorf("method %s, want PUT", r.method)
		}
	}
}

func TestSinkOAuth2(t *testing.T) {
	t.Parallel()
	var fetches atomic.Int32
	tokens := newAPIServer(t, func(r recorded, n int, w http.ResponseWriter) {
		form, _ := url.ParseQuery(r.body)
		user, pass, _ := (&http.Request{Header: r.header}).BasicAuth()
		if form.Get("grant_type") != "client_credentials" || form.Get("scope") != "write" || user != "id" || pass != "se%3Acret" && pass != "se:cret" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		k := fetches.Add(1)
		fmt.Fprintf(w, `{"access_token":"tok%d","token_type":"Bearer","expires_in":3600}`, k)
	})
	api := newAPIServer(t, func(r recorded, n int, w http.ResponseWriter) {
		// The first token is revoked after the first request.
		if r.header.Get("Authorization") == "Bearer tok1" && n > 1 || !strings.HasPrefix(r.header.Get("Authorization"), "Bearer tok") {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	conf := map[string]any{
		"http.api.url": api.URL, "auth.type": "OAUTH2", "oauth2.token.url": tokens.URL,
		"oauth2.client.id": "id", "oauth2.client.secret": "se:cret", "oauth2.client.scope": "write",
	}
	h := startSink(t, conf)
	for off := range int64(3) {
		if err := h.put(t, []*connectors.Record{rec("t", 0, off, nil, "a")}); err != nil {
			t.Fatal(err)
		}
	}
	var auths []string
	for _, r := range api.requests() {
		auths = append(auths, r.header.Get("Authorization"))
	}
	if want := []string{"Bearer tok1", "Bearer tok1", "Bearer tok2", "Bearer tok2"}; !slices.Equal(auths, want) {
		t.Errorf("authorizations %q, want %q (token cached, renewed after a 401)", auths, want)
	}
	if len(h.tc.Reports()) != 0 {
		t.Errorf("reports %v", h.tc.Reports())
	}
	// Wrong credentials fail the task at once, naming the settings.
	conf["oauth2.client.secret"] = "wrong"
	err := startSink(t, conf).put(t, []*connectors.Record{rec("t", 0, 0, nil, "a")})
	if err == nil || connectors.IsRetriable(err) || !strings.Contains(err.Error(), "oauth2.client.secret") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("Put with wrong credentials = %v, want a permanent error naming the setting, not the secret", err)
	}
}

func TestSinkNullValues(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, nil)
	recs := []*connectors.Record{rec("t", 0, 0, "k1", "a"), rec("t", 0, 1, "k1", nil), rec("t", 0, 2, "k2", "b")}
	for _, tc := range []struct {
		behavior string
		requests []string
		reports  int
	}{
		{"ignore", []string{"POST /k1 a", "POST /k2 b"}, 0},
		{"log", []string{"POST /k1 a", "POST /k2 b"}, 0},
		{"fail", []string{"POST /k1 a", "POST /k2 b"}, 1},
		{"delete", []string{"POST /k1 a", "DELETE /k1 ", "POST /k2 b"}, 0},
	} {
		n := len(srv.requests())
		h := startSink(t, map[string]any{"http.api.url": srv.URL + "/${key}", "behavior.on.null.values": tc.behavior, "batch.max.size": 10})
		if err := h.put(t, recs); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range srv.requests()[n:] {
			got = append(got, r.method+" "+r.path+" "+r.body)
		}
		if !slices.Equal(got, tc.requests) || len(h.tc.Reports()) != tc.reports {
			t.Errorf("%s: requests %q, %d reports; want %q, %d", tc.behavior, got, len(h.tc.Reports()), tc.requests, tc.reports)
		}
	}
}

func TestSinkUnsendableRecords(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, nil)
	h := startSink(t, map[string]any{"http.api.url": srv.URL + "/${key}", "request.body.format": "json"})
	st := connectors.NewStructValue(connectors.NewStruct("k").Field("id", connectors.Int32Schema()).MustBuild()).Put("id", int32(1))
	recs := []*connectors.Record{
		rec("t", 0, 0, nil, "null key"),
		rec("t", 0, 1, st, "struct key"),
		rec("t", 0, 2, "ok", "fine"),
		{Topic: "t", Offset: 3, Key: "k", Value: make(chan int)}, // no JSON form
	}
	if err := h.put(t, recs); err != nil {
		t.Fatal(err)
	}
	reps := h.tc.Reports()
	if len(reps) != 3 {
		t.Fatalf("%d reports, want 3: %v", len(reps), reps)
	}
	for i, want := range []string{"null key", "*connectors.Struct", "encode"} {
		if !strings.Contains(reps[i].err.Error(), want) {
			t.Errorf("report %d: %v, want it to mention %q", i, reps[i].err, want)
		}
	}
	if reqs := srv.requests(); len(reqs) != 1 || reqs[0].body != `"fine"` {
		t.Errorf("requests %v", reqs)
	}
}

func TestSinkConcurrentPartitionsKeepOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string][]int{}
	srv := newAPIServer(t, func(r recorded, n int, w http.ResponseWriter) {
		time.Sleep(time.Millisecond)
		for _, line := range strings.Split(r.body, "\n") {
			off, _ := strconv.Atoi(line)
			mu.Lock()
			seen[r.path] = append(seen[r.path], off)
			mu.Unlock()
		}
	})
	h := startSink(t, map[string]any{"http.api.url": srv.URL + "/${partition}", "max.concurrent.requests": 4, "batch.max.size": 7})
	var recs []*connectors.Record
	for off := range int64(100) {
		for p := range int32(6) {
			recs = append(recs, rec("t", p, off, nil, strconv.FormatInt(off, 10)))
		}
	}
	if err := h.put(t, recs); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 6 {
		t.Fatalf("partitions seen: %d", len(seen))
	}
	for p, offs := range seen {
		if len(offs) != 100 || !slices.IsSorted(offs) {
			t.Errorf("partition %s: %d records, sorted %v", p, len(offs), slices.IsSorted(offs))
		}
	}
}

func TestSinkTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	certPEM := pemOf(srv.Certificate().Raw)
	os.WriteFile(ca, certPEM, 0o600)
	// Without the CA the certificate is refused (retried, then retriable).
	err := startSink(t, map[string]any{"http.api.url": srv.URL, "max.retries": 0}).put(t, []*connectors.Record{rec("t", 0, 0, nil, "a")})
	if !connectors.IsRetriable(err) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Put without the CA = %v", err)
	}
	if err := startSink(t, map[string]any{"http.api.url": srv.URL, "https.ssl.truststore.location": ca}).put(t, []*connectors.Record{rec("t", 0, 0, nil, "a")}); err != nil {
		t.Errorf("Put with the CA: %v", err)
	}
}

func pemOf(der []byte) []byte {
	return []byte("-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END CERTIFICATE-----\n")
}

func TestSinkConfigErrors(t *testing.T) {
	t.Parallel()
	p, _ := registry(t).Sink("http")
	for _, tc := range []struct {
		raw  map[string]any
		keys []string
	}{
		{map[string]any{}, []string{"http.api.url"}},
		{map[string]any{"http.api.url": "ftp://x"}, []string{"http.api.url"}},
		{map[string]any{"http.api.url": "http://x/${offset}"}, []string{"http.api.url"}},
		{map[string]any{"http.api.url": "http://x/${key"}, []string{"http.api.url"}},
		{map[string]any{"http.api.url": "http://x", "retry.on.status.codes": "429,5xx"}, []string{"retry.on.status.codes"}},
		{map[string]any{"http.api.url": "http://x", "auth.type": "BASIC"}, []string{"connection.user"}},
		{map[string]any{"http.api.url": "http://x", "auth.type": "BEARER"}, []string{"bearer.token"}},
		{map[string]any{"http.api.url": "http://x", "auth.type": "OAUTH2"}, []string{"oauth2.client.id", "oauth2.client.secret", "oauth2.token.url"}},
		{map[string]any{"http.api.url": "http://x", "sensitive.headers": "X-Key=hunter2"}, []string{"sensitive.headers"}},
		{map[string]any{"http.api.url": "http://x", "request.method": "GET"}, []string{"request.method"}},
		{map[string]any{"http.api.url": "http://x", "https.ssl.truststore.location": "/nonexistent.pem"}, []string{"https.ssl.truststore.location"}},
	} {
		_, err := p.Spec.Parse("", tc.raw)
		got := fieldErrorKeys(err)
		slices.Sort(got)
		if !slices.Equal(got, tc.keys) {
			t.Errorf("%v: error keys %v, want %v (%v)", tc.raw, got, tc.keys, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows a secret: %v", err)
		}
	}
}

func TestSinkLogicalTypesAndDecimalFormat(t *testing.T) {
	t.Parallel()
	schema := connectors.NewStruct("payment").
		Field("amount", connectors.DecimalSchema(2)).
		Field("at", connectors.TimestampSchema()).MustBuild()
	v := connectors.NewStructValue(schema).Put("amount", big.NewRat(1234, 100)).Put("at", time.UnixMilli(1700000000123).UTC())
	for _, tc := range []struct{ format, want string }{
		{"BASE64", `{"amount":"BNI=","at":1700000000123}`},
		{"NUMERIC", `{"amount":12.34,"at":1700000000123}`},
	} {
		srv := newAPIServer(t, nil)
		h := startSink(t, map[string]any{"http.api.url": srv.URL, "request.body.format": "json", "decimal.format": tc.format})
		if err := h.put(t, []*connectors.Record{{Topic: "t", Offset: 0, ValueSchema: schema, Value: v}}); err != nil {
			t.Fatal(err)
		}
		if got := srv.requests()[0].body; got != tc.want {
			t.Errorf("%s: %s, want %s", tc.format, got, tc.want)
		}
	}
}
