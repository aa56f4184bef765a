package connectcli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/observe"
)

// RunOptions configures Run.
type RunOptions struct {
	Brokers      []string
	KafkaOptions []kgo.Opt
	// CheckKafka, if set, is called once the configurations are valid and
	// before anything starts (kafka.Config.Check: a wrong password fails
	// now, naming the cause).
	CheckKafka   func(context.Context) error
	Plugins      *connectors.Registry
	Guarantee    core.ProcessingGuarantee
	OffsetsTopic string // default worker.DefaultOffsetsTopic
	// InstanceID enables static membership (see worker.Config.InstanceID).
	InstanceID string
	// SessionTimeout of the groups (default: the worker's, 45s).
	SessionTimeout time.Duration
	// RegistryURL is every converter's default schema.registry.url.
	RegistryURL string
	// UntilDone stops once every source has finished (bounded input
	// drained and committed) and every sink has handed over and committed
	// everything in its topics as of then.
	UntilDone bool
	// Progress is how often a status line is printed to Out (0: never).
	Progress time.Duration
	Out      io.Writer
	Logger   *slog.Logger
	// HTTPAddr, if set, serves /metrics (Prometheus), /healthz and
	// /readyz for the connectors there (see docs/metrics.md).
	HTTPAddr string
	// ShutdownTimeout bounds the graceful stop. Default 30s.
	ShutdownTimeout time.Duration
}

// Run starts the connectors of the given configuration files in one worker
// (Kafka Connect's standalone mode, with offsets in Kafka) and runs them
// until ctx ends (then stops them gracefully: finish the batch, commit,
// leave the groups), a task fails, or, with UntilDone, all work is done.
func Run(ctx context.Context, opts RunOptions, paths ...string) error {
	if len(paths) == 0 {
		return errors.New("connectcli: no connector configuration given")
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	var defaults map[string]any
	if opts.RegistryURL != "" {
		defaults = map[string]any{"schema.registry.url": opts.RegistryURL}
	}
	var metrics *observe.Metrics
	var workerMetrics core.Metrics
	if opts.HTTPAddr != "" {
		metrics = observe.NewMetrics()
		workerMetrics = metrics.Engine()
	}
	w, err := worker.New(worker.Config{Brokers: opts.Brokers, KafkaOptions: opts.KafkaOptions, Plugins: opts.Plugins, Metrics: workerMetrics,
		Guarantee: opts.Guarantee, OffsetsTopic: opts.OffsetsTopic, ConverterDefaults: defaults, Logger: opts.Logger,
		InstanceID: opts.InstanceID, SessionTimeout: opts.SessionTimeout})
	if err != nil {
		return err
	}
	// Validate everything before starting anything.
	type entry struct {
		path string
		kind connectors.Kind
		cfg  map[string]any
	}
	var entries []entry
	var errs []error
	for _, p := range paths {
		cfg, err := LoadConfig(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		kind := KindOf(cfg)
		if _, err := w.Parse(kind, cfg); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s connector): %w", p, kind, err))
			continue
		}
		entries = append(entries, entry{p, kind, cfg})
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if opts.CheckKafka != nil {
		if err := opts.CheckKafka(ctx); err != nil {
			return err
		}
	}
	stopAll := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
		defer cancel()
		return w.Close(sctx)
	}
	var sources, sinks []*worker.Connector
	for _, e := range entries {
		var c *worker.Connector
		if e.kind == connectors.KindSource {
			c, err = w.StartSource(ctx, e.cfg)
			sources = append(sources, c)
		} else {
			c, err = w.StartSink(ctx, e.cfg)
			sinks = append(sinks, c)
		}
		if err != nil {
			return errors.Join(fmt.Errorf("%s: %w", e.path, err), stopAll())
		}
		fmt.Fprintf(opts.Out, "started %s connector %q (type %s)\n", e.kind, c.Name(), c.Config().Type)
	}
	all := append(append([]*worker.Connector(nil), sources...), sinks...)
	if metrics != nil {
		closeHTTP, err := serveHTTP(opts, metrics, all)
		if err != nil {
			return errors.Join(err, stopAll())
		}
		defer closeHTTP()
	}

	failed := make(chan error, len(all))
	for _, c := range all {
		go func() {
			if err := c.Wait(context.Background()); err != nil {
				failed <- fmt.Errorf("connector %q: %w", c.Name(), err)
			}
		}()
	}
	var tick <-chan time.Time
	if opts.Progress > 0 {
		t := time.NewTicker(opts.Progress)
		defer t.Stop()
		tick = t.C
	}
	check := time.NewTicker(200 * time.Millisecond)
	defer check.Stop()
	var sinkGoal map[connectors.TopicPartition]int64 // set once sources are done
	for {
		select {
		case <-ctx.Done():
			err := stopAll()
			printStatus(opts.Out, all)
			return err
		case err := <-failed:
			printStatus(opts.Out, all)
			return errors.Join(err, stopAll())
		case <-tick:
			printStatus(opts.Out, all)
		case <-check.C:
			if !opts.UntilDone {
				continue
			}
			if !sourcesDone(sources) {
				continue
			}
			if sinkGoal == nil {
				if sinkGoal, err = sinkEnds(ctx, w, opts, sinks); err != nil {
					return errors.Join(err, stopAll())
				}
			}
			if !sinksReached(sinks, sinkGoal) {
				continue
			}
			err := stopAll()
			printStatus(opts.Out, all)
			if err == nil {
				fmt.Fprintln(opts.Out, "done: every source drained, every sink wrote and committed its input")
			}
			return err
		}
	}
}

