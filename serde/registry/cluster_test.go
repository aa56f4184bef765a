package registry_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde/registry"
)

func TestRestartKeepsState(t *testing.T) {
	b := testbroker.New(t)
	reg, c := start(t, b, registry.WithTopic("_reg"))
	c.expect("POST", "/subjects/s/versions", req(v1), 200, `{"id":1}`)
	c.expect("POST", "/subjects/s/versions", req(v2), 200, `{"id":2}`)
	c.expect("POST", "/subjects/t/versions", req(v2), 200, `{"id":2}`)
	c.expect("PUT", "/config/t", `{"compatibility":"FULL"}`, 200, "")
	c.expect("PUT", "/config", `{"compatibility":"FORWARD"}`, 200, "")
	c.expect("DELETE", "/subjects/s/versions/1", "", 200, "1")
	c.expect("PUT", "/config/gone", `{"compatibility":"NONE"}`, 200, "")
	c.expect("POST", "/subjects/gone/versions", req(v3), 200, `{"id":3}`)
	c.expect("DELETE", "/subjects/gone", "", 200, `[1]`)
	c.expect("DELETE", "/subjects/gone?permanent=true", "", 200, `[1]`)
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}

	check := func(c *client) {
		t.Helper()
		c.expect("GET", "/subjects", "", 200, `["s","t"]`)
		c.expect("GET", "/subjects/s/versions", "", 200, `[2]`)
		c.expect("GET", "/subjects/s/versions?deleted=true", "", 200, `[1,2]`)
		c.expect("GET", "/subjects/t/versions/latest", "", 200, `{"subject":"t","version":1,"id":2,"schema":`+strconv.Quote(v2)+`}`)
		c.expect("GET", "/config/t", "", 200, `{"compatibilityLevel":"FULL"}`)
		c.expect("GET", "/config", "", 200, `{"compatibilityLevel":"FORWARD"}`)
		c.expectError("GET", "/schemas/ids/3", "", 404, 40403)
	}
	_, c2 := start(t, b, registry.WithTopic("_reg"))
	check(c2)

	// After the log cleaner ran (and tombstones of rejected claims and
	// NOOPs are gone), a fresh instance sees the same state and still
	// never reuses id 3.
	b.Cluster().Compact()
	_, c3 := start(t, b, registry.WithTopic("_reg"))
	check(c3)
	c3.expect("POST", "/subjects/new/versions", req(userSchema(`{"name":"k","type":"long"}`)), 200, `{"id":4}`)
	c2.expect("GET", "/schemas/ids/4", "", 200, "") // the other instance catches up on a miss
}

// TestTwoInstancesAgreeOnIDs registers schemas concurrently through two
// instances on one cluster: the same schema gets one id everywhere,
// different schemas get different ids.
func TestTwoInstancesAgreeOnIDs(t *testing.T) {
	b := testbroker.New(t)
	_, c1 := start(t, b)
	_, c2 := start(t, b)
	clients := []*client{c1, c2}

	const schemas = 12
	type result struct {
		schema, instance int
		id               int
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
	)
	for i := range schemas {
		schema := userSchema(fmt.Sprintf(`{"name":"f%d","type":"string","default":""}`, i))
		for inst, c := range clients {
			// Each schema goes through both instances at once, under a
			// shared subject (racing for the same version) and under a
			// subject of its own (racing for the same id).
			for _, subject := range []string{"shared-" + strconv.Itoa(i%3), fmt.Sprintf("own-%d-%d", i, inst)} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := c.do("POST", "/subjects/"+subject+"/versions", req(schema))
					if r.status != 200 {
						t.Errorf("instance %d register %s: %d %s", inst, subject, r.status, r.body)
						return
					}
					mu.Lock()
					results = append(results, result{schema: i, instance: inst, id: idOf(t, r.body)})
					mu.Unlock()
				}()
			}
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	idOfSchema := map[int]int{}
	schemaOfID := map[int]int{}
	for _, r := range results {
		if id, ok := idOfSchema[r.schema]; ok && id != r.id {
			t.Errorf("schema %d got ids %d and %d", r.schema, id, r.id)
		}
		idOfSchema[r.schema] = r.id
		if s, ok := schemaOfID[r.id]; ok && s != r.schema {
			t.Errorf("id %d given to schemas %d and %d", r.id, s, r.schema)
		}
		schemaOfID[r.id] = r.schema
	}
	if len(schemaOfID) != schemas {
		t.Errorf("%d distinct ids for %d schemas", len(schemaOfID), schemas)
	}
	// Both instances serve the same registry once each has read the other's
	// last writes (reads are served from local state, as in Confluent).
	for _, path := range []string{"/subjects", "/subjects/shared-0/versions", "/subjects/shared-1/versions/latest", "/schemas/ids/5/versions"} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			a, b := c1.do("GET", path, ""), c2.do("GET", path, "")
			if a.status == 200 && a.body == b.body {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("GET %s: instance 1 %d %s, instance 2 %d %s", path, a.status, a.body, b.status, b.body)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for id, s := range schemaOfID {
		want := userSchema(fmt.Sprintf(`{"name":"f%d","type":"string","default":""}`, s))
		for _, c := range clients {
			c.expect("GET", fmt.Sprintf("/schemas/ids/%d/schema", id), "", 200, want)
		}
	}
}

func TestServeAndClose(t *testing.T) {
	b := testbroker.New(t)
	reg, err := registry.New(context.Background(), registry.WithBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	ln := srv.Listener
	done := make(chan error, 1)
	go func() { done <- reg.Serve(ln) }()
	c := &client{t: t, url: "http://" + ln.Addr().String()}
	c.expect("GET", "/subjects", "", 200, `[]`)
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != registry.ErrClosed {
		t.Fatalf("Serve returned %v, want ErrClosed", err)
	}
}

func TestNewErrors(t *testing.T) {
	b := testbroker.New(t)
	b.CreateTopic(t, "wide", 3, nil)
	_, err := registry.New(context.Background(), registry.WithBrokers(b.Addr()), registry.WithTopic("wide"))
	if err == nil || err.Error() != `registry: topic "wide" has 3 partitions; the registry needs exactly 1 so that every instance reads one order of writes` {
		t.Fatalf("3-partition topic: %v", err)
	}
}
