// Package worker runs connectors: source tasks that write into Kafka and
// sink tasks that read from it, with Kafka Connect's delivery semantics,
// exactly-once sources (KIP-618), dead-letter topics for sources and sinks,
// retries, converters and transforms. It is embeddable: start connectors
// from Go, stop them with Stop or a context, read their status.
//
//	w, err := worker.New(worker.Config{Brokers: []string{"127.0.0.1:9092"}, Plugins: bundled.Registry()})
//	c, err := w.StartSource(ctx, map[string]any{"name": "lines", "type": "file", "file": "/var/log/app.log", "topic": "app-log"})
//	...
//	err = w.Close(ctx) // stops every connector gracefully
//
// Scale-out: several workers (processes) running the same connector share
// its tasks. A sink's tasks are members of the consumer group
// "connect-<name>"; a source's tasks are assigned through the same group
// name, whose members subscribe to the connector's offsets topic: task i
// runs on the member that owns partition i mod P of that topic. DESIGN.md
// ("Connectors") describes the protocols.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/core"
)

// DefaultOffsetsTopic is the default offsets topic.
const DefaultOffsetsTopic = "sluice-connect-offsets"

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
	// offset.storage.topic). Default: DefaultOffsetsTopic.
	OffsetsTopic string
	// OffsetsTopicPartitions is its partition count if it is created.
	// Default: 25, as Kafka Connect's offset.storage.partitions.
	OffsetsTopicPartitions int32
	// OffsetsTopicReplicationFactor is its replication factor if it is
	// created. Default: -1, the broker's default.
	OffsetsTopicReplicationFactor int16
	// ConverterDefaults are settings every converter takes unless its
	// connector overrides them (for example schema.registry.url).
	ConverterDefaults map[string]any
	// TransactionTimeout of exactly-once source producers. Default: 60s,
	// Kafka's producer default: a crashed task's open transaction blocks
	// read_committed readers of its topics until it is aborted, which a
	// restarted task does at once (it fences its predecessor).
	TransactionTimeout time.Duration
	// SessionTimeout of the groups. Default: 45s, Kafka's default.
	SessionTimeout time.Duration
	// InstanceID enables static group membership (group.instance.id), as
	// Kafka Streams' instances use it: a worker restarted with the same id
	// takes its tasks back at once instead of after the session timeout of
	// its crashed incarnation. A source connector's coordinator uses the id
	// itself, sink task i "<id>-<i>" (each connector has its own group).
	// Unique per worker process. Default: dynamic membership.
	InstanceID string
	// SourceConversionWorkers is how many goroutines of a source task run
	// transforms and converters over a large poll batch (chunks of at
	// least 128 records); records are produced in poll order whatever the
	// number, so ordering, offsets and transactions are as with one.
	// 1 converts on the task's own goroutine. Default:
	// runtime.GOMAXPROCS(0) when the worker is created.
	SourceConversionWorkers int
	// Logger. Default: slog.Default().
	Logger *slog.Logger
	// Metrics receives the connectors' metrics, labelled connector and
	// task: counters source_record_poll_total, source_record_write_total,
	// sink_record_read_total,
	// sink_record_send_total, connector_record_errors_total,
	// deadletterqueue_produce_requests_total, connector_retries_total;
	// histograms source_record_poll_batch_seconds, put_batch_seconds,
	// offset_commit_seconds; gauge sink_record_lag (records behind the end
	// of the task's fetched partitions). Default: none.
	Metrics core.Metrics
}

func (c *Config) validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("worker: Config.Brokers is required"))
	}
	if c.Plugins == nil {
		errs = append(errs, errors.New("worker: Config.Plugins is required (usually bundled.Registry())"))
	}
	if c.Guarantee == "" {
		c.Guarantee = core.AtLeastOnce
	} else if _, err := core.ParseProcessingGuarantee(string(c.Guarantee)); err != nil {
		errs = append(errs, fmt.Errorf("worker: %w", err))
	}
	if c.OffsetsTopic == "" {
		c.OffsetsTopic = DefaultOffsetsTopic
	}
	if c.OffsetsTopicPartitions <= 0 {
		c.OffsetsTopicPartitions = 25
	}
	if c.OffsetsTopicReplicationFactor == 0 {
		c.OffsetsTopicReplicationFactor = -1
	}
	if c.TransactionTimeout == 0 {
		c.TransactionTimeout = 60 * time.Second
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 45 * time.Second
	}
	if c.SourceConversionWorkers <= 0 {
		c.SourceConversionWorkers = runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return errors.Join(errs...)
}

