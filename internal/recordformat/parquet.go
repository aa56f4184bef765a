package recordformat

import (
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"reflect"
	"slices"
	"strconv"
	"time"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/format"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectavro"
	"github.com/sluicehq/sluice/internal/connectjson"
)

// Parquet files are written with a schema compiled from the Connect schema:
// structs are groups with their fields in order, optional schemas optional
// fields, arrays and maps the LIST and MAP logical types (3-level), Decimal
// DECIMAL over a byte array (precision from connect.decimal.precision, else
// 64, as Confluent's AvroData), Date DATE, Time TIME(MILLIS), Timestamp
// TIMESTAMP(MILLIS, UTC), int8 and int16 INT(8) and INT(16). A value schema
// that is not a struct is stored as a struct with one field "value". The
// file's key-value metadata holds the Avro form of the schema under
// parquet.avro.schema (as parquet-avro and Confluent's sinks write it), from
// which a reader restores names and docs.
//
// Values are shredded into rows (Dremel's repetition and definition
// levels) by a plan compiled once per schema, without reflection, and
// assembled back the same way.

const (
	parquetAvroSchemaKey    = "parquet.avro.schema"
	parquetConnectSchemaKey = "sluice.connect.schema"
	parquetWrappedKey       = "sluice.value.wrapped"
	parquetRowBatch         = 64
)

type pqKind uint8

const (
	pqLeaf pqKind = iota
	pqStruct
	pqList
	pqMap
)

// pqField is a compiled schema node: the Connect schema, the parquet
// layout (column range, levels) and, for leaves, how values convert.
type pqField struct {
	schema   *connectors.Schema
	kind     pqKind
	optional bool
	fields   []*pqField // struct
	elem     *pqField   // list element, map value
	key      *pqField   // map key
	firstCol int
	ncols    int
	def      int // definition level once this node is present
	repDef   int // list/map: definition level of an entry
	repRep   int // list/map: repetition level of a next entry

	leaf leafConv
}

// leafConv says how a leaf's parquet values map to Connect values.
type leafConv struct {
	phys  parquet.Kind
	conv  uint8 // one of the conv* constants
	scale int   // decimal
	unit  int64 // time and timestamp: nanoseconds per unit
}

const (
	convPlain uint8 = iota
	convInt8
	convInt16
	convUint32
	convString
	convDecimal
	convDate
	convTime
	convTimestamp
	convInt96
)

// orderedGroup is a parquet group whose fields keep their given order
// (parquet.Group sorts them by name).
type orderedGroup struct {
	names []string
	nodes []parquet.Node
}

type orderedField struct {
	parquet.Node
	name string
}

func (f orderedField) Name() string                           { return f.name }
func (f orderedField) Value(base reflect.Value) reflect.Value { return reflect.Value{} }

