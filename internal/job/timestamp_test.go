package job

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors/bundled"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde/registry"
)

// A stream whose timestamp comes from its value: a record whose bytes do
// not decode fails in deserialization, with that error, not as an
// "invalid timestamp" that hides the cause.
func TestTimestampExtractorLeavesCorruptBytesToDeserialization(t *testing.T) {
	t.Parallel()
	j, err := Parse("/jobs/ts.yaml", []byte(`job: ts
topology:
  streams:
    events: {topic: events, key: string, value: json, timestamp: value.at}
  pipelines:
    - name: copy
      from: events
      steps:
        - to: {topic: copied, value: json}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	topo, err := j.Compile(CompileOptions{Plugins: bundled.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := core.NewTestDriver(topo, core.WithApplicationID("ts"), core.WithDriverStartTime(time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Pipe(&kgo.Record{Topic: "events", Value: []byte(`{"at": 1000}`)}); err != nil {
		t.Fatal(err)
	}
	err = d.Pipe(&kgo.Record{Topic: "events", Value: []byte(`{not json`)})
	if err == nil || strings.Contains(err.Error(), "timestamp") || !strings.Contains(strings.ToLower(err.Error()), "deserializ") {
		t.Fatalf("corrupt value: %v, want a deserialization error", err)
	}
	t.Log(err)
}

// A map step whose key is a record (fields) writes an Avro record key:
// the key is built as the inferred record type, not a generic map that
// the Avro serde cannot encode.
func TestMapRecordKeyToAvro(t *testing.T) {
	t.Parallel()
	b := testbroker.New(t)
	ctx := context.Background()
	reg, err := registry.New(ctx, registry.WithBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() { srv.Close(); _ = reg.Close() })
	j, err := Parse("/jobs/mk.yaml", []byte(`job: mk
topology:
  streams:
    orders: {topic: orders, key: string, value: json}
  pipelines:
    - name: rekey
      from: orders
      steps:
        - map:
            key: {customer: string(value.customer), region: string(value.region)}
            value: {amount: int(value.amount)}
        - to: {topic: by-customer, key: avro, value: avro}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	topo, err := j.Compile(CompileOptions{RegistryURL: srv.URL, Plugins: bundled.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := core.NewTestDriver(topo, core.WithApplicationID("mk"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Pipe(&kgo.Record{Topic: "orders", Key: []byte("o1"), Value: []byte(`{"customer": "ada", "region": "eu", "amount": 5}`)}); err != nil {
		t.Fatal(err)
	}
	out := d.ReadOutput("by-customer")
	if len(out) != 1 || len(out[0].Key) < 5 || out[0].Key[0] != 0 {
		t.Fatalf("want one record with an Avro (wire format) key, got %v", out)
	}
	resp, err := http.Get(srv.URL + "/subjects/by-customer-key/versions/latest/schema")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	schema, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(schema), `"customer"`) || !strings.Contains(string(schema), `"record"`) {
		t.Errorf("key schema %s is not the record of the key fields", schema)
	}
}
