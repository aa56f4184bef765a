// Package recordformat reads and writes record values in file formats:
// lines, JSON lines, CSV, Avro object container files and Parquet. The file
// and S3 connectors use it, so both read what either writes.
//
// Writers stream: memory is bounded by one item (text formats), one Avro
// block or one Parquet row group, never by the file. Readers read
// sequentially (Parquet: through io.ReaderAt) with a bounded buffer, report
// undecodable items as [*ItemError] and go on, and can resume at a position
// (ReaderOptions.Start) and follow a growing file (ReaderOptions.Partial).
package recordformat

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sluicehq/sluice/connectors"
)

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
func Extension(f Format) string {
	switch f {
	case Lines:
		return ".txt"
	case JSON:
		return ".json"
	case CSV:
		return ".csv"
	case Avro:
		return ".avro"
	case Parquet:
		return ".parquet"
	}
	return ""
}

// ParseFormat returns the format named s (case-insensitive).
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if strings.EqualFold(f, s) {
			return Format(f), nil
		}
	}
	return "", fmt.Errorf("recordformat: unknown format %q (want one of %s)", s, strings.Join(Formats, ", "))
}

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
	// CSVSeparator is the CSV field separator; 0 means ','.
	CSVSeparator byte
	// RowGroupBytes bounds a Parquet row group: the writer flushes one when
	// its buffered (uncompressed) size reaches this. It is what bounds the
	// writer's memory. 0 means DefaultRowGroupBytes.
	RowGroupBytes int64

	avroBlockBytes int // tests: a smaller Avro block
}

// DefaultRowGroupBytes is WriterOptions.RowGroupBytes's default: 32 MiB.
const DefaultRowGroupBytes = 32 << 20

// BufferedSizer is implemented by writers that hold data in memory before
// it reaches the io.Writer (Parquet holds a row group, Avro a block):
// Buffered returns about how many bytes that is, so that a caller rolling
// files by size can count them.
type BufferedSizer interface {
	Buffered() int64
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
func NewWriter(f Format, w io.Writer, opts WriterOptions) (Writer, error) {
	switch f {
	case Lines:
		return newLinesWriter(w), nil
	case JSON:
		return newJSONWriter(w, opts), nil
	case CSV:
		return newCSVWriter(w, opts)
	case Avro:
		return newAvroWriter(w, opts)
	case Parquet:
		return newParquetWriter(w, opts)
	}
	return nil, fmt.Errorf("recordformat: unknown format %q", f)
}

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
	// MaxItemSize bounds one line, CSV row or Avro block, and so the
	// reader's buffer: a longer line or row is skipped and reported as an
	// *ItemError whose Raw holds its first 64 KiB. 0 means
	// DefaultMaxItemSize.
	MaxItemSize int
	// CSVSeparator is the CSV field separator; 0 means ','.
	CSVSeparator byte
}

// Tailer is implemented by the readers of every format but Parquet: a
// reader made with ReaderOptions.Partial can be switched out of it (when a
// rotated file is drained to its end and a last line without its newline
// must be returned) or into it.
type Tailer interface {
	SetPartial(partial bool)
}

// Reader reads values from one file. Not safe for concurrent use.
type Reader interface {
	// Next returns the next item, io.EOF at the end of the input, or an
	// *ItemError for an item it skipped. Any other error is final. After
	// io.EOF, Next may be called again: a reader of a growing input
	// (ReaderOptions.Partial) then returns what was appended.
	Next() (Item, error)
}

// NewReader returns a reader of format f from r. Parquet needs r to be an
// io.ReaderAt with a Size() int64 method (an *os.File via a section,
// bytes.Reader); other formats read r sequentially.
//
// Values are owned by the caller: the reader keeps no reference to them.
func NewReader(f Format, r io.Reader, opts ReaderOptions) (Reader, error) {
	if opts.MaxItemSize <= 0 {
		opts.MaxItemSize = DefaultMaxItemSize
	}
	if opts.Start < 0 {
		return nil, fmt.Errorf("recordformat: negative start position %d", opts.Start)
	}
	switch f {
	case Lines:
		return newLinesReader(r, opts), nil
	case JSON:
		return newJSONReader(r, opts), nil
	case CSV:
		return newCSVReader(r, opts)
	case Avro:
		return newAvroReader(r, opts)
	case Parquet:
		return newParquetReader(r, opts)
	}
	return nil, fmt.Errorf("recordformat: unknown format %q", f)
}