func (g orderedGroup) ID() int { return 0 }
func (g orderedGroup) String() string {
	s := "group {"
	for i, n := range g.names {
		s += " " + n + ": " + n2s(g.nodes[i]) + ";"
	}
	return s + " }"
}
func (g orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool              { return false }
func (g orderedGroup) Repeated() bool              { return false }
func (g orderedGroup) Required() bool              { return true }
func (g orderedGroup) Leaf() bool                  { return false }
func (g orderedGroup) Encoding() encoding.Encoding { return nil }
func (g orderedGroup) Compression() compress.Codec { return nil }
func (g orderedGroup) GoType() reflect.Type        { return reflect.TypeFor[map[string]any]() }
func (g orderedGroup) Fields() []parquet.Field {
	out := make([]parquet.Field, len(g.names))
	for i := range g.names {
		out[i] = orderedField{Node: g.nodes[i], name: g.names[i]}
	}
	return out
}

// compileWrite builds the parquet node and plan of a Connect schema.
func compileWrite(s *connectors.Schema, path string) (parquet.Node, *pqField, error) {
	f := &pqField{schema: s, optional: s.Optional}
	var n parquet.Node
	switch s.Name {
	case connectors.DecimalName:
		scale, _ := strconv.Atoi(s.Parameters[connectors.DecimalScaleParam])
		prec := 64
		if p, err := strconv.Atoi(s.Parameters["connect.decimal.precision"]); err == nil && p > 0 {
			prec = p
		}
		n = parquet.Decimal(scale, prec, parquet.ByteArrayType)
		f.leaf = leafConv{phys: parquet.ByteArray, conv: convDecimal, scale: scale}
	case connectors.DateName:
		n, f.leaf = parquet.Date(), leafConv{phys: parquet.Int32, conv: convDate}
	case connectors.TimeName:
		n, f.leaf = parquet.Time(parquet.Millisecond), leafConv{phys: parquet.Int32, conv: convTime, unit: 1e6}
	case connectors.TimestampName:
		n, f.leaf = parquet.Timestamp(parquet.Millisecond), leafConv{phys: parquet.Int64, conv: convTimestamp, unit: 1e6}
	}
	if n == nil {
		switch s.Type {
		case connectors.TypeInt8:
			n, f.leaf = parquet.Int(8), leafConv{phys: parquet.Int32, conv: convInt8}
		case connectors.TypeInt16:
			n, f.leaf = parquet.Int(16), leafConv{phys: parquet.Int32, conv: convInt16}
		case connectors.TypeInt32:
			n, f.leaf = parquet.Leaf(parquet.Int32Type), leafConv{phys: parquet.Int32}
		case connectors.TypeInt64:
			n, f.leaf = parquet.Leaf(parquet.Int64Type), leafConv{phys: parquet.Int64}
		case connectors.TypeFloat32:
			n, f.leaf = parquet.Leaf(parquet.FloatType), leafConv{phys: parquet.Float}
		case connectors.TypeFloat64:
			n, f.leaf = parquet.Leaf(parquet.DoubleType), leafConv{phys: parquet.Double}
		case connectors.TypeBoolean:
			n, f.leaf = parquet.Leaf(parquet.BooleanType), leafConv{phys: parquet.Boolean}
		case connectors.TypeString:
			n, f.leaf = parquet.String(), leafConv{phys: parquet.ByteArray, conv: convString}
		case connectors.TypeBytes:
			n, f.leaf = parquet.Leaf(parquet.ByteArrayType), leafConv{phys: parquet.ByteArray}
		case connectors.TypeStruct:
			f.kind = pqStruct
			g := orderedGroup{}
			for _, fd := range s.Fields {
				cn, cf, err := compileWrite(fd.Schema, joinPath(path, fd.Name))
				if err != nil {
					return nil, nil, err
				}
				g.names = append(g.names, fd.Name)
				g.nodes = append(g.nodes, cn)
				f.fields = append(f.fields, cf)
			}
			if len(s.Fields) == 0 {
				return nil, nil, fmt.Errorf("%s: parquet cannot hold a struct without fields", describePath(path))
			}
			n = g
		case connectors.TypeArray:
			f.kind = pqList
			en, ef, err := compileWrite(s.ValueSchema, path+"[]")
			if err != nil {
				return nil, nil, err
			}
			f.elem = ef
			n = parquet.List(en)
		case connectors.TypeMap:
			if s.KeySchema != nil && s.KeySchema.Type != connectors.TypeString {
				return nil, nil, fmt.Errorf("%s: parquet maps need string keys, not %s", describePath(path), s.KeySchema)
			}
			f.kind = pqMap
			vn, vf, err := compileWrite(s.ValueSchema, path+"{}")
			if err != nil {
				return nil, nil, err
			}
			f.key = &pqField{schema: connectors.StringSchema(), leaf: leafConv{phys: parquet.ByteArray, conv: convString}}
			f.elem = vf
			n = parquet.Map(parquet.String(), vn)
		default:
			return nil, nil, fmt.Errorf("%s: unsupported schema %s", describePath(path), s)
		}
	}
	if s.Optional {
		n = parquet.Optional(n)
	} else if f.kind == pqLeaf || f.kind == pqList || f.kind == pqMap {
		n = parquet.Required(n)
	}
	return n, f, nil
}

func n2s(n parquet.Node) string { return fmt.Sprint(n) }

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func describePath(path string) string {
	if path == "" {
		return "value"
	}
	return "field " + path
}

// layout numbers the leaf columns depth first and sets the levels.
func (f *pqField) layout(col, def, rep int) int {
	f.firstCol = col
	if f.optional {
		def++
	}
	f.def = def
	switch f.kind {
	case pqLeaf:
		col++
	case pqStruct:
		for _, c := range f.fields {
			col = c.layout(col, def, rep)
		}
	case pqList:
		f.repDef, f.repRep = def+1, rep+1
		col = f.elem.layout(col, def+1, rep+1)
	case pqMap:
		f.repDef, f.repRep = def+1, rep+1
		col = f.key.layout(col, def+1, rep+1)
		col = f.elem.layout(col, def+1, rep+1)
	}
	f.ncols = col - f.firstCol
	return col
}

type parquetWriter struct {
	w        io.Writer
	opts     WriterOptions
	codec    compress.Codec
	schema   *connectors.Schema
	same     *connectors.Schema
	wrapped  bool
	plan     *pqField
	pw       *parquet.GenericWriter[any]
	cols     [][]parquet.Value
	rows     []parquet.Row
	pending  int64 // estimated bytes of the current row group
	rowBytes int64 // estimate for the row being shredded
	err      error
}

func newParquetWriter(w io.Writer, opts WriterOptions) (*parquetWriter, error) {
	var c compress.Codec
	switch opts.Compression {
	case "", "snappy":
		c = &parquet.Snappy
	case "none", "uncompressed":
		c = &parquet.Uncompressed
	case "gzip":
		c = &parquet.Gzip
	case "zstd":
		c = &parquet.Zstd
	case "lz4":
		c = &parquet.Lz4Raw
	default:
		return nil, fmt.Errorf("recordformat: parquet: unknown compression %q (want none, snappy, gzip, zstd or lz4)", opts.Compression)
	}
	if opts.RowGroupBytes <= 0 {
		opts.RowGroupBytes = DefaultRowGroupBytes
	}
	return &parquetWriter{w: w, opts: opts, codec: c}, nil
}

func (p *parquetWriter) start(s *connectors.Schema) error {
	root := s
	if s.Type != connectors.TypeStruct {
		root = connectors.NewStruct("").Field("value", s).MustBuild()
		p.wrapped = true
	}
	node, plan, err := compileWrite(root, "")
	if err != nil {
		return err
	}
	plan.layout(0, 0, 0)
	avroSchema, err := avroSchemaText(s)
	if err != nil {
		return err
	}
	connectSchema, err := connectjson.AppendSchemaOptions(nil, s, connectjson.Options{})
	if err != nil {
		return err
	}
	opts := []parquet.WriterOption{
		parquet.Compression(p.codec),
		parquet.CreatedBy("sluice", "", ""),
		parquet.KeyValueMetadata(parquetConnectSchemaKey, string(connectSchema)),
		parquet.KeyValueMetadata(parquetAvroSchemaKey, avroSchema),
		parquet.KeyValueMetadata("writer.model.name", "avro"),
	}
	if p.wrapped {
		opts = append(opts, parquet.KeyValueMetadata(parquetWrappedKey, "true"))
	}
	name := s.Name
	if name == "" {
		name = "value"
	}
	opts = append(opts, parquet.NewSchema(name, node))
	pw, err := newParquetGoWriter(p.w, opts)
	if err != nil {
		return err
	}
	p.schema, p.plan, p.pw = s, plan, pw
	p.cols = make([][]parquet.Value, plan.ncols)
	return nil
}

func avroSchemaText(s *connectors.Schema) (text string, err error) {
	return connectavro.FromConnect(s)
}

// newParquetGoWriter turns parquet-go's panics on bad options into errors.
func newParquetGoWriter(w io.Writer, opts []parquet.WriterOption) (pw *parquet.GenericWriter[any], err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parquet writer: %v", r)
		}
	}()
	cfg, err := parquet.NewWriterConfig(opts...)
	if err != nil {
		return nil, err
	}
	return parquet.NewGenericWriter[any](w, cfg), nil
}

