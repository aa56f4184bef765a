package postgrescdc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A decoder of pgoutput's protocol (version 1: PostgreSQL 10 and later),
// written for this connector rather than taken from pglogrepl: it checks
// every length against the buffer (a malformed message is an error, never
// a panic or an out-of-range read), copies each message once and lets the
// tuples point into that copy, which matters at hundreds of thousands of
// changes a second.

// walMessage is one decoded replication message, or a keepalive marker
// (kind 'k') that the reader puts in the queue so that positions reported
// by the server keep their order with the changes.
type walMessage struct {
	kind byte
	// walStart is the XLogData's start: for changes the LSN of their WAL
	// record.
	walStart uint64

	// Begin ('B'): the transaction's commit LSN, commit time and id.
	// Commit ('C'): commitLSN and endLSN (the end of the commit record).
	finalLSN   uint64
	commitTime time.Time
	xid        uint32
	commitLSN  uint64
	endLSN     uint64

	// Relation ('R').
	rel *relationMessage
	// Type ('Y'): the OID of a type whose definition was sent.
	typeOID uint32

	// Insert ('I'), Update ('U'), Delete ('D'): the relation, the old
	// tuple's kind ('K' key, 'O' old row, 0 none) and the tuples.
	relID   uint32
	oldKind byte
	old     []tupleColumn
	new     []tupleColumn

	// Truncate ('T').
	relIDs        []uint32
	truncateFlags byte

	// Logical decoding message ('M'); messageLSN is its record's LSN.
	messageLSN    uint64
	transactional bool
	prefix        string
	content       []byte

	// Keepalive marker ('k'): the server's WAL end.
	walEnd uint64
}

// Tuple column kinds.
const (
	colNull      = 'n'
	colUnchanged = 'u' // an unchanged TOASTed value, not sent
	colText      = 't'
	colBinary    = 'b'
)

type tupleColumn struct {
	kind byte
	data []byte
}

type relationMessage struct {
	id        uint32
	namespace string
	name      string
	replIdent byte // d default, n nothing, f full, i index
	columns   []relationColumn
}

type relationColumn struct {
	key    bool // part of the replica identity
	name   string
	typ    uint32
	typmod int32
}

var errShort = errors.New("pgoutput: message too short")

type reader struct {
	b   []byte
	err error
}

func (r *reader) need(n int) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || len(r.b) < n {
		r.err = errShort
		return false
	}
	return true
}

func (r *reader) u8() byte {
	if !r.need(1) {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) str() string {
	if r.err != nil {
		return ""
	}
	for i, c := range r.b {
		if c == 0 {
			s := string(r.b[:i])
			r.b = r.b[i+1:]
			return s
		}
	}
	r.err = errors.New("pgoutput: unterminated string")
	return ""
}

func (r *reader) bytes(n int) []byte {
	if !r.need(n) {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// pgEpoch is PostgreSQL's epoch (2000-01-01) in Unix microseconds.
const pgEpoch = 946684800 * 1000000

func pgTime(us uint64) time.Time { return time.UnixMicro(int64(us) + pgEpoch) }

func (r *reader) tuple() []tupleColumn {
	n := int(r.u16())
	if r.err != nil {
		return nil
	}
	if n > len(r.b) { // each column takes at least one byte
		r.err = errShort
		return nil
	}
	cols := make([]tupleColumn, n)
	for i := range cols {
		k := r.u8()
		cols[i].kind = k
		switch k {
		case colNull, colUnchanged:
		case colText, colBinary:
			l := r.u32()
			if l > uint32(len(r.b)) {
				r.err = errShort
				return nil
			}
			cols[i].data = r.bytes(int(l))
		default:
			if r.err == nil {
				r.err = fmt.Errorf("pgoutput: unknown tuple column kind %q", k)
			}
			return nil
		}
	}
	return cols
}

// decodePgoutput decodes one pgoutput message. data is copied: the result
// does not alias it.
func decodePgoutput(data []byte) (*walMessage, error) {
	if len(data) == 0 {
		return nil, errShort
	}
	buf := make([]byte, len(data)-1)
	copy(buf, data[1:])
	r := &reader{b: buf}
	m := &walMessage{kind: data[0]}
	switch m.kind {
	case 'B':
		m.finalLSN = r.u64()
		m.commitTime = pgTime(r.u64())
		m.xid = r.u32()
	case 'C':
		r.u8() // flags
		m.commitLSN = r.u64()
		m.endLSN = r.u64()
		m.commitTime = pgTime(r.u64())
	case 'O':
		r.u64()
		r.str()
	case 'R':
		rel := &relationMessage{}
		rel.id = r.u32()
		rel.namespace = r.str()
		rel.name = r.str()
		rel.replIdent = r.u8()
		n := int(r.u16())
		if r.err == nil && n > len(r.b) {
			r.err = errShort
		}
		if r.err == nil {
			rel.columns = make([]relationColumn, n)
			for i := range rel.columns {
				c := &rel.columns[i]
				c.key = r.u8()&1 == 1
				c.name = r.str()
				c.typ = r.u32()
				c.typmod = int32(r.u32())
			}
		}
		m.rel = rel
	case 'Y':
		m.typeOID = r.u32()
		r.str()
		r.str()
	case 'I':
		m.relID = r.u32()
		if k := r.u8(); k != 'N' && r.err == nil {
			return nil, fmt.Errorf("pgoutput: insert: want a new tuple, got %q", k)
		}
		m.new = r.tuple()
	case 'U':
		m.relID = r.u32()
		k := r.u8()
		if k == 'K' || k == 'O' {
			m.oldKind = k
			m.old = r.tuple()
			k = r.u8()
		}
		if k != 'N' && r.err == nil {
			return nil, fmt.Errorf("pgoutput: update: want a new tuple, got %q", k)
		}
		m.new = r.tuple()
	case 'D':
		m.relID = r.u32()
		k := r.u8()
		if k != 'K' && k != 'O' && r.err == nil {
			return nil, fmt.Errorf("pgoutput: delete: want a key or old tuple, got %q", k)
		}
		m.oldKind = k
		m.old = r.tuple()
	case 'T':
		n := int(r.u32())
		m.truncateFlags = r.u8()
		if r.err == nil && n > len(r.b)/4 {
			r.err = errShort
		}
		if r.err == nil {
			m.relIDs = make([]uint32, n)
			for i := range m.relIDs {
				m.relIDs[i] = r.u32()
			}
		}
	case 'M':
		m.transactional = r.u8()&1 == 1
		m.messageLSN = r.u64()
		m.prefix = r.str()
		l := r.u32()
		if r.err == nil && l > uint32(len(r.b)) {
			r.err = errShort
		}
		m.content = r.bytes(int(l))
	default:
		return nil, fmt.Errorf("pgoutput: unsupported message type %q (streaming of in-progress transactions is not requested)", m.kind)
	}
	if r.err != nil {
		return nil, fmt.Errorf("pgoutput: %q message: %w", m.kind, r.err)
	}
	return m, nil
}
