package registry

import (
	"strings"
	"testing"
)

func mustParse(t *testing.T, text string) *Schema {
	t.Helper()
	s, err := ParseSchema("", text, nil, nil)
	if err != nil {
		t.Fatalf("parse %s: %v", text, err)
	}
	return s
}

func record(fields ...string) string {
	return `{"type":"record","name":"User","namespace":"com.example","fields":[` + strings.Join(fields, ",") + `]}`
}

// TestCompatibilityEvolution covers the classic evolution cases under each
// direction; ok[level] says whether new may follow old.
func TestCompatibilityEvolution(t *testing.T) {
	id := `{"name":"id","type":"int"}`
	enumOf := func(def string, syms ...string) string {
		d := ""
		if def != "" {
			d = `,"default":"` + def + `"`
		}
		return `{"name":"color","type":{"type":"enum","name":"Color","symbols":["` + strings.Join(syms, `","`) + `"]` + d + `}}`
	}
	tests := []struct {
		name     string
		old, new string
		backward bool // new reads old
		forward  bool // old reads new
		wantKind string
	}{
		{"add field with default", record(id), record(id, `{"name":"email","type":"string","default":""}`), true, true, ""},
		{"add field without default", record(id), record(id, `{"name":"email","type":"string"}`), false, true, "READER_FIELD_MISSING_DEFAULT_VALUE"},
		{"remove field with default", record(id, `{"name":"email","type":"string","default":""}`), record(id), true, true, ""},
		{"remove field without default", record(id, `{"name":"email","type":"string"}`), record(id), true, false, "READER_FIELD_MISSING_DEFAULT_VALUE"},
		{"int to long", record(`{"name":"n","type":"int"}`), record(`{"name":"n","type":"long"}`), true, false, "TYPE_MISMATCH"},
		{"long to float", record(`{"name":"n","type":"long"}`), record(`{"name":"n","type":"float"}`), true, false, "TYPE_MISMATCH"},
		{"float to double", record(`{"name":"n","type":"float"}`), record(`{"name":"n","type":"double"}`), true, false, "TYPE_MISMATCH"},
		{"int to double", record(`{"name":"n","type":"int"}`), record(`{"name":"n","type":"double"}`), true, false, "TYPE_MISMATCH"},
		{"double to int", record(`{"name":"n","type":"double"}`), record(`{"name":"n","type":"int"}`), false, true, "TYPE_MISMATCH"},
		{"string to bytes", record(`{"name":"s","type":"string"}`), record(`{"name":"s","type":"bytes"}`), true, true, ""},
		{"bytes to string", record(`{"name":"s","type":"bytes"}`), record(`{"name":"s","type":"string"}`), true, true, ""},
		{"string to int", record(`{"name":"s","type":"string"}`), record(`{"name":"s","type":"int"}`), false, false, "TYPE_MISMATCH"},
		{"enum symbol added, no default", record(enumOf("", "RED", "GREEN")), record(enumOf("", "RED", "GREEN", "BLUE")), true, false, "MISSING_ENUM_SYMBOLS"},
		{"enum symbol added, old enum has default", record(enumOf("RED", "RED", "GREEN")), record(enumOf("RED", "RED", "GREEN", "BLUE")), true, true, ""},
		{"enum symbol removed, no default", record(enumOf("", "RED", "GREEN")), record(enumOf("", "RED")), false, true, "MISSING_ENUM_SYMBOLS"},
		{"enum symbol removed, new enum has default", record(enumOf("RED", "RED", "GREEN")), record(enumOf("RED", "RED")), true, true, ""},
		{"field renamed with alias", record(id, `{"name":"name","type":"string"}`), record(id, `{"name":"full_name","aliases":["name"],"type":"string"}`), true, false, "READER_FIELD_MISSING_DEFAULT_VALUE"},
		{"field renamed without alias", record(id, `{"name":"name","type":"string"}`), record(id, `{"name":"full_name","type":"string"}`), false, false, "READER_FIELD_MISSING_DEFAULT_VALUE"},
		{"record renamed with alias", `{"type":"record","name":"User","namespace":"com.example","fields":[` + id + `]}`,
			`{"type":"record","name":"Person","namespace":"com.example","aliases":["com.example.User"],"fields":[` + id + `]}`, true, false, "NAME_MISMATCH"},
		{"union widened", record(`{"name":"v","type":["null","string"]}`), record(`{"name":"v","type":["null","string","int"]}`), true, false, "MISSING_UNION_BRANCH"},
		{"type made nullable", record(`{"name":"v","type":"string"}`), record(`{"name":"v","type":["null","string"]}`), true, false, "TYPE_MISMATCH"},
		{"union narrowed", record(`{"name":"v","type":["null","string","int"]}`), record(`{"name":"v","type":["null","string"]}`), false, true, "MISSING_UNION_BRANCH"},
		{"union member promoted", record(`{"name":"v","type":["null","int"]}`), record(`{"name":"v","type":["null","long"]}`), true, false, "MISSING_UNION_BRANCH"},
		{"fixed size changed", record(`{"name":"f","type":{"type":"fixed","name":"F","size":4}}`), record(`{"name":"f","type":{"type":"fixed","name":"F","size":8}}`), false, false, "FIXED_SIZE_MISMATCH"},
		{"array items promoted", record(`{"name":"a","type":{"type":"array","items":"int"}}`), record(`{"name":"a","type":{"type":"array","items":"long"}}`), true, false, "TYPE_MISMATCH"},
		{"map values changed", record(`{"name":"m","type":{"type":"map","values":"int"}}`), record(`{"name":"m","type":{"type":"map","values":"string"}}`), false, false, "TYPE_MISMATCH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldS, newS := mustParse(t, tt.old), mustParse(t, tt.new)
			oldS.Version = 1
			want := map[Level]bool{
				None:     true,
				Backward: tt.backward, BackwardTransitive: tt.backward,
				Forward: tt.forward, ForwardTransitive: tt.forward,
				Full: tt.backward && tt.forward, FullTransitive: tt.backward && tt.forward,
			}
			for level, ok := range want {
				msgs := CheckCompatibility(level, newS, []*Schema{oldS})
				if got := len(msgs) == 0; got != ok {
					t.Errorf("%s: compatible=%v, want %v; messages %q", level, got, ok, msgs)
				}
				if !ok && !strings.Contains(strings.Join(msgs, " "), "errorType:'"+tt.wantKind+"'") {
					t.Errorf("%s: messages %q lack %s", level, msgs, tt.wantKind)
				}
			}
		})
	}
}

