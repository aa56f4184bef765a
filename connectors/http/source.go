package httpconn

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
)

// Body formats of the source.
const (
	formatJSON      = "json"
	formatJSONArray = "json.array"
	formatJSONLines = "json.lines"
	formatString    = "string"
	formatBytes     = "bytes"
)

// Actions on a body that does not parse.
const (
	malformedReport = "report"
	malformedReject = "reject"
)

const (
	// pollIdle is how long Poll waits for a request before it returns
	// nothing, so the worker can commit and stop promptly.
	pollIdle = time.Second
	// shutdownGrace is how long Close lets requests still uploading their
	// bodies finish (they are then answered 503) before it cuts them off.
	shutdownGrace = 5 * time.Second
)

var sourceSpec = connectors.Spec{
	Fields: []connectors.ConfigField{
		{Name: "listen.address", Type: connectors.FieldString, Required: true,
			Doc: "The host:port the webhook server listens on (\"0.0.0.0:8080\", \"127.0.0.1:0\"). With port 0 the system picks a free port: the bound address is logged and returned by httpconn.ListenAddr."},
		{Name: "path", Type: connectors.FieldString, Default: "/", Check: checkPath,
			Doc: "The URL path that accepts requests, matched exactly; other paths are answered 404."},
		{Name: "topic", Type: connectors.FieldString, Required: true,
			Doc: "The Kafka topic the records go to."},
		{Name: "format", Type: connectors.FieldString, Default: formatJSON,
			Allowed: []string{formatJSON, formatJSONArray, formatJSONLines, formatString, formatBytes},
			Doc:     "How a request body becomes records. json: the body is one JSON document, one schemaless record (objects as maps, whole numbers as int64). json.array: the body is a JSON array, one record per element. json.lines: one JSON document per non-empty line, one record each. string: the body, which must be UTF-8, as one string value. bytes: the body as one bytes value. A request of several records is all or nothing: it is answered 2xx once all of them are committed, 400 if any of them does not parse."},
		{Name: "key.header", Type: connectors.FieldString,
			Doc: "A request header whose value becomes the record key (an optional string; null when the request has no such header). Default: no key."},
		{Name: "headers.include", Type: connectors.FieldList,
			Doc: "Request headers copied into record headers under the names written here (one record header per value)."},
		{Name: "idempotency.key.header", Type: connectors.FieldString, Default: "Idempotency-Key",
			Doc: "A request header that identifies a request across its retries (Stripe's Idempotency-Key; GitHub's X-GitHub-Delivery). It is copied, when present, into a record header of the same name, and a request repeating one of the last idempotency.window.size keys is answered 200 without its records being written again (see the connector doc). Empty: neither."},
		{Name: "idempotency.window.size", Type: connectors.FieldInt, Default: 1000, Check: connectors.AtLeast(0),
			Doc: "How many of the most recent idempotency keys the source remembers to drop repeated requests. They are kept, hashed (about 25 bytes each), in the committed source offset, so that a restarted task remembers exactly the keys whose records were committed: with exactly_once_v2, a sender that retries with the same key until it gets a 2xx has its records written exactly once, even across crashes. Keep it at least max.pending.requests. 0: no deduplication (the header is still copied)."},
		{Name: "methods", Type: connectors.FieldList, Default: []string{http.MethodPost, http.MethodPut}, Check: checkMethods,
			Doc: "The HTTP methods accepted (POST, PUT, PATCH); others are answered 405."},
		{Name: "auth.bearer.token", Type: connectors.FieldString, Secret: true,
			Doc: "A token every request must send as \"Authorization: Bearer <token>\"; requests without it are answered 401. Compared in constant time. Default: no token check (put the endpoint behind something that authenticates, or set auth.hmac.secret)."},
		{Name: "auth.hmac.secret", Type: connectors.FieldString, Secret: true,
			Doc: "A shared secret with which senders sign each body (GitHub-style webhook signatures): the request must carry auth.hmac.header with auth.hmac.prefix followed by the HMAC of the (decompressed) body, else it is answered 401. Default: no signature check."},
		{Name: "auth.hmac.header", Type: connectors.FieldString, Default: "X-Hub-Signature-256",
			Doc: "The request header that carries the body's signature."},
		{Name: "auth.hmac.algorithm", Type: connectors.FieldString, Default: "sha256", Allowed: []string{"sha1", "sha256", "sha512"},
			Doc: "The HMAC hash function."},
		{Name: "auth.hmac.prefix", Type: connectors.FieldString, Default: "sha256=",
			Doc: "Text before the signature in the header (GitHub: \"sha256=\"; empty for senders that send the bare signature)."},
		{Name: "auth.hmac.encoding", Type: connectors.FieldString, Default: "hex", Allowed: []string{"hex", "base64"},
			Doc: "How the signature is written: hex (GitHub) or base64 (Shopify and others)."},
		{Name: "max.body.bytes", Type: connectors.FieldInt, Default: 1 << 20, Check: connectors.AtLeast(1),
			Doc: "The largest body accepted, in bytes, both as sent and after decompression (Content-Encoding: gzip is accepted); larger requests are answered 413."},
		{Name: "max.pending.requests", Type: connectors.FieldInt, Default: 1000, Check: connectors.AtLeast(1),
			Doc: "The most requests accepted but not yet committed in Kafka (whether their clients still wait or not). Beyond it requests are answered 429 with Retry-After, so memory stays below about max.pending.requests × max.body.bytes."},
		{Name: "request.timeout.ms", Type: connectors.FieldDuration, Default: 30000, Check: positiveDuration,
			Doc: "How long a request waits for its records to be committed; it is then answered 503 with Retry-After, although its records may still be written (see the connector doc on retries)."},
		{Name: "behavior.on.malformed.body", Type: connectors.FieldString, Default: malformedReport, Allowed: []string{malformedReport, malformedReject},
			Doc: "What happens to a body that does not parse in the configured format, besides the 400 answer. report: it goes to the error handler as raw bytes, so under errors.tolerance=all it is dead-lettered and under none it stops the task, as any poison input does. reject: it is only answered 400 and logged, never stopping the task (recommended for endpoints that untrusted senders can reach)."},
		{Name: "listen.tls.cert.file", Type: connectors.FieldString,
			Doc: "A PEM certificate (chain) file: serve HTTPS (and HTTP/2) instead of plain HTTP. Needs listen.tls.key.file. Read once at start."},
		{Name: "listen.tls.key.file", Type: connectors.FieldString,
			Doc: "The PEM private key file of listen.tls.cert.file."},
	},
	Check: checkSourceConfig,
}

