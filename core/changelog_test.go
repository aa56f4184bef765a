package core

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

// A store value that is present but empty is logged as an empty value,
// not as a tombstone (which would delete the key on restore).
func TestChangelogKeepsEmptyValues(t *testing.T) {
	b := testbroker.New(t)
	b.CreateTopic(t, "in", 1, nil)
	b.Produce(t, &kgo.Record{Topic: "in", Key: []byte("empty"), Value: []byte{}},
		&kgo.Record{Topic: "in", Key: []byte("full"), Value: []byte("x")},
		&kgo.Record{Topic: "in", Key: []byte("gone")})
	topo := NewTopology()
	if err := AddSource(topo, "src", serde.Bytes(), serde.Bytes(), []string{"in"}); err != nil {
		t.Fatal(err)
	}
	if err := AddProcessor(topo, "store", ProcessorFunc[[]byte, []byte, []byte, []byte](
		func(ctx ProcessorContext[[]byte, []byte], r Record[[]byte, []byte]) error {
			s, err := ctx.StateStore("s")
			if err != nil {
				return err
			}
			v := r.Value
			if r.NullValue {
				v = nil
			} else if v == nil {
				v = []byte{}
			}
			return s.(state.KeyValueStore).Put(r.Key, v)
		}).Supplier(), "src"); err != nil {
		t.Fatal(err)
	}
	if err := topo.AddStateStore(StoreSpec{Name: "s", Kind: KeyValueStoreKind}, "store"); err != nil {
		t.Fatal(err)
	}
	app, err := New(topo, WithBrokers(b.Addr()), WithApplicationID("emptyval"), WithStateDir(t.TempDir()),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for app.Stats().Consumed < 3 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("records not consumed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for _, r := range b.ReadAll(t, "emptyval-s-changelog") {
		got[string(r.Key)] = r.Value
	}
	if v, ok := got["empty"]; !ok || v == nil || len(v) != 0 {
		t.Errorf("empty value logged as %v (present %v), want an empty non-null value", v, ok)
	}
	if string(got["full"]) != "x" {
		t.Errorf("full = %q, want x", got["full"])
	}
	if v, ok := got["gone"]; !ok || v != nil {
		t.Errorf("deleted key logged as %q (present %v), want a tombstone", v, ok)
	}
}
