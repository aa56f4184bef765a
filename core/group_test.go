package core_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/internal/testwait"
	"github.com/sluicehq/sluice/serde"
)

// ownership tracks which instance holds which task (between the
// processor's Init and Close) and every record each instance processed.
type ownership struct {
	mu         sync.Mutex
	owner      map[core.TaskID]string
	violations []string
	seen       map[string]map[string]int // value -> instance -> times processed
	where      map[string]seenRecord     // value -> last metadata
	whereTask  map[string]core.TaskID
}

func newOwnership() *ownership {
	return &ownership{owner: map[core.TaskID]string{}, seen: map[string]map[string]int{},
		where: map[string]seenRecord{}, whereTask: map[string]core.TaskID{}}
}

func (o *ownership) distinct() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

type ownedProcessor struct {
	o        *ownership
	instance string
	ctx      core.ProcessorContext[string, string]
}

func (p *ownedProcessor) Init(ctx core.ProcessorContext[string, string]) error {
	p.ctx = ctx
	p.o.mu.Lock()
	defer p.o.mu.Unlock()
	if cur, ok := p.o.owner[ctx.TaskID()]; ok {
		p.o.violations = append(p.o.violations, fmt.Sprintf("%s opened task %v still held by %s", p.instance, ctx.TaskID(), cur))
	}
	p.o.owner[ctx.TaskID()] = p.instance
	return nil
}

func (p *ownedProcessor) Process(r core.Record[string, string]) error {
	md, _ := p.ctx.RecordMetadata()
	id := p.ctx.TaskID()
	p.o.mu.Lock()
	if cur := p.o.owner[id]; cur != p.instance {
		p.o.violations = append(p.o.violations, fmt.Sprintf("%s processed task %v held by %q", p.instance, id, cur))
	}
	if md.Partition != id.Partition {
		p.o.violations = append(p.o.violations, fmt.Sprintf("task %v got %s[%d]@%d", id, md.Topic, md.Partition, md.Offset))
	}
	m := p.o.seen[r.Value]
	if m == nil {
		m = map[string]int{}
		p.o.seen[r.Value] = m
	}
	m[p.instance]++
	p.o.where[r.Value] = seenRecord{Value: r.Value, MD: md}
	p.o.whereTask[r.Value] = id
	p.o.mu.Unlock()
	return p.ctx.Forward(r)
}

func (p *ownedProcessor) Close() error {
	p.o.mu.Lock()
	defer p.o.mu.Unlock()
	id := p.ctx.TaskID()
	if cur := p.o.owner[id]; cur != p.instance {
		p.o.violations = append(p.o.violations, fmt.Sprintf("%s closed task %v held by %q", p.instance, id, cur))
	}
	delete(p.o.owner, id)
	return nil
}

func ownedTopology(t *testing.T, o *ownership, instance string, topics ...string) *core.Topology {
	t.Helper()
	topo := core.NewTopology()
	must(t, core.AddSource(topo, "src", serde.String(), serde.String(), topics))
	must(t, core.AddProcessor(topo, "own", func() core.Processor[string, string, string, string] {
		return &ownedProcessor{o: o, instance: instance}
	}, "src"))
	must(t, core.AddSink(topo, "sink", serde.String(), serde.String(), core.ToTopic[string, string]("out"), []string{"own"}))
	return topo
}

func groupOpts(b *testbroker.Broker, appID string, g core.ProcessingGuarantee) []core.Option {
	return []core.Option{core.WithBrokers(b.Addr()), core.WithApplicationID(appID), core.WithProcessingGuarantee(g),
		core.WithCommitInterval(50 * time.Millisecond), core.WithSessionTimeout(10 * time.Second),
		core.WithKafkaOptions(kgo.HeartbeatInterval(100 * time.Millisecond))}
}

func produceBatch(t *testing.T, b *testbroker.Broker, topic, prefix string, n int) []string {
	t.Helper()
	var recs []*kgo.Record
	var vals []string
	for i := range n {
		v := fmt.Sprintf("%s-%d", prefix, i)
		vals = append(vals, v)
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: []byte(v)})
	}
	b.Produce(t, recs...)
	return vals
}