func (p *parquetWriter) Write(rec *connectors.Record) error {
	if p.err != nil {
		return p.err
	}
	s := rec.ValueSchema
	if s == nil {
		return fmt.Errorf("recordformat: parquet: %s: the value has no schema; parquet files need one (use format json, or a converter that gives values a schema)", rec.Where())
	}
	if p.pw == nil {
		if err := p.start(s); err != nil {
			return fmt.Errorf("recordformat: parquet: %s: %w", rec.Where(), err)
		}
	} else if s != p.schema && s != p.same {
		if !connectors.SameSchema(s, p.schema) {
			return ErrSchemaChanged
		}
		p.same = s
	}
	for i := range p.cols {
		p.cols[i] = p.cols[i][:0]
	}
	p.rowBytes = 0
	v := rec.Value
	if p.wrapped {
		st := connectors.NewStructValue(p.plan.schema)
		st.Set(0, v)
		v = st
	}
	if err := p.shred(p.plan, v, 0, 0, ""); err != nil {
		return fmt.Errorf("recordformat: parquet: %s: %w", rec.Where(), err)
	}
	n := 0
	for _, c := range p.cols {
		n += len(c)
	}
	row := make(parquet.Row, 0, n)
	for _, c := range p.cols {
		row = append(row, c...)
	}
	p.rows = append(p.rows, row)
	p.pending += p.rowBytes
	if len(p.rows) >= parquetRowBatch {
		if err := p.writeRows(); err != nil {
			return err
		}
	}
	if p.pending >= p.opts.RowGroupBytes {
		if err := p.writeRows(); err != nil {
			return err
		}
		if err := p.pw.Flush(); err != nil {
			p.err = fmt.Errorf("recordformat: parquet: write row group: %w", err)
			return p.err
		}
		p.pending = 0
	}
	return nil
}

func (p *parquetWriter) writeRows() error {
	if len(p.rows) == 0 {
		return nil
	}
	if _, err := p.pw.WriteRows(p.rows); err != nil {
		p.err = fmt.Errorf("recordformat: parquet: write rows: %w", err)
		return p.err
	}
	clear(p.rows)
	p.rows = p.rows[:0]
	return nil
}

func (p *parquetWriter) Buffered() int64 { return p.pending }

func (p *parquetWriter) Close() error {
	if p.pw == nil {
		return p.err
	}
	if p.err != nil {
		return p.err
	}
	if err := p.writeRows(); err != nil {
		return err
	}
	if err := p.pw.Close(); err != nil {
		return fmt.Errorf("recordformat: parquet: close: %w", err)
	}
	p.pending = 0
	return nil
}

func (p *parquetWriter) nulls(f *pqField, r, d int) {
	for c := f.firstCol; c < f.firstCol+f.ncols; c++ {
		p.cols[c] = append(p.cols[c], parquet.NullValue().Level(r, d, c))
	}
}

