package converters

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/testregistry"
	"github.com/sluicehq/sluice/serde"
	avroserde "github.com/sluicehq/sluice/serde/avro"
)

// buildErr builds an avro converter and returns the error of its spec or
// of its creation.
func buildErr(t *testing.T, raw map[string]any) error {
	t.Helper()
	p, err := newRegistry(t).Converter("avro")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := p.Spec.Parse("value.converter.", raw)
	if err != nil {
		return err
	}
	_, err = p.New(cfg, false)
	return err
}

// TestAvroConverterRegistrySecurity runs the converter against Sluice's
// registry over HTTPS (a test CA) requiring basic auth, and one requiring
// a bearer token, with Confluent's property names.
func TestAvroConverterRegistrySecurity(t *testing.T) {
	basic := testregistry.Start(t, testregistry.Options{User: "app", Password: "s3cret"})
	bearer := testregistry.Start(t, testregistry.Options{BearerToken: "tok-right"})
	s, v := rich()

	roundTrip := func(t *testing.T, settings map[string]any) {
		t.Helper()
		data, err := avroConv(t, settings["schema.registry.url"].(string), false, settings).FromConnect("orders", s, v)
		if err != nil {
			t.Fatal(err)
		}
		// A fresh converter (no caches) fetches the schema by id.
		_, got, err := avroConv(t, settings["schema.registry.url"].(string), false, settings).ToConnect("orders", data)
		if err != nil {
			t.Fatal(err)
		}
		if got.(*connectors.Struct).Get("id") != int64(99) {
			t.Fatalf("read back %v", got)
		}
	}
	// failure writes a record with settings and checks the error: a
	// permanent one (not retried), containing want, without secret.
	failure := func(t *testing.T, settings map[string]any, secret string, want ...string) {
		t.Helper()
		_, err := avroConv(t, settings["schema.registry.url"].(string), false, settings).FromConnect("orders", s, v)
		if err == nil {
			t.Fatal("no error")
		}
		t.Log(err)
		if !errors.Is(err, avroserde.ErrRegistryRejected) || errors.Is(err, serde.ErrTransient) {
			t.Fatalf("err = %v, want ErrRegistryRejected, not transient", err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("err = %v, want it to contain %q", err, w)
			}
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("the error holds the secret %q: %v", secret, err)
		}
	}

	t.Run("CA and basic auth", func(t *testing.T) {
		roundTrip(t, map[string]any{"schema.registry.url": basic.URL, "basic.auth.credentials.source": "USER_INFO",
			"basic.auth.user.info": "app:s3cret", "schema.registry.ssl.ca.location": basic.Certs.CA})
		// basic.auth.credentials.source may be left out with user info.
		roundTrip(t, map[string]any{"schema.registry.url": basic.URL, "basic.auth.user.info": "app:s3cret",
			"schema.registry.ssl.ca.location": basic.Certs.CA})
	})
	t.Run("CA and bearer token", func(t *testing.T) {
		roundTrip(t, map[string]any{"schema.registry.url": bearer.URL, "bearer.auth.credentials.source": "STATIC_TOKEN",
			"bearer.auth.token": "tok-right", "schema.registry.ssl.ca.location": bearer.Certs.CA})
	})
	t.Run("without the CA", func(t *testing.T) {
		failure(t, map[string]any{"schema.registry.url": basic.URL, "basic.auth.user.info": "app:s3cret"}, "s3cret",
			"not signed by a trusted authority", "schema.registry.ssl.ca.location", "x509")
	})
	t.Run("wrong password", func(t *testing.T) {
		failure(t, map[string]any{"schema.registry.url": basic.URL, "basic.auth.user.info": "app:pw-wrong",
			"schema.registry.ssl.ca.location": basic.Certs.CA}, "pw-wrong", "401")
	})
	t.Run("wrong token", func(t *testing.T) {
		failure(t, map[string]any{"schema.registry.url": bearer.URL, "bearer.auth.token": "tok-wrong",
			"schema.registry.ssl.ca.location": bearer.Certs.CA}, "tok-wrong", "401")
	})
	t.Run("plain HTTP to the TLS port", func(t *testing.T) {
		failure(t, map[string]any{"schema.registry.url": strings.Replace(basic.URL, "https:", "http:", 1), "basic.auth.user.info": "app:s3cret"}, "s3cret", "400")
	})
}

