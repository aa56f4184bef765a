package avro_test

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

func Example() {
	// In production: schemaregistry.NewClient("http://schema-registry:8081").
	// Here: franz-go's in-memory registry.
	reg := srfake.New()
	defer reg.Close()
	client, err := schemaregistry.NewClient(reg.URL())
	if err != nil {
		panic(err)
	}

	type User struct {
		Name string `avro:"name"`
		Age  int    `avro:"age"`
	}
	users, err := avro.New[User](client, `{
	  "type": "record", "name": "User", "namespace": "com.x",
	  "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}]
	}`)
	if err != nil {
		panic(err)
	}

	data, err := users.Serialize("users", User{Name: "ab", Age: 3}) // registers subject users-value
	if err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", data)

	u, err := users.Deserialize("users", data)
	fmt.Printf("%+v %v\n", u, err)

	_, err = users.Deserialize("users", []byte("not avro"))
	fmt.Println(errors.Is(err, avro.ErrWireFormat))
	// Output:
	// 00 00 00 00 01 04 61 62 06
	// {Name:ab Age:3} <nil>
	// true
}
