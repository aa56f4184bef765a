// Package schemaregistry is Sluice's one client of a Confluent-compatible
// Schema Registry (Confluent's, Redpanda's, Apicurio's ccompat API, or
// Sluice's own embedded registry in serde/registry), and the one
// implementation of the Confluent wire format (magic byte 0, 4-byte schema
// id). The Avro serdes, the Kafka Connect Avro converter, job files and the
// `sluice produce/consume/schemas` commands all go through it, so they
// authenticate, time out and classify failures alike.
//
// Start with a client:
//
//	client, err := schemaregistry.NewClient("https://sr:8081", schemaregistry.WithBasicAuth("app", "secret"))
//	orders, err := avro.New[Order](client, orderSchema)
//
// Every failed request returns an [*Error] whose Kind is [ErrNotFound],
// [ErrUnavailable] (which wraps serde.ErrTransient: retrying may succeed)
// or [ErrRejected]; test with errors.Is.
//
// The HTTP work is done by franz-go's pkg/sr, maintained beside the Kafka
// client Sluice uses; its typed errors (status and Confluent error code)
// are what make the classification exact. Client adds what Sluice needs
// on top: credentials from the URL's user info, a cache of schemas by id,
// reference resolution, and the classification.
package schemaregistry

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// Option configures [NewClient].
type Option func(*options)

type options struct {
	user, password string
	basic          bool
	bearerToken    string
	tlsConfig      *tls.Config
	timeout        time.Duration
	httpClient     *http.Client
}

// WithBasicAuth sets the HTTP basic-auth credentials sent with every
// request (Confluent's basic.auth.user.info). Default: none, or the user
// info of the registry URL.
func WithBasicAuth(user, password string) Option {
	return func(o *options) { o.user, o.password, o.basic = user, password, true }
}

// WithBearerToken sends "Authorization: Bearer <token>" with every request
// (Confluent's bearer.auth.token with
// bearer.auth.credentials.source=STATIC_TOKEN). It replaces basic auth when
// both are given. Default: none.
func WithBearerToken(token string) Option {
	return func(o *options) { o.bearerToken = token }
}

// WithTLSConfig sets the TLS configuration of https registry URLs: the CA
// certificates to trust (RootCAs) and a client certificate for mutual TLS.
// Default: Go's (the system's roots, no client certificate). Ignored when
// [WithHTTPClient] is given (configure TLS on that client's transport).
func WithTLSConfig(cfg *tls.Config) Option {
	return func(o *options) { o.tlsConfig = cfg }
}

// WithTimeout bounds each registry request. Default: 5 s. Ignored when
// [WithHTTPClient] is given (set the timeout on that client).
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithHTTPClient sets the HTTP client (for proxies, custom transports);
// it is not modified, and the credentials are added to each request.
// Default: a client over a copy of http.DefaultTransport with the
// [WithTimeout] timeout and the [WithTLSConfig] configuration.
func WithHTTPClient(client *http.Client) Option {
	return func(o *options) { o.httpClient = client }
}

// Client talks to one schema registry. It is safe for concurrent use;
// share one per registry: it caches schemas by id (ids are immutable).
type Client struct {
	sr   *sr.Client
	base string // without user info: safe for errors and logs

	mu   sync.Mutex
	byID map[int]sr.SubjectSchema
}

// NewClient returns a client for the registry at rawURL
// ("http://host:8081"). User info in the URL (https://user:password@host)
// is basic auth unless an option sets credentials; it never appears in
// errors. NewClient makes no request.
func NewClient(rawURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Not quoted back: the URL may hold a password.
		return nil, errors.New("schemaregistry: registry URL: want http(s)://host:port")
	}
	o := options{timeout: 5 * time.Second}
	if u.User != nil {
		o.user = u.User.Username()
		o.password, _ = u.User.Password()
		o.basic = true
		u.User = nil
	}
	for _, opt := range opts {
		opt(&o)
	}
	var httpClient *http.Client
	if o.httpClient != nil {
		copied := *o.httpClient
		httpClient = &copied
	} else {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		if o.tlsConfig != nil {
			transport.TLSClientConfig = o.tlsConfig.Clone()
		}
		httpClient = &http.Client{Timeout: o.timeout, Transport: transport}
	}
	next := httpClient.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	httpClient.Transport = errorBodyTransport{next: next}
	base := strings.TrimRight(u.String(), "/")
	srOpts := []sr.ClientOpt{sr.URLs(base), sr.HTTPClient(httpClient), sr.UserAgent("sluice")}
	switch {
	case o.bearerToken != "":
		srOpts = append(srOpts, sr.BearerToken(o.bearerToken))
	case o.basic:
		srOpts = append(srOpts, sr.BasicAuth(o.user, o.password))
	}
	client, err := sr.NewClient(srOpts...)
	if err != nil {
		return nil, &Error{Kind: ErrRejected, Err: err}
	}
	return &Client{sr: client, base: base, byID: map[int]sr.SubjectSchema{}}, nil
}

