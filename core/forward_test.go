package core_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
)

// ptrProc implements PointerProcessor: it must receive every record through
// ProcessPtr and forward it unchanged with ForwardPtr.
type ptrProc struct {
	ctx          core.ProcessorContext[string, string]
	byPtr, byVal int
}

func (p *ptrProc) Init(ctx core.ProcessorContext[string, string]) error { p.ctx = ctx; return nil }
func (p *ptrProc) Close() error                                         { return nil }
func (p *ptrProc) Process(r core.Record[string, string]) error {
	p.byVal++
	return p.ctx.Forward(r)
}
func (p *ptrProc) ProcessPtr(r *core.Record[string, string]) error {
	p.byPtr++
	return p.ctx.ForwardPtr(r)
}

func TestPointerProcessorFastPath(t *testing.T) {
	topo := core.NewTopology()
	p := &ptrProc{}
	must(t, core.AddSource(topo, "src", serde.String(), serde.String(), []string{"in"}))
	must(t, core.AddProcessor(topo, "ptr", func() core.Processor[string, string, string, string] { return p }, "src"))
	must(t, core.AddSink(topo, "sink", serde.String(), serde.String(), core.ToTopic[string, string]("out"), []string{"ptr"}))
	d, err := core.NewTestDriver(topo)
	must(t, err)
	defer d.Close()
	hdr := []kgo.RecordHeader{{Key: "h", Value: []byte("1")}}
	must(t, d.Pipe(&kgo.Record{Topic: "in", Key: []byte("k1"), Value: []byte("v1"), Headers: hdr, Timestamp: time.UnixMilli(5)}))
	must(t, d.Pipe(&kgo.Record{Topic: "in", Key: nil, Value: nil, Timestamp: time.UnixMilli(6)}))
	if p.byPtr != 2 || p.byVal != 0 {
		t.Fatalf("ProcessPtr called %d times, Process %d; want 2 and 0", p.byPtr, p.byVal)
	}
	out := d.ReadOutput("out")
	if len(out) != 2 {
		t.Fatalf("got %d output records, want 2", len(out))
	}
	if string(out[0].Key) != "k1" || string(out[0].Value) != "v1" || out[0].Timestamp.UnixMilli() != 5 ||
		len(out[0].Headers) != 1 || out[0].Headers[0].Key != "h" {
		t.Fatalf("first output %+v", out[0])
	}
	if out[1].Key != nil || out[1].Value != nil || out[1].Timestamp.UnixMilli() != 6 {
		t.Fatalf("second output must keep null key and value: key %v value %v", out[1].Key, out[1].Value)
	}
	if out[0] == out[1] {
		t.Fatal("output records share memory")
	}
}

// reentrant forwards what it gets; its child forwards a second record
// through the parent's context while still holding the first one, as a
// record cache evicting into the parent from inside a child does.
type reentrant struct {
	ctx core.ProcessorContext[string, string]
}

func (p *reentrant) Init(ctx core.ProcessorContext[string, string]) error { p.ctx = ctx; return nil }
func (p *reentrant) Close() error                                         { return nil }
func (p *reentrant) Process(r core.Record[string, string]) error {
	return p.ctx.Forward(core.Record[string, string]{Key: r.Key, Value: r.Value + "!", Timestamp: r.Timestamp})
}

type holder struct {
	parent *reentrant
	seen   *[]string
}

func (h *holder) Init(core.ProcessorContext[string, string]) error { return nil }
func (h *holder) Close() error                                     { return nil }
func (h *holder) ProcessPtr(r *core.Record[string, string]) error {
	*h.seen = append(*h.seen, "enter "+r.Key+"="+r.Value)
	if r.Key == "outer" {
		if err := h.parent.ctx.Forward(core.Record[string, string]{Key: "inner", Value: "x", Timestamp: r.Timestamp}); err != nil {
			return err
		}
	}
	// The record seen on entry must be intact after the nested forward.
	*h.seen = append(*h.seen, "leave "+r.Key+"="+r.Value)
	return nil
}
func (h *holder) Process(r core.Record[string, string]) error { return h.ProcessPtr(&r) }

func TestForwardSlotsSurviveReentry(t *testing.T) {
	topo := core.NewTopology()
	parent := &reentrant{}
	var seen []string
	must(t, core.AddSource(topo, "src", serde.String(), serde.String(), []string{"in"}))
	must(t, core.AddProcessor(topo, "parent", func() core.Processor[string, string, string, string] { return parent }, "src"))
	must(t, core.AddProcessor(topo, "child", func() core.Processor[string, string, string, string] {
		return &holder{parent: parent, seen: &seen}
	}, "parent"))
	d, err := core.NewTestDriver(topo)
	must(t, err)
	defer d.Close()
	must(t, d.Pipe(&kgo.Record{Topic: "in", Key: []byte("outer"), Value: []byte("v"), Timestamp: time.UnixMilli(1)}))
	want := []string{"enter outer=v!", "enter inner=x", "leave inner=x", "leave outer=v!"}
	if len(seen) != len(want) {
		t.Fatalf("got %q, want %q", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("got %q, want %q", seen, want)
		}
	}
}
