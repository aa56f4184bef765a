package mysqlcdc_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
)

// TestSnapshotWithConcurrentWrites: while the snapshot reads the tables in
// many polls, other sessions insert, update and delete rows, including rows
// the snapshot has not read yet. Each row's events must form one unbroken
// history (the snapshot's read, then exactly the changes committed after
// the snapshot's position), and replaying them gives the tables.
func TestSnapshotWithConcurrentWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.exec(t, "CREATE DATABASE snap",
		"CREATE TABLE snap.a (id INT PRIMARY KEY, ver INT NOT NULL, pad VARCHAR(100))",
		"CREATE TABLE snap.b (id INT PRIMARY KEY, ver INT NOT NULL)")
	var vals []string
	for i := 1; i <= 3000; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 0, '%s')", i, strings.Repeat("p", 50)))
	}
	e.exec(t, "INSERT INTO snap.a VALUES "+strings.Join(vals, ","),
		"INSERT INTO snap.b VALUES (1, 0), (2, 0), (3, 0)")
	e.topics(t, "sn.snap.a", "sn.snap.b")
	w := e.worker(t, core.ExactlyOnceV2)
	c := startSource(t, w, e.config("snap", "sn", "database.include.list", "snap", "max.batch.size", 40,
		"key.converter.schemas.enable", false, "value.converter.schemas.enable", false))

	var stopWrites atomic.Bool
	var wg sync.WaitGroup
	var writes atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		next := 10000
		for i := 0; !stopWrites.Load(); i++ {
			var err error
			switch i % 4 {
			case 0:
				next++
				_, err = e.sql.Exec("INSERT INTO snap.a VALUES (?, 0, 'new')", next)
			case 1:
				// Rows late in the scan order, so the snapshot may not
				// have read them yet.
				_, err = e.sql.Exec("UPDATE snap.a SET ver = ver + 1 WHERE id = ?", 3000-(i%500))
			case 2:
				_, err = e.sql.Exec("DELETE FROM snap.a WHERE id = ?", 2000+i/4)
			case 3:
				_, err = e.sql.Exec("UPDATE snap.b SET ver = ver + 1 WHERE id = ?", 1+i%3)
			}
			if err != nil {
				t.Error(err)
				return
			}
			writes.Add(1)
		}
	}()
	// Let the writes run through the whole snapshot.
	deadline := time.Now().Add(60 * time.Second)
	for {
		evs := e.events(t, "sn.snap.a")
		if len(evs) > 0 && evs[len(evs)-1].op() != "r" && len(evs) > 3000 {
			break
		}
		done := false
		for _, ev := range evs {
			if ev.op() == "r" && ev.source()["snapshot"] == "last" {
				done = true
			}
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	stopWrites.Store(true)
	wg.Wait()
	t.Logf("%d writes during the snapshot", writes.Load())

	e.waitCaughtUp(t, c, "snap.b", "sn.snap.b", "INSERT INTO snap.b VALUES (1000000, 0)", 1000000, 60*time.Second)
	wantA := e.tableImage(t, "snap.a", "id")
	wantB := e.tableImage(t, "snap.b", "id")
	stop(t, c)
	evA, evB := e.events(t, "sn.snap.a"), e.events(t, "sn.snap.b")
	checkChains(t, evA)
	checkChains(t, evB)
	diffImages(t, "snap.a", stringImage(replay(t, evA)), wantA)
	diffImages(t, "snap.b", stringImage(replay(t, evB)), wantB)

	// Snapshot markers: first of all, first and last of each table, last
	// of all.
	markers := map[string]int{}
	reads := 0
	for _, ev := range append(evA, evB...) {
		if ev.op() == "r" {
			reads++
			markers[str(ev.source()["snapshot"])]++
			if str(ev.source()["db"]) != "snap" || ev.source()["file"] == nil {
				t.Errorf("snapshot source %v", ev.source())
			}
		}
	}
	if reads < 1000 || markers["first"] != 1 || markers["last"] != 1 || markers["last_in_data_collection"] != 1 || markers["first_in_data_collection"] != 1 {
		t.Errorf("%d snapshot reads, markers %v", reads, markers)
	}
}
