// Package registryconf reads Schema Registry client settings under the
// property names of Confluent's clients (schema.registry.url,
// basic.auth.*, bearer.auth.*, schema.registry.ssl.*), checks how they
// combine, loads the certificate files they name and explains TLS
// failures with the property to change. The Avro converter, job files'
// registry section and the CLI's --registry-config all go through it, so
// they accept the same settings and report the same mistakes.
//
// Start with a Config:
//
//	cfg, err := registryconf.Parse(props) // or fill the fields
//	client, err := cfg.NewClient()        // validates and reads the files
package registryconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/internal/pemtls"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// Property names, as Confluent's Java serializers and converters spell
// them.
const (
	URL                         = "schema.registry.url"
	BasicAuthCredentialsSource  = "basic.auth.credentials.source"
	BasicAuthUserInfo           = "basic.auth.user.info"
	BearerAuthCredentialsSource = "bearer.auth.credentials.source"
	BearerAuthToken             = "bearer.auth.token"
	SSLCALocation               = "schema.registry.ssl.ca.location"
	SSLCertificateLocation      = "schema.registry.ssl.certificate.location"
	SSLKeyLocation              = "schema.registry.ssl.key.location"
)

// Credential sources (the values of the *.credentials.source properties
// that Sluice supports).
const (
	SourceURL         = "URL"          // basic auth from the user info of schema.registry.url
	SourceUserInfo    = "USER_INFO"    // basic auth from basic.auth.user.info
	SourceStaticToken = "STATIC_TOKEN" // bearer auth with bearer.auth.token
)

// aliases are the names librdkafka-based clients (confluent-kafka-go,
// -python, -dotnet) use for the same settings.
var aliases = map[string]string{
	"schema.registry.basic.auth.credentials.source":  BasicAuthCredentialsSource,
	"schema.registry.basic.auth.user.info":           BasicAuthUserInfo,
	"schema.registry.bearer.auth.credentials.source": BearerAuthCredentialsSource,
	"schema.registry.bearer.auth.token":              BearerAuthToken,
}

// unsupported are settings of Confluent's clients that Sluice does not
// read, with what to do instead.
var unsupported = map[string]string{
	"schema.registry.ssl.truststore.location": "Java key stores are not read: export the CA certificates as PEM and set " + SSLCALocation,
	"schema.registry.ssl.truststore.password": "Java key stores are not read: export the CA certificates as PEM and set " + SSLCALocation,
	"schema.registry.ssl.truststore.type":     "Java key stores are not read: export the CA certificates as PEM and set " + SSLCALocation,
	"schema.registry.ssl.keystore.location":   "Java key stores are not read: export the client certificate and key as PEM and set " + SSLCertificateLocation + " and " + SSLKeyLocation,
	"schema.registry.ssl.keystore.password":   "Java key stores are not read: export the client certificate and key as PEM and set " + SSLCertificateLocation + " and " + SSLKeyLocation,
	"schema.registry.ssl.keystore.type":       "Java key stores are not read: export the client certificate and key as PEM and set " + SSLCertificateLocation + " and " + SSLKeyLocation,
	"schema.registry.ssl.key.password":        "encrypted private keys are not read: decrypt the key (openssl pkey -in key.pem -out plain.pem) and set " + SSLKeyLocation,
	"bearer.auth.client.id":                   "only " + BearerAuthCredentialsSource + "=" + SourceStaticToken + " is supported: fetch a token and set " + BearerAuthToken,
	"bearer.auth.client.secret":               "only " + BearerAuthCredentialsSource + "=" + SourceStaticToken + " is supported: fetch a token and set " + BearerAuthToken,
	"bearer.auth.issuer.endpoint.url":         "only " + BearerAuthCredentialsSource + "=" + SourceStaticToken + " is supported: fetch a token and set " + BearerAuthToken,
}

