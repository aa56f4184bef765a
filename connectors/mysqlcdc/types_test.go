package mysqlcdc_test

import (
	"encoding/base64"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
)

const typesTable = `CREATE TABLE shop.types (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, bo BOOL, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
  i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  de DECIMAL(10,2), de0 DECIMAL(5,0), f FLOAT, fmd FLOAT(7,3), d DOUBLE,
  b1 BIT(1), b10 BIT(10),
  c CHAR(5), vc VARCHAR(20), tx TEXT, lat VARCHAR(10) CHARACTER SET latin1,
  bn BINARY(4), vb VARBINARY(10), bl BLOB,
  dt DATE, dz DATE NOT NULL DEFAULT '2000-01-01', tm TIME, tm3 TIME(3), dtm DATETIME, dtm6 DATETIME(6), ts TIMESTAMP(3) NULL, y YEAR,
  e ENUM('a','b','c'), s SET('x','y','z'), j JSON, nn VARCHAR(5) NOT NULL DEFAULT ''
)`

const typesValues = `-5, 250, true, -300, 65000, -8000000, 16000000, -2000000000, 4000000000, -9000000000000000000, 18000000000000000000,
 12345.67, 99999, 3.14159274, 1234.567, 2.718281828459045,
 b'1', b'1000000011',
 'ab', 'héllo', 'text ✓', 'é',
 'ab', 'xyz', 'blob',
 '2024-02-29', '0000-00-00', '-838:59:58', '12:34:56.789', '2024-01-02 03:04:05', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.500', 2024,
 'b', 'x,z', '{"k": [1, 2.5, "s"], "a": null}', 'n'`

