package registry

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/testbroker"
)

func openServices(t *testing.T, n int) []*Service {
	t.Helper()
	b := testbroker.New(t)
	var svcs []*Service
	for range n {
		st, err := OpenStore(context.Background(), StoreConfig{Brokers: b.Addrs(), Topic: "_schemas"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		svcs = append(svcs, NewService(st))
	}
	return svcs
}

// TestForcedRaces makes both instances plan every registration on the same
// state before either appends its claim, so conflicting claims must lose
// and be retried.
func TestForcedRaces(t *testing.T) {
	svcs := openServices(t, 2)
	ctx := context.Background()
	var arrived sync.WaitGroup
	for _, svc := range svcs {
		svc.beforeClaim = func(attempt int) {
			if attempt == 0 {
				arrived.Done()
				arrived.Wait()
			}
		}
	}
	schema := func(i int) string {
		return fmt.Sprintf(`{"type":"record","name":"R","fields":[{"name":"f%d","type":"int","default":0}]}`, i)
	}
	type call struct{ subject, schema string }
	rounds := []struct {
		name     string
		wantLost int64
		calls    [2]call
		check    func(a, b SubjectVersion) error
	}{
		{"same schema, same subject", 1, [2]call{{"s", schema(1)}, {"s", schema(1)}}, func(a, b SubjectVersion) error {
			if a.ID != b.ID || a.Version != b.Version || a.Version != 1 {
				return fmt.Errorf("got %+v and %+v", a, b)
			}
			return nil
		}},
		// Both propose max+1 for the same schema: both claims stand.
		{"same schema, different subjects", 0, [2]call{{"t1", schema(2)}, {"t2", schema(2)}}, func(a, b SubjectVersion) error {
			if a.ID != b.ID {
				return fmt.Errorf("ids %d and %d", a.ID, b.ID)
			}
			return nil
		}},
		{"different schemas, same subject", 1, [2]call{{"u", schema(3)}, {"u", schema(4)}}, func(a, b SubjectVersion) error {
			if a.ID == b.ID || a.Version == b.Version {
				return fmt.Errorf("got %+v and %+v", a, b)
			}
			return nil
		}},
		{"different schemas, different subjects", 1, [2]call{{"v1", schema(5)}, {"v2", schema(6)}}, func(a, b SubjectVersion) error {
			if a.ID == b.ID {
				return fmt.Errorf("both got id %d", a.ID)
			}
			return nil
		}},
	}
	for _, round := range rounds {
		before := svcs[0].store.lostRaces.Load() + svcs[1].store.lostRaces.Load()
		arrived.Add(2)
		var got [2]SubjectVersion
		var wg sync.WaitGroup
		for i, svc := range svcs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				got[i], err = svc.Register(ctx, round.calls[i].subject, SchemaRequest{Schema: round.calls[i].schema})
				if err != nil {
					t.Errorf("%s: %v", round.name, err)
				}
			}()
		}
		wg.Wait()
		if err := round.check(got[0], got[1]); err != nil {
			t.Errorf("%s: %v", round.name, err)
		}
		if lost := svcs[0].store.lostRaces.Load() + svcs[1].store.lostRaces.Load() - before; lost != round.wantLost {
			t.Errorf("%s: %d claims lost, want %d", round.name, lost, round.wantLost)
		}
	}
}

// TestConcurrentWritersRace makes two stores on one cluster race for the
// same ids and versions and checks that both ended with the same answers.
func TestConcurrentWritersRace(t *testing.T) {
	svcs := openServices(t, 2)
	ctx := context.Background()
	const n = 20
	ids := make([][2]int, n)
	var wg sync.WaitGroup
	for i := range n {
		schema := fmt.Sprintf(`{"type":"record","name":"R","fields":[{"name":"f%d","type":"int","default":0}]}`, i)
		for inst, svc := range svcs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Distinct subjects per instance: both race for the same
				// next id with the same schema, and with other schemas.
				got, err := svc.Register(ctx, fmt.Sprintf("s%d-%d", i, inst), SchemaRequest{Schema: schema})
				if err != nil {
					t.Errorf("register %d on %d: %v", i, inst, err)
					return
				}
				ids[i][inst] = got.ID
			}()
		}
	}
	wg.Wait()
	seen := map[int]int{}
	for i, pair := range ids {
		if pair[0] != pair[1] {
			t.Errorf("schema %d: ids %d and %d", i, pair[0], pair[1])
		}
		if j, ok := seen[pair[0]]; ok {
			t.Errorf("id %d for schemas %d and %d", pair[0], j, i)
		}
		seen[pair[0]] = i
	}
	lost := svcs[0].store.lostRaces.Load() + svcs[1].store.lostRaces.Load()
	t.Logf("claims that lost a race and were retried: %d", lost)
	// Both states are identical.
	var a, c string
	svcs[0].store.Sync(ctx)
	svcs[1].store.Sync(ctx)
	svcs[0].store.read(func(st *state) { a = summary(st) })
	svcs[1].store.read(func(st *state) { c = summary(st) })
	if a != c {
		t.Errorf("states differ:\n%s\n%s", a, c)
	}
}
