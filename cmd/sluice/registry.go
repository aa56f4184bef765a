package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/serde/registry"
)

func newRegistryCmd() *cobra.Command {
	var (
		listen    string
		kf        *kafkaFlags
		topic     string
		basicAuth string
	)
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run a Confluent-compatible Schema Registry (Avro) backed by a Kafka topic",
		Long: "Serves the Confluent Schema Registry REST API. State lives in a compacted " +
			"single-partition topic on the cluster, so several instances share ids and state survives restarts.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			brokers, kopts, err := kf.connect(ctx)
			if err != nil {
				return err
			}
			opts := []registry.Option{
				registry.WithBrokers(brokers...),
				registry.WithKafkaOptions(kopts...),
				registry.WithTopic(topic),
				registry.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))),
			}
			if basicAuth != "" {
				user, pass, ok := strings.Cut(basicAuth, ":")
				if !ok || user == "" {
					return fmt.Errorf("registry: --basic-auth %q: want user:password", basicAuth)
				}
				opts = append(opts, registry.WithBasicAuth(user, pass))
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("registry: listen on %s: %w", listen, err)
			}
			reg, err := registry.New(ctx, opts...)
			if err != nil {
				ln.Close()
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schema registry serving http://%s (topic %s on %s)\n", ln.Addr(), topic, strings.Join(brokers, ","))
			served := make(chan error, 1)
			go func() { served <- reg.Serve(ln) }()
			select {
			case <-ctx.Done():
				return reg.Close()
			case err := <-served:
				closeErr := reg.Close()
				if errors.Is(err, registry.ErrClosed) {
					return closeErr
				}
				return errors.Join(err, closeErr)
			}
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8081", "host:port to serve the REST API on")
	kf = addKafkaFlags(cmd.Flags(), false)
	cmd.Flags().StringVar(&topic, "topic", "_schemas", "compacted single-partition topic holding the registry's state")
	cmd.Flags().StringVar(&basicAuth, "basic-auth", "", "require HTTP basic auth as user:password")
	return cmd
}