func checkPath(v any) error {
	if !strings.HasPrefix(v.(string), "/") {
		return fmt.Errorf("%q must start with /", v)
	}
	return nil
}

func checkMethods(v any) error {
	ms := v.([]string)
	if len(ms) == 0 {
		return errors.New("at least one method is needed")
	}
	for _, m := range ms {
		switch strings.ToUpper(m) {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
		default:
			return fmt.Errorf("%q is not allowed (want POST, PUT or PATCH)", m)
		}
	}
	return nil
}

func positiveDuration(v any) error {
	if v.(time.Duration) <= 0 {
		return fmt.Errorf("must be positive, got %v", v)
	}
	return nil
}

func checkSourceConfig(c *connectors.Config) error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.String("listen.address")); err != nil {
		errs = append(errs, connectors.Errorf("listen.address", "%q is not host:port: %v", c.String("listen.address"), err))
	}
	if (c.String("listen.tls.cert.file") == "") != (c.String("listen.tls.key.file") == "") {
		errs = append(errs, connectors.Errorf("listen.tls.key.file", "set both listen.tls.cert.file and listen.tls.key.file, or neither"))
	}
	if !c.Secret("auth.hmac.secret").IsZero() && strings.TrimSpace(c.String("auth.hmac.header")) == "" {
		errs = append(errs, connectors.Errorf("auth.hmac.header", "required with auth.hmac.secret"))
	}
	return errors.Join(errs...)
}

