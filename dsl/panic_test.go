package dsl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// A panic in a DSL function reaches the processing handler as an error
// naming the record, instead of crashing the process.
func TestPanicIsAProcessingError(t *testing.T) {
	build := func() *core.Topology {
		b := dsl.NewBuilder()
		s := dsl.Stream(b, "in", dsl.ConsumedWith(serde.String(), serde.String()))
		dsl.MapValues(s, func(v string) string {
			if v == "boom" {
				panic("boom value")
			}
			return strings.ToUpper(v)
		}).To("out")
		topo, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	in := []string{"a", "boom", "c"}
	pipe := func(d *core.TestDriver) error {
		for _, v := range in {
			if err := d.Pipe(&kgo.Record{Topic: "in", Value: []byte(v)}); err != nil {
				return err
			}
		}
		return nil
	}
	d, err := core.NewTestDriver(build())
	if err != nil {
		t.Fatal(err)
	}
	err = pipe(d)
	var pe *core.ProcessingError
	if !errors.As(err, &pe) || pe.Kind != "processing" || !strings.Contains(err.Error(), "panic: boom value") || pe.Context.Offset != 1 {
		t.Fatalf("got %v, want a processing error for the panic at in[0]@1", err)
	}
	d.Close()

	d, err = core.NewTestDriver(build(), core.WithProcessingHandler(core.ProcessingLogAndContinue(nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := pipe(d); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range d.ReadOutput("out") {
		got = append(got, string(r.Value))
	}
	if strings.Join(got, ",") != "A,C" {
		t.Fatalf("output %v, want A,C", got)
	}
}
