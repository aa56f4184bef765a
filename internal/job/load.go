// Package job loads, lints and runs Sluice jobs: YAML files that wire
// source connectors, a streams topology and sink connectors, run in one
// process by `sluice run`. The format is described by shapes (format.go)
// that also generate docs/jobs.md and the JSON Schema.
package job

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/registryconf"
	"github.com/sluicehq/sluice/kafka"
)

// Job is a loaded job file.
type Job struct {
	File        string // the job file's path
	Dir         string // its directory: relative paths in the file are relative to it
	Name        string
	Description string
	Guarantee   core.ProcessingGuarantee
	// Kafka are the client properties of the kafka section (Kafka's
	// names: bootstrap.servers, security.protocol, sasl.*, ssl.*); without
	// bootstrap.servers (here, in --kafka-config or the environment) the
	// job runs on an embedded broker.
	Kafka              map[string]string
	EmbeddedPartitions int32
	// RegistryURL of an external registry; empty: embedded when needed.
	RegistryURL string
	// Registry are the registry section's settings under Confluent's
	// names (URL is RegistryURL; relative TLS file paths resolved against
	// Dir). They apply to RegistryURL only, never to the embedded registry.
	Registry registryconf.Config
	StateDir string
	Threads  int
	// NumStandbyReplicas and AcceptableRecoveryLag (-1: the engine's
	// default) set standby replicas and state-aware placement.
	NumStandbyReplicas    int
	AcceptableRecoveryLag int64
	// MaxWarmupReplicas and ProbingInterval (0: the engine's defaults).
	MaxWarmupReplicas int
	ProbingInterval   time.Duration
	CommitInterval    time.Duration
	CacheMaxBytes     int
	// Memory budget (0: the engine's defaults; see DESIGN.md "Memory
	// budget").
	BlockCacheBytes, MemTableBytes        int64
	FetchMaxBytes, MaxPartitionFetchBytes int32
	MaxTaskIdle                           time.Duration
	ApplicationServer                     string // host:port, for routed interactive queries
	Topics                                []*TopicDecl
	Sources                               []*ConnectorDecl
	Sinks                                 []*ConnectorDecl
	Topology                              *Topology

	root        *Value
	registryPos map[string]Pos         // the registry section's keys
	compiled    map[string]topicSerdes // the last Compile's topic serdes
	queries     []core.QueryCodec      // the last Compile's queryable stores
}

// TopicDecl is a topic the job creates if missing.
type TopicDecl struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Config            map[string]string
	Pos               Pos
}

// ConnectorDecl is a source or sink block.
type ConnectorDecl struct {
	Name   string // the name in the file
	Kind   connectors.Kind
	Config map[string]any // flat, Kafka Connect keys; "name" is <job>-<Name>
	Pos    Pos
	keys   map[string]Pos // key positions, for errors
}

// FullName is the connector's name in Kafka (offsets, groups).
func (c *ConnectorDecl) FullName() string { return c.Config["name"].(string) }

// Topology is the streams part of a job.
type Topology struct {
	Inputs    []*Input
	Pipelines []*Pipeline
	Pos       Pos
}

// InputKind says how an input is read.
type InputKind string

// The input kinds.
const (
	InputStream InputKind = "stream"
	InputTable  InputKind = "table"
	InputGlobal InputKind = "global table"
)

// Input is a stream, table or global table over a topic.
type Input struct {
	Name      string
	Kind      InputKind
	Topic     string
	Key       SerdeDecl
	Value     SerdeDecl
	Timestamp *Value // expression, or nil
	Reset     string
	Pos       Pos
}

// SerdeDecl is a declared key or value format.
type SerdeDecl struct {
	Format  string // string, bytes, long, int, double, json, avro
	Schema  string // an .avsc file (absolute), for avro and json
	Subject string // avro: the registry subject to read the type from
	Pos     Pos
}

// Pipeline is a list of steps from one or more streams.
type Pipeline struct {
	Name  string
	From  []Ref
	Steps []*Step
	Pos   Pos
}

// Ref names a stream, table or topic at a position.
type Ref struct {
	Name string
	Pos  Pos
}

// Step is one step: its operation and argument (interpreted by the
// compiler).
type Step struct {
	Op  string
	Arg *Value
	Pos Pos
}

// Load reads and validates a job file's structure (not yet its
// expressions, types and connectors: see Lint). Problems carry positions.
func Load(path string) (*Job, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	return Parse(path, data, osEnv)
}

