package core

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
)

// The SIGKILL tests run instances of the counting application
// (countTopology, standbyOptions) as child processes: the test binary
// re-run with only TestSigkillHelper selected. A child reports on stdout,
// one line per event, what the parent needs to choose its victim and to
// check the failover: its task map, its standby positions, its restores
// (the restore listener) and its rebalances. The parent kills a child with
// SIGKILL: no final commit, no transaction abort, no LeaveGroup, the Pebble
// stores as the kill left them; the broker aborts the open transaction
// when its timeout passes and the group drops the static member when its
// session times out, as in production.
//
// Lines are "sluice-sigkill: <event> key=value ...", with t the child's
// wall clock in Unix nanoseconds (same machine, same clock as the parent):
//
//	state state=RUNNING t=...
//	tasks gen=7 active=0_1,0_4 standby=0_2 t=...   (the instance's part of the task map; "-" for none)
//	standby task=0_2 pos=812 t=...                 (a standby's changelog position, summed)
//	rebalance n=3 t=...                            (rebalances the instance's threads went through)
//	restore-start task=0_2 store=counts partition=2 start=790 end=812 t=...
//	restore-batch task=0_2 partition=2 end=812 n=20 t=...
//	restore-end task=0_2 partition=2 total=20 t=...
//	exit err=<nil> t=...
const sigkillPrefix = "sluice-sigkill: "

// The helper's configuration, from the parent through the environment.
const (
	sigkillBrokerEnv   = "SLUICE_SIGKILL_BROKER"   // broker address; the helper skips without it
	sigkillDirEnv      = "SLUICE_SIGKILL_DIR"      // state directory
	sigkillInstanceEnv = "SLUICE_SIGKILL_INSTANCE" // instance number (standbyOptions)
	sigkillStandbysEnv = "SLUICE_SIGKILL_STANDBYS" // num.standby.replicas
	sigkillLagEnv      = "SLUICE_SIGKILL_LAG"      // acceptable.recovery.lag; the default without it
	sigkillProbingEnv  = "SLUICE_SIGKILL_PROBING"  // probing.rebalance.interval (a Go duration); the default without it
)

