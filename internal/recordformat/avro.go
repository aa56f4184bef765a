package recordformat

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/golang/snappy"
	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"github.com/klauspost/compress/zstd"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectavro"
)

// avroAPI is this package's own hamba/avro configuration (not the global
// default, whose resolver other code may change). Its limits bound what a
// corrupt file can make the decoder allocate.
var avroAPI = avro.Config{
	MaxByteSliceSize:  DefaultMaxItemSize,
	MaxSliceAllocSize: 1 << 20,
}.Freeze()

// avroBlockBytes is the uncompressed size at which the writer ends a block.
const avroBlockBytes = 256 << 10

var avroMagic = []byte{'O', 'b', 'j', 1}

type avroWriter struct {
	w       io.Writer
	block   int
	codec   ocf.CodecName
	schema  *connectors.Schema
	same    *connectors.Schema
	vc      *connectavro.Codec
	enc     *ocf.Encoder
	buf     []byte
	pending int64 // bytes in the encoder's current block
}

func newAvroWriter(w io.Writer, opts WriterOptions) (*avroWriter, error) {
	c := ocf.CodecName(opts.Compression)
	switch c {
	case "":
		c = ocf.Null
	case ocf.Null, ocf.Deflate, ocf.Snappy, ocf.ZStandard:
	default:
		return nil, fmt.Errorf("recordformat: avro: unknown compression %q (want null, deflate, snappy or zstandard)", opts.Compression)
	}
	block := opts.avroBlockBytes
	if block <= 0 {
		block = avroBlockBytes
	}
	return &avroWriter{w: w, codec: c, block: block}, nil
}

func (a *avroWriter) Write(rec *connectors.Record) error {
	s := rec.ValueSchema
	if s == nil {
		return fmt.Errorf("recordformat: avro: %s: the value has no schema; avro files need one (use format json, or a converter that gives values a schema)", rec.Where())
	}
	if a.enc == nil {
		vc, err := connectavro.NewCodec(s)
		if err != nil {
			return fmt.Errorf("recordformat: avro: %s: %w", rec.Where(), err)
		}
		enc, err := ocf.NewEncoder(vc.AvroSchema(), a.w, ocf.WithCodec(a.codec), ocf.WithEncodingConfig(avroAPI),
			ocf.WithEncoderSchemaCache(&avro.SchemaCache{}), ocf.WithBlockLength(0), ocf.WithBlockSize(a.block))
		if err != nil {
			return fmt.Errorf("recordformat: avro: start file: %w", err)
		}
		a.schema, a.vc, a.enc = s, vc, enc
	} else if s != a.schema && s != a.same {
		if !connectors.SameSchema(s, a.schema) {
			return ErrSchemaChanged
		}
		a.same = s
	}
	b, err := a.vc.Append(a.buf[:0], rec.Value)
	if err != nil {
		return fmt.Errorf("recordformat: avro: %s: %w", rec.Where(), err)
	}
	a.buf = b
	if _, err := a.enc.Write(b); err != nil {
		return fmt.Errorf("recordformat: avro: write: %w", err)
	}
	if a.pending += int64(len(b)); a.pending >= int64(a.block) {
		a.pending = 0 // the encoder has written the block
	}
	return nil
}

func (a *avroWriter) Buffered() int64 { return a.pending }

func (a *avroWriter) Close() error {
	if a.enc == nil {
		return nil
	}
	if err := a.enc.Close(); err != nil {
		return fmt.Errorf("recordformat: avro: close: %w", err)
	}
	a.pending = 0
	return nil
}

// avroReader reads an object container file block by block with its own
// parser (rather than ocf.Decoder) so that a corrupt or hostile file cannot
// make it allocate more than MaxItemSize per block, so that resuming skips
// whole blocks without decompressing them, and so that a growing file can be
// followed block by block.
type avroReader struct {
	in      *input
	partial bool
	skip    int64 // items still to skip to reach Start
	index   int64 // items passed
	max     int

	header bool
	schema avro.Schema
	vc     *connectavro.Codec
	sync   [16]byte
	decomp func([]byte) ([]byte, error)

	block []byte // the current block, decompressed
	left  int64  // its items not read yet
	rd    *avro.Reader
	final error
}

