package transforms

import (
	"math/big"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// RegexRouterTest, plus Java replacement syntax.
func TestRegexRouter(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ regex, replacement, topic, want string }{
		{"foo", "bar", "foo", "bar"},
		{"foo", "bar", "orig", "orig"},
		{"(.*)", "$1", "orig", "orig"},
		{"(.*)", "prefix-$1", "orig", "prefix-orig"},
		{"(.*)", "$1-suffix", "orig", "orig-suffix"},
		{`(.*)-(\d\d\d\d\d\d\d\d)`, "$1", "index-20160117", "index"},
		{`dbserver1\.inventory\.(?<table>.*)`, "cdc.${table}", "dbserver1.inventory.orders", "cdc.orders"},
		{`(a)`, "$10", "a", "a0"},                  // group 1 then "0": there is no group 10
		{`(a)`, `\$1 costs \\`, "a", `$1 costs \`}, // escapes
		{`a|ab`, "X", "ab", "Xb"},                  // matches() the whole, replaceFirst the first match
		{`foo`, "bar", "foofoo", "foofoo"},         // not a whole match
		{`(x)?y`, "[$1]", "y", "[]"},               // a group outside the match adds nothing
	} {
		tr := build(t, "RegexRouter", map[string]any{"regex": c.regex, "replacement": c.replacement})
		rec := sinkRecord(nil, nil, nil, nil)
		rec.Topic = c.topic
		if got := apply1(t, tr, rec).Topic; got != c.want {
			t.Errorf("regex %q replacement %q on %q = %q, want %q", c.regex, c.replacement, c.topic, got, c.want)
		}
	}
	for _, c := range []struct{ regex, replacement, key string }{
		{"(", "x", "transforms.x.regex"},
		{"(?=a)", "x", "transforms.x.regex"},
		{"(a)", "$2", "transforms.x.replacement"},
		{"(a)", "$", "transforms.x.replacement"},
		{"(a)", `x\`, "transforms.x.replacement"},
		{"(a)", "${nope}", "transforms.x.replacement"},
		{"(a)", "$x", "transforms.x.replacement"},
	} {
		_, err := tryBuild("RegexRouter", map[string]any{"regex": c.regex, "replacement": c.replacement})
		wantFieldError(t, err, c.key)
	}
}

func TestInsertAndDropHeaders(t *testing.T) {
	t.Parallel()
	tr := build(t, "InsertHeader", map[string]any{"header": "inserted", "value.literal": "inserted-value"})
	rec := sinkRecord(nil, nil, nil, nil)
	rec.Headers = []connectors.Header{{Key: "existing", Value: []byte("v")}, {Key: "inserted", Value: []byte("old")}}
	out := apply1(t, tr, rec)
	if len(out.Headers) != 3 || out.Headers[2].Key != "inserted" || string(out.Headers[2].Value) != "inserted-value" {
		t.Errorf("headers = %v", out.Headers)
	}
	if v, _ := out.Header("inserted"); string(v) != "inserted-value" {
		t.Errorf("last inserted = %q", v)
	}
	// Two records whose headers share a backing array with spare
	// capacity each get their own header.
	base := make([]connectors.Header, 1, 4)
	r1, r2 := sinkRecord(nil, nil, nil, nil), sinkRecord(nil, nil, nil, nil)
	r1.Headers, r2.Headers = base, base
	tr2 := build(t, "InsertHeader", map[string]any{"header": "n", "value.literal": "1"})
	apply1(t, tr, r1)
	apply1(t, tr2, r2)
	if r1.Headers[1].Key != "inserted" || r2.Headers[1].Key != "n" {
		t.Errorf("headers clobbered: %v %v", r1.Headers, r2.Headers)
	}
	_, err := tryBuild("InsertHeader", map[string]any{"header": "h"})
	wantFieldError(t, err, "transforms.x.value.literal")

	drop := build(t, "DropHeaders", map[string]any{"headers": "inserted,absent"})
	shared := out.Headers
	out = apply1(t, drop, out)
	if len(out.Headers) != 1 || out.Headers[0].Key != "existing" {
		t.Errorf("after drop: %v", out.Headers)
	}
	if len(shared) != 3 || shared[1].Key != "inserted" {
		t.Error("DropHeaders changed the backing array of the input headers")
	}
	_, err = tryBuild("DropHeaders", map[string]any{"headers": ""})
	wantFieldError(t, err, "transforms.x.headers")
}

// HeaderFromTest cases, and the header value encodings.
func TestHeaderFrom(t *testing.T) {
	t.Parallel()
	inner := connectors.NewStruct("").Field("foo", connectors.StringSchema()).MustBuild()
	schema := connectors.NewStruct("rec").
		Field("field1", connectors.StringSchema()).
		Field("field2", connectors.StringSchema()).
		Field("struct", inner).
		Field("null", opt(connectors.Int32Schema())).
		MustBuild()
	value := mkStruct(schema, "field1-value", "field2-value", mkStruct(inner, "foo-value"), nil)
	existing := []connectors.Header{{Key: "header1", Value: []byte("existing-value")}}

	for _, s := range sides {
		for _, op := range []string{"copy", "move"} {
			t.Run(s.String()+" "+op, func(t *testing.T) {
				tr := build(t, "HeaderFrom"+s.suffix(), map[string]any{"fields": "field1,struct,field1,null", "headers": "inserted1,inserted2,inserted3,inserted4", "operation": op})
				rec := recordOf(s, schema, value)
				rec.Headers = append([]connectors.Header(nil), existing...)
				out := apply1(t, tr, rec)
				want := []connectors.Header{
					{Key: "header1", Value: []byte("existing-value")},
					{Key: "inserted1", Value: []byte("field1-value")},
					{Key: "inserted2", Value: []byte(`{"foo":"foo-value"}`)},
					{Key: "inserted3", Value: []byte("field1-value")},
					{Key: "inserted4", Value: nil},
				}
				if len(out.Headers) != len(want) {
					t.Fatalf("headers = %v", out.Headers)
				}
				for i := range want {
					if out.Headers[i].Key != want[i].Key || string(out.Headers[i].Value) != string(want[i].Value) || (want[i].Value == nil) != (out.Headers[i].Value == nil) {
						t.Errorf("header %d = %s:%q, want %s:%q", i, out.Headers[i].Key, out.Headers[i].Value, want[i].Key, want[i].Value)
					}
				}
				gs, v := getSide(s, out)
				if op == "copy" {
					if gs != schema || v != value {
						t.Error("copy changed the struct")
					}
					return
				}
				wantSchema := connectors.NewStruct("rec").Field("field2", connectors.StringSchema()).MustBuild()
				checkSchema(t, "moved", gs, wantSchema)
				checkValue(t, "moved", v, mkStruct(wantSchema, "field2-value"))

				// Schemaless.
				rec = recordOf(s, nil, map[string]any{"field1": "field1-value", "field2": "field2-value", "n": int64(7)})
				tr = build(t, "HeaderFrom"+s.suffix(), map[string]any{"fields": "field1,n,missing", "headers": "h1,h2,h3", "operation": op})
				out = apply1(t, tr, rec)
				if string(out.Headers[0].Value) != "field1-value" || string(out.Headers[1].Value) != "7" || out.Headers[2].Value != nil {
					t.Errorf("schemaless headers = %v", out.Headers)
				}
				_, v = getSide(s, out)
				checkValue(t, "schemaless moved", v, map[string]any{"field2": "field2-value"})
			})
		}
	}

	t.Run("errors", func(t *testing.T) {
		tr := build(t, "HeaderFrom$Value", map[string]any{"fields": "nope", "headers": "h", "operation": "copy"})
		applyErr(t, tr, sinkRecord(nil, nil, schema, value), `field "nope" is not in the schema`)
		applyErr(t, tr, sinkRecord(nil, nil, nil, nil), "needs a map")
		_, err := tryBuild("HeaderFrom$Value", map[string]any{"fields": "a,b", "headers": "h", "operation": "copy"})
		wantFieldError(t, err, "transforms.x.headers")
		_, err = tryBuild("HeaderFrom$Value", map[string]any{"fields": "a", "headers": "h", "operation": "clone"})
		wantFieldError(t, err, "transforms.x.operation")
	})
}

func TestHeaderBytes(t *testing.T) {
	t.Parallel()
	inner := connectors.NewStruct("").Field("s", connectors.StringSchema()).Field("n", opt(connectors.Int32Schema())).Field("d", withDefault(opt(connectors.Int32Schema()), int32(5))).MustBuild()
	for _, c := range []struct {
		schema *connectors.Schema
		v      any
		want   string
	}{
		{nil, "plain \"text\"", `plain "text"`},
		{nil, int64(42), "42"},
		{nil, int8(-1), "-1"},
		{nil, float64(1.5), "1.5"},
		{nil, float64(100), "100.0"},
		{nil, float64(1e7), "1.0E7"},
		{nil, float32(1.1), "1.1"},
		{nil, true, "true"},
		{nil, []byte("hi"), "aGk="},
		{connectors.DecimalSchema(2), big.NewRat(12345, 100), "123.45"},
		{connectors.DecimalSchema(3), big.NewRat(1, 2), "0.500"},
		{nil, big.NewRat(1, 4), "0.25"},
		{connectors.DateSchema(), time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC), "2024-03-05"},
		{connectors.TimestampSchema(), time.UnixMilli(1483425001864), "2017-01-03T06:30:01.864Z"},
		{connectors.TimeSchema(), time.UnixMilli(3723004), "01:02:03.004Z"},
		{nil, []any{int64(1), "a", nil, []byte("x")}, `[1,"a",null,"eA=="]`},
		{nil, map[string]any{"b": int64(2), "a": "x\ny"}, `{"a":"x\ny","b":2}`},
		{inner, mkStruct(inner, `q"\`, nil, nil), `{"s":"q\"\\","n":null,"d":5}`},
		{nil, []any{time.UnixMilli(0)}, `["00:00:00.000Z"]`},
	} {
		got, err := headerBytes(c.schema, c.v)
		if err != nil {
			t.Errorf("%v: %v", c.v, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("header of %s = %q, want %q", show(c.v), got, c.want)
		}
	}
	if b, _ := headerBytes(nil, nil); b != nil {
		t.Error("null gave bytes")
	}
}

func TestFilterAndPredicates(t *testing.T) {
	t.Parallel()
	f := build(t, "Filter", nil)
	out, err := f.Apply(nil, sinkRecord(nil, nil, nil, "x"))
	if err != nil || len(out) != 0 {
		t.Errorf("Filter kept %d records (%v)", len(out), err)
	}
	pred := func(typ string, raw map[string]any) connectors.Predicate {
		t.Helper()
		p, err := sharedRegistry.Predicate(typ)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := p.Spec.Parse("predicates.p.", raw)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := p.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return pr
	}
	rec := sinkRecord(nil, nil, nil, nil)
	rec.Headers = []connectors.Header{{Key: "trace", Value: nil}}

	topic := pred("TopicNameMatches", map[string]any{"pattern": "te.t"})
	if !topic.Test(rec) {
		t.Error("TopicNameMatches te.t does not match test")
	}
	topic = pred("org.apache.kafka.connect.transforms.predicates.TopicNameMatches", map[string]any{"pattern": "te"})
	if topic.Test(rec) {
		t.Error("TopicNameMatches te matches test (it must match the whole name)")
	}
	if !pred("HasHeaderKey", map[string]any{"name": "trace"}).Test(rec) || pred("HasHeaderKey", map[string]any{"name": "other"}).Test(rec) {
		t.Error("HasHeaderKey")
	}
	tomb := pred("RecordIsTombstone", nil)
	if !tomb.Test(rec) || tomb.Test(sinkRecord(nil, nil, nil, "x")) {
		t.Error("RecordIsTombstone")
	}
	p, _ := sharedRegistry.Predicate("TopicNameMatches")
	_, err = p.Spec.Parse("predicates.p.", map[string]any{"pattern": "("})
	wantFieldError(t, err, "predicates.p.pattern")
	_, err = p.Spec.Parse("predicates.p.", map[string]any{"pattern": ""})
	wantFieldError(t, err, "predicates.p.pattern")
	p, _ = sharedRegistry.Predicate("HasHeaderKey")
	_, err = p.Spec.Parse("predicates.p.", map[string]any{})
	wantFieldError(t, err, "predicates.p.name")
}
