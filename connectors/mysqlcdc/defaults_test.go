package mysqlcdc

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
)

func deref(p *string) string {
	if p == nil {
		return "<none>"
	}
	return *p
}

func TestColumnDefaults(t *testing.T) {
	for in, want := range map[string]string{
		"NULL": "<none>", "'abc'": "abc", "'it''s'": "it's", `'a\\b'`: `a\b`, "5": "5", "-2.50": "-2.50", "1e3": "1e3",
		"TRUE": "1", "current_timestamp()": "<none>", "CURRENT_TIMESTAMP(3)": "<none>", "'2024-01-02'": "2024-01-02", "b'101'": "<none>",
	} {
		if got := deref(constantDefault(in)); got != want {
			t.Errorf("constantDefault(%q) = %q, want %q", in, got, want)
		}
	}
	// MySQL's catalog: literals bare, expressions marked DEFAULT_GENERATED.
	for _, c := range []struct {
		v, extra, want string
	}{{"abc", "", "abc"}, {"CURRENT_TIMESTAMP", "DEFAULT_GENERATED", "<none>"}, {"(rand())", "DEFAULT_GENERATED", "<none>"}, {"0", "", "0"}} {
		if got := deref(catalogDefault(sql.NullString{String: c.v, Valid: true}, c.extra, false)); got != c.want {
			t.Errorf("MySQL catalog default %q %q = %q, want %q", c.v, c.extra, got, c.want)
		}
	}

	// From DDL to the schema: the constant defaults become the fields'
	// defaults, converted as values are; ALTER COLUMN sets and drops them.
	cfg := testConfig(t, "database.include.list", "db")
	state := newSchemaState(cfg, valueModes{decimal: "precise", time: "adaptive_time_microseconds", binary: "bytes", bigint: "long", mariadb: true}, "e1")
	ap := newDDLApplier(state, cfg.filters, true, true)
	cat := fakeCatalog{charsets: map[string]string{"db": "utf8mb4"}}
	apply := func(stmt string) {
		t.Helper()
		res, err := ap.apply(context.Background(), cat, "db", stmt)
		if err != nil {
			t.Fatalf("%q: %v", stmt, err)
		}
		for _, c := range res.changes {
			if _, _, err := state.addVersion(c.id, c.def); err != nil {
				t.Fatalf("%q: %v", stmt, err)
			}
		}
	}
	defaults := func() map[string]string {
		out := map[string]string{}
		ts := state.tables["db.d"]
		for _, f := range ts.schema.dbz.Row.Fields {
			out[f.Name] = fmt.Sprintf("%v", f.Schema.Default)
		}
		return out
	}
	apply("CREATE TABLE d (id INT PRIMARY KEY, qty INT NOT NULL DEFAULT 5, name VARCHAR(10) DEFAULT 'x', at DATE NOT NULL DEFAULT '1970-01-11', ts TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, n INT DEFAULT NULL)")
	want := map[string]string{"id": "<nil>", "qty": "5", "name": "x", "at": "10", "ts": "<nil>", "n": "<nil>"}
	if got := defaults(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("defaults %v, want %v", got, want)
	}
	apply("ALTER TABLE d ALTER COLUMN qty SET DEFAULT 7, ALTER COLUMN name DROP DEFAULT")
	want["qty"], want["name"] = "7", "<nil>"
	if got := defaults(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after ALTER COLUMN: defaults %v, want %v", got, want)
	}
}
