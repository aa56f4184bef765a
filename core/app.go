package core

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/memstate"
	"github.com/sluicehq/sluice/internal/pebblestate"
	"github.com/sluicehq/sluice/state"
)

// App runs a topology against a Kafka cluster: the equivalent of Kafka
// Streams' KafkaStreams. Several instances (processes) with the same
// application id share the work through the consumer group.
type App struct {
	topo *Topology
	cfg  *config

	subs                []*subtopology
	topicSub            map[string]int // cluster topic -> sub-topology
	clusterSourceTopics []string
	balancer            *taskBalancer
	// process identifies this instance in the group (all its threads).
	process processID
	// threadTasks holds each stream thread's published tasks
	// (MetadataForLocalThreads).
	threadTasks []atomic.Pointer[threadTasks]

	stats   stats
	running atomic.Bool
	state   appState

	countsMu sync.Mutex
	counts   map[string]int32
	admin    *kadm.Client

	// blockCache is shared by every Pebble DB of this instance (tasks and
	// global stores), sized by WithBlockCacheBytes.
	blockCache *pebble.Cache
	// queryable holds the local stores for interactive queries.
	queryable storeRegistry
	// globals are the read-only views of the global stores (set before the
	// threads start).
	globals map[string]state.ReadOnlyKeyValueStore
	// dirs tracks the open task state directories and removes those of
	// tasks that moved away.
	dirs *stateDirs
	// standbys runs the standby tasks and knows the local task states
	// (standby.go); nil for a topology without changelogged stores. Set
	// in run before the threads start.
	standbys *standbyRunner
	// simulateCrash makes every stream thread stop at once as on a crash
	// (no final commit, a static member stays in the group): tests only.
	simulateCrash atomic.Bool
}

// openEngine opens a task's state engine: Pebble under
// <state dir>/<application id>/<task>, or in memory.
func (a *App) openEngine(id TaskID, inMemory bool) (state.Engine, error) {
	if inMemory {
		return memstate.New(), nil
	}
	return a.openEngineAt(filepath.Join(a.cfg.stateDir, a.cfg.appID, id.String()))
}

func (a *App) openEngineAt(dir string) (state.Engine, error) {
	return a.dirs.openEngine(dir, func(dir string) (state.Engine, error) {
		return pebblestate.Open(dir, pebblestate.WithCache(a.blockCache), pebblestate.WithMemTableSize(uint64(a.cfg.memTableBytes)))
	})
}

