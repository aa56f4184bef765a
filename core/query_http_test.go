package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

// TestQueryHandlerBroker queries the stores of a running application over
// HTTP: a stream count and a table re-grouped by region (through the
// Change-encoded repartition topic), after the application committed.
func TestQueryHandlerBroker(t *testing.T) {
	b := testbroker.New(t)
	b.CreateTopic(t, "iq-orders", 3, nil)
	b.CreateTopic(t, "iq-accounts", 2, nil)

	db := dsl.NewBuilder()
	orders := dsl.Stream(db, "iq-orders", dsl.ConsumedWith(serde.String(), serde.Int64()))
	orderCounts := orders.GroupByKey().Count(dsl.MaterializedAs[string, int64]("order-counts"))
	accounts := dsl.Table(db, "iq-accounts", dsl.ConsumedWith(serde.String(), serde.String()))
	regionCounts := dsl.GroupByTable(accounts, func(acct, region string) (string, string) { return region, acct }).
		Count(dsl.MaterializedAs[string, int64]("region-counts"))
	topo, err := db.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := core.New(topo, core.WithBrokers(b.Addrs()...), core.WithApplicationID("iq-app"),
		core.WithStateDir(t.TempDir()), core.WithCommitInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	parse := func(s string) (string, error) { return s, nil }
	c1, err := dsl.TableQueryCodec(orderCounts, parse, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := dsl.TableQueryCodec(regionCounts, parse, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := core.QueryHandler(app, c1, c2)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	// Before Run: the partition counts are unknown.
	if status, body := httpGet(t, srv.URL+"/stores/order-counts/keys/u0"); status != http.StatusServiceUnavailable {
		t.Errorf("before Run: %d %s, want 503", status, body)
	}
	stop := runApp(t, app)
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	cl := b.Client(t)
	var recs []*kgo.Record
	for i := range 12 {
		v, _ := serde.Int64().Serialize("", int64(i))
		recs = append(recs, &kgo.Record{Topic: "iq-orders", Key: fmt.Appendf(nil, "u%d", i%4), Value: v})
	}
	for _, kv := range [][2]string{{"a1", "eu"}, {"a2", "eu"}, {"a3", "us"}, {"a2", "us"}, {"a3", ""}} {
		r := &kgo.Record{Topic: "iq-accounts", Key: []byte(kv[0])}
		if kv[1] != "" {
			r.Value = []byte(kv[1])
		}
		recs = append(recs, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	type entry struct {
		Key       string `json:"key"`
		Value     int64  `json:"value"`
		Timestamp *int64 `json:"timestamp"`
		Partition int32  `json:"partition"`
	}
	lookup := func(store, key string) (entry, int) {
		status, body := httpGet(t, srv.URL+"/stores/"+store+"/keys/"+key)
		var e entry
		if status == http.StatusOK {
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("GET %s/%s: %v in %s", store, key, err, body)
			}
		}
		return e, status
	}
	want := map[string]int64{"order-counts/u0": 3, "order-counts/u1": 3, "order-counts/u2": 3, "order-counts/u3": 3,
		"region-counts/eu": 1, "region-counts/us": 1}
	testwait.Until(t, "committed counts over HTTP", 30*time.Second, func() bool {
		for path, n := range want {
			store, key, _ := strings.Cut(path, "/")
			if e, status := lookup(store, key); status != http.StatusOK || e.Value != n {
				return false
			}
		}
		return true
	})
	e, _ := lookup("order-counts", "u1")
	if e.Timestamp == nil || e.Key != "u1" {
		t.Errorf("entry %+v: want key u1 and a timestamp", e)
	}
	if _, status := lookup("region-counts", "asia"); status != http.StatusNotFound {
		t.Errorf("unknown key: status %d, want 404", status)
	}

	// The range over all local partitions, merged in key order.
	status, body := httpGet(t, srv.URL+"/stores/order-counts")
	var all struct{ Entries []entry }
	if err := json.Unmarshal([]byte(body), &all); status != http.StatusOK || err != nil {
		t.Fatalf("GET all: %d %s (%v)", status, body, err)
	}
	var keys []string
	for _, e := range all.Entries {
		keys = append(keys, fmt.Sprintf("%s=%d", e.Key, e.Value))
	}
	if got, wantAll := fmt.Sprint(keys), "[u0=3 u1=3 u2=3 u3=3]"; got != wantAll {
		t.Errorf("all = %s, want %s", got, wantAll)
	}

	// The typed query sees the same.
	q, err := dsl.QueryTable(app, regionCounts)
	if err != nil {
		t.Fatal(err)
	}
	if n, found, err := q.Get("eu"); err != nil || !found || n != 1 {
		t.Errorf("QueryTable Get(eu) = %d, %v, %v", n, found, err)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
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
	return resp.StatusCode, string(b)
}

// TestQueryHandlerTwoInstances: with two instances sharing the work, each
// key is served by exactly one of them; the other answers 421 naming the
// partition, which is the one holding the key.
func TestQueryHandlerTwoInstances(t *testing.T) {
	b := testbroker.New(t)
	b.CreateTopic(t, "iq2-orders", 4, nil)
	build := func() (*core.Topology, *dsl.KTable[string, int64]) {
		db := dsl.NewBuilder()
		counts := dsl.Stream(db, "iq2-orders", dsl.ConsumedWith(serde.String(), serde.Int64())).
			GroupByKey().Count(dsl.MaterializedAs[string, int64]("iq2-counts"))
		topo, err := db.Build()
		if err != nil {
			t.Fatal(err)
		}
		return topo, counts
	}
	var urls []string
	var queries []*core.KeyValueQuery[string, int64]
	var apps []*core.App
	for range 2 {
		topo, counts := build()
		app, err := core.New(topo, core.WithBrokers(b.Addrs()...), core.WithApplicationID("iq2-app"),
			core.WithStateDir(t.TempDir()), core.WithCommitInterval(50*time.Millisecond),
			core.WithSessionTimeout(10*time.Second), core.WithKafkaOptions(kgo.HeartbeatInterval(100*time.Millisecond)))
		if err != nil {
			t.Fatal(err)
		}
		codec, err := dsl.TableQueryCodec(counts, func(s string) (string, error) { return s, nil }, nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := core.QueryHandler(app, codec)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
		apps = append(apps, app)
		q, err := dsl.QueryTable(app, counts)
		if err != nil {
			t.Fatal(err)
		}
		queries = append(queries, q)
		stop := runApp(t, app)
		t.Cleanup(func() {
			if err := stop(); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	var recs []*kgo.Record
	for i := range 32 { // k0..k15 twice: keys on every partition
		v, _ := serde.Int64().Serialize("", 1)
		recs = append(recs, &kgo.Record{Topic: "iq2-orders", Key: fmt.Appendf(nil, "k%d", i%16), Value: v})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Client(t).ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		Value     int64  `json:"value"`
		Partition *int32 `json:"partition"`
	}
	served := map[int]int{}
	testwait.Until(t, "every key served by exactly one instance", 30*time.Second, func() bool {
		clear(served)
		for k := range 16 {
			key := fmt.Sprintf("k%d", k)
			want, err := queries[0].Partition(key)
			if err != nil {
				return false
			}
			ok, misdirected := 0, 0
			for i, u := range urls {
				status, body := httpGet(t, u+"/stores/iq2-counts/keys/"+key)
				var a answer
				_ = json.Unmarshal([]byte(body), &a)
				switch {
				case status == http.StatusOK && a.Value == 2 && a.Partition != nil && *a.Partition == want:
					ok++
					served[i]++
				case status == http.StatusMisdirectedRequest && a.Partition != nil && *a.Partition == want:
					misdirected++
				}
			}
			if ok != 1 || misdirected != 1 {
				return false
			}
		}
		return served[0] > 0 && served[1] > 0
	})
	t.Logf("keys served per instance: %v; tasks %d and %d", served, apps[0].Stats().Tasks, apps[1].Stats().Tasks)
}