const sourceDoc = `A webhook receiver: an HTTP server on listen.address that turns each request to path into records of topic, and answers it 2xx only after those records are durably in Kafka.

Answers: 200 with {"records":N} once the request's records are committed; 400 for a body that does not parse in the configured format (see behavior.on.malformed.body); 401 for a missing or wrong bearer token or signature; 404 for another path; 405 for another method; 413 for a body over max.body.bytes; 415 for a Content-Encoding other than gzip or identity; 429 with Retry-After when max.pending.requests are pending; 503 with Retry-After when request.timeout.ms passes before the commit, and to requests still waiting when the connector stops.

Durability: every accepted request gets sequence numbers, carried as the records' source offsets (source partition {"listener": "<listen.address><path>"}, offset {"seq": n, "keys": [the idempotency window]}). The worker reports committed offsets to the task: under exactly-once after the transaction holding the records committed, under at-least-once after the records were acknowledged by the brokers and their offsets stored. Only then is the request answered 200; the task asks the worker to commit at once (rather than every offset.flush.interval.ms) whenever requests wait. Transforms that drop a record, and errors.tolerance=all dead-lettering a record that fails conversion, still count as handled: the request is answered 200.

Delivery guarantee: with the worker's exactly-once guarantee (exactly_once_v2), a request answered 2xx has its records in Kafka exactly once, in a committed transaction, visible to read_committed consumers. Under at-least-once, such records are in Kafka at least once (the idempotent producer makes duplicates unlikely but a failed produce that is retried by the worker may repeat them). A request answered anything else, or whose connection broke, may or may not have been written: a 503 after request.timeout.ms or at shutdown does not undo records already handed to Kafka, and a crash between a transaction's commit and the answers leaves its requests unanswered.

Retries: senders send such requests again. A request carrying an idempotency key (the idempotency.key.header header, Idempotency-Key by default) that repeats one of the last idempotency.window.size keys is answered 200 with {"records":0,"duplicate":true} and its records are not written again: at once if the first request's records are committed, else when they are (503 if they never are, and the sender retries again). The window is kept, hashed, in the source offset of every record, so a restarted task remembers exactly the keys of the committed requests. With exactly_once_v2, a sender that retries with the same key until it is answered 2xx therefore has its records in Kafka exactly once, crashes included, as long as at most idempotency.window.size other keyed requests come in between its first attempt and the retry. Under at-least-once the committed offset can lag behind records already written, so a retry after a crash may write them again. Requests without a key, or retried after their key left the window, may be duplicated by retries; consumers can still drop repeats by the key, which is copied into a record header. Webhook input cannot be replayed, so a restarted connector resumes numbering after the last committed sequence number, not the input.

Malformed bodies are answered 400. With behavior.on.malformed.body=report (the default) the raw body also goes to the error handler: under errors.tolerance=all it is dead-lettered (stage TASK_POLL) and the connector goes on; under errors.tolerance=none the task stops with the error, as for any poison input, and requests still waiting are answered 503. For an endpoint open to untrusted senders choose reject, so that no sender can stop ingestion.

Runs one task (tasks.max is ignored beyond 1): one listener. Memory stays below about max.pending.requests × max.body.bytes. Authentication: auth.bearer.token and/or auth.hmac.secret, both compared in constant time; serve HTTPS with listen.tls.cert.file and listen.tls.key.file or put a TLS-terminating proxy in front.`

const sourceExample = `name: github-events
type: http
listen.address: 0.0.0.0:8080
path: /webhooks/github
topic: github-events
format: json
key.header: X-GitHub-Delivery
headers.include: X-GitHub-Event
auth.hmac.secret: change-me
max.body.bytes: 1048576
request.timeout.ms: 30000`

func sourcePlugin() connectors.SourcePlugin {
	return connectors.SourcePlugin{
		Info: connectors.Info{
			Name:    "http",
			Summary: "Webhook receiver: HTTP requests into Kafka, each answered 2xx only once its records are committed.",
			Doc:     sourceDoc,
			Spec:    sourceSpec,
			Example: sourceExample,
		},
		ExactlyOnce: true,
		New:         newSource,
	}
}

// sourceConfig is the parsed configuration of the source.
type sourceConfig struct {
	address        string
	path           string
	topic          string
	format         string
	keyHeader      string
	includeHeaders []string
	idemHeader     string
	methods        []string
	tokenHash      [32]byte // SHA-256 of the token: compared in constant time whatever the lengths
	hasToken       bool
	hmacSecret     connectors.Secret
	hmacHeader     string
	hmacNew        func() hash.Hash
	hmacPrefix     string
	hmacBase64     bool
	maxBody        int64
	maxPending     int
	dedupWindow    int // idempotency keys remembered; 0: no deduplication
	requestTimeout time.Duration
	onMalformed    string
	tlsCert        string
	tlsKey         string
}

func newSource(c *connectors.Config) (connectors.Source, error) {
	cfg := &sourceConfig{
		address:        c.String("listen.address"),
		path:           c.String("path"),
		topic:          c.String("topic"),
		format:         c.String("format"),
		keyHeader:      strings.TrimSpace(c.String("key.header")),
		includeHeaders: c.List("headers.include"),
		idemHeader:     strings.TrimSpace(c.String("idempotency.key.header")),
		maxBody:        c.Int64("max.body.bytes"),
		maxPending:     c.Int("max.pending.requests"),
		dedupWindow:    c.Int("idempotency.window.size"),
		requestTimeout: c.Duration("request.timeout.ms"),
		onMalformed:    c.String("behavior.on.malformed.body"),
		tlsCert:        c.String("listen.tls.cert.file"),
		tlsKey:         c.String("listen.tls.key.file"),
		hmacSecret:     c.Secret("auth.hmac.secret"),
		hmacHeader:     strings.TrimSpace(c.String("auth.hmac.header")),
		hmacPrefix:     c.String("auth.hmac.prefix"),
		hmacBase64:     c.String("auth.hmac.encoding") == "base64",
	}
	for _, m := range c.List("methods") {
		cfg.methods = append(cfg.methods, strings.ToUpper(m))
	}
	if tok := c.Secret("auth.bearer.token"); !tok.IsZero() {
		cfg.hasToken = true
		cfg.tokenHash = sha256.Sum256([]byte(tok.Reveal()))
	}
	switch c.String("auth.hmac.algorithm") {
	case "sha1":
		cfg.hmacNew = sha1.New
	case "sha512":
		cfg.hmacNew = sha512.New
	default:
		cfg.hmacNew = sha256.New
	}
	if cfg.maxPending > math.MaxInt32 {
		cfg.maxPending = math.MaxInt32
	}
	if cfg.idemHeader == "" {
		cfg.dedupWindow = 0
	}
	cfg.dedupWindow = min(cfg.dedupWindow, 1<<20)
	return &source{cfg: cfg}, nil
}

