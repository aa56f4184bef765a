package core

import (
	"sort"
	"sync"

	"github.com/sluicehq/sluice/state"
)

// storeRegistry tracks the local stores that interactive queries can read:
// for every store name, the read-only views of the tasks (partitions) this
// instance currently holds. Threads update it when tasks open (after their
// stores are restored) and close; queries read it from any goroutine.
//
// It also tracks the stale copies that queries read only with
// WithStaleStores: the stores of standby tasks (added and removed by the
// standby runner) and of active tasks still restoring (added by their
// thread when the restore starts, moved to the active map by add when it
// ends). The registry is where the owner of a store publishes it to
// queries: an owner removes a task's entries before it closes the task's
// engines, and a query that took an entry just before then reads through
// a read-only view that stays safe to call after the close (it returns
// state.ErrClosed, and the engine closes the view's open iterators). So
// no reference counting is needed, and closing a task never waits for a
// query. mu is a leaf lock: taken under thread.mu and standbyRunner.mu,
// never the other way.
type storeRegistry struct {
	mu     sync.RWMutex
	stores map[string]map[int32]localStore
	stale  map[string]map[int32]localStore
}

// localStore is one task's instance of a store, read-only.
type localStore struct {
	kind   StoreKind
	engine state.ReadOnlyEngine
	// For a stale entry: the task that registered it (so that only it
	// removes it), its changelog (the lag) and what kind of copy it is.
	owner   *task
	cl      *changelog
	standby bool
}

// source describes where a query read partition p from.
func (l localStore) source(p int32) PartitionSource {
	src := PartitionSource{Partition: p}
	if l.cl != nil {
		src.Standby, src.Restoring = l.standby, !l.standby
		src.Lag = l.cl.lag()
	}
	return src
}

func (r *storeRegistry) add(tk *task) {
	if tk.state == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stores == nil {
		r.stores = map[string]map[int32]localStore{}
	}
	r.removeStaleLocked(tk)
	for _, name := range tk.sub.stores {
		spec := tk.topoStores[name]
		eng := tk.state.persistent
		if spec.InMemory {
			eng = tk.state.memory
		}
		if eng == nil {
			continue
		}
		m := r.stores[name]
		if m == nil {
			m = map[int32]localStore{}
			r.stores[name] = m
		}
		m[tk.id.Partition] = localStore{kind: spec.Kind, engine: eng.ReadOnly()}
	}
}

// addStale registers the changelogged stores of a standby task, or of an
// active task whose restore started, for stale queries. The task's
// changelogs' queryPos and queryEnd must be set first.
func (r *storeRegistry) addStale(tk *task, standby bool) {
	if tk.state == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stale == nil {
		r.stale = map[string]map[int32]localStore{}
	}
	for _, cl := range tk.state.changelogs {
		m := r.stale[cl.store]
		if m == nil {
			m = map[int32]localStore{}
			r.stale[cl.store] = m
		}
		m[tk.id.Partition] = localStore{kind: cl.spec.Kind, engine: cl.engine.ReadOnly(), owner: tk, cl: cl, standby: standby}
	}
}

// remove unregisters a task's stores, active and stale; owners call it
// before they close the task's engines.
func (r *storeRegistry) remove(tk *task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, name := range tk.sub.stores {
		delete(r.stores[name], tk.id.Partition)
	}
	r.removeStaleLocked(tk)
}

func (r *storeRegistry) removeStaleLocked(tk *task) {
	for _, name := range tk.sub.stores {
		if l, ok := r.stale[name][tk.id.Partition]; ok && l.owner == tk {
			delete(r.stale[name], tk.id.Partition)
		}
	}
}

// partitions returns the store's local instances, by partition, in
// partition order: the active ones, and with stale the standby and
// restoring ones of the partitions not active here.
func (r *storeRegistry) partitions(store string, stale bool) ([]int32, []localStore) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := r.stores[store]
	var s map[int32]localStore
	if stale {
		s = r.stale[store]
	}
	ps := make([]int32, 0, len(m)+len(s))
	for p := range m {
		ps = append(ps, p)
	}
	for p := range s {
		if _, active := m[p]; !active {
			ps = append(ps, p)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	out := make([]localStore, len(ps))
	for i, p := range ps {
		l, ok := m[p]
		if !ok {
			l = s[p]
		}
		out[i] = l
	}
	return ps, out
}

// partition returns the store's local instance of partition p (see
// partitions).
func (r *storeRegistry) partition(store string, p int32, stale bool) (localStore, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if l, ok := r.stores[store][p]; ok {
		return l, true
	}
	if stale {
		l, ok := r.stale[store][p]
		return l, ok
	}
	return localStore{}, false
}

// each calls f for every local instance of every store (a stale one only
// for a partition not active here), with the registry locked for reading.
func (r *storeRegistry) each(f func(store string, p int32, l localStore, stale bool)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for name, m := range r.stores {
		for p, l := range m {
			f(name, p, l, false)
		}
	}
	for name, m := range r.stale {
		for p, l := range m {
			if _, active := r.stores[name][p]; !active {
				f(name, p, l, true)
			}
		}
	}
}
