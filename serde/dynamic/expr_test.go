package dynamic_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"

	"github.com/sluicehq/sluice/serde/dynamic"
)

const orderSchema = `{"type":"record","name":"Order","namespace":"com.shop","fields":[
	{"name":"id","type":"long"},
	{"name":"amount","type":"double"},
	{"name":"quantity","type":"int"},
	{"name":"currency","type":{"type":"enum","name":"Currency","symbols":["EUR","USD"]}},
	{"name":"discount","type":["null","double"],"default":null},
	{"name":"placed","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"tags","type":{"type":"array","items":"string"}},
	{"name":"customer","type":{"type":"record","name":"Customer","fields":[
		{"name":"name","type":"string"},
		{"name":"address","type":["null",{"type":"record","name":"Address","fields":[{"name":"city","type":"string"}]}],"default":null}
	]}}
]}`

// exprEnv is the environment a job gives an expression: the record value
// under the name "value".
func exprEnv(typ *dynamic.Type) reflect.Type {
	return reflect.StructOf([]reflect.StructField{
		{Name: "Value", Type: reflect.PointerTo(typ.Reflect()), Tag: `expr:"value"`},
	})
}

func envWith(env reflect.Type, v any) any {
	e := reflect.New(env)
	e.Elem().Field(0).Set(reflect.ValueOf(v))
	return e.Interface()
}

// TestExprTypeChecking compiles expressions against a generated type:
// misspelt fields are compile errors with a position; field access,
// arithmetic, comparisons of times and nullable fields work.
func TestExprTypeChecking(t *testing.T) {
	t.Parallel()
	typ := must[*dynamic.Type](t)(dynamic.FromAvro(orderSchema))
	env := exprEnv(typ)
	zero := reflect.New(env).Interface()

	_, err := expr.Compile("value.amount > 10 && value.amont < 100", expr.Env(zero))
	var fe *file.Error
	if !errors.As(err, &fe) {
		t.Fatalf("typo compiled: err = %v", err)
	}
	if !strings.Contains(fe.Message, "amont") || fe.Line != 1 || fe.Column != 27 {
		t.Fatalf("typo error = %q at %d:%d, want one naming amont at 1:27", fe.Message, fe.Line, fe.Column)
	}
	if _, err := expr.Compile(`value.customer.adress.city`, expr.Env(zero)); err == nil || !strings.Contains(err.Error(), "adress") {
		t.Fatalf("nested typo: err = %v", err)
	}
	if _, err := expr.Compile(`value.currency + 1`, expr.Env(zero)); err == nil {
		t.Fatalf("string + int compiled")
	}

	v := must[any](t)(typ.FromMap(map[string]any{
		"id": 7, "amount": 19.5, "quantity": 3, "currency": "EUR", "discount": 2.5,
		"placed": time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), "tags": []any{"gift", "express"},
		"customer": map[string]any{"name": "Ann", "address": map[string]any{"city": "Paris"}},
	}))
	cases := []struct {
		src  string
		want any
		kind reflect.Kind // the static result type expr-lang infers
	}{
		{"value.amount * value.quantity", 58.5, reflect.Float64},
		{"value.amount * value.quantity - (value.discount ?? 0)", 56.0, reflect.Interface}, // ?? on a pointer loses the type
		{"value.quantity * 2 + value.id", int64(13), reflect.Int},                          // expr-lang's integer arithmetic yields int
		{`value.currency == "EUR" && "gift" in value.tags`, true, reflect.Bool},
		{`value.placed > date("2025-01-01")`, true, reflect.Bool},
		{"value.customer.address.city", "Paris", reflect.String},
		{"len(value.tags)", 2, reflect.Int},
		{"value.customer.address?.city ?? 'none'", "Paris", reflect.String},
	}
	for _, c := range cases {
		prog, err := expr.Compile(c.src, expr.Env(zero))
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if k := prog.Node().Type().Kind(); k != c.kind {
			t.Errorf("%s: static type %s, want kind %s", c.src, prog.Node().Type(), c.kind)
		}
		got, err := expr.Run(prog, envWith(env, v))
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if c.want == int64(13) {
			got = int64(got.(int))
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.src, got, c.want)
		}
	}
}
