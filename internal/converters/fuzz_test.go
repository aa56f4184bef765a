package converters

import (
	"bytes"
	"testing"
)

// FuzzStringConverter reads arbitrary bytes in every encoding: never a
// panic, UTF-8 is lossless, and reading and writing again changes nothing more.
func FuzzStringConverter(f *testing.F) {
	f.Add([]byte("héllo"))
	f.Add([]byte{0xFE, 0xFF, 0xD8, 0x00})
	f.Add([]byte{0xFF, 0xFE, 'h', 0, 0x3D})
	f.Add([]byte{0xC3})
	encodings := []string{"UTF-8", "UTF-16", "UTF-16BE", "UTF-16LE", "ISO-8859-1", "US-ASCII"}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, enc := range encodings {
			s := decodeText(enc, data)
			out := encodeText(enc, s)
			if enc == "UTF-8" && !bytes.Equal(out, data) {
				t.Fatalf("UTF-8 not lossless: %x -> %x", data, out)
			}
			// Writing what was read is stable (unmappable characters
			// become '?' or U+FFFD once).
			if again := encodeText(enc, decodeText(enc, out)); !bytes.Equal(again, out) {
				t.Fatalf("%s: %q wrote %x, then %x", enc, s, out, again)
			}
		}
	})
}
