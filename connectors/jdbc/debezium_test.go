package jdbc

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/connectjson"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testdb"
	"github.com/sluicehq/sluice/internal/testwait"
)

// Debezium-style change events of a table public.customers, as
// postgres-cdc writes them with its defaults (time.precision.mode=adaptive,
// decimal.handling.mode=precise): semantic temporal types, JSON, UUID and
// an unconstrained numeric as VariableScaleDecimal.
var (
	dbzKey = connectors.NewStruct("pg.public.customers.Key").Field("id", connectors.Int32Schema()).MustBuild()
	dbzRow = connectors.NewStruct("pg.public.customers.Value").
		Field("id", connectors.Int32Schema()).
		Field("name", connectors.StringSchema()).
		Field("balance", &connectors.Schema{Type: connectors.TypeBytes, Name: connectors.DecimalName, Version: 1,
			Parameters: map[string]string{connectors.DecimalScaleParam: "2", decimalPrecisionParam: "10"}}).
		Field("born", connectors.OptionalOf(&connectors.Schema{Type: connectors.TypeInt32, Name: dbzDate, Version: 1})).
		Field("updated", &connectors.Schema{Type: connectors.TypeInt64, Name: dbzMicroTimestamp, Version: 1}).
		Field("seen", connectors.OptionalOf(&connectors.Schema{Type: connectors.TypeString, Name: dbzZonedTimestamp, Version: 1})).
		Field("at", connectors.OptionalOf(&connectors.Schema{Type: connectors.TypeInt64, Name: dbzMicroTime, Version: 1})).
		Field("attrs", connectors.OptionalOf(&connectors.Schema{Type: connectors.TypeString, Name: dbzJSON, Version: 1})).
		Field("uid", connectors.OptionalOf(&connectors.Schema{Type: connectors.TypeString, Name: dbzUUID, Version: 1})).
		Field("score", connectors.OptionalOf(connectors.NewStruct(dbzVarDecimal).
			Field("scale", connectors.Int32Schema()).Field("value", connectors.BytesSchema()).MustBuild())).
		MustBuild()
	dbzSource = connectors.NewStruct("io.debezium.connector.postgresql.Source").
			Field("version", connectors.StringSchema()).Field("connector", connectors.StringSchema()).
			Field("name", connectors.StringSchema()).Field("ts_ms", connectors.Int64Schema()).
			Field("db", connectors.StringSchema()).Field("schema", connectors.StringSchema()).
			Field("table", connectors.StringSchema()).MustBuild()
	dbzEnvelope = connectors.NewStruct("pg.public.customers.Envelope").
			Field("before", connectors.OptionalOf(dbzRow)).
			Field("after", connectors.OptionalOf(dbzRow)).
			Field("source", dbzSource).
			Field("op", connectors.StringSchema()).
			Field("ts_ms", connectors.OptionalOf(connectors.Int64Schema())).MustBuild()
)

// customer is a row of the change events; its text form is what the
// table's row reads back as.
type customer struct {
	id      int32
	name    string
	balance int64 // cents
}

func (c customer) row() *connectors.Struct {
	after, _ := dbzEnvelope.Field("after")
	updated := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC).Add(time.Duration(c.id) * time.Hour)
	score, _ := new(big.Int).SetString(fmt.Sprintf("-%d2345", c.id), 10) // -N.2345
	return connectors.NewStructValue(after.Schema).Put("id", c.id).Put("name", c.name).Put("balance", big.NewRat(c.balance, 100)).
		Put("born", int32(19782)). // 2024-02-29
		Put("updated", updated.UnixMicro()).
		Put("seen", "2024-05-06T07:08:09.5+02:00").
		Put("at", int64((13*3600+14*60+15)*1_000_000+250_000)).
		Put("attrs", `{"tier": "gold"}`).
		Put("uid", "0b6f3c2e-6a55-4d0e-9a37-3c8e0e7f4a21").
		Put("score", connectors.NewStructValue(dbzVarDecimal2()).Put("scale", int32(4)).Put("value", twosComplementBytes(score)))
}

