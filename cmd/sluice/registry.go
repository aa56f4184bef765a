package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/serde/registry"
)

func newRegistryCmd() *cobra.Command {
	var (
		listen    string
		kf        *kafkaFlags
		topic     string
		basicAuth string
		tlsCert   string
		tlsKey    string
		httpAddr  string
	)
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run a Confluent-compatible Schema Registry (Avro) backed by a Kafka topic",
		Long: "Serves the Confluent Schema Registry REST API. State lives in a compacted " +
			"single-partition topic on the cluster, so several instances share ids and state survives restarts. " +
			"With --tls-cert and --tls-key it serves HTTPS; with --basic-auth it requires HTTP basic auth.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if (tlsCert == "") != (tlsKey == "") {
				return errors.New("registry: --tls-cert and --tls-key go together: give both to serve HTTPS")
			}
			var tlsConfig *tls.Config
			if tlsCert != "" {
				cert, err := tls.LoadX509KeyPair(tlsCert, tlsKey)
				if err != nil {
					return fmt.Errorf("registry: --tls-cert %s with --tls-key %s: %w", tlsCert, tlsKey, err)
				}
				tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			}
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
			var metrics *observe.Metrics
			if httpAddr != "" {
				metrics = observe.NewMetrics()
				opts = append(opts, registry.WithHandlerWrapper(func(h http.Handler) http.Handler {
					wrapped, err := metrics.InstrumentRegistry(h)
					if err != nil { // a fresh Metrics cannot hold these names already
						fmt.Fprintln(cmd.ErrOrStderr(), "registry: request metrics off:", err)
						return h
					}
					return wrapped
				}))
			}
			if basicAuth != "" {
				user, pass, ok := strings.Cut(basicAuth, ":")
				if !ok || user == "" {
					return errors.New("registry: --basic-auth: want user:password")
				}
				opts = append(opts, registry.WithBasicAuth(user, pass))
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("registry: listen on %s: %w", listen, err)
			}
			scheme := "http"
			if tlsConfig != nil {
				// Serve's http.Server speaks HTTP/1.1 over the TLS
				// listener, which is all registry clients need.
				ln = tls.NewListener(ln, tlsConfig)
				scheme = "https"
			}
			reg, err := registry.New(ctx, opts...)
			if err != nil {
				ln.Close()
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schema registry serving %s://%s (topic %s on %s)\n", scheme, ln.Addr(), topic, strings.Join(brokers, ","))
			if metrics != nil {
				// The registry is ready once New returned: it has read its
				// topic to the end.
				addr, stop, err := observe.Serve(httpAddr, observe.Handler(metrics, observe.Checks{}))
				if err != nil {
					_ = reg.Close()
					return fmt.Errorf("registry: --http: %w", err)
				}
				defer stop()
				fmt.Fprintf(cmd.OutOrStdout(), "metrics and health on http://%s (/metrics, /healthz, /readyz)\n", addr)
			}
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
	cmd.Flags().StringVar(&tlsCert, "tls-cert", "", "PEM certificate (chain) to serve HTTPS with, with --tls-key")
	cmd.Flags().StringVar(&tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	cmd.Flags().StringVar(&httpAddr, "http", "", "serve /metrics (Prometheus: request counts and latencies), /healthz and /readyz on this host:port")
	return cmd
}