// shred appends the values of v (of f's schema) to the columns; r is the
// repetition level of the first value, d the parent's definition level.
func (p *parquetWriter) shred(f *pqField, v any, r, d int, path string) error {
	if v == nil {
		v = f.schema.Default
	}
	if v == nil {
		if !f.optional {
			return fmt.Errorf("%s is null but its schema (%s) is required", describePath(path), f.schema)
		}
		p.nulls(f, r, d)
		return nil
	}
	switch f.kind {
	case pqStruct:
		st, ok := v.(*connectors.Struct)
		if !ok {
			return fmt.Errorf("%s holds %T, schema wants %s", describePath(path), v, f.schema)
		}
		if len(st.Schema().Fields) != len(f.fields) {
			return fmt.Errorf("%s is a struct of another schema (%s)", describePath(path), st.Schema())
		}
		for i, c := range f.fields {
			if err := p.shred(c, st.At(i), r, f.def, joinPath(path, f.schema.Fields[i].Name)); err != nil {
				return err
			}
		}
	case pqList:
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s holds %T, schema wants %s", describePath(path), v, f.schema)
		}
		if len(arr) == 0 {
			p.nulls(f.elem, r, f.def)
			return nil
		}
		for i, e := range arr {
			rr := r
			if i > 0 {
				rr = f.repRep
			}
			if err := p.shred(f.elem, e, rr, f.repDef, path+"[]"); err != nil {
				return err
			}
		}
	case pqMap:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s holds %T, schema wants %s", describePath(path), v, f.schema)
		}
		if len(m) == 0 {
			p.nulls(f.key, r, f.def)
			p.nulls(f.elem, r, f.def)
			return nil
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys) // deterministic files
		for i, k := range keys {
			rr := r
			if i > 0 {
				rr = f.repRep
			}
			p.cols[f.key.firstCol] = append(p.cols[f.key.firstCol], byteArrayValue(k).Level(rr, f.repDef, f.key.firstCol))
			p.rowBytes += int64(len(k))
			if err := p.shred(f.elem, m[k], rr, f.repDef, path+"{}"); err != nil {
				return err
			}
		}
	default:
		pv, err := p.leafValue(f, v)
		if err != nil {
			return fmt.Errorf("%s: %w", describePath(path), err)
		}
		p.cols[f.firstCol] = append(p.cols[f.firstCol], pv.Level(r, f.def, f.firstCol))
	}
	return nil
}

func byteArrayValue(s string) parquet.Value {
	// The writer copies the bytes into its column buffer before WriteRows
	// returns, and never changes them.
	return parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s)))
}

func (p *parquetWriter) leafValue(f *pqField, v any) (parquet.Value, error) {
	bad := func() (parquet.Value, error) {
		return parquet.Value{}, fmt.Errorf("holds %T, schema wants %s", v, f.schema)
	}
	p.rowBytes += 8
	switch f.leaf.conv {
	case convDecimal:
		r, ok := v.(*big.Rat)
		if !ok {
			return bad()
		}
		b, err := decimalBytes(r, f.leaf.scale)
		if err != nil {
			return parquet.Value{}, err
		}
		p.rowBytes += int64(len(b))
		return parquet.ByteArrayValue(b), nil
	case convDate, convTime, convTimestamp:
		t, ok := v.(time.Time)
		if !ok {
			return bad()
		}
		switch f.leaf.conv {
		case convDate:
			return parquet.Int32Value(int32(t.Unix() / 86400)), nil
		case convTime:
			return parquet.Int32Value(int32(t.UTC().Sub(t.UTC().Truncate(24*time.Hour)) / time.Millisecond)), nil
		}
		return parquet.Int64Value(t.UnixMilli()), nil
	}
	switch x := v.(type) {
	case int8:
		if f.leaf.conv == convInt8 {
			return parquet.Int32Value(int32(x)), nil
		}
	case int16:
		if f.leaf.conv == convInt16 {
			return parquet.Int32Value(int32(x)), nil
		}
	case int32:
		if f.leaf.phys == parquet.Int32 && f.leaf.conv == convPlain {
			return parquet.Int32Value(x), nil
		}
	case int64:
		if f.leaf.phys == parquet.Int64 {
			return parquet.Int64Value(x), nil
		}
	case float32:
		if f.leaf.phys == parquet.Float {
			return parquet.FloatValue(x), nil
		}
	case float64:
		if f.leaf.phys == parquet.Double {
			return parquet.DoubleValue(x), nil
		}
	case bool:
		if f.leaf.phys == parquet.Boolean {
			return parquet.BooleanValue(x), nil
		}
	case string:
		if f.leaf.conv == convString {
			p.rowBytes += int64(len(x))
			return byteArrayValue(x), nil
		}
	case []byte:
		if f.leaf.phys == parquet.ByteArray && f.leaf.conv == convPlain {
			p.rowBytes += int64(len(x))
			return parquet.ByteArrayValue(x), nil
		}
	}
	return bad()
}

var bigTen = big.NewInt(10)

