// Package recordformat reads and writes record values in file formats:
// lines, JSON lines, CSV, Avro object container files and Parquet. The file
// and S3 connectors use it, so both read what either writes.
//
// SKELETON: the API below is the contract other packages build against;
// the implementation is being written.
package recordformat

import (
	"errors"
	"io"

	"github.com/sluicehq/sluice/connectors"
)

var errTODO = errors.New("recordformat: not implemented yet")

// Format names a file format.
type Format string

// The formats.
const (
	Lines   Format = "lines"   // one value per line: a string or bytes value, written as is
	JSON    Format = "json"    // JSON lines: one JSON document per line (Kafka Connect's JSON payload encoding)
	CSV     Format = "csv"     // RFC 4180 with a header row; struct values with primitive fields
	Avro    Format = "avro"    // Avro object container file; one schema per file
	Parquet Format = "parquet" // Parquet; one schema per file; writer only needs io.Writer, reader needs io.ReaderAt
)

// Formats lists every format, for specs' allowed values.
var Formats = []string{string(Lines), string(JSON), string(CSV), string(Avro), string(Parquet)}

// Extension returns the usual file name extension with its dot: ".txt",
// ".json", ".csv", ".avro", ".parquet".
func Extension(f Format) string { return "" }

// ErrSchemaChanged is returned by Writer.Write when a record's value schema
// differs from the schema the file was started with, in formats that hold
// one schema per file (Avro, Parquet, CSV): the caller closes the file and
// starts a new one, which takes the new schema.
var ErrSchemaChanged = errors.New("recordformat: value schema changed")

// WriterOptions adjusts a Writer.
type WriterOptions struct {
	// Compression: for Avro "null" (default), "deflate", "snappy", "zstandard";
	// for Parquet "none", "snappy" (default), "gzip", "zstd". Ignored by the
	// text formats (compress the stream outside).
	Compression string
	// DecimalNumeric: JSON decimals as numbers rather than base64 strings.
	DecimalNumeric bool
}

// Writer appends record values to one file in a format. Not safe for
// concurrent use.
type Writer interface {
	// Write appends rec's value (with rec.ValueSchema, nil for schemaless
	// values: text formats only). Avro, Parquet and CSV take their schema
	// (CSV: its header) from the first record.
	Write(rec *connectors.Record) error
	// Close completes the file (container footers) and flushes everything
	// into the underlying io.Writer, which it does not close.
	Close() error
}

// NewWriter returns a writer of format f onto w.
func NewWriter(f Format, w io.Writer, opts WriterOptions) (Writer, error) { return nil, errTODO }

// Item is one value read from a file.
type Item struct {
	Schema *connectors.Schema // nil for schemaless values (lines, JSON)
	Value  any
	// Pos is the position after this item, from which a reader resumes:
	// the byte offset for lines, JSON and CSV, the item's ordinal + 1 for
	// Avro and Parquet.
	Pos int64
}

// ItemError is returned by Reader.Next for an item that cannot be decoded
// (a malformed JSON line, a CSV row with the wrong field count). The reader
// has moved past it; Next may be called again.
type ItemError struct {
	Raw []byte // the item's bytes, for dead-lettering
	Pos int64  // the position after it
	Err error
}

func (e *ItemError) Error() string { return "recordformat: bad item: " + e.Err.Error() }
func (e *ItemError) Unwrap() error { return e.Err }

// ReaderOptions adjusts a Reader.
type ReaderOptions struct {
	// Start is the position to resume from (as Item.Pos returned): the
	// reader skips input before it. For text formats it is a byte offset
	// and the io.Reader must start at byte 0 (the reader discards up to
	// Start) unless StartAligned is set.
	Start int64
	// StartAligned says the io.Reader already starts at Start.
	StartAligned bool
	// Partial says the input may still grow (a file being tailed): a last
	// line without its newline is not returned; Next returns io.EOF before
	// it, and Pos stays before it.
	Partial bool
	// ValueSchema, if set, is the schema JSON and CSV values are coerced to
	// (otherwise JSON is schemaless and CSV yields a struct of optional
	// strings named by the header).
	ValueSchema *connectors.Schema
}

// Reader reads values from one file. Not safe for concurrent use.
type Reader interface {
	// Next returns the next item, io.EOF at the end of the input, or an
	// *ItemError for an item it skipped.
	Next() (Item, error)
}

// NewReader returns a reader of format f from r. Parquet needs r to be an
// io.ReaderAt with a Size() int64 method (an *os.File via a section,
// bytes.Reader); other formats read r sequentially.
func NewReader(f Format, r io.Reader, opts ReaderOptions) (Reader, error) { return nil, errTODO }
