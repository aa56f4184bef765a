package dsl_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/dsl"
	"github.com/sluicehq/sluice/serde"
)

// productOf is the foreign key of an order "product|item".
func productOf(order string) string { return strings.SplitN(order, "|", 2)[0] }

// fkJoins joins orders to products, inner into "fk-inner" and left into
// "fk-left"; the joins are named so that their internal topics are known.
func fkJoins(b *dsl.Builder) {
	str := dsl.ConsumedWith(serde.String(), serde.String())
	orders := dsl.Table(b, "orders", str)
	products := dsl.Table(b, "products", str)
	dsl.FKJoin(orders, products, productOf, func(o, p string) string { return o + "/" + p },
		dsl.TableJoined[string, string]{Name: "inner"}).ToStream().To("fk-inner")
	dsl.FKLeftJoin(orders, products, productOf, func(o, p string, found bool) string { return o + "/" + nullable(p, found) },
		dsl.TableJoined[string, string]{Name: "left"}).ToStream().To("fk-left")
}

// TestFKJoin: results follow foreign-key changes (the old foreign row no
// longer contributes), left deletes, and right updates and deletes (every
// subscriber updated); timestamps are the larger of the two rows'.
func TestFKJoin(t *testing.T) {
	b := dsl.NewBuilder()
	fkJoins(b)
	d := driver(t, b)
	orders := core.NewTestInputTopic(d, "orders", serde.String(), serde.String())
	products := core.NewTestInputTopic(d, "products", serde.String(), serde.String())
	inner := core.NewTestOutputTopic(d, "fk-inner", serde.String(), serde.String())
	left := core.NewTestOutputTopic(d, "fk-left", serde.String(), serde.String())
	type step struct {
		what        string
		in          *core.TestInputTopic[string, string]
		key, value  string // value "": tombstone
		ts          int64
		inner, left []kvt
	}
	v := func(k, val string, ts int64) kvt { return kvt{Key: k, Value: val, TS: ts} }
	del := func(k string, ts int64) kvt { return kvt{Key: k, Null: true, TS: ts} }
	for _, s := range []step{
		{"right row first", products, "p1", "Apple", 10, nil, nil},
		{"new order, foreign row exists", orders, "o1", "p1|a", 20,
			[]kvt{v("o1", "p1|a/Apple", 20)}, []kvt{v("o1", "p1|a/Apple", 20)}},
		{"new order, foreign row missing", orders, "o2", "p2|b", 21,
			nil, []kvt{v("o2", "p2|b/null", 21)}},
		{"foreign key changes to a missing row", orders, "o1", "p2|a", 22,
			[]kvt{del("o1", 22)}, []kvt{v("o1", "p2|a/null", 22)}},
		{"old foreign row changes: no longer subscribed", products, "p1", "Apricot", 23, nil, nil},
		{"new foreign row appears: both subscribers", products, "p2", "Banana", 24,
			[]kvt{v("o1", "p2|a/Banana", 24), v("o2", "p2|b/Banana", 24)},
			[]kvt{v("o1", "p2|a/Banana", 24), v("o2", "p2|b/Banana", 24)}},
		{"foreign row updated", products, "p2", "Blueberry", 25,
			[]kvt{v("o1", "p2|a/Blueberry", 25), v("o2", "p2|b/Blueberry", 25)},
			[]kvt{v("o1", "p2|a/Blueberry", 25), v("o2", "p2|b/Blueberry", 25)}},
		{"foreign key changes to an existing row", orders, "o2", "p1|b", 26,
			[]kvt{v("o2", "p1|b/Apricot", 26)}, []kvt{v("o2", "p1|b/Apricot", 26)}},
		{"foreign row deleted", products, "p2", "", 27,
			[]kvt{del("o1", 27)}, []kvt{v("o1", "p2|a/null", 27)}},
		{"left row deleted", orders, "o2", "", 28,
			[]kvt{del("o2", 28)}, []kvt{del("o2", 28)}},
		{"left row deleted, no inner result", orders, "o1", "", 29,
			nil, []kvt{del("o1", 29)}},
		{"deleted foreign row's old subscriber does not come back", products, "p2", "Cherry", 30, nil, nil},
		{"older left row: the foreign row's later timestamp", orders, "o3", "p1|c", 5,
			[]kvt{v("o3", "p1|c/Apricot", 23)}, []kvt{v("o3", "p1|c/Apricot", 23)}},
		{"same foreign key, new value", orders, "o3", "p1|c2", 31,
			[]kvt{v("o3", "p1|c2/Apricot", 31)}, []kvt{v("o3", "p1|c2/Apricot", 31)}},
	} {
		if err := s.in.PipeRecord(core.Record[string, string]{Key: s.key, Value: s.value, NullValue: s.value == "", Timestamp: at(s.ts)}); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, inner); !reflect.DeepEqual(got, s.inner) {
			t.Errorf("%s: inner = %v, want %v", s.what, got, s.inner)
		}
		if got := readAll(t, left); !reflect.DeepEqual(got, s.left) {
			t.Errorf("%s: left = %v, want %v", s.what, got, s.left)
		}
	}
}

