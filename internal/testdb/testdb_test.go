package testdb

import "testing"

func TestPostgres(t *testing.T) {
	p := StartPostgres(t)
	if got := p.Psql("", "SHOW wal_level"); got != "logical" {
		t.Fatalf("wal_level = %q", got)
	}
	p.Psql("", "CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1)")
	p.Stop()
	p.Start()
	if got := p.Psql("", "SELECT count(*) FROM t"); got != "1" {
		t.Fatalf("after a crash and restart: %q rows", got)
	}
}

func TestMariaDB(t *testing.T) {
	m := StartMariaDB(t)
	if got := m.SQL("", "SELECT @@binlog_format"); got != "ROW" {
		t.Fatalf("binlog_format = %q", got)
	}
	m.SQL("", "CREATE DATABASE d; CREATE TABLE d.t (id int primary key); INSERT INTO d.t VALUES (1)")
	m.Stop()
	m.Start()
	if got := m.SQL("d", "SELECT count(*) FROM t"); got != "1" {
		t.Fatalf("after a crash and restart: %q rows", got)
	}
}
