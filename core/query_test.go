package core

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kpart"
	"github.com/sluicehq/sluice/internal/memstate"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

// queryFixture is an App that never runs: its partition counts and local
// stores are set by hand, as App.Run and the stream threads would.
type queryFixture struct {
	app     *App
	engines map[int32]state.Engine
}

const fixturePartitions = 4

// newQueryFixture builds an App with a key-value store "kv", a window store
// "win" and a session store "sess" on a 4-partition topic, holding the
// given partitions locally.
func newQueryFixture(t *testing.T, local ...int32) *queryFixture {
	t.Helper()
	topo := NewTopology()
	noop := ProcessorFunc[string, string, string, string](func(ProcessorContext[string, string], Record[string, string]) error { return nil }).Supplier()
	for _, err := range []error{
		AddSource(topo, "src", serde.String(), serde.String(), []string{"in"}),
		AddProcessor(topo, "proc", noop, "src"),
		topo.AddStateStore(StoreSpec{Name: "kv", Kind: KeyValueStoreKind}, "proc"),
		topo.AddStateStore(StoreSpec{Name: "win", Kind: WindowStoreKind, Retention: time.Hour}, "proc"),
		topo.AddStateStore(StoreSpec{Name: "sess", Kind: SessionStoreKind, Retention: time.Hour}, "proc"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	app, err := New(topo, WithBrokers("127.0.0.1:1"), WithApplicationID("q"))
	if err != nil {
		t.Fatal(err)
	}
	app.counts["in"] = fixturePartitions
	f := &queryFixture{app: app, engines: map[int32]state.Engine{}}
	app.queryable.stores = map[string]map[int32]localStore{}
	for _, p := range local {
		eng := memstate.New()
		t.Cleanup(func() { _ = eng.Close() })
		for _, err := range []error{
			func() error { _, err := eng.KeyValue("kv"); return err }(),
			func() error { _, err := eng.Window("win", time.Hour, time.Minute); return err }(),
			func() error { _, err := eng.Session("sess", time.Hour, time.Minute); return err }(),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		f.engines[p] = eng
		for name, kind := range map[string]StoreKind{"kv": KeyValueStoreKind, "win": WindowStoreKind, "sess": SessionStoreKind} {
			if app.queryable.stores[name] == nil {
				app.queryable.stores[name] = map[int32]localStore{}
			}
			app.queryable.stores[name][p] = localStore{kind: kind, engine: eng.ReadOnly()}
		}
	}
	return f
}

// keysIn returns n keys "k<i>" that the default partitioner places on p.
func keysIn(p int32, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		k := "k" + strconv.Itoa(i)
		if keyPartition([]byte(k), fixturePartitions) == p {
			out = append(out, k)
		}
	}
	return out
}

func stamped(ts int64, v string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(ts)), v...)
}

