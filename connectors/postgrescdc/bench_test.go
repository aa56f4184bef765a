package postgrescdc_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/cputime"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testdb"
)

const (
	benchChanges = 200_000
	benchRows    = 300_000
)

type benchEnv struct {
	pg *testdb.Postgres
	b  *testbroker.Broker
	w  *worker.Worker
	db *pgx.Conn
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	e := &benchEnv{pg: testdb.StartPostgres(b, "max_wal_size=4GB", "shared_buffers=256MB"), b: testbroker.New(b)}
	w, err := worker.New(worker.Config{Brokers: []string{e.b.Addr()}, Plugins: plugins(b), Guarantee: core.ExactlyOnceV2,
		OffsetsTopicPartitions: 1, TransactionTimeout: 30 * time.Second, SessionTimeout: 5 * time.Second, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	e.w = w
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	if e.db, err = pgx.Connect(context.Background(), e.pg.DSN("")); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.db.Close(context.Background()) })
	return e
}

func (e *benchEnv) exec(b *testing.B, sql string) {
	b.Helper()
	if _, err := e.db.Exec(context.Background(), sql); err != nil {
		b.Fatalf("%s: %v", sql, err)
	}
}

func (e *benchEnv) config(name string, kv ...any) map[string]any {
	cfg := map[string]any{
		"name": name, "type": "postgres-cdc",
		"database.hostname": "127.0.0.1", "database.port": e.pg.Port, "database.user": "postgres",
		"database.dbname": "postgres", "database.sslmode": "disable", "topic.prefix": "bench",
		"slot.name": "s_" + name, "publication.name": "p_bench", "publication.autocreate.mode": "disabled",
		"key.converter": "json", "value.converter": "json", "topic.creation.default.partitions": 4,
		"metrics.log.interval.ms": 0,
		// Kafka transactions of a second rather than one per poll: the
		// worker then produces while it polls instead of waiting for each
		// commit (Kafka Connect's transaction.boundary=interval).
		"transaction.boundary": "interval", "transaction.boundary.interval.ms": 1000,
	}
	for i := 0; i < len(kv); i += 2 {
		cfg[kv[i].(string)] = kv[i+1]
	}
	return cfg
}

// waitWritten waits until the connector's task had n records acknowledged
// and committed, and returns when that happened.
func waitWritten(b *testing.B, c *worker.Connector, n int64) time.Time {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		st := c.Status()
		if len(st.Tasks) > 0 && st.Tasks[0].Written >= n {
			return time.Now()
		}
		if len(st.Tasks) > 0 && st.Tasks[0].State == worker.StateFailed {
			b.Fatalf("task failed: %s", st.Tasks[0].Error)
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d records written", st.Tasks[0].Written, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// plainReader streams a slot with pglogrepl, decoding every message with
// pglogrepl.Parse and discarding it, until it has seen n inserts.
func plainReader(b *testing.B, e *benchEnv, slot string, n int) time.Duration {
	b.Helper()
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, e.pg.DSN("")+"&replication=database")
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	start := time.Now()
	if err := pglogrepl.StartReplication(ctx, conn, slot, 0, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names 'p_bench'"}}); err != nil {
		b.Fatal(err)
	}
	inserts := 0
	for inserts < n {
		msg, err := conn.ReceiveMessage(ctx)
		if err != nil {
			b.Fatal(err)
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok || len(cd.Data) == 0 {
			continue
		}
		switch cd.Data[0] {
		case pglogrepl.XLogDataByteID:
			xld, err := pglogrepl.ParseXLogData(cd.Data[1:])
			if err != nil {
				b.Fatal(err)
			}
			m, err := pglogrepl.Parse(xld.WALData)
			if err != nil {
				b.Fatal(err)
			}
			if _, ok := m.(*pglogrepl.InsertMessage); ok {
				inserts++
			}
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			ka, _ := pglogrepl.ParsePrimaryKeepaliveMessage(cd.Data[1:])
			if ka.ReplyRequested {
				_ = pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: ka.ServerWALEnd})
			}
		}
	}
	return time.Since(start)
}