// TestSigkillHelper is not a test: it is the child process of the SIGKILL
// tests and benchmarks (see startSigkillChild), one instance of the
// counting application. It runs until killed, or until its stdin closes
// (the parent went away), and reports on stdout.
func TestSigkillHelper(t *testing.T) {
	addr := os.Getenv(sigkillBrokerEnv)
	if addr == "" {
		t.Skip("child process of TestSigkillStandbyFailover and BenchmarkFailoverSigkill")
	}
	instance, err := strconv.Atoi(os.Getenv(sigkillInstanceEnv))
	if err != nil {
		t.Fatalf("%s: %v", sigkillInstanceEnv, err)
	}
	standbys, err := strconv.Atoi(os.Getenv(sigkillStandbysEnv))
	if err != nil {
		t.Fatalf("%s: %v", sigkillStandbysEnv, err)
	}
	rep := &sigkillReporter{w: os.Stdout}
	opts := append(standbyOptions(t, addr, instance, os.Getenv(sigkillDirEnv), rep), WithNumStandbyReplicas(standbys))
	if v := os.Getenv(sigkillLagEnv); v != "" {
		lag, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", sigkillLagEnv, err)
		}
		opts = append(opts, WithAcceptableRecoveryLag(lag))
	}
	if v := os.Getenv(sigkillProbingEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s: %v", sigkillProbingEnv, err)
		}
		opts = append(opts, WithProbingRebalanceInterval(d))
	}
	app, err := New(countTopology(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	rep.taskOf = map[string]int{}
	for sub, topics := range app.balancer.changelogs {
		for _, topic := range topics {
			rep.taskOf[topic] = sub
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	// Polled every 10 ms: the failover benchmark times the survivor's
	// rebalance from its line.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var (
		state      State
		gen        int32 = -1
		rebalances int64
		positions  = map[TaskID]int64{}
	)
	for {
		select {
		case err := <-done:
			rep.line("exit err=%v", err)
			if err != nil {
				t.Fatal(err)
			}
			return
		case <-tick.C:
		}
		if s := app.State(); s != state {
			state = s
			rep.line("state state=%s", s)
		}
		if n := app.stats.rebalances.Load(); n != rebalances {
			rebalances = n
			rep.line("rebalance n=%d", n)
		}
		info := app.balancer.latest.Load()
		if info == nil {
			continue
		}
		if info.generation != gen {
			gen = info.generation
			var active, standby []TaskID
			if h := info.host(app.process); h != nil {
				active, standby = h.active, h.standby
			}
			rep.line("tasks gen=%d active=%s standby=%s", gen, formatTasks(active), formatTasks(standby))
		}
		// app.standbys was set before the threads started, which published
		// the task map loaded above.
		if r := app.standbys; r != nil {
			r.mu.Lock()
			for id, tk := range r.tasks {
				var pos int64
				for _, cl := range tk.state.changelogs {
					pos += cl.restorePos
				}
				if old, ok := positions[id]; !ok || old != pos {
					positions[id] = pos
					rep.line("standby task=%s pos=%d", id, pos)
				}
			}
			for id := range positions {
				if r.tasks[id] == nil {
					delete(positions, id)
				}
			}
			r.mu.Unlock()
		}
	}
}

func formatTasks(ids []TaskID) string {
	if len(ids) == 0 {
		return "-"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return strings.Join(s, ",")
}

func parseTasks(s string) ([]TaskID, error) {
	if s == "-" {
		return nil, nil
	}
	var out []TaskID
	for _, f := range strings.Split(s, ",") {
		id, err := parseTaskID(f)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

func parseTaskID(s string) (TaskID, error) {
	sub, p, ok := strings.Cut(s, "_")
	if !ok {
		return TaskID{}, fmt.Errorf("task id %q", s)
	}
	st, err1 := strconv.Atoi(sub)
	pt, err2 := strconv.Atoi(p)
	if err1 != nil || err2 != nil {
		return TaskID{}, fmt.Errorf("task id %q", s)
	}
	return TaskID{Subtopology: st, Partition: int32(pt)}, nil
}

// sigkillReporter writes the helper's lines, and is its restore listener.
type sigkillReporter struct {
	mu     sync.Mutex
	w      io.Writer
	taskOf map[string]int // changelog topic -> sub-topology; set before Run
}

func (r *sigkillReporter) line(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, sigkillPrefix+format+" t=%d\n", append(args, time.Now().UnixNano())...)
}

func (r *sigkillReporter) task(topic string, p int32) TaskID {
	return TaskID{Subtopology: r.taskOf[topic], Partition: p}
}

func (r *sigkillReporter) OnRestoreStart(store, topic string, p int32, start, end int64) {
	r.line("restore-start task=%s store=%s partition=%d start=%d end=%d", r.task(topic, p), store, p, start, end)
}

func (r *sigkillReporter) OnBatchRestored(_, topic string, p int32, end, n int64) {
	r.line("restore-batch task=%s partition=%d end=%d n=%d", r.task(topic, p), p, end, n)
}

func (r *sigkillReporter) OnRestoreEnd(_, topic string, p int32, total int64) {
	r.line("restore-end task=%s partition=%d total=%d", r.task(topic, p), p, total)
}

// sigkillRestore is one restoration a child reported: its OnRestoreStart,
// the records of its batches, and whether OnRestoreEnd came.
type sigkillRestore struct {
	task       TaskID
	start, end int64
	restored   int64
	ended      bool
	at         time.Time // OnRestoreStart, by the child's clock
	endedAt    time.Time // OnRestoreEnd
}

// sigkillChild is the parent's handle on one child process: the child's
// latest reports, kept by the goroutine reading its stdout.
type sigkillChild struct {
	instance int
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process is gone
	killed   bool          // the parent killed it (owned by the test goroutine)

	mu       sync.Mutex
	stderr   bytes.Buffer
	last     []string // the last lines, for failure messages
	report   sigkillReport
	parseErr error
	exitErr  error
}

// sigkillReport is what a child reported last.
type sigkillReport struct {
	state       State
	gen         int32
	active      []TaskID
	standby     []TaskID
	positions   map[TaskID]int64 // standby task -> changelog position
	restores    []sigkillRestore // in the order they started
	rebalances  int64            // the count in the latest rebalance line
	rebalanceAt []time.Time      // when the child saw the count change, per line
}

// sigkillConfig is a child's configuration (see the environment variables
// of TestSigkillHelper).
type sigkillConfig struct {
	instance int
	standbys int
	lag      int64         // 0: the default acceptable recovery lag
	probing  time.Duration // 0: the default probing rebalance interval
}

// startSigkillChild starts instance cfg.instance of the counting
// application in a child process; it is killed when the test ends.
func startSigkillChild(t testing.TB, b *testbroker.Broker, cfg sigkillConfig) *sigkillChild {
	t.Helper()
	c := &sigkillChild{instance: cfg.instance, exited: make(chan struct{}), report: sigkillReport{gen: -1, positions: map[TaskID]int64{}}}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestSigkillHelper$")
	c.cmd.Env = append(os.Environ(),
		sigkillBrokerEnv+"="+b.Addr(),
		sigkillDirEnv+"="+t.TempDir(),
		sigkillInstanceEnv+"="+strconv.Itoa(cfg.instance),
		sigkillStandbysEnv+"="+strconv.Itoa(cfg.standbys))
	if cfg.lag > 0 {
		c.cmd.Env = append(c.cmd.Env, sigkillLagEnv+"="+strconv.FormatInt(cfg.lag, 10))
	}
	if cfg.probing > 0 {
		c.cmd.Env = append(c.cmd.Env, sigkillProbingEnv+"="+cfg.probing.String())
	}
	// The child stops when its stdin closes: when this process exits,
	// however it exits, no child is left running.
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = lockedWriter{&c.mu, &c.stderr}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.handle(sc.Text())
		}
		err := c.cmd.Wait()
		c.mu.Lock()
		c.exitErr = err
		c.mu.Unlock()
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = c.cmd.Process.Kill()
		<-c.exited
	})
	return c
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// handle records one line of the child's stdout.
func (c *sigkillChild) handle(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = append(c.last, line)
	if len(c.last) > 30 {
		c.last = c.last[1:]
	}
	rest, ok := strings.CutPrefix(line, sigkillPrefix)
	if !ok {
		return // the testing package's own output
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return
	}
	kv := map[string]string{}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		kv[k] = v
	}
	fail := func(err error) {
		if err != nil && c.parseErr == nil {
			c.parseErr = fmt.Errorf("line %q: %w", line, err)
		}
	}
	num := func(k string) int64 {
		n, err := strconv.ParseInt(kv[k], 10, 64)
		fail(err)
		return n
	}
	task := func() TaskID {
		id, err := parseTaskID(kv["task"])
		fail(err)
		return id
	}
	at := time.Unix(0, num("t"))
	switch fields[0] {
	case "state":
		c.report.state = State(kv["state"])
	case "tasks":
		var err1, err2 error
		c.report.gen = int32(num("gen"))
		c.report.active, err1 = parseTasks(kv["active"])
		c.report.standby, err2 = parseTasks(kv["standby"])
		fail(err1)
		fail(err2)
	case "standby":
		c.report.positions[task()] = num("pos")
	case "rebalance":
		c.report.rebalances = num("n")
		c.report.rebalanceAt = append(c.report.rebalanceAt, at)
	case "restore-start":
		c.report.restores = append(c.report.restores, sigkillRestore{task: task(), start: num("start"), end: num("end"), at: at})
	case "restore-batch", "restore-end":
		id := task()
		for i := len(c.report.restores) - 1; i >= 0; i-- {
			if r := &c.report.restores[i]; r.task == id && !r.ended {
				if fields[0] == "restore-batch" {
					r.restored += num("n")
				} else {
					r.ended, r.endedAt = true, at
				}
				break
			}
		}
	}
}

// snapshot returns a copy of the child's reports under its lock.
func (c *sigkillChild) snapshot() sigkillReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.report
	s.active, s.standby, s.restores = slices.Clone(s.active), slices.Clone(s.standby), slices.Clone(s.restores)
	s.rebalanceAt = slices.Clone(s.rebalanceAt)
	s.positions = maps.Clone(s.positions)
	return s
}

