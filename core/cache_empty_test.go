package core_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

type flushCall struct {
	key              string
	newValue, oldVal []byte
}

// emptyValueProcessor puts an empty value for "put" records and deletes
// the key for "delete" records, through a cached store with a listener.
type emptyValueProcessor struct {
	store state.KeyValueStore
	calls *[]flushCall
}

func (p *emptyValueProcessor) Init(ctx core.ProcessorContext[string, string]) error {
	s, err := ctx.StateStore("s")
	if err != nil {
		return err
	}
	p.store = s.(state.KeyValueStore)
	return core.SetKeyValueFlushListener(ctx, "s", func(key, newValue, oldValue []byte, _ time.Time) error {
		*p.calls = append(*p.calls, flushCall{string(key), newValue, oldValue})
		return nil
	})
}

func (p *emptyValueProcessor) Process(r core.Record[string, string]) error {
	if r.Value == "delete" {
		return p.store.Delete([]byte(r.Key))
	}
	return p.store.Put([]byte(r.Key), []byte{})
}

func (p *emptyValueProcessor) Close() error { return nil }

// A present empty value is a value: deleting it reaches the store and the
// listener sees it as the old value (a copy of it must not turn into nil,
// which reads as "no such key").
func TestCachedStoreDeletesEmptyValues(t *testing.T) {
	var calls []flushCall
	proc := &emptyValueProcessor{calls: &calls}
	topo := core.NewTopology()
	must(t, core.AddSource(topo, "src", serde.String(), serde.String(), []string{"in"}))
	must(t, core.AddProcessor(topo, "p", func() core.Processor[string, string, string, string] { return proc }, "src"))
	must(t, topo.AddStateStore(core.StoreSpec{Name: "s", Kind: core.KeyValueStoreKind}, "p"))
	d, err := core.NewTestDriver(topo)
	must(t, err)
	defer d.Close()
	must(t, d.Pipe(&kgo.Record{Topic: "in", Key: []byte("k"), Value: []byte("put")}))
	must(t, d.Pipe(&kgo.Record{Topic: "in", Key: []byte("k"), Value: []byte("delete")}))
	if len(calls) != 2 {
		t.Fatalf("listener calls %+v, want a put and a delete", calls)
	}
	if c := calls[1]; c.newValue != nil || c.oldVal == nil || len(c.oldVal) != 0 {
		t.Fatalf("delete seen as new %v old %v (old nil: %v), want new nil and old empty", c.newValue, c.oldVal, c.oldVal == nil)
	}
	v, err := proc.store.Get([]byte("k"))
	must(t, err)
	if v != nil {
		t.Fatalf("deleted key still holds %q", v)
	}
}
