package avro_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/avro"
)

// eventV0Schema is an older writer version of eventSchema: it lacks attrs
// (the reader's default fills it), writes id as int (promoted to long), has
// the enum with an extra symbol, and carries fields the reader skips:
// nested records, arrays (including of records), maps, fixed,
// bytes and unions.
const eventV0Schema = `{
  "type": "record", "name": "Event", "namespace": "com.x",
  "fields": [
    {"name": "id",    "type": "int"},
    {"name": "gone1", "type": {"type": "array", "items": {"type": "record", "name": "Old", "fields": [
        {"name": "a", "type": "long"}, {"name": "b", "type": ["null", "bytes", {"type": "fixed", "name": "F", "size": 3}]}]}}},
    {"name": "note",  "type": ["null", "string"]},
    {"name": "flag",  "type": "boolean"},
    {"name": "gone2", "type": {"type": "map", "values": {"type": "array", "items": "int"}}},
    {"name": "score", "type": "float"},
    {"name": "kind",  "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B", "C", "D"]}},
    {"name": "gone3", "type": {"type": "array", "items": "long"}},
    {"name": "tags",  "type": {"type": "array", "items": "string"}}
  ]
}`

// eventReaderSchema is eventSchema with the defaults that reading
// eventV0Schema records needs.
const eventReaderSchema = `{
  "type": "record", "name": "Event", "namespace": "com.x",
  "fields": [
    {"name": "id",    "type": "long"},
    {"name": "note",  "type": ["null", "string"]},
    {"name": "flag",  "type": "boolean"},
    {"name": "score", "type": "double"},
    {"name": "kind",  "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B", "C"], "default": "A"}},
    {"name": "tags",  "type": {"type": "array", "items": "string"}},
    {"name": "attrs", "type": {"type": "map", "values": "int"}, "default": {}}
  ]
}`

type fuzzSerdes struct {
	typed   serde.Serde[Event]
	generic serde.Serde[map[string]any]
}

// newFuzzSerdes registers eventSchema as id 1 and eventV0Schema as id 2 in
// the in-memory registry (the serdes fetch each id once, so fuzzing makes
// few HTTP requests).
func newFuzzSerdes(f testing.TB) fuzzSerdes {
	mock := memRegistry(f, seed{1, "events-value", eventSchema}, seed{2, "events-value", eventV0Schema})
	typed, err := avro.New[Event](mock, eventReaderSchema, avro.UseSchemaID(1))
	if err != nil {
		f.Fatal(err)
	}
	generic, err := avro.NewGeneric(mock, eventReaderSchema, avro.UseSchemaID(1))
	if err != nil {
		f.Fatal(err)
	}
	return fuzzSerdes{typed: typed, generic: generic}
}

func seedRecords(f testing.TB) [][]byte {
	mock := memRegistry(f, seed{1, "events-value", eventSchema}, seed{2, "events-value", eventV0Schema})
	v1 := must[serde.Serde[map[string]any]](f)(avro.NewGeneric(mock, eventSchema, avro.UseSchemaID(1)))
	v0 := must[serde.Serde[map[string]any]](f)(avro.NewGeneric(mock, eventV0Schema, avro.UseSchemaID(2)))
	return [][]byte{
		must[[]byte](f)(v1.Serialize("events", map[string]any{"id": int64(-2), "note": "hi", "flag": true, "score": 1.5,
			"kind": "C", "tags": []any{"x", "y"}, "attrs": map[string]any{"k": -1, "l": 300}})),
		must[[]byte](f)(v1.Serialize("events", map[string]any{"id": int64(0), "note": nil, "flag": false, "score": 0.0,
			"kind": "A", "tags": []any{}, "attrs": map[string]any{}})),
		must[[]byte](f)(v0.Serialize("events", map[string]any{"id": 7, "note": "n", "flag": true, "score": float32(2.5), "kind": "D",
			"gone1": []any{map[string]any{"a": int64(1), "b": nil}, map[string]any{"a": int64(2), "b": map[string]any{"bytes": []byte("zz")}},
				map[string]any{"a": int64(3), "b": map[string]any{"com.x.F": [3]byte{1, 2, 3}}}},
			"gone2": map[string]any{"m": []any{1, 2}}, "gone3": []any{int64(5)}, "tags": []any{"t"}})),
	}
}

