package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/demo"
)

func newDemoCmd() *cobra.Command {
	var cfg demo.Config
	var guarantee string
	var verbose bool
	var kf *kafkaFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the main demo on an embedded broker: exactly-once processing, scale-out, dead letters",
		Example: `  sluice demo --http 127.0.0.1:9464
  sluice demo --kafka-config client.properties`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, err := core.ParseProcessingGuarantee(guarantee)
			if err != nil {
				return err
			}
			cfg.Guarantee = g
			if cfg.Brokers, cfg.KafkaOptions, err = kf.external(cmd.Context()); err != nil {
				return err
			}
			if verbose {
				cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
			}
			return demo.Run(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	kf = addKafkaFlags(f, true)
	f.StringVar(&cfg.HTTPAddr, "http", "", "serve /metrics (Prometheus), /healthz and /readyz on this host:port")
	f.IntVar(&cfg.Records, "records", 200_000, "orders to generate")
	f.IntVar(&cfg.Rate, "rate", 50_000, "orders per second")
	f.IntVar(&cfg.Corrupt, "corrupt", 25, "corrupt records to mix in (they go to the dead-letter topic)")
	f.StringVar(&guarantee, "guarantee", string(core.ExactlyOnceV2), "exactly_once_v2 or at_least_once")
	f.BoolVar(&verbose, "verbose", false, "print the runtime's log")
	return cmd
}
