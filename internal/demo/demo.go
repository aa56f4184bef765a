// Package demo is the main Sluice demo behind `sluice demo`: an embedded
// broker, generated input (with some corrupt records), a typed topology
// under exactly-once, a second instance joining and the first leaving
// mid-run, live progress, and a summary that verifies the output content.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/kafka"
	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/serde"
)

// Config configures a demo run.
type Config struct {
	Brokers []string // empty: start an embedded broker
	// KafkaOptions are franz-go options for every client of the demo (TLS,
	// SASL: `sluice demo --kafka-config`); default none. Ignored with the
	// embedded broker, which is PLAINTEXT.
	KafkaOptions []kgo.Opt
	// HTTPAddr, if set, serves /metrics (Prometheus: both instances'
	// engine metrics, and their state and counters under application ids
	// "sluice-demo/instance-a" and "-b"), /healthz (fails when an instance
	// stopped with an error) and /readyz (passes while an instance is
	// RUNNING), as `sluice run --http` does. Default: none.
	HTTPAddr  string
	Records   int // orders to generate, default 200,000
	Rate      int // orders per second, default 50,000
	Corrupt   int // corrupt records mixed in, default 25
	Guarantee core.ProcessingGuarantee
	Log       *slog.Logger // runtime log; default: discard
}

// Order is the demo's input value (JSON).
type Order struct {
	ID       int64   `json:"id"`
	Customer string  `json:"customer"`
	Amount   float64 `json:"amount"`
}

// Invoice is the demo's output value (JSON).
type Invoice struct {
	OrderID  int64   `json:"order_id"`
	Customer string  `json:"customer"`
	Amount   float64 `json:"amount"`
	Tax      float64 `json:"tax"`
	Total    float64 `json:"total"`
}

const (
	inTopic    = "demo-orders"
	largeTopic = "demo-large-invoices"
	smallTopic = "demo-small-invoices"
	dlqTopic   = "demo-orders-dlq"
	// revenueTopic receives, per customer and 1-second event-time window,
	// the window's final revenue (suppressed until the window closes).
	revenueTopic = "demo-revenue-per-second"
	// eventTimeSpan is the event time the generated orders cover (5 one-second
	// windows per customer, 4 of which close).
	eventTimeSpan = 5 * time.Second
	appID         = "sluice-demo"
)

