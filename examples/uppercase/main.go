// Command uppercase is the Sluice hello-world: it reads topic "text-lines"
// (string keys and values) and writes each value upper-cased, with the same
// key, to "uppercased-text-lines". Both topics are created with 4 partitions
// when missing. It runs until interrupted.
//
//	go run ./cmd/sluice broker &            # or any Kafka cluster
//	go run ./examples/uppercase --brokers 127.0.0.1:9092 --guarantee exactly_once_v2
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

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated Kafka seed brokers")
	appID := flag.String("app-id", "uppercase", "application id (consumer group and internal topic prefix)")
	guarantee := flag.String("guarantee", string(core.AtLeastOnce), "processing guarantee: exactly_once_v2 or at_least_once")
	instanceID := flag.String("instance-id", "", "static group membership id: a restarted instance with the same id resumes at once")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, strings.Split(*brokers, ","), *appID, *guarantee, *instanceID); err != nil {
		fmt.Fprintln(os.Stderr, "uppercase:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, brokers []string, appID, guarantee, instanceID string) error {
	g, err := core.ParseProcessingGuarantee(guarantee)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = kafka.EnsureTopics(setupCtx, kadm.NewClient(cl), 4, -1, nil, "text-lines", "uppercased-text-lines")
	cancel()
	cl.Close()
	if err != nil {
		return err
	}

	b := dsl.NewBuilder()
	lines := dsl.Stream(b, "text-lines", dsl.ConsumedWith(serde.String(), serde.String()))
	dsl.MapValues(lines, strings.ToUpper).To("uppercased-text-lines")
	topo, err := b.Build()
	if err != nil {
		return err
	}
	app, err := core.New(topo,
		core.WithBrokers(brokers...),
		core.WithApplicationID(appID),
		core.WithProcessingGuarantee(g),
		core.WithInstanceID(instanceID),
		core.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))),
	)
	if err != nil {
		return err
	}
	return app.Run(ctx)
}
