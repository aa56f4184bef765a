package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/kafka"
	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/serde/registry"
)

// RunOptions configures Run.
type RunOptions struct {
	// Plugins are the connector types (usually bundled.Registry()).
	Plugins *connectors.Registry
	// UntilDone stops once the bounded sources are drained, the topology
	// has processed and committed everything they wrote, and the sinks
	// have written and committed everything in their topics.
	UntilDone bool
	// InstanceID enables static group membership for the topology and
	// the connectors (a restarted instance takes its work back at once).
	InstanceID string
	// Progress is how often progress is printed to Out (0: never).
	Progress time.Duration
	Out      io.Writer
	Logger   *slog.Logger
	// ShutdownTimeout bounds the graceful stop. Default: 30s.
	ShutdownTimeout time.Duration
	// KafkaConfigFile is a Kafka client properties file applied over the
	// job's kafka section (sluice run --kafka-config): the same job file
	// runs on a laptop and, with this file, on a secured cluster. The
	// SLUICE_KAFKA_* environment variables come next, KafkaOverrides
	// (--brokers) last.
	KafkaConfigFile string
	KafkaOverrides  map[string]string
	// HTTPAddr, if set, serves /metrics (Prometheus), /healthz and
	// /readyz there while the job runs (see docs/metrics.md).
	HTTPAddr string
	// Ready, if set, is called once everything has started, with the
	// brokers and registry URL in use (tests connect to them).
	Ready func(brokers []string, registryURL string)
}

// Runtime is what Run starts: the embedded broker and registry (when the
// job has no external ones), the connector worker and the application.
type runtime struct {
	job     *Job
	opts    RunOptions
	kafka   kafka.Config
	brokers []string
	// kopts connect to the cluster (seed brokers, TLS, SASL).
	kopts    []kgo.Opt
	registry string
	closers  []func()
	// resumed: the embedded broker's data was already there (a restart):
	// this process's counters cover only its own part of the work.
	resumed bool
}

func (r *runtime) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

