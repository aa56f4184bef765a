package stateengine

import (
	"bytes"
	"math"
	"time"

	"github.com/sluicehq/sluice/state"
)

type kvStore struct {
	v    view
	info *storeInfo
}

func (s *kvStore) Name() string { return s.info.name }

func (s *kvStore) key(k []byte) []byte {
	return append(append(make([]byte, 0, len(s.info.prefix)+len(k)), s.info.prefix...), k...)
}

func (s *kvStore) Get(key []byte) ([]byte, error) { return s.v.get(s.key(key)) }

func (s *kvStore) Put(key, value []byte) error {
	s.v.e.keyBuf = append(append(s.v.e.keyBuf[:0], s.info.prefix...), key...)
	return s.v.e.write(s.v.e.keyBuf, value, false)
}

func (s *kvStore) Delete(key []byte) error { return s.Put(key, nil) }

func (s *kvStore) bounds(from, to []byte) (lower, upper []byte) {
	lower, upper = s.info.prefix, prefixEnd(s.info.prefix)
	if from != nil {
		lower = s.key(from)
	}
	if to != nil {
		upper = s.key(to)
	}
	return lower, upper
}

func (s *kvStore) iter(lower, upper []byte, reverse bool) (state.Iterator, error) {
	if bytes.Compare(lower, upper) >= 0 {
		return emptyIter{}, s.v.check()
	}
	c, err := s.v.cursor(lower, upper)
	if err != nil {
		return nil, err
	}
	return &kvIter{c: c, strip: len(s.info.prefix), reverse: reverse}, nil
}

func (s *kvStore) Range(from, to []byte) (state.Iterator, error) {
	lower, upper := s.bounds(from, to)
	return s.iter(lower, upper, false)
}

func (s *kvStore) ReverseRange(from, to []byte) (state.Iterator, error) {
	lower, upper := s.bounds(from, to)
	return s.iter(lower, upper, true)
}

func (s *kvStore) Prefix(prefix []byte) (state.Iterator, error) {
	lower := s.key(prefix)
	upper := prefixEnd(lower) // never nil: the store prefix is not all 0xFF
	return s.iter(lower, upper, false)
}

func (s *kvStore) All() (state.Iterator, error) { return s.Range(nil, nil) }

type kvIter struct {
	c       Cursor
	strip   int
	reverse bool
	started bool
	valid   bool
}

func (it *kvIter) Next() bool {
	switch {
	case !it.started:
		it.started = true
		if it.reverse {
			it.valid = it.c.Last()
		} else {
			it.valid = it.c.First()
		}
	case !it.valid:
	case it.reverse:
		it.valid = it.c.Prev()
	default:
		it.valid = it.c.Next()
	}
	return it.valid
}

func (it *kvIter) Key() []byte {
	k := it.c.Key()
	if len(k) < it.strip {
		return nil // the engine closed under a read-only iterator
	}
	return k[it.strip:]
}
func (it *kvIter) Value() []byte { return it.c.Value() }
func (it *kvIter) Err() error    { return it.c.Error() }
func (it *kvIter) Close() error  { return it.c.Close() }

type emptyIter struct{}

func (emptyIter) Next() bool         { return false }
func (emptyIter) Key() []byte        { return nil }
func (emptyIter) Value() []byte      { return nil }
func (emptyIter) WindowStart() int64 { return 0 }
func (emptyIter) Start() int64       { return 0 }
func (emptyIter) End() int64         { return 0 }
func (emptyIter) Err() error         { return nil }
func (emptyIter) Close() error       { return nil }

// segBounds returns the cursor bounds covering segments [lo, hi].
func segBounds(prefix []byte, lo, hi int64) (lower, upper []byte) {
	lower = appendTime(bytes.Clone(prefix), lo)
	if hi == math.MaxInt64 {
		return lower, prefixEnd(prefix)
	}
	return lower, appendTime(bytes.Clone(prefix), hi+1)
}

