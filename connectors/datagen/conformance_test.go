package datagen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/connectortest"
	"github.com/sluicehq/sluice/connectors/datagen"
	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/converters"
	"github.com/sluicehq/sluice/internal/testbroker"
)

// TestConformance runs the connector suite on the orders quickstart. The
// generator has no outside system to append to: "appending" item n names
// the order with orderid n, which the connector writes sooner or later
// (and more besides: Extra). Under exactly-once the suite also checks that
// no order is written twice across crashes, which holds because a
// restarted task regenerates exactly the records after its committed
// offset.
func TestConformance(t *testing.T) {
	reg := connectors.NewRegistry()
	if err := converters.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := datagen.Register(reg); err != nil {
		t.Fatal(err)
	}
	connectortest.TestSource(t, connectortest.Source{
		Plugins: reg,
		Config: func(t *testing.T, topic string) map[string]any {
			return map[string]any{
				"type":               "datagen",
				"kafka.topic":        topic,
				"quickstart":         "orders",
				"random.seed":        7,
				"records.per.second": 2000,
				"batch.size":         100,
				"tasks.max":          2,
				"key.converter":      "string",
				"value.converter":    "json",
			}
		},
		Append: func(t *testing.T, from, n int) []string {
			ids := make([]string, n)
			for i := range ids {
				ids[i] = strconv.Itoa(from + i)
			}
			return ids
		},
		ID: func(r *kgo.Record) string {
			var v struct {
				OrderID json.Number `json:"orderid"`
			}
			if err := json.Unmarshal(r.Value, &v); err != nil {
				return "undecodable: " + string(r.Value)
			}
			return v.OrderID.String()
		},
		ExactlyOnce: true,
		Extra:       true,
	})
}

// TestWorkerBoundedRunSurvivesCrashes runs a bounded connector in the real
// worker with exactly-once delivery, crashes it twice mid-run, and lets it
// finish: the topic then holds exactly the records of an uninterrupted run
// (same keys, values and timestamps), each once, and the connector ends on
// its own (what `sluice run --until-done` waits for).
func TestWorkerBoundedRunSurvivesCrashes(t *testing.T) {
	reg := connectors.NewRegistry()
	if err := converters.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := datagen.Register(reg); err != nil {
		t.Fatal(err)
	}
	b := testbroker.New(t)
	b.CreateTopic(t, "crashed", 4, nil)
	b.CreateTopic(t, "clean", 4, nil)
	w, err := worker.New(worker.Config{
		Brokers: []string{b.Addr()}, Plugins: reg, Guarantee: core.ExactlyOnceV2,
		OffsetsTopicPartitions: 2, TransactionTimeout: 10 * time.Second, SessionTimeout: 2 * time.Second,
		Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	const total = 3000
	config := func(name, topic string) map[string]any {
		return map[string]any{
			"name": name, "type": "datagen", "kafka.topic": topic, "quickstart": "orders",
			"schema.keyfield": "customerid", "random.seed": 11, "timestamp.start": "2025-01-01T00:00:00Z",
			"iterations": total, "records.per.second": 6000, "batch.size": 50, "tasks.max": 3,
			"key.converter": "string", "value.converter": "json", "offset.flush.interval.ms": 50,
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, atLeast := range []int{400, 1500} {
		c, err := w.StartSource(ctx, config("crashy", "crashed"))
		if err != nil {
			t.Fatal(err)
		}
		for len(b.ReadAll(t, "crashed")) < atLeast {
			if ctx.Err() != nil {
				t.Fatalf("no progress to %d records", atLeast)
			}
			time.Sleep(20 * time.Millisecond)
		}
		c.Crash()
	}
	for name, topic := range map[string]string{"crashy": "crashed", "steady": "clean"} {
		c, err := w.StartSource(ctx, config(name, topic))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st := c.Status(); st.State != worker.StateFinished {
			t.Fatalf("%s: state %s after the bounded run, want FINISHED", name, st.State)
		}
	}
	describe := func(topic string) map[string]int {
		out := map[string]int{}
		for _, r := range b.ReadAll(t, topic) {
			out[fmt.Sprintf("%s|%s|%d", r.Key, r.Value, r.Timestamp.UnixMilli())]++
		}
		return out
	}
	crashed, clean := describe("crashed"), describe("clean")
	if testing.Verbose() { // where the duplicates are, for a failure
		shown := 0
		for _, r := range b.ReadAll(t, "crashed") {
			if k := fmt.Sprintf("%s|%s|%d", r.Key, r.Value, r.Timestamp.UnixMilli()); crashed[k] > 1 && shown < 20 {
				t.Logf("duplicate at %s[%d]@%d: %s", r.Topic, r.Partition, r.Offset, r.Value)
				shown++
			}
		}
	}
	if len(clean) != total {
		t.Fatalf("the clean run wrote %d distinct records, want %d", len(clean), total)
	}
	for rec, n := range crashed {
		if n != 1 || clean[rec] != 1 {
			t.Fatalf("record %s: %d times after crashes, %d times in the clean run", rec, n, clean[rec])
		}
	}
	if len(crashed) != total {
		t.Fatalf("after crashes %d distinct records, want %d", len(crashed), total)
	}
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}
