// Package jobbench measures pipelines declared in job YAML against the
// same pipelines written with the Go DSL on typed structs, in the same
// process, on the same broker and registry: a stateless one (filter,
// projection, Avro out) and a windowed one (group, tumbling window,
// aggregate, Avro out). The target is ≥ 85% of the Go version.
package jobbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/job"
	"github.com/sluicehq/sluice/kafka"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/registry"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// Config sets the workload.
type Config struct {
	Brokers    []string
	Records    int   // default 500,000
	Partitions int32 // default 4
	Rounds     int   // default 1
}

// Order is the input: an order as the datagen orders quickstart writes it
// (flattened address).
type Order struct {
	OrderTime  int64   `avro:"ordertime"`
	OrderID    int64   `avro:"orderid"`
	CustomerID int32   `avro:"customerid"`
	ItemID     string  `avro:"itemid"`
	OrderUnits float64 `avro:"orderunits"`
	Price      float64 `avro:"price"`
	Amount     float64 `avro:"amount"`
	City       string  `avro:"city"`
	State      string  `avro:"state"`
	Zipcode    int64   `avro:"zipcode"`
}

const orderSchema = `{"type":"record","name":"Order","namespace":"bench","fields":[
{"name":"ordertime","type":"long"},{"name":"orderid","type":"long"},{"name":"customerid","type":"int"},
{"name":"itemid","type":"string"},{"name":"orderunits","type":"double"},{"name":"price","type":"double"},
{"name":"amount","type":"double"},{"name":"city","type":"string"},{"name":"state","type":"string"},
{"name":"zipcode","type":"long"}]}`

// BigOrder is the stateless pipeline's output.
type BigOrder struct {
	Order  int64   `avro:"order"`
	Amount float64 `avro:"amount"`
	City   string  `avro:"city"`
}

const bigOrderSchema = `{"type":"record","name":"BigOrder","namespace":"bench","fields":[
{"name":"order","type":"long"},{"name":"amount","type":"double"},{"name":"city","type":"string"}]}`

// Revenue is the windowed pipeline's output.
type Revenue struct {
	Orders      int64     `avro:"orders"`
	Revenue     float64   `avro:"revenue"`
	WindowStart time.Time `avro:"window_start"`
	WindowEnd   time.Time `avro:"window_end"`
}

const revenueSchema = `{"type":"record","name":"Revenue","namespace":"bench","fields":[
{"name":"orders","type":"long"},{"name":"revenue","type":"double"},
{"name":"window_start","type":{"type":"long","logicalType":"timestamp-millis"}},
{"name":"window_end","type":{"type":"long","logicalType":"timestamp-millis"}}]}`

const inputTopic = "jobbench-orders"

