package core

import (
	"errors"
	"fmt"
	"time"
)

// StoreKind is the kind of a state store.
type StoreKind int

const (
	// KeyValueStoreKind stores one value per key.
	KeyValueStoreKind StoreKind = iota
	// WindowStoreKind stores values per key and window start.
	WindowStoreKind
	// SessionStoreKind stores session windows per key.
	SessionStoreKind
	// VersionedKeyValueStoreKind stores the values of each key over time
	// (state.VersionedKeyValueStore, Kafka Streams' versioned stores of
	// KIP-889), for Retention behind the largest timestamp put.
	VersionedKeyValueStoreKind
)

func (k StoreKind) String() string {
	switch k {
	case WindowStoreKind:
		return "window"
	case SessionStoreKind:
		return "session"
	case VersionedKeyValueStoreKind:
		return "versioned key-value"
	}
	return "key-value"
}

// StoreSpec describes a state store of a topology (Kafka Streams'
// StoreBuilder). Every task of the sub-topology gets its own instance.
type StoreSpec struct {
	// Name is the store name; the changelog topic is
	// "<application-id>-<Name>-changelog".
	Name string
	Kind StoreKind
	// InMemory keeps the store in memory instead of on Pebble; with
	// logging it is rebuilt from its changelog when a task starts.
	InMemory bool
	// DisableLogging turns the changelog off: the store is then lost with
	// the task's local state (Kafka Streams' withLoggingDisabled).
	DisableLogging bool
	// Caching keeps writes in the task's record cache until the next commit
	// (or eviction), collapsing repeated updates of a key; flush listeners
	// (SetKeyValueFlushListener) then see only the latest. Key-value and
	// window stores; the DSL turns it on, as Kafka Streams does. Versioned
	// stores are never cached (nor are they in Kafka Streams).
	Caching bool
	// Retention is how long window and session stores keep a window after
	// its start (window) or end (session); required for those kinds. For a
	// versioned store it is the history retention (0 keeps only what is
	// valid at the latest timestamp put).
	Retention time.Duration
	// SegmentInterval is the granularity in which expired windows are
	// dropped. Default: max(Retention/2, 60s), as in Kafka Streams.
	SegmentInterval time.Duration
	// ChangelogConfigs are extra topic configs for the changelog (for
	// example min.insync.replicas). cleanup.policy and retention are set
	// by the runtime: compact for key-value stores; compact,delete with
	// retention = Retention + 1 day for window and session stores.
	ChangelogConfigs map[string]string
}

func (s *StoreSpec) validate() error {
	if s.Name == "" {
		return errors.New("core: store needs a name")
	}
	if s.Kind == VersionedKeyValueStoreKind {
		if s.Retention < 0 {
			return fmt.Errorf("core: versioned store %q: negative history retention %v", s.Name, s.Retention)
		}
		return nil
	}
	if s.Kind != KeyValueStoreKind && s.Retention <= 0 {
		return fmt.Errorf("core: %s store %q needs a retention", s.Kind, s.Name)
	}
	if s.SegmentInterval <= 0 && s.Kind != KeyValueStoreKind {
		s.SegmentInterval = max(s.Retention/2, time.Minute)
	}
	return nil
}

// ChangelogTopic is the cluster name of a store's changelog topic,
// "<application-id>-<store>-changelog" as in Kafka Streams. It is the one
// place that spells the name: the runtime creates, writes and restores
// that topic, and processors get it from StoreOf for their serde calls.
func ChangelogTopic(appID, store string) string { return appID + "-" + store + "-changelog" }

// changelogAdditionalRetention is Kafka Streams'
// windowstore.changelog.additional.retention.ms default.
const changelogAdditionalRetention = 24 * time.Hour

// AddStateStore adds a store to the topology and connects it to the named
// processors, which then reach it through ProcessorContext.StateStore.
// Processors sharing a store always run in the same task.
func (t *Topology) AddStateStore(spec StoreSpec, processors ...string) error {
	if t.sealed {
		return errSealed
	}
	if err := spec.validate(); err != nil {
		return err
	}
	if _, dup := t.stores[spec.Name]; dup {
		return fmt.Errorf("core: store %q already exists in the topology", spec.Name)
	}
	s := spec
	t.stores[spec.Name] = &s
	return t.ConnectProcessorAndStores(processors, spec.Name)
}

// ConnectProcessorAndStores gives the named processors access to stores
// already added with AddStateStore.
func (t *Topology) ConnectProcessorAndStores(processors []string, stores ...string) error {
	if t.sealed {
		return errSealed
	}
	for _, st := range stores {
		_, local := t.stores[st]
		_, global := t.globals[st]
		if !local && !global {
			return fmt.Errorf("core: store %q is not in the topology (add it with AddStateStore or AddGlobalStore)", st)
		}
	}
	for _, p := range processors {
		spec, ok := t.byName[p]
		if !ok {
			return fmt.Errorf("core: processor %q is not in the topology", p)
		}
		b := spec.base()
		if b.kind != kindProcessor {
			return fmt.Errorf("core: node %q is not a processor; only processors use stores", p)
		}
		for _, st := range stores {
			if _, global := t.globals[st]; global {
				if !containsString(b.globals, st) {
					b.globals = append(b.globals, st)
				}
			} else if !containsString(b.stores, st) {
				b.stores = append(b.stores, st)
			}
		}
	}
	return nil
}

// Store returns a store's spec (nil if absent).
func (t *Topology) Store(name string) *StoreSpec { return t.stores[name] }
