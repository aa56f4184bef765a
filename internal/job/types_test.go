package job

import (
	"fmt"
	goruntime "runtime"
	"strings"
	"testing"
)

// TestBoxString: a boxed string reads back as string(b), whatever b
// becomes later, and stays intact through garbage collections while only
// a string copied out of the interface, or a substring of it, holds it.
func TestBoxString(t *testing.T) {
	for _, in := range []string{"", "a", "0123456789abcdef", strings.Repeat("key-", 100), "日本"} {
		b := []byte(in)
		v := boxString(b)
		for i := range b {
			b[i] = 'x'
		}
		if s, ok := v.(string); !ok || s != in {
			t.Fatalf("boxString(%q) = %#v", in, v)
		}
	}
	var kept []string
	for i := range 1000 {
		s := boxString([]byte(fmt.Sprintf("key-%04d-%s", i, strings.Repeat("z", i%40)))).(string)
		kept = append(kept, s[:9]) // an interior pointer only
		if i%100 == 0 {
			goruntime.GC()
		}
	}
	goruntime.GC()
	for i, s := range kept {
		if want := fmt.Sprintf("key-%04d-", i); s != want {
			t.Fatalf("kept[%d] = %q, want %q", i, s, want)
		}
	}
	if v, _ := (stringAny{}).Deserialize("t", []byte("k1")); v != "k1" {
		t.Errorf("stringAny.Deserialize = %#v", v)
	}
}
