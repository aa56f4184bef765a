package avro_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/avro"
)

const userSchema = `{
  "type": "record", "name": "User", "namespace": "com.x",
  "fields": [
    {"name": "name", "type": "string"},
    {"name": "age",  "type": "int"}
  ]
}`

type User struct {
	Name string `avro:"name"`
	Age  int    `avro:"age"`
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestWireFormatVector checks the exact bytes against the Confluent wire
// format, computed by hand: magic 0, id 1 big-endian, then the Avro body —
// "ab" is length 2 zigzag-encoded (04) and its bytes, 3 is zigzag 06.
func TestWireFormatVector(t *testing.T) {
	reg := newFakeRegistry(t)
	s := must[serde.Serde[User]](t)(avro.New[User](reg.client(), userSchema))
	got, err := s.Serialize("users", User{Name: "ab", Age: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x00, 0x00, 0x00, 0x00, 0x01, 0x04, 0x61, 0x62, 0x06}
	if !bytes.Equal(got, want) {
		t.Fatalf("Serialize = % x, want % x", got, want)
	}
	back, err := s.Deserialize("users", want)
	if err != nil {
		t.Fatal(err)
	}
	if back != (User{Name: "ab", Age: 3}) {
		t.Fatalf("Deserialize = %+v", back)
	}
}

const eventSchema = `{
  "type": "record", "name": "Event", "namespace": "com.x",
  "fields": [
    {"name": "id",    "type": "long"},
    {"name": "note",  "type": ["null", "string"]},
    {"name": "flag",  "type": "boolean"},
    {"name": "score", "type": "double"},
    {"name": "kind",  "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B", "C"]}},
    {"name": "tags",  "type": {"type": "array", "items": "string"}},
    {"name": "attrs", "type": {"type": "map", "values": "int"}}
  ]
}`

type Event struct {
	ID    int64          `avro:"id"`
	Note  *string        `avro:"note"`
	Flag  bool           `avro:"flag"`
	Score float64        `avro:"score"`
	Kind  string         `avro:"kind"`
	Tags  []string       `avro:"tags"`
	Attrs map[string]int `avro:"attrs"`
}

// TestWireFormatVectorAllTypes pins a multi-byte schema id, zigzag longs,
// union branch indexes, little-endian doubles, enum indexes, and arrays and
// maps written as Java's BinaryEncoder writes them (one block with a
// positive count, no byte size, then a 0 end marker). It uses the
// in-memory registry, which can register a schema under a chosen id.
func TestWireFormatVectorAllTypes(t *testing.T) {
	mock := memRegistry(t, seed{258, "events-value", eventSchema})
	s := must[serde.Serde[Event]](t)(avro.New[Event](mock, eventSchema, avro.UseSchemaID(258)))
	note := "hi"
	ev := Event{ID: -2, Note: &note, Flag: true, Score: 1.5, Kind: "C", Tags: []string{"x"}, Attrs: map[string]int{"k": -1}}
	want := []byte{
		0x00, 0x00, 0x00, 0x01, 0x02, // magic, id 258
		0x03,                   // id -2 zigzag
		0x02, 0x04, 0x68, 0x69, // union branch 1 ("string"), "hi"
		0x01,                                           // true
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f, // 1.5 little-endian
		0x04,                   // enum index 2 ("C")
		0x02, 0x02, 0x78, 0x00, // array: 1 item, "x", end
		0x02, 0x02, 0x6b, 0x01, 0x00, // map: 1 entry, "k" → -1, end
	}
	got, err := s.Serialize("events", ev)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Serialize =\n% x\nwant\n% x", got, want)
	}
	back, err := s.Deserialize("events", want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ev) {
		t.Fatalf("Deserialize = %+v, want %+v", back, ev)
	}

	// Null branch, empty array and map.
	empty := Event{Kind: "A", Tags: []string{}, Attrs: map[string]int{}}
	want = []byte{0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x00}
	got, err = s.Serialize("events", empty)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Serialize(empty) =\n% x\nwant\n% x", got, want)
	}

	// 150 items are still one block, as Java writes them.
	many := Event{Kind: "A", Tags: make([]string, 150), Attrs: map[string]int{}}
	got, err = s.Serialize("events", many)
	if err != nil {
		t.Fatal(err)
	}
	tags := got[5+1+1+1+8+1:]
	if wantBlock := []byte{0xac, 0x02}; !bytes.HasPrefix(tags, wantBlock) { // zigzag(150) = 300
		t.Fatalf("array block header % x, want a single block of 150 (% x)", tags[:3], wantBlock)
	}
}

