package httpconn

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
)

// Values of the sink's enumerated settings, spelled as Confluent's HTTP
// Sink connector spells them.
const (
	authNone   = "NONE"
	authBasic  = "BASIC"
	authBearer = "BEARER"
	authOAuth2 = "OAUTH2"

	bodyString = "string"
	bodyJSON   = "json"

	nullIgnore = "ignore"
	nullLog    = "log"
	nullFail   = "fail"
	nullDelete = "delete"

	policyConstant    = "CONSTANT_VALUE"
	policyExponential = "EXPONENTIAL_WITH_JITTER"
)

const (
	// responseExcerpt is how much of an error response's body goes into
	// the error (and so into the dead letter's exception message).
	responseExcerpt = 512
	// drainLimit is how much of a response body is read and discarded so
	// the connection can be reused; larger bodies cost a new connection.
	drainLimit = 64 << 10
)

var sinkSpec = connectors.Spec{
	Fields: []connectors.ConfigField{
		{Name: "http.api.url", Type: connectors.FieldString, Required: true, Check: checkURLTemplate,
			Doc: "The URL records are sent to, an http:// or https:// URL that may contain ${topic}, ${partition} and ${key}, filled in per record (percent-encoded). ${key} takes a string, number or bytes key; a record whose key cannot fill it goes to the error handler. Records are batched per topic partition and URL."},
		{Name: "request.method", Type: connectors.FieldString, Default: http.MethodPost, Allowed: []string{http.MethodPost, http.MethodPut, http.MethodPatch},
			Doc: "The HTTP method of the requests."},
		{Name: "headers", Type: connectors.FieldMap,
			Doc: "Headers added to every request (a map, or Name=value pairs separated by commas). They override the default Content-Type. Not secret: put credentials in sensitive.headers or auth.type."},
		{Name: "sensitive.headers", Type: connectors.FieldString, Secret: true,
			Doc: "Headers with credentials (API keys), as Confluent writes them: Name:value pairs separated by |. Never printed or logged."},
		{Name: "auth.type", Type: connectors.FieldString, Default: authNone, Allowed: []string{authNone, authBasic, authBearer, authOAuth2},
			Doc: "How requests authenticate: NONE; BASIC with connection.user and connection.password; BEARER with bearer.token; OAUTH2 with a client-credentials token from oauth2.token.url, fetched before the first request, renewed before it expires and after a 401."},
		{Name: "connection.user", Type: connectors.FieldString,
			Doc: "The user name of auth.type=BASIC."},
		{Name: "connection.password", Type: connectors.FieldString, Secret: true,
			Doc: "The password of auth.type=BASIC."},
		{Name: "bearer.token", Type: connectors.FieldString, Secret: true,
			Doc: "The token of auth.type=BEARER, sent as Authorization: Bearer <token>."},
		{Name: "oauth2.token.url", Type: connectors.FieldString,
			Doc: "The OAuth2 token endpoint of auth.type=OAUTH2 (client-credentials grant)."},
		{Name: "oauth2.client.id", Type: connectors.FieldString,
			Doc: "The OAuth2 client id."},
		{Name: "oauth2.client.secret", Type: connectors.FieldString, Secret: true,
			Doc: "The OAuth2 client secret."},
		{Name: "oauth2.client.scope", Type: connectors.FieldString,
			Doc: "The scope requested with the token, if any."},
		{Name: "oauth2.client.auth.mode", Type: connectors.FieldString, Default: "header", Allowed: []string{"header", "url"},
			Doc: "How the client credentials reach the token endpoint: header (HTTP Basic) or url (client_id and client_secret form parameters)."},
		{Name: "oauth2.token.property", Type: connectors.FieldString, Default: "access_token",
			Doc: "The property of the token response that holds the token."},
		{Name: "request.body.format", Type: connectors.FieldString, Default: bodyString, Allowed: []string{bodyString, bodyJSON},
			Doc: "How a record value is written in the body. string: string and bytes values as they are, other values as JSON text. json: every value as JSON, as Kafka Connect's JsonConverter writes a payload (strings quoted, bytes base64, structs as objects in field order, logical types as numbers)."},
		{Name: "batch.max.size", Type: connectors.FieldInt, Default: 1, Check: connectors.AtLeast(1),
			Doc: "The most records per request. Records of one topic partition and URL are batched in offset order; a batch also ends where Put's records end, since records are sent before Put returns."},
		{Name: "batch.json.as.array", Type: connectors.FieldBool, Default: false,
			Doc: "Send each batch as a JSON array of the values (batch.prefix, batch.suffix and batch.separator are then ignored). With request.body.format=string each value must itself be JSON text."},
		{Name: "batch.prefix", Type: connectors.FieldString,
			Doc: "Text before the values of a batch."},
		{Name: "batch.suffix", Type: connectors.FieldString,
			Doc: "Text after the values of a batch."},
		{Name: "batch.separator", Type: connectors.FieldString, Default: "\n",
			Doc: "Text between the values of a batch. Default a newline (JSON lines when request.body.format=json), unlike Confluent's comma."},
		{Name: "behavior.on.null.values", Type: connectors.FieldString, Default: nullIgnore, Allowed: []string{nullIgnore, nullLog, nullFail, nullDelete},
			Doc: "What to do with a record whose value is null (a tombstone). ignore: skip it. log: skip it and log its position. fail: hand it to the error handler (dead-lettered under errors.tolerance=all, stopping the task under none). delete: send a DELETE request without body to the record's URL (use ${key} in http.api.url)."},
		{Name: "max.retries", Type: connectors.FieldInt, Default: 10, Check: connectors.AtLeast(0),
			Doc: "How often a request is retried after a connection error, a timeout or a status in retry.on.status.codes before Put fails with a retriable error; the worker then hands the records again, with backoff, until errors.retry.timeout."},
		{Name: "retry.backoff.ms", Type: connectors.FieldDuration, Default: 3000, Check: positiveDuration,
			Doc: "The wait before the first retry; see retry.backoff.policy."},
		{Name: "retry.backoff.policy", Type: connectors.FieldString, Default: policyExponential, Allowed: []string{policyConstant, policyExponential},
			Doc: "CONSTANT_VALUE: every retry waits retry.backoff.ms. EXPONENTIAL_WITH_JITTER: the wait doubles with every retry up to retry.backoff.max.ms, of which a random half to all is waited. A Retry-After header of the response replaces the computed wait."},
		{Name: "retry.backoff.max.ms", Type: connectors.FieldDuration, Default: 60000, Check: positiveDuration,
			Doc: "The longest wait between two retries, Retry-After included."},
		{Name: "retry.on.status.codes", Type: connectors.FieldString, Default: "429,500-", Check: checkStatusSet,
			Doc: "The response statuses that are retried, as codes and ranges separated by commas (\"500-\" is 500 and above). Other non-2xx statuses are permanent: the batch's records go to the error handler with the status and the start of the response body."},
		{Name: "http.connect.timeout.ms", Type: connectors.FieldDuration, Default: 30000, Check: positiveDuration,
			Doc: "The longest time to open a connection."},
		{Name: "http.request.timeout.ms", Type: connectors.FieldDuration, Default: 30000, Check: positiveDuration,
			Doc: "The longest time one request may take, response included; a request that times out is retried."},
		{Name: "idempotency.key.header", Type: connectors.FieldString,
			Doc: "A request header that carries an idempotency key for the batch: <topic>-<partition>-<first offset>-<last offset>, the same every time the same records are sent again, so that the receiver can drop repeats. With it, batches also never cross a multiple of batch.max.size in offsets, so that redelivered records form the same batches. Default: no such header."},
		{Name: "max.concurrent.requests", Type: connectors.FieldInt, Default: 1, Check: connectors.AtLeast(1),
			Doc: "How many requests a task sends at once, for different topic partitions; the batches of one partition are always sent one after the other, in offset order."},
		{Name: "decimal.format", Type: connectors.FieldString, Default: "BASE64", Allowed: []string{"BASE64", "NUMERIC"},
			Doc: "How decimals are written in JSON, as Kafka Connect's JsonConverter: BASE64 (the unscaled bytes) or NUMERIC (a number)."},
		{Name: "https.ssl.truststore.location", Type: connectors.FieldString,
			Doc: "A PEM file of CA certificates that server certificates are checked against, instead of the system's."},
		{Name: "https.ssl.keystore.location", Type: connectors.FieldString,
			Doc: "A PEM file with a client certificate (chain) and its unencrypted private key, for servers that require mutual TLS."},
		{Name: "https.host.verifier.enabled", Type: connectors.FieldBool, Default: true,
			Doc: "Check that the server certificate names the host. Turn off only for tests."},
	},
	Check: checkSinkConfig,
}

