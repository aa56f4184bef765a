package core

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/pebblestate"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

// countTopology counts the records of each key of "in" in the logged
// key-value store "counts" (uncached: every update is logged) and writes
// each new count to "out".
func countTopology(t testing.TB) *Topology {
	t.Helper()
	topo := NewTopology()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(AddSource(topo, "src", serde.String(), serde.String(), []string{"in"}))
	must(AddProcessor(topo, "count", ProcessorFunc[string, string, string, string](
		func(ctx ProcessorContext[string, string], r Record[string, string]) error {
			s, err := ctx.StateStore("counts")
			if err != nil {
				return err
			}
			kv := s.(state.KeyValueStore)
			old, err := kv.Get([]byte(r.Key))
			if err != nil {
				return err
			}
			n := int64(0)
			if old != nil {
				n, _ = strconv.ParseInt(string(old), 10, 64)
			}
			v := strconv.FormatInt(n+1, 10)
			if err := kv.Put([]byte(r.Key), []byte(v)); err != nil {
				return err
			}
			return ctx.Forward(Record[string, string]{Key: r.Key, Value: v, Timestamp: r.Timestamp})
		}).Supplier(), "src"))
	must(topo.AddStateStore(StoreSpec{Name: "counts", Kind: KeyValueStoreKind}, "count"))
	must(AddSink(topo, "sink", serde.String(), serde.String(), ToTopic[string, string]("out"), []string{"count"}))
	return topo
}

// standbyInstance is one instance of the counting application.
type standbyInstance struct {
	app      *App
	server   string
	restores *restoreRecorder
	cancel   context.CancelFunc
	done     chan struct{} // closed when Run returned
	err      error         // Run's result, once done
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// standbyOptions configures instance i of the counting application: exactly
// once, a static member (instance id sby-<i>) with a 6 s session timeout,
// so that an instance that crashes keeps its tasks until the timeout as
// after a SIGKILL. The in-process instances (startStandbyInstance) and the
// child processes of the SIGKILL tests (TestSigkillHelper) share it.
func standbyOptions(t testing.TB, brokerAddr string, i int, stateDir string, restores RestoreListener) []Option {
	return []Option{WithBrokers(brokerAddr), WithApplicationID("sby"), WithStateDir(stateDir),
		WithProcessingGuarantee(ExactlyOnceV2), WithRestoreListener(restores), WithLogger(testLogger(t)),
		WithApplicationServer(standbyServer(i)), WithInstanceID(fmt.Sprintf("sby-%d", i)), WithSessionTimeout(6 * time.Second),
		WithKafkaOptions(kgo.HeartbeatInterval(100 * time.Millisecond))}
}

// standbyServer is the application server instance i advertises.
func standbyServer(i int) string { return fmt.Sprintf("127.0.0.1:%d", 7001+i) }

func startStandbyInstance(t testing.TB, b *testbroker.Broker, i int, opts ...Option) *standbyInstance {
	t.Helper()
	in := &standbyInstance{server: standbyServer(i), restores: newRestoreRecorder(), done: make(chan struct{})}
	all := append(standbyOptions(t, b.Addr(), i, t.TempDir(), in.restores), opts...)
	app, err := New(countTopology(t), all...)
	if err != nil {
		t.Fatal(err)
	}
	in.app = app
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go func() {
		defer close(in.done)
		in.err = app.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-in.done
	})
	return in
}

// countInputs feeds the counting application: each round is one record
// per key on "in"; total keeps how many each key got.
type countInputs struct {
	b     *testbroker.Broker
	keys  int
	total map[string]int
}

func newCountInputs(b *testbroker.Broker, keys int) *countInputs {
	return &countInputs{b: b, keys: keys, total: map[string]int{}}
}

func (c *countInputs) produce(t testing.TB, rounds int) {
	t.Helper()
	var recs []*kgo.Record
	for r := range rounds {
		for k := range c.keys {
			key := fmt.Sprintf("key-%03d", k)
			c.total[key]++
			recs = append(recs, &kgo.Record{Topic: "in", Key: []byte(key), Value: []byte(strconv.Itoa(r))})
		}
	}
	c.b.Produce(t, recs...)
}

// counted reports whether "out" holds one output per input produced.
func (c *countInputs) counted(t testing.TB) bool {
	n := 0
	for _, k := range c.total {
		n += k
	}
	return len(c.b.ReadAll(t, "out")) == n
}

