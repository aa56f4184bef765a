package recordformat

import (
	"errors"
	"fmt"
	"io"
)

// DefaultMaxItemSize is ReaderOptions.MaxItemSize's default: 16 MiB.
const DefaultMaxItemSize = 16 << 20

const inputChunk = 64 << 10

// input is a read buffer over an io.Reader that, unlike bufio.Reader, keeps
// unconsumed bytes across io.EOF and reads on after it: a tailed file that
// grows is read further by calling fill again. pos is the stream position of
// buf[off].
type input struct {
	r   io.Reader
	buf []byte
	off int
	pos int64
	max int   // largest buffer the reader may grow to
	err error // sticky error other than io.EOF
}

func newInput(r io.Reader, start int64, max int) *input {
	return &input{r: r, buf: make([]byte, 0, inputChunk), pos: start, max: max}
}

// avail returns the unconsumed bytes.
func (in *input) avail() []byte { return in.buf[in.off:] }

// consume marks n bytes as read.
func (in *input) consume(n int) {
	in.off += n
	in.pos += int64(n)
}

// errBufferFull is returned by fill when the buffer holds max bytes already.
var errBufferFull = errors.New("recordformat: item larger than the buffer limit")

// fill reads more input into the buffer. It returns nil once at least one
// byte was added, io.EOF if the input has no more bytes for now (fill may
// be called again later), errBufferFull if max unconsumed bytes are
// buffered already, or a read error.
func (in *input) fill() error {
	if in.err != nil {
		return in.err
	}
	if in.off > 0 && (in.off == len(in.buf) || len(in.buf) == cap(in.buf)) {
		n := copy(in.buf, in.buf[in.off:])
		in.buf = in.buf[:n]
		in.off = 0
	}
	if len(in.buf) == cap(in.buf) {
		if len(in.buf) >= in.max {
			return errBufferFull
		}
		nc := min(max(2*cap(in.buf), inputChunk), in.max)
		nb := make([]byte, len(in.buf), nc)
		copy(nb, in.buf)
		in.buf = nb
	}
	for tries := 0; tries < 100; tries++ {
		n, err := in.r.Read(in.buf[len(in.buf):cap(in.buf)])
		if n < 0 || n > cap(in.buf)-len(in.buf) {
			in.err = fmt.Errorf("recordformat: reader returned an invalid count %d", n)
			return in.err
		}
		in.buf = in.buf[:len(in.buf)+n]
		if n > 0 {
			return nil
		}
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			in.err = err
			return err
		}
	}
	return io.ErrNoProgress
}

// skip discards input up to stream position to: by seeking if the reader
// can, otherwise by reading. It returns io.ErrUnexpectedEOF if the input is
// shorter.
func (in *input) skip(to int64) error {
	if to <= in.pos {
		return nil
	}
	if n := int64(len(in.buf) - in.off); to-in.pos <= n {
		in.consume(int(to - in.pos))
		return nil
	}
	if s, ok := in.r.(io.Seeker); ok {
		// Discard the buffer: its bytes lie before to.
		cur, err := s.Seek(0, io.SeekCurrent)
		if err == nil && cur == in.pos+int64(len(in.buf)-in.off) {
			end, err := s.Seek(0, io.SeekEnd)
			if err != nil {
				return fmt.Errorf("recordformat: seek: %w", err)
			}
			if end < to {
				in.pos = end
				return io.ErrUnexpectedEOF
			}
			if _, err := s.Seek(to, io.SeekStart); err != nil {
				return fmt.Errorf("recordformat: seek to %d: %w", to, err)
			}
			in.buf, in.off, in.pos = in.buf[:0], 0, to
			return nil
		}
	}
	for in.pos < to {
		n := int64(len(in.buf) - in.off)
		if n == 0 {
			if err := in.fill(); err != nil {
				if err == io.EOF {
					return io.ErrUnexpectedEOF
				}
				return err
			}
			continue
		}
		in.consume(int(min(n, to-in.pos)))
	}
	return nil
}
