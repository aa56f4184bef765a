package mysqlcdc_test

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/core"
)

// TestSchemaFallbacks: a DDL the parser cannot read (a POINT column, which
// MySQL's grammar in TiDB's parser lacks) is checked against the catalog at
// the table's next row event; MariaDB-only syntax (ALGORITHM=NOCOPY,
// INVISIBLE, CREATE OR REPLACE) is read; a table added to the include list
// between runs is taken from the catalog at its first row event.
func TestSchemaFallbacks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.exec(t, "CREATE DATABASE fb", "CREATE TABLE fb.items (id INT PRIMARY KEY, a INT)", "INSERT INTO fb.items VALUES (0, 0)",
		"CREATE TABLE fb.extra (id INT PRIMARY KEY, note VARCHAR(10))", "INSERT INTO fb.extra VALUES (1, 'old')")
	e.topics(t, "fb.fb.items", "fb.fb.extra", "fb.fb.items2")
	w := e.worker(t, core.ExactlyOnceV2)
	cfg := e.config("fb", "fb", "table.include.list", "fb\\.items2?")
	c := startSource(t, w, cfg)
	e.waitEvents(t, "fb.fb.items", 1, 60*time.Second) // the snapshot is done
	e.exec(t, "ALTER TABLE fb.items ADD COLUMN p POINT",
		"INSERT INTO fb.items VALUES (1, 10, ST_GeomFromText('POINT(1 2)'))")
	// The fallback reads the catalog at the row event: the catalog must
	// still be the structure of that event (the documented limit).
	e.waitEvents(t, "fb.fb.items", 2, 60*time.Second)
	e.exec(t, "ALTER TABLE fb.items ADD COLUMN q INT INVISIBLE, ALGORITHM=NOCOPY",
		"INSERT INTO fb.items (id, a, q) VALUES (2, 20, 200)",
		"CREATE OR REPLACE TABLE fb.items2 (k VARCHAR(5) PRIMARY KEY, n INT)",
		"INSERT INTO fb.items2 VALUES ('x', 1)")
	items := e.waitEvents(t, "fb.fb.items", 3, 60*time.Second)
	e.waitEvents(t, "fb.fb.items2", 1, 60*time.Second)
	stop(t, c)

	wkb := make([]byte, 21)
	wkb[0] = 1
	binary.LittleEndian.PutUint32(wkb[1:], 1)
	binary.LittleEndian.PutUint64(wkb[5:], math.Float64bits(1))
	binary.LittleEndian.PutUint64(wkb[13:], math.Float64bits(2))
	for _, ev := range items {
		switch str(ev.key["id"]) {
		case "1":
			p, _ := ev.after()["p"].(map[string]any)
			if p == nil || p["wkb"] != base64.StdEncoding.EncodeToString(wkb) || str(p["srid"]) != "0" {
				t.Errorf("POINT value %v", ev.after()["p"])
			}
		case "0":
			if afterFields(ev)[len(afterFields(ev))-1] != "a" {
				t.Errorf("snapshot row: fields %v", afterFields(ev))
			}
		case "2":
			if str(ev.after()["q"]) != "200" || strings.Join(afterFields(ev), ",") != "id,a,p,q" {
				t.Errorf("row 2: %v fields %v", ev.after(), afterFields(ev))
			}
		}
	}

	// fb.extra joins the include list: its structure comes from the catalog.
	cfg["table.include.list"] = "fb\\.(items2?|extra)"
	c = startSource(t, w, cfg)
	e.exec(t, "INSERT INTO fb.extra VALUES (2, 'new')")
	extra := e.waitEvents(t, "fb.fb.extra", 1, 60*time.Second)
	stop(t, c)
	if len(extra) != 1 || str(extra[0].after()["note"]) != "new" || extra[0].op() != "c" {
		t.Errorf("extra: %v", extra)
	}
}
