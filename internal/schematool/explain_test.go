package schematool

import (
	"reflect"
	"testing"
)

func TestExplain(t *testing.T) {
	const v2 = `{"type":"record","name":"User","fields":[{"name":"id","type":"int"},{"name":"email","type":"string"}]}`
	const v2Removed = `{"type":"record","name":"User","fields":[{"name":"id","type":"int"}]}`
	tests := []struct {
		name   string
		level  string
		schema string
		msgs   []string
		want   []string
	}{
		{
			name: "backward added field", level: "BACKWARD", schema: v2,
			msgs: []string{
				`{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'email' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'email'}`,
				`{oldSchemaVersion: 3}`, `{oldSchema: '{"type":"record"}'}`, `{validateFields: 'false', compatibility: 'BACKWARD'}`,
			},
			want: []string{`field "email" added without a default: BACKWARD requires one, so that the new schema can read records written with version 3 (at /fields/1, checked against version 3)`},
		},
		{
			// Confluent words forward problems as if the old schema were
			// the new one; the field's place tells which schema has it.
			name: "full removed field, Confluent wording", level: "", schema: v2Removed,
			msgs: []string{
				`{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'email' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'email'}`,
				`{oldSchemaVersion: 1}`, `{validateFields: 'false', compatibility: 'FULL'}`,
			},
			want: []string{`field "email" removed, but it has no default in version 1: FULL requires that old readers can fill it in; keep the field or add a default to it first (at /fields/1, checked against version 1)`},
		},
		{
			name: "enum and union", level: "BACKWARD", schema: v2,
			msgs: []string{
				`{errorType:'MISSING_ENUM_SYMBOLS', description:'The new schema is missing enum symbols '[C]' at path '/fields/0/type/symbols' in the old schema', additionalInfo:'[C]'}`,
				`{errorType:'MISSING_UNION_BRANCH', description:'The new schema is missing a type inside a union field at path '/fields/1/type/1' in the old schema', additionalInfo:'reader union lacking writer type: STRING'}`,
			},
			want: []string{
				`enum symbols [C] removed: BACKWARD requires the new schema to read them from records written with the previous version; keep them or give the enum a default (at /fields/0/type/symbols)`,
				`union branch removed (reader union lacking writer type: STRING): BACKWARD requires the new schema to read every branch the previous version may have written (at /fields/1/type/1)`,
			},
		},
		{
			name: "legacy and unknown", level: "BACKWARD", schema: v2,
			msgs: []string{
				`Incompatibility{type:TYPE_MISMATCH, location:/fields/0/type, message:reader type: INT not compatible with writer type: STRING, reader:"int", writer:"string"}`,
				`Schema being registered is incompatible with an earlier schema`,
			},
			want: []string{
				`type changed from STRING to INT: BACKWARD requires the new schema to read STRING data written with the previous version (allowed promotions: int→long→float→double, string↔bytes) (at /fields/0/type)`,
				`Schema being registered is incompatible with an earlier schema`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Explain(tc.level, tc.schema, tc.msgs)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}
