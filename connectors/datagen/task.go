package datagen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// task generates the positions id, id+tasks, id+2*tasks, ... of the
// connector's sequence. The worker calls it from one goroutine.
type task struct {
	src     *source
	id      uint64
	tasks   uint64
	step    uint64  // event time between consecutive positions, ns
	rate    float64 // records per second, 0: unthrottled
	bounded bool
	total   uint64 // records of this task when bounded

	seed      uint64
	startMs   int64
	next      uint64 // records produced (and the count of the next offset)
	partition map[string]any
	lim       *limiter
	ctx       genCtx
	tc        connectors.SourceTaskContext
}

// The keys of the source partition and offset.
const (
	keyTask  = "task"
	keyCount = "count"
	keyTasks = "tasks"
	keySeed  = "seed"
	keyStart = "start"
)

func (t *task) Open(ctx context.Context, tc connectors.SourceTaskContext) error {
	t.tc = tc
	t.partition = map[string]any{keyTask: int64(t.id)}
	s := t.src.s
	t.seed, t.startMs = t.src.defaults()
	off, err := tc.Offset(t.partition)
	if err != nil {
		return fmt.Errorf("datagen: task %d: read its committed offset: %w", t.id, err)
	}
	resumed := off != nil
	if off == nil {
		// A task that never committed joins the sequence its siblings
		// started, if they did: its seed, start time and task count are
		// theirs.
		all, err := tc.Offsets()
		if err != nil {
			return fmt.Errorf("datagen: task %d: read the connector's committed offsets: %w", t.id, err)
		}
		for _, o := range all {
			if _, ok := o.Partition[keyTask]; ok && o.Offset != nil {
				off = o.Offset
				break
			}
		}
	}
	if off != nil {
		tasks, err := offsetUint(off, keyTasks)
		if err != nil {
			return fmt.Errorf("datagen: task %d: committed offset %v: %w", t.id, off, err)
		}
		if tasks != t.tasks {
			return fmt.Errorf("datagen: the connector's committed offsets were written with tasks.max=%d, now it is %d: the sequence is split across tasks by position and cannot be resumed with another task count; set tasks.max back to %d, or reset the connector's offsets (sluice connectors offsets reset) to start over", tasks, t.tasks, tasks)
		}
		if !s.seedSet {
			if t.seed, err = offsetUint(off, keySeed); err != nil {
				return fmt.Errorf("datagen: task %d: committed offset %v: %w", t.id, off, err)
			}
		}
		if !s.startSet {
			start, err := offsetUint(off, keyStart)
			if err != nil {
				return fmt.Errorf("datagen: task %d: committed offset %v: %w", t.id, off, err)
			}
			t.startMs = int64(start)
		}
		if resumed {
			if t.next, err = offsetUint(off, keyCount); err != nil {
				return fmt.Errorf("datagen: task %d: committed offset %v: %w", t.id, off, err)
			}
		}
	}
	if t.rate > 0 {
		t.lim = newLimiter(t.src.clock, t.rate, s.batch)
	}
	t.ctx.seed = t.seed
	tc.Logger().Info("datagen task opened", "task", t.id, "tasks", t.tasks, "resume_count", t.next,
		"next_position", t.id+t.next*t.tasks, "bounded", t.bounded, "total", t.total, "key_field", s.gen.keyField)
	return nil
}

// offsetUint reads a number of a committed offset. Offsets come back from
// the offsets topic as JSON, so numbers may be float64 or json.Number; the
// seed is stored as text because float64 cannot hold every 64-bit seed.
func offsetUint(off map[string]any, key string) (uint64, error) {
	switch v := off[key].(type) {
	case int:
		return uint64(v), nil
	case int64:
		return uint64(v), nil
	case uint64:
		return v, nil
	case float64:
		if v >= 0 && v == math.Trunc(v) && v < 1<<63 {
			return uint64(v), nil
		}
	case json.Number:
		if u, err := strconv.ParseUint(v.String(), 10, 64); err == nil {
			return u, nil
		}
		if i, err := v.Int64(); err == nil {
			return uint64(i), nil
		}
	case string:
		if u, err := strconv.ParseUint(v, 10, 64); err == nil {
			return u, nil
		}
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			return uint64(i), nil
		}
	case nil:
		return 0, fmt.Errorf("%q is missing", key)
	}
	return 0, fmt.Errorf("%q is not a whole number: %v", key, off[key])
}

func (t *task) offset() map[string]any {
	return map[string]any{
		keyCount: int64(t.next),
		keyTasks: int64(t.tasks),
		keySeed:  strconv.FormatUint(t.seed, 10),
		keyStart: t.startMs,
	}
}