// checkOnce asserts exactly-once output: per key, the counts in "out" are
// 1..n in order, n the key's inputs.
func (c *countInputs) checkOnce(t testing.TB) {
	t.Helper()
	seen := map[string][]string{}
	for _, r := range c.b.ReadAll(t, "out") {
		seen[string(r.Key)] = append(seen[string(r.Key)], string(r.Value))
	}
	for key, n := range c.total {
		got := seen[key]
		ok := len(got) == n
		for i := 0; ok && i < n; i++ {
			ok = got[i] == strconv.Itoa(i+1)
		}
		if !ok {
			t.Errorf("key %s: counts %v, want 1..%d", key, got, n)
		}
	}
}

// awaitStandbyMap waits for a stable task map of the three instances:
// every instance known, every task active on one instance and standby on
// another; it returns that map.
func awaitStandbyMap(t *testing.T, ins []*standbyInstance, tasks []TaskID) *assignmentInfo {
	t.Helper()
	var info *assignmentInfo
	testwait.Until(t, "a task map with an active and a standby for every task on three instances", time.Minute, func() bool {
		info = ins[0].app.balancer.latest.Load()
		if info == nil || len(info.hosts) != 3 {
			return false
		}
		for _, id := range tasks {
			if a, s := taskHolders(ins, info, id); a < 0 || len(s) != 1 || s[0] == a {
				return false
			}
		}
		return true
	})
	return info
}

// taskHolders returns the instances (indexes into ins) that the latest task
// map names as active and as standbys of task id.
func taskHolders(ins []*standbyInstance, info *assignmentInfo, id TaskID) (active int, standbys []int) {
	active = -1
	for _, h := range info.hosts {
		for i, in := range ins {
			if h.process != in.app.process {
				continue
			}
			if containsTask(h.active, id) {
				active = i
			}
			if containsTask(h.standby, id) {
				standbys = append(standbys, i)
			}
		}
	}
	return active, standbys
}