func sourcesDone(sources []*worker.Connector) bool {
	for _, c := range sources {
		select {
		case <-c.Done():
		default:
			return false
		}
	}
	return true
}

// sinkEnds returns the end offsets (last stable) of every partition of the
// sinks' topics.
func sinkEnds(ctx context.Context, w *worker.Worker, opts RunOptions, sinks []*worker.Connector) (map[connectors.TopicPartition]int64, error) {
	goal := map[connectors.TopicPartition]int64{}
	if len(sinks) == 0 {
		return goal, nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(opts.Brokers...)}, opts.KafkaOptions...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, c := range sinks {
		topics := c.Config().Topics
		if c.Config().TopicsRegex != nil {
			all, err := adm.ListTopics(ctx)
			if err != nil {
				return nil, fmt.Errorf("connectcli: list topics: %w", err)
			}
			for _, t := range all.Names() {
				if c.Config().TopicsRegex.MatchString(t) {
					topics = append(topics, t)
				}
			}
		}
		ends, err := adm.ListCommittedOffsets(ctx, topics...)
		if err != nil {
			return nil, fmt.Errorf("connectcli: end offsets of %v: %w", topics, err)
		}
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err == nil && o.Offset > 0 {
				goal[connectors.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
			}
		})
	}
	return goal, nil
}

// sinksReached reports whether the sinks have handed over everything up to
// goal (their positions count transaction markers too).
func sinksReached(sinks []*worker.Connector, goal map[connectors.TopicPartition]int64) bool {
	pos := map[connectors.TopicPartition]int64{}
	for _, c := range sinks {
		for tp, off := range c.Positions() {
			pos[tp] = off
		}
	}
	for tp, end := range goal {
		if pos[tp] < end {
			return false
		}
	}
	return true
}

func printStatus(out io.Writer, cs []*worker.Connector) {
	for _, c := range cs {
		st := c.Status()
		var polled, written, errs, dlq, lag int64
		var failures []string
		for _, t := range st.Tasks {
			polled += t.Polled
			written += t.Written
			errs += t.Errors
			dlq += t.DeadLettered
			lag += t.Lag
			if t.Error != "" {
				failures = append(failures, fmt.Sprintf("task %d: %s", t.ID, t.Error))
			}
		}
		in, outName := "polled", "written"
		if st.Kind == connectors.KindSink {
			in, outName = "read", "put"
		}
		fmt.Fprintf(out, "%s %-20s %-10s %s=%d %s=%d errors=%d dead-lettered=%d", st.Kind, st.Name, st.State, in, polled, outName, written, errs, dlq)
		if st.Kind == connectors.KindSink {
			fmt.Fprintf(out, " lag=%d", lag)
		}
		fmt.Fprintln(out)
		if len(failures) > 0 {
			fmt.Fprintf(out, "  %s\n", strings.Join(failures, "\n  "))
		}
	}
}

