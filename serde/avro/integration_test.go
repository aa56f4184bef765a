package avro_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/registry"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// TestWithSluiceRegistry runs the serdes against Sluice's own schema
// registry (serde/registry) on an in-process Kafka broker: registration,
// the registry's BACKWARD compatibility check, look-up, and evolution.
func TestWithSluiceRegistry(t *testing.T) {
	b := testbroker.New(t)
	reg, err := registry.New(context.Background(), registry.WithBrokers(b.Addr()), registry.WithBasicAuth("app", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = reg.Close()
	})
	client := newClient(t, srv.URL, schemaregistry.WithBasicAuth("app", "secret"))

	wrongPassword := must[serde.Serde[User]](t)(avro.New[User](newClient(t, srv.URL, schemaregistry.WithBasicAuth("app", "nope")), userSchema))
	if _, err := wrongPassword.Serialize("users", User{}); !errors.Is(err, avro.ErrRegistryRejected) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong password: err = %v, want ErrRegistryRejected with 401", err)
	}

	v1 := must[serde.Serde[User]](t)(avro.New[User](client, userSchema))
	r1 := must[[]byte](t)(v1.Serialize("users", User{Name: "one", Age: 1}))

	type UserV2 struct {
		Name  string `avro:"name"`
		Age   int    `avro:"age"`
		Email string `avro:"email"`
	}
	v2 := must[serde.Serde[UserV2]](t)(avro.New[UserV2](client, userV2Schema))
	r2 := must[[]byte](t)(v2.Serialize("users", UserV2{Name: "two", Age: 2, Email: "e@x"}))
	if r1[4] == r2[4] {
		t.Fatalf("v1 and v2 share schema id %d", r1[4])
	}
	if got, err := v2.Deserialize("users", r1); err != nil || got != (UserV2{Name: "one", Age: 1}) {
		t.Fatalf("v2 reading v1 = %+v, %v", got, err)
	}
	if got, err := v1.Deserialize("users", r2); err != nil || got != (User{Name: "two", Age: 2}) {
		t.Fatalf("v1 reading v2 = %+v, %v", got, err)
	}

	// A fresh serde with auto-registration off finds v1's id by look-up.
	lookup := must[serde.Serde[User]](t)(avro.New[User](newClient(t, srv.URL, schemaregistry.WithBasicAuth("app", "secret")), userSchema, avro.AutoRegister(false)))
	if got := must[[]byte](t)(lookup.Serialize("users", User{Name: "one", Age: 1})); string(got) != string(r1) {
		t.Fatalf("look-up wrote % x, want % x", got, r1)
	}

	// A new required field breaks BACKWARD compatibility: the registry
	// refuses it with 409.
	v3 := must[serde.Serde[map[string]any]](t)(avro.NewGeneric(client,
		`{"type":"record","name":"User","namespace":"com.x","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"},{"name":"zip","type":"string"}]}`))
	if _, err := v3.Serialize("users", map[string]any{"name": "x", "age": 1, "zip": "z"}); !errors.Is(err, avro.ErrRegistryRejected) {
		t.Fatalf("incompatible registration: err = %v, want ErrRegistryRejected", err)
	}

	if _, err := v1.Deserialize("users", []byte{0, 0, 0, 1, 0, 0}); !errors.Is(err, avro.ErrUnknownSchemaID) {
		t.Fatalf("unknown id: err = %v, want ErrUnknownSchemaID", err)
	}
}