// BenchmarkCDC streams benchChanges inserts (in transactions of 1,000
// rows) end to end into Kafka under exactly-once (the worker, JSON without
// schemas, 4 partitions, the in-process broker) and, in the same run and
// from the same WAL (a second slot created at the same point), with a
// plain pglogrepl reader that decodes every message and discards it.
func BenchmarkCDC(b *testing.B) {
	var cdcTime, plainTime time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		e := newBenchEnv(b)
		e.exec(b, `CREATE TABLE bench (id int PRIMARY KEY, account int NOT NULL, note text, amount numeric(12,2), at timestamptz)`)
		e.exec(b, `CREATE PUBLICATION p_bench FOR TABLE bench`)
		e.exec(b, `SELECT pg_create_logical_replication_slot('s_plain', 'pgoutput')`)
		e.exec(b, `SELECT pg_create_logical_replication_slot('s_cdc', 'pgoutput')`)
		for from := 1; from <= benchChanges; from += 1000 {
			e.exec(b, fmt.Sprintf(`INSERT INTO bench SELECT g, g %% 1000, 'order note ' || g, g / 100.0, now() FROM generate_series(%d, %d) g`, from, from+999))
		}
		b.StartTimer()
		start := time.Now()
		c, err := e.w.StartSource(context.Background(), e.config("cdc", "snapshot.mode", "no_data"))
		if err != nil {
			b.Fatal(err)
		}
		cdcTime += waitWritten(b, c, benchChanges).Sub(start)
		b.StopTimer()
		_ = c.Stop(context.Background())
		b.StartTimer()
		plainTime += plainReader(b, e, "s_plain", benchChanges)
	}
	total := float64(b.N * benchChanges)
	b.ReportMetric(total/cdcTime.Seconds(), "cdc_events/s")
	b.ReportMetric(total/plainTime.Seconds(), "pglogrepl_events/s")
	b.ReportMetric(plainTime.Seconds()/cdcTime.Seconds(), "ratio")
}

// BenchmarkSnapshot snapshots a table of benchRows rows (initial_only)
// end to end into Kafka under exactly-once and, in the same run, reads it
// with a plain COPY ... TO STDOUT that counts the rows (the issue's
// baseline) and with a plain COPY whose rows a plain producer sends to
// Kafka as they are (copyProducer).
func BenchmarkSnapshot(b *testing.B) {
	var snapTime, copyTime, copyProduceTime, copyEnvelopeTime, snapCPU, envelopeCPU time.Duration
	valueSize := 0
	for b.Loop() {
		b.StopTimer()
		e := newBenchEnv(b)
		e.exec(b, `CREATE TABLE bench (id int PRIMARY KEY, account int NOT NULL, note text, amount numeric(12,2), at timestamptz)`)
		e.exec(b, `CREATE PUBLICATION p_bench FOR TABLE bench`)
		e.exec(b, fmt.Sprintf(`INSERT INTO bench SELECT g, g %% 1000, 'order note ' || g, g / 100.0, now() FROM generate_series(1, %d) g`, benchRows))
		e.exec(b, `VACUUM ANALYZE bench`)
		b.StartTimer()
		start, cpu := time.Now(), cputime.Process()
		c, err := e.w.StartSource(context.Background(), e.config("snap", "snapshot.mode", "initial_only"))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if err := c.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		snapTime, snapCPU = snapTime+time.Since(start), snapCPU+cputime.Process()-cpu
		if w := c.Status().Tasks[0].Written; w != benchRows {
			b.Fatalf("%d rows written", w)
		}
		start = time.Now()
		rows := &countLines{}
		if _, err := e.db.PgConn().CopyTo(context.Background(), rows, "COPY bench TO STDOUT"); err != nil {
			b.Fatal(err)
		}
		copyTime += time.Since(start)
		if rows.n != benchRows {
			b.Fatalf("COPY read %d rows", rows.n)
		}
		b.StopTimer()
		valueSize = firstValueSize(b, e.b, "bench.public.bench")
		e.b.CreateTopic(b, "plain", 4, nil)
		e.b.CreateTopic(b, "envelope", 4, nil)
		cl := e.b.Client(b)
		b.StartTimer()
		copyProduceTime += copyToKafka(b, e, cl, "plain", nil)
		cpu = cputime.Process()
		copyEnvelopeTime += copyToKafka(b, e, cl, "envelope", handEnvelope)
		envelopeCPU += cputime.Process() - cpu
	}
	total := float64(b.N * benchRows)
	b.ReportMetric(total/snapTime.Seconds(), "snapshot_rows/s")
	b.ReportMetric(total/copyTime.Seconds(), "copy_rows/s")
	b.ReportMetric(copyTime.Seconds()/snapTime.Seconds(), "ratio")
	b.ReportMetric(total/copyProduceTime.Seconds(), "copy_produce_rows/s")
	b.ReportMetric(copyProduceTime.Seconds()/snapTime.Seconds(), "ratio_copy_produce")
	b.ReportMetric(total/copyEnvelopeTime.Seconds(), "copy_envelope_rows/s")
	b.ReportMetric(copyEnvelopeTime.Seconds()/snapTime.Seconds(), "ratio_copy_envelope")
	b.ReportMetric(float64(valueSize), "value_bytes")
	// Process CPU (the in-process broker's included) varies less than wall
	// time on a shared machine.
	b.ReportMetric(float64(snapCPU.Nanoseconds())/total, "snapshot_cpu_ns/row")
	b.ReportMetric(float64(envelopeCPU.Nanoseconds())/total, "copy_envelope_cpu_ns/row")
}