// Run runs the job until ctx ends (then stops gracefully: sources finish
// their batch and commit, the topology commits and leaves its group, sinks
// write and commit what they read), a component fails, or, with
// UntilDone, all work is done.
func Run(ctx context.Context, j *Job, opts RunOptions) error {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	if opts.Plugins == nil {
		return errors.New("job: RunOptions.Plugins is required")
	}
	// Everything is checked before anything starts.
	if _, ps := j.parseConnectors(opts.Plugins, ""); len(ps) > 0 {
		return ps.sorted()
	}
	// The registry's TLS files (linting does not read them).
	if _, ps := j.registryOptions(j.RegistryURL); len(ps) > 0 {
		return ps.sorted()
	}
	kcfg, err := kafka.LoadOver(j.Kafka, opts.KafkaConfigFile, os.Environ(), opts.KafkaOverrides)
	if err != nil {
		return fmt.Errorf("job %s: %w", j.Name, err)
	}
	_, statErr := os.Stat(filepath.Join(j.StateDir, "kafka"))
	resumed := statErr == nil && len(kcfg.BootstrapServers) == 0
	if err := os.MkdirAll(j.StateDir, 0o755); err != nil {
		return fmt.Errorf("job %s: state dir: %w", j.Name, err)
	}
	r := &runtime{job: j, opts: opts, kafka: kcfg, resumed: resumed}
	defer r.close()
	if err := r.startKafka(ctx); err != nil {
		return err
	}
	if err := r.createTopics(ctx); err != nil {
		return err
	}
	if err := r.startRegistry(ctx); err != nil {
		return err
	}
	var metrics *observe.Metrics
	if opts.HTTPAddr != "" {
		metrics = observe.NewMetrics()
	}
	// The topology, compiled with the registry in use.
	var app *core.App
	if j.Topology != nil {
		topo, err := j.Compile(CompileOptions{RegistryURL: r.registry, Plugins: opts.Plugins})
		if err != nil {
			return err
		}
		appOpts := []core.Option{core.WithBrokers(r.brokers...), core.WithKafkaOptions(r.kopts...), core.WithApplicationID(j.Name),
			core.WithProcessingGuarantee(j.Guarantee), core.WithThreads(j.Threads),
			core.WithStateDir(filepath.Join(j.StateDir, "state")), core.WithCacheMaxBytes(j.CacheMaxBytes),
			core.WithLogger(opts.Logger)}
		if j.MaxTaskIdle != 0 {
			appOpts = append(appOpts, core.WithMaxTaskIdle(j.MaxTaskIdle))
		}
		if j.NumStandbyReplicas != 0 {
			appOpts = append(appOpts, core.WithNumStandbyReplicas(j.NumStandbyReplicas))
		}
		if j.MaxWarmupReplicas != 0 {
			appOpts = append(appOpts, core.WithMaxWarmupReplicas(j.MaxWarmupReplicas))
		}
		if j.ProbingInterval > 0 {
			appOpts = append(appOpts, core.WithProbingRebalanceInterval(j.ProbingInterval))
		}
		if j.AcceptableRecoveryLag >= 0 {
			appOpts = append(appOpts, core.WithAcceptableRecoveryLag(j.AcceptableRecoveryLag))
		}
		if j.BlockCacheBytes != 0 {
			appOpts = append(appOpts, core.WithBlockCacheBytes(j.BlockCacheBytes))
		}
		if j.MemTableBytes != 0 {
			appOpts = append(appOpts, core.WithMemTableBytes(j.MemTableBytes))
		}
		if j.FetchMaxBytes != 0 {
			appOpts = append(appOpts, core.WithFetchMaxBytes(j.FetchMaxBytes))
		}
		if j.MaxPartitionFetchBytes != 0 {
			appOpts = append(appOpts, core.WithMaxPartitionFetchBytes(j.MaxPartitionFetchBytes))
		}
		if j.CommitInterval > 0 {
			appOpts = append(appOpts, core.WithCommitInterval(j.CommitInterval))
		}
		if opts.InstanceID != "" {
			appOpts = append(appOpts, core.WithInstanceID(opts.InstanceID))
		}
		if server := j.applicationServer(opts.HTTPAddr); server != "" {
			appOpts = append(appOpts, core.WithApplicationServer(server))
		}
		if metrics != nil {
			appOpts = append(appOpts, core.WithMetrics(metrics.Engine()))
		}
		if app, err = core.New(topo, appOpts...); err != nil {
			return fmt.Errorf("job %s: %w", j.Name, err)
		}
	}
	var workerMetrics core.Metrics
	if metrics != nil {
		workerMetrics = metrics.Engine()
	}
	w, err := worker.New(worker.Config{Brokers: r.brokers, KafkaOptions: r.kopts, Plugins: opts.Plugins, Guarantee: j.Guarantee, Metrics: workerMetrics,
		OffsetsTopic: j.Name + "-connect-offsets", ConverterDefaults: j.converterDefaults(r.registry),
		Logger: opts.Logger, InstanceID: opts.InstanceID})
	if err != nil {
		return err
	}
	stopWorker := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
		defer cancel()
		return w.Close(sctx)
	}
	var sinks, sources []*worker.Connector
	for _, c := range j.Sinks {
		conn, err := w.StartSink(ctx, c.Config)
		if err != nil {
			return errors.Join(fmt.Errorf("job %s: sink %s: %w", j.Name, c.Name, err), stopWorker())
		}
		sinks = append(sinks, conn)
	}
	appCtx, stopApp := context.WithCancel(context.Background())
	defer stopApp()
	// appEnded is closed when the application's Run returns, with its
	// error in appErr.
	appEnded := make(chan struct{})
	var appErr error
	if app != nil {
		go func() {
			appErr = app.Run(appCtx)
			close(appEnded)
		}()
	}
	for _, c := range j.Sources {
		conn, err := w.StartSource(ctx, c.Config)
		if err != nil {
			stopApp()
			return errors.Join(fmt.Errorf("job %s: source %s: %w", j.Name, c.Name, err), stopWorker())
		}
		sources = append(sources, conn)
	}
	if metrics != nil {
		closeHTTP, err := r.serveHTTP(metrics, app, append(append([]*worker.Connector(nil), sources...), sinks...))
		if err != nil {
			stopApp()
			return errors.Join(err, stopWorker())
		}
		defer closeHTTP()
	}
	if opts.Ready != nil {
		opts.Ready(r.brokers, r.registry)
	}
	fmt.Fprintf(opts.Out, "job %s running: %d source(s), %s, %d sink(s); Kafka %s\n", j.Name, len(sources),
		topologySummary(j), len(sinks), strings.Join(r.brokers, ","))

	// stop ends everything gracefully, in data order: sources first (they
	// commit what they produced), then the topology (it processes and
	// commits what it has), then the sinks.
	stop := func() error {
		var errs []error
		sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
		defer cancel()
		for _, c := range sources {
			errs = append(errs, c.Stop(sctx))
		}
		if app != nil {
			stopApp()
			select {
			case <-appEnded:
			case <-sctx.Done():
				errs = append(errs, fmt.Errorf("job %s: the topology did not stop in time", j.Name))
			}
		}
		errs = append(errs, stopWorker())
		return errors.Join(errs...)
	}
	failed := make(chan error, len(sources)+len(sinks)+1)
	for _, c := range append(append([]*worker.Connector(nil), sources...), sinks...) {
		go func() {
			if err := c.Wait(context.Background()); err != nil {
				failed <- fmt.Errorf("connector %s: %w", c.Name(), err)
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
	progress := &progress{r: r, app: app, sources: sources, sinks: sinks}
	var waiter *doneWaiter
	for {
		select {
		case <-ctx.Done():
			err := stop()
			progress.print(opts.Out)
			return err
		case err := <-failed:
			progress.print(opts.Out)
			return errors.Join(err, stop())
		case <-ifApp(app, appEnded):
			progress.print(opts.Out)
			err := appErr
			if err == nil {
				err = errors.New("the topology stopped")
			}
			return errors.Join(fmt.Errorf("job %s: %w", j.Name, err), stop())
		case <-tick:
			progress.print(opts.Out)
		case <-check.C:
			if !opts.UntilDone {
				continue
			}
			if waiter == nil {
				waiter = &doneWaiter{r: r, app: app, sources: sources, sinks: sinks}
			}
			done, err := waiter.done(ctx)
			if err != nil {
				return errors.Join(err, stop())
			}
			if !done {
				continue
			}
			err = stop()
			progress.print(opts.Out)
			if err != nil {
				return err
			}
			if err := r.summarize(ctx, opts.Out, sources, sinks, app); err != nil {
				return err
			}
			fmt.Fprintf(opts.Out, "job %s done: sources drained, topology and sinks committed everything\n", j.Name)
			return nil
		}
	}
}

func topologySummary(j *Job) string {
	if j.Topology == nil {
		return "no topology"
	}
	return fmt.Sprintf("a topology of %d pipeline(s)", len(j.Topology.Pipelines))
}

// startKafka starts the embedded broker unless the job names a cluster.
func (r *runtime) startKafka(ctx context.Context) error {
	j := r.job
	if len(r.kafka.BootstrapServers) > 0 {
		opts, err := r.kafka.Options()
		if err != nil {
			return fmt.Errorf("job %s: %w", j.Name, err)
		}
		// Fail now, naming the cause, rather than in a retry loop later.
		if err := r.kafka.Check(ctx); err != nil {
			return fmt.Errorf("job %s: %w", j.Name, err)
		}
		r.brokers, r.kopts = r.kafka.BootstrapServers, opts
		return nil
	}
	if p := r.kafka.SecurityProtocol; p != "" && p != kafka.Plaintext {
		return fmt.Errorf("job %s: kafka: security.protocol=%s but no bootstrap.servers: the embedded broker is PLAINTEXT", j.Name, p)
	}
	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(j.StateDir, "kafka"),
		Partitions: j.EmbeddedPartitions, Logger: r.opts.Logger})
	if err != nil {
		return fmt.Errorf("job %s: embedded broker: %w", j.Name, err)
	}
	r.closers = append(r.closers, b.Close)
	r.brokers = b.Addrs()
	r.kopts = []kgo.Opt{kgo.SeedBrokers(r.brokers...)}
	return nil
}

