// Package fileconn is Sluice's file connector type: a source that reads
// files (one path or globs; lines, JSON lines, CSV or Avro container files)
// into a topic, following growing files and surviving rotation, exactly once
// by position; and a sink that writes each topic-partition into rolling
// files (JSON lines, CSV, Avro, Parquet or lines) exactly once, by writing a
// hidden temporary file and renaming it to a name that holds its offset
// range.
//
// Register adds both to a registry; the sluice binary does that through
// connectors/bundled. File formats are those of internal/recordformat,
// shared with the S3 connectors, so each reads what the other writes.
//
// The package is named fileconn so that code importing it can still name
// its variables file.
package fileconn

import (
	"errors"

	"github.com/sluicehq/sluice/connectors"
)

// Register adds the file source and the file sink to reg.
func Register(reg *connectors.Registry) error {
	return errors.Join(
		reg.AddSource(sourcePlugin()),
		reg.AddSink(sinkPlugin()),
	)
}
