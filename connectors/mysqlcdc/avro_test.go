package mysqlcdc_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testwait"
	schemaregistry "github.com/sluicehq/sluice/serde/registry"
)

// TestAvroSchemaEvolution runs the connector with the Avro converter
// against the embedded Schema Registry (its default BACKWARD
// compatibility): the value schemas are registered under Debezium's
// subject (<topic>-value), each ALTER TABLE that changes the columns
// yields a new version that the registry accepts as compatible, and each
// event carries the id of the version of its own position (the new version
// is registered before the first event that needs it; events before the
// DDL keep the old one). Every event is decoded with hamba/avro (not
// Sluice's Avro code) using the schema its id names.
func TestAvroSchemaEvolution(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg, err := schemaregistry.New(context.Background(), schemaregistry.WithBrokers(e.b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() { srv.Close(); _ = reg.Close() })

	e.exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL)",
		"INSERT INTO shop.items VALUES (1, 'one')")
	topic := "av.shop.items"
	e.topics(t, topic)
	w := e.worker(t, core.ExactlyOnceV2)
	cfg := e.config("avro", "av", "database.include.list", "shop", "include.schema.changes", false,
		"key.converter", "avro", "value.converter", "avro",
		"key.converter.schema.registry.url", srv.URL, "value.converter.schema.registry.url", srv.URL)
	delete(cfg, "key.converter.schemas.enable")
	delete(cfg, "value.converter.schemas.enable")
	c := startSource(t, w, cfg)
	// The snapshot (row 1) first, so that the writes below are streamed.
	testwait.Until(t, "a snapshot event in topic "+topic, 60*time.Second, func() bool {
		if len(e.b.ReadAll(t, topic)) >= 1 {
			return true
		}
		checkRunning(t, c)
		return false
	}, testwait.Detail(func() string { return fmt.Sprintf("status %+v", c.Status()) }))

	// Writes with three structures: the snapshot's, a nullable column
	// added, a NOT NULL column with a default added, a column dropped.
	e.exec(t, "INSERT INTO shop.items VALUES (2, 'two')",
		"ALTER TABLE shop.items ADD COLUMN note VARCHAR(20)",
		"INSERT INTO shop.items VALUES (3, 'three', 'n3')",
		"ALTER TABLE shop.items ADD COLUMN qty INT NOT NULL DEFAULT 5",
		"INSERT INTO shop.items (id, name) VALUES (4, 'four')",
		"ALTER TABLE shop.items DROP COLUMN note",
		"INSERT INTO shop.items (id, name, qty) VALUES (5, 'five', 7)")
	var recs []*kgo.Record
	testwait.Until(t, "5 events in topic "+topic, 60*time.Second, func() bool {
		if len(recs) >= 5 {
			return true
		}
		checkRunning(t, c)
		recs = e.b.ReadAll(t, topic)
		return len(recs) >= 5
	}, testwait.Detail(func() string { return fmt.Sprintf("%d events (status %+v)", len(recs), c.Status()) }))
	stop(t, c)

	get := func(path string, into any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	var versions []int
	get("/subjects/"+topic+"-value/versions", &versions)
	if len(versions) != 4 {
		t.Errorf("subject %s-value has versions %v, want 4 (the snapshot's structure and one per ALTER)", topic, versions)
	}
	var keyVersions []int
	get("/subjects/"+topic+"-key/versions", &keyVersions)
	if len(keyVersions) != 1 {
		t.Errorf("subject %s-key has versions %v, want 1 (the key never changed)", topic, keyVersions)
	}

	// Each event, decoded with the schema of its id: the columns of its
	// own structure.
	wantCols := map[string][]string{
		"1": {"id", "name"}, "2": {"id", "name"}, "3": {"id", "name", "note"},
		"4": {"id", "name", "note", "qty"}, "5": {"id", "name", "qty"},
	}
	wantQty := map[string]string{"4": "5", "5": "7"}
	ids := map[uint32]bool{}
	for _, r := range recs {
		if len(r.Value) < 5 || r.Value[0] != 0 {
			t.Fatalf("value at offset %d is not in the Confluent wire format", r.Offset)
		}
		id := binary.BigEndian.Uint32(r.Value[1:5])
		ids[id] = true
		var sch struct {
			Schema string `json:"schema"`
		}
		get(fmt.Sprintf("/schemas/ids/%d", id), &sch)
		s, err := avro.ParseWithCache(sch.Schema, "", &avro.SchemaCache{})
		if err != nil {
			t.Fatalf("hamba/avro cannot parse schema %d: %v", id, err)
		}
		var v map[string]any
		if err := avro.Unmarshal(s, r.Value[5:], &v); err != nil {
			t.Fatalf("hamba/avro cannot decode the event at offset %d with schema %d: %v", r.Offset, id, err)
		}
		after, _ := v["after"].(map[string]any)
		if a, ok := after[topic+".Value"].(map[string]any); ok {
			after = a
		}
		if after == nil {
			t.Fatalf("event %v has no after", v)
		}
		rowID := fmt.Sprint(after["id"])
		var cols []string
		for _, f := range s.(*avro.RecordSchema).Fields() {
			if f.Name() == "after" {
				for _, u := range f.Type().(*avro.UnionSchema).Types() {
					if ref, ok := u.(*avro.RefSchema); ok {
						u = ref.Schema()
					}
					if rs, ok := u.(*avro.RecordSchema); ok {
						for _, cf := range rs.Fields() {
							cols = append(cols, cf.Name())
						}
					}
				}
			}
		}
		if fmt.Sprint(cols) != fmt.Sprint(wantCols[rowID]) {
			t.Errorf("row %s: written with schema %d of columns %v, want %v", rowID, id, cols, wantCols[rowID])
		}
		if q, ok := wantQty[rowID]; ok {
			got := after["qty"]
			if m, isUnion := got.(map[string]any); isUnion {
				got = m["int"]
			}
			if fmt.Sprint(got) != q {
				t.Errorf("row %s: qty %v, want %s", rowID, after["qty"], q)
			}
		}
	}
	if len(ids) != 4 {
		t.Errorf("the events use %d schema ids, want 4", len(ids))
	}
}
