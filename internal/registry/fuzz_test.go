package registry

import "testing"

// FuzzApply feeds arbitrary topic records (anyone with write access to the
// topic can write them) to the state machine: it must never panic.
func FuzzApply(f *testing.F) {
	c := claimRec("a", 1, 1, "X", "c1")
	f.Add(c.key, c.value)
	s := stateRec("a", 1, "c1", true, false)
	f.Add(s.key, s.value)
	f.Add([]byte(`{"keytype":"CONFIG","subject":null,"magic":0}`), []byte(`{"compatibilityLevel":"FULL"}`))
	f.Add([]byte(`{"keytype":"SCHEMA","subject":"a","version":1,"claim":"c1","magic":1}`), []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		st := newState()
		st.apply(c.key, c.value)
		st.apply(key, value)
		st.apply(key, nil)
		_ = st.versionsOf("a", true)
		_ = st.referencedBy("a", 1, true)
	})
}

// FuzzCompatibility parses two arbitrary schemas and checks them against
// each other under every level: no panic, no endless recursion.
func FuzzCompatibility(f *testing.F) {
	f.Add(`{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`, `{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"string","default":""}]}`)
	f.Add(`{"type":"record","name":"N","fields":[{"name":"next","type":["null","N"]}]}`, `["null","string",{"type":"enum","name":"E","symbols":["A"]}]`)
	f.Add(`{"type":"array","items":{"type":"map","values":{"type":"fixed","name":"F","size":3}}}`, `"bytes"`)
	f.Fuzz(func(t *testing.T, a, b string) {
		sa, err := ParseSchema("", a, nil, nil)
		if err != nil {
			return
		}
		sb, err := ParseSchema("", b, nil, nil)
		if err != nil {
			return
		}
		_ = sa.identity()
		for _, l := range []Level{Backward, ForwardTransitive, FullTransitive} {
			CheckCompatibility(l, sa, []*Schema{sb, sb})
		}
	})
}
