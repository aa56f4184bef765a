package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

// staleAnswer is a key lookup's JSON answer from QueryHandler.
type staleAnswer struct {
	status  int
	lagHdr  string
	owner   string
	Key     string   `json:"key"`
	Value   string   `json:"value"`
	Part    *int32   `json:"partition"`
	Replica string   `json:"replica"`
	Lag     *LagInfo `json:"lag"`
	Error   string   `json:"error"`
}

func staleGet(t *testing.T, url string) staleAnswer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := staleAnswer{status: resp.StatusCode, lagHdr: resp.Header.Get(QueryLagHeader), owner: resp.Header.Get(queryOwnerHeader)}
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("GET %s: %d %s: %v", url, resp.StatusCode, body, err)
	}
	return a
}

// TestStaleStoreQueries: three instances of the counting application with
// one standby replica and a QueryHandler each. For a key, on the instance
// holding only the standby of its partition: a query without
// WithStaleStores returns NotLocalError; with it, Lookup reads the
// standby's store, reports it (Source.Standby) with a lag >= 0 that
// reaches 0 once the standby caught up, and the value is the key's count;
// AllLocalStorePartitionLags lists the partition with the same lag (and
// the active partitions with lag 0). Over HTTP, ?stale=true answers the
// lookup there with "replica" and "lag" (and X-Sluice-Query-Lag), while
// without it the answer is unchanged (forwarded to the active owner, no
// stale fields). Once the active owner's HTTP server is gone, a stale
// lookup on the third instance (holding no copy) is routed to the
// standby's instance; without stale it fails with 503.
func TestStaleStoreQueries(t *testing.T) {
	const (
		partitions = 3
		keys       = 30
	)
	b := testbroker.New(t)
	b.CreateTopic(t, "in", partitions, nil)
	b.CreateTopic(t, "out", partitions, nil)
	var ins []*standbyInstance
	servers := make([]*http.Server, 3)
	for i := range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		// An acceptable recovery lag below the changelogs' length: a task
		// whose active crashes moves to its caught-up standby, not to an
		// instance without its state (a promotion, which the end of the
		// test reads through).
		in := startStandbyInstance(t, b, i, WithNumStandbyReplicas(1), WithAcceptableRecoveryLag(10),
			WithCommitInterval(100*time.Millisecond), WithApplicationServer(ln.Addr().String()))
		in.server = ln.Addr().String()
		h, err := QueryHandler(in.app, NewQueryCodec("counts", serde.String(), serde.String(),
			func(s string) (string, error) { return s, nil }, nil))
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: h}
		servers[i] = srv
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		ins = append(ins, in)
	}
	tasks := make([]TaskID, partitions)
	for p := range tasks {
		tasks[p] = TaskID{Subtopology: 0, Partition: int32(p)}
	}
	awaitStandbyMap(t, ins, tasks)
	inputs := newCountInputs(b, keys)
	inputs.produce(t, 5)
	testwait.Until(t, "every input counted", time.Minute, func() bool { return inputs.counted(t) })
	info := awaitStandbyMap(t, ins, tasks)

	// A key and the instances around its partition.
	const key = "key-007"
	probe, err := QueryKeyValue(ins[0].app, "counts", serde.String(), serde.String())
	if err != nil {
		t.Fatal(err)
	}
	p, err := probe.Partition(key)
	if err != nil {
		t.Fatal(err)
	}
	id := TaskID{Subtopology: 0, Partition: p}
	activeIdx, sby := taskHolders(ins, info, id)
	standbyIdx := sby[0]
	otherIdx := 3 - activeIdx - standbyIdx
	active, standby, other := ins[activeIdx], ins[standbyIdx], ins[otherIdx]
	want := strconv.Itoa(inputs.total[key])

	// Without WithStaleStores the standby's instance does not serve it.
	plain, err := QueryKeyValue(standby.app, "counts", serde.String(), serde.String())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = plain.Get(key)
	var nl *NotLocalError
	if !errors.As(err, &nl) || nl.Partition != p {
		t.Fatalf("Get(%s) on the standby's instance without WithStaleStores: %v, want NotLocalError for partition %d", key, err, p)
	}

	// With it, the standby answers, and its lag reaches 0.
	stale, err := QueryKeyValue(standby.app, "counts", serde.String(), serde.String(), WithStaleStores())
	if err != nil {
		t.Fatal(err)
	}
	var last KeyValueResult[string]
	testwait.Until(t, "a stale Get on the standby's instance with the key's count and lag 0", time.Minute, func() bool {
		res, err := stale.Lookup(key)
		if err != nil {
			t.Fatalf("stale Lookup(%s): %v", key, err)
		}
		last = res
		if !res.Source.Standby || res.Source.Restoring || res.Source.Partition != p {
			t.Fatalf("stale Lookup(%s).Source = %+v, want the standby of partition %d", key, res.Source, p)
		}
		if lag := res.Source.Lag; res.Found && (lag.OffsetLag < 0 || lag.CurrentOffsetPosition+lag.OffsetLag != lag.EndOffsetPosition) {
			t.Fatalf("stale Lookup(%s) found the key with lag %+v, want a known lag >= 0", key, lag)
		}
		return res.Found && res.Value == want && res.Source.Lag.OffsetLag == 0
	}, testwait.Detail(func() string { return "last: " + toJSON(last) }))
	if last.Source.Lag.EndOffsetPosition <= 0 {
		t.Errorf("caught-up standby lag %+v, want the changelog's end > 0", last.Source.Lag)
	}
	// On the active owner's instance the option changes nothing.
	onActive, err := QueryKeyValue(active.app, "counts", serde.String(), serde.String(), WithStaleStores())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := onActive.Lookup(key); err != nil || !res.Found || res.Value != want || res.Source.Stale() {
		t.Errorf("stale Lookup(%s) on the active's instance = %+v, %v; want %s from the active", key, res, err, want)
	}

	// AllLocalStorePartitionLags: the standby partition and the active ones.
	lags, err := standby.app.AllLocalStorePartitionLags(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := lags["counts"][p]; !ok || l != last.Source.Lag {
		t.Errorf("AllLocalStorePartitionLags()[counts][%d] = %+v (listed %v), want %+v", p, l, ok, last.Source.Lag)
	}
	// Every local partition (active, standby or warm-up, as the latest map
	// has them) reports a consistent lag.
	for part, l := range lags["counts"] {
		if l.OffsetLag < 0 || l.CurrentOffsetPosition+l.OffsetLag != l.EndOffsetPosition {
			t.Errorf("AllLocalStorePartitionLags()[counts][%d] = %+v, want a known lag >= 0", part, l)
		}
	}
	if len(lags["counts"]) < 2 {
		t.Errorf("AllLocalStorePartitionLags()[counts] = %v, want the instance's active and standby partitions", lags["counts"])
	}

	// Over HTTP on the standby's instance.
	base := func(in *standbyInstance) string { return "http://" + in.server + "/stores/counts/keys/" + key }
	a := staleGet(t, base(standby)+"?stale=true&route=local")
	if a.status != http.StatusOK || a.Value != want || a.Part == nil || *a.Part != p || a.Replica != "standby" ||
		a.Lag == nil || a.Lag.OffsetLag != 0 || a.lagHdr != "0" {
		t.Errorf("stale GET on the standby's instance: %+v (lag %+v), want %s from the standby of partition %d with lag 0", a, a.Lag, want, p)
	}
	a = staleGet(t, base(standby)+"?route=local")
	if a.status != http.StatusMisdirectedRequest || a.Replica != "" || a.Lag != nil {
		t.Errorf("GET ?route=local on the standby's instance: %+v, want 421 without stale fields", a)
	}
	a = staleGet(t, base(standby))
	if a.status != http.StatusOK || a.Value != want || a.Replica != "" || a.Lag != nil || a.lagHdr != "" || a.owner != active.server {
		t.Errorf("GET on the standby's instance: %+v, want %s forwarded to the active's instance %s without stale fields", a, want, active.server)
	}
	if a := staleGet(t, base(standby)+"?stale=maybe"); a.status != http.StatusBadRequest {
		t.Errorf("GET ?stale=maybe: %+v, want 400", a)
	}
	// A local scan with stale reads the standby partition too, marked.
	for _, stale := range []bool{false, true} {
		url := "http://" + standby.server + "/stores/counts?route=local"
		if stale {
			url += "&stale=true"
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		var scan struct {
			Entries    []staleAnswer `json:"entries"`
			Partitions []int32       `json:"partitions"`
		}
		err = json.NewDecoder(resp.Body).Decode(&scan)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
		}
		found := false
		for _, e := range scan.Entries {
			if e.Key == key {
				found = true
			}
			if (*e.Part == p && e.Replica != "standby") || (e.Replica != "") != (e.Lag != nil) || (!stale && e.Replica != "") {
				t.Errorf("GET %s: entry %s of partition %d with replica %q, lag %v", url, e.Key, *e.Part, e.Replica, e.Lag)
			}
		}
		if found != stale || slices.Contains(scan.Partitions, p) != stale {
			t.Errorf("GET %s: key %s found %v, partitions %v; want partition %d read only with stale", url, key, found, scan.Partitions, p)
		}
	}

	// The active owner unreachable: a stale lookup on the instance without
	// a copy goes to the standby's.
	_ = servers[activeIdx].Close()
	a = staleGet(t, base(other))
	if a.status != http.StatusServiceUnavailable {
		t.Errorf("GET on the instance without a copy, the active unreachable: %+v, want 503", a)
	}
	a = staleGet(t, base(other)+"?stale=true")
	if a.status != http.StatusOK || a.Value != want || a.Replica != "standby" || a.Lag == nil || a.owner != standby.server || a.lagHdr == "" {
		t.Errorf("stale GET on the instance without a copy, the active unreachable: %+v, want %s from the standby at %s", a, want, standby.server)
	}
	a = staleGet(t, base(other)+"?stale=true&route=address")
	if a.status != http.StatusMisdirectedRequest {
		t.Errorf("stale GET ?route=address: %+v, want 421", a)
	}

	// Stale reads while the standby is promoted: the active's instance
	// crashes, the standby's store is closed and reopened by the active
	// task. Reads see the count or fail with ErrNotLocal / state.ErrClosed
	// (the store closed under them), never anything else (and -race
	// watches the store's hand-over).
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		readErr <- func() error {
			for {
				select {
				case <-stop:
					return nil
				default:
				}
				res, err := stale.Lookup(key)
				switch {
				case errors.Is(err, ErrNotLocal), errors.Is(err, state.ErrClosed):
				case err != nil:
					return err
				case !res.Found || res.Value != want:
					return fmt.Errorf("stale Lookup(%s) during the promotion = %+v, want %s", key, res, want)
				}
				it, err := stale.All()
				if err != nil {
					if errors.Is(err, state.ErrClosed) {
						continue
					}
					return err
				}
				for it.Next() {
					if it.Source().Partition != it.Partition() {
						return fmt.Errorf("All: source %+v for partition %d", it.Source(), it.Partition())
					}
				}
				err = it.Err()
				it.Close()
				if err != nil && !errors.Is(err, state.ErrClosed) && !errors.Is(err, state.ErrIteratorInvalidated) {
					return err
				}
			}
		}()
	}()
	active.app.simulateCrash.Store(true)
	<-active.done
	testwait.Until(t, "the key's partition active on the standby's instance", 2*time.Minute, func() bool {
		v, found, err := plain.Get(key)
		return err == nil && found && v == want
	})
	close(stop)
	if err := <-readErr; err != nil {
		t.Errorf("stale reads during the promotion: %v", err)
	}
	if res, err := stale.Lookup(key); err != nil || res.Source.Stale() || res.Value != want {
		t.Errorf("stale Lookup(%s) after the promotion = %+v, %v; want %s from the active task", key, res, err, want)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// blockingRestore is a RestoreListener that holds the restoring thread in
// its first OnBatchRestored until released.
type blockingRestore struct {
	blocked chan struct{} // closed when the first batch was reported
	release chan struct{}
	first   bool
}

func (l *blockingRestore) OnRestoreStart(string, string, int32, int64, int64) {}
func (l *blockingRestore) OnRestoreEnd(string, string, int32, int64)          {}
func (l *blockingRestore) OnBatchRestored(string, string, int32, int64, int64) {
	if !l.first {
		l.first = true
		close(l.blocked)
		<-l.release
	}
}

// TestStaleReadOfRestoringTask: an active task still restoring its store
// is not queryable, except with WithStaleStores, which reads it as
// restoring (Source.Restoring) with its lag; once restored it is read as
// the active task.
func TestStaleReadOfRestoringTask(t *testing.T) {
	b := testbroker.New(t)
	b.CreateTopic(t, "in", 1, nil)
	b.CreateTopic(t, "out", 1, nil)
	first := startStandbyInstance(t, b, 0, WithCommitInterval(100*time.Millisecond))
	inputs := newCountInputs(b, 20)
	inputs.produce(t, 5)
	testwait.Until(t, "every input counted", time.Minute, func() bool { return inputs.counted(t) })
	first.cancel()
	<-first.done
	if first.err != nil {
		t.Fatal(first.err)
	}

	// The same instance again, with an empty state directory: it restores.
	l := &blockingRestore{blocked: make(chan struct{}), release: make(chan struct{})}
	var once bool
	release := func() {
		if !once {
			once = true
			close(l.release)
		}
	}
	t.Cleanup(release) // before the instance's cleanup (LIFO)
	in := startStandbyInstance(t, b, 0, WithCommitInterval(100*time.Millisecond), WithRestoreListener(l))
	select {
	case <-l.blocked:
	case <-time.After(time.Minute):
		t.Fatal("no restore batch within a minute")
	}
	const key = "key-003"
	want := strconv.Itoa(inputs.total[key])
	plain, err := QueryKeyValue(in.app, "counts", serde.String(), serde.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := plain.Get(key); !errors.Is(err, ErrNotLocal) {
		t.Errorf("Get(%s) while restoring: %v, want ErrNotLocal", key, err)
	}
	stale, err := QueryKeyValue(in.app, "counts", serde.String(), serde.String(), WithStaleStores())
	if err != nil {
		t.Fatal(err)
	}
	res, err := stale.Lookup(key)
	if err != nil {
		t.Fatalf("stale Lookup(%s) while restoring: %v", key, err)
	}
	lag := res.Source.Lag
	if !res.Source.Restoring || res.Source.Standby || lag.EndOffsetPosition <= 0 || lag.OffsetLag < 0 ||
		lag.CurrentOffsetPosition+lag.OffsetLag != lag.EndOffsetPosition || (res.Found && res.Value != want) {
		t.Errorf("stale Lookup(%s) while restoring = %+v, want a read of the restoring task (value %s if found) with its lag", key, res, want)
	}
	lags, err := in.app.AllLocalStorePartitionLags(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := lags["counts"][0]; got.CurrentOffsetPosition != lag.CurrentOffsetPosition || got.EndOffsetPosition != lag.EndOffsetPosition {
		t.Errorf("AllLocalStorePartitionLags()[counts][0] = %+v while restoring, want %+v", got, lag)
	}
	release()
	testwait.Until(t, "the restored task queryable as active", time.Minute, func() bool {
		v, found, err := plain.Get(key)
		return err == nil && found && v == want
	})
	if res, err := stale.Lookup(key); err != nil || res.Source.Stale() || res.Value != want {
		t.Errorf("stale Lookup(%s) once restored = %+v, %v; want %s from the active task", key, res, err, want)
	}
}
