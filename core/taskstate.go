package core

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/stateengine"
	"github.com/sluicehq/sluice/state"
)

// taskState holds a task's stores: the engines (one persistent, one in
// memory, each opened only if the task has such stores), the stores as
// processors see them (wrapped to write their changelog), and the changelog
// partitions with the offsets their data corresponds to.
type taskState struct {
	tk         *task
	persistent state.Engine
	memory     state.Engine
	stores     map[string]any // name -> state.KeyValueStore / WindowStore / SessionStore (logged)
	changelogs []*changelog
	restoring  int                   // changelogs still restoring
	cached     []func() (int, error) // flushes of the record caches
}

// flushCaches writes every cached update to its store, changelog and flush
// listener (which forwards downstream). It runs before every commit, on the
// task's goroutine.
func (st *taskState) flushCaches() error {
	st.tk.punctuating = "(cache flush)"
	defer func() { st.tk.punctuating = "" }()
	// A flush forwards downstream, which may write another cached store of
	// the task: repeat until a pass finds nothing dirty, so no update waits
	// for the next commit.
	for pass := 0; ; pass++ {
		dirty := false
		for _, f := range st.cached {
			n, err := f()
			if err != nil {
				return err
			}
			dirty = dirty || n > 0
		}
		if !dirty || pass > 100 {
			return nil
		}
	}
}

// changelog is one store's changelog partition for one task.
type changelog struct {
	store     string
	spec      *StoreSpec
	topic     string
	partition int32
	engine    state.Engine
	key       string // checkpoint key "topic/partition"
	// acked is the highest changelog offset acknowledged for this task's
	// writes, written by producer goroutines: the checkpoint is acked+1.
	acked   atomic.Int64
	promise func(*kgo.Record, error)
	// restore applies one changelog record, with its timestamp; nil:
	// Engine.RawPut (which ignores timestamps).
	restore func(key, value []byte, ts int64) error

	// restore progress (owning goroutine only)
	restoreFrom, restoreEnd, restorePos int64
	restored                            int64
	restoreStart                        time.Time

	// queryPos and queryEnd are what a stale query reports as its lag
	// (LagInfo), read by any goroutine while the store is registered as
	// stale (storeRegistry.addStale): queryPos is the changelog position
	// of the committed data a query sees, written by the owner after each
	// commit of a standby or restoring store; queryEnd the changelog's end
	// offset as the owner last learned it (-1: not known yet).
	queryPos, queryEnd atomic.Int64
}

// lag is the changelog lag of the store's committed data, for stale
// queries.
func (c *changelog) lag() LagInfo {
	return newLagInfo(c.queryPos.Load(), c.queryEnd.Load())
}

// apply writes one changelog record into the store: restore and standby
// tasks replay changelogs through it.
func (c *changelog) apply(r *kgo.Record) error {
	if c.restore != nil {
		return c.restore(r.Key, r.Value, r.Timestamp.UnixMilli())
	}
	return c.engine.RawPut(c.store, r.Key, r.Value)
}

func (c *changelog) checkpointKey() string { return c.topic + "/" + strconv.Itoa(int(c.partition)) }

