package core

import "testing"

// BenchmarkE2ERecord is the per-record cost of metrics at INFO: the
// end-to-end latency recorded at a source or terminal node (a record
// passes two of them in a stateless pipeline).
func BenchmarkE2ERecord(b *testing.B) {
	l := newE2ELatency("sink")
	tk := &task{wallMs: 1_000_000}
	var ts int64
	for b.Loop() {
		ts++
		l.record(tk.wallMs - ts)
	}
	if l.count == 0 {
		b.Fatal("nothing recorded")
	}
}
