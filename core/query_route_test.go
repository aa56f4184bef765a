package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/serde"
)

// routeInstance is one instance of the routed-query application: its App
// and its query server, listening on application.server.
type routeInstance struct {
	app   *core.App
	srv   *httptest.Server
	addr  string
	table *dsl.KTable[string, int64]
	stop  func() error
}

func (in *routeInstance) close(t *testing.T) {
	t.Helper()
	if in.stop == nil {
		return
	}
	if err := in.stop(); err != nil {
		t.Errorf("Run of %s: %v", in.addr, err)
	}
	in.srv.Close()
	in.stop = nil
}

func startRouteInstance(t *testing.T, b *testbroker.Broker, appID, topic, store string) *routeInstance {
	t.Helper()
	db := dsl.NewBuilder()
	grouped := dsl.Stream(db, topic, dsl.ConsumedWith(serde.String(), serde.Int64())).GroupByKey()
	counts := grouped.Count(dsl.MaterializedAs[string, int64](store))
	dsl.WindowedBy(grouped, dsl.TumblingWindows(time.Minute, time.Hour)).Count(dsl.MaterializedAs[string, int64](store + "-windows"))
	topo, err := db.Build()
	must(t, err)
	// The listener exists before the App, so its address can be the
	// instance's application.server.
	srv := httptest.NewUnstartedServer(nil)
	in := &routeInstance{srv: srv, addr: srv.Listener.Addr().String(), table: counts}
	in.app, err = core.New(topo, core.WithBrokers(b.Addrs()...), core.WithApplicationID(appID),
		core.WithStateDir(t.TempDir()), core.WithCommitInterval(50*time.Millisecond),
		core.WithSessionTimeout(10*time.Second), core.WithKafkaOptions(kgo.HeartbeatInterval(100*time.Millisecond)),
		core.WithApplicationServer(in.addr))
	must(t, err)
	codec, err := dsl.TableQueryCodec(counts, func(s string) (string, error) { return s, nil }, nil)
	must(t, err)
	windows := core.NewQueryCodec(store+"-windows", serde.String(), serde.Int64(), func(s string) (string, error) { return s, nil }, nil, core.WithTimestampedValues())
	h, err := core.QueryHandler(in.app, codec, windows)
	must(t, err)
	srv.Config.Handler = h
	srv.Start()
	in.stop = runApp(t, in.app)
	t.Cleanup(func() { in.close(t) })
	return in
}

type routeAnswer struct {
	status int
	header http.Header
	body   string
}

func routeGet(t *testing.T, url string) routeAnswer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return routeAnswer{resp.StatusCode, resp.Header, string(b)}
}