// Config is a registry client's connection settings. The zero value is a
// registry URL-less, unauthenticated, system-roots client; Validate
// checks the combination. Print it freely: String and GoString hide the
// password and the token.
type Config struct {
	// URL is the registry's URL (schema.registry.url), one only. User info
	// in it (https://user:password@host) is basic auth with
	// BasicAuthCredentialsSource URL or unset.
	URL string
	// BasicAuthCredentialsSource is URL, USER_INFO or empty: USER_INFO
	// when BasicAuthUserInfo is set, URL otherwise.
	BasicAuthCredentialsSource string
	// BasicAuthUserInfo is user:password (basic.auth.user.info).
	BasicAuthUserInfo string
	// BearerAuthCredentialsSource is STATIC_TOKEN or empty (STATIC_TOKEN
	// when BearerAuthToken is set).
	BearerAuthCredentialsSource string
	// BearerAuthToken is sent as "Authorization: Bearer <token>"
	// (bearer.auth.token).
	BearerAuthToken string
	// SSLCALocation is a PEM file of the CA certificates to trust
	// (schema.registry.ssl.ca.location); empty: the system's roots.
	SSLCALocation string
	// SSLCertificateLocation and SSLKeyLocation are the PEM client
	// certificate and its unencrypted key, for mutual TLS; both or neither.
	SSLCertificateLocation string
	SSLKeyLocation         string
}

// FieldError is a problem with one property, named as Confluent names it
// (Key); callers with other names for the same settings (a job file's
// registry section) map Key to theirs. The message never holds a secret.
type FieldError struct {
	Key string
	Err error
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(key, format string, args ...any) error {
	return &FieldError{Key: key, Err: fmt.Errorf(format, args...)}
}

// Parse reads the registry settings from properties (a properties file,
// a map of Kafka Connect converter settings): Confluent's Java names, and
// the schema.registry.-prefixed names of librdkafka-based clients for the
// credentials. Other properties are ignored, so one client.properties can
// hold the Kafka settings too; unknown or unsupported schema.registry.ssl.*,
// basic.auth.* and bearer.auth.* properties are errors naming the
// alternative, so a typo cannot silently connect without the security
// asked for.
func Parse(props map[string]string) (Config, error) {
	var c Config
	var errs []error
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := strings.TrimSpace(props[k])
		name := k
		if alias, ok := aliases[k]; ok {
			name = alias
		}
		switch name {
		case URL:
			c.URL = v
		case BasicAuthCredentialsSource:
			c.BasicAuthCredentialsSource = strings.ToUpper(v)
		case BasicAuthUserInfo:
			c.BasicAuthUserInfo = v
		case BearerAuthCredentialsSource:
			c.BearerAuthCredentialsSource = strings.ToUpper(v)
		case BearerAuthToken:
			c.BearerAuthToken = v
		case SSLCALocation:
			c.SSLCALocation = v
		case SSLCertificateLocation:
			c.SSLCertificateLocation = v
		case SSLKeyLocation:
			c.SSLKeyLocation = v
		default:
			if why, ok := unsupported[k]; ok {
				errs = append(errs, fieldErr(k, "not supported: %s", why))
			} else if strings.HasPrefix(k, "schema.registry.ssl.") || strings.HasPrefix(k, "schema.registry.basic.auth.") ||
				strings.HasPrefix(k, "schema.registry.bearer.auth.") || strings.HasPrefix(k, "basic.auth.") || strings.HasPrefix(k, "bearer.auth.") {
				errs = append(errs, fieldErr(k, "unknown registry property (known: %s)", strings.Join([]string{URL, BasicAuthCredentialsSource,
					BasicAuthUserInfo, BearerAuthCredentialsSource, BearerAuthToken, SSLCALocation, SSLCertificateLocation, SSLKeyLocation}, ", ")))
			}
		}
	}
	return c, errors.Join(errs...)
}

// basicSource is the effective basic-auth credentials source.
func (c Config) basicSource() string {
	if c.BasicAuthCredentialsSource != "" {
		return c.BasicAuthCredentialsSource
	}
	if c.BasicAuthUserInfo != "" {
		return SourceUserInfo
	}
	return SourceURL
}

// BasicAuth returns the basic-auth credentials in force (ok false: none).
// Call Validate first.
func (c Config) BasicAuth() (user, password string, ok bool) {
	switch c.basicSource() {
	case SourceUserInfo:
		user, password, ok = strings.Cut(c.BasicAuthUserInfo, ":")
		return user, password, ok && user != ""
	case SourceURL:
		if u, err := url.Parse(c.URL); err == nil && u.User != nil {
			password, _ = u.User.Password()
			return u.User.Username(), password, true
		}
	}
	return "", "", false
}

