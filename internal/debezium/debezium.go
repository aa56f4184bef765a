// Package debezium builds change events in Debezium's format, shared by the
// CDC sources (postgres-cdc, mysql-cdc): the key (the primary key's columns,
// schema "<topic>.Key"), the value envelope (schema "<topic>.Envelope" with
// before, after, source, transaction, op, ts_ms, ts_us, ts_ns), tombstones,
// and topic names. Debezium consumers, Kafka Connect sinks and Kafka
// Streams apps read these events unchanged once a converter (JSON with
// schemas, or Avro through the Schema Registry) writes them.
package debezium

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// Operations, Debezium's op field.
const (
	OpCreate   = "c"
	OpUpdate   = "u"
	OpDelete   = "d"
	OpRead     = "r" // a snapshot row
	OpTruncate = "t"
	OpMessage  = "m"
)

// Snapshot values of source.snapshot (an io.debezium.data.Enum).
const (
	SnapshotTrue        = "true"
	SnapshotFirst       = "first"
	SnapshotLast        = "last"
	SnapshotFalse       = "false"
	SnapshotIncremental = "incremental"
)

// EnumName is Debezium's semantic type name for enumerations: a string
// schema whose parameter "allowed" lists the values.
const EnumName = "io.debezium.data.Enum"

// SnapshotSchema is source.snapshot's schema: an optional enum defaulting
// to "false".
func SnapshotSchema() *connectors.Schema {
	return &connectors.Schema{Type: connectors.TypeString, Optional: true, Name: EnumName, Version: 1, Default: "false",
		Parameters: map[string]string{"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"}}
}

// Topic is a table's topic: "<prefix>.<schema>.<table>" (PostgreSQL) or
// "<prefix>.<database>.<table>" (MySQL), as Debezium names them.
func Topic(prefix, schemaOrDB, table string) string {
	return prefix + "." + schemaOrDB + "." + table
}

// SchemaName makes a valid Avro full name from a topic-derived name, as
// Debezium's SchemaNameAdjuster does: characters other than letters,
// digits, '_' and '.' become '_', and a name part starting with a digit
// gets a leading '_'.
func SchemaName(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		var b strings.Builder
		for j, r := range p {
			ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (j > 0 && r >= '0' && r <= '9')
			if !ok && j == 0 && r >= '0' && r <= '9' {
				b.WriteByte('_')
				b.WriteRune(r)
				continue
			}
			if !ok {
				b.WriteByte('_')
				continue
			}
			b.WriteRune(r)
		}
		parts[i] = b.String()
	}
	return strings.Join(parts, ".")
}

// Table describes one captured table's event schemas. Build it with
// NewTable; rebuild it when the table's columns change (a new schema
// version).
type Table struct {
	Topic    string
	Key      *connectors.Schema // "<topic>.Key": the primary key columns; nil for a table without one
	Row      *connectors.Schema // "<topic>.Value": every column, optional
	Envelope *connectors.Schema // "<topic>.Envelope"
	source   *connectors.Schema

	// keyFields[i] is the Row field of Key's field i; sourceTsMs is the
	// index of the source block's ts_ms (-1: none). Events are built per
	// row, so they are resolved once here rather than by name per event.
	keyFields  []int
	sourceTsMs int
}

// TransactionSchema is the envelope's transaction block
// ("event.block": id, total_order, data_collection_order).
func TransactionSchema() *connectors.Schema {
	return connectors.NewStruct("event.block").Optional().Version(1).
		Field("id", connectors.StringSchema()).
		Field("total_order", connectors.Int64Schema()).
		Field("data_collection_order", connectors.Int64Schema()).MustBuild()
}

// NewTable builds a table's schemas. row is the struct of its columns
// (named "<topic>.Value", optional); keyColumns name the primary key
// columns, in key order, taken from row (required in the key). source is
// the connector's source block schema (io.debezium.connector.<x>.Source).
func NewTable(topic string, row *connectors.Schema, keyColumns []string, source *connectors.Schema) (*Table, error) {
	name := SchemaName(topic)
	t := &Table{Topic: topic, source: source, sourceTsMs: -1}
	if f, ok := source.Field("ts_ms"); ok {
		t.sourceTsMs = f.Index
	}
	rowCopy := row.Copy()
	rowCopy.Name, rowCopy.Optional = name+".Value", true
	t.Row = rowCopy.Finish()
	if len(keyColumns) > 0 {
		kb := connectors.NewStruct(name + ".Key")
		for _, c := range keyColumns {
			f, ok := row.Field(c)
			if !ok {
				return nil, fmt.Errorf("debezium: %s: key column %q is not a column", topic, c)
			}
			ks := f.Schema
			if ks.Optional {
				ks = ks.Copy()
				ks.Optional = false
			}
			kb.Field(c, ks)
			rf, _ := t.Row.Field(c) // numbered by Finish
			t.keyFields = append(t.keyFields, rf.Index)
		}
		k, err := kb.Build()
		if err != nil {
			return nil, err
		}
		t.Key = k
	}
	optInt64 := connectors.OptionalOf(connectors.Int64Schema())
	env, err := connectors.NewStruct(name+".Envelope").Version(2).
		Field("before", t.Row).
		Field("after", t.Row).
		Field("source", source).
		Field("transaction", TransactionSchema()).
		Field("op", connectors.StringSchema()).
		Field("ts_ms", optInt64).
		Field("ts_us", optInt64).
		Field("ts_ns", optInt64).Build()
	if err != nil {
		return nil, err
	}
	t.Envelope = env
	return t, nil
}