type source struct{ cfg *sourceConfig }

// Tasks returns one task: a webhook endpoint is one listener.
func (s *source) Tasks(int) ([]connectors.SourceTask, error) {
	return []connectors.SourceTask{newSourceTask(s.cfg)}, nil
}

var (
	optionalString = connectors.OptionalOf(connectors.StringSchema())
	stringSchema   = connectors.StringSchema()
	bytesSchema    = connectors.BytesSchema()
)

// sourceTask is the webhook server of one connector.
//
// Goroutines: the worker calls Open, Poll, Commit and Close from one
// goroutine; net/http runs ServeHTTP on one goroutine per request. They
// share the queue, the waiters and the sequence counter under mu. slots
// is a semaphore of max.pending.requests, taken by a request before it
// reads its body and given back when its records are committed (or, for a
// malformed body, when Poll has reported it), or all at once by Close.
type sourceTask struct {
	cfg       *sourceConfig
	partition map[string]any
	listener  string

	tc  connectors.SourceTaskContext
	log *slog.Logger
	srv *http.Server
	ln  net.Listener

	slots chan struct{}
	wake  chan struct{} // capacity 1: a request was queued or the server failed

	mu       sync.Mutex
	nextSeq  int64
	queue    []queued  // accepted, not yet polled, in sequence order
	waiting  []*waiter // not yet committed, in sequence order of lastSeq
	closed   bool
	serveErr error
	// committed is the highest sequence number known committed (from
	// the offset at Open, then from Commit); -1 if none.
	committed int64
	// The idempotency window (see idempotency.window.size): the hashed
	// keys of the last accepted requests in order (keyLog, whose last
	// dedupWindow entries are the window) and the last sequence number of
	// each request in it (seen). keyLog is append-only: records' offsets
	// hold sub-slices of it (see offset), so entries are never
	// overwritten; when it is full the window moves to a new array.
	keyLog []string
	seen   map[string]int64
}

// queued is a polled-to-be record, or a malformed body for tc.Report.
type queued struct {
	rec *connectors.Record
	bad error // non-nil: rec holds the raw body to report
}

// waiter is a request waiting for its records to be committed. done gets
// exactly one status (under sourceTask.mu, by Commit or Close); it is
// buffered so neither blocks when the client has gone.
type waiter struct {
	lastSeq   int64
	records   int
	duplicate bool // a retry of a request still waiting (idempotency key)
	done      chan int
}

func newSourceTask(cfg *sourceConfig) *sourceTask {
	listener := cfg.address + cfg.path
	return &sourceTask{
		cfg:       cfg,
		listener:  listener,
		partition: map[string]any{"listener": listener},
		slots:     make(chan struct{}, cfg.maxPending),
		wake:      make(chan struct{}, 1),
	}
}

