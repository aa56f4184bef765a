package core

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ProcessingGuarantee selects at-least-once or exactly-once processing.
type ProcessingGuarantee string

const (
	// AtLeastOnce commits input offsets after the output of every record
	// before them was acknowledged. A crash may repeat output, never lose it.
	AtLeastOnce ProcessingGuarantee = "at_least_once"
	// ExactlyOnceV2 writes output records and input offsets of one commit in
	// one Kafka transaction (KIP-447: one transactional producer per stream
	// thread) and reads input read_committed.
	ExactlyOnceV2 ProcessingGuarantee = "exactly_once_v2"
)

// ParseProcessingGuarantee parses "at_least_once" or "exactly_once_v2".
func ParseProcessingGuarantee(s string) (ProcessingGuarantee, error) {
	switch g := ProcessingGuarantee(strings.ToLower(s)); g {
	case AtLeastOnce, ExactlyOnceV2:
		return g, nil
	}
	return "", fmt.Errorf("core: unknown processing guarantee %q (want %q or %q)", s, AtLeastOnce, ExactlyOnceV2)
}

// Option configures an App.
type Option func(*config)

type config struct {
	brokers                []string
	appID                  string
	guarantee              ProcessingGuarantee
	commitInterval         time.Duration
	maxTaskIdle            time.Duration
	extractor              TimestampExtractor
	customExtractor        bool // extractor is not the default RecordTime
	invalidTimestamps      InvalidTimestampPolicy
	deserializationHandler DeserializationHandler
	processingHandler      ProcessingHandler
	productionHandler      ProductionHandler
	instanceID             string
	txnTimeout             time.Duration
	sessionTimeout         time.Duration
	threads                int
	log                    *slog.Logger
	metrics                Metrics
	kgoOpts                []kgo.Opt
	replicationFactor      int16
	pollTimeout            time.Duration
	leaveOnClose           bool
	restoreListener        RestoreListener
	stateListener          StateListener
	cacheMaxBytes          int
	fetchMaxBytes          int32
	partitionFetchBytes    int32
	maxBufferedRecords     int
	stateDir               string
	stateCleanupDelay      time.Duration
	stateCleanupSet        bool
	driverStart            time.Time
	recordingLevel         RecordingLevel
	blockCacheBytes        int64
	memTableBytes          int64
	applicationServer      string
	numStandbyReplicas     int
	acceptableRecoveryLag  int64
	maxWarmupReplicas      int
	probingInterval        time.Duration

	// misrouteLogged holds the topics whose misrouted records were logged
	// (partitionCheck): each is logged once per application instance.
	misrouteLogged sync.Map
}

// WithBrokers sets the seed brokers. Required.
func WithBrokers(addrs ...string) Option { return func(c *config) { c.brokers = addrs } }

// WithApplicationID sets the application id: the consumer group id, the
// prefix of internal topics and of transactional ids. Required.
func WithApplicationID(id string) Option { return func(c *config) { c.appID = id } }

// WithProcessingGuarantee sets the guarantee. Default: AtLeastOnce, as in
// Kafka Streams.
func WithProcessingGuarantee(g ProcessingGuarantee) Option {
	return func(c *config) { c.guarantee = g }
}

// WithCommitInterval sets how often progress is committed. Default: 100ms
// under ExactlyOnceV2 and 30s under AtLeastOnce, as in Kafka Streams.
func WithCommitInterval(d time.Duration) Option { return func(c *config) { c.commitInterval = d } }

// WithMaxTaskIdle sets how long a task with several input partitions waits
// for data on an empty partition before processing the others out of
// timestamp order (max.task.idle.ms). Default 0: wait only for data known
// to be on the broker. Negative: never wait.
func WithMaxTaskIdle(d time.Duration) Option { return func(c *config) { c.maxTaskIdle = d } }

// WithTimestampExtractor sets how event time is read from input records.
// Default: RecordTime().
func WithTimestampExtractor(e TimestampExtractor) Option {
	return func(c *config) { c.extractor, c.customExtractor = e, true }
}

// WithInvalidTimestampPolicy sets what happens to records with a negative
// timestamp. Default: FailOnInvalidTimestamp.
func WithInvalidTimestampPolicy(p InvalidTimestampPolicy) Option {
	return func(c *config) { c.invalidTimestamps = p }
}

// WithDeserializationHandler sets the handler for input records that cannot
// be deserialized. Default: LogAndFail.
func WithDeserializationHandler(h DeserializationHandler) Option {
	return func(c *config) { c.deserializationHandler = h }
}

