package connectavro

import (
	"bytes"
	"testing"
)

const fuzzUnionSchema = `{"type":"record","name":"U","fields":[
	{"name":"u","type":["null","int","string",{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}]},{"type":"array","items":"boolean"}]},
	{"name":"m","type":{"type":"map","values":{"type":"fixed","name":"F","size":2}}},
	{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
	{"name":"empty","type":{"type":"array","items":{"type":"record","name":"Z","fields":[]}}}
]}`

// FuzzDecode feeds arbitrary bytes to codecs of several schemas, plain and
// with schema resolution. Decoding must never panic and must allocate in
// proportion to the input (lengths and counts are checked against it);
// whatever decodes must re-encode to bytes that decode to the same bytes.
func FuzzDecode(f *testing.F) {
	s, v := everything()
	every, err := NewCodec(s)
	if err != nil {
		f.Fatal(err)
	}
	deb, err := NewCodec(debeziumEnvelope())
	if err != nil {
		f.Fatal(err)
	}
	union, err := NewCodecFromAvro(fuzzUnionSchema)
	if err != nil {
		f.Fatal(err)
	}
	// A reader that differs from every: resolution with skips, promotions
	// and defaults.
	evolved, err := NewCodecFromAvro(`{"type":"record","name":"Everything","namespace":"com.acme","fields":[
		{"name":"i32","type":"double"},{"name":"str","type":"bytes"},{"name":"extra","type":"string","default":"x"},
		{"name":"tags","type":{"type":"array","items":"bytes"}},{"name":"opt","type":["null","float"],"default":null}]}`)
	if err != nil {
		f.Fatal(err)
	}
	data, _ := every.Append(nil, v)
	f.Add(data)
	f.Add([]byte{})
	f.Add([]byte{2, 2, 'h', 'i', 0, 0, 0, 0})
	f.Add(appendLong(nil, -3))
	f.Add(appendLong(appendLong(nil, 1<<40), 7))
	codecs := []*Codec{every, deb, union}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range codecs {
			v, err := c.Decode(data)
			if err != nil {
				continue
			}
			enc, err := c.Append(nil, v)
			if err != nil {
				t.Fatalf("re-encode a decoded value: %v", err)
			}
			v2, err := c.Decode(enc)
			if err != nil {
				t.Fatalf("decode re-encoded bytes: %v", err)
			}
			enc2, _ := c.Append(nil, v2)
			if !bytes.Equal(enc, enc2) {
				t.Fatalf("unstable encoding %x / %x", enc, enc2)
			}
		}
		_, _ = evolved.DecodeFrom(every, data)
	})
}
