package core

import (
	"time"
)

// Processor is a node of a topology written against the Processor API. It
// receives records of type Record[KIn, VIn] and forwards Record[KOut, VOut]
// through the context given to Init.
//
// A topology holds a supplier, not a processor: every task gets its own
// instance, and all calls to one instance are made by the goroutine that owns
// its task, one at a time, so a processor needs no locking of its own state.
type Processor[KIn, VIn, KOut, VOut any] interface {
	// Init is called once before the first record, with the context the
	// processor keeps for forwarding, scheduling and metadata.
	Init(ctx ProcessorContext[KOut, VOut]) error
	// Process handles one record. A returned error goes to the processing
	// error handler (see WithProcessingHandler).
	Process(rec Record[KIn, VIn]) error
	// Close is called when the task closes (shutdown or partition revoked).
	Close() error
}

// PointerProcessor is an optional fast path of a Processor: when the
// processor implements it, the runtime calls ProcessPtr instead of Process
// and hands the record over by pointer instead of copying it. *rec is
// read-only and valid only during the call: forward it unchanged with
// ProcessorContext.ForwardPtr, or forward a new record with Forward. The
// DSL's stateless operators use it; a record costs about 100 bytes to copy
// at every hop otherwise.
type PointerProcessor[K, V any] interface {
	ProcessPtr(rec *Record[K, V]) error
}

// ProcessorFunc adapts a function to a stateless Processor with no Init or
// Close work.
type ProcessorFunc[KIn, VIn, KOut, VOut any] func(ctx ProcessorContext[KOut, VOut], rec Record[KIn, VIn]) error

// Supplier returns a supplier that wraps fn for every task.
func (fn ProcessorFunc[KIn, VIn, KOut, VOut]) Supplier() func() Processor[KIn, VIn, KOut, VOut] {
	return func() Processor[KIn, VIn, KOut, VOut] { return &funcProcessor[KIn, VIn, KOut, VOut]{fn: fn} }
}

type funcProcessor[KIn, VIn, KOut, VOut any] struct {
	fn  ProcessorFunc[KIn, VIn, KOut, VOut]
	ctx ProcessorContext[KOut, VOut]
}

func (p *funcProcessor[KIn, VIn, KOut, VOut]) Init(ctx ProcessorContext[KOut, VOut]) error {
	p.ctx = ctx
	return nil
}
func (p *funcProcessor[KIn, VIn, KOut, VOut]) Process(r Record[KIn, VIn]) error {
	return p.fn(p.ctx, r)
}
func (p *funcProcessor[KIn, VIn, KOut, VOut]) Close() error { return nil }

// PunctuationType says which clock drives a punctuator.
type PunctuationType int

const (
	// StreamTime punctuators fire as the task's stream time (the largest
	// record timestamp processed so far) passes each interval boundary. They
	// do not fire when no records arrive. The first fires with the first
	// record processed after scheduling.
	StreamTime PunctuationType = iota
	// WallClockTime punctuators fire as the system clock (the test driver's
	// mock clock) passes each interval, whether or not records arrive.
	WallClockTime
)

func (t PunctuationType) String() string {
	if t == WallClockTime {
		return "wall-clock"
	}
	return "stream-time"
}

// Punctuator is called with the time that triggered it: the stream time or
// the wall-clock time. When several intervals were skipped (a jump in stream
// time, a slow loop) it is called once, not once per missed interval, as in
// Kafka Streams.
type Punctuator func(timestamp time.Time) error

// Cancellable cancels a scheduled punctuator.
type Cancellable interface{ Cancel() }

// ProcessorContext is a processor's handle on its task. It must only be used
// from the processor's own calls (Init, Process, punctuators), never from
// another goroutine.
type ProcessorContext[K, V any] interface {
	// Forward sends rec to every child node, depth first, and returns the
	// first error a child returned.
	Forward(rec Record[K, V]) error
	// ForwardPtr sends *rec to every child node like Forward, without
	// copying it. *rec must not change until ForwardPtr returns; children
	// neither change nor keep it.
	ForwardPtr(rec *Record[K, V]) error
	// ForwardTo sends rec to the named child only. Naming a node that is not
	// a child is an error.
	ForwardTo(child string, rec Record[K, V]) error
	// RecordMetadata is the topic, partition and offset of the input record
	// being processed; ok is false inside a punctuator.
	RecordMetadata() (md RecordMetadata, ok bool)
	// Schedule registers a punctuator on stream time or wall-clock time.
	// interval must be at least 1 ms.
	Schedule(interval time.Duration, typ PunctuationType, fn Punctuator) (Cancellable, error)
	// TaskID is the task this processor instance belongs to.
	TaskID() TaskID
	// ApplicationID is the application id the topology runs under.
	ApplicationID() string
	// StreamTime is the task's current stream time: the largest timestamp
	// read from its input partitions, resumed from the partition times
	// committed with the input offsets (Kafka Streams' offset metadata) when
	// the task starts, so it is already known in Init after a restart or a
	// move; zero when neither a record nor a committed time is known.
	StreamTime() time.Time
	// WallClockTime is the current system time (mock time in the test driver).
	WallClockTime() time.Time
	// StateStore returns the named store attached to this processor. Stores
	// arrive with the state issue; until then it always returns an error.
	StateStore(name string) (any, error)
	// Commit asks for a commit as soon as possible after this record.
	Commit()
	// NodeName is this processor's node name in the topology.
	NodeName() string
	// DropRecord counts the current record as dropped for reason (for
	// example "late" for a record past a window's grace period): it shows in
	// App.Stats().Dropped and the records_dropped_total metric.
	DropRecord(reason string)
}