func checkURLTemplate(v any) error {
	_, err := parseURLTemplate(v.(string))
	return err
}

func checkStatusSet(v any) error {
	_, err := parseStatusSet(v.(string))
	return err
}

func checkSinkConfig(c *connectors.Config) error {
	var errs []error
	switch c.String("auth.type") {
	case authBasic:
		if c.String("connection.user") == "" {
			errs = append(errs, connectors.Errorf("connection.user", "required with auth.type=BASIC"))
		}
	case authBearer:
		if c.Secret("bearer.token").IsZero() {
			errs = append(errs, connectors.Errorf("bearer.token", "required with auth.type=BEARER"))
		}
	case authOAuth2:
		if u := c.String("oauth2.token.url"); u == "" {
			errs = append(errs, connectors.Errorf("oauth2.token.url", "required with auth.type=OAUTH2"))
		} else if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, connectors.Errorf("oauth2.token.url", "%q is not an http:// or https:// URL", u))
		}
		if c.String("oauth2.client.id") == "" {
			errs = append(errs, connectors.Errorf("oauth2.client.id", "required with auth.type=OAUTH2"))
		}
		if c.Secret("oauth2.client.secret").IsZero() {
			errs = append(errs, connectors.Errorf("oauth2.client.secret", "required with auth.type=OAUTH2"))
		}
	}
	if _, err := parseSensitiveHeaders(c.Secret("sensitive.headers").Reveal()); err != nil {
		errs = append(errs, &connectors.FieldError{Key: "sensitive.headers", Err: err})
	}
	for name := range c.Map("headers") {
		if !validHeaderName(name) {
			errs = append(errs, connectors.Errorf("headers", "%q is not a valid header name", name))
		}
	}
	if h := c.String("idempotency.key.header"); h != "" && !validHeaderName(h) {
		errs = append(errs, connectors.Errorf("idempotency.key.header", "%q is not a valid header name", h))
	}
	if c.Duration("retry.backoff.max.ms") < c.Duration("retry.backoff.ms") {
		errs = append(errs, connectors.Errorf("retry.backoff.max.ms", "%v is below retry.backoff.ms (%v)", c.Duration("retry.backoff.max.ms"), c.Duration("retry.backoff.ms")))
	}
	if c.String("https.ssl.keystore.location") != "" || c.String("https.ssl.truststore.location") != "" {
		if _, err := tlsConfig(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// parseSensitiveHeaders reads Name:value|Name:value. Its errors never
// quote the input, which is secret.
func parseSensitiveHeaders(s string) ([][2]string, error) {
	var out [][2]string
	for i, item := range strings.Split(s, "|") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		name, value, ok := strings.Cut(item, ":")
		name = strings.TrimSpace(name)
		if !ok || !validHeaderName(name) {
			return nil, fmt.Errorf("item %d is not Name:value with a valid header name (value not shown: it is secret)", i+1)
		}
		out = append(out, [2]string{name, strings.TrimSpace(value)})
	}
	return out, nil
}

func tlsConfig(c *connectors.Config) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if p := c.String("https.ssl.truststore.location"); p != "" {
		pem, err := os.ReadFile(p)
		if err != nil {
			return nil, connectors.Errorf("https.ssl.truststore.location", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, connectors.Errorf("https.ssl.truststore.location", "no PEM certificate in %q", p)
		}
		cfg.RootCAs = pool
	}
	if p := c.String("https.ssl.keystore.location"); p != "" {
		pem, err := os.ReadFile(p)
		if err != nil {
			return nil, connectors.Errorf("https.ssl.keystore.location", "%v", err)
		}
		cert, err := tls.X509KeyPair(pem, pem)
		if err != nil {
			return nil, connectors.Errorf("https.ssl.keystore.location", "%q holds no usable certificate and private key: %v", p, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if !c.Bool("https.host.verifier.enabled") {
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

const sinkDoc = `Sends records to an HTTP API: batched requests to a templated URL (http.api.url with ${topic}, ${partition}, ${key}), with Confluent's HTTP Sink connector settings.

Batching: records of one topic partition going to one URL are batched in offset order, up to batch.max.size per request; a body is batch.prefix, the values separated by batch.separator, then batch.suffix, or a JSON array with batch.json.as.array=true. Content-Type is application/json for request.body.format=json (application/x-ndjson when batches of several values are newline-separated) and text/plain otherwise; headers may override it.

Writes happen in Put: a Put returns once every record it was handed has been answered 2xx or handed to the error handler, so the worker commits exactly the offsets handed over (PreCommit returns them unchanged) and nothing is buffered between calls. Requests for different topic partitions run in parallel up to max.concurrent.requests; those of one partition run one after the other, in offset order (per URL, records keep their offset order).

Errors: 2xx is success. Connection errors, timeouts and the statuses of retry.on.status.codes (default 429 and 5xx) are retried up to max.retries times with backoff (retry.backoff.policy), waiting as long as a Retry-After header asks (up to retry.backoff.max.ms); then Put fails with a retriable error and the worker hands the same records again after its own backoff, until errors.retry.timeout (forever by default). Batches already sent by the failed Put are not sent again when the same records come back. Any other status (4xx, 3xx other than 307/308 redirects) is permanent: each record of the batch goes to the error handler with the status and the start of the response body, so under errors.tolerance=all it lands in the dead-letter topic and the next batch is sent, and under none the task stops with that message. Records that cannot be sent at all (a value JSON cannot represent, a key that cannot fill ${key}) go to the error handler too.

Delivery guarantee: at least once. After a crash or a rebalance, records after the last committed offset are sent again. With idempotency.key.header, every batch carries <topic>-<partition>-<first offset>-<last offset>, and batches are cut at multiples of batch.max.size in offsets, so a redelivered batch carries the same key as before whenever the worker hands the records over in the same chunks at that boundary (always for retries within a task; after a restart for every batch that lies wholly inside one Put): a receiver that drops requests with a known key then sees each record once.

Authentication: auth.type BASIC, BEARER or OAUTH2 (client credentials); credentials in headers go in sensitive.headers. TLS: https URLs are checked against the system's CAs or https.ssl.truststore.location; https.ssl.keystore.location adds a client certificate.`

const sinkExample = `name: orders-to-api
type: http
topics: orders
http.api.url: https://api.example.com/v1/orders/${key}
request.method: PUT
request.body.format: json
batch.max.size: 1
auth.type: BEARER
bearer.token: change-me
max.retries: 10
retry.backoff.ms: 1000
retry.on.status.codes: 429,500-
idempotency.key.header: Idempotency-Key
errors.tolerance: all
errors.deadletterqueue.topic.name: orders-http-dlq`

func sinkPlugin() connectors.SinkPlugin {
	return connectors.SinkPlugin{
		Info: connectors.Info{
			Name:    "http",
			Summary: "Sends records as batched HTTP requests to a templated URL, retrying 429/5xx and dead-lettering other errors.",
			Doc:     sinkDoc,
			Spec:    sinkSpec,
			Example: sinkExample,
		},
		New: newSink,
	}
}

// sinkConfig is the parsed configuration of the sink.
type sinkConfig struct {
	url         *urlTemplate
	method      string
	headers     [][2]string // headers, then sensitive.headers
	authType    string
	user        string
	password    connectors.Secret
	bearer      connectors.Secret
	oauth       *oauthConfig
	jsonBody    bool
	batchMax    int
	asArray     bool
	prefix      string
	suffix      string
	separator   string
	contentType string
	onNull      string
	maxRetries  int
	backoff     backoff
	retryOn     statusSet
	connectTO   time.Duration
	requestTO   time.Duration
	idemHeader  string
	concurrency int
	jsonOptions connectjson.Options
	tls         *tls.Config
}

func newSink(c *connectors.Config) (connectors.Sink, error) {
	tmpl, err := parseURLTemplate(c.String("http.api.url"))
	if err != nil {
		return nil, &connectors.FieldError{Key: "http.api.url", Err: err}
	}
	retryOn, err := parseStatusSet(c.String("retry.on.status.codes"))
	if err != nil {
		return nil, &connectors.FieldError{Key: "retry.on.status.codes", Err: err}
	}
	sensitive, err := parseSensitiveHeaders(c.Secret("sensitive.headers").Reveal())
	if err != nil {
		return nil, &connectors.FieldError{Key: "sensitive.headers", Err: err}
	}
	tc, err := tlsConfig(c)
	if err != nil {
		return nil, err
	}
	cfg := &sinkConfig{
		url:         tmpl,
		method:      strings.ToUpper(c.String("request.method")),
		authType:    c.String("auth.type"),
		user:        c.String("connection.user"),
		password:    c.Secret("connection.password"),
		bearer:      c.Secret("bearer.token"),
		jsonBody:    c.String("request.body.format") == bodyJSON,
		batchMax:    c.Int("batch.max.size"),
		asArray:     c.Bool("batch.json.as.array"),
		prefix:      c.String("batch.prefix"),
		suffix:      c.String("batch.suffix"),
		separator:   c.String("batch.separator"),
		onNull:      c.String("behavior.on.null.values"),
		maxRetries:  c.Int("max.retries"),
		retryOn:     retryOn,
		connectTO:   c.Duration("http.connect.timeout.ms"),
		requestTO:   c.Duration("http.request.timeout.ms"),
		idemHeader:  c.String("idempotency.key.header"),
		concurrency: c.Int("max.concurrent.requests"),
		jsonOptions: connectjson.Options{DecimalNumeric: c.String("decimal.format") == "NUMERIC"},
		tls:         tc,
		backoff: backoff{
			base:        c.Duration("retry.backoff.ms"),
			max:         c.Duration("retry.backoff.max.ms"),
			exponential: c.String("retry.backoff.policy") == policyExponential,
		},
	}
	if cfg.authType == authOAuth2 {
		cfg.oauth = &oauthConfig{
			tokenURL:      c.String("oauth2.token.url"),
			clientID:      c.String("oauth2.client.id"),
			clientSecret:  c.Secret("oauth2.client.secret"),
			scope:         c.String("oauth2.client.scope"),
			credsInHeader: c.String("oauth2.client.auth.mode") == "header",
			tokenProperty: c.String("oauth2.token.property"),
		}
	}
	switch {
	case cfg.jsonBody && (cfg.asArray || cfg.batchMax == 1 || cfg.separator != "\n"):
		cfg.contentType = "application/json"
	case cfg.jsonBody:
		cfg.contentType = "application/x-ndjson"
	case cfg.asArray:
		cfg.contentType = "application/json"
	default:
		cfg.contentType = "text/plain; charset=utf-8"
	}
	user := c.Map("headers")
	names := make([]string, 0, len(user))
	for n := range user {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		cfg.headers = append(cfg.headers, [2]string{n, user[n]})
	}
	cfg.headers = append(cfg.headers, sensitive...)
	return &sink{cfg: cfg}, nil
}

type sink struct{ cfg *sinkConfig }

// Tasks returns maxTasks tasks; the consumer group spreads partitions over
// them.
func (s *sink) Tasks(maxTasks int) ([]connectors.SinkTask, error) {
	tasks := make([]connectors.SinkTask, maxTasks)
	for i := range tasks {
		tasks[i] = newSinkTask(s.cfg)
	}
	return tasks, nil
}

// sinkTask sends records. The worker calls it from one goroutine; Put
// starts up to max.concurrent.requests goroutines that send the batches of
// different partitions and joins them before it returns. reportMu
// serialises their calls to tc.Report.
type sinkTask struct {
	cfg    *sinkConfig
	tc     connectors.SinkTaskContext
	log    *slog.Logger
	client *http.Client
	oauth  *oauthSource

	reportMu sync.Mutex

	// handled holds the batches (and unsendable records) that a Put which
	// failed had already dealt with, so that when the worker hands the same
	// records again they are not sent or reported twice. Cleared when a Put
	// succeeds and, per partition, on Revoke.
	handled map[batchID]struct{}
	// unwritten holds, per partition, the first offset handed to a Put
	// that failed: PreCommit never lets the worker commit past it, whatever
	// offsets it passes, until a Put succeeds (the worker hands the same
	// records again after a failed Put).
	unwritten map[connectors.TopicPartition]int64
}

// batchID names a batch by its records: same partition, same URL, same
// first and last offset means the same records (one partition's offsets are
// unique and Put hands them in order).
type batchID struct {
	tp          connectors.TopicPartition
	first, last int64
	url         string
}

func newSinkTask(cfg *sinkConfig) *sinkTask {
	return &sinkTask{cfg: cfg, handled: map[batchID]struct{}{}, unwritten: map[connectors.TopicPartition]int64{}}
}

func (t *sinkTask) Open(_ context.Context, tc connectors.SinkTaskContext) error {
	t.tc = tc
	t.log = tc.Logger()
	dialer := &net.Dialer{Timeout: t.cfg.connectTO, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     t.cfg.tls.Clone(),
		TLSHandshakeTimeout: t.cfg.connectTO,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        max(100, 2*t.cfg.concurrency),
		MaxIdleConnsPerHost: max(2, t.cfg.concurrency),
		IdleConnTimeout:     90 * time.Second,
	}
	t.client = &http.Client{Transport: transport, CheckRedirect: checkRedirect}
	if t.cfg.oauth != nil {
		t.oauth = &oauthSource{cfg: t.cfg.oauth, client: t.client, timeout: t.cfg.requestTO}
	}
	return nil
}

// checkRedirect follows only redirects that keep the method and body (307,
// 308): Go's client would turn a POST answered 301, 302 or 303 into a GET
// without body, silently losing the records. Those responses are returned
// as they are and handled as permanent errors.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.Response != nil {
		switch req.Response.StatusCode {
		case http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			return nil
		}
	}
	return http.ErrUseLastResponse
}

func (t *sinkTask) Assign(context.Context, []connectors.TopicPartition) error { return nil }

func (t *sinkTask) Revoke(_ context.Context, tps []connectors.TopicPartition) error {
	for id := range t.handled {
		if slices.Contains(tps, id.tp) {
			delete(t.handled, id)
		}
	}
	for _, tp := range tps {
		delete(t.unwritten, tp)
	}
	return nil
}

// PreCommit returns current unchanged: a Put that returned nil has written
// everything it was handed. Only after a failed Put, until the same
// records are written, it holds the failed partitions back at their first
// unwritten offset.
func (t *sinkTask) PreCommit(_ context.Context, current map[connectors.TopicPartition]int64) (map[connectors.TopicPartition]int64, error) {
	if len(t.unwritten) == 0 {
		return current, nil
	}
	out := make(map[connectors.TopicPartition]int64, len(current))
	for tp, off := range current {
		if u, ok := t.unwritten[tp]; ok && u < off {
			off = u
		}
		out[tp] = off
	}
	return out, nil
}

func (t *sinkTask) Close() error {
	if t.client != nil {
		t.client.CloseIdleConnections()
	}
	return nil
}

// batch is the records of one request and its body.
type batch struct {
	id     batchID
	method string
	recs   []*connectors.Record
	body   []byte
	window int64 // offset / batch.max.size, with idempotency.key.header
	index  int   // position of its first record in Put's records
}

// failed is a record that cannot be sent, for the error handler.
type failed struct {
	rec *connectors.Record
	err error
}

// partitionPlan is the batches of one topic partition, in sending order.
type partitionPlan struct {
	tp      connectors.TopicPartition
	batches []*batch
}

func (t *sinkTask) Put(ctx context.Context, records []*connectors.Record) error {
	if len(records) == 0 {
		return nil
	}
	plans, failures := t.plan(records)
	err := t.reportFailures(failures)
	if err == nil {
		err = t.sendAll(ctx, plans)
	}
	if err != nil {
		// Hold back every partition at its first record not dealt with.
		mark := func(id batchID) {
			if _, done := t.handled[id]; done {
				return
			}
			if u, ok := t.unwritten[id.tp]; !ok || id.first < u {
				t.unwritten[id.tp] = id.first
			}
		}
		for _, f := range failures {
			mark(failureID(f.rec))
		}
		for _, p := range plans {
			for _, b := range p.batches {
				mark(b.id)
			}
		}
		return err
	}
	clear(t.handled)
	clear(t.unwritten)
	return nil
}

func failureID(r *connectors.Record) batchID {
	return batchID{tp: tpOf(r), first: r.Offset, last: r.Offset}
}

func (t *sinkTask) reportFailures(failures []failed) error {
	for _, f := range failures {
		id := failureID(f.rec)
		if _, done := t.handled[id]; done {
			continue
		}
		if err := t.report(f.rec, f.err); err != nil {
			return err
		}
		t.handled[id] = struct{}{}
	}
	return nil
}

func tpOf(r *connectors.Record) connectors.TopicPartition {
	return connectors.TopicPartition{Topic: r.Topic, Partition: r.Partition}
}

// plan cuts records into batches per partition and URL and encodes their
// bodies.
func (t *sinkTask) plan(records []*connectors.Record) ([]*partitionPlan, []failed) {
	type openKey struct {
		tp  connectors.TopicPartition
		url string
	}
	var (
		plans    []*partitionPlan
		byTP     = map[connectors.TopicPartition]*partitionPlan{}
		open     = map[openKey]*batch{}
		failures []failed
		urlBuf   []byte
		scratch  []byte
	)
	planOf := func(tp connectors.TopicPartition) *partitionPlan {
		p := byTP[tp]
		if p == nil {
			p = &partitionPlan{tp: tp}
			byTP[tp] = p
			plans = append(plans, p)
		}
		return p
	}
	closeBatch := func(k openKey) {
		if b := open[k]; b != nil {
			t.finishBody(b)
			p := planOf(k.tp)
			p.batches = append(p.batches, b)
			delete(open, k)
		}
	}
	aligned := t.cfg.idemHeader != ""
	for i, r := range records {
		tp := tpOf(r)
		// Partitions are sent in the order they first appear.
		planOf(tp)
		if r.Value == nil {
			switch t.cfg.onNull {
			case nullIgnore:
				continue
			case nullLog:
				t.log.Info("http sink: skipped a record with a null value (behavior.on.null.values=log)", "record", r.Where())
				continue
			case nullFail:
				failures = append(failures, failed{r, errors.New("http sink: the record's value is null (behavior.on.null.values=fail)")})
				continue
			}
		}
		k := openKey{tp: tp}
		if t.cfg.url.constant {
			k.url = t.cfg.url.parts[0].literal
		} else {
			u, err := t.cfg.url.render(urlBuf[:0], r.Topic, r.Partition, r.Key)
			if err != nil {
				failures = append(failures, failed{r, fmt.Errorf("http sink: http.api.url: %w", err)})
				continue
			}
			urlBuf = u
			k.url = string(u)
		}
		if r.Value == nil { // behavior.on.null.values=delete
			closeBatch(k)
			p := planOf(tp)
			p.batches = append(p.batches, &batch{
				id:     batchID{tp: tp, first: r.Offset, last: r.Offset, url: k.url},
				method: http.MethodDelete,
				recs:   []*connectors.Record{r},
			})
			continue
		}
		var err error
		scratch, err = t.appendValue(scratch[:0], r)
		if err != nil {
			failures = append(failures, failed{r, fmt.Errorf("http sink: encode the value as %s: %w", t.bodyFormat(), err)})
			continue
		}
		window := int64(0)
		if aligned {
			window = r.Offset / int64(t.cfg.batchMax)
		}
		b := open[k]
		if b != nil && (len(b.recs) >= t.cfg.batchMax || b.window != window) {
			closeBatch(k)
			b = nil
		}
		if b == nil {
			b = &batch{
				id:     batchID{tp: tp, first: r.Offset, url: k.url},
				method: t.cfg.method,
				window: window,
				index:  i,
				recs:   make([]*connectors.Record, 0, min(t.cfg.batchMax, len(records))),
			}
			b.body = t.startBody(b.body)
			open[k] = b
		} else if t.cfg.asArray {
			b.body = append(b.body, ',')
		} else {
			b.body = append(b.body, t.cfg.separator...)
		}
		b.body = append(b.body, scratch...)
		b.recs = append(b.recs, r)
		b.id.last = r.Offset
	}
	// Close what is left in the order the batches began, so plans are
	// deterministic.
	rest := make([]openKey, 0, len(open))
	for k := range open {
		rest = append(rest, k)
	}
	slices.SortFunc(rest, func(a, b openKey) int { return open[a].index - open[b].index })
	for _, k := range rest {
		closeBatch(k)
	}
	return plans, failures
}

func (t *sinkTask) bodyFormat() string {
	if t.cfg.jsonBody {
		return "json"
	}
	return "string"
}

func (t *sinkTask) startBody(dst []byte) []byte {
	if t.cfg.asArray {
		return append(dst, '[')
	}
	return append(dst, t.cfg.prefix...)
}

func (t *sinkTask) finishBody(b *batch) {
	if b.method == http.MethodDelete {
		return
	}
	if t.cfg.asArray {
		b.body = append(b.body, ']')
	} else {
		b.body = append(b.body, t.cfg.suffix...)
	}
}

// appendValue writes a record value as request.body.format says.
func (t *sinkTask) appendValue(dst []byte, r *connectors.Record) ([]byte, error) {
	if !t.cfg.jsonBody {
		switch v := r.Value.(type) {
		case string:
			return append(dst, v...), nil
		case []byte:
			return append(dst, v...), nil
		}
	}
	return connectjson.Append(dst, r.ValueSchema, r.Value, t.cfg.jsonOptions)
}

func (t *sinkTask) report(rec *connectors.Record, err error) error {
	t.reportMu.Lock()
	defer t.reportMu.Unlock()
	return t.tc.Report(rec, err)
}

// sendAll sends every partition's batches, partitions in parallel up to
// max.concurrent.requests. It returns the first error that stops the task
// (the error handler refusing a record), else a retriable error if some
// batch could not be sent; batches dealt with are added to handled either
// way.
func (t *sinkTask) sendAll(parent context.Context, plans []*partitionPlan) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		mu        sync.Mutex
		fatal     error
		retriable error
		handled   []batchID
	)
	work := func(p *partitionPlan) {
		for _, b := range p.batches {
			if _, done := t.handled[b.id]; done {
				continue
			}
			err := t.send(ctx, b)
			var se *statusError
			switch {
			case err == nil:
			case errors.As(err, &se) && se.permanent:
				for _, r := range b.recs {
					if rerr := t.report(r, err); rerr != nil {
						mu.Lock()
						if fatal == nil {
							fatal = rerr
						}
						mu.Unlock()
						cancel()
						return
					}
				}
			default:
				var oe *oauthError
				mu.Lock()
				if errors.As(err, &oe) && oe.permanent {
					if fatal == nil {
						fatal = err
					}
					mu.Unlock()
					cancel()
					return
				}
				if retriable == nil {
					retriable = err
				}
				mu.Unlock()
				// Later batches of this partition must not overtake this one.
				return
			}
			mu.Lock()
			handled = append(handled, b.id)
			mu.Unlock()
		}
	}
	// The workers only read t.handled; it is written below, after they are
	// done.
	if t.cfg.concurrency == 1 || len(plans) == 1 {
		for _, p := range plans {
			if ctx.Err() != nil {
				break
			}
			work(p)
		}
	} else {
		next := make(chan *partitionPlan)
		var wg sync.WaitGroup
		for range min(t.cfg.concurrency, len(plans)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for p := range next {
					work(p)
				}
			}()
		}
	feed:
		for _, p := range plans {
			select {
			case next <- p:
			case <-ctx.Done():
				break feed
			}
		}
		close(next)
		wg.Wait()
	}
	for _, id := range handled {
		t.handled[id] = struct{}{}
	}
	switch {
	case fatal != nil:
		return fatal
	case parent.Err() != nil:
		return parent.Err()
	case retriable != nil:
		return connectors.Retriable(retriable)
	}
	return nil
}

// statusError is a non-2xx response. A permanent one is not retried: its
// batch goes to the error handler.
type statusError struct {
	method, url string
	status      int
	excerpt     string
	permanent   bool
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("http sink: %s %s answered %d %s", e.method, e.url, e.status, http.StatusText(e.status))
	if e.excerpt != "" {
		msg += ": " + e.excerpt
	}
	return msg
}

// send sends one batch with retries. It returns nil on 2xx, a permanent
// *statusError for a status not retried, a permanent *oauthError when the
// token endpoint refuses the credentials, or the last error when the
// retries are used up or ctx is done.
func (t *sinkTask) send(ctx context.Context, b *batch) error {
	oauthRetried := false
	for attempt := 0; ; attempt++ {
		status, excerpt, header, err := t.do(ctx, b)
		if ctx.Err() != nil {
			return fmt.Errorf("http sink: %s %s: %w", b.method, displayURL(b.id.url), ctx.Err())
		}
		if err == nil && status >= 200 && status < 300 {
			return nil
		}
		var retryAfter time.Duration
		var hasRetryAfter bool
		if err == nil {
			if status == http.StatusUnauthorized && t.oauth != nil && !oauthRetried {
				// The token may have been revoked or may have expired early:
				// fetch a new one, once, without counting a retry.
				t.oauth.invalidate()
				oauthRetried = true
				attempt--
				continue
			}
			se := &statusError{method: b.method, url: displayURL(b.id.url), status: status, excerpt: excerpt}
			if !t.cfg.retryOn.has(status) {
				se.permanent = true
				return se
			}
			err = se
			retryAfter, hasRetryAfter = parseRetryAfter(header.Get("Retry-After"), time.Now())
		} else {
			var oe *oauthError
			if errors.As(err, &oe) && oe.permanent {
				return err
			}
		}
		if attempt >= t.cfg.maxRetries {
			return fmt.Errorf("%w (gave up after %d retries)", err, t.cfg.maxRetries)
		}
		wait := t.cfg.backoff.delay(attempt)
		if hasRetryAfter {
			wait = min(retryAfter, t.cfg.backoff.max)
		}
		t.log.Warn("http sink: request failed, retrying", "batch", fmt.Sprintf("%s@%d-%d", b.id.tp, b.id.first, b.id.last),
			"retry", attempt+1, "max.retries", t.cfg.maxRetries, "wait", wait, "error", err)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("http sink: %s %s: %w", b.method, displayURL(b.id.url), ctx.Err())
		}
	}
}