// Parse is Load on the file's contents; env resolves ${VAR}.
func Parse(path string, data []byte, env func(string) (string, bool)) (*Job, error) {
	root, ps := parseYAML(path, data, env)
	if len(ps) > 0 {
		return nil, ps.sorted()
	}
	jobShape.check(root, "", &ps)
	if len(ps) > 0 {
		return nil, ps.sorted()
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	j := &Job{File: path, Dir: filepath.Dir(abs), root: root, Guarantee: core.AtLeastOnce, Threads: 1, AcceptableRecoveryLag: -1,
		CacheMaxBytes: 10 << 20, EmbeddedPartitions: 4}
	b := &builder{j: j}
	b.build(root)
	if len(b.ps) > 0 {
		return nil, b.ps.sorted()
	}
	return j, nil
}

type builder struct {
	j  *Job
	ps Problems
}

func (b *builder) fail(pos Pos, format string, args ...any) {
	b.ps = append(b.ps, Problem{pos, fmt.Sprintf(format, args...)})
}

func (b *builder) path(rel string) string {
	if rel == "" || filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(b.j.Dir, rel)
}

func (b *builder) build(root *Value) {
	j := b.j
	j.Name = root.Get("job").Str
	if !validName(j.Name) {
		b.fail(root.Get("job").Pos, "job: %q is not a valid name (letters, digits, '.', '_' and '-'): it becomes the application id", j.Name)
	}
	if v := root.Get("description"); v != nil {
		j.Description = v.Str
	}
	if v := root.Get("processing.guarantee"); v != nil {
		j.Guarantee = core.ProcessingGuarantee(strings.ToLower(v.Str))
	}
	if k := root.Get("kafka"); k != nil {
		for _, f := range kafkaShape.Fields {
			v := k.Get(f.Name)
			switch {
			case v == nil:
			case f.Name == "embedded.partitions":
				j.EmbeddedPartitions = int32(v.Int)
			default:
				if j.Kafka == nil {
					j.Kafka = map[string]string{}
				}
				j.Kafka[f.Name] = v.Str
			}
		}
		if j.Kafka != nil {
			if _, err := kafka.Parse(j.Kafka); err != nil {
				b.fail(k.Pos, "kafka: %v", strings.TrimPrefix(err.Error(), "kafka: "))
			}
		}
	}
	if r := root.Get("registry"); r != nil {
		b.registry(r)
	}
	j.StateDir = b.path(filepath.Join(".sluice", j.Name))
	if v := root.Get("state.dir"); v != nil {
		j.StateDir = b.path(v.Str)
	}
	if v := root.Get("threads"); v != nil {
		if v.Int < 1 {
			b.fail(v.Pos, "threads: need at least 1")
		}
		j.Threads = int(v.Int)
	}
	if v := root.Get("num.standby.replicas"); v != nil {
		if v.Int < 0 {
			b.fail(v.Pos, "num.standby.replicas: must not be negative")
		}
		j.NumStandbyReplicas = int(v.Int)
	}
	if v := root.Get("acceptable.recovery.lag"); v != nil {
		if v.Int < 0 {
			b.fail(v.Pos, "acceptable.recovery.lag: must not be negative")
		}
		j.AcceptableRecoveryLag = v.Int
	}
	if v := root.Get("max.warmup.replicas"); v != nil {
		if v.Int < 1 {
			b.fail(v.Pos, "max.warmup.replicas: must be at least 1")
		}
		j.MaxWarmupReplicas = int(v.Int)
	}
	if v := root.Get("probing.rebalance.interval.ms"); v != nil {
		j.ProbingInterval, _ = parseDuration(v)
	}
	if v := root.Get("commit.interval.ms"); v != nil {
		j.CommitInterval, _ = parseDuration(v)
	}
	if v := root.Get("cache.max.bytes"); v != nil {
		j.CacheMaxBytes = int(v.Int)
	}
	for _, m := range []struct {
		key string
		min int64
		max int64
		set func(int64)
	}{
		{"statestore.block.cache.bytes", 1, 1 << 40, func(n int64) { j.BlockCacheBytes = n }},
		{"statestore.memtable.bytes", 1 << 20, 4<<30 - 1, func(n int64) { j.MemTableBytes = n }},
		{"fetch.max.bytes", 1 << 10, 1<<31 - 1, func(n int64) { j.FetchMaxBytes = int32(n) }},
		{"max.partition.fetch.bytes", 1 << 10, 1<<31 - 1, func(n int64) { j.MaxPartitionFetchBytes = int32(n) }},
	} {
		if v := root.Get(m.key); v != nil {
			if v.Int < m.min || v.Int > m.max {
				b.fail(v.Pos, "%s: %d is out of range [%d, %d]", m.key, v.Int, m.min, m.max)
				continue
			}
			m.set(v.Int)
		}
	}
	if v := root.Get("max.task.idle.ms"); v != nil {
		j.MaxTaskIdle, _ = parseDuration(v)
	}
	if v := root.Get("application.server"); v != nil {
		if _, port, err := net.SplitHostPort(v.Str); err != nil || port == "" {
			b.fail(v.Pos, "application.server: %q is not host:port", v.Str)
		} else {
			j.ApplicationServer = v.Str
		}
	}
	if ts := root.Get("topics"); ts != nil {
		for _, e := range ts.Map {
			td := &TopicDecl{Name: e.Key, Partitions: 4, ReplicationFactor: -1, Config: map[string]string{}, Pos: e.KeyPos}
			if v := e.Val.Get("partitions"); v != nil {
				if v.Int < 1 {
					b.fail(v.Pos, "topics.%s.partitions: need at least 1", e.Key)
				}
				td.Partitions = int32(v.Int)
			}
			if v := e.Val.Get("replication.factor"); v != nil {
				td.ReplicationFactor = int16(v.Int)
			}
			if c := e.Val.Get("config"); c != nil {
				for _, ce := range c.Map {
					td.Config[ce.Key] = ce.Val.Str
				}
			}
			j.Topics = append(j.Topics, td)
		}
	}
	j.Sources = b.connectors(root.Get("sources"), connectors.KindSource)
	j.Sinks = b.connectors(root.Get("sinks"), connectors.KindSink)
	seen := map[string]Pos{}
	for _, c := range append(append([]*ConnectorDecl(nil), j.Sources...), j.Sinks...) {
		if prev, dup := seen[c.Name]; dup {
			b.fail(c.Pos, "connector %q is declared twice (first at %s): sources and sinks share one namespace", c.Name, prev)
		}
		seen[c.Name] = c.Pos
	}
	if t := root.Get("topology"); t != nil {
		j.Topology = b.topology(t)
	}
	if j.Topology == nil && len(j.Sources) == 0 && len(j.Sinks) == 0 {
		b.fail(root.Pos, "the job has nothing to run: add sources, a topology or sinks")
	}
}

// registryKeys are the registry section's keys by Confluent's names.
var registryKeys = map[string]string{
	registryconf.URL:                    "url",
	registryconf.BasicAuthUserInfo:      "basic.auth.user.info",
	registryconf.BearerAuthToken:        "bearer.auth.token",
	registryconf.SSLCALocation:          "ssl.ca.location",
	registryconf.SSLCertificateLocation: "ssl.certificate.location",
	registryconf.SSLKeyLocation:         "ssl.key.location",
}

// registryPartners are the keys that go together.
var registryPartners = map[string]string{"ssl.certificate.location": "ssl.key.location", "ssl.key.location": "ssl.certificate.location"}

// registryNames rewrites Confluent's names in registryconf's messages to
// the registry section's.
var registryNames = strings.NewReplacer("schema.registry.ssl.", "ssl.", registryconf.URL, "url")

// registry reads the registry section and checks how its keys combine.
func (b *builder) registry(r *Value) {
	j := b.j
	j.registryPos = map[string]Pos{}
	for _, e := range r.Map {
		j.registryPos[e.Key] = e.KeyPos
	}
	str := func(key string) string {
		if v := r.Get(key); v != nil {
			return v.Str
		}
		return ""
	}
	j.Registry = registryconf.Config{
		URL:                    str("url"),
		BasicAuthUserInfo:      str("basic.auth.user.info"),
		BearerAuthToken:        str("bearer.auth.token"),
		SSLCALocation:          b.path(str("ssl.ca.location")),
		SSLCertificateLocation: b.path(str("ssl.certificate.location")),
		SSLKeyLocation:         b.path(str("ssl.key.location")),
	}
	j.RegistryURL = j.Registry.URL
	if j.RegistryURL == "" {
		for _, e := range r.Map {
			if e.Key != "url" {
				b.fail(e.KeyPos, "registry.%s: needs registry.url (the embedded registry serves plain HTTP without authentication)", e.Key)
			}
		}
		return
	}
	b.ps = append(b.ps, j.registryProblems(j.Registry.Validate())...)
}

// registryProblems places registryconf's errors at the registry
// section's keys.
func (j *Job) registryProblems(err error) Problems {
	if err == nil {
		return nil
	}
	var ps Problems
	var walk func(error)
	walk = func(e error) {
		if joined, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range joined.Unwrap() {
				walk(x)
			}
			return
		}
		pos := Pos{File: j.File}
		var fe *registryconf.FieldError
		if !errors.As(e, &fe) {
			ps = append(ps, Problem{pos, "registry: " + e.Error()})
			return
		}
		key, ok := registryKeys[fe.Key]
		if !ok {
			key = fe.Key
		}
		// A key that is missing is reported at the key that needs it.
		for _, k := range []string{key, registryPartners[key], "url"} {
			if p, ok := j.registryPos[k]; ok {
				pos = p
				break
			}
		}
		ps = append(ps, Problem{pos, fmt.Sprintf("registry.%s: %s", key, registryNames.Replace(fe.Err.Error()))})
	}
	walk(err)
	return ps
}

