package recordformat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/connectors"
)

func rec(schema *connectors.Schema, v any) *connectors.Record {
	return &connectors.Record{Topic: "t", Offset: 1, ValueSchema: schema, Value: v}
}

func write(t *testing.T, f Format, opts WriterOptions, recs ...*connectors.Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(f, &buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatalf("write %v: %v", r.Value, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads every item, collecting item errors separately.
func readAll(t *testing.T, r Reader) (items []Item, bad []*ItemError) {
	t.Helper()
	for {
		it, err := r.Next()
		if err == io.EOF {
			return items, bad
		}
		var ie *ItemError
		if errors.As(err, &ie) {
			bad = append(bad, ie)
			continue
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		items = append(items, it)
	}
}

func open(t *testing.T, f Format, data []byte, opts ReaderOptions) Reader {
	t.Helper()
	r, err := NewReader(f, bytes.NewReader(data), opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// growing is an input that a test appends to, as a tailed file grows.
type growing struct {
	data []byte
	off  int
}

func (g *growing) Read(p []byte) (int, error) {
	if g.off == len(g.data) {
		return 0, io.EOF
	}
	n := copy(p, g.data[g.off:])
	g.off += n
	return n, nil
}

// noSeek hides a reader's Seek, so that readers skip by reading.
type noSeek struct{ io.Reader }

func values(items []Item) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it.Value
	}
	return out
}

func TestLines(t *testing.T) {
	t.Parallel()
	data := write(t, Lines, WriterOptions{},
		rec(nil, "alpha"), rec(nil, []byte("beta")), rec(nil, ""), rec(nil, int32(42)), rec(nil, nil))
	if got, want := string(data), "alpha\nbeta\n\n42\n\n"; got != want {
		t.Fatalf("written %q, want %q", got, want)
	}
	items, bad := readAll(t, open(t, Lines, []byte("a\r\nbb\n\nccc"), ReaderOptions{}))
	if len(bad) != 0 {
		t.Fatal(bad)
	}
	if got, want := values(items), []any{"a", "bb", "", "ccc"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("values %q, want %q", got, want)
	}
	if got := []int64{items[0].Pos, items[1].Pos, items[2].Pos, items[3].Pos}; !reflect.DeepEqual(got, []int64{3, 6, 7, 10}) {
		t.Fatalf("positions %v", got)
	}
	if _, err := NewWriter(Lines, io.Discard, WriterOptions{}); err != nil {
		t.Fatal(err)
	}
	w, _ := NewWriter(Lines, io.Discard, WriterOptions{})
	if err := w.Write(rec(nil, map[string]any{"a": 1})); err == nil {
		t.Fatal("a map written as a line")
	}
}

func TestLinesResume(t *testing.T) {
	t.Parallel()
	data := []byte("one\ntwo\nthree\nfour\n")
	for _, tc := range []struct {
		name string
		r    func() io.Reader
		opts ReaderOptions
	}{
		{"seek", func() io.Reader { return bytes.NewReader(data) }, ReaderOptions{Start: 8}},
		{"discard", func() io.Reader { return noSeek{bytes.NewReader(data)} }, ReaderOptions{Start: 8}},
		{"aligned", func() io.Reader { return bytes.NewReader(data[8:]) }, ReaderOptions{Start: 8, StartAligned: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(Lines, tc.r(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			items, _ := readAll(t, r)
			if got := values(items); !reflect.DeepEqual(got, []any{"three", "four"}) {
				t.Fatalf("got %q", got)
			}
			if items[0].Pos != 14 || items[1].Pos != 19 {
				t.Fatalf("positions %d %d", items[0].Pos, items[1].Pos)
			}
		})
	}
	r := open(t, Lines, data, ReaderOptions{Start: 100})
	if _, err := r.Next(); err == nil || err == io.EOF {
		t.Fatalf("start past the end: %v", err)
	}
}

func TestLinesPartial(t *testing.T) {
	t.Parallel()
	g := &growing{data: []byte("a\nb")}
	r, _ := NewReader(Lines, g, ReaderOptions{Partial: true})
	it, err := r.Next()
	if err != nil || it.Value != "a" || it.Pos != 2 {
		t.Fatalf("first: %v %v", it, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("partial line returned: %v", err)
	}
	g.data = append(g.data, "cd\ne"...)
	it, err = r.Next()
	if err != nil || it.Value != "bcd" || it.Pos != 6 {
		t.Fatalf("grown: %v %v", it, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("partial line returned: %v", err)
	}
	r.(Tailer).SetPartial(false)
	it, err = r.Next()
	if err != nil || it.Value != "e" || it.Pos != 7 {
		t.Fatalf("drained: %v %v", it, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatal(err)
	}
}

func TestLinesOversize(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 200<<10)
	data := []byte("short\n" + long + "\nafter\n" + long)
	items, bad := readAll(t, open(t, Lines, data, ReaderOptions{MaxItemSize: 100 << 10}))
	if got := values(items); !reflect.DeepEqual(got, []any{"short", "after"}) {
		t.Fatalf("got %d items", len(got))
	}
	if len(bad) != 2 || bad[0].Pos != int64(6+len(long)+1) || bad[1].Pos != int64(len(data)) || len(bad[0].Raw) != maxRawKept {
		t.Fatalf("bad items: %v", bad)
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	s := connectors.NewStruct("x.Order").
		Field("id", connectors.Int64Schema()).
		Field("note", connectors.OptionalOf(connectors.StringSchema())).MustBuild()
	data := write(t, JSON, WriterOptions{},
		rec(s, connectors.NewStructValue(s).Put("id", int64(7)).Put("note", "a\nb")),
		rec(nil, map[string]any{"k": []any{int64(1), "two"}}),
	)
	if got, want := string(data), "{\"id\":7,\"note\":\"a\\nb\"}\n{\"k\":[1,\"two\"]}\n"; got != want {
		t.Fatalf("written %q, want %q", got, want)
	}
	input := append(data, "\n  \n{bad json\n[1,2]\n"...)
	items, bad := readAll(t, open(t, JSON, input, ReaderOptions{}))
	want := []any{map[string]any{"id": int64(7), "note": "a\nb"}, map[string]any{"k": []any{int64(1), "two"}}, []any{int64(1), int64(2)}}
	if got := values(items); !reflect.DeepEqual(got, want) {
		t.Fatalf("read %#v", got)
	}
	if len(bad) != 1 || string(bad[0].Raw) != "{bad json" || bad[0].Pos != int64(len(data)+4+10) {
		t.Fatalf("bad items %+v", bad)
	}
	// Coerced to a schema.
	items, bad = readAll(t, open(t, JSON, data[:bytes.IndexByte(data, '\n')+1], ReaderOptions{ValueSchema: s}))
	if len(bad) != 0 || len(items) != 1 {
		t.Fatal(bad)
	}
	st := items[0].Value.(*connectors.Struct)
	if items[0].Schema != s || st.Get("id") != int64(7) || st.Get("note") != "a\nb" {
		t.Fatalf("coerced %v", st)
	}
}

func allTypesSchema() *connectors.Schema {
	return connectors.NewStruct("x.All").
		Field("i8", connectors.Int8Schema()).
		Field("i16", connectors.Int16Schema()).
		Field("i32", connectors.Int32Schema()).
		Field("i64", connectors.Int64Schema()).
		Field("f32", connectors.Float32Schema()).
		Field("f64", connectors.Float64Schema()).
		Field("b", connectors.BooleanSchema()).
		Field("s", connectors.OptionalOf(connectors.StringSchema())).
		Field("raw", connectors.OptionalOf(connectors.BytesSchema())).
		Field("dec", connectors.DecimalSchema(2)).
		Field("day", connectors.DateSchema()).
		Field("tod", connectors.TimeSchema()).
		Field("ts", connectors.TimestampSchema()).MustBuild()
}

func allTypesValue(s *connectors.Schema, i int, str any) *connectors.Struct {
	return connectors.NewStructValue(s).
		Put("i8", int8(-i)).Put("i16", int16(300+i)).Put("i32", int32(-70000-i)).Put("i64", int64(1)<<40+int64(i)).
		Put("f32", float32(1.5)).Put("f64", 2.25+float64(i)).Put("b", i%2 == 0).Put("s", str).
		Put("raw", []byte{0, byte(i), 255}).Put("dec", big.NewRat(-12345+int64(i), 100)).
		Put("day", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)).
		Put("tod", time.Date(1970, 1, 1, 13, 14, 15, 16e6, time.UTC)).
		Put("ts", time.UnixMilli(1700000000123+int64(i)).UTC())
}

func TestCSVRoundTrip(t *testing.T) {
	t.Parallel()
	s := allTypesSchema()
	strs := []any{"plain", "", nil, "with,comma", "with \"quotes\"", "multi\nline\r\nvalue", " spaced "}
	var recs []*connectors.Record
	for i, str := range strs {
		recs = append(recs, rec(s, allTypesValue(s, i, str)))
	}
	data := write(t, CSV, WriterOptions{}, recs...)
	if !strings.HasPrefix(string(data), "i8,i16,i32,i64,f32,f64,b,s,raw,dec,day,tod,ts\n0,300,-70000,1099511627776,1.5,2.25,true,plain,AAD/,-123.45,2024-02-29,13:14:15.016,2023-11-14T22:13:20.123Z\n") {
		t.Fatalf("written:\n%s", data)
	}
	items, bad := readAll(t, open(t, CSV, data, ReaderOptions{ValueSchema: s}))
	if len(bad) != 0 || len(items) != len(strs) {
		t.Fatalf("read %d items, bad %v", len(items), bad)
	}
	for i, it := range items {
		want := allTypesValue(s, i, strs[i])
		if got := it.Value.(*connectors.Struct); !reflect.DeepEqual(fmt.Sprint(got), fmt.Sprint(want)) || got.Get("s") != want.Get("s") {
			t.Errorf("item %d: got %v, want %v", i, got, want)
		}
	}
	// Without a schema: a struct of optional strings; null stays null, "" stays "".
	items, _ = readAll(t, open(t, CSV, data, ReaderOptions{}))
	if items[0].Schema.Fields[7].Name != "s" || !items[0].Schema.Fields[7].Schema.Optional {
		t.Fatalf("schema %v", items[0].Schema)
	}
	for i, want := range strs {
		if got := items[i].Value.(*connectors.Struct).Get("s"); got != want {
			t.Errorf("item %d: s = %#v, want %#v", i, got, want)
		}
	}
	if got := items[0].Value.(*connectors.Struct).Get("ts"); got != "2023-11-14T22:13:20.123Z" {
		t.Errorf("ts %v", got)
	}
	// Positions are byte offsets after each row; resuming from one skips the rows before.
	resumed, _ := readAll(t, open(t, CSV, data, ReaderOptions{Start: items[3].Pos}))
	if len(resumed) != 3 || resumed[0].Value.(*connectors.Struct).Get("s") != strs[4] {
		t.Fatalf("resumed: %v", values(resumed))
	}
	if items[len(items)-1].Pos != int64(len(data)) {
		t.Fatalf("last position %d of %d", items[len(items)-1].Pos, len(data))
	}
}

func TestCSVMalformed(t *testing.T) {
	t.Parallel()
	data := "a;b\n1;2\n3\n\"4;5\n6;7\n8\";9\n10;1\"1\n12;13\n14;\"15\"x\n16;17"
	items, bad := readAll(t, open(t, CSV, []byte(data), ReaderOptions{CSVSeparator: ';'}))
	var got []string
	for _, it := range items {
		st := it.Value.(*connectors.Struct)
		got = append(got, fmt.Sprintf("%v|%v", st.Get("a"), st.Get("b")))
	}
	if want := []string{"1|2", "4;5\n6;7\n8|9", "12|13", "16|17"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rows %q, want %q", got, want)
	}
	var raws []string
	for _, b := range bad {
		raws = append(raws, string(b.Raw))
	}
	if want := []string{"3\n", "10;1\"1\n", "14;\"15\"x\n"}; !reflect.DeepEqual(raws, want) {
		t.Fatalf("bad rows %q, want %q", raws, want)
	}
}

func TestCSVPartial(t *testing.T) {
	t.Parallel()
	g := &growing{data: []byte("h1,h2\n\"x\ny\",1\n\"open\n")}
	r, err := NewReader(CSV, g, ReaderOptions{Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	it, err := r.Next()
	if err != nil || it.Value.(*connectors.Struct).Get("h1") != "x\ny" {
		t.Fatalf("first: %v %v", it, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("open quote returned: %v", err)
	}
	g.data = append(g.data, "field\",2"...)
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("unterminated row returned: %v", err)
	}
	g.data = append(g.data, "\n"...)
	it, err = r.Next()
	if err != nil || it.Value.(*connectors.Struct).Get("h1") != "open\nfield" || it.Pos != int64(len(g.data)) {
		t.Fatalf("grown: %v %v", it, err)
	}
}

func TestCSVSchemaChanged(t *testing.T) {
	t.Parallel()
	a := connectors.NewStruct("a").Field("x", connectors.Int32Schema()).MustBuild()
	a2 := connectors.NewStruct("a").Field("x", connectors.Int32Schema()).MustBuild()
	b := connectors.NewStruct("b").Field("y", connectors.Int32Schema()).MustBuild()
	for _, f := range []Format{CSV, Avro, Parquet} {
		w, err := NewWriter(f, io.Discard, WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(rec(a, connectors.NewStructValue(a).Put("x", int32(1)))); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := w.Write(rec(a2, connectors.NewStructValue(a2).Put("x", int32(2)))); err != nil {
			t.Fatalf("%s: an equal schema: %v", f, err)
		}
		if err := w.Write(rec(b, connectors.NewStructValue(b).Put("y", int32(1)))); !errors.Is(err, ErrSchemaChanged) {
			t.Fatalf("%s: %v, want ErrSchemaChanged", f, err)
		}
	}
	w, _ := NewWriter(CSV, io.Discard, WriterOptions{})
	nested := connectors.NewStruct("n").Field("a", a).MustBuild()
	if err := w.Write(rec(nested, connectors.NewStructValue(nested).Put("a", connectors.NewStructValue(a)))); err == nil {
		t.Fatal("a nested struct written as csv")
	}
}

func nestedSchema() *connectors.Schema {
	item := connectors.NewStruct("x.Item").
		Field("sku", connectors.StringSchema()).
		Field("qty", connectors.OptionalOf(connectors.Int32Schema())).MustBuild()
	return connectors.NewStruct("x.Order").
		Field("id", connectors.Int64Schema()).
		Field("items", connectors.ArraySchema(item)).
		Field("tags", connectors.OptionalOf(connectors.ArraySchema(connectors.OptionalOf(connectors.StringSchema())))).
		Field("attrs", connectors.MapSchema(connectors.Float64Schema())).
		Field("ship", connectors.NewStruct("x.Addr").Optional().
			Field("city", connectors.StringSchema()).
			Field("zip", connectors.OptionalOf(connectors.StringSchema())).MustBuild()).
		Field("matrix", connectors.ArraySchema(connectors.ArraySchema(connectors.Int32Schema()))).
		Field("all", connectors.OptionalOf(allTypesSchema())).
		MustBuild()
}

func nestedValue(s *connectors.Schema, i int) *connectors.Struct {
	item := s.Fields[1].Schema.ValueSchema
	addr := s.Fields[4].Schema
	v := connectors.NewStructValue(s).Put("id", int64(i))
	var items []any
	for j := 0; j < i%3; j++ {
		it := connectors.NewStructValue(item).Put("sku", fmt.Sprintf("sku-%d-%d", i, j))
		if j%2 == 0 {
			it.Put("qty", int32(j+1))
		}
		items = append(items, it)
	}
	if items == nil {
		items = []any{}
	}
	v.Put("items", items)
	switch i % 3 {
	case 0:
		v.Put("tags", nil)
	case 1:
		v.Put("tags", []any{})
	default:
		v.Put("tags", []any{"a", nil, "c"})
	}
	attrs := map[string]any{}
	for j := 0; j < i%4; j++ {
		attrs[fmt.Sprint("k", j)] = float64(j) / 2
	}
	v.Put("attrs", attrs)
	if i%2 == 1 {
		a := connectors.NewStructValue(addr).Put("city", "Lyon")
		if i%4 == 1 {
			a.Put("zip", "69001")
		}
		v.Put("ship", a)
	}
	v.Put("matrix", []any{[]any{int32(i)}, []any{}, []any{int32(1), int32(2)}})
	if i%2 == 0 {
		v.Put("all", allTypesValue(s.Fields[6].Schema, i, "s"))
	}
	return v
}

func TestParquetRoundTrip(t *testing.T) {
	t.Parallel()
	s := nestedSchema()
	var recs []*connectors.Record
	for i := range 200 {
		recs = append(recs, rec(s, nestedValue(s, i)))
	}
	for _, codec := range []string{"", "zstd"} {
		data := write(t, Parquet, WriterOptions{Compression: codec, RowGroupBytes: 4 << 10}, recs...)
		f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(f.RowGroups()); n < 2 {
			t.Fatalf("%d row groups: the writer did not bound them", n)
		}
		items, bad := readAll(t, open(t, Parquet, data, ReaderOptions{}))
		if len(bad) != 0 || len(items) != len(recs) {
			t.Fatalf("read %d items, bad %v", len(items), bad)
		}
		for i, it := range items {
			if got, want := fmt.Sprint(it.Value), fmt.Sprint(recs[i].Value); got != want {
				t.Fatalf("%s: item %d:\n got %s\nwant %s", codec, i, got, want)
			}
			if err := connectors.Validate(it.Schema, it.Value); err != nil {
				t.Fatalf("item %d: %v", i, err)
			}
			if it.Pos != int64(i+1) {
				t.Fatalf("item %d: pos %d", i, it.Pos)
			}
		}
		resumed, _ := readAll(t, open(t, Parquet, data, ReaderOptions{Start: 150}))
		if len(resumed) != 50 || fmt.Sprint(resumed[0].Value) != fmt.Sprint(recs[150].Value) || resumed[0].Pos != 151 {
			t.Fatalf("resumed: %d items", len(resumed))
		}
	}
}

func TestParquetPrimitiveValue(t *testing.T) {
	t.Parallel()
	s := connectors.OptionalOf(connectors.StringSchema())
	data := write(t, Parquet, WriterOptions{}, rec(s, "a"), rec(s, nil), rec(s, "c"))
	items, _ := readAll(t, open(t, Parquet, data, ReaderOptions{}))
	if got := values(items); !reflect.DeepEqual(got, []any{"a", nil, "c"}) {
		t.Fatalf("got %v", got)
	}
	if items[0].Schema.Type != connectors.TypeString || !items[0].Schema.Optional {
		t.Fatalf("schema %v", items[0].Schema)
	}
}

func TestAvroRoundTrip(t *testing.T) {
	t.Parallel()
	s := nestedSchema()
	var recs []*connectors.Record
	for i := range 600 {
		recs = append(recs, rec(s, nestedValue(s, i)))
	}
	for _, codec := range []string{"", "deflate", "snappy", "zstandard"} {
		data := write(t, Avro, WriterOptions{Compression: codec, avroBlockBytes: 16 << 10}, recs...)
		items, bad := readAll(t, open(t, Avro, data, ReaderOptions{}))
		if len(bad) != 0 || len(items) != len(recs) {
			t.Fatalf("%s: read %d items, bad %v", codec, len(items), bad)
		}
		for i, it := range items {
			if got, want := fmt.Sprint(it.Value), fmt.Sprint(recs[i].Value); got != want {
				t.Fatalf("%s: item %d:\n got %s\nwant %s", codec, i, got, want)
			}
			if it.Pos != int64(i+1) {
				t.Fatalf("item %d: pos %d", i, it.Pos)
			}
		}
		resumed, _ := readAll(t, open(t, Avro, data, ReaderOptions{Start: 450}))
		if len(resumed) != 150 || fmt.Sprint(resumed[0].Value) != fmt.Sprint(recs[450].Value) || resumed[0].Pos != 451 {
			t.Fatalf("%s: resumed %d items", codec, len(resumed))
		}
	}
}

func TestAvroPartial(t *testing.T) {
	t.Parallel()
	s := connectors.StringSchema()
	var recs []*connectors.Record
	for i := range 5000 {
		recs = append(recs, rec(s, fmt.Sprintf("value number %d", i)))
	}
	data := write(t, Avro, WriterOptions{avroBlockBytes: 8 << 10}, recs...)
	g := &growing{}
	r, err := NewReader(Avro, g, ReaderOptions{Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []any
	for cut := 0; cut <= len(data); cut += 3001 {
		g.data = data[:cut]
		items, _ := readAll(t, r)
		got = append(got, values(items)...)
	}
	g.data = data
	items, _ := readAll(t, r)
	got = append(got, values(items)...)
	if len(got) != len(recs) || got[4999] != "value number 4999" {
		t.Fatalf("read %d items", len(got))
	}
}
