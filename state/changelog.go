package state

import (
	"encoding/binary"
	"fmt"
)

// Changelog key formats, byte-compatible with Kafka Streams so that a
// changelog topic written by either can restore the other's stores:
//
//	key-value store: the record key itself
//	window store:    [key][window start 8B BE][seqnum 4B BE]  (WindowKeySchema.toStoreKeyBinary)
//	session store:   [key][end 8B BE][start 8B BE]            (SessionKeySchema.toBinary)
//
// Engine.RawPut takes these keys; the runtime builds them with the helpers
// below when it logs a window or session store write.

const (
	windowSuffixLen  = 8 + 4
	sessionSuffixLen = 8 + 8
)

// WindowChangelogKey returns the changelog key of a window store entry.
// seq is 0 unless the store keeps duplicates (stream-stream joins).
func WindowChangelogKey(key []byte, windowStart int64, seq uint32) []byte {
	b := make([]byte, 0, len(key)+windowSuffixLen)
	b = append(b, key...)
	b = binary.BigEndian.AppendUint64(b, uint64(windowStart))
	return binary.BigEndian.AppendUint32(b, seq)
}

// ParseWindowChangelogKey splits a window changelog key. The returned key
// aliases b.
func ParseWindowChangelogKey(b []byte) (key []byte, windowStart int64, seq uint32, err error) {
	if len(b) < windowSuffixLen {
		return nil, 0, 0, fmt.Errorf("state: window changelog key needs at least %d bytes, got %d", windowSuffixLen, len(b))
	}
	n := len(b) - windowSuffixLen
	return b[:n:n], int64(binary.BigEndian.Uint64(b[n:])), binary.BigEndian.Uint32(b[n+8:]), nil
}

// SessionChangelogKey returns the changelog key of a session store entry.
func SessionChangelogKey(key []byte, start, end int64) []byte {
	b := make([]byte, 0, len(key)+sessionSuffixLen)
	b = append(b, key...)
	b = binary.BigEndian.AppendUint64(b, uint64(end))
	return binary.BigEndian.AppendUint64(b, uint64(start))
}

// ParseSessionChangelogKey splits a session changelog key. The returned key
// aliases b.
func ParseSessionChangelogKey(b []byte) (key []byte, start, end int64, err error) {
	if len(b) < sessionSuffixLen {
		return nil, 0, 0, fmt.Errorf("state: session changelog key needs at least %d bytes, got %d", sessionSuffixLen, len(b))
	}
	n := len(b) - sessionSuffixLen
	return b[:n:n], int64(binary.BigEndian.Uint64(b[n+8:])), int64(binary.BigEndian.Uint64(b[n:])), nil
}
