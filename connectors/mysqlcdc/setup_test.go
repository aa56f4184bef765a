package mysqlcdc

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/testdb"
)

// runUntilError opens a task with the settings and polls it (committing
// every batch) until it fails, and returns the error; nil if it ran for
// the whole time without failing.
func runUntilError(t *testing.T, settings map[string]any, within time.Duration) error {
	t.Helper()
	c, err := spec.Parse("", settings)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	tk := &task{cfg: cfg}
	defer tk.Close()
	fc := newFakeContext()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := tk.Open(ctx, fc); err != nil {
		return err
	}
	for ctx.Err() == nil {
		recs, err := tk.Poll(ctx)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		tk.Commit(ctx, fc.commit(recs))
	}
	return nil
}

// TestServerSetupErrors: a server or a user not set up for change data
// capture stops the connector at once (no retry loop) with an error that
// says what to change.
func TestServerSetupErrors(t *testing.T) {
	t.Parallel()
	m := testdb.StartMariaDB(t)
	db, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(stmts ...string) {
		t.Helper()
		for _, s := range stmts {
			if _, err := db.Exec(s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
	exec("CREATE DATABASE setup", "CREATE TABLE setup.t (id INT PRIMARY KEY)",
		// Everything but REPLICATION SLAVE.
		"CREATE USER 'norepl'@'%' IDENTIFIED BY 'pw'",
		"GRANT SELECT, RELOAD, SHOW DATABASES, BINLOG MONITOR ON *.* TO 'norepl'@'%'",
		// Everything but RELOAD (the snapshot's global read lock).
		"CREATE USER 'noreload'@'%' IDENTIFIED BY 'pw'",
		"GRANT SELECT, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'noreload'@'%'")
	settings := func(kv ...any) map[string]any {
		m := map[string]any{"database.hostname": "127.0.0.1", "database.port": m.Port, "database.user": "root",
			"database.server.id": 4242, "topic.prefix": "setup", "database.include.list": "setup", "poll.interval.ms": 0}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	check := func(name string, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		t.Logf("%s: %v", name, err)
		if connectors.IsRetriable(err) {
			t.Errorf("%s: retriable error (the worker would retry it until errors.retry.timeout): %v", name, err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", name, err, w)
			}
		}
	}

	exec("SET GLOBAL binlog_format = 'STATEMENT'")
	check("binlog_format", runUntilError(t, settings(), 20*time.Second), "binlog_format is STATEMENT", "set binlog_format=ROW")
	exec("SET GLOBAL binlog_format = 'ROW'", "SET GLOBAL binlog_row_image = 'MINIMAL'")
	check("binlog_row_image", runUntilError(t, settings(), 20*time.Second), "binlog_row_image is MINIMAL", "set binlog_row_image=FULL")
	exec("SET GLOBAL binlog_row_image = 'FULL'")

	check("password", runUntilError(t, settings("database.user", "norepl", "database.password", "wrong"), 20*time.Second),
		`refused user "norepl"`, "database.password")
	check("REPLICATION SLAVE", runUntilError(t, settings("database.user", "norepl", "database.password", "pw", "snapshot.mode", "no_data"), 20*time.Second),
		"binlog connection", `user "norepl" may not read the binlog`, "REPLICATION SLAVE")
	check("RELOAD", runUntilError(t, settings("database.user", "noreload", "database.password", "pw"), 20*time.Second),
		"snapshot", "RELOAD")
	// Without the global lock the same user can snapshot and stream.
	if err := runUntilError(t, settings("database.user", "noreload", "database.password", "pw", "snapshot.locking.mode", "none"), 2*time.Second); err != nil {
		t.Errorf("snapshot.locking.mode=none without RELOAD: %v", err)
	}

	// A position the server no longer has.
	exec("INSERT INTO setup.t VALUES (1)", "FLUSH BINARY LOGS")
	var file string
	var pos int64
	var x1, x2 string
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &x1, &x2); err != nil {
		t.Fatal(err)
	}
	// A purge leaves the files a (just closed) reader still holds: retry
	// until the first file is gone.
	for deadline := time.Now().Add(20 * time.Second); ; {
		exec("PURGE BINARY LOGS TO '" + file + "'")
		var first string
		if err := db.QueryRow("SHOW BINARY LOGS").Scan(&first, new(any)); err != nil {
			t.Fatal(err)
		}
		if first == file {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binlog files before %s not purged (first %s)", file, first)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c, _ := spec.Parse("", settings())
	cfg, _ := parseConfig(c)
	tk := &task{cfg: cfg}
	fc := newFakeContext()
	fc.offsets[partitionKey(map[string]any{"server": "setup"})] = connectors.SourceOffset{
		Partition: map[string]any{"server": "setup"},
		Offset:    map[string]any{"file": "binlog.000001", "pos": int64(4), "schema_epoch": "x", "schema_seq": int64(0)}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tk.Open(ctx, fc); err != nil {
		t.Fatal(err)
	}
	defer tk.Close()
	for ctx.Err() == nil {
		if _, err = tk.Poll(ctx); err != nil {
			break
		}
	}
	check("purged binlog", err, "cannot send the binlog", "snapshot.mode=when_needed")
}
