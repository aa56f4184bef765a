package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/bundled"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/connectcli"
)

// newConnectorsCmd returns `sluice connectors`: list, describe, run and
// the offsets tooling.
func newConnectorsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connectors",
		Short: "Source and sink connectors: list, describe, run, offsets",
	}
	cmd.AddCommand(newConnectorsListCmd(), newConnectorsDescribeCmd(), newConnectorsRunCmd(), newConnectorsOffsetsCmd())
	return cmd
}

func newConnectorsListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the connector, converter, transform and predicate types",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return connectcli.List(cmd.OutOrStdout(), bundled.Registry())
		},
	}
}

func newConnectorsDescribeCmd() *cobra.Command {
	var kind string
	cmd := &cobra.Command{
		Use:     "describe TYPE",
		Short:   "Show a type's documentation, configuration fields (types, defaults, allowed values) and an example",
		Example: "  sluice connectors describe file --kind sink\n  sluice connectors describe MaskField$Value",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return connectcli.Describe(cmd.OutOrStdout(), bundled.Registry(), args[0], connectors.Kind(kind))
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "source, sink, converter, transform or predicate (when a name has several kinds)")
	return cmd
}

func newConnectorsRunCmd() *cobra.Command {
	var (
		opts      connectcli.RunOptions
		guarantee string
		verbose   bool
		kf        *kafkaFlags
	)
	cmd := &cobra.Command{
		Use:   "run CONFIG...",
		Short: "Run connectors from configuration files (Kafka Connect's standalone mode, offsets in Kafka)",
		Long: `Run source and sink connectors until interrupted (Ctrl-C: finish the batch in
hand, commit, leave the groups). Each CONFIG is a Kafka Connect style
configuration with flat keys: a .properties file, a JSON object (or Kafka
Connect's REST form {"name":...,"config":{...}}), or YAML. A configuration
with topics or topics.regex is a sink, any other a source. Several workers
running the same configurations share the connectors' tasks.

With --guarantee exactly_once_v2, sources that support it write their
records and offsets in Kafka transactions (KIP-618).`,
		Example: `  sluice connectors run --brokers 127.0.0.1:9092 lines.properties
  sluice connectors run --guarantee exactly_once_v2 --until-done files-in.yaml files-out.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := core.ParseProcessingGuarantee(guarantee)
			if err != nil {
				return err
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelInfo
			}
			if opts.Brokers, opts.KafkaOptions, opts.CheckKafka, err = kf.options(); err != nil {
				return err
			}
			opts.Guarantee = g
			opts.Plugins = bundled.Registry()
			opts.Out = cmd.OutOrStdout()
			opts.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			return connectcli.Run(cmd.Context(), opts, args...)
		},
	}
	f := cmd.Flags()
	kf = addKafkaFlags(f, false)
	f.StringVar(&guarantee, "guarantee", string(core.AtLeastOnce), "processing guarantee: at_least_once or exactly_once_v2")
	f.StringVar(&opts.OffsetsTopic, "offsets-topic", "", "source offsets topic (default "+"sluice-connect-offsets"+")")
	f.StringVar(&opts.RegistryURL, "registry", "", "Schema Registry URL, the default schema.registry.url of converters")
	f.BoolVar(&opts.UntilDone, "until-done", false, "stop when every source has drained its input and every sink has written and committed it")
	f.DurationVar(&opts.Progress, "progress", 5*time.Second, "print each connector's status this often (0: never)")
	f.StringVar(&opts.InstanceID, "instance-id", "", "static group membership id of this worker: a restarted worker with the same id takes its tasks back at once (default: dynamic membership)")
	f.DurationVar(&opts.SessionTimeout, "session-timeout", 45*time.Second, "group session timeout: how long a crashed worker's tasks wait before moving")
	f.BoolVar(&verbose, "verbose", false, "log at info level (default: warnings and errors)")
	f.StringVar(&opts.HTTPAddr, "http", "", "serve /metrics (Prometheus), /healthz and /readyz on this host:port")
	return cmd
}

func newConnectorsOffsetsCmd() *cobra.Command {
	var (
		opts connectcli.OffsetsOptions
		kind string
		kf   *kafkaFlags
	)
	cmd := &cobra.Command{
		Use:   "offsets get|reset --connector NAME [--kind source|sink]",
		Short: "Read or reset a connector's committed offsets (Kafka Connect's KIP-875)",
		Long: `get prints the committed offsets as JSON in Kafka Connect's shape. reset deletes
them (source: tombstones in the offsets topic; sink: its consumer group), so the
connector starts from the beginning of its input next time; it refuses while
the connector runs on any worker.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"get", "reset"},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Kind = connectors.Kind(kind)
			if opts.Kind != connectors.KindSource && opts.Kind != connectors.KindSink {
				return fmt.Errorf("--kind %q: want source or sink", kind)
			}
			var err error
			if opts.Brokers, opts.KafkaOptions, err = kf.connect(cmd.Context()); err != nil {
				return err
			}
			switch args[0] {
			case "get":
				return connectcli.PrintOffsets(cmd.Context(), cmd.OutOrStdout(), opts)
			case "reset":
				return connectcli.ResetOffsets(cmd.Context(), cmd.OutOrStdout(), opts)
			}
			return fmt.Errorf("unknown offsets command %q (want get or reset)", args[0])
		},
	}
	f := cmd.Flags()
	kf = addKafkaFlags(f, false)
	f.StringVar(&opts.Connector, "connector", "", "the connector's name")
	f.StringVar(&kind, "kind", "source", "source or sink")
	f.StringVar(&opts.OffsetsTopic, "offsets-topic", "", "source offsets topic (default sluice-connect-offsets)")
	_ = cmd.MarkFlagRequired("connector")
	return cmd
}
