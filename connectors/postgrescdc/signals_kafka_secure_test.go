package postgrescdc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicehq/sluice/internal/broker"
)

// signalSettings parses a configuration that enables the Kafka signal
// channel, with extra keys.
func signalSettings(t *testing.T, kv ...any) (*settings, error) {
	t.Helper()
	raw := map[string]any{"database.hostname": "db", "database.user": "u", "database.dbname": "d", "topic.prefix": "srv",
		"signal.enabled.channels": "kafka"}
	for i := 0; i < len(kv); i += 2 {
		raw[kv[i].(string)] = kv[i+1]
	}
	cfg, err := spec.Parse("", raw)
	if err != nil {
		return nil, err
	}
	return parseSettings(cfg)
}

// TestKafkaSignalsOverSASL: the signal consumer reaches a cluster that
// requires SCRAM through signal.consumer.*, Debezium's pass-through, and
// reads a signal produced there.
func TestKafkaSignalsOverSASL(t *testing.T) {
	t.Parallel()
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", Users: []string{"cdc:s3cret"}, SASLMechanism: "SCRAM-SHA-512"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	admin, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...),
		kgo.SASL(scram.Auth{User: "cdc", Pass: "s3cret"}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(admin).CreateTopic(ctx, 1, 1, nil, "srv-signal"); err != nil {
		t.Fatal(err)
	}

	s, err := signalSettings(t, "signal.kafka.bootstrap.servers", strings.Join(b.Addrs(), ","),
		"signal.consumer.security.protocol", "SASL_PLAINTEXT",
		"signal.consumer.sasl.mechanism", "SCRAM-SHA-512",
		"signal.consumer.sasl.jaas.config", `org.apache.kafka.common.security.scram.ScramLoginModule required username="cdc" password="s3cret";`,
		"signal.consumer.group.id", "ignored") // a consumer property that is not a connection setting
	if err != nil {
		t.Fatal(err)
	}
	k, next, err := startKafkaSignals(ctx, s, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer k.close()
	if next != 0 {
		t.Fatalf("started at offset %d of an empty topic, want 0", next)
	}
	value := `{"type": "execute-snapshot", "data": {"data-collections": ["public.t"], "type": "incremental"}}`
	if err := admin.ProduceSync(ctx, &kgo.Record{Topic: "srv-signal", Key: []byte("srv"), Value: []byte(value)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-k.queue:
		if string(r.Key) != "srv" || string(r.Value) != value {
			t.Errorf("read %q=%q, want srv=%q", r.Key, r.Value, value)
		}
	case <-ctx.Done():
		k.mu.Lock()
		defer k.mu.Unlock()
		t.Fatalf("no signal read over SASL (last fetch error: %v)", k.err)
	}
}

// TestSignalConsumerSettings: signal.consumer.* go through the kafka
// package's checks, flat or as a map, and errors name the setting without
// showing secrets.
func TestSignalConsumerSettings(t *testing.T) {
	t.Parallel()
	s, err := signalSettings(t, "signal.kafka.bootstrap.servers", "k1:9093,k2:9093",
		"signal.consumer", map[string]any{"security.protocol": "sasl_ssl", "sasl.mechanism": "PLAIN",
			"sasl.username": "cdc", "sasl.password": "s3cret", "ssl.endpoint.identification.algorithm": "none"})
	if err != nil {
		t.Fatal(err)
	}
	k := s.signalKafka
	if strings.Join(k.BootstrapServers, ",") != "k1:9093,k2:9093" || k.SecurityProtocol != "SASL_SSL" || k.SASLMechanism != "PLAIN" ||
		k.SASLUsername != "cdc" || k.SASLPassword != "s3cret" || k.SSLEndpointIdentificationAlgorithm != "none" {
		t.Errorf("signal.consumer map read as %v", k)
	}
	for _, tc := range []struct {
		kv   []any
		want string
	}{
		{[]any{"signal.consumer.sasl.mechanism", "GSSAPI", "signal.consumer.security.protocol", "SASL_SSL"}, "signal.consumer:"},
		{[]any{"signal.consumer.ssl.truststore.location", "/x.jks", "signal.consumer.ssl.truststore.password", "s3cret"}, "ssl.ca.location"},
		{[]any{"signal.consumer.bootstrap.servers", "elsewhere:9092"}, "signal.kafka.bootstrap.servers"},
		{[]any{"signal.consumer", "security.protocol=SSL", "signal.consumer.ssl.ca.location", "/ca.pem"}, "not both"},
	} {
		_, err := signalSettings(t, append([]any{"signal.kafka.bootstrap.servers", "k:9092"}, tc.kv...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.kv, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%v: the error shows the password: %v", tc.kv, err)
		}
	}
	cfg, err := spec.Parse("", map[string]any{"database.hostname": "db", "database.user": "u", "database.dbname": "d", "topic.prefix": "srv",
		"signal.consumer.sasl.password": "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if red := cfg.Redacted()["signal.consumer"]; red.(map[string]string)["sasl.password"] != "[hidden]" {
		t.Errorf("redacted signal.consumer: %v", red)
	}
}
