package core

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is an application's configuration as one documented value, with
// Kafka Streams' config names in the field docs. Zero fields take the
// defaults listed. [NewFromConfig] applies it; the With… options are
// shorthand for its fields, and both can be combined (options given to
// NewFromConfig apply after the struct).
type Config struct {
	// ApplicationID (application.id): the consumer group id, the
	// transactional id prefix and the prefix of internal topics. Required.
	ApplicationID string
	// BootstrapServers (bootstrap.servers): the seed brokers. Required.
	BootstrapServers []string
	// ProcessingGuarantee (processing.guarantee): AtLeastOnce (default)
	// or ExactlyOnceV2.
	ProcessingGuarantee ProcessingGuarantee
	// CommitInterval (commit.interval.ms): default 30s, 100ms under
	// exactly-once.
	CommitInterval time.Duration
	// MaxTaskIdle (max.task.idle.ms): how long a task with several inputs
	// waits for data on all of them before processing out of order.
	// Default 0.
	MaxTaskIdle time.Duration
	// NumStreamThreads (num.stream.threads): default 1.
	NumStreamThreads int
	// StateDir (state.dir): default <os temp dir>/sluice.
	StateDir string
	// StateCleanupDelay (state.cleanup.delay.ms): how long the state of a
	// task that moved away is kept. Default 10m.
	StateCleanupDelay time.Duration
	// CacheMaxBytes (statestore.cache.max.bytes): the record cache of the
	// instance. Default 10 MiB; negative disables the cache.
	CacheMaxBytes int
	// FetchMaxBytes (fetch.max.bytes): default 16 MiB.
	// MaxPartitionFetchBytes (max.partition.fetch.bytes): default 256 KiB
	// (see WithMaxPartitionFetchBytes). MaxBufferedRecords: each thread's
	// unacknowledged output records, default 10,000.
	FetchMaxBytes          int32
	MaxPartitionFetchBytes int32
	MaxBufferedRecords     int
	// ReplicationFactor (replication.factor) of internal topics; 0 or -1:
	// the broker's default.
	ReplicationFactor int16
	// GroupInstanceID (group.instance.id): static membership. Default none.
	GroupInstanceID string
	// TransactionTimeout (transaction.timeout.ms) under exactly-once.
	// Default 10s.
	TransactionTimeout time.Duration
	// SessionTimeout (session.timeout.ms). Default 45s.
	SessionTimeout time.Duration
	// ApplicationServer (application.server): "host:port" where this
	// instance serves interactive queries; carried in the group protocol
	// for metadata and query routing (see WithApplicationServer). Default
	// none.
	ApplicationServer string
	// NumStandbyReplicas (num.standby.replicas): standby replicas of each
	// stateful task on other instances (see WithNumStandbyReplicas).
	// Default 0.
	NumStandbyReplicas int
	// AcceptableRecoveryLag (acceptable.recovery.lag): how many changelog
	// records behind an instance's copy of a task's state may be for the
	// instance to count as caught up. Default 10,000.
	AcceptableRecoveryLag int64
	// MaxWarmupReplicas (max.warmup.replicas): warm-up replicas assigned
	// at once (see WithMaxWarmupReplicas). Default 2.
	MaxWarmupReplicas int
	// ProbingRebalanceInterval (probing.rebalance.interval.ms): how long
	// after assigning warm-ups the group rebalances to check on them.
	// Default 10 minutes.
	ProbingRebalanceInterval time.Duration
	// KeepGroupOnClose: a graceful stop does not leave the group (a static
	// member's tasks then wait for it to return). Default false: leave.
	KeepGroupOnClose bool

	// TimestampExtractor (default.timestamp.extractor): default the
	// record's timestamp.
	TimestampExtractor TimestampExtractor
	// InvalidTimestampPolicy for negative timestamps: default
	// FailOnInvalidTimestamp.
	InvalidTimestampPolicy InvalidTimestampPolicy
	// DeserializationHandler (default.deserialization.exception.handler),
	// ProcessingHandler (processing.exception.handler) and
	// ProductionHandler (default.production.exception.handler): default
	// log and fail.
	DeserializationHandler DeserializationHandler
	ProcessingHandler      ProcessingHandler
	ProductionHandler      ProductionHandler

	// BlockCacheBytes (statestore.block.cache.bytes): the Pebble block
	// cache shared by every persistent store of the instance. Default
	// 64 MiB. MemTableBytes (statestore.memtable.bytes): the Pebble
	// memtable of each task with persistent stores, about twice this per
	// such task at peak. Default 16 MiB. See WithBlockCacheBytes and
	// WithMemTableBytes, and DESIGN.md "Memory budget".
	BlockCacheBytes int64
	MemTableBytes   int64

	// Logger: default slog.Default(). Metrics: default none.
	Logger  *slog.Logger
	Metrics Metrics
	// MetricsRecordingLevel (metrics.recording.level): RecordingLevelInfo
	// (default), RecordingLevelDebug (adds state store latencies) or
	// RecordingLevelTrace.
	MetricsRecordingLevel RecordingLevel
	// RestoreListener and StateListener: default none.
	RestoreListener RestoreListener
	StateListener   StateListener
	// KafkaOptions are added to every client (TLS, SASL: see package kafka).
	KafkaOptions []kgo.Opt
}

