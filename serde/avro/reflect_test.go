package avro_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/avro"
)

// TestNewReflect checks that a serde for a type given at run time writes
// the same bytes as New with the static type and reads them back, and
// rejects values of other types.
func TestNewReflect(t *testing.T) {
	// Each serde gets a registry of its own (both hand out id 1).
	static := must[serde.Serde[User]](t)(avro.New[User](memRegistry(t), userSchema))
	mock := memRegistry(t)
	dyn := must[serde.Serde[any]](t)(avro.NewReflect(mock, userSchema, reflect.TypeFor[User]()))
	in := User{Name: "ann", Age: 7}
	want := must[[]byte](t)(static.Serialize("users", in))
	got := must[[]byte](t)(dyn.Serialize("users", &in))
	if string(got) != string(want) {
		t.Fatalf("NewReflect wrote % x, New wrote % x", got, want)
	}
	back := must[any](t)(dyn.Deserialize("users", want))
	if u, ok := back.(*User); !ok || *u != in {
		t.Fatalf("read back %#v", back)
	}
	for _, bad := range []any{in, (*User)(nil), nil, "x"} {
		if _, err := dyn.Serialize("users", bad); !errors.Is(err, avro.ErrEncode) {
			t.Errorf("Serialize(%#v): err = %v, want ErrEncode", bad, err)
		}
	}
	if _, err := avro.NewReflect(mock, userSchema, nil); err == nil {
		t.Error("nil type accepted")
	}
	// A struct whose only field is a pointer is stored directly in an
	// interface; the serde must still encode it by address.
	type onlyPtr struct {
		Name *string `avro:"name"`
	}
	name := "p"
	one := must[serde.Serde[any]](t)(avro.NewReflect(mock, `{"type":"record","name":"P","fields":[{"name":"name","type":["null","string"]}]}`, reflect.TypeFor[onlyPtr]()))
	data := must[[]byte](t)(one.Serialize("p", &onlyPtr{Name: &name}))
	if v := must[any](t)(one.Deserialize("p", data)).(*onlyPtr); v.Name == nil || *v.Name != "p" {
		t.Fatalf("pointer-shaped struct read back %#v", v)
	}
}

// TestReflectDeserializeInto: decoding into a record the caller gives
// back gives what Deserialize gives, whatever the record held, and never
// writes the nested values, maps and lists the earlier contents shared.
func TestReflectDeserializeInto(t *testing.T) {
	type inner struct {
		Note string `avro:"note"`
	}
	type rec struct {
		ID    int64            `avro:"id"`
		Tags  map[string]int64 `avro:"tags"`
		Parts []string         `avro:"parts"`
		Inner *inner           `avro:"inner"`
	}
	const schema = `{"type":"record","name":"R","fields":[{"name":"id","type":"long"},
{"name":"tags","type":{"type":"map","values":"long"}},{"name":"parts","type":{"type":"array","items":"string"}},
{"name":"inner","type":["null",{"type":"record","name":"I","fields":[{"name":"note","type":"string"}]}],"default":null}]}`
	s := must[serde.Serde[any]](t)(avro.NewReflect(memRegistry(t), schema, reflect.TypeFor[rec]()))
	into, ok := s.(interface {
		DeserializeInto(topic string, data []byte, dst any) (any, error)
	})
	if !ok {
		t.Fatal("NewReflect's serde has no DeserializeInto")
	}
	old := &rec{ID: 1, Tags: map[string]int64{"a": 1}, Parts: []string{"x", "y"}, Inner: &inner{Note: "old"}}
	shared := *old
	for _, in := range []rec{
		{ID: 2, Tags: map[string]int64{"b": 2}, Parts: []string{"z"}, Inner: &inner{Note: "new"}},
		{ID: 3, Tags: map[string]int64{}},
	} {
		data := must[[]byte](t)(s.Serialize("r", &in))
		want := must[any](t)(s.Deserialize("r", data))
		dst := &rec{ID: 1, Tags: shared.Tags, Parts: shared.Parts, Inner: shared.Inner}
		got := must[any](t)(into.DeserializeInto("r", data, dst))
		if got != any(dst) {
			t.Errorf("DeserializeInto returned %p, not dst %p", got, dst)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("DeserializeInto: %#v, Deserialize: %#v", got, want)
		}
	}
	if len(shared.Tags) != 1 || shared.Tags["a"] != 1 || shared.Parts[0] != "x" || shared.Inner.Note != "old" {
		t.Errorf("the earlier contents' values changed: %#v", shared)
	}
	// Another type of dst: a new record, as Deserialize.
	data := must[[]byte](t)(s.Serialize("r", old))
	if got := must[any](t)(into.DeserializeInto("r", data, &User{})); !reflect.DeepEqual(got, old) {
		t.Errorf("DeserializeInto with a *User: %#v", got)
	}
}
