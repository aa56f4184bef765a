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
// Topology: orders are grouped by customer (GroupBy writes them through a
// repartition topic with Avro values, so that all of a customer's orders
// reach the same task) and aggregated into each customer's totals in a
// state store whose values are Avro too (Confluent wire format, the same
// serde), backed by a changelog topic: the totals survive restarts and
// move with their task. With the record cache, each commit writes the
// latest totals of the customers that changed.
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
	"github.com/sluicehq/sluice/kafka"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/schemaregistry"
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
	stateDir   string
	commit     time.Duration
	registry   string
	logger     *slog.Logger
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated Kafka seed brokers")
	appID := flag.String("app-id", "avro-orders", "application id (consumer group and internal topic prefix)")
	guarantee := flag.String("guarantee", string(core.AtLeastOnce), "processing guarantee: exactly_once_v2 or at_least_once")
	instanceID := flag.String("instance-id", "", "static group membership id: a restarted instance with the same id resumes at once")
	registry := flag.String("registry", "http://127.0.0.1:8081", "schema registry URL")
	stateDir := flag.String("state-dir", "", "directory for local state (default: the system temp dir)")
	commit := flag.Duration("commit-interval", time.Second, "how often totals are committed and emitted (the record cache keeps the latest per customer in between)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, config{
		brokers:    strings.Split(*brokers, ","),
		appID:      *appID,
		guarantee:  *guarantee,
		instanceID: *instanceID,
		stateDir:   *stateDir,
		commit:     *commit,
		registry:   *registry,
		logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "avro-orders:", err)
		os.Exit(1)
	}
}

// buildTopology wires orders → GroupBy(customer) → Aggregate (Avro store)
// → TotalsTopic.
func buildTopology(registryURL string) (*core.Topology, error) {
	client, err := schemaregistry.NewClient(registryURL) // one client: it caches schemas by id
	if err != nil {
		return nil, err
	}
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
	byCustomer := dsl.GroupBy(in, func(_ string, o Order) string { return o.Customer },
		dsl.Grouped[string, Order]{Name: "orders-by-customer", Keys: serde.String(), Values: orders})
	dsl.Aggregate(byCustomer,
		func() CustomerTotal { return CustomerTotal{TotalCents: map[string]int64{}} },
		func(customer string, o Order, t CustomerTotal) CustomerTotal {
			// t was just read from the store: updating it in place is safe.
			t.Customer = customer
			t.OrderCount++
			if t.TotalCents == nil {
				t.TotalCents = map[string]int64{}
			}
			t.TotalCents[o.Currency] += o.AmountCents
			t.LastOrderID = o.OrderID
			return t
		},
		dsl.Materialized[string, CustomerTotal]{Name: "customer-totals", Values: totals},
	).ToStream().To(TotalsTopic, dsl.ProducedWith[string, CustomerTotal](serde.String(), totals))
	return b.Build()
}

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
	err = kafka.EnsureTopics(setupCtx, kadm.NewClient(cl), 4, -1, nil, OrdersTopic, TotalsTopic)
	cancel()
	cl.Close()
	if err != nil {
		return err
	}

	topo, err := buildTopology(cfg.registry)
	if err != nil {
		return err
	}
	opts := []core.Option{
		core.WithBrokers(cfg.brokers...),
		core.WithApplicationID(cfg.appID),
		core.WithProcessingGuarantee(g),
		core.WithInstanceID(cfg.instanceID),
		core.WithLogger(cfg.logger),
	}
	if cfg.stateDir != "" {
		opts = append(opts, core.WithStateDir(cfg.stateDir))
	}
	if cfg.commit > 0 {
		opts = append(opts, core.WithCommitInterval(cfg.commit))
	}
	app, err := core.New(topo, opts...)
	if err != nil {
		return err
	}
	return app.Run(ctx)
}
