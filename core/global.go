package core

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/listoffsets"
	"github.com/sluicehq/sluice/state"
)

// globalStore is a key-value store holding every partition of a topic on
// every instance (Kafka Streams' global store behind a GlobalKTable). It is
// fed by the instance's global consumer, not by tasks, and processors read
// it read-only.
type globalStore struct {
	topic string
}

// AddGlobalStore adds a global key-value store fed by topic: every record
// upserts its key (serialized bytes as in the topic) with the value stored
// as [8-byte big-endian timestamp][value bytes] (Kafka Streams'
// ValueAndTimestamp layout); a null value deletes. The topic itself is the
// store's changelog. Processors connect to it with
// ConnectProcessorAndStores and read it through ProcessorContext.StateStore,
// which returns a state.ReadOnlyKeyValueStore. Before any task processes a
// record, the store is loaded up to the topic's end.
func (t *Topology) AddGlobalStore(name, topic string) error {
	if t.sealed {
		return errSealed
	}
	if name == "" || topic == "" {
		return errors.New("core: a global store needs a name and a topic")
	}
	if _, dup := t.stores[name]; dup {
		return fmt.Errorf("core: store %q already exists in the topology", name)
	}
	if t.globals == nil {
		t.globals = map[string]*globalStore{}
	}
	if _, dup := t.globals[name]; dup {
		return fmt.Errorf("core: global store %q already exists in the topology", name)
	}
	for _, g := range t.globals {
		if g.topic == topic {
			return fmt.Errorf("core: topic %q already feeds global store %q", topic, name)
		}
	}
	t.globals[name] = &globalStore{topic: topic}
	return nil
}

// globalValue is the stored form of a global-store record.
func globalValue(rec *kgo.Record) []byte {
	if rec.Value == nil {
		return nil
	}
	out := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(rec.Value)), uint64(rec.Timestamp.UnixMilli()))
	return append(out, rec.Value...)
}

// globalState is an instance's global stores: one engine, one direct
// consumer of all partitions of their topics.
type globalState struct {
	app     *App
	engine  state.Engine
	stores  map[string]state.KeyValueStore // by store name (writer side)
	byTopic map[string]string              // topic -> store name
	views   map[string]state.ReadOnlyKeyValueStore
	cl      *kgo.Client
}

