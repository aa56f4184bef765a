package jdbc

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/testdb"
)

// BenchmarkSinkUpsert measures rows per second upserted into PostgreSQL
// through the sink task (Put of 1,000-record batches, then PreCommit: one
// transaction per Put), next to a plain pgx loop doing the same work: per
// batch a transaction with one pipelined INSERT ... ON CONFLICT DO UPDATE
// per row (pgx.Batch). Each round upserts the same 50,000 keys (half of
// them new in the first round), alternating the two so both see the same
// table state; it reports both rates and their ratio (the target is
// 0.7), and a stricter baseline: the same multi-row upsert statement the
// sink sends, hand-written with pgx (ratio_multirow: the cost of the
// sink's conversion, database/sql and statement layers).
func BenchmarkSinkUpsert(b *testing.B) {
	const rows, batch = 50_000, 1000
	pg := testdb.StartPostgres(b)
	ctx := context.Background()
	e := &env{kind: dialectPostgres, pg: pg}
	d := e.newDB(b)
	const ddl = `CREATE TABLE %s (id BIGINT PRIMARY KEY, name TEXT NOT NULL, amount DOUBLE PRECISION NOT NULL, qty INT, updated TIMESTAMP NOT NULL)`
	d.exec(fmt.Sprintf(ddl, "sluice_t"))
	d.exec(fmt.Sprintf(ddl, "plain_t"))

	schema := connectors.NewStruct("row").Field("id", connectors.Int64Schema()).Field("name", connectors.StringSchema()).
		Field("amount", connectors.Float64Schema()).Field("qty", connectors.OptionalOf(connectors.Int32Schema())).
		Field("updated", connectors.TimestampSchema()).MustBuild()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	recs := make([]*connectors.Record, rows)
	for i := range recs {
		v := connectors.NewStructValue(schema).Put("id", int64(i)).Put("name", fmt.Sprintf("customer-%d", i)).
			Put("amount", float64(i)*1.25).Put("qty", int32(i%100)).Put("updated", base.Add(time.Duration(i)*time.Millisecond))
		recs[i] = &connectors.Record{Topic: "t", Partition: 0, Offset: int64(i), ValueSchema: schema, Value: v}
	}

	task, _ := newSinkTask(b, map[string]any{"connection.url": d.url, "table.name.format": "sluice_t",
		"insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id"})
	conn, err := pgx.Connect(ctx, pg.DSN(d.name))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	const upsert = `INSERT INTO plain_t (id, name, amount, qty, updated) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, amount = EXCLUDED.amount, qty = EXCLUDED.qty, updated = EXCLUDED.updated`

	runSluice := func() time.Duration {
		start := time.Now()
		for from := 0; from < rows; from += batch {
			part := recs[from : from+batch]
			if err := task.Put(ctx, part); err != nil {
				b.Fatal(err)
			}
			cur := map[connectors.TopicPartition]int64{{Topic: "t"}: int64(from + batch)}
			if _, err := task.PreCommit(ctx, cur); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	runPlain := func() time.Duration {
		start := time.Now()
		for from := 0; from < rows; from += batch {
			tx, err := conn.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			var pb pgx.Batch
			for _, r := range recs[from : from+batch] {
				st := r.Value.(*connectors.Struct)
				pb.Queue(upsert, st.Get("id"), st.Get("name"), st.Get("amount"), st.Get("qty"), st.Get("updated"))
			}
			if err := tx.SendBatch(ctx, &pb).Close(); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	// A second, stricter baseline: the multi-row statement the sink sends
	// (one INSERT ... VALUES of 1,000 rows ... ON CONFLICT per batch),
	// written by hand with pgx: what the sink's own layers cost.
	var multi strings.Builder
	multi.WriteString("INSERT INTO plain_t (id, name, amount, qty, updated) VALUES ")
	for r := 0; r < batch; r++ {
		if r > 0 {
			multi.WriteString(", ")
		}
		fmt.Fprintf(&multi, "($%d, $%d, $%d, $%d, $%d)", r*5+1, r*5+2, r*5+3, r*5+4, r*5+5)
	}
	multi.WriteString(" ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, amount = EXCLUDED.amount, qty = EXCLUDED.qty, updated = EXCLUDED.updated")
	runMulti := func() time.Duration {
		start := time.Now()
		args := make([]any, 0, batch*5)
		for from := 0; from < rows; from += batch {
			args = args[:0]
			for _, r := range recs[from : from+batch] {
				st := r.Value.(*connectors.Struct)
				args = append(args, st.Get("id"), st.Get("name"), st.Get("amount"), st.Get("qty"), st.Get("updated"))
			}
			tx, err := conn.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.Exec(ctx, multi.String(), args...); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	// Warm up (statements prepared, tables filled once).
	runSluice()
	runPlain()
	runMulti()
	b.ResetTimer()
	var sluiceTime, plainTime, multiTime time.Duration
	for i := 0; i < b.N; i++ {
		sluiceTime += runSluice()
		plainTime += runPlain()
		multiTime += runMulti()
	}
	b.StopTimer()
	sluiceRate := float64(rows*b.N) / sluiceTime.Seconds()
	plainRate := float64(rows*b.N) / plainTime.Seconds()
	multiRate := float64(rows*b.N) / multiTime.Seconds()
	b.ReportMetric(sluiceRate, "sink_rows/s")
	b.ReportMetric(plainRate, "pgx_batch_rows/s")
	b.ReportMetric(sluiceRate/plainRate, "ratio")
	b.ReportMetric(multiRate, "pgx_multirow_rows/s")
	b.ReportMetric(sluiceRate/multiRate, "ratio_multirow")
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM sluice_t").Scan(&n); err != nil || n != rows {
		b.Fatalf("sluice_t holds %d rows (%v)", n, err)
	}
}