// BearerToken returns the bearer token in force ("": none).
func (c Config) BearerToken() string {
	if c.BearerAuthCredentialsSource == "" || c.BearerAuthCredentialsSource == SourceStaticToken {
		return c.BearerAuthToken
	}
	return ""
}

// BaseURL is URL without its user info: what a client connects to, and
// what errors and logs may show.
func (c Config) BaseURL() string {
	u, err := url.Parse(c.URL)
	if err != nil || u.User == nil {
		return c.URL
	}
	u.User = nil
	return u.String()
}

// Validate checks the settings' combination: credential sources Sluice
// supports, user:password form, basic and bearer auth not both, the client
// certificate and key together, TLS files only with an https URL. It
// reads no file. Errors are [*FieldError]s joined with errors.Join.
func (c Config) Validate() error {
	var errs []error
	var u *url.URL
	if c.URL != "" {
		var err error
		u, err = url.Parse(c.URL)
		switch {
		case strings.Contains(c.URL, ","):
			errs = append(errs, fieldErr(URL, "want exactly one URL (Sluice's registry client does not fail over between registries)"))
			u = nil
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			// The URL may hold a password: do not repeat it.
			errs = append(errs, fieldErr(URL, "not an http(s) URL: want http(s)://host:port"))
			u = nil
		}
	}
	switch c.BasicAuthCredentialsSource {
	case "", SourceURL, SourceUserInfo:
	default:
		errs = append(errs, fieldErr(BasicAuthCredentialsSource, "%q is not supported: use %s (with %s) or %s (user info in %s)",
			c.BasicAuthCredentialsSource, SourceUserInfo, BasicAuthUserInfo, SourceURL, URL))
	}
	switch c.basicSource() {
	case SourceUserInfo:
		if user, _, ok := strings.Cut(c.BasicAuthUserInfo, ":"); !ok || user == "" {
			errs = append(errs, fieldErr(BasicAuthUserInfo, "required as user:password with %s=%s", BasicAuthCredentialsSource, SourceUserInfo))
		}
	case SourceURL:
		if c.BasicAuthUserInfo != "" {
			errs = append(errs, fieldErr(BasicAuthUserInfo, "ignored with %s=%s: set %s=%s, or remove it", BasicAuthCredentialsSource, SourceURL, BasicAuthCredentialsSource, SourceUserInfo))
		}
	}
	switch c.BearerAuthCredentialsSource {
	case "":
	case SourceStaticToken:
		if c.BearerAuthToken == "" {
			errs = append(errs, fieldErr(BearerAuthToken, "required with %s=%s", BearerAuthCredentialsSource, SourceStaticToken))
		}
	default:
		errs = append(errs, fieldErr(BearerAuthCredentialsSource, "%q is not supported: use %s with %s (a token fetched beforehand)",
			c.BearerAuthCredentialsSource, SourceStaticToken, BearerAuthToken))
	}
	if c.BearerToken() != "" {
		if _, _, basic := c.BasicAuth(); basic {
			where := BasicAuthUserInfo
			if c.basicSource() == SourceURL {
				where = "the user info of " + URL
			}
			errs = append(errs, fieldErr(BearerAuthToken, "cannot be used together with basic auth (%s): give one of them", where))
		}
	}
	if c.SSLCertificateLocation != "" && c.SSLKeyLocation == "" {
		errs = append(errs, fieldErr(SSLKeyLocation, "required with %s (the client certificate's private key)", SSLCertificateLocation))
	}
	if c.SSLKeyLocation != "" && c.SSLCertificateLocation == "" {
		errs = append(errs, fieldErr(SSLCertificateLocation, "required with %s (the client certificate of the key)", SSLKeyLocation))
	}
	if u != nil && u.Scheme == "http" {
		for _, f := range []struct{ key, val string }{{SSLCALocation, c.SSLCALocation}, {SSLCertificateLocation, c.SSLCertificateLocation}, {SSLKeyLocation, c.SSLKeyLocation}} {
			if f.val != "" {
				errs = append(errs, fieldErr(f.key, "set, but %s is http://%s: use https:// for TLS", URL, u.Host))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// TLS reports whether any TLS file is set.
func (c Config) TLS() bool {
	return c.SSLCALocation != "" || c.SSLCertificateLocation != "" || c.SSLKeyLocation != ""
}

// TLSConfig reads the TLS files into a client configuration (TLS 1.2 or
// later; the server name comes from the URL's host). It returns nil
// without TLS files: Go's defaults then apply to https URLs. Errors are
// [*FieldError]s naming the property and the file.
func (c Config) TLSConfig() (*tls.Config, error) {
	if !c.TLS() {
		return nil, nil
	}
	tc, err := pemtls.Load(pemtls.File{Property: SSLCALocation, Path: c.SSLCALocation},
		pemtls.File{Property: SSLCertificateLocation, Path: c.SSLCertificateLocation},
		pemtls.File{Property: SSLKeyLocation, Path: c.SSLKeyLocation})
	if e, ok := err.(*pemtls.Error); ok {
		return nil, &FieldError{Key: e.Property, Err: e.Err}
	}
	if err != nil {
		return nil, err
	}
	return tc, nil
}

// ClientOptions validates the settings, reads the TLS files and returns
// the options of the registry client (serde/schemaregistry); connect it
// to BaseURL, or use NewClient.
func (c Config) ClientOptions() ([]schemaregistry.Option, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tc, err := c.TLSConfig()
	if err != nil {
		return nil, err
	}
	var opts []schemaregistry.Option
	if tc != nil {
		opts = append(opts, schemaregistry.WithTLSConfig(tc))
	}
	if user, password, ok := c.BasicAuth(); ok {
		opts = append(opts, schemaregistry.WithBasicAuth(user, password))
	}
	if token := c.BearerToken(); token != "" {
		opts = append(opts, schemaregistry.WithBearerToken(token))
	}
	return opts, nil
}

// NewClient validates the settings, reads the TLS files and returns a
// registry client for BaseURL; opts come after the settings' own.
func (c Config) NewClient(opts ...schemaregistry.Option) (*schemaregistry.Client, error) {
	own, err := c.ClientOptions()
	if err != nil {
		return nil, err
	}
	return schemaregistry.NewClient(c.BaseURL(), append(own, opts...)...)
}

// String describes the settings with the password and token hidden.
func (c Config) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add(URL, c.BaseURL())
	add(BasicAuthCredentialsSource, c.BasicAuthCredentialsSource)
	if c.BasicAuthUserInfo != "" {
		user, _, _ := strings.Cut(c.BasicAuthUserInfo, ":")
		add(BasicAuthUserInfo, user+":[hidden]")
	}
	add(BearerAuthCredentialsSource, c.BearerAuthCredentialsSource)
	if c.BearerAuthToken != "" {
		add(BearerAuthToken, "[hidden]")
	}
	add(SSLCALocation, c.SSLCALocation)
	add(SSLCertificateLocation, c.SSLCertificateLocation)
	add(SSLKeyLocation, c.SSLKeyLocation)
	return "registryconf.Config{" + strings.Join(parts, " ") + "}"
}

// GoString is String, so %#v hides the secrets too.
func (c Config) GoString() string { return c.String() }

// Explain returns the likely cause of a failed registry request — TLS,
// or credentials refused — with the property to change, or "" when it
// knows none.
func Explain(err error) string {
	if err != nil {
		status := 0
		var regErr *schemaregistry.Error
		if errors.As(err, &regErr) {
			status = regErr.Status
		}
		switch status {
		case 401:
			return fmt.Sprintf("the registry refused the credentials: check %s or %s", BasicAuthUserInfo, BearerAuthToken)
		case 403:
			return "the registry's user is not authorized for this request"
		}
	}

	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		alert            tls.AlertError
		header           tls.RecordHeaderError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &unknownAuthority):
		return fmt.Sprintf("the registry's TLS certificate is not signed by a trusted authority: set %s to the CA that signed it", SSLCALocation)
	case errors.As(err, &hostname):
		return fmt.Sprintf("the registry's TLS certificate is not valid for %q: connect by a name the certificate holds", hostname.Host)
	case errors.As(err, &invalid):
		return "the registry's TLS certificate is invalid (expired, or not for server use)"
	case errors.As(err, &alert):
		return fmt.Sprintf("the registry refused the TLS handshake (it may require a client certificate: set %s and %s)", SSLCertificateLocation, SSLKeyLocation)
	case errors.As(err, &header), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("the registry does not serve TLS there: use http:// in %s", URL)
	case strings.Contains(err.Error(), "Client sent an HTTP request to an HTTPS server"):
		return fmt.Sprintf("the registry serves TLS: use https:// in %s", URL)
	}
	return ""
}
