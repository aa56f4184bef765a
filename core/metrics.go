package core

import (
	"sync/atomic"
	"time"
)

// Label is one metric label.
type Label struct{ Name, Value string }

// Metrics receives the runtime's metrics. Implementations must be safe for
// concurrent use; calls are made per batch or per commit, never per record.
//
// Names and labels: records_consumed_total, records_produced_total,
// records_dropped_total, commits_total (counters; label thread),
// commit_latency_seconds (histogram; label thread), consumer_lag (gauge:
// records behind the partition's end, fetched-but-unprocessed included;
// labels topic, partition), misrouted_records_total (counter: records of
// a co-partitioned user topic on a partition their key does not hash to
// under the default partitioner; labels topic, partition; sampled, see
// partitionCheck).
type Metrics interface {
	Counter(name string, delta int64, labels ...Label)
	Gauge(name string, value float64, labels ...Label)
	Histogram(name string, value float64, labels ...Label)
}

// Stats is a snapshot of an application's counters since it started.
type Stats struct {
	Consumed, Produced, Dropped int64
	Commits, AbortedCommits     int64
	LastCommitLatency           time.Duration
	Tasks                       int64
	Lag                         int64 // records behind the end of the input partitions, summed
	Rebalances                  int64
}

type stats struct {
	consumed, produced, dropped atomic.Int64
	commits, aborted            atomic.Int64
	lastCommitNanos             atomic.Int64
	tasks, lag, rebalances      atomic.Int64
}

func (s *stats) snapshot() Stats {
	return Stats{
		Consumed: s.consumed.Load(), Produced: s.produced.Load(), Dropped: s.dropped.Load(),
		Commits: s.commits.Load(), AbortedCommits: s.aborted.Load(),
		LastCommitLatency: time.Duration(s.lastCommitNanos.Load()),
		Tasks:             s.tasks.Load(), Lag: s.lag.Load(), Rebalances: s.rebalances.Load(),
	}
}
