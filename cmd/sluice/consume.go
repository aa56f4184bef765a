package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/console"
)

func newConsumeCmd() *cobra.Command {
	var (
		reg  registryFlags
		opts console.ConsumeOptions
		kf   *kafkaFlags
	)
	cmd := &cobra.Command{
		Use:   "consume --topic T --brokers B --registry URL [--from-beginning] [--max N] [--group G]",
		Short: "Print Avro records as JSON lines (like kafka-avro-console-consumer)",
		Long: "Prints one JSON object per record: topic, partition, offset, timestamp (ms), key_schema_id, key, " +
			"value_schema_id and value, keys and values in Avro's JSON encoding with the writer's schema. " +
			"Starts at the end of the topic unless --from-beginning.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.Brokers, opts.KafkaOpts, err = kf.connect(cmd.Context()); err != nil {
				return err
			}
			c, err := reg.client()
			if err != nil {
				return err
			}
			opts.Registry = c
			n, err := console.Consume(cmd.Context(), opts, cmd.OutOrStdout())
			fmt.Fprintf(os.Stderr, "consumed %d record(s)\n", n)
			return err
		},
	}
	reg.add(cmd, false)
	f := cmd.Flags()
	f.StringVar(&opts.Topic, "topic", "", "topic to consume")
	kf = addKafkaFlags(f, false)
	f.BoolVar(&opts.FromBeginning, "from-beginning", false, "start at the earliest offset (default: the end)")
	f.IntVar(&opts.Max, "max", 0, "exit after this many records (0: no limit)")
	f.StringVar(&opts.Group, "group", "", "consumer group to join and commit printed offsets for (default: none)")
	f.DurationVar(&opts.Idle, "timeout", 0, "exit after this long without a record (0: wait until interrupted)")
	f.StringVar(&opts.KeyFormat, "key-format", console.KeyAuto, "key format: auto (Avro if wire-format header, else text), avro or string")
	_ = cmd.MarkFlagRequired("topic")
	return cmd
}