// kill sends SIGKILL and waits until the process is gone.
func (c *sigkillChild) kill(t testing.TB) {
	t.Helper()
	c.killed = true
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill instance %d: %v", c.instance, err)
	}
	<-c.exited
}

// check fails the test when the child wrote a line it could not parse, or
// exited without being killed.
func (c *sigkillChild) check(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	err := c.parseErr
	c.mu.Unlock()
	if err != nil {
		t.Fatalf("instance %d: %v", c.instance, err)
	}
	select {
	case <-c.exited:
		if !c.killed {
			t.Fatalf("instance %d exited (%v):\n%s", c.instance, c.exitErr, c.describe())
		}
	default:
	}
}

// describe returns the child's last lines and the end of its stderr.
func (c *sigkillChild) describe() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	errTail := c.stderr.String()
	if len(errTail) > 4000 {
		errTail = errTail[len(errTail)-4000:]
	}
	return fmt.Sprintf("instance %d stdout (last lines):\n  %s\ninstance %d stderr (end):\n%s",
		c.instance, strings.Join(c.last, "\n  "), c.instance, errTail)
}

// sigkillGroup is the children of one test.
type sigkillGroup []*sigkillChild

// waitUntil is testwait.Until that fails at once when a child exited or
// wrote nonsense, and shows every child's output on a timeout.
func (g sigkillGroup) waitUntil(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	testwait.Until(t, what, timeout, func() bool {
		for _, c := range g {
			c.check(t)
		}
		return cond()
	}, testwait.Detail(func() string {
		var s []string
		for _, c := range g {
			s = append(s, c.describe())
		}
		return strings.Join(s, "\n")
	}))
}

