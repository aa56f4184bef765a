// Package serde turns typed Go values into Kafka record bytes and back.
//
// A [Serde] is a value: pass it to the DSL (dsl.Consumed, dsl.Produced, ...)
// wherever a topic is read or written. The package provides serdes for
// strings, raw bytes, big-endian integers and floats (byte-compatible with
// Kafka's Java StringSerializer, ByteArraySerializer, IntegerSerializer,
// LongSerializer and DoubleSerializer) and JSON for any Go type. Avro in the
// Confluent wire format lives in the avro sub-package.
//
// Null handling: Kafka distinguishes a null key or value from an empty one.
// Serdes never see a null: a record read with a null key or value carries
// core.Record's NullKey/NullValue flag (and the zero value) without calling
// Deserialize, and a record with the flag set is written as a null without
// calling Serialize. A nil slice returned by Serialize is written as an empty
// value, never as a null.
package serde

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// Serializer turns a value into bytes for a record written to topic.
//
// Implementations must be safe for concurrent use: one serde value is shared
// by every task of an application. The returned slice is handed to the
// producer and never modified by Sluice, so it may alias the value's memory
// (String does, to avoid a copy); callers of Serialize must not write to it.
type Serializer[T any] interface {
	Serialize(topic string, value T) ([]byte, error)
}

// Deserializer turns record bytes read from topic into a value. data is
// never nil (see the package doc on nulls). Implementations must be safe for
// concurrent use and must not modify data. The runtime hands over the
// fetched record's own bytes, which are never reused, so a result may alias
// them (Bytes does, like Kafka's ByteArrayDeserializer).
type Deserializer[T any] interface {
	Deserialize(topic string, data []byte) (T, error)
}

// Serde is a Serializer and Deserializer for the same type.
type Serde[T any] interface {
	Serializer[T]
	Deserializer[T]
}

// Funcs builds a Serde from two functions, for quick custom formats.
func Funcs[T any](ser func(topic string, v T) ([]byte, error), de func(topic string, data []byte) (T, error)) Serde[T] {
	return funcSerde[T]{ser: ser, de: de}
}

type funcSerde[T any] struct {
	ser func(string, T) ([]byte, error)
	de  func(string, []byte) (T, error)
}

func (f funcSerde[T]) Serialize(topic string, v T) ([]byte, error)   { return f.ser(topic, v) }
func (f funcSerde[T]) Deserialize(topic string, b []byte) (T, error) { return f.de(topic, b) }

// ErrTransient is wrapped by serde errors that may succeed when retried
// later, such as a schema registry that cannot be reached. The runtime's
// built-in skip and dead-letter handlers never skip or dead-letter a record
// for such an error: they stop the application instead, so that nothing is
// lost or diverted, and the record is retried when it restarts.
var ErrTransient = errors.New("serde: transient failure")

// ErrSize is wrapped by a fixed-width serde's Deserialize when the data has
// the wrong length (for example 3 bytes for an Int32).
var ErrSize = errors.New("serde: wrong data size")

// String is a UTF-8 string serde, byte-compatible with Kafka's StringSerializer.
func String() Serde[string] { return stringSerde{} }

type stringSerde struct{}

// Serialize returns the string's own bytes without copying (see Serializer).
func (stringSerde) Serialize(_ string, v string) ([]byte, error) {
	if v == "" {
		return []byte{}, nil
	}
	return unsafe.Slice(unsafe.StringData(v), len(v)), nil
}
func (stringSerde) Deserialize(_ string, b []byte) (string, error) {
	return string(b), nil
}

// Bytes passes raw bytes through unchanged, without copying, like Kafka's
// ByteArraySerializer and ByteArrayDeserializer. A deserialized value
// aliases the fetched record: do not modify it, and copy it before keeping
// it for long (it keeps the whole fetched batch in memory).
func Bytes() Serde[[]byte] { return bytesSerde{} }

type bytesSerde struct{}

func (bytesSerde) Serialize(_ string, v []byte) ([]byte, error)   { return v, nil }
func (bytesSerde) Deserialize(_ string, b []byte) ([]byte, error) { return b, nil }

// Int32 is a 4-byte big-endian serde (Kafka's IntegerSerializer).
func Int32() Serde[int32] { return int32Serde{} }

type int32Serde struct{}

func (int32Serde) Serialize(_ string, v int32) ([]byte, error) {
	return binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(v)), nil
}

func (int32Serde) Deserialize(topic string, b []byte) (int32, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("%w: int32 from topic %q needs 4 bytes, got %d", ErrSize, topic, len(b))
	}
	return int32(binary.BigEndian.Uint32(b)), nil
}

// Int64 is an 8-byte big-endian serde (Kafka's LongSerializer).
func Int64() Serde[int64] { return int64Serde{} }

type int64Serde struct{}

func (int64Serde) Serialize(_ string, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(v)), nil
}

func (int64Serde) Deserialize(topic string, b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: int64 from topic %q needs 8 bytes, got %d", ErrSize, topic, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// Float64 is an 8-byte big-endian IEEE 754 serde (Kafka's DoubleSerializer).
func Float64() Serde[float64] { return float64Serde{} }

type float64Serde struct{}

func (float64Serde) Serialize(_ string, v float64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), math.Float64bits(v)), nil
}

func (float64Serde) Deserialize(topic string, b []byte) (float64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: float64 from topic %q needs 8 bytes, got %d", ErrSize, topic, len(b))
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}

// JSON encodes values with encoding/json. Decoding errors name the topic.
func JSON[T any]() Serde[T] { return jsonSerde[T]{} }

type jsonSerde[T any] struct{}

func (jsonSerde[T]) Serialize(topic string, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("serde: json encode for topic %q: %w", topic, err)
	}
	return b, nil
}

func (jsonSerde[T]) Deserialize(topic string, b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("serde: json decode from topic %q: %w", topic, err)
	}
	return v, nil
}
