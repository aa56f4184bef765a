package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// TaskContext is what the worker tells every task about itself. Its
// methods are safe for concurrent use.
type TaskContext interface {
	// Connector is the connector's name (unique in a worker and its
	// Kafka cluster: it keys offsets and names the sink's group).
	Connector() string
	// TaskID is the task's number, 0 .. tasks-1.
	TaskID() int
	// Logger logs with the connector and task as attributes.
	Logger() *slog.Logger
	// RequestCommit asks the worker to commit as soon as it can (a source
	// with callers waiting for durability, a sink that has just made
	// output durable), rather than at the next offset.flush.interval.ms.
	RequestCommit()
}

// SourcePlugin declares a source connector type.
type SourcePlugin struct {
	Info
	// ExactlyOnce is true when the source resumes exactly from its
	// committed offsets, so the worker can run it with exactly-once
	// delivery (KIP-618). Connectors whose offsets are not precise run at
	// least once, and exactly.once.support=required then fails at start.
	ExactlyOnce bool
	// New builds a connector from its parsed configuration.
	New func(cfg *Config) (Source, error)
}

// Source is a source connector: it splits its work into tasks. It is
// created once per connector run and is not used concurrently.
type Source interface {
	// Tasks returns at most maxTasks tasks (tasks.max), each a share of the
	// work that runs on its own goroutine, with its own producer under
	// exactly-once. The list must be deterministic for one configuration:
	// task i of every instance of a job is the same work. The worker calls
	// Tasks again when task i must run anew after its earlier run closed
	// (it moved to another worker and came back): return fresh tasks.
	Tasks(maxTasks int) ([]SourceTask, error)
}

// SchemaDeclarer is implemented by source connectors that know, from
// their configuration alone, the schemas of the records they will write
// (datagen; a file source with a declared schema). A job type-checks the
// expressions of its topology against them before anything runs, with no
// registry to ask. Sources that learn their schemas by connecting (CDC)
// do not implement it.
type SchemaDeclarer interface {
	// Schemas returns, per destination topic, the key and value schemas
	// (before the connector's transforms; nil where unknown or
	// schemaless).
	Schemas() map[string]TopicSchemas
}

// TopicSchemas are the key and value schemas of a topic's records.
type TopicSchemas struct {
	Key, Value *Schema
}

// SourceTask reads records from an outside system. The worker never calls
// its methods concurrently, in the order Open, then
// Poll and Commit any number of times, then Close (also after a failed
// Open).
//
// Delivery: every record returned by Poll is written to Kafka, or
// dead-lettered, or the task fails, before any later record's offset is
// committed. Commit then says which offsets are durable. After a crash the
// task is opened again with the last committed offsets and must resume
// right after them; under exactly-once nothing after those offsets may have
// been committed, so resuming precisely gives every record exactly once.
type SourceTask interface {
	// Open starts the task. Read committed offsets with tc.Offset; under
	// exactly-once the worker has already fenced earlier incarnations of
	// the task when Open runs, so the offsets are final.
	Open(ctx context.Context, tc SourceTaskContext) error
	// Poll returns the next records. It should block until some are
	// ready, ctx is done, or about a second has passed with nothing to
	// read (then it returns nil, nil, so the worker can commit and stop
	// promptly). Input that cannot be turned into a record (a malformed
	// line) is handed to tc.Report, not returned as an error. A returned
	// error fails the task, except a [RetriableError], which the worker
	// retries with backoff. io.EOF means the task has no more input ever
	// (a bounded source, drained): records returned with it are written,
	// then the task finishes.
	Poll(ctx context.Context) ([]*Record, error)
	// Commit tells the task that its records up to these offsets (the
	// latest committed offset of each source partition that advanced) are
	// durably in Kafka: in a committed transaction under exactly-once, or
	// acknowledged with their offsets stored under at-least-once. A
	// database source releases its log position here. An error is logged
	// and otherwise ignored, as Kafka Connect does: the offsets are
	// already committed.
	Commit(ctx context.Context, committed []SourceOffset) error
	// Close releases the task's resources. The worker commits what it can
	// before Close on a graceful stop.
	Close() error
}

// SourceOffset is a source partition and its offset, both as a source
// record carries them.
type SourceOffset struct {
	Partition map[string]any
	Offset    map[string]any
}

// SourceTaskContext gives a source task access to its committed offsets and
// the error handler.
type SourceTaskContext interface {
	TaskContext
	// Offset returns the last committed offset of a source partition, or
	// nil if none was committed (Kafka Connect's OffsetStorageReader).
	Offset(partition map[string]any) (map[string]any, error)
	// Offsets returns every committed source partition of this connector
	// with its offset (for sources whose partitions are discovered, such as
	// the files of a glob).
	Offsets() ([]SourceOffset, error)
	// Report hands over input that could not be made into a record (a
	// malformed line) with its error, as raw bytes plus the position
	// (source partition and offset) after it. Under errors.tolerance=all
	// the bytes go to the dead-letter topic (stage TASK_POLL) and Report
	// returns nil; under none it returns an error that Poll must return.
	// Either way the position counts as passed once later records commit.
	// Report may be called from any goroutine while Poll runs, not after
	// Poll returned.
	Report(raw *Record, err error) error
}

// SinkPlugin declares a sink connector type.
type SinkPlugin struct {
	Info
	// ExactlyOnce is true when the sink writes every record exactly once
	// even across crashes and redelivery (idempotent output or offsets kept
	// with the output); documented per connector.
	ExactlyOnce bool
	// New builds a connector from its parsed configuration.
	New func(cfg *Config) (Sink, error)
}

