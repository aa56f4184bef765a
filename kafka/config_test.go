package kafka

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A Confluent Cloud style client.properties, as its console hands it out.
func TestParseJavaClientProperties(t *testing.T) {
	t.Parallel()
	c, err := Parse(map[string]string{
		"bootstrap.servers":  "pkc-1.eu-west-1.aws.confluent.cloud:9092",
		"security.protocol":  "SASL_SSL",
		"sasl.mechanism":     "PLAIN",
		"sasl.jaas.config":   `org.apache.kafka.common.security.plain.PlainLoginModule required username="KEY" password="se\"cret";`,
		"session.timeout.ms": "45000",
		"acks":               "all",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.SASLUsername != "KEY" || c.SASLPassword != `se"cret` || c.SASLMechanism != MechanismPlain || c.SecurityProtocol != SASLSSL {
		t.Errorf("parsed %#v (user %q)", c, c.SASLUsername)
	}
	if !slices.Equal(c.Ignored, []string{"acks", "session.timeout.ms"}) {
		t.Errorf("ignored %v", c.Ignored)
	}
	// Explicit sasl.username/password win over the JAAS line's.
	c, err = Parse(map[string]string{
		"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
		"sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="a" password="b";`,
		"sasl.username":    "c",
	})
	if err != nil || c.SASLUsername != "c" || c.SASLPassword != "b" {
		t.Errorf("got %q %q, %v", c.SASLUsername, c.SASLPassword, err)
	}
	// Kafka's empty endpoint identification disables host name checks.
	c, err = Parse(map[string]string{"security.protocol": "SSL", "ssl.endpoint.identification.algorithm": ""})
	if err != nil || c.SSLEndpointIdentificationAlgorithm != "none" {
		t.Errorf("got %q, %v", c.SSLEndpointIdentificationAlgorithm, err)
	}
}

// Every mistake is reported at once, naming the property and the fix.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		props map[string]string
		want  []string
	}{
		{map[string]string{"security.protocol": "TLS"}, []string{"security.protocol=TLS: want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"}},
		{map[string]string{"sasl.mechanism": "PLAIN", "sasl.username": "u", "sasl.password": "p"}, []string{"sasl.mechanism=PLAIN is set but security.protocol=PLAINTEXT does not authenticate with SASL"}},
		{map[string]string{"security.protocol": "SASL_SSL"}, []string{"needs sasl.mechanism"}},
		{map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "GSSAPI"}, []string{"sasl.mechanism=GSSAPI is not supported"}},
		{map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-256"}, []string{"needs sasl.username", "needs sasl.password"}},
		{map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "AWS_MSK_IAM"}, []string{"AWS_MSK_IAM needs security.protocol=SASL_SSL"}},
		{map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER"}, []string{"exactly one of sasl.oauthbearer.token.file and sasl.oauthbearer.token.command"}},
		{map[string]string{"ssl.ca.location": "ca.pem"}, []string{"ssl.ca.location is set but security.protocol=PLAINTEXT does not use TLS"}},
		{map[string]string{"security.protocol": "SSL", "ssl.certificate.location": "c.pem"}, []string{"ssl.certificate.location and ssl.key.location go together"}},
		{map[string]string{"security.protocol": "SSL", "ssl.truststore.location": "x.jks"}, []string{"ssl.truststore.location is not supported: Java key stores are not read", "ssl.ca.location"}},
		{map[string]string{"security.protocol": "SSL", "ssl.ca.locaton": "x"}, []string{"unknown property ssl.ca.locaton"}},
		{map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.jaas.config": "com.sun.security.auth.module.Krb5LoginModule required;"}, []string{"login module", "not supported"}},
	} {
		_, err := Parse(tc.props)
		if err == nil {
			t.Errorf("%v: no error", tc.props)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not say %q", tc.props, err, w)
			}
		}
	}
}

// Secrets never reach printed output.
func TestSecretsHidden(t *testing.T) {
	t.Parallel()
	c, err := Parse(map[string]string{"bootstrap.servers": "b:9092", "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
		"sasl.username": "app", "sasl.password": "hunter2-secret"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprint(c.Redacted())} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("password printed: %s", s)
		}
	}
	if !strings.Contains(c.String(), "sasl.username=app") || !strings.Contains(c.String(), "sasl.password=[hidden]") {
		t.Errorf("String() = %s", c)
	}
	// A failed authentication names the user, never the password.
	if e := c.Explain(fmt.Errorf("x: %w", kerr.SaslAuthenticationFailed)).Error(); strings.Contains(e, "hunter2") || !strings.Contains(e, `"app"`) {
		t.Errorf("Explain: %s", e)
	}
}

// The file, then the environment, then overrides.
func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "client.properties")
	if err := os.WriteFile(file, []byte("bootstrap.servers=file:9092\nsecurity.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.username=fromfile\nsasl.password=p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadOver(map[string]string{"client.id": "job", "bootstrap.servers": "job:9092"}, file,
		[]string{"SLUICE_KAFKA_SASL_USERNAME=fromenv", "OTHER=x", "SLUICE_KAFKA_SASL_PASSWORD=envpass"},
		map[string]string{BootstrapServers: "flag:9092"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.BootstrapServers, []string{"flag:9092"}) || c.SASLUsername != "fromenv" || c.SASLPassword != "envpass" || c.ClientID != "job" {
		t.Errorf("got %v", c)
	}
	if EnvName(SASLPassword) != "SLUICE_KAFKA_SASL_PASSWORD" {
		t.Error(EnvName(SASLPassword))
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.properties"), nil, nil); err == nil || !strings.Contains(err.Error(), "missing.properties") {
		t.Errorf("missing file: %v", err)
	}
}

func TestOptionsReadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Config{BootstrapServers: []string{"b:1"}, SecurityProtocol: SSL, SSLCALocation: notPEM}.Options()
	if err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("bad CA file: %v", err)
	}
	_, err = Config{BootstrapServers: []string{"b:1"}, SecurityProtocol: SSL, SSLCALocation: filepath.Join(dir, "nope.pem")}.Options()
	if err == nil || !strings.Contains(err.Error(), "ssl.ca.location") {
		t.Errorf("missing CA file: %v", err)
	}
	if _, err := (Config{}).Options(); err == nil || !strings.Contains(err.Error(), "bootstrap.servers is not set") {
		t.Errorf("no brokers: %v", err)
	}
}

func FuzzParseJAAS(f *testing.F) {
	f.Add(`org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";`)
	f.Add(`x.ScramLoginModule required username=u password="a\"b`)
	f.Fuzz(func(t *testing.T, s string) {
		_, _, _ = parseJAAS(s)
	})
}