func (b *builder) connectors(v *Value, kind connectors.Kind) []*ConnectorDecl {
	if v == nil {
		return nil
	}
	var out []*ConnectorDecl
	for _, e := range v.Map {
		c := &ConnectorDecl{Name: e.Key, Kind: kind, Pos: e.KeyPos, Config: map[string]any{}, keys: map[string]Pos{}}
		flatten(e.Val, "", c.Config, c.keys, e.KeyPos)
		if _, ok := c.Config["name"]; ok {
			b.fail(c.keys["name"], "%ss.%s: the connector's name is its key in the file (%q); remove `name`", kind, e.Key, e.Key)
		}
		c.Config["name"] = b.j.Name + "-" + e.Key
		out = append(out, c)
	}
	return out
}

// flatten turns nested YAML maps into Kafka Connect's dotted keys
// ({value.converter: {type: avro, schema.registry.url: x}} is accepted as
// value.converter: avro + value.converter.schema.registry.url: x) and
// lists into lists.
func flatten(v *Value, prefix string, out map[string]any, keys map[string]Pos, pos Pos) {
	for _, e := range v.Map {
		key := e.Key
		if prefix != "" {
			key = prefix + "." + e.Key
		}
		if e.Val.Kind == KindMap {
			flatten(e.Val, key, out, keys, e.KeyPos)
			continue
		}
		if prefix != "" && e.Key == "type" && !strings.HasPrefix(prefix, "transforms.") && !strings.HasPrefix(prefix, "predicates.") {
			key = prefix // value.converter: {type: avro}
		}
		out[key] = e.Val.Plain()
		keys[key] = e.KeyPos
	}
}