// Topology builds the demo's topology: orders are parsed from JSON
// (corrupt ones go to a dead-letter topic), refunds (amount <= 0) are
// dropped, each order becomes an invoice with 20% tax, and invoices are
// split into large (total >= 500) and small ones.
func Topology() (*core.Topology, error) {
	b := dsl.NewBuilder()
	orders := dsl.Stream(b, inTopic, dsl.ConsumedWith(serde.String(), serde.JSON[Order]()))
	invoices := dsl.MapValues(orders.Filter(func(_ string, o Order) bool { return o.Amount > 0 }, "drop-refunds"),
		func(o Order) Invoice {
			tax := round2(o.Amount * 0.2)
			return Invoice{OrderID: o.ID, Customer: o.Customer, Amount: o.Amount, Tax: tax, Total: round2(o.Amount + tax)}
		}, "to-invoice").WithSerdes(serde.String(), serde.JSON[Invoice]())
	branches := invoices.Split("invoices-").
		Branch(func(_ string, inv Invoice) bool { return inv.Total >= 500 }, "large").
		DefaultBranch("small")
	branches["invoices-large"].To(largeTopic)
	branches["invoices-small"].To(smallTopic)

	// Stateful and windowed: revenue per customer per second of event time,
	// in a Pebble window store with a changelog; only each window's final
	// total is written, once the window has closed.
	revenue := dsl.WindowedAggregate(dsl.WindowedBy(invoices.GroupByKey(), dsl.TumblingWindows(time.Second, 0)),
		func() float64 { return 0 },
		func(_ string, inv Invoice, sum float64) float64 { return round2(sum + inv.Total) },
		dsl.Materialized[string, float64]{Name: "revenue-per-second", Values: serde.Float64()})
	finals := revenue.Suppress(dsl.UntilWindowCloses(dsl.UnboundedBuffer()).WithName("revenue-final")).ToStream()
	dsl.Map(finals, func(w serde.Windowed[string], total float64) (string, float64) {
		return fmt.Sprintf("%s@%d", w.Key, w.Start), total
	}).To(revenueTopic, dsl.ProducedWith(serde.String(), serde.Float64()))
	return b.Build()
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// Run runs the demo, writing progress and the summary to w.
func Run(ctx context.Context, cfg Config, w io.Writer) error {
	if cfg.Records <= 0 {
		cfg.Records = 200_000
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 50_000
	}
	if cfg.Corrupt < 0 {
		cfg.Corrupt = 0
	}
	if cfg.Guarantee == "" {
		cfg.Guarantee = core.ExactlyOnceV2
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(cfg.Brokers) == 0 {
		b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0"})
		if err != nil {
			return err
		}
		defer b.Close()
		cfg.Brokers = b.Addrs()
		cfg.KafkaOptions = nil
		fmt.Fprintf(w, "embedded broker on %s (kfake, in this process)\n", cfg.Brokers[0])
	}
	cl, err := kgo.NewClient(cfg.clientOpts(kgo.DefaultProduceTopic(inTopic))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(ctx, kadm.NewClient(cl), 4, -1, nil, inTopic, largeTopic, smallTopic, dlqTopic, revenueTopic); err != nil {
		return err
	}
	topo, err := Topology()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(topo.Describe()))
	fmt.Fprintf(w, "\ngenerating %d orders at %d/s (%d of them corrupt JSON) into %q; guarantee %s\n\n",
		cfg.Records, cfg.Rate, cfg.Corrupt, inTopic, cfg.Guarantee)

	exp, produced, err := generate(ctx, cl, cfg)
	if err != nil {
		return err
	}
	stateDir, err := os.MkdirTemp("", "sluice-demo-state-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)
	start := time.Now()
	var metrics *observe.Metrics
	if cfg.HTTPAddr != "" {
		metrics = observe.NewMetrics()
	}
	a, err := newInstance(cfg, "instance-a", filepath.Join(stateDir, "a"), metrics)
	if err != nil {
		return err
	}
	b, err := newInstance(cfg, "instance-b", filepath.Join(stateDir, "b"), metrics)
	if err != nil {
		return err
	}
	if metrics != nil {
		stop, err := serveHTTP(cfg.HTTPAddr, metrics, w, a, b)
		if err != nil {
			return err
		}
		defer stop()
	}
	runA, stopA := a.start(ctx)
	var runB <-chan error
	var stopB func()
	defer func() { // on every return, before the state directory goes
		stopA()
		if stopB != nil {
			stopB()
		}
	}()
	joined, left := false, false
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	total := func() core.Stats {
		sa, sb := a.app.Stats(), b.app.Stats()
		return core.Stats{Consumed: sa.Consumed + sb.Consumed, Produced: sa.Produced + sb.Produced,
			Dropped: sa.Dropped + sb.Dropped, Commits: sa.Commits + sb.Commits}
	}
	var last int64
	for {
		isTick := false
		select {
		case err := <-runA:
			if !left {
				return fmt.Errorf("demo: instance-a stopped: %w", err)
			}
			runA = nil
		case err := <-runB:
			return fmt.Errorf("demo: instance-b stopped: %w", err)
		case err := <-produced:
			if err != nil {
				return err
			}
			produced = nil
		case <-ctx.Done():
			return ctx.Err() // the deferred stops end both instances
		case <-tick.C:
			isTick = true
		}
		if !isTick {
			continue
		}
		st := total()
		sa, sb := a.app.Stats(), b.app.Stats()
		{
			fmt.Fprintf(w, "%5.1fs  processed %7d  out %7d  dead-lettered/dropped %5d  %7d rec/s  tasks a=%d b=%d  commits %d\n",
				time.Since(start).Seconds(), st.Consumed, st.Produced, st.Dropped, st.Consumed-last, sa.Tasks, sb.Tasks, st.Commits)
		}
		last = st.Consumed
		switch {
		case !joined && st.Consumed >= int64(cfg.Records)/3:
			fmt.Fprintln(w, "        -> scaling out: instance-b joins the group; tasks rebalance cooperatively")
			runB, stopB = b.start(ctx)
			joined = true
		case joined && !left && sb.Tasks > 0 && st.Consumed >= 2*int64(cfg.Records)/3:
			fmt.Fprintln(w, "        -> instance-a shuts down gracefully; instance-b takes over its tasks")
			stopA()
			left = true
		}
		// Done when the group committed every input offset ("processed"
		// also counts records re-processed after an aborted transaction).
		if left && produced == nil && allCommitted(ctx, cl) {
			break
		}
	}
	fmt.Fprintln(w, "        -> all input processed; stopping instance-b")
	stopB()
	elapsed := time.Since(start)
	return summarize(ctx, w, cfg, cl, exp, elapsed)
}

// allCommitted reports whether the demo's group has committed offsets up to
// the end of every input partition.
func allCommitted(ctx context.Context, cl *kgo.Client) bool {
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, inTopic)
	if err != nil {
		return false
	}
	committed, err := adm.FetchOffsets(ctx, appID)
	if err != nil {
		return false
	}
	done := true
	ends.Each(func(o kadm.ListedOffset) {
		if c, ok := committed.Lookup(o.Topic, o.Partition); !ok || c.At < o.Offset {
			done = false
		}
	})
	return done
}

type instance struct {
	app  *core.App
	name string
}

func newInstance(cfg Config, name, stateDir string, metrics *observe.Metrics) (*instance, error) {
	topo, err := Topology()
	if err != nil {
		return nil, err
	}
	opts := []core.Option{}
	if metrics != nil {
		opts = append(opts, core.WithMetrics(metrics.Engine()))
	}
	app, err := core.New(topo, append(opts,
		core.WithBrokers(cfg.Brokers...),
		core.WithKafkaOptions(cfg.KafkaOptions...),
		core.WithApplicationID(appID),
		core.WithProcessingGuarantee(cfg.Guarantee),
		core.WithInstanceID(name),
		core.WithStateDir(stateDir), // one state directory per instance
		core.WithSessionTimeout(10*time.Second),
		core.WithDeserializationHandler(core.DeadLetterTo(dlqTopic, cfg.Log)),
		core.WithLogger(cfg.Log.With("instance", name)),
	)...)
	if err != nil {
		return nil, err
	}
	if metrics != nil {
		if err := metrics.WatchApp(appID+"/"+name, app); err != nil {
			return nil, err
		}
	}
	return &instance{app: app, name: name}, nil
}

// serveHTTP serves metrics and probes on addr. The demo stops instance-a
// on purpose midway, so liveness fails only on an instance that stopped
// with an error, and readiness needs one instance RUNNING, not both.
func serveHTTP(addr string, m *observe.Metrics, w io.Writer, instances ...*instance) (func(), error) {
	live := func() error {
		for _, in := range instances {
			if in.app.State() == core.StateError {
				return fmt.Errorf("%s stopped with an error", in.name)
			}
		}
		return nil
	}
	ready := func() error {
		var states []string
		for _, in := range instances {
			if in.app.State() == core.StateRunning {
				return nil
			}
			states = append(states, fmt.Sprintf("%s %s", in.name, in.app.State()))
		}
		return fmt.Errorf("no instance is RUNNING (%s)", strings.Join(states, ", "))
	}
	bound, stop, err := observe.Serve(addr, observe.Handler(m, observe.Checks{Live: []observe.Probe{live}, Ready: []observe.Probe{ready}}))
	if err != nil {
		return nil, fmt.Errorf("demo: --http: %w", err)
	}
	fmt.Fprintf(w, "metrics and health on http://%s (/metrics, /healthz, /readyz)\n", bound)
	return stop, nil
}

// clientOpts are the options of a demo client: the seed brokers,
// KafkaOptions, then more.
func (c Config) clientOpts(more ...kgo.Opt) []kgo.Opt {
	opts := append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, c.KafkaOptions...)
	return append(opts, more...)
}

func (in *instance) start(ctx context.Context) (<-chan error, func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- in.app.Run(ctx) }()
	var once sync.Once
	return done, func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// generate produces the orders at the configured rate in the background
// and returns the invoices the topology must write, keyed by order id.
func generate(ctx context.Context, cl *kgo.Client, cfg Config) (expected, <-chan error, error) {
	want := make(map[int64]Invoice, cfg.Records)
	wantRevenue := map[string]float64{}
	customers := []string{"ada", "grace", "linus", "ken", "barbara", "edsger", "margaret", "dennis"}
	base := time.Now().Truncate(time.Second).Add(-time.Hour)
	orderSpacing := eventTimeSpan / time.Duration(cfg.Records)
	recs := make([]*kgo.Record, 0, cfg.Records+cfg.Corrupt)
	corruptEvery := 0
	if cfg.Corrupt > 0 {
		corruptEvery = cfg.Records / cfg.Corrupt
	}
	for i := range cfg.Records {
		o := Order{ID: int64(i), Customer: customers[i%len(customers)], Amount: float64((i*7919)%1000) - 50}
		v, err := json.Marshal(o)
		if err != nil {
			return expected{}, nil, err
		}
		recs = append(recs, &kgo.Record{Key: []byte(o.Customer), Value: v, Timestamp: base.Add(time.Duration(i) * orderSpacing)})
		if o.Amount > 0 {
			tax := round2(o.Amount * 0.2)
			inv := Invoice{OrderID: o.ID, Customer: o.Customer, Amount: o.Amount, Tax: tax, Total: round2(o.Amount + tax)}
			want[o.ID] = inv
			ts := base.Add(time.Duration(i) * orderSpacing).UnixMilli()
			k := fmt.Sprintf("%s@%d", o.Customer, ts-ts%1000)
			wantRevenue[k] = round2(wantRevenue[k] + inv.Total)
		}
		if corruptEvery > 0 && i%corruptEvery == corruptEvery-1 && len(recs)-i-1 < cfg.Corrupt {
			recs = append(recs, &kgo.Record{Key: []byte("corrupt"), Value: []byte(`{"id": not json`), Timestamp: base.Add(time.Duration(i) * orderSpacing)})
		}
	}
	done := make(chan error, 1)
	go func() {
		const batch = 1000
		interval := time.Duration(float64(time.Second) * batch / float64(cfg.Rate))
		next := time.Now()
		for i := 0; i < len(recs); i += batch {
			if err := cl.ProduceSync(ctx, recs[i:min(i+batch, len(recs))]...).FirstErr(); err != nil {
				done <- fmt.Errorf("demo: produce input: %w", err)
				return
			}
			next = next.Add(interval)
			time.Sleep(time.Until(next))
		}
		done <- nil
	}()
	return expected{invoices: want, revenue: wantRevenue}, done, nil
}

// expected is what the demo's outputs must contain.
type expected struct {
	invoices map[int64]Invoice
	revenue  map[string]float64 // "customer@windowStart" -> total
}

// summarize reads the outputs read_committed and checks them against the
// expected invoices: every one exactly once, in the right topic.
func summarize(ctx context.Context, w io.Writer, cfg Config, cl *kgo.Client, exp expected, elapsed time.Duration) error {
	want := exp.invoices
	counts := map[string]int{}
	seen := map[int64]int{}
	var wrong []string
	for _, topic := range []string{largeTopic, smallTopic, dlqTopic} {
		recs, err := readAll(ctx, cfg, topic)
		if err != nil {
			return err
		}
		counts[topic] = len(recs)
		if topic == dlqTopic {
			continue
		}
		for _, r := range recs {
			var inv Invoice
			if err := json.Unmarshal(r.Value, &inv); err != nil {
				wrong = append(wrong, fmt.Sprintf("%s offset %d: %v", topic, r.Offset, err))
				continue
			}
			seen[inv.OrderID]++
			exp, ok := want[inv.OrderID]
			large := exp.Total >= 500
			if !ok || inv != exp || (topic == largeTopic) != large {
				wrong = append(wrong, fmt.Sprintf("%s: unexpected invoice %+v", topic, inv))
			}
		}
	}
	var missing, dups int
	for id := range want {
		switch seen[id] {
		case 0:
			missing++
		case 1:
		default:
			dups++
		}
	}
	fmt.Fprintf(w, "\nsummary after %v:\n", elapsed.Round(100*time.Millisecond))
	fmt.Fprintf(w, "  input:   %d orders + %d corrupt records\n", cfg.Records, cfg.Corrupt)
	fmt.Fprintf(w, "  output:  %d large invoices, %d small invoices, %d dead letters (refunds dropped: %d)\n",
		counts[largeTopic], counts[smallTopic], counts[dlqTopic], cfg.Records-len(want))
	fmt.Fprintf(w, "  check:   %d expected invoices, %d missing, %d duplicated, %d wrong (read_committed)\n",
		len(want), missing, dups, len(wrong))
	for i, s := range wrong {
		if i == 5 {
			fmt.Fprintf(w, "  ... and %d more\n", len(wrong)-5)
			break
		}
		fmt.Fprintln(w, "   ", s)
	}
	// Windowed final results: every emitted window exactly once, with the
	// exact total. The newest window of each partition stays open (no later
	// record moves stream time past its end), as in Kafka Streams.
	revRecs, err := readAll(ctx, cfg, revenueTopic)
	if err != nil {
		return err
	}
	emitted := map[string]int{}
	var revWrong []string
	for _, r := range revRecs {
		emitted[string(r.Key)]++
		total, derr := serde.Float64().Deserialize(revenueTopic, r.Value)
		if derr != nil || total != exp.revenue[string(r.Key)] {
			revWrong = append(revWrong, fmt.Sprintf("%s: got %v, want %v", r.Key, total, exp.revenue[string(r.Key)]))
		}
	}
	revDup := 0
	for _, n := range emitted {
		if n > 1 {
			revDup++
		}
	}
	fmt.Fprintf(w, "  windows: %d final per-customer revenue totals for 1 s windows (of %d windows; the newest stay open), %d duplicated, %d wrong\n",
		len(emitted), len(exp.revenue), revDup, len(revWrong))
	for i, s := range revWrong {
		if i == 3 {
			break
		}
		fmt.Fprintln(w, "   ", s)
	}
	if len(emitted) == 0 || len(revWrong) > 0 || (cfg.Guarantee == core.ExactlyOnceV2 && revDup > 0) {
		return errors.New("demo: windowed final results are wrong")
	}
	exactlyOnce := missing == 0 && dups == 0 && len(wrong) == 0 && counts[dlqTopic] == cfg.Corrupt
	if cfg.Guarantee == core.ExactlyOnceV2 && !exactlyOnce {
		return errors.New("demo: output does not match the input exactly once")
	}
	if missing > 0 || len(wrong) > 0 {
		return errors.New("demo: output is missing or has wrong records")
	}
	if exactlyOnce {
		fmt.Fprintln(w, "  result:  every order is in the output exactly once, every closed window's total is exact and final, corrupt records are in the dead-letter topic")
	} else {
		fmt.Fprintf(w, "  result:  nothing lost (%d duplicates are allowed at-least-once)\n", dups)
	}
	return nil
}

// readAll reads a topic up to its last stable offsets, read_committed.
// Control records (transaction markers) are kept so that a partition
// ending in a marker is known to be read to its end; they are not
// returned. A partition that makes no progress for 30 s is an error naming
// it, never a silently short result.
func readAll(ctx context.Context, cfg Config, topic string) ([]*kgo.Record, error) {
	cl, err := kgo.NewClient(cfg.clientOpts(kgo.ConsumeTopics(topic), kgo.KeepControlRecords(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	progress := time.Now()
	for len(left) > 0 {
		if time.Since(progress) > 30*time.Second {
			return nil, fmt.Errorf("demo: read %q: no progress for 30 s; partitions not read to their end (partition: last stable offset): %v", topic, left)
		}
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			progress = time.Now()
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return out, nil
}
