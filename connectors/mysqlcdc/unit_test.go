package mysqlcdc

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

func TestParseColumnType(t *testing.T) {
	for _, c := range []struct {
		in   string
		want colType
		kind kind
		str  string
	}{
		{"int(11)", colType{base: "int", length: 11, scale: -1}, kindInt, "int(11)"},
		{"int(10) unsigned", colType{base: "int", unsigned: true, length: 10, scale: -1}, kindInt, "int(10) unsigned"},
		{"bigint unsigned zerofill", colType{base: "bigint", unsigned: true, length: -1, scale: -1}, kindBigInt, "bigint unsigned"},
		{"decimal(10,2)", colType{base: "decimal", length: 10, scale: 2}, kindDecimal, "decimal(10,2)"},
		{"double precision", colType{base: "double", length: -1, scale: -1}, kindDouble, "double"},
		{"enum('a','b''c','d,e')", colType{base: "enum", length: -1, scale: -1, elems: []string{"a", "b'c", "d,e"}}, kindEnum, "enum('a','b''c','d,e')"},
		{"set('x')", colType{base: "set", length: -1, scale: -1, elems: []string{"x"}}, kindSet, "set('x')"},
		{"datetime(6)", colType{base: "datetime", length: 6, scale: -1}, kindDateTime, "datetime(6)"},
		{"longtext", colType{base: "longtext", length: -1, scale: -1}, kindChar, "longtext"},
		{"varbinary(16)", colType{base: "varbinary", length: 16, scale: -1}, kindBinary, "varbinary(16)"},
		{"json", colType{base: "json", length: -1, scale: -1}, kindJSON, "json"},
		{"point", colType{base: "point", length: -1, scale: -1}, kindGeometry, "point"},
		{"uuid", colType{base: "uuid", length: -1, scale: -1}, kindUnknown, "uuid"},
	} {
		got, err := parseColumnType(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) || got.kind() != c.kind || got.String() != c.str {
			t.Errorf("%q: %+v kind %v %q, want %+v kind %v %q", c.in, got, got.kind(), got.String(), c.want, c.kind, c.str)
		}
	}
	for _, bad := range []string{"", "(1)", "int(", "enum('a", "decimal(x)"} {
		if _, err := parseColumnType(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func testConfig(t *testing.T, kv ...any) *config {
	t.Helper()
	raw := map[string]any{"database.hostname": "h", "database.user": "u", "database.server.id": 1, "topic.prefix": "p"}
	for i := 0; i+1 < len(kv); i += 2 {
		raw[kv[i].(string)] = kv[i+1]
	}
	c, err := spec.Parse("", raw)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fakeCatalog answers DDL processing's catalog questions.
type fakeCatalog struct {
	defs     map[string]*tableDef
	charsets map[string]string
}

func (f fakeCatalog) tableDefs(_ context.Context, tables [][2]string) (map[string]*tableDef, error) {
	out := map[string]*tableDef{}
	for _, tb := range tables {
		if d := f.defs[tb[0]+"."+tb[1]]; d != nil {
			out[tb[0]+"."+tb[1]] = d
		}
	}
	return out, nil
}

func (f fakeCatalog) databaseCharset(_ context.Context, db string) (string, error) {
	if cs, ok := f.charsets[db]; ok {
		return cs, nil
	}
	return "utf8mb4", nil
}

func describe(d *tableDef) string {
	if d == nil {
		return "<nil>"
	}
	var parts []string
	for _, c := range d.Columns {
		p := c.Name + " " + c.Type
		if !c.Nullable {
			p += " not null"
		}
		if c.Charset != "" {
			p += " " + c.Charset
		}
		parts = append(parts, p)
	}
	return d.id() + "(" + strings.Join(parts, ", ") + ") pk=" + strings.Join(d.PK, ",")
}

// TestDDL applies statement sequences to the schema state and checks the
// structures they leave.
func TestDDL(t *testing.T) {
	cfg := testConfig(t, "database.include.list", "db")
	cat := fakeCatalog{charsets: map[string]string{"db": "latin1"}, defs: map[string]*tableDef{
		"db.fromcat": {DB: "db", Name: "fromcat", Columns: []column{{Name: "id", Type: "int(11)"}}, PK: []string{"id"}},
	}}
	steps := []struct {
		stmt    string
		changes string // kinds and ids
		table   string // id to describe after
		want    string
	}{
		{"CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10), b TINYINT(1) NOT NULL, c DECIMAL(5,2) UNSIGNED)", "CREATE db.t", "db.t",
			"db.t(id int not null, a varchar(10) latin1, b tinyint(1) not null, c decimal(5,2) unsigned) pk=id"},
		{"ALTER TABLE t ADD COLUMN d DATETIME(3) AFTER id, ADD e ENUM('x','y') CHARACTER SET utf8mb4 FIRST", "ALTER db.t", "db.t",
			"db.t(e enum('x','y') utf8mb4, id int not null, d datetime(3), a varchar(10) latin1, b tinyint(1) not null, c decimal(5,2) unsigned) pk=id"},
		{"ALTER TABLE db.t DROP COLUMN a, MODIFY b SMALLINT, CHANGE c price DECIMAL(8,3) NOT NULL AFTER e", "ALTER db.t", "db.t",
			"db.t(e enum('x','y') utf8mb4, price decimal(8,3) not null, id int not null, d datetime(3), b smallint) pk=id"},
		{"ALTER TABLE t RENAME COLUMN id TO tid, DROP PRIMARY KEY, ADD PRIMARY KEY (tid, d)", "ALTER db.t", "db.t",
			"db.t(e enum('x','y') utf8mb4, price decimal(8,3) not null, tid int not null, d datetime(3) not null, b smallint) pk=tid,d"},
		{"ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4", "ALTER db.t", "db.t",
			"db.t(e enum('x','y') utf8mb4, price decimal(8,3) not null, tid int not null, d datetime(3) not null, b smallint) pk=tid,d"},
		{"ALTER TABLE t ADD INDEX (b), ALGORITHM=INPLACE", "", "db.t",
			"db.t(e enum('x','y') utf8mb4, price decimal(8,3) not null, tid int not null, d datetime(3) not null, b smallint) pk=tid,d"},
		{"CREATE TABLE t2 LIKE t", "CREATE db.t2", "db.t2",
			"db.t2(e enum('x','y') utf8mb4, price decimal(8,3) not null, tid int not null, d datetime(3) not null, b smallint) pk=tid,d"},
		{"RENAME TABLE t2 TO t3, t3 TO t4", "DROP db.t2,CREATE db.t3,DROP db.t3,CREATE db.t4", "db.t4",
			"db.t4(e enum('x','y') utf8mb4, price decimal(8,3) not null, tid int not null, d datetime(3) not null, b smallint) pk=tid,d"},
		{"RENAME TABLE t4 TO other.t4", "DROP db.t4", "db.t4", "<nil>"},
		{"CREATE TABLE other.z (id INT)", "", "other.z", "<nil>"},
		{"CREATE TABLE fromcat SELECT 1 AS id", "", "db.fromcat", "<nil>"},
		{"/* a comment */ DROP TABLE IF EXISTS t, nothere", "DROP db.t", "db.t", "<nil>"},
		{"CREATE TABLE j (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, doc JSON, bin VARBINARY(4), bl BLOB, tx MEDIUMTEXT COLLATE utf8mb4_bin, PRIMARY KEY (id)) DEFAULT CHARSET=ascii", "CREATE db.j", "db.j",
			"db.j(id bigint unsigned not null, doc json utf8mb4, bin varbinary(4), bl blob, tx mediumtext utf8mb4) pk=id"},
		{"DROP DATABASE db", "DROP db.j", "db.j", "<nil>"},
	}
	state := newSchemaState(cfg, valueModes{decimal: "precise", time: "adaptive_time_microseconds", binary: "bytes", bigint: "long", mariadb: true}, "e1")
	ap := newDDLApplier(state, cfg.filters, true, true)
	for _, s := range steps {
		if !isSchemaStatement(s.stmt) {
			t.Errorf("%q: not recognised as DDL", s.stmt)
		}
		res, err := ap.apply(context.Background(), cat, "db", s.stmt)
		if err != nil {
			t.Fatalf("%q: %v", s.stmt, err)
		}
		var kinds []string
		for _, c := range res.changes {
			kinds = append(kinds, c.kind+" "+c.id)
			def := c.def
			if c.kind == changeDrop {
				def = nil
			}
			if _, _, err := state.addVersion(c.id, def); err != nil {
				t.Fatalf("%q: %v", s.stmt, err)
			}
		}
		if got := strings.Join(kinds, ","); got != s.changes {
			t.Errorf("%q: changes %q, want %q (catalog %v, stale %v)", s.stmt, got, s.changes, res.catalog, res.stale)
		}
		if got := describe(state.lookup(s.table)); got != s.want {
			t.Errorf("%q: %s\n want %s", s.stmt, got, s.want)
		}
	}
	// CREATE ... SELECT goes to the catalog.
	res, _ := ap.apply(context.Background(), cat, "db", "CREATE TABLE fromcat SELECT 1 AS id")
	if len(res.catalog) != 1 || res.catalog[0] != [2]string{"db", "fromcat"} {
		t.Errorf("CREATE ... SELECT: catalog %v", res.catalog)
	}
	// An unparsable statement marks the tables it names.
	if _, _, err := state.addVersion("db.u", &tableDef{DB: "db", Name: "u", Columns: []column{{Name: "id", Type: "int"}}}); err != nil {
		t.Fatal(err)
	}
	res, _ = ap.apply(context.Background(), cat, "db", "ALTER TABLE u ADD COLUMN x INT WITH SOME FUTURE SYNTAX")
	if len(res.stale) != 1 || res.stale[0] != "db.u" || !state.tables["db.u"].stale {
		t.Errorf("unparsable: stale %v", res.stale)
	}
	for _, q := range []string{"BEGIN", "INSERT INTO t VALUES (1)", "SAVEPOINT x", "/* x */ COMMIT"} {
		if isSchemaStatement(q) {
			t.Errorf("%q taken for DDL", q)
		}
	}
}

// TestSchemaStateRecovery checks the restore of table structures at a
// committed main offset: versions written after it are ignored (and
// recognised when produced again), versions a lost table-partition write
// missed come from the main offset's pending list.
func TestSchemaStateRecovery(t *testing.T) {
	cfg := testConfig(t)
	modes := valueModes{decimal: "precise", time: "adaptive_time_microseconds", binary: "bytes", bigint: "long"}
	def := func(cols ...string) *tableDef {
		d := &tableDef{DB: "db", Name: "t", PK: []string{"id"}}
		for _, c := range cols {
			d.Columns = append(d.Columns, column{Name: c, Type: "int(11)"})
		}
		return d
	}
	s := newSchemaState(cfg, modes, "e")
	must := func(id string, d *tableDef) *tableState {
		ts, _, err := s.addVersion(id, d)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	v1 := must("db.t", def("id")) // seq 1
	partition := func() connectors.SourceOffset {
		off, _ := s.tableOffset(v1)
		return connectors.SourceOffset{Partition: v1.partition, Offset: off}
	}
	committed1 := partition()
	s.committed([]connectors.SourceOffset{committed1, {Partition: map[string]any{"server": "p"}, Offset: map[string]any{"schema_epoch": "e", "schema_seq": int64(1)}}})
	if s.pendingJSON() != "" {
		t.Fatalf("pending after commit: %s", s.pendingJSON())
	}
	must("db.t", def("id", "a")) // seq 2
	pending2 := s.pendingJSON()
	after2 := partition()
	must("db.t", def("id", "a", "b")) // seq 3
	after3 := partition()

	load := func(seq int64, pending string, parts ...connectors.SourceOffset) *schemaState {
		t.Helper()
		main := mainOffset{binlogPos: binlogPos{File: "f", Pos: 4}, Epoch: "e", Seq: seq}
		if pending != "" {
			if err := json.Unmarshal([]byte(pending), &main.Pending); err != nil {
				t.Fatal(err)
			}
		}
		m, err := parseMainOffset(main.toMap(pending))
		if err != nil {
			t.Fatal(err)
		}
		r := newSchemaState(cfg, modes, "e")
		if err := r.load(m, parts); err != nil {
			t.Fatal(err)
		}
		return r
	}
	cols := func(st *schemaState) int { return len(st.lookup("db.t").Columns) }

	// Exactly-once: table and main offsets together.
	if r := load(3, "", after3); cols(r) != 3 {
		t.Errorf("at seq 3: %d columns", cols(r))
	}
	// The table partition got ahead of the main offset (at-least-once, or
	// a DDL whose records committed before its position): the version of
	// the position, and the later ones recognised when produced again.
	r := load(2, pending2, after3)
	if cols(r) != 2 {
		t.Errorf("main at seq 2, table at 3: %d columns", cols(r))
	}
	if _, dup, _ := r.addVersion("db.t", def("id", "a", "b")); !dup {
		t.Error("the version written before the restart is not recognised")
	}
	// The main offset landed, the table partition's write did not: the
	// pending list has the version.
	if r := load(2, pending2, committed1); cols(r) != 2 {
		t.Errorf("main at seq 2 with pending, table at 1: %d columns", cols(r))
	}
	// Another epoch (a later snapshot) is ignored.
	other := newSchemaState(cfg, modes, "e2")
	if err := other.load(mainOffset{binlogPos: binlogPos{File: "f"}, Epoch: "e2", Seq: 3}, []connectors.SourceOffset{after2}); err != nil {
		t.Fatal(err)
	}
	if other.lookup("db.t") != nil {
		t.Error("a version of another epoch was loaded")
	}
	// Pruning keeps the version valid at the committed main offset.
	s.committed([]connectors.SourceOffset{{Partition: map[string]any{"server": "p"}, Offset: map[string]any{"schema_epoch": "e", "schema_seq": int64(2)}}})
	must("db.t", def("id", "c")) // seq 4
	var seqs []int64
	for _, v := range s.tables["db.t"].versions {
		seqs = append(seqs, v.Seq)
	}
	if !reflect.DeepEqual(seqs, []int64{2, 3, 4}) {
		t.Errorf("retained versions %v, want [2 3 4]", seqs)
	}
}

func TestOffsetsRoundTrip(t *testing.T) {
	o := mainOffset{binlogPos: binlogPos{File: "binlog.000002", Pos: 1234, GTIDs: "0-1-99", Event: 3, Row: 17, ServerID: 1, TsSec: 1700000000},
		Snapshot: true, Epoch: "abc", Seq: 42}
	m := o.toMap("")
	b, _ := json.Marshal(m)
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got, err := parseMainOffset(back) // float64 numbers, as a tool might give them
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Errorf("round trip %+v, want %+v", got, o)
	}
	for _, bad := range []map[string]any{{}, {"file": "f", "pos": []any{}}} {
		if _, err := parseMainOffset(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestTemporalValues(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"00:00:00", 0},
		{"12:34:56.789", (12*3600+34*60+56)*1_000_000 + 789_000},
		{"-838:59:59.000000", -(838*3600 + 59*60 + 59) * 1_000_000},
		{"100:00:00.5", 100*3600*1_000_000 + 500_000},
	} {
		got, err := parseTimeMicros(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseTimeMicros(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	ts := time.Date(2024, 1, 2, 3, 4, 5, 500_000_000, time.UTC)
	for fsp, want := range map[int]string{0: "2024-01-02T03:04:05Z", 3: "2024-01-02T03:04:05.500Z", 6: "2024-01-02T03:04:05.500000Z"} {
		if got := zonedTimestamp(ts, fsp); got != want {
			t.Errorf("zonedTimestamp(fsp %d) = %s, want %s", fsp, got, want)
		}
	}
	if _, err := parseDateTime("0000-00-00 00:00:00"); err != errZeroDate {
		t.Errorf("zero date: %v", err)
	}
	if got, err := parseDateTime("1969-12-31 23:59:59.999999"); err != nil || got.UnixMicro() != -1 {
		t.Errorf("before the epoch: %v %v", got, err)
	}
}

func TestCharsetDecoders(t *testing.T) {
	for _, c := range []struct {
		charset string
		in      any
		want    string
	}{
		{"latin1", "caf\xe9", "café"},
		{"latin1", []byte("plain"), "plain"},
		{"latin1", "\x80", "€"}, // MySQL's latin1 is Windows-1252
		{"utf8mb4", "✓", "✓"},
		{"latin2", []byte{0xb1}, "ą"},
		{"ucs2", []byte{0x00, 0x41}, "A"},
	} {
		dec, err := charsetDecoder(c.charset)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dec(c.in)
		if err != nil || got != c.want {
			t.Errorf("%s %q: %q %v, want %q", c.charset, c.in, got, err, c.want)
		}
	}
	if _, err := charsetDecoder("klingon"); err == nil {
		t.Error("unknown charset accepted")
	}
}

func TestRestartGTIDs(t *testing.T) {
	cfg := testConfig(t, "gtid.source.excludes", "1")
	got, err := restartGTIDs(true, "0-1-100,1-2-50", "0-1-120,1-2-80", cfg.filters)
	if err != nil || got != "0-1-100,1-2-80" {
		t.Errorf("MariaDB: %q %v", got, err)
	}
	cfg = testConfig(t, "gtid.source.includes", "3e11fa47-71ca-11e1-9e33-c80aa9429562")
	got, err = restartGTIDs(false, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-2",
		"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-7", cfg.filters)
	if err != nil || got != "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-7" {
		t.Errorf("MySQL: %q %v", got, err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		raw map[string]any
		key string
	}{
		{map[string]any{"table.include.list": "a", "table.exclude.list": "b"}, "table.exclude.list"},
		{map[string]any{"database.server.id": 0}, "database.server.id"},
		{map[string]any{"topic.prefix": "bad prefix"}, "topic.prefix"},
		{map[string]any{"table.include.list": "a("}, "table.include.list"},
		{map[string]any{"message.key.columns": "db.t"}, "message.key.columns"},
		{map[string]any{"skipped.operations": "x"}, "skipped.operations"},
		{map[string]any{"snapshot.mode": "sometimes"}, "snapshot.mode"},
	} {
		raw := map[string]any{"database.hostname": "h", "database.user": "u", "database.server.id": 1, "topic.prefix": "p"}
		for k, v := range c.raw {
			raw[k] = v
		}
		_, err := spec.Parse("", raw)
		var fe *connectors.FieldError
		if err == nil || !errorsAs(err, &fe) || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%v: error %v, want one naming %s", c.raw, err, c.key)
		}
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func TestNormalizeMariaDB(t *testing.T) {
	for in, want := range map[string]string{
		"CREATE OR REPLACE TABLE t (id INT)":                    "CREATE TABLE t (id INT)",
		"ALTER ONLINE TABLE t ADD x INT":                        "ALTER TABLE t ADD x INT",
		"ALTER TABLE t WAIT 5 ADD x INT, ALGORITHM = NOCOPY":    "ALTER TABLE t ADD x INT, ALGORITHM=INPLACE",
		"ALTER TABLE t ADD x INT INVISIBLE DEFAULT 'nowait'":    "ALTER TABLE t ADD x INT DEFAULT 'nowait'",
		"ALTER TABLE t ADD `invisible` INT COMMENT 'INVISIBLE'": "ALTER TABLE t ADD `invisible` INT COMMENT 'INVISIBLE'",
	} {
		if got := normalizeMariaDB(in); got != want {
			t.Errorf("normalizeMariaDB(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPluginInfo: the plugin registers, its example's own keys parse, and
// every field is documented.
func TestPluginInfo(t *testing.T) {
	reg := connectors.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	p, err := reg.Source("mysql-cdc")
	if err != nil {
		t.Fatal(err)
	}
	if !p.ExactlyOnce || p.Summary == "" || !strings.Contains(p.Doc, "REPLICATION SLAVE") || !strings.Contains(p.Doc, "Type mapping") {
		t.Errorf("plugin info incomplete")
	}
	if _, err := reg.Source("io.debezium.connector.mysql.MySqlConnector"); err != nil {
		t.Errorf("Debezium's class name: %v", err)
	}
	raw := map[string]any{}
	for _, line := range strings.Split(p.Example, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("example line %q", line)
		}
		if _, own := p.Spec.Field(k); own {
			raw[k] = strings.Trim(v, `"`)
		}
	}
	if _, err := p.Spec.Parse("", raw); err != nil {
		t.Fatalf("the example does not parse: %v", err)
	}
	for _, f := range p.Spec.Fields {
		if f.Doc == "" {
			t.Errorf("field %s has no doc", f.Name)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	for _, s := range []string{"0", "1", "-1", "123.45", "-0.001", "+7.50", "999999999999999999", "-999999999999999999.5", "12345678901234567890.123", ".5", "5.", "-0"} {
		got, err := parseDecimal(s)
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		want, _ := new(big.Rat).SetString(s)
		if got.Cmp(want) != 0 {
			t.Errorf("%q: got %s, want %s", s, got.RatString(), want.RatString())
		}
	}
	for _, s := range []string{"", "-", "1.2.3", "abc", "1e"} {
		if _, err := parseDecimal(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}