// decimalBytes returns the big-endian two's-complement unscaled value of r
// at scale (Kafka Connect's and Avro's decimal bytes).
func decimalBytes(r *big.Rat, scale int) ([]byte, error) {
	n := new(big.Int).Exp(bigTen, big.NewInt(int64(scale)), nil)
	n.Mul(n, r.Num())
	q, m := new(big.Int).QuoRem(n, r.Denom(), new(big.Int))
	if m.Sign() != 0 {
		return nil, fmt.Errorf("decimal %s has more than %d decimal places (its scale)", r.FloatString(scale+3), scale)
	}
	return twosComplement(q), nil
}

func twosComplement(x *big.Int) []byte {
	if x.Sign() >= 0 {
		b := x.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// -x = ^(x-1): two's complement of a negative number.
	t := new(big.Int).Add(x, big.NewInt(1))
	b := t.Neg(t).Bytes()
	for i := range b {
		b[i] = ^b[i]
	}
	if len(b) == 0 || b[0]&0x80 == 0 {
		b = append([]byte{0xff}, b...)
	}
	return b
}

func fromTwosComplement(b []byte) *big.Int {
	x := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return x
}

func decimalRat(unscaled *big.Int, scale int) *big.Rat {
	if scale >= 0 {
		return new(big.Rat).SetFrac(unscaled, new(big.Int).Exp(bigTen, big.NewInt(int64(scale)), nil))
	}
	return new(big.Rat).SetInt(new(big.Int).Mul(unscaled, new(big.Int).Exp(bigTen, big.NewInt(int64(-scale)), nil)))
}

// sizedReaderAt is what the parquet reader needs.
type sizedReaderAt interface {
	io.ReaderAt
	Size() int64
}

type parquetReader struct {
	file    *parquet.File
	groups  []parquet.RowGroup // row groups not started yet
	rows    parquet.Rows       // of the current row group
	toSkip  int64              // rows still to skip to reach Start
	plan    *pqField
	schema  *connectors.Schema
	wrapped bool
	index   int64
	buf     []parquet.Row
	n, next int
	cols    [][]parquet.Value
	cur     []int
	final   error
}

func newParquetReader(r io.Reader, opts ReaderOptions) (rd Reader, err error) {
	defer func() {
		if x := recover(); x != nil {
			rd, err = nil, fmt.Errorf("recordformat: parquet: corrupt file: %v", x)
		}
	}()
	ra, ok := r.(io.ReaderAt)
	if !ok {
		return nil, errors.New("recordformat: parquet: the reader must be an io.ReaderAt with a Size method (a bytes.Reader, an io.SectionReader or an *os.File)")
	}
	var size int64
	switch x := r.(type) {
	case sizedReaderAt:
		size = x.Size()
	case *os.File:
		fi, err := x.Stat()
		if err != nil {
			return nil, fmt.Errorf("recordformat: parquet: %w", err)
		}
		size = fi.Size()
	default:
		return nil, errors.New("recordformat: parquet: the reader must be an io.ReaderAt with a Size method (a bytes.Reader, an io.SectionReader or an *os.File)")
	}
	f, err := parquet.OpenFile(ra, size)
	if err != nil {
		return nil, fmt.Errorf("recordformat: parquet: %w", err)
	}
	plan, err := compileRead(f.Schema(), "")
	if err != nil {
		return nil, fmt.Errorf("recordformat: parquet: %w", err)
	}
	if plan.kind != pqStruct {
		return nil, errors.New("recordformat: parquet: the file's root is not a group")
	}
	plan.optional = false
	plan.layout(0, 0, 0)
	p := &parquetReader{file: f, plan: plan}
	// Names, docs and parameters come from the Connect schema the writer
	// stored, else from an Avro schema (parquet-avro's), if either fits.
	if text, ok := f.Lookup(parquetConnectSchemaKey); ok {
		if v, err := connectjson.Decode([]byte(text)); err == nil {
			if s, err := connectjson.ParseSchema(v); err == nil {
				p.bindNames(s)
			}
		}
	}
	if text, ok := f.Lookup(parquetAvroSchemaKey); ok && p.schema == nil {
		if s, err := connectavro.ToConnect(text); err == nil {
			p.bindNames(s)
		}
	}
	if w, _ := f.Lookup(parquetWrappedKey); w == "true" && len(plan.fields) == 1 {
		p.wrapped = true
		if p.schema == nil {
			p.schema = plan.fields[0].schema
		}
	}
	if p.schema == nil {
		p.schema = plan.schema
	}
	if opts.Start > f.NumRows() {
		return nil, fmt.Errorf("recordformat: parquet: start position %d is past the file's %d rows", opts.Start, f.NumRows())
	}
	p.groups = f.RowGroups()
	p.toSkip, p.index = opts.Start, opts.Start
	p.buf = make([]parquet.Row, parquetRowBatch)
	p.cols = make([][]parquet.Value, plan.ncols)
	p.cur = make([]int, plan.ncols)
	return p, nil
}

// bindNames adopts the Connect schema restored from the file's Avro schema
// (names, docs, versions, parameters) when it has the file's shape.
func (p *parquetReader) bindNames(s *connectors.Schema) {
	root := s
	wrapped := false
	if w, _ := p.file.Lookup(parquetWrappedKey); w == "true" {
		root, wrapped = connectors.NewStruct("").Field("value", s).MustBuild(), true
	}
	if !sameShape(p.plan, root) {
		return
	}
	bind(p.plan, root)
	if wrapped {
		p.schema = s
	} else {
		p.schema = root
	}
}

func sameShape(f *pqField, s *connectors.Schema) bool {
	if f.optional != s.Optional || f.schema.Type != s.Type || f.schema.Name != s.Name && isLogical(f.schema.Name, s.Name) {
		return false
	}
	switch f.kind {
	case pqStruct:
		if len(f.fields) != len(s.Fields) {
			return false
		}
		for i, c := range f.fields {
			if f.schema.Fields[i].Name != s.Fields[i].Name || !sameShape(c, s.Fields[i].Schema) {
				return false
			}
		}
	case pqList, pqMap:
		return sameShape(f.elem, s.ValueSchema)
	}
	return true
}

func isLogical(a, b string) bool {
	for _, n := range []string{connectors.DecimalName, connectors.DateName, connectors.TimeName, connectors.TimestampName} {
		if a == n || b == n {
			return true
		}
	}
	return false
}

func bind(f *pqField, s *connectors.Schema) {
	f.schema = s
	switch f.kind {
	case pqStruct:
		for i, c := range f.fields {
			bind(c, s.Fields[i].Schema)
		}
	case pqList, pqMap:
		bind(f.elem, s.ValueSchema)
	}
}

// compileRead derives the Connect schema and the plan of a parquet node.
func compileRead(n parquet.Node, path string) (*pqField, error) {
	if n.Repeated() {
		// A repeated field without a LIST annotation: an array of it.
		ef, err := compileRead(parquet.Required(n), path+"[]")
		if err != nil {
			return nil, err
		}
		return &pqField{schema: connectors.ArraySchema(ef.schema), kind: pqList, elem: ef}, nil
	}
	opt := n.Optional()
	var f *pqField
	var err error
	if n.Leaf() {
		f, err = compileLeaf(n, path)
	} else {
		f, err = compileGroup(n, path)
	}
	if err != nil {
		return nil, err
	}
	if opt {
		f.optional = true
		f.schema = connectors.OptionalOf(f.schema)
	}
	return f, nil
}

func logicalOf(n parquet.Node) (format.LogicalTypeValue, deprecated.ConvertedType) {
	var lt format.LogicalTypeValue
	ct := deprecated.ConvertedType(-1)
	t := n.Type()
	if l := t.LogicalType(); l != nil {
		lt = l.Value
	}
	if c := t.ConvertedType(); c != nil {
		ct = *c
	}
	return lt, ct
}

func compileGroup(n parquet.Node, path string) (*pqField, error) {
	fields := n.Fields()
	lt, ct := logicalOf(n)
	_, isList := lt.(*format.ListType)
	_, isMap := lt.(*format.MapType)
	isList = isList || ct == deprecated.List
	isMap = isMap || ct == deprecated.Map || ct == deprecated.MapKeyValue
	switch {
	case isList && len(fields) == 1 && fields[0].Repeated():
		rep := fields[0]
		var ef *pqField
		var err error
		if !rep.Leaf() && len(rep.Fields()) == 1 && rep.Fields()[0].Name() != "array" && rep.Name() != "array" && rep.Name() != fields[0].Name()+"_tuple" {
			ef, err = compileRead(rep.Fields()[0], path+"[]") // 3-level list
		} else {
			ef, err = compileRead(parquet.Required(rep), path+"[]") // 2-level list
			if err == nil && !rep.Leaf() {
				return nil, fmt.Errorf("%s: 2-level lists of groups are not supported", describePath(path))
			}
		}
		if err != nil {
			return nil, err
		}
		return &pqField{schema: connectors.ArraySchema(ef.schema), kind: pqList, elem: ef}, nil
	case isMap && len(fields) == 1 && fields[0].Repeated() && len(fields[0].Fields()) == 2:
		kv := fields[0].Fields()
		kf, err := compileRead(kv[0], path+"{key}")
		if err != nil {
			return nil, err
		}
		if kf.kind != pqLeaf || kf.leaf.conv != convString || kf.optional {
			return nil, fmt.Errorf("%s: parquet map keys other than required strings are not supported", describePath(path))
		}
		vf, err := compileRead(kv[1], path+"{}")
		if err != nil {
			return nil, err
		}
		return &pqField{schema: connectors.MapSchema(vf.schema), kind: pqMap, key: kf, elem: vf}, nil
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s: group without fields", describePath(path))
	}
	f := &pqField{kind: pqStruct}
	b := connectors.NewStruct("")
	for _, c := range fields {
		cf, err := compileRead(c, joinPath(path, c.Name()))
		if err != nil {
			return nil, err
		}
		b.Field(c.Name(), cf.schema)
		f.fields = append(f.fields, cf)
	}
	s, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", describePath(path), err)
	}
	f.schema = s
	return f, nil
}