// Run prepares the input and measures both pipelines, cfg.Rounds times,
// alternating the Go and YAML versions, printing medians and ratios.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	if cfg.Records == 0 {
		cfg.Records = 500_000
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 4
	}
	if cfg.Rounds == 0 {
		cfg.Rounds = 1
	}
	reg, err := registry.New(ctx, registry.WithBrokers(cfg.Brokers...))
	if err != nil {
		return err
	}
	defer reg.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = reg.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	client, err := schemaregistry.NewClient(url)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sluice-jobbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	schemaFile := filepath.Join(dir, "order.avsc")
	if err := os.WriteFile(schemaFile, []byte(orderSchema), 0o644); err != nil {
		return err
	}
	if err := fill(ctx, cfg, client); err != nil {
		return err
	}
	type pipeline struct {
		name string
		goT  func(round int) (*core.Topology, string, error)
		yaml func(round int) (*core.Topology, string, error)
	}
	pipes := []pipeline{
		{"stateless: filter, projection to a record, Avro in and out",
			func(r int) (*core.Topology, string, error) {
				return goStateless(client, fmt.Sprintf("go-stateless-%d", r))
			},
			func(r int) (*core.Topology, string, error) {
				return yamlTopology(dir, url, schemaFile, fmt.Sprintf("yaml-stateless-%d", r), statelessSteps)
			}},
		{"windowed: groupByKey, tumbling 1m window, aggregate, Avro out",
			func(r int) (*core.Topology, string, error) {
				return goWindowed(client, fmt.Sprintf("go-windowed-%d", r))
			},
			func(r int) (*core.Topology, string, error) {
				return yamlTopology(dir, url, schemaFile, fmt.Sprintf("yaml-windowed-%d", r), windowedSteps)
			}},
	}
	for _, p := range pipes {
		fmt.Fprintf(out, "%s (%d records, %d partitions, %d round(s), at_least_once)\n", p.name, cfg.Records, cfg.Partitions, cfg.Rounds)
		var goRates, yamlRates []float64
		type side struct {
			label string
			build func(int) (*core.Topology, string, error)
			rates *[]float64
		}
		for round := 0; round < cfg.Rounds; round++ {
			sides := []side{{"Go DSL, typed structs", p.goT, &goRates}, {"job YAML", p.yaml, &yamlRates}}
			if round%2 == 1 {
				// Odd rounds run the job first, so that what one run leaves
				// to the next (a grown heap, the broker's log) falls on
				// both sides alike.
				sides[0], sides[1] = sides[1], sides[0]
			}
			for _, v := range sides {
				topo, app, err := v.build(round)
				if err != nil {
					return fmt.Errorf("jobbench: %s: %w", v.label, err)
				}
				rate, err := measure(ctx, cfg, topo, app, dir)
				if err != nil {
					return fmt.Errorf("jobbench: %s: %w", v.label, err)
				}
				*v.rates = append(*v.rates, rate)
				fmt.Fprintf(out, "  round %d  %-24s %10.0f records/s\n", round+1, v.label, rate)
			}
		}
		g, y := median(goRates), median(yamlRates)
		fmt.Fprintf(out, "  median   %-24s %10.0f records/s\n  median   %-24s %10.0f records/s  %5.1f%% of the Go version\n\n",
			"Go DSL, typed structs", g, "job YAML", y, 100*y/g)
	}
	return nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fill(ctx context.Context, cfg Config, client avroRegistry) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(inputTopic))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(ctx, kadm.NewClient(cl), cfg.Partitions, -1, nil, inputTopic); err != nil {
		return err
	}
	values, err := avro.New[Order](client, orderSchema)
	if err != nil {
		return err
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cities := []string{"Columbus", "Miami", "Nashville", "Denver", "Boise"}
	for i := range cfg.Records {
		o := Order{OrderTime: start.Add(time.Duration(i) * 10 * time.Millisecond).UnixMilli(), OrderID: int64(i),
			CustomerID: int32(i%50 + 1), ItemID: fmt.Sprintf("Item_%d", i%100+1), OrderUnits: float64(i%10) + 0.5,
			Price: float64(i%100) + 0.99, City: cities[i%len(cities)], State: "XX", Zipcode: 10000 + int64(i%500)}
		o.Amount = o.OrderUnits * o.Price
		v, err := values.Serialize(inputTopic, o)
		if err != nil {
			return err
		}
		cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(o.CustomerID)), Value: v, Timestamp: time.UnixMilli(o.OrderTime)}, nil)
	}
	return cl.Flush(ctx)
}

type avroRegistry = *schemaregistry.Client

func goStateless(client avroRegistry, app string) (*core.Topology, string, error) {
	in, err := avro.New[Order](client, orderSchema)
	if err != nil {
		return nil, "", err
	}
	out, err := avro.New[BigOrder](client, bigOrderSchema)
	if err != nil {
		return nil, "", err
	}
	b := dsl.NewBuilder()
	s := dsl.Stream(b, inputTopic, dsl.ConsumedWith(serde.String(), in))
	dsl.MapValues(s.Filter(func(_ string, o Order) bool { return o.Amount > 100 }),
		func(o Order) BigOrder { return BigOrder{Order: o.OrderID, Amount: o.Amount, City: o.City} }).
		To(app+"-out", dsl.ProducedWith[string, BigOrder](serde.String(), out))
	topo, err := b.Build()
	return topo, app, err
}

func goWindowed(client avroRegistry, app string) (*core.Topology, string, error) {
	in, err := avro.New[Order](client, orderSchema)
	if err != nil {
		return nil, "", err
	}
	out, err := avro.New[Revenue](client, revenueSchema)
	if err != nil {
		return nil, "", err
	}
	b := dsl.NewBuilder()
	s := dsl.Stream(b, inputTopic, dsl.ConsumedWith(serde.String(), in))
	agg := dsl.WindowedAggregate(dsl.WindowedBy(s.GroupByKey(), dsl.TumblingWindows(time.Minute, 0)),
		func() Revenue { return Revenue{} },
		func(_ string, o Order, r Revenue) Revenue { r.Orders++; r.Revenue += o.Amount; return r },
		dsl.Materialized[string, Revenue]{Keys: serde.String(), Values: out})
	dsl.Map(agg.ToStream(), func(k serde.Windowed[string], r Revenue) (string, Revenue) {
		r.WindowStart, r.WindowEnd = time.UnixMilli(k.Start).UTC(), time.UnixMilli(k.End).UTC()
		return k.Key, r
	}).To(app+"-out", dsl.ProducedWith[string, Revenue](serde.String(), out))
	topo, err := b.Build()
	return topo, app, err
}

