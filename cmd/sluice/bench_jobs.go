package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/jobbench"
)

// newBenchJobsCmd returns `sluice bench jobs`.
func newBenchJobsCmd() *cobra.Command {
	var cfg jobbench.Config
	var brokers, cpuProfile string
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "Measure pipelines declared in job YAML against the same pipelines in the Go DSL on typed structs",
		Long: `Runs a stateless pipeline (filter, projection to a record) and a windowed one
(group by key, tumbling window, aggregate) over Avro values, each written once
with the Go DSL on typed structs and once as a job's YAML topology, in this
process on the same broker and registry, and prints records/s and the ratio.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if brokers == "" {
				b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0"})
				if err != nil {
					return err
				}
				defer b.Close()
				cfg.Brokers = b.Addrs()
			} else {
				cfg.Brokers = strings.Split(brokers, ",")
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sluice bench jobs: brokers %v\n\n", cfg.Brokers)
			return jobbench.Run(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&brokers, "brokers", "", "Kafka brokers (default: an embedded in-process broker)")
	f.IntVar(&cfg.Records, "records", 500_000, "records per run")
	f.Int32Var(&cfg.Partitions, "partitions", 4, "input partitions")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	f.IntVar(&cfg.Rounds, "rounds", 1, "alternating rounds; the median of each is reported")
	return cmd
}
