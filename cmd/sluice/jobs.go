package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/connectors/bundled"
	"github.com/sluicehq/sluice/internal/job"
	"github.com/sluicehq/sluice/kafka"
)

// newRunCmd returns `sluice run JOB.yaml`.
func newRunCmd() *cobra.Command {
	var (
		opts       job.RunOptions
		untilDone  bool
		verbose    bool
		instanceID string
		kf         *kafkaFlags
	)
	cmd := &cobra.Command{
		Use:   "run JOB.yaml",
		Short: "Run a job: its sources, streams topology and sinks, in this process",
		Long: `Run a job file until interrupted (Ctrl-C: sources finish their batch and
commit, the topology commits and leaves its group, sinks write and commit what
they read) or, with --until-done, until the bounded sources are drained and
everything they produced went through the topology into the sinks.

Without bootstrap.servers (in the job's kafka section, --kafka-config,
SLUICE_KAFKA_BOOTSTRAP_SERVERS or --brokers) the job runs on an embedded
broker (and registry) that keeps its data in the job's state directory, so a
restarted job resumes. --kafka-config applies a client properties file over
the job's kafka section: the same job file runs on a laptop and on a secured
cluster.
Several instances of the same job against one Kafka cluster share the work:
run each with its own --instance-id.`,
		Example: `  sluice run examples/jobs/orders-revenue.yaml --until-done
  sluice run examples/jobs/orders-revenue.yaml --kafka-config prod.properties --instance-id node-1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg := bundled.Registry()
			j, err := job.Lint(args[0], reg)
			if err != nil {
				return lintFailed(cmd, err)
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelInfo
			}
			opts.Plugins = reg
			opts.KafkaConfigFile = kf.configFile
			if len(kf.brokers) > 0 {
				opts.KafkaOverrides = map[string]string{kafka.BootstrapServers: strings.Join(kf.brokers, ",")}
			}
			opts.UntilDone = untilDone
			opts.InstanceID = instanceID
			opts.Out = cmd.OutOrStdout()
			opts.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			return job.Run(cmd.Context(), j, opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&untilDone, "until-done", false, "stop once bounded sources are drained and all output is committed")
	f.StringVar(&instanceID, "instance-id", "", "static group membership id of this instance (a restarted instance takes its work back at once)")
	f.DurationVar(&opts.Progress, "progress", 2*time.Second, "print progress this often (0: never)")
	f.BoolVar(&verbose, "verbose", false, "log at info level (default: warnings and errors)")
	f.StringVar(&opts.HTTPAddr, "http", "", "serve /metrics (Prometheus), /healthz and /readyz on this host:port")
	kf = addKafkaFlags(f, true)
	return cmd
}

// newLintCmd returns `sluice lint JOB.yaml...`.
func newLintCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lint JOB.yaml...",
		Short: "Check job files: every problem at once, as FILE:LINE:COL: message",
		Long: `Check job files without running them: unknown or misspelled keys, wrong
types, missing fields, references to undeclared streams, tables or topics,
expression and type errors (against .avsc files and the schemas sources
declare), and connector configurations (against their types' specs). Exits
non-zero if any file has a problem.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg := bundled.Registry()
			failed := false
			for _, path := range args {
				if _, err := job.Lint(path, reg); err != nil {
					failed = true
					fmt.Fprintln(cmd.OutOrStdout(), err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", path)
			}
			if failed {
				return errors.New("lint found problems")
			}
			return nil
		},
	}
}

// newJobSchemaCmd returns `sluice job-schema`: the JSON Schema of job files.
func newJobSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "job-schema",
		Short: "Print the JSON Schema of job files (for editors' YAML language servers)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := job.JSONSchema(bundled.Registry())
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(append(b, '\n'))
			return err
		},
	}
}

// lintFailed prints lint problems one per line and returns a short error.
func lintFailed(cmd *cobra.Command, err error) error {
	var ps job.Problems
	if errors.As(err, &ps) {
		fmt.Fprintln(cmd.ErrOrStderr(), ps.Error())
		return fmt.Errorf("the job has %d problem(s)", len(ps))
	}
	return err
}

// newTestCmd returns `sluice test JOB.test.yaml...`.
func newTestCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "test JOB.test.yaml...",
		Short: "Run a job's tests on the engine's test driver (no broker): inputs in, expected outputs out",
		Long: `Run the test cases kept next to a job (JOB.test.yaml tests JOB.yaml): each pipes
its input records into the topology on the engine's test driver, with stream
time from the records and an optional wall-clock advance, and compares what the
topology writes with the expected records. Failures print a diff.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg := bundled.Registry()
			failed := 0
			for _, path := range args {
				results, err := job.RunTests(path, reg, cmd.OutOrStdout())
				if err != nil {
					return lintFailed(cmd, err)
				}
				for _, r := range results {
					if !r.Passed {
						failed++
					}
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d test(s) failed", failed)
			}
			return nil
		},
	}
}

// newDescribeCmd returns `sluice describe JOB.yaml`.
func newDescribeCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "describe JOB.yaml",
		Short: "Show a job as a picture: sources → topics → sub-topologies → topics → sinks",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg := bundled.Registry()
			j, err := job.Lint(args[0], reg)
			if err != nil {
				return lintFailed(cmd, err)
			}
			out, err := j.Describe(reg, format)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), out)
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text (Kafka Streams' describe format), mermaid or dot")
	return cmd
}
