package transforms

import (
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

// debeziumEvent builds a Debezium change event for a row {id, name}.
func debeziumEvent(t *testing.T) (envelope, row *connectors.Schema, event func(op string, before, after *connectors.Struct) *connectors.Struct) {
	t.Helper()
	row = connectors.NewStruct("pg.public.users.Value").Optional().
		Field("id", connectors.Int32Schema()).
		Field("name", opt(connectors.StringSchema())).MustBuild()
	source := connectors.NewStruct("io.debezium.connector.postgresql.Source").
		Field("table", connectors.StringSchema()).
		Field("lsn", opt(connectors.Int64Schema())).
		Field("ts_ms", connectors.Int64Schema()).MustBuild()
	envelope = connectors.NewStruct("pg.public.users.Envelope").
		Field("before", row).Field("after", row).Field("source", source).
		Field("op", connectors.StringSchema()).Field("ts_ms", opt(connectors.Int64Schema())).MustBuild()
	src := mkStruct(source, "users", int64(42), int64(1000))
	return envelope, row, func(op string, before, after *connectors.Struct) *connectors.Struct {
		return mkStruct(envelope, before, after, src, op, int64(2000))
	}
}

func TestExtractNewRecordState(t *testing.T) {
	t.Parallel()
	envelope, row, event := debeziumEvent(t)
	ada := mkStruct(row, int32(1), "ada")
	ada2 := mkStruct(row, int32(1), "ada lovelace")
	key := connectors.NewStruct("pg.public.users.Key").Field("id", connectors.Int32Schema()).MustBuild()
	k := mkStruct(key, int32(1))
	stream := func() []*connectors.Record {
		return []*connectors.Record{
			sourceRecord(key, k, envelope, event("c", nil, ada)),
			sourceRecord(key, k, envelope, event("u", ada, ada2)),
			sourceRecord(key, k, envelope, event("d", ada2, nil)),
			sourceRecord(key, k, nil, nil), // the connector's tombstone
		}
	}
	apply := func(t *testing.T, raw map[string]any) []*connectors.Record {
		t.Helper()
		tr := build(t, "io.debezium.transforms.ExtractNewRecordState", raw)
		var out []*connectors.Record
		for _, r := range stream() {
			var err error
			if out, err = tr.Apply(out, r); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	names := func(out []*connectors.Record) []any {
		var got []any
		for _, r := range out {
			if r.Value == nil {
				got = append(got, nil)
				continue
			}
			got = append(got, r.Value.(*connectors.Struct).Get("name"))
		}
		return got
	}

	t.Run("default keeps rows and the tombstone only", func(t *testing.T) {
		out := apply(t, map[string]any{})
		checkValue(t, "rows", names(out), []any{"ada", "ada lovelace", nil})
		checkSchema(t, "row", out[0].ValueSchema, row)
		if out[2].ValueSchema != nil || out[2].Key != k {
			t.Errorf("tombstone = %+v", out[2])
		}
	})
	t.Run("drop", func(t *testing.T) {
		checkValue(t, "rows", names(apply(t, map[string]any{"delete.tombstone.handling.mode": "drop"})), []any{"ada", "ada lovelace"})
	})
	t.Run("delete-to-tombstone", func(t *testing.T) {
		checkValue(t, "rows", names(apply(t, map[string]any{"delete.tombstone.handling.mode": "delete-to-tombstone"})), []any{"ada", "ada lovelace", nil})
	})
	t.Run("rewrite with tombstone and metadata", func(t *testing.T) {
		out := apply(t, map[string]any{"delete.tombstone.handling.mode": "rewrite-with-tombstone",
			"add.fields": "op,table,source.ts_ms,lsn:LSN", "add.headers": "op"})
		if len(out) != 4 || out[3].Value != nil {
			t.Fatalf("got %d records, want 3 rows and the tombstone", len(out))
		}
		want := connectors.NewStruct("pg.public.users.Value").Optional().
			Field("id", connectors.Int32Schema()).Field("name", opt(connectors.StringSchema())).
			Field("__op", opt(connectors.StringSchema())).Field("__table", opt(connectors.StringSchema())).
			Field("__source_ts_ms", opt(connectors.Int64Schema())).Field("LSN", opt(connectors.Int64Schema())).
			Field("__deleted", opt(connectors.StringSchema())).MustBuild()
		checkSchema(t, "rewritten", out[0].ValueSchema, want)
		checkValue(t, "create", out[0].Value, mkStruct(want, int32(1), "ada", "c", "users", int64(1000), int64(42), "false"))
		checkValue(t, "delete", out[2].Value, mkStruct(want, int32(1), "ada lovelace", "d", "users", int64(1000), int64(42), "true"))
		if h, _ := out[2].Header("__op"); string(h) != "d" {
			t.Errorf("__op header = %q, want d", h)
		}
		for _, r := range out[:3] {
			if err := r.Value.(*connectors.Struct).Validate(); err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("legacy settings", func(t *testing.T) {
		out := apply(t, map[string]any{"drop.tombstones": "true", "delete.handling.mode": "rewrite"})
		checkValue(t, "rows", names(out), []any{"ada", "ada lovelace", "ada lovelace"})
	})
	t.Run("schemaless events", func(t *testing.T) {
		tr := build(t, "ExtractNewRecordState", map[string]any{"delete.tombstone.handling.mode": "rewrite", "add.fields": "op"})
		rec := sourceRecord(nil, map[string]any{"id": 1}, nil, map[string]any{"op": "d", "before": map[string]any{"id": 1.0}, "after": nil,
			"source": map[string]any{"table": "users"}})
		out, err := tr.Apply(nil, rec)
		if err != nil {
			t.Fatal(err)
		}
		checkValue(t, "row", out[0].Value, map[string]any{"id": 1.0, "__op": "d", "__deleted": "true"})
	})
	t.Run("other records pass", func(t *testing.T) {
		tr := build(t, "ExtractNewRecordState", map[string]any{})
		hb := connectors.NewStruct("io.debezium.connector.common.Heartbeat").Field("ts_ms", connectors.Int64Schema()).MustBuild()
		rec := sourceRecord(nil, nil, hb, mkStruct(hb, int64(5)))
		out, err := tr.Apply(nil, rec)
		if err != nil || len(out) != 1 || out[0] != rec {
			t.Fatalf("heartbeat changed: %v %v", out, err)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		_, err := tryBuild("ExtractNewRecordState", map[string]any{"add.fields": "after.name"})
		wantFieldError(t, err, "transforms.x.add.fields")
		_, err = tryBuild("ExtractNewRecordState", map[string]any{"delete.tombstone.handling.mode": "keep"})
		wantFieldError(t, err, "transforms.x.delete.tombstone.handling.mode")
	})
}
