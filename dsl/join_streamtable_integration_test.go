package dsl_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde"
)

// TestStreamTableJoinExactlyOncePrepopulated: every input is on the broker
// before the application starts, table rows and orders interleaved by
// timestamp. The join task processes its two inputs in timestamp order, so
// each order sees exactly the customer row that was current at its time.
func TestStreamTableJoinExactlyOncePrepopulated(t *testing.T) {
	t.Parallel()
	br := testbroker.New(t)
	for _, topic := range []string{"st-customers", "st-orders", "st-out"} {
		br.CreateTopic(t, topic, 2, nil)
	}
	const customers = 40
	var recs []*kgo.Record
	var want []string
	for i := range customers {
		c := fmt.Sprintf("c%d", i)
		recs = append(recs,
			&kgo.Record{Topic: "st-customers", Key: []byte(c), Value: fmt.Appendf(nil, "%s-v1", c), Timestamp: time.UnixMilli(int64(1000 + i))},
			&kgo.Record{Topic: "st-orders", Key: []byte(c), Value: fmt.Appendf(nil, "a%d", i), Timestamp: time.UnixMilli(int64(2000 + i))},
			&kgo.Record{Topic: "st-customers", Key: []byte(c), Value: fmt.Appendf(nil, "%s-v2", c), Timestamp: time.UnixMilli(int64(3000 + i))},
			&kgo.Record{Topic: "st-orders", Key: []byte(c), Value: fmt.Appendf(nil, "b%d", i), Timestamp: time.UnixMilli(int64(4000 + i))},
			&kgo.Record{Topic: "st-orders", Key: fmt.Appendf(nil, "unknown%d", i), Value: fmt.Appendf(nil, "u%d", i), Timestamp: time.UnixMilli(int64(4500 + i))},
		)
		want = append(want,
			fmt.Sprintf("%s=a%d:%s-v1@%d", c, i, c, 2000+i),
			fmt.Sprintf("%s=b%d:%s-v2@%d", c, i, c, 4000+i),
			fmt.Sprintf("unknown%d=u%d:?@%d", i, i, 4500+i))
	}
	// Each topic is written in timestamp order (within a partition, offset
	// order is processing order), customers first, orders after: arrival
	// order on the broker differs from timestamp order across the topics.
	slices.SortStableFunc(recs, func(a, b *kgo.Record) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return a.Timestamp.Compare(b.Timestamp)
	})
	br.Produce(t, recs...)

	b := dsl.NewBuilder()
	table := dsl.Table(b, "st-customers", dsl.ConsumedWith(serde.String(), serde.String()))
	orders := dsl.Stream(b, "st-orders", dsl.ConsumedWith(serde.String(), serde.String()))
	dsl.LeftJoinTable(orders, table, func(order, name string, found bool) string {
		if !found {
			name = "?"
		}
		return order + ":" + name
	}).To("st-out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := core.New(topo, core.WithBrokers(br.Addr()), core.WithApplicationID("st-eos"), core.WithStateDir(t.TempDir()),
		core.WithProcessingGuarantee(core.ExactlyOnceV2), core.WithCommitInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	runJoinApp(t, app, int64(len(recs)))

	var got []string
	for _, r := range readCommitted(t, br, "st-out")["st-out"] {
		got = append(got, fmt.Sprintf("%s=%s@%d", r.Key, r.Value, r.Timestamp.UnixMilli()))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("joined output (%d records) differs from the expected (%d):\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
}

// runJoinApp runs app until it consumed n records, then stops it gracefully.
func runJoinApp(t *testing.T, app *core.App, n int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for app.Stats().Consumed < n {
		select {
		case err := <-done:
			t.Fatalf("app stopped early: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("timed out: consumed %d of %d records", app.Stats().Consumed, n)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestCopartitioningEnforced: joined user topics with different partition
// counts stop App.Run before anything runs, naming both; a repartition
// topic on the stream side is created with the table topic's count, unless
// its count was set to another one.
func TestCopartitioningEnforced(t *testing.T) {
	t.Parallel()
	br := testbroker.New(t)
	br.CreateTopic(t, "cp-orders", 4, nil)
	br.CreateTopic(t, "cp-customers", 2, nil)
	run := func(appID string, build func(orders *dsl.KStream[string, string], customers *dsl.KTable[string, string])) (*core.App, error) {
		b := dsl.NewBuilder()
		build(dsl.Stream(b, "cp-orders", dsl.ConsumedWith(serde.String(), serde.String())),
			dsl.Table(b, "cp-customers", dsl.ConsumedWith(serde.String(), serde.String())))
		topo, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		app, err := core.New(topo, core.WithBrokers(br.Addr()), core.WithApplicationID(appID), core.WithStateDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return app, app.Run(ctx)
	}
	concat := func(v, tv string) string { return v + tv }

	_, err := run("cp-direct", func(o *dsl.KStream[string, string], c *dsl.KTable[string, string]) {
		dsl.JoinTable(o, c, concat).To("cp-out")
	})
	if err == nil || !strings.Contains(err.Error(), "not co-partitioned") ||
		!strings.Contains(err.Error(), "cp-orders (4 partitions)") || !strings.Contains(err.Error(), "cp-customers (2 partitions)") {
		t.Fatalf("direct join: Run error = %v, want one naming cp-orders (4 partitions) and cp-customers (2 partitions)", err)
	}

	_, err = run("cp-explicit", func(o *dsl.KStream[string, string], c *dsl.KTable[string, string]) {
		dsl.JoinTable(o.Repartition(dsl.Repartitioned[string, string]{Name: "by-customer", Partitions: 4}), c, concat).To("cp-out")
	})
	if err == nil || !strings.Contains(err.Error(), "cp-explicit-by-customer-repartition has 4 partitions") ||
		!strings.Contains(err.Error(), "cp-customers (2 partitions)") {
		t.Fatalf("explicit repartition: Run error = %v, want one naming the repartition topic and cp-customers (2 partitions)", err)
	}

	// Re-keyed: the repartition topic would get 4 partitions (its writer
	// reads 4), the join needs 2.
	_, err = run("cp-rekeyed", func(o *dsl.KStream[string, string], c *dsl.KTable[string, string]) {
		dsl.JoinTable(dsl.SelectKey(o, func(_, v string) string { return v }), c, concat, dsl.Joined[string, string]{Name: "by-customer"}).To("cp-out")
	})
	if err != nil {
		t.Fatalf("re-keyed join: Run: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	td, err := kadm.NewClient(br.Client(t)).ListTopics(ctx, "cp-rekeyed-by-customer-repartition")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(td["cp-rekeyed-by-customer-repartition"].Partitions); n != 2 {
		t.Fatalf("repartition topic has %d partitions, want 2 (the table topic's)", n)
	}
}
