package mysqlcdc_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testwait"
)

// BenchmarkCDC measures change events per second from the binlog into
// Kafka through the worker under exactly-once (JSON values without
// schemas), next to a plain go-mysql binlog reader that decodes the same
// events and discards them, in the same run on the same server. Each
// iteration writes SLUICE_BENCH_CDC_EVENTS (default 20000) inserted rows
// in transactions of 100, reads them with the baseline, then with the
// connector; the metrics are events/s of each and their ratio.
func BenchmarkCDC(b *testing.B) {
	n := 20000
	if s := os.Getenv("SLUICE_BENCH_CDC_EVENTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	e := newEnv(b)
	e.exec(b, "CREATE DATABASE bench CHARACTER SET utf8mb4",
		"CREATE TABLE bench.orders (id BIGINT PRIMARY KEY, customer INT NOT NULL, item VARCHAR(32) NOT NULL, qty INT NOT NULL, price DECIMAL(10,2) NOT NULL, created DATETIME(3) NOT NULL, note VARCHAR(100))")
	e.topics(b, "bench.bench.orders")
	w, err := worker.New(worker.Config{Brokers: []string{e.b.Addr()}, Plugins: e.reg, Guarantee: core.ExactlyOnceV2,
		OffsetsTopicPartitions: 4, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close(context.Background())

	// The connector runs once to take its position (no_data: the
	// structure only), then stops: each iteration writes n rows, reads
	// them with the baseline from the position before them, then restarts
	// the connector, which resumes at that same position: both read the
	// same events.
	cfg := e.config("bench", "bench", "database.include.list", "bench", "snapshot.mode", "no_data",
		"key.converter.schemas.enable", false, "value.converter.schemas.enable", false)
	c := startSource(b, w, cfg)
	waitStreaming(b, c)
	stopBench(b, c)

	next := 0
	var cdcTotal, cdcSteady, baseTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		pos := e.binlogEnd(b)
		e.insertOrders(b, &next, n)
		b.StartTimer()

		start := time.Now()
		if got := baselineRead(b, e, pos, n); got < n {
			b.Fatalf("baseline read %d rows, want %d", got, n)
		}
		baseTotal += time.Since(start)

		start = time.Now()
		c := startSource(b, w, cfg)
		deadline := start.Add(5 * time.Minute)
		var first time.Time
		for written(c) < int64(n) {
			if first.IsZero() && written(c) > 0 {
				first = time.Now()
			}
			if time.Now().After(deadline) {
				b.Fatalf("connector wrote %d of %d events", written(c), n)
			}
			time.Sleep(time.Millisecond)
		}
		cdcTotal += time.Since(start)
		cdcSteady += time.Since(first)
		b.StopTimer()
		stopBench(b, c)
		b.StartTimer()
	}
	events := float64(n * b.N)
	cdc := events / cdcTotal.Seconds()
	base := events / baseTotal.Seconds()
	b.ReportMetric(cdc, "cdc-events/s")
	b.ReportMetric(events/cdcSteady.Seconds(), "cdc-after-start-events/s")
	b.ReportMetric(base, "baseline-events/s")
	b.ReportMetric(100*cdc/base, "%-of-baseline")
}

func stopBench(b *testing.B, c *worker.Connector) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		b.Fatal(err)
	}
}

func written(c *worker.Connector) int64 {
	var n int64
	for _, t := range c.Status().Tasks {
		n += t.Written
	}
	return n
}

// waitStreaming waits until the connector's task runs and has had time to
// finish its (empty) snapshot.
func waitStreaming(b *testing.B, c *worker.Connector) {
	b.Helper()
	testwait.Until(b, "the connector running", 30*time.Second, func() bool { return c.Status().State == worker.StateRunning },
		testwait.Detail(func() string { return fmt.Sprintf("%+v", c.Status()) }))
	time.Sleep(500 * time.Millisecond)
}

func (e *env) binlogEnd(b *testing.B) gomysql.Position {
	var file string
	var pos uint32
	var x1, x2 string
	if err := e.sql.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &x1, &x2); err != nil {
		b.Fatal(err)
	}
	return gomysql.Position{Name: file, Pos: pos}
}

