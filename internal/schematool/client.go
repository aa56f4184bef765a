// Package schematool is the library behind `sluice schemas`: it registers
// .avsc files, checks them against a subject's registered versions (for CI
// gates), and reads subjects, versions and schemas, all over the Confluent
// Schema Registry REST API so it works against any compatible registry.
//
// Start with a client:
//
//	c, err := schematool.NewClient("http://localhost:8081", schematool.WithBasicAuth("user", "pass"))
//	res, err := schematool.Check(ctx, c, schematool.CheckRequest{Subject: "orders-value", Schema: text})
//	for _, p := range res.Problems { fmt.Println(p) }
package schematool

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/registryconf"
)

// Client talks to one schema registry. It is safe for concurrent use.
type Client struct {
	base       string
	user, pass string
	bearer     string
	tlsConfig  *tls.Config
	http       *http.Client
}

// ClientOption configures NewClient.
type ClientOption func(*Client)

// WithBasicAuth sends HTTP basic-auth credentials. Default: none, or the
// user info of the registry URL.
func WithBasicAuth(user, password string) ClientOption {
	return func(c *Client) { c.user, c.pass = user, password }
}

// WithBearerToken sends "Authorization: Bearer <token>" (Confluent's
// bearer.auth.token) instead of basic auth. Default: none.
func WithBearerToken(token string) ClientOption {
	return func(c *Client) { c.bearer = token }
}

// WithTLSConfig sets the TLS configuration of an https registry: CA
// certificates to trust, a client certificate. Default: Go's (the system's
// roots). Ignored with WithHTTPClient (configure that client's transport).
func WithTLSConfig(cfg *tls.Config) ClientOption {
	return func(c *Client) { c.tlsConfig = cfg }
}

// WithHTTPClient sets the HTTP client. Default: a client with a 30 s
// timeout over a copy of http.DefaultTransport.
func WithHTTPClient(h *http.Client) ClientOption {
	return func(c *Client) { c.http = h }
}

// NewClient returns a client for the registry at baseURL
// ("http://host:8081"). User info in the URL (https://user:password@host)
// is basic auth unless an option sets credentials; it never appears in
// errors. It makes no request.
func NewClient(baseURL string, opts ...ClientOption) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Not quoted back: the URL may hold a password.
		return nil, errors.New("schematool: registry URL: want http(s)://host:port")
	}
	c := &Client{}
	if u.User != nil {
		c.user = u.User.Username()
		c.pass, _ = u.User.Password()
		u.User = nil
	}
	c.base = strings.TrimRight(u.String(), "/")
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		if c.tlsConfig != nil {
			transport.TLSClientConfig = c.tlsConfig.Clone()
		}
		c.http = &http.Client{Timeout: 30 * time.Second, Transport: transport}
	}
	return c, nil
}

// NewClientFromConfig returns a client for the registry of cfg (Confluent's
// client settings): it validates them and reads the TLS files. opts come
// after the settings' own.
func NewClientFromConfig(cfg registryconf.Config, opts ...ClientOption) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("schematool: %w", err)
	}
	tc, err := cfg.TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("schematool: %w", err)
	}
	var own []ClientOption
	if tc != nil {
		own = append(own, WithTLSConfig(tc))
	}
	if user, password, ok := cfg.BasicAuth(); ok {
		own = append(own, WithBasicAuth(user, password))
	}
	if token := cfg.BearerToken(); token != "" {
		own = append(own, WithBearerToken(token))
	}
	return NewClient(cfg.BaseURL(), append(own, opts...)...)
}

// ParseBasicAuth splits a --basic-auth "user:password" flag value.
func ParseBasicAuth(s string) (user, password string, err error) {
	user, password, ok := strings.Cut(s, ":")
	if !ok || user == "" {
		// Not quoted back: it is a password.
		return "", "", errors.New("--basic-auth: want user:password")
	}
	return user, password, nil
}

// URL is the registry's base URL.
func (c *Client) URL() string { return c.base }

// RegistryError is returned when the registry answers with an error status.
// Code is Confluent's error_code (40401 subject not found, 40402 version not
// found, 40403 schema not found, 409 incompatible, 42201 invalid schema, ...).
type RegistryError struct {
	Status  int
	Code    int
	Message string
	Method  string
	Path    string
}

