package core

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/serde"
)

// HandlerResponse tells the runtime what to do after an error handler ran.
type HandlerResponse int

const (
	// Fail stops the application. Nothing past the failing record is
	// committed: under exactly_once_v2 the open transaction is aborted.
	Fail HandlerResponse = iota
	// Continue drops the failing record and goes on with the next one; its
	// offset is committed with the next commit.
	Continue
)

func (r HandlerResponse) String() string {
	if r == Continue {
		return "continue"
	}
	return "fail"
}

// ErrorContext says where an error happened.
type ErrorContext struct {
	TaskID    TaskID
	Node      string // node name; empty for deserialization of the source record
	Topic     string // input record's topic (empty inside a punctuator)
	Partition int32
	Offset    int64
	// Record is the raw input record being processed (nil in a punctuator).
	// Handlers must not modify it.
	Record *kgo.Record
}

func (ec ErrorContext) String() string {
	if ec.Record == nil {
		if ec.Node == "(cache flush)" {
			return fmt.Sprintf("task %s (record cache flush)", ec.TaskID)
		}
		if ec.Topic != "" {
			return fmt.Sprintf("task %s, output to topic %q", ec.TaskID, ec.Topic)
		}
		return fmt.Sprintf("task %s node %q (punctuation)", ec.TaskID, ec.Node)
	}
	s := fmt.Sprintf("task %s, record %s[%d]@%d", ec.TaskID, ec.Topic, ec.Partition, ec.Offset)
	if ec.Node != "" {
		s += fmt.Sprintf(", node %q", ec.Node)
	}
	return s
}

// DeserializationResult is a deserialization handler's decision plus any
// records to produce as dead letters (in the same transaction as the
// task's output under exactly_once_v2).
type DeserializationResult struct {
	Response    HandlerResponse
	DeadLetters []*kgo.Record
}

// DeserializationHandler decides what happens to an input record whose key
// or value cannot be deserialized. It runs on the task's goroutine.
type DeserializationHandler func(ec ErrorContext, err error) DeserializationResult

// ProcessingHandler decides what happens when a processor (or punctuator)
// returns an error. It runs on the task's goroutine.
type ProcessingHandler func(ec ErrorContext, err error) HandlerResponse

// ProductionHandler decides what happens when an output record cannot be
// serialized or produced (for example RecordTooLarge). Under exactly_once_v2
// a failed send always fails: a transaction with a lost record cannot commit.
// It may run on a producer goroutine.
type ProductionHandler func(ec ErrorContext, rec *kgo.Record, err error) HandlerResponse

// Headers added to dead-letter records, named as in Kafka Streams (KIP-1034).
const (
	HeaderErrorException = "__streams.errors.exception"
	HeaderErrorMessage   = "__streams.errors.message"
	HeaderErrorTopic     = "__streams.errors.topic"
	HeaderErrorPartition = "__streams.errors.partition"
	HeaderErrorOffset    = "__streams.errors.offset"
)

// LogAndFail is the default handler for every error kind: log, then stop.
func LogAndFail(log *slog.Logger) DeserializationHandler {
	return func(ec ErrorContext, err error) DeserializationResult {
		logger(log).Error("sluice: cannot deserialize record; stopping", "where", ec.String(), "err", err)
		return DeserializationResult{Response: Fail}
	}
}

// LogAndContinue logs the record's position and the error and skips it.
// Transient errors (serde.ErrTransient, e.g. an unreachable schema
// registry) are not skipped: the application stops and the record is
// retried after a restart.
func LogAndContinue(log *slog.Logger) DeserializationHandler {
	return func(ec ErrorContext, err error) DeserializationResult {
		if transient(log, ec, err) {
			return DeserializationResult{Response: Fail}
		}
		logger(log).Warn("sluice: skipping record that cannot be deserialized", "where", ec.String(), "err", err)
		return DeserializationResult{Response: Continue}
	}
}

