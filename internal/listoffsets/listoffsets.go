// Package listoffsets retries ListOffsets-style admin calls through leader
// elections: kadm reports a partition whose leader just moved
// (NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE, ...) as a per-partition
// error rather than retrying it, and a start-up step that gives up then
// fails a task for a routine event.
package listoffsets

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// MaxWait bounds the retries (a leader election takes well under this).
const MaxWait = 30 * time.Second

// Retry calls list until it succeeds with no retriable per-partition error,
// ctx ends, or MaxWait passed; it then returns the last answer.
func Retry(ctx context.Context, list func(context.Context) (kadm.ListedOffsets, error)) (kadm.ListedOffsets, error) {
	deadline := time.Now().Add(MaxWait)
	backoff := 50 * time.Millisecond
	for {
		out, err := list(ctx)
		if !retriable(out, err) || time.Now().After(deadline) || ctx.Err() != nil {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func retriable(out kadm.ListedOffsets, err error) bool {
	if err != nil {
		return kerr.IsRetriable(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	found := false
	out.Each(func(o kadm.ListedOffset) {
		if o.Err != nil && kerr.IsRetriable(o.Err) {
			found = true
		}
	})
	return found
}
