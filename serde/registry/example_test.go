package registry_test

import (
	"fmt"

	"github.com/sluicehq/sluice/serde/registry"
)

func ExampleCheckCompatibility() {
	v1 := `{"type":"record","name":"User","fields":[{"name":"id","type":"int"}]}`
	v2 := `{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":"string"}]}`
	msgs, err := registry.CheckCompatibility(registry.Backward, v2, v1)
	if err != nil {
		panic(err)
	}
	fmt.Println(msgs[0])
	msgs, _ = registry.CheckCompatibility(registry.Forward, v2, v1)
	fmt.Println(msgs[0])
	// Output:
	// {errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'email' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'email'}
	// {errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') of a field in the old schema does not match with the new schema', additionalInfo:'reader type: INT not compatible with writer type: LONG'}
}