// New validates the configuration and prepares topo to run. The topology
// must not be modified afterwards.
func New(topo *Topology, opts ...Option) (*App, error) {
	if topo == nil || len(topo.nodes) == 0 {
		return nil, errors.New("core: empty topology")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if len(cfg.brokers) == 0 {
		return nil, errors.New("core: WithBrokers is required")
	}
	topo.sealed = true
	a := &App{topo: topo, cfg: cfg, subs: topo.subtopologies(), topicSub: map[string]int{}, counts: map[string]int32{}}
	for _, st := range a.subs {
		for _, topic := range st.sourceTopics {
			ct := a.resolveTopic(topic)
			a.topicSub[ct] = st.id
			a.clusterSourceTopics = append(a.clusterSourceTopics, ct)
		}
	}
	sort.Strings(a.clusterSourceTopics)
	if _, err := rand.Read(a.process[:]); err != nil {
		return nil, fmt.Errorf("core: process id: %w", err)
	}
	a.balancer = newTaskBalancer(a.topicSub, subscriptionInfo{version: groupInfoVersion, latestVersion: groupInfoVersion,
		process: a.process, server: cfg.applicationServer}, cfg.log)
	a.balancer.changelogs = changelogTopics(topo, a.subs, cfg.appID)
	a.balancer.standbys = cfg.numStandbyReplicas
	a.balancer.acceptableLag = cfg.acceptableRecoveryLag
	a.balancer.maxWarmups = cfg.maxWarmupReplicas
	a.balancer.probingInterval = cfg.probingInterval
	a.balancer.offsetSums = a.taskOffsetSums
	a.balancer.changelogEnds = a.changelogEnds
	a.dirs = newStateDirs(filepath.Join(cfg.stateDir, cfg.appID), cfg.stateCleanupDelay, cfg.log)
	a.state.listener = cfg.stateListener
	a.state.threads = make([]atomic.Int32, cfg.threads)
	a.threadTasks = make([]atomic.Pointer[threadTasks], cfg.threads)
	a.state.fatalCh = make(chan struct{})
	return a, nil
}

// changelogTopics lists the changelog topics of each sub-topology with
// changelogged stores: its tasks are the stateful ones that standby
// replicas and state-aware placement apply to.
func changelogTopics(topo *Topology, subs []*subtopology, appID string) map[int][]string {
	out := map[int][]string{}
	for _, st := range subs {
		for _, name := range st.stores {
			if spec := topo.stores[name]; spec != nil && !spec.DisableLogging {
				out[st.id] = append(out[st.id], ChangelogTopic(appID, name))
			}
		}
		sort.Strings(out[st.id])
		if len(out[st.id]) == 0 {
			delete(out, st.id)
		}
	}
	return out
}

// resolveTopic maps an in-topology topic name to the cluster topic:
// repartition topics get the application id prefix.
func (a *App) resolveTopic(topic string) string {
	return resolveTopic(a.topo, a.cfg.appID, topic)
}

func resolveTopic(topo *Topology, appID, topic string) string {
	if _, ok := topo.repartition[topic]; ok {
		return appID + "-" + topic
	}
	return topic
}

// Stats returns a snapshot of the application's counters.
func (a *App) Stats() Stats { return a.stats.snapshot() }

// Topology returns the topology the application runs.
func (a *App) Topology() *Topology { return a.topo }

// Run starts the stream threads and blocks until ctx is cancelled (a
// graceful shutdown: in-flight work is finished and committed, tasks are
// closed and the group is left; Run then returns nil) or until an
// unhandled error stops the application (Run returns it, naming the
// record's topic, partition and offset; nothing past it was committed).
func (a *App) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("core: App.Run called twice")
	}
	a.state.set(StateRebalancing)
	err := a.run(ctx)
	if err != nil {
		a.state.set(StateError)
	} else {
		a.state.set(StatePendingShutdown) // when Run returned before its threads started
		a.state.set(StateNotRunning)
	}
	return err
}

