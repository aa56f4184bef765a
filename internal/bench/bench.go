// Package bench measures Sluice's stream processing against a baseline run
// in the same process on the same broker: a plain franz-go consume→produce
// loop doing the same Kafka work. Absolute numbers drift between runs and
// machines; the ratio is what the targets in BENCHMARKS.md are about.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/cputime"
	"github.com/sluicehq/sluice/kafka"
	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/serde"
)

// Config sets the workload.
type Config struct {
	Brokers []string
	// KafkaOptions are franz-go options for every client of the run (TLS,
	// SASL: `sluice bench --kafka-config`); default none.
	KafkaOptions []kgo.Opt
	Records      int           // default 1,000,000
	ValueBytes   int           // default 100
	Partitions   int32         // default 4
	Commit       time.Duration // exactly-once commit interval, default 100ms
	Rounds       int           // alternating rounds of each measurement, default 1; the median is reported
	Only         string        // "at_least_once" or "exactly_once_v2": run only that pair
	Pipelines    []Pipeline    // the Sluice pipelines to run (default: all); the baseline always runs
	StateDir     string        // state directory for stateful pipelines (default: a new temp dir per run, removed after)
}

// clientOpts are the options of a client of the run: the seed brokers,
// KafkaOptions, then more.
func (c *Config) clientOpts(more ...kgo.Opt) []kgo.Opt {
	opts := append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, c.KafkaOptions...)
	return append(opts, more...)
}

func (c *Config) defaults() {
	if c.Records == 0 {
		c.Records = 1_000_000
	}
	if c.ValueBytes == 0 {
		c.ValueBytes = 100
	}
	if c.Partitions == 0 {
		c.Partitions = 4
	}
	if c.Commit == 0 {
		c.Commit = 100 * time.Millisecond
	}
	if c.Rounds == 0 {
		c.Rounds = 1
	}
}

// Result is one measured run.
type Result struct {
	Name    string
	Records int
	// Duration runs from the first record received to the end of the final
	// commit: steady-state processing, without group join and start-up.
	Duration time.Duration
	// Total also counts start-up (topic checks, group join) from the call.
	Total time.Duration
	// Mallocs and GCs are the process's heap allocations and completed GC
	// cycles during the whole call (the in-process broker's included).
	Mallocs uint64
	GCs     uint32
	// CPU is the process's user and system CPU time during the whole
	// call (the in-process broker's included, which is the same work for
	// every pipeline of a run): per record, it measures a pipeline's cost
	// with far less noise than wall time on a shared machine.
	CPU time.Duration
}

type memSnapshot struct {
	runtime.MemStats
	cpu time.Duration
}

func memNow() memSnapshot {
	var m memSnapshot
	runtime.ReadMemStats(&m.MemStats)
	m.cpu = cputime.Process()
	return m
}

func (r *Result) since(before memSnapshot) {
	after := memNow()
	r.Mallocs = after.Mallocs - before.Mallocs
	r.GCs = after.NumGC - before.NumGC
	r.CPU = after.cpu - before.cpu
}

// CPUPerRecord is the process CPU time per record of the run.
func (r Result) CPUPerRecord() time.Duration {
	if r.Records == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Records)
}

// PerSec is the run's throughput.
func (r Result) PerSec() float64 { return float64(r.Records) / r.Duration.Seconds() }

const (
	inputTopic = "bench-input"
	// tableTopic holds one row per input key, for the join pipeline.
	tableTopic = "bench-table"
)

