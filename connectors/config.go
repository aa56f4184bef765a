package connectors

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Common configuration of every connector, with Kafka Connect's names and,
// unless noted, defaults. Connector-specific fields sit next to them in the
// same flat map; converters, transforms and predicates take their settings
// under prefixes, as in Kafka Connect:
//
//	name: orders-files
//	type: file
//	value.converter: avro
//	value.converter.schema.registry.url: http://127.0.0.1:8081
//	transforms: mask
//	transforms.mask.type: MaskField$Value
//	transforms.mask.fields: ssn
var commonFields = []ConfigField{
	{Name: "name", Type: FieldString, Required: true,
		Doc: "The connector's name, unique in the Kafka cluster. It keys the source offsets, names the sink's consumer group (connect-<name>) and the transactional ids of exactly-once source tasks."},
	{Name: "type", Type: FieldString, Required: true,
		Doc: "The connector type (see `sluice connectors list`). Kafka Connect's connector.class is accepted as an alias."},
	{Name: "tasks.max", Type: FieldInt, Default: 1, Check: atLeast(1),
		Doc: "The most tasks the connector runs; it may run fewer if its work does not split."},
	{Name: "key.converter", Type: FieldString, Default: "json",
		Doc: "How record keys become Kafka bytes and back: json, string, bytes, avro, or a Kafka Connect class name of one of them. Settings go under key.converter.*."},
	{Name: "value.converter", Type: FieldString, Default: "json",
		Doc: "How record values become Kafka bytes and back; as key.converter. Settings go under value.converter.*."},
	{Name: "transforms", Type: FieldList,
		Doc: "Aliases of the transforms to apply, in order. Each is configured under transforms.<alias>.* with a type, an optional predicate and negate, and the transform's fields."},
	{Name: "predicates", Type: FieldList,
		Doc: "Aliases of predicates that transforms can name, configured under predicates.<alias>.* with a type and the predicate's fields."},
	{Name: "errors.tolerance", Type: FieldString, Default: "none", Allowed: []string{"none", "all"},
		Doc: "none: a record that fails conversion, transformation or writing stops the task, and nothing after it is committed. all: such records are dead-lettered (if a topic is set) and logged, and processing goes on."},
	{Name: "errors.retry.timeout", Type: FieldDuration, Default: 0,
		Doc: "How long a retriable failure (an unreachable server or registry) is retried with backoff before it counts as an error. 0: retriable failures of a task's own calls (poll, put, commit) are retried until they succeed, as in Kafka Connect, and those of converters and transforms are not retried; -1: every retriable failure is retried forever."},
	{Name: "errors.retry.delay.max.ms", Type: FieldDuration, Default: 60000,
		Doc: "The longest wait between two retries; waits start at 100 ms and double."},
	{Name: "errors.log.enable", Type: FieldBool, Default: false,
		Doc: "Log every tolerated error with its stage and record position (skipped records are always counted, and logged when they are not dead-lettered)."},
	{Name: "errors.log.include.messages", Type: FieldBool, Default: false,
		Doc: "Include the record's key and value in those logs."},
	{Name: "errors.deadletterqueue.topic.name", Type: FieldString,
		Doc: "The dead-letter topic for records that failed under errors.tolerance=all. Unlike Kafka Connect, sources have one too: input a source could not read, and records that failed conversion or a transform, go there with the error."},
	{Name: "errors.deadletterqueue.topic.replication.factor", Type: FieldInt, Default: -1,
		Doc: "Replication factor of the dead-letter topic if it is created; -1: the broker's default (Kafka Connect's default is 3)."},
	{Name: "errors.deadletterqueue.context.headers.enable", Type: FieldBool, Default: true,
		Doc: "Add the __connect.errors.* headers (topic, partition, offset, connector name, task id, stage, class names, exception message and stack) to dead letters. Default true, unlike Kafka Connect's false: a dead letter without its error is of little use."},
	{Name: "offset.flush.interval.ms", Type: FieldDuration, Default: 60000, Check: positive,
		Doc: "How often offsets are committed: a source's offsets (at least once) and a sink's consumer offsets. A task can ask for an earlier commit. Kafka Connect's worker setting, per connector here."},
	{Name: "offset.flush.timeout.ms", Type: FieldDuration, Default: 5000, Check: positive,
		Doc: "How long a commit waits for outstanding records to be acknowledged before it fails and is tried again."},
}

