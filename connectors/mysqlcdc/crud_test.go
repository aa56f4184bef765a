package mysqlcdc_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
)

// TestSnapshotAndCRUD: existing rows come as op=r, then inserts, updates
// (one changing the primary key), deletes with tombstones, in commit order.
func TestSnapshotAndCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.exec(t, "CREATE DATABASE shop",
		"CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, email VARCHAR(100))",
		"INSERT INTO shop.customers VALUES (1, 'Ann', 'ann@x'), (2, 'Bob', NULL)")
	w := e.worker(t, core.ExactlyOnceV2)
	e.topics(t, "srv.shop.customers")
	c := startSource(t, w, e.config("crud", "srv", "database.include.list", "shop"))
	topic := "srv.shop.customers"
	e.waitEvents(t, topic, 2, 60*time.Second)
	e.exec(t, "INSERT INTO shop.customers VALUES (3, 'Cid', 'cid@x')",
		"UPDATE shop.customers SET email = 'bob@x' WHERE id = 2",
		"DELETE FROM shop.customers WHERE id = 1",
		"UPDATE shop.customers SET id = 30 WHERE id = 3")
	evs := e.waitEvents(t, topic, 2+1+1+2+3, 60*time.Second)
	checkRunning(t, c)
	stop(t, c)
	for _, ev := range evs {
		t.Logf("%d/%d %s key=%v after=%v headers=%v", ev.partition, ev.offset, ev.op(), ev.key, ev.after(), ev.headers)
	}
	state := replay(t, evs)
	diffImages(t, "customers", stringImage(state), e.tableImage(t, "shop.customers", "id"))
}