func (t *sourceTask) Open(ctx context.Context, tc connectors.SourceTaskContext) error {
	t.tc = tc
	t.log = tc.Logger()
	off, err := tc.Offset(t.partition)
	if err != nil {
		return fmt.Errorf("http source: read committed offset of %v: %w", t.partition, err)
	}
	t.committed = -1
	t.seen = map[string]int64{}
	if off != nil {
		if seq, ok := seqOf(off["seq"]); ok {
			t.nextSeq = seq + 1
			t.committed = seq
		}
		// The keys of the committed offset are of requests whose records
		// are all committed (they come before the offset's record).
		if t.cfg.dedupWindow > 0 {
			keys := windowOf(off["keys"])
			for _, k := range keys[max(0, len(keys)-t.cfg.dedupWindow):] {
				if _, dup := t.seen[k]; !dup {
					t.remember(k, t.committed)
				}
			}
		}
	}
	var tlsConfig *tls.Config
	if t.cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(t.cfg.tlsCert, t.cfg.tlsKey)
		if err != nil {
			return fmt.Errorf("http source: load listen.tls.cert.file %q and listen.tls.key.file %q: %w", t.cfg.tlsCert, t.cfg.tlsKey, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", t.cfg.address)
	if err != nil {
		return fmt.Errorf("http source: listen on %q (listen.address): %w", t.cfg.address, err)
	}
	t.ln = ln
	t.srv = &http.Server{
		Handler:           t,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(t.log.Handler(), slog.LevelWarn),
	}
	go t.serve(ln, tlsConfig != nil)
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	t.log.Info("http source: listening", "address", ln.Addr().String(), "url", scheme+"://"+ln.Addr().String()+t.cfg.path, "topic", t.cfg.topic)
	setBound(tc.Connector(), t, ln.Addr())
	return nil
}

func (t *sourceTask) serve(ln net.Listener, useTLS bool) {
	var err error
	if useTLS {
		err = t.srv.ServeTLS(ln, "", "")
	} else {
		err = t.srv.Serve(ln)
	}
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		return
	}
	t.mu.Lock()
	t.serveErr = fmt.Errorf("http source: serving on %s stopped: %w", ln.Addr(), err)
	t.mu.Unlock()
	t.signal()
}

func (t *sourceTask) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Poll returns the records of the requests accepted since the last Poll,
// waiting up to a second for one. A malformed body at the head of the
// queue is reported first; if the error handler refuses it
// (errors.tolerance=none), Poll returns its error, and the records queued
// behind it are not returned (their requests are answered 503 when the
// task closes).
func (t *sourceTask) Poll(ctx context.Context) ([]*connectors.Record, error) {
	idle := time.NewTimer(pollIdle)
	defer idle.Stop()
	for {
		t.mu.Lock()
		if t.serveErr != nil {
			err := t.serveErr
			t.mu.Unlock()
			return nil, err
		}
		if len(t.queue) > 0 {
			if q := t.queue[0]; q.bad != nil {
				t.queue[0] = queued{}
				t.queue = t.queue[1:]
				t.mu.Unlock()
				<-t.slots
				if err := t.tc.Report(q.rec, q.bad); err != nil {
					return nil, err
				}
				continue
			}
			n := 0
			for n < len(t.queue) && t.queue[n].bad == nil {
				n++
			}
			recs := make([]*connectors.Record, n)
			for i := range n {
				recs[i] = t.queue[i].rec
			}
			if n == len(t.queue) {
				t.queue = nil
			} else {
				clear(t.queue[:n])
				t.queue = t.queue[n:]
				t.signal() // the malformed body behind them is next
			}
			t.mu.Unlock()
			// Callers are waiting for these records: ask for a commit
			// right after they are written, not at offset.flush.interval.ms.
			t.tc.RequestCommit()
			return recs, nil
		}
		waiting := len(t.waiting) > 0
		t.mu.Unlock()
		select {
		case <-t.wake:
		case <-idle.C:
			if waiting {
				t.tc.RequestCommit()
			}
			return nil, nil
		case <-ctx.Done():
			return nil, nil
		}
	}
}

// Commit answers the requests whose records are all at or below the
// committed sequence number.
func (t *sourceTask) Commit(_ context.Context, committed []connectors.SourceOffset) error {
	for _, c := range committed {
		if l, _ := c.Partition["listener"].(string); l != t.listener {
			continue
		}
		seq, ok := seqOf(c.Offset["seq"])
		if !ok {
			return fmt.Errorf("http source: committed offset %v of %v has no sequence number", c.Offset, c.Partition)
		}
		t.complete(seq)
	}
	return nil
}

func (t *sourceTask) complete(seq int64) {
	t.mu.Lock()
	t.committed = max(t.committed, seq)
	n := 0
	for n < len(t.waiting) && t.waiting[n].lastSeq <= seq {
		t.waiting[n].done <- http.StatusOK
		n++
	}
	clear(t.waiting[:n])
	t.waiting = t.waiting[n:]
	t.mu.Unlock()
	for range n {
		<-t.slots
	}
}

// Close answers every waiting request 503, stops accepting and closes the
// listener.
func (t *sourceTask) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	for _, w := range t.waiting {
		w.done <- http.StatusServiceUnavailable
	}
	t.waiting, t.queue = nil, nil
	t.mu.Unlock()
	if t.srv == nil {
		return nil
	}
	if t.tc != nil {
		clearBound(t.tc.Connector(), t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := t.srv.Shutdown(ctx); err != nil {
		_ = t.srv.Close()
	}
	return nil
}

// remember adds a request's hashed idempotency key to the window, with
// the last sequence number of its records. Called under mu (or before the
// server starts).
func (t *sourceTask) remember(key string, lastSeq int64) {
	n := t.cfg.dedupWindow
	if len(t.keyLog) >= n {
		evicted := t.keyLog[len(t.keyLog)-n]
		delete(t.seen, evicted)
	}
	if len(t.keyLog) == cap(t.keyLog) {
		// Move the window to a new array: offsets already handed out keep
		// the old one, unchanged.
		keep := t.keyLog[max(0, len(t.keyLog)-n+1):]
		log := make([]string, len(keep), max(2*n, 16))
		copy(log, keep)
		t.keyLog = log
	}
	t.keyLog = append(t.keyLog, key)
	t.seen[key] = lastSeq
}

// offset is the source offset of the record numbered seq: the sequence
// number, and the idempotency window as it stands once the record's
// request is in it, so that the committed offset carries the keys of
// exactly the requests committed with it. Called under mu.
func (t *sourceTask) offset(seq int64) map[string]any {
	if len(t.keyLog) == 0 {
		return map[string]any{"seq": seq}
	}
	// A full slice expression: nobody can append into the log through it.
	lo, hi := max(0, len(t.keyLog)-t.cfg.dedupWindow), len(t.keyLog)
	return map[string]any{"seq": seq, "keys": keyWindow(t.keyLog[lo:hi:hi])}
}

// keyWindow is the idempotency window in an offset. It is JSON as a list
// of strings, and short where offsets are printed (errors, logs).
type keyWindow []string

func (k keyWindow) String() string { return fmt.Sprintf("[%d idempotency keys]", len(k)) }

// windowOf reads the keys of an offset: as the offsets topic's JSON hands
// them back, or as this package made them.
func windowOf(v any) []string {
	switch keys := v.(type) {
	case keyWindow:
		return keys
	case []string:
		return keys
	case []any:
		out := make([]string, 0, len(keys))
		for _, k := range keys {
			if k, ok := k.(string); ok {
				out = append(out, k)
			}
		}
		return out
	}
	return nil
}

// hashKey condenses an idempotency key, whatever its length, into 128 bits
// (base64url): offsets stay small and senders cannot bloat them.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// seqOf reads a sequence number as the offsets topic's JSON may hand it
// back.
func seqOf(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case float64:
		if n != math.Trunc(n) || n < 0 || n > 1<<53 {
			return 0, false
		}
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil
	}
	return 0, false
}

// ServeHTTP handles one webhook request: checks, admission, body, queue,
// then the wait for the commit.
func (t *sourceTask) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != t.cfg.path {
		respondError(w, http.StatusNotFound, "no webhook at "+r.URL.Path)
		return
	}
	if !t.methodAllowed(r.Method) {
		w.Header().Set("Allow", strings.Join(t.cfg.methods, ", "))
		respondError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		return
	}
	if t.cfg.hasToken && !t.bearerOK(r.Header.Get("Authorization")) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
		respondError(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	if r.ContentLength > t.cfg.maxBody {
		respondError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes is over the limit of %d", r.ContentLength, t.cfg.maxBody))
		return
	}
	select {
	case t.slots <- struct{}{}:
	default:
		w.Header().Set("Retry-After", "1")
		respondError(w, http.StatusTooManyRequests, fmt.Sprintf("%d requests are pending: retry later", t.cfg.maxPending))
		return
	}
	held := true
	defer func() {
		if held {
			<-t.slots
		}
	}()
	// A slow sender must not hold a slot for ever.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(t.cfg.requestTimeout))
	body, status, err := t.readBody(w, r)
	if err != nil {
		respondError(w, status, err.Error())
		return
	}
	if !t.cfg.hmacSecret.IsZero() && !t.signatureOK(r.Header.Get(t.cfg.hmacHeader), body) {
		respondError(w, http.StatusUnauthorized, "missing or wrong signature in "+t.cfg.hmacHeader)
		return
	}
	var idem string // the hashed idempotency key
	if t.cfg.dedupWindow > 0 {
		if k := r.Header.Get(t.cfg.idemHeader); k != "" {
			idem = hashKey(k)
		}
	}
	values, perr := decodeBody(t.cfg.format, body)
	now := time.Now()
	headers := t.recordHeaders(r)
	var recs []*connectors.Record
	if perr == nil {
		recs = t.records(values, r, headers, now)
	}

	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		respondError(w, http.StatusServiceUnavailable, "the connector is stopping")
		return
	}
	if perr != nil {
		if t.cfg.onMalformed == malformedReject {
			t.mu.Unlock()
			t.log.Warn("http source: rejected a malformed body", "remote", r.RemoteAddr, "format", t.cfg.format, "error", perr)
			respondError(w, http.StatusBadRequest, perr.Error())
			return
		}
		raw := &connectors.Record{
			Topic: t.cfg.topic, Partition: -1, Offset: -1, Timestamp: now,
			ValueSchema: bytesSchema, Value: body, Headers: headers,
			SourcePartition: t.partition, SourceOffset: t.offset(t.nextSeq),
		}
		t.nextSeq++
		t.queue = append(t.queue, queued{rec: raw, bad: fmt.Errorf("http source: malformed %s body from %s: %w", t.cfg.format, r.RemoteAddr, perr)})
		held = false // given back when Poll has reported it
		t.mu.Unlock()
		t.signal()
		respondError(w, http.StatusBadRequest, perr.Error())
		return
	}
	if len(recs) == 0 {
		t.mu.Unlock()
		respondJSON(w, http.StatusOK, `{"records":0}`)
		return
	}
	var wt *waiter
	if lastSeq, dup := t.seen[idem]; idem != "" && dup {
		// A retry of a request in the idempotency window: its records are
		// not written again. It is answered as the first request is, at
		// once if that one's records are committed.
		if lastSeq <= t.committed {
			t.mu.Unlock()
			respondJSON(w, http.StatusOK, `{"records":0,"duplicate":true}`)
			return
		}
		wt = &waiter{lastSeq: lastSeq, duplicate: true, done: make(chan int, 1)}
		i, _ := slices.BinarySearchFunc(t.waiting, lastSeq+1, func(w *waiter, seq int64) int { return cmp.Compare(w.lastSeq, seq) })
		t.waiting = slices.Insert(t.waiting, i, wt)
	} else {
		if idem != "" {
			// Before the records' offsets are made: they carry the window
			// with this request in it.
			t.remember(idem, t.nextSeq+int64(len(recs))-1)
		}
		for _, rec := range recs {
			rec.SourceOffset = t.offset(t.nextSeq)
			t.nextSeq++
			t.queue = append(t.queue, queued{rec: rec})
		}
		wt = &waiter{lastSeq: t.nextSeq - 1, records: len(recs), done: make(chan int, 1)}
		t.waiting = append(t.waiting, wt)
	}
	held = false // given back when the records are committed, or by Close
	t.mu.Unlock()
	t.signal()

	timeout := time.NewTimer(t.cfg.requestTimeout)
	defer timeout.Stop()
	select {
	case st := <-wt.done:
		if st == http.StatusOK {
			if wt.duplicate {
				respondJSON(w, http.StatusOK, `{"records":0,"duplicate":true}`)
				return
			}
			respondJSON(w, http.StatusOK, `{"records":`+strconv.Itoa(wt.records)+`}`)
			return
		}
		w.Header().Set("Retry-After", "1")
		respondError(w, st, "the connector stopped before the records were confirmed in Kafka; they may or may not have been written: retry with the same Idempotency-Key")
	case <-timeout.C:
		w.Header().Set("Retry-After", "1")
		respondError(w, http.StatusServiceUnavailable, "the records were not confirmed in Kafka within request.timeout.ms; they may still be written: retry with the same Idempotency-Key")
	case <-r.Context().Done():
		// The client went away; its records are written all the same.
	}
}