// WithProcessingHandler sets the handler for errors returned by processors
// and punctuators. Default: ProcessingLogAndFail.
func WithProcessingHandler(h ProcessingHandler) Option {
	return func(c *config) { c.processingHandler = h }
}

// WithProductionHandler sets the handler for output records that cannot be
// serialized or produced. Default: ProductionLogAndFail.
func WithProductionHandler(h ProductionHandler) Option {
	return func(c *config) { c.productionHandler = h }
}

// WithInstanceID enables static group membership (group.instance.id): an
// instance restarted with the same id takes its partitions back at once
// instead of after a session timeout, and its transactional id fences the
// crashed incarnation's open transaction immediately. Each thread uses
// "<id>-<thread>". Default: dynamic membership.
func WithInstanceID(id string) Option { return func(c *config) { c.instanceID = id } }

// WithStateDir sets the directory under which persistent stores live, one
// sub-directory per application id and task ("<dir>/<application-id>/<task>").
// Default: "sluice" in the system's temporary directory. Instances on one
// machine must not share a state directory.
func WithStateDir(dir string) Option { return func(c *config) { c.stateDir = dir } }

// WithStateCleanupDelay sets how long the state directory of a task this
// instance no longer runs (it moved to another instance) stays on disk,
// unused, before it is removed (state.cleanup.delay.ms). The cleaner runs
// once per delay. Default: 10 minutes, as in Kafka Streams. A delay of
// zero or less disables the cleaner.
func WithStateCleanupDelay(d time.Duration) Option {
	return func(c *config) { c.stateCleanupDelay, c.stateCleanupSet = d, true }
}

// WithCacheMaxBytes sets the record cache size of the application,
// divided among its threads (statestore.cache.max.bytes). Default: 10 MiB,
// as in Kafka Streams. 0 disables caching: every update of a cached store
// is written and forwarded at once.
func WithCacheMaxBytes(n int) Option { return func(c *config) { c.cacheMaxBytes = n } }

// WithFetchMaxBytes bounds the bytes one fetch from a broker returns
// (fetch.max.bytes). Default: 16 MiB (Kafka's consumer default is 50 MiB;
// see WithMaxPartitionFetchBytes for why Sluice's is lower).
func WithFetchMaxBytes(n int32) Option { return func(c *config) { c.fetchMaxBytes = n } }

// WithMaxPartitionFetchBytes bounds the bytes one fetch returns per
// partition (max.partition.fetch.bytes). Default: 256 KiB, a quarter of
// Kafka's 1 MiB: the Java consumer decodes a fetched batch lazily, as it
// is polled, while franz-go decodes a whole fetch into records at once,
// and a small record costs several times its compressed size once decoded
// (measured on examples/wordcount: 1 MiB held 66 MiB of decoded records
// over 8 partitions; 256 KiB roughly halves the process's peak memory at
// the same throughput, see BENCHMARKS.md "Memory budget"). A batch larger
// than this is still returned whole.
func WithMaxPartitionFetchBytes(n int32) Option {
	return func(c *config) { c.partitionFetchBytes = n }
}

// WithMaxBufferedRecords bounds the records each stream thread's producer
// holds before they are acknowledged (sinks, repartition topics,
// changelogs); a full buffer makes the thread wait. Default: 10,000
// (franz-go's default is 50,000). Kafka's producer bounds bytes instead
// (buffer.memory), which does not bound small records; librdkafka's
// equivalent is queue.buffering.max.messages.
func WithMaxBufferedRecords(n int) Option { return func(c *config) { c.maxBufferedRecords = n } }

// WithLeaveGroupOnClose sets whether a graceful shutdown removes a static
// member (WithInstanceID) from the group, so that its tasks move to the
// other instances at once. Default: true. Set false for rolling restarts
// where the instance comes back within the session timeout and should get
// its tasks back without a rebalance. Dynamic members always leave.
func WithLeaveGroupOnClose(leave bool) Option { return func(c *config) { c.leaveOnClose = leave } }

// WithTransactionTimeout sets the producer transaction timeout under
// ExactlyOnceV2. Default: 10s, as in Kafka Streams, so that a crashed
// instance's open transaction is aborted quickly.
func WithTransactionTimeout(d time.Duration) Option { return func(c *config) { c.txnTimeout = d } }

// WithSessionTimeout sets the group session timeout. Default: 45s (Kafka's
// default).
func WithSessionTimeout(d time.Duration) Option { return func(c *config) { c.sessionTimeout = d } }

