package mysqlcdc

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/sluicehq/sluice/internal/cputime"
	"github.com/sluicehq/sluice/internal/testdb"
)

// BenchmarkPollStream measures the task alone (no worker, no Kafka):
// change events per second that Poll turns out of the binlog.
func BenchmarkPollStream(b *testing.B) {
	m := testdb.StartMariaDB(b)
	db, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE bench; CREATE TABLE bench.orders (id BIGINT PRIMARY KEY, customer INT NOT NULL, item VARCHAR(32) NOT NULL, qty INT NOT NULL, price DECIMAL(10,2) NOT NULL, created DATETIME(3) NOT NULL, note VARCHAR(100))"); err != nil {
		b.Fatal(err)
	}
	c, err := spec.Parse("", map[string]any{"database.hostname": "127.0.0.1", "database.port": m.Port, "database.user": "root",
		"database.server.id": 77, "topic.prefix": "b", "snapshot.mode": "no_data", "database.include.list": "bench", "poll.interval.ms": 0})
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := parseConfig(c)
	if err != nil {
		b.Fatal(err)
	}
	tk := &task{cfg: cfg}
	fc := newFakeContext()
	if err := tk.Open(context.Background(), fc); err != nil {
		b.Fatal(err)
	}
	defer tk.Close()
	// The (empty) snapshot.
	for tk.phase == phaseSnapshot {
		recs, err := tk.Poll(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		tk.Commit(context.Background(), fc.commit(recs))
	}
	n := b.N
	id := 0
	for done := 0; done < n; done += 100 {
		var vals []string
		for k := 0; k < 100 && done+k < n; k++ {
			id++
			vals = append(vals, fmt.Sprintf("(%d, %d, 'item-%d', %d, %d.%02d, '2024-01-02 03:04:05.%03d', 'a note about order %d')", id, id%1000, id%50, id%9+1, id%500, id%100, id%1000, id))
		}
		if _, err := db.Exec("INSERT INTO bench.orders VALUES " + strings.Join(vals, ",")); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	c0 := cputime.Process()
	start := time.Now()
	got := 0
	for got < n {
		recs, err := tk.Poll(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		got += len(recs)
	}
	b.ReportMetric(float64(got)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(cputime.Process()-c0)/float64(time.Since(start)), "poll-cpu/wall")
}