// twosComplementBytes encodes n as a Connect Decimal's unscaled value:
// big-endian two's complement, shortest form.
func twosComplementBytes(n *big.Int) []byte {
	if n.Sign() >= 0 {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	size := (n.BitLen() + 8) / 8
	m := new(big.Int).Add(n, new(big.Int).Lsh(big.NewInt(1), uint(size)*8))
	b := m.FillBytes(make([]byte, size))
	return b
}

func dbzVarDecimal2() *connectors.Schema {
	f, _ := dbzRow.Field("score")
	return f.Schema
}

// text is the row as the test's query reads it back from PostgreSQL.
func (c customer) text() string {
	updated := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC).Add(time.Duration(c.id) * time.Hour)
	return fmt.Sprintf("%d|%s|%d.%02d|2024-02-29|%s|2024-05-06 05:08:09.500|13:14:15.25|gold|0b6f3c2e-6a55-4d0e-9a37-3c8e0e7f4a21|-%d.2345",
		c.id, c.name, c.balance/100, c.balance%100, updated.Format("2006-01-02 15:04:05.000000"), c.id)
}

func dbzEvent(t testing.TB, op string, before, after *customer) *kgo.Record {
	t.Helper()
	id := int32(0)
	env := connectors.NewStructValue(dbzEnvelope).Put("op", op).Put("ts_ms", int64(1700000000000)).
		Put("source", connectors.NewStructValue(dbzSource).Put("version", "2.7.0.Final").Put("connector", "postgresql").
			Put("name", "pg").Put("ts_ms", int64(1700000000000)).Put("db", "shop").Put("schema", "public").Put("table", "customers"))
	if before != nil {
		env.Put("before", before.row())
		id = before.id
	}
	if after != nil {
		env.Put("after", after.row())
		id = after.id
	}
	key, err := connectjson.AppendEnvelope(nil, dbzKey, connectors.NewStructValue(dbzKey).Put("id", id), connectjson.Options{})
	if err != nil {
		t.Fatal(err)
	}
	value, err := connectjson.AppendEnvelope(nil, dbzEnvelope, env, connectjson.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: "pg.public.customers", Key: key, Value: value}
}

// dbzTombstone is the tombstone Debezium writes after a delete.
func dbzTombstone(t testing.TB, id int32) *kgo.Record {
	key, err := connectjson.AppendEnvelope(nil, dbzKey, connectors.NewStructValue(dbzKey).Put("id", id), connectjson.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: "pg.public.customers", Key: key}
}

