package recordformat

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// CSV follows RFC 4180: fields separated by a comma (or CSVSeparator),
// records by LF or CRLF, fields holding the separator, a quote, CR or LF
// quoted with '"' and quotes doubled. The first record is the header. An
// empty unquoted field is null and a quoted empty field ("") the empty
// string, so that both survive a round trip. Blank lines are skipped.

type csvStatus int

const (
	csvComplete csvStatus = iota
	csvIncomplete
	csvMalformed
)

// csvScanner parses one record from the front of a buffer. Field bytes
// (unescaped) go to data, their bounds to ends, whether each was quoted to
// quoted.
type csvScanner struct {
	sep    byte
	data   []byte
	ends   []int
	quoted []bool
	err    error
}

func (c *csvScanner) field(i int) []byte {
	start := 0
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.data[start:c.ends[i]]
}

// scan parses the record at the start of a. It returns the status and the
// number of bytes the record (or, if malformed, the bad line) takes,
// terminator included. atEOF says no more input follows a.
func (c *csvScanner) scan(a []byte, atEOF bool) (csvStatus, int) {
	c.data, c.ends, c.quoted, c.err = c.data[:0], c.ends[:0], c.quoted[:0], nil
	i := 0
	for {
		// At the start of a field.
		if i < len(a) && a[i] == '"' {
			i++
			for {
				j := bytes.IndexByte(a[i:], '"')
				if j < 0 {
					if !atEOF {
						return csvIncomplete, 0
					}
					c.err = errors.New("quoted field not closed before the end of the input")
					return csvMalformed, len(a)
				}
				c.data = append(c.data, a[i:i+j]...)
				i += j + 1
				if i < len(a) && a[i] == '"' {
					c.data = append(c.data, '"')
					i++
					continue
				}
				if i == len(a) && !atEOF {
					return csvIncomplete, 0
				}
				break
			}
			c.ends = append(c.ends, len(c.data))
			c.quoted = append(c.quoted, true)
			if i < len(a) && a[i] != c.sep && a[i] != '\n' && !(a[i] == '\r' && (i+1 == len(a) || a[i+1] == '\n')) {
				c.err = fmt.Errorf("unexpected %q after a closing quote at byte %d of the row (a quote inside a quoted field must be doubled)", a[i], i)
				return c.malformed(a, i, atEOF)
			}
			if i+1 == len(a) && a[i] == '\r' && !atEOF {
				return csvIncomplete, 0
			}
		} else {
			j := i
			for j < len(a) && a[j] != c.sep && a[j] != '\n' {
				j++
			}
			if j == len(a) && !atEOF {
				return csvIncomplete, 0
			}
			f := a[i:j]
			if j < len(a) && a[j] == '\n' {
				f = trimCR(f)
			} else if j == len(a) {
				f = trimCR(f)
			}
			if k := bytes.IndexByte(f, '"'); k >= 0 {
				c.err = fmt.Errorf("bare quote in an unquoted field at byte %d of the row (quote the field and double the quote)", i+k)
				return c.malformed(a, i+k, atEOF)
			}
			c.data = append(c.data, f...)
			c.ends = append(c.ends, len(c.data))
			c.quoted = append(c.quoted, false)
			i = j
		}
		// After a field: a separator, the record's end, or the input's end.
		switch {
		case i == len(a):
			return csvComplete, i
		case a[i] == c.sep:
			i++
			if i == len(a) {
				if !atEOF {
					return csvIncomplete, 0
				}
				c.ends = append(c.ends, len(c.data))
				c.quoted = append(c.quoted, false)
				return csvComplete, i
			}
		case a[i] == '\r':
			if i+1 < len(a) && a[i+1] == '\n' {
				return csvComplete, i + 2
			}
			return csvComplete, i + 1 // only reached at EOF
		default: // '\n'
			return csvComplete, i + 1
		}
	}
}

// malformed skips to the end of the line holding the error.
func (c *csvScanner) malformed(a []byte, at int, atEOF bool) (csvStatus, int) {
	if j := bytes.IndexByte(a[at:], '\n'); j >= 0 {
		return csvMalformed, at + j + 1
	}
	if !atEOF {
		return csvIncomplete, 0
	}
	return csvMalformed, len(a)
}

func isBlankLine(a []byte, atEOF bool) (int, bool) {
	switch {
	case len(a) > 0 && a[0] == '\n':
		return 1, true
	case len(a) > 1 && a[0] == '\r' && a[1] == '\n':
		return 2, true
	case atEOF && len(a) == 1 && a[0] == '\r':
		return 1, true
	}
	return 0, false
}

