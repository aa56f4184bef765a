package connectortest_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/connectortest"
	"github.com/sluicehq/sluice/internal/memconn"
)

// The suite run on the in-memory connectors, which keep every contract:
// this checks the suite itself (and the worker) end to end.
func TestMemoryConnectors(t *testing.T) {
	log, store := memconn.NewLog(), memconn.NewStore()
	reg := connectors.NewRegistry()
	if err := memconn.Register(reg, log, store); err != nil {
		t.Fatal(err)
	}
	t.Run("source", func(t *testing.T) {
		stream, n := "", 0
		connectortest.TestSource(t, connectortest.Source{
			Plugins: reg,
			Config: func(t *testing.T, topic string) map[string]any {
				n++
				stream = fmt.Sprintf("s%d", n)
				return map[string]any{"type": "memory", "topic": topic, "streams": stream, "poison.prefix": "BAD",
					"key.converter": "string", "value.converter": "string", "poll.delay.ms": 1}
			},
			Append: func(t *testing.T, from, n int) []string {
				var ids []string
				for i := from; i < from+n; i++ {
					ids = append(ids, fmt.Sprintf("%s-%05d", stream, i))
				}
				log.Append(stream, ids...)
				return ids
			},
			Poison:      func(t *testing.T) { log.Append(stream, "BAD-"+stream) },
			ExactlyOnce: true,
		})
	})
	t.Run("sink", func(t *testing.T) {
		connectortest.TestSink(t, connectortest.Sink{
			Plugins: reg,
			Config: func(t *testing.T) map[string]any {
				store.Reset()
				return map[string]any{"type": "memory", "exactly.once": true, "key.converter": "string", "value.converter": "string"}
			},
			Written: func(t *testing.T) []string {
				var ids []string
				for _, v := range store.All() {
					var doc struct{ ID string }
					if err := json.Unmarshal([]byte(v), &doc); err != nil {
						t.Fatalf("store holds %q: %v", v, err)
					}
					ids = append(ids, doc.ID)
				}
				return ids
			},
			PoisonValue: []byte("UNCONVERTIBLE-1"),
			ExactlyOnce: true,
		})
	})
}