func (b *builder) serde(v *Value, def string) SerdeDecl {
	if v == nil {
		return SerdeDecl{Format: def}
	}
	if v.Kind == KindString {
		return SerdeDecl{Format: strings.ToLower(v.Str), Pos: v.Pos}
	}
	e := v.Map[0]
	d := SerdeDecl{Format: e.Key, Pos: v.Pos}
	if s := e.Val.Get("schema"); s != nil {
		d.Schema = b.path(s.Str)
		if _, err := os.Stat(d.Schema); err != nil {
			b.fail(s.Pos, "schema file %s: %v", s.Str, errors.Unwrap(err))
		}
	}
	if s := e.Val.Get("subject"); s != nil {
		d.Subject = s.Str
	}
	if d.Format == "json" && d.Schema == "" {
		b.fail(v.Pos, "json with a structure needs `schema: FILE.avsc` (or write `json` for schemaless JSON)")
	}
	if d.Schema != "" && d.Subject != "" {
		b.fail(v.Pos, "set schema or subject, not both")
	}
	return d
}

func (b *builder) topology(t *Value) *Topology {
	top := &Topology{Pos: t.Pos}
	names := map[string]Pos{}
	add := func(sec string, kind InputKind) {
		v := t.Get(sec)
		if v == nil {
			return
		}
		for _, e := range v.Map {
			if prev, dup := names[e.Key]; dup {
				b.fail(e.KeyPos, "%q is already declared at %s: streams, tables and global tables share one namespace", e.Key, prev)
				continue
			}
			names[e.Key] = e.KeyPos
			in := &Input{Name: e.Key, Kind: kind, Topic: e.Val.Get("topic").Str, Pos: e.KeyPos, Reset: "earliest"}
			in.Key = b.serde(e.Val.Get("key"), "string")
			in.Value = b.serde(e.Val.Get("value"), "json")
			in.Timestamp = e.Val.Get("timestamp")
			if r := e.Val.Get("offset.reset"); r != nil {
				in.Reset = strings.ToLower(r.Str)
			}
			top.Inputs = append(top.Inputs, in)
		}
	}
	add("streams", InputStream)
	add("tables", InputTable)
	add("global.tables", InputGlobal)
	for i, pv := range t.Get("pipelines").List {
		p := &Pipeline{Name: fmt.Sprintf("pipeline-%d", i+1), Pos: pv.Pos}
		if v := pv.Get("name"); v != nil {
			p.Name = v.Str
		}
		from := pv.Get("from")
		if from.Kind == KindList {
			for _, f := range from.List {
				p.From = append(p.From, Ref{f.Str, f.Pos})
			}
		} else {
			p.From = []Ref{{from.Str, from.Pos}}
		}
		for _, sv := range pv.Get("steps").List {
			e := sv.Map[0]
			p.Steps = append(p.Steps, &Step{Op: e.Key, Arg: e.Val, Pos: e.KeyPos})
		}
		if len(p.Steps) == 0 {
			b.fail(pv.Pos, "pipeline %s has no steps", p.Name)
		}
		top.Pipelines = append(top.Pipelines, p)
	}
	return top
}
