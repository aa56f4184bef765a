// Command orders-enrichment joins a stream with a table and a global table:
// each order of topic "orders" (key: order id) is enriched with its
// customer, from the table of topic "customers" (key: customer id), and its
// product, from the global table of topic "products" (key: product id), and
// written to "enriched-orders", keyed by order id. All values are JSON:
//
//	orders           {"order_id","customer_id","product_id","quantity"}
//	customers        {"customer_id","name","tier"}
//	products         {"product_id","name","price"}
//	enriched-orders  {"order_id","customer_id","customer_name","customer_tier",
//	                  "product_id","product_name","quantity","unit_price","total"}
//
// The customer join is a left join (customer_name and customer_tier are null
// for an unknown customer); orders are re-keyed by customer id for it, so
// they go through a repartition topic co-partitioned with "customers". The
// product join is an inner join (an order of an unknown product is
// dropped); a global table needs no re-keying. total is quantity × price.
// The topics are created with 4 partitions when missing. It runs until
// interrupted.
//
//	go run ./cmd/sluice broker &            # or any Kafka cluster
//	go run ./examples/orders-enrichment --brokers 127.0.0.1:9092 --guarantee exactly_once_v2
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
	"github.com/sluicehq/sluice/serde"
)

// Topics read and written by the example.
const (
	OrdersTopic    = "orders"
	CustomersTopic = "customers"
	ProductsTopic  = "products"
	EnrichedTopic  = "enriched-orders"
)

// Order is a value of OrdersTopic.
type Order struct {
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id"`
	ProductID  string `json:"product_id"`
	Quantity   int64  `json:"quantity"`
}

// Customer is a value of CustomersTopic.
type Customer struct {
	CustomerID string `json:"customer_id"`
	Name       string `json:"name"`
	Tier       string `json:"tier"`
}

// Product is a value of ProductsTopic.
type Product struct {
	ProductID string  `json:"product_id"`
	Name      string  `json:"name"`
	Price     float64 `json:"price"`
}

// EnrichedOrder is a value of EnrichedTopic. CustomerName and CustomerTier
// are nil (JSON null) when the customer is unknown.
type EnrichedOrder struct {
	OrderID      string  `json:"order_id"`
	CustomerID   string  `json:"customer_id"`
	CustomerName *string `json:"customer_name"`
	CustomerTier *string `json:"customer_tier"`
	ProductID    string  `json:"product_id"`
	ProductName  string  `json:"product_name"`
	Quantity     int64   `json:"quantity"`
	UnitPrice    float64 `json:"unit_price"`
	Total        float64 `json:"total"`
}

type config struct {
	brokers    []string
	appID      string
	guarantee  string
	instanceID string
	stateDir   string        // default: the system temp dir
	commit     time.Duration // 0: the guarantee's default
	logger     *slog.Logger  // nil: discard
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated Kafka seed brokers")
	appID := flag.String("app-id", "orders-enrichment", "application id (consumer group and internal topic prefix)")
	guarantee := flag.String("guarantee", string(core.AtLeastOnce), "processing guarantee: exactly_once_v2 or at_least_once")
	instanceID := flag.String("instance-id", "", "static group membership id: a restarted instance with the same id resumes at once")
	stateDir := flag.String("state-dir", "", "directory for local state (default: the system temp dir)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, config{
		brokers: strings.Split(*brokers, ","), appID: *appID, guarantee: *guarantee, instanceID: *instanceID, stateDir: *stateDir,
		logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "orders-enrichment:", err)
		os.Exit(1)
	}
}

// buildTopology wires orders → join global products → re-key by customer
// → left join customers → re-key by order → EnrichedTopic.
func buildTopology() (*core.Topology, error) {
	b := dsl.NewBuilder()
	orders := dsl.Stream(b, OrdersTopic, dsl.ConsumedWith(serde.String(), serde.JSON[Order]()))
	customers := dsl.Table(b, CustomersTopic, dsl.ConsumedWith(serde.String(), serde.JSON[Customer]()),
		dsl.MaterializedAs[string, Customer]("customers"))
	products := dsl.GlobalTable(b, ProductsTopic, dsl.ConsumedWith(serde.String(), serde.JSON[Product]()),
		dsl.MaterializedAs[string, Product]("products"))

	// The product join first: it drops orders of unknown products before
	// they are written to the repartition topic.
	priced := dsl.JoinGlobal(orders, products,
		func(_ string, o Order) string { return o.ProductID },
		func(o Order, p Product) EnrichedOrder {
			return EnrichedOrder{OrderID: o.OrderID, CustomerID: o.CustomerID, ProductID: o.ProductID, ProductName: p.Name,
				Quantity: o.Quantity, UnitPrice: p.Price, Total: float64(o.Quantity) * p.Price}
		}, "join-products")
	byCustomer := dsl.SelectKey(priced, func(_ string, e EnrichedOrder) string { return e.CustomerID }, "key-by-customer")
	withCustomer := dsl.LeftJoinTable(byCustomer, customers,
		func(e EnrichedOrder, c Customer, found bool) EnrichedOrder {
			if found {
				e.CustomerName, e.CustomerTier = &c.Name, &c.Tier
			}
			return e
		}, dsl.Joined[string, EnrichedOrder]{Name: "orders-by-customer", Keys: serde.String(), Values: serde.JSON[EnrichedOrder]()})
	dsl.SelectKey(withCustomer, func(_ string, e EnrichedOrder) string { return e.OrderID }, "key-by-order").
		To(EnrichedTopic, dsl.ProducedWith(serde.String(), serde.JSON[EnrichedOrder]()))
	return b.Build()
}

// ensureTopics creates the example's topics with 4 partitions when missing.
func ensureTopics(ctx context.Context, brokers []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return kafka.EnsureTopics(ctx, kadm.NewClient(cl), 4, -1, nil, OrdersTopic, CustomersTopic, ProductsTopic, EnrichedTopic)
}

func run(ctx context.Context, cfg config) error {
	g, err := core.ParseProcessingGuarantee(cfg.guarantee)
	if err != nil {
		return err
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if err := ensureTopics(ctx, cfg.brokers); err != nil {
		return err
	}
	topo, err := buildTopology()
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
