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
type storeRegistry struct {
	mu     sync.RWMutex
	stores map[string]map[int32]localStore
}

// localStore is one task's instance of a store, read-only.
type localStore struct {
	kind   StoreKind
	engine state.ReadOnlyEngine
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

func (r *storeRegistry) remove(tk *task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, name := range tk.sub.stores {
		delete(r.stores[name], tk.id.Partition)
	}
}

// partitions returns the store's local instances, by partition, in
// partition order.
func (r *storeRegistry) partitions(store string) ([]int32, []localStore) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := r.stores[store]
	ps := make([]int32, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	out := make([]localStore, len(ps))
	for i, p := range ps {
		out[i] = m[p]
	}
	return ps, out
}
