package avro_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

func TestDeserializeErrors(t *testing.T) {
	reg := newFakeRegistry(t)
	s := must[serde.Serde[Event]](t)(avro.New[Event](reg.client(), eventSchema))
	note := "hi"
	good := must[[]byte](t)(s.Serialize("events", Event{ID: 1, Note: &note, Kind: "B", Tags: []string{"a"}, Attrs: map[string]int{"k": 1}}))
	protoID := reg.addTyped("proto-value", `syntax = "proto3"; message M { string a = 1; }`, "PROTOBUF")

	header := good[:5:5]
	with := func(body ...byte) []byte { return append(append([]byte(nil), header...), body...) }
	tests := []struct {
		name     string
		data     []byte
		kind     error
		schemaID int
		contains string
	}{
		{"empty", []byte{}, avro.ErrWireFormat, -1, "0 bytes, shorter than the 5-byte wire-format header"},
		{"short header", []byte{0, 0, 0}, avro.ErrWireFormat, -1, "3 bytes"},
		{"wrong magic byte", []byte{1, 0, 0, 0, 1, 2}, avro.ErrWireFormat, -1, "magic byte is 0x01"},
		{"json instead of avro", []byte(`{"id":1}`), avro.ErrWireFormat, -1, "magic byte is 0x7b"},
		{"unknown schema id", []byte{0, 0, 0, 0, 42, 2}, avro.ErrUnknownSchemaID, 42, "schema id 42 not found in registry " + reg.server.URL},
		{"non-avro schema", []byte{0, 0, 0, 0, byte(protoID), 2}, avro.ErrInvalidSchema, protoID, "schema type is PROTOBUF"},
		{"header only", header, avro.ErrCorrupt, 1, "0 bytes after the header"},
		{"truncated body", good[:len(good)-1], avro.ErrCorrupt, 1, "does not decode with writer schema id 1"},
		{"negative string length", with(0x02, 0x02, 0x03), avro.ErrCorrupt, 1, "negative length -2"},
		{"bad union index", with(0x02, 0x08), avro.ErrCorrupt, 1, ""},
		{"bad enum index", with(0x02, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0x00, 0x00), avro.ErrCorrupt, 1, ""},
		{"huge array", with(0x02, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0xfe, 0xff, 0xff, 0xff, 0x0f), avro.ErrCorrupt, 1, ""},
		{"trailing bytes", append(append([]byte(nil), good...), 0), avro.ErrCorrupt, 1, "bytes left over"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Deserialize("events", tc.data)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want kind %v", err, tc.kind)
			}
			var e *avro.Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T is not an *avro.Error", err)
			}
			if e.Topic != "events" || e.SchemaID != tc.schemaID || e.Op != "deserialize" {
				t.Fatalf("Error{Topic:%q SchemaID:%d Op:%q}, want events, %d, deserialize", e.Topic, e.SchemaID, e.Op, tc.schemaID)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, `avro: topic "events": `) || !strings.Contains(msg, tc.contains) {
				t.Fatalf("message %q: want prefix `avro: topic \"events\": ` and %q", msg, tc.contains)
			}
		})
	}
}

func TestSerializeErrors(t *testing.T) {
	reg := newFakeRegistry(t)
	g := must[serde.Serde[map[string]any]](t)(avro.NewGeneric(reg.client(), userSchema))
	_, err := g.Serialize("users", map[string]any{"name": "no age"})
	if !errors.Is(err, avro.ErrEncode) || !strings.Contains(err.Error(), `subject "users-value"`) {
		t.Fatalf("missing field: err = %v, want ErrEncode naming the subject", err)
	}
	if _, err := g.Serialize("users", map[string]any{"name": 1, "age": 2}); !errors.Is(err, avro.ErrEncode) {
		t.Fatalf("mistyped field: err = %v, want ErrEncode", err)
	}
	if _, err := g.Serialize("users", nil); !errors.Is(err, avro.ErrEncode) {
		t.Fatalf("nil map: err = %v, want ErrEncode", err)
	}
	e := must[serde.Serde[Event]](t)(avro.New[Event](reg.client(), eventSchema))
	if _, err := e.Serialize("events", Event{Kind: "NOPE"}); !errors.Is(err, avro.ErrEncode) {
		t.Fatalf("unknown enum symbol: err = %v, want ErrEncode", err)
	}

	// A registry refusing the schema (409: incompatible with the subject).
	reg.fail.Store(http.StatusConflict)
	_, err = g.Serialize("other", map[string]any{"name": "a", "age": 1})
	reg.fail.Store(0)
	if !errors.Is(err, avro.ErrRegistryRejected) {
		t.Fatalf("409: err = %v, want ErrRegistryRejected", err)
	}
}

