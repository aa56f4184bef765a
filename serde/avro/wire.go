package avro

import (
	"encoding/binary"
	"fmt"
)

// The Confluent wire format: magic byte 0, the writer schema id as a 4-byte
// big-endian integer, then the Avro binary encoding of the value.
const (
	magicByte  = 0
	headerSize = 5
)

// putHeader writes the 5-byte header for schema id into dst.
func putHeader(dst []byte, id uint32) {
	dst[0] = magicByte
	binary.BigEndian.PutUint32(dst[1:headerSize], id)
}

// parseHeader splits a wire-format record into its schema id and Avro body.
func parseHeader(data []byte) (id uint32, body []byte, err error) {
	if len(data) < headerSize {
		return 0, nil, fmt.Errorf("record is %d bytes, shorter than the 5-byte wire-format header (magic byte 0 + 4-byte schema id)", len(data))
	}
	if data[0] != magicByte {
		return 0, nil, fmt.Errorf("magic byte is 0x%02x, want 0x00 (not written by a schema-registry serializer?)", data[0])
	}
	return binary.BigEndian.Uint32(data[1:headerSize]), data[headerSize:], nil
}