// checkDecodeError fails unless err is nil or a well-formed *avro.Error of a
// kind Deserialize may return for bad input.
func checkDecodeError(t *testing.T, data []byte, err error) {
	t.Helper()
	if err == nil {
		if len(data) < 5 || data[0] != 0 {
			t.Fatalf("% x decoded without a wire-format header", data)
		}
		return
	}
	var e *avro.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T (%v) is not an *avro.Error", err, err)
	}
	if strings.Contains(err.Error(), "panicked") {
		t.Fatalf("decoder panicked on % x: %v", data, err)
	}
	for _, kind := range []error{avro.ErrWireFormat, avro.ErrUnknownSchemaID, avro.ErrCorrupt} {
		if errors.Is(err, kind) {
			return
		}
	}
	t.Fatalf("unexpected error kind for % x: %v", data, err)
}

// FuzzDeserialize feeds arbitrary bytes, header included, to Deserialize:
// wrong magic bytes, short headers, unknown ids and corrupt bodies must all
// come back as errors, never as a panic or a hang.
func FuzzDeserialize(f *testing.F) {
	s := newFuzzSerdes(f)
	for _, rec := range seedRecords(f) {
		f.Add(rec)
		f.Add(rec[:len(rec)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add([]byte{1, 0, 0, 0, 1})
	f.Add([]byte{0, 0, 0, 0, 3, 0})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := s.typed.Deserialize("fuzz", data)
		checkDecodeError(t, data, err)
		_, err = s.generic.Deserialize("fuzz", data)
		checkDecodeError(t, data, err)
	})
}

// FuzzDecodeAvro fuzzes the Avro body behind a valid header for the
// current (id 1) and the older, resolved (id 2) writer schema, typed and
// generic. A typed value that decodes must survive a round trip.
func FuzzDecodeAvro(f *testing.F) {
	s := newFuzzSerdes(f)
	for _, rec := range seedRecords(f) {
		f.Add(rec[4], rec[5:])
	}
	f.Add(byte(1), []byte{0x02, 0x02, 0x03})
	f.Add(byte(2), []byte{0x02, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, id byte, body []byte) {
		data := append([]byte{0, 0, 0, 0, 1 + id%2}, body...)
		v, err := s.typed.Deserialize("fuzz", data)
		checkDecodeError(t, data, err)
		if err == nil {
			again, err := s.typed.Serialize("fuzz", v)
			if err != nil {
				t.Fatalf("re-encoding decoded %+v: %v", v, err)
			}
			v2, err := s.typed.Deserialize("fuzz", again)
			if err != nil {
				t.Fatalf("decoding re-encoded % x: %v", again, err)
			}
			if math.IsNaN(v.Score) && math.IsNaN(v2.Score) {
				v.Score, v2.Score = 0, 0
			}
			if !reflect.DeepEqual(v, v2) {
				t.Fatalf("round trip changed the value: %+v → %+v", v, v2)
			}
		}
		_, err = s.generic.Deserialize("fuzz", data)
		checkDecodeError(t, data, err)
	})
}

// TestFuzzSeedsDecode makes sure the seeds reach the decoding paths the
// fuzz targets are meant to cover, including the resolved older writer.
func TestFuzzSeedsDecode(t *testing.T) {
	s := newFuzzSerdes(t)
	for i, rec := range seedRecords(t) {
		v, err := s.typed.Deserialize("fuzz", rec)
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		if _, err := s.generic.Deserialize("fuzz", rec); err != nil {
			t.Fatalf("seed %d generic: %v", i, err)
		}
		t.Logf("seed %d (schema id %d): %+v", i, rec[4], v)
	}
}
