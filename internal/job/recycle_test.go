package job

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/testbroker"
	avroserde "github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/registry"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// TestRecyclableInputs: records are recycled only where the input is read
// by one pipeline whose first steps are filters then a projection of
// fields, and its name appears nowhere else.
func TestRecyclableInputs(t *testing.T) {
	for _, tc := range []struct {
		name, pipelines string
		want            bool
	}{
		{"filter, project, to", `
    - from: a
      steps:
        - filter: value.x > 1
        - mapValues: {x: value.x}
        - to: out`, true},
		{"project first", `
    - from: a
      steps:
        - mapValues: {x: value.x}`, true},
		{"project by one expression", `
    - from: a
      steps:
        - mapValues: value.x`, false},
		{"a step before the projection", `
    - from: a
      steps:
        - selectKey: value.x
        - mapValues: {x: value.x}`, false},
		{"named by as", `
    - from: a
      steps:
        - as: b
        - mapValues: {x: value.x}`, false},
		{"read by two pipelines", `
    - from: a
      steps:
        - mapValues: {x: value.x}
    - from: a
      steps:
        - to: out2`, false},
		{"merged elsewhere", `
    - from: a
      steps:
        - mapValues: {x: value.x}
    - from: c
      steps:
        - merge: a`, false},
		{"one of several inputs", `
    - from: [a, c]
      steps:
        - mapValues: {x: value.x}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := Parse("/j.yaml", []byte(`job: j
topology:
  streams:
    a: {topic: ta, value: json}
    c: {topic: tc, value: json}
  pipelines:`+tc.pipelines+"\n"), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			if got := j.recyclableInputs()["a"]; got != tc.want {
				t.Errorf("recyclable: %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRecycledRecords runs a pipeline whose input and projected records
// are recycled (filter, projection, to, over Avro with a map, a nullable
// nested record and a list: the fields a decoder could merge into) and
// checks every output against the input it came from, and that a
// pipeline reading the same kind of records without recycling gives the
// same outputs.
func TestRecycledRecords(t *testing.T) {
	br := testbroker.New(t)
	reg, err := registry.New(context.Background(), registry.WithBrokers(br.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = reg.Serve(ln) }()
	t.Cleanup(func() { _ = reg.Close() })
	url := "http://" + ln.Addr().String()
	client, err := schemaregistry.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	const schema = `{"type":"record","name":"Item","namespace":"t","fields":[
{"name":"id","type":"long"},{"name":"name","type":"string"},
{"name":"tags","type":{"type":"map","values":"long"}},
{"name":"parts","type":{"type":"array","items":"string"}},
{"name":"extra","type":["null",{"type":"record","name":"Extra","fields":[{"name":"note","type":"string"}]}],"default":null}]}`
	type extra struct {
		Note string `avro:"note"`
	}
	type item struct {
		ID    int64            `avro:"id"`
		Name  string           `avro:"name"`
		Tags  map[string]int64 `avro:"tags"`
		Parts []string         `avro:"parts"`
		Extra *extra           `avro:"extra"`
	}
	dir := t.TempDir()
	schemaFile := filepath.Join(dir, "item.avsc")
	if err := os.WriteFile(schemaFile, []byte(schema), 0o644); err != nil {
		t.Fatal(err)
	}
	values, err := avroserde.New[item](client, schema)
	if err != nil {
		t.Fatal(err)
	}
	var inputs []*kgo.Record
	for i := range 200 {
		it := item{ID: int64(i), Name: fmt.Sprintf("item-%d", i), Tags: map[string]int64{}}
		for k := range i % 4 { // varying keys: a map decoded over an old one would keep stale ones
			it.Tags[fmt.Sprintf("k%d-%d", i, k)] = int64(k)
		}
		for k := range i % 3 {
			it.Parts = append(it.Parts, fmt.Sprint(k))
		}
		if i%2 == 0 {
			it.Extra = &extra{Note: fmt.Sprintf("note-%d", i)}
		}
		v, err := values.Serialize("items", it)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, &kgo.Record{Topic: "items", Key: []byte(fmt.Sprint(i)), Value: v})
	}

	steps := `
        - filterNot: value.id %% 5 == 0
        - mapValues:
            id: value.id
            label: 'value.name + "/" + string(len(value.tags)) + "/" + string(len(value.parts)) + "/" + (value.extra == nil ? "-" : value.extra.note)'
        - to: {topic: %s, value: avro}`
	outputs := map[bool][]string{}
	for _, recycled := range []bool{true, false} {
		pipelines := "\n    - from: items\n      steps:" + fmt.Sprintf(steps, "out")
		if !recycled { // read by a second pipeline too: nothing is recycled
			pipelines += "\n    - from: items\n      steps:\n        - to: copy"
		}
		text := fmt.Sprintf("job: recycle\nregistry: {url: %s}\ntopology:\n  streams:\n    items: {topic: items, key: string, value: {avro: {schema: %s}}}\n  pipelines:%s\n",
			url, schemaFile, pipelines)
		path := filepath.Join(dir, fmt.Sprintf("job-%v.yaml", recycled))
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		j, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		topo, err := j.Compile(CompileOptions{RegistryURL: url})
		if err != nil {
			t.Fatal(err)
		}
		if got := j.recyclableInputs()["items"]; got != recycled {
			t.Fatalf("recyclable: %v, want %v", got, recycled)
		}
		d, err := core.NewTestDriver(topo)
		if err != nil {
			t.Fatal(err)
		}
		for round := range 3 { // the pools hold records of earlier rounds
			for _, r := range inputs {
				if err := d.Pipe(r); err != nil {
					t.Fatal(err)
				}
			}
			outs := d.ReadOutput("out")
			var got []string
			for _, o := range outs {
				v, err := j.compiled["out"].values.Deserialize("out", o.Value)
				if err != nil {
					t.Fatal(err)
				}
				rv := reflect.ValueOf(v).Elem()
				got = append(got, fmt.Sprintf("%s %d %s", o.Key, rv.Field(0).Int(), rv.Field(1).String()))
			}
			var want []string
			for i := range 200 {
				if i%5 == 0 {
					continue
				}
				note := "-"
				if i%2 == 0 {
					note = fmt.Sprintf("note-%d", i)
				}
				want = append(want, fmt.Sprintf("%d %d item-%d/%d/%d/%s", i, i, i, i%4, i%3, note))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("recycled %v, round %d: outputs\n%s\nwant\n%s", recycled, round, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			outputs[recycled] = got
		}
		_ = d.Close()
	}
	a, b := outputs[true], outputs[false]
	sort.Strings(a)
	sort.Strings(b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("recycled and plain pipelines differ")
	}
}
