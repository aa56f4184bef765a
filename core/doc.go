// Package core is Sluice's streams runtime: topologies of source, processor
// and sink nodes, the Processor API, tasks, group membership, commits and
// exactly-once processing on Kafka transactions.
//
// Most users build topologies with the typed DSL in package dsl and run them
// with [New] and [App.Run]. The Processor API ([Processor],
// [ProcessorContext]) is the lower level that the DSL compiles to:
//
//	topo := core.NewTopology()
//	core.AddSource(topo, "in", serde.String(), serde.String(), "text-lines")
//	core.AddProcessor(topo, "upper", func() core.Processor[string, string, string, string] { ... }, "in")
//	core.AddSink(topo, "out", serde.String(), serde.String(), core.ToTopic[string, string]("uppercased"), "upper")
//	app, err := core.New(topo, core.WithBrokers("127.0.0.1:9092"), core.WithApplicationID("upper"))
//	err = app.Run(ctx)
//
// See DESIGN.md at the repository root for the task model, goroutine
// ownership and the commit protocol.
package core
