package dynamic_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/dynamic"
)

// TestGenericCompatibility writes with the dynamic serde and reads with
// serde/avro's generic one, and the other way round, through Sluice's
// schema registry: both produce and accept the same bytes.
func TestGenericCompatibility(t *testing.T) {
	t.Parallel()
	client, _ := startRegistry(t)
	schema := readSchema(t, "all.avsc")
	typ := newAll(t)
	dyn := must[serde.Serde[any]](t)(dynamic.AvroSerde(client, typ))
	gen := must[serde.Serde[map[string]any]](t)(avro.NewGeneric(client, schema))
	for name, fixture := range map[string]map[string]any{"all set": allFixture(), "nulls and other branches": allNulls()} {
		t.Run(name, func(t *testing.T) {
			v := must[any](t)(typ.FromMap(fixture))
			want := must[map[string]any](t)(typ.ToMap(v))

			// avro.NewGeneric holds a nullable union of a record, enum,
			// array or map as {"<branch>": value}; FromMap takes that form.
			data := must[[]byte](t)(dyn.Serialize("compat-a", v))
			generic := must[map[string]any](t)(gen.Deserialize("compat-a", data))
			if opt, ok := generic["optRec"].(map[string]any); ok {
				if _, wrapped := opt["com.x.Addr"]; !wrapped {
					t.Fatalf("generic optRec = %v, want the {branch: value} form", opt)
				}
			}
			delete(generic, "dur") // hamba/avro's own LogicalDuration type
			generic["dur"] = fixture["dur"]
			got := must[map[string]any](t)(typ.ToMap(must[any](t)(typ.FromMap(generic))))
			if d := diff(want, got); d != "" {
				t.Fatalf("generic read of dynamic bytes:\n%s", d)
			}

			data = must[[]byte](t)(gen.Serialize("compat-b", hambaForm(want)))
			back := must[any](t)(dyn.Deserialize("compat-b", data))
			if d := diff(want, must[map[string]any](t)(typ.ToMap(back))); d != "" {
				t.Fatalf("dynamic read of generic bytes:\n%s", d)
			}
		})
	}
}

// hambaForm wraps the non-null values of all.avsc's nullable unions of
// complex types as avro.NewGeneric wants them.
func hambaForm(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for field, branch := range map[string]string{"optRec": "com.x.Addr", "optArr": "array", "optMap": "map", "optEnum": "com.x.Color"} {
		if v := out[field]; v != nil {
			out[field] = map[string]any{branch: v}
		}
	}
	return out
}

const userV1 = `{"type":"record","name":"User","namespace":"com.x","fields":[
	{"name":"name","type":"string"},
	{"name":"age","type":"int"},
	{"name":"legacy","type":"string"}
]}`

// userV2 drops legacy, widens age to long, and adds two defaulted fields.
const userV2 = `{"type":"record","name":"User","namespace":"com.x","fields":[
	{"name":"name","type":"string"},
	{"name":"age","type":"long"},
	{"name":"email","type":["null","string"],"default":null},
	{"name":"tier","type":{"type":"enum","name":"Tier","symbols":["FREE","PRO"]},"default":"FREE"},
	{"name":"tags","type":{"type":"array","items":"string"},"default":["new"]}
]}`

// TestSchemaResolution reads records written with another registered
// version of the subject into the serde's Type, both ways.
func TestSchemaResolution(t *testing.T) {
	t.Parallel()
	client, _ := startRegistry(t)
	v1 := must[*dynamic.Type](t)(dynamic.FromAvro(userV1))
	v2 := must[*dynamic.Type](t)(dynamic.FromAvro(userV2))
	s1 := must[serde.Serde[any]](t)(dynamic.AvroSerde(client, v1))
	s2 := must[serde.Serde[any]](t)(dynamic.AvroSerde(client, v2))

	old := must[[]byte](t)(s1.Serialize("users", must[any](t)(v1.FromMap(map[string]any{"name": "ann", "age": 41, "legacy": "x"}))))
	newer := must[[]byte](t)(s2.Serialize("users", must[any](t)(v2.FromMap(map[string]any{"name": "bob", "age": int64(1) << 40, "email": "b@x", "tier": "PRO", "tags": []any{"a"}}))))
	if old[4] == newer[4] {
		t.Fatalf("v1 and v2 share schema id %d", old[4])
	}

	got := must[map[string]any](t)(v2.ToMap(must[any](t)(s2.Deserialize("users", old))))
	want := map[string]any{"name": "ann", "age": int64(41), "email": nil, "tier": "FREE", "tags": []any{"new"}}
	if d := diff(want, got); d != "" {
		t.Fatalf("v2 reading v1:\n%s", d)
	}
	// Defaults are fresh per record: changing one decoded value's tags
	// does not change the next one's.
	first := must[any](t)(s2.Deserialize("users", old))
	tags := must[*dynamic.Accessor](t)(v2.Accessor("tags"))
	tags.Get(first).([]string)[0] = "changed"
	if again := tags.Get(must[any](t)(s2.Deserialize("users", old))).([]string); again[0] != "new" {
		t.Fatalf("default shared between records: %v", again)
	}

	// v1 cannot read v2's records: legacy has no default.
	if _, err := s1.Deserialize("users", newer); !errors.Is(err, avro.ErrIncompatibleSchema) {
		t.Fatalf("v1 reading v2: err = %v, want ErrIncompatibleSchema", err)
	}
	var aerr *avro.Error
	if _, err := s1.Deserialize("users", newer); !errors.As(err, &aerr) || aerr.Topic != "users" || aerr.SchemaID != int(newer[4]) {
		t.Fatalf("error does not name topic and schema id: %#v", err)
	}
}

