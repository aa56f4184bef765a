package postgrescdc_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testwait"
)

func (e *env) lsn(t testing.TB, query string, args ...any) uint64 {
	t.Helper()
	var text *string
	if err := e.db.QueryRow(context.Background(), query, args...).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if text == nil {
		return 0
	}
	var hi, lo uint64
	if _, err := fmt.Sscanf(*text, "%X/%X", &hi, &lo); err != nil {
		t.Fatalf("LSN %q: %v", *text, err)
	}
	return hi<<32 | lo
}

// TestIdleSlotAdvances: the captured table is idle while an uncaptured one
// takes writes. The slot's confirmed_flush_lsn must move past that WAL
// (else it pins it): with heartbeats (pg_logical_emit_message, and
// heartbeat records carrying the position), and without them, from the
// server's keepalives while nothing is in flight.
func TestIdleSlotAdvances(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.exec(t, `CREATE TABLE quiet (id int PRIMARY KEY)`)
	e.exec(t, `CREATE TABLE busy (id serial PRIMARY KEY, pad text)`)
	for i, tc := range []struct {
		name      string
		heartbeat int
	}{{"heartbeat", 200}, {"keepalive", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			name := "idle-" + tc.name
			slot := "s_idle_" + tc.name
			c := e.start(t, e.config(name, "table.include.list", "public.quiet", "snapshot.mode", "no_data",
				"heartbeat.interval.ms", tc.heartbeat, "status.update.interval.ms", 200))
			testwait.Until(t, "the slot", 30*time.Second, func() bool { return e.slotExists(t, slot) })
			start := e.lsn(t, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, slot)
			for i := 0; i < 20; i++ {
				e.exec(t, `INSERT INTO busy (pad) SELECT repeat('x', 500) FROM generate_series(1, 200)`)
			}
			end := e.lsn(t, `SELECT pg_current_wal_lsn()::text`)
			if end-start < 1<<20 {
				t.Fatalf("the busy table wrote only %d bytes of WAL", end-start)
			}
			testwait.Until(t, "the slot to confirm past the busy table's WAL", 30*time.Second, func() bool {
				return e.lsn(t, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, slot) >= end
			})
			if tc.heartbeat > 0 {
				// Keepalives advance the slot too, so it may pass the busy
				// table's WAL before the first heartbeat record is committed.
				var hb []*kgo.Record
				testwait.Until(t, "heartbeat records", 30*time.Second, func() bool {
					hb = e.records(t, "__debezium-heartbeat.srv")
					return len(hb) > 0
				})
				ev := decodeEvent(t, hb[len(hb)-1])
				if ev.Key["serverName"] != "srv" {
					t.Fatalf("heartbeat key %v", ev.Key)
				}
			}
			stop(t, c)
			// The captured table still works after the idle stretch.
			c = e.start(t, e.config(name, "table.include.list", "public.quiet", "snapshot.mode", "no_data",
				"heartbeat.interval.ms", tc.heartbeat))
			e.exec(t, `INSERT INTO quiet VALUES ($1)`, i)
			testwait.Until(t, "the captured insert", 30*time.Second, func() bool {
				for _, ev := range e.events(t, "srv.public.quiet") {
					if idOf(ev.After) == fmt.Sprint(i) {
						return true
					}
				}
				return false
			})
			stop(t, c)
		})
	}
}
