package dsl

import (
	"testing"

	"github.com/sluicehq/sluice/core"
)

// FuzzSuppressEntry: decoding a suppression buffer entry (read back from
// the store or its changelog) never panics, and an encoded entry decodes to
// itself.
func FuzzSuppressEntry(f *testing.F) {
	p := &suppressProcessor[string, string]{suppressSpec: &suppressSpec[string, string]{store: "buffer"}}
	f.Add([]byte("k"), int64(10), int64(7), []byte("old"), true, []byte("new"), true, "h", []byte("v"))
	f.Add([]byte{}, int64(-1), int64(0), []byte(nil), false, []byte{}, true, "", []byte(nil))
	f.Fuzz(func(t *testing.T, kb []byte, bufferTime, ts int64, prior []byte, hasPrior bool, value []byte, hasNew bool, hk string, hv []byte) {
		_, _ = p.decode(kb, prior) // arbitrary bytes
		_, _ = p.decode(kb, value)
		if !hasPrior {
			prior = nil
		}
		if !hasNew {
			value = nil
		}
		e := &suppressed{bufferTime: bufferTime, ts: ts, prior: prior, hasPrior: hasPrior, new: value, hasNew: hasNew}
		if hk != "" {
			e.headers = append(e.headers, core.Header{Key: hk, Value: hv})
		}
		raw := p.encode(e)
		got, err := p.decode(kb, raw)
		if err != nil {
			t.Fatalf("decode(encode(e)): %v", err)
		}
		if got.bufferTime != bufferTime || got.ts != ts || got.hasPrior != hasPrior || got.hasNew != hasNew ||
			string(got.prior) != string(prior) || string(got.new) != string(value) || len(got.headers) != len(e.headers) {
			t.Fatalf("round trip: got %+v, want %+v", got, e)
		}
		for i, h := range got.headers {
			if h.Key != e.headers[i].Key || string(h.Value) != string(e.headers[i].Value) || (h.Value == nil) != (e.headers[i].Value == nil) {
				t.Fatalf("header %d: got %q=%q, want %q=%q", i, h.Key, h.Value, e.headers[i].Key, e.headers[i].Value)
			}
		}
	})
}