// Worker runs connectors against one Kafka cluster. Its methods are safe
// for concurrent use.
type Worker struct {
	cfg Config

	mu         sync.Mutex
	connectors map[string]*Connector
}

// New validates cfg and returns a worker. It makes no network call.
func New(cfg Config) (*Worker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Worker{cfg: cfg, connectors: map[string]*Connector{}}, nil
}

func (w *Worker) kafkaOpts() []kgo.Opt {
	return append([]kgo.Opt{kgo.SeedBrokers(w.cfg.Brokers...)}, w.cfg.KafkaOptions...)
}

// Parse validates a connector configuration of kind (connectors.KindSource
// or KindSink) with the worker's plugins and converter defaults, without
// starting it. Errors are *connectors.FieldError values joined with
// errors.Join.
func (w *Worker) Parse(kind connectors.Kind, config map[string]any) (*connectors.ConnectorConfig, error) {
	return connectors.ParseConnector(w.cfg.Plugins, kind, config, connectors.ParseOptions{ConverterDefaults: w.cfg.ConverterDefaults})
}

// StartSource validates a source connector configuration (a flat map with
// Kafka Connect's keys; see connectors.ParseConnector) and starts it. ctx
// bounds the start only (topic creation); stop the connector with Stop.
func (w *Worker) StartSource(ctx context.Context, config map[string]any) (*Connector, error) {
	return w.start(ctx, connectors.KindSource, config)
}

// StartSink validates a sink connector configuration and starts it.
func (w *Worker) StartSink(ctx context.Context, config map[string]any) (*Connector, error) {
	return w.start(ctx, connectors.KindSink, config)
}

func (w *Worker) start(ctx context.Context, kind connectors.Kind, config map[string]any) (*Connector, error) {
	cc, err := w.Parse(kind, config)
	if err != nil {
		return nil, fmt.Errorf("worker: %s connector %v: %w", kind, config["name"], err)
	}
	w.mu.Lock()
	if _, dup := w.connectors[cc.Name]; dup {
		w.mu.Unlock()
		return nil, fmt.Errorf("worker: a connector named %q is already running in this worker", cc.Name)
	}
	c := newConnector(w, cc)
	w.connectors[cc.Name] = c
	w.mu.Unlock()
	var startErr error
	if kind == connectors.KindSource {
		startErr = c.startSource(ctx)
	} else {
		startErr = c.startSink(ctx)
	}
	if startErr != nil {
		// Nothing was started: no goroutine waits on the connector.
		w.forget(c)
		c.kill()
		close(c.done)
		return nil, startErr
	}
	return c, nil
}

// Connectors returns the running connectors.
func (w *Worker) Connectors() []*Connector {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]*Connector, 0, len(w.connectors))
	for _, c := range w.connectors {
		out = append(out, c)
	}
	return out
}