func TestRoundTrip(t *testing.T) {
	strategies := []struct {
		strategy avro.SubjectNameStrategy
		key      bool
		subject  string
	}{
		{avro.TopicName, false, "orders-value"},
		{avro.TopicName, true, "orders-key"},
		{avro.RecordName, false, "com.x.User"},
		{avro.RecordName, true, "com.x.User"},
		{avro.TopicRecordName, false, "orders-com.x.User"},
		{avro.TopicRecordName, true, "orders-com.x.User"},
	}
	for _, tc := range strategies {
		t.Run(fmt.Sprintf("%v/key=%v", tc.strategy, tc.key), func(t *testing.T) {
			reg := newFakeRegistry(t)
			opts := []avro.Option{avro.WithSubjectStrategy(tc.strategy)}
			if tc.key {
				opts = append(opts, avro.Key())
			}

			typed := must[serde.Serde[User]](t)(avro.New[User](reg.client(), userSchema, opts...))
			in := User{Name: "ada", Age: 36}
			b, err := typed.Serialize("orders", in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := typed.Deserialize("orders", b)
			if err != nil || out != in {
				t.Fatalf("typed round trip = %+v, %v; want %+v", out, err, in)
			}

			generic := must[serde.Serde[map[string]any]](t)(avro.NewGeneric(reg.client(), userSchema, opts...))
			gin := map[string]any{"name": "bob", "age": 7}
			gb, err := generic.Serialize("orders", gin)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gb[:5], b[:5]) {
				t.Fatalf("generic serde wrote header % x, typed % x: same schema, same subject, same id expected", gb[:5], b[:5])
			}
			gout, err := generic.Deserialize("orders", gb)
			if err != nil || !reflect.DeepEqual(gout, gin) {
				t.Fatalf("generic round trip = %#v, %v; want %#v", gout, err, gin)
			}
			// Typed and generic read each other's records.
			if out, err := typed.Deserialize("orders", gb); err != nil || out != (User{Name: "bob", Age: 7}) {
				t.Fatalf("typed read of generic record = %+v, %v", out, err)
			}

			if got := reg.subjectNames(); !reflect.DeepEqual(got, map[string]int{tc.subject: 1}) {
				t.Fatalf("registered subjects = %v, want %s with one version", got, tc.subject)
			}
		})
	}
}

func TestPrimitiveKey(t *testing.T) {
	reg := newFakeRegistry(t)
	keys := must[serde.Serde[string]](t)(avro.New[string](reg.client(), `"string"`, avro.Key()))
	b, err := keys.Serialize("orders", "k1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0, 0, 0, 0, 1, 0x04, 'k', '1'}; !bytes.Equal(b, want) {
		t.Fatalf("Serialize = % x, want % x", b, want)
	}
	if got, err := keys.Deserialize("orders", b); err != nil || got != "k1" {
		t.Fatalf("Deserialize = %q, %v", got, err)
	}
	if _, ok := reg.subjectNames()["orders-key"]; !ok {
		t.Fatalf("subjects = %v, want orders-key", reg.subjectNames())
	}
	if _, err := avro.New[string](reg.client(), `"string"`, avro.WithSubjectStrategy(avro.RecordName)); err == nil {
		t.Fatal("RecordName with a primitive schema: want an error")
	}
}

