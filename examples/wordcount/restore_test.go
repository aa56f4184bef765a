package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/pebblestate"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
)

// countingListener counts restored records per store.
type countingListener struct {
	mu       sync.Mutex
	restored map[string]int64
	ranges   map[string][2]int64
	ended    int
}

func (l *countingListener) OnRestoreStart(store, topic string, p int32, start, end int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ranges[fmt.Sprintf("%s/%d", store, p)] = [2]int64{start, end}
}
func (l *countingListener) OnBatchRestored(store, topic string, p int32, end, n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.restored[store] += n
}
func (l *countingListener) OnRestoreEnd(string, string, int32, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended++
}

func (l *countingListener) endedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ended
}

func startApp(t *testing.T, b *testbroker.Broker, stateDir string, g core.ProcessingGuarantee, l core.RestoreListener) (*core.App, func()) {
	t.Helper()
	topo, err := Topology()
	if err != nil {
		t.Fatal(err)
	}
	opts := []core.Option{core.WithBrokers(b.Addr()), core.WithApplicationID("wc"), core.WithProcessingGuarantee(g),
		core.WithStateDir(stateDir), core.WithCommitInterval(100 * time.Millisecond)}
	if l != nil {
		opts = append(opts, core.WithRestoreListener(l))
	}
	app, err := core.New(topo, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	return app, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("app: %v", err)
		}
	}
}

// storeContents reads every task's counts-store from a state directory.
func storeContents(t *testing.T, stateDir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	dirs, err := filepath.Glob(filepath.Join(stateDir, "wc", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		eng, err := pebblestate.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		kv, err := eng.ReadOnly().KeyValue("counts-store")
		if err == nil {
			it, err := kv.All()
			if err != nil {
				t.Fatal(err)
			}
			for it.Next() {
				out[string(it.Key())] = fmt.Sprintf("%x", it.Value())
			}
			it.Close()
		}
		eng.Close()
	}
	return out
}

func produceLines(t *testing.T, b *testbroker.Broker, lines []string) {
	t.Helper()
	var recs []*kgo.Record
	for i, l := range lines {
		recs = append(recs, &kgo.Record{Topic: "streams-plaintext-input", Key: fmt.Appendf(nil, "l%d", i), Value: []byte(l)})
	}
	b.Produce(t, recs...)
}

func genLines(n int) ([]string, map[string]int64) {
	words := []string{"kafka", "streams", "sluice", "go", "pebble", "state", "restore", "Exactly", "once", "window"}
	counts := map[string]int64{}
	lines := make([]string, n)
	for i := range n {
		var ws []string
		for j := range 1 + i%4 {
			w := words[(i*7+j*3)%len(words)]
			ws = append(ws, w)
			counts[strings.ToLower(w)]++
		}
		lines[i] = strings.Join(ws, "  ")
	}
	return lines, counts
}

// TestRestoreFromChangelogIsIdentical: after a run, a new instance with an
// empty state directory rebuilds exactly the same store from the
// changelog, and continues counting from there.
func TestRestoreFromChangelogIsIdentical(t *testing.T) {
	for _, g := range []core.ProcessingGuarantee{core.AtLeastOnce, core.ExactlyOnceV2} {
		t.Run(string(g), func(t *testing.T) {
			t.Parallel()
			b := testbroker.New(t)
			b.CreateTopic(t, "streams-plaintext-input", 4, nil)
			b.CreateTopic(t, "streams-wordcount-output", 4, nil)
			lines, want := genLines(2000)
			produceLines(t, b, lines)

			dir1 := t.TempDir()
			app, stop := startApp(t, b, dir1, g, nil)
			var words int64
			for _, n := range want {
				words += n
			}
			// Lines, then every word again through the repartition topic.
			testwait.Until(t, "all lines counted", 20*time.Second, func() bool { return app.Stats().Consumed >= int64(len(lines))+words })
			stop()
			first := storeContents(t, dir1)
			if len(first) != len(want) {
				t.Fatalf("store has %d words, want %d", len(first), len(want))
			}

			dir2 := t.TempDir()
			l := &countingListener{restored: map[string]int64{}, ranges: map[string][2]int64{}}
			app2, stop2 := startApp(t, b, dir2, g, l)
			testwait.Until(t, "restore of the 4 changelog partitions", 20*time.Second, func() bool { return l.endedCount() == 4 })
			// Two more lines: counts continue from the restored values.
			produceLines(t, b, []string{"kafka", "sluice sluice"})
			want["kafka"]++
			want["sluice"] += 2
			testwait.Until(t, "new lines counted", 20*time.Second, func() bool { return app2.Stats().Consumed >= 2+3 })
			stop2()
			second := storeContents(t, dir2)
			delete(second, "kafka")
			delete(second, "sluice")
			delete(first, "kafka")
			delete(first, "sluice")
			if !reflect.DeepEqual(first, second) {
				t.Fatalf("restored store differs:\nbefore %v\nafter  %v", first, second)
			}
			l.mu.Lock()
			restored := l.restored["counts-store"]
			l.mu.Unlock()
			if restored == 0 {
				t.Fatal("nothing was restored from the changelog")
			}
			out := lastCounts(t, b)
			for w, n := range want {
				if out[w] != n {
					t.Errorf("count of %q = %d, want %d", w, out[w], n)
				}
			}
		})
	}
}

// lastCounts reads the output topic (read_committed) and returns the last
// count written per word.
func lastCounts(t *testing.T, b *testbroker.Broker) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, r := range b.ReadAll(t, "streams-wordcount-output") {
		if len(r.Value) != 8 {
			t.Fatalf("count of %q has %d bytes, want 8 (LongSerializer)", r.Key, len(r.Value))
		}
		var n int64
		for _, c := range r.Value {
			n = n<<8 | int64(c)
		}
		out[string(r.Key)] = n
	}
	return out
}

func TestMain(m *testing.M) { os.Exit(m.Run()) }

// TestStaleLocalStateIsWiped: a state directory whose checkpoints are past
// the end of the changelog (here: the cluster was recreated) is wiped and
// rebuilt from the changelog, as Kafka Streams does with a corrupted task,
// instead of failing or serving stale counts.
func TestStaleLocalStateIsWiped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for round, lines := range [][]string{{"kafka kafka sluice", "sluice go"}, {"go go go"}} {
		b := testbroker.New(t) // a new, empty cluster each round
		b.CreateTopic(t, "streams-plaintext-input", 4, nil)
		b.CreateTopic(t, "streams-wordcount-output", 4, nil)
		produceLines(t, b, lines)
		app, stop := startApp(t, b, dir, core.AtLeastOnce, nil)
		words := 0
		for _, l := range lines {
			words += len(strings.Fields(l))
		}
		// Lines, then every word again through the repartition topic.
		testwait.Until(t, "words counted", 20*time.Second, func() bool { return app.Stats().Consumed >= int64(len(lines)+words) })
		stop()
		got := lastCounts(t, b)
		if round == 1 && (got["go"] != 3 || len(got) != 1) {
			t.Fatalf("after the cluster was recreated, counts = %v, want only go=3 (stale state must be wiped)", got)
		}
	}
}
