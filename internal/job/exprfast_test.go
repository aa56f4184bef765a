package job

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

const fastTestSchema = `{"type":"record","name":"Order","namespace":"t","fields":[
{"name":"id","type":"long"},{"name":"qty","type":"int"},{"name":"price","type":"double"},
{"name":"weight","type":"float"},{"name":"city","type":"string"},{"name":"paid","type":"boolean"},
{"name":"note","type":["null","string"],"default":null},{"name":"discount","type":["null","long"],"default":null},
{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
{"name":"tags","type":{"type":"array","items":"string"}},
{"name":"address","type":{"type":"record","name":"Address","fields":[{"name":"zip","type":"long"},{"name":"street","type":"string"}]}},
{"name":"billing","type":["null","Address"],"default":null}]}`

// The closures compute what the VM computes: the same values of the same
// Go types, and, where they bail out, the VM's errors.
func TestFastExpressionsMatchTheVM(t *testing.T) {
	c := &compiler{}
	rt, err := c.newRecordType(fastTestSchema)
	if err != nil {
		t.Fatal(err)
	}
	set := func(rec any, name string, v any) {
		if err := rt.set(rec, rt.index(name), v); err != nil {
			t.Fatal(err)
		}
	}
	full := rt.new()
	for name, v := range map[string]any{"id": int64(7), "qty": int32(-3), "price": 2.5, "weight": float32(1.25), "city": "Boise",
		"paid": true, "note": "n", "discount": int64(4), "at": time.UnixMilli(1000).UTC(), "tags": []string{"a"}} {
		set(full, name, v)
	}
	addr := reflect.ValueOf(full).Elem().Field(rt.index("address"))
	addr.Field(0).SetInt(83702)
	addr.Field(1).SetString("Main")
	billing := reflect.New(addr.Type())
	billing.Elem().Set(addr)
	reflect.ValueOf(full).Elem().Field(rt.index("billing")).Set(billing)
	empty := rt.new() // nulls, zeros

	vars := []variable{{"key", rtString}, {"value", rt.goType}, {"n", rtInt64}}
	for _, tc := range []struct {
		src  string
		fast bool // compiled to closures
	}{
		{"value.id", true}, {"value.qty", true}, {"value.price", true}, {"value.weight", true},
		{"value.city", true}, {"value.paid", true}, {"value.note", true}, {"value.discount", true},
		{"value.at", true}, {"value.tags", true}, {"value.address", true}, {"value.billing", true},
		{"value.address.zip", true}, {"value.billing.street", true}, {"value", true}, {"key", true}, {"n", true},
		{"value.id + 1", true}, {"value.qty + 1", true}, {"value.qty * value.id", true}, {"value.id - n", true},
		{"value.price * 2", true}, {"value.weight + 1", true}, {"value.weight * value.weight", true},
		{"value.id + 0.5", true}, {"value.id / 2", true}, {"value.qty / value.id", true}, {"7 / 2", true},
		{"value.id % 4", true}, {"value.id % n", true}, {"-value.id", true}, {"-value.price", true}, {"+value.qty", true},
		{"value.price > 2", true}, {"value.id >= 7", true}, {"value.qty < 0.5", true}, {"value.id <= value.qty", true},
		{"value.id == 7", true}, {"value.id != 7.0", true}, {"value.qty == -3", true}, {"value.city == 'Boise'", true},
		{"value.city < 'C'", true}, {"value.paid == true", true}, {"!value.paid", true}, {"not value.paid", true},
		{"value.paid && value.id > 1", true}, {"value.paid || n > 1", true}, {"key + '-' + value.city", true},
		{"value.city contains 'oi'", true}, {"value.city startsWith 'Bo'", true}, {"value.city endsWith 'x'", true},
		{"value.paid ? value.id : n", true}, {"value.paid ? value.price : 1.5", true}, {"value.paid ? value.city : 1", true},
		{"n > 0 ? 'a' : 'b'", true}, {"1 + 2 * 3", true}, {"2.5 * 2", true},
		{"value.price > 2", true}, {"value.price < 3", true}, {"value.price <= 2.5", true}, {"value.price >= 2.6", true},
		{"value.price == 2.5", true}, {"value.price != 2", true}, {"value.id > 6", true}, {"value.id < 7.5", true},
		{"value.id <= 7", true}, {"value.id >= 8", true}, {"value.id == 7", true}, {"value.id != 7", true},
		// Left to the VM.
		{"value.note ?? 'x'", false}, {"upper(value.city)", false}, {"value.discount != nil", false},
		{"value.billing?.zip", false}, {"len(value.tags)", false}, {"value.id in [1, 7]", false},
		{"value.discount + 1", false}, {"-value.qty", false}, {"value.price ** 2", false},
	} {
		t.Run(tc.src, func(t *testing.T) {
			p, err := compile(&Value{Str: tc.src}, vars, 0)
			if err != nil {
				t.Fatal(err)
			}
			if (p.fast != nil) != tc.fast {
				t.Fatalf("compiled to closures: %v, want %v", p.fast != nil, tc.fast)
			}
			for _, args := range [][]any{{"k", full, int64(2)}, {"k", empty, int64(0)}, {"k", nil, int64(1)}, {nil, full, nil}} {
				e := p.envs.get(args...)
				want, wantErr := p.runEnv(e)
				e.put()
				got, gotErr := p.run(args...)
				same := reflect.DeepEqual(got, want) || fmt.Sprint(got) == "NaN" && fmt.Sprint(want) == "NaN"
				if fmt.Sprint(wantErr) != fmt.Sprint(gotErr) || !same || reflect.TypeOf(got) != reflect.TypeOf(want) {
					t.Errorf("args %v: got %#v (%T), %v; the VM: %#v (%T), %v", args, got, got, gotErr, want, want, wantErr)
				}
				if p.fast != nil && wantErr == nil && args[1] != nil && args[0] != nil && args[2] != nil {
					var a fastArgs
					copy(a[:], args)
					if _, ok := p.fast.eval(a); !ok && !strings.Contains(tc.src, "%") && !strings.Contains(tc.src, "billing.") {
						t.Errorf("args %v: the closures bailed out", args)
					}
				}
			}
		})
	}
}

