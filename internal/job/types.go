package job

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"time"
	"unsafe"

	"github.com/sluicehq/sluice/serde"
)

// vtype is the static type of the keys or values of a stream: a Go type
// (what expressions see) and how it is written to a topic.
type vtype struct {
	rt     reflect.Type // string, int64, int32, float64, []byte, bool, map[string]any, any, or a record type
	format string       // string, bytes, long, int, double, json, avro
	record *recordType  // set for records
}

var (
	tString  = vtype{rt: reflect.TypeOf(""), format: "string"}
	tBytes   = vtype{rt: reflect.TypeOf([]byte(nil)), format: "bytes"}
	tLong    = vtype{rt: reflect.TypeOf(int64(0)), format: "long"}
	tInt     = vtype{rt: reflect.TypeOf(int32(0)), format: "int"}
	tDouble  = vtype{rt: reflect.TypeOf(float64(0)), format: "double"}
	tJSONAny = vtype{rt: anyType, format: "json"}
)

func (t vtype) String() string {
	if t.record != nil {
		return "record " + t.record.name
	}
	if t.rt == anyType {
		return "schemaless " + t.format
	}
	return t.rt.String() + " (" + t.format + ")"
}

// anySerde adapts a typed serde to the any-typed streams of a job.
type anySerde[T any] struct{ s serde.Serde[T] }

func (a anySerde[T]) Serialize(topic string, v any) ([]byte, error) {
	t, ok := v.(T)
	if !ok {
		var zero T
		if c, err := convertTo(v, reflect.TypeOf(zero)); err == nil {
			t = c.(T)
		} else {
			return nil, fmt.Errorf("job: cannot write %T to topic %q as %T: %v", v, topic, zero, err)
		}
	}
	return a.s.Serialize(topic, t)
}

func (a anySerde[T]) Deserialize(topic string, data []byte) (any, error) {
	return a.s.Deserialize(topic, data)
}

func wrap[T any](s serde.Serde[T]) serde.Serde[any] { return anySerde[T]{s} }

// stringAny is the string serde of the any-typed streams: keys are
// strings more often than anything else, so their boxing is worth its
// own code (boxString).
type stringAny struct{ anySerde[string] }

func (stringAny) Deserialize(_ string, data []byte) (any, error) { return boxString(data), nil }

// boxString returns string(b) in an interface with one allocation, where
// converting costs two: the string's bytes, then the 16-byte string
// header the interface points to (the Go DSL, holding typed strings,
// makes only the first). Here the header and the bytes share one block,
// header first. The block is allocated as bytes, so the garbage
// collector does not scan it; it need not: the header's pointer points
// into the block itself, which the interface (and any string copied out
// of it, an interior pointer) keeps alive, and the block never moves.
func boxString(b []byte) any {
	if len(b) == 0 {
		return ""
	}
	const header = unsafe.Sizeof("")
	block := make([]byte, int(header)+len(b))
	copy(block[header:], b)
	*(*string)(unsafe.Pointer(&block[0])) = unsafe.String(&block[header], len(b))
	var v any = ""
	(*[2]unsafe.Pointer)(unsafe.Pointer(&v))[1] = unsafe.Pointer(&block[0])
	return v
}

// jsonAny is the schemaless JSON serde: objects as map[string]any, whole
// numbers as int64, other numbers as float64.
type jsonAny struct{}

func (jsonAny) Serialize(_ string, v any) ([]byte, error) { return json.Marshal(jsonable(v)) }
func (jsonAny) Deserialize(topic string, data []byte) (any, error) {
	var v any
	d := json.NewDecoder(bytesReader(data))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("job: JSON value in topic %q: %w", topic, err)
	}
	return numbers(v), nil
}

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

// jsonable turns record values into what encoding/json writes well
// (records marshal through their json tags already).
func jsonable(v any) any {
	if t, ok := v.(time.Time); ok {
		return t.UnixMilli()
	}
	return v
}

// serdeOf returns the serde of a type.
func serdeOf(t vtype, isKey bool) (serde.Serde[any], error) {
	if t.record != nil {
		return t.record.serde(t.format, isKey)
	}
	switch t.format {
	case "string":
		return stringAny{anySerde[string]{serde.String()}}, nil
	case "bytes":
		return wrap(serde.Bytes()), nil
	case "long":
		return wrap(serde.Int64()), nil
	case "int":
		return wrap(serde.Int32()), nil
	case "double":
		return wrap(serde.Float64()), nil
	case "json":
		return jsonAny{}, nil
	}
	return nil, fmt.Errorf("job: no serde for %s", t)
}

// convertTo converts an expression result to the Go type a field or serde
// expects: numeric widening and narrowing (range-checked), int to float,
// and identity.
func convertTo(v any, want reflect.Type) (any, error) {
	if v == nil {
		return reflect.Zero(want).Interface(), nil
	}
	rv := reflect.ValueOf(v)
	if rv.Type() == want || want == anyType {
		return v, nil
	}
	if rv.Type().AssignableTo(want) {
		return v, nil
	}
	switch want.Kind() {
	case reflect.Int64, reflect.Int32, reflect.Int, reflect.Int16, reflect.Int8:
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			n := rv.Int()
			out := reflect.New(want).Elem()
			if out.OverflowInt(n) {
				return nil, fmt.Errorf("%d overflows %s", n, want)
			}
			out.SetInt(n)
			return out.Interface(), nil
		case reflect.Float32, reflect.Float64:
			f := rv.Float()
			if f != math.Trunc(f) {
				return nil, fmt.Errorf("%v is not a whole number", f)
			}
			out := reflect.New(want).Elem()
			if out.OverflowInt(int64(f)) {
				return nil, fmt.Errorf("%v overflows %s", f, want)
			}
			out.SetInt(int64(f))
			return out.Interface(), nil
		}
	case reflect.Float64, reflect.Float32:
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return reflect.ValueOf(float64(rv.Int())).Convert(want).Interface(), nil
		case reflect.Float32, reflect.Float64:
			return rv.Convert(want).Interface(), nil
		}
	case reflect.String:
		if rv.Kind() == reflect.String {
			return rv.Convert(want).Interface(), nil
		}
	}
	return nil, fmt.Errorf("a %s is not a %s", rv.Type(), want)
}