// handEnvelope formats a bench row's COPY text as a hand-written program
// would write its change event: the JSON of Debezium's envelope with the
// row's text as it is (amount and at as strings, no escaping beyond
// quoting) and a fixed source block, about as many bytes as the
// connector's events.
func handEnvelope(dst, line []byte) []byte {
	f := bytes.Split(line, []byte{'\t'})
	if len(f) != 5 {
		return append(dst, line...)
	}
	dst = append(dst, `{"before":null,"after":{"id":`...)
	dst = append(dst, f[0]...)
	dst = append(dst, `,"account":`...)
	dst = append(dst, f[1]...)
	dst = append(dst, `,"note":"`...)
	dst = append(dst, f[2]...)
	dst = append(dst, `","amount":"`...)
	dst = append(dst, f[3]...)
	dst = append(dst, `","at":"`...)
	dst = append(dst, f[4]...)
	dst = append(dst, `"},"source":{"version":"2.7.0.Final","connector":"postgresql","name":"bench","ts_ms":1733461123456,`+
		`"snapshot":"true","db":"postgres","sequence":"[null,\"23456789\"]","ts_us":1733461123456789,`+
		`"ts_ns":1733461123456789000,"schema":"public","table":"bench","txId":789,"lsn":23456789,"xmin":null},`+
		`"transaction":null,"op":"r","ts_ms":`...)
	dst = strconv.AppendInt(dst, time.Now().UnixMilli(), 10)
	return append(dst, '}')
}

// copyToKafka runs a plain COPY of the bench table whose rows a plain
// producer sends to topic, each value formatted by format (nil: the row's
// text as it is), and returns how long it took until every record was
// acknowledged.
func copyToKafka(b *testing.B, e *benchEnv, cl *kgo.Client, topic string, format func(dst, line []byte) []byte) time.Duration {
	b.Helper()
	start := time.Now()
	p := &copyProducer{cl: cl, ctx: context.Background(), topic: topic, format: format}
	if _, err := e.db.PgConn().CopyTo(context.Background(), p, "COPY bench TO STDOUT"); err != nil {
		b.Fatal(err)
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	if p.n != benchRows || p.err.Load() != nil {
		b.Fatalf("COPY to Kafka: %d rows, %v", p.n, p.err.Load())
	}
	return d
}

// firstValueSize returns the size of the value of one record of topic.
func firstValueSize(b *testing.B, br *testbroker.Broker, topic string) int {
	b.Helper()
	cl := br.Client(b, kgo.ConsumeTopics(topic))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		fs := cl.PollRecords(ctx, 1)
		if err := ctx.Err(); err != nil {
			b.Fatalf("no record in %s: %v", topic, err)
		}
		if recs := fs.Records(); len(recs) > 0 {
			return len(recs[0].Value)
		}
	}
}

// copyProducer is the second baseline: a plain COPY whose rows go to
// Kafka through a plain franz-go producer (key: the first column's text,
// value: the row's COPY text), without transactions, conversion or
// envelope; with format set, each value is what format makes of the row
// (handEnvelope: an event of about the connector's size, so that Kafka
// moves as many bytes as for the snapshot). Sluice's snapshot against
// these shows the cost of what a CDC record adds beyond moving bytes.
type copyProducer struct {
	cl      *kgo.Client
	ctx     context.Context
	topic   string
	format  func(dst, line []byte) []byte
	partial []byte
	n       int
	err     atomic.Pointer[error]
}

func (c *copyProducer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.partial = append(c.partial, p...)
			return n, nil
		}
		line := append(c.partial, p[:i]...)
		c.partial = nil
		p = p[i+1:]
		key := line
		if t := bytes.IndexByte(line, '\t'); t >= 0 {
			key = line[:t]
		}
		value := line
		if c.format != nil {
			value = c.format(make([]byte, 0, 512), line)
		}
		c.cl.Produce(c.ctx, &kgo.Record{Topic: c.topic, Key: key, Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				c.err.CompareAndSwap(nil, &err)
			}
		})
		c.n++
	}
	return n, nil
}

type countLines struct{ n int }

func (c *countLines) Write(p []byte) (int, error) {
	for _, b := range p {
		if b == '\n' {
			c.n++
		}
	}
	return len(p), nil
}

var _ io.Writer = (*countLines)(nil)
