// Package kfakecompact runs the embedded broker's (franz-go's kfake) log
// cleaner safely. kfake's own cleaner compacts every record but the last
// batch of a partition, including records of transactions still open:
// when a committed value of a key is superseded by a value in an open
// transaction that is later aborted (a crashed exactly-once producer's),
// compaction has already dropped the committed value and the key is lost
// to read_committed readers. Real Kafka cleans only below the last stable
// offset. Sluice's exactly-once offsets topic and changelogs hit this after
// crashes; so the embedded broker's cleaner is turned off
// (log.cleaner.backoff.ms) and Run compacts instead, only in rounds when
// no partition of a compacted topic has an open transaction.
//
// A transaction that opens between the check and the compaction can still
// be hit (the two are separate steps of kfake's loop); under continuous
// exactly-once traffic rounds are skipped, so compacted topics may grow
// until a quiet moment. Both are limits of the embedded broker only.
package kfakecompact

import (
	"context"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DisabledBackoff is the log.cleaner.backoff.ms that turns kfake's own
// cleaner off (a year).
const DisabledBackoff = "31536000000"

// Run compacts c's compacted topics (and applies retention) every
// interval while no partition of a compacted topic has an open
// transaction, until ctx ends. opts are the client options that reach the
// cluster's listener (TLS, SASL).
func Run(ctx context.Context, c *kfake.Cluster, interval time.Duration, opts ...kgo.Opt) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if quiet(ctx, adm, c) {
			c.Compact()
		}
	}
}

// quiet reports whether no partition of a compacted topic has an open
// transaction (its last stable offset is below its high watermark).
func quiet(ctx context.Context, adm *kadm.Client, c *kfake.Cluster) bool {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	topics, err := adm.ListTopics(lctx)
	if err != nil {
		return false
	}
	for _, name := range topics.Names() {
		info := c.TopicInfo(name)
		if info == nil {
			continue
		}
		if p := info.Configs["cleanup.policy"]; p == nil || !strings.Contains(*p, "compact") {
			continue
		}
		for _, pi := range c.PartitionInfos(name) {
			if pi != nil && pi.LastStableOffset < pi.HighWatermark {
				return false
			}
		}
	}
	return true
}
