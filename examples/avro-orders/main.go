// Command avro-orders reads Avro orders from topic "avro-orders" and writes
// each customer's running totals, as Avro, to "avro-customer-totals". Both
// use the Confluent wire format and a Confluent-compatible schema registry;
// the schemas are the project's schemas/order-v2.avsc and
// schemas/customer-total.avsc. Orders written with the older
// schemas/order-v1.avsc are read as version 2 with currency "EUR" (the
// field's default), by Avro schema resolution in the serde.
//
//	go run ./cmd/sluice broker &                         # Kafka on 127.0.0.1:9092
//	go run ./cmd/sluice registry &                       # registry on 127.0.0.1:8081
//	go run ./examples/avro-orders --registry http://127.0.0.1:8081 &
//	echo '{"order_id":"o1","customer":"ann","amount_cents":1250,"currency":"USD"}' |
//	  go run ./cmd/sluice produce --topic avro-orders --value-schema schemas/order-v2.avsc
//	go run ./cmd/sluice consume --topic avro-customer-totals --from-beginning
//
// Topology: orders are re-keyed by customer (SelectKey) and written through
// a repartition topic (Avro values), so that all of a customer's orders
// reach the same task; a Processor API node there keeps the totals.
//
// State: the totals live in a plain map per task, in memory only. They are
// lost when the process restarts or a task moves to another instance, and
// the totals then start again from zero. With the state-store issue this
// becomes a changelogged KTable aggregation (GroupByKey + Aggregate), whose
// state is restored from its changelog topic.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/topics"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/avro"
)

// Topics read and written.
const (
	OrdersTopic = "avro-orders"
	TotalsTopic = "avro-customer-totals"
)

// Order is an order, read with schemas/order-v2.avsc.
type Order struct {
	OrderID     string `avro:"order_id"`
	Customer    string `avro:"customer"`
	AmountCents int64  `avro:"amount_cents"`
	Currency    string `avro:"currency"`
}

// CustomerTotal is a customer's running totals (schemas/customer-total.avsc).
type CustomerTotal struct {
	Customer    string           `avro:"customer"`
	OrderCount  int64            `avro:"order_count"`
	TotalCents  map[string]int64 `avro:"total_cents"` // by currency
	LastOrderID string           `avro:"last_order_id"`
}

type config struct {
	brokers    []string
	appID      string
	guarantee  string
	instanceID string
	registry   string
	logger     *slog.Logger
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated Kafka seed brokers")
	appID := flag.String("app-id", "avro-orders", "application id (consumer group and internal topic prefix)")
	guarantee := flag.String("guarantee", string(core.AtLeastOnce), "processing guarantee: exactly_once_v2 or at_least_once")
	instanceID := flag.String("instance-id", "", "static group membership id: a restarted instance with the same id resumes at once")
	registry := flag.String("registry", "http://127.0.0.1:8081", "schema registry URL")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, config{
		brokers:    strings.Split(*brokers, ","),
		appID:      *appID,
		guarantee:  *guarantee,
		instanceID: *instanceID,
		registry:   *registry,
		logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "avro-orders:", err)
		os.Exit(1)
	}
}

// buildTopology wires orders → SelectKey(customer) → Repartition (Avro) →
// running totals → TotalsTopic.
func buildTopology(registryURL string) (*core.Topology, error) {
	client := avro.NewClient(registryURL) // one client: it caches schemas by id
	orders, err := avro.New[Order](client, schemas.OrderV2)
	if err != nil {
		return nil, err
	}
	totals, err := avro.New[CustomerTotal](client, schemas.CustomerTotal)
	if err != nil {
		return nil, err
	}
	b := dsl.NewBuilder()
	in := dsl.Stream(b, OrdersTopic, dsl.ConsumedWith(serde.String(), orders))
	byCustomer := dsl.SelectKey(in, func(_ string, o Order) string { return o.Customer }).
		Repartition(dsl.RepartitionedWith(serde.String(), orders).WithName("orders-by-customer"))
	dsl.Process(byCustomer, newTotalsProcessor).
		To(TotalsTopic, dsl.ProducedWith[string, CustomerTotal](serde.String(), totals))
	return b.Build()
}

// totalsProcessor keeps the running totals of the customers of one task.
// The runtime calls a task's processor from one goroutine at a time, so the
// map needs no lock. Memory only: see the package documentation.
type totalsProcessor struct {
	ctx    core.ProcessorContext[string, CustomerTotal]
	totals map[string]*CustomerTotal
}

func newTotalsProcessor() core.Processor[string, Order, string, CustomerTotal] {
	return &totalsProcessor{totals: map[string]*CustomerTotal{}}
}

func (p *totalsProcessor) Init(ctx core.ProcessorContext[string, CustomerTotal]) error {
	p.ctx = ctx
	return nil
}

func (p *totalsProcessor) Process(rec core.Record[string, Order]) error {
	o := rec.Value
	t, ok := p.totals[o.Customer]
	if !ok {
		t = &CustomerTotal{Customer: o.Customer, TotalCents: map[string]int64{}}
		p.totals[o.Customer] = t
	}
	t.OrderCount++
	t.TotalCents[o.Currency] += o.AmountCents
	t.LastOrderID = o.OrderID
	// Forward a copy: the record is serialized later, and the map keeps
	// changing.
	out := *t
	out.TotalCents = make(map[string]int64, len(t.TotalCents))
	for c, v := range t.TotalCents {
		out.TotalCents[c] = v
	}
	return p.ctx.Forward(core.WithKeyValue(rec, o.Customer, out))
}

func (p *totalsProcessor) Close() error { return nil }

func run(ctx context.Context, cfg config) error {
	g, err := core.ParseProcessingGuarantee(cfg.guarantee)
	if err != nil {
		return err
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...))
	if err != nil {
		return err
	}
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = topics.Ensure(setupCtx, kadm.NewClient(cl), 4, nil, OrdersTopic, TotalsTopic)
	cancel()
	cl.Close()
	if err != nil {
		return err
	}

	topo, err := buildTopology(cfg.registry)
	if err != nil {
		return err
	}
	app, err := core.New(topo,
		core.WithBrokers(cfg.brokers...),
		core.WithApplicationID(cfg.appID),
		core.WithProcessingGuarantee(g),
		core.WithInstanceID(cfg.instanceID),
		core.WithLogger(cfg.logger),
	)
	if err != nil {
		return err
	}
	return app.Run(ctx)
}