// URL is the registry's base URL, without credentials.
func (c *Client) URL() string { return c.base }

// SR returns the underlying franz-go client, for registry calls Client
// does not wrap. Its errors are not classified: pass them through
// [Classify].
func (c *Client) SR() *sr.Client { return c.sr }

// SchemaByID returns the schema with a global id (Subject and Version
// unset). Schemas are cached by id: a second call makes no request.
func (c *Client) SchemaByID(ctx context.Context, id int) (sr.SubjectSchema, error) {
	c.mu.Lock()
	s, ok := c.byID[id]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	got, err := c.sr.SchemaByID(ctx, id)
	if err != nil {
		return sr.SubjectSchema{}, classify(http.MethodGet, "/schemas/ids/"+itoa(id), err)
	}
	s = sr.SubjectSchema{ID: id, Schema: got}
	c.mu.Lock()
	c.byID[id] = s
	c.mu.Unlock()
	return s, nil
}

// SchemaByVersion returns a version of subject; version -1 is the latest.
func (c *Client) SchemaByVersion(ctx context.Context, subject string, version int) (sr.SubjectSchema, error) {
	got, err := c.sr.SchemaByVersion(ctx, subject, version)
	if err != nil {
		return sr.SubjectSchema{}, classify(http.MethodGet, subjectPath(subject)+"/versions/"+versionString(version), err)
	}
	if got.Subject == "" {
		got.Subject = subject
	}
	return got, nil
}

// Register registers schema under subject and returns its global id;
// registering a schema already there returns its existing id.
func (c *Client) Register(ctx context.Context, subject string, schema sr.Schema) (int, error) {
	id, err := c.sr.RegisterSchema(ctx, subject, schema, -1, -1)
	if err != nil {
		return 0, classify(http.MethodPost, subjectPath(subject)+"/versions", err)
	}
	return id, nil
}

// Lookup returns the id and version of schema under subject; an
// [ErrNotFound] error when it is not registered there.
func (c *Client) Lookup(ctx context.Context, subject string, schema sr.Schema) (sr.SubjectSchema, error) {
	got, err := c.sr.LookupSchema(ctx, subject, schema)
	if err != nil {
		return sr.SubjectSchema{}, classify(http.MethodPost, subjectPath(subject), err)
	}
	return got, nil
}

// Subjects lists the registered subjects.
func (c *Client) Subjects(ctx context.Context) ([]string, error) {
	got, err := c.sr.Subjects(ctx)
	if err != nil {
		return nil, classify(http.MethodGet, "/subjects", err)
	}
	return got, nil
}

// Versions lists the version numbers of subject.
func (c *Client) Versions(ctx context.Context, subject string) ([]int, error) {
	got, err := c.sr.SubjectVersions(ctx, subject)
	if err != nil {
		return nil, classify(http.MethodGet, subjectPath(subject)+"/versions", err)
	}
	return got, nil
}

// Level returns the compatibility level in force for subject (its own, or
// the global one), as the registry spells it ("BACKWARD", ...).
func (c *Client) Level(ctx context.Context, subject string) (string, error) {
	res := c.sr.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), subject)[0]
	err := classify(http.MethodGet, "/config/"+url.PathEscape(subject), res.Err)
	if errors.Is(err, ErrNotFound) {
		// Registries older than Confluent 5.5 answer 404 for a subject
		// without its own level instead of falling back.
		res = c.sr.Compatibility(ctx)[0]
		err = classify(http.MethodGet, "/config", res.Err)
	}
	if err != nil {
		return "", err
	}
	return res.Level.String(), nil
}

// CheckCompatibility asks the registry whether schema may be registered
// under subject: against version (-1 the latest) or, with version -2,
// against the versions the subject's level says (all of them for
// transitive levels). messages are the registry's verbose messages.
func (c *Client) CheckCompatibility(ctx context.Context, subject string, version int, schema sr.Schema) (compatible bool, messages []string, err error) {
	res, err := c.sr.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), subject, version, schema)
	if err != nil {
		path := "/compatibility" + subjectPath(subject) + "/versions"
		if version != -2 {
			path += "/" + versionString(version)
		}
		return false, nil, classify(http.MethodPost, path, err)
	}
	return res.Is, res.Messages, nil
}

func subjectPath(subject string) string { return "/subjects/" + url.PathEscape(subject) }

func versionString(version int) string {
	if version == -1 {
		return "latest"
	}
	return itoa(version)
}

// errorBodyTransport reads the body of an error answer (status 300 and
// up) before handing the response on, and keeps what it got when the
// connection breaks midway. franz-go's client reads the body before it
// looks at the status, so a server that answers and closes at once (Go's
// TLS server answering plain HTTP with 400, then resetting the
// connection) would otherwise be reported as a transport failure — which
// is transient — instead of the 400 it is: a configuration to fix.
type errorBodyTransport struct{ next http.RoundTripper }

func (t errorBodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 300 {
		return resp, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20)) // an error message, not data
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