// OffsetsOptions locate a connector's offsets.
type OffsetsOptions struct {
	Brokers      []string
	KafkaOptions []kgo.Opt
	OffsetsTopic string // sources; default worker.DefaultOffsetsTopic
	Kind         connectors.Kind
	Connector    string
}

func (o OffsetsOptions) kafka() []kgo.Opt {
	return append([]kgo.Opt{kgo.SeedBrokers(o.Brokers...)}, o.KafkaOptions...)
}

func (o OffsetsOptions) topic() string {
	if o.OffsetsTopic == "" {
		return worker.DefaultOffsetsTopic
	}
	return o.OffsetsTopic
}

// PrintOffsets writes a connector's committed offsets as JSON in Kafka
// Connect's KIP-875 shape: {"offsets":[{"partition":{...},"offset":{...}}]},
// sink partitions as {"kafka_topic","kafka_partition"} and offsets as
// {"kafka_offset"}.
func PrintOffsets(ctx context.Context, out io.Writer, o OffsetsOptions) error {
	type entry struct {
		Partition map[string]any `json:"partition"`
		Offset    map[string]any `json:"offset"`
	}
	var list []entry
	if o.Kind == connectors.KindSink {
		offs, err := worker.ReadSinkOffsets(ctx, o.kafka(), o.Connector)
		if err != nil {
			return err
		}
		for _, tp := range worker.SortedPartitions(offs) {
			list = append(list, entry{
				Partition: map[string]any{"kafka_topic": tp.Topic, "kafka_partition": tp.Partition},
				Offset:    map[string]any{"kafka_offset": offs[tp]}})
		}
	} else {
		offs, err := worker.ReadSourceOffsets(ctx, o.kafka(), o.topic(), o.Connector)
		if err != nil {
			return err
		}
		for _, so := range offs {
			list = append(list, entry{Partition: so.Partition, Offset: so.Offset})
		}
	}
	if list == nil {
		list = []entry{}
	}
	b, err := json.MarshalIndent(map[string]any{"offsets": list}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}

// ResetOffsets deletes a connector's committed offsets (KIP-875's DELETE),
// refusing while it runs anywhere.
func ResetOffsets(ctx context.Context, out io.Writer, o OffsetsOptions) error {
	if o.Kind == connectors.KindSink {
		if err := worker.ResetSinkOffsets(ctx, o.kafka(), o.Connector); err != nil {
			return err
		}
		_, err := fmt.Fprintf(out, "reset: sink connector %q will read its topics from the beginning\n", o.Connector)
		return err
	}
	n, err := worker.ResetSourceOffsets(ctx, o.kafka(), o.topic(), o.Connector)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "reset: %d source partition(s) of connector %q; it starts from the beginning of its input\n", n, o.Connector)
	return err
}

// serveHTTP serves the connectors' metrics and probes on opts.HTTPAddr.
func serveHTTP(opts RunOptions, m *observe.Metrics, conns []*worker.Connector) (func(), error) {
	statuses := observe.Statuses(conns)
	if err := m.WatchConnectors(statuses); err != nil {
		return nil, err
	}
	checks := observe.Checks{Live: []observe.Probe{observe.ConnectorsLive(statuses)}, Ready: []observe.Probe{observe.ConnectorsReady(statuses)}}
	addr, stop, err := observe.Serve(opts.HTTPAddr, observe.Handler(m, checks))
	if err != nil {
		return nil, fmt.Errorf("connectcli: --http: %w", err)
	}
	fmt.Fprintf(opts.Out, "metrics and health on http://%s (/metrics, /healthz, /readyz)\n", addr)
	return stop, nil
}
