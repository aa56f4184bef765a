package recordformat

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"unsafe"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
)

// maxRawKept bounds ItemError.Raw of an oversize item.
const maxRawKept = 64 << 10

// lineScanner splits the input into lines ending in '\n' (a '\r' before it
// is dropped), tracking byte positions. A line longer than the buffer limit
// is skipped and reported.
type lineScanner struct {
	in       *input
	start    int64
	started  bool
	beginErr error
	aligned  bool
	partial  bool
	scanned  int    // bytes of in.avail() already searched for '\n'
	skipping bool   // discarding the rest of an oversize line
	oversize []byte // the first bytes of that line
}

func newLineScanner(r io.Reader, opts ReaderOptions) *lineScanner {
	s := &lineScanner{start: opts.Start, aligned: opts.StartAligned, partial: opts.Partial}
	pos := int64(0)
	if opts.StartAligned {
		pos = opts.Start
	}
	s.in = newInput(r, pos, opts.MaxItemSize)
	return s
}

func (s *lineScanner) SetPartial(p bool) { s.partial = p }

func (s *lineScanner) begin() error {
	if s.started {
		return s.beginErr
	}
	s.started = true
	if err := s.in.skip(s.start); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("recordformat: start position %d is past the end of the input (%d bytes)", s.start, s.in.pos)
		}
		s.beginErr = err
	}
	return s.beginErr
}

// next returns the next line without its terminator; the slice is valid
// until the next call. An oversize line comes back as an *ItemError.
func (s *lineScanner) next() ([]byte, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	for {
		a := s.in.avail()
		if i := bytes.IndexByte(a[s.scanned:], '\n'); i >= 0 {
			n := s.scanned + i
			line := a[:n]
			s.in.consume(n + 1)
			s.scanned = 0
			if s.skipping {
				return nil, s.oversizeError()
			}
			return trimCR(line), nil
		}
		s.scanned = len(a)
		if s.skipping {
			s.in.consume(len(a))
			s.scanned = 0
		}
		switch err := s.in.fill(); err {
		case nil:
		case errBufferFull:
			s.oversize = append([]byte(nil), a[:min(len(a), maxRawKept)]...)
			s.skipping = true
			s.in.consume(len(a))
			s.scanned = 0
		case io.EOF:
			a = s.in.avail()
			if s.partial || (len(a) == 0 && !s.skipping) {
				return nil, io.EOF
			}
			s.in.consume(len(a))
			s.scanned = 0
			if s.skipping {
				return nil, s.oversizeError()
			}
			return trimCR(a), nil
		default:
			return nil, err
		}
	}
}

func (s *lineScanner) oversizeError() error {
	s.skipping = false
	raw := s.oversize
	s.oversize = nil
	return &ItemError{Raw: raw, Pos: s.in.pos,
		Err: fmt.Errorf("line longer than %d bytes (max item size; only its first %d bytes are kept)", s.in.max, len(raw))}
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

type linesReader struct {
	*lineScanner
	slab []byte // backs the strings of short lines
}

func newLinesReader(r io.Reader, opts ReaderOptions) *linesReader {
	return &linesReader{lineScanner: newLineScanner(r, opts)}
}

const slabSize = 32 << 10

func (l *linesReader) Next() (Item, error) {
	line, err := l.next()
	if err != nil {
		return Item{}, err
	}
	return Item{Value: l.str(line), Pos: l.in.pos}, nil
}

// str copies b into a string. Short lines are copied into a shared slab
// that is never written again once handed out (so the strings stay
// immutable): one allocation per 32 KiB of lines rather than one per line.
func (l *linesReader) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > slabSize/8 {
		return string(b)
	}
	if len(l.slab)+len(b) > cap(l.slab) {
		l.slab = make([]byte, 0, slabSize)
	}
	off := len(l.slab)
	l.slab = append(l.slab, b...)
	return unsafe.String(&l.slab[off], len(b))
}

type jsonReader struct {
	*lineScanner
	schema *connectors.Schema
}

func newJSONReader(r io.Reader, opts ReaderOptions) *jsonReader {
	return &jsonReader{lineScanner: newLineScanner(r, opts), schema: opts.ValueSchema}
}

func (j *jsonReader) Next() (Item, error) {
	for {
		line, err := j.next()
		if err != nil {
			return Item{}, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue // blank lines separate nothing in JSON lines
		}
		v, err := connectjson.Decode(line)
		if err == nil && j.schema != nil {
			v, err = connectjson.Coerce(j.schema, v)
		}
		if err != nil {
			return Item{}, &ItemError{Raw: append([]byte(nil), line...), Pos: j.in.pos, Err: err}
		}
		return Item{Schema: j.schema, Value: v, Pos: j.in.pos}, nil
	}
}

const writeBuffer = 64 << 10

type linesWriter struct {
	bw  *bufio.Writer
	buf []byte
}

func newLinesWriter(w io.Writer) *linesWriter {
	return &linesWriter{bw: bufio.NewWriterSize(w, writeBuffer)}
}

func (l *linesWriter) Write(rec *connectors.Record) error {
	var err error
	switch v := rec.Value.(type) {
	case string:
		_, err = l.bw.WriteString(v)
	case []byte:
		_, err = l.bw.Write(v)
	case nil:
	case bool:
		_, err = l.bw.Write(strconv.AppendBool(l.buf[:0], v))
	case int8, int16, int32, int64, float32, float64:
		l.buf = fmt.Append(l.buf[:0], v)
		_, err = l.bw.Write(l.buf)
	default:
		return fmt.Errorf("recordformat: lines: %s: the lines format writes string and bytes values, not %T (use format json)", rec.Where(), rec.Value)
	}
	if err != nil {
		return err
	}
	return l.bw.WriteByte('\n')
}

func (l *linesWriter) Buffered() int64 { return int64(l.bw.Buffered()) }
func (l *linesWriter) Close() error    { return l.bw.Flush() }

type jsonWriter struct {
	bw   *bufio.Writer
	buf  []byte
	opts connectjson.Options
}

func newJSONWriter(w io.Writer, opts WriterOptions) *jsonWriter {
	return &jsonWriter{bw: bufio.NewWriterSize(w, writeBuffer), opts: connectjson.Options{DecimalNumeric: opts.DecimalNumeric}}
}

func (j *jsonWriter) Write(rec *connectors.Record) error {
	b, err := connectjson.Append(j.buf[:0], rec.ValueSchema, rec.Value, j.opts)
	if err != nil {
		return fmt.Errorf("recordformat: json: %s: %w", rec.Where(), err)
	}
	b = append(b, '\n')
	j.buf = b
	_, err = j.bw.Write(b)
	return err
}

func (j *jsonWriter) Buffered() int64 { return int64(j.bw.Buffered()) }
func (j *jsonWriter) Close() error    { return j.bw.Flush() }