// Close stops every connector gracefully (see Connector.Stop) and returns
// the first error.
func (w *Worker) Close(ctx context.Context) error {
	var errs []error
	for _, c := range w.Connectors() {
		if err := c.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (w *Worker) forget(c *Connector) {
	w.mu.Lock()
	if w.connectors[c.Name()] == c {
		delete(w.connectors, c.Name())
	}
	w.mu.Unlock()
}

// State is a connector's or task's state, as in Kafka Connect's status API,
// plus FINISHED for a bounded source task that drained its input.
type State string

// The states.
const (
	StateUnassigned State = "UNASSIGNED" // not (yet) running on this worker
	StateRunning    State = "RUNNING"
	StateFailed     State = "FAILED"
	StateFinished   State = "FINISHED" // a bounded source task read all its input and committed it
	StateStopped    State = "STOPPED"
)

// Status is a connector's status.
type Status struct {
	Name  string
	Kind  connectors.Kind
	Type  string
	State State // FAILED if any task failed, RUNNING if any runs, else the tasks' common state
	Tasks []TaskStatus
}

// TaskStatus is one task's status and counters (since the worker started).
type TaskStatus struct {
	ID    int
	State State
	Error string // the failure, for FAILED

	Polled       int64 // source: records polled; sink: records read from Kafka
	Written      int64 // source: records acknowledged by Kafka; sink: records handed to Put
	Errors       int64 // records that failed a stage
	DeadLettered int64 // records written to the dead-letter topic
	Retries      int64 // retried operations
	Lag          int64 // sink: records behind the end of the assigned partitions
}

// taskState is a task's status, shared by its runner (writes) and Status
// (reads).
type taskState struct {
	id int

	mu    sync.Mutex
	state State
	err   error

	polled, written, errors, dlq, retries, lag atomic.Int64
}

func (t *taskState) set(s State, err error) {
	t.mu.Lock()
	t.state, t.err = s, err
	t.mu.Unlock()
}

func (t *taskState) get() (State, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state, t.err
}

// Connector is a connector running in a worker.
type Connector struct {
	w   *Worker
	cc  *connectors.ConnectorConfig
	log *slog.Logger

	// stopping is closed by Stop: tasks finish their batch, commit and end.
	stopping chan struct{}
	stopOnce sync.Once
	// killCtx is cancelled by Crash (and after a failed graceful stop):
	// tasks end at once without committing.
	killCtx context.Context
	kill    context.CancelFunc

	tasks []*taskState
	// failed is closed at the first task failure.
	failed     chan struct{}
	failOnce   sync.Once
	firstError error

	wg      sync.WaitGroup // task goroutines and the coordinator
	done    chan struct{}  // closed when everything ended
	crashed atomic.Bool

	sinkRuns []*sinkRun // sinks: one per task

	// stopRun stops the kind-specific machinery (the source coordinator's
	// group client), after the tasks.
	stopRun func(graceful bool)
}

func newConnector(w *Worker, cc *connectors.ConnectorConfig) *Connector {
	killCtx, kill := context.WithCancel(context.Background())
	c := &Connector{
		w: w, cc: cc,
		log:      w.cfg.Logger.With("connector", cc.Name),
		stopping: make(chan struct{}),
		killCtx:  killCtx, kill: kill,
		failed: make(chan struct{}),
		done:   make(chan struct{}),
	}
	c.tasks = make([]*taskState, cc.TasksMax)
	for i := range c.tasks {
		c.tasks[i] = &taskState{id: i, state: StateUnassigned}
	}
	return c
}

// Name is the connector's name.
func (c *Connector) Name() string { return c.cc.Name }

// Config is the connector's parsed configuration.
func (c *Connector) Config() *connectors.ConnectorConfig { return c.cc }

// tasker is a source or sink connector ([connectors.Source],
// [connectors.Sink]), as far as newConnectorTasks is concerned.
type tasker[T any] interface {
	Tasks(maxTasks int) ([]T, error)
}

// newConnectorTasks creates a source or sink connector with its plugin's
// New and asks it for its task configurations, which must number from 1 to
// tasks.max.
func newConnectorTasks[C tasker[T], T any](cc *connectors.ConnectorConfig, newConnector func(*connectors.Config) (C, error)) (C, []T, error) {
	conn, err := newConnector(cc.Config)
	if err != nil {
		return conn, nil, fmt.Errorf("worker: connector %q (type %s): %w", cc.Name, cc.Type, err)
	}
	tasks, err := conn.Tasks(cc.TasksMax)
	if err != nil {
		return conn, nil, fmt.Errorf("worker: connector %q (type %s): tasks: %w", cc.Name, cc.Type, err)
	}
	if len(tasks) == 0 || len(tasks) > cc.TasksMax {
		return conn, nil, fmt.Errorf("worker: connector %q (type %s) returned %d tasks for tasks.max=%d", cc.Name, cc.Type, len(tasks), cc.TasksMax)
	}
	return conn, tasks, nil
}

// taskFailed records a task failure; the first one is Wait's error.
func (c *Connector) taskFailed(t *taskState, err error) {
	t.set(StateFailed, err)
	c.log.Error("worker: task failed", "task", t.id, "error", err)
	c.failOnce.Do(func() {
		c.firstError = err
		close(c.failed)
	})
}

// Stop stops the connector gracefully: tasks finish the batch in hand,
// commit, close and leave their group. If ctx ends first, the remaining
// tasks are stopped as by Crash and ctx's error is returned.
func (c *Connector) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() { close(c.stopping) })
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		c.Crash()
		return fmt.Errorf("worker: connector %q did not stop gracefully in time: %w", c.Name(), ctx.Err())
	}
}

// Crash stops the connector abruptly, as if its process was killed:
// nothing more is flushed or committed (tasks are still closed, to release
// their resources). For tests of crash recovery.
func (c *Connector) Crash() {
	c.crashed.Store(true)
	c.stopOnce.Do(func() { close(c.stopping) })
	c.kill()
	<-c.done
}

// Done is closed when the connector has ended: stopped, or every task
// finished or failed.
func (c *Connector) Done() <-chan struct{} { return c.done }

// Wait waits until every task of the connector has ended (finished,
// stopped or failed) or one task failed, and returns the first task
// failure. The other tasks keep running after a failure: Stop them.
func (c *Connector) Wait(ctx context.Context) error {
	select {
	case <-c.done:
	case <-c.failed:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.failed:
		return c.firstError
	default:
		return nil
	}
}