// WithThreads sets the number of stream threads, each with its own Kafka
// client and group membership. Default: 1.
func WithThreads(n int) Option { return func(c *config) { c.threads = n } }

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithMetrics sets where metrics go, in addition to App.Stats. Default: none.
func WithMetrics(m Metrics) Option { return func(c *config) { c.metrics = m } }

// WithMetricsRecordingLevel sets which metrics are recorded
// (metrics.recording.level). Default: RecordingLevelInfo, as in Kafka
// Streams. RecordingLevelDebug adds the state store metrics (put and get
// latency), which time every store operation.
func WithMetricsRecordingLevel(l RecordingLevel) Option {
	return func(c *config) { c.recordingLevel = l }
}

// WithBlockCacheBytes sets the size of the Pebble block cache that every
// persistent store of the instance shares (all tasks and threads, global
// stores included): Kafka Streams' bounded-memory RocksDB setup, one
// shared Cache for all stores (BoundedMemoryRocksDBConfig), as one setting
// (statestore.block.cache.bytes). Default: 64 MiB. The cache is outside
// the Go heap.
func WithBlockCacheBytes(n int64) Option { return func(c *config) { c.blockCacheBytes = n } }

// WithMemTableBytes sets the size of a Pebble memtable, the write buffer
// of each task with persistent stores (statestore.memtable.bytes,
// RocksDB's write_buffer_size). A task holds one memtable being written
// and those still being flushed (usually none or one; Pebble stalls
// writes at four), so the write buffers of an instance take about twice
// this per task with persistent stores. Default: 16 MiB, which keeps a
// restore batch (100,000 records) in one memtable. Smaller values lower
// the budget at the price of more, smaller flushes. At least 1 MiB, below
// 4 GiB.
func WithMemTableBytes(n int64) Option { return func(c *config) { c.memTableBytes = n } }

// WithKafkaOptions appends franz-go client options (TLS, SASL, ...) to every
// client the application creates. Options that the runtime relies on
// (group, transactional id, isolation level, balancer) are overridden.
func WithKafkaOptions(opts ...kgo.Opt) Option {
	return func(c *config) { c.kgoOpts = append(c.kgoOpts, opts...) }
}

// WithApplicationServer sets where this instance serves interactive
// queries, as "host:port" (Kafka Streams' application.server): other
// instances and clients reach it there. It travels in the consumer group
// protocol, so every instance knows which instance holds which tasks
// (App.MetadataForAllStreamsClients, App.QueryMetadataForKey) and
// QueryHandler routes a request for another instance's key to it.
// Default: none (the instance's stores are queryable only locally, and
// requests for its keys answer 421 without an address).
func WithApplicationServer(hostPort string) Option {
	return func(c *config) { c.applicationServer = hostPort }
}

// WithNumStandbyReplicas sets how many standby replicas each stateful task
// has (Kafka Streams' num.standby.replicas): standby tasks on other
// instances (never the instance of the task's active) keep a copy of the
// task's stores current by reading its changelogs, so that a task moving
// to one of them restores only the tail since the standby's checkpoint.
// A standby never processes input or produces. Fewer instances than
// replicas + 1 leave replicas unassigned. Default: 0.
func WithNumStandbyReplicas(n int) Option { return func(c *config) { c.numStandbyReplicas = n } }

// WithAcceptableRecoveryLag sets how far behind its changelogs (in
// records, summed over the task's changelog partitions) an instance's
// local copy of a task's state may be for the instance to count as caught
// up (Kafka Streams' acceptable.recovery.lag): a task that needs a new
// owner goes to a caught-up instance when there is one. Default: 10,000.
func WithAcceptableRecoveryLag(records int64) Option {
	return func(c *config) { c.acceptableRecoveryLag = records }
}

// WithMaxWarmupReplicas sets how many warm-up replicas may be assigned at
// once (Kafka Streams' max.warmup.replicas, KIP-441): when the balancer
// would give a stateful task to an instance whose state is not caught up
// while another instance is, the task stays on the caught-up instance and
// the other gets a warm-up replica (a standby task) that restores the
// state; a probing rebalance then moves the task once the warm-up caught
// up, and it restores only the tail. Default: 2.
func WithMaxWarmupReplicas(n int) Option { return func(c *config) { c.maxWarmupReplicas = n } }

// WithProbingRebalanceInterval sets how long after assigning warm-up
// replicas the group rebalances again to check whether they caught up
// (Kafka Streams' probing.rebalance.interval.ms). Default: 10 minutes.
func WithProbingRebalanceInterval(d time.Duration) Option {
	return func(c *config) { c.probingInterval = d }
}

