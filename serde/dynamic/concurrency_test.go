package dynamic_test

import (
	"sync"
	"testing"

	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/dynamic"
)

// TestConcurrentUse shares one Type and its serdes among goroutines (run
// with -race): values are independent, serdes and accessors shared.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	typ := newAll(t)
	avroSerde := must[serde.Serde[any]](t)(dynamic.AvroSerde(mustMock(t), typ))
	jsonSerde := dynamic.JSONSerde(typ)
	label := must[*dynamic.Accessor](t)(typ.Accessor("s"))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				v, err := typ.FromMap(allFixture())
				if err != nil {
					t.Error(err)
					return
				}
				want := string(rune('a'+g)) + string(rune('a'+i%26))
				if err := label.Set(v, want); err != nil {
					t.Error(err)
					return
				}
				for _, s := range []serde.Serde[any]{avroSerde, jsonSerde} {
					data, err := s.Serialize("c", v)
					if err != nil {
						t.Error(err)
						return
					}
					back, err := s.Deserialize("c", data)
					if err != nil {
						t.Error(err)
						return
					}
					if got := label.Get(back); got != want {
						t.Errorf("goroutine %d read %v, want %s", g, got, want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