func compileLeaf(n parquet.Node, path string) (*pqField, error) {
	t := n.Type()
	phys := t.Kind()
	lt, ct := logicalOf(n)
	f := &pqField{leaf: leafConv{phys: phys}}
	unitOf := func(u format.TimeUnit) int64 {
		switch u.Value.(type) {
		case *format.MicroSeconds:
			return 1e3
		case *format.NanoSeconds:
			return 1
		}
		return 1e6
	}
	switch l := lt.(type) {
	case *format.StringType, *format.EnumType, *format.JsonType:
		if phys == parquet.ByteArray {
			f.schema, f.leaf.conv = connectors.StringSchema(), convString
			return f, nil
		}
	case *format.DecimalType:
		f.schema, f.leaf.conv, f.leaf.scale = connectors.DecimalSchema(int(l.Scale)), convDecimal, int(l.Scale)
		f.schema.Parameters["connect.decimal.precision"] = strconv.Itoa(int(l.Precision))
		return f, nil
	case *format.DateType:
		if phys == parquet.Int32 {
			f.schema, f.leaf.conv = connectors.DateSchema(), convDate
			return f, nil
		}
	case *format.TimeType:
		if phys == parquet.Int32 || phys == parquet.Int64 {
			f.schema, f.leaf.conv, f.leaf.unit = connectors.TimeSchema(), convTime, unitOf(l.Unit)
			return f, nil
		}
	case *format.TimestampType:
		if phys == parquet.Int64 {
			f.schema, f.leaf.conv, f.leaf.unit = connectors.TimestampSchema(), convTimestamp, unitOf(l.Unit)
			return f, nil
		}
	case *format.IntType:
		switch {
		case l.IsSigned && l.BitWidth == 8:
			f.schema, f.leaf.conv = connectors.Int8Schema(), convInt8
			return f, nil
		case l.IsSigned && l.BitWidth == 16:
			f.schema, f.leaf.conv = connectors.Int16Schema(), convInt16
			return f, nil
		case !l.IsSigned && phys == parquet.Int32:
			f.schema, f.leaf.conv = connectors.Int64Schema(), convUint32
			return f, nil
		}
	}
	if lt == nil {
		switch ct {
		case deprecated.UTF8, deprecated.Enum, deprecated.Json:
			if phys == parquet.ByteArray {
				f.schema, f.leaf.conv = connectors.StringSchema(), convString
				return f, nil
			}
		case deprecated.Date:
			f.schema, f.leaf.conv = connectors.DateSchema(), convDate
			return f, nil
		case deprecated.TimestampMillis, deprecated.TimestampMicros:
			f.schema, f.leaf.conv, f.leaf.unit = connectors.TimestampSchema(), convTimestamp, 1e6
			if ct == deprecated.TimestampMicros {
				f.leaf.unit = 1e3
			}
			return f, nil
		}
	}
	switch phys {
	case parquet.Boolean:
		f.schema = connectors.BooleanSchema()
	case parquet.Int32:
		f.schema = connectors.Int32Schema()
	case parquet.Int64:
		f.schema = connectors.Int64Schema()
	case parquet.Float:
		f.schema = connectors.Float32Schema()
	case parquet.Double:
		f.schema = connectors.Float64Schema()
	case parquet.ByteArray, parquet.FixedLenByteArray:
		f.schema = connectors.BytesSchema()
	case parquet.Int96:
		f.schema, f.leaf.conv = connectors.TimestampSchema(), convInt96
	default:
		return nil, fmt.Errorf("%s: unsupported parquet type %s", describePath(path), t)
	}
	return f, nil
}