// Prepare creates the input topic and fills it with cfg.Records records
// (keys "key-N" over 1,000 keys, values of cfg.ValueBytes).
func Prepare(ctx context.Context, cfg Config) error {
	cfg.defaults()
	cl, err := kgo.NewClient(cfg.clientOpts(kgo.DefaultProduceTopic(inputTopic), kgo.ProducerLinger(0))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(ctx, kadm.NewClient(cl), cfg.Partitions, -1, nil, inputTopic, tableTopic); err != nil {
		return err
	}
	// Table rows are a minute older than the input, so that with
	// timestamp-ordered processing every input record finds its row.
	row := []byte(strings.Repeat("r", cfg.ValueBytes))
	rowTime := time.Now().Add(-time.Minute)
	for k := range 1000 {
		cl.Produce(ctx, &kgo.Record{Topic: tableTopic, Key: fmt.Appendf(nil, "key-%d", k), Value: row, Timestamp: rowTime}, nil)
	}
	value := []byte(strings.Repeat("v", cfg.ValueBytes))
	var failed atomic.Pointer[error]
	for i := range cfg.Records {
		cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "key-%d", i%1000), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if p := failed.Load(); p != nil {
		return fmt.Errorf("bench: fill %s: %w", inputTopic, *p)
	}
	return nil
}

// PlainPipe is the baseline: a franz-go group consumer that produces every
// record it polls to out, committing offsets after flushing (at-least-once)
// or, with txn, in transactions ended every cfg.Commit through
// GroupTransactSession (franz-go's exactly-once loop).
func PlainPipe(ctx context.Context, cfg Config, group, out string, txn bool) (Result, error) {
	cfg.defaults()
	name := "plain franz-go pipe, at-least-once"
	if txn {
		name = fmt.Sprintf("plain franz-go pipe, transactions every %v", cfg.Commit)
	}
	if err := ensure(ctx, cfg, out); err != nil {
		return Result{}, err
	}
	opts := cfg.clientOpts(kgo.ConsumerGroup(group), kgo.ConsumeTopics(inputTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic(out))
	var sess *kgo.GroupTransactSession
	var cl *kgo.Client
	var err error
	if txn {
		opts = append(opts, kgo.TransactionalID(group), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		if sess, err = kgo.NewGroupTransactSession(opts...); err != nil {
			return Result{}, err
		}
		cl = sess.Client()
		defer sess.Close()
	} else {
		opts = append(opts, kgo.DisableAutoCommit())
		if cl, err = kgo.NewClient(opts...); err != nil {
			return Result{}, err
		}
		defer cl.Close()
	}
	start := time.Now()
	var first time.Time
	if txn {
		if err := sess.Begin(); err != nil {
			return Result{}, err
		}
	}
	lastCommit := time.Now()
	n := 0
	for n < cfg.Records {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if first.IsZero() && fs.NumRecords() > 0 {
			first = time.Now()
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			cl.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp}, nil)
		})
		if txn && time.Since(lastCommit) >= cfg.Commit {
			if _, err := sess.End(ctx, kgo.TryCommit); err != nil {
				return Result{}, err
			}
			if err := sess.Begin(); err != nil {
				return Result{}, err
			}
			lastCommit = time.Now()
		}
	}
	if txn {
		if ok, err := sess.End(ctx, kgo.TryCommit); err != nil || !ok {
			return Result{}, fmt.Errorf("bench: final commit: committed=%v err=%v", ok, err)
		}
	} else {
		if err := cl.Flush(ctx); err != nil {
			return Result{}, err
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			return Result{}, err
		}
	}
	return Result{Name: name, Records: n, Duration: time.Since(first), Total: time.Since(start)}, nil
}

// Pipeline selects the Sluice pipeline measured by Stateless.
type Pipeline int

const (
	// BytesPipeline: []byte keys and values (no copies, like the plain
	// loop), Filter, MapValues, To: the framework's own cost.
	BytesPipeline Pipeline = iota
	// StringPipeline: the same with string serdes, which copy every key and
	// value out of the fetched record (as Java's StringDeserializer does).
	StringPipeline
	// CountPipeline: a word-count style aggregation, GroupByKey().Count()
	// over the 1,000 keys, in a Pebble store with its changelog and the
	// record cache, ToStream, To (string keys, int64 counts).
	CountPipeline
	// CountNoCachePipeline: CountPipeline with the record cache off, so
	// every update is written, logged and forwarded.
	CountNoCachePipeline
	// JoinPipeline: every input record joined with a 1,000-row KTable
	// (Pebble store with its changelog) on its key, then To.
	JoinPipeline
	// BytesMetricsPipeline: BytesPipeline with Prometheus metrics on as a
	// user turns them on (observe.Metrics as the engine's metrics at the
	// default INFO recording level, end-to-end latency included; the
	// application watched) and scraped every second, as a Prometheus
	// server would: the cost of metrics, next to BytesPipeline (no
	// metrics at all) in the same run.
	BytesMetricsPipeline
)