// standbyState returns the changelog position (summed) of the instance's
// standby task id, and reads key from the standby's store.
func (in *standbyInstance) standbyState(id TaskID, key string) (pos int64, value string, ok bool) {
	r := in.app.standbys
	if r == nil {
		return 0, "", false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	tk := r.tasks[id]
	if tk == nil {
		return 0, "", false
	}
	for _, cl := range tk.state.changelogs {
		pos += cl.restorePos
	}
	if key != "" {
		v, err := tk.state.stores["counts"].(state.KeyValueStore).Get([]byte(key))
		if err != nil {
			return 0, "", false
		}
		value = string(v)
	}
	return pos, value, true
}

// TestStandbyReplicasFailover: three instances of an exactly-once counting
// application with one standby replica. (a) every stateful task has a
// standby on an instance other than its active's, and the standby stores
// catch up with the changelogs (same positions, same counts);
// QueryMetadataForKey names the standby's host. (b) After one instance
// crashes (no final commit, its static membership left to time out), its
// tasks resume on the instances that held their standbys, the restore
// listener there shows only a short tail restored (far less than the
// changelog), and the output stays exactly-once: every key's counts are
// 1, 2, ..., n, without a gap or a repeat, with n its number of inputs.
func TestStandbyReplicasFailover(t *testing.T) {
	const (
		partitions = 6
		keys       = 120
	)
	perKey := 40
	if testing.Short() {
		perKey = 10
	}
	b := testbroker.New(t)
	b.CreateTopic(t, "in", partitions, nil)
	b.CreateTopic(t, "out", partitions, nil)
	var ins []*standbyInstance
	for i := range 3 {
		ins = append(ins, startStandbyInstance(t, b, i, WithNumStandbyReplicas(1), WithAcceptableRecoveryLag(50)))
	}
	tasks := make([]TaskID, partitions)
	for p := range tasks {
		tasks[p] = TaskID{Subtopology: 0, Partition: int32(p)}
	}
	info := awaitStandbyMap(t, ins, tasks)

	inputs := newCountInputs(b, keys)
	inputs.produce(t, perKey)
	testwait.Until(t, "every input counted", time.Minute, func() bool { return inputs.counted(t) })

	// (a) The standbys catch up with the changelogs and hold the counts.
	adm := kadm.NewClient(b.Client(t))
	changelog := ChangelogTopic("sby", "counts")
	ends := func() map[int32]int64 {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		lso, err := adm.ListCommittedOffsets(ctx, changelog)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int32]int64{}
		lso.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
		return out
	}
	partitionOf := map[string]int32{}
	for _, r := range b.ReadAll(t, "in") {
		partitionOf[string(r.Key)] = r.Partition
	}
	info = ins[0].app.balancer.latest.Load()
	standbyHolder := map[TaskID]int{}
	activeHolder := map[TaskID]int{}
	testwait.Until(t, "standby stores at the changelog end with the right counts", time.Minute, func() bool {
		end := ends()
		for _, id := range tasks {
			a, s := taskHolders(ins, info, id)
			activeHolder[id], standbyHolder[id] = a, s[0]
			pos, _, ok := ins[s[0]].standbyState(id, "")
			if !ok || pos != end[id.Partition] {
				return false
			}
		}
		for key, n := range inputs.total {
			id := TaskID{Subtopology: 0, Partition: partitionOf[key]}
			_, v, ok := ins[standbyHolder[id]].standbyState(id, key)
			if !ok || v != strconv.Itoa(n) {
				return false
			}
		}
		return true
	})
	changelogEnd := ends()

	// (c) Key metadata names the standby's host.
	for _, key := range []string{"key-000", "key-001", "key-002", "key-003"} {
		md, err := ins[1].app.QueryMetadataForKey("counts", []byte(key))
		if err != nil {
			t.Fatalf("QueryMetadataForKey(%s): %v", key, err)
		}
		id := TaskID{Subtopology: 0, Partition: md.Partition}
		if md.Partition != partitionOf[key] {
			t.Errorf("QueryMetadataForKey(%s).Partition = %d, want %d", key, md.Partition, partitionOf[key])
		}
		wantHost := ins[standbyHolder[id]].server
		if len(md.StandbyHosts) != 1 || md.StandbyHosts[0].String() != wantHost {
			t.Errorf("QueryMetadataForKey(%s).StandbyHosts = %v, want [%s]", key, md.StandbyHosts, wantHost)
		}
		if md.ActiveHost.String() != ins[activeHolder[id]].server {
			t.Errorf("QueryMetadataForKey(%s).ActiveHost = %v, want %s", key, md.ActiveHost, ins[activeHolder[id]].server)
		}
	}

	// (b) Crash the instance running task 0_0; input keeps coming.
	victim := activeHolder[tasks[0]]
	var moved []TaskID
	for _, id := range tasks {
		if activeHolder[id] == victim {
			moved = append(moved, id)
		}
	}
	ins[victim].app.simulateCrash.Store(true)
	<-ins[victim].done
	inputs.produce(t, perKey/2)
	testwait.Until(t, "every input counted after the failover", 2*time.Minute, func() bool { return inputs.counted(t) })

	after := ins[(victim+1)%3].app.balancer.latest.Load()
	for _, id := range moved {
		a, _ := taskHolders(ins, after, id)
		if a != standbyHolder[id] {
			t.Errorf("task %s resumed on instance %d, want %d (its standby's)", id, a, standbyHolder[id])
			continue
		}
		rec := ins[a].restores
		rec.mu.Lock()
		rng, restored := rec.ranges[id.Partition], rec.restored[id.Partition]
		rec.mu.Unlock()
		tail := rng[1] - rng[0]
		t.Logf("task %s: changelog end %d before the crash; restored offsets [%d, %d), %d records", id, changelogEnd[id.Partition], rng[0], rng[1], restored)
		if rng[1] > 0 && rng[0] == 0 {
			t.Errorf("task %s restored from the changelog start [%d, %d), want from the standby's checkpoint", id, rng[0], rng[1])
		}
		if limit := changelogEnd[id.Partition] / 10; tail > limit || restored > limit {
			t.Errorf("task %s restored offsets [%d, %d) (%d records) on its standby's instance, want a tail below %d (changelog end %d)",
				id, rng[0], rng[1], restored, limit, changelogEnd[id.Partition])
		}
	}

	inputs.checkOnce(t)
}

