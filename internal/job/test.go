package job

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/core"
)

// Tests kept next to a job (Benthos-style): JOB.test.yaml lists cases, each
// with input records (in order, on the topology's input topics) and the
// records expected on output topics. They run on the engine's test driver:
// no broker, no registry (records are serialized as JSON inside the test).
var (
	testRecordShape = &Shape{Kind: ShapeObject, Name: "test record", Doc: "A record.",
		Fields: []*Field{
			{Name: "topic", Shape: nameShape, Doc: "Inputs: the topic (an input topic of the topology)."},
			{Name: "key", Shape: &Shape{Kind: ShapeAny}, Doc: "The key (a scalar, or a map for record keys); absent: null."},
			{Name: "value", Shape: &Shape{Kind: ShapeAny}, Doc: "The value; absent: null (a tombstone)."},
			{Name: "timestamp", Shape: &Shape{Kind: ShapeAny}, Doc: "Inputs: the record's time (RFC 3339 or epoch milliseconds); default: the previous input's."},
		}}
	testCaseShape = &Shape{Kind: ShapeObject, Name: "test case", Doc: "One test: inputs in order, then the expected outputs.",
		Fields: []*Field{
			{Name: "name", Shape: nameShape, Required: true, Doc: "The test's name."},
			{Name: "inputs", Shape: &Shape{Kind: ShapeList, Elem: testRecordShape}, Required: true, Doc: "Input records, piped in this order."},
			{Name: "advance.wall.clock", Shape: durationShape, Doc: "Advance the wall clock after the inputs (fires wall-clock punctuators)."},
			{Name: "outputs", Shape: &Shape{Kind: ShapeDict, Elem: &Shape{Kind: ShapeList, Elem: testRecordShape}}, Required: true,
				Doc: "Expected records per output topic, in order; a topic listed with an empty list must get nothing."},
		}}
	testFileShape = &Shape{Kind: ShapeObject, Name: "test file", Doc: "Tests of a job.",
		Fields: []*Field{
			{Name: "job", Shape: nameShape, Doc: "The job file (default: the test file's name without .test)."},
			{Name: "tests", Shape: &Shape{Kind: ShapeList, Elem: testCaseShape}, Required: true, Doc: "The test cases."},
		}}
)

// TestResult is the outcome of one test case.
type TestResult struct {
	Name   string
	Passed bool
	Diff   string // what differed, readable
}

// RunTests loads a test file (and its job), runs every case on the test
// driver, and writes one line per case (with a diff for failures) to out.
// It returns the results and an error if the files are invalid.
func RunTests(path string, reg *connectors.Registry, out io.Writer) ([]TestResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	root, ps := parseYAML(path, data, osEnv)
	if len(ps) == 0 {
		testFileShape.check(root, "", &ps)
	}
	if len(ps) > 0 {
		return nil, ps.sorted()
	}
	jobPath := strings.TrimSuffix(strings.TrimSuffix(path, ".yaml"), ".test") + ".yaml"
	if v := root.Get("job"); v != nil {
		jobPath = (&builder{j: &Job{Dir: dirOf(path)}}).path(v.Str)
	}
	j, err := Lint(jobPath, reg)
	if err != nil {
		return nil, err
	}
	if j.Topology == nil {
		return nil, fmt.Errorf("job %s has no topology to test", j.Name)
	}
	var results []TestResult
	for _, tc := range root.Get("tests").List {
		r := j.runCase(tc, reg)
		results = append(results, r)
		if r.Passed {
			fmt.Fprintf(out, "PASS %s\n", r.Name)
		} else {
			fmt.Fprintf(out, "FAIL %s\n%s\n", r.Name, indentText(r.Diff, "    "))
		}
	}
	return results, nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i]
	}
	return "."
}

func indentText(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}

