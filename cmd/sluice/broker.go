package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/broker"
)

// newBrokerCmd returns `sluice broker`, which serves an embedded
// Kafka-protocol broker until interrupted.
func newBrokerCmd() *cobra.Command {
	var cfg broker.Config
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run an embedded Kafka-compatible broker for development and demos",
		Long: `Run an embedded, single-node Kafka-compatible broker (franz-go's kfake) for
development, tests and demos. Any Kafka client (librdkafka tools, Java
clients, franz-go) can list metadata, produce, consume in groups and use
transactions through it. Topics are auto-created on first use with
--partitions partitions. It is not a production broker: production uses a
real Kafka-compatible cluster.

Without --data-dir all data lives in memory and is lost on exit. With
--data-dir the broker keeps its state there across restarts. Stop it with
Ctrl-C (SIGINT) or SIGTERM so that it saves cleanly: after a kill -9 or a
crash, a topic that was auto-created (rather than created explicitly, e.g.
with kafka-topics.sh or kadm) since the last topic change is recovered
from its files on the next start, with a warning in the log; record
batches are not fsynced, so a machine crash may lose the latest writes.

The broker advertises the --listen host to clients; with a wildcard host
(0.0.0.0) it listens everywhere but advertises 127.0.0.1.

With --tls-cert and --tls-key it serves TLS only; with --user it requires
SASL (every user is a superuser): together they exercise the SASL_SSL path
that production clusters use (see docs/kafka.md).`,
		Example: `  sluice broker
  sluice broker --listen 127.0.0.1:19092 --data-dir ./kafka-data --partitions 8
  sluice broker --tls-cert broker.pem --tls-key broker-key.pem --user app:secret   # SASL_SSL, SCRAM-SHA-512`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Warnings (transaction timeouts, recovered topics) and errors only:
			// the broker logs every request at debug level.
			cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			b, err := broker.Start(cfg)
			if err != nil {
				return err
			}
			security := "PLAINTEXT"
			switch {
			case cfg.TLSCertFile != "" && len(cfg.Users) > 0:
				security = "SASL_SSL"
			case cfg.TLSCertFile != "":
				security = "SSL"
			case len(cfg.Users) > 0:
				security = "SASL_PLAINTEXT"
			}
			where := "in memory, lost on exit"
			if cfg.DataDir != "" {
				where = "data dir: " + cfg.DataDir
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "sluice broker: serving Kafka protocol on %s, %s (%s)\n", strings.Join(b.Addrs(), ","), security, where)
			<-cmd.Context().Done()
			b.Close()
			fmt.Fprintln(out, "sluice broker: stopped")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", broker.DefaultListen, "host:port to serve the Kafka protocol on and advertise to clients (port 0 picks a free port)")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory to persist topics, records and group offsets in (default: memory only)")
	f.Int32Var(&cfg.Partitions, "partitions", broker.DefaultPartitions, "partitions of auto-created topics")
	f.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate: serve TLS only (clients: security.protocol=SSL or SASL_SSL)")
	f.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&cfg.SASLMechanism, "sasl-mechanism", "", "require SASL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default SCRAM-SHA-512 when --user is given)")
	f.StringArrayVar(&cfg.Users, "user", nil, "a SASL user as NAME:PASSWORD (repeatable); any user makes SASL required")
	return cmd
}
