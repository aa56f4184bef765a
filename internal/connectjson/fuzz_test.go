package connectjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

var jsonSeeds = []string{
	`{"a":1,"b":[1.5,"x",null,true,false],"c":{"d":"\u00e9\ud83d\ude00"}}`,
	`[1,-0,0.5e-3,1E400,-9223372036854775809,9223372036854775807]`,
	`"a\"\\\/\b\f\n\r\t\u0000"`, "\"\xff\xfe\"", `  null  `, `{"a":1,"a":2}`, `[[[[]]]]`,
	`{"schema":null,"payload":{"x":[1,2]}}`,
	kipEnvelope,
}

// FuzzDecode checks Decode against encoding/json: the same documents are
// valid, and they decode to the same values.
func FuzzDecode(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(data)
		valid := json.Valid(data)
		if err != nil {
			if strings.Contains(err.Error(), "nested deeper") {
				return // encoding/json allows 10000 levels, Jackson and Decode 1000
			}
			if valid {
				t.Fatalf("Decode rejected valid JSON %q: %v", data, err)
			}
			return
		}
		if !valid {
			t.Fatalf("Decode accepted invalid JSON %q", data)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		if !sameJSON(got, want) {
			t.Fatalf("Decode(%q) = %#v, encoding/json %#v", data, got, want)
		}
		// What Decode returns encodes and decodes to itself (but for huge
		// numbers, which become infinities written as strings, as in
		// Kafka Connect).
		if hasInf(got) {
			return
		}
		enc, err := Append(nil, nil, got, Options{})
		if err != nil {
			t.Fatalf("Append(%#v): %v", got, err)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Append(...)) of %q: %v", enc, err)
		}
		if !sameJSON(again, got) {
			t.Fatalf("round trip %q -> %#v, want %#v", enc, again, got)
		}
	})
}

func hasInf(v any) bool {
	switch x := v.(type) {
	case float64:
		return math.IsInf(x, 0)
	case []any:
		for _, e := range x {
			if hasInf(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasInf(e) {
				return true
			}
		}
	}
	return false
}

// sameJSON compares a Decode result with encoding/json's (UseNumber).
func sameJSON(got, want any) bool {
	switch w := want.(type) {
	case json.Number:
		switch g := got.(type) {
		case int64:
			i, err := w.Int64()
			return err == nil && i == g && !strings.ContainsAny(string(w), ".eE")
		case float64:
			f, err := strconv.ParseFloat(string(w), 64)
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				return false
			}
			return f == g || math.IsNaN(f) && math.IsNaN(g)
		}
		return false
	case float64:
		g, ok := got.(float64)
		return ok && (g == w || math.IsNaN(g) && math.IsNaN(w))
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !sameJSON(g[i], w[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok || !sameJSON(gv, wv) {
				return false
			}
		}
		return true
	case int64:
		g, ok := got.(int64)
		return ok && g == w
	}
	return got == want
}

// FuzzDecodeEnvelope checks that envelopes never panic, and that whatever
// decodes re-encodes to an envelope that decodes to the same bytes again.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	s, v := everything()
	data, _ := AppendEnvelope(nil, s, v, Options{})
	f.Add(data)
	f.Add([]byte(`{"schema":{"type":"map","keys":{"type":"int8"},"values":{"type":"double","optional":true}},"payload":[[1,null],[2,"NaN"]]}`))
	f.Add([]byte(`{"schema":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"-3"}},"payload":12000}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		schema, value, err := DecodeEnvelope(data)
		if err != nil {
			return
		}
		if schema != nil {
			if err := connectors.Validate(schema, value); err != nil {
				t.Fatalf("decoded value does not fit its schema: %v\n%q", err, data)
			}
		}
		for _, opts := range []Options{{}, {DecimalNumeric: true}} {
			enc, err := AppendEnvelope(nil, schema, value, opts)
			if err != nil {
				t.Fatalf("re-encode %q: %v", data, err)
			}
			s2, v2, err := DecodeEnvelope(enc)
			if err != nil {
				t.Fatalf("decode re-encoded %q: %v", enc, err)
			}
			enc2, err := AppendEnvelope(nil, s2, v2, opts)
			if err != nil || !bytes.Equal(enc, enc2) {
				t.Fatalf("unstable encoding:\n%s\n%s (%v)", enc, enc2, err)
			}
		}
	})
}

// FuzzParseSchema checks that schema JSON never panics and that a parsed
// schema writes and reads back as the same schema.
func FuzzParseSchema(f *testing.F) {
	s, _ := everything()
	f.Add(AppendSchema(nil, s))
	f.Add([]byte(`{"type":"struct","fields":[{"type":"int32","optional":true,"field":"a","default":3}],"version":2,"parameters":{"k":"v"}}`))
	f.Add([]byte(`{"type":"array","items":{"type":"float","default":"Infinity"},"default":[1.5]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		if err != nil {
			return
		}
		schema, err := ParseSchema(v)
		if err != nil || schema == nil {
			return
		}
		text, err := AppendSchemaOptions(nil, schema, Options{})
		if err != nil {
			t.Fatalf("AppendSchema of parsed %q: %v", data, err)
		}
		v2, err := Decode(text)
		if err != nil {
			t.Fatalf("Decode(%s): %v", text, err)
		}
		back, err := ParseSchema(v2)
		if err != nil {
			t.Fatalf("ParseSchema(%s): %v", text, err)
		}
		text2, _ := AppendSchemaOptions(nil, back, Options{})
		if !bytes.Equal(text, text2) {
			t.Fatalf("schema round trip:\n%s\n%s", text, text2)
		}
	})
}
