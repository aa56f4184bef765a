package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
)

// Offsets tooling, as Kafka Connect's KIP-875 (GET and DELETE
// /connectors/<name>/offsets): read a connector's committed offsets and
// reset them, refusing while the connector runs anywhere (its group
// "connect-<name>" has members).

// ErrConnectorRunning is returned by the reset functions while the
// connector's group has members.
var ErrConnectorRunning = errors.New("worker: connector is running")

// groupOf is the group of a connector's sink tasks and source task
// coordinators.
func groupOf(connector string) string { return "connect-" + connector }

// checkStopped fails with ErrConnectorRunning while the connector's group
// has members.
func checkStopped(ctx context.Context, adm *kadm.Client, connector string) error {
	groups, err := adm.DescribeGroups(ctx, groupOf(connector))
	if err != nil {
		return fmt.Errorf("worker: describe group %q: %w", groupOf(connector), err)
	}
	g, ok := groups[groupOf(connector)]
	if !ok || errors.Is(g.Err, kerr.GroupIDNotFound) {
		return nil
	}
	if g.Err != nil {
		return fmt.Errorf("worker: describe group %q: %w", groupOf(connector), g.Err)
	}
	if len(g.Members) > 0 {
		return fmt.Errorf("%w: connector %q has %d running task group member(s) in group %q; stop it on every worker first",
			ErrConnectorRunning, connector, len(g.Members), groupOf(connector))
	}
	return nil
}

// ResetSourceOffsets deletes every committed offset of a source connector
// (tombstones in the offsets topic), so that it starts from the beginning
// of its input when it runs again. It refuses while the connector runs and
// returns how many source partitions it reset.
func ResetSourceOffsets(ctx context.Context, opts []kgo.Opt, topic, connector string) (int, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("worker: kafka client: %w", err)
	}
	defer cl.Close()
	if err := checkStopped(ctx, kadm.NewClient(cl), connector); err != nil {
		return 0, err
	}
	offs, err := ReadSourceOffsets(ctx, opts, topic, connector)
	if err != nil {
		return 0, err
	}
	recs := make([]*kgo.Record, 0, len(offs))
	for _, so := range offs {
		rec, err := offsetRecord(topic, connector, connectors.SourceOffset{Partition: so.Partition})
		if err != nil {
			return 0, err
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	pcl, err := kgo.NewClient(append(append([]kgo.Opt{}, opts...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))...)
	if err != nil {
		return 0, fmt.Errorf("worker: kafka client: %w", err)
	}
	defer pcl.Close()
	if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, fmt.Errorf("worker: write offset tombstones to %q: %w", topic, err)
	}
	return len(recs), nil
}

// ReadSinkOffsets returns a sink connector's committed consumer offsets.
func ReadSinkOffsets(ctx context.Context, opts []kgo.Opt, connector string) (map[connectors.TopicPartition]int64, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("worker: kafka client: %w", err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).FetchOffsets(ctx, groupOf(connector))
	if err != nil {
		if errors.Is(err, kerr.GroupIDNotFound) {
			return map[connectors.TopicPartition]int64{}, nil
		}
		return nil, fmt.Errorf("worker: offsets of group %q: %w", groupOf(connector), err)
	}
	out := map[connectors.TopicPartition]int64{}
	var ferr error
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			ferr = fmt.Errorf("worker: offset of %s[%d] in group %q: %w", o.Topic, o.Partition, groupOf(connector), o.Err)
			return
		}
		out[connectors.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.At
	})
	return out, ferr
}

// ResetSinkOffsets deletes a sink connector's consumer group, so that it
// reads its topics from the beginning (auto.offset.reset=earliest) when
// it runs again. It refuses while the connector runs.
func ResetSinkOffsets(ctx context.Context, opts []kgo.Opt, connector string) error {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("worker: kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := checkStopped(ctx, adm, connector); err != nil {
		return err
	}
	resp, err := adm.DeleteGroups(ctx, groupOf(connector))
	if err != nil {
		return fmt.Errorf("worker: delete group %q: %w", groupOf(connector), err)
	}
	for _, r := range resp {
		if r.Err != nil && !errors.Is(r.Err, kerr.GroupIDNotFound) {
			return fmt.Errorf("worker: delete group %q: %w", r.Group, r.Err)
		}
	}
	return nil
}

// SortedPartitions returns m's partitions in topic, partition order.
func SortedPartitions(m map[connectors.TopicPartition]int64) []connectors.TopicPartition {
	out := make([]connectors.TopicPartition, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	sortTopicPartitions(out)
	return out
}

// sortTopicPartitions sorts tps in topic, partition order.
func sortTopicPartitions(tps []connectors.TopicPartition) {
	slices.SortFunc(tps, func(a, b connectors.TopicPartition) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
}
