package schemaregistry

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

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicehq/sluice/serde"
)

// Kinds of failed registry requests: every [*Error] has one as its Kind.
var (
	// ErrNotFound: the registry answered "not found" (HTTP 404; Confluent
	// error codes 40401 subject, 40402 version, 40403 schema).
	ErrNotFound = errors.New("schemaregistry: not found")

	// ErrUnavailable: the registry could not be reached, timed out, or
	// answered 5xx, 408 or 429. Retrying later may succeed; it wraps
	// serde.ErrTransient, so the runtime's skip and dead-letter handlers do
	// not divert records that failed on it.
	ErrUnavailable = fmt.Errorf("schemaregistry: registry unavailable (%w)", serde.ErrTransient)

	// ErrRejected: any other answer (409 incompatible, 422 invalid schema,
	// 401/403, a response that is not a registry's) and TLS failures that
	// need a configuration change (an untrusted or wrong-host certificate,
	// a refused handshake, https to a plain-HTTP port): retrying does not
	// help.
	ErrRejected = errors.New("schemaregistry: request rejected")
)

// Error is a failed registry request. errors.Is with its Kind says what
// it means; errors.As reaches the cause (Err), such as franz-go's
// *sr.ResponseError or a *url.Error.
type Error struct {
	// Kind is ErrNotFound, ErrUnavailable or ErrRejected.
	Kind error
	// Method and Path are the request's ("GET", "/schemas/ids/42"); empty
	// for a client that could not be built.
	Method, Path string
	// Status is the HTTP status of the answer, 0 when none came.
	Status int
	// Code is Confluent's error_code (40403, 42201, ...), or the status
	// when the body had none.
	Code int
	// Message is the registry's error message, or the body of an answer
	// that was not a registry's.
	Message string
	// Err is the underlying error.
	Err error
}

// Error formats as `schemaregistry: GET /schemas/ids/42: HTTP 404 (error
// 40403): Schema not found` for answers and `schemaregistry: GET
// /schemas/ids/42: <cause>` for failures to get one.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("schemaregistry: ")
	if e.Method != "" {
		b.WriteString(e.Method + " " + e.Path + ": ")
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, "HTTP %d (error %d): %s", e.Status, e.Code, e.Message)
		return b.String()
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// NotFound reports whether the registry said the subject, version or
// schema does not exist.
func (e *Error) NotFound() bool { return e.Kind == ErrNotFound }

// Classify returns the kind of a registry error — ErrNotFound,
// ErrUnavailable or ErrRejected — or nil for nil. Errors of [Client]'s
// methods carry their kind already; Classify is for errors of the franz-go
// client returned by [Client.SR].
func Classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return ErrNotFound
	case errors.Is(err, ErrUnavailable):
		return ErrUnavailable
	case errors.Is(err, ErrRejected):
		return ErrRejected
	}
	return classify("", "", err).(*Error).Kind
}

// classify wraps an error of the franz-go client in an *Error with its
// kind; nil stays nil.
func classify(method, path string, err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	e := &Error{Method: method, Path: path, Err: err}
	var resp *sr.ResponseError
	if errors.As(err, &resp) {
		e.Status, e.Code, e.Message = resp.StatusCode, resp.ErrorCode, resp.Message
		if e.Code == 0 {
			e.Code = resp.StatusCode
		}
		if e.Message == "" || e.Message == "no response" {
			e.Message = strings.TrimSpace(string(resp.Raw))
		}
		e.Kind = kindOfStatus(resp.StatusCode)
		return e
	}
	var (
		urlErr    *url.Error
		netErr    net.Error
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case tlsRejected(err):
		e.Kind = ErrRejected
	case errors.As(err, &syntaxErr), errors.As(err, &typeErr):
		// A 2xx answer that is not the registry's JSON: the URL points at
		// something else.
		e.Kind = ErrRejected
	case errors.As(err, &urlErr), errors.As(err, &netErr),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		e.Kind = ErrUnavailable
	default:
		// Unknown shapes are most likely I/O trouble; retrying is the
		// safer default than dead-lettering a good record.
		e.Kind = ErrUnavailable
	}
	return e
}

func kindOfStatus(status int) error {
	switch {
	case status == http.StatusNotFound:
		return ErrNotFound
	case status >= 500, status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return ErrUnavailable
	}
	return ErrRejected
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

func itoa(i int) string { return strconv.Itoa(i) }
