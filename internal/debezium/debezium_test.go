package debezium

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

func TestTableEvents(t *testing.T) {
	row := connectors.NewStruct("").
		Field("id", connectors.OptionalOf(connectors.Int32Schema())).
		Field("name", connectors.OptionalOf(connectors.StringSchema())).MustBuild()
	src := connectors.NewStruct("io.debezium.connector.postgresql.Source").
		Field("ts_ms", connectors.Int64Schema()).Field("snapshot", SnapshotSchema()).MustBuild()
	tb, err := NewTable(Topic("db1", "public", "1st-table"), row, []string{"id"}, src)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Envelope.Name != "db1.public._1st_table.Envelope" || tb.Key.Name != "db1.public._1st_table.Key" || tb.Row.Name != "db1.public._1st_table.Value" {
		t.Fatalf("names: %s %s %s", tb.Envelope.Name, tb.Key.Name, tb.Row.Name)
	}
	if tb.Key.Fields[0].Schema.Optional {
		t.Fatal("key columns must be required")
	}
	after := connectors.NewStructValue(tb.Row).Put("id", int32(7)).Put("name", "x")
	source := connectors.NewStructValue(src).Put("ts_ms", int64(1700000000000)).Put("snapshot", "false")
	rec := tb.Record(OpCreate, nil, after, source, time.UnixMilli(1700000000123), map[string]any{"server": "db1"}, map[string]any{"lsn": int64(5)})
	if err := connectors.Validate(rec.ValueSchema, rec.Value); err != nil {
		t.Fatal(err)
	}
	if err := connectors.Validate(rec.KeySchema, rec.Key); err != nil {
		t.Fatal(err)
	}
	v := rec.Value.(*connectors.Struct)
	if v.Get("op") != "c" || v.Get("before") != nil || v.Get("ts_ms") != int64(1700000000123) || rec.Timestamp.UnixMilli() != 1700000000000 {
		t.Fatalf("event: %v ts %v", v, rec.Timestamp)
	}
	if rec.Key.(*connectors.Struct).Get("id") != int32(7) {
		t.Fatalf("key: %v", rec.Key)
	}
	tomb := tb.Tombstone(rec.Key.(*connectors.Struct), nil)
	if tomb.Value != nil || tomb.Key == nil {
		t.Fatal("tombstone")
	}
}