const statelessSteps = `
        - filter: value.amount > 100
        - mapValues: {order: value.orderid, amount: value.amount, city: value.city}
        - to: {topic: %s-out, value: avro}`

const windowedSteps = `
        - groupByKey: {}
        - window: {tumbling: 1m}
        - aggregate:
            initial: {orders: 0, revenue: 0.0}
            add: {orders: aggregate.orders + 1, revenue: aggregate.revenue + value.amount}
        - toStream: {}
        - to: {topic: %s-out, value: avro}`

func yamlTopology(dir, url, schemaFile, app, steps string) (*core.Topology, string, error) {
	text := fmt.Sprintf(`job: %s
registry: {url: %s}
topology:
  streams:
    orders: {topic: %s, key: string, value: {avro: {schema: %s}}}
  pipelines:
    - from: orders
      steps:`, app, url, inputTopic, schemaFile) + fmt.Sprintf(steps, app)
	path := filepath.Join(dir, app+".yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return nil, "", err
	}
	j, err := job.Load(path)
	if err != nil {
		return nil, "", err
	}
	topo, err := j.Compile(job.CompileOptions{RegistryURL: url})
	return topo, app, err
}

// measure runs topo until it has consumed every input record and made its
// final commit; the time from the first batch of input it fetched to that
// commit. (Consumed counts are reported once per poll, after the poll's
// records are processed, and the first poll of the filled topic holds most
// of it: 162,513 of 200,000 records on the embedded broker. Starting the
// clock at the first report of consumed records, as the bench first did,
// left those records out of the time and overstated both rates about
// five-fold.)
func measure(ctx context.Context, cfg Config, topo *core.Topology, appID, dir string) (float64, error) {
	fetched := new(firstFetch)
	app, err := core.New(topo, core.WithKafkaOptions(kgo.WithHooks(fetched)), core.WithBrokers(cfg.Brokers...), core.WithApplicationID(appID),
		core.WithStateDir(filepath.Join(dir, "state-"+appID)), core.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		return 0, err
	}
	defer deleteTopics(cfg, appID)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		return 0, err
	}
	err = kafka.EnsureTopics(ctx, kadm.NewClient(cl), cfg.Partitions, -1, nil, appID+"-out")
	cl.Close()
	if err != nil {
		return 0, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for app.Stats().Consumed < int64(cfg.Records) {
		select {
		case err := <-done:
			if err == nil {
				err = errors.New("stopped early")
			}
			return 0, err
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
	}
	commits := app.Stats().Commits
	cancel()
	var end time.Time
	for end.IsZero() {
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				return 0, err
			}
			end = time.Now()
			done = nil
		case <-time.After(time.Millisecond):
			if app.Stats().Commits > commits {
				end = time.Now()
			}
		}
	}
	if done != nil {
		<-done
	}
	first := fetched.at.Load()
	if first == 0 {
		return 0, errors.New("no fetch of the input seen")
	}
	return float64(cfg.Records) / end.Sub(time.Unix(0, first)).Seconds(), nil
}

// firstFetch is a franz-go hook noting when the first batch of the input
// topic was read from a fetch response: processing starts right after.
type firstFetch struct{ at atomic.Int64 }

func (f *firstFetch) OnFetchBatchRead(_ kgo.BrokerMetadata, topic string, _ int32, _ kgo.FetchBatchMetrics) {
	if topic == inputTopic && f.at.Load() == 0 {
		f.at.CompareAndSwap(0, time.Now().UnixNano())
	}
}

func deleteTopics(cfg Config, app string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	all, err := adm.ListTopics(ctx)
	if err != nil {
		return
	}
	var mine []string
	for _, t := range all.Names() {
		if strings.HasPrefix(t, app+"-") {
			mine = append(mine, t)
		}
	}
	if len(mine) > 0 {
		_, _ = adm.DeleteTopics(ctx, mine...)
	}
}