func TestCompatibilityTransitive(t *testing.T) {
	a := `{"name":"a","type":"int"}`
	v1 := mustParse(t, record(a))
	v2 := mustParse(t, record(a, `{"name":"b","type":"int","default":0}`))
	v3 := mustParse(t, record(a, `{"name":"b","type":"int"}`))
	v1.Version, v2.Version = 1, 2
	history := []*Schema{v1, v2}
	// v3 reads v2 (b present) but not v1 (b missing, no default).
	if msgs := CheckCompatibility(Backward, v3, history); len(msgs) != 0 {
		t.Errorf("BACKWARD: %q", msgs)
	}
	msgs := CheckCompatibility(BackwardTransitive, v3, history)
	if len(msgs) == 0 {
		t.Fatal("BACKWARD_TRANSITIVE: want incompatible with version 1")
	}
	if !strings.Contains(strings.Join(msgs, ","), "{oldSchemaVersion: 1}") {
		t.Errorf("BACKWARD_TRANSITIVE messages should name version 1: %q", msgs)
	}

	// Forward: old readers must read new data. w1 needs c; w2 gives c a
	// default; w3 drops c: fine for w2, not for w1.
	w1 := mustParse(t, record(a, `{"name":"c","type":"int"}`))
	w2 := mustParse(t, record(a, `{"name":"c","type":"int","default":0}`))
	w3 := mustParse(t, record(a))
	w1.Version, w2.Version = 1, 2
	if msgs := CheckCompatibility(Forward, w3, []*Schema{w1, w2}); len(msgs) != 0 {
		t.Errorf("FORWARD: %q", msgs)
	}
	if msgs := CheckCompatibility(ForwardTransitive, w3, []*Schema{w1, w2}); len(msgs) == 0 {
		t.Error("FORWARD_TRANSITIVE: want incompatible with version 1")
	}
	if msgs := CheckCompatibility(Full, w3, []*Schema{w1, w2}); len(msgs) != 0 {
		t.Errorf("FULL: %q", msgs)
	}
	if msgs := CheckCompatibility(FullTransitive, w3, []*Schema{w1, w2}); len(msgs) == 0 {
		t.Error("FULL_TRANSITIVE: want incompatible with version 1")
	}
}

func TestCompatibilityMessages(t *testing.T) {
	old := mustParse(t, record(`{"name":"id","type":"int"}`))
	old.Version = 3
	newS := mustParse(t, record(`{"name":"id","type":"int"}`, `{"name":"email","type":"string"}`))
	got := CheckCompatibility(Backward, newS, []*Schema{old})
	want := []string{
		`{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'email' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'email'}`,
		`{oldSchemaVersion: 3}`,
		`{oldSchema: '` + old.Text + `'}`,
		`{validateFields: 'false', compatibility: 'BACKWARD'}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// FORWARD names the roles the other way round.
	got = CheckCompatibility(Forward, old, []*Schema{newS})
	if !strings.Contains(got[0], "in the old schema has no default value and is missing in the new schema") {
		t.Errorf("FORWARD message: %q", got[0])
	}
}

func TestCompatibilityRecursive(t *testing.T) {
	node := `{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"],"default":null}]}`
	node2 := `{"type":"record","name":"Node","fields":[{"name":"v","type":"long"},{"name":"next","type":["null","Node"],"default":null}]}`
	a, b := mustParse(t, node), mustParse(t, node2)
	if msgs := CheckCompatibility(Backward, b, []*Schema{a}); len(msgs) != 0 {
		t.Errorf("recursive promotion: %q", msgs)
	}
	if msgs := CheckCompatibility(Forward, b, []*Schema{a}); len(msgs) == 0 {
		t.Error("recursive demotion should fail")
	}
}

func TestParseSchemaErrors(t *testing.T) {
	for _, tc := range []struct{ typ, text string }{
		{"", `{"type":"record","name":"X","fields":[{"name":"a","type":"nope"}]}`},
		{"", `not json`},
		{"", ``},
		{"PROTOBUF", `syntax = "proto3";`},
		{"JSON", `{"type":"object"}`},
		{"", `{"type":"record","name":"X","fields":[{"name":"a","type":"int","default":"x"}]}`},
	} {
		if _, err := ParseSchema(tc.typ, tc.text, nil, nil); err == nil {
			t.Errorf("ParseSchema(%q, %q): want error", tc.typ, tc.text)
		}
	}
}
