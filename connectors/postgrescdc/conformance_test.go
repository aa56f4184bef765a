package postgrescdc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors/connectortest"
	"github.com/sluicehq/sluice/internal/testdb"
)

// TestConformance runs the connector suite: each scenario gets a fresh
// database (and slot); appending items inserts rows, whose events (a
// snapshot read or a create) a RegexRouter sends to the suite's topic.
func TestConformance(t *testing.T) {
	pg := testdb.StartPostgres(t)
	var mu sync.Mutex
	var db *pgx.Conn
	n := 0
	connectortest.TestSource(t, connectortest.Source{
		Plugins: plugins(t),
		Config: func(t *testing.T, topic string) map[string]any {
			mu.Lock()
			defer mu.Unlock()
			n++
			name := fmt.Sprintf("conf%d", n)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			admin, err := pgx.Connect(ctx, pg.DSN(""))
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close(ctx)
			if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
				t.Fatal(err)
			}
			if db, err = pgx.Connect(ctx, pg.DSN(name)); err != nil {
				t.Fatal(err)
			}
			conn := db
			t.Cleanup(func() { conn.Close(context.Background()) })
			if _, err := db.Exec(ctx, `CREATE TABLE items (id int PRIMARY KEY, label text)`); err != nil {
				t.Fatal(err)
			}
			return map[string]any{
				"type": "postgres-cdc", "database.hostname": "127.0.0.1", "database.port": pg.Port,
				"database.user": "postgres", "database.dbname": name, "database.sslmode": "disable",
				"topic.prefix": name, "slot.name": "slot_" + name, "publication.name": "pub_" + name,
				"poll.interval.ms": 100, "slot.retry.delay.ms": 100, "slot.max.retries": 100, "max.batch.size": 50,
				"transforms": "route", "transforms.route.type": "RegexRouter",
				"transforms.route.regex": ".*", "transforms.route.replacement": topic,
			}
		},
		Append: func(t *testing.T, from, count int) []string {
			mu.Lock()
			conn := db
			mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ids := make([]string, count)
			batch := &pgx.Batch{}
			for i := range ids {
				ids[i] = strconv.Itoa(from + i)
				batch.Queue(`INSERT INTO items VALUES ($1, $2)`, from+i, "item")
			}
			if err := conn.SendBatch(ctx, batch).Close(); err != nil {
				t.Fatal(err)
			}
			return ids
		},
		ID: func(r *kgo.Record) string {
			var v struct {
				After struct {
					ID json.Number `json:"id"`
				} `json:"after"`
			}
			if err := json.Unmarshal(r.Value, &v); err != nil {
				return "undecodable: " + string(r.Value)
			}
			if id := v.After.ID.String(); id == "200" || id == "201" {
				fmt.Printf("DEBUG %s[%d]@%d %s\n", r.Topic, r.Partition, r.Offset, r.Value)
			}
			return v.After.ID.String()
		},
		ExactlyOnce: true,
	})
}
