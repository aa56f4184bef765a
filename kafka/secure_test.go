package kafka_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/testtls"
	"github.com/sluicehq/sluice/kafka"
	"github.com/sluicehq/sluice/serde"
)

// secureBroker is `sluice broker --tls-cert --tls-key --user app:s3cret`
// with SCRAM-SHA-512, on a certificate for "localhost" only.
func secureBroker(t *testing.T) (addr string, certs testtls.Files) {
	t.Helper()
	certs = testtls.New(t, "localhost")
	b, err := broker.Start(broker.Config{Listen: "localhost:0", TLSCertFile: certs.Cert, TLSKeyFile: certs.Key,
		Users: []string{"app:s3cret"}, SASLMechanism: "SCRAM-SHA-512"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	_, port, _ := net.SplitHostPort(b.Addrs()[0])
	return "localhost:" + port, certs
}

func goodConfig(addr string, certs testtls.Files) kafka.Config {
	return kafka.Config{BootstrapServers: []string{addr}, SecurityProtocol: kafka.SASLSSL, SASLMechanism: kafka.MechanismScramSHA512,
		SASLUsername: "app", SASLPassword: "s3cret", SSLCALocation: certs.CA}
}

// Each classic mistake fails Check with a message naming the cause and
// the setting, never a hang.
func TestCheckNamesTheCause(t *testing.T) {
	t.Parallel()
	addr, certs := secureBroker(t)
	_, port, _ := net.SplitHostPort(addr)
	good := goodConfig(addr, certs)
	if err := good.Check(context.Background()); err != nil {
		t.Fatalf("right credentials: %v", err)
	}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := free.Addr().String()
	free.Close()

	for name, tc := range map[string]struct {
		change func(*kafka.Config)
		want   []string
	}{
		"wrong password":        {func(c *kafka.Config) { c.SASLPassword = "wrong" }, []string{`SASL authentication as "app" with SCRAM-SHA-512`, "sasl.password"}},
		"unknown user":          {func(c *kafka.Config) { c.SASLUsername = "nobody" }, []string{"SASL authentication", "sasl.username"}},
		"other mechanism":       {func(c *kafka.Config) { c.SASLMechanism = kafka.MechanismPlain }, []string{"sasl.mechanism=PLAIN"}},
		"untrusted certificate": {func(c *kafka.Config) { c.SSLCALocation = "" }, []string{"not signed by a trusted authority", "ssl.ca.location"}},
		"wrong host name":       {func(c *kafka.Config) { c.BootstrapServers = []string{"127.0.0.1:" + port} }, []string{"not valid for", "ssl.endpoint.identification.algorithm=none"}},
		"plaintext client": {func(c *kafka.Config) {
			c.SecurityProtocol, c.SASLMechanism, c.SSLCALocation = kafka.Plaintext, "", ""
		}, []string{"security.protocol"}},
		"TLS without SASL":  {func(c *kafka.Config) { c.SecurityProtocol, c.SASLMechanism = kafka.SSL, "" }, []string{"security.protocol=SSL"}},
		"nothing listening": {func(c *kafka.Config) { c.BootstrapServers = []string{closedAddr} }, []string{"nothing listens there", "bootstrap.servers"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := good
			tc.change(&c)
			start := time.Now()
			err := c.Check(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
			t.Logf("%v after %v", err, time.Since(start).Round(time.Millisecond))
		})
	}
	// Without host name checks the chain of trust is still checked.
	c := good
	c.BootstrapServers = []string{"127.0.0.1:" + port}
	c.SSLEndpointIdentificationAlgorithm = "none"
	if err := c.Check(context.Background()); err != nil {
		t.Errorf("ssl.endpoint.identification.algorithm=none: %v", err)
	}
	c.SSLCALocation = ""
	if err := c.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "trusted authority") {
		t.Errorf("none still verifies the chain: %v", err)
	}
}

// The engine runs an exactly-once topology over SASL_SSL with the
// options of a Config, and its output is complete and in order.
func TestEngineOverSASLSSL(t *testing.T) {
	t.Parallel()
	addr, certs := secureBroker(t)
	cfg := goodConfig(addr, certs)
	opts, err := cfg.Options()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 1, -1, nil, "in", "out"); err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Topic: "in", Key: []byte("k"), Value: fmt.Appendf(nil, "v%03d", i)}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	b := dsl.NewBuilder()
	in := dsl.Stream(b, "in", dsl.ConsumedWith(serde.String(), serde.String()))
	dsl.MapValues(in, strings.ToUpper).To("out", dsl.ProducedWith(serde.String(), serde.String()))
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := core.New(topo, core.WithBrokers(cfg.BootstrapServers...), core.WithKafkaOptions(opts...),
		core.WithApplicationID("secure-app"), core.WithProcessingGuarantee(core.ExactlyOnceV2),
		core.WithStateDir(t.TempDir()), core.WithCommitInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()

	rd, err := kgo.NewClient(append(opts, kgo.ConsumeTopics("out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var got []string
	for len(got) < n {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d outputs: %v", len(got), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("V%03d", i)
	}
	if !slices.Equal(got, want) {
		t.Errorf("output differs: got %d records, first %v", len(got), got[:min(5, len(got))])
	}
	cancel()
	if err := <-done; err != nil && ctx.Err() == nil {
		t.Errorf("app: %v", err)
	}
}
