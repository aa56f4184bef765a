package postgrescdc_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testwait"
)

// TestKafkaSignalChannel: execute-snapshot through the signal topic
// (signal.enabled.channels=kafka, no signal table: the watermarks are
// logical decoding messages). A record keyed by another connector's
// prefix is ignored; the signal runs once; after a restart it is not
// acted on again (its position is in the committed offsets).
func TestKafkaSignalChannel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const rows = 250
	e.exec(t, `CREATE TABLE ksig (id int PRIMARY KEY, v bigint NOT NULL)`)
	e.exec(t, fmt.Sprintf(`INSERT INTO ksig SELECT g, 0 FROM generate_series(1, %d) g`, rows))
	cfg := e.config("ksig", "snapshot.mode", "no_data", "table.include.list", "public.ksig",
		"signal.enabled.channels", "kafka", "signal.kafka.bootstrap.servers", e.b.Addr(),
		"incremental.snapshot.chunk.size", 100)
	e.b.CreateTopic(t, "srv-signal", 1, nil)
	produce := func(key, value string) {
		t.Helper()
		e.b.Produce(t, &kgo.Record{Topic: "srv-signal", Key: []byte(key), Value: []byte(value)})
	}
	// Sent before the connector's first start: not acted on.
	produce("srv", `{"type": "execute-snapshot", "data": {"data-collections": ["public.ksig"], "type": "INCREMENTAL"}}`)
	c := e.start(t, cfg)
	testwait.Until(t, "the slot", 30*time.Second, func() bool { return e.slotExists(t, "s_ksig") })
	produce("other", `{"type": "execute-snapshot", "data": {"data-collections": ["public.ksig"], "type": "INCREMENTAL"}}`)
	produce("srv", `not json`)
	produce("srv", `{"type": "execute-snapshot", "data": {"data-collections": ["public\\.ksig"], "type": "INCREMENTAL"}}`)
	e.exec(t, `UPDATE ksig SET v = v + 1 WHERE id IN (1, 150, 250)`)
	topic := "srv.public.ksig"
	testwait.Until(t, "the incremental snapshot of every row", 60*time.Second, func() bool {
		covered := map[string]bool{}
		for _, ev := range e.events(t, topic) {
			if ev.Op == "r" {
				covered[idOf(ev.After)] = true
			}
		}
		return len(covered) >= rows-3
	})
	e.waitLastUpdate(t, topic, "ksig")
	stop(t, c)
	before := e.events(t, topic)
	reads := countOps(before, "r")
	if reads > rows {
		t.Fatalf("%d read events for %d rows: a signal ran more than once", reads, rows)
	}
	for _, ev := range before {
		if ev.Op == "r" && ev.Source["snapshot"] != "incremental" {
			t.Fatalf("read event with source.snapshot=%v", ev.Source["snapshot"])
		}
	}
	checkMonotonic(t, e, before, "ksig")

	// Restarted, the connector resumes after the signals it acted on.
	c = e.start(t, cfg)
	e.exec(t, `INSERT INTO ksig VALUES (1000, 0)`)
	testwait.Until(t, "the insert after the restart", 30*time.Second, func() bool {
		for _, ev := range e.events(t, topic) {
			if ev.Op == "c" && idOf(ev.After) == "1000" {
				return true
			}
		}
		return false
	})
	stop(t, c)
	if again := countOps(e.events(t, topic), "r"); again != reads {
		t.Fatalf("%d read events after the restart, %d before: the signal was acted on again", again, reads)
	}
}