func TestAutoRegisterOff(t *testing.T) {
	reg := newFakeRegistry(t)
	s := must[serde.Serde[User]](t)(avro.New[User](reg.client(), userSchema, avro.AutoRegister(false)))
	_, err := s.Serialize("orders", User{Name: "a"})
	if !errors.Is(err, avro.ErrSchemaNotRegistered) {
		t.Fatalf("unregistered: err = %v, want ErrSchemaNotRegistered", err)
	}
	if !strings.Contains(err.Error(), `subject "orders-value"`) {
		t.Fatalf("error %q does not name the subject", err)
	}
	reg.add("other", `{"type":"string"}`)
	id := reg.add("orders-value", userSchema)
	b, err := s.Serialize("orders", User{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if got := int(binary.BigEndian.Uint32(b[1:5])); got != id {
		t.Fatalf("schema id %d, want the registered %d", got, id)
	}
	if n := reg.subjectNames()["orders-value"]; n != 1 {
		t.Fatalf("orders-value has %d versions: the serde registered one", n)
	}
}

const userV2Schema = `{
  "type": "record", "name": "User", "namespace": "com.x",
  "fields": [
    {"name": "name",  "type": "string"},
    {"name": "age",   "type": "int"},
    {"name": "email", "type": "string", "default": ""}
  ]
}`

func TestUseLatestVersion(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.add("orders-value", userSchema)
	v2 := reg.add("orders-value", userV2Schema)
	// The serde's own schema is v1; it writes with the latest, v2, filling
	// email from its default because User has no such field.
	s := must[serde.Serde[User]](t)(avro.New[User](reg.client(), userSchema, avro.UseLatestVersion()))
	b, err := s.Serialize("orders", User{Name: "ab", Age: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0, 0, 0, byte(v2), 0x04, 'a', 'b', 0x06, 0x00}
	if !bytes.Equal(b, want) {
		t.Fatalf("Serialize = % x, want % x", b, want)
	}
	if got, err := s.Deserialize("orders", b); err != nil || got != (User{Name: "ab", Age: 3}) {
		t.Fatalf("Deserialize = %+v, %v", got, err)
	}
	if n := len(reg.subjectNames()); n != 1 {
		t.Fatalf("UseLatestVersion registered something: %v", reg.subjectNames())
	}

	none := must[serde.Serde[User]](t)(avro.New[User](reg.client(), userSchema, avro.UseLatestVersion()))
	if _, err := none.Serialize("nosuch", User{}); !errors.Is(err, avro.ErrSchemaNotRegistered) {
		t.Fatalf("no subject: err = %v, want ErrSchemaNotRegistered", err)
	}
}

func TestUseSchemaID(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.add("a", `"string"`)
	id := reg.add("b", userSchema)
	s := must[serde.Serde[User]](t)(avro.New[User](reg.client(), userSchema, avro.UseSchemaID(id)))
	for _, topic := range []string{"t1", "t2"} {
		b, err := s.Serialize(topic, User{Name: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if got := int(binary.BigEndian.Uint32(b[1:5])); got != id {
			t.Fatalf("topic %s: id %d, want %d", topic, got, id)
		}
	}
	bad := must[serde.Serde[User]](t)(avro.New[User](reg.client(), userSchema, avro.UseSchemaID(77)))
	_, err := bad.Serialize("t1", User{})
	if !errors.Is(err, avro.ErrUnknownSchemaID) {
		t.Fatalf("unknown id: err = %v, want ErrUnknownSchemaID", err)
	}
	if _, err := avro.New[User](reg.client(), userSchema, avro.UseSchemaID(1), avro.UseLatestVersion()); err == nil {
		t.Fatal("UseSchemaID with UseLatestVersion: want an error")
	}
}

func TestConstructorErrors(t *testing.T) {
	reg := newFakeRegistry(t)
	for name, schema := range map[string]string{
		"not json":     `{"type": "record"`,
		"unknown type": `{"type": "record", "name": "R", "fields": [{"name": "a", "type": "nosuch"}]}`,
	} {
		_, err := avro.New[User](reg.client(), schema)
		if !errors.Is(err, avro.ErrInvalidSchema) || !strings.HasPrefix(err.Error(), "avro: ") {
			t.Errorf("%s: err = %v, want ErrInvalidSchema prefixed avro:", name, err)
		}
	}
	if _, err := avro.New[User](nil, userSchema); err == nil {
		t.Error("nil client: want an error")
	}
}

// TestNoRegistryCallsOnHotPath checks that after the first record of each
// topic and writer id, Serialize and Deserialize make no HTTP request.
func TestNoRegistryCallsOnHotPath(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.add("orders-value", userSchema)
	old := must[serde.Serde[map[string]any]](t)(avro.NewGeneric(reg.client(), userSchema))
	oldRecord := must[[]byte](t)(old.Serialize("orders", map[string]any{"name": "o", "age": 1}))

	type UserV2 struct {
		Name  string `avro:"name"`
		Age   int    `avro:"age"`
		Email string `avro:"email"`
	}
	s2 := must[serde.Serde[UserV2]](t)(avro.New[UserV2](reg.client(), userV2Schema))
	warm := func() {
		for _, topic := range []string{"orders", "returns"} {
			b := must[[]byte](t)(s2.Serialize(topic, UserV2{Name: "n", Email: "e"}))
			must[UserV2](t)(s2.Deserialize(topic, b))
			must[UserV2](t)(s2.Deserialize(topic, oldRecord))
		}
	}
	warm()
	before := reg.requests.Load()
	for range 1000 {
		warm()
	}
	if n := reg.requests.Load() - before; n != 0 {
		t.Fatalf("%d registry requests on the hot path, want 0", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	reg := newFakeRegistry(t)
	s := must[serde.Serde[User]](t)(avro.New[User](reg.client(), userSchema))
	g := must[serde.Serde[map[string]any]](t)(avro.NewGeneric(reg.client(), userV2Schema))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				topic := fmt.Sprintf("t%d", i%3)
				in := User{Name: fmt.Sprint("w", w), Age: i}
				b, err := s.Serialize(topic, in)
				if err != nil {
					errs <- err
					return
				}
				out, err := s.Deserialize(topic, b)
				if err != nil || out != in {
					errs <- fmt.Errorf("round trip %+v = %+v, %v", in, out, err)
					return
				}
				// The v2 generic serde reads v1 records, resolved.
				m, err := g.Deserialize(topic, b)
				if err != nil || m["email"] != "" || m["age"] != i {
					errs <- fmt.Errorf("generic v2 read = %v, %v", m, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestMockClient shows that franz-go's in-memory registry works for simple
// tests.
func TestMockClient(t *testing.T) {
	mock := memRegistry(t)
	s := must[serde.Serde[User]](t)(avro.New[User](mock, userSchema))
	b, err := s.Serialize("users", User{Name: "ab", Age: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Deserialize("users", b); err != nil || got != (User{Name: "ab", Age: 3}) {
		t.Fatalf("Deserialize = %+v, %v", got, err)
	}
	if _, err := s.Deserialize("users", []byte{0, 0, 0, 0, 9, 0}); !errors.Is(err, avro.ErrUnknownSchemaID) {
		t.Fatalf("unknown id through the mock: err = %v", err)
	}
}

// TestSchemaReferences reads a record whose writer schema refers to a named
// type registered under another subject.
func TestSchemaReferences(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.add("address", `{"type":"record","name":"Address","namespace":"com.x","fields":[{"name":"city","type":"string"}]}`)
	withRef := reg.add("customers-value",
		`{"type":"record","name":"Customer","namespace":"com.x","fields":[{"name":"name","type":"string"},{"name":"address","type":"com.x.Address"}]}`,
		sr.SchemaReference{Name: "com.x.Address", Subject: "address", Version: 1})
	type Address struct {
		City string `avro:"city"`
	}
	type Customer struct {
		Name    string  `avro:"name"`
		Address Address `avro:"address"`
	}
	inline := `{"type":"record","name":"Customer","namespace":"com.x","fields":[{"name":"name","type":"string"},
	  {"name":"address","type":{"type":"record","name":"Address","fields":[{"name":"city","type":"string"}]}}]}`
	s := must[serde.Serde[Customer]](t)(avro.New[Customer](reg.client(), inline, avro.UseSchemaID(withRef)))
	in := Customer{Name: "c", Address: Address{City: "Oslo"}}
	b, err := s.Serialize("customers", in)
	if err != nil {
		t.Fatal(err)
	}
	if got := int(binary.BigEndian.Uint32(b[1:5])); got != withRef {
		t.Fatalf("id %d, want %d", got, withRef)
	}
	if out, err := s.Deserialize("customers", b); err != nil || out != in {
		t.Fatalf("Deserialize = %+v, %v", out, err)
	}
}
