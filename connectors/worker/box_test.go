package worker

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
)

// TestBytesBoxer checks that boxed values are []byte interfaces equal to
// any(b), that nil and empty slices keep their identity, and that boxed
// values survive garbage collections after their slab is dropped.
func TestBytesBoxer(t *testing.T) {
	var x bytesBoxer
	if v, ok := x.box(nil).([]byte); !ok || v != nil {
		t.Fatalf("box(nil) = %#v, want []byte(nil)", x.box(nil))
	}
	if v, ok := x.box([]byte{}).([]byte); !ok || v == nil || len(v) != 0 {
		t.Fatalf("box([]byte{}) = %#v, want an empty non-nil []byte", v)
	}
	boxed := make([]any, 5000) // spans several slabs
	for i := range boxed {
		boxed[i] = x.box(fmt.Appendf(nil, "value-%d", i))
	}
	x = bytesBoxer{}
	runtime.GC()
	runtime.GC()
	for i, v := range boxed {
		b, ok := v.([]byte)
		if !ok || !bytes.Equal(b, fmt.Appendf(nil, "value-%d", i)) {
			t.Fatalf("boxed[%d] = %#v", i, v)
		}
		var want any = fmt.Appendf(nil, "value-%d", i)
		if fmt.Sprint(v) != fmt.Sprint(want) {
			t.Fatalf("boxed[%d] prints %v, want %v", i, v, want)
		}
	}
}
