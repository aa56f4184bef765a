package registry_test

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde/registry"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// TestSchemaRegistryClient drives the server with Sluice's own client
// (serde/schemaregistry, over franz-go's pkg/sr), with basic auth from the
// URL's user info. internal/registry tests franz-go's and Confluent's
// Python clients directly.
func TestSchemaRegistryClient(t *testing.T) {
	_, c := start(t, testbroker.New(t), registry.WithBasicAuth("u", "p"))
	ctx := context.Background()
	anon, err := schemaregistry.NewClient(c.url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Subjects(ctx); !errors.Is(err, schemaregistry.ErrRejected) {
		t.Fatalf("without credentials: err = %v, want ErrRejected (401)", err)
	}
	cl, err := schemaregistry.NewClient(c.url, schemaregistry.WithBasicAuth("u", "p"))
	if err != nil {
		t.Fatal(err)
	}

	id, err := cl.Register(ctx, "orders-value", sr.Schema{Schema: v1})
	if err != nil || id != 1 {
		t.Fatalf("Register: %d, %v", id, err)
	}
	byID, err := cl.SchemaByID(ctx, id)
	if err != nil || byID.Schema.Schema != v1 || byID.Type != sr.TypeAvro {
		t.Fatalf("SchemaByID: %+v %v", byID, err)
	}
	if id, err := cl.Register(ctx, "orders-value", sr.Schema{Schema: v2}); err != nil || id != 2 {
		t.Fatalf("Register v2: %d, %v", id, err)
	}
	latest, err := cl.SchemaByVersion(ctx, "orders-value", -1)
	if err != nil || latest.ID != 2 || latest.Version != 2 || latest.Schema.Schema != v2 {
		t.Fatalf("SchemaByVersion(latest): %+v %v", latest, err)
	}
	ok, msgs, err := cl.CheckCompatibility(ctx, "orders-value", -1, sr.Schema{Schema: v3})
	if err != nil || ok || len(msgs) == 0 {
		t.Errorf("CheckCompatibility(v3) = %v, %q, %v; want false with messages", ok, msgs, err)
	}
	ok, _, err = cl.CheckCompatibility(ctx, "orders-value", 1, sr.Schema{Schema: v2})
	if err != nil || !ok {
		t.Errorf("CheckCompatibility(v2, 1) = %v, %v; want true", ok, err)
	}
	var regErr *schemaregistry.Error
	if _, err := cl.Register(ctx, "orders-value", sr.Schema{Schema: v3}); !errors.As(err, &regErr) || regErr.Status != 409 || !errors.Is(err, schemaregistry.ErrRejected) {
		t.Errorf("incompatible Register: %v, want a rejected 409", err)
	}
	found, err := cl.Lookup(ctx, "orders-value", sr.Schema{Schema: v1})
	if err != nil || found.ID != 1 || found.Version != 1 {
		t.Errorf("Lookup: %+v %v", found, err)
	}
	if _, err := cl.Lookup(ctx, "nope", sr.Schema{Schema: v1}); !errors.Is(err, schemaregistry.ErrNotFound) {
		t.Errorf("Lookup of a missing subject: %v, want ErrNotFound", err)
	}
	subjects, err := cl.Subjects(ctx)
	if err != nil || len(subjects) != 1 || subjects[0] != "orders-value" {
		t.Errorf("Subjects: %v %v", subjects, err)
	}
	versions, err := cl.Versions(ctx, "orders-value")
	if err != nil || len(versions) != 2 {
		t.Errorf("Versions: %v %v", versions, err)
	}
	if res := cl.SR().SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, "orders-value"); res[0].Err != nil {
		t.Errorf("SetCompatibility: %v", res[0].Err)
	}
	if level, err := cl.Level(ctx, "orders-value"); err != nil || level != "FULL" {
		t.Errorf("Level: %q %v", level, err)
	}
	if level, err := cl.Level(ctx, "other-value"); err != nil || level != "BACKWARD" {
		t.Errorf("Level of a subject without its own: %q %v, want the global BACKWARD", level, err)
	}
}