// TestFKJoinNilForeignKey: a nil foreign key has no foreign row; a left
// join still has a result, and an inner join's previous result goes.
func TestFKJoinNilForeignKey(t *testing.T) {
	b := dsl.NewBuilder()
	str := dsl.ConsumedWith(serde.String(), serde.String())
	orders := dsl.Table(b, "orders", str)
	fk := func(o string) *string {
		if p := productOf(o); p != "" {
			return &p
		}
		return nil
	}
	pstr := serde.Serde[*string](ptrString{})
	right := dsl.Table(b, "products-by-ptr", dsl.ConsumedWith(pstr, serde.String()))
	dsl.FKJoin(orders, right, fk, func(o, p string) string { return o + "/" + p }).ToStream().To("fk-inner")
	dsl.FKLeftJoin(orders, right, fk, func(o, p string, found bool) string { return o + "/" + nullable(p, found) }).ToStream().To("fk-left")
	d := driver(t, b)
	in := core.NewTestInputTopic(d, "orders", serde.String(), serde.String())
	prod := core.NewTestInputTopic(d, "products-by-ptr", pstr, serde.String())
	inner := core.NewTestOutputTopic(d, "fk-inner", serde.String(), serde.String())
	left := core.NewTestOutputTopic(d, "fk-left", serde.String(), serde.String())
	p1 := "p1"
	if err := prod.PipeAt(&p1, "Apple", at(1)); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		value       string
		ts          int64
		inner, left []kvt
	}{
		{"|x", 2, nil, []kvt{{"o", "|x/null", false, 2}}},
		{"p1|x", 3, []kvt{{"o", "p1|x/Apple", false, 3}}, []kvt{{"o", "p1|x/Apple", false, 3}}},
		{"|y", 4, []kvt{{"o", nil, true, 4}}, []kvt{{"o", "|y/null", false, 4}}},
		{"", 5, nil, []kvt{{"o", nil, true, 5}}},
	} {
		if err := in.PipeRecord(core.Record[string, string]{Key: "o", Value: s.value, NullValue: s.value == "", Timestamp: at(s.ts)}); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, inner); !reflect.DeepEqual(got, s.inner) {
			t.Errorf("order %q: inner = %v, want %v", s.value, got, s.inner)
		}
		if got := readAll(t, left); !reflect.DeepEqual(got, s.left) {
			t.Errorf("order %q: left = %v, want %v", s.value, got, s.left)
		}
	}
}

// ptrString is a serde for *string keys (nil is not serialized: the DSL
// treats it as no key).
type ptrString struct{}

func (ptrString) Serialize(_ string, s *string) ([]byte, error) { return []byte(*s), nil }
func (ptrString) Deserialize(_ string, b []byte) (*string, error) {
	s := string(b)
	return &s, nil
}

// TestFKJoinStaleResponse: a response computed for a left value that has
// changed since is dropped; one for the current value is applied. The
// responses are written to the response topic by hand, in Kafka Streams'
// layout: [version 0][16-byte hash of the left value][foreign value].
func TestFKJoinStaleResponse(t *testing.T) {
	b := dsl.NewBuilder()
	fkJoins(b)
	d := driver(t, b)
	orders := core.NewTestInputTopic(d, "orders", serde.String(), serde.String())
	products := core.NewTestInputTopic(d, "products", serde.String(), serde.String())
	inner := core.NewTestOutputTopic(d, "fk-inner", serde.String(), serde.String())
	if err := products.PipeAt("p1", "Apple", at(1)); err != nil {
		t.Fatal(err)
	}
	if err := orders.PipeAt("o1", "p1|a", at(2)); err != nil {
		t.Fatal(err)
	}
	if err := orders.PipeAt("o1", "p1|b", at(3)); err != nil {
		t.Fatal(err)
	}
	want := []kvt{{"o1", "p1|a/Apple", false, 2}, {"o1", "p1|b/Apple", false, 3}}
	if got := readAll(t, inner); !reflect.DeepEqual(got, want) {
		t.Fatalf("inner = %v, want %v", got, want)
	}
	response := func(leftValue, foreign string) []byte {
		h := dsl.FKValueHash([]byte(leftValue))
		return append(append([]byte{0}, h[:]...), foreign...)
	}
	topic := "test-driver-inner-subscription-response-repartition"
	// Late answer to the request made for "p1|a": stale.
	if err := d.Pipe(&kgo.Record{Topic: topic, Key: []byte("o1"), Value: response("p1|a", "Avocado"), Timestamp: at(4)}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, inner); len(got) != 0 {
		t.Fatalf("a stale response changed the result: %v", got)
	}
	if err := d.Pipe(&kgo.Record{Topic: topic, Key: []byte("o1"), Value: response("p1|b", "Avocado"), Timestamp: at(5)}); err != nil {
		t.Fatal(err)
	}
	want = []kvt{{"o1", "p1|b/Avocado", false, 5}}
	if got := readAll(t, inner); !reflect.DeepEqual(got, want) {
		t.Fatalf("current response: inner = %v, want %v", got, want)
	}
}
