// Package httpconn is Sluice's http connector type: a webhook receiver
// source (HTTP requests into Kafka, each answered 2xx only once its records
// are durably in Kafka) and a sink that sends records as batched HTTP
// requests to a templated URL, with Confluent's HTTP Sink connector config
// names.
//
// Register adds both to a registry; the sluice binary does that through
// connectors/bundled. A program that runs the source with listen.address
// on port 0 finds the bound address with [ListenAddr].
//
// The import path ends in /http; the package is named httpconn so that it
// does not shadow net/http where both are imported.
package httpconn

import (
	"errors"

	"github.com/sluicehq/sluice/connectors"
)

// Register adds the http source and the http sink to reg.
func Register(reg *connectors.Registry) error {
	return errors.Join(
		reg.AddSource(sourcePlugin()),
		reg.AddSink(sinkPlugin()),
	)
}
