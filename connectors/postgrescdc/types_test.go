package postgrescdc_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testwait"
)

// TestTypes inserts, updates and deletes a row of every mapped type and
// checks the events' values (JsonConverter with schemas, decimals as
// base64) and schemas against Debezium's mapping, in the snapshot and in
// the stream.
func TestTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.exec(t, `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`)
	e.exec(t, `CREATE DOMAIN posint AS integer CHECK (VALUE > 0)`)
	e.exec(t, `CREATE TABLE kinds (
		id int PRIMARY KEY, b bool, i2 smallint, i8 bigint, f4 real, f8 double precision,
		n numeric(10,2), nv numeric, m money, t text, vc varchar(10), c char(3), by bytea, u uuid,
		j json, jb jsonb, d date, tm time, tm3 time(3), ts timestamp, ts3 timestamp(3), tstz timestamptz,
		ttz timetz, iv interval, e mood, ai int[], at text[], bits bit(4), vb varbit, p point, ip inet,
		x xml, dom posint, r int4range, bigt text)`)
	row := `(1, true, -7, 9007199254740993, 1.5, -2.25,
		12.34, -0.001, 1234.56, E'héllo\tworld', 'varchar', 'ab', '\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
		'{"a": [1, 2]}', '{"b": 1, "a": "x"}', '2024-02-29', '13:45:12.123456', '13:45:12.123', '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678',
		'2024-01-02 03:04:05.5+02', '13:45:12+02', '1 year 2 mons 3 days 04:05:06.5', 'happy', '{1,NULL,3}', '{"a b",NULL,"c\"d"}',
		B'1010', B'101', '(1.5,-2)', '192.168.0.1/24', '<a>x</a>', 42, '[1,5)', NULL)`
	e.exec(t, `INSERT INTO kinds VALUES `+row)
	c := e.start(t, e.config("types"))
	topic := "srv.public.kinds"
	testwait.Until(t, "the snapshot", 30*time.Second, func() bool { return len(e.events(t, topic)) >= 1 })
	e.exec(t, `INSERT INTO kinds VALUES `+strings.Replace(row, "(1,", "(2,", 1))
	e.exec(t, `UPDATE kinds SET n = 99999999.99, nv = 3.5, e = 'sad', ai = '{}', ts = 'infinity', d = '0044-03-15 BC' WHERE id = 2`)
	e.exec(t, `DELETE FROM kinds WHERE id = 2`)
	testwait.Until(t, "the streamed changes", 30*time.Second, func() bool { return len(e.events(t, topic)) >= 5 })
	stop(t, c)
	evs := e.events(t, topic)
	if len(evs) != 5 {
		t.Fatalf("%d events, want r, c, u, d and a tombstone", len(evs))
	}
	want := map[string]string{
		"id": `1`, "b": `true`, "i2": `-7`, "i8": `9007199254740993`, "f4": `1.5`, "f8": `-2.25`,
		"n":  `"BNI="`, // 1234 unscaled, scale 2
		"nv": `{"scale":3,"value":"/w=="}`,
		"m":  `"AeJA"`, // 123456 unscaled, scale 2
		"t":  `"héllo\tworld"`, "vc": `"varchar"`, "c": `"ab "`, "by": `"AP8Q"`, "u": `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`,
		"j": `"{\"a\": [1, 2]}"`, "jb": `"{\"a\": \"x\", \"b\": 1}"`,
		"d":    `19782`,            // 2024-02-29
		"tm":   `49512123456`,      // MicroTime
		"tm3":  `49512123`,         // Time (ms)
		"ts":   `1704164645678901`, // MicroTimestamp
		"ts3":  `1704164645678`,    // Timestamp (ms)
		"tstz": `"2024-01-02T01:04:05.500000Z"`,
		"ttz":  `"11:45:12Z"`,
		"iv":   `37091106500000`, // Debezium's MicroDuration
		"e":    `"happy"`, "ai": `[1,null,3]`, "at": `["a b",null,"c\"d"]`,
		"bits": `"Cg=="`, // 1010: bits 1 and 3, little-endian (Debezium's Bits)
		"vb":   `"BQ=="`, // varbit without a length is Bits too
		"p":    `{"srid":null,"wkb":"AQEAAAAAAAAAAAD4PwAAAAAAAADA","x":1.5,"y":-2.0}`,
		"ip":   `"192.168.0.1/24"`, "x": `"<a>x</a>"`, "dom": `42`, "r": `"[1,5)"`, "bigt": `null`,
	}
	check := func(what string, got map[string]any, want map[string]string) {
		t.Helper()
		for k, w := range want {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(got[k])
			if b := strings.TrimSpace(buf.String()); b != w {
				t.Errorf("%s: column %s = %s, want %s", what, k, b, w)
			}
		}
	}
	if evs[0].Op != "r" || evs[0].Source["snapshot"] != "last" {
		t.Fatalf("first event %s snapshot %v, want a read (the snapshot's last)", evs[0].Op, evs[0].Source["snapshot"])
	}
	check("snapshot read", evs[0].After, want)
	if evs[1].Op != "c" {
		t.Fatalf("second event %s, want c", evs[1].Op)
	}
	want2 := map[string]string{}
	for k, v := range want {
		want2[k] = v
	}
	want2["id"] = "2"
	check("streamed create", evs[1].After, want2)
	if evs[2].Op != "u" || evs[2].Before != nil {
		t.Fatalf("third event %s before %v, want an update without before (REPLICA IDENTITY DEFAULT)", evs[2].Op, evs[2].Before)
	}
	check("update", evs[2].After, map[string]string{"n": `"AlQL4/8="`, "nv": `{"scale":1,"value":"Iw=="}`, "e": `"sad"`, "ai": `[]`,
		"ts": `9223372036825200000`, "d": `-735160`})
	if evs[3].Op != "d" || idOf(evs[3].Before) != "2" || evs[3].After != nil || evs[3].Before["t"] != nil {
		t.Fatalf("fourth event %s before %v, want a delete whose before holds only the key", evs[3].Op, evs[3].Before)
	}
	if !evs[4].Tombstone || fmt.Sprint(evs[4].Key["id"]) != "2" {
		t.Fatalf("fifth event %+v, want the tombstone of key 2", evs[4])
	}
	// Schemas: semantic names and parameters.
	fields := map[string]map[string]any{}
	for _, f := range evs[0].Schema["fields"].([]any) {
		fm := f.(map[string]any)
		if fm["field"] == "after" {
			for _, c := range fm["fields"].([]any) {
				cm := c.(map[string]any)
				fields[cm["field"].(string)] = cm
			}
		}
	}
	names := map[string]string{"n": "org.apache.kafka.connect.data.Decimal", "nv": "io.debezium.data.VariableScaleDecimal",
		"j": "io.debezium.data.Json", "jb": "io.debezium.data.Json", "u": "io.debezium.data.Uuid", "d": "io.debezium.time.Date",
		"tm": "io.debezium.time.MicroTime", "tm3": "io.debezium.time.Time", "ts": "io.debezium.time.MicroTimestamp",
		"ts3": "io.debezium.time.Timestamp", "tstz": "io.debezium.time.ZonedTimestamp", "ttz": "io.debezium.time.ZonedTime",
		"iv": "io.debezium.time.MicroDuration", "e": "io.debezium.data.Enum", "bits": "io.debezium.data.Bits",
		"p": "io.debezium.data.geometry.Point", "x": "io.debezium.data.Xml"}
	for col, name := range names {
		if fields[col]["name"] != name {
			t.Errorf("column %s: schema name %v, want %s", col, fields[col]["name"], name)
		}
	}
	if p := fields["e"]["parameters"].(map[string]any); p["allowed"] != "sad,ok,happy" {
		t.Errorf("enum parameters %v", p)
	}
	if p := fields["n"]["parameters"].(map[string]any); p["scale"] != "2" || p["connect.decimal.precision"] != "10" {
		t.Errorf("decimal parameters %v", p)
	}
	if fields["id"]["optional"] != false || fields["t"]["optional"] != true {
		t.Errorf("optionality: id %v, t %v (key columns required, others optional)", fields["id"]["optional"], fields["t"]["optional"])
	}
}