func (j *Job) runCase(tc *Value, reg *connectors.Registry) TestResult {
	name := tc.Get("name").Str
	fail := func(format string, args ...any) TestResult {
		return TestResult{Name: name, Diff: fmt.Sprintf(format, args...)}
	}
	topo, err := j.Compile(CompileOptions{Plugins: reg})
	if err != nil {
		return fail("%v", err)
	}
	serdes := j.compiled
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	d, err := core.NewTestDriver(topo, core.WithApplicationID(j.Name), core.WithDriverStartTime(start))
	if err != nil {
		return fail("%v", err)
	}
	defer d.Close()
	var ts time.Time
	for i, in := range tc.Get("inputs").List {
		topic := ""
		if t := in.Get("topic"); t != nil {
			topic = t.Str
		}
		sd, ok := serdes[topic]
		if !ok {
			return fail("%s: inputs[%d]: topic %q is not an input of the topology", in.Pos, i, topic)
		}
		rec := &kgo.Record{Topic: topic}
		if v := in.Get("timestamp"); v != nil {
			if ts, err = parseTime(v); err != nil {
				return fail("%s: inputs[%d].timestamp: %v", v.Pos, i, err)
			}
		}
		rec.Timestamp = ts
		if v := in.Get("key"); v != nil && v.Kind != KindNull {
			if rec.Key, err = encodeFixture(v, sd.key, func(x any) ([]byte, error) { return sd.keys.Serialize(topic, x) }); err != nil {
				return fail("%s: inputs[%d].key: %v", v.Pos, i, err)
			}
		}
		if v := in.Get("value"); v != nil && v.Kind != KindNull {
			if rec.Value, err = encodeFixture(v, sd.value, func(x any) ([]byte, error) { return sd.values.Serialize(topic, x) }); err != nil {
				return fail("%s: inputs[%d].value: %v", v.Pos, i, err)
			}
		}
		if err := d.Pipe(rec); err != nil {
			return fail("%s: inputs[%d]: the topology failed: %v", in.Pos, i, err)
		}
	}
	if v := tc.Get("advance.wall.clock"); v != nil {
		dur, _ := parseDuration(v)
		if err := d.AdvanceWallClockTime(dur); err != nil {
			return fail("advancing the wall clock: %v", err)
		}
	}
	var diffs []string
	outs := tc.Get("outputs")
	for _, e := range outs.Map {
		sd, ok := serdes[e.Key]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s: %q is not a topic the topology writes", e.KeyPos, e.Key))
			continue
		}
		got := d.ReadOutput(e.Key)
		var gotText, wantText []string
		for _, r := range got {
			gotText = append(gotText, renderOutput(e.Key, r, sd))
		}
		for _, w := range e.Val.List {
			wantText = append(wantText, renderExpected(w))
		}
		if strings.Join(gotText, "\n") != strings.Join(wantText, "\n") {
			diffs = append(diffs, fmt.Sprintf("topic %s (%s):\n%s", e.Key, e.KeyPos, lineDiff(wantText, gotText)))
		}
	}
	if len(diffs) > 0 {
		return TestResult{Name: name, Diff: strings.Join(diffs, "\n")}
	}
	return TestResult{Name: name, Passed: true}
}

func parseTime(v *Value) (time.Time, error) {
	if v.Kind == KindInt {
		return time.UnixMilli(v.Int).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v.Str)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not RFC 3339 time or epoch milliseconds", v.Str)
	}
	return t, nil
}

// encodeFixture turns a YAML fixture into bytes with the topic's serde.
func encodeFixture(v *Value, t vtype, ser func(any) ([]byte, error)) ([]byte, error) {
	plain := v.Plain()
	var x any
	switch {
	case t.record != nil:
		m, ok := plain.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("want a map for a %s", t)
		}
		rec, err := t.record.dyn.FromMap(m)
		if err != nil {
			return nil, err
		}
		x = rec
	case t.rt == anyType:
		x = plain
	default:
		c, err := convertTo(plainScalar(plain, t.rt), t.rt)
		if err != nil {
			return nil, err
		}
		x = c
	}
	return ser(x)
}

func plainScalar(v any, want reflect.Type) any {
	if want.Kind() == reflect.String {
		return fmt.Sprint(v)
	}
	return v
}

// renderOutput decodes an output record and renders it as canonical JSON:
// {"key": ..., "value": ...}.
func renderOutput(topic string, r *kgo.Record, sd topicSerdes) string {
	m := map[string]any{}
	if r.Key != nil {
		k, err := sd.keys.Deserialize(topic, r.Key)
		if err != nil {
			m["key"] = "undecodable: " + err.Error()
		} else {
			m["key"] = toPlain(k, sd.key)
		}
	}
	if r.Value != nil {
		v, err := sd.values.Deserialize(topic, r.Value)
		if err != nil {
			m["value"] = "undecodable: " + err.Error()
		} else {
			m["value"] = toPlain(v, sd.value)
		}
	}
	return canonical(m)
}

func toPlain(v any, t vtype) any {
	if t.record != nil {
		if m, err := t.record.dyn.ToMap(v); err == nil {
			return m
		}
	}
	return v
}

func renderExpected(w *Value) string {
	m := map[string]any{}
	if k := w.Get("key"); k != nil && k.Kind != KindNull {
		m["key"] = k.Plain()
	}
	if v := w.Get("value"); v != nil && v.Kind != KindNull {
		m["value"] = v.Plain()
	}
	return canonical(m)
}

// canonical renders a value as JSON with sorted keys and numbers in one
// form (whole floats as integers), times as RFC 3339 in UTC with
// milliseconds.
func canonical(v any) string {
	b, err := json.Marshal(normalize(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	var out bytes.Buffer
	out.Write(b)
	return out.String()
}

func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	case *time.Time:
		if x == nil {
			return nil
		}
		return x.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
		return x
	case float32:
		return normalize(float64(x))
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil && strings.Contains(x, "T") {
			return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
		}
	}
	return v
}

// lineDiff shows expected and actual records side by side, marking the
// differing lines.
func lineDiff(want, got []string) string {
	var b strings.Builder
	n := max(len(want), len(got))
	for i := 0; i < n; i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w == g {
			fmt.Fprintf(&b, "    %s\n", w)
			continue
		}
		if w != "" {
			fmt.Fprintf(&b, "  - %s\n", w)
		}
		if g != "" {
			fmt.Fprintf(&b, "  + %s\n", g)
		}
	}
	fmt.Fprintf(&b, "  (- expected, + actual: %d expected, %d actual)", len(want), len(got))
	return b.String()
}

var _ = sort.Strings
