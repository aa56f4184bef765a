// Command wordcount is the Kafka Streams classic: it reads lines from
// "streams-plaintext-input" (string values), splits them into lower-cased
// words on whitespace, counts each word, and writes the running counts to
// "streams-wordcount-output" with the word as a string key and the count
// as an 8-byte big-endian int64 (byte-compatible with Kafka's
// LongSerializer). The counts live in a Pebble store backed by a
// changelog topic, so they survive restarts; both topics are created with 4
// partitions when missing. It runs until interrupted.
//
//	go run ./cmd/sluice broker &
//	go run ./examples/wordcount --brokers 127.0.0.1:9092 --guarantee exactly_once_v2
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
	appID := flag.String("app-id", "wordcount", "application id (consumer group and internal topic prefix)")
	guarantee := flag.String("guarantee", string(core.AtLeastOnce), "processing guarantee: exactly_once_v2 or at_least_once")
	instanceID := flag.String("instance-id", "", "static group membership id: a restarted instance with the same id resumes at once")
	stateDir := flag.String("state-dir", "", "directory for local state (default: the system temp dir)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, strings.Split(*brokers, ","), *appID, *guarantee, *instanceID, *stateDir); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
}

// Topology builds the word count topology.
func Topology() (*core.Topology, error) {
	b := dsl.NewBuilder()
	lines := dsl.Stream(b, "streams-plaintext-input", dsl.ConsumedWith(serde.String(), serde.String()))
	words := dsl.FlatMapValues(lines, func(line string) []string { return strings.Fields(strings.ToLower(line)) })
	counts := dsl.GroupBy(words, func(_, word string) string { return word }).
		Count(dsl.MaterializedAs[string, int64]("counts-store"))
	counts.ToStream().To("streams-wordcount-output", dsl.ProducedWith(serde.String(), serde.Int64()))
	return b.Build()
}

func run(ctx context.Context, brokers []string, appID, guarantee, instanceID, stateDir string) error {
	g, err := core.ParseProcessingGuarantee(guarantee)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = kafka.EnsureTopics(setupCtx, kadm.NewClient(cl), 4, -1, nil, "streams-plaintext-input", "streams-wordcount-output")
	cancel()
	cl.Close()
	if err != nil {
		return err
	}
	topo, err := Topology()
	if err != nil {
		return err
	}
	opts := []core.Option{
		core.WithBrokers(brokers...),
		core.WithApplicationID(appID),
		core.WithProcessingGuarantee(g),
		core.WithInstanceID(instanceID),
		core.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))),
	}
	if stateDir != "" {
		opts = append(opts, core.WithStateDir(stateDir))
	}
	app, err := core.New(topo, opts...)
	if err != nil {
		return err
	}
	return app.Run(ctx)
}
