package postgrescdc_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/serde/registry"
)

// incompressible returns n bytes of hex text that pglz cannot shrink, so
// the value is stored out of line (TOASTed).
func incompressible(seed string, n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s-%d", seed, i)))
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()[:n]
}

// TestToast: an UPDATE that leaves a TOASTed value unchanged does not
// carry it. With REPLICA IDENTITY FULL the event is still exact (taken
// from the old row); without it the field holds the documented
// placeholder (its bytes for bytea), never a wrong value.
func TestToast(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := incompressible("toast", 64*1024)
	blob := []byte(incompressible("blob", 32*1024))
	for _, tb := range []string{"docs", "docs_full"} {
		e.exec(t, fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, body text, blob bytea, n int)`, tb))
		e.exec(t, fmt.Sprintf(`INSERT INTO %s VALUES (1, $1, $2, 0)`, tb), big, blob)
	}
	e.exec(t, `ALTER TABLE docs_full REPLICA IDENTITY FULL`)
	c := e.start(t, e.config("toast", "snapshot.mode", "no_data"))
	testwait.Until(t, "the slot", 30*time.Second, func() bool { return e.slotExists(t, "s_toast") })
	for _, tb := range []string{"docs", "docs_full"} {
		e.exec(t, fmt.Sprintf(`UPDATE %s SET n = n + 1 WHERE id = 1`, tb))
		e.exec(t, fmt.Sprintf(`UPDATE %s SET body = body || 'x' WHERE id = 1`, tb))
	}
	var plain, full []event
	testwait.Until(t, "both updates of both tables", 30*time.Second, func() bool {
		plain, full = e.events(t, "srv.public.docs"), e.events(t, "srv.public.docs_full")
		return len(plain) >= 2 && len(full) >= 2
	})
	stop(t, c)
	placeholder := "__debezium_unavailable_value"
	if plain[0].After["body"] != placeholder || plain[0].After["blob"] != base64.StdEncoding.EncodeToString([]byte(placeholder)) {
		t.Fatalf("default identity: unchanged TOASTed values are %.40v / %.40v, want the placeholder", plain[0].After["body"], plain[0].After["blob"])
	}
	if plain[1].After["body"] != big+"x" || plain[1].After["blob"] != base64.StdEncoding.EncodeToString([]byte(placeholder)) {
		t.Fatalf("default identity, changed body: body %d chars, blob %.40v", len(fmt.Sprint(plain[1].After["body"])), plain[1].After["blob"])
	}
	wantBlob := base64.StdEncoding.EncodeToString(blob)
	if full[0].After["body"] != big || full[0].After["blob"] != wantBlob || full[0].Before["body"] != big {
		t.Fatalf("REPLICA IDENTITY FULL: the unchanged TOASTed values are not exact (body %d chars)", len(fmt.Sprint(full[0].After["body"])))
	}
	if full[1].After["body"] != big+"x" || full[1].After["blob"] != wantBlob || full[1].Before["body"] != big {
		t.Fatal("REPLICA IDENTITY FULL: the second update is not exact")
	}
}

// TestSchemaChanges adds and drops columns and adds an enum value while
// changes stream, with the Avro converter and a schema registry: each
// change of the columns registers a new schema version, before the first
// event that needs it, and the versions are compatible (the registry
// checks BACKWARD compatibility).
func TestSchemaChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg, err := registry.New(context.Background(), registry.WithBrokers(e.b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() { srv.Close(); _ = reg.Close() })

	e.exec(t, `CREATE TYPE color AS ENUM ('red', 'green')`)
	e.exec(t, `CREATE TABLE evo (id int PRIMARY KEY, a text NOT NULL, c color)`)
	e.exec(t, `INSERT INTO evo VALUES (1, 'one', 'red')`)
	cfg := e.config("evo", "key.converter", "avro", "value.converter", "avro",
		"key.converter.schema.registry.url", srv.URL, "value.converter.schema.registry.url", srv.URL)
	delete(cfg, "key.converter.schemas.enable")
	delete(cfg, "value.converter.schemas.enable")
	c := e.start(t, cfg)
	topic := "srv.public.evo"
	testwait.Until(t, "the snapshot", 30*time.Second, func() bool { return len(e.records(t, topic)) >= 1 })
	var recs []*kgo.Record
	step := func(n int, sql ...string) {
		t.Helper()
		for _, q := range sql {
			e.exec(t, q)
		}
		// Each step's events are written before the next DDL: the
		// connector reads the catalog as it is when it gets there.
		testwait.Until(t, fmt.Sprintf("%d records", n), 30*time.Second, func() bool {
			recs = e.records(t, topic)
			return len(recs) >= n
		})
	}
	step(3, `ALTER TABLE evo ADD COLUMN b int`, `INSERT INTO evo VALUES (2, 'two', 'green', 5)`, `UPDATE evo SET b = 7 WHERE id = 1`)
	step(4, `ALTER TABLE evo DROP COLUMN a`, `INSERT INTO evo VALUES (3, 'red', 9)`)
	step(5, `ALTER TYPE color ADD VALUE 'blue'`, `INSERT INTO evo VALUES (4, 'blue', 10)`)
	stop(t, c)
	// Each record's writer schema id, in order: a new id exactly where the
	// columns (or the enum's values) changed.
	var ids []uint32
	for _, r := range recs {
		if len(r.Value) < 5 || r.Value[0] != 0 {
			t.Fatalf("record %d is not in the Confluent wire format", r.Offset)
		}
		ids = append(ids, binary.BigEndian.Uint32(r.Value[1:5]))
	}
	fields := func(id uint32) string {
		resp, err := http.Get(fmt.Sprintf("%s/schemas/ids/%d", srv.URL, id))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var s struct {
			Schema string `json:"schema"`
		}
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return s.Schema
	}
	if ids[1] == ids[0] || ids[2] != ids[1] || ids[3] == ids[2] || ids[4] == ids[3] {
		t.Fatalf("schema ids by record %v: want a new schema after ADD COLUMN, DROP COLUMN and ADD VALUE", ids)
	}
	if s := fields(ids[0]); strings.Contains(s, `"name":"b"`) || !strings.Contains(s, `"name":"a"`) {
		t.Fatalf("first version %s", s)
	}
	if s := fields(ids[1]); !strings.Contains(s, `"name":"b"`) || !strings.Contains(s, `"name":"a"`) {
		t.Fatalf("after ADD COLUMN %s", s)
	}
	if s := fields(ids[3]); strings.Contains(s, `"name":"a"`) {
		t.Fatalf("after DROP COLUMN %s", s)
	}
	if s := fields(ids[4]); !strings.Contains(s, `red,green,blue`) {
		t.Fatalf("after ADD VALUE %s", s)
	}
	resp, err := http.Get(srv.URL + "/subjects/" + topic + "-value/versions")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var versions []int
	if err := json.Unmarshal(body, &versions); err != nil || len(versions) != 4 {
		t.Fatalf("subject %s-value versions %s (%v), want 4", topic, body, err)
	}
}