// keyScan walks one record key's entries across segments [seg, hi], seeking
// to (segment, key, from) in each segment that exists and skipping the
// others with one seek each.
type keyScan struct {
	c         Cursor
	prefix    []byte
	escKey    []byte // escaped, terminated record key
	from      []byte // encoded first time component to seek to
	seg, hi   int64
	started   bool
	seekBuf   []byte
	suffix    []byte // current entry's bytes after the escaped key
	accept    func(suffix []byte) (ok, past bool)
	suffixLen int
	finished  bool
	err       error
}

func (s *keyScan) seek() bool {
	s.seekBuf = append(s.seekBuf[:0], s.prefix...)
	s.seekBuf = appendTime(s.seekBuf, s.seg)
	s.seekBuf = append(s.seekBuf, s.escKey...)
	s.seekBuf = append(s.seekBuf, s.from...)
	return s.c.SeekGE(s.seekBuf)
}

func (s *keyScan) nextSeg() bool {
	if s.seg >= s.hi {
		return false
	}
	s.seg++
	return s.seek()
}

func (s *keyScan) next() bool {
	if s.finished {
		return false
	}
	var valid bool
	if !s.started {
		s.started = true
		valid = s.seek()
	} else {
		valid = s.c.Next()
	}
	for valid {
		k := s.c.Key()
		if len(k) < len(s.prefix)+8 {
			break // the engine closed under a read-only iterator
		}
		k = k[len(s.prefix):]
		seg := readTime(k[:8])
		if seg != s.seg {
			if seg > s.hi {
				break
			}
			s.seg = seg
			valid = s.seek()
			continue
		}
		rest := k[8:]
		if !bytes.HasPrefix(rest, s.escKey) {
			valid = s.nextSeg()
			continue
		}
		s.suffix = rest[len(s.escKey):]
		if len(s.suffix) != s.suffixLen {
			s.err = errCorruptKey
			break
		}
		ok, past := s.accept(s.suffix)
		if past {
			valid = s.nextSeg()
			continue
		}
		if ok {
			return true
		}
		valid = s.c.Next()
	}
	s.finished = true
	return false
}

type windowStore struct {
	v    view
	info *storeInfo
}

func (s *windowStore) Name() string { return s.info.name }
func (s *windowStore) Retention() time.Duration {
	return time.Duration(s.info.retention.Load()) * time.Millisecond
}

func (s *windowStore) Put(key []byte, windowStart int64, value []byte) error {
	return s.v.e.windowPut(s.info, key, windowStart, 0, value, false)
}

func (s *windowStore) Fetch(key []byte, windowStart int64) ([]byte, error) {
	if err := s.v.check(); err != nil {
		return nil, err
	}
	if windowStart < minLive(s.v.observed(s.info), s.info.retention.Load()) {
		return nil, nil
	}
	return s.v.get(windowKey(nil, s.info.prefix, segmentID(windowStart, s.info.segInterval), key, windowStart, 0))
}

func (s *windowStore) FetchRange(key []byte, from, to int64) (state.WindowIterator, error) {
	from = max(from, minLive(s.v.observed(s.info), s.info.retention.Load()))
	if to < from {
		return emptyIter{}, s.v.check()
	}
	lo, hi := segmentID(from, s.info.segInterval), segmentID(to, s.info.segInterval)
	lower, upper := segBounds(s.info.prefix, lo, hi)
	c, err := s.v.cursor(lower, upper)
	if err != nil {
		return nil, err
	}
	it := &windowIter{c: c, prefix: s.info.prefix, key: bytes.Clone(key)}
	it.scan = &keyScan{
		c: c, prefix: s.info.prefix, escKey: appendEscaped(nil, key), from: appendTime(nil, from),
		seg: lo, hi: hi, suffixLen: 12,
		accept: func(suffix []byte) (bool, bool) {
			start := readTime(suffix)
			return start >= from, start > to
		},
	}
	return it, nil
}

func (s *windowStore) FetchAll(from, to int64) (state.WindowIterator, error) {
	from = max(from, minLive(s.v.observed(s.info), s.info.retention.Load()))
	if to < from {
		return emptyIter{}, s.v.check()
	}
	lower, upper := segBounds(s.info.prefix, segmentID(from, s.info.segInterval), segmentID(to, s.info.segInterval))
	c, err := s.v.cursor(lower, upper)
	if err != nil {
		return nil, err
	}
	return &windowIter{c: c, prefix: s.info.prefix, from: from, to: to}, nil
}