// taskMap returns, when the running children report the same generation
// of the task map, which child (index into g) holds each task as active
// and as standby.
func (g sigkillGroup) taskMap() (gen int32, active map[TaskID]int, standbys map[TaskID][]int, ok bool) {
	gen = -1
	active, standbys = map[TaskID]int{}, map[TaskID][]int{}
	for i, c := range g {
		if c.killed {
			continue
		}
		s := c.snapshot()
		if gen >= 0 && s.gen != gen || s.gen < 0 {
			return 0, nil, nil, false
		}
		gen = s.gen
		for _, id := range s.active {
			active[id] = i
		}
		for _, id := range s.standby {
			standbys[id] = append(standbys[id], i)
		}
	}
	return gen, active, standbys, gen >= 0
}

// noDataRaces fails the test when a child's race detector reported.
func (g sigkillGroup) noDataRaces(t testing.TB) {
	t.Helper()
	for _, c := range g {
		c.mu.Lock()
		raced := strings.Contains(c.stderr.String(), "WARNING: DATA RACE")
		c.mu.Unlock()
		if raced {
			t.Errorf("instance %d: data race:\n%s", c.instance, c.describe())
		}
	}
}

// TestSigkillStandbyFailover is TestStandbyReplicasFailover with real
// processes and a real crash: three exactly-once instances of the
// counting application, each a child process with its own state
// directory, one standby replica. After the input is counted and every
// standby has caught up with its changelog, the instance running task 0_0
// is killed with SIGKILL while input keeps coming (its transaction is
// likely open: the broker aborts it when its timeout passes). Then (a)
// its tasks resume on the instances that held their standbys, and the
// restore listener there reports only a tail (under 10% of the changelog,
// never from its start); (b) reading "out" read_committed, every key's
// counts are 1, 2, ..., n without a gap or a repeat; (c) all of the input
// is counted.
func TestSigkillStandbyFailover(t *testing.T) {
	const (
		partitions = 6
		keys       = 120
		perKey     = 40 // ~800 changelog records per task: a 10% tail is 80
	)
	b := testbroker.New(t)
	b.CreateTopic(t, "in", partitions, nil)
	b.CreateTopic(t, "out", partitions, nil)
	var g sigkillGroup
	for i := range 3 {
		g = append(g, startSigkillChild(t, b, sigkillConfig{instance: i, standbys: 1, lag: 50}))
	}
	tasks := make([]TaskID, partitions)
	for p := range tasks {
		tasks[p] = TaskID{Subtopology: 0, Partition: int32(p)}
	}
	// A complete map: every task active on one instance and standby on
	// another, as all three instances see it.
	var (
		gen            int32
		activeHolder   map[TaskID]int
		standbyHolders map[TaskID][]int
	)
	complete := func() bool {
		var ok bool
		gen, activeHolder, standbyHolders, ok = g.taskMap()
		if !ok {
			return false
		}
		for _, id := range tasks {
			a, found := activeHolder[id]
			if s := standbyHolders[id]; !found || len(s) != 1 || s[0] == a {
				return false
			}
		}
		return true
	}
	g.waitUntil(t, "a task map with an active and a standby for every task on three instances", 2*time.Minute, complete)

	inputs := newCountInputs(b, keys)
	inputs.produce(t, perKey)
	g.waitUntil(t, "every input counted", 2*time.Minute, func() bool { return inputs.counted(t) })

	adm := kadm.NewClient(b.Client(t))
	changelog := ChangelogTopic("sby", "counts")
	// offsets lists a topic's last stable offsets (committed data only) or
	// its high watermarks (open transactions included).
	offsets := func(topic string, stable bool) map[int32]int64 {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		list := adm.ListEndOffsets
		if stable {
			list = adm.ListCommittedOffsets
		}
		listed, err := list(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int32]int64{}
		listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
		return out
	}
	ends := func() map[int32]int64 { return offsets(changelog, true) }
	g.waitUntil(t, "a complete task map and every standby at its changelog's end", 2*time.Minute, func() bool {
		if !complete() {
			return false
		}
		end := ends()
		for _, id := range tasks {
			if pos, ok := g[standbyHolders[id][0]].snapshot().positions[id]; !ok || pos != end[id.Partition] {
				return false
			}
		}
		return true
	})
	changelogEnd := ends()
	before := make([]int, len(g)) // restores each instance reported so far
	for i, c := range g {
		before[i] = len(c.snapshot().restores)
	}

	victim := activeHolder[tasks[0]]
	var moved []TaskID
	for _, id := range tasks {
		if activeHolder[id] == victim {
			moved = append(moved, id)
		}
	}
	t.Logf("task map generation %d: killing instance %d, active for %v (standbys on %v)", gen, victim, moved, standbyHolders)
	// Kill in the middle of a transaction: once the victim has written
	// output that it has not committed yet (the high watermark of one of
	// its partitions of "out" above the last stable offset). It commits
	// every 100 ms, so a round of input that it processed before this saw
	// the open transaction is followed by another.
	midTransaction := func() bool {
		hwm, lso := offsets("out", false), offsets("out", true)
		for _, id := range moved {
			if hwm[id.Partition] > lso[id.Partition] {
				return true
			}
		}
		return false
	}
	for range perKey / 2 {
		inputs.produce(t, 1)
		for deadline := time.Now().Add(time.Second); !g[victim].killed && time.Now().Before(deadline); {
			if midTransaction() {
				g[victim].kill(t)
				t.Logf("killed instance %d with a transaction open", victim)
			}
		}
	}
	if !g[victim].killed {
		g[victim].kill(t)
		t.Logf("killed instance %d after the input (no open transaction seen)", victim)
	}
	g.waitUntil(t, "every input counted after the SIGKILL", 3*time.Minute, func() bool { return inputs.counted(t) })

	var after map[TaskID]int
	g.waitUntil(t, "a task map of the two survivors with every task active", time.Minute, func() bool {
		var ok bool
		_, after, _, ok = g.taskMap()
		if !ok {
			return false
		}
		for _, id := range tasks {
			if a, found := after[id]; !found || a == victim {
				return false
			}
		}
		return true
	})
	for _, id := range moved {
		want := standbyHolders[id][0]
		if a := after[id]; a != want {
			t.Errorf("task %s resumed on instance %d, want %d (its standby's)", id, a, want)
			continue
		}
		limit := changelogEnd[id.Partition] / 10
		restores := g[want].snapshot().restores[before[want]:]
		found := false
		for _, r := range restores {
			if r.task != id {
				continue
			}
			found = true
			t.Logf("task %s on instance %d: changelog end %d before the kill; restored offsets [%d, %d), %d records (ended: %v)",
				id, want, changelogEnd[id.Partition], r.start, r.end, r.restored, r.ended)
			if r.end > 0 && r.start == 0 {
				t.Errorf("task %s restored from the changelog start [%d, %d), want from the standby's checkpoint", id, r.start, r.end)
			}
			if r.end-r.start > limit || r.restored > limit {
				t.Errorf("task %s restored offsets [%d, %d) (%d records) on its standby's instance, want a tail below %d (changelog end %d)",
					id, r.start, r.end, r.restored, limit, changelogEnd[id.Partition])
			}
		}
		if !found {
			// The restore listener is called only for a store behind its
			// changelog: the standby had read all of it.
			t.Logf("task %s on instance %d: nothing to restore (the standby was at the changelog end)", id, want)
		}
	}
	inputs.checkOnce(t)
	g.noDataRaces(t)
}