var sourceFields = []ConfigField{
	{Name: "exactly.once.support", Type: FieldString, Default: "requested", Allowed: []string{"requested", "required"},
		Doc: "requested: run exactly-once when the worker's processing guarantee is exactly_once_v2 and the connector type supports it, at least once otherwise. required: fail at start unless both hold (KIP-618)."},
	{Name: "transaction.boundary", Type: FieldString, Default: "poll", Allowed: []string{"poll", "interval"},
		Doc: "Under exactly-once, where transactions end: after every batch a task polls (poll) or every transaction.boundary.interval.ms (interval)."},
	{Name: "transaction.boundary.interval.ms", Type: FieldDuration, Check: nonNegative,
		Doc: "The transaction length with transaction.boundary=interval. Default: offset.flush.interval.ms."},
	{Name: "offsets.storage.topic", Type: FieldString,
		Doc: "A topic for this connector's offsets instead of the worker's offsets topic (KIP-618)."},
	{Name: "topic.creation.default.partitions", Type: FieldInt, Default: -1,
		Doc: "Create missing destination topics with this many partitions before writing to them (KIP-158); -1: do not create them (the broker may auto-create them)."},
	{Name: "topic.creation.default.replication.factor", Type: FieldInt, Default: -1,
		Doc: "Replication factor of topics created by topic.creation.default.partitions; -1: the broker's default."},
}

var sinkFields = []ConfigField{
	{Name: "topics", Type: FieldList,
		Doc: "The topics to read. Exactly one of topics and topics.regex is required."},
	{Name: "topics.regex", Type: FieldString, Check: isRegexp,
		Doc: "A regular expression of the topics to read (Go RE2 syntax, matched against the whole name)."},
	{Name: "consumer.max.poll.records", Type: FieldInt, Default: 500, Check: atLeast(1),
		Doc: "The most records handed to one Put (Kafka Connect's consumer.override.max.poll.records)."},
}

var transformFields = []ConfigField{
	{Name: "type", Type: FieldString, Required: true, Doc: "The transform type (see `sluice connectors list`)."},
	{Name: "predicate", Type: FieldString, Doc: "A predicate alias (from predicates): the transform applies only to records it matches."},
	{Name: "negate", Type: FieldBool, Default: false, Doc: "Apply the transform to records the predicate does not match."},
}

// CommonSpec returns the fields every connector of kind (source or sink)
// has, for documentation and lint.
func CommonSpec(kind Kind) Spec {
	fields := append([]ConfigField(nil), commonFields...)
	if kind == KindSource {
		fields = append(fields, sourceFields...)
	} else {
		fields = append(fields, sinkFields...)
	}
	return Spec{Fields: fields}
}

// Tolerance is errors.tolerance.
type Tolerance string

// The tolerances.
const (
	ToleranceNone Tolerance = "none"
	ToleranceAll  Tolerance = "all"
)

// ErrorPolicy is the parsed errors.* configuration of a connector.
type ErrorPolicy struct {
	Tolerance       Tolerance
	RetryTimeout    time.Duration // 0: task calls forever, conversions never; <0: forever
	RetryDelayMax   time.Duration
	LogEnable       bool
	LogMessages     bool
	DLQTopic        string
	DLQReplication  int16
	DLQContextHeads bool
}

// TransformStep is one configured transform with its optional predicate.
type TransformStep struct {
	Alias     string
	Type      string
	Transform Transform
	Predicate Predicate // nil: always
	Negate    bool
}

// Applies reports whether the step applies to rec.
func (s *TransformStep) Applies(rec *Record) bool {
	if s.Predicate == nil {
		return true
	}
	return s.Predicate.Test(rec) != s.Negate
}

// ConnectorConfig is a parsed and validated connector configuration: the
// common settings, the built converters, transforms and predicates, and the
// connector's own configuration. Building it makes no network call.
type ConnectorConfig struct {
	Name     string
	Kind     Kind
	Type     string
	TasksMax int

	Source *SourcePlugin // for sources
	Sink   *SinkPlugin   // for sinks
	// Config is the connector type's own configuration.
	Config *Config
	// Common is the common configuration (the fields of CommonSpec).
	Common *Config

	KeyConverter, ValueConverter Converter
	KeyConverterType             string
	ValueConverterType           string
	Transforms                   []TransformStep
	Errors                       ErrorPolicy

	// Sink topics: exactly one of Topics and TopicsRegex is set.
	Topics      []string
	TopicsRegex *regexp.Regexp
}

