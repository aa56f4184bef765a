package dynamic_test

import (
	"fmt"
	"reflect"

	"github.com/sluicehq/sluice/serde/dynamic"
)

func Example() {
	typ, err := dynamic.FromAvro(`{"type":"record","name":"Order","namespace":"com.shop","fields":[
		{"name":"id","type":"long"},
		{"name":"amount","type":"double"},
		{"name":"coupon","type":["null","string"],"default":null}
	]}`)
	if err != nil {
		panic(err)
	}
	for _, f := range typ.Fields() {
		fmt.Printf("%s: %s (Go %s)\n", f.Name, f.AvroType, f.Type)
	}

	// A value from a test fixture, then read and written by field path.
	order, err := typ.FromMap(map[string]any{"id": 1, "amount": 9.5})
	if err != nil {
		panic(err)
	}
	amount, _ := typ.Accessor("amount")
	_ = amount.Set(order, amount.Get(order).(float64)*2)

	data, _ := dynamic.JSONSerde(typ).Serialize("orders", order)
	fmt.Println(string(data))
	// Output:
	// id: long (Go int64)
	// amount: double (Go float64)
	// coupon: union<null,string> (Go *string)
	// {"id":1,"amount":19,"coupon":null}
}

func ExampleInfer() {
	out, err := dynamic.Infer("com.shop.jobs.totals.Value", []dynamic.InferField{
		{Name: "customer", Type: reflect.TypeFor[string]()},
		{Name: "total", Type: reflect.TypeFor[float64]()},
		{Name: "orders", Type: reflect.TypeFor[int]()},
		{Name: "note", Type: reflect.TypeFor[string](), Nullable: true},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(out.AvroSchema())
	// Output:
	// {"type":"record","name":"Value","namespace":"com.shop.jobs.totals","fields":[{"name":"customer","type":"string"},{"name":"total","type":"double"},{"name":"orders","type":"long"},{"name":"note","type":["null","string"],"default":null}]}
}
