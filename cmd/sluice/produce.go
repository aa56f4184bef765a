package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/console"
	"github.com/sluicehq/sluice/internal/schematool"
)

func newProduceCmd() *cobra.Command {
	var (
		reg                            registryFlags
		opts                           console.ProduceOptions
		kf                             *kafkaFlags
		valueSchemaFile, keySchemaFile string
	)
	cmd := &cobra.Command{
		Use:   "produce --topic T --brokers B --registry URL (--value-schema FILE | --value-subject S) [--parse-key [--key-separator SEP] [--key-schema FILE | --key-subject S]]",
		Short: "Produce Avro records from JSON lines on stdin (like kafka-avro-console-producer)",
		Long: "Reads one Avro JSON value per line (unions written as {\"type\": value}) and produces it in the " +
			"Confluent wire format. A schema file is registered under <topic>-value (<topic>-key); a subject's " +
			"latest version is used as is. Stops at the first bad line, naming it, and exits non-zero.",
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
			if valueSchemaFile != "" {
				if opts.ValueSchema, err = schematool.ReadSchemaFile(valueSchemaFile); err != nil {
					return err
				}
			}
			if keySchemaFile != "" {
				if opts.KeySchema, err = schematool.ReadSchemaFile(keySchemaFile); err != nil {
					return err
				}
			}
			n, err := console.Produce(cmd.Context(), opts, cmd.InOrStdin())
			fmt.Fprintf(os.Stderr, "produced %d record(s) to %s\n", n, opts.Topic)
			return err
		},
	}
	reg.add(cmd, false)
	f := cmd.Flags()
	f.StringVar(&opts.Topic, "topic", "", "topic to produce to")
	kf = addKafkaFlags(f, false)
	f.StringVar(&valueSchemaFile, "value-schema", "", "value schema .avsc file (registered under <topic>-value)")
	f.StringVar(&opts.ValueSubject, "value-subject", "", "use the latest value schema of this subject")
	f.BoolVar(&opts.ParseKey, "parse-key", false, "each line is key<separator>value")
	f.StringVar(&opts.KeySeparator, "key-separator", "\t", "separator between key and value with --parse-key")
	f.StringVar(&keySchemaFile, "key-schema", "", "key schema .avsc file (registered under <topic>-key); default: keys are plain text")
	f.StringVar(&opts.KeySubject, "key-subject", "", "use the latest key schema of this subject")
	_ = cmd.MarkFlagRequired("topic")
	return cmd
}