// ParseOptions adjusts ParseConnector.
type ParseOptions struct {
	// ConverterDefaults are settings every converter takes unless the
	// connector sets them under key.converter.* or value.converter.*, if
	// the converter declares them: the job's registry (schema.registry.url
	// and its credentials). They describe one registry, so a converter
	// that names its own schema.registry.url takes none of them: the job's
	// credentials are never sent to another registry.
	ConverterDefaults map[string]any
}

// ParseConnector parses and validates a connector configuration of kind
// (KindSource or KindSink) from a flat map (keys as in Kafka Connect),
// building its converters, transforms and predicates. It reports every
// problem at once as [*FieldError]s joined with errors.Join, each naming its
// full key.
func ParseConnector(reg *Registry, kind Kind, raw map[string]any, opts ParseOptions) (*ConnectorConfig, error) {
	if kind != KindSource && kind != KindSink {
		return nil, fmt.Errorf("connectors: ParseConnector: kind %q is neither source nor sink", kind)
	}
	common := CommonSpec(kind)
	commonRaw := map[string]any{}
	own := map[string]any{}
	groups := map[string]map[string]any{} // "key.converter." etc. -> sub-config
	for k, v := range raw {
		if k == "connector.class" {
			k = "type"
		}
		if _, ok := common.Field(k); ok {
			commonRaw[k] = v
			continue
		}
		if p, rest, ok := splitGroup(k); ok {
			if groups[p] == nil {
				groups[p] = map[string]any{}
			}
			groups[p][rest] = v
			continue
		}
		own[k] = v
	}
	var errs []error
	cc := &ConnectorConfig{Kind: kind}
	com, err := common.Parse("", commonRaw)
	if err != nil {
		// Still check the rest, so that every problem is reported at once:
		// go on with the common fields that are valid (defaults for the
		// others).
		errs = append(errs, err)
		filtered := map[string]any{}
		for k, v := range commonRaw {
			filtered[k] = v
		}
		for _, k := range errorKeys(err) {
			delete(filtered, k)
		}
		for _, k := range []string{"name", "type"} {
			if _, ok := filtered[k]; !ok {
				filtered[k] = ""
			}
		}
		com, _ = common.Parse("", filtered)
	}
	if com != nil {
		cc.Common = com
		cc.Name = com.String("name")
		cc.Type = com.String("type")
		cc.TasksMax = com.Int("tasks.max")
		cc.Errors = ErrorPolicy{
			Tolerance:       Tolerance(com.String("errors.tolerance")),
			RetryTimeout:    com.Duration("errors.retry.timeout"),
			RetryDelayMax:   com.Duration("errors.retry.delay.max.ms"),
			LogEnable:       com.Bool("errors.log.enable"),
			LogMessages:     com.Bool("errors.log.include.messages"),
			DLQTopic:        com.String("errors.deadletterqueue.topic.name"),
			DLQReplication:  int16(com.Int("errors.deadletterqueue.topic.replication.factor")),
			DLQContextHeads: com.Bool("errors.deadletterqueue.context.headers.enable"),
		}
		if kind == KindSink {
			topics, regex := com.List("topics"), com.String("topics.regex")
			switch {
			case len(topics) == 0 && regex == "":
				errs = append(errs, Errorf("topics", "required: set topics (a list) or topics.regex"))
			case len(topics) > 0 && regex != "":
				errs = append(errs, Errorf("topics.regex", "set either topics or topics.regex, not both"))
			case regex != "":
				cc.TopicsRegex = regexp.MustCompile("^(?:" + regex + ")$")
			default:
				cc.Topics = topics
			}
			if cc.Errors.DLQTopic != "" && (contains(topics, cc.Errors.DLQTopic) ||
				(cc.TopicsRegex != nil && cc.TopicsRegex.MatchString(cc.Errors.DLQTopic))) {
				errs = append(errs, Errorf("errors.deadletterqueue.topic.name", "%q is also a topic the sink reads: dead letters would loop", cc.Errors.DLQTopic))
			}
		}
		// The connector type's own fields.
		if cc.Type != "" {
			var spec *Spec
			var known []string
			if kind == KindSource {
				if p, err := reg.Source(cc.Type); err != nil {
					errs = append(errs, &FieldError{Key: "type", Err: err})
				} else {
					cc.Source, spec = p, &p.Spec
				}
			} else {
				if p, err := reg.Sink(cc.Type); err != nil {
					errs = append(errs, &FieldError{Key: "type", Err: err})
				} else {
					cc.Sink, spec = p, &p.Spec
				}
			}
			if spec != nil {
				known = append(common.names(), spec.names()...)
				for k := range own {
					if !spec.claims(k) {
						errs = append(errs, &FieldError{Key: k, Err: unknownFieldError(k, known)})
						delete(own, k)
					}
				}
				if c, err := spec.Parse("", own); err != nil {
					errs = append(errs, err)
				} else {
					cc.Config = c
				}
			}
		}
		// Converters.
		cc.KeyConverterType = com.String("key.converter")
		cc.ValueConverterType = com.String("value.converter")
		var err error
		if cc.KeyConverter, err = buildConverter(reg, "key.converter", cc.KeyConverterType, groups["key.converter."], opts, true); err != nil {
			errs = append(errs, err)
		}
		if cc.ValueConverter, err = buildConverter(reg, "value.converter", cc.ValueConverterType, groups["value.converter."], opts, false); err != nil {
			errs = append(errs, err)
		}
		delete(groups, "key.converter.")
		delete(groups, "value.converter.")
		// Predicates, then transforms that name them.
		preds := map[string]Predicate{}
		for _, alias := range com.List("predicates") {
			p, err := buildPredicate(reg, alias, groups)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			preds[alias] = p
		}
		for _, alias := range com.List("transforms") {
			step, err := buildTransform(reg, alias, groups, preds, com.List("predicates"))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			cc.Transforms = append(cc.Transforms, *step)
		}
	}
	// Whatever prefixed settings nobody claimed.
	prefixes := make([]string, 0, len(groups))
	for p := range groups {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		if com == nil && (p == "key.converter." || p == "value.converter.") {
			continue
		}
		for k := range groups[p] {
			errs = append(errs, Errorf(p+k, "%s", unclaimed(p)))
		}
	}
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	return cc, nil
}