func (a *App) run(ctx context.Context) error {
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, a.cfg.kgoOpts...), kgo.SeedBrokers(a.cfg.brokers...))...)
	if err != nil {
		return fmt.Errorf("core: admin client: %w", err)
	}
	defer cl.Close()
	a.admin = kadm.NewClient(cl)
	a.blockCache = pebble.NewCache(a.cfg.blockCacheBytes)
	defer a.blockCache.Unref()
	if err := a.prepareTopics(ctx); err != nil {
		return err
	}
	global, err := a.startGlobal(ctx)
	if err != nil {
		return err
	}
	if global != nil {
		a.globals = global.views
		defer global.close()
	}
	if len(a.balancer.changelogs) > 0 {
		a.standbys = newStandbyRunner(a)
		a.standbys.scanLocalState()
	}
	threads := make([]*thread, a.cfg.threads)
	for i := range threads {
		if threads[i], err = newThread(a, i); err != nil {
			for _, t := range threads[:i] {
				t.cl.Close()
			}
			return err
		}
	}
	a.cfg.log.Info("sluice: application starting", "application.id", a.cfg.appID,
		"guarantee", a.cfg.guarantee, "threads", a.cfg.threads, "source_topics", a.clusterSourceTopics)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-runCtx.Done() // stopping: asked to, or a thread failed
		a.state.set(StatePendingShutdown)
	}()
	if a.cfg.stateCleanupDelay > 0 {
		stop := make(chan struct{})
		cleanerDone := make(chan struct{})
		defer func() {
			close(stop)
			<-cleanerDone
		}()
		go func() {
			defer close(cleanerDone)
			a.dirs.run(stop)
		}()
	}
	if a.standbys != nil {
		standbyDone := make(chan struct{})
		defer func() {
			cancel()
			<-standbyDone
		}()
		go func() {
			defer close(standbyDone)
			a.standbys.run(runCtx)
		}()
	}
	if global != nil {
		globalDone := make(chan struct{})
		defer func() {
			cancel()
			<-globalDone
		}()
		go func() {
			defer close(globalDone)
			if err := global.run(runCtx); err != nil {
				a.state.fail(err)
			}
		}()
	}
	errs := make(chan error, len(threads))
	for i, t := range threads {
		go func() {
			for {
				err := t.run(runCtx)
				if err != nil && isFenced(err) && runCtx.Err() == nil && a.state.fatal() == nil {
					// Another producer fenced this one (a zombie after a long
					// pause, or an instance id used twice): rejoin as a new
					// member; uncommitted work is re-processed.
					a.cfg.log.Warn("sluice: producer fenced; restarting the stream thread", "thread", t.name, "err", err)
					if t, err = newThread(a, i); err == nil {
						continue
					}
				}
				if err != nil {
					a.state.fail(err)
				}
				errs <- err
				return
			}
		}()
	}
	var first error
	for range threads {
		select {
		case err := <-errs:
			if err != nil && first == nil {
				first = err
				cancel() // stop the other threads
			}
		case <-a.state.failed():
			cancel()
			err := <-errs
			if first == nil {
				first = a.state.fatal()
				if first == nil {
					first = err
				}
			}
		}
	}
	if first == nil {
		first = a.state.fatal()
	}
	a.cfg.log.Info("sluice: application stopped", "application.id", a.cfg.appID, "err", first)
	return first
}