func (t *sourceTask) methodAllowed(m string) bool {
	for _, a := range t.cfg.methods {
		if a == m {
			return true
		}
	}
	return false
}

func (t *sourceTask) bearerOK(h string) bool {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		// Still hash and compare, so a wrong scheme costs as much as a
		// wrong token.
		tok = ""
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], t.cfg.tokenHash[:]) == 1 && ok
}

func (t *sourceTask) signatureOK(h string, body []byte) bool {
	sig, ok := strings.CutPrefix(strings.TrimSpace(h), t.cfg.hmacPrefix)
	if !ok || sig == "" {
		return false
	}
	var got []byte
	var err error
	if t.cfg.hmacBase64 {
		got, err = base64.StdEncoding.DecodeString(sig)
	} else {
		got, err = hex.DecodeString(strings.ToLower(sig))
	}
	if err != nil {
		return false
	}
	mac := hmac.New(t.cfg.hmacNew, []byte(t.cfg.hmacSecret.Reveal()))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// readBody reads the body, decompressing gzip, within max.body.bytes on
// the wire and after decompression. On error it returns the status to
// answer.
func (t *sourceTask) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	limit := t.cfg.maxBody
	var in io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, readStatus(err), fmt.Errorf("bad gzip body: %v", err)
		}
		defer zr.Close()
		in = zr
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Encoding %q is not supported (send gzip or an uncompressed body)", enc)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= limit {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(in, limit+1))
	if err != nil {
		return nil, readStatus(err), fmt.Errorf("read body: %v", err)
	}
	if n > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body is over the limit of %d bytes", limit)
	}
	return buf.Bytes(), 0, nil
}