func (p *parquetReader) Next() (it Item, err error) {
	if p.final != nil {
		return Item{}, p.final
	}
	defer func() {
		if x := recover(); x != nil {
			p.final = fmt.Errorf("recordformat: parquet: corrupt file at row %d: %v", p.index, x)
			it, err = Item{}, p.final
		}
	}()
	for p.next == p.n {
		if err := p.fill(); err != nil {
			if err != io.EOF {
				p.final = err
			}
			return Item{}, err
		}
	}
	row := p.buf[p.next]
	p.next++
	p.index++
	for i := range p.cols {
		p.cols[i] = p.cols[i][:0]
		p.cur[i] = 0
	}
	for _, v := range row {
		c := v.Column()
		if c < 0 || c >= len(p.cols) {
			return Item{}, &ItemError{Pos: p.index, Err: fmt.Errorf("parquet: row %d: value of unknown column %d", p.index-1, c)}
		}
		p.cols[c] = append(p.cols[c], v)
	}
	v, err := p.assemble(p.plan)
	if err != nil {
		return Item{}, &ItemError{Pos: p.index, Err: fmt.Errorf("parquet: row %d: %w", p.index-1, err)}
	}
	if p.wrapped {
		v = v.(*connectors.Struct).At(0)
	}
	return Item{Schema: p.schema, Value: v, Pos: p.index}, nil
}

