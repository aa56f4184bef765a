package dsl_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde"
)

// TestIntegrationTableJoinsExactlyOnce runs a left equi-join and an inner
// foreign-key join under exactly_once_v2 on a broker, with the right table
// of the foreign-key join on more partitions than the left one (the
// internal topics are sized by co-partitioning: 3 and 2 partitions), and
// checks that the committed output converges to the join of the final
// tables: the last record per key is the expected result, or a tombstone
// (or nothing) where there is no result.
func TestIntegrationTableJoinsExactlyOnce(t *testing.T) {
	t.Parallel()
	br := testbroker.New(t)
	for topic, n := range map[string]int32{"it-left": 2, "it-right": 2, "it-orders": 2, "it-products": 3, "it-joined": 2, "it-fk": 2} {
		br.CreateTopic(t, topic, n, nil)
	}
	base := time.Now().Add(-time.Minute).UnixMilli()
	ts := base
	var recs []*kgo.Record
	put := func(topic, key, value string) {
		ts++
		r := &kgo.Record{Topic: topic, Key: []byte(key), Timestamp: time.UnixMilli(ts)}
		if value != "" {
			r.Value = []byte(value)
		}
		recs = append(recs, r)
	}
	left, right := map[string]string{}, map[string]string{}
	orders, products := map[string]string{}, map[string]string{}
	set := func(table map[string]string, topic, key, value string) {
		put(topic, key, value)
		if value == "" {
			delete(table, key)
		} else {
			table[key] = value
		}
	}
	for j := range 6 {
		set(products, "it-products", fmt.Sprintf("p%d", j), fmt.Sprintf("P%d", j))
	}
	for i := range 30 {
		k := fmt.Sprintf("k%d", i)
		set(left, "it-left", k, fmt.Sprintf("L%d", i))
		if i%2 == 0 {
			set(right, "it-right", k, fmt.Sprintf("R%d", i))
		}
		set(orders, "it-orders", fmt.Sprintf("o%d", i), fmt.Sprintf("p%d|o%d", i%6, i))
	}
	for i := range 30 {
		k, o := fmt.Sprintf("k%d", i), fmt.Sprintf("o%d", i)
		if i%3 == 0 {
			set(left, "it-left", k, fmt.Sprintf("L%dx", i))
		}
		if i%5 == 0 {
			set(left, "it-left", k, "")
		}
		if i%4 == 0 {
			set(right, "it-right", k, "")
			set(orders, "it-orders", o, fmt.Sprintf("p%d|o%d", (i+1)%6, i)) // foreign key changes
		}
		if i%7 == 0 {
			set(orders, "it-orders", o, "")
		}
		if i == 15 {
			set(products, "it-products", "p5", "")
			set(products, "it-products", "p4", "P4v2")
		}
	}
	br.Produce(t, recs...)

	want := map[string]map[string]string{"it-joined": {}, "it-fk": {}}
	for k, l := range left {
		r, ok := right[k]
		want["it-joined"][k] = l + "+" + nullable(r, ok)
	}
	for o, v := range orders {
		if p, ok := products[productOf(v)]; ok {
			want["it-fk"][o] = v + "/" + p
		}
	}

	b := dsl.NewBuilder()
	str := dsl.ConsumedWith(serde.String(), serde.String())
	dsl.LeftJoinTables(dsl.Table(b, "it-left", str), dsl.Table(b, "it-right", str),
		func(l, r string, found bool) string { return l + "+" + nullable(r, found) }).ToStream().To("it-joined")
	dsl.FKJoin(dsl.Table(b, "it-orders", str), dsl.Table(b, "it-products", str), productOf,
		func(o, p string) string { return o + "/" + p },
		dsl.TableJoined[string, string]{Name: "fk"}).ToStream().To("it-fk")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := core.New(topo, core.WithBrokers(br.Addr()), core.WithApplicationID("table-joins-eos"), core.WithStateDir(t.TempDir()),
		core.WithProcessingGuarantee(core.ExactlyOnceV2), core.WithCommitInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	final := func(topic string) map[string]string {
		got := map[string]string{}
		for _, r := range br.ReadAll(t, topic) {
			if r.Value == nil {
				delete(got, string(r.Key))
			} else {
				got[string(r.Key)] = string(r.Value)
			}
		}
		return got
	}
	deadline := time.Now().Add(30 * time.Second)
	var got map[string]map[string]string
	for {
		got = map[string]map[string]string{"it-joined": final("it-joined"), "it-fk": final("it-fk")}
		if maps.Equal(got["it-joined"], want["it-joined"]) && maps.Equal(got["it-fk"], want["it-fk"]) {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("app stopped early: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	adm := kadm.NewClient(br.Client(t))
	details, err := adm.ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for topic, n := range map[string]int{"table-joins-eos-fk-subscription-registration-repartition": 3, "table-joins-eos-fk-subscription-response-repartition": 2} {
		if got := len(details[topic].Partitions); got != n {
			t.Errorf("%s has %d partitions, want %d (like the table it is co-partitioned with)", topic, got, n)
		}
	}
	for topic := range want {
		if !maps.Equal(got[topic], want[topic]) {
			t.Errorf("%s converged to\n%v\nwant\n%v", topic, got[topic], want[topic])
		}
	}
}
