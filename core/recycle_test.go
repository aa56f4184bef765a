package core_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/serde"
)

// Output records are recycled after delivery and keep their old fields
// until reused: a later record with a null key, a null value or no
// headers must not come out with an earlier record's key, value or
// headers. Keyed records with headers go first (and are delivered, so
// their records return to the pool), then records without.
func TestRecycledRecordsCarryNothingOver(t *testing.T) {
	b := testbroker.New(t)
	b.CreateTopic(t, "in", 1, nil)
	b.CreateTopic(t, "out", 1, nil)
	topo := core.NewTopology()
	must(t, core.AddSource(topo, "src", serde.Bytes(), serde.Bytes(), []string{"in"}))
	must(t, core.AddSink(topo, "sink", serde.Bytes(), serde.Bytes(), core.ToTopic[[]byte, []byte]("out"), []string{"src"}))
	app, err := core.New(topo, core.WithBrokers(b.Addr()), core.WithApplicationID("recycle"))
	must(t, err)
	stop := runApp(t, app)

	const n = 1000 // several pool batches
	var first []*kgo.Record
	for i := range n {
		first = append(first, &kgo.Record{Topic: "in", Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}})
	}
	b.Produce(t, first...)
	testwait.Until(t, "the first half delivered", 30*time.Second, func() bool { return len(b.ReadAll(t, "out")) == n })

	var second []*kgo.Record
	for i := range n {
		r := &kgo.Record{Topic: "in"}
		switch i % 3 {
		case 0: // null key, a value
			r.Value = fmt.Appendf(nil, "w%d", i)
		case 1: // a key, null value (a tombstone)
			r.Key = fmt.Appendf(nil, "t%d", i)
		case 2: // neither
		}
		second = append(second, r)
	}
	b.Produce(t, second...)
	testwait.Until(t, "all output", 30*time.Second, func() bool { return len(b.ReadAll(t, "out")) == 2*n })
	must(t, stop())

	out := b.ReadAll(t, "out")
	for i, r := range out[n:] {
		want := second[i]
		if !bytes.Equal(r.Key, want.Key) || (r.Key == nil) != (want.Key == nil) ||
			!bytes.Equal(r.Value, want.Value) || (r.Value == nil) != (want.Value == nil) || len(r.Headers) != 0 {
			t.Fatalf("output %d = key %q value %q headers %v, want key %q value %q and no headers",
				n+i, r.Key, r.Value, r.Headers, want.Key, want.Value)
		}
	}
}