// createTopics creates the declared topics, and the topics the job itself
// writes (its sources' and `to:` steps' destinations) if they are missing,
// with the default partition count: the topology needs its input topics
// to exist when it starts, before the sources produced anything.
// (Explicitly: the embedded broker keeps explicitly created topics across
// a crash.)
func (r *runtime) createTopics(ctx context.Context) error {
	declared := map[string]bool{}
	for _, t := range r.job.Topics {
		declared[t.Name] = true
	}
	var owned []string
	for _, t := range r.job.ownedTopics() {
		if !declared[t] {
			owned = append(owned, t)
		}
	}
	if len(r.job.Topics) == 0 && len(owned) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(r.kopts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, t := range r.job.Topics {
		configs := map[string]*string{}
		for k, v := range t.Config {
			configs[k] = &v
		}
		if err := kafka.EnsureTopics(ctx, adm, t.Partitions, t.ReplicationFactor, configs, t.Name); err != nil {
			return fmt.Errorf("job %s: topic %s: %w", r.job.Name, t.Name, err)
		}
	}
	if len(owned) > 0 {
		if err := kafka.EnsureTopics(ctx, adm, r.job.EmbeddedPartitions, -1, nil, owned...); err != nil {
			return fmt.Errorf("job %s: topics %v: %w", r.job.Name, owned, err)
		}
	}
	return nil
}

// ownedTopics lists the topics the job writes: its sources' destinations
// (topic / kafka.topic settings) and its `to:` steps' topics.
func (j *Job) ownedTopics() []string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, c := range j.Sources {
		for _, k := range []string{"topic", "kafka.topic"} {
			if t, ok := c.Config[k].(string); ok {
				add(t)
			}
		}
	}
	if j.Topology != nil {
		for _, p := range j.Topology.Pipelines {
			for _, s := range p.Steps {
				if s.Op != "to" {
					continue
				}
				if s.Arg.Kind == KindString {
					add(s.Arg.Str)
				} else if t := s.Arg.Get("topic"); t != nil {
					add(t.Str)
				}
			}
		}
	}
	return out
}

