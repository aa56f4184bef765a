package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/connbench"
)

// newBenchConnectorsCmd returns `sluice bench connectors`.
func newBenchConnectorsCmd() *cobra.Command {
	var cfg connbench.Config
	var brokers, cpuProfile string
	cmd := &cobra.Command{
		Use:   "connectors",
		Short: "Measure the file source, file sink and s3 sink against plain baselines on the same broker",
		Long: `Runs, in this one process and on the same broker, each connector and a plain
baseline doing the same work, and prints records/s, the peak heap and the ratio:
the file source (bounded) against a plain franz-go producer of the same lines;
the file sink against a plain consume-and-write loop; the s3 sink, writing to an
S3 server in this process, against a plain consume-and-PutObject loop. Without
--brokers it starts an embedded broker in-process.`,
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
			fmt.Fprintf(cmd.OutOrStdout(), "sluice bench connectors: brokers %v\n\n", cfg.Brokers)
			return connbench.Run(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&brokers, "brokers", "", "Kafka brokers (default: an embedded in-process broker)")
	f.IntVar(&cfg.Records, "records", 1_000_000, "records per run")
	f.IntVar(&cfg.ValueBytes, "value-bytes", 100, "line / value size in bytes")
	f.Int32Var(&cfg.Partitions, "partitions", 4, "topic partitions")
	f.IntVar(&cfg.Rounds, "rounds", 1, "alternating rounds; the median of each is reported")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	f.StringSliceVar(&cfg.Only, "only", nil, "comparisons to run, comma-separated: file-source, file-sink, s3-sink (default: all)")
	return cmd
}
