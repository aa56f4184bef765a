package transforms

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

// testConverter stands in for the real converters (internal/converters):
// ParseConnector needs one to build a connector configuration.
type testConverter struct{}

func (testConverter) FromConnect(string, *connectors.Schema, any) ([]byte, error) { return nil, nil }
func (testConverter) ToConnect(string, []byte) (*connectors.Schema, any, error) {
	return nil, nil, nil
}

// connectorRegistry has the transforms, a converter and a sink type.
func connectorRegistry(t *testing.T) *connectors.Registry {
	t.Helper()
	reg := testRegistry(t)
	if err := reg.AddConverter(connectors.ConverterPlugin{
		Info: connectors.Info{Name: "test", Summary: "A converter for tests."},
		New:  func(*connectors.Config, bool) (connectors.Converter, error) { return testConverter{}, nil },
	}); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddSink(connectors.SinkPlugin{
		Info: connectors.Info{Name: "testsink", Summary: "A sink for tests."},
		New:  func(*connectors.Config) (connectors.Sink, error) { return nil, errors.New("not run in tests") },
	}); err != nil {
		t.Fatal(err)
	}
	return reg
}

func sinkConfig(extra map[string]any) map[string]any {
	raw := map[string]any{
		"name": "c", "type": "testsink", "topics": "test",
		"key.converter": "test", "value.converter": "test",
	}
	for k, v := range extra {
		raw[k] = v
	}
	return raw
}

// runSteps applies the configured transforms as the worker does: a step
// applies when its predicate (negated or not) says so.
func runSteps(t *testing.T, steps []connectors.TransformStep, rec *connectors.Record) []*connectors.Record {
	t.Helper()
	recs := []*connectors.Record{rec}
	for _, s := range steps {
		var next []*connectors.Record
		for _, r := range recs {
			if !s.Applies(r) {
				next = append(next, r)
				continue
			}
			var err error
			if next, err = s.Transform.Apply(next, r); err != nil {
				t.Fatalf("step %s: %v", s.Alias, err)
			}
		}
		recs = next
	}
	return recs
}

// A full connector configuration with Kafka Connect's keys: a masking
// transform that skips tombstones through a negated predicate, a Kafka
// Connect class name, and a filter.
func TestParseConnectorWithTransforms(t *testing.T) {
	t.Parallel()
	reg := connectorRegistry(t)
	cc, err := connectors.ParseConnector(reg, connectors.KindSink, sinkConfig(map[string]any{
		"transforms":                   "mask,route,drop",
		"transforms.mask.type":         "MaskField$Value",
		"transforms.mask.fields":       "ssn",
		"transforms.mask.predicate":    "isTomb",
		"transforms.mask.negate":       "true",
		"transforms.route.type":        "org.apache.kafka.connect.transforms.RegexRouter",
		"transforms.route.regex":       "te(.*)",
		"transforms.route.replacement": "prod-$1",
		"transforms.drop.type":         "Filter",
		"transforms.drop.predicate":    "internal",
		"predicates":                   "isTomb,internal",
		"predicates.isTomb.type":       "RecordIsTombstone",
		"predicates.internal.type":     "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
		"predicates.internal.name":     "internal",
	}), connectors.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cc.Transforms) != 3 || cc.Transforms[0].Type != "MaskField$Value" || !cc.Transforms[0].Negate || cc.Transforms[0].Predicate == nil {
		t.Fatalf("transforms = %+v", cc.Transforms)
	}

	out := runSteps(t, cc.Transforms, sinkRecord(nil, nil, nil, map[string]any{"ssn": "123-45-6789", "name": "Ada"}))
	if len(out) != 1 || out[0].Topic != "prod-st" {
		t.Fatalf("got %v", out)
	}
	checkValue(t, "masked", out[0].Value, map[string]any{"ssn": "", "name": "Ada"})

	// A tombstone would fail MaskField; the negated predicate lets it through.
	out = runSteps(t, cc.Transforms, sinkRecord(nil, nil, nil, nil))
	if len(out) != 1 || out[0].Value != nil || out[0].Topic != "prod-st" {
		t.Fatalf("tombstone: %v", out)
	}

	internal := sinkRecord(nil, nil, nil, map[string]any{"ssn": "x"})
	internal.Headers = []connectors.Header{{Key: "internal", Value: []byte("1")}}
	if out = runSteps(t, cc.Transforms, internal); len(out) != 0 {
		t.Fatalf("filter kept %v", out)
	}
}