// errorKeys lists the keys of the field errors in err.
func errorKeys(err error) []string {
	var keys []string
	for _, e := range flattenJoined(nil, err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			keys = append(keys, fe.Key)
		}
	}
	return keys
}

func unclaimed(prefix string) string {
	parts := strings.Split(strings.TrimSuffix(prefix, "."), ".")
	if len(parts) == 2 && (parts[0] == "transforms" || parts[0] == "predicates") {
		return fmt.Sprintf("%s %q is not listed in %s", strings.TrimSuffix(parts[0], "s"), parts[1], parts[0])
	}
	return "unknown field"
}

// splitGroup splits a prefixed key into its group prefix and the rest:
// "key.converter.x" -> ("key.converter.", "x"); "transforms.a.type" ->
// ("transforms.a.", "type").
func splitGroup(k string) (prefix, rest string, ok bool) {
	for _, p := range []string{"key.converter.", "value.converter."} {
		if strings.HasPrefix(k, p) {
			return p, k[len(p):], true
		}
	}
	for _, p := range []string{"transforms.", "predicates."} {
		if strings.HasPrefix(k, p) {
			alias, rest, ok := strings.Cut(k[len(p):], ".")
			if !ok || alias == "" || rest == "" {
				return "", "", false
			}
			return p + alias + ".", rest, true
		}
	}
	return "", "", false
}

func buildConverter(reg *Registry, key, typ string, raw map[string]any, opts ParseOptions, isKey bool) (Converter, error) {
	p, err := reg.Converter(typ)
	if err != nil {
		return nil, &FieldError{Key: key, Err: err}
	}
	merged := map[string]any{}
	if _, ownRegistry := raw["schema.registry.url"]; !ownRegistry {
		for k, v := range opts.ConverterDefaults {
			if _, declared := p.Spec.Field(k); declared {
				merged[k] = v
			}
		}
	}
	for k, v := range raw {
		merged[k] = v
	}
	cfg, err := p.Spec.Parse(key+".", merged)
	if err != nil {
		return nil, err
	}
	c, err := p.New(cfg, isKey)
	if err != nil {
		return nil, withKey(key, err)
	}
	return c, nil
}

