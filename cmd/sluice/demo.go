package main

import (
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/demo"
)

func newDemoCmd() *cobra.Command {
	var cfg demo.Config
	var brokers, guarantee string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the main demo on an embedded broker: exactly-once processing, scale-out, dead letters",
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, err := core.ParseProcessingGuarantee(guarantee)
			if err != nil {
				return err
			}
			cfg.Guarantee = g
			if brokers != "" {
				cfg.Brokers = strings.Split(brokers, ",")
			}
			if verbose {
				cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
			}
			return demo.Run(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&brokers, "brokers", "", "Kafka brokers (default: an embedded in-process broker)")
	f.IntVar(&cfg.Records, "records", 200_000, "orders to generate")
	f.IntVar(&cfg.Rate, "rate", 50_000, "orders per second")
	f.IntVar(&cfg.Corrupt, "corrupt", 25, "corrupt records to mix in (they go to the dead-letter topic)")
	f.StringVar(&guarantee, "guarantee", string(core.ExactlyOnceV2), "exactly_once_v2 or at_least_once")
	f.BoolVar(&verbose, "verbose", false, "print the runtime's log")
	return cmd
}