// fill reads the next rows into p.buf, moving through the row groups and
// skipping whole groups before Start.
func (p *parquetReader) fill() error {
	for p.rows == nil {
		if len(p.groups) == 0 {
			return io.EOF
		}
		g := p.groups[0]
		p.groups = p.groups[1:]
		if n := g.NumRows(); p.toSkip >= n {
			p.toSkip -= n
			continue
		}
		p.rows = g.Rows()
		if p.toSkip > 0 {
			if err := p.rows.SeekToRow(p.toSkip); err != nil {
				return fmt.Errorf("recordformat: parquet: seek to row %d: %w", p.index, err)
			}
			p.toSkip = 0
		}
	}
	n, err := p.rows.ReadRows(p.buf)
	p.n, p.next = n, 0
	if n == 0 || err != nil {
		if err != nil && err != io.EOF {
			return fmt.Errorf("recordformat: parquet: read row %d: %w", p.index, err)
		}
		if n == 0 {
			p.rows.Close()
			p.rows = nil
		}
	}
	return nil
}

var errRowShape = errors.New("row does not match the file's schema")

func (p *parquetReader) peek(col int) (parquet.Value, bool) {
	if p.cur[col] >= len(p.cols[col]) {
		return parquet.Value{}, false
	}
	return p.cols[col][p.cur[col]], true
}

func (p *parquetReader) skip(f *pqField) {
	for c := f.firstCol; c < f.firstCol+f.ncols; c++ {
		p.cur[c]++
	}
}

func (p *parquetReader) assemble(f *pqField) (any, error) {
	v, ok := p.peek(f.firstCol)
	if !ok {
		return nil, errRowShape
	}
	if f.optional && v.DefinitionLevel() < f.def {
		p.skip(f)
		return nil, nil
	}
	switch f.kind {
	case pqStruct:
		st := connectors.NewStructValue(f.schema)
		for i, c := range f.fields {
			x, err := p.assemble(c)
			if err != nil {
				return nil, err
			}
			st.Set(i, x)
		}
		return st, nil
	case pqList, pqMap:
		if v.DefinitionLevel() < f.repDef {
			p.skip(f)
			if f.kind == pqMap {
				return map[string]any{}, nil
			}
			return []any{}, nil
		}
		var arr []any
		var m map[string]any
		if f.kind == pqMap {
			m = map[string]any{}
		}
		for {
			if f.kind == pqMap {
				k, err := p.assemble(f.key)
				if err != nil {
					return nil, err
				}
				e, err := p.assemble(f.elem)
				if err != nil {
					return nil, err
				}
				ks, _ := k.(string)
				m[ks] = e
			} else {
				e, err := p.assemble(f.elem)
				if err != nil {
					return nil, err
				}
				arr = append(arr, e)
			}
			nv, ok := p.peek(f.firstCol)
			if !ok || nv.RepetitionLevel() < f.repRep {
				break
			}
		}
		if f.kind == pqMap {
			return m, nil
		}
		return arr, nil
	}
	p.cur[f.firstCol]++
	if v.IsNull() {
		if f.optional {
			return nil, nil
		}
		return nil, errRowShape
	}
	return leafValue(f, v)
}

func leafValue(f *pqField, v parquet.Value) (any, error) {
	if v.Kind() != f.leaf.phys {
		return nil, errRowShape
	}
	switch f.leaf.conv {
	case convInt8:
		return int8(v.Int32()), nil
	case convInt16:
		return int16(v.Int32()), nil
	case convUint32:
		return int64(uint32(v.Int32())), nil
	case convString:
		return string(v.ByteArray()), nil
	case convDecimal:
		switch f.leaf.phys {
		case parquet.Int32:
			return decimalRat(big.NewInt(int64(v.Int32())), f.leaf.scale), nil
		case parquet.Int64:
			return decimalRat(big.NewInt(v.Int64()), f.leaf.scale), nil
		}
		return decimalRat(fromTwosComplement(v.ByteArray()), f.leaf.scale), nil
	case convDate:
		return time.Unix(int64(v.Int32())*86400, 0).UTC(), nil
	case convTime:
		x := v.Int64()
		if f.leaf.phys == parquet.Int32 {
			x = int64(v.Int32())
		}
		return time.Unix(0, x*f.leaf.unit/1e6*1e6).UTC(), nil
	case convTimestamp:
		switch f.leaf.unit {
		case 1e3:
			return time.UnixMicro(v.Int64()).UTC(), nil
		case 1:
			return time.Unix(0, v.Int64()).UTC(), nil
		}
		return time.UnixMilli(v.Int64()).UTC(), nil
	case convInt96:
		// Impala's timestamp: nanoseconds of the day, then the Julian day.
		x := v.Int96()
		nanos := int64(uint64(x[1])<<32 | uint64(x[0]))
		return time.Unix((int64(x[2])-2440588)*86400, nanos).UTC(), nil
	}
	switch f.leaf.phys {
	case parquet.Boolean:
		return v.Boolean(), nil
	case parquet.Int32:
		return v.Int32(), nil
	case parquet.Int64:
		return v.Int64(), nil
	case parquet.Float:
		return v.Float(), nil
	case parquet.Double:
		return v.Double(), nil
	}
	return append([]byte(nil), v.ByteArray()...), nil
}
