package recordformat

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/hamba/avro/v2/ocf"

	"github.com/sluicehq/sluice/connectors"
)

// drain reads r to its end, checking that positions only grow and stay
// within the input, and that it ends (every call makes progress).
func drain(t *testing.T, r Reader, limit int64, positional bool) {
	last := int64(0)
	for i := 0; ; i++ {
		if i > 1<<20 {
			if !positional {
				return // a few bytes of Parquet or Avro can describe millions of items
			}
			t.Fatal("the reader does not end")
		}
		it, err := r.Next()
		if err == io.EOF {
			return
		}
		pos := it.Pos
		var ie *ItemError
		if errors.As(err, &ie) {
			pos = ie.Pos
		} else if err != nil {
			return // a final error
		}
		if pos < last || (positional && pos > limit) {
			t.Fatalf("position %d after %d (input %d bytes)", pos, last, limit)
		}
		if err == nil && positional && pos == last && i > 0 {
			t.Fatalf("item without progress at %d", pos)
		}
		last = pos
	}
}

// fuzzText runs a text format over data whole, then split in two as a
// growing file.
func fuzzText(t *testing.T, f Format, data []byte, cut uint16, opts ReaderOptions) {
	opts.MaxItemSize = 1 << 10
	r, err := NewReader(f, bytes.NewReader(data), opts)
	if err != nil {
		return
	}
	drain(t, r, int64(len(data)), f != Avro)

	c := int(cut) % (len(data) + 1)
	g := &growing{data: data[:c]}
	opts.Partial = true
	r, err = NewReader(f, g, opts)
	if err != nil {
		return
	}
	drain(t, r, int64(c), f != Avro)
	g.data = data
	drain(t, r, int64(len(data)), f != Avro)
	r.(Tailer).SetPartial(false)
	drain(t, r, int64(len(data)), f != Avro)
}

func FuzzLinesReader(f *testing.F) {
	f.Add([]byte("a\nbb\r\n\nccc"), uint16(3))
	f.Add([]byte(""), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		fuzzText(t, Lines, data, cut, ReaderOptions{})
		// Lines read whole and in two parts agree.
		var whole, parts []any
		r, _ := NewReader(Lines, bytes.NewReader(data), ReaderOptions{})
		items, _ := readAll(t, r)
		whole = values(items)
		c := int(cut) % (len(data) + 1)
		g := &growing{data: data[:c]}
		r, _ = NewReader(Lines, g, ReaderOptions{Partial: true})
		items, _ = readAll(t, r)
		parts = values(items)
		g.data = data
		r.(Tailer).SetPartial(false)
		items, _ = readAll(t, r)
		parts = append(parts, values(items)...)
		if len(whole) != len(parts) {
			t.Fatalf("whole %q, in parts %q", whole, parts)
		}
		for i := range whole {
			if whole[i] != parts[i] {
				t.Fatalf("whole %q, in parts %q", whole, parts)
			}
		}
	})
}

func FuzzJSONReader(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n[1,2]\n{bad\n\"s\""), uint16(9))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		fuzzText(t, JSON, data, cut, ReaderOptions{})
	})
}

func FuzzCSVReader(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n\"x\ny\",\"\"\"\"\n3\n,\n"), uint16(12), byte(','))
	f.Add([]byte("\uFEFFh\r\n\"open"), uint16(4), byte(';'))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16, sep byte) {
		s := connectors.NewStruct("").Field("a", connectors.OptionalOf(connectors.Int32Schema())).
			Field("b", connectors.OptionalOf(connectors.StringSchema())).MustBuild()
		fuzzText(t, CSV, data, cut, ReaderOptions{CSVSeparator: sep})
		fuzzText(t, CSV, data, cut, ReaderOptions{CSVSeparator: sep, ValueSchema: s})
	})
}

// FuzzCSVRoundTrip checks that any strings (and nulls) survive a round trip.
func FuzzCSVRoundTrip(f *testing.F) {
	f.Add("a", "", true, "x,\"y\"\r\n")
	f.Fuzz(func(t *testing.T, a, b string, bNull bool, c string) {
		s := connectors.NewStruct("").Field("a", connectors.OptionalOf(connectors.StringSchema())).
			Field("b", connectors.OptionalOf(connectors.StringSchema())).
			Field("c", connectors.OptionalOf(connectors.StringSchema())).MustBuild()
		v := connectors.NewStructValue(s).Put("a", a).Put("c", c)
		if !bNull {
			v.Put("b", b)
		}
		data := write(t, CSV, WriterOptions{}, rec(s, v), rec(s, v))
		items, bad := readAll(t, open(t, CSV, data, ReaderOptions{}))
		if len(bad) != 0 || len(items) != 2 {
			t.Fatalf("%q: %d items, bad %v", data, len(items), bad)
		}
		for _, it := range items {
			got := it.Value.(*connectors.Struct)
			if got.Get("a") != v.Get("a") || got.Get("b") != v.Get("b") || got.Get("c") != v.Get("c") {
				t.Fatalf("%q: got %v, want %v", data, got, v)
			}
		}
	})
}

func FuzzAvroReader(f *testing.F) {
	var buf bytes.Buffer
	enc, err := ocf.NewEncoder(`{"type":"record","name":"r","fields":[{"name":"a","type":["null","string"]},{"name":"b","type":{"type":"array","items":"long"}}]}`,
		&buf, ocf.WithCodec(ocf.Deflate), ocf.WithBlockLength(2))
	if err != nil {
		f.Fatal(err)
	}
	for i := range 5 {
		if err := enc.Encode(map[string]any{"a": map[string]any{"string": "x"}, "b": []int64{int64(i)}}); err != nil {
			f.Fatal(err)
		}
	}
	_ = enc.Close()
	f.Add(buf.Bytes(), uint16(100), int64(0))
	f.Add(buf.Bytes(), uint16(7), int64(3))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16, start int64) {
		fuzzText(t, Avro, data, cut, ReaderOptions{Start: start & 0xff})
	})
}

func FuzzParquetReader(f *testing.F) {
	s := nestedSchema()
	var buf bytes.Buffer
	w, err := NewWriter(Parquet, &buf, WriterOptions{RowGroupBytes: 1 << 10})
	if err == nil {
		for i := range 20 {
			if err = w.Write(rec(s, nestedValue(s, i))); err != nil {
				break
			}
		}
		if err == nil && w.Close() == nil {
			f.Add(buf.Bytes(), int64(0))
			f.Add(buf.Bytes(), int64(5))
		}
	}
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"), int64(0))
	f.Fuzz(func(t *testing.T, data []byte, start int64) {
		r, err := NewReader(Parquet, bytes.NewReader(data), ReaderOptions{Start: start & 0xff})
		if err != nil {
			return
		}
		for i := 0; i < 10000; i++ { // a few bytes can describe billions of null rows
			if _, err := r.Next(); err != nil && !errors.As(err, new(*ItemError)) {
				return
			}
		}
	})
}
