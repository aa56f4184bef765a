package mysqlcdc_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors/connectortest"
	"github.com/sluicehq/sluice/internal/testdb"
)

// TestConformance runs the connector suite: each scenario captures a fresh
// database of one MariaDB server; appending items inserts rows, whose
// change events (snapshot reads or inserts) a RegexRouter sends to the
// suite's topic. The item's identity is after.id.
func TestConformance(t *testing.T) {
	t.Parallel()
	m := testdb.StartMariaDB(t)
	db, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	scenario := 0
	current := ""
	connectortest.TestSource(t, connectortest.Source{
		Plugins: registry(t),
		Config: func(t *testing.T, topic string) map[string]any {
			scenario++
			current = fmt.Sprintf("conf%d", scenario)
			if _, err := db.Exec(fmt.Sprintf("CREATE DATABASE %s; CREATE TABLE %s.items (id INT PRIMARY KEY, v VARCHAR(20))", current, current)); err != nil {
				t.Fatal(err)
			}
			prefix := fmt.Sprintf("c%d", scenario)
			return map[string]any{
				"type":                         "mysql-cdc",
				"database.hostname":            "127.0.0.1",
				"database.port":                m.Port,
				"database.user":                "root",
				"database.server.id":           5000 + scenario,
				"topic.prefix":                 prefix,
				"database.include.list":        current,
				"include.schema.changes":       false,
				"poll.interval.ms":             20,
				"errors.retry.delay.max.ms":    500,
				"key.converter":                "json",
				"value.converter":              "json",
				"transforms":                   "route",
				"transforms.route.type":        "RegexRouter",
				"transforms.route.regex":       prefix + `\.` + current + `\.items`,
				"transforms.route.replacement": topic,
			}
		},
		Append: func(t *testing.T, from, n int) []string {
			ids := make([]string, n)
			vals := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprint(from + i)
				vals[i] = fmt.Sprintf("(%d, 'v%d')", from+i, from+i)
			}
			if _, err := db.Exec(fmt.Sprintf("INSERT INTO %s.items VALUES %s", current, strings.Join(vals, ","))); err != nil {
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
			return v.After.ID.String()
		},
		ExactlyOnce: true,
	})
}
