// Package schemas embeds the project's Avro schemas (the .avsc files in
// this directory), so examples and tests use the same files that
// `sluice schemas register|check` reads.
package schemas

import _ "embed"

var (
	// OrderV1 is order-v1.avsc: io.sluice.examples.Order, version 1.
	//
	//go:embed order-v1.avsc
	OrderV1 string

	// OrderV2 is order-v2.avsc: Order with currency (default "EUR"),
	// BACKWARD compatible with OrderV1.
	//
	//go:embed order-v2.avsc
	OrderV2 string

	// CustomerTotal is customer-total.avsc: io.sluice.examples.CustomerTotal.
	//
	//go:embed customer-total.avsc
	CustomerTotal string
)