func (e *RegistryError) Error() string {
	return fmt.Sprintf("schematool: registry %s %s: HTTP %d (error %d): %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

// NotFound reports whether the registry said the subject, version or
// schema does not exist.
func (e *RegistryError) NotFound() bool { return e.Status == http.StatusNotFound }

// do sends a request and decodes a JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("schematool: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json, application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	switch {
	case c.bearer != "":
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	case c.user != "" || c.pass != "":
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if cause := registryconf.Explain(err); cause != "" {
			return fmt.Errorf("schematool: registry %s: %s: %w", c.base, cause, err)
		}
		return fmt.Errorf("schematool: registry %s unreachable: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("schematool: %s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		re := &RegistryError{Status: resp.StatusCode, Method: method, Path: path}
		var e struct {
			Code    int    `json:"error_code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &e) == nil && (e.Code != 0 || e.Message != "") {
			re.Code, re.Message = e.Code, e.Message
		} else {
			re.Code, re.Message = resp.StatusCode, strings.TrimSpace(string(data))
		}
		switch {
		case resp.StatusCode == http.StatusUnauthorized:
			re.Message += " (check the credentials: --basic-auth, or basic.auth.user.info or bearer.auth.token in --registry-config)"
		case strings.Contains(re.Message, "Client sent an HTTP request to an HTTPS server"):
			re.Message += " (" + registryconf.Explain(errors.New(re.Message)) + ")"
		}
		return re
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("schematool: %s %s: not a schema registry response: %w", method, path, err)
	}
	return nil
}

// Reference is a schema reference (a named type defined under another subject).
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Schema is one registered schema version.
type Schema struct {
	Subject    string      `json:"subject,omitempty"`
	Version    int         `json:"version,omitempty"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	Schema     string      `json:"schema"`
	References []Reference `json:"references,omitempty"`
}

type schemaRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
}

func subjectPath(subject string) string { return "/subjects/" + url.PathEscape(subject) }

// Register registers schema (Avro) under subject and returns its global id.
// Registering a schema already there returns its existing id.
func (c *Client) Register(ctx context.Context, subject, schema string) (int, error) {
	var out struct {
		ID int `json:"id"`
	}
	err := c.do(ctx, http.MethodPost, subjectPath(subject)+"/versions", schemaRequest{Schema: schema}, &out)
	return out.ID, err
}

// Version returns a version of subject: a number or "latest".
func (c *Client) Version(ctx context.Context, subject, version string) (*Schema, error) {
	var out Schema
	if err := c.do(ctx, http.MethodGet, subjectPath(subject)+"/versions/"+url.PathEscape(version), nil, &out); err != nil {
		return nil, err
	}
	if out.Subject == "" {
		out.Subject = subject
	}
	return &out, nil
}

// SchemaByID returns the schema with a global id (Subject and Version unset).
func (c *Client) SchemaByID(ctx context.Context, id int) (*Schema, error) {
	var out Schema
	if err := c.do(ctx, http.MethodGet, "/schemas/ids/"+strconv.Itoa(id), nil, &out); err != nil {
		return nil, err
	}
	out.ID = id
	return &out, nil
}

// Subjects lists the registered subjects.
func (c *Client) Subjects(ctx context.Context) ([]string, error) {
	var out []string
	err := c.do(ctx, http.MethodGet, "/subjects", nil, &out)
	return out, err
}

// Versions lists the version numbers of subject.
func (c *Client) Versions(ctx context.Context, subject string) ([]int, error) {
	var out []int
	err := c.do(ctx, http.MethodGet, subjectPath(subject)+"/versions", nil, &out)
	return out, err
}

// Level returns the compatibility level in force for subject: its own, or
// the global one.
func (c *Client) Level(ctx context.Context, subject string) (string, error) {
	var out struct {
		Level string `json:"compatibilityLevel"`
	}
	err := c.do(ctx, http.MethodGet, "/config/"+url.PathEscape(subject)+"?defaultToGlobal=true", nil, &out)
	var re *RegistryError
	if errors.As(err, &re) && re.NotFound() {
		// Registries older than Confluent 5.5 answer 404 for a subject
		// without its own level instead of falling back.
		err = c.do(ctx, http.MethodGet, "/config", nil, &out)
	}
	if err != nil {
		return "", err
	}
	return strings.ToUpper(out.Level), nil
}

// TestCompatibility asks the registry whether schema may be registered
// under subject: against version ("latest" or a number) or, with version
// "", against the versions the subject's level says (all of them for
// transitive levels). messages are Confluent's verbose messages.
func (c *Client) TestCompatibility(ctx context.Context, subject, version, schema string) (compatible bool, messages []string, err error) {
	path := "/compatibility" + subjectPath(subject) + "/versions"
	if version != "" {
		path += "/" + url.PathEscape(version)
	}
	var out struct {
		IsCompatible bool     `json:"is_compatible"`
		Messages     []string `json:"messages"`
	}
	if err := c.do(ctx, http.MethodPost, path+"?verbose=true", schemaRequest{Schema: schema}, &out); err != nil {
		return false, nil, err
	}
	return out.IsCompatible, out.Messages, nil
}