// WithReplicationFactor sets the replication factor of internal topics.
// Default: -1, the broker's default.
func WithReplicationFactor(rf int16) Option { return func(c *config) { c.replicationFactor = rf } }

func newConfig(opts []Option) (*config, error) {
	c := &config{
		guarantee:           AtLeastOnce,
		extractor:           RecordTime(),
		txnTimeout:          10 * time.Second,
		sessionTimeout:      45 * time.Second,
		threads:             1,
		replicationFactor:   -1,
		pollTimeout:         100 * time.Millisecond,
		leaveOnClose:        true,
		cacheMaxBytes:       10 << 20,
		fetchMaxBytes:       16 << 20,
		partitionFetchBytes: 256 << 10,
		maxBufferedRecords:  10_000,
		recordingLevel:      RecordingLevelInfo,
		blockCacheBytes:     64 << 20,
		memTableBytes:       16 << 20,

		acceptableRecoveryLag: 10_000,
		maxWarmupReplicas:     2,
		probingInterval:       10 * time.Minute,
	}
	for _, o := range opts {
		o(c)
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.stateDir == "" {
		c.stateDir = filepath.Join(os.TempDir(), "sluice")
	}
	if !c.stateCleanupSet {
		c.stateCleanupDelay = 10 * time.Minute
	}
	if c.deserializationHandler == nil {
		c.deserializationHandler = LogAndFail(c.log)
	}
	if c.processingHandler == nil {
		c.processingHandler = ProcessingLogAndFail(c.log)
	}
	if c.productionHandler == nil {
		c.productionHandler = ProductionLogAndFail(c.log)
	}
	if l, err := ParseRecordingLevel(string(c.recordingLevel)); err == nil {
		c.recordingLevel = l
	}
	if c.commitInterval == 0 {
		c.commitInterval = 30 * time.Second
		if c.guarantee == ExactlyOnceV2 {
			c.commitInterval = 100 * time.Millisecond
		}
	}
	return c, c.validate()
}

func (c *config) validate() error {
	var errs []error
	if c.appID == "" {
		errs = append(errs, errors.New("core: WithApplicationID is required"))
	}
	if _, err := ParseProcessingGuarantee(string(c.guarantee)); err != nil {
		errs = append(errs, err)
	}
	if c.commitInterval < 0 {
		errs = append(errs, fmt.Errorf("core: negative commit interval %v", c.commitInterval))
	}
	if c.threads < 1 {
		errs = append(errs, fmt.Errorf("core: WithThreads(%d): need at least 1", c.threads))
	}
	if c.txnTimeout < time.Second {
		errs = append(errs, fmt.Errorf("core: transaction timeout %v is below 1s", c.txnTimeout))
	}
	if c.fetchMaxBytes < 1 || c.partitionFetchBytes < 1 {
		errs = append(errs, fmt.Errorf("core: fetch.max.bytes %d and max.partition.fetch.bytes %d must be positive", c.fetchMaxBytes, c.partitionFetchBytes))
	}
	if c.maxBufferedRecords < 1 {
		errs = append(errs, fmt.Errorf("core: WithMaxBufferedRecords(%d): need at least 1", c.maxBufferedRecords))
	}
	if _, err := ParseRecordingLevel(string(c.recordingLevel)); err != nil {
		errs = append(errs, err)
	}
	if c.blockCacheBytes < 1 {
		errs = append(errs, fmt.Errorf("core: statestore.block.cache.bytes %d must be positive", c.blockCacheBytes))
	}
	if c.applicationServer != "" {
		if _, err := ParseHostInfo(c.applicationServer); err != nil {
			errs = append(errs, err)
		}
	}
	if c.numStandbyReplicas < 0 {
		errs = append(errs, fmt.Errorf("core: num.standby.replicas %d must not be negative", c.numStandbyReplicas))
	}
	if c.maxWarmupReplicas < 1 {
		errs = append(errs, fmt.Errorf("core: max.warmup.replicas %d must be at least 1", c.maxWarmupReplicas))
	}
	if c.probingInterval <= 0 {
		errs = append(errs, fmt.Errorf("core: probing.rebalance.interval %v must be positive", c.probingInterval))
	}
	if c.acceptableRecoveryLag < 0 {
		errs = append(errs, fmt.Errorf("core: acceptable.recovery.lag %d must not be negative", c.acceptableRecoveryLag))
	}
	if c.memTableBytes < 1<<20 || c.memTableBytes >= 4<<30 {
		errs = append(errs, fmt.Errorf("core: statestore.memtable.bytes %d must be at least 1 MiB and below 4 GiB", c.memTableBytes))
	}
	return errors.Join(errs...)
}