// TestSinkDebeziumReplay replays Debezium change events (creates,
// updates, deletes with their tombstones) through the
// ExtractNewRecordState transform into PostgreSQL with the jdbc sink in
// the real worker: upserts and deletes by the record key rebuild the
// source table, with the table created from the flattened rows' schema
// (dates, timestamps, times, JSON, UUID and decimals as such). A record
// the database refuses (a CHECK constraint) in the middle of a put is
// isolated row by row and dead-lettered alone; the others are written.
func TestSinkDebeziumReplay(t *testing.T) {
	t.Parallel()
	pg := testdb.StartPostgres(t)
	d := (&env{kind: dialectPostgres, pg: pg}).newDB(t)
	b := testbroker.New(t)
	b.CreateTopic(t, "pg.public.customers", 1, nil)

	w, err := worker.New(worker.Config{Brokers: []string{b.Addr()}, Plugins: conformanceRegistry(t), Guarantee: core.AtLeastOnce,
		SessionTimeout: 2 * time.Second, Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	cfg := map[string]any{"name": "replay", "type": "io.confluent.connect.jdbc.JdbcSinkConnector", "topics": "pg.public.customers",
		"connection.url": d.url, "insert.mode": "upsert", "pk.mode": "record_key", "delete.enabled": true, "auto.create": true,
		"transforms": "unwrap,route", "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
		"transforms.route.type":  "org.apache.kafka.connect.transforms.RegexRouter",
		"transforms.route.regex": `pg\.public\.(.*)`, "transforms.route.replacement": "$1",
		"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "replay-dlq",
		"key.converter": "json", "key.converter.schemas.enable": true,
		"value.converter": "json", "value.converter.schemas.enable": true}
	c1, c2, c3, c4 := customer{1, "ann", 1000}, customer{2, "bob", 250}, customer{3, "cy", 0}, customer{4, "dee", 99}
	b.Produce(t,
		dbzEvent(t, "r", nil, &c1), dbzEvent(t, "c", nil, &c2), dbzEvent(t, "c", nil, &c3),
		dbzEvent(t, "u", &c2, &customer{2, "bobby", 300}),
		dbzEvent(t, "d", &c3, nil), dbzTombstone(t, 3),
		dbzEvent(t, "c", nil, &c4))
	c, err := w.StartSink(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	const query = `SELECT id, name, balance, born::text, to_char(updated, 'YYYY-MM-DD HH24:MI:SS.US'),
 to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), at, attrs->>'tier', uid, score FROM customers ORDER BY id`
	wantState := func(what string, rows ...customer) {
		t.Helper()
		var want []string
		for _, r := range rows {
			want = append(want, r.text())
		}
		var got string
		testwait.Until(t, what, 30*time.Second, func() bool {
			if tableExistsNamed(d, "customers") {
				got = strings.Join(d.rows(query), "\n")
			}
			return got == strings.Join(want, "\n")
		}, testwait.Detail(func() string { return fmt.Sprintf("the table holds\n%s\nwant\n%s", got, strings.Join(want, "\n")) }))
	}
	wantState("the replayed table", c1, customer{2, "bobby", 300}, c4)
	// The table was created from the flattened rows' schema.
	types := d.rows("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'customers'") // sorted
	if got := strings.Join(types, ","); got != "attrs|jsonb,at|time without time zone,balance|numeric,born|date,id|integer,name|text,score|numeric,seen|timestamp with time zone,uid|uuid,updated|timestamp without time zone" {
		t.Fatalf("created columns: %s", got)
	}

	// A record the database refuses, among others.
	d.exec("ALTER TABLE customers ADD CONSTRAINT balance_not_negative CHECK (balance >= 0)")
	b.Produce(t,
		dbzEvent(t, "u", &c1, &customer{1, "ann", 1500}),
		dbzEvent(t, "u", &c4, &customer{4, "dee", -5}), // refused
		dbzEvent(t, "c", nil, &customer{5, "eve", 1}),
		dbzEvent(t, "d", &customer{2, "bobby", 300}, nil), dbzTombstone(t, 2))
	wantState("the writes around the refused record", customer{1, "ann", 1500}, c4, customer{5, "eve", 1})
	testwait.Until(t, "the dead letter", 30*time.Second, func() bool { return len(b.ReadAll(t, "replay-dlq")) > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	dl := b.ReadAll(t, "replay-dlq")
	if len(dl) != 1 || !strings.Contains(string(dl[0].Value), `"name":"dee"`) {
		t.Fatalf("dead letters: %d, first %s", len(dl), dl[0].Value)
	}
	for _, h := range dl[0].Headers {
		if h.Key == "__connect.errors.exception.message" && !strings.Contains(string(h.Value), "balance_not_negative") {
			t.Fatalf("dead letter's error: %s", h.Value)
		}
	}
}

// TestSinkDebeziumTypes writes flattened rows with Debezium's semantic
// types into a table the sink creates, on every database, and reads the
// values back as the database shows them.
func TestSinkDebeziumTypes(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		d := e.newDB(t)
		task, sc := newSinkTask(t, snkConfig(d, "insert.mode", "upsert", "pk.mode", "record_key", "table.name.format", "customers"))
		rec := func(c customer) *connectors.Record {
			v := c.row()
			return &connectors.Record{Topic: "t", KeySchema: dbzKey, Key: connectors.NewStructValue(dbzKey).Put("id", c.id), ValueSchema: v.Schema(), Value: v}
		}
		put(t, task, rec(customer{1, "ann", 1000}), rec(customer{2, "bob", 5}))
		if r := sc.reports(); len(r) != 0 {
			t.Fatalf("reports %v", r)
		}
		got := d.rows(d.ddl(
			"SELECT id, born::text, updated::text, at::text, score::text, uid::text FROM customers",
			"SELECT id, CAST(born AS CHAR), CAST(updated AS CHAR), CAST(at AS CHAR), CAST(score AS CHAR), uid FROM customers",
			"SELECT id, CAST(born AS TEXT), updated, at, score, uid FROM customers"))
		const uid = "0b6f3c2e-6a55-4d0e-9a37-3c8e0e7f4a21"
		want := map[dialectKind][]string{
			dialectPostgres: {"1|2024-02-29|2024-01-02 04:04:05.123456|13:14:15.25|-1.2345|" + uid, "2|2024-02-29|2024-01-02 05:04:05.123456|13:14:15.25|-2.2345|" + uid},
			dialectMySQL: {"1|2024-02-29|2024-01-02 04:04:05.123456|13:14:15.250000|-1.234500000000000000000000000000|" + uid,
				"2|2024-02-29|2024-01-02 05:04:05.123456|13:14:15.250000|-2.234500000000000000000000000000|" + uid},
			dialectSQLite: {"1|2024-02-29|2024-01-02 04:04:05.123|13:14:15.25|-1.2345|" + uid, "2|2024-02-29|2024-01-02 05:04:05.123|13:14:15.25|-2.2345|" + uid},
		}[e.kind]
		wantRows(t, got, want...)
	})
}