// A standby's stores are released to an active task of the same instance
// before it opens them, and a closed active task's state is remembered
// for the offset sums.
func TestStandbyRunnerClaims(t *testing.T) {
	a := &App{cfg: &config{stateDir: t.TempDir(), appID: "x"}}
	r := &standbyRunner{app: a, tasks: map[TaskID]*task{}, byKey: map[string]*changelog{}, claimed: map[TaskID]int{},
		retryAt: map[TaskID]time.Time{}, onDisk: map[TaskID]int64{}}
	id := TaskID{Subtopology: 0, Partition: 3}
	r.release(id)
	if r.claimed[id] != 1 {
		t.Fatalf("claimed = %d, want 1", r.claimed[id])
	}
	if err := os.MkdirAll(a.cfg.stateDir+"/x/"+id.String(), 0o755); err != nil {
		t.Fatal(err)
	}
	r.unclaim(id, 42, true)
	if _, ok := r.claimed[id]; ok {
		t.Fatalf("still claimed after unclaim")
	}
	sums := map[TaskID]int64{}
	r.offsetSums(sums)
	if sums[id] != 42 {
		t.Fatalf("offset sum = %d, want 42", sums[id])
	}
}

// placeStateful moves a task that needs a new owner to a caught-up
// instance, never moves a task that keeps its owner, and puts each
// standby on another instance than the active's, caught-up ones first.
func TestPlaceStateful(t *testing.T) {
	b := &taskBalancer{names: map[int]string{0: "v0"}, virtual: map[string]int{"v0": 0},
		changelogs: map[int][]string{0: {"cl"}}, standbys: 1, acceptableLag: 10, log: testLogger(t),
		changelogEnds: func([]string) map[string]map[int32]int64 {
			return map[string]map[int32]int64{"cl": {0: 100, 1: 100, 2: 100}}
		}}
	procA, procB, procC := processID{1}, processID{2}, processID{3}
	t00, t01, t02 := TaskID{0, 0}, TaskID{0, 1}, TaskID{0, 2}
	mb := &taskMemberBalancer{b: b,
		members: []kmsg.JoinGroupResponseMember{{MemberID: "a"}, {MemberID: "b"}, {MemberID: "c"}},
		subs: []*subscriptionInfo{
			{process: procA, offsetSums: []taskOffsetSum{{t01, activeOffsetSum}}},
			{process: procB, offsetSums: []taskOffsetSum{{t00, 95}, {t01, 100}}},
			{process: procC},
		},
		owned: map[TaskID]bool{t01: true},
	}
	hosts := map[processID]*hostAssignment{procA: {process: procA}, procB: {process: procB}, procC: {process: procC}}
	plan := mb.placeStateful(map[string]map[string][]int32{"a": {"v0": {0, 1}}, "b": {}, "c": {"v0": {2}}},
		map[string]int32{"v0": 3}, hosts)
	if got := plan["b"]["v0"]; len(got) != 1 || got[0] != 0 {
		t.Errorf("member b got %v, want [0] (task 0_0 moved to its caught-up instance)", got)
	}
	if got := plan["a"]["v0"]; len(got) != 1 || got[0] != 1 {
		t.Errorf("member a got %v, want [1] (its owned task stays)", got)
	}
	if got := plan["c"]["v0"]; len(got) != 1 || got[0] != 2 {
		t.Errorf("member c got %v, want [2] (no caught-up instance elsewhere)", got)
	}
	activeOf := map[TaskID]processID{t00: procB, t01: procA, t02: procC}
	count := map[TaskID]int{}
	for p, h := range hosts {
		for _, id := range h.standby {
			count[id]++
			if activeOf[id] == p {
				t.Errorf("standby of %s on its active's instance %s", id, p)
			}
		}
	}
	for _, id := range []TaskID{t00, t01, t02} {
		if count[id] != 1 {
			t.Errorf("task %s has %d standbys, want 1", id, count[id])
		}
	}
	if !containsTask(hosts[procB].standby, t01) {
		t.Errorf("standby of 0_1 not on the caught-up instance B: %+v", hosts)
	}
}

// A task kept from the balancer's choice schedules the probing rebalance
// that moves it later even when no warm-up replica is added for it: the
// chosen instance holds the task's standby already, which warms it up.
func TestPlaceWarmupsProbesWithStandby(t *testing.T) {
	b := &taskBalancer{maxWarmups: 2, probingInterval: time.Minute, log: testLogger(t)}
	procB := processID{2}
	t00 := TaskID{0, 0}
	hosts := map[processID]*hostAssignment{procB: {process: procB, standby: []TaskID{t00}}}
	b.placeWarmups([]warmup{{t00, procB}}, hosts)
	if got := hosts[procB].standby; len(got) != 1 {
		t.Errorf("standbys of B %v, want only [0_0] (its standby is the warm-up)", got)
	}
	if b.probeAt.Load() == 0 {
		t.Error("no probing rebalance scheduled: the task would never move to B")
	}
	b.placeWarmups(nil, hosts)
	if b.probeAt.Load() != 0 {
		t.Error("probing rebalance still scheduled with no task kept from the balancer's choice")
	}
}

