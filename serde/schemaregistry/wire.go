package schemaregistry

import (
	"encoding/binary"
	"fmt"
)

// The Confluent wire format: magic byte 0, the writer schema's registry
// id as a 4-byte big-endian integer, then the encoded value (Avro binary
// for Avro; Protobuf adds message indexes, which Sluice does not write).
const (
	// HeaderSize is the length of the wire-format header.
	HeaderSize = 5
	magicByte  = 0
)

// AppendHeader appends the wire-format header for schema id to dst.
func AppendHeader(dst []byte, id uint32) []byte {
	return binary.BigEndian.AppendUint32(append(dst, magicByte), id)
}

// ParseHeader splits a wire-format record into its schema id and body.
// The error says what is wrong (too short, which magic byte); callers add
// the topic and their error kind.
func ParseHeader(data []byte) (id uint32, body []byte, err error) {
	if len(data) < HeaderSize {
		return 0, nil, fmt.Errorf("record is %d bytes, shorter than the 5-byte wire-format header (magic byte 0 + 4-byte schema id)", len(data))
	}
	if data[0] != magicByte {
		return 0, nil, fmt.Errorf("magic byte is 0x%02x, want 0x00 (not written by a schema-registry serializer?)", data[0])
	}
	return binary.BigEndian.Uint32(data[1:HeaderSize]), data[HeaderSize:], nil
}

// FitsHeader reports whether a registry id fits the header's 4 bytes.
func FitsHeader(id int) bool { return id >= 0 && int64(id) <= 0xFFFFFFFF }