func newAvroReader(r io.Reader, opts ReaderOptions) (*avroReader, error) {
	if opts.StartAligned && opts.Start > 0 {
		return nil, errors.New("recordformat: avro: a reader must start at the file's beginning to read the header (StartAligned is not supported)")
	}
	return &avroReader{in: newInput(r, 0, opts.MaxItemSize+64<<10), partial: opts.Partial, skip: opts.Start,
		max: opts.MaxItemSize, rd: avro.NewReader(nil, 0, avro.WithReaderConfig(avroAPI))}, nil
}

func (a *avroReader) SetPartial(p bool) { a.partial = p }

// errShort: the buffer ends inside what is being parsed.
var errShort = errors.New("short")

type avroParser struct {
	b []byte
	i int
}

func (p *avroParser) long() (int64, error) {
	var u uint64
	for shift := uint(0); ; shift += 7 {
		if p.i >= len(p.b) {
			return 0, errShort
		}
		if shift >= 64 {
			return 0, errors.New("varint overflows a long")
		}
		c := p.b[p.i]
		p.i++
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	return int64(u>>1) ^ -int64(u&1), nil
}

func (p *avroParser) bytes(max int) ([]byte, error) {
	n, err := p.long()
	if err != nil {
		return nil, err
	}
	if n < 0 || n > int64(max) {
		return nil, fmt.Errorf("invalid length %d", n)
	}
	if int64(len(p.b)-p.i) < n {
		return nil, errShort
	}
	b := p.b[p.i : p.i+int(n)]
	p.i += int(n)
	return b, nil
}

// parseHeader parses the header at the front of b.
func (a *avroReader) parseHeader(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, errShort
	}
	if !bytes.Equal(b[:4], avroMagic) {
		return 0, errors.New("not an avro object container file (bad magic bytes)")
	}
	p := &avroParser{b: b, i: 4}
	meta := map[string][]byte{}
	for {
		n, err := p.long()
		if err != nil {
			return 0, err
		}
		if n == 0 {
			break
		}
		if n < 0 {
			n = -n
			if _, err := p.long(); err != nil { // the block's byte size
				return 0, err
			}
		}
		for ; n > 0; n-- {
			k, err := p.bytes(a.max)
			if err != nil {
				return 0, err
			}
			v, err := p.bytes(a.max)
			if err != nil {
				return 0, err
			}
			meta[string(k)] = v
		}
	}
	if len(p.b)-p.i < 16 {
		return 0, errShort
	}
	copy(a.sync[:], p.b[p.i:])
	p.i += 16

	text, ok := meta["avro.schema"]
	if !ok {
		return 0, errors.New("the header has no avro.schema")
	}
	schema, err := avro.ParseBytesWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		return 0, fmt.Errorf("schema in the header: %w", err)
	}
	vc, err := connectavro.NewCodecFromAvro(string(text))
	if err != nil {
		return 0, fmt.Errorf("schema in the header: %w", err)
	}
	a.schema, a.vc = schema, vc
	switch c := string(meta["avro.codec"]); c {
	case "", "null":
		a.decomp = func(b []byte) ([]byte, error) { return append([]byte(nil), b...), nil }
	case "deflate":
		a.decomp = a.inflate
	case "snappy":
		a.decomp = a.unsnappy
	case "zstandard":
		dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(uint64(a.max)), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return 0, err
		}
		a.decomp = func(b []byte) ([]byte, error) { return dec.DecodeAll(b, nil) }
	default:
		return 0, fmt.Errorf("unsupported codec %q (supported: null, deflate, snappy, zstandard)", c)
	}
	return p.i, nil
}

func (a *avroReader) inflate(b []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(b))
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, int64(a.max)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > a.max {
		return nil, fmt.Errorf("block inflates to more than %d bytes (max item size)", a.max)
	}
	return out, nil
}