// The checkpoints of task directories left by an earlier run are reported
// as offset sums before the first join.
func TestStandbyScanLocalState(t *testing.T) {
	dir := t.TempDir()
	cfg, err := newConfig([]Option{WithApplicationID("scan"), WithStateDir(dir), WithLogger(testLogger(t))})
	if err != nil {
		t.Fatal(err)
	}
	a := &App{cfg: cfg, balancer: &taskBalancer{changelogs: map[int][]string{0: {"scan-s-changelog"}}},
		dirs: newStateDirs(filepath.Join(dir, "scan"), time.Hour, cfg.log)}
	a.blockCache = pebble.NewCache(1 << 20)
	defer a.blockCache.Unref()
	for p, cp := range map[int32]int64{2: 1234, 3: -1} {
		eng, err := pebblestate.Open(filepath.Join(dir, "scan", TaskID{0, p}.String()))
		if err != nil {
			t.Fatal(err)
		}
		if cp >= 0 {
			if err := eng.Commit(map[string]int64{"scan-s-changelog/" + strconv.Itoa(int(p)): cp}); err != nil {
				t.Fatal(err)
			}
		}
		if err := eng.Close(); err != nil {
			t.Fatal(err)
		}
	}
	r := newStandbyRunner(a)
	r.scanLocalState()
	sums := map[TaskID]int64{}
	r.offsetSums(sums)
	if len(sums) != 1 || sums[TaskID{0, 2}] != 1234 {
		t.Fatalf("offset sums %v, want only 0_2: 1234 (0_3 has no checkpoint)", sums)
	}
}

// A task whose active closed here (revoked) and which the task map then
// names as a standby of this instance is reopened from the store the
// active left: same data, reading on from its checkpoint, nothing wiped.
func TestStandbyKeepsStoreOfClosedActive(t *testing.T) {
	b := testbroker.New(t)
	dir := t.TempDir()
	app, err := New(countTopology(t), WithBrokers(b.Addr()), WithApplicationID("keep"), WithStateDir(dir),
		WithNumStandbyReplicas(1), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	app.blockCache = pebble.NewCache(1 << 20)
	defer app.blockCache.Unref()
	id := TaskID{Subtopology: 0, Partition: 0}
	changelogKey := ChangelogTopic("keep", "counts") + "/0"
	// The active task's store as it closed: a count and its checkpoint.
	active := &task{id: id, env: newStandbyRunner(app).env, sub: app.subs[0], streamTime: unknownTime, recordTime: unknownTime}
	if err := active.openState(app.topo); err != nil {
		t.Fatal(err)
	}
	if err := active.state.persistent.RawPut("counts", []byte("k"), []byte("7")); err != nil {
		t.Fatal(err)
	}
	if err := active.state.persistent.Commit(map[string]int64{changelogKey: 500}); err != nil {
		t.Fatal(err)
	}
	sum, ok := persistentOffsetSum(active.state)
	if !ok || sum != 500 {
		t.Fatalf("persistentOffsetSum = %d, %v; want 500, true", sum, ok)
	}
	r := newStandbyRunner(app)
	app.standbys = r
	r.release(id) // the thread created the active
	if err := active.close(); err != nil {
		t.Fatal(err)
	}
	r.unclaim(id, sum, ok) // ... and closed it (revoked)
	app.balancer.latest.Store(&assignmentInfo{generation: 2, hosts: []hostAssignment{{process: app.process, standby: []TaskID{id}}}})
	r.mu.Lock()
	r.reconcile()
	st := r.tasks[id]
	r.mu.Unlock()
	defer r.close()
	if st == nil {
		t.Fatal("the task was not opened as a standby")
	}
	if pos := st.state.changelogs[0].restorePos; pos != 500 {
		t.Errorf("standby reads its changelog from %d, want 500 (the active's checkpoint)", pos)
	}
	if _, v, ok := (&standbyInstance{app: app}).standbyState(id, "k"); !ok || v != "7" {
		t.Errorf("standby store has k = %q (%v), want the active's 7", v, ok)
	}
}