// startRegistry starts the embedded registry when the job has no
// external one (it costs a topic and a goroutine; jobs without Avro simply
// never call it).
func (r *runtime) startRegistry(ctx context.Context) error {
	if r.job.RegistryURL != "" {
		r.registry = r.job.RegistryURL
		return nil
	}
	reg, err := registry.New(ctx, registry.WithBrokers(r.brokers...), registry.WithKafkaOptions(r.kopts...), registry.WithLogger(r.opts.Logger))
	if err != nil {
		return fmt.Errorf("job %s: embedded schema registry: %w", r.job.Name, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = reg.Close()
		return err
	}
	go func() { _ = reg.Serve(ln) }()
	r.closers = append(r.closers, func() { _ = reg.Close() })
	r.registry = "http://" + ln.Addr().String()
	return nil
}

// doneWaiter decides when --until-done work is finished.
type doneWaiter struct {
	r       *runtime
	app     *core.App
	sources []*worker.Connector
	sinks   []*worker.Connector

	inputGoal map[string]map[int32]int64 // topology inputs' ends once sources finished
	sinkGoal  map[connectors.TopicPartition]int64
}

func (d *doneWaiter) done(ctx context.Context) (bool, error) {
	for _, c := range d.sources {
		select {
		case <-c.Done():
		default:
			return false, nil
		}
	}
	cl, err := kgo.NewClient(d.r.kopts...)
	if err != nil {
		return false, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if d.app != nil && d.r.job.Topology != nil {
		if d.inputGoal == nil {
			d.inputGoal = map[string]map[int32]int64{}
			ins := d.r.job.inputTopics()
			if len(ins) > 0 {
				ends, err := adm.ListCommittedOffsets(ctx, ins...)
				if err != nil {
					return false, err
				}
				ends.Each(func(o kadm.ListedOffset) {
					if o.Err == nil && o.Offset > 0 {
						if d.inputGoal[o.Topic] == nil {
							d.inputGoal[o.Topic] = map[int32]int64{}
						}
						d.inputGoal[o.Topic][o.Partition] = o.Offset
					}
				})
			}
		}
		committed, err := adm.FetchOffsets(ctx, d.r.job.Name)
		if err != nil {
			return false, nil // the group may not exist yet
		}
		for t, ps := range d.inputGoal {
			for p, end := range ps {
				o, ok := committed.Lookup(t, p)
				if !ok || o.At < end {
					return false, nil
				}
			}
		}
	}
	if d.sinkGoal == nil {
		d.sinkGoal = map[connectors.TopicPartition]int64{}
		var names []string
		for _, c := range d.sinks {
			names = append(names, c.Config().Topics...)
		}
		if len(names) > 0 {
			ends, err := adm.ListCommittedOffsets(ctx, names...)
			if err != nil {
				return false, err
			}
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil && o.Offset > 0 {
					d.sinkGoal[connectors.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
				}
			})
		}
	}
	pos := map[connectors.TopicPartition]int64{}
	for _, c := range d.sinks {
		for tp, off := range c.Positions() {
			pos[tp] = off
		}
	}
	for tp, end := range d.sinkGoal {
		if pos[tp] < end {
			return false, nil
		}
	}
	return true, nil
}

// inputTopics lists the topics the topology reads.
func (j *Job) inputTopics() []string {
	var out []string
	if j.Topology == nil {
		return nil
	}
	for _, in := range j.Topology.Inputs {
		out = append(out, in.Topic)
	}
	return out
}

// progress prints one line per component.
type progress struct {
	r       *runtime
	app     *core.App
	sources []*worker.Connector
	sinks   []*worker.Connector
}

func (p *progress) print(out io.Writer) {
	for _, c := range p.sources {
		st := c.Status()
		var polled, written, errs, dlq int64
		for _, t := range st.Tasks {
			polled, written, errs, dlq = polled+t.Polled, written+t.Written, errs+t.Errors, dlq+t.DeadLettered
		}
		fmt.Fprintf(out, "  source %-24s %-10s polled=%d written=%d errors=%d dead-lettered=%d\n", c.Name(), st.State, polled, written, errs, dlq)
	}
	if p.app != nil {
		s := p.app.Stats()
		fmt.Fprintf(out, "  topology %-22s consumed=%d produced=%d dropped=%d lag=%d commits=%d\n", p.r.job.Name, s.Consumed, s.Produced, s.Dropped, s.Lag, s.Commits)
	}
	for _, c := range p.sinks {
		st := c.Status()
		var read, put, errs, dlq, lag int64
		for _, t := range st.Tasks {
			read, put, errs, dlq, lag = read+t.Polled, put+t.Written, errs+t.Errors, dlq+t.DeadLettered, lag+t.Lag
		}
		fmt.Fprintf(out, "  sink   %-24s %-10s read=%d put=%d errors=%d dead-lettered=%d lag=%d\n", c.Name(), st.State, read, put, errs, dlq, lag)
	}
}

// countRecords counts the committed records of topics (read_committed, to
// their last stable offsets): the audit of a bounded run.
func countRecords(ctx context.Context, kopts []kgo.Opt, topicNames []string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(topicNames) == 0 {
		return out, nil
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, topicNames...)
	if err != nil {
		return nil, err
	}
	want := map[string]map[int32]int64{}
	from := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset <= 0 {
			return
		}
		if want[o.Topic] == nil {
			want[o.Topic], from[o.Topic] = map[int32]int64{}, map[int32]kgo.Offset{}
		}
		want[o.Topic][o.Partition] = o.Offset
		from[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
	})
	for _, t := range topicNames {
		out[t] = 0
	}
	if len(want) == 0 {
		return out, nil
	}
	rc, err := kgo.NewClient(append(slices.Clone(kopts), kgo.ConsumePartitions(from),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	pending := 0
	for _, ps := range want {
		pending += len(ps)
	}
	for pending > 0 {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		fs := rc.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if fs.NumRecords() == 0 {
			return nil, fmt.Errorf("job: reading topics for the summary made no progress")
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Topic][r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				out[r.Topic]++
			}
			if r.Offset+1 >= end {
				delete(want[r.Topic], r.Partition)
				pending--
			}
		})
	}
	return out, nil
}

