package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testbroker"
)

// TestEnrichmentExactlyOnce runs the example in-process on a broker under
// exactly_once_v2. Customers and products are on the broker before it
// starts (customers with earlier timestamps than the orders), so every
// order sees them; the output must be exactly one record per order of a
// known product, with the expected JSON.
func TestEnrichmentExactlyOnce(t *testing.T) {
	b := testbroker.New(t)
	if err := ensureTopics(context.Background(), b.Addrs()); err != nil {
		t.Fatal(err)
	}
	customers := map[string][2]string{"c0": {"Ada", "gold"}, "c1": {"Bob", "silver"}, "c2": {"Cy", "bronze"}, "c3": {"Dee", "gold"}}
	products := map[string]struct {
		name  string
		price float64
	}{"p0": {"Pen", 2.5}, "p1": {"Ink", 10}, "p2": {"Nib", 0.25}}
	var recs []*kgo.Record
	for id, c := range customers {
		recs = append(recs, &kgo.Record{Topic: CustomersTopic, Key: []byte(id), Timestamp: time.UnixMilli(1000),
			Value: fmt.Appendf(nil, `{"customer_id":%q,"name":%q,"tier":%q}`, id, c[0], c[1])})
	}
	for id, p := range products {
		recs = append(recs, &kgo.Record{Topic: ProductsTopic, Key: []byte(id), Timestamp: time.UnixMilli(1000),
			Value: fmt.Appendf(nil, `{"product_id":%q,"name":%q,"price":%v}`, id, p.name, p.price)})
	}
	var want []string
	const orders = 60
	for i := range orders {
		// c4 is no customer, p3 no product.
		id, customer, product, qty := fmt.Sprintf("o%02d", i), fmt.Sprintf("c%d", i%5), fmt.Sprintf("p%d", i%4), i%3+1
		recs = append(recs, &kgo.Record{Topic: OrdersTopic, Key: []byte(id), Timestamp: time.UnixMilli(int64(2000 + i)),
			Value: fmt.Appendf(nil, `{"order_id":%q,"customer_id":%q,"product_id":%q,"quantity":%d}`, id, customer, product, qty)})
		p, ok := products[product]
		if !ok {
			continue
		}
		name, tier := "null", "null"
		if c, ok := customers[customer]; ok {
			name, tier = strconv.Quote(c[0]), strconv.Quote(c[1])
		}
		want = append(want, fmt.Sprintf(`%s %d {"order_id":%q,"customer_id":%q,"customer_name":%s,"customer_tier":%s,"product_id":%q,"product_name":%q,"quantity":%d,"unit_price":%s,"total":%s}`,
			id, 2000+i, id, customer, name, tier, product, p.name, qty,
			strconv.FormatFloat(p.price, 'f', -1, 64), strconv.FormatFloat(float64(qty)*p.price, 'f', -1, 64)))
	}
	b.Produce(t, recs...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{brokers: b.Addrs(), appID: "enrich-eos", guarantee: "exactly_once_v2", stateDir: t.TempDir(), commit: 100 * time.Millisecond})
	}()
	read := func() []string {
		var got []string
		for _, r := range b.ReadAll(t, EnrichedTopic) {
			got = append(got, fmt.Sprintf("%s %d %s", r.Key, r.Timestamp.UnixMilli(), r.Value))
		}
		slices.Sort(got)
		return got
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(read()) < len(want) && time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("example stopped early: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Let the application run on briefly: nothing more may appear.
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := read(); !slices.Equal(got, want) {
		t.Fatalf("enriched orders (%d, want %d):\n got %q\nwant %q", len(got), len(want), got, want)
	}
	// The repartition topic was sized to match "customers".
	td, err := kadm.NewClient(b.Client(t)).ListTopics(context.Background(), "enrich-eos-orders-by-customer-repartition")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(td["enrich-eos-orders-by-customer-repartition"].Partitions); n != 4 {
		t.Fatalf("repartition topic has %d partitions, want 4", n)
	}
}