// TestGroupScaleOutAndGracefulLeave runs two instances of one application:
// B joins while A works, then A leaves gracefully while records flow. No
// input may be lost; under exactly_once_v2 none may be duplicated.
func TestGroupScaleOutAndGracefulLeave(t *testing.T) {
	t.Parallel()
	for _, g := range []core.ProcessingGuarantee{core.AtLeastOnce, core.ExactlyOnceV2} {
		t.Run(string(g), func(t *testing.T) {
			t.Parallel()
			b := testbroker.New(t)
			b.CreateTopic(t, "in", 4, nil)
			b.CreateTopic(t, "out", 4, nil)
			o := newOwnership()
			appID := "group-" + string(g)
			appA, err := core.New(ownedTopology(t, o, "A", "in"), groupOpts(b, appID, g)...)
			must(t, err)
			appB, err := core.New(ownedTopology(t, o, "B", "in"), groupOpts(b, appID, g)...)
			must(t, err)

			var all []string
			stopA := runApp(t, appA)
			all = append(all, produceBatch(t, b, "in", "one", 200)...)
			testwait.Until(t, "A processing batch one", 30*time.Second, func() bool { return o.distinct() >= 200 })
			stopB := runApp(t, appB)
			testwait.Until(t, "both instances holding tasks", 30*time.Second, func() bool {
				return appA.Stats().Tasks > 0 && appB.Stats().Tasks > 0 && appA.Stats().Tasks+appB.Stats().Tasks == 4
			})
			all = append(all, produceBatch(t, b, "in", "two", 200)...)
			// Stop A while batch three is being produced and processed.
			produced := make(chan []string)
			go func() {
				var vals []string
				for i := range 10 {
					vals = append(vals, produceBatch(t, b, "in", fmt.Sprintf("three.%d", i), 20)...)
				}
				produced <- vals
			}()
			must(t, stopA())
			all = append(all, <-produced...)
			testwait.Until(t, "B holding every task", 30*time.Second, func() bool { return appB.Stats().Tasks == 4 })
			all = append(all, produceBatch(t, b, "in", "four", 100)...)
			testwait.Until(t, "every record processed", 30*time.Second, func() bool { return o.distinct() >= len(all) })
			// Under EOS a record is in the output once its transaction
			// committed; poll until all are there.
			var counts map[string]int
			testwait.Until(t, "every record in the output", 30*time.Second, func() bool {
				counts = map[string]int{}
				for _, r := range b.ReadAll(t, "out") {
					counts[string(r.Value)]++
				}
				return len(counts) >= len(all)
			})
			must(t, stopB())
			counts = map[string]int{}
			total := 0
			for _, r := range b.ReadAll(t, "out") {
				counts[string(r.Value)]++
				total++
			}
			for _, v := range all {
				switch {
				case counts[v] == 0:
					t.Errorf("input %s lost", v)
				case g == core.ExactlyOnceV2 && counts[v] != 1:
					t.Errorf("input %s in the output %d times under exactly_once_v2", v, counts[v])
				}
			}
			if g == core.ExactlyOnceV2 && total != len(all) {
				t.Errorf("output has %d records, want %d", total, len(all))
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			for _, v := range o.violations {
				t.Error(v)
			}
			byA, byB := 0, 0
			for _, m := range o.seen {
				byA += m["A"]
				byB += m["B"]
			}
			if byA == 0 || byB == 0 {
				t.Errorf("work not shared: A processed %d, B %d", byA, byB)
			}
			t.Logf("%d inputs, %d outputs, A processed %d, B %d", len(all), total, byA, byB)
		})
	}
}

// TestGroupCoPartitioning checks that the task balancer assigns partition p
// of both topics of a sub-topology to the same instance.
func TestGroupCoPartitioning(t *testing.T) {
	t.Parallel()
	b := testbroker.New(t)
	b.CreateTopic(t, "a", 4, nil)
	b.CreateTopic(t, "b", 4, nil)
	b.CreateTopic(t, "out", 4, nil)
	o := newOwnership()
	appA, err := core.New(ownedTopology(t, o, "A", "a", "b"), groupOpts(b, "copart", core.AtLeastOnce)...)
	must(t, err)
	appB, err := core.New(ownedTopology(t, o, "B", "a", "b"), groupOpts(b, "copart", core.AtLeastOnce)...)
	must(t, err)
	stopA := runApp(t, appA)
	stopB := runApp(t, appB)
	testwait.Until(t, "both instances holding tasks", 30*time.Second, func() bool {
		return appA.Stats().Tasks > 0 && appB.Stats().Tasks > 0 && appA.Stats().Tasks+appB.Stats().Tasks == 4
	})
	cl := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for _, topic := range []string{"a", "b"} {
		for p := range int32(4) {
			for i := range 10 {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%s-%d-%d", topic, p, i)})
			}
		}
	}
	must(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
	testwait.Until(t, "every record processed", 30*time.Second, func() bool { return o.distinct() >= len(recs) })
	must(t, stopA())
	must(t, stopB())

	o.mu.Lock()
	defer o.mu.Unlock()
	for _, v := range o.violations {
		t.Error(v)
	}
	// Stable membership during this phase: every partition number's
	// records of both topics went to one instance and one task.
	owner := map[int32]map[string]bool{}
	for v, byInst := range o.seen {
		md := o.where[v].MD
		if tid := o.whereTask[v]; tid.Partition != md.Partition {
			t.Errorf("%s processed by task %v", v, tid)
		}
		if owner[md.Partition] == nil {
			owner[md.Partition] = map[string]bool{}
		}
		for inst := range byInst {
			owner[md.Partition][inst] = true
		}
	}
	instances := map[string]bool{}
	for p, insts := range owner {
		if len(insts) != 1 {
			t.Errorf("partition %d of a and b processed by %v, want one instance", p, insts)
		}
		for i := range insts {
			instances[i] = true
		}
	}
	if len(owner) != 4 || len(instances) != 2 {
		t.Errorf("partitions %v over instances %v: want 4 partitions over 2 instances", owner, instances)
	}
}

// TestGracefulShutdownCommits: at_least_once with a commit interval that
// never elapses still commits on a graceful shutdown, so a restarted
// instance does not re-process anything.
func TestGracefulShutdownCommits(t *testing.T) {
	t.Parallel()
	b := testbroker.New(t)
	b.CreateTopic(t, "in", 4, nil)
	b.CreateTopic(t, "out", 4, nil)
	const n = 100
	produceBatch(t, b, "in", "first", n)
	opts := []core.Option{core.WithBrokers(b.Addr()), core.WithApplicationID("shutdown-commit"), core.WithCommitInterval(time.Hour)}

	first := newOwnership()
	app1, err := core.New(ownedTopology(t, first, "1", "in"), opts...)
	must(t, err)
	stop1 := runApp(t, app1)
	testwait.Until(t, "first run processing everything", 30*time.Second, func() bool { return first.distinct() >= n })
	if c := app1.Stats().Commits; c != 0 {
		t.Fatalf("%d commits before shutdown with a 1h interval", c)
	}
	must(t, stop1())

	adm := kadm.NewClient(b.Client(t))
	ctx := context.Background()
	ends, err := adm.ListEndOffsets(ctx, "in")
	must(t, err)
	committed, err := adm.FetchOffsets(ctx, "shutdown-commit")
	must(t, err)
	ends.Each(func(e kadm.ListedOffset) {
		c, ok := committed.Lookup("in", e.Partition)
		if !ok || c.Err != nil || c.At != e.Offset {
			t.Errorf("partition %d: committed %+v, want %d", e.Partition, c, e.Offset)
		}
	})

	// One sentinel per partition: the second run reaches each only after
	// whatever it re-processes of that partition.
	second := newOwnership()
	app2, err := core.New(ownedTopology(t, second, "2", "in"), opts...)
	must(t, err)
	stop2 := runApp(t, app2)
	cl := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(4) {
		must(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "in", Partition: p, Value: fmt.Appendf(nil, "sentinel-%d", p)}).FirstErr())
	}
	testwait.Until(t, "second run reaching the sentinels", 30*time.Second, func() bool { return second.distinct() >= 4 })
	must(t, stop2())
	second.mu.Lock()
	defer second.mu.Unlock()
	if len(second.seen) != 4 {
		var vals []string
		for v := range second.seen {
			vals = append(vals, v)
		}
		t.Errorf("second run processed %d records, want only the 4 sentinels: %v", len(vals), vals)
	}
}
