package testbroker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestProduceReadAll(t *testing.T) {
	b := New(t)
	b.CreateTopic(t, "t", 2, nil)
	b.Produce(t, &kgo.Record{Topic: "t", Partition: 0, Value: []byte("a")}, &kgo.Record{Topic: "t", Value: []byte("b")})
	// A committed transaction ends the partition with a control marker.
	cl := b.Client(t, kgo.TransactionalID("tx"), kgo.DefaultProduceTopic("t"))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("c")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(context.Background(), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	got := b.ReadAll(t, "t")
	if len(got) != 3 {
		t.Fatalf("got %d records, want 3", len(got))
	}
}

func TestOldTimestampsSurviveTheCleaner(t *testing.T) {
	b := New(t)
	b.CreateTopic(t, "old", 1, nil)
	b.Produce(t, &kgo.Record{Topic: "old", Value: []byte("x"), Timestamp: time.UnixMilli(1)})
	time.Sleep(600 * time.Millisecond) // three cleaner passes
	if got := b.ReadAll(t, "old"); len(got) != 1 {
		t.Fatalf("got %d records, want the 1970 record to survive", len(got))
	}
}