// TestRegistryUnavailable checks that registry outages are reported as
// retriable and not cached: the same records succeed once it is back.
func TestRegistryUnavailable(t *testing.T) {
	reg := newFakeRegistry(t)
	writer := must[serde.Serde[User]](t)(avro.New[User](reg.client(), userSchema))
	record := must[[]byte](t)(writer.Serialize("users", User{Name: "a", Age: 1}))

	for _, status := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusTooManyRequests} {
		reg.fail.Store(int32(status))
		s := must[serde.Serde[User]](t)(avro.New[User](reg.client(), userSchema))
		if _, err := s.Deserialize("users", record); !errors.Is(err, avro.ErrRegistryUnavailable) {
			t.Fatalf("%d on deserialize: err = %v, want ErrRegistryUnavailable", status, err)
		}
		if _, err := s.Serialize("users", User{}); !errors.Is(err, avro.ErrRegistryUnavailable) {
			t.Fatalf("%d on serialize: err = %v, want ErrRegistryUnavailable", status, err)
		}
		reg.fail.Store(0)
		if _, err := s.Deserialize("users", record); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
		if _, err := s.Serialize("users", User{}); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	}

	// Nothing listening at all.
	down := newFakeRegistry(t)
	down.server.Close()
	s := must[serde.Serde[User]](t)(avro.New[User](newClient(t, down.server.URL, schemaregistry.WithTimeout(2*time.Second)), userSchema))
	_, err := s.Deserialize("users", record)
	if !errors.Is(err, avro.ErrRegistryUnavailable) {
		t.Fatalf("closed registry: err = %v, want ErrRegistryUnavailable", err)
	}
	if !strings.Contains(err.Error(), "fetch schema id 1: registry "+down.server.URL+" unavailable") {
		t.Fatalf("message %q does not say what and where", err)
	}
	if _, err := s.Serialize("users", User{}); !errors.Is(err, avro.ErrRegistryUnavailable) {
		t.Fatalf("closed registry on serialize: err = %v", err)
	}
}

// TestSkippedCollectionHugeCount guards against hamba/avro's skip decoders,
// which loop over a removed array or map field's item count without
// stopping at the end of the data. A hang here shows as a test timeout.
func TestSkippedCollectionHugeCount(t *testing.T) {
	writer := `{"type":"record","name":"R","fields":[{"name":"a","type":"long"},
	  {"name":"gone","type":{"type":"array","items":"long"}},
	  {"name":"gone2","type":{"type":"map","values":{"type":"array","items":"null"}}}]}`
	mock := memRegistry(t, seed{1, "s", writer})
	s := must[serde.Serde[map[string]any]](t)(avro.NewGeneric(mock, `{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}`))
	for name, body := range map[string][]byte{
		"2^31 items":             {0x02, 0xfe, 0xff, 0xff, 0xff, 0x0f},
		"2^62 items":             {0x02, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"2^62 zero-size items":   {0x02, 0x00, 0x02, 0x02, 'k', 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"negative block 2^62":    {0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x02},
		"minimum int64 as count": {0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		_, err := s.Deserialize("t", append([]byte{0, 0, 0, 0, 1}, body...))
		if !errors.Is(err, avro.ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
	// Removed fields skip correctly when the data is good.
	good := []byte{0, 0, 0, 0, 1, 0x06, 0x04, 0x02, 0x04, 0x00, 0x02, 0x02, 'k', 0x00, 0x00}
	if m, err := s.Deserialize("t", good); err != nil || m["a"] != int64(3) {
		t.Fatalf("good record = %v, %v", m, err)
	}
}

func TestRegistryUnavailableIsTransient(t *testing.T) {
	err := &avro.Error{Kind: avro.ErrRegistryUnavailable, Op: "deserialize", Topic: "t", SchemaID: 1}
	if !errors.Is(err, serde.ErrTransient) {
		t.Fatal("ErrRegistryUnavailable does not match serde.ErrTransient")
	}
	if errors.Is(&avro.Error{Kind: avro.ErrCorrupt, Topic: "t"}, serde.ErrTransient) {
		t.Fatal("ErrCorrupt matches serde.ErrTransient")
	}
}
