package core_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
)

// TestFencedProducerRestartsThread makes the broker answer one EndTxn with
// PRODUCER_FENCED while input is flowing: the stream thread must start over
// with a new client (not stop the application), and a read_committed
// consumer must still see every input record exactly once.
func TestFencedProducerRestartsThread(t *testing.T) {
	t.Parallel()
	b := testbroker.New(t)
	b.CreateTopic(t, "f-in", 2, nil)
	b.CreateTopic(t, "f-out", 2, nil)
	const n = 3000
	produce := func(from, to int) {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: "f-in", Key: fmt.Appendf(nil, "k%d", i%7), Value: fmt.Appendf(nil, "v%d", i)})
		}
		b.Produce(t, recs...)
	}
	produce(0, n/2)

	var fenced atomic.Int32
	app, err := core.New(upperTopology(t, "f-in", "f-out"), core.WithBrokers(b.Addr()), core.WithApplicationID("fenced"),
		core.WithProcessingGuarantee(core.ExactlyOnceV2), core.WithInstanceID("fenced-1"),
		core.WithCommitInterval(50*time.Millisecond))
	must(t, err)
	stop := runApp(t, app)
	testwait.Until(t, "a first commit", 30*time.Second, func() bool { return app.Stats().Commits >= 1 })

	b.Cluster().ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r := req.(*kmsg.EndTxnRequest)
		if !r.Commit || fenced.Load() > 0 {
			return nil, nil, false
		}
		fenced.Add(1)
		resp := r.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.ProducerFenced.Code
		return resp, nil, true
	})
	produce(n/2, n)
	testwait.Until(t, "the fenced commit", 30*time.Second, func() bool { return fenced.Load() > 0 })
	testwait.Until(t, "all input processed after the restart", 60*time.Second, func() bool {
		return len(b.ReadAll(t, "f-out")) >= n
	})
	if err := stop(); err != nil {
		t.Fatalf("app stopped with %v; a fenced producer must restart the thread, not stop the app", err)
	}
	got := b.ReadAll(t, "f-out")
	seen := map[string]int{}
	for _, r := range got {
		seen[string(r.Value)]++
	}
	for i := range n {
		if c := seen[fmt.Sprintf("V%d", i)]; c != 1 {
			t.Fatalf("V%d appears %d times in the committed output (%d records for %d inputs)", i, c, len(got), n)
		}
	}
}