func readStatus(err error) int {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}

// recordHeaders copies headers.include and the idempotency key header.
func (t *sourceTask) recordHeaders(r *http.Request) []connectors.Header {
	var hs []connectors.Header
	for _, name := range t.cfg.includeHeaders {
		for _, v := range r.Header.Values(name) {
			hs = append(hs, connectors.Header{Key: name, Value: []byte(v)})
		}
	}
	if t.cfg.idemHeader != "" {
		if v := r.Header.Get(t.cfg.idemHeader); v != "" && !includesHeader(t.cfg.includeHeaders, t.cfg.idemHeader) {
			hs = append(hs, connectors.Header{Key: t.cfg.idemHeader, Value: []byte(v)})
		}
	}
	return hs
}

func includesHeader(list []string, name string) bool {
	for _, h := range list {
		if http.CanonicalHeaderKey(h) == http.CanonicalHeaderKey(name) {
			return true
		}
	}
	return false
}

// records builds one record per decoded value; SourceOffset is set under
// the lock that hands out sequence numbers.
func (t *sourceTask) records(values []any, r *http.Request, headers []connectors.Header, now time.Time) []*connectors.Record {
	var keySchema *connectors.Schema
	var key any
	if t.cfg.keyHeader != "" {
		keySchema = optionalString
		if vs := r.Header.Values(t.cfg.keyHeader); len(vs) > 0 {
			key = vs[0]
		}
	}
	var valueSchema *connectors.Schema
	switch t.cfg.format {
	case formatString:
		valueSchema = stringSchema
	case formatBytes:
		valueSchema = bytesSchema
	}
	recs := make([]*connectors.Record, len(values))
	for i, v := range values {
		hs := headers
		if i > 0 && len(headers) > 0 {
			// Transforms may change a record's headers in place: each record
			// gets its own slice.
			hs = append([]connectors.Header(nil), headers...)
		}
		recs[i] = &connectors.Record{
			Topic: t.cfg.topic, Partition: -1, Offset: -1, Timestamp: now,
			KeySchema: keySchema, Key: key,
			ValueSchema: valueSchema, Value: v,
			Headers:         hs,
			SourcePartition: t.partition,
		}
	}
	return recs
}

