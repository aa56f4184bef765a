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