// A projection's fields are set from the closures where they apply, and
// from the VM from a field whose closures bail out on.
func TestRecordBuilderMatchesTheVM(t *testing.T) {
	c := &compiler{}
	in, err := c.newRecordType(fastTestSchema)
	if err != nil {
		t.Fatal(err)
	}
	vars := []variable{{"key", rtString}, {"value", in.goType}}
	srcs := map[string]string{"id": "value.id * 2", "half": "value.id / 2", "city": "upper(value.city)", "zip": "value.billing.zip",
		"paid": "value.paid", "qty": "value.qty", "at": "value.at", "same": "value.id", "town": "value.city", "cost": "value.price", "ratio": "value.price % 1 == 0 ? 1 : 2"}
	var names []string
	for n := range srcs {
		names = append(names, n)
	}
	var fields []recordField
	var progs []*program
	for _, n := range names {
		p, err := compile(&Value{Str: srcs[n]}, vars, 0)
		if err != nil {
			// % on floats does not type-check: use another.
			p, err = compile(&Value{Str: "value.price > 1 ? 1 : 2"}, vars, 0)
			if err != nil {
				t.Fatal(err)
			}
		}
		ft, err := fieldType(p.out)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		fields = append(fields, recordField{name: n, rt: ft})
		progs = append(progs, p)
	}
	out, err := c.inferRecord("t.Out", fields)
	if err != nil {
		t.Fatal(err)
	}
	b := newRecordBuilder(out, progs, vars)
	rec := in.new()
	_ = in.set(rec, in.index("id"), int64(9))
	_ = in.set(rec, in.index("city"), "x")
	for _, billed := range []bool{false, true} {
		if billed {
			addr := reflect.ValueOf(rec).Elem().Field(in.index("address"))
			p := reflect.New(addr.Type())
			p.Elem().Field(0).SetInt(5)
			reflect.ValueOf(rec).Elem().Field(in.index("billing")).Set(p)
		}
		got := out.new()
		err := catch(func() { b.build(got, fastArgs{"k", rec}) })
		// The VM alone.
		want := out.new()
		var wantErr error
		e := b.envs.get("k", rec)
		for i, p := range progs {
			v, err := p.runEnv(e)
			if err != nil {
				wantErr = err
				break
			}
			if err := out.set(want, i, v); err != nil {
				t.Fatal(err)
			}
		}
		e.put()
		if fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("billed %v: error %v, want %v", billed, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("billed %v: %+v, want %+v", billed, got, want)
		}
	}
}

func catch(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p, ok := r.(exprPanic)
			if !ok {
				panic(r)
			}
			err = p.err
		}
	}()
	f()
	return nil
}