// prepareTopics checks that the source topics exist and creates the
// internal repartition topics, each with the partition count of the
// largest source topic of the sub-topology that writes it, unless set.
func (a *App) prepareTopics(ctx context.Context) error {
	var user []string
	for _, topic := range a.topo.SourceTopics() {
		if _, internal := a.topo.repartition[topic]; !internal {
			user = append(user, topic)
		}
	}
	for _, g := range a.topo.globals {
		user = append(user, g.topic)
	}
	counts, err := a.describe(ctx, user)
	if err != nil {
		return err
	}
	var missing []string
	for _, topic := range user {
		if _, ok := counts[topic]; !ok {
			missing = append(missing, topic)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("core: source topic(s) %s do not exist on the cluster; create them before starting application %q",
			strings.Join(missing, ", "), a.cfg.appID)
	}
	// Resolve repartition partition counts in dependency order.
	want := map[string]int32{}
	for name, rt := range a.topo.repartition {
		if rt.Partitions > 0 {
			want[name] = rt.Partitions
		}
	}
	for changed := true; changed; {
		changed = false
		for _, st := range a.subs {
			for _, sink := range st.sinkTopics {
				if _, internal := a.topo.repartition[sink]; !internal || want[sink] > 0 {
					continue
				}
				var n int32
				known := true
				for _, src := range st.sourceTopics {
					c, ok := counts[src]
					if _, internal := a.topo.repartition[src]; internal {
						c, ok = want[src]
					}
					if !ok || c == 0 {
						known = false
						break
					}
					n = max(n, c)
				}
				if known {
					want[sink] = n
					changed = true
				}
			}
		}
	}
	// Co-partitioning (core/copartition.go): joined inputs must have equal
	// partition counts; a group's repartition topics are sized to match.
	if err := a.enforceCopartitioning(counts, want); err != nil {
		return err
	}
	for name := range a.topo.repartition {
		n := want[name]
		if n == 0 {
			return fmt.Errorf("core: cannot derive the partition count of repartition topic %q; set it explicitly", name)
		}
		topic := a.resolveTopic(name)
		resp, err := a.admin.CreateTopic(ctx, n, a.cfg.replicationFactor, map[string]*string{
			"cleanup.policy": ptr("delete"),
			"retention.ms":   ptr("-1"),
		}, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("core: create repartition topic %q: %w", topic, err)
		}
		a.countsMu.Lock()
		a.counts[topic] = n
		a.countsMu.Unlock()
	}
	return a.prepareChangelogs(ctx, counts, want)
}

// prepareChangelogs creates each logged store's changelog topic with one
// partition per task of the store's sub-topology: compacted for key-value
// stores; compacted and deleted after the retention plus one day for
// window and session stores (Kafka Streams' defaults). An existing
// changelog with fewer partitions than tasks is an error.
func (a *App) prepareChangelogs(ctx context.Context, counts, repartitions map[string]int32) error {
	for _, st := range a.subs {
		var tasks int32
		for _, src := range st.sourceTopics {
			n := counts[src]
			if _, internal := a.topo.repartition[src]; internal {
				n = repartitions[src]
			}
			tasks = max(tasks, n)
		}
		for _, name := range st.stores {
			spec := a.topo.stores[name]
			if spec.DisableLogging {
				continue
			}
			topic := ChangelogTopic(a.cfg.appID, name)
			configs := map[string]*string{"cleanup.policy": ptr("compact")}
			switch spec.Kind {
			case KeyValueStoreKind:
			case VersionedKeyValueStoreKind:
				// Kafka Streams' versioned changelog: compacted, but
				// not before the history retention (plus a day) passed,
				// so every version still queryable is in the log.
				configs["min.compaction.lag.ms"] = ptr(strconv.FormatInt((spec.Retention + changelogAdditionalRetention).Milliseconds(), 10))
			default:
				configs["cleanup.policy"] = ptr("compact,delete")
				configs["retention.ms"] = ptr(strconv.FormatInt((spec.Retention + changelogAdditionalRetention).Milliseconds(), 10))
			}
			for k, v := range spec.ChangelogConfigs {
				configs[k] = ptr(v)
			}
			resp, err := a.admin.CreateTopic(ctx, tasks, a.cfg.replicationFactor, configs, topic)
			if err == nil {
				err = resp.Err
			}
			switch {
			case errors.Is(err, kerr.TopicAlreadyExists):
				have, derr := a.describe(ctx, []string{topic})
				if derr != nil {
					return derr
				}
				if have[topic] < tasks {
					return fmt.Errorf("core: changelog topic %q has %d partitions but store %q has %d tasks; delete the topic (and the local state) or restore the input partition count",
						topic, have[topic], name, tasks)
				}
			case err != nil:
				return fmt.Errorf("core: create changelog topic %q: %w", topic, err)
			default:
				a.countsMu.Lock()
				a.counts[topic] = tasks
				a.countsMu.Unlock()
			}
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func (a *App) describe(ctx context.Context, topics []string) (map[string]int32, error) {
	out := map[string]int32{}
	if len(topics) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	td, err := a.admin.ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("core: describe topics %v: %w", topics, err)
	}
	for _, d := range td {
		if d.Err == nil {
			out[d.Topic] = int32(len(d.Partitions))
		}
	}
	a.countsMu.Lock()
	for t, n := range out {
		a.counts[t] = n
	}
	a.countsMu.Unlock()
	return out, nil
}

// partitionCount returns a topic's partition count, cached.
func (a *App) partitionCount(topic string) (int32, error) {
	a.countsMu.Lock()
	n, ok := a.counts[topic]
	a.countsMu.Unlock()
	if ok {
		return n, nil
	}
	counts, err := a.describe(context.Background(), []string{topic})
	if err != nil {
		return 0, err
	}
	if n, ok := counts[topic]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("core: topic %q does not exist", topic)
}
