package mysqlcdc

import (
	"context"
	"encoding/json"
	"testing"
)

func FuzzParseColumnType(f *testing.F) {
	for _, s := range []string{"int(10) unsigned", "enum('a','b''c')", "decimal(10,2)", "set('x',\"y\")", "double precision", "varchar(", "bit(64)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ct, err := parseColumnType(s)
		if err != nil {
			return
		}
		// What parses renders and parses again to the same type.
		again, err := parseColumnType(ct.String())
		if err != nil {
			t.Fatalf("%q rendered %q: %v", s, ct.String(), err)
		}
		if again.String() != ct.String() {
			t.Fatalf("%q: %q then %q", s, ct.String(), again.String())
		}
		_ = ct.kind()
		_ = ct.binlogTypeOK(3, 0, false)
	})
}

// FuzzApplyDDL applies arbitrary statements (DDL comes from the binlog) to
// a schema state: no panic, and every structure it leaves compiles or is
// rejected with an error.
func FuzzApplyDDL(f *testing.F) {
	for _, s := range []string{
		"ALTER TABLE t ADD COLUMN x INT AFTER id, DROP COLUMN a",
		"CREATE OR REPLACE TABLE t2 (id INT PRIMARY KEY, e ENUM('a'))",
		"RENAME TABLE t TO t3, t3 TO t",
		"ALTER TABLE t CHANGE a b VARCHAR(3) FIRST, ADD PRIMARY KEY (b)",
		"DROP DATABASE db",
		"ALTER TABLE t CONVERT TO CHARACTER SET latin1",
		"/*!40000 ALTER TABLE t DISABLE KEYS */",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		cfg := testConfig(t, "database.include.list", "db")
		state := newSchemaState(cfg, valueModes{decimal: "precise", time: "adaptive_time_microseconds", binary: "bytes", bigint: "long", mariadb: true}, "e")
		if _, _, err := state.addVersion("db.t", &tableDef{DB: "db", Name: "t", PK: []string{"id"},
			Columns: []column{{Name: "id", Type: "int(11)"}, {Name: "a", Type: "varchar(10)", Nullable: true, Charset: "utf8mb4"}}}); err != nil {
			t.Fatal(err)
		}
		ap := newDDLApplier(state, cfg.filters, true, true)
		_ = isSchemaStatement(q)
		res, err := ap.apply(context.Background(), fakeCatalog{}, "db", q)
		if err != nil {
			return
		}
		for _, c := range res.changes {
			def := c.def
			if c.kind == changeDrop {
				def = nil
			}
			_, _, _ = state.addVersion(c.id, def)
		}
	})
}

func FuzzTemporalText(f *testing.F) {
	for _, s := range []string{"2024-02-29", "2024-01-02 03:04:05.123456", "-838:59:59.000000", "0000-00-00 00:00:00", "12:3", "9999-12-31T23:59:59.9999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseTimeMicros(s)
		_, _, _, _ = parseDate(s)
		if tm, err := parseDateTime(s); err == nil {
			_ = zonedTimestamp(tm, 6)
		}
	})
}

func FuzzParseOffset(f *testing.F) {
	f.Add(`{"file":"binlog.000001","pos":4,"gtids":"0-1-5","event":2,"row":1,"schema_epoch":"e","schema_seq":3,"schemas_pending":"[{\"table\":\"db.t\",\"epoch\":\"e\",\"seq\":3}]"}`)
	f.Add(`{"file":"f","pos":"12","snapshot":"true"}`)
	f.Fuzz(func(t *testing.T, s string) {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) != nil {
			return
		}
		if o, err := parseMainOffset(m); err == nil {
			if _, err := parseMainOffset(o.toMap("")); err != nil {
				t.Fatalf("%s: re-parse: %v", s, err)
			}
		}
		_, _ = parseTableOffset(m)
	})
}