// Sink is a sink connector: it splits its work into tasks, each a member of
// the connector's consumer group ("connect-<name>").
type Sink interface {
	// Tasks returns at most maxTasks tasks.
	Tasks(maxTasks int) ([]SinkTask, error)
}

// SinkTask writes records to an outside system. The worker never calls its
// methods concurrently (they may come from different goroutines, such as
// the consumer's rebalance callbacks): Open, then any sequence
// of Assign, Put, PreCommit and Revoke, then Close.
//
// Delivery: the worker commits a partition's offset only as PreCommit
// returns it, so a sink that buffers reports how far its output is
// durable. Records may be delivered again after a crash or a rebalance
// (from the last committed offset), so a sink is exactly-once only if its
// writes are idempotent or it keeps offsets with its output and seeks past
// them in Assign (TaskContext.Seek).
type SinkTask interface {
	// Open starts the task.
	Open(ctx context.Context, tc SinkTaskContext) error
	// Assign tells the task it now owns these partitions (Kafka Connect's
	// open). Records of a partition come only after its Assign, from the
	// offset a Seek made here names, else from the committed offset. A
	// RetriableError is retried like Put's; another error fails the task.
	Assign(ctx context.Context, partitions []TopicPartition) error
	// Put hands over records, in offset order per partition. The task may
	// write them at once or buffer them. A [RetriableError] makes the
	// worker hand the same batch again after a backoff; a record the task
	// cannot write at all goes to tc.Report.
	Put(ctx context.Context, records []*Record) error
	// PreCommit is called before the worker commits offsets, with the
	// offset after the last record handed over for each partition (only
	// records of Puts that returned nil: a failed Put fails the task, and
	// a retriable one is repeated until it succeeds). It
	// returns the offsets that are safe to commit (the next offset to read
	// after everything durably written), which may lag behind: a sink that
	// writes synchronously in Put returns current unchanged, one that
	// buffers flushes or returns what is durable. Omitted partitions are
	// not committed. It is called every offset.flush.interval.ms (and on
	// RequestCommit) while the task owns partitions that ever had records,
	// even when no new records came: time-based rotation can run here.
	PreCommit(ctx context.Context, current map[TopicPartition]int64) (map[TopicPartition]int64, error)
	// Revoke tells the task it no longer owns these partitions (Kafka
	// Connect's close): drop their buffers. The worker has already
	// committed what PreCommit allowed.
	Revoke(ctx context.Context, partitions []TopicPartition) error
	// Close releases the task's resources.
	Close() error
}

// SinkFlusher is implemented by sink tasks that keep output open until a
// rotation rule completes it (files, objects): FlushAll completes
// everything open now. The worker calls it on a graceful stop, before its
// final PreCommit, so that a stopped connector leaves everything it
// consumed durable (and `sluice run --until-done` ends with all output
// written). It is not called on revocation or after a crash: buffered
// records are then read again by the next owner.
type SinkFlusher interface {
	FlushAll(ctx context.Context) error
}

// SinkTaskContext lets a sink task steer its consumer and report records it
// cannot write.
type SinkTaskContext interface {
	TaskContext
	// Seek makes the consumer read the partition from offset next (Kafka
	// Connect's SinkTaskContext.offset): a sink that keeps offsets with its
	// output calls it from Assign so that records already written are not
	// delivered again.
	Seek(tp TopicPartition, offset int64)
	// Report hands over a record the task could not write (Kafka Connect's
	// ErrantRecordReporter): under errors.tolerance=all it goes to the
	// dead-letter topic (stage TASK_PUT) and Report returns nil; under none
	// Report returns an error that Put must return. Report may be called
	// from any goroutine while Put runs, not after Put returned.
	Report(rec *Record, err error) error
}

// RetriableError marks a failure that may succeed if retried (a server that
// is unavailable, a rate limit). The worker retries the operation with
// exponential backoff up to errors.retry.delay.max.ms between attempts,
// logging each, for at most errors.retry.timeout (forever if that is 0, as
// Kafka Connect does for RetriableException from tasks).
type RetriableError struct{ Err error }

func (e *RetriableError) Error() string { return "retriable: " + e.Err.Error() }
func (e *RetriableError) Unwrap() error { return e.Err }

// Retriable wraps err as a [RetriableError] (nil stays nil).
func Retriable(err error) error {
	if err == nil {
		return nil
	}
	return &RetriableError{Err: err}
}

// IsRetriable reports whether err wraps a [RetriableError].
func IsRetriable(err error) bool {
	var r *RetriableError
	return errors.As(err, &r)
}

// Stage names where a record failed, with Kafka Connect's stage names (the
// __connect.errors.stage header of dead letters).
type Stage string

// The stages.
const (
	StageTaskPoll       Stage = "TASK_POLL"
	StageKeyConverter   Stage = "KEY_CONVERTER"
	StageValueConverter Stage = "VALUE_CONVERTER"
	StageTransformation Stage = "TRANSFORMATION"
	StageKafkaProduce   Stage = "KAFKA_PRODUCE"
	StageKafkaConsume   Stage = "KAFKA_CONSUME"
	StageTaskPut        Stage = "TASK_PUT"
)

// RecordError is a failure of one record at one stage; a task failed by
// it (errors.tolerance=none) reports it as its error.
type RecordError struct {
	Connector string
	TaskID    int
	Stage     Stage
	Where     string // the record's position (Record.Where)
	Err       error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("connector %q task %d: %s failed for %s: %v (errors.tolerance=none stops the task; set errors.tolerance=all and errors.deadletterqueue.topic.name to divert such records)",
		e.Connector, e.TaskID, e.Stage, e.Where, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }
