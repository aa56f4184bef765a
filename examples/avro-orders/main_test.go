package main

import (
	"context"
	"errors"
	"maps"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/registry"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// orderV1 is an order as written by an older producer with
// schemas/order-v1.avsc: no currency.
type orderV1 struct {
	OrderID     string `avro:"order_id"`
	Customer    string `avro:"customer"`
	AmountCents int64  `avro:"amount_cents"`
}

// TestTotalsEndToEnd runs the example on an in-process broker and schema
// registry: orders written with order-v1 and order-v2 go in, and the last
// total per customer must sum them, v1 orders counted as EUR.
func TestTotalsEndToEnd(t *testing.T) {
	b := testbroker.New(t)
	reg, err := registry.New(context.Background(), registry.WithBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	defer func() {
		srv.Close()
		reg.Close()
	}()
	b.CreateTopic(t, OrdersTopic, 4, nil)
	b.CreateTopic(t, TotalsTopic, 4, nil)

	// An older producer first: it registers order-v1 as version 1 of
	// avro-orders-value; then a current one registers order-v2 (BACKWARD
	// compatible: currency has a default).
	client, err := schemaregistry.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := avro.New[orderV1](client, schemas.OrderV1)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := avro.New[Order](client, schemas.OrderV2)
	if err != nil {
		t.Fatal(err)
	}
	// Keyed by customer, so each customer's orders keep their order across
	// the input partitions and LastOrderID is deterministic.
	var recs []*kgo.Record
	add := func(key string, value []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: OrdersTopic, Key: []byte(key), Value: value})
	}
	for _, o := range []orderV1{{"o1", "ann", 1000}, {"o2", "bob", 250}, {"o3", "ann", 500}} {
		value, err := v1.Serialize(OrdersTopic, o)
		add(o.Customer, value, err)
	}
	for _, o := range []Order{{"o4", "ann", 700, "USD"}, {"o5", "cat", 99, "EUR"}, {"o6", "bob", 1, "EUR"}, {"o7", "ann", 300, "USD"}} {
		value, err := v2.Serialize(OrdersTopic, o)
		add(o.Customer, value, err)
	}
	b.Produce(t, recs...)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{brokers: b.Addrs(), appID: "avro-orders-test", guarantee: "at_least_once", registry: srv.URL, stateDir: t.TempDir(), commit: 100 * time.Millisecond})
	}()

	want := map[string]CustomerTotal{
		"ann": {Customer: "ann", OrderCount: 4, TotalCents: map[string]int64{"EUR": 1500, "USD": 1000}, LastOrderID: "o7"},
		"bob": {Customer: "bob", OrderCount: 2, TotalCents: map[string]int64{"EUR": 251}, LastOrderID: "o6"},
		"cat": {Customer: "cat", OrderCount: 1, TotalCents: map[string]int64{"EUR": 99}, LastOrderID: "o5"},
	}
	totalsSerde, err := avro.New[CustomerTotal](client, schemas.CustomerTotal)
	if err != nil {
		t.Fatal(err)
	}
	var last map[string]CustomerTotal
	deadline := time.Now().Add(25 * time.Second)
	for {
		last = map[string]CustomerTotal{}
		for _, r := range b.ReadAll(t, TotalsTopic) {
			total, err := totalsSerde.Deserialize(TotalsTopic, r.Value)
			if err != nil {
				t.Fatalf("output %s[%d]@%d: %v", r.Topic, r.Partition, r.Offset, err)
			}
			if string(r.Key) != total.Customer {
				t.Fatalf("output key %q for customer %q", r.Key, total.Customer)
			}
			last[total.Customer] = total // one customer, one partition: offset order
		}
		if equalTotals(last, want) || time.Now().After(deadline) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("example stopped early: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("run: %v", err)
	}
	if !equalTotals(last, want) {
		t.Fatalf("totals:\n got %+v\nwant %+v", last, want)
	}
}

func equalTotals(got, want map[string]CustomerTotal) bool {
	if len(got) != len(want) {
		return false
	}
	for k, w := range want {
		g := got[k]
		if g.Customer != w.Customer || g.OrderCount != w.OrderCount || g.LastOrderID != w.LastOrderID || !maps.Equal(g.TotalCents, w.TotalCents) {
			return false
		}
	}
	return true
}