// do makes one request and returns its status, the start of its body when
// it is not 2xx, and its headers.
func (t *sinkTask) do(ctx context.Context, b *batch) (int, string, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.requestTO)
	defer cancel()
	var body io.Reader
	if b.method != http.MethodDelete {
		body = bytes.NewReader(b.body)
	}
	req, err := http.NewRequestWithContext(ctx, b.method, b.id.url, body)
	if err != nil {
		return 0, "", nil, fmt.Errorf("http sink: build request for %s: %w", displayURL(b.id.url), err)
	}
	if body != nil {
		req.Header.Set("Content-Type", t.cfg.contentType)
	}
	req.Header.Set("User-Agent", "sluice-http-sink")
	if t.cfg.idemHeader != "" {
		req.Header.Set(t.cfg.idemHeader, idempotencyKey(b.id))
	}
	for _, h := range t.cfg.headers {
		req.Header.Set(h[0], h[1])
	}
	switch t.cfg.authType {
	case authBasic:
		req.SetBasicAuth(t.cfg.user, t.cfg.password.Reveal())
	case authBearer:
		req.Header.Set("Authorization", "Bearer "+t.cfg.bearer.Reveal())
	case authOAuth2:
		tok, err := t.oauth.token(ctx)
		if err != nil {
			return 0, "", nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, "", nil, fmt.Errorf("http sink: %s %s: %w", b.method, displayURL(b.id.url), unwrapURLError(err))
	}
	defer resp.Body.Close()
	var excerpt string
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		buf := make([]byte, responseExcerpt)
		n, _ := io.ReadFull(resp.Body, buf)
		excerpt = strings.TrimSpace(strings.ToValidUTF8(string(buf[:n]), "?"))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	return resp.StatusCode, excerpt, resp.Header, nil
}

// idempotencyKey is <topic>-<partition>-<first offset>-<last offset>.
func idempotencyKey(id batchID) string {
	b := make([]byte, 0, len(id.tp.Topic)+40)
	b = append(b, id.tp.Topic...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(id.tp.Partition), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, id.first, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, id.last, 10)
	return string(b)
}

// displayURL drops user info and the query, which may hold credentials,
// from URLs in errors and logs.
func displayURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}

// unwrapURLError drops *url.Error's "Post \"<url>\":" prefix, which would
// print the query that displayURL hides.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