func (a *avroReader) unsnappy(b []byte) ([]byte, error) {
	if len(b) < 4 {
		return nil, errors.New("snappy block without its checksum")
	}
	n, err := snappy.DecodedLen(b[:len(b)-4])
	if err != nil {
		return nil, err
	}
	if n > a.max {
		return nil, fmt.Errorf("block decompresses to %d bytes, more than %d (max item size)", n, a.max)
	}
	out, err := snappy.Decode(nil, b[:len(b)-4])
	if err != nil {
		return nil, err
	}
	if crc32.ChecksumIEEE(out) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, errors.New("snappy checksum mismatch")
	}
	return out, nil
}

// parse runs f on the buffered input until it has enough bytes, reading
// more as needed. It returns io.EOF when the input ends before (a partial
// file), or a final error.
func (a *avroReader) parse(what string, f func([]byte) (int, error)) error {
	for {
		n, err := f(a.in.avail())
		if err == nil {
			a.in.consume(n)
			return nil
		}
		if err != errShort {
			return fmt.Errorf("recordformat: avro: %s at byte %d: %w", what, a.in.pos, err)
		}
		switch ferr := a.in.fill(); ferr {
		case nil:
		case io.EOF:
			if len(a.in.avail()) == 0 || a.partial {
				return io.EOF
			}
			return fmt.Errorf("recordformat: avro: %s at byte %d: %w (the file is truncated)", what, a.in.pos, io.ErrUnexpectedEOF)
		case errBufferFull:
			return fmt.Errorf("recordformat: avro: %s at byte %d is larger than %d bytes (max item size)", what, a.in.pos, a.max)
		default:
			return ferr
		}
	}
}

// nextBlock reads the next block into a.block, or skips it whole if all its
// items lie before Start.
func (a *avroReader) nextBlock() error {
	var count int64
	var data []byte
	err := a.parse("block", func(b []byte) (int, error) {
		p := &avroParser{b: b}
		c, err := p.long()
		if err != nil {
			return 0, err
		}
		size, err := p.long()
		if err != nil {
			return 0, err
		}
		if c < 0 || size < 0 || size > int64(a.max) {
			return 0, fmt.Errorf("invalid block header (count %d, size %d)", c, size)
		}
		if int64(len(b)-p.i) < size+16 {
			return 0, errShort
		}
		if !bytes.Equal(b[p.i+int(size):p.i+int(size)+16], a.sync[:]) {
			return 0, errors.New("sync marker mismatch (corrupt file)")
		}
		count, data = c, b[p.i:p.i+int(size)]
		return p.i + int(size) + 16, nil
	})
	if err != nil {
		return err
	}
	if count <= a.skip {
		a.skip -= count
		a.index += count
		return nil
	}
	block, err := a.decomp(data)
	if err != nil {
		return fmt.Errorf("recordformat: avro: block ending at byte %d: %w", a.in.pos, err)
	}
	a.block, a.left = block, count
	a.rd.Reset(block)
	a.rd.Error = nil
	return nil
}

func (a *avroReader) Next() (Item, error) {
	if a.final != nil {
		return Item{}, a.final
	}
	if !a.header {
		if err := a.parse("header", a.parseHeader); err != nil {
			if err != io.EOF {
				a.final = err
			}
			return Item{}, err
		}
		a.header = true
	}
	for {
		for a.left == 0 {
			if err := a.nextBlock(); err != nil {
				if err != io.EOF {
					a.final = err
				}
				return Item{}, err
			}
		}
		var g any
		a.rd.ReadVal(a.schema, &g)
		a.left--
		a.index++
		if a.rd.Error != nil {
			// The rest of the block cannot be located: skip it.
			err, rest := a.rd.Error, a.left
			a.index += rest
			a.left = 0
			if a.skip > 0 {
				// The item lies before Start: it was reported when first read.
				a.skip = max(0, a.skip-1-rest)
				continue
			}
			return Item{}, &ItemError{Raw: a.block, Pos: a.index, Err: fmt.Errorf("avro: decode item %d: %w", a.index, err)}
		}
		if a.skip > 0 {
			a.skip--
			continue
		}
		v, err := a.vc.FromGeneric(g)
		if err != nil {
			return Item{}, &ItemError{Pos: a.index, Err: fmt.Errorf("avro: item %d: %w", a.index, err)}
		}
		return Item{Schema: a.vc.Schema(), Value: v, Pos: a.index}, nil
	}
}
