package postgrescdc_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

func TestConfig(t *testing.T) {
	reg := plugins(t)
	base := func(kv ...any) map[string]any {
		m := map[string]any{"name": "c", "type": "postgres-cdc", "database.hostname": "db", "database.user": "u",
			"database.password": "s3cret", "database.dbname": "d", "topic.prefix": "srv"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	cc, err := connectors.ParseConnector(reg, connectors.KindSource, base(), connectors.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !cc.Source.ExactlyOnce {
		t.Error("postgres-cdc must declare exactly-once support")
	}
	red := cc.Config.Redacted()
	if red["database.password"] != "[hidden]" || red["slot.name"] != "debezium" || red["publication.name"] != "dbz_publication" || red["snapshot.mode"] != "initial" {
		t.Errorf("redacted/defaults %v", red)
	}
	// Debezium's signal.consumer.* pass-through keys are fields of their own.
	if _, err := connectors.ParseConnector(reg, connectors.KindSource, base("signal.enabled.channels", "kafka", "signal.kafka.bootstrap.servers", "k:9093",
		"signal.consumer.security.protocol", "SSL", "signal.consumer.ssl.ca.location", "/etc/kafka/ca.pem"), connectors.ParseOptions{}); err != nil {
		t.Errorf("signal.consumer.* keys: %v", err)
	}
	// Debezium's class name is an alias.
	if _, err := connectors.ParseConnector(reg, connectors.KindSource, base("type", "io.debezium.connector.postgresql.PostgresConnector"), connectors.ParseOptions{}); err != nil {
		t.Errorf("Debezium's class name: %v", err)
	}
	for _, tc := range []struct {
		kv  []any
		key string
	}{
		{[]any{"topic.prefix", "bad prefix"}, "topic.prefix"},
		{[]any{"slot.name", "Bad-Slot"}, "slot.name"},
		{[]any{"table.include.list", "public.a", "table.exclude.list", "public.b"}, "table.exclude.list"},
		{[]any{"table.include.list", "public.(a"}, "table.include.list"},
		{[]any{"skipped.operations", "c,x"}, "skipped.operations"},
		{[]any{"snapshot.mode", "sometimes"}, "snapshot.mode"},
		{[]any{"plugin.name", "decoderbufs"}, "plugin.name"},
		{[]any{"signal.data.collection", "a.b.c"}, "signal.data.collection"},
		{[]any{"decimal.handling.mode", "exact"}, "decimal.handling.mode"},
		{[]any{"database.dbname", ""}, "database.dbname"},
		{[]any{"signal.enabled.channels", "source,kafka"}, "signal.kafka.bootstrap.servers"},
		{[]any{"signal.enabled.channels", "jmx"}, "signal.enabled.channels"},
	} {
		_, err := connectors.ParseConnector(reg, connectors.KindSource, base(tc.kv...), connectors.ParseOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.key+":") {
			t.Errorf("%v: error %v, want one naming %s", tc.kv, err, tc.key)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("an error shows the password: %v", err)
		}
	}
}

// TestDocsListEveryKey: docs/connectors/postgres-cdc.md has a row for
// every configuration key of the spec (the table is generated from it;
// this catches a key added without regenerating it).
func TestDocsListEveryKey(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "connectors", "postgres-cdc.md"))
	if err != nil {
		t.Skipf("no docs in this tree: %v", err)
	}
	p, err := plugins(t).Source("postgres-cdc")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range p.Spec.Fields {
		if !strings.Contains(string(raw), "| `"+f.Name+"` |") {
			t.Errorf("docs/connectors/postgres-cdc.md has no row for %s", f.Name)
		}
	}
}