type csvReader struct {
	in      *input
	sc      csvScanner
	partial bool
	start   int64

	header  []string
	schema  *connectors.Schema
	columns []int // per schema field, the header column or -1
	final   error

	skipping bool   // discarding the rest of an oversize row
	skipRaw  []byte // its first bytes
}

func newCSVReader(r io.Reader, opts ReaderOptions) (*csvReader, error) {
	if opts.StartAligned && opts.Start > 0 {
		return nil, errors.New("recordformat: csv: a reader must start at byte 0 to read the header (StartAligned is not supported)")
	}
	sep := opts.CSVSeparator
	if sep == 0 {
		sep = ','
	}
	if sep == '"' || sep == '\r' || sep == '\n' {
		return nil, fmt.Errorf("recordformat: csv: invalid separator %q", sep)
	}
	return &csvReader{in: newInput(r, 0, opts.MaxItemSize), sc: csvScanner{sep: sep}, partial: opts.Partial,
		start: opts.Start, schema: opts.ValueSchema}, nil
}

func (c *csvReader) SetPartial(p bool) { c.partial = p }

// record returns the next record's status and length; the fields are in c.sc.
func (c *csvReader) record() (csvStatus, int, error) {
	if c.skipping {
		return c.skipLine()
	}
	for {
		a := c.in.avail()
		atEOF := false
		if len(a) > 0 {
			if n, ok := isBlankLine(a, false); ok {
				c.in.consume(n)
				continue
			}
			st, n := c.sc.scan(a, false)
			if st != csvIncomplete {
				return st, n, nil
			}
		}
		switch err := c.in.fill(); err {
		case nil:
			continue
		case io.EOF:
			atEOF = true
		case errBufferFull:
			c.skipRaw = append([]byte(nil), a[:min(len(a), maxRawKept)]...)
			c.skipping = true
			c.in.consume(len(a))
			return c.skipLine()
		default:
			return 0, 0, err
		}
		a = c.in.avail()
		if len(a) == 0 || (atEOF && c.partial) {
			return csvIncomplete, 0, io.EOF
		}
		if n, ok := isBlankLine(a, true); ok {
			c.in.consume(n)
			continue
		}
		st, n := c.sc.scan(a, true)
		return st, n, nil
	}
}

// skipLine discards the rest of an oversize row, up to the end of its line.
func (c *csvReader) skipLine() (csvStatus, int, error) {
	for {
		a := c.in.avail()
		if j := bytes.IndexByte(a, '\n'); j >= 0 {
			c.in.consume(j + 1)
			break
		}
		c.in.consume(len(a))
		err := c.in.fill()
		if err == io.EOF {
			if c.partial {
				return csvIncomplete, 0, io.EOF // the line has not ended yet
			}
			break
		}
		if err != nil {
			return 0, 0, err
		}
	}
	c.skipping = false
	raw := c.skipRaw
	c.skipRaw = nil
	return csvMalformed, 0, &ItemError{Raw: raw, Pos: c.in.pos,
		Err: fmt.Errorf("csv row longer than %d bytes (max item size; only its first %d bytes are kept)", c.in.max, len(raw))}
}

func (c *csvReader) readHeader() error {
	st, n, err := c.record()
	if err != nil {
		return err
	}
	if st == csvMalformed {
		return fmt.Errorf("recordformat: csv: bad header row: %v", c.sc.err)
	}
	c.header = make([]string, len(c.sc.ends))
	for i := range c.header {
		c.header[i] = string(c.sc.field(i))
	}
	c.header[0] = strings.TrimPrefix(c.header[0], "\uFEFF")
	c.in.consume(n)
	if c.schema == nil {
		b := connectors.NewStruct("")
		for _, h := range c.header {
			b.Field(h, optionalString)
		}
		s, err := b.Build()
		if err != nil {
			return fmt.Errorf("recordformat: csv: header: %w", err)
		}
		c.schema = s
		c.columns = make([]int, len(c.header))
		for i := range c.columns {
			c.columns[i] = i
		}
	} else {
		if c.schema.Type != connectors.TypeStruct {
			return fmt.Errorf("recordformat: csv: the value schema must be a struct, not %s", c.schema)
		}
		byName := make(map[string]int, len(c.header))
		for i, h := range c.header {
			byName[h] = i
		}
		c.columns = make([]int, len(c.schema.Fields))
		for i, f := range c.schema.Fields {
			col, ok := byName[f.Name]
			if !ok {
				col = -1
				if !f.Schema.Optional && f.Schema.Default == nil {
					return fmt.Errorf("recordformat: csv: the header (%s) has no column for the required field %q of the value schema", strings.Join(c.header, ","), f.Name)
				}
			}
			if !f.Schema.Type.IsPrimitive() {
				return fmt.Errorf("recordformat: csv: field %q of the value schema is %s; csv holds primitive fields only", f.Name, f.Schema)
			}
			c.columns[i] = col
		}
	}
	if c.start > c.in.pos {
		if err := c.in.skip(c.start); err != nil {
			if err == io.ErrUnexpectedEOF {
				err = fmt.Errorf("recordformat: csv: start position %d is past the end of the input (%d bytes)", c.start, c.in.pos)
			}
			return err
		}
	}
	return nil
}

