package transforms

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

func testRegistry(t testing.TB) *connectors.Registry {
	t.Helper()
	reg := connectors.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// build makes a transform of type typ from raw config as the framework
// does, under the alias "x".
func build(t testing.TB, typ string, raw map[string]any) connectors.Transform {
	t.Helper()
	tr, err := tryBuild(typ, raw)
	if err != nil {
		t.Fatalf("build %s %v: %v", typ, raw, err)
	}
	return tr
}

var sharedRegistry = func() *connectors.Registry {
	reg := connectors.NewRegistry()
	if err := Register(reg); err != nil {
		panic(err)
	}
	return reg
}()

func tryBuild(typ string, raw map[string]any) (connectors.Transform, error) {
	p, err := sharedRegistry.Transform(typ)
	if err != nil {
		return nil, err
	}
	cfg, err := p.Spec.Parse("transforms.x.", raw)
	if err != nil {
		return nil, err
	}
	return p.New(cfg)
}

// wantFieldError checks that err holds a *connectors.FieldError for key.
func wantFieldError(t testing.TB, err error, key string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want a config error for %s, got none", key)
	}
	for _, e := range flattenErrs(err) {
		var fe *connectors.FieldError
		if errors.As(e, &fe) && fe.Key == key {
			return
		}
	}
	t.Fatalf("want a *connectors.FieldError for %s, got: %v", key, err)
}

func flattenErrs(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrs(e)...)
		}
		return out
	}
	return []error{err}
}

// sinkRecord is a record read from topic[0]@42 with a timestamp.
func sinkRecord(ks *connectors.Schema, k any, vs *connectors.Schema, v any) *connectors.Record {
	return &connectors.Record{Topic: "test", Partition: 0, Offset: 42, Timestamp: time.UnixMilli(1483425001864),
		KeySchema: ks, Key: k, ValueSchema: vs, Value: v}
}

// sourceRecord is a record from a source, without Kafka coordinates.
func sourceRecord(ks *connectors.Schema, k any, vs *connectors.Schema, v any) *connectors.Record {
	return &connectors.Record{Topic: "test", Partition: -1, Offset: -1, Timestamp: time.UnixMilli(1483425001864),
		KeySchema: ks, Key: k, ValueSchema: vs, Value: v,
		SourcePartition: map[string]any{"file": "a"}, SourceOffset: map[string]any{"pos": 1}}
}

// recordOf puts schema and value on the key or the value of a record.
func recordOf(s side, schema *connectors.Schema, v any) *connectors.Record {
	if s == keySide {
		return sinkRecord(schema, v, connectors.StringSchema(), "value")
	}
	return sinkRecord(connectors.StringSchema(), "key", schema, v)
}

// apply1 applies tr and expects exactly one record.
func apply1(t testing.TB, tr connectors.Transform, rec *connectors.Record) *connectors.Record {
	t.Helper()
	out, err := tr.Apply(nil, rec)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if len(out) != 1 {
		t.Fatalf("apply: got %d records, want 1", len(out))
	}
	return out[0]
}

func applyErr(t testing.TB, tr connectors.Transform, rec *connectors.Record, wantSubstrings ...string) error {
	t.Helper()
	out, err := tr.Apply(nil, rec)
	if err == nil {
		t.Fatalf("apply: want an error, got %d records", len(out))
	}
	for _, s := range wantSubstrings {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	return err
}

func mkStruct(s *connectors.Schema, vals ...any) *connectors.Struct {
	st := connectors.NewStructValue(s)
	for i, v := range vals {
		st.Set(i, v)
	}
	return st
}

func opt(s *connectors.Schema) *connectors.Schema { return connectors.OptionalOf(s) }

func withDefault(s *connectors.Schema, d any) *connectors.Schema {
	c := s.Copy()
	c.Default = d
	return c
}

// equalValue compares data-model values: structs by schema and fields,
// decimals by value, times by instant.
func equalValue(a, b any) bool {
	switch x := a.(type) {
	case *connectors.Struct:
		y, ok := b.(*connectors.Struct)
		if !ok || !connectors.SameSchema(x.Schema(), y.Schema()) {
			return false
		}
		for i := range x.Schema().Fields {
			if !equalValue(x.At(i), y.At(i)) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case *big.Rat:
		y, ok := b.(*big.Rat)
		return ok && x.Cmp(y) == 0
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	}
	return reflect.DeepEqual(a, b)
}

func show(v any) string {
	if v == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%v (%T)", v, v)
}

func checkValue(t testing.TB, what string, got, want any) {
	t.Helper()
	if !equalValue(got, want) {
		t.Errorf("%s = %s, want %s", what, show(got), show(want))
	}
}

func checkSchema(t testing.TB, what string, got, want *connectors.Schema) {
	t.Helper()
	if !connectors.SameSchema(got, want) {
		t.Errorf("%s schema = %s %+v, want %s %+v", what, got, got, want, want)
	}
}

// getSide returns the key or value of a record.
func getSide(s side, rec *connectors.Record) (*connectors.Schema, any) { return s.get(rec) }

var sides = []side{keySide, valueSide}
