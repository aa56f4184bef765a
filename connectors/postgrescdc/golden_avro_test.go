package postgrescdc_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/serde/registry"
)

// TestGoldenAvro checks the Avro key and value schemas the connector
// registers, under Debezium's subject names, against the schemas Debezium
// registers for its documented customers example
// (testdata/debezium_customers_avro.json: names, namespaces, field order,
// unions, defaults, connect.* properties), compared as JSON, and decodes
// the create event with hamba/avro (not Sluice's Avro code) using the
// registered schema. The one deliberate difference: non-key columns are
// optional (["null", type], default null), so that a delete's key-only
// before image and every added or dropped column stay compatible.
func TestGoldenAvro(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg, err := registry.New(context.Background(), registry.WithBrokers(e.b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() { srv.Close(); _ = reg.Close() })

	e.exec(t, `CREATE TABLE customers (id SERIAL, first_name VARCHAR(255) NOT NULL, last_name VARCHAR(255) NOT NULL, email VARCHAR(255) NOT NULL, PRIMARY KEY(id))`)
	cfg := e.config("golden-avro", "topic.prefix", "PostgreSQL_server", "snapshot.mode", "no_data",
		"key.converter", "avro", "value.converter", "avro",
		"key.converter.schema.registry.url", srv.URL, "value.converter.schema.registry.url", srv.URL)
	delete(cfg, "key.converter.schemas.enable")
	delete(cfg, "value.converter.schemas.enable")
	c := e.start(t, cfg)
	testwait.Until(t, "the slot", 30*time.Second, func() bool { return e.slotExists(t, "s_golden_avro") })
	e.exec(t, `INSERT INTO customers (first_name, last_name, email) VALUES ('Anne', 'Kretchmar', 'annek@noanswer.org')`)
	topic := "PostgreSQL_server.public.customers"
	testwait.Until(t, "the create event", 30*time.Second, func() bool { return len(e.records(t, topic)) == 1 })
	stop(t, c)

	raw, err := os.ReadFile(filepath.Join("testdata", "debezium_customers_avro.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		KeySubject   string         `json:"key_subject"`
		ValueSubject string         `json:"value_subject"`
		Key          map[string]any `json:"key"`
		Value        map[string]any `json:"value"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	latest := func(subject string) (string, int) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/subjects/" + subject + "/versions/latest")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var s struct {
			ID     int    `json:"id"`
			Schema string `json:"schema"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &s) != nil {
			t.Fatalf("subject %s: %d %s (want Debezium's subject names, TopicNameStrategy)", subject, resp.StatusCode, body)
		}
		return s.Schema, s.ID
	}
	keyText, keyID := latest(doc.KeySubject)
	valueText, valueID := latest(doc.ValueSubject)
	var gotKey, gotValue map[string]any
	if err := json.Unmarshal([]byte(keyText), &gotKey); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(valueText), &gotValue); err != nil {
		t.Fatal(err)
	}
	same(t, "key schema", gotKey, doc.Key)

	// Sluice's deliberate change: non-key columns optional.
	want := doc.Value
	fields := want["fields"].([]any)
	before := fields[0].(map[string]any)
	row := before["type"].([]any)[1].(map[string]any)
	for _, f := range row["fields"].([]any) {
		fm := f.(map[string]any)
		if fm["name"] != "id" {
			fm["type"] = []any{"null", fm["type"]}
			fm["default"] = nil
		}
	}
	for i, f := range fields {
		same(t, fmt.Sprintf("value schema field %d", i), gotValue["fields"].([]any)[i], f)
	}
	same(t, "value schema", gotValue, want)

	// The event, decoded by an independent Avro implementation.
	r := e.records(t, topic)[0]
	for what, b := range map[string][]byte{"key": r.Key, "value": r.Value} {
		if len(b) < 5 || b[0] != 0 {
			t.Fatalf("%s is not in the Confluent wire format", what)
		}
	}
	if id := binary.BigEndian.Uint32(r.Key[1:5]); int(id) != keyID {
		t.Fatalf("key schema id %d, registered %d", id, keyID)
	}
	if id := binary.BigEndian.Uint32(r.Value[1:5]); int(id) != valueID {
		t.Fatalf("value schema id %d, registered %d", id, valueID)
	}
	decode := func(text string, b []byte) map[string]any {
		t.Helper()
		s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
		if err != nil {
			t.Fatalf("hamba/avro cannot parse the registered schema: %v", err)
		}
		var out map[string]any
		if err := avro.Unmarshal(s, b[5:], &out); err != nil {
			t.Fatalf("hamba/avro cannot decode the event: %v", err)
		}
		return out
	}
	key := decode(keyText, r.Key)
	if key["id"] != 1 {
		t.Fatalf("key %v", key)
	}
	v := decode(valueText, r.Value)
	after, _ := v["after"].(map[string]any)
	// hamba/avro names a union branch by its type's full name.
	if a, ok := after[topic+".Value"].(map[string]any); ok {
		after = a
	}
	if after == nil || after["id"] != 1 || fmt.Sprint(after["first_name"]) != "Anne" || v["op"] != "c" || v["before"] != nil {
		t.Fatalf("decoded event %v", v)
	}
	src := v["source"].(map[string]any)
	if src["connector"] != "postgresql" || src["name"] != "PostgreSQL_server" || src["schema"] != "public" || src["table"] != "customers" {
		t.Fatalf("decoded source %v", src)
	}
}