var optionalString = connectors.OptionalOf(connectors.StringSchema())

func (c *csvReader) Next() (Item, error) {
	if c.final != nil {
		return Item{}, c.final
	}
	if c.header == nil {
		if err := c.readHeader(); err != nil {
			if err != io.EOF {
				c.final = err
				c.header = nil
			}
			return Item{}, err
		}
	}
	st, n, err := c.record()
	if err != nil {
		return Item{}, err
	}
	raw := c.in.avail()[:n]
	c.in.consume(n)
	if st == csvMalformed {
		return Item{}, &ItemError{Raw: append([]byte(nil), raw...), Pos: c.in.pos, Err: fmt.Errorf("csv: %w", c.sc.err)}
	}
	if len(c.sc.ends) != len(c.header) {
		return Item{}, &ItemError{Raw: append([]byte(nil), raw...), Pos: c.in.pos,
			Err: fmt.Errorf("csv: row has %d fields, the header %d", len(c.sc.ends), len(c.header))}
	}
	st2 := connectors.NewStructValue(c.schema)
	for i, f := range c.schema.Fields {
		col := c.columns[i]
		if col < 0 {
			st2.Set(i, f.Schema.Default)
			continue
		}
		b := c.sc.field(col)
		if len(b) == 0 && !c.sc.quoted[col] {
			if !f.Schema.Optional && f.Schema.Default == nil {
				return Item{}, &ItemError{Raw: append([]byte(nil), raw...), Pos: c.in.pos,
					Err: fmt.Errorf("csv: field %q is empty (null) but required", f.Name)}
			}
			st2.Set(i, f.Schema.Default)
			continue
		}
		v, err := parseCSVValue(f.Schema, string(b))
		if err != nil {
			return Item{}, &ItemError{Raw: append([]byte(nil), raw...), Pos: c.in.pos,
				Err: fmt.Errorf("csv: field %q: %w", f.Name, err)}
		}
		st2.Set(i, v)
	}
	return Item{Schema: c.schema, Value: st2, Pos: c.in.pos}, nil
}

// Text forms of logical types in CSV.
const (
	csvDate      = "2006-01-02"
	csvTime      = "15:04:05.000"
	csvTimestamp = "2006-01-02T15:04:05.000Z07:00"
)

func parseCSVValue(s *connectors.Schema, text string) (any, error) {
	switch s.Name {
	case connectors.DecimalName:
		r, ok := new(big.Rat).SetString(text)
		if !ok {
			return nil, fmt.Errorf("%q is not a decimal", text)
		}
		return r, nil
	case connectors.DateName:
		if s.Type == connectors.TypeInt32 {
			t, err := time.Parse(csvDate, text)
			if err != nil {
				return nil, fmt.Errorf("%q is not a date (want YYYY-MM-DD)", text)
			}
			return t, nil
		}
	case connectors.TimeName:
		if s.Type == connectors.TypeInt32 {
			t, err := time.Parse("15:04:05.999999999", text)
			if err != nil {
				return nil, fmt.Errorf("%q is not a time of day (want HH:MM:SS.sss)", text)
			}
			return time.Date(1970, 1, 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1e6*1e6, time.UTC), nil
		}
	case connectors.TimestampName:
		if s.Type == connectors.TypeInt64 {
			if ms, err := strconv.ParseInt(text, 10, 64); err == nil {
				return time.UnixMilli(ms).UTC(), nil
			}
			t, err := time.Parse(time.RFC3339Nano, text)
			if err != nil {
				return nil, fmt.Errorf("%q is not a timestamp (want RFC 3339 or epoch milliseconds)", text)
			}
			return t.UTC(), nil
		}
	}
	var bits int
	switch s.Type {
	case connectors.TypeString:
		return text, nil
	case connectors.TypeBoolean:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("%q is not a boolean", text)
		}
		return b, nil
	case connectors.TypeBytes:
		b, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return nil, fmt.Errorf("%q is not base64", text)
		}
		return b, nil
	case connectors.TypeFloat32, connectors.TypeFloat64:
		bits = 64
		if s.Type == connectors.TypeFloat32 {
			bits = 32
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(text), bits)
		if err != nil {
			return nil, fmt.Errorf("%q is not a %s", text, s.Type)
		}
		if bits == 32 {
			return float32(f), nil
		}
		return f, nil
	case connectors.TypeInt8:
		bits = 8
	case connectors.TypeInt16:
		bits = 16
	case connectors.TypeInt32:
		bits = 32
	case connectors.TypeInt64:
		bits = 64
	default:
		return nil, fmt.Errorf("csv cannot hold %s values", s)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(text), 10, bits)
	if err != nil {
		return nil, fmt.Errorf("%q is not an %s", text, s.Type)
	}
	switch bits {
	case 8:
		return int8(n), nil
	case 16:
		return int16(n), nil
	case 32:
		return int32(n), nil
	}
	return n, nil
}