// KeyOf builds the key struct of a row (nil without a primary key).
func (t *Table) KeyOf(row *connectors.Struct) *connectors.Struct {
	if t.Key == nil || row == nil {
		return nil
	}
	k := connectors.NewStructValue(t.Key)
	if row.Schema() == t.Row {
		for i, fi := range t.keyFields {
			k.Set(i, row.At(fi))
		}
		return k
	}
	for i, f := range t.Key.Fields {
		k.Set(i, row.Get(f.Name))
	}
	return k
}

// Processed is a processing time as the envelope's ts_ms, ts_us and ts_ns
// hold it. Events processed at the same time (a batch) share one: the
// values are immutable, and converting them once spares three allocations
// per event.
type Processed struct {
	ms, us, ns any
}

// At returns the envelope times of t.
func At(t time.Time) Processed {
	return Processed{ms: t.UnixMilli(), us: t.UnixMicro(), ns: t.UnixNano()}
}

// Event builds a change event's value: op, the row before and after (nil
// where the operation has none), the source block and the time the
// connector processed it.
func (t *Table) Event(op string, before, after, source *connectors.Struct, processed time.Time) *connectors.Struct {
	return t.EventAt(op, before, after, source, At(processed))
}

// EventAt is Event with the processing time converted by At.
func (t *Table) EventAt(op string, before, after, source *connectors.Struct, processed Processed) *connectors.Struct {
	v := connectors.NewStructValue(t.Envelope)
	v.Set(0, nilIfNil(before))
	v.Set(1, nilIfNil(after))
	v.Set(2, source)
	v.Set(4, op)
	v.Set(5, processed.ms)
	v.Set(6, processed.us)
	v.Set(7, processed.ns)
	return v
}

func nilIfNil(s *connectors.Struct) any {
	if s == nil {
		return nil
	}
	return s
}

// Record makes the Kafka record of a change event (Partition -1: by key).
// The source partition and offset are the connector's.
func (t *Table) Record(op string, before, after, source *connectors.Struct, processed time.Time,
	sourcePartition, sourceOffset map[string]any) *connectors.Record {
	rec := new(connectors.Record)
	t.FillRecord(rec, op, before, after, source, At(processed), sourcePartition, sourceOffset)
	return rec
}

// FillRecord is Record writing into rec (overwritten entirely), so that a
// source can allocate a batch's records at once.
func (t *Table) FillRecord(rec *connectors.Record, op string, before, after, source *connectors.Struct, processed Processed,
	sourcePartition, sourceOffset map[string]any) {
	row := after
	if row == nil {
		row = before
	}
	*rec = connectors.Record{Topic: t.Topic, Partition: -1, Offset: -1,
		ValueSchema: t.Envelope, Value: t.EventAt(op, before, after, source, processed),
		SourcePartition: sourcePartition, SourceOffset: sourceOffset}
	if t.Key != nil {
		rec.KeySchema, rec.Key = t.Key, t.KeyOf(row)
	}
	if ts, ok := t.sourceTime(source); ok {
		rec.Timestamp = ts
	}
}

// Tombstone is the record Debezium emits after a delete (tombstones.on.delete):
// the key and a null value, so compaction removes the row.
func (t *Table) Tombstone(key *connectors.Struct, sourcePartition map[string]any) *connectors.Record {
	return &connectors.Record{Topic: t.Topic, Partition: -1, Offset: -1,
		KeySchema: t.Key, Key: key, SourcePartition: sourcePartition}
}

func (t *Table) sourceTime(source *connectors.Struct) (time.Time, bool) {
	if source == nil {
		return time.Time{}, false
	}
	var v any
	if source.Schema() == t.source && t.sourceTsMs >= 0 {
		v = source.At(t.sourceTsMs)
	} else {
		v = source.Get("ts_ms")
	}
	if ms, ok := v.(int64); ok && ms > 0 {
		return time.UnixMilli(ms), true
	}
	return time.Time{}, false
}