func decimalBase64(s string, scale int) string {
	r, _ := new(big.Rat).SetString(s)
	unscaled := new(big.Int).Mul(r.Num(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
	unscaled.Quo(unscaled, r.Denom())
	b := unscaled.Bytes()
	if len(b) > 0 && b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func days(y int, m time.Month, d int) string {
	return fmt.Sprint(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// typesWant is each column's value in the events (as JSON text) and its
// schema (type and semantic name).
var typesWant = map[string][3]string{
	"ti":   {"-5", "int16", ""},
	"tiu":  {"250", "int16", ""},
	"bo":   {"1", "int16", ""},
	"si":   {"-300", "int16", ""},
	"siu":  {"65000", "int32", ""},
	"mi":   {"-8000000", "int32", ""},
	"miu":  {"16000000", "int32", ""},
	"i":    {"-2000000000", "int32", ""},
	"iu":   {"4000000000", "int64", ""},
	"bi":   {"-9000000000000000000", "int64", ""},
	"biu":  {"-446744073709551616", "int64", ""}, // 18000000000000000000 - 2^64 (bigint.unsigned.handling.mode=long)
	"de":   {decimalBase64("12345.67", 2), "bytes", "org.apache.kafka.connect.data.Decimal"},
	"de0":  {decimalBase64("99999", 0), "bytes", "org.apache.kafka.connect.data.Decimal"},
	"f":    {"3.1415927", "float", ""},
	"fmd":  {"1234.5670166015625", "double", ""},
	"d":    {"2.718281828459045", "double", ""},
	"b1":   {"true", "boolean", ""},
	"b10":  {base64.StdEncoding.EncodeToString([]byte{0x03, 0x02}), "bytes", "io.debezium.data.Bits"},
	"c":    {"ab", "string", ""},
	"vc":   {"héllo", "string", ""},
	"tx":   {"text ✓", "string", ""},
	"lat":  {"é", "string", ""},
	"bn":   {base64.StdEncoding.EncodeToString([]byte("ab\x00\x00")), "bytes", ""},
	"vb":   {base64.StdEncoding.EncodeToString([]byte("xyz")), "bytes", ""},
	"bl":   {base64.StdEncoding.EncodeToString([]byte("blob")), "bytes", ""},
	"dt":   {days(2024, 2, 29), "int32", "io.debezium.time.Date"},
	"dz":   {"0", "int32", "io.debezium.time.Date"},
	"tm":   {fmt.Sprint(-int64(838*3600+59*60+58) * 1_000_000), "int64", "io.debezium.time.MicroTime"},
	"tm3":  {fmt.Sprint(int64(12*3600+34*60+56)*1_000_000 + 789_000), "int64", "io.debezium.time.MicroTime"},
	"dtm":  {fmt.Sprint(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()), "int64", "io.debezium.time.Timestamp"},
	"dtm6": {fmt.Sprint(time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC).UnixMicro()), "int64", "io.debezium.time.MicroTimestamp"},
	"ts":   {"2024-01-02T03:04:05.500Z", "string", "io.debezium.time.ZonedTimestamp"},
	"y":    {"2024", "int32", "io.debezium.time.Year"},
	"e":    {"b", "string", "io.debezium.data.Enum"},
	"s":    {"x,z", "string", "io.debezium.data.EnumSet"},
	"j":    {`{"k": [1, 2.5, "s"], "a": null}`, "string", "io.debezium.data.Json"},
	"nn":   {"n", "string", ""},
}

// TestTypeMapping checks every mapped type's schema and value, in the
// snapshot (read through the binary protocol) and in the binlog, which
// must agree.
func TestTypeMapping(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.exec(t, "CREATE DATABASE shop CHARACTER SET utf8mb4", typesTable,
		"INSERT INTO shop.types VALUES (1, "+typesValues+")",
		"INSERT INTO shop.types (id) VALUES (3)")
	e.topics(t, "tm.shop.types")
	w := e.worker(t, core.ExactlyOnceV2)
	c := startSource(t, w, e.config("types", "tm", "database.include.list", "shop"))
	e.waitEvents(t, "tm.shop.types", 2, 60*time.Second)
	e.exec(t, "INSERT INTO shop.types VALUES (2, "+typesValues+")",
		"INSERT INTO shop.types (id) VALUES (4)",
		"UPDATE shop.types SET iu = 4000000001, tm3 = '00:00:00.001' WHERE id = 2")
	evs := e.waitEvents(t, "tm.shop.types", 5, 60*time.Second)
	stop(t, c)

	byID := map[string]event{}
	var update event
	for _, ev := range evs {
		if ev.op() == "u" {
			update = ev
			continue
		}
		byID[ev.op()+str(ev.key["id"])] = ev
	}
	for _, k := range []string{"r1", "c2"} {
		ev, ok := byID[k]
		if !ok {
			t.Fatalf("no event %s in %d events", k, len(evs))
		}
		after := ev.after()
		for col, want := range typesWant {
			if got := str(after[col]); got != want[0] {
				t.Errorf("%s: column %s = %s, want %s", k, col, got, want[0])
			}
		}
	}
	for _, k := range []string{"r3", "c4"} {
		after := byID[k].after()
		for col := range typesWant {
			want := "null"
			switch col {
			case "nn":
				want = ""
			case "dz":
				want = days(2000, 1, 1)
			}
			if got := str(after[col]); got != want {
				t.Errorf("%s: column %s = %s, want %s", k, col, got, want)
			}
		}
	}
	if str(update.before()["iu"]) != "4000000000" || str(update.after()["iu"]) != "4000000001" || str(update.after()["tm3"]) != "1000" {
		t.Errorf("update: before %v after %v", update.before(), update.after())
	}
	// Schemas: the after struct's fields.
	fields := map[string]map[string]any{}
	for _, f := range byID["c2"].schema["fields"].([]any) {
		fm := f.(map[string]any)
		if fm["field"] == "after" {
			for _, cf := range fm["fields"].([]any) {
				cm := cf.(map[string]any)
				fields[cm["field"].(string)] = cm
			}
		}
	}
	for col, want := range typesWant {
		f := fields[col]
		if f == nil {
			t.Errorf("schema has no field %s", col)
			continue
		}
		name, _ := f["name"].(string)
		if f["type"] != want[1] || name != want[2] {
			t.Errorf("schema of %s: type %v name %q, want %s %q", col, f["type"], name, want[1], want[2])
		}
	}
	if p := fields["e"]["parameters"].(map[string]any); p["allowed"] != "a,b,c" {
		t.Errorf("enum parameters %v", p)
	}
	if p := fields["de"]["parameters"].(map[string]any); p["scale"] != "2" || p["connect.decimal.precision"] != "10" {
		t.Errorf("decimal parameters %v", p)
	}
	if p := fields["b10"]["parameters"].(map[string]any); p["length"] != "10" {
		t.Errorf("bits parameters %v", p)
	}
	if fields["nn"]["optional"] != false || fields["vc"]["optional"] != true || fields["dz"]["optional"] != false {
		t.Errorf("optionality: nn %v vc %v dz %v", fields["nn"]["optional"], fields["vc"]["optional"], fields["dz"]["optional"])
	}
}
