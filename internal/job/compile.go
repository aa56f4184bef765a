package job

import (
	"bytes"
	"fmt"
	"github.com/sluicehq/sluice/connectors"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// CompileOptions adjusts Compile.
type CompileOptions struct {
	// RegistryURL is the Schema Registry of Avro serdes; empty while
	// linting (types then come from .avsc files and from the schemas the
	// job's sources declare).
	RegistryURL string
	// Plugins are the connector types, to learn the schemas the job's
	// sources declare (connectors.SchemaDeclarer). Optional.
	Plugins *connectors.Registry
}

// nodeKind is what a pipeline holds between steps.
type nodeKind int

const (
	kStream nodeKind = iota
	kTable
	kGlobal
	kGrouped
	kWindowedTable
)

func (k nodeKind) String() string {
	return [...]string{"a stream", "a table", "a global table", "a grouped stream", "a windowed table"}[k]
}

// node is a stream, table or grouped stream during compilation, with the
// static types of its keys and values.
type node struct {
	kind    nodeKind
	stream  *dsl.KStream[any, any]
	table   *dsl.KTable[any, any]
	global  *dsl.GlobalKTable[any, any]
	grouped *dsl.KGroupedStream[any, any]
	windows *windowSpec
	wtable  *dsl.KTable[serde.Windowed[any], any]
	key     vtype
	value   vtype
	name    string
}

type windowSpec struct {
	kind                 string // tumbling, hopping, sliding, session
	size, advance, grace time.Duration
}

// compiler holds the state of one compilation.
type compiler struct {
	j       *Job
	opts    CompileOptions
	b       *dsl.Builder
	named   map[string]*node
	ps      Problems
	client  avroClient
	step    int
	records map[reflect.Type]*recordType
	sources map[string]topicSchemas // topic -> schemas its source declares
	// topics records the serdes of every topic the topology reads or
	// writes, for `sluice test`.
	topics     map[string]topicSerdes
	lastTopics map[string]topicSerdes
	// queries are the codecs of the stores served to interactive queries.
	queries []core.QueryCodec
	// Record recycling (recycle.go): the inputs that qualify, their
	// serdes, and while compiling a pipeline, its input's serde, the index
	// of its projection and the pool of the projected records for the
	// `to` step after it.
	recyclable map[string]bool
	recyclers  map[string]*recyclingSerde
	recycleIn  *recyclingSerde
	projAt     int
	releaseTo  *sync.Pool
}

// topicSerdes are a topic's key and value serdes and types.
type topicSerdes struct {
	keys, values serde.Serde[any]
	key, value   vtype
}

// Compile compiles the job's topology onto the DSL. Every expression is
// compiled and type-checked; problems carry their positions.
func (j *Job) Compile(opts CompileOptions) (*core.Topology, error) {
	if j.Topology == nil {
		return nil, fmt.Errorf("job %s has no topology", j.Name)
	}
	c := &compiler{j: j, opts: opts, b: dsl.NewBuilder(), named: map[string]*node{}, topics: map[string]topicSerdes{}}
	if opts.RegistryURL != "" {
		// The job's own registry takes the registry section's security
		// settings; the embedded one needs none.
		clientOpts, ps := j.registryOptions(opts.RegistryURL)
		if len(ps) > 0 {
			return nil, ps.sorted()
		}
		url := opts.RegistryURL
		if url == j.RegistryURL {
			url = j.Registry.BaseURL() // credentials in the URL are in clientOpts, not in errors
		}
		client, err := schemaregistry.NewClient(url, clientOpts...)
		if err != nil {
			return nil, Problems{{j.Topology.Pos, err.Error()}}
		}
		c.client = client
	}
	c.sources = j.declaredSchemas(opts.Plugins)
	c.recyclable, c.recyclers = j.recyclableInputs(), map[string]*recyclingSerde{}
	for _, in := range j.Topology.Inputs {
		c.input(in)
	}
	for _, p := range j.Topology.Pipelines {
		c.pipeline(p)
	}
	if len(c.ps) > 0 {
		return nil, c.ps.sorted()
	}
	topo, err := c.b.Build()
	if err != nil {
		return nil, Problems{{j.Topology.Pos, err.Error()}}
	}
	c.lastTopics = c.topics
	j.compiled = c.topics
	j.queries = c.queries
	return topo, nil
}

func (c *compiler) fail(pos Pos, format string, args ...any) {
	c.ps = append(c.ps, Problem{pos, fmt.Sprintf(format, args...)})
}

func (c *compiler) failErr(err error) {
	if p, ok := err.(Problem); ok {
		c.ps = append(c.ps, p)
		return
	}
	if ps, ok := err.(Problems); ok {
		c.ps = append(c.ps, ps...)
		return
	}
	c.ps = append(c.ps, Problem{Pos{File: c.j.File}, err.Error()})
}

// typeOf resolves a declared serde to a static type.
func (c *compiler) typeOf(d SerdeDecl, topic string, isKey bool) (vtype, bool) {
	switch d.Format {
	case "string":
		return tString, true
	case "bytes":
		return tBytes, true
	case "long":
		return tLong, true
	case "int":
		return tInt, true
	case "double":
		return tDouble, true
	case "json":
		if d.Schema == "" && c.declaredSchema(topic, isKey) == "" {
			return tJSONAny, true
		}
	}
	rt, err := c.recordFor(d, topic, isKey)
	if err != nil {
		c.fail(d.Pos, "%v", err)
		return vtype{}, false
	}
	return vtype{rt: rt.goType, format: d.Format, record: rt}, true
}

func (c *compiler) serde(t vtype, pos Pos) serde.Serde[any] {
	return c.serdeFor(t, pos, false)
}

// keySerde is serde for record keys: an Avro key's schema is registered
// under <topic>-key (Confluent's TopicNameStrategy for keys).
func (c *compiler) keySerde(t vtype, pos Pos) serde.Serde[any] {
	return c.serdeFor(t, pos, true)
}

func (c *compiler) serdeFor(t vtype, pos Pos, isKey bool) serde.Serde[any] {
	s, err := serdeOf(t, isKey)
	if err != nil {
		c.fail(pos, "%v", err)
		return jsonAny{}
	}
	return s
}

func (c *compiler) input(in *Input) {
	kt, ok1 := c.typeOf(in.Key, in.Topic, true)
	vt, ok2 := c.typeOf(in.Value, in.Topic, false)
	if !ok1 || !ok2 {
		return
	}
	consumed := dsl.Consumed[any, any]{Keys: c.keySerde(kt, in.Key.Pos), Values: c.serde(vt, in.Value.Pos), Name: in.Name}
	c.topics[in.Topic] = topicSerdes{keys: consumed.Keys, values: consumed.Values, key: kt, value: vt}
	if in.Timestamp != nil {
		p, err := compile(in.Timestamp, []variable{{"key", kt.rt}, {"value", vt.rt}, {"timestamp", reflect.TypeOf(int64(0))}}, 0)
		if err != nil {
			c.failErr(err)
		} else {
			consumed.Extractor = timestampExtractor(p, consumed.Keys, consumed.Values)
		}
	}
	if in.Kind == InputStream && vt.record != nil && c.recyclable[in.Name] {
		if rs := newRecyclingSerde(consumed.Values); rs != nil {
			consumed.Values, c.recyclers[in.Name] = rs, rs
		}
	}
	n := &node{key: kt, value: vt, name: in.Name}
	switch in.Kind {
	case InputStream:
		n.kind, n.stream = kStream, dsl.Stream(c.b, in.Topic, consumed)
	case InputTable:
		n.kind, n.table = kTable, dsl.Table(c.b, in.Topic, consumed, dsl.Materialized[any, any]{Name: in.Name, Keys: consumed.Keys, Values: consumed.Values})
		c.queryable(in.Name, kt, consumed.Keys, consumed.Values, core.KeyValueStoreKind)
	case InputGlobal:
		n.kind, n.global = kGlobal, dsl.GlobalTable(c.b, in.Topic, consumed, dsl.Materialized[any, any]{Name: in.Name, Keys: consumed.Keys, Values: consumed.Values})
	}
	c.named[in.Name] = n
}

// timestampExtractor reads event time with an expression over the
// deserialized record (the engine's extractors see raw records: this
// decodes the key and value once more). A record whose time cannot be
// computed gets a negative time, which the invalid-timestamp policy
// handles (the default fails naming the record).
func timestampExtractor(p *program, keys, values serde.Serde[any]) core.TimestampExtractor {
	return func(rec *kgo.Record, _ time.Time) time.Time {
		invalid := time.UnixMilli(-1)
		var k, v any
		var err error
		// Bytes that do not deserialize keep the record's own timestamp:
		// the source's deserialization then fails on them and its handler
		// (log and continue, or fail) reports what is wrong, instead of an
		// "invalid timestamp" that hides the cause.
		if rec.Key != nil {
			if k, err = keys.Deserialize(rec.Topic, rec.Key); err != nil {
				return rec.Timestamp
			}
		}
		if rec.Value != nil {
			if v, err = values.Deserialize(rec.Topic, rec.Value); err != nil {
				return rec.Timestamp
			}
		}
		out, err := p.run(k, v, rec.Timestamp.UnixMilli())
		if err != nil {
			return invalid
		}
		switch x := out.(type) {
		case *int64: // a nullable field
			if x != nil {
				return time.UnixMilli(*x)
			}
		case *time.Time:
			if x != nil {
				return *x
			}
		case int64:
			return time.UnixMilli(x)
		case int:
			return time.UnixMilli(int64(x))
		case int32:
			return time.UnixMilli(int64(x))
		case float64:
			return time.UnixMilli(int64(x))
		case time.Time:
			return x
		}
		return invalid
	}
}

func (c *compiler) pipeline(p *Pipeline) {
	var cur *node
	c.recycleIn, c.projAt, c.releaseTo = nil, -1, nil
	if len(p.From) == 1 {
		if rs := c.recyclers[p.From[0].Name]; rs != nil {
			c.recycleIn, c.projAt = rs, projectionAfterFilters(p)
		}
	}
	for i, f := range p.From {
		n, ok := c.named[f.Name]
		if !ok {
			c.unknownRef(f)
			return
		}
		if i == 0 {
			cur = n
			continue
		}
		if cur.kind != kStream || n.kind != kStream {
			c.fail(f.Pos, "from: several inputs merge only streams; %q is %s", f.Name, n.kind)
			return
		}
		if !sameType(cur.value, n.value) || !sameType(cur.key, n.key) {
			c.fail(f.Pos, "from: %q (%s, %s) does not have the types of %q (%s, %s)", f.Name, n.key, n.value, p.From[0].Name, cur.key, cur.value)
			return
		}
		cur = &node{kind: kStream, stream: cur.stream.Merge(n.stream), key: cur.key, value: cur.value}
	}
	for i, s := range p.Steps {
		c.step = i + 1
		next := c.stepOn(p, cur, s)
		if next == nil {
			if keepsTypes[s.Op] {
				continue // the types are unchanged: check the rest too
			}
			return // the types after this step are unknown: later errors would be noise
		}
		cur = next
	}
}

// keepsTypes lists steps after whose failure the next steps still see
// the same stream (so their problems are reported too).
var keepsTypes = map[string]bool{"filter": true, "filterNot": true, "as": true, "to": true, "merge": true, "repartition": true}

func (c *compiler) unknownRef(f Ref) {
	var names []string
	for n := range c.named {
		names = append(names, n)
	}
	sort.Strings(names)
	msg := fmt.Sprintf("unknown stream or table %q", f.Name)
	if s := suggest(f.Name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if len(names) > 0 {
		msg += " (declared: " + strings.Join(names, ", ") + ")"
	}
	c.fail(f.Pos, "%s", msg)
}

func sameType(a, b vtype) bool {
	if a.record != nil || b.record != nil {
		return a.record == b.record
	}
	return a.rt == b.rt
}

// stepName names a step's processor: <pipeline>-<op>-<n>.
func (c *compiler) stepName(p *Pipeline, op string) string {
	return fmt.Sprintf("%s-%s-%d", p.Name, strings.ToLower(op), c.step)
}

func (c *compiler) need(s *Step, n *node, kinds ...nodeKind) bool {
	for _, k := range kinds {
		if n.kind == k {
			return true
		}
	}
	var want []string
	for _, k := range kinds {
		want = append(want, k.String())
	}
	c.fail(s.Pos, "%s applies to %s, but the pipeline holds %s here", s.Op, strings.Join(want, " or "), n.kind)
	return false
}

func kvVars(n *node) []variable {
	return []variable{{"key", n.key.rt}, {"value", n.value.rt}}
}

func (c *compiler) stepOn(p *Pipeline, n *node, s *Step) *node {
	name := dsl.Named(c.stepName(p, s.Op))
	switch s.Op {
	case "as":
		if _, dup := c.named[s.Arg.Str]; dup {
			c.fail(s.Arg.Pos, "as: %q is already a stream or table name", s.Arg.Str)
			return nil
		}
		c.named[s.Arg.Str] = n
		return n
	case "filter", "filterNot":
		prog, err := compile(s.Arg, kvVars(n), reflect.Bool)
		if err != nil {
			c.failErr(err)
			return nil
		}
		pred := func(k, v any) bool {
			b, err := prog.test(k, v)
			if err != nil {
				panic(exprPanic{err})
			}
			return b
		}
		if rs := c.recycleIn; rs != nil && n.kind == kStream && c.step-1 < c.projAt {
			// A dropped input record has no other reader (recycle.go).
			keep := s.Op == "filter"
			test := pred
			pred = func(k, v any) bool {
				b := test(k, v)
				if b != keep && rs.active {
					rs.put(v)
				}
				return b
			}
		}
		switch n.kind {
		case kStream:
			if s.Op == "filter" {
				return n.with(n.stream.Filter(pred, name))
			}
			return n.with(n.stream.FilterNot(pred, name))
		case kTable:
			if s.Op == "filter" {
				return n.withTable(n.table.Filter(pred, name))
			}
			return n.withTable(n.table.FilterNot(pred, name))
		}
		c.need(s, n, kStream, kTable)
		return nil
	case "mapValues":
		if !c.need(s, n, kStream, kTable) {
			return nil
		}
		proj := c.projection(p, s.Arg, kvVars(n), "Value")
		if proj == nil {
			return nil
		}
		out := &node{kind: n.kind, key: n.key, value: proj.typ}
		mapper := func(k, v any) any { return proj.eval(k, v) }
		if n.kind == kStream {
			mapper = c.recyclingMapper(p, proj, mapper)
			out.stream = dsl.MapValuesWithKey(n.stream, mapper, name).WithSerdes(c.keySerde(n.key, s.Pos), c.serde(proj.typ, s.Pos))
		} else {
			out.table = dsl.MapValuesTable(n.table, func(v any) any { return proj.eval(nil, v) }, name)
		}
		return out
	case "map":
		if !c.need(s, n, kStream) {
			return nil
		}
		// The key, like the value, is an expression or fields building a
		// record (for an Avro record key).
		keyProj := c.projection(p, s.Arg.Get("key"), kvVars(n), "Key")
		proj := c.projection(p, s.Arg.Get("value"), kvVars(n), "Value")
		if keyProj == nil || proj == nil {
			return nil
		}
		st := dsl.Map(n.stream, func(k, v any) (any, any) {
			return keyProj.eval(k, v), proj.eval(k, v)
		}, name)
		return &node{kind: kStream, key: keyProj.typ, value: proj.typ, stream: st.WithSerdes(c.keySerde(keyProj.typ, s.Pos), c.serde(proj.typ, s.Pos))}
	case "selectKey", "groupBy":
		if !c.need(s, n, kStream) {
			return nil
		}
		prog, err := compile(s.Arg, kvVars(n), 0)
		if err != nil {
			c.failErr(err)
			return nil
		}
		kt, ok := c.exprType(prog, s.Arg)
		if !ok {
			return nil
		}
		sel := func(k, v any) any {
			out, err := prog.run(k, v)
			if err != nil {
				panic(exprPanic{err})
			}
			return out
		}
		if s.Op == "groupBy" {
			g := dsl.GroupBy(n.stream, sel, dsl.Grouped[any, any]{Keys: c.keySerde(kt, s.Pos), Values: c.serde(n.value, s.Pos), Name: string(name)})
			return &node{kind: kGrouped, grouped: g, key: kt, value: n.value}
		}
		st := dsl.SelectKey(n.stream, sel, name).WithSerdes(c.keySerde(kt, s.Pos), c.serde(n.value, s.Pos))
		return &node{kind: kStream, stream: st, key: kt, value: n.value}
	case "merge":
		if !c.need(s, n, kStream) {
			return nil
		}
		refs := []*Value{s.Arg}
		if s.Arg.Kind == KindList {
			refs = s.Arg.List
		}
		out := n
		for _, r := range refs {
			other, ok := c.named[r.Str]
			if !ok {
				c.unknownRef(Ref{r.Str, r.Pos})
				return nil
			}
			if other.kind != kStream || !sameType(other.value, n.value) || !sameType(other.key, n.key) {
				c.fail(r.Pos, "merge: %q is %s of (%s, %s); this stream is (%s, %s)", r.Str, other.kind, other.key, other.value, n.key, n.value)
				return nil
			}
			out = out.with(out.stream.Merge(other.stream, name))
		}
		return out
	case "repartition":
		if !c.need(s, n, kStream) {
			return nil
		}
		opts := dsl.Repartitioned[any, any]{Keys: c.keySerde(n.key, s.Pos), Values: c.serde(n.value, s.Pos), Name: string(name)}
		if v := s.Arg.Get("partitions"); v != nil {
			opts.Partitions = int32(v.Int)
		}
		return n.with(n.stream.Repartition(opts))
	case "to":
		if !c.need(s, n, kStream) {
			return nil
		}
		topic := s.Arg.Str
		kt, vt := n.key, n.value
		if s.Arg.Kind == KindMap {
			topic = s.Arg.Get("topic").Str
			if d := s.Arg.Get("key"); d != nil {
				kt = c.outType(n.key, c.b2(d), topic, true)
			}
			if d := s.Arg.Get("value"); d != nil {
				vt = c.outType(n.value, c.b2(d), topic, false)
			}
		}
		ks, vs := c.keySerde(kt, s.Pos), c.serde(vt, s.Pos)
		c.topics[topic] = topicSerdes{keys: ks, values: vs, key: kt, value: vt}
		if c.releaseTo != nil { // the only reader of a projection's records (recycle.go)
			vs, c.releaseTo = releasingSerde{vs, c.releaseTo}, nil
		}
		n.stream.To(topic, dsl.Produced[any, any]{Keys: ks, Values: vs, Name: string(name)})
		return n
	case "groupByKey":
		if !c.need(s, n, kStream) {
			return nil
		}
		g := n.stream.GroupByKey(dsl.Grouped[any, any]{Keys: c.keySerde(n.key, s.Pos), Values: c.serde(n.value, s.Pos), Name: string(name)})
		return &node{kind: kGrouped, grouped: g, key: n.key, value: n.value}
	case "window":
		if !c.need(s, n, kGrouped) {
			return nil
		}
		w := c.window(s)
		if w == nil {
			return nil
		}
		out := *n
		out.windows = w
		return &out
	case "count", "sum", "min", "max", "avg", "reduce", "aggregate":
		if !c.need(s, n, kGrouped) {
			return nil
		}
		return c.aggregate(p, n, s, name)
	case "suppress":
		if !c.need(s, n, kWindowedTable, kTable) {
			return nil
		}
		var sup dsl.Suppressed
		if s.Arg.Kind == KindString {
			if n.kind != kWindowedTable {
				c.fail(s.Pos, "suppress: untilWindowCloses needs a windowed aggregation before it")
				return nil
			}
			sup = dsl.UntilWindowCloses(dsl.UnboundedBuffer())
		} else {
			d, _ := parseDuration(s.Arg.Get("untilTimeLimit"))
			sup = dsl.UntilTimeLimit(d, dsl.UnboundedBuffer())
		}
		if n.kind == kWindowedTable {
			out := *n
			out.wtable = n.wtable.Suppress(sup)
			return &out
		}
		return n.withTable(n.table.Suppress(sup))
	case "toStream":
		switch n.kind {
		case kTable:
			return &node{kind: kStream, stream: n.table.ToStream(name).WithSerdes(c.keySerde(n.key, s.Pos), c.serde(n.value, s.Pos)), key: n.key, value: n.value}
		case kWindowedTable:
			return c.windowedToStream(p, n, s, name)
		}
		c.need(s, n, kTable, kWindowedTable)
		return nil
	case "join":
		return c.join(p, n, s, name)
	case "flatMapValues":
		if !c.need(s, n, kStream) {
			return nil
		}
		prog, err := compile(s.Arg, kvVars(n), 0)
		if err != nil {
			c.failErr(err)
			return nil
		}
		et := prog.out
		if et.Kind() != reflect.Slice && et != anyType {
			c.fail(s.Arg.Pos, "flatMapValues: the expression returns %s, want a list", et)
			return nil
		}
		elem := anyType
		if et.Kind() == reflect.Slice {
			elem = et.Elem()
		}
		vt, ok := c.goType(elem, s.Arg)
		if !ok {
			return nil
		}
		st := dsl.FlatMapValues(n.stream, func(v any) []any {
			out, err := prog.run(nil, v)
			if err != nil {
				panic(exprPanic{err})
			}
			rv := reflect.ValueOf(out)
			if !rv.IsValid() || rv.Kind() != reflect.Slice {
				return nil
			}
			res := make([]any, rv.Len())
			for i := range res {
				res[i] = rv.Index(i).Interface()
			}
			return res
		}, name)
		return &node{kind: kStream, stream: st.WithSerdes(c.keySerde(n.key, s.Pos), c.serde(vt, s.Pos)), key: n.key, value: vt}
	}
	c.fail(s.Pos, "step %q is not supported yet", s.Op)
	return nil
}

// b2 reads a serde declaration inside a step.
func (c *compiler) b2(v *Value) SerdeDecl {
	b := &builder{j: c.j}
	d := b.serde(v, "json")
	c.ps = append(c.ps, b.ps...)
	return d
}

// outType is the type written to a topic with a declared format: the
// stream's own record with another format, or a primitive.
func (c *compiler) outType(cur vtype, d SerdeDecl, topic string, isKey bool) vtype {
	if cur.record != nil && (d.Format == "avro" || d.Format == "json") && d.Schema == "" && d.Subject == "" {
		return vtype{rt: cur.rt, format: d.Format, record: cur.record}
	}
	t, ok := c.typeOf(d, topic, isKey)
	if !ok {
		return cur
	}
	if t.record == nil && cur.record == nil && t.rt != cur.rt && t.rt != anyType {
		c.fail(d.Pos, "the stream holds %s, which cannot be written as %s", cur, t)
	}
	return t
}

func (n *node) with(s *dsl.KStream[any, any]) *node {
	out := *n
	out.stream = s
	return &out
}

func (n *node) withTable(t *dsl.KTable[any, any]) *node {
	out := *n
	out.table = t
	return &out
}

// exprPanic carries an expression's run-time error through the DSL's
// function signatures (which return no error) to the processing handler.
type exprPanic struct{ err error }

func (e exprPanic) Error() string { return e.err.Error() }

func (c *compiler) window(s *Step) *windowSpec {
	w := &windowSpec{}
	set := 0
	if v := s.Arg.Get("tumbling"); v != nil {
		w.kind, set = "tumbling", set+1
		w.size, _ = parseDuration(v)
	}
	if v := s.Arg.Get("hopping"); v != nil {
		w.kind, set = "hopping", set+1
		w.size, _ = parseDuration(v.Get("size"))
		w.advance, _ = parseDuration(v.Get("advance"))
	}
	if v := s.Arg.Get("sliding"); v != nil {
		w.kind, set = "sliding", set+1
		w.size, _ = parseDuration(v)
	}
	if v := s.Arg.Get("session"); v != nil {
		w.kind, set = "session", set+1
		w.size, _ = parseDuration(v)
	}
	if set != 1 {
		c.fail(s.Pos, "window: set exactly one of tumbling, hopping, sliding, session")
		return nil
	}
	if v := s.Arg.Get("grace"); v != nil {
		w.grace, _ = parseDuration(v)
	}
	if w.size <= 0 {
		c.fail(s.Pos, "window: the size must be positive")
		return nil
	}
	return w
}