// pipelineNames are the short names ParsePipeline accepts.
var pipelineNames = map[string]Pipeline{
	"bytes": BytesPipeline, "string": StringPipeline, "count": CountPipeline,
	"count-nocache": CountNoCachePipeline, "join": JoinPipeline, "bytes-metrics": BytesMetricsPipeline,
}

// ParsePipeline parses a pipeline's short name: bytes, string, count,
// count-nocache, join or bytes-metrics.
func ParsePipeline(name string) (Pipeline, error) {
	p, ok := pipelineNames[name]
	if !ok {
		return 0, fmt.Errorf("bench: unknown pipeline %q (want bytes, bytes-metrics, string, count, count-nocache or join)", name)
	}
	return p, nil
}

func (p Pipeline) String() string {
	switch p {
	case StringPipeline:
		return "string serdes"
	case CountPipeline:
		return "groupByKey+count (record cache on)"
	case CountNoCachePipeline:
		return "groupByKey+count (record cache off)"
	case JoinPipeline:
		return "stream-table join"
	case BytesMetricsPipeline:
		return "[]byte serdes, metrics scraped 1/s"
	}
	return "[]byte serdes"
}

// Stateless runs a Sluice stateless pipeline (Filter, MapValues, To) over
// the same input until every record was processed and committed (the
// graceful stop's final commit included).
func Stateless(ctx context.Context, cfg Config, appID, out string, g core.ProcessingGuarantee, p Pipeline) (Result, error) {
	cfg.defaults()
	if err := ensure(ctx, cfg, out); err != nil {
		return Result{}, err
	}
	var first atomic.Int64 // unix nanos of the first record processed
	started := func() {
		if first.Load() == 0 {
			first.CompareAndSwap(0, time.Now().UnixNano())
		}
	}
	b := dsl.NewBuilder()
	if p == JoinPipeline {
		table := dsl.Table(b, tableTopic, dsl.ConsumedWith(serde.String(), serde.Bytes()))
		s := dsl.Stream(b, inputTopic, dsl.ConsumedWith(serde.String(), serde.Bytes()))
		s = s.Peek(func(string, []byte) { started() })
		dsl.JoinTable(s, table, func(v, row []byte) []byte { return row }).To(out)
	} else if p == CountPipeline || p == CountNoCachePipeline {
		s := dsl.Stream(b, inputTopic, dsl.ConsumedWith(serde.String(), serde.Bytes()))
		s.Peek(func(string, []byte) { started() }).GroupByKey().Count().ToStream().
			To(out, dsl.ProducedWith(serde.String(), serde.Int64()))
	} else if p == StringPipeline {
		s := dsl.Stream(b, inputTopic, dsl.ConsumedWith(serde.String(), serde.String()))
		dsl.MapValues(s.Filter(func(_, v string) bool { started(); return v != "" }), func(v string) string { return v }).To(out)
	} else {
		s := dsl.Stream(b, inputTopic, dsl.ConsumedWith(serde.Bytes(), serde.Bytes()))
		dsl.MapValues(s.Filter(func(_, v []byte) bool { started(); return len(v) > 0 }), func(v []byte) []byte { return v }).To(out)
	}
	topo, err := b.Build()
	if err != nil {
		return Result{}, err
	}
	opts := []core.Option{core.WithBrokers(cfg.Brokers...), core.WithKafkaOptions(cfg.KafkaOptions...), core.WithApplicationID(appID), core.WithProcessingGuarantee(g),
		core.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}
	stateDir := cfg.StateDir
	if stateDir == "" {
		dir, err := os.MkdirTemp("", "sluice-bench-")
		if err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(dir)
		stateDir = dir
	}
	opts = append(opts, core.WithStateDir(stateDir))
	if p == CountNoCachePipeline {
		opts = append(opts, core.WithCacheMaxBytes(0))
	}
	var metrics *observe.Metrics
	if p == BytesMetricsPipeline {
		metrics = observe.NewMetrics()
		opts = append(opts, core.WithMetrics(metrics.Engine()), core.WithMetricsRecordingLevel(core.RecordingLevelInfo))
	}
	if g == core.ExactlyOnceV2 {
		opts = append(opts, core.WithCommitInterval(cfg.Commit))
	}
	app, err := core.New(topo, opts...)
	if err != nil {
		return Result{}, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if metrics != nil {
		if err := metrics.WatchApp(appID, app); err != nil {
			return Result{}, err
		}
		go scrape(runCtx, metrics)
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- app.Run(runCtx) }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for app.Stats().Consumed < int64(cfg.Records) {
		select {
		case err := <-done:
			if err == nil {
				err = errors.New("stopped early")
			}
			return Result{}, fmt.Errorf("bench: sluice app: %w", err)
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-tick.C:
		}
	}
	// Graceful stop: process what is buffered, flush and commit. The run
	// ends when that final commit is counted (the baseline stops at its
	// final commit too); closing the client and leaving the group after it
	// are start-up/tear-down, reported in Total.
	commits := app.Stats().Commits
	cancel()
	var end time.Time
	for end.IsZero() {
		select {
		case err := <-done:
			if err != nil {
				return Result{}, err
			}
			end = time.Now()
			done = nil
		case <-time.After(time.Millisecond):
			if app.Stats().Commits > commits {
				end = time.Now()
			}
		}
	}
	if done != nil {
		if err := <-done; err != nil {
			return Result{}, err
		}
	}
	name := fmt.Sprintf("sluice filter+mapValues+to, %s, %s", p, g)
	if p == CountPipeline || p == CountNoCachePipeline || p == JoinPipeline {
		name = fmt.Sprintf("sluice %s, %s", p, g)
	}
	return Result{Name: name, Records: int(app.Stats().Consumed), Duration: end.Sub(time.Unix(0, first.Load())), Total: time.Since(start)}, nil
}

func ensure(ctx context.Context, cfg Config, out string) error {
	cl, err := kgo.NewClient(cfg.clientOpts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	return kafka.EnsureTopics(ctx, kadm.NewClient(cl), cfg.Partitions, -1, nil, out)
}

// scrape renders the metrics in Prometheus text format every second until
// ctx ends, as a Prometheus server's scrapes would.
func scrape(ctx context.Context, m *observe.Metrics) {
	h := observe.Handler(m, observe.Checks{})
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	}
}

// Report prints results pairwise: each Sluice result next to its baseline
// with the ratio.
func Report(w io.Writer, pairs [][2]Result) {
	for _, p := range pairs {
		base, got := p[0], p[1]
		for _, r := range []Result{base, got} {
			fmt.Fprintf(w, "%-62s %10.0f records/s (%d in %v; %v with start-up)\n", r.Name, r.PerSec(), r.Records,
				r.Duration.Round(time.Millisecond), r.Total.Round(time.Millisecond))
		}
		fmt.Fprintf(w, "%-62s %10.1f%% (with start-up: %.1f%%)\n\n", "ratio", 100*got.PerSec()/base.PerSec(),
			100*base.Total.Seconds()/got.Total.Seconds())
	}
}

// RunStateless measures both guarantees against their baselines, cfg.Rounds
// times each, alternating, and reports the median round of each (the
// machine is shared with the in-process broker: single runs vary by ±20%).
func RunStateless(ctx context.Context, cfg Config, w io.Writer) ([][2]Result, error) {
	cfg.defaults()
	if err := Prepare(ctx, cfg); err != nil {
		return nil, err
	}
	type slot struct {
		guarantee core.ProcessingGuarantee
		pipeline  Pipeline
		base      bool
		runs      []Result
	}
	slots := []*slot{
		{core.AtLeastOnce, BytesPipeline, true, nil},
		{core.AtLeastOnce, BytesPipeline, false, nil},
		{core.AtLeastOnce, StringPipeline, false, nil},
		{core.AtLeastOnce, CountPipeline, false, nil},
		{core.AtLeastOnce, CountNoCachePipeline, false, nil},
		{core.AtLeastOnce, JoinPipeline, false, nil},
		{core.AtLeastOnce, BytesMetricsPipeline, false, nil},
		{core.ExactlyOnceV2, BytesPipeline, true, nil},
		{core.ExactlyOnceV2, BytesPipeline, false, nil},
		{core.ExactlyOnceV2, StringPipeline, false, nil},
		{core.ExactlyOnceV2, CountPipeline, false, nil},
		{core.ExactlyOnceV2, CountNoCachePipeline, false, nil},
		{core.ExactlyOnceV2, JoinPipeline, false, nil},
		{core.ExactlyOnceV2, BytesMetricsPipeline, false, nil},
	}
	var active []int
	for i, s := range slots {
		if cfg.Only != "" && cfg.Only != string(s.guarantee) {
			continue
		}
		if !s.base && len(cfg.Pipelines) > 0 && !slices.Contains(cfg.Pipelines, s.pipeline) {
			continue
		}
		active = append(active, i)
	}
	for round := range cfg.Rounds {
		// The runs take turns in every position: round r starts at the
		// r-th run, and every other cycle of len(active) rounds goes in
		// reverse, so that no run always comes first, last, or after the
		// same one (a grown heap, the GC's pacing, the broker's state).
		order := append(slices.Clone(active[round%len(active):]), active[:round%len(active)]...)
		if (round/len(active))%2 == 1 {
			slices.Reverse(order)
		}
		for _, i := range order {
			s := slots[i]
			id := fmt.Sprintf("%d-%d", i, round)
			var r Result
			var err error
			app := "sluice-" + id
			if s.base {
				app = "plain-" + id
			}
			out := "out-" + app
			before := memNow()
			if s.base {
				r, err = PlainPipe(ctx, cfg, app, out, s.guarantee == core.ExactlyOnceV2)
			} else {
				r, err = Stateless(ctx, cfg, app, out, s.guarantee, s.pipeline)
			}
			if err != nil {
				return nil, err
			}
			r.since(before)
			// The broker runs in this process and keeps every record in
			// memory: drop what this run wrote so that later runs do not pay
			// for scanning it (GC), which would favour the runs that go first.
			dropRunTopics(ctx, cfg, out, app)
			fmt.Fprintf(w, "round %d: %-62s %10.0f records/s  %5.2f allocs/record  %d GCs  %4.0f ns CPU/record\n", round+1, r.Name, r.PerSec(),
				float64(r.Mallocs)/float64(r.Records), r.GCs, float64(r.CPUPerRecord()))
			s.runs = append(s.runs, r)
		}
	}
	fmt.Fprintln(w)
	var pairs [][2]Result
	var base Result
	for _, s := range slots {
		if len(s.runs) == 0 {
			continue
		}
		if s.base {
			base = median(s.runs)
			continue
		}
		pairs = append(pairs, [2]Result{base, median(s.runs)})
	}
	Report(w, pairs)
	fmt.Fprintln(w, "process CPU per record, median of the rounds (the in-process broker's work included):")
	for _, s := range slots {
		if len(s.runs) > 0 {
			fmt.Fprintf(w, "  %-62s %6.0f ns\n", s.runs[0].Name, float64(medianCPU(s.runs)))
		}
	}
	return pairs, nil
}

// dropRunTopics deletes a run's output topic and every topic named after
// its application id (repartition and changelog topics), then collects
// the garbage.
func dropRunTopics(ctx context.Context, cfg Config, out, appID string) {
	cl, err := kgo.NewClient(cfg.clientOpts()...)
	if err != nil {
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	names := []string{out}
	if listed, err := adm.ListTopics(ctx); err == nil {
		for _, t := range listed.Names() {
			if strings.HasPrefix(t, appID+"-") {
				names = append(names, t)
			}
		}
	}
	_, _ = adm.DeleteTopics(ctx, names...)
	runtime.GC()
}

// median returns the run with the median throughput (the lower middle one
// for an even count).
// medianCPU is the median CPU time per record of runs.
func medianCPU(runs []Result) time.Duration {
	cpu := make([]time.Duration, len(runs))
	for i, r := range runs {
		cpu[i] = r.CPUPerRecord()
	}
	slices.Sort(cpu)
	return cpu[(len(cpu)-1)/2]
}

func median(runs []Result) Result {
	sorted := append([]Result(nil), runs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].PerSec() < sorted[j].PerSec() })
	return sorted[(len(sorted)-1)/2]
}
