// Package testregistry runs Sluice's schema registry (serde/registry) for
// tests of registry clients' security: on an in-process broker, behind
// an HTTPS server whose certificate a throwaway CA signed, requiring basic
// auth or a bearer token.
package testregistry

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testtls"
	"github.com/sluicehq/sluice/serde/registry"
)

// Options say what the registry requires.
type Options struct {
	// User and Password: HTTP basic auth is required when User is set.
	User, Password string
	// BearerToken: "Authorization: Bearer <BearerToken>" is required when
	// set (instead of basic auth).
	BearerToken string
}

// Registry is a running registry.
type Registry struct {
	URL   string        // https://127.0.0.1:port
	Certs testtls.Files // Certs.CA signed the server's certificate
}

// Start runs a registry serving HTTPS on 127.0.0.1 until the test ends.
func Start(t testing.TB, opts Options) *Registry {
	t.Helper()
	b := testbroker.New(t)
	regOpts := []registry.Option{registry.WithBrokers(b.Addr())}
	if opts.User != "" {
		regOpts = append(regOpts, registry.WithBasicAuth(opts.User, opts.Password))
	}
	reg, err := registry.New(context.Background(), regOpts...)
	if err != nil {
		t.Fatal(err)
	}
	handler := reg.Handler()
	if opts.BearerToken != "" {
		handler = requireBearer(opts.BearerToken, handler)
	}
	certs := testtls.New(t, "127.0.0.1")
	cert, err := tls.LoadX509KeyPair(certs.Cert, certs.Key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	// Clients that fail verification make the server log "TLS handshake
	// error"s: expected here.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		_ = reg.Close()
	})
	return &Registry{URL: srv.URL, Certs: certs}
}

// requireBearer answers 401 as Confluent's registry does unless the
// request carries the token.
func requireBearer(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error_code":401,"message":"Unauthorized"}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}
