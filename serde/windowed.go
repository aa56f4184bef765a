package serde

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Windowed is a record key with the window it was aggregated in, as written
// by windowed aggregations. Start and End are epoch milliseconds, like Kafka
// Streams' Window: int64 keeps the exact value that is on the wire, compares
// with ==, and works as a map key (time.Time carries a location and a
// monotonic reading that break both).
type Windowed[K any] struct {
	Key        K
	Start, End int64
}

// StartTime returns Start as a time.Time.
func (w Windowed[K]) StartTime() time.Time { return time.UnixMilli(w.Start) }

// EndTime returns End as a time.Time.
func (w Windowed[K]) EndTime() time.Time { return time.UnixMilli(w.End) }

// TimeWindowed is the serde of time-windowed keys, byte-compatible with Kafka
// Streams' TimeWindowedSerializer and TimeWindowedDeserializer:
// [inner key][window start 8B BE]. The end is not on the wire: decoding sets
// End = Start + windowSize (saturating at math.MaxInt64, as Kafka does).
func TimeWindowed[K any](inner Serde[K], windowSize time.Duration) Serde[Windowed[K]] {
	return timeWindowed[K]{inner: inner, size: windowSize.Milliseconds()}
}

type timeWindowed[K any] struct {
	inner Serde[K]
	size  int64
}

func (s timeWindowed[K]) Serialize(topic string, w Windowed[K]) ([]byte, error) {
	k, err := s.inner.Serialize(topic, w.Key)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(k)+8)
	b = append(b, k...)
	return binary.BigEndian.AppendUint64(b, uint64(w.Start)), nil
}

func (s timeWindowed[K]) Deserialize(topic string, data []byte) (Windowed[K], error) {
	var w Windowed[K]
	if len(data) < 8 {
		return w, fmt.Errorf("%w: time-windowed key from topic %q needs at least 8 bytes, got %d", ErrSize, topic, len(data))
	}
	n := len(data) - 8
	k, err := s.inner.Deserialize(topic, data[:n:n])
	if err != nil {
		return w, err
	}
	w.Key = k
	w.Start = int64(binary.BigEndian.Uint64(data[n:]))
	w.End = w.Start + s.size
	if s.size > 0 && w.End < w.Start {
		w.End = math.MaxInt64
	}
	return w, nil
}

// SessionWindowed is the serde of session-windowed keys, byte-compatible with
// Kafka Streams' SessionWindowedSerializer and SessionWindowedDeserializer:
// [inner key][end 8B BE][start 8B BE].
func SessionWindowed[K any](inner Serde[K]) Serde[Windowed[K]] {
	return sessionWindowed[K]{inner: inner}
}

type sessionWindowed[K any] struct{ inner Serde[K] }

func (s sessionWindowed[K]) Serialize(topic string, w Windowed[K]) ([]byte, error) {
	k, err := s.inner.Serialize(topic, w.Key)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(k)+16)
	b = append(b, k...)
	b = binary.BigEndian.AppendUint64(b, uint64(w.End))
	return binary.BigEndian.AppendUint64(b, uint64(w.Start)), nil
}

func (s sessionWindowed[K]) Deserialize(topic string, data []byte) (Windowed[K], error) {
	var w Windowed[K]
	if len(data) < 16 {
		return w, fmt.Errorf("%w: session-windowed key from topic %q needs at least 16 bytes, got %d", ErrSize, topic, len(data))
	}
	n := len(data) - 16
	k, err := s.inner.Deserialize(topic, data[:n:n])
	if err != nil {
		return w, err
	}
	w.Key = k
	w.End = int64(binary.BigEndian.Uint64(data[n:]))
	w.Start = int64(binary.BigEndian.Uint64(data[n+8:]))
	return w, nil
}
