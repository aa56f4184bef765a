package core

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TimestampExtractor returns the event time of a raw input record.
// partitionTime is the largest timestamp extracted so far from the record's
// partition (zero time before the first). A result before the Unix epoch
// is invalid and handled by the InvalidTimestampPolicy.
type TimestampExtractor func(rec *kgo.Record, partitionTime time.Time) time.Time

// RecordTime uses the record's own timestamp (CreateTime or LogAppendTime).
// This is the default, as in Kafka Streams.
func RecordTime() TimestampExtractor {
	return func(rec *kgo.Record, _ time.Time) time.Time { return rec.Timestamp }
}

// WallClockTimeExtractor uses the system time at which the record is read
// (processing time).
func WallClockTimeExtractor() TimestampExtractor {
	return func(*kgo.Record, time.Time) time.Time { return time.Now() }
}

// InvalidTimestampPolicy says what to do with a record whose extracted
// timestamp is negative (before the Unix epoch).
type InvalidTimestampPolicy int

const (
	// FailOnInvalidTimestamp stops the application (Kafka Streams' default).
	FailOnInvalidTimestamp InvalidTimestampPolicy = iota
	// SkipOnInvalidTimestamp logs, counts and drops the record.
	SkipOnInvalidTimestamp
	// UsePartitionTimeOnInvalidTimestamp uses the partition's largest
	// timestamp so far instead; before the first valid record it fails.
	UsePartitionTimeOnInvalidTimestamp
)
