package dynamic_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/dynamic"
)

// fuzzReaderSchema reads all.avsc's records resolved: most fields are
// skipped, one is promoted, one added with a default. It keeps the field
// of type null: hamba/avro cannot skip one (it reports "schema type null
// is unsupported" for the next field).
const fuzzReaderSchema = `{"type":"record","name":"All","namespace":"com.x","fields":[
	{"name":"i","type":"long"},
	{"name":"s","type":"string"},
	{"name":"rec","type":{"type":"record","name":"Addr","fields":[{"name":"city","type":"string"},{"name":"zip","type":["null","int"],"default":null}]}},
	{"name":"optDec","type":["null",{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}]},
	{"name":"n","type":"null"},
	{"name":"added","type":{"type":"map","values":"long"},"default":{"a":1}}
]}`

type fuzzTarget struct {
	typ, reader *dynamic.Type
	all, small  serde.Serde[any]
	seeds       [][]byte
}

// newFuzzTarget registers all.avsc as id 1 in the in-memory registry
// and returns serdes reading it as itself and as a smaller resolved
// reader, with seed records.
func newFuzzTarget(f testing.TB) fuzzTarget {
	mock, reg := mockRegistry(f)
	reg.SeedSchema("all-value", 1, 1, sr.Schema{Schema: readSchema(f, "all.avsc")})
	ft := fuzzTarget{typ: newAll(f)}
	ft.reader = must[*dynamic.Type](f)(dynamic.FromAvro(fuzzReaderSchema))
	ft.all = must[serde.Serde[any]](f)(dynamic.AvroSerde(mock, ft.typ, avro.UseSchemaID(1)))
	ft.small = must[serde.Serde[any]](f)(dynamic.AvroSerde(mock, ft.reader, avro.UseSchemaID(1)))
	for _, fixture := range []map[string]any{allFixture(), allNulls()} {
		ft.seeds = append(ft.seeds, must[[]byte](f)(ft.all.Serialize("all", must[any](f)(ft.typ.FromMap(fixture)))))
	}
	return ft
}

func checkAvroError(t *testing.T, data []byte, err error) {
	t.Helper()
	var e *avro.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T (%v) is not an *avro.Error", err, err)
	}
	if strings.Contains(err.Error(), "panicked") {
		t.Fatalf("decoder panicked on % x: %v", data, err)
	}
	if !errors.Is(err, avro.ErrWireFormat) && !errors.Is(err, avro.ErrUnknownSchemaID) && !errors.Is(err, avro.ErrCorrupt) {
		t.Fatalf("unexpected error kind for % x: %v", data, err)
	}
}

// FuzzAvroDeserialize feeds arbitrary record bodies behind a valid header
// to the dynamic Avro serde, read as the writer's own type and as a
// resolved smaller type: they must decode or fail with a corrupt-record
// error, never panic; a decoded value must survive a round trip.
func FuzzAvroDeserialize(f *testing.F) {
	ft := newFuzzTarget(f)
	for _, rec := range ft.seeds {
		f.Add(rec[5:])
		f.Add(rec[5 : len(rec)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x01, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, body []byte) {
		data := append([]byte{0, 0, 0, 0, 1}, body...)
		v, err := ft.all.Deserialize("fuzz", data)
		if err != nil {
			checkAvroError(t, data, err)
		} else {
			again, err := ft.all.Serialize("fuzz", v)
			if err != nil {
				// Decimals longer than their precision decode but do not
				// encode; nothing else may fail.
				if !strings.Contains(err.Error(), "precision") {
					t.Fatalf("re-encoding a decoded value: %v", err)
				}
			} else {
				v2, err := ft.all.Deserialize("fuzz", again)
				if err != nil {
					t.Fatalf("decoding re-encoded % x: %v", again, err)
				}
				m1 := must[map[string]any](t)(ft.typ.ToMap(v))
				m2 := must[map[string]any](t)(ft.typ.ToMap(v2))
				for _, k := range []string{"f", "d", "optMap"} { // NaN != NaN
					delete(m1, k)
					delete(m2, k)
				}
				if d := diff(m1, m2); d != "" {
					t.Fatalf("round trip changed the value:\n%s", d)
				}
			}
		}
		if _, err := ft.small.Deserialize("fuzz", data); err != nil {
			checkAvroError(t, data, err)
		}
	})
}

// FuzzJSONDeserialize feeds arbitrary text to the typed JSON serde: it
// must fail or decode; what decodes is JSON and survives a round trip.
func FuzzJSONDeserialize(f *testing.F) {
	typ := newAll(f)
	s := dynamic.JSONSerde(typ)
	for _, fixture := range []map[string]any{allFixture(), allNulls()} {
		data := must[[]byte](f)(s.Serialize("all", must[any](f)(typ.FromMap(fixture))))
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte(`{"i":1e3,"uRec":{"city":"x"},"u":true,"dec":"1.5","tsms":-1e15}`))
	f.Add([]byte(`{"s":"\ud800\udc00\u0000","m":{"a":"b"},"extra":[[[{}]]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := s.Deserialize("fuzz", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "dynamic: json decode com.x.All from topic \"fuzz\": ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if utf8.Valid(data) && !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		out, err := s.Serialize("fuzz", v)
		if err != nil {
			t.Fatalf("re-encoding %q: %v", data, err)
		}
		v2, err := s.Deserialize("fuzz", out)
		if err != nil {
			t.Fatalf("decoding re-encoded %s: %v", out, err)
		}
		if d := diff(must[map[string]any](t)(typ.ToMap(v)), must[map[string]any](t)(typ.ToMap(v2))); d != "" {
			t.Fatalf("round trip of %s changed the value:\n%s", out, d)
		}
	})
}

// FuzzSchemalessJSON compares the schemaless decoder with encoding/json:
// both accept the same texts (up to nesting depth and number range).
func FuzzSchemalessJSON(f *testing.F) {
	s := dynamic.SchemalessJSONSerde()
	for _, seed := range []string{`{"a":[1,2.5,"x",null,true]}`, `"\u00e9"`, `-0.0e+1`, `[{"":{}}]`, `{"a":1,"a":2}`, "\"\xff\""} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := s.Deserialize("fuzz", data)
		var ref any
		refErr := json.Unmarshal(data, &ref)
		switch {
		case err == nil && refErr != nil:
			t.Fatalf("accepted %q, which encoding/json rejects: %v", data, refErr)
		case err != nil && refErr == nil && !strings.Contains(err.Error(), "nested deeper"):
			t.Fatalf("rejected %q, which encoding/json accepts: %v", data, err)
		}
		if err == nil {
			if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
				t.Fatalf("decoded %q as %v", data, f)
			}
			if _, err := s.Serialize("fuzz", v); err != nil {
				t.Fatalf("re-encoding %q: %v", data, err)
			}
		}
	})
}

// TestFuzzSeedsDecode makes sure the fuzz seeds decode, so that the
// targets start from the interesting paths.
func TestFuzzSeedsDecode(t *testing.T) {
	t.Parallel()
	ft := newFuzzTarget(t)
	for i, rec := range ft.seeds {
		if _, err := ft.all.Deserialize("fuzz", rec); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		v := must[any](t)(ft.small.Deserialize("fuzz", rec))
		m := must[map[string]any](t)(ft.reader.ToMap(v))
		if m["added"].(map[string]any)["a"] != int64(1) || m["rec"].(map[string]any)["city"] != "Paris" && i == 0 {
			t.Fatalf("seed %d resolved: %v", i, m)
		}
	}
}
