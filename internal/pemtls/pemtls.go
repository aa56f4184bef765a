// Package pemtls builds client TLS configurations from PEM files named by
// configuration properties (Kafka's ssl.*.location, the Schema Registry's
// schema.registry.ssl.*.location), with errors that name the property.
package pemtls

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// File is a PEM file and the property that names it.
type File struct{ Property, Path string }

// Error is a problem with the file of Property.
type Error struct {
	Property string
	Err      error
}

func (e *Error) Error() string { return e.Property + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func errorf(property, format string, args ...any) error {
	return &Error{Property: property, Err: fmt.Errorf(format, args...)}
}

// Load returns a TLS 1.2+ client configuration trusting the certificates
// of ca (none: the system's roots) and presenting cert with key (both or
// neither).
func Load(ca, cert, key File) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca.Path != "" {
		pem, err := os.ReadFile(ca.Path)
		if err != nil {
			return nil, &Error{Property: ca.Property, Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errorf(ca.Property, "%s holds no PEM certificate", ca.Path)
		}
		tc.RootCAs = pool
	}
	if (cert.Path == "") != (key.Path == "") {
		return nil, errorf(cert.Property, "%s and %s go together (a client certificate and its key)", cert.Property, key.Property)
	}
	if cert.Path != "" {
		for _, f := range []File{cert, key} {
			if _, err := os.Stat(f.Path); err != nil {
				return nil, &Error{Property: f.Property, Err: err}
			}
		}
		pair, err := tls.LoadX509KeyPair(cert.Path, key.Path)
		if err != nil {
			return nil, errorf(cert.Property, "%s with %s=%s: %w", cert.Path, key.Property, key.Path, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}
