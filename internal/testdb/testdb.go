// Package testdb starts real database servers for tests from the system's
// binaries, on random loopback ports, in temporary directories: PostgreSQL
// (with wal_level=logical, for CDC) and MariaDB (with a row-based binlog).
// ci/setup.sh installs the packages. A test whose server binaries are
// missing is skipped with the reason, unless SLUICE_REQUIRE_DBS=1 (set by
// .ci/run), which turns a missing server into a failure.
package testdb

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// missing skips (or, in CI, fails) a test whose server is not installed.
func missing(t testing.TB, what string) {
	t.Helper()
	msg := fmt.Sprintf("testdb: %s not installed (run ci/setup.sh)", what)
	if os.Getenv("SLUICE_REQUIRE_DBS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func freePort(t testing.TB) int {
	t.Helper()
	// A port is handed out once per process: a server stopped by one test
	// (a crash test) and restarted on its port must not find that port
	// taken by a server another parallel test started meanwhile.
	portsMu.Lock()
	defer portsMu.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !portsUsed[port] {
			portsUsed[port] = true
			return port
		}
	}
}

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

// asUser runs a command as the given system user when this process is
// root (database servers refuse to run as root), as itself otherwise.
func asUser(sysUser, bin string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 && sysUser != "" {
		return exec.Command("runuser", append([]string{"-u", sysUser, "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

// ownedDir makes a directory that sysUser can use (when root) and that is
// removed at the end of the test.
func ownedDir(t testing.TB, sysUser, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 && sysUser != "" {
		u, err := user.Lookup(sysUser)
		if err != nil {
			t.Fatalf("testdb: system user %q: %v", sysUser, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Postgres is a PostgreSQL server run by a test.
type Postgres struct {
	t       testing.TB
	bin     string
	dataDir string
	sockDir string
	logFile string
	Port    int
}

// postgresBin finds the server binaries (Debian's layout first).
func postgresBin() (string, bool) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), true
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), true
	}
	return "", false
}

// StartPostgres initialises and starts a PostgreSQL server with logical
// replication enabled (wal_level=logical, 8 slots and WAL senders), trust
// authentication for the "postgres" superuser on 127.0.0.1. It is stopped
// at the end of the test. extra are more settings, each "name=value".
func StartPostgres(t testing.TB, extra ...string) *Postgres {
	t.Helper()
	bin, ok := postgresBin()
	if !ok {
		missing(t, "PostgreSQL server (package postgresql)")
	}
	base := ownedDir(t, "postgres", "sluice-pg-")
	p := &Postgres{t: t, bin: bin, dataDir: filepath.Join(base, "data"), sockDir: base,
		logFile: filepath.Join(base, "server.log"), Port: freePort(t)}
	out, err := asUser("postgres", filepath.Join(bin, "initdb"), "-D", p.dataDir, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8").CombinedOutput()
	if err != nil {
		t.Fatalf("testdb: initdb: %v\n%s", err, out)
	}
	settings := []string{"listen_addresses=127.0.0.1", "wal_level=logical", "max_replication_slots=8",
		"max_wal_senders=8",
		// Durable against a process crash (Stop), not an OS crash: faster tests.
		"fsync=off", "full_page_writes=off"}
	conf := ""
	for _, s := range append(settings, extra...) {
		name, value, _ := strings.Cut(s, "=")
		conf += fmt.Sprintf("%s = '%s'\n", strings.TrimSpace(name), strings.ReplaceAll(strings.TrimSpace(value), "'", "''"))
	}
	if err := os.WriteFile(filepath.Join(p.dataDir, "postgresql.auto.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		_ = exec.Command("chown", "postgres", filepath.Join(p.dataDir, "postgresql.auto.conf")).Run()
	}
	p.Start()
	t.Cleanup(func() { p.stop("immediate") })
	return p
}

// Start starts the (stopped) server and waits until it accepts
// connections.
func (p *Postgres) Start() {
	p.t.Helper()
	out, err := asUser("postgres", filepath.Join(p.bin, "pg_ctl"), "-D", p.dataDir, "-w", "-t", "60", "-l", p.logFile,
		"-o", fmt.Sprintf("-p %d -k %s", p.Port, p.sockDir), "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(p.logFile)
		p.t.Fatalf("testdb: start PostgreSQL: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the server as a crash would (immediate mode: no checkpoint;
// the next Start recovers from the WAL).
func (p *Postgres) Stop() {
	p.t.Helper()
	if err := p.stop("immediate"); err != nil {
		p.t.Fatal(err)
	}
}

func (p *Postgres) stop(mode string) error {
	out, err := asUser("postgres", filepath.Join(p.bin, "pg_ctl"), "-D", p.dataDir, "-m", mode, "-w", "stop").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Is server running?") {
		return fmt.Errorf("testdb: stop PostgreSQL: %v\n%s", err, out)
	}
	return nil
}

// DSN is a connection URL for database db (default "postgres") as the
// superuser "postgres", for pgx and database/sql.
func (p *Postgres) DSN(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, db)
}

// Psql runs SQL with psql (ON_ERROR_STOP) and returns its output.
func (p *Postgres) Psql(db, sql string) string {
	p.t.Helper()
	if db == "" {
		db = "postgres"
	}
	out, err := exec.Command(filepath.Join(p.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", "postgres", "-d", db, "-c", sql).CombinedOutput()
	if err != nil {
		p.t.Fatalf("testdb: psql: %v\n%s\nSQL: %s", err, out, sql)
	}
	return strings.TrimSpace(string(out))
}

// MariaDB is a MariaDB server run by a test.
type MariaDB struct {
	t       testing.TB
	daemon  string
	dataDir string
	socket  string
	Port    int
	cmd     *exec.Cmd
	exited  chan error
	logFile string
	tmpDir  string
	extra   []string
}

func mariadbBins() (daemon, installDB string, ok bool) {
	for _, d := range []string{"mariadbd", "mysqld"} {
		if p, err := exec.LookPath(d); err == nil {
			daemon = p
			break
		}
		if p := "/usr/sbin/" + d; fileExists(p) {
			daemon = p
			break
		}
	}
	for _, i := range []string{"mariadb-install-db", "mysql_install_db"} {
		if p, err := exec.LookPath(i); err == nil {
			installDB = p
			break
		}
	}
	return daemon, installDB, daemon != "" && installDB != ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// StartMariaDB initialises and starts a MariaDB server with a row-based
// binlog (server id 1, GTIDs on) and a passwordless root user on
// 127.0.0.1. It is stopped at the end of the test. extra are more server
// options ("--binlog-row-image=FULL").
func StartMariaDB(t testing.TB, extra ...string) *MariaDB {
	t.Helper()
	daemon, installDB, ok := mariadbBins()
	if !ok {
		missing(t, "MariaDB server (package mariadb-server)")
	}
	base := ownedDir(t, "mysql", "sluice-mariadb-")
	m := &MariaDB{t: t, daemon: daemon, dataDir: filepath.Join(base, "data"), socket: filepath.Join(base, "mysqld.sock"),
		Port: freePort(t), logFile: filepath.Join(base, "server.log")}
	// Each server gets its own tmpdir: MariaDB deletes leftover #sql*
	// temporary tables in its tmpdir at start-up, so servers sharing /tmp
	// (parallel tests) delete each other's and install-db fails.
	m.tmpDir = filepath.Join(base, "tmp")
	if out, err := asUser("mysql", "mkdir", "-p", m.tmpDir).CombinedOutput(); err != nil {
		t.Fatalf("testdb: create MariaDB tmpdir: %v\n%s", err, out)
	}
	out, err := asUser("mysql", installDB, "--no-defaults", "--datadir="+m.dataDir, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--tmpdir="+m.tmpDir).CombinedOutput()
	if err != nil {
		t.Fatalf("testdb: mariadb-install-db: %v\n%s", err, out)
	}
	m.extra = extra
	m.Start()
	t.Cleanup(func() { m.kill() })
	return m
}

// Start starts the (stopped) server and waits until it accepts
// connections.
func (m *MariaDB) Start() {
	m.t.Helper()
	args := append([]string{"--no-defaults", "--datadir=" + m.dataDir, "--socket=" + m.socket,
		"--port=" + strconv.Itoa(m.Port), "--bind-address=127.0.0.1", "--log-bin=binlog", "--binlog-format=ROW",
		"--server-id=1", "--log-error=" + m.logFile, "--tmpdir=" + m.tmpDir, "--skip-name-resolve", "--innodb-flush-log-at-trx-commit=2",
		"--pid-file=" + filepath.Join(filepath.Dir(m.dataDir), "mysqld.pid")}, m.extra...)
	cmd := asUser("mysql", m.daemon, args...)
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("testdb: start MariaDB: %v", err)
	}
	m.cmd, m.exited = cmd, make(chan error, 1)
	go func() { m.exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", m.Port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-m.exited:
			log, _ := os.ReadFile(m.logFile)
			m.t.Fatalf("testdb: MariaDB exited at start: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(m.logFile)
			m.t.Fatalf("testdb: MariaDB did not accept connections within 60 s\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server as a crash would (SIGKILL).
func (m *MariaDB) Stop() {
	m.t.Helper()
	m.kill()
}

func (m *MariaDB) kill() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	// runuser forwards signals; kill the whole group to be sure.
	_ = m.cmd.Process.Kill()
	pidFile := filepath.Join(filepath.Dir(m.dataDir), "mysqld.pid")
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			if proc, err := os.FindProcess(pid); err == nil {
				_ = proc.Kill()
			}
		}
	}
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
	}
	m.cmd = nil
	// Wait until the port is free again for a restart.
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", m.Port), 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
}

// DSN is a go-sql-driver/mysql DSN for database db (may be empty) as root.
func (m *MariaDB) DSN(db string) string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s?parseTime=true&multiStatements=true", m.Port, db)
}

// SQL runs statements with the mariadb client and returns its output
// (tab-separated rows, no header).
func (m *MariaDB) SQL(db, sql string) string {
	m.t.Helper()
	client := "mariadb"
	if _, err := exec.LookPath(client); err != nil {
		client = "mysql"
	}
	args := []string{"--no-defaults", "-h", "127.0.0.1", "-P", strconv.Itoa(m.Port), "-u", "root", "-N", "-B", "-e", sql}
	if db != "" {
		args = append(args, db)
	}
	out, err := exec.Command(client, args...).CombinedOutput()
	if err != nil {
		m.t.Fatalf("testdb: %s: %v\n%s\nSQL: %s", client, err, out, sql)
	}
	return strings.TrimSpace(string(out))
}
