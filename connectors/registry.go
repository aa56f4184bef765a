package connectors

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Kind is the kind of a plugin.
type Kind string

// The plugin kinds.
const (
	KindSource    Kind = "source"
	KindSink      Kind = "sink"
	KindConverter Kind = "converter"
	KindTransform Kind = "transform"
	KindPredicate Kind = "predicate"
)

// Registry holds plugin types by name. A program that brings its own
// connectors registers them in a Registry (usually the bundled one, from
// connectors/bundled, plus its own) and hands it to the worker. A Registry
// is safe for concurrent use; registration normally happens at start.
type Registry struct {
	mu         sync.RWMutex
	sources    map[string]*SourcePlugin
	sinks      map[string]*SinkPlugin
	converters map[string]*ConverterPlugin
	transforms map[string]*TransformPlugin
	predicates map[string]*PredicatePlugin
	infos      map[Kind]map[string]*Info // by primary name
}

// NewRegistry returns an empty registry. connectors/bundled.Registry
// returns one with every bundled connector, converter, transform and
// predicate.
func NewRegistry() *Registry {
	return &Registry{
		sources:    map[string]*SourcePlugin{},
		sinks:      map[string]*SinkPlugin{},
		converters: map[string]*ConverterPlugin{},
		transforms: map[string]*TransformPlugin{},
		predicates: map[string]*PredicatePlugin{},
		infos:      map[Kind]map[string]*Info{},
	}
}

func register[P any](r *Registry, kind Kind, byName map[string]*P, p *P, info *Info) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if info.Name == "" {
		return fmt.Errorf("connectors: %s plugin without a name", kind)
	}
	names := append([]string{info.Name}, info.Aliases...)
	for _, n := range names {
		if _, dup := byName[n]; dup {
			return fmt.Errorf("connectors: %s %q is already registered", kind, n)
		}
	}
	for _, n := range names {
		byName[n] = p
	}
	if r.infos[kind] == nil {
		r.infos[kind] = map[string]*Info{}
	}
	r.infos[kind][info.Name] = info
	return nil
}

// AddSource registers a source connector type.
func (r *Registry) AddSource(p SourcePlugin) error {
	if p.New == nil {
		return fmt.Errorf("connectors: source %q has no New", p.Name)
	}
	return register(r, KindSource, r.sources, &p, &p.Info)
}

// AddSink registers a sink connector type.
func (r *Registry) AddSink(p SinkPlugin) error {
	if p.New == nil {
		return fmt.Errorf("connectors: sink %q has no New", p.Name)
	}
	return register(r, KindSink, r.sinks, &p, &p.Info)
}

// AddConverter registers a converter type.
func (r *Registry) AddConverter(p ConverterPlugin) error {
	if p.New == nil {
		return fmt.Errorf("connectors: converter %q has no New", p.Name)
	}
	return register(r, KindConverter, r.converters, &p, &p.Info)
}

// AddTransform registers a transform type.
func (r *Registry) AddTransform(p TransformPlugin) error {
	if p.New == nil {
		return fmt.Errorf("connectors: transform %q has no New", p.Name)
	}
	return register(r, KindTransform, r.transforms, &p, &p.Info)
}

// AddPredicate registers a predicate type.
func (r *Registry) AddPredicate(p PredicatePlugin) error {
	if p.New == nil {
		return fmt.Errorf("connectors: predicate %q has no New", p.Name)
	}
	return register(r, KindPredicate, r.predicates, &p, &p.Info)
}

func lookup[P any](r *Registry, kind Kind, byName map[string]*P, name string) (*P, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if p, ok := byName[name]; ok {
		return p, nil
	}
	known := make([]string, 0, len(r.infos[kind]))
	for n := range r.infos[kind] {
		known = append(known, n)
	}
	sort.Strings(known)
	msg := fmt.Sprintf("connectors: unknown %s type %q", kind, name)
	if s := Suggest(name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	if len(known) > 0 {
		msg += "; known: " + strings.Join(known, ", ")
	}
	return nil, fmt.Errorf("%s", msg)
}

// Source returns the source type named name (or one of its aliases).
func (r *Registry) Source(name string) (*SourcePlugin, error) {
	return lookup(r, KindSource, r.sources, name)
}

// Sink returns the sink type named name.
func (r *Registry) Sink(name string) (*SinkPlugin, error) { return lookup(r, KindSink, r.sinks, name) }

// Converter returns the converter type named name.
func (r *Registry) Converter(name string) (*ConverterPlugin, error) {
	return lookup(r, KindConverter, r.converters, name)
}

// Transform returns the transform type named name.
func (r *Registry) Transform(name string) (*TransformPlugin, error) {
	return lookup(r, KindTransform, r.transforms, name)
}

// Predicate returns the predicate type named name.
func (r *Registry) Predicate(name string) (*PredicatePlugin, error) {
	return lookup(r, KindPredicate, r.predicates, name)
}

// PluginInfo is a registered plugin's kind and description.
type PluginInfo struct {
	Kind Kind
	*Info
}

// List returns every registered plugin, sorted by kind (sources, sinks,
// converters, transforms, predicates) and name.
func (r *Registry) List() []PluginInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []PluginInfo
	for _, k := range []Kind{KindSource, KindSink, KindConverter, KindTransform, KindPredicate} {
		names := make([]string, 0, len(r.infos[k]))
		for n := range r.infos[k] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, PluginInfo{Kind: k, Info: r.infos[k][n]})
		}
	}
	return out
}

// Lookup returns every plugin (of any kind) with the given name or alias.
func (r *Registry) Lookup(name string) []PluginInfo {
	var out []PluginInfo
	for _, p := range r.List() {
		if p.Name == name || contains(p.Aliases, name) {
			out = append(out, p)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