// summarize audits a finished bounded run: every source's records are in
// its topic, once; the topology committed its inputs; every sink took
// every record of its topics. It prints one line per check and returns an
// error if one fails.
func (r *runtime) summarize(ctx context.Context, out io.Writer, sources, sinks []*worker.Connector, app *core.App) error {
	j := r.job
	topicSet := map[string]bool{}
	srcTopic := map[*worker.Connector]string{}
	writers := map[string]int{}
	for i, c := range sources {
		for _, k := range []string{"topic", "kafka.topic"} {
			if t, ok := j.Sources[i].Config[k].(string); ok && t != "" {
				srcTopic[c], topicSet[t] = t, true
				writers[t]++
			}
		}
	}
	for _, c := range sinks {
		for _, t := range c.Config().Topics {
			topicSet[t] = true
		}
	}
	var names []string
	for t := range topicSet {
		names = append(names, t)
	}
	counts, err := countRecords(ctx, r.kopts, names)
	if err != nil {
		return err
	}
	var failed []string
	check := func(ok bool, format string, args ...any) {
		mark := "ok"
		if !ok && r.resumed {
			mark = "resumed" // earlier runs did part of the work
		} else if !ok {
			mark = "MISMATCH"
			failed = append(failed, fmt.Sprintf(format, args...))
		}
		fmt.Fprintf(out, "  %-8s "+format+"\n", append([]any{mark}, args...)...)
	}
	fmt.Fprintf(out, "summary of job %s:\n", j.Name)
	if r.resumed {
		fmt.Fprintf(out, "  (resumed from %s: counters cover this run only)\n", j.StateDir)
	}
	for _, c := range sources {
		var written, dlq int64
		for _, t := range c.Status().Tasks {
			written, dlq = written+t.Written, dlq+t.DeadLettered
		}
		t := srcTopic[c]
		if t == "" || writers[t] > 1 {
			fmt.Fprintf(out, "  %-8s source %s wrote %d records\n", "", c.Name(), written)
			continue
		}
		check(counts[t] == written, "source %s: %d records written, topic %s holds %d (read_committed)", c.Name(), written, t, counts[t])
	}
	if app != nil {
		s := app.Stats()
		fmt.Fprintf(out, "  %-8s topology %s: consumed %d, produced %d, dropped %d, %d commits; its committed offsets reached the end of %s\n",
			"ok", j.Name, s.Consumed, s.Produced, s.Dropped, s.Commits, strings.Join(j.inputTopics(), ", "))
	}
	for _, c := range sinks {
		var put, dlq int64
		for _, t := range c.Status().Tasks {
			put, dlq = put+t.Written, dlq+t.DeadLettered
		}
		var in int64
		for _, t := range c.Config().Topics {
			in += counts[t]
		}
		check(put+dlq == in, "sink %s: took %d records (%d dead-lettered) of the %d in %s", c.Name(), put, dlq, in, strings.Join(c.Config().Topics, ", "))
	}
	if len(failed) > 0 {
		return fmt.Errorf("job %s: the summary found mismatches: %s", j.Name, strings.Join(failed, "; "))
	}
	return nil
}

