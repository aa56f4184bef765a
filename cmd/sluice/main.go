// Command sluice is Sluice's single binary: an embedded broker and schema
// registry for development, schema tools, console producer/consumer, demos,
// and (later) job runs. Each sub-command lives in its own file and only
// parses flags before calling into the library packages.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Sluice: Kafka streams engine, connectors and tools in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Each sub-command file adds one constructor here.
	root.AddCommand(
		newBenchCmd(),
		newDemoCmd(),
		// sub-commands
		newRegistryCmd(),
		newBrokerCmd(),
		newSchemasCmd(),
		newProduceCmd(),
		newConsumeCmd(),
		newConnectorsCmd(),
		newRunCmd(),
		newLintCmd(),
		newTestCmd(),
		newDescribeCmd(),
		newJobSchemaCmd(),
	)
	return root
}
