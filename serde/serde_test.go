package serde

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// Byte vectors as written by Kafka's Java serializers.
func TestJavaCompatibleBytes(t *testing.T) {
	check := func(name string, got []byte, err error, want []byte) {
		t.Helper()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s = % x, %v; want % x", name, got, err, want)
		}
	}
	b, err := Int32().Serialize("t", -2)
	check("Int32(-2)", b, err, []byte{0xff, 0xff, 0xff, 0xfe})
	b, err = Int64().Serialize("t", 258)
	check("Int64(258)", b, err, []byte{0, 0, 0, 0, 0, 0, 1, 2})
	b, err = Float64().Serialize("t", 1.5)
	check("Float64(1.5)", b, err, []byte{0x3f, 0xf8, 0, 0, 0, 0, 0, 0})
	b, err = String().Serialize("t", "héllo")
	check("String", b, err, []byte("héllo"))
	b, err = JSON[map[string]int]().Serialize("t", map[string]int{"a": 1})
	check("JSON", b, err, []byte(`{"a":1}`))
}

func TestRoundTrips(t *testing.T) {
	roundTrip(t, Int32(), []int32{0, 1, -1, math.MaxInt32, math.MinInt32})
	roundTrip(t, Int64(), []int64{0, 1, -1, math.MaxInt64, math.MinInt64})
	roundTrip(t, Float64(), []float64{0, -0.5, math.Inf(1), math.MaxFloat64})
	roundTrip(t, String(), []string{"", "a", "日本語"})
	type point struct{ X, Y int }
	roundTrip(t, JSON[point](), []point{{}, {1, -2}})
}

func roundTrip[T comparable](t *testing.T, s Serde[T], values []T) {
	t.Helper()
	for _, v := range values {
		b, err := s.Serialize("topic", v)
		if err != nil {
			t.Fatalf("serialize %v: %v", v, err)
		}
		got, err := s.Deserialize("topic", b)
		if err != nil || got != v {
			t.Fatalf("round trip %v: got %v, %v", v, got, err)
		}
	}
}

func TestSizeErrors(t *testing.T) {
	if _, err := Int32().Deserialize("orders", []byte{1, 2, 3}); !errors.Is(err, ErrSize) {
		t.Errorf("Int32 of 3 bytes: err = %v, want ErrSize", err)
	}
	if _, err := Int64().Deserialize("orders", []byte{1}); !errors.Is(err, ErrSize) {
		t.Errorf("Int64 of 1 byte: err = %v, want ErrSize", err)
	}
	if _, err := Float64().Deserialize("orders", nil); !errors.Is(err, ErrSize) {
		t.Errorf("Float64 of 0 bytes: err = %v, want ErrSize", err)
	}
	if _, err := JSON[int]().Deserialize("orders", []byte("{")); err == nil {
		t.Error("JSON of a truncated object: no error")
	}
}

// Bytes passes the record's bytes through without copying, both ways.
func TestBytesZeroCopy(t *testing.T) {
	in := []byte("abc")
	out, _ := Bytes().Deserialize("t", in)
	ser, _ := Bytes().Serialize("t", out)
	if &out[0] != &in[0] || &ser[0] != &in[0] {
		t.Fatal("Bytes copied")
	}
}

// FuzzDecoders: no decoder panics on arbitrary bytes, and fixed-width ones
// accept exactly their size.
func FuzzDecoders(f *testing.F) {
	for _, s := range [][]byte{nil, {}, {1, 2, 3, 4}, {0, 0, 0, 0, 0, 0, 0, 1}, []byte(`{"a":1}`), []byte("\xff\xfe")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := Int32().Deserialize("t", data); (err == nil) != (len(data) == 4) {
			t.Fatalf("Int32 of %d bytes: err = %v", len(data), err)
		}
		if _, err := Int64().Deserialize("t", data); (err == nil) != (len(data) == 8) {
			t.Fatalf("Int64 of %d bytes: err = %v", len(data), err)
		}
		_, _ = Float64().Deserialize("t", data)
		_, _ = JSON[map[string]any]().Deserialize("t", data)
		if s, _ := String().Deserialize("t", data); s != string(data) {
			t.Fatal("String changed the bytes")
		}
	})
}
