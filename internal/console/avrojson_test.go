package console

import (
	"encoding/json"
	"strings"
	"testing"

	havro "github.com/hamba/avro/v2"
)

const fuzzSchema = `{"type":"record","name":"R","fields":[
 {"name":"a","type":["null","long",{"type":"array","items":"null"}]},
 {"name":"m","type":{"type":"map","values":{"type":"enum","name":"E","symbols":["X","Y"]}}},
 {"name":"f","type":{"type":"fixed","name":"F","size":3}},
 {"name":"d","type":"double"},
 {"name":"s","type":"bytes"},
 {"name":"next","type":["null","R"],"default":null}
]}`

// FuzzDecodeJSON checks that arbitrary bodies never panic or allocate
// without bound, and that whatever decodes re-encodes to the same bytes.
func FuzzDecodeJSON(f *testing.F) {
	schema := mustParse(fuzzSchema)
	seed, err := encodeJSON(nil, schema, mustJSON(`{"a":{"long":5},"m":{"k":"Y"},"f":"abc","d":1.5,"s":"\u0001","next":{"R":{"a":null,"m":{},"f":"xyz","d":"NaN","s":"","next":null}}}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte{4, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := decodeJSON(nil, schema, data)
		if err != nil {
			return
		}
		again, err := encodeJSON(nil, schema, mustJSON(string(out)))
		if err != nil {
			t.Fatalf("decoded %s does not re-encode: %v", out, err)
		}
		back, err := decodeJSON(nil, schema, again)
		if err != nil || string(back) != string(out) {
			t.Fatalf("round trip: %s -> %s (%v)", out, back, err)
		}
	})
}

func mustJSON(s string) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		panic(err)
	}
	return v
}

func mustParse(s string) havro.Schema {
	schema, err := havro.ParseWithCache(s, "", &havro.SchemaCache{})
	if err != nil {
		panic(err)
	}
	return schema
}
