package job

import (
	"reflect"
	"testing"
)

// TestApplicationServer: the --http address is what other instances dial
// unless the job sets application.server; wildcard hosts and port 0 are
// not dialable, so they advertise nothing.
func TestApplicationServer(t *testing.T) {
	for _, c := range []struct{ set, http, want string }{
		{"", "", ""},
		{"", "10.0.0.5:8080", "10.0.0.5:8080"},
		{"", "node-1.internal:8080", "node-1.internal:8080"},
		{"", ":8080", ""},
		{"", "0.0.0.0:8080", ""},
		{"", "[::]:8080", ""},
		{"", "127.0.0.1:0", ""},
		{"node-1:8080", "0.0.0.0:8080", "node-1:8080"},
	} {
		j := &Job{ApplicationServer: c.set}
		if got := j.applicationServer(c.http); got != c.want {
			t.Errorf("application.server %q, --http %q: advertised %q, want %q", c.set, c.http, got, c.want)
		}
	}
}

// TestKeyParser: URL text becomes a key of the store's key type.
func TestKeyParser(t *testing.T) {
	for _, c := range []struct {
		t    vtype
		text string
		want any
		bad  bool
	}{
		{tString, "a/b c", "a/b c", false},
		{tLong, "42", int64(42), false},
		{tLong, "4x", nil, true},
		{tInt, "7", int32(7), false},
		{tInt, "3000000000", nil, true},
		{tDouble, "1.5", 1.5, false},
		{tBytes, "ab", []byte("ab"), false},
	} {
		got, err := keyParser(c.t)(c.text)
		if c.bad {
			if err == nil {
				t.Errorf("%s key %q: parsed as %v, want an error", c.t, c.text, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s key %q: %#v, %v; want %#v", c.t, c.text, got, err, c.want)
		}
	}
}
