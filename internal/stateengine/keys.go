package stateengine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
)

// Internal key layout (one keyspace per task, shared by all its stores):
//
//	0x00 'r' <store name>          -> registry: kind(1) id(4) retention(8) segmentInterval(8)
//	0x00 'c' <"topic/partition">   -> checkpoint: next changelog offset (8, BE)
//	0x00 't' <store id 4B>         -> largest timestamp observed by a window/session store (8)
//	0x01 <store id 4B> <record key>                                          key-value
//	0x01 <store id 4B> <segment 8> <esc key> 0x00 0x01 <start 8> <seq 4>     window
//	0x01 <store id 4B> <segment 8> <esc key> 0x00 0x01 <end 8> <start 8>     session
//
// Times and segment ids are int64 with the sign bit flipped, so that byte
// order is numeric order for negative values too. The record key of window
// and session entries is escaped (0x00 -> 0x00 0xFF) and terminated by 0x00
// 0x01: the encoding keeps the order of the raw keys and is prefix-free, so
// one key's entries are contiguous within a segment and never interleave
// with a longer key that shares its prefix.
const (
	metaPrefix     = 0x00
	dataPrefix     = 0x01
	metaRegistry   = 'r'
	metaCheckpoint = 'c'
	metaObserved   = 't'
	storePrefixLen = 5
)

const (
	kindKeyValue byte = 'k'
	kindWindow   byte = 'w'
	kindSession  byte = 's'
)

var errCorruptKey = errors.New("state: corrupt internal key")

func kindName(k byte) string {
	switch k {
	case kindKeyValue:
		return "key-value"
	case kindWindow:
		return "window"
	case kindSession:
		return "session"
	}
	return "unknown"
}

func storePrefix(id uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{dataPrefix}, id)
}

func registryKey(name string) []byte {
	return append([]byte{metaPrefix, metaRegistry}, name...)
}

func checkpointKey(changelog string) []byte {
	return append([]byte{metaPrefix, metaCheckpoint}, changelog...)
}

func observedKey(id uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{metaPrefix, metaObserved}, id)
}

func appendTime(b []byte, t int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(t)^(1<<63))
}

func readTime(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
}

// appendEscaped appends key escaped and terminated (see the layout above).
func appendEscaped(b, key []byte) []byte {
	for {
		i := bytes.IndexByte(key, 0)
		if i < 0 {
			break
		}
		b = append(b, key[:i+1]...)
		b = append(b, 0xFF)
		key = key[i+1:]
	}
	b = append(b, key...)
	return append(b, 0x00, 0x01)
}

// readEscaped decodes an escaped key at the start of b into dst, returning
// the key and the rest of b after the terminator.
func readEscaped(dst, b []byte) (key, rest []byte, err error) {
	dst = dst[:0]
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 || i+1 >= len(b) {
			return nil, nil, errCorruptKey
		}
		dst = append(dst, b[:i]...)
		switch b[i+1] {
		case 0x01:
			return dst, b[i+2:], nil
		case 0xFF:
			dst = append(dst, 0)
			b = b[i+2:]
		default:
			return nil, nil, errCorruptKey
		}
	}
}

// prefixEnd returns the smallest key greater than every key starting with
// prefix, or nil if there is none.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// segmentID is floor(t / interval), so segments stay ordered for negative
// times as well (Kafka Streams never has those; Sluice does not forbid them).
func segmentID(t, interval int64) int64 {
	s := t / interval
	if t%interval != 0 && t < 0 {
		s--
	}
	return s
}

// minLive returns the smallest live timestamp (observed - retention + 1),
// saturating instead of overflowing.
func minLive(observed, retention int64) int64 {
	if observed == math.MinInt64 {
		return math.MinInt64
	}
	if observed < math.MinInt64+retention {
		return math.MinInt64
	}
	return observed - retention + 1
}

func windowKey(dst, prefix []byte, seg int64, key []byte, start int64, seq uint32) []byte {
	dst = append(dst[:0], prefix...)
	dst = appendTime(dst, seg)
	dst = appendEscaped(dst, key)
	dst = appendTime(dst, start)
	return binary.BigEndian.AppendUint32(dst, seq)
}

func sessionKey(dst, prefix []byte, seg int64, key []byte, start, end int64) []byte {
	dst = append(dst[:0], prefix...)
	dst = appendTime(dst, seg)
	dst = appendEscaped(dst, key)
	dst = appendTime(dst, end)
	return appendTime(dst, start)
}