func buildPredicate(reg *Registry, alias string, groups map[string]map[string]any) (Predicate, error) {
	prefix := "predicates." + alias + "."
	raw := groups[prefix]
	delete(groups, prefix)
	typ, _ := raw["type"].(string)
	if typ == "" {
		return nil, Errorf(prefix+"type", "required: the predicate type")
	}
	p, err := reg.Predicate(typ)
	if err != nil {
		return nil, &FieldError{Key: prefix + "type", Err: err}
	}
	own := map[string]any{}
	for k, v := range raw {
		if k != "type" {
			own[k] = v
		}
	}
	cfg, err := p.Spec.Parse(prefix, own)
	if err != nil {
		return nil, err
	}
	pred, err := p.New(cfg)
	if err != nil {
		return nil, withKey(prefix+"type", err)
	}
	return pred, nil
}

func buildTransform(reg *Registry, alias string, groups map[string]map[string]any, preds map[string]Predicate, predAliases []string) (*TransformStep, error) {
	prefix := "transforms." + alias + "."
	raw := groups[prefix]
	delete(groups, prefix)
	base := map[string]any{}
	own := map[string]any{}
	for k, v := range raw {
		if _, ok := (&Spec{Fields: transformFields}).Field(k); ok {
			base[k] = v
		} else {
			own[k] = v
		}
	}
	bspec := Spec{Fields: transformFields}
	bc, err := bspec.Parse(prefix, base)
	if err != nil {
		return nil, err
	}
	step := &TransformStep{Alias: alias, Type: bc.String("type"), Negate: bc.Bool("negate")}
	if name := bc.String("predicate"); name != "" {
		p, ok := preds[name]
		if !ok {
			if !contains(predAliases, name) {
				return nil, Errorf(prefix+"predicate", "predicate %q is not listed in predicates", name)
			}
			return nil, Errorf(prefix+"predicate", "predicate %q is not usable (see its error)", name)
		}
		step.Predicate = p
	} else if step.Negate {
		return nil, Errorf(prefix+"negate", "negate needs a predicate")
	}
	p, err := reg.Transform(step.Type)
	if err != nil {
		return nil, &FieldError{Key: prefix + "type", Err: err}
	}
	cfg, err := p.Spec.Parse(prefix, own)
	if err != nil {
		return nil, err
	}
	if step.Transform, err = p.New(cfg); err != nil {
		return nil, withKey(prefix+"type", err)
	}
	return step, nil
}

// withKey keeps field errors as they are and names key on any other.
func withKey(key string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return err
	}
	return &FieldError{Key: key, Err: err}
}

// flattenJoined appends to dst the errors joined in e (as errors.Join
// joins them), at any depth, or e itself if it joins none.
func flattenJoined(dst []error, e error) []error {
	if j, ok := e.(interface{ Unwrap() []error }); ok {
		for _, x := range j.Unwrap() {
			dst = flattenJoined(dst, x)
		}
		return dst
	}
	return append(dst, e)
}

// joinSorted flattens joined errors and sorts field errors by key, so
// reports are stable.
func joinSorted(errs []error) error {
	var flat []error
	for _, e := range errs {
		flat = flattenJoined(flat, e)
	}
	key := func(e error) string {
		var fe *FieldError
		if errors.As(e, &fe) {
			return fe.Key
		}
		return ""
	}
	sort.SliceStable(flat, func(i, j int) bool { return key(flat[i]) < key(flat[j]) })
	return errors.Join(flat...)
}

func atLeast(n int64) func(any) error {
	return func(v any) error {
		if v.(int64) < n {
			return fmt.Errorf("%d is below the minimum %d", v, n)
		}
		return nil
	}
}

func positive(v any) error {
	if v.(time.Duration) <= 0 {
		return fmt.Errorf("must be positive, got %v", v)
	}
	return nil
}

func nonNegative(v any) error {
	if v.(time.Duration) < 0 {
		return fmt.Errorf("must not be negative, got %v", v)
	}
	return nil
}

func isRegexp(v any) error {
	_, err := regexp.Compile(v.(string))
	return err
}

// AtLeast returns a ConfigField.Check for int fields with a minimum.
func AtLeast(n int64) func(any) error { return atLeast(n) }