// Options returns the options that apply c.
func (c Config) Options() []Option {
	var opts []Option
	add := func(ok bool, o Option) {
		if ok {
			opts = append(opts, o)
		}
	}
	add(c.ApplicationID != "", WithApplicationID(c.ApplicationID))
	add(len(c.BootstrapServers) > 0, WithBrokers(c.BootstrapServers...))
	add(c.ProcessingGuarantee != "", WithProcessingGuarantee(c.ProcessingGuarantee))
	add(c.CommitInterval != 0, WithCommitInterval(c.CommitInterval))
	add(c.MaxTaskIdle != 0, WithMaxTaskIdle(c.MaxTaskIdle))
	add(c.NumStreamThreads != 0, WithThreads(c.NumStreamThreads))
	add(c.StateDir != "", WithStateDir(c.StateDir))
	add(c.StateCleanupDelay != 0, WithStateCleanupDelay(c.StateCleanupDelay))
	add(c.CacheMaxBytes != 0, WithCacheMaxBytes(max(c.CacheMaxBytes, 0)))
	add(c.FetchMaxBytes != 0, WithFetchMaxBytes(c.FetchMaxBytes))
	add(c.MaxPartitionFetchBytes != 0, WithMaxPartitionFetchBytes(c.MaxPartitionFetchBytes))
	add(c.MaxBufferedRecords != 0, WithMaxBufferedRecords(c.MaxBufferedRecords))
	add(c.ReplicationFactor > 0, WithReplicationFactor(c.ReplicationFactor))
	add(c.GroupInstanceID != "", WithInstanceID(c.GroupInstanceID))
	add(c.TransactionTimeout != 0, WithTransactionTimeout(c.TransactionTimeout))
	add(c.SessionTimeout != 0, WithSessionTimeout(c.SessionTimeout))
	add(c.ApplicationServer != "", WithApplicationServer(c.ApplicationServer))
	add(c.NumStandbyReplicas != 0, WithNumStandbyReplicas(c.NumStandbyReplicas))
	add(c.AcceptableRecoveryLag != 0, WithAcceptableRecoveryLag(c.AcceptableRecoveryLag))
	add(c.MaxWarmupReplicas != 0, WithMaxWarmupReplicas(c.MaxWarmupReplicas))
	add(c.ProbingRebalanceInterval != 0, WithProbingRebalanceInterval(c.ProbingRebalanceInterval))
	add(c.KeepGroupOnClose, WithLeaveGroupOnClose(false))
	add(c.TimestampExtractor != nil, WithTimestampExtractor(c.TimestampExtractor))
	add(c.InvalidTimestampPolicy != FailOnInvalidTimestamp, WithInvalidTimestampPolicy(c.InvalidTimestampPolicy))
	add(c.DeserializationHandler != nil, WithDeserializationHandler(c.DeserializationHandler))
	add(c.ProcessingHandler != nil, WithProcessingHandler(c.ProcessingHandler))
	add(c.ProductionHandler != nil, WithProductionHandler(c.ProductionHandler))
	add(c.Logger != nil, WithLogger(c.Logger))
	add(c.Metrics != nil, WithMetrics(c.Metrics))
	add(c.MetricsRecordingLevel != "", WithMetricsRecordingLevel(c.MetricsRecordingLevel))
	add(c.BlockCacheBytes != 0, WithBlockCacheBytes(c.BlockCacheBytes))
	add(c.MemTableBytes != 0, WithMemTableBytes(c.MemTableBytes))
	add(c.RestoreListener != nil, WithRestoreListener(c.RestoreListener))
	add(c.StateListener != nil, WithStateListener(c.StateListener))
	add(len(c.KafkaOptions) > 0, WithKafkaOptions(c.KafkaOptions...))
	return opts
}

// Validate reports every problem of c at once (joined), without
// connecting.
func (c Config) Validate() error {
	_, err := newConfig(c.Options())
	if len(c.BootstrapServers) == 0 {
		err = errors.Join(err, errors.New("core: BootstrapServers (WithBrokers) is required"))
	}
	return err
}

// String prints the settings with their effective defaults (handlers and
// listeners as set or default; Kafka options, which may hold credentials,
// only counted).
func (c Config) String() string {
	cfg, _ := newConfig(c.Options())
	var b strings.Builder
	fmt.Fprintf(&b, "application.id=%s bootstrap.servers=%s processing.guarantee=%s commit.interval=%v max.task.idle=%v num.stream.threads=%d state.dir=%s state.cleanup.delay=%v statestore.cache.max.bytes=%d fetch.max.bytes=%d max.partition.fetch.bytes=%d max.buffered.records=%d replication.factor=%d group.instance.id=%s transaction.timeout=%v session.timeout=%v application.server=%s statestore.block.cache.bytes=%d statestore.memtable.bytes=%d num.standby.replicas=%d acceptable.recovery.lag=%d max.warmup.replicas=%d probing.rebalance.interval=%v metrics.recording.level=%s kafka.options=%d",
		cfg.appID, strings.Join(cfg.brokers, ","), cfg.guarantee, cfg.commitInterval, cfg.maxTaskIdle, cfg.threads, cfg.stateDir,
		cfg.stateCleanupDelay, cfg.cacheMaxBytes, cfg.fetchMaxBytes, cfg.partitionFetchBytes, cfg.maxBufferedRecords, cfg.replicationFactor, cfg.instanceID, cfg.txnTimeout, cfg.sessionTimeout, cfg.applicationServer,
		cfg.blockCacheBytes, cfg.memTableBytes, cfg.numStandbyReplicas, cfg.acceptableRecoveryLag, cfg.maxWarmupReplicas, cfg.probingInterval, cfg.recordingLevel, len(cfg.kgoOpts))
	return b.String()
}

// NewFromConfig is New with the settings of cfg, then opts.
func NewFromConfig(topo *Topology, cfg Config, opts ...Option) (*App, error) {
	return New(topo, append(cfg.Options(), opts...)...)
}