// TestAvroConverterSecurityConfig: bad combinations and unreadable files
// are errors naming the field (and the file), never the secret.
func TestAvroConverterSecurityConfig(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	const url = "https://registry.example:8081"
	for _, tc := range []struct {
		name string
		raw  map[string]any
		want []string
	}{
		{"basic and bearer", map[string]any{"basic.auth.user.info": "app:pw-secret", "bearer.auth.token": "tok-secret"},
			[]string{"value.converter.bearer.auth.token: cannot be used together with basic auth (basic.auth.user.info)"}},
		{"bearer and user info in the URL", map[string]any{"schema.registry.url": "https://app:pw-secret@registry.example:8081", "bearer.auth.token": "tok-secret"},
			[]string{"value.converter.bearer.auth.token: cannot be used together with basic auth (the user info of schema.registry.url)"}},
		{"STATIC_TOKEN without a token", map[string]any{"bearer.auth.credentials.source": "STATIC_TOKEN"},
			[]string{"value.converter.bearer.auth.token: required with bearer.auth.credentials.source=STATIC_TOKEN"}},
		{"unsupported bearer source", map[string]any{"bearer.auth.credentials.source": "OAUTHBEARER", "bearer.auth.token": "tok-secret"},
			[]string{"value.converter.bearer.auth.credentials.source", "not allowed"}},
		{"USER_INFO without a colon", map[string]any{"basic.auth.credentials.source": "USER_INFO", "basic.auth.user.info": "pw-secret"},
			[]string{"value.converter.basic.auth.user.info: required as user:password"}},
		{"user info ignored with URL", map[string]any{"basic.auth.credentials.source": "URL", "basic.auth.user.info": "app:pw-secret"},
			[]string{"value.converter.basic.auth.user.info: ignored with basic.auth.credentials.source=URL"}},
		{"certificate without key", map[string]any{"schema.registry.ssl.certificate.location": notPEM},
			[]string{"value.converter.schema.registry.ssl.key.location: required with schema.registry.ssl.certificate.location"}},
		{"key without certificate", map[string]any{"schema.registry.ssl.key.location": notPEM},
			[]string{"value.converter.schema.registry.ssl.certificate.location: required with schema.registry.ssl.key.location"}},
		{"CA with an http URL", map[string]any{"schema.registry.url": "http://registry.example:8081", "schema.registry.ssl.ca.location": notPEM},
			[]string{"value.converter.schema.registry.ssl.ca.location: set, but schema.registry.url is http://registry.example:8081: use https://"}},
		{"missing CA file", map[string]any{"schema.registry.ssl.ca.location": missing},
			[]string{"value.converter.schema.registry.ssl.ca.location: open " + missing}},
		{"CA file without PEM", map[string]any{"schema.registry.ssl.ca.location": notPEM},
			[]string{"value.converter.schema.registry.ssl.ca.location: " + notPEM + " holds no PEM certificate"}},
		{"missing certificate file", map[string]any{"schema.registry.ssl.certificate.location": missing, "schema.registry.ssl.key.location": notPEM},
			[]string{"value.converter.schema.registry.ssl.certificate.location: stat " + missing}},
		{"certificate not PEM", map[string]any{"schema.registry.ssl.certificate.location": notPEM, "schema.registry.ssl.key.location": notPEM},
			[]string{"value.converter.schema.registry.ssl.certificate.location: " + notPEM + " with schema.registry.ssl.key.location=" + notPEM}},
		{"bad URL with a password", map[string]any{"schema.registry.url": "ftp://app:pw-secret@registry.example"},
			[]string{"value.converter.schema.registry.url: not an http(s) URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := map[string]any{"schema.registry.url": url}
			for k, v := range tc.raw {
				raw[k] = v
			}
			err := buildErr(t, raw)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("err = %v\nwant it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "-secret") {
				t.Fatalf("the error holds a secret: %v", err)
			}
		})
	}
}
