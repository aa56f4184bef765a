package avro

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	havro "github.com/hamba/avro/v2"
	"github.com/riferrei/srclient"
)

// ClientOption configures [NewClient].
type ClientOption func(*clientConfig)

type clientConfig struct {
	username, password string
	bearerToken        string
	tlsConfig          *tls.Config
	timeout            time.Duration
	httpClient         *http.Client
}

// WithBasicAuth sets the HTTP basic-auth credentials sent to the registry
// (Confluent's basic.auth.user.info). Default: none.
func WithBasicAuth(username, password string) ClientOption {
	return func(c *clientConfig) { c.username, c.password = username, password }
}

// WithBearerToken sends "Authorization: Bearer <token>" with every
// registry request (Confluent's bearer.auth.token with
// bearer.auth.credentials.source=STATIC_TOKEN). It replaces [WithBasicAuth]
// when both are given. Default: none.
func WithBearerToken(token string) ClientOption {
	return func(c *clientConfig) { c.bearerToken = token }
}

// WithTLSConfig sets the TLS configuration of https registry URLs: the
// CA certificates to trust (RootCAs) and a client certificate for mutual
// TLS. Default: Go's defaults (the system's roots, no client certificate).
// Ignored when [WithHTTPClient] is given (configure TLS on that client's
// transport).
func WithTLSConfig(cfg *tls.Config) ClientOption {
	return func(c *clientConfig) { c.tlsConfig = cfg }
}

// WithTimeout bounds each registry HTTP request. Default: 5 s. Ignored when
// [WithHTTPClient] is given (set the timeout on that client).
func WithTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.timeout = d }
}

// WithHTTPClient sets the HTTP client used for registry requests (for
// proxies, custom transports). Credentials of [WithBasicAuth] and
// [WithBearerToken] are added to its requests; the client itself is not
// modified. Default: a new client over a copy of http.DefaultTransport with
// the [WithTimeout] timeout and the [WithTLSConfig] configuration.
func WithHTTPClient(client *http.Client) ClientOption {
	return func(c *clientConfig) { c.httpClient = client }
}

// NewClient returns a schema-registry client for the registry at url (for
// example "http://localhost:8081"). It makes no request until a serde needs a
// schema. Share one client among serdes: it caches schemas by id.
func NewClient(url string, opts ...ClientOption) *srclient.SchemaRegistryClient {
	cfg := clientConfig{timeout: 5 * time.Second}
	for _, opt := range opts {
		opt(&cfg)
	}
	var httpClient *http.Client
	if cfg.httpClient != nil {
		copied := *cfg.httpClient
		httpClient = &copied
	} else {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.tlsConfig != nil {
			transport.TLSClientConfig = cfg.tlsConfig.Clone()
		}
		httpClient = &http.Client{Timeout: cfg.timeout, Transport: transport}
	}
	// Credentials go on in a RoundTripper rather than through srclient's
	// SetCredentials and SetBearerToken: srclient sends basic auth only
	// with a non-empty password, and sends a bearer token as "Basic" when a
	// request path contains "confluent.cloud".
	if cfg.bearerToken != "" || cfg.username != "" || cfg.password != "" {
		next := httpClient.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		auth := &authTransport{next: next, bearer: cfg.bearerToken}
		if cfg.bearerToken == "" {
			auth.user, auth.password, auth.basic = cfg.username, cfg.password, true
		}
		httpClient.Transport = auth
	}
	return srclient.NewSchemaRegistryClient(strings.TrimRight(url, "/"), srclient.WithClient(httpClient))
}

// authTransport adds the registry credentials to every request. The
// credentials never reach an error: net/http's errors name the URL (with
// any password in it redacted), not headers.
type authTransport struct {
	next           http.RoundTripper
	basic          bool
	user, password string
	bearer         string
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A RoundTripper must not modify the caller's request.
	r := req.Clone(req.Context())
	if t.basic {
		r.SetBasicAuth(t.user, t.password)
	} else {
		r.Header.Set("Authorization", "Bearer "+t.bearer)
	}
	return t.next.RoundTrip(r)
}

// registryErrorClass is what a registry failure means to the caller.
type registryErrorClass int

const (
	registryNotFound registryErrorClass = iota
	registryUnavailable
	registryRejected
)

