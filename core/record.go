package core

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header is a Kafka record header.
type Header = kgo.RecordHeader

// Record is a typed record flowing between nodes of a topology. Processors
// forward new Record values; copying a Record is cheap and Headers is shared
// unless replaced.
type Record[K, V any] struct {
	Key       K
	Value     V
	Timestamp time.Time
	Headers   []Header
	// NullKey and NullValue mark a Kafka null, as opposed to an empty or
	// zero key or value: a source sets them for records whose key or value
	// is null (Key or Value is then the zero value), and a sink writes a
	// null for them without calling the serializer. A table reads a null
	// value as a delete (tombstone); aggregations skip records with a null
	// key or value, as in Kafka Streams.
	NullKey, NullValue bool
}

// WithValue returns a copy of r with value v, possibly of another type
// (a value, so NullValue is cleared).
func WithValue[K, V, V2 any](r Record[K, V], v V2) Record[K, V2] {
	return Record[K, V2]{Key: r.Key, Value: v, Timestamp: r.Timestamp, Headers: r.Headers, NullKey: r.NullKey}
}

// WithKeyValue returns a copy of r with key k and value v (neither null).
func WithKeyValue[K, V, K2, V2 any](r Record[K, V], k K2, v V2) Record[K2, V2] {
	return Record[K2, V2]{Key: k, Value: v, Timestamp: r.Timestamp, Headers: r.Headers}
}

// RecordMetadata describes where the record being processed was read from.
type RecordMetadata struct {
	Topic     string
	Partition int32
	Offset    int64
}

// TaskID names a task: one sub-topology working on one partition number of
// its source topics.
type TaskID struct {
	Subtopology int
	Partition   int32
}

func (id TaskID) String() string { return itoa(id.Subtopology) + "_" + itoa(int(id.Partition)) }

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	neg := i < 0
	if neg {
		i = -i
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	if neg {
		n--
		b[n] = '-'
	}
	return string(b[n:])
}
