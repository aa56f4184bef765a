package datagen_test

import (
	"testing"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/datagen"
)

func TestSchemasDeclared(t *testing.T) {
	reg := connectors.NewRegistry()
	if err := datagen.Register(reg); err != nil {
		t.Fatal(err)
	}
	p, err := reg.Source("datagen")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := p.Spec.Parse("", map[string]any{"kafka.topic": "orders", "quickstart": "orders", "schema.keyfield": "customerid"})
	if err != nil {
		t.Fatal(err)
	}
	src, err := p.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := src.(connectors.SchemaDeclarer)
	if !ok {
		t.Fatal("datagen does not declare its schemas")
	}
	s := d.Schemas()["orders"]
	if s.Value == nil || s.Value.Type != connectors.TypeStruct || s.Key == nil || s.Key.Type != connectors.TypeString {
		t.Fatalf("schemas: %+v", s)
	}
	if _, ok := s.Value.Field("amount"); !ok {
		t.Fatalf("orders value schema lacks amount: %v", s.Value)
	}
}