// DeadLetterTo sends every record that cannot be deserialized to topic: the
// original key, value and headers, plus headers naming the error, the
// source topic, partition and offset. Processing continues. Transient
// errors (serde.ErrTransient) are not dead-lettered: the application stops
// and the record is retried after a restart.
func DeadLetterTo(topic string, log *slog.Logger) DeserializationHandler {
	return func(ec ErrorContext, err error) DeserializationResult {
		if transient(log, ec, err) {
			return DeserializationResult{Response: Fail}
		}
		logger(log).Warn("sluice: record sent to dead-letter topic", "dlq", topic, "where", ec.String(), "err", err)
		return DeserializationResult{Response: Continue, DeadLetters: []*kgo.Record{DeadLetter(topic, ec, err)}}
	}
}

// DeadLetter builds a dead-letter record for ec's input record.
func DeadLetter(topic string, ec ErrorContext, err error) *kgo.Record {
	dl := &kgo.Record{Topic: topic, Partition: -1}
	if ec.Record != nil {
		dl.Key = ec.Record.Key
		dl.Value = ec.Record.Value
		dl.Timestamp = ec.Record.Timestamp
		dl.Headers = append(dl.Headers, ec.Record.Headers...)
	}
	dl.Headers = append(dl.Headers,
		kgo.RecordHeader{Key: HeaderErrorException, Value: []byte(fmt.Sprintf("%T", err))},
		kgo.RecordHeader{Key: HeaderErrorMessage, Value: []byte(err.Error())},
		kgo.RecordHeader{Key: HeaderErrorTopic, Value: []byte(ec.Topic)},
		kgo.RecordHeader{Key: HeaderErrorPartition, Value: []byte(strconv.Itoa(int(ec.Partition)))},
		kgo.RecordHeader{Key: HeaderErrorOffset, Value: []byte(strconv.FormatInt(ec.Offset, 10))},
	)
	return dl
}

// ProcessingLogAndFail is the default processing handler.
func ProcessingLogAndFail(log *slog.Logger) ProcessingHandler {
	return func(ec ErrorContext, err error) HandlerResponse {
		logger(log).Error("sluice: processing failed; stopping", "where", ec.String(), "err", err)
		return Fail
	}
}

// ProcessingLogAndContinue logs and drops the record that failed.
func ProcessingLogAndContinue(log *slog.Logger) ProcessingHandler {
	return func(ec ErrorContext, err error) HandlerResponse {
		logger(log).Warn("sluice: processing failed; skipping record", "where", ec.String(), "err", err)
		return Continue
	}
}

// ProductionLogAndFail is the default production handler.
func ProductionLogAndFail(log *slog.Logger) ProductionHandler {
	return func(ec ErrorContext, rec *kgo.Record, err error) HandlerResponse {
		logger(log).Error("sluice: cannot produce record; stopping", "topic", rec.Topic, "where", ec.String(), "err", err)
		return Fail
	}
}

// ProductionLogAndContinue logs and drops output records that fail, except
// for transient errors (serde.ErrTransient), which stop the application.
func ProductionLogAndContinue(log *slog.Logger) ProductionHandler {
	return func(ec ErrorContext, rec *kgo.Record, err error) HandlerResponse {
		if transient(log, ec, err) {
			return Fail
		}
		logger(log).Warn("sluice: cannot produce record; dropping it", "topic", rec.Topic, "where", ec.String(), "err", err)
		return Continue
	}
}

// transient reports (and logs) an error that may succeed when retried.
func transient(log *slog.Logger, ec ErrorContext, err error) bool {
	if !errors.Is(err, serde.ErrTransient) {
		return false
	}
	logger(log).Error("sluice: transient serde failure; stopping instead of skipping the record, which is retried after a restart",
		"where", ec.String(), "err", err)
	return true
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// ProcessingError is the error an application stops with when a handler
// answered Fail. It names the record's position.
type ProcessingError struct {
	Context ErrorContext
	Kind    string // "deserialization", "processing", "production", "timestamp"
	Err     error
}

func (e *ProcessingError) Error() string {
	return fmt.Sprintf("core: %s error at %s: %v", e.Kind, e.Context, e.Err)
}

func (e *ProcessingError) Unwrap() error { return e.Err }
