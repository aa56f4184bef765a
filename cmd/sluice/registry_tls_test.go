package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testregistry"
	"github.com/sluicehq/sluice/internal/testtls"
)

// TestRegistryTLSAndRegistryConfig: `sluice registry` serves HTTPS with
// basic auth; `sluice schemas` reaches it with a --registry-config file in
// Confluent's names (CA, user info), flags override the file, and wrong
// settings fail naming the cause without the secret. A bearer-token
// registry is reached the same way.
func TestRegistryTLSAndRegistryConfig(t *testing.T) {
	b := testbroker.New(t)
	certs := testtls.New(t, "127.0.0.1")
	port := freePort(t)
	regURL := "https://127.0.0.1:" + port
	reg := startSluice(t, "registry", "--listen", "127.0.0.1:"+port, "--brokers", b.Addr(),
		"--tls-cert", certs.Cert, "--tls-key", certs.Key, "--basic-auth", "app:pw-secret")
	ca, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	probe := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	waitHTTP(t, "the HTTPS registry", reg, probe, regURL+"/subjects", http.StatusUnauthorized)

	dir := t.TempDir()
	config := func(name, text string) string {
		path := filepath.Join(dir, name)
		writeFile(t, path, text)
		return path
	}
	good := config("registry.properties", "# as Confluent's clients write it\nschema.registry.url="+regURL+
		"\nbasic.auth.credentials.source=USER_INFO\nbasic.auth.user.info=app:pw-secret\nschema.registry.ssl.ca.location="+certs.CA+"\n")
	schema := config("v.avsc", `{"type":"record","name":"V","fields":[{"name":"n","type":"int"}]}`)
	if out, err := runCLI(t, "schemas", "register", schema, "--subject", "v-value", "--registry-config", good); err != nil {
		t.Fatalf("register: %v\n%s", err, out)
	}
	out, err := runCLI(t, "schemas", "list", "--registry-config", good)
	if err != nil || strings.TrimSpace(out) != "v-value" {
		t.Fatalf("list: %v\n%s", err, out)
	}

	wrongPassword := config("wrong.properties", "schema.registry.url="+regURL+"\nbasic.auth.user.info=app:pw-wrong\nschema.registry.ssl.ca.location="+certs.CA+"\n")
	out, err = runCLI(t, "schemas", "list", "--registry-config", wrongPassword)
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error()+out, "pw-wrong") {
		t.Fatalf("wrong password: %v\n%s", err, out)
	}
	// --basic-auth overrides the file's credentials.
	if out, err := runCLI(t, "schemas", "list", "--registry-config", wrongPassword, "--basic-auth", "app:pw-secret"); err != nil || !strings.Contains(out, "v-value") {
		t.Fatalf("--basic-auth over the file: %v\n%s", err, out)
	}
	noCA := config("noca.properties", "schema.registry.url="+regURL+"\nbasic.auth.user.info=app:pw-secret\n")
	out, err = runCLI(t, "schemas", "list", "--registry-config", noCA)
	if err == nil || !strings.Contains(err.Error(), "not signed by a trusted authority: set schema.registry.ssl.ca.location") || strings.Contains(err.Error()+out, "pw-secret") {
		t.Fatalf("without the CA: %v\n%s", err, out)
	}
	// --registry overrides the file's URL: plain HTTP to the TLS port.
	out, err = runCLI(t, "schemas", "list", "--registry-config", noCA, "--registry", "http://127.0.0.1:"+port)
	if err == nil || !strings.Contains(err.Error(), "the registry serves TLS: use https://") {
		t.Fatalf("http to the TLS port: %v\n%s", err, out)
	}
	bad := config("bad.properties", "schema.registry.url="+regURL+"\nbasic.auth.user.info=app:pw-secret\nbearer.auth.token=tok-secret\nschema.registry.ssl.certificate.location=c.pem\n")
	out, err = runCLI(t, "schemas", "list", "--registry-config", bad)
	if err == nil || !strings.Contains(err.Error(), "--registry-config "+bad+": bearer.auth.token: cannot be used together with basic auth") ||
		!strings.Contains(err.Error(), "schema.registry.ssl.key.location: required") || strings.Contains(err.Error()+out, "-secret") {
		t.Fatalf("bad combination: %v\n%s", err, out)
	}

	reg.stop(t)
	if !strings.Contains(reg.output.String(), "schema registry serving "+regURL) {
		t.Fatalf("startup line:\n%s", reg.output)
	}

	bearer := testregistry.Start(t, testregistry.Options{BearerToken: "tok-secret"})
	token := config("bearer.properties", "schema.registry.url="+bearer.URL+"\nbearer.auth.credentials.source=STATIC_TOKEN\nbearer.auth.token=tok-secret\nschema.registry.ssl.ca.location="+bearer.Certs.CA+"\n")
	if out, err := runCLI(t, "schemas", "list", "--registry-config", token); err != nil {
		t.Fatalf("bearer token: %v\n%s", err, out)
	}
	wrongToken := config("wrong-token.properties", "schema.registry.url="+bearer.URL+"\nbearer.auth.token=tok-wrong\nschema.registry.ssl.ca.location="+bearer.Certs.CA+"\n")
	out, err = runCLI(t, "schemas", "list", "--registry-config", wrongToken)
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error()+out, "tok-wrong") {
		t.Fatalf("wrong token: %v\n%s", err, out)
	}
}
