package transforms

import (
	"fmt"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

func TestPlanCacheIsBoundedLRU(t *testing.T) {
	t.Parallel()
	var c planCache[int]
	derived := map[*connectors.Schema]int{}
	derive := func(s *connectors.Schema) (int, error) { derived[s]++; return len(s.Fields), nil }
	schemas := make([]*connectors.Schema, 20)
	for i := range schemas {
		b := connectors.NewStruct(fmt.Sprint("s", i))
		for f := 0; f < i; f++ {
			b.Field(fmt.Sprint("f", f), connectors.Int32Schema())
		}
		schemas[i] = b.MustBuild()
	}
	for _, s := range schemas {
		if n, _ := c.get(s, derive); n != len(s.Fields) {
			t.Fatalf("plan %d for %s", n, s.Name)
		}
	}
	if c.len() != schemaCacheSize {
		t.Errorf("cache holds %d plans, want %d", c.len(), schemaCacheSize)
	}
	// The 16 most recent are cached; the first 4 were evicted.
	for _, s := range schemas[4:] {
		c.get(s, derive)
	}
	for _, s := range schemas {
		if derived[s] != 1 {
			t.Errorf("%s derived %d times before eviction checks", s.Name, derived[s])
		}
	}
	// Touch schemas[4] so it is the most recent; adding a new one evicts
	// schemas[5] instead.
	c.get(schemas[4], derive)
	c.get(schemas[0], derive)
	c.get(schemas[4], derive)
	c.get(schemas[5], derive)
	if derived[schemas[4]] != 1 || derived[schemas[0]] != 2 || derived[schemas[5]] != 2 {
		t.Errorf("LRU order wrong: derivations %d %d %d", derived[schemas[4]], derived[schemas[0]], derived[schemas[5]])
	}
}

// Tasks share a transform: many goroutines, several schemas, every output
// checked (run with -race).
func TestTransformsAreSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	const schemasN, goroutines, perG = 24, 8, 300 // more schemas than the cache holds
	schemas := make([]*connectors.Schema, schemasN)
	for i := range schemas {
		schemas[i] = connectors.NewStruct(fmt.Sprint("s", i)).
			Field("id", connectors.Int64Schema()).Field("secret", connectors.StringSchema()).
			Field("n", connectors.StringSchema()).Field(fmt.Sprint("extra", i), connectors.Int32Schema()).MustBuild()
	}
	replace := build(t, "ReplaceField$Value", map[string]any{"exclude": "secret", "renames": "id:key"})
	cast := build(t, "Cast$Value", map[string]any{"spec": "n:int32"})
	insert := build(t, "InsertField$Value", map[string]any{"topic.field": "topic"})
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				s := schemas[(g*7+i)%schemasN]
				rec := sinkRecord(nil, nil, s, mkStruct(s, int64(i), "x", fmt.Sprint(i), int32(g)))
				for _, tr := range []connectors.Transform{replace, cast, insert} {
					out, err := tr.Apply(nil, rec)
					if err != nil {
						errs <- err
						return
					}
					rec = out[0]
				}
				st := rec.Value.(*connectors.Struct)
				if st.Get("key") != int64(i) || st.Get("n") != int32(i) || st.Get("topic") != "test" || len(rec.ValueSchema.Fields) != 4 {
					errs <- fmt.Errorf("goroutine %d record %d: %v", g, i, st)
					return
				}
				if err := st.Validate(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
