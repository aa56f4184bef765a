// Package topics has small admin helpers shared by examples, the demo and
// the CLI.
package topics

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Ensure creates each topic with partitions partitions (replication factor:
// the broker default) unless it exists. Existing topics are left as they
// are.
func Ensure(ctx context.Context, adm *kadm.Client, partitions int32, configs map[string]*string, names ...string) error {
	return EnsureRF(ctx, adm, partitions, -1, configs, names...)
}

// EnsureRF is Ensure with a replication factor (-1: the broker default).
func EnsureRF(ctx context.Context, adm *kadm.Client, partitions int32, replicationFactor int16, configs map[string]*string, names ...string) error {
	resp, err := adm.CreateTopics(ctx, partitions, replicationFactor, configs, names...)
	if err != nil {
		return fmt.Errorf("topics: create %v: %w", names, err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("topics: create %q: %w", r.Topic, r.Err)
		}
	}
	return nil
}
