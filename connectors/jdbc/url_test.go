package jdbc

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

func TestConnectionURL(t *testing.T) {
	t.Parallel()
	type want struct {
		kind                          dialectKind
		host                          string
		port                          uint16
		addr, db, user, password, tls string
		params                        map[string]string
	}
	cases := []struct {
		url, user, password string
		want                want
		err                 string
	}{
		{url: "jdbc:postgresql://db.example:5433/shop?user=u&password=p%40ss&sslmode=disable&currentSchema=sales&ApplicationName=x&reWriteBatchedInserts=true",
			want: want{kind: dialectPostgres, host: "db.example", port: 5433, db: "shop", user: "u", password: "p@ss",
				params: map[string]string{"search_path": "sales", "application_name": "x"}}},
		{url: "jdbc:postgresql://db.example/shop?user=u", user: "override", password: "secret",
			want: want{kind: dialectPostgres, host: "db.example", port: 5432, db: "shop", user: "override", password: "secret"}},
		{url: "jdbc:postgresql:shop?sslmode=disable", want: want{kind: dialectPostgres, host: "localhost", port: 5432, db: "shop"}},
		{url: "postgres://a:b@h:1/d?sslmode=disable", want: want{kind: dialectPostgres, host: "h", port: 1, db: "d", user: "a", password: "b"}},
		{url: "jdbc:postgresql://h/d?frobnicate=1", err: "unsupported PostgreSQL URL properties frobnicate"},
		{url: "jdbc:mysql://u:p@h:3307/shop?useSSL=true&verifyServerCertificate=false&connectTimeout=2500&rewriteBatchedStatements=true",
			want: want{kind: dialectMySQL, addr: "h:3307", db: "shop", user: "u", password: "p", tls: "skip-verify"}},
		{url: "jdbc:mariadb://h/shop?user=root&sslMode=VERIFY_IDENTITY", password: "pw",
			want: want{kind: dialectMySQL, addr: "h:3306", db: "shop", user: "root", password: "pw", tls: "true"}},
		{url: "jdbc:mysql://h1,h2/shop", err: "several hosts"},
		{url: "jdbc:mysql://h/shop?useCompression=true", err: "useCompression"},
		{url: "jdbc:sqlite:/var/lib/app.db", want: want{kind: dialectSQLite, db: "/var/lib/app.db"}},
		{url: "jdbc:sqlite:", err: "file path"},
		{url: "jdbc:oracle:thin:@localhost:1521:orcl", err: "unsupported URL"},
	}
	for _, c := range cases {
		spec, err := parseConnectionURL(c.url, c.user, c.password, time.UTC)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.url, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		w := c.want
		if spec.kind != w.kind {
			t.Errorf("%s: kind %v", c.url, spec.kind)
			continue
		}
		switch spec.kind {
		case dialectPostgres:
			p := spec.pg
			if p.Host != w.host || p.Port != w.port || p.Database != w.db || p.User != w.user && w.user != "" || p.Password != w.password {
				t.Errorf("%s: host %s port %d db %s user %s password %q", c.url, p.Host, p.Port, p.Database, p.User, p.Password)
			}
			for k, v := range w.params {
				if p.RuntimeParams[k] != v {
					t.Errorf("%s: runtime param %s = %q, want %q", c.url, k, p.RuntimeParams[k], v)
				}
			}
		case dialectMySQL:
			m := spec.my
			if m.Addr != w.addr || m.DBName != w.db || m.User != w.user || m.Passwd != w.password || m.TLSConfig != w.tls || !m.ParseTime {
				t.Errorf("%s: %+v", c.url, m)
			}
		case dialectSQLite:
			if spec.database != w.db || !strings.HasPrefix(spec.sqlite, "file:"+w.db+"?") {
				t.Errorf("%s: %s", c.url, spec.sqlite)
			}
		}
	}
}

func TestConfigChecks(t *testing.T) {
	t.Parallel()
	base := map[string]any{"connection.url": "jdbc:sqlite:/tmp/x.db"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	sinkCases := []struct {
		raw map[string]any
		key string
	}{
		{with("delete.enabled", true, "pk.mode", "record_value"), "delete.enabled"},
		{with("insert.mode", "upsert"), "pk.mode"},
		{with("pk.mode", "kafka", "pk.fields", "a,b"), "pk.fields"},
		{with("connection.url", "jdbc:db2://x"), "connection.url"},
		{with("dialect.name", "MySqlDatabaseDialect"), "dialect.name"},
		{with("db.timezone", "Mars/Olympus"), "db.timezone"},
	}
	p := SinkPlugin()
	for _, c := range sinkCases {
		_, err := p.Spec.Parse("", c.raw)
		var fe *connectors.FieldError
		if !errors.As(err, &fe) || fe.Key != c.key {
			t.Errorf("%v: error %v, want one naming %s", c.raw, err, c.key)
		}
	}
	sp := SourcePlugin()
	srcCases := []struct {
		raw map[string]any
		key string
	}{
		{with("mode", "timestamp", "topic.prefix", "x"), "timestamp.column.name"},
		{with("mode", "incrementing", "topic.prefix", "x", "query", "SELECT 1"), "incrementing.column.name"},
		{with("mode", "bulk", "topic.prefix", "x", "table.whitelist", "a", "table.blacklist", "b"), "table.blacklist"},
		{with("mode", "sideways", "topic.prefix", "x"), "mode"},
	}
	for _, c := range srcCases {
		_, err := sp.Spec.Parse("", c.raw)
		var fe *connectors.FieldError
		if !errors.As(err, &fe) || fe.Key != c.key {
			t.Errorf("%v: error %v, want one naming %s", c.raw, err, c.key)
		}
	}
	// The password is never shown, not even in errors about the URL.
	_, err := p.Spec.Parse("", with("connection.url", "jdbc:postgresql://h/d?password=hunter2&bogus=1"))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v", err)
	}
	cfg, err := p.Spec.Parse("", with("connection.password", "hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Redacted(); r["connection.password"] != "[hidden]" {
		t.Fatalf("redacted %v", r)
	}
}

func TestRegister(t *testing.T) {
	t.Parallel()
	reg := connectors.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"jdbc", "io.confluent.connect.jdbc.JdbcSourceConnector"} {
		if _, err := reg.Source(name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.Sink("io.confluent.connect.jdbc.JdbcSinkConnector"); err != nil {
		t.Fatal(err)
	}
}

// FuzzConnectionURL checks that no connection.url makes the parser panic,
// and that a password given separately never leaks into its errors.
func FuzzConnectionURL(f *testing.F) {
	for _, s := range []string{"jdbc:postgresql://h:5432/d?user=u", "jdbc:mysql://u:p@h/d?useSSL=true", "jdbc:sqlite:/x.db",
		"jdbc:mariadb://[::1]:3306/d", "jdbc:postgresql:", "postgres://%zz", "jdbc:mysql://h/d?connectTimeout=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, url string) {
		_, err := parseConnectionURL(url, "user", "s3cr3t-pw", time.UTC)
		if err != nil && strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Fatalf("error shows the password: %v", err)
		}
	})
}
