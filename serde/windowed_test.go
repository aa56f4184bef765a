package serde_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/sluicehq/sluice/serde"
)

func TestTimeWindowedBytes(t *testing.T) {
	s := serde.TimeWindowed(serde.String(), 5*time.Minute)
	w := serde.Windowed[string]{Key: "user-1", Start: 1_700_000_000_000, End: 1_700_000_300_000}
	b, err := s.Serialize("t", w)
	if err != nil {
		t.Fatal(err)
	}
	// "user-1" then 1_700_000_000_000 = 0x0000018BCFE56800 big-endian.
	if want := "757365722d31" + "0000018bcfe56800"; hex.EncodeToString(b) != want {
		t.Fatalf("bytes %x, want %s", b, want)
	}
	got, err := s.Deserialize("t", b)
	if err != nil || got != w {
		t.Fatalf("round trip %+v, %v", got, err)
	}
	if _, err := s.Deserialize("t", []byte{1, 2, 3}); !errors.Is(err, serde.ErrSize) {
		t.Fatalf("short input: %v", err)
	}
	late, _ := s.Serialize("t", serde.Windowed[string]{Key: "k", Start: math.MaxInt64 - 10})
	got, err = s.Deserialize("t", late)
	if err != nil || got.End != math.MaxInt64 {
		t.Fatalf("overflowing end: %+v, %v (Kafka saturates at Long.MAX_VALUE)", got, err)
	}
}

func TestSessionWindowedBytes(t *testing.T) {
	s := serde.SessionWindowed(serde.Int32())
	w := serde.Windowed[int32]{Key: 7, Start: 1000, End: 2500}
	b, err := s.Serialize("t", w)
	if err != nil {
		t.Fatal(err)
	}
	if want := "00000007" + "00000000000009c4" + "00000000000003e8"; hex.EncodeToString(b) != want {
		t.Fatalf("bytes %x, want %s", b, want)
	}
	got, err := s.Deserialize("t", b)
	if err != nil || got != w {
		t.Fatalf("round trip %+v, %v", got, err)
	}
	if _, err := s.Deserialize("t", make([]byte, 15)); !errors.Is(err, serde.ErrSize) {
		t.Fatalf("short input: %v", err)
	}
	if _, err := s.Deserialize("t", make([]byte, 17)); !errors.Is(err, serde.ErrSize) {
		t.Fatalf("inner int32 of 1 byte: %v", err)
	}
}

func FuzzTimeWindowedDeserialize(f *testing.F) {
	f.Add([]byte("k\x00\x00\x01\x8b\xcf\xe5\x68\x00"))
	f.Add([]byte{})
	s := serde.TimeWindowed(serde.Bytes(), time.Minute)
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := s.Deserialize("t", data)
		if err != nil {
			return
		}
		b, err := s.Serialize("t", w)
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("re-encoded %x, want %x (%v)", b, data, err)
		}
	})
}

func FuzzSessionWindowedDeserialize(f *testing.F) {
	f.Add(make([]byte, 16))
	f.Add([]byte("key\x00\x00\x00\x00\x00\x00\x09\xc4\x00\x00\x00\x00\x00\x00\x03\xe8"))
	s := serde.SessionWindowed(serde.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := s.Deserialize("t", data)
		if err != nil {
			return
		}
		b, err := s.Serialize("t", w)
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("re-encoded %x, want %x (%v)", b, data, err)
		}
	})
}