type csvWriter struct {
	bw     *bufio.Writer
	sep    byte
	schema *connectors.Schema // the file's schema, from the first record
	same   *connectors.Schema // another pointer found equal to it
	buf    []byte
}

func newCSVWriter(w io.Writer, opts WriterOptions) (*csvWriter, error) {
	sep := opts.CSVSeparator
	if sep == 0 {
		sep = ','
	}
	if sep == '"' || sep == '\r' || sep == '\n' {
		return nil, fmt.Errorf("recordformat: csv: invalid separator %q", sep)
	}
	return &csvWriter{bw: bufio.NewWriterSize(w, writeBuffer), sep: sep}, nil
}

func (c *csvWriter) Write(rec *connectors.Record) error {
	s := rec.ValueSchema
	if s == nil || s.Type != connectors.TypeStruct {
		return fmt.Errorf("recordformat: csv: %s: csv writes struct values with a schema, not %s (use format json, or a converter that gives the value a schema)", rec.Where(), s)
	}
	st, ok := rec.Value.(*connectors.Struct)
	if !ok {
		return fmt.Errorf("recordformat: csv: %s: value is %T, not a struct (a null value cannot be written as csv)", rec.Where(), rec.Value)
	}
	b := c.buf[:0]
	if c.schema == nil {
		for i, f := range s.Fields {
			if !f.Schema.Type.IsPrimitive() {
				return fmt.Errorf("recordformat: csv: %s: field %q is %s; csv holds primitive fields only (flatten the value first, e.g. with the Flatten transform)", rec.Where(), f.Name, f.Schema)
			}
			if i > 0 {
				b = append(b, c.sep)
			}
			b = c.appendText(b, f.Name, true)
		}
		b = append(b, '\n')
		c.schema = s
	} else if s != c.schema && s != c.same {
		if !connectors.SameSchema(s, c.schema) {
			return ErrSchemaChanged
		}
		c.same = s
	}
	for i, f := range c.schema.Fields {
		if i > 0 {
			b = append(b, c.sep)
		}
		var err error
		if b, err = c.appendValue(b, f.Schema, st.At(i)); err != nil {
			return fmt.Errorf("recordformat: csv: %s: field %q: %w", rec.Where(), f.Name, err)
		}
	}
	b = append(b, '\n')
	c.buf = b
	_, err := c.bw.Write(b)
	return err
}

// appendText appends a string field, quoted if it must be.
func (c *csvWriter) appendText(b []byte, s string, quoteEmpty bool) []byte {
	need := s == "" && quoteEmpty
	for i := 0; i < len(s) && !need; i++ {
		switch s[i] {
		case c.sep, '"', '\r', '\n':
			need = true
		}
	}
	if !need {
		return append(b, s...)
	}
	b = append(b, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '"')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '"')
}

func (c *csvWriter) appendValue(b []byte, s *connectors.Schema, v any) ([]byte, error) {
	if v == nil {
		return b, nil
	}
	switch x := v.(type) {
	case string:
		return c.appendText(b, x, true), nil
	case int8:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float32:
		return strconv.AppendFloat(b, float64(x), 'g', -1, 32), nil
	case float64:
		return strconv.AppendFloat(b, x, 'g', -1, 64), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case []byte:
		return base64.StdEncoding.AppendEncode(b, x), nil
	case *big.Rat:
		scale, _ := strconv.Atoi(s.Parameters[connectors.DecimalScaleParam])
		return c.appendText(b, x.FloatString(max(scale, 0)), false), nil
	case time.Time:
		x = x.UTC()
		switch s.Name {
		case connectors.DateName:
			return x.AppendFormat(b, csvDate), nil
		case connectors.TimeName:
			return x.AppendFormat(b, csvTime), nil
		}
		return x.AppendFormat(b, csvTimestamp), nil
	}
	return b, fmt.Errorf("value %T does not fit %s", v, s)
}

func (c *csvWriter) Buffered() int64 { return int64(c.bw.Buffered()) }
func (c *csvWriter) Close() error    { return c.bw.Flush() }