// openState opens the task's stores. Restore is not done here: the
// changelogs that need replaying are returned as pending (restoring > 0).
func (tk *task) openState(topo *Topology) error {
	if len(tk.sub.stores) == 0 {
		return nil
	}
	st := &taskState{tk: tk, stores: map[string]any{}}
	tk.state = st
	for _, name := range tk.sub.stores {
		spec := topo.stores[name]
		eng, err := st.engine(spec.InMemory)
		if err != nil {
			return fmt.Errorf("core: open state of task %s: %w", tk.id, err)
		}
		var cl *changelog
		if !spec.DisableLogging {
			cl = &changelog{store: name, spec: spec, topic: ChangelogTopic(tk.env.appID, name), partition: tk.id.Partition, engine: eng}
			cl.key = cl.checkpointKey()
			cl.acked.Store(-1)
			cl.promise = func(r *kgo.Record, err error) {
				if err != nil {
					if !tk.env.discard.Load() {
						tk.env.asyncProductionFailed(tk.id, r, err)
					}
					return
				}
				for {
					cur := cl.acked.Load()
					if r.Offset <= cur || cl.acked.CompareAndSwap(cur, r.Offset) {
						return
					}
				}
			}
			st.changelogs = append(st.changelogs, cl)
		}
		var store any
		switch spec.Kind {
		case KeyValueStoreKind:
			kv, err := eng.KeyValue(name)
			if err != nil {
				return fmt.Errorf("core: open store %q of task %s: %w", name, tk.id, err)
			}
			if cl != nil {
				kv = &loggedKV{KeyValueStore: kv, tk: tk, cl: cl}
			}
			c := &cachedKV{KeyValueStore: kv, tk: tk, entries: map[string]*cacheEntry{}}
			if spec.Caching {
				c.budget = tk.env.cache
			}
			st.cached = append(st.cached, c.flush)
			store = c
		case WindowStoreKind:
			ws, err := eng.Window(name, spec.Retention, spec.SegmentInterval)
			if err != nil {
				return fmt.Errorf("core: open store %q of task %s: %w", name, tk.id, err)
			}
			if cl != nil {
				ws = &loggedWindow{WindowStore: ws, tk: tk, cl: cl}
			}
			c := &cachedWindow{WindowStore: ws, tk: tk, entries: map[windowKey]*cacheEntry{}}
			if spec.Caching {
				c.budget = tk.env.cache
			}
			st.cached = append(st.cached, c.flush)
			store = c
		case VersionedKeyValueStoreKind:
			kv, err := eng.KeyValue(name)
			if err != nil {
				return fmt.Errorf("core: open store %q of task %s: %w", name, tk.id, err)
			}
			vs, err := stateengine.NewVersioned(kv, spec.Retention)
			if err != nil {
				return fmt.Errorf("core: open store %q of task %s: %w", name, tk.id, err)
			}
			store = vs
			if cl != nil {
				// Restore replays the puts: the changelog holds (key,
				// value, timestamp) per put, as Kafka Streams' does.
				cl.restore = func(key, value []byte, ts int64) error {
					_, err := vs.Put(key, value, ts)
					return err
				}
				store = &loggedVersioned{VersionedKeyValueStore: vs, tk: tk, cl: cl}
			}
		case SessionStoreKind:
			ss, err := eng.Session(name, spec.Retention, spec.SegmentInterval)
			if err != nil {
				return fmt.Errorf("core: open store %q of task %s: %w", name, tk.id, err)
			}
			store = ss
			if cl != nil {
				store = &loggedSession{SessionStore: ss, tk: tk, cl: cl}
			}
		}
		st.stores[name] = tk.meterStore(name, store)
	}
	// Where the local data stands in each changelog.
	for _, cl := range st.changelogs {
		cps, err := cl.engine.Checkpoints()
		if err != nil {
			return fmt.Errorf("core: read checkpoints of task %s: %w", tk.id, err)
		}
		cl.restoreFrom = -1 // from the beginning
		if off, ok := cps[cl.key]; ok {
			cl.restoreFrom = off
		}
		cl.queryPos.Store(max(cl.restoreFrom, 0))
		cl.queryEnd.Store(-1)
	}
	return nil
}

func (st *taskState) engine(inMemory bool) (state.Engine, error) {
	if inMemory {
		if st.memory == nil {
			e, err := st.tk.env.openEngine(st.tk.id, true)
			if err != nil {
				return nil, err
			}
			st.memory = e
		}
		return st.memory, nil
	}
	if st.persistent == nil {
		e, err := st.tk.env.openEngine(st.tk.id, false)
		if err != nil {
			return nil, err
		}
		st.persistent = e
	}
	return st.persistent, nil
}

func (st *taskState) engines() []state.Engine {
	var out []state.Engine
	if st.persistent != nil {
		out = append(out, st.persistent)
	}
	if st.memory != nil {
		out = append(out, st.memory)
	}
	return out
}

// commit makes the stores' writes durable with their changelog offsets.
// It runs after the output was acknowledged (at-least-once) or after the
// Kafka transaction committed (exactly-once).
func (st *taskState) commit() error {
	cps := map[state.Engine]map[string]int64{}
	for _, cl := range st.changelogs {
		if a := cl.acked.Load(); a >= 0 {
			m := cps[cl.engine]
			if m == nil {
				m = map[string]int64{}
				cps[cl.engine] = m
			}
			m[cl.key] = a + 1
		}
	}
	for _, e := range st.engines() {
		if err := e.Commit(cps[e]); err != nil {
			return fmt.Errorf("core: commit state of task %s: %w", st.tk.id, err)
		}
	}
	return nil
}

// abort drops the stores' uncommitted writes (an aborted transaction).
func (st *taskState) abort() error {
	for _, e := range st.engines() {
		if err := e.Abort(); err != nil {
			return fmt.Errorf("core: abort state of task %s: %w", st.tk.id, err)
		}
	}
	return nil
}

func (st *taskState) close() error {
	var first error
	for _, e := range st.engines() {
		if err := e.Close(); err != nil && first == nil {
			first = fmt.Errorf("core: close state of task %s: %w", st.tk.id, err)
		}
	}
	return first
}

