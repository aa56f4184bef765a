package registry_test

import (
	"strings"
	"testing"

	"github.com/riferrei/srclient"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde/registry"
)

// TestSrclient drives the server with a real third-party client library.
func TestSrclient(t *testing.T) {
	_, c := start(t, testbroker.New(t), registry.WithBasicAuth("u", "p"))
	sr := srclient.CreateSchemaRegistryClient(c.url)
	sr.SetCredentials("u", "p")

	created, err := sr.CreateSchema("orders-value", v1, srclient.Avro)
	if err != nil {
		t.Fatalf("CreateSchema: %v", err)
	}
	if created.ID() != 1 || created.Version() != 0 && created.Version() != 1 {
		t.Errorf("created id %d version %d", created.ID(), created.Version())
	}
	byID, err := sr.GetSchema(created.ID())
	if err != nil || byID.Schema() != v1 {
		t.Fatalf("GetSchema: %v %v", byID, err)
	}
	if byID.Codec() == nil {
		t.Error("srclient could not build a codec from the served schema")
	}
	if _, err := sr.CreateSchema("orders-value", v2, srclient.Avro); err != nil {
		t.Fatalf("CreateSchema v2: %v", err)
	}
	latest, err := sr.GetLatestSchema("orders-value")
	if err != nil || latest.ID() != 2 || latest.Version() != 2 || latest.Schema() != v2 {
		t.Fatalf("GetLatestSchema: %+v %v", latest, err)
	}
	ok, err := sr.IsSchemaCompatible("orders-value", v3, "latest", srclient.Avro)
	if err != nil || ok {
		t.Errorf("IsSchemaCompatible(v3) = %v, %v; want false", ok, err)
	}
	ok, err = sr.IsSchemaCompatible("orders-value", v2, "1", srclient.Avro)
	if err != nil || !ok {
		t.Errorf("IsSchemaCompatible(v2, 1) = %v, %v; want true", ok, err)
	}
	if _, err := sr.CreateSchema("orders-value", v3, srclient.Avro); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("incompatible CreateSchema: %v", err)
	}
	found, err := sr.LookupSchema("orders-value", v1, srclient.Avro)
	if err != nil || found.ID() != 1 || found.Version() != 1 {
		t.Errorf("LookupSchema: %+v %v", found, err)
	}
	subjects, err := sr.GetSubjects()
	if err != nil || len(subjects) != 1 || subjects[0] != "orders-value" {
		t.Errorf("GetSubjects: %v %v", subjects, err)
	}
	versions, err := sr.GetSchemaVersions("orders-value")
	if err != nil || len(versions) != 2 {
		t.Errorf("GetSchemaVersions: %v %v", versions, err)
	}
	level, err := sr.ChangeSubjectCompatibilityLevel("orders-value", srclient.Full)
	if err != nil || *level != srclient.Full {
		t.Errorf("ChangeSubjectCompatibilityLevel: %v %v", level, err)
	}
	got, err := sr.GetCompatibilityLevel("orders-value", true)
	if err != nil || *got != srclient.Full {
		t.Errorf("GetCompatibilityLevel: %v %v", got, err)
	}
	if err := sr.DeleteSubject("orders-value", false); err != nil {
		t.Errorf("DeleteSubject: %v", err)
	}
	if err := sr.DeleteSubject("orders-value", true); err != nil {
		t.Errorf("DeleteSubject permanent: %v", err)
	}
	if _, err := sr.GetSchema(1); err == nil {
		// srclient caches by id; a fresh client must not find it.
		fresh := srclient.CreateSchemaRegistryClient(c.url)
		fresh.SetCredentials("u", "p")
		if _, err := fresh.GetSchema(1); err == nil {
			t.Error("GetSchema after permanent delete: want error")
		}
	}
}