// ifApp is the application's end channel, or nil (never ready) without one.
func ifApp(app *core.App, ended chan struct{}) chan struct{} {
	if app == nil {
		return nil
	}
	return ended
}

// serveHTTP serves metrics and probes on RunOptions.HTTPAddr for the
// application (nil: none) and the connectors.
func (r *runtime) serveHTTP(m *observe.Metrics, app *core.App, conns []*worker.Connector) (func(), error) {
	statuses := observe.Statuses(conns)
	checks := observe.Checks{Live: []observe.Probe{observe.ConnectorsLive(statuses)}, Ready: []observe.Probe{observe.ConnectorsReady(statuses)}}
	if app != nil {
		if err := m.WatchApp(r.job.Name, app); err != nil {
			return nil, err
		}
		checks.Live = append(checks.Live, observe.AppLive(app))
		checks.Ready = append(checks.Ready, observe.AppReady(app))
	}
	if err := m.WatchConnectors(statuses); err != nil {
		return nil, err
	}
	var h http.Handler = observe.Handler(m, checks)
	served := "/metrics, /healthz, /readyz"
	if app != nil && len(r.job.queries) > 0 {
		queries, err := core.QueryHandler(app, r.job.queries...)
		if err != nil {
			return nil, fmt.Errorf("job %s: interactive queries: %w", r.job.Name, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/", h)
		mux.Handle("/stores", queries)
		mux.Handle("/stores/", queries)
		h = mux
		served += ", /stores/{store}"
	}
	addr, stop, err := observe.Serve(r.opts.HTTPAddr, h)
	if err != nil {
		return nil, fmt.Errorf("job %s: --http: %w", r.job.Name, err)
	}
	fmt.Fprintf(r.opts.Out, "job %s: metrics, health and queries on http://%s (%s)\n", r.job.Name, addr, served)
	return stop, nil
}

// applicationServer is where other instances reach this one's queries:
// the job's application.server, else the --http address when it names a
// host and a port (not a wildcard or port 0, which others cannot dial).
func (j *Job) applicationServer(httpAddr string) string {
	if j.ApplicationServer != "" {
		return j.ApplicationServer
	}
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil || port == "0" || port == "" {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return ""
	}
	return httpAddr
}