// TestQueryRoutingThreeInstances: three instances of one application,
// each with its query server on its application.server. A key query sent
// to any instance answers the owner's value (forwarded), or the owner's
// address with route=address; the metadata calls agree with where each
// key is; range queries fan out and return every key once, in key order
// (window queries: in partition order).
// MetadataForLocalThreads matches the map. After one instance stops and
// the group rebalances, every query still
// answers correctly, and until then answers are right or 503, never a
// wrong value or a 404.
func TestQueryRoutingThreeInstances(t *testing.T) {
	const (
		topic = "route-orders"
		store = "route-counts"
		keys  = 36
	)
	b := testbroker.New(t)
	b.CreateTopic(t, topic, 6, nil)
	var ins []*routeInstance
	for range 3 {
		ins = append(ins, startRouteInstance(t, b, "route-app", topic, store))
	}
	if _, err := ins[0].app.MetadataForAllStreamsClients(); err != nil && !errors.Is(err, core.ErrMetadataUnavailable) {
		t.Errorf("metadata before the first assignment: %v, want nil or ErrMetadataUnavailable", err)
	}

	// Key i is counted i%4+1 times, so a value tells which key it is.
	// All records are in one window (of a recent minute: the changelogs
	// of window stores drop records older than the retention).
	windowStart := time.Now().Truncate(time.Minute)
	want := map[string]int64{}
	var recs []*kgo.Record
	for i := range keys {
		key := fmt.Sprintf("k%02d", i)
		want[key] = int64(i%4 + 1)
		for range i%4 + 1 {
			v, _ := serde.Int64().Serialize("", 1)
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key), Value: v, Timestamp: windowStart.Add(time.Second)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Client(t).ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	sortedKeys := make([]string, 0, len(want))
	for k := range want {
		sortedKeys = append(sortedKeys, k)
	}
	sort.Strings(sortedKeys)

	type entry struct {
		Key       string `json:"key"`
		Value     int64  `json:"value"`
		Partition *int32 `json:"partition"`
		Host      string `json:"host"`
	}
	// lastSeen is the last unexpected answer, for timeouts.
	var lastSeen string
	detail := testwait.Detail(func() string { return "last answer: " + lastSeen })
	// lookup asks in for key; ok when it answers the owner's value.
	lookup := func(in *routeInstance, key string) (bool, routeAnswer) {
		a := routeGet(t, "http://"+in.addr+"/stores/"+store+"/keys/"+key)
		var e entry
		_ = json.Unmarshal([]byte(a.body), &e)
		ok := a.status == http.StatusOK && e.Key == key && e.Value == want[key]
		if !ok {
			lastSeen = fmt.Sprintf("GET %s from %s: %d %s", key, in.addr, a.status, a.body)
		}
		return ok, a
	}
	// scan asks in for the whole store; ok when every key is there once,
	// with its value, in key order.
	scan := func(in *routeInstance) (bool, routeAnswer) {
		a := routeGet(t, "http://"+in.addr+"/stores/"+store)
		var all struct{ Entries []entry }
		if a.status != http.StatusOK || json.Unmarshal([]byte(a.body), &all) != nil || len(all.Entries) != len(want) {
			lastSeen = fmt.Sprintf("scan from %s: %d %.300s", in.addr, a.status, a.body)
			return false, a
		}
		for i, e := range all.Entries {
			if e.Key != sortedKeys[i] || e.Value != want[e.Key] {
				lastSeen = fmt.Sprintf("scan from %s: entry %d is %+v, want %s=%d", in.addr, i, e, sortedKeys[i], want[sortedKeys[i]])
				return false, a
			}
		}
		return true, a
	}
	// windowsOK asks in for every key's windows (fan-out) and for one
	// key's windows (routed): one window per key, the key's count, in
	// partition order.
	windowsOK := func(in *routeInstance, key string) bool {
		a := routeGet(t, "http://"+in.addr+"/stores/"+store+"-windows/windows")
		var all struct {
			Entries []struct {
				Key       string `json:"key"`
				Value     int64  `json:"value"`
				Start     int64  `json:"start"`
				Partition int32  `json:"partition"`
			}
		}
		if a.status != http.StatusOK || json.Unmarshal([]byte(a.body), &all) != nil || len(all.Entries) != len(want) {
			lastSeen = fmt.Sprintf("windows from %s: %d %d entries %s", in.addr, a.status, len(all.Entries), a.body)
			return false
		}
		seen := map[string]bool{}
		for i, e := range all.Entries {
			if seen[e.Key] || e.Value != want[e.Key] || e.Start != windowStart.UnixMilli() || (i > 0 && e.Partition < all.Entries[i-1].Partition) {
				lastSeen = fmt.Sprintf("windows from %s: entry %d %+v", in.addr, i, e)
				return false
			}
			seen[e.Key] = true
		}
		a = routeGet(t, "http://"+in.addr+"/stores/"+store+"-windows/windows/"+key)
		if a.status != http.StatusOK || !strings.Contains(a.body, fmt.Sprintf(`"value":%d,"start":%d`, want[key], windowStart.UnixMilli())) {
			lastSeen = fmt.Sprintf("windows of %s from %s: %d %s", key, in.addr, a.status, a.body)
			return false
		}
		return true
	}
	everyKeyEverywhere := func(live []*routeInstance) func() bool {
		return func() bool {
			for _, in := range live {
				for key := range want {
					if ok, _ := lookup(in, key); !ok {
						return false
					}
				}
				if ok, _ := scan(in); !ok {
					return false
				}
				for _, key := range sortedKeys[:6] {
					if !windowsOK(in, key) {
						return false
					}
				}
			}
			return true
		}
	}
	testwait.Until(t, "every key answered with its owner's value by every instance, and full scans", 60*time.Second, everyKeyEverywhere(ins), detail)

	// The metadata agree with where the keys are: the owner named by
	// QueryMetadataForKey serves the key locally, the others point to it.
	byAddr := map[string]*routeInstance{}
	for _, in := range ins {
		byAddr[in.addr] = in
	}
	metadataAgrees := func(live []*routeInstance) func() bool {
		return func() bool {
			owners := map[string]bool{}
			for key := range want {
				md, err := dsl.QueryMetadataForKey(live[0].app, live[0].table, key)
				if err != nil || len(md.StandbyHosts) != 0 {
					lastSeen = fmt.Sprintf("metadata of %s: %+v, %v", key, md, err)
					return false
				}
				owner := byAddr[md.ActiveHost.String()]
				if owner == nil || owner.stop == nil {
					lastSeen = fmt.Sprintf("metadata of %s: %+v names no running instance", key, md)
					return false
				}
				owners[owner.addr] = true
				// The same answer from every instance, typed or not.
				for _, in := range live[1:] {
					other, err := in.app.QueryMetadataForKey(store, []byte(key))
					if err != nil || other.ActiveHost != md.ActiveHost || other.Partition != md.Partition {
						lastSeen = fmt.Sprintf("metadata of %s: %+v on %s, %+v (%v) on %s", key, md, live[0].addr, other, err, in.addr)
						return false
					}
				}
				for _, in := range live {
					a := routeGet(t, "http://"+in.addr+"/stores/"+store+"/keys/"+key+"?route=address")
					var e entry
					_ = json.Unmarshal([]byte(a.body), &e)
					lastSeen = fmt.Sprintf("GET %s?route=address from %s (owner %s): %d %s %v", key, in.addr, owner.addr, a.status, a.body, a.header)
					if in == owner {
						if a.status != http.StatusOK || e.Value != want[key] || e.Partition == nil || *e.Partition != md.Partition {
							return false
						}
						continue
					}
					if a.status != http.StatusMisdirectedRequest || e.Host != owner.addr || e.Partition == nil || *e.Partition != md.Partition ||
						a.header.Get("Location") != "http://"+owner.addr+"/stores/"+store+"/keys/"+key+"?route=address" {
						return false
					}
				}
			}
			return len(owners) == len(live)
		}
	}
	testwait.Until(t, "QueryMetadataForKey agrees with the instance serving each key, on every instance", 30*time.Second, metadataAgrees(ins), detail)

	checkAllClients := func(live []*routeInstance) func() bool {
		return func() bool {
			for _, in := range live {
				all, err := in.app.MetadataForAllStreamsClients()
				lastSeen = fmt.Sprintf("MetadataForAllStreamsClients of %s: %+v, %v", in.addr, all, err)
				if err != nil || len(all) != len(live) {
					return false
				}
				// This instance's threads run what the map gives it.
				var local []core.TopicPartition
				for _, th := range in.app.MetadataForLocalThreads() {
					if th.ThreadState != "RUNNING" || len(th.StandbyTasks) != 0 {
						return false
					}
					for _, tm := range th.ActiveTasks {
						local = append(local, tm.TopicPartitions...)
					}
				}
				seen := map[core.TopicPartition]bool{}
				for _, md := range all {
					if byAddr[md.HostInfo.String()] == nil || !slices.Contains(md.StateStoreNames, store) ||
						len(md.StandbyStateStoreNames) != 0 || len(md.StandbyTopicPartitions) != 0 {
						return false
					}
					if md.HostInfo.String() == in.addr && fmt.Sprint(md.TopicPartitions) != fmt.Sprint(local) {
						lastSeen = fmt.Sprintf("%s: map says %v, its threads run %v", in.addr, md.TopicPartitions, local)
						return false
					}
					for _, tp := range md.TopicPartitions {
						if tp.Topic != topic || seen[tp] {
							return false
						}
						seen[tp] = true
					}
				}
				if len(seen) != 6 {
					return false
				}
			}
			return true
		}
	}
	testwait.Until(t, "MetadataForAllStreamsClients lists every instance and partition once", 30*time.Second, checkAllClients(ins), detail)

	// A forwarded answer names its owner.
	key := sortedKeys[0]
	md, err := ins[0].app.QueryMetadataForKey(store, []byte(key))
	must(t, err)
	for _, in := range ins {
		if in.addr == md.ActiveHost.String() {
			continue
		}
		if ok, a := lookup(in, key); !ok || a.header.Get("X-Sluice-Query-Owner") != md.ActiveHost.String() {
			t.Errorf("GET %s from %s: %d %s (owner header %q), want the value forwarded from %s", key, in.addr, a.status, a.body, a.header.Get("X-Sluice-Query-Owner"), md.ActiveHost)
		}
		break
	}

	// Stop one instance; until the group settled, every answer is the
	// right one or 503.
	ins[2].close(t)
	live := ins[:2]
	var unavailable int
	testwait.Until(t, "every key answered by the two remaining instances after the rebalance", 60*time.Second, func() bool {
		done := true
		for _, in := range live {
			for key := range want {
				ok, a := lookup(in, key)
				switch {
				case ok:
				case a.status == http.StatusServiceUnavailable && strings.Contains(a.body, `"error"`):
					unavailable++
					done = false
				default:
					t.Fatalf("GET %s from %s during the rebalance: %d %s; want the value or 503", key, in.addr, a.status, a.body)
				}
			}
			if ok, a := scan(in); !ok {
				if a.status != http.StatusServiceUnavailable {
					t.Fatalf("scan from %s during the rebalance: %d %s; want every key or 503", in.addr, a.status, a.body)
				}
				done = false
			}
		}
		return done
	}, detail)
	t.Logf("503 answers while the group rebalanced: %d", unavailable)
	testwait.Until(t, "window queries of the remaining instances", 30*time.Second, everyKeyEverywhere(live), detail)
	testwait.Until(t, "metadata of the remaining instances", 30*time.Second, func() bool {
		return checkAllClients(live)() && metadataAgrees(live)()
	}, detail)
}

// TestQueryMetadataBeforeRun: the metadata calls name their errors before
// the application runs.
func TestQueryMetadataBeforeRun(t *testing.T) {
	db := dsl.NewBuilder()
	dsl.Stream(db, "mbr-in", dsl.ConsumedWith(serde.String(), serde.Int64())).
		GroupByKey().Count(dsl.MaterializedAs[string, int64]("mbr-counts"))
	topo, err := db.Build()
	must(t, err)
	app, err := core.New(topo, core.WithBrokers("127.0.0.1:1"), core.WithApplicationID("mbr"), core.WithApplicationServer("localhost:8080"))
	must(t, err)
	if _, err := app.MetadataForAllStreamsClients(); !errors.Is(err, core.ErrMetadataUnavailable) {
		t.Errorf("MetadataForAllStreamsClients: %v, want ErrMetadataUnavailable", err)
	}
	if _, err := app.QueryMetadataForKey("mbr-counts", []byte("k")); !errors.Is(err, core.ErrNotReady) {
		t.Errorf("QueryMetadataForKey: %v, want ErrNotReady", err)
	}
	if _, err := app.QueryMetadataForKey("nope", []byte("k")); !errors.Is(err, core.ErrUnknownStore) {
		t.Errorf("QueryMetadataForKey(unknown store): %v, want ErrUnknownStore", err)
	}
	for _, bad := range []string{"localhost", ":8080", "host:0", "host:x", "host:70000"} {
		if _, err := core.New(topo, core.WithBrokers("127.0.0.1:1"), core.WithApplicationID("mbr"), core.WithApplicationServer(bad)); err == nil || !strings.Contains(err.Error(), "application.server") {
			t.Errorf("WithApplicationServer(%q): %v, want an application.server error", bad, err)
		}
	}
	if h, err := core.ParseHostInfo("[::1]:9"); err != nil || h.Host != "::1" || h.Port != 9 || h.String() != "[::1]:9" {
		t.Errorf("ParseHostInfo([::1]:9) = %+v, %v", h, err)
	}
}
