package avro_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testregistry"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

func caConfig(t *testing.T, caFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// TestClientSecurity runs serdes against Sluice's registry served over
// HTTPS (a test CA) requiring basic auth or a bearer token: the right
// settings round-trip, wrong ones fail as rejected (not retried) without
// the secret in the message.
func TestClientSecurity(t *testing.T) {
	basic := testregistry.Start(t, testregistry.Options{User: "app", Password: "s3cret"})
	bearer := testregistry.Start(t, testregistry.Options{BearerToken: "tok-right"})

	roundTrip := func(t *testing.T, client schemaregistry.Option, url string, more ...schemaregistry.Option) {
		t.Helper()
		s := must[serde.Serde[User]](t)(avro.New[User](newClient(t, url, append([]schemaregistry.Option{client}, more...)...), userSchema))
		data := must[[]byte](t)(s.Serialize("users", User{Name: "ann", Age: 3}))
		if got, err := s.Deserialize("users", data); err != nil || got != (User{Name: "ann", Age: 3}) {
			t.Fatalf("read back %+v, %v", got, err)
		}
	}
	rejected := func(t *testing.T, client serde.Serde[User], secret, want string) {
		t.Helper()
		_, err := client.Serialize("users", User{Name: "ann"})
		if !errors.Is(err, avro.ErrRegistryRejected) || errors.Is(err, serde.ErrTransient) || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want ErrRegistryRejected (not transient) containing %q", err, want)
		}
		if secret != "" && strings.Contains(err.Error(), secret) {
			t.Fatalf("the error holds the secret %q: %v", secret, err)
		}
		t.Log(err)
	}
	newSerde := func(t *testing.T, url string, opts ...schemaregistry.Option) serde.Serde[User] {
		t.Helper()
		return must[serde.Serde[User]](t)(avro.New[User](newClient(t, url, opts...), userSchema))
	}

	t.Run("basic auth over TLS", func(t *testing.T) {
		roundTrip(t, schemaregistry.WithTLSConfig(caConfig(t, basic.Certs.CA)), basic.URL, schemaregistry.WithBasicAuth("app", "s3cret"))
	})
	t.Run("bearer token over TLS", func(t *testing.T) {
		roundTrip(t, schemaregistry.WithTLSConfig(caConfig(t, bearer.Certs.CA)), bearer.URL, schemaregistry.WithBearerToken("tok-right"))
	})
	t.Run("bearer token with WithHTTPClient", func(t *testing.T) {
		transport := &http.Transport{TLSClientConfig: caConfig(t, bearer.Certs.CA)}
		hc := &http.Client{Transport: transport}
		roundTrip(t, schemaregistry.WithHTTPClient(hc), bearer.URL, schemaregistry.WithBearerToken("tok-right"))
		if hc.Transport != transport {
			t.Fatal("NewClient replaced the transport of the caller's client")
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		rejected(t, newSerde(t, basic.URL, schemaregistry.WithTLSConfig(caConfig(t, basic.Certs.CA)), schemaregistry.WithBasicAuth("app", "pw-wrong")), "pw-wrong", "401")
	})
	t.Run("wrong token", func(t *testing.T) {
		rejected(t, newSerde(t, bearer.URL, schemaregistry.WithTLSConfig(caConfig(t, bearer.Certs.CA)), schemaregistry.WithBearerToken("tok-wrong")), "tok-wrong", "401")
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		rejected(t, newSerde(t, basic.URL, schemaregistry.WithBasicAuth("app", "s3cret")), "s3cret", "certificate")
	})
	t.Run("plain HTTP to the TLS port", func(t *testing.T) {
		rejected(t, newSerde(t, strings.Replace(basic.URL, "https://", "http://", 1), schemaregistry.WithBasicAuth("app", "s3cret")), "s3cret", "HTTP 400")
	})
}
