package worker

import "unsafe"

// bytesBoxer turns []byte values into interface values without an
// allocation per value: an interface holding a slice points to a slice
// header on the heap, which the runtime allocates at every conversion
// (runtime.convTslice; 4% of a file sink's CPU). The boxer hands out
// headers from a slab instead, one allocation per 512 values.
//
// Interfaces are immutable, so a header is written once and never reused:
// slabs are dropped, not recycled, and a record kept by a sink keeps its
// slab (12 KiB) alive, as the record slab does (see sinkRun.newRecord).
type bytesBoxer struct{ slab [][]byte }

// eface is the runtime's layout of an empty interface.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// bytesType is the runtime type word of []byte.
var bytesType = func() unsafe.Pointer {
	var v any = []byte(nil)
	return (*eface)(unsafe.Pointer(&v)).typ
}()

// box returns b as an interface value, equal to any(b).
func (x *bytesBoxer) box(b []byte) any {
	if len(x.slab) == 0 {
		x.slab = make([][]byte, 512)
	}
	h := &x.slab[0]
	x.slab = x.slab[1:]
	*h = b
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ = bytesType
	e.data = unsafe.Pointer(h)
	return v
}