// The example of Kafka's documentation ("Transformations"): the file
// source's lines wrapped in a map, with a static field added.
func TestKafkaDocumentationExample(t *testing.T) {
	t.Parallel()
	reg := connectorRegistry(t)
	cc, err := connectors.ParseConnector(reg, connectors.KindSink, sinkConfig(map[string]any{
		"transforms":                           "MakeMap, InsertSource",
		"transforms.MakeMap.type":              "org.apache.kafka.connect.transforms.HoistField$Value",
		"transforms.MakeMap.field":             "line",
		"transforms.InsertSource.type":         "org.apache.kafka.connect.transforms.InsertField$Value",
		"transforms.InsertSource.static.field": "data_source",
		"transforms.InsertSource.static.value": "test-file-source",
	}), connectors.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Schemaless (JSON without schemas): {"line":"foo","data_source":"test-file-source"}.
	out := runSteps(t, cc.Transforms, sinkRecord(nil, nil, nil, "foo"))
	checkValue(t, "schemaless", out[0].Value, map[string]any{"line": "foo", "data_source": "test-file-source"})
	// With a schema: a struct {line: string, data_source: optional string}.
	out = runSteps(t, cc.Transforms, sinkRecord(nil, nil, connectors.StringSchema(), "bar"))
	want := connectors.NewStruct("").Field("line", connectors.StringSchema()).Field("data_source", opt(connectors.StringSchema())).MustBuild()
	checkSchema(t, "with schema", out[0].ValueSchema, want)
	checkValue(t, "with schema", out[0].Value, mkStruct(want, "bar", "test-file-source"))
}

func TestParseConnectorTransformErrors(t *testing.T) {
	t.Parallel()
	reg := connectorRegistry(t)
	for _, c := range []struct {
		name string
		raw  map[string]any
		key  string
		msg  string
	}{
		{"bad cast spec", map[string]any{"transforms": "c", "transforms.c.type": "Cast$Value", "transforms.c.spec": "a:array"}, "transforms.c.spec", "cannot cast to array"},
		{"typo in a field", map[string]any{"transforms": "m", "transforms.m.type": "MaskField$Value", "transforms.m.feilds": "a", "transforms.m.fields": "a"}, "transforms.m.feilds", `did you mean "fields"`},
		{"missing required", map[string]any{"transforms": "m", "transforms.m.type": "MaskField$Value"}, "transforms.m.fields", "required"},
		{"unknown type", map[string]any{"transforms": "m", "transforms.m.type": "MaskFields$Value"}, "transforms.m.type", `did you mean "MaskField$Value"`},
		{"bad predicate config", map[string]any{"transforms": "f", "transforms.f.type": "Filter", "transforms.f.predicate": "p",
			"predicates": "p", "predicates.p.type": "TopicNameMatches", "predicates.p.pattern": "("}, "predicates.p.pattern", "invalid regular expression"},
		{"insert without fields", map[string]any{"transforms": "i", "transforms.i.type": "InsertField$Value"}, "transforms.i.topic.field", "no field insertion configured"},
		{"static field without value", map[string]any{"transforms": "i", "transforms.i.type": "InsertField$Key", "transforms.i.static.field": "s"}, "transforms.i.static.value", "required"},
		{"bad date format", map[string]any{"transforms": "r", "transforms.r.type": "TimestampRouter", "transforms.r.timestamp.format": "yyyy-ww"}, "transforms.r.timestamp.format", "week in year"},
		{"bad replacement", map[string]any{"transforms": "r", "transforms.r.type": "RegexRouter", "transforms.r.regex": "(a)", "transforms.r.replacement": "$2"}, "transforms.r.replacement", "no group 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := connectors.ParseConnector(reg, connectors.KindSink, sinkConfig(c.raw), connectors.ParseOptions{})
			wantFieldError(t, err, c.key)
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not say %q", err, c.msg)
			}
		})
	}
}

// Every registered plugin is documented, reachable by its Kafka Connect
// class name, and its example configures a working connector.
func TestPluginsDocumentedAndExamplesParse(t *testing.T) {
	t.Parallel()
	reg := connectorRegistry(t)
	want := []string{"Cast", "ExtractField", "Flatten", "HeaderFrom", "HoistField", "InsertField", "MaskField", "ReplaceField", "SetSchemaMetadata", "TimestampConverter"}
	for _, base := range want {
		for _, s := range []string{"$Key", "$Value"} {
			if _, err := reg.Transform("org.apache.kafka.connect.transforms." + base + s); err != nil {
				t.Error(err)
			}
		}
	}
	for _, name := range []string{"ValueToKey", "RegexRouter", "TimestampRouter", "InsertHeader", "DropHeaders", "Filter", "Explode$Value", "ExtractNewRecordState", "io.debezium.transforms.ExtractNewRecordState"} {
		if _, err := reg.Transform(name); err != nil {
			t.Error(err)
		}
	}
	n := 0
	for _, p := range reg.List() {
		if p.Kind != connectors.KindTransform && p.Kind != connectors.KindPredicate {
			continue
		}
		n++
		if p.Summary == "" || p.Doc == "" || p.Example == "" {
			t.Errorf("%s %s lacks a summary, doc or example", p.Kind, p.Name)
		}
		for _, f := range p.Spec.Fields {
			if f.Doc == "" {
				t.Errorf("%s field %s has no doc", p.Name, f.Name)
			}
		}
		raw := sinkConfig(nil)
		for _, line := range strings.Split(strings.TrimSpace(p.Example), "\n") {
			k, v, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("%s example line %q is not key: value", p.Name, line)
			}
			if strings.HasPrefix(v, `"`) {
				u, err := strconv.Unquote(v)
				if err != nil {
					t.Fatalf("%s example line %q: %v", p.Name, line, err)
				}
				v = u
			}
			raw[k] = v
		}
		if p.Kind == connectors.KindPredicate {
			alias := raw["predicates"].(string)
			raw["transforms"] = "f"
			raw["transforms.f.type"] = "Filter"
			raw["transforms.f.predicate"] = alias
		}
		if _, err := connectors.ParseConnector(reg, connectors.KindSink, raw, connectors.ParseOptions{}); err != nil {
			t.Errorf("%s example: %v", p.Name, err)
		}
	}
	if n != 2*len(want)+8+3 { // the 1:1 SMTs, their seven others, ExtractNewRecordState and three predicates
		t.Errorf("%d transforms and predicates registered", n)
	}
	// Registering twice is refused, not silently doubled.
	if err := Register(reg); err == nil {
		t.Error("second Register succeeded")
	}
}
