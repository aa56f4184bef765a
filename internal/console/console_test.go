package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/console"
	"github.com/sluicehq/sluice/internal/schematool"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/registry"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

type env struct {
	broker   *testbroker.Broker
	registry *schemaregistry.Client
	url      string
}

func start(t *testing.T) *env {
	t.Helper()
	b := testbroker.New(t)
	reg, err := registry.New(context.Background(), registry.WithBrokers(b.Addr()))
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() {
		srv.Close()
		reg.Close()
	})
	c, err := schemaregistry.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &env{broker: b, registry: c, url: srv.URL}
}

func readSchema(t *testing.T, name string) string {
	t.Helper()
	s, err := schematool.ReadSchemaFile(filepath.Join("..", "..", "schemas", name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A schema exercising every Avro type and union wrapping.
const eventSchema = `{"type":"record","name":"Event","namespace":"t.console","fields":[
 {"name":"id","type":"long"},
 {"name":"n","type":"int"},
 {"name":"ok","type":"boolean"},
 {"name":"ratio","type":"float"},
 {"name":"score","type":"double"},
 {"name":"raw","type":"bytes"},
 {"name":"tag","type":{"type":"fixed","name":"Tag","size":2}},
 {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},
 {"name":"email","type":["null","string"],"default":null},
 {"name":"choice","type":["int","string",{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}]},
 {"name":"list","type":{"type":"array","items":"string"}},
 {"name":"attrs","type":{"type":"map","values":["null","long"]}},
 {"name":"note","type":"string","default":"none"}
]}`

func (e *env) consumeAll(t *testing.T, topic string, max int) []console.Printed {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := console.Consume(ctx, console.ConsumeOptions{
		Topic: topic, Brokers: e.broker.Addrs(), Registry: e.registry,
		FromBeginning: true, Max: max, Idle: 3 * time.Second,
	}, &out)
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	if n != max {
		t.Fatalf("consumed %d records, want %d:\n%s", n, max, out.String())
	}
	var recs []console.Printed
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var p console.Printed
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		recs = append(recs, p)
	}
	return recs
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	e.broker.CreateTopic(t, "events", 1, nil)
	lines := []string{
		`k1	{"id":9007199254740993,"n":-7,"ok":true,"ratio":0.5,"score":"NaN","raw":"\u0000\u00ff","tag":"ab","kind":"B","email":{"string":"a@b.c"},"choice":{"t.console.Inner":{"x":3}},"list":["x","<y>"],"attrs":{"a":{"long":1},"b":null},"note":"hi"}`,
		``,
		`{"id":1}	{"id":1,"n":0,"ok":false,"ratio":1e3,"score":-2.25,"raw":"","tag":"zz","kind":"A","choice":{"int":1},"list":[],"attrs":{}}`,
	}
	keySchema := `{"type":"record","name":"Key","namespace":"t.console","fields":[{"name":"id","type":"long"}]}`
	// Keys: the first line's key is not Avro JSON for the key schema, so
	// use a string key topic for it and an Avro key topic for the second.
	n, err := console.Produce(ctx, console.ProduceOptions{
		Topic: "events", Brokers: e.broker.Addrs(), Registry: e.registry,
		ValueSchema: eventSchema, ParseKey: true,
	}, strings.NewReader(lines[0]+"\n"+lines[1]+"\n"))
	if err != nil || n != 1 {
		t.Fatalf("produce with text key: %d, %v", n, err)
	}
	n, err = console.Produce(ctx, console.ProduceOptions{
		Topic: "events", Brokers: e.broker.Addrs(), Registry: e.registry,
		ValueSubject: "events-value", ParseKey: true, KeySchema: keySchema,
	}, strings.NewReader(lines[2]+"\n"))
	if err != nil || n != 1 {
		t.Fatalf("produce with Avro key and --value-subject: %d, %v", n, err)
	}

	recs := e.consumeAll(t, "events", 2)
	first, second := recs[0], recs[1]
	wantFirst := `{"id":9007199254740993,"n":-7,"ok":true,"ratio":0.5,"score":"NaN","raw":"\u0000ÿ","tag":"ab","kind":"B","email":{"string":"a@b.c"},"choice":{"t.console.Inner":{"x":3}},"list":["x","<y>"],"attrs":{"a":{"long":1},"b":null},"note":"hi"}`
	if got := string(first.Value); got != wantFirst {
		t.Errorf("value 1:\n got %s\nwant %s", got, wantFirst)
	}
	if string(first.Key) != `"k1"` || first.KeySchemaID != nil || first.ValueSchemaID == nil {
		t.Errorf("record 1 key/ids: %s %v %v", first.Key, first.KeySchemaID, first.ValueSchemaID)
	}
	// Omitted fields with defaults get them; the value subject's latest
	// schema is the one registered by the first produce.
	wantSecond := `{"id":1,"n":0,"ok":false,"ratio":1000,"score":-2.25,"raw":"","tag":"zz","kind":"A","email":null,"choice":{"int":1},"list":[],"attrs":{},"note":"none"}`
	if got := string(second.Value); got != wantSecond {
		t.Errorf("value 2:\n got %s\nwant %s", got, wantSecond)
	}
	if string(second.Key) != `{"id":1}` || second.KeySchemaID == nil || *second.ValueSchemaID != *first.ValueSchemaID {
		t.Errorf("record 2 key/ids: %s %v %v", second.Key, second.KeySchemaID, second.ValueSchemaID)
	}
	if second.Offset != 1 || second.Topic != "events" || second.Timestamp == 0 {
		t.Errorf("record 2 position: %+v", second)
	}

	// The records are real Confluent wire format: the avro serde reads them.
	generic, err := avro.NewGeneric(e.registry, eventSchema)
	if err != nil {
		t.Fatal(err)
	}
	raw := e.broker.ReadAll(t, "events")
	v, err := generic.Deserialize("events", raw[0].Value)
	if err != nil {
		t.Fatalf("serde reads console record: %v", err)
	}
	if v["id"] != int64(9007199254740993) || v["email"] != "a@b.c" || v["kind"] != "B" {
		t.Errorf("serde decoded %v", v)
	}
}

type order struct {
	OrderID     string `avro:"order_id"`
	Customer    string `avro:"customer"`
	AmountCents int64  `avro:"amount_cents"`
	Currency    string `avro:"currency"`
}

func TestConsumeSerdeRecord(t *testing.T) {
	e := start(t)
	e.broker.CreateTopic(t, "orders", 2, nil)
	orders, err := avro.New[order](e.registry, readSchema(t, "order-v2.avsc"))
	if err != nil {
		t.Fatal(err)
	}
	value, err := orders.Serialize("orders", order{OrderID: "o-1", Customer: "ann", AmountCents: 1250, Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	e.broker.Produce(t, &kgo.Record{Topic: "orders", Key: []byte("ann"), Value: value}, &kgo.Record{Topic: "orders", Key: []byte("tomb")})

	recs := e.consumeAll(t, "orders", 2)
	var got, tomb console.Printed
	for _, r := range recs {
		if string(r.Key) == `"ann"` {
			got = r
		} else {
			tomb = r
		}
	}
	want := `{"order_id":"o-1","customer":"ann","amount_cents":1250,"currency":"USD"}`
	if string(got.Value) != want {
		t.Errorf("value %s, want %s", got.Value, want)
	}
	if got.ValueSchemaID == nil {
		t.Fatal("no value schema id")
	}
	latest, err := e.registry.SchemaByVersion(context.Background(), "orders-value", -1)
	if err != nil || latest.ID != *got.ValueSchemaID {
		t.Errorf("value schema id %d, registry %+v, %v", *got.ValueSchemaID, latest, err)
	}
	if string(tomb.Value) != "null" || tomb.ValueSchemaID != nil {
		t.Errorf("tombstone printed as %+v", tomb)
	}
}

func TestConsumeGroupAndNonAvro(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	e.broker.CreateTopic(t, "g", 1, nil)
	if _, err := console.Produce(ctx, console.ProduceOptions{Topic: "g", Brokers: e.broker.Addrs(), Registry: e.registry, ValueSchema: `"string"`},
		strings.NewReader("\"a\"\n\"b\"\n\"c\"\n")); err != nil {
		t.Fatal(err)
	}
	consume := func(max int) []string {
		var out bytes.Buffer
		_, err := console.Consume(ctx, console.ConsumeOptions{Topic: "g", Brokers: e.broker.Addrs(), Registry: e.registry,
			Group: "cg", FromBeginning: true, Max: max, Idle: 2 * time.Second}, &out)
		if err != nil {
			t.Fatal(err)
		}
		var values []string
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var p console.Printed
			json.Unmarshal([]byte(l), &p)
			values = append(values, string(p.Value))
		}
		return values
	}
	if got := consume(2); strings.Join(got, ",") != `"a","b"` {
		t.Fatalf("first run: %v", got)
	}
	// The group committed what was printed: the next run continues.
	if got := consume(1); strings.Join(got, ",") != `"c"` {
		t.Fatalf("second run: %v", got)
	}

	// A value that is not in the wire format is a clear error.
	e.broker.Produce(t, &kgo.Record{Topic: "g", Value: []byte(`{"plain":"json"}`)})
	_, err := console.Consume(ctx, console.ConsumeOptions{Topic: "g", Brokers: e.broker.Addrs(), Registry: e.registry,
		Group: "cg", Idle: 2 * time.Second}, &bytes.Buffer{})
	var re *console.RecordError
	if !errors.As(err, &re) || re.Offset != 3 || !strings.Contains(err.Error(), "g[0]@3: value: magic byte is 0x7b") {
		t.Errorf("non-Avro value: %v", err)
	}
}

func TestProduceBadLines(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	schema := readSchema(t, "order-v2.avsc")
	cases := []struct {
		name, input, want string
		produced          int
	}{
		{"not JSON", "{\"order_id\":\"1\",\"customer\":\"a\",\"amount_cents\":1}\n{oops}\n", `stdin:2: value: not valid JSON at column 2`, 1},
		{"wrong type", `{"order_id":"1","customer":"a","amount_cents":"ten"}`, `stdin:1: value: does not match schema id 1 (subject "bad-value"): field "amount_cents": expected long, got string "ten"`, 0},
		{"missing field", `{"order_id":"1","amount_cents":1}`, `field "customer": missing, and the field has no default (record io.sluice.examples.Order)`, 0},
		{"unknown field", `{"order_id":"1","customer":"a","amount_cents":1,"amount":2}`, `field "amount": record io.sluice.examples.Order has no such field`, 0},
		{"fraction", `{"order_id":"1","customer":"a","amount_cents":1.5}`, `expected long, got number 1.5 (not an integer)`, 0},
		{"two values", `{"order_id":"1","customer":"a","amount_cents":1} {}`, `more than one JSON value`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := console.Produce(ctx, console.ProduceOptions{Topic: "bad", Brokers: e.broker.Addrs(), Registry: e.registry, ValueSchema: schema},
				strings.NewReader(tc.input))
			var le *console.LineError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant it to contain %s", err, tc.want)
			}
			if n != tc.produced || le.Produced != tc.produced {
				t.Errorf("produced %d (error says %d), want %d", n, le.Produced, tc.produced)
			}
		})
	}

	// Unions must be wrapped, as in Confluent's console producer.
	_, err := console.Produce(ctx, console.ProduceOptions{Topic: "u", Brokers: e.broker.Addrs(), Registry: e.registry, ValueSchema: eventSchema},
		strings.NewReader(`{"id":1,"n":0,"ok":false,"ratio":1,"score":1,"raw":"","tag":"zz","kind":"A","email":"a@b.c","choice":{"int":1},"list":[],"attrs":{}}`))
	want := `field "email": a union ["null","string"] value must be null or an object with one member naming the branch, like {"string": ...}; got string "a@b.c"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("unwrapped union: %v\nwant %s", err, want)
	}
	// Missing key separator.
	_, err = console.Produce(ctx, console.ProduceOptions{Topic: "k", Brokers: e.broker.Addrs(), Registry: e.registry, ValueSchema: schema, ParseKey: true},
		strings.NewReader(`{"order_id":"1","customer":"a","amount_cents":1}`))
	if err == nil || !strings.Contains(err.Error(), `stdin:1: key: no key separator "\t"`) {
		t.Errorf("missing separator: %v", err)
	}
}
