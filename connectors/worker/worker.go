// Package worker runs connectors: source tasks that write into Kafka and
// sink tasks that read from it, with Kafka Connect's delivery semantics,
// exactly-once sources (KIP-618), dead-letter topics, retries, converters
// and transforms. It is embeddable: start connectors from Go, stop them with
// a context, read their status.
//
// SKELETON: the API is the contract; the implementation is being written.
package worker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/core"
)

var errTODO = errors.New("worker: not implemented yet")

// Config configures a Worker. Zero fields take the defaults named on them.
type Config struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// KafkaOptions are extra franz-go options for every client (TLS, SASL).
	KafkaOptions []kgo.Opt
	// Plugins holds the connector, converter, transform and predicate
	// types. Required; usually bundled.Registry().
	Plugins *connectors.Registry
	// Guarantee: core.ExactlyOnceV2 runs sources that support it with
	// exactly-once delivery (Kafka Connect's exactly.once.source.support=
	// enabled). Default: core.AtLeastOnce. Sinks always read read_committed.
	Guarantee core.ProcessingGuarantee
	// OffsetsTopic stores source offsets (Kafka Connect's
	// offset.storage.topic). Default: "sluice-connect-offsets".
	OffsetsTopic string
	// OffsetsTopicPartitions is its partition count if it is created.
	// Default: 25, as Kafka Connect's offset.storage.partitions.
	OffsetsTopicPartitions int32
	// ConverterDefaults are settings every converter takes unless its
	// connector overrides them (for example schema.registry.url).
	ConverterDefaults map[string]any
	// TransactionTimeout of exactly-once source producers. Default: 60s.
	TransactionTimeout time.Duration
	// SessionTimeout of the groups. Default: 45s.
	SessionTimeout time.Duration
	// Logger. Default: slog.Default().
	Logger *slog.Logger
	// Metrics receives the connectors' metrics. Default: none.
	Metrics core.Metrics
}

// Worker runs connectors against one Kafka cluster.
type Worker struct{ cfg Config }

// New returns a worker.
func New(cfg Config) (*Worker, error) { return &Worker{cfg: cfg}, nil }

// StartSource validates a source connector configuration (a flat map with
// Kafka Connect's keys; see connectors.ParseConnector) and starts it.
func (w *Worker) StartSource(ctx context.Context, config map[string]any) (*Connector, error) {
	return nil, errTODO
}

// StartSink validates a sink connector configuration and starts it.
func (w *Worker) StartSink(ctx context.Context, config map[string]any) (*Connector, error) {
	return nil, errTODO
}

// Close stops every connector gracefully.
func (w *Worker) Close(ctx context.Context) error { return errTODO }

// Connector is a running connector.
type Connector struct{}

// Name is the connector's name.
func (c *Connector) Name() string { return "" }

// Stop stops the connector gracefully: tasks finish their batch, commit,
// close and leave their group.
func (c *Connector) Stop(ctx context.Context) error { return errTODO }

// Done is closed when every task has ended (stopped, finished or failed).
func (c *Connector) Done() <-chan struct{} { return nil }

// Wait waits until every task has ended and returns the first task error.
func (c *Connector) Wait(ctx context.Context) error { return errTODO }

// Crash stops the connector abruptly, as if its process was killed:
// nothing more is flushed or committed. For tests.
func (c *Connector) Crash() {}

// Status returns the connector's and its tasks' states.
func (c *Connector) Status() Status { return Status{} }

// State is a connector's or task's state, as in Kafka Connect's status API,
// plus FINISHED for a bounded source task that drained its input.
type State string

// The states.
const (
	StateUnassigned State = "UNASSIGNED"
	StateRunning    State = "RUNNING"
	StateFailed     State = "FAILED"
	StateFinished   State = "FINISHED"
	StateStopped    State = "STOPPED"
)

// Status is a connector's status.
type Status struct {
	Name  string
	Kind  connectors.Kind
	Type  string
	State State
	Tasks []TaskStatus
}

// TaskStatus is one task's status.
type TaskStatus struct {
	ID    int
	State State
	Error string // the failure, for FAILED
}
