package postgrescdc

import (
	"bytes"
	"fmt"
)

// COPY ... TO STDOUT (text format): one row per line, columns separated by
// tabs, NULL as \N, and backslash escapes (\b \f \n \r \t \v \\, octal
// \ooo and hex \xhh) for characters that would be ambiguous.

// splitCopyRow splits one row (without its newline) into tuple columns,
// unescaping in place: the columns point into line. want is the expected
// number of columns.
func splitCopyRow(line []byte, dst []tupleColumn, want int) ([]tupleColumn, error) {
	dst = dst[:0]
	for {
		end := bytes.IndexByte(line, '\t')
		field := line
		if end >= 0 {
			field = line[:end]
		}
		if len(field) == 2 && field[0] == '\\' && field[1] == 'N' {
			dst = append(dst, tupleColumn{kind: colNull})
		} else {
			f, err := unescapeCopy(field)
			if err != nil {
				return nil, err
			}
			dst = append(dst, tupleColumn{kind: colText, data: f})
		}
		if end < 0 {
			break
		}
		line = line[end+1:]
	}
	if len(dst) != want {
		return nil, fmt.Errorf("COPY row has %d columns, want %d", len(dst), want)
	}
	return dst, nil
}

// unescapeCopy removes COPY's backslash escapes in place.
func unescapeCopy(f []byte) ([]byte, error) {
	i := bytes.IndexByte(f, '\\')
	if i < 0 {
		return f, nil
	}
	w := i
	for i < len(f) {
		c := f[i]
		if c != '\\' {
			f[w] = c
			w++
			i++
			continue
		}
		if i+1 >= len(f) {
			return nil, fmt.Errorf("COPY value ends in a lone backslash")
		}
		e := f[i+1]
		i += 2
		switch e {
		case 'b':
			f[w] = '\b'
		case 'f':
			f[w] = '\f'
		case 'n':
			f[w] = '\n'
		case 'r':
			f[w] = '\r'
		case 't':
			f[w] = '\t'
		case 'v':
			f[w] = '\v'
		case 'x':
			v, n := 0, 0
			for n < 2 && i < len(f) && isHex(f[i]) {
				v = v*16 + hexVal(f[i])
				i++
				n++
			}
			if n == 0 {
				f[w] = 'x'
			} else {
				f[w] = byte(v)
			}
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v, n := int(e-'0'), 1
			for n < 3 && i < len(f) && f[i] >= '0' && f[i] <= '7' {
				v = v*8 + int(f[i]-'0')
				i++
				n++
			}
			f[w] = byte(v)
		default:
			f[w] = e
		}
		w++
	}
	return f[:w], nil
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return int(c-'A') + 10
}

// copyLines is the io.Writer given to CopyTo: it cuts the stream into
// rows (each CopyData message normally holds one) and hands each to row,
// in a scratch buffer that row may modify and that is valid only during
// the call.
type copyLines struct {
	buf []byte
	row func(line []byte) error
}

func (w *copyLines) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			return n, nil
		}
		w.buf = append(w.buf, p[:i]...)
		if err := w.row(w.buf); err != nil {
			return 0, err
		}
		w.buf = w.buf[:0]
		p = p[i+1:]
	}
	return n, nil
}