// classifyRegistryError sorts an error from srclient into not found,
// unavailable (worth retrying) and rejected. srclient reports errors in
// several shapes: srclient.Error with the registry's error_code (40403,
// 50001) for JSON error bodies, a bare fmt error holding the HTTP status line
// ("404 Not Found") for other bodies, *url.Error for transport failures, JSON
// decoding errors for non-registry responses, and — in its mock client —
// *url.Error or plain errors wrapping unexported "schema not found" errors.
func classifyRegistryError(err error) registryErrorClass {
	var regErr srclient.Error
	if errors.As(err, &regErr) {
		status := regErr.Code
		if status >= 10000 { // Confluent error codes are the status and two more digits.
			status /= 100
		}
		return classifyStatus(status)
	}
	var regErrPtr *srclient.Error
	if errors.As(err, &regErrPtr) && regErrPtr != nil {
		status := regErrPtr.Code
		if status >= 10000 {
			status /= 100
		}
		return classifyStatus(status)
	}
	msg := err.Error()
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		msg = urlErr.Err.Error()
	}
	switch msg {
	case "schema not found", "subject not found": // srclient's mock client
		return registryNotFound
	case "not implemented", "schema already registered":
		return registryRejected
	}
	if tlsRejected(err) {
		return registryRejected
	}
	if urlErr != nil {
		return registryUnavailable
	}
	if len(msg) >= 3 {
		if status, convErr := strconv.Atoi(msg[:3]); convErr == nil && (len(msg) == 3 || msg[3] == ' ') {
			return classifyStatus(status)
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return registryUnavailable
	}
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &syntaxErr) || errors.As(err, &typeErr) {
		return registryRejected
	}
	// Unknown shapes are most likely I/O trouble; retrying is the safer
	// default than dead-lettering a good record.
	return registryUnavailable
}

// tlsRejected reports whether err is a TLS failure that retrying cannot
// fix: the registry's certificate is not trusted or not valid for its
// host, the registry refused the handshake (a client certificate it
// requires), or an https URL points at a plain-HTTP listener. Like a 401,
// it needs a configuration change, not a retry.
func tlsRejected(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verification     *tls.CertificateVerificationError
		alert            tls.AlertError
		header           tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalid),
		errors.As(err, &verification), errors.As(err, &alert), errors.As(err, &header):
		return true
	}
	// net/http reports a TLS client talking to a plain-HTTP server with
	// this fixed message and no error type.
	return strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

func classifyStatus(status int) registryErrorClass {
	switch {
	case status == http.StatusNotFound:
		return registryNotFound
	case status >= 500, status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return registryUnavailable
	default:
		return registryRejected
	}
}

// maxReferenceDepth bounds schema-reference chains, which the registry
// should never make cyclic but a misbehaving one could.
const maxReferenceDepth = 32

// parseRegistrySchema parses a schema fetched from the registry into a fresh
// schema cache of its own, after fetching and parsing its references (named
// types from other subjects) into the same cache. hamba/avro's default cache
// keeps one schema per full name, so two versions of the same record would
// silently collide in it.
func parseRegistrySchema(client srclient.ISchemaRegistryClient, schema *srclient.Schema) (havro.Schema, error) {
	if t := schema.SchemaType(); t != nil && *t != srclient.Avro {
		return nil, fmt.Errorf("schema type is %s, not AVRO", *t)
	}
	cache := &havro.SchemaCache{}
	if err := parseReferences(client, cache, schema.References(), map[string]bool{}, 0); err != nil {
		return nil, err
	}
	return havro.ParseWithCache(schema.Schema(), "", cache)
}

func parseReferences(client srclient.ISchemaRegistryClient, cache *havro.SchemaCache, refs []srclient.Reference, seen map[string]bool, depth int) error {
	if len(refs) > 0 && depth >= maxReferenceDepth {
		return fmt.Errorf("schema references nested deeper than %d", maxReferenceDepth)
	}
	for _, ref := range refs {
		key := ref.Subject + "\x00" + strconv.Itoa(ref.Version)
		if seen[key] {
			continue
		}
		seen[key] = true
		refSchema, err := client.GetSchemaByVersion(ref.Subject, ref.Version)
		if err != nil {
			return &referenceError{ref: ref, err: err}
		}
		if err := parseReferences(client, cache, refSchema.References(), seen, depth+1); err != nil {
			return err
		}
		if _, err := havro.ParseWithCache(refSchema.Schema(), "", cache); err != nil {
			return fmt.Errorf("reference %q (subject %q version %d): %w", ref.Name, ref.Subject, ref.Version, err)
		}
	}
	return nil
}

// referenceError is a registry failure while fetching a referenced schema;
// it keeps the registry error classifiable.
type referenceError struct {
	ref srclient.Reference
	err error
}

func (e *referenceError) Error() string {
	return fmt.Sprintf("fetch reference %q (subject %q version %d): %v", e.ref.Name, e.ref.Subject, e.ref.Version, e.err)
}

func (e *referenceError) Unwrap() error { return e.err }