// put writes key-value entries (timestamped values) to the partition the
// key belongs to and commits.
func (f *queryFixture) put(t *testing.T, commit bool, kvs ...string) {
	t.Helper()
	touched := map[int32]bool{}
	for i := 0; i < len(kvs); i += 2 {
		p := keyPartition([]byte(kvs[i]), fixturePartitions)
		eng := f.engines[p]
		kv, err := eng.KeyValue("kv")
		if err != nil {
			t.Fatal(err)
		}
		if err := kv.Put([]byte(kvs[i]), stamped(int64(100+i), kvs[i+1])); err != nil {
			t.Fatal(err)
		}
		touched[p] = true
	}
	if commit {
		for p := range touched {
			if err := f.engines[p].Commit(nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestKeyPartitionMatchesProducer(t *testing.T) {
	part := kpart.Default().ForTopic("t")
	for i := range 200 {
		k := []byte(fmt.Sprintf("key-%d", i))
		for _, n := range []int32{1, 3, 4, 7, 12} {
			if got, want := keyPartition(k, n), int32(part.Partition(&kgo.Record{Key: k, Partition: -1}, int(n))); got != want {
				t.Fatalf("keyPartition(%q, %d) = %d, producer chooses %d", k, n, got, want)
			}
		}
	}
}

func TestQueryKeyValueRouting(t *testing.T) {
	f := newQueryFixture(t, 0, 2)
	in0, in1, in2 := keysIn(0, 3), keysIn(1, 1), keysIn(2, 3)
	f.put(t, true, in0[0], "a", in0[1], "b", in0[2], "c", in2[0], "d", in2[1], "e", in2[2], "f")
	f.put(t, false, in0[0], "uncommitted") // invisible to queries

	q, err := QueryKeyValue(f.app, "kv", serde.String(), serde.String(), WithTimestampedValues())
	if err != nil {
		t.Fatal(err)
	}
	v, ts, found, err := q.GetWithTimestamp(in0[0])
	if err != nil || !found || v != "a" || ts != 100 {
		t.Errorf("Get(%s) = %q, %d, %v, %v; want committed \"a\" at 100", in0[0], v, ts, found, err)
	}
	if v, found, err := q.Get(in2[2]); err != nil || !found || v != "f" {
		t.Errorf("Get(%s) = %q, %v, %v; want \"f\"", in2[2], v, found, err)
	}
	if _, found, err := q.Get(keysIn(2, 4)[3]); err != nil || found {
		t.Errorf("Get(missing local key) = %v, %v; want not found", found, err)
	}
	_, _, err = q.Get(in1[0])
	var nl *NotLocalError
	if !errors.Is(err, ErrNotLocal) || !errors.As(err, &nl) || nl.Partition != 1 || nl.Store != "kv" {
		t.Errorf("Get(key of partition 1) error = %v, want NotLocalError for partition 1", err)
	}
	if p, err := q.Partition(in1[0]); err != nil || p != 1 {
		t.Errorf("Partition = %d, %v; want 1", p, err)
	}

	// All merges the local partitions in key order.
	collect := func(it *KeyValueIterator[string, string], err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		var out []string
		for it.Next() {
			out = append(out, fmt.Sprintf("%s=%s@%d/p%d", it.Key(), it.Value(), it.Timestamp(), it.Partition()))
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := map[string]string{in0[0]: "a", in0[1]: "b", in0[2]: "c", in2[0]: "d", in2[1]: "e", in2[2]: "f"}
	var wantAll []string
	for _, k := range sortedKeys(want) {
		p := keyPartition([]byte(k), fixturePartitions)
		i := map[string]int{in0[0]: 0, in0[1]: 2, in0[2]: 4, in2[0]: 6, in2[1]: 8, in2[2]: 10}[k]
		wantAll = append(wantAll, fmt.Sprintf("%s=%s@%d/p%d", k, want[k], 100+i, p))
	}
	if got := collect(q.All()); !reflect.DeepEqual(got, wantAll) {
		t.Errorf("All = %v\nwant  %v", got, wantAll)
	}
	// Range is inclusive of both bounds.
	keys := sortedKeys(want)
	if got := collect(q.Range(keys[1], keys[3])); !reflect.DeepEqual(got, wantAll[1:4]) {
		t.Errorf("Range(%s, %s) = %v, want %v", keys[1], keys[3], got, wantAll[1:4])
	}

	if got := collect(q.Range(keys[3], keys[1])); len(got) != 0 {
		t.Errorf("Range(%s, %s) = %v, want nothing", keys[3], keys[1], got)
	}

	// Not running yet (no partition counts): ErrNotReady.
	delete(f.app.counts, "in")
	if _, _, err := q.Get(in0[0]); !errors.Is(err, ErrNotReady) {
		t.Errorf("Get before Run: %v, want ErrNotReady", err)
	}
	if _, err := QueryKeyValue(f.app, "nope", serde.String(), serde.String()); !errors.Is(err, ErrUnknownStore) {
		t.Errorf("unknown store: %v", err)
	}
	if _, err := QueryKeyValue(f.app, "win", serde.String(), serde.String()); !errors.Is(err, ErrUnknownStore) {
		t.Errorf("window store queried as key-value: %v", err)
	}
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

func TestQueryHTTP(t *testing.T) {
	f := newQueryFixture(t, 0)
	in0, in1 := keysIn(0, 3), keysIn(1, 1)
	f.put(t, true, in0[0], "a", in0[1], "b")
	eng := f.engines[0]
	win, _ := eng.Window("win", time.Hour, time.Minute)
	for _, w := range []struct {
		start int64
		v     string
	}{{1000, "w1"}, {2000, "w2"}, {3000, "w3"}} {
		if err := win.Put([]byte(in0[0]), w.start, stamped(w.start+5, w.v)); err != nil {
			t.Fatal(err)
		}
	}
	sess, _ := eng.Session("sess", time.Hour, time.Minute)
	if err := sess.Put([]byte(in0[1]), 10, 20, []byte("s1")); err != nil {
		t.Fatal(err)
	}
	if err := sess.Put([]byte(in0[1]), 50, 70, []byte("s2")); err != nil {
		t.Fatal(err)
	}
	if err := eng.Commit(nil); err != nil {
		t.Fatal(err)
	}
	parse := func(s string) (string, error) { return s, nil }
	h, err := QueryHandler(f.app,
		NewQueryCodec("kv", serde.String(), serde.String(), parse, nil, WithTimestampedValues()),
		NewQueryCodec("win", serde.String(), serde.String(), parse, func(v string) any { return map[string]string{"v": v} }, WithTimestampedValues()),
		NewQueryCodec("sess", serde.String(), serde.String(), parse, nil),
	)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: content type %q", path, ct)
		}
		return resp.StatusCode, string(b)
	}
	first, second := in0[0], in0[1]
	if first > second {
		first, second = second, first
	}
	esc := url.PathEscape
	// Before the group's task map: key queries for other partitions and
	// fan-outs cannot be routed yet.
	if status, body := get("/stores/kv/keys/" + esc(in1[0])); status != 503 || !strings.Contains(body, "not received a group assignment") {
		t.Errorf("before the task map: %d %s, want 503", status, body)
	}
	if status, body := get("/stores/kv"); status != 503 {
		t.Errorf("fan-out before the task map: %d %s, want 503", status, body)
	}
	// This instance runs task 0_0; another, without application.server,
	// the others.
	other := processID{1}
	info := &assignmentInfo{generation: 1, hosts: []hostAssignment{
		{process: f.app.process, active: []TaskID{{0, 0}, {0, 2}}}, // 0_2 still restoring
		{process: other, active: []TaskID{{0, 1}, {0, 3}}},
	}}
	sortHosts(info.hosts)
	f.app.balancer.observe(info)
	for _, c := range []struct {
		path   string
		status int
		body   string
	}{
		{"/stores/kv/keys/" + esc(in0[0]), 200, fmt.Sprintf(`{"key":%q,"value":"a","timestamp":100,"partition":0}`, in0[0])},
		{"/stores/kv/keys/" + esc(in0[2]), 404, `{"error":"key \"` + in0[2] + `\" not found in store \"kv\""}`},
		{"/stores/kv/keys/" + esc(in1[0]), 421, `{"error":"store \"kv\" partition 1 is held by an instance without application.server; set it (WithApplicationServer) on every instance to route queries","partition":1,"store":"kv"}`},
		{"/stores/kv/keys/" + esc(in1[0]) + "?route=nowhere", 400, `{"error":"bad request: route=\"nowhere\" (want proxy, address or local)"}`},
		{"/stores/kv", 421, `{"error":"store \"kv\" partition 1 is held by an instance without application.server; set it (WithApplicationServer) on every instance, or ask with route=local"}`},
		{"/stores/nope/keys/x", 404, `{"error":"unknown store \"nope\""}`},
		{"/stores/kv?route=local", 200, fmt.Sprintf(`{"entries":[{"key":%q,"value":%q,"timestamp":%d,"partition":0},{"key":%q,"value":%q,"timestamp":%d,"partition":0}],"partitions":[0]}`,
			first, map[string]string{in0[0]: "a", in0[1]: "b"}[first], map[string]int{in0[0]: 100, in0[1]: 102}[first],
			second, map[string]string{in0[0]: "a", in0[1]: "b"}[second], map[string]int{in0[0]: 100, in0[1]: 102}[second])},
		{"/stores/kv?route=local&from=" + esc(second), 200, fmt.Sprintf(`{"entries":[{"key":%q,"value":%q,"timestamp":%d,"partition":0}],"partitions":[0]}`,
			second, map[string]string{in0[0]: "a", in0[1]: "b"}[second], map[string]int{in0[0]: 100, in0[1]: 102}[second])},
		{"/stores/kv?route=local&to=" + esc(first) + "&from=" + esc(first), 200, fmt.Sprintf(`{"entries":[{"key":%q,"value":%q,"timestamp":%d,"partition":0}],"partitions":[0]}`,
			first, map[string]string{in0[0]: "a", in0[1]: "b"}[first], map[string]int{in0[0]: 100, in0[1]: 102}[first])},
		{"/stores/win/windows/" + esc(in0[0]) + "?from=1500&to=3000", 200, fmt.Sprintf(`{"entries":[{"key":%q,"value":{"v":"w2"},"start":2000,"timestamp":2005,"partition":0},{"key":%q,"value":{"v":"w3"},"start":3000,"timestamp":3005,"partition":0}]}`, in0[0], in0[0])},
		{"/stores/win/windows?route=local&to=1000", 200, fmt.Sprintf(`{"entries":[{"key":%q,"value":{"v":"w1"},"start":1000,"timestamp":1005,"partition":0}],"partitions":[0]}`, in0[0])},
		{"/stores/win/windows/" + esc(in1[0]), 421, `{"error":"store \"win\" partition 1 is held by an instance without application.server; set it (WithApplicationServer) on every instance to route queries","partition":1,"store":"win"}`},
		{"/stores/win/windows/x?from=yesterday", 400, `{"error":"bad request: from=\"yesterday\" is not epoch milliseconds"}`},
		{"/stores/sess/sessions/" + esc(in0[1]), 200, fmt.Sprintf(`{"entries":[{"key":%q,"value":"s1","start":10,"end":20},{"key":%q,"value":"s2","start":50,"end":70}]}`, in0[1], in0[1])},
		{"/stores/sess/keys/x", 400, `{"error":"store \"sess\" is a session store, not a key-value store"}`},
		{"/other", 404, `{"error":"no such endpoint: GET /other"}`},
	} {
		status, body := get(c.path)
		if status != c.status || body != c.body+"\n" {
			t.Errorf("GET %s = %d %s\nwant      %d %s", c.path, status, body, c.status, c.body)
		}
	}
	// A partition assigned here but not restored yet, and a forwarded
	// request for a partition not held here: 503, never a 404.
	if status, body := get("/stores/kv/keys/" + esc(keysIn(2, 1)[0])); status != 503 || !strings.Contains(body, "assigned to this instance but not queryable yet") {
		t.Errorf("restoring partition: %d %s, want 503", status, body)
	}
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/stores/kv/keys/"+esc(in1[0]), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(QueryHopHeader, "elsewhere:1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hopBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(hopBody), "not served by this instance") {
		t.Errorf("forwarded request for another partition: %d %s, want 503", resp.StatusCode, hopBody)
	}
	// Before Run (no partition counts): 503.
	delete(f.app.counts, "in")
	if status, body := get("/stores/kv/keys/x"); status != 503 {
		t.Errorf("before Run: %d %s, want 503", status, body)
	}
	var bad map[string]any
	if _, body := get("/stores/kv/keys/x"); json.Unmarshal([]byte(body), &bad) != nil || bad["error"] == nil {
		t.Errorf("error body %q is not a JSON error", body)
	}
	if _, err := QueryHandler(f.app, NewQueryCodec("missing", serde.String(), serde.String(), parse, nil)); !errors.Is(err, ErrUnknownStore) {
		t.Errorf("codec of a missing store: %v", err)
	}
}
