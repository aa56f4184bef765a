package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/serde"
)

// Dead-letter headers, Kafka Connect's names (DeadLetterQueueReporter).
const (
	headerPrefix          = "__connect.errors."
	headerTopic           = headerPrefix + "topic"
	headerPartition       = headerPrefix + "partition"
	headerOffset          = headerPrefix + "offset"
	headerConnector       = headerPrefix + "connector.name"
	headerTaskID          = headerPrefix + "task.id"
	headerStage           = headerPrefix + "stage"
	headerClass           = headerPrefix + "class.name"
	headerExceptionClass  = headerPrefix + "exception.class.name"
	headerExceptionMsg    = headerPrefix + "exception.message"
	headerExceptionStack  = headerPrefix + "exception.stacktrace"
	headerSourcePartition = headerPrefix + "source.partition" // Sluice: sources have no Kafka position
	headerSourceOffset    = headerPrefix + "source.offset"
)

// isTransient reports whether err may succeed when retried: a task's
// RetriableError, or a serde error wrapping serde.ErrTransient (an
// unreachable schema registry).
func isTransient(err error) bool {
	return connectors.IsRetriable(err) || errors.Is(err, serde.ErrTransient)
}

// retryPolicy runs an operation with Kafka Connect's retry rules
// (RetryWithToleranceOperator): exponential backoff from 100 ms up to
// errors.retry.delay.max.ms, for at most errors.retry.timeout.
type retryPolicy struct {
	timeout  time.Duration // 0: see taskOp; <0: forever
	delayMax time.Duration
	log      *slog.Logger
	retries  func() // counts a retry
}

// do runs op until it succeeds, fails with a non-transient error, the retry
// time is used up, or ctx ends. taskOp selects the rule for timeout 0:
// calls into the task (poll, put, commit) are retried forever, as Kafka
// Connect retries RetriableException from tasks; conversions and
// transforms are not retried.
func (p retryPolicy) do(ctx context.Context, what string, taskOp bool, op func() error) error {
	err := op()
	if err == nil || !isTransient(err) {
		return err
	}
	if p.timeout == 0 && !taskOp {
		return err
	}
	var deadline time.Time
	if p.timeout > 0 {
		deadline = time.Now().Add(p.timeout)
	}
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if !deadline.IsZero() && time.Now().Add(delay).After(deadline) {
			return fmt.Errorf("%w (gave up after %d retries in errors.retry.timeout=%v)", err, attempt-1, p.timeout)
		}
		p.log.Warn("worker: retrying after a transient failure", "operation", what, "attempt", attempt, "backoff", delay, "error", err)
		if p.retries != nil {
			p.retries()
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		if err = op(); err == nil || !isTransient(err) {
			return err
		}
		if delay *= 2; delay > p.delayMax {
			delay = p.delayMax
		}
	}
}

// deadLetter builds a dead-letter record: the original key, value and
// headers plus the __connect.errors.* context headers.
type deadLetter struct {
	connector string
	taskID    int
	withCtx   bool
}

// errorClass names an error's Go type, the counterpart of Java's exception
// class name: the innermost wrapped error that is not a plain wrapper.
func errorClass(err error) string {
	class := reflect.TypeOf(err).String()
	for e := err; e != nil; e = errors.Unwrap(e) {
		t := reflect.TypeOf(e).String()
		if t != "*fmt.wrapError" && t != "*fmt.wrapErrors" && t != "*errors.joinError" {
			class = t
		}
	}
	return class
}

// errorChain renders the wrap chain, one error per line: Go's stand-in for a
// stack trace.
func errorChain(err error) string {
	var b strings.Builder
	for e := err; e != nil; e = errors.Unwrap(e) {
		if b.Len() > 0 {
			b.WriteString("\ncaused by: ")
		}
		fmt.Fprintf(&b, "%s: %s", reflect.TypeOf(e), e.Error())
	}
	return b.String()
}

// contextHeaders appends the error context headers.
func (d deadLetter) contextHeaders(hs []kgo.RecordHeader, stage connectors.Stage, class string, err error) []kgo.RecordHeader {
	if !d.withCtx {
		return hs
	}
	return append(hs,
		kgo.RecordHeader{Key: headerConnector, Value: []byte(d.connector)},
		kgo.RecordHeader{Key: headerTaskID, Value: []byte(strconv.Itoa(d.taskID))},
		kgo.RecordHeader{Key: headerStage, Value: []byte(stage)},
		kgo.RecordHeader{Key: headerClass, Value: []byte(class)},
		kgo.RecordHeader{Key: headerExceptionClass, Value: []byte(errorClass(err))},
		kgo.RecordHeader{Key: headerExceptionMsg, Value: []byte(err.Error())},
		kgo.RecordHeader{Key: headerExceptionStack, Value: []byte(errorChain(err))},
	)
}

// fromConsumed dead-letters a consumed record (sinks): its raw bytes as
// read, with topic, partition and offset headers.
func (d deadLetter) fromConsumed(dlq string, r *kgo.Record, stage connectors.Stage, class string, err error) *kgo.Record {
	hs := append([]kgo.RecordHeader(nil), r.Headers...)
	if d.withCtx {
		hs = append(hs,
			kgo.RecordHeader{Key: headerTopic, Value: []byte(r.Topic)},
			kgo.RecordHeader{Key: headerPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
			kgo.RecordHeader{Key: headerOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))})
	}
	return &kgo.Record{Topic: dlq, Key: r.Key, Value: r.Value, Headers: d.contextHeaders(hs, stage, class, err),
		Timestamp: r.Timestamp, Partition: -1}
}

// fromSource dead-letters a source record. Its key and value are the
// bytes key and value are given as (raw input, or what conversion made of
// it), and the source position goes into Sluice's source.* headers.
func (d deadLetter) fromSource(dlq string, rec *connectors.Record, key, value []byte, stage connectors.Stage, class string, err error) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(rec.Headers)+10)
	for _, h := range rec.Headers {
		hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	if d.withCtx {
		hs = append(hs, kgo.RecordHeader{Key: headerTopic, Value: []byte(rec.Topic)})
		if rec.SourcePartition != nil {
			p, _ := json.Marshal(rec.SourcePartition)
			hs = append(hs, kgo.RecordHeader{Key: headerSourcePartition, Value: p})
		}
		if rec.SourceOffset != nil {
			o, _ := json.Marshal(rec.SourceOffset)
			hs = append(hs, kgo.RecordHeader{Key: headerSourceOffset, Value: o})
		}
	}
	out := &kgo.Record{Topic: dlq, Key: key, Value: value, Headers: d.contextHeaders(hs, stage, class, err), Partition: -1}
	if !rec.Timestamp.IsZero() {
		out.Timestamp = rec.Timestamp
	}
	return out
}

// rawBytes renders a source record's key or value as bytes for a dead
// letter when it could not be converted: bytes and strings as they are,
// anything else as JSON if it encodes, else its fmt form.
func rawBytes(v any) []byte {
	switch x := v.(type) {
	case nil:
		return nil
	case []byte:
		return x
	case string:
		return []byte(x)
	case *connectors.Struct:
		return []byte(x.String())
	}
	if b, err := json.Marshal(v); err == nil {
		return b
	}
	return []byte(fmt.Sprint(v))
}