// Status returns the connector's and its tasks' states and counters.
func (c *Connector) Status() Status {
	st := Status{Name: c.cc.Name, Kind: c.cc.Kind, Type: c.cc.Type}
	running, failed, all := false, false, State("")
	for _, t := range c.tasks {
		s, err := t.get()
		ts := TaskStatus{ID: t.id, State: s,
			Polled: t.polled.Load(), Written: t.written.Load(), Errors: t.errors.Load(),
			DeadLettered: t.dlq.Load(), Retries: t.retries.Load(), Lag: t.lag.Load()}
		if err != nil {
			ts.Error = err.Error()
		}
		st.Tasks = append(st.Tasks, ts)
		switch s {
		case StateRunning:
			running = true
		case StateFailed:
			failed = true
		}
		if all == "" {
			all = s
		} else if all != s {
			all = StateRunning
		}
	}
	switch {
	case failed:
		st.State = StateFailed
	case running:
		st.State = StateRunning
	default:
		st.State = all
	}
	return st
}

// finish waits for every goroutine and closes done.
func (c *Connector) finish() {
	c.wg.Wait()
	if c.stopRun != nil {
		c.stopRun(!c.crashed.Load())
	}
	c.w.forget(c)
	close(c.done)
}

// metrics helpers: counters per connector and task.
func (c *Connector) count(t *taskState, name string, n int64) {
	if m := c.w.cfg.Metrics; m != nil && n != 0 {
		m.Counter(name, n, core.Label{Name: "connector", Value: c.cc.Name}, core.Label{Name: "task", Value: fmt.Sprint(t.id)})
	}
}

func (c *Connector) gauge(t *taskState, name string, v float64) {
	if m := c.w.cfg.Metrics; m != nil {
		m.Gauge(name, v, core.Label{Name: "connector", Value: c.cc.Name}, core.Label{Name: "task", Value: fmt.Sprint(t.id)})
	}
}

func (c *Connector) observe(t *taskState, name string, d time.Duration) {
	if m := c.w.cfg.Metrics; m != nil {
		m.Histogram(name, d.Seconds(), core.Label{Name: "connector", Value: c.cc.Name}, core.Label{Name: "task", Value: fmt.Sprint(t.id)})
	}
}

// taskContext implements connectors.TaskContext for one task run.
type taskContext struct {
	c        *Connector
	t        *taskState
	log      *slog.Logger
	commitRq atomic.Bool
}

func (tc *taskContext) Connector() string    { return tc.c.cc.Name }
func (tc *taskContext) TaskID() int          { return tc.t.id }
func (tc *taskContext) Logger() *slog.Logger { return tc.log }
func (tc *taskContext) RequestCommit()       { tc.commitRq.Store(true) }

func (c *Connector) retry(t *taskState, log *slog.Logger) retryPolicy {
	return retryPolicy{timeout: c.cc.Errors.RetryTimeout, delayMax: c.cc.Errors.RetryDelayMax, log: log,
		retries: func() { t.retries.Add(1); c.count(t, "connector_retries_total", 1) }}
}

// heartbeat is the group heartbeat interval for a session timeout: Kafka's
// 3 s default, or a third of a shorter session.
func heartbeat(session time.Duration) time.Duration { return min(3*time.Second, session/3) }

// Positions returns, for a sink, the offset after the last record handed
// to its tasks (or diverted) per partition this worker owns; nil for a
// source. `sluice connectors run --until-done` compares them with the end
// of the topics.
func (c *Connector) Positions() map[connectors.TopicPartition]int64 {
	if c.cc.Kind != connectors.KindSink {
		return nil
	}
	out := map[connectors.TopicPartition]int64{}
	for _, r := range c.sinkRuns {
		r.mu.Lock()
		for tp, off := range r.current {
			out[tp] = off
		}
		r.mu.Unlock()
	}
	return out
}

// staticID is the group.instance.id of a member ("" without InstanceID).
func (w *Worker) staticID(suffix string) string {
	if w.cfg.InstanceID == "" {
		return ""
	}
	return w.cfg.InstanceID + suffix
}

// leaveStatic removes a static member from its group on a graceful stop:
// franz-go keeps static members on Close, so their work would wait for the
// session timeout before moving to another worker.
func leaveStatic(cl *kgo.Client, group, instanceID string, log *slog.Logger) {
	if instanceID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).LeaveGroup(ctx, kadm.LeaveGroup(group).InstanceIDs(instanceID).Reason("sluice: connector stopped"))
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		log.Warn("worker: leave group", "group", group, "instance", instanceID, "error", err)
	}
}
