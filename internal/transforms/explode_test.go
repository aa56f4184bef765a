package transforms

import (
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

func TestExplode(t *testing.T) {
	t.Parallel()
	item := connectors.NewStruct("Item").Field("sku", connectors.StringSchema()).MustBuild()
	schema := connectors.NewStruct("Order").Version(2).
		Field("id", connectors.Int64Schema()).
		Field("items", opt(connectors.ArraySchema(item))).
		MustBuild()
	items := []any{mkStruct(item, "a"), mkStruct(item, "b"), mkStruct(item, "c")}
	value := mkStruct(schema, int64(7), items)

	t.Run("replace the field", func(t *testing.T) {
		tr := build(t, "Explode$Value", map[string]any{"field": "items"})
		rec := sourceRecord(connectors.StringSchema(), "k", schema, value)
		rec.Headers = []connectors.Header{{Key: "h", Value: []byte("v")}}
		out, err := tr.Apply(nil, rec)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 3 {
			t.Fatalf("got %d records, want 3", len(out))
		}
		want := connectors.NewStruct("Order").Version(2).Field("id", connectors.Int64Schema()).Field("items", item).MustBuild()
		for i, r := range out {
			checkSchema(t, "exploded", r.ValueSchema, want)
			checkValue(t, "exploded", r.Value, mkStruct(want, int64(7), items[i]))
			if err := r.Value.(*connectors.Struct).Validate(); err != nil {
				t.Error(err)
			}
			if r.Key != "k" || r.Topic != "test" || len(r.Headers) != 1 || r.SourcePartition == nil {
				t.Errorf("record %d lost its key, topic, headers or source partition: %+v", i, r)
			}
			// Only the last record carries the source offset, so the
			// input's position commits once all its elements are out.
			if (r.SourceOffset != nil) != (i == 2) {
				t.Errorf("record %d: source offset %v", i, r.SourceOffset)
			}
		}
		if &out[0].Headers[0] == &out[1].Headers[0] {
			t.Error("records share a headers array")
		}
		if value.Get("items") == nil {
			t.Error("the input struct was changed")
		}
	})

	t.Run("field as value", func(t *testing.T) {
		tr := build(t, "Explode$Value", map[string]any{"field": "items", "field.as.value": true})
		out, err := tr.Apply(nil, sinkRecord(nil, nil, schema, value))
		if err != nil || len(out) != 3 {
			t.Fatalf("got %d records, %v", len(out), err)
		}
		for i, r := range out {
			if r.ValueSchema != item || r.Value != items[i] || r.Offset != 42 {
				t.Errorf("record %d: %v %v offset %d", i, r.ValueSchema, r.Value, r.Offset)
			}
		}
	})

	t.Run("schemaless", func(t *testing.T) {
		tr := build(t, "Explode$Value", map[string]any{"field": "xs"})
		out, err := tr.Apply(nil, sinkRecord(nil, nil, nil, map[string]any{"id": int64(1), "xs": []any{"a", "b"}}))
		if err != nil || len(out) != 2 {
			t.Fatalf("got %d records, %v", len(out), err)
		}
		checkValue(t, "first", out[0].Value, map[string]any{"id": int64(1), "xs": "a"})
		checkValue(t, "second", out[1].Value, map[string]any{"id": int64(1), "xs": "b"})
		tr = build(t, "Explode$Value", map[string]any{"field": "xs", "field.as.value": "true"})
		out, _ = tr.Apply(nil, sinkRecord(nil, nil, nil, map[string]any{"xs": []any{"a", "b"}}))
		if len(out) != 2 || out[0].Value != "a" || out[1].Value != "b" {
			t.Errorf("as value: %v", out)
		}
	})

	t.Run("empty, null and missing arrays emit nothing", func(t *testing.T) {
		tr := build(t, "Explode$Value", map[string]any{"field": "items"})
		for _, rec := range []*connectors.Record{
			sinkRecord(nil, nil, schema, mkStruct(schema, int64(1), []any{})),
			sinkRecord(nil, nil, schema, mkStruct(schema, int64(1), nil)),
			sinkRecord(nil, nil, nil, map[string]any{"id": int64(1)}),
		} {
			if out, err := tr.Apply(nil, rec); err != nil || len(out) != 0 {
				t.Errorf("got %d records, %v", len(out), err)
			}
		}
	})

	t.Run("tombstone passes", func(t *testing.T) {
		tr := build(t, "Explode$Value", map[string]any{"field": "items"})
		rec := sinkRecord(nil, nil, opt(schema), nil)
		if out := apply1(t, tr, rec); out != rec {
			t.Error("tombstone not passed")
		}
	})

	t.Run("errors", func(t *testing.T) {
		tr := build(t, "Explode$Value", map[string]any{"field": "id"})
		applyErr(t, tr, sinkRecord(nil, nil, schema, value), `field "id"`, "not an array")
		applyErr(t, tr, sinkRecord(nil, nil, nil, map[string]any{"id": "x"}), "not an array")
		tr = build(t, "Explode$Value", map[string]any{"field": "nope"})
		applyErr(t, tr, sinkRecord(nil, nil, schema, value), `field "nope" is not in the value schema`)
		_, err := tryBuild("Explode$Value", map[string]any{})
		wantFieldError(t, err, "transforms.x.field")
	})

	t.Run("appends to dst", func(t *testing.T) {
		tr := build(t, "Explode$Value", map[string]any{"field": "items"})
		prev := sinkRecord(nil, nil, nil, "earlier")
		out, err := tr.Apply([]*connectors.Record{prev}, sinkRecord(nil, nil, schema, value))
		if err != nil || len(out) != 4 || out[0] != prev {
			t.Errorf("got %d records, %v", len(out), err)
		}
	})
}