// eventTime is the event time (Unix ms) of a position in event mode.
func (t *task) eventTime(pos uint64) int64 {
	if pos < t.src.s.gen.snapshot {
		return t.startMs
	}
	hi, lo := bits.Mul64(pos, t.step)
	if hi >= 1e6 { // beyond year 292 million: saturate
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, 1e6)
	return t.startMs + int64(q)
}

// Poll returns the records due: up to batch.size, fewer when throttled or
// at the end of a bounded run (then with io.EOF).
func (t *task) Poll(ctx context.Context) ([]*connectors.Record, error) {
	if t.bounded && t.next >= t.total {
		return nil, io.EOF
	}
	if ctx.Err() != nil {
		return nil, nil
	}
	s := t.src.s
	want := s.batch
	if t.bounded {
		want = int(min(uint64(want), t.total-t.next))
	}
	if t.lim != nil {
		if want = t.lim.take(ctx, want); want == 0 {
			return nil, nil
		}
	}
	g := s.gen
	// One allocation for the batch's records: the worker owns them after
	// Poll, and they are released together.
	recs := make([]connectors.Record, want)
	out := make([]*connectors.Record, want)
	var wallMs int64
	if s.wallclock {
		wallMs = t.src.clock.Now().UnixMilli()
	}
	c := &t.ctx
	for i := range recs {
		pos := t.id + (t.next+uint64(i))*t.tasks
		c.pos = pos
		c.r.seedRecord(t.seed, pos)
		if s.wallclock {
			c.tsMillis = wallMs
		} else {
			c.tsMillis = t.eventTime(pos)
		}
		v := g.value(c)
		rec := &recs[i]
		rec.Topic = s.topic
		rec.Partition = -1
		rec.Offset = -1
		rec.Timestamp = time.UnixMilli(c.tsMillis)
		rec.ValueSchema = g.valueSchema
		rec.Value = v
		if g.key != nil {
			rec.KeySchema = g.keySchema
			rec.Key = g.key(c, v)
		}
		rec.SourcePartition = t.partition
		out[i] = rec
	}
	t.next += uint64(want)
	// The offset covers every earlier record of the partition too.
	out[want-1].SourceOffset = t.offset()
	if t.bounded && t.next >= t.total {
		return out, io.EOF
	}
	return out, nil
}

// Commit has nothing to release: the position is all the state there is.
func (t *task) Commit(context.Context, []connectors.SourceOffset) error { return nil }

func (t *task) Close() error { return nil }

// clock is the time source of a task: real, or driven by a test.
type clock interface {
	Now() time.Time
	// Sleep waits for d; it returns false if ctx ended first.
	Sleep(ctx context.Context, d time.Duration) bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// limiter is a token bucket of records. It holds at most one batch (the
// burst after a stall), and a poll waits until a worthwhile number of
// records is due: at least one, or about 10 ms worth at high rates, so a
// fast throttled task returns batches rather than single records.
type limiter struct {
	clock  clock
	rate   float64 // tokens per second
	tokens float64
	burst  float64
	need   float64
	last   time.Time
}

func newLimiter(c clock, rate float64, batch int) *limiter {
	need := math.Max(1, math.Min(float64(batch), math.Ceil(rate/100)))
	return &limiter{clock: c, rate: rate, tokens: need, burst: math.Max(float64(batch), need), need: need, last: c.Now()}
}

// maxPollWait is how long a poll waits for records before it returns none,
// so that the worker can commit and stop promptly.
const maxPollWait = time.Second

// take waits until records are due and takes up to want of them. It
// returns 0 after maxPollWait without enough tokens, or when ctx ends.
func (l *limiter) take(ctx context.Context, want int) int {
	deadline := l.clock.Now().Add(maxPollWait)
	for {
		now := l.clock.Now()
		if elapsed := now.Sub(l.last); elapsed > 0 {
			l.tokens = math.Min(l.burst, l.tokens+elapsed.Seconds()*l.rate)
		}
		l.last = now
		goal := math.Min(l.need, float64(want))
		if l.tokens >= goal {
			n := int(math.Min(math.Floor(l.tokens), float64(want)))
			l.tokens -= float64(n)
			return n
		}
		wait := time.Duration(math.Ceil((goal - l.tokens) / l.rate * 1e9))
		left := deadline.Sub(now)
		if left <= 0 {
			return 0
		}
		if !l.clock.Sleep(ctx, min(wait, left)) {
			return 0
		}
	}
}
