package connectors

import (
	"fmt"
	"time"
)

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// TopicPartition names a Kafka partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s[%d]", tp.Topic, tp.Partition) }

// Record is a record on its way into Kafka (from a source) or out of it (to
// a sink), with its key and value in Kafka Connect's data model (see
// [Schema]). Converters turn keys and values into bytes and back; transforms
// change records in between.
//
// Ownership: a source hands its records to the worker with Poll and must
// not touch them afterwards. A sink receives records in Put and may keep
// them (and their values) as long as it likes; the worker does not reuse
// them.
type Record struct {
	// Topic is the destination topic of a source record, or the topic a
	// sink record was read from.
	Topic string
	// Partition is the Kafka partition: for a source record, -1 lets the
	// producer choose (murmur2 of the serialized key, as Kafka's Java
	// producer; round robin for null keys).
	Partition int32
	// Offset is the Kafka offset of a sink record; -1 for source records.
	Offset int64
	// Timestamp is the record's timestamp; zero means "now" when produced.
	Timestamp time.Time

	KeySchema   *Schema
	Key         any
	ValueSchema *Schema
	Value       any // nil with a nil or optional schema: a tombstone
	Headers     []Header

	// SourcePartition and SourceOffset locate a source record in its
	// source system (a file and a byte position, a table and a primary key,
	// a replication slot and an LSN), as Kafka Connect's SourceRecord does.
	// Both must be JSON-encodable; they are stored in the offsets topic as
	// JSON, with Kafka Connect's key layout ["connector",{partition}].
	// The offset applies to this record and to every earlier record of the
	// same source partition; a nil SourceOffset means "no new position", so
	// a source may set it only on the last record of a batch per partition.
	// Records whose SourcePartition is nil carry no offset at all.
	SourcePartition map[string]any
	SourceOffset    map[string]any
}

// Header returns the value of the last header with key, or nil.
func (r *Record) Header(key string) ([]byte, bool) {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return r.Headers[i].Value, true
		}
	}
	return nil, false
}

// Clone returns a shallow copy of r with its own headers slice: keys,
// values and offset maps are shared (values are immutable by convention;
// transforms build new structs rather than changing shared ones).
func (r *Record) Clone() *Record {
	c := *r
	c.Headers = append([]Header(nil), r.Headers...)
	return &c
}

// Where describes the record's position for error messages: the Kafka
// coordinates of a sink record, the source coordinates of a source record.
func (r *Record) Where() string {
	if r.Offset >= 0 {
		return fmt.Sprintf("%s[%d]@%d", r.Topic, r.Partition, r.Offset)
	}
	if r.SourcePartition != nil {
		return fmt.Sprintf("source partition %v offset %v (to topic %q)", r.SourcePartition, r.SourceOffset, r.Topic)
	}
	return fmt.Sprintf("record to topic %q", r.Topic)
}
