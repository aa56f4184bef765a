package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/bench"
	"github.com/sluicehq/sluice/internal/broker"
)

func newBenchCmd() *cobra.Command {
	var cfg bench.Config
	var cpuProfile, only string
	var kf *kafkaFlags
	var pipelines []string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the stateless pipeline against a plain franz-go consume→produce loop on the same broker",
		Long: `bench fills an input topic, then runs, in this one process and on the same broker,
a plain franz-go consume→produce loop and the equivalent Sluice pipeline, at-least-once
and exactly-once, and prints records/s for each and the ratio. Without --brokers (or
bootstrap.servers in --kafka-config) it starts an embedded broker in-process.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Brokers, cfg.KafkaOptions, err = kf.external(cmd.Context()); err != nil {
				return err
			}
			if len(cfg.Brokers) == 0 {
				b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0"})
				if err != nil {
					return err
				}
				defer b.Close()
				cfg.Brokers = b.Addrs()
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
			cfg.Only = only
			for _, name := range pipelines {
				p, err := bench.ParsePipeline(name)
				if err != nil {
					return err
				}
				cfg.Pipelines = append(cfg.Pipelines, p)
			}
			out := cmd.OutOrStdout()
			if only == "restore" {
				fmt.Fprintf(out, "sluice bench: restore of %d records, %d partitions, brokers %v\n\n", cfg.Records, cfg.Partitions, cfg.Brokers)
				_, err := bench.RunRestore(cmd.Context(), cfg, out)
				return err
			}
			fmt.Fprintf(out, "sluice bench: %d records of %d bytes, %d partitions, brokers %v\n\n", cfg.Records, cfg.ValueBytes, cfg.Partitions, cfg.Brokers)
			_, err = bench.RunStateless(cmd.Context(), cfg, out)
			return err
		},
	}
	cmd.AddCommand(newBenchConnectorsCmd(), newBenchJobsCmd())
	f := cmd.Flags()
	kf = addKafkaFlags(f, true)
	f.IntVar(&cfg.Records, "records", 1_000_000, "records per run")
	f.IntVar(&cfg.ValueBytes, "value-bytes", 100, "value size in bytes")
	f.Int32Var(&cfg.Partitions, "partitions", 4, "input/output partitions")
	f.DurationVar(&cfg.Commit, "commit-interval", 100*time.Millisecond, "exactly-once commit interval (Sluice and the transactional baseline)")
	f.IntVar(&cfg.Rounds, "rounds", 1, "alternating rounds; the median of each is reported")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	f.StringSliceVar(&pipelines, "pipelines", nil, "Sluice pipelines to run, comma-separated: bytes, bytes-metrics, string, count, count-nocache, join (default: all; the plain loop always runs)")
	f.StringVar(&only, "only", "", "run only at_least_once, exactly_once_v2 or restore (the state restore benchmark); default: both guarantees")
	return cmd
}