// TestAvroSerdeErrors checks the serde's errors: an unreachable registry
// is transient, wrong values name the topic.
func TestAvroSerdeErrors(t *testing.T) {
	t.Parallel()
	typ := must[*dynamic.Type](t)(dynamic.FromAvro(userV1))
	down := must[serde.Serde[any]](t)(dynamic.AvroSerde(newClient(t, "http://127.0.0.1:1"), typ))
	v := must[any](t)(typ.FromMap(map[string]any{"name": "a", "age": 1, "legacy": ""}))
	_, err := down.Serialize("users", v)
	if !errors.Is(err, serde.ErrTransient) || !errors.Is(err, avro.ErrRegistryUnavailable) || !strings.Contains(err.Error(), `topic "users"`) {
		t.Fatalf("unreachable registry: err = %v, want a transient ErrRegistryUnavailable naming the topic", err)
	}
	if _, err := down.Deserialize("users", []byte{0, 0, 0, 0, 7, 0}); !errors.Is(err, serde.ErrTransient) {
		t.Fatalf("unreachable registry on read: err = %v", err)
	}

	s := must[serde.Serde[any]](t)(dynamic.AvroSerde(mustMock(t), typ))
	for _, bad := range []any{nil, "a string", map[string]any{"name": "x"}, typ.Reflect()} {
		if _, err := s.Serialize("users", bad); !errors.Is(err, avro.ErrEncode) || !strings.Contains(err.Error(), "com.x.User") && !strings.Contains(err.Error(), "struct") {
			t.Errorf("Serialize(%T): err = %v, want ErrEncode", bad, err)
		}
	}
	other := must[*dynamic.Type](t)(dynamic.FromAvro(userV2))
	if _, err := s.Serialize("users", other.New()); !errors.Is(err, avro.ErrEncode) {
		t.Errorf("value of another type: err = %v", err)
	}
	if _, err := s.Deserialize("users", []byte{1, 2}); !errors.Is(err, avro.ErrWireFormat) {
		t.Errorf("short record: err = %v", err)
	}
}

// TestSubjectStrategies registers under the strategy's subject and, with
// auto-registration off, only looks the schema up.
func TestSubjectStrategies(t *testing.T) {
	t.Parallel()
	client, _ := startRegistry(t)
	typ := must[*dynamic.Type](t)(dynamic.FromAvro(userV1))
	v := must[any](t)(typ.FromMap(map[string]any{"name": "a", "age": 1, "legacy": ""}))

	lookup := must[serde.Serde[any]](t)(dynamic.AvroSerde(client, typ, avro.WithSubjectStrategy(avro.RecordName), avro.AutoRegister(false)))
	if _, err := lookup.Serialize("t1", v); !errors.Is(err, avro.ErrSchemaNotRegistered) || !strings.Contains(err.Error(), `"com.x.User"`) {
		t.Fatalf("look-up before registration: err = %v, want ErrSchemaNotRegistered naming the subject", err)
	}
	register := must[serde.Serde[any]](t)(dynamic.AvroSerde(client, typ, avro.WithSubjectStrategy(avro.RecordName)))
	written := must[[]byte](t)(register.Serialize("t1", v))
	if got, err := client.SchemaByVersion(context.Background(), "com.x.User", -1); err != nil || got.ID != int(written[4]) {
		t.Fatalf("subject com.x.User: %v, %v; record has id %d", got, err, written[4])
	}
	if again := must[[]byte](t)(lookup.Serialize("t2", v)); string(again) != string(written) {
		t.Fatalf("look-up wrote % x, want % x", again, written)
	}
	keys := must[serde.Serde[any]](t)(dynamic.AvroSerde(client, typ, avro.Key(), avro.WithSubjectStrategy(avro.TopicName)))
	must[[]byte](t)(keys.Serialize("t3", v))
	if _, err := client.SchemaByVersion(context.Background(), "t3-key", -1); err != nil {
		t.Fatalf("subject t3-key: %v", err)
	}
}
