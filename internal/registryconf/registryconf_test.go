package registryconf

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testtls"
)

func TestParse(t *testing.T) {
	cfg, err := Parse(map[string]string{
		"schema.registry.url":                  "https://sr.example:8081",
		"schema.registry.basic.auth.user.info": "app:pw-secret", // librdkafka's name
		"schema.registry.ssl.ca.location":      "ca.pem",
		"bootstrap.servers":                    "ignored:9092",
		"ssl.ca.location":                      "the Kafka CA, ignored",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{URL: "https://sr.example:8081", BasicAuthUserInfo: "app:pw-secret", SSLCALocation: "ca.pem"}
	if cfg != want {
		t.Fatalf("Parse = %s, want %s", cfg, want)
	}
	if user, pass, ok := cfg.BasicAuth(); !ok || user != "app" || pass != "pw-secret" {
		t.Fatalf("BasicAuth = %q %q %v", user, pass, ok)
	}
	for key, want := range map[string]string{
		"schema.registry.ssl.truststore.location": "Java key stores are not read",
		"schema.registry.ssl.key.password":        "encrypted private keys are not read",
		"schema.registry.ssl.ca.locaton":          "unknown registry property",
		"bearer.auth.tokn":                        "unknown registry property",
	} {
		if _, err := Parse(map[string]string{key: "x"}); err == nil || !strings.Contains(err.Error(), key+": ") || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want an error naming it with %q", key, err, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // "" when valid
	}{
		{Config{URL: "https://sr:8081"}, ""},
		{Config{URL: "https://app:pw@sr:8081"}, ""},
		{Config{URL: "https://sr:8081", BearerAuthToken: "t"}, ""},
		{Config{URL: "https://sr:8081", BasicAuthCredentialsSource: SourceUserInfo, BasicAuthUserInfo: "a:b", SSLCALocation: "ca.pem"}, ""},
		{Config{URL: "https://sr:8081", SSLCertificateLocation: "c.pem", SSLKeyLocation: "k.pem"}, ""},
		{Config{URL: "https://a:1,https://b:2"}, "schema.registry.url: want exactly one URL"},
		{Config{URL: "sr:8081"}, "schema.registry.url: not an http(s) URL"},
		{Config{URL: "https://sr:8081", BasicAuthUserInfo: "a:b", BearerAuthToken: "t"}, "bearer.auth.token: cannot be used together with basic auth (basic.auth.user.info)"},
		{Config{URL: "https://a:b@sr:8081", BearerAuthToken: "t"}, "bearer.auth.token: cannot be used together with basic auth (the user info of schema.registry.url)"},
		{Config{URL: "https://sr:8081", BasicAuthCredentialsSource: "SASL_INHERIT"}, `basic.auth.credentials.source: "SASL_INHERIT" is not supported`},
		{Config{URL: "https://sr:8081", BasicAuthCredentialsSource: SourceUserInfo}, "basic.auth.user.info: required as user:password"},
		{Config{URL: "https://sr:8081", BasicAuthUserInfo: ":pw"}, "basic.auth.user.info: required as user:password"},
		{Config{URL: "https://sr:8081", BearerAuthCredentialsSource: "OAUTHBEARER"}, `bearer.auth.credentials.source: "OAUTHBEARER" is not supported`},
		{Config{URL: "https://sr:8081", BearerAuthCredentialsSource: SourceStaticToken}, "bearer.auth.token: required with bearer.auth.credentials.source=STATIC_TOKEN"},
		{Config{URL: "https://sr:8081", SSLCertificateLocation: "c.pem"}, "schema.registry.ssl.key.location: required with schema.registry.ssl.certificate.location"},
		{Config{URL: "https://sr:8081", SSLKeyLocation: "k.pem"}, "schema.registry.ssl.certificate.location: required with schema.registry.ssl.key.location"},
		{Config{URL: "http://sr:8081", SSLCALocation: "ca.pem"}, "schema.registry.ssl.ca.location: set, but schema.registry.url is http://sr:8081: use https://"},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want %q", tc.cfg, err, tc.want)
		}
		var fe *FieldError
		if err != nil && !errors.As(err, &fe) {
			t.Errorf("%s: %T is not a *FieldError", tc.cfg, err)
		}
	}
}

func TestTLSConfig(t *testing.T) {
	certs := testtls.New(t, "127.0.0.1")
	tc, err := Config{SSLCALocation: certs.CA, SSLCertificateLocation: certs.Cert, SSLKeyLocation: certs.Key}.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	if tc.RootCAs == nil || len(tc.Certificates) != 1 {
		t.Fatalf("TLSConfig = %+v", tc)
	}
	if tc, err := (Config{}).TLSConfig(); tc != nil || err != nil {
		t.Fatalf("no files: %v, %v", tc, err)
	}
	_, err = Config{SSLCALocation: certs.Key}.TLSConfig()
	if err == nil || !strings.Contains(err.Error(), SSLCALocation+": "+certs.Key+" holds no PEM certificate") {
		t.Fatalf("key as CA: %v", err)
	}
	_, err = Config{SSLCertificateLocation: certs.Cert, SSLKeyLocation: certs.CA}.TLSConfig()
	if err == nil || !strings.Contains(err.Error(), SSLCertificateLocation+": "+certs.Cert+" with "+SSLKeyLocation+"="+certs.CA) {
		t.Fatalf("CA as key: %v", err)
	}
}

func TestSecretsHidden(t *testing.T) {
	cfg := Config{URL: "https://app:pw-secret@sr:8081", BasicAuthUserInfo: "app:pw-secret", BearerAuthToken: "tok-secret"}
	for _, s := range []string{cfg.String(), fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), cfg.BaseURL()} {
		if strings.Contains(s, "secret") {
			t.Errorf("%q shows a secret", s)
		}
	}
	if cfg.BaseURL() != "https://sr:8081" {
		t.Errorf("BaseURL = %q", cfg.BaseURL())
	}
}