// windowIter serves FetchRange (scan != nil, one key) and FetchAll (every
// key of the segments covering [from, to], segment by segment, then by key,
// then by window start; so each key's windows come oldest first).
type windowIter struct {
	c        Cursor
	prefix   []byte
	scan     *keyScan
	key      []byte
	from, to int64
	started  bool
	start    int64
	err      error
}

func (it *windowIter) Next() bool {
	if it.scan != nil {
		if !it.scan.next() {
			return false
		}
		it.start = readTime(it.scan.suffix)
		return true
	}
	var valid bool
	if !it.started {
		it.started = true
		valid = it.c.First()
	} else {
		valid = it.c.Next()
	}
	for ; valid; valid = it.c.Next() {
		raw := it.c.Key()
		if len(raw) < len(it.prefix)+8 {
			break
		}
		k, rest, err := readEscaped(it.key, raw[len(it.prefix)+8:])
		if err != nil || len(rest) != 12 {
			it.err = errCorruptKey
			return false
		}
		it.key = k
		it.start = readTime(rest)
		if it.start >= it.from && it.start <= it.to {
			return true
		}
	}
	return false
}

func (it *windowIter) Key() []byte        { return it.key }
func (it *windowIter) WindowStart() int64 { return it.start }
func (it *windowIter) Value() []byte      { return it.c.Value() }
func (it *windowIter) Close() error       { return it.c.Close() }
func (it *windowIter) Err() error {
	if it.err != nil {
		return it.err
	}
	if it.scan != nil && it.scan.err != nil {
		return it.scan.err
	}
	return it.c.Error()
}

type sessionStore struct {
	v    view
	info *storeInfo
}

func (s *sessionStore) Name() string { return s.info.name }
func (s *sessionStore) Retention() time.Duration {
	return time.Duration(s.info.retention.Load()) * time.Millisecond
}

func (s *sessionStore) Put(key []byte, start, end int64, value []byte) error {
	return s.v.e.sessionPut(s.info, key, start, end, value, false)
}

func (s *sessionStore) FindSessions(key []byte, earliestEnd, latestStart int64) (state.SessionIterator, error) {
	observed := s.v.observed(s.info)
	earliestEnd = max(earliestEnd, minLive(observed, s.info.retention.Load()))
	if observed == math.MinInt64 || earliestEnd > observed {
		return emptyIter{}, s.v.check()
	}
	lo, hi := segmentID(earliestEnd, s.info.segInterval), segmentID(observed, s.info.segInterval)
	lower, upper := segBounds(s.info.prefix, lo, hi)
	c, err := s.v.cursor(lower, upper)
	if err != nil {
		return nil, err
	}
	it := &sessionIter{c: c, key: bytes.Clone(key)}
	it.scan = &keyScan{
		c: c, prefix: s.info.prefix, escKey: appendEscaped(nil, key), from: appendTime(nil, earliestEnd),
		seg: lo, hi: hi, suffixLen: 16,
		accept: func(suffix []byte) (bool, bool) {
			return readTime(suffix[8:]) <= latestStart, false
		},
	}
	return it, nil
}

func (s *sessionStore) Fetch(key []byte) (state.SessionIterator, error) {
	return s.FindSessions(key, math.MinInt64, math.MaxInt64)
}

type sessionIter struct {
	c          Cursor
	scan       *keyScan
	key        []byte
	start, end int64
}

func (it *sessionIter) Next() bool {
	if !it.scan.next() {
		return false
	}
	it.end, it.start = readTime(it.scan.suffix), readTime(it.scan.suffix[8:])
	return true
}

func (it *sessionIter) Key() []byte   { return it.key }
func (it *sessionIter) Start() int64  { return it.start }
func (it *sessionIter) End() int64    { return it.end }
func (it *sessionIter) Value() []byte { return it.c.Value() }
func (it *sessionIter) Err() error {
	if it.scan.err != nil {
		return it.scan.err
	}
	return it.c.Error()
}
func (it *sessionIter) Close() error { return it.c.Close() }
