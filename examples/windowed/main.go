// Command windowed averages sensor readings per sensor over 10 s tumbling
// windows and writes only each window's final average. It reads topic
// "sensor-readings" (key: sensor id, value: a big-endian float64, as
// Kafka's DoubleSerializer writes) and writes "sensor-averages" (key: the
// sensor id with the window start, as Kafka Streams' TimeWindowedSerializer
// writes; value: the average as a float64). Both topics are created with 4
// partitions when missing. Unless --generate=false, it also writes one
// reading per sensor and second to the input topic, stamped with the
// current time. It runs until interrupted.
//
//	go run ./cmd/sluice broker &            # or any Kafka cluster
//	go run ./examples/windowed --brokers 127.0.0.1:9092
//
// Topology: readings are grouped by sensor (no repartition: the key is
// already the sensor id), windowed by 10 s tumbling windows with a 2 s
// grace period, and folded into a sum and a count per window in a window
// store. Suppress(UntilWindowCloses) holds every window's updates back
// until stream time passes the window's end plus the grace period, so
// exactly one average per sensor and window is written, and readings up to
// 2 s late still count. The suppression buffer is a changelogged store:
// a window open when the application stops is completed after a restart.
package main

import (
	"context"
	"errors"
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

// Topics read and written, and the windows.
const (
	ReadingsTopic = "sensor-readings"
	AveragesTopic = "sensor-averages"
	WindowSize    = 10 * time.Second
	Grace         = 2 * time.Second
)

// Sum is a window's running sum and count of readings.
type Sum struct {
	Total float64 `json:"total"`
	Count int64   `json:"count"`
}

type config struct {
	brokers        []string
	appID          string
	guarantee      string
	stateDir       string
	commitInterval time.Duration
	sensors        int
	generate       bool
	logger         *slog.Logger
}

func main() {
	var cfg config
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated Kafka seed brokers")
	flag.StringVar(&cfg.appID, "app-id", "sensor-averages", "application id (consumer group and internal topic prefix)")
	flag.StringVar(&cfg.guarantee, "guarantee", string(core.AtLeastOnce), "processing guarantee: exactly_once_v2 or at_least_once")
	flag.StringVar(&cfg.stateDir, "state-dir", "", "state directory (default: <tmp>/sluice)")
	flag.DurationVar(&cfg.commitInterval, "commit-interval", 0, "commit interval; results leave the record cache at commits (default: 30s, 100ms under exactly_once_v2)")
	flag.IntVar(&cfg.sensors, "sensors", 3, "number of sensors to generate readings for")
	flag.BoolVar(&cfg.generate, "generate", true, "write one reading per sensor and second to the input topic")
	flag.Parse()
	cfg.brokers = strings.Split(*brokers, ",")
	cfg.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "windowed:", err)
		os.Exit(1)
	}
}

// Topology builds the averaging topology.
func Topology() (*core.Topology, error) {
	b := dsl.NewBuilder()
	readings := dsl.Stream(b, ReadingsTopic, dsl.ConsumedWith(serde.String(), serde.Float64()))
	sums := dsl.WindowedAggregate(dsl.WindowedBy(readings.GroupByKey(), dsl.TumblingWindows(WindowSize, Grace)),
		func() Sum { return Sum{} },
		func(_ string, reading float64, s Sum) Sum { return Sum{Total: s.Total + reading, Count: s.Count + 1} },
		dsl.Materialized[string, Sum]{Name: "sensor-sums", Values: serde.JSON[Sum]()})
	final := sums.Suppress(dsl.UntilWindowCloses(dsl.UnboundedBuffer()).WithName("final-sums")).ToStream()
	dsl.MapValues(final, func(s Sum) float64 { return s.Total / float64(s.Count) }).
		To(AveragesTopic, dsl.ProducedWith(serde.TimeWindowed(serde.String(), WindowSize), serde.Float64()))
	return b.Build()
}

// Reading is the value sensor n reports at second i of the epoch: integral,
// so that sums and averages are exact.
func Reading(sensor int, second int64) float64 {
	return float64(10*sensor) + float64(second%7)
}

// ReadingRecord is the input record of sensor n at ts.
func ReadingRecord(sensor int, ts time.Time) *kgo.Record {
	v, _ := serde.Float64().Serialize(ReadingsTopic, Reading(sensor, ts.Unix()))
	return &kgo.Record{Topic: ReadingsTopic, Key: fmt.Appendf(nil, "sensor-%d", sensor), Value: v, Timestamp: ts}
}

func run(ctx context.Context, cfg config) error {
	g, err := core.ParseProcessingGuarantee(cfg.guarantee)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...), kgo.DefaultProduceTopic(ReadingsTopic))
	if err != nil {
		return err
	}
	defer cl.Close()
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = kafka.EnsureTopics(setupCtx, kadm.NewClient(cl), 4, -1, nil, ReadingsTopic, AveragesTopic)
	cancel()
	if err != nil {
		return err
	}
	topo, err := Topology()
	if err != nil {
		return err
	}
	opts := []core.Option{
		core.WithBrokers(cfg.brokers...),
		core.WithApplicationID(cfg.appID),
		core.WithProcessingGuarantee(g),
		core.WithStateDir(cfg.stateDir),
	}
	if cfg.commitInterval > 0 {
		opts = append(opts, core.WithCommitInterval(cfg.commitInterval))
	}
	if cfg.logger != nil {
		opts = append(opts, core.WithLogger(cfg.logger))
	}
	app, err := core.New(topo, opts...)
	if err != nil {
		return err
	}
	genDone := make(chan error, 1)
	if cfg.generate {
		go func() { genDone <- generate(ctx, cl, cfg.sensors) }()
	} else {
		close(genDone)
	}
	err = app.Run(ctx)
	if gerr := <-genDone; gerr != nil && !errors.Is(gerr, context.Canceled) && err == nil {
		err = fmt.Errorf("generate readings: %w", gerr)
	}
	return err
}

// generate writes one reading per sensor and second until ctx ends.
func generate(ctx context.Context, cl *kgo.Client, sensors int) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-tick.C:
			recs := make([]*kgo.Record, 0, sensors)
			for s := range sensors {
				recs = append(recs, ReadingRecord(s, now.Truncate(time.Millisecond)))
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				return err
			}
		}
	}
}