// startGlobal opens the global stores, loads them up to the end of their
// topics, and returns the state whose run loop keeps them current.
func (a *App) startGlobal(ctx context.Context) (*globalState, error) {
	if len(a.topo.globals) == 0 {
		return nil, nil
	}
	g := &globalState{app: a, stores: map[string]state.KeyValueStore{}, byTopic: map[string]string{},
		views: map[string]state.ReadOnlyKeyValueStore{}}
	dir := filepath.Join(a.cfg.stateDir, a.cfg.appID, "global")
	var err error
	if g.engine, err = openGlobalEngine(a, dir); err != nil {
		return nil, fmt.Errorf("core: open global state: %w", err)
	}
	var topics []string
	for name, gs := range a.topo.globals {
		kv, err := g.engine.KeyValue(name)
		if err != nil {
			g.engine.Close()
			return nil, fmt.Errorf("core: open global store %q: %w", name, err)
		}
		g.stores[name] = kv
		g.byTopic[gs.topic] = name
		topics = append(topics, gs.topic)
	}
	ro := g.engine.ReadOnly()
	for name := range a.topo.globals {
		if g.views[name], err = ro.KeyValue(name); err != nil {
			g.engine.Close()
			return nil, err
		}
	}
	if err := g.bootstrap(ctx, topics); err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

// openGlobalEngine opens the instance's global engine (Pebble, or memory
// for the test driver).
var openGlobalEngine = func(a *App, dir string) (state.Engine, error) {
	return a.openEngineAt(dir)
}

// bootstrap reads every partition of the global topics from the local
// checkpoint to the end offsets as of now.
func (g *globalState) bootstrap(ctx context.Context, topics []string) error {
	a := g.app
	adm := a.admin
	var ends kadm.ListedOffsets
	var err error
	ends, err = listoffsets.Retry(ctx, func(ctx context.Context) (kadm.ListedOffsets, error) {
		if a.cfg.guarantee == ExactlyOnceV2 {
			return adm.ListCommittedOffsets(ctx, topics...)
		}
		return adm.ListEndOffsets(ctx, topics...)
	})
	if err != nil {
		return fmt.Errorf("core: global topics' end offsets: %w", err)
	}
	cps, err := g.engine.Checkpoints()
	if err != nil {
		return fmt.Errorf("core: global checkpoints: %w", err)
	}
	start := map[string]map[int32]kgo.Offset{}
	want := map[string]int64{} // "topic/partition" -> end
	pos := map[string]int64{}
	var missing error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			missing = fmt.Errorf("core: global topic %s[%d]: %w", o.Topic, o.Partition, o.Err)
			return
		}
		key := o.Topic + "/" + strconv.Itoa(int(o.Partition))
		off := kgo.NewOffset().AtStart()
		from := int64(0)
		if c, ok := cps[key]; ok {
			off, from = kgo.NewOffset().At(c), c
		}
		if start[o.Topic] == nil {
			start[o.Topic] = map[int32]kgo.Offset{}
		}
		start[o.Topic][o.Partition] = off
		if o.Offset > from {
			want[key] = o.Offset
		}
		pos[key] = from
	})
	if missing != nil {
		return missing
	}
	opts := append([]kgo.Opt{}, a.cfg.kgoOpts...)
	opts = append(opts, kgo.SeedBrokers(a.cfg.brokers...), kgo.ClientID(a.cfg.appID+"-GlobalStreamThread"),
		kgo.ConsumePartitions(start), kgo.KeepControlRecords())
	if a.cfg.guarantee == ExactlyOnceV2 {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	if g.cl, err = kgo.NewClient(opts...); err != nil {
		return fmt.Errorf("core: global consumer: %w", err)
	}
	began := time.Now()
	var n int64
	for len(want) > 0 {
		fs := g.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := g.apply(fs, pos, &n); err != nil {
			return err
		}
		for key, end := range want {
			if pos[key] >= end {
				delete(want, key)
			}
		}
	}
	if err := g.engine.Commit(pos); err != nil {
		return fmt.Errorf("core: commit global state: %w", err)
	}
	a.cfg.log.Info("sluice: global stores loaded", "stores", len(g.stores), "records", n, "elapsed", time.Since(began).Round(time.Millisecond))
	return nil
}

// apply writes fetched global records into their stores.
func (g *globalState) apply(fs kgo.Fetches, pos map[string]int64, n *int64) error {
	var err error
	fs.EachError(func(topic string, p int32, e error) {
		if err == nil && !errors.Is(e, context.Canceled) && !errors.Is(e, context.DeadlineExceeded) {
			err = fmt.Errorf("core: global consumer %s[%d]: %w", topic, p, e)
		}
	})
	if err != nil {
		return err
	}
	fs.EachRecord(func(r *kgo.Record) {
		if err != nil {
			return
		}
		pos[r.Topic+"/"+strconv.Itoa(int(r.Partition))] = r.Offset + 1
		if r.Attrs.IsControl() || r.Key == nil {
			return
		}
		if e := g.stores[g.byTopic[r.Topic]].Put(r.Key, globalValue(r)); e != nil {
			err = fmt.Errorf("core: global store %q at %s[%d]@%d: %w", g.byTopic[r.Topic], r.Topic, r.Partition, r.Offset, e)
		}
		*n++
	})
	return err
}

// run keeps the global stores current until ctx ends, committing (which
// makes updates visible to tasks) after every poll that brought records.
func (g *globalState) run(ctx context.Context) error {
	pos := map[string]int64{}
	var n int64
	for ctx.Err() == nil {
		fs := g.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		before := n
		if err := g.apply(fs, pos, &n); err != nil {
			return err
		}
		if n > before || len(pos) > 0 {
			if err := g.engine.Commit(pos); err != nil {
				return fmt.Errorf("core: commit global state: %w", err)
			}
			clear(pos)
		}
	}
	return nil
}

func (g *globalState) close() {
	if g.cl != nil {
		g.cl.Close()
	}
	if g.engine != nil {
		g.engine.Close()
	}
}