func (e *env) insertOrders(b *testing.B, next *int, n int) {
	for done := 0; done < n; done += 100 {
		var vals []string
		for k := 0; k < 100 && done+k < n; k++ {
			*next++
			vals = append(vals, fmt.Sprintf("(%d, %d, 'item-%d', %d, %d.%02d, '2024-01-02 03:04:05.%03d', 'a note about order %d')",
				*next, *next%1000, *next%50, *next%9+1, *next%500, *next%100, *next%1000, *next))
		}
		e.exec(b, "INSERT INTO bench.orders VALUES "+strings.Join(vals, ","))
	}
}

// baselineRead reads the binlog from pos with go-mysql, decoding row events
// as the connector does, until it has seen n rows.
func baselineRead(b *testing.B, e *env, pos gomysql.Position, n int) int {
	s := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 99, Flavor: "mariadb", Host: "127.0.0.1", Port: uint16(e.m.Port), User: "root",
		TimestampStringLocation: time.UTC, ParseTime: true, DisableRetrySync: true,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	defer s.Close()
	st, err := s.StartSync(pos)
	if err != nil {
		b.Fatal(err)
	}
	rows := 0
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for rows < n {
		ev, err := st.GetEvent(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if re, ok := ev.Event.(*replication.RowsEvent); ok && strings.EqualFold(string(re.Table.Table), "orders") {
			rows += len(re.Rows)
		}
	}
	return rows
}

// BenchmarkSnapshot measures snapshot rows per second into Kafka through
// the worker under exactly-once (snapshot.mode=initial_only, JSON values
// without schemas), next to a plain SELECT of the same table with
// go-sql-driver/mysql that scans every row and discards it, in the same
// run on the same server. The table has SLUICE_BENCH_SNAPSHOT_ROWS rows
// (default 100000); each iteration runs the baseline, then a new connector
// (its own name, so no offsets) until its task finishes.
func BenchmarkSnapshot(b *testing.B) {
	n := 100000
	if s := os.Getenv("SLUICE_BENCH_SNAPSHOT_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	e := newEnv(b)
	e.exec(b, "CREATE DATABASE bench CHARACTER SET utf8mb4",
		"CREATE TABLE bench.orders (id BIGINT PRIMARY KEY, customer INT NOT NULL, item VARCHAR(32) NOT NULL, qty INT NOT NULL, price DECIMAL(10,2) NOT NULL, created DATETIME(3) NOT NULL, note VARCHAR(100))")
	next := 0
	for done := 0; done < n; done += 10000 {
		e.insertOrders(b, &next, min(10000, n-done))
	}
	e.topics(b, "snap.bench.orders")
	w, err := worker.New(worker.Config{Brokers: []string{e.b.Addr()}, Plugins: e.reg, Guarantee: core.ExactlyOnceV2,
		OffsetsTopicPartitions: 4, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close(context.Background())

	var cdcTotal, baseTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if got := baselineSelect(b, e); got != n {
			b.Fatalf("baseline read %d rows, want %d", got, n)
		}
		baseTotal += time.Since(start)

		start = time.Now()
		c := startSource(b, w, e.config(fmt.Sprintf("snap-%d", i), "snap", "database.include.list", "bench", "snapshot.mode", "initial_only",
			"include.schema.changes", false, "key.converter.schemas.enable", false, "value.converter.schemas.enable", false))
		select {
		case <-c.Done():
		case <-time.After(10 * time.Minute):
			b.Fatalf("snapshot of %d rows did not finish: %d written", n, written(c))
		}
		cdcTotal += time.Since(start)
		if got := written(c); got < int64(n) {
			b.Fatalf("connector wrote %d rows, want %d (status %+v)", got, n, c.Status())
		}
	}
	rows := float64(n * b.N)
	snap := rows / cdcTotal.Seconds()
	base := rows / baseTotal.Seconds()
	b.ReportMetric(snap, "snapshot-rows/s")
	b.ReportMetric(base, "baseline-select-rows/s")
	b.ReportMetric(100*snap/base, "%-of-baseline")
}

// baselineSelect reads the bench table with a plain SELECT (a prepared
// statement: the binary protocol, as the connector's snapshot), scanning
// each row's columns into Go values, and returns the row count.
func baselineSelect(b *testing.B, e *env) int {
	rows, err := e.sql.Query("SELECT id, customer, item, qty, price, created, note FROM bench.orders WHERE 1 = ?", 1)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var (
		id, customer, qty int64
		item, price       string
		created           []byte
		note              sql.NullString
	)
	n := 0
	for rows.Next() {
		if err := rows.Scan(&id, &customer, &item, &qty, &price, &created, &note); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return n
}