// decodeBody turns a body into values in the given format. It is the
// source's only parser of untrusted bytes (fuzzed by FuzzDecodeBody).
func decodeBody(format string, body []byte) ([]any, error) {
	switch format {
	case formatBytes:
		return []any{body}, nil
	case formatString:
		if !utf8.Valid(body) {
			return nil, errors.New("body is not valid UTF-8 (format string)")
		}
		return []any{string(body)}, nil
	case formatJSON:
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, errors.New("empty body, want a JSON document")
		}
		v, err := connectjson.Decode(body)
		if err != nil {
			return nil, fmt.Errorf("body is not JSON: %w", err)
		}
		return []any{v}, nil
	case formatJSONArray:
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, errors.New("empty body, want a JSON array")
		}
		v, err := connectjson.Decode(body)
		if err != nil {
			return nil, fmt.Errorf("body is not JSON: %w", err)
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("body is a JSON %s, want an array (format json.array)", jsonKind(v))
		}
		return arr, nil
	case formatJSONLines:
		var out []any
		line := 0
		for rest := body; len(rest) > 0; {
			var l []byte
			if i := bytes.IndexByte(rest, '\n'); i >= 0 {
				l, rest = rest[:i], rest[i+1:]
			} else {
				l, rest = rest, nil
			}
			line++
			if len(bytes.TrimSpace(l)) == 0 {
				continue
			}
			v, err := connectjson.Decode(l)
			if err != nil {
				return nil, fmt.Errorf("line %d is not JSON: %w", line, err)
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "number"
}

func respondError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	respondJSON(w, status, string(b))
}

func respondJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body+"\n")
}

// The bound addresses of running sources, by connector name, for
// ListenAddr. The worker owns the tasks, so a program that configured port
// 0 has no other handle on the task to ask. Entries are added by Open and
// removed by Close of the same task.
var bound = struct {
	sync.Mutex
	addrs   map[string]boundAddr
	changed chan struct{} // closed and replaced on every change
}{addrs: map[string]boundAddr{}, changed: make(chan struct{})}

type boundAddr struct {
	owner *sourceTask
	addr  net.Addr
}

func setBound(connector string, owner *sourceTask, addr net.Addr) {
	bound.Lock()
	defer bound.Unlock()
	bound.addrs[connector] = boundAddr{owner, addr}
	close(bound.changed)
	bound.changed = make(chan struct{})
}

func clearBound(connector string, owner *sourceTask) {
	bound.Lock()
	defer bound.Unlock()
	if b, ok := bound.addrs[connector]; ok && b.owner == owner {
		delete(bound.addrs, connector)
		close(bound.changed)
		bound.changed = make(chan struct{})
	}
}

// ListenAddr returns the address that the running http source connector
// named connector listens on (useful with listen.address port 0), waiting
// until it listens or ctx is done. Connector names are looked up in this
// process only; with two workers in one process running equally named
// connectors, the one opened last wins.
func ListenAddr(ctx context.Context, connector string) (net.Addr, error) {
	for {
		bound.Lock()
		b, ok := bound.addrs[connector]
		changed := bound.changed
		bound.Unlock()
		if ok {
			return b.addr, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("http source: connector %q is not listening in this process: %w", connector, ctx.Err())
		}
	}
}