// store returns the named store if processor node may use it.
func (tk *task) store(node, name string) (any, error) {
	if view, ok := tk.env.globals[name]; ok {
		if !tk.nodeUsesGlobal(node, name) {
			return nil, fmt.Errorf("%w: global store %q is not connected to processor %q (ConnectProcessorAndStores)", ErrNoStore, name, node)
		}
		return view, nil
	}
	if tk.state == nil {
		return nil, fmt.Errorf("%w: %q (processor %q: the task has no stores)", ErrNoStore, name, node)
	}
	s, ok := tk.state.stores[name]
	if !ok || !tk.nodeUsesStore(node, name) {
		return nil, fmt.Errorf("%w: %q is not connected to processor %q (AddStateStore/ConnectProcessorAndStores)", ErrNoStore, name, node)
	}
	return s, nil
}

func (tk *task) nodeUsesGlobal(node, store string) bool {
	for _, n := range tk.sub.nodes {
		if b := n.base(); b.name == node {
			return containsString(b.globals, store)
		}
	}
	return false
}

func (tk *task) nodeUsesStore(node, store string) bool {
	for _, n := range tk.sub.nodes {
		if b := n.base(); b.name == node {
			return containsString(b.stores, store)
		}
	}
	return false
}

// logChange writes a changelog record for the current record's task.
func (tk *task) logChange(cl *changelog, key, value []byte) {
	tk.logChangeAt(cl, key, value, tk.currentTime())
}

// logChangeAt writes a changelog record with the given timestamp.
func (tk *task) logChangeAt(cl *changelog, key, value []byte, ts time.Time) {
	rec := tk.newRecord()
	rec.Topic, rec.Partition, rec.Key, rec.Timestamp, rec.Headers = cl.topic, cl.partition, append([]byte(nil), key...), ts, nil
	rec.Value = nil // a tombstone
	if value != nil {
		// Not append([]byte(nil), ...): that is nil for an empty value,
		// which would log a present empty value as a deletion.
		rec.Value = append(make([]byte, 0, len(value)), value...)
	}
	tk.env.out.send(tk, rec, cl.promise)
}

// currentTime is the timestamp for records created outside Forward (store
// writes, changelog records): the time of the record the running node
// processes, else (a punctuator, a commit's flush) the stream time.
func (tk *task) currentTime() time.Time {
	if tk.recordTime != unknownTime {
		return time.UnixMilli(tk.recordTime)
	}
	if tk.streamTime == unknownTime {
		return tk.env.now()
	}
	return time.UnixMilli(tk.streamTime)
}

// ---- changelog-writing store wrappers ----

type loggedKV struct {
	state.KeyValueStore
	tk *task
	cl *changelog
}

func (s *loggedKV) Put(key, value []byte) error {
	if err := s.KeyValueStore.Put(key, value); err != nil {
		return err
	}
	s.tk.logChange(s.cl, key, value)
	return nil
}

func (s *loggedKV) Delete(key []byte) error { return s.Put(key, nil) }

type loggedWindow struct {
	state.WindowStore
	tk *task
	cl *changelog
}

func (s *loggedWindow) Put(key []byte, windowStart int64, value []byte) error {
	if err := s.WindowStore.Put(key, windowStart, value); err != nil {
		return err
	}
	s.tk.logChange(s.cl, state.WindowChangelogKey(key, windowStart, 0), value)
	return nil
}

type loggedSession struct {
	state.SessionStore
	tk *task
	cl *changelog
}

func (s *loggedSession) Put(key []byte, start, end int64, value []byte) error {
	if err := s.SessionStore.Put(key, start, end, value); err != nil {
		return err
	}
	s.tk.logChange(s.cl, state.SessionChangelogKey(key, start, end), value)
	return nil
}

// loggedVersioned logs each put as Kafka Streams'
// ChangeLoggingVersionedKeyValueBytesStore does: the key, the value (nil
// for a tombstone) and the version's timestamp as the record timestamp.
// Puts dropped as older than the history retention are not logged:
// replaying them would drop them again.
type loggedVersioned struct {
	state.VersionedKeyValueStore
	tk *task
	cl *changelog
}

func (s *loggedVersioned) Put(key, value []byte, timestamp int64) (int64, error) {
	validTo, err := s.VersionedKeyValueStore.Put(key, value, timestamp)
	if err != nil || validTo == state.VersionedNotPut {
		return validTo, err
	}
	s.tk.logChangeAt(s.cl, key, value, time.UnixMilli(timestamp))
	return validTo, nil
}
