package transforms

import (
	"math/big"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// InsertFieldTest.schemaNameAndVersionArePreserved / copySchemaAndInsertConfiguredFields.
func TestInsertFieldWithSchema(t *testing.T) {
	t.Parallel()
	for _, s := range sides {
		t.Run(s.String(), func(t *testing.T) {
			tr := build(t, "InsertField"+s.suffix(), map[string]any{
				"topic.field": "topic_field!", "partition.field": "partition_field", "timestamp.field": "timestamp_field?",
				"static.field": "instance_id", "static.value": "my-instance-id",
			})
			in := connectors.NewStruct("name").Version(1).Doc("doc").Field("magic", connectors.Int64Schema()).MustBuild()
			rec := recordOf(s, in, mkStruct(in, int64(42)))
			rec.Offset, rec.Partition = -1, 0 // a source record with an explicit partition
			out := apply1(t, tr, rec)
			schema, v := getSide(s, out)
			want := &connectors.Schema{Type: connectors.TypeStruct, Name: "name", Version: 1, Doc: "doc", Fields: []connectors.Field{
				{Name: "magic", Schema: connectors.Int64Schema()},
				{Name: "topic_field", Schema: connectors.StringSchema()},
				{Name: "partition_field", Schema: opt(connectors.Int32Schema())},
				{Name: "timestamp_field", Schema: opt(connectors.TimestampSchema())},
				{Name: "instance_id", Schema: opt(connectors.StringSchema())},
			}}
			want.Finish()
			checkSchema(t, "output", schema, want)
			checkValue(t, "value", v, mkStruct(want, int64(42), "test", int32(0), time.UnixMilli(1483425001864).UTC(), "my-instance-id"))
			if err := v.(*connectors.Struct).Validate(); err != nil {
				t.Error(err)
			}
			// The schema is derived once per input schema.
			again := apply1(t, tr, recordOf(s, in, mkStruct(in, int64(43))))
			if s2, _ := getSide(s, again); s2 != schema {
				t.Error("second record of the same schema got a newly derived schema")
			}
			// The other side is untouched.
			other := valueSide
			if s == valueSide {
				other = keySide
			}
			if os, ov := getSide(other, out); ov == nil || os == nil {
				t.Errorf("the %s was lost", other)
			}
		})
	}
}

func TestInsertFieldSchemaless(t *testing.T) {
	t.Parallel()
	tr := build(t, "InsertField$Value", map[string]any{
		"topic.field": "topic_field!", "partition.field": "partition_field", "offset.field": "off",
		"timestamp.field": "timestamp_field?", "static.field": "instance_id", "static.value": "my-instance-id",
	})
	orig := map[string]any{"magic": int64(42)}
	out := apply1(t, tr, sinkRecord(nil, nil, nil, orig))
	checkValue(t, "value", out.Value, map[string]any{"magic": int64(42), "topic_field": "test", "partition_field": int64(0),
		"off": int64(42), "timestamp_field": int64(1483425001864), "instance_id": "my-instance-id"})
	if len(orig) != 1 {
		t.Error("the input map was changed")
	}
}

func TestInsertFieldCases(t *testing.T) {
	t.Parallel()
	in := connectors.NewStruct("").Field("a", connectors.Int32Schema()).Field("b", withDefault(opt(connectors.Int32Schema()), int32(7))).MustBuild()

	t.Run("tombstone passes", func(t *testing.T) {
		tr := build(t, "InsertField$Value", map[string]any{"topic.field": "t"})
		rec := sinkRecord(nil, nil, in, nil)
		if out := apply1(t, tr, rec); out.Value != nil || out.ValueSchema != in {
			t.Errorf("tombstone changed: %v %v", out.ValueSchema, out.Value)
		}
	})
	t.Run("offset on a source record", func(t *testing.T) {
		tr := build(t, "InsertField$Value", map[string]any{"offset.field": "o"})
		applyErr(t, tr, sourceRecord(nil, nil, in, mkStruct(in, int32(1), nil)), `transform "x" (InsertField$Value)`, "offset.field", "only sink records", `source partition map[file:a]`)
	})
	t.Run("duplicate field", func(t *testing.T) {
		tr := build(t, "InsertField$Value", map[string]any{"topic.field": "a"})
		applyErr(t, tr, sinkRecord(nil, nil, in, mkStruct(in, int32(1), nil)), `two fields named "a"`, "test[0]@42")
	})
	t.Run("no timestamp leaves the field null", func(t *testing.T) {
		tr := build(t, "InsertField$Value", map[string]any{"timestamp.field": "ts"})
		rec := sinkRecord(nil, nil, in, mkStruct(in, int32(1), nil))
		rec.Timestamp = time.Time{}
		out := apply1(t, tr, rec)
		if v := out.Value.(*connectors.Struct).Get("ts"); v != nil {
			t.Errorf("ts = %v", v)
		}
	})
	t.Run("wrong type", func(t *testing.T) {
		tr := build(t, "InsertField$Value", map[string]any{"topic.field": "t"})
		applyErr(t, tr, sinkRecord(nil, nil, connectors.StringSchema(), "x"), "needs a struct")
		applyErr(t, tr, sinkRecord(nil, nil, nil, "x"), "needs a map")
	})
	for _, rd := range []struct {
		setting string
		want    any
	}{{"true", int32(7)}, {"false", nil}} {
		t.Run("replace.null.with.default="+rd.setting, func(t *testing.T) {
			tr := build(t, "InsertField$Value", map[string]any{"topic.field": "t", "replace.null.with.default": rd.setting})
			out := apply1(t, tr, sinkRecord(nil, nil, in, mkStruct(in, int32(1), nil)))
			checkValue(t, "b", out.Value.(*connectors.Struct).Get("b"), rd.want)
		})
	}
}

// ReplaceFieldTest.schemaless / withSchema / testReplaceNullWithDefaultConfig.
func TestReplaceField(t *testing.T) {
	t.Parallel()
	schema := connectors.NewStruct("com.acme.R").Version(3).
		Field("dont", connectors.StringSchema()).Field("abc", connectors.Int32Schema()).
		Field("foo", connectors.BooleanSchema()).Field("etc", connectors.StringSchema()).MustBuild()
	for _, s := range sides {
		t.Run(s.String(), func(t *testing.T) {
			tr := build(t, "ReplaceField"+s.suffix(), map[string]any{"exclude": "dont", "renames": "abc:xyz,foo:bar"})
			out := apply1(t, tr, recordOf(s, nil, map[string]any{"dont": "whatever", "abc": int64(42), "foo": true, "etc": "etc"}))
			_, v := getSide(s, out)
			checkValue(t, "schemaless", v, map[string]any{"xyz": int64(42), "bar": true, "etc": "etc"})

			tr = build(t, "ReplaceField"+s.suffix(), map[string]any{"include": []any{"abc", "foo"}, "renames": "abc:xyz,foo:bar"})
			out = apply1(t, tr, recordOf(s, schema, mkStruct(schema, "whatever", int32(42), true, "etc")))
			gs, v := getSide(s, out)
			want := connectors.NewStruct("com.acme.R").Version(3).Field("xyz", connectors.Int32Schema()).Field("bar", connectors.BooleanSchema()).MustBuild()
			checkSchema(t, "with schema", gs, want)
			checkValue(t, "with schema", v, mkStruct(want, int32(42), true))
		})
	}

	t.Run("deprecated whitelist and blacklist", func(t *testing.T) {
		tr := build(t, "ReplaceField$Value", map[string]any{"whitelist": "abc,foo,dont", "blacklist": "dont"})
		out := apply1(t, tr, sinkRecord(nil, nil, schema, mkStruct(schema, "w", int32(1), false, "e")))
		if n := len(out.ValueSchema.Fields); n != 2 {
			t.Errorf("got %d fields, want abc and foo", n)
		}
		_, err := tryBuild("ReplaceField$Value", map[string]any{"include": "a", "whitelist": "b"})
		wantFieldError(t, err, "transforms.x.whitelist")
	})
	t.Run("tombstone", func(t *testing.T) {
		tr := build(t, "ReplaceField$Value", map[string]any{"include": "abc"})
		out := apply1(t, tr, sinkRecord(nil, nil, schema, nil))
		if out.Value != nil || out.ValueSchema != schema {
			t.Error("tombstone changed")
		}
	})
	t.Run("rename collides", func(t *testing.T) {
		tr := build(t, "ReplaceField$Value", map[string]any{"renames": "abc:etc"})
		applyErr(t, tr, sinkRecord(nil, nil, schema, mkStruct(schema, "a", int32(1), true, "e")), `two fields named "etc"`)
	})
	t.Run("bad renames", func(t *testing.T) {
		_, err := tryBuild("ReplaceField$Value", map[string]any{"renames": "abc"})
		wantFieldError(t, err, "transforms.x.renames")
	})
	opt42 := connectors.NewStruct("").Field("abc", withDefault(opt(connectors.Int32Schema()), int32(42))).MustBuild()
	for _, rd := range []struct {
		setting string
		want    any
	}{{"true", int32(42)}, {"false", nil}} {
		t.Run("replace.null.with.default="+rd.setting, func(t *testing.T) {
			tr := build(t, "ReplaceField$Key", map[string]any{"include": "abc", "renames": "abc:optional_with_default", "replace.null.with.default": rd.setting})
			out := apply1(t, tr, sinkRecord(opt42, mkStruct(opt42, nil), nil, nil))
			checkValue(t, "field", out.Key.(*connectors.Struct).Get("optional_with_default"), rd.want)
		})
	}
}

// MaskFieldTest: every type masked to its zero, replacements, errors.
func TestMaskField(t *testing.T) {
	t.Parallel()
	schema := connectors.NewStruct("").
		Field("magic", connectors.Int32Schema()).
		Field("bool", connectors.BooleanSchema()).
		Field("byte", connectors.Int8Schema()).
		Field("short", connectors.Int16Schema()).
		Field("int", connectors.Int32Schema()).
		Field("long", connectors.Int64Schema()).
		Field("float", connectors.Float32Schema()).
		Field("double", connectors.Float64Schema()).
		Field("string", connectors.StringSchema()).
		Field("date", opt(connectors.DateSchema())).
		Field("decimal", connectors.DecimalSchema(0)).
		Field("array", opt(connectors.ArraySchema(connectors.Int32Schema()))).
		Field("map", opt(connectors.MapSchema(connectors.StringSchema()))).
		Field("withDefault", withDefault(opt(connectors.StringSchema()), "default")).
		MustBuild()
	value := mkStruct(schema, int32(42), true, int8(42), int16(42), int32(42), int64(42), float32(42), float64(42), "55.121.20.20",
		time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), big.NewRat(42, 1), []any{int32(1), int32(2)}, map[string]any{"k": "v"}, nil)
	masked := []string{"bool", "byte", "short", "int", "long", "float", "double", "string", "date", "decimal", "array", "map", "withDefault"}

	for _, s := range sides {
		t.Run(s.String(), func(t *testing.T) {
			tr := build(t, "MaskField"+s.suffix(), map[string]any{"fields": masked})
			out := apply1(t, tr, recordOf(s, schema, value))
			gs, v := getSide(s, out)
			if gs != schema {
				t.Error("the schema changed")
			}
			want := mkStruct(schema, int32(42), false, int8(0), int16(0), int32(0), int64(0), float32(0), float64(0), "",
				time.UnixMilli(0).UTC(), new(big.Rat), []any{}, map[string]any{}, "")
			checkValue(t, "masked", v, want)
			if value.Get("string") != "55.121.20.20" {
				t.Error("the input struct was changed")
			}
		})
	}

	t.Run("schemaless", func(t *testing.T) {
		tr := build(t, "MaskField$Value", map[string]any{"fields": "b,i,f,s,a,m,n,missing"})
		out := apply1(t, tr, sinkRecord(nil, nil, nil, map[string]any{"b": true, "i": int64(5), "f": 1.5, "s": "x", "a": []any{1}, "m": map[string]any{"k": 1}, "n": nil, "keep": "k"}))
		checkValue(t, "masked", out.Value, map[string]any{"b": false, "i": int64(0), "f": float64(0), "s": "", "a": []any{}, "m": map[string]any{}, "n": nil, "missing": nil, "keep": "k"})
	})

	t.Run("replacement", func(t *testing.T) {
		tr := build(t, "MaskField$Value", map[string]any{"fields": "byte,short,int,long,float,double,string,decimal", "replacement": "123"})
		out := apply1(t, tr, sinkRecord(nil, nil, schema, value))
		st := out.Value.(*connectors.Struct)
		for name, want := range map[string]any{"byte": int8(123), "short": int16(123), "int": int32(123), "long": int64(123),
			"float": float32(123), "double": float64(123), "string": "123", "decimal": big.NewRat(123, 1), "magic": int32(42)} {
			checkValue(t, name, st.Get(name), want)
		}
		tr = build(t, "MaskField$Value", map[string]any{"fields": "s,i", "replacement": "***"})
		out = apply1(t, tr, sinkRecord(nil, nil, nil, map[string]any{"s": "secret"}))
		checkValue(t, "s", out.Value.(map[string]any)["s"], "***")
		applyErr(t, tr, sinkRecord(nil, nil, nil, map[string]any{"i": int64(1)}), `field "i"`, "not a number")
	})

	for _, c := range []struct {
		name, fields, replacement, want string
	}{
		{"bool with replacement", "bool", "1", "cannot mask a value of type boolean with a replacement"},
		{"date with replacement", "date", "1", "with a replacement"},
		{"array with replacement", "array", "1", "with a replacement"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := build(t, "MaskField$Value", map[string]any{"fields": c.fields, "replacement": c.replacement})
			applyErr(t, tr, sinkRecord(nil, nil, schema, value), c.want, `field "`+c.fields+`"`)
		})
	}
	t.Run("bytes", func(t *testing.T) {
		bs := connectors.NewStruct("").Field("b", opt(connectors.BytesSchema())).MustBuild()
		tr := build(t, "MaskField$Value", map[string]any{"fields": "b"})
		applyErr(t, tr, sinkRecord(nil, nil, bs, mkStruct(bs, []byte("x"))), "cannot mask a value of type bytes")
		// A null bytes field is left null, without error.
		apply1(t, tr, sinkRecord(nil, nil, bs, mkStruct(bs, nil)))
	})
	t.Run("tombstone is an error, as in Kafka Connect", func(t *testing.T) {
		tr := build(t, "MaskField$Value", map[string]any{"fields": "x"})
		applyErr(t, tr, sinkRecord(nil, nil, nil, nil), "needs a map")
	})
	t.Run("config", func(t *testing.T) {
		_, err := tryBuild("MaskField$Value", map[string]any{})
		wantFieldError(t, err, "transforms.x.fields")
		_, err = tryBuild("MaskField$Value", map[string]any{"fields": ""})
		wantFieldError(t, err, "transforms.x.fields")
		_, err = tryBuild("MaskField$Value", map[string]any{"fields": "a", "replacement": ""})
		wantFieldError(t, err, "transforms.x.replacement")
	})
}

// ExtractFieldTest, including KIP-821 nested paths.
func TestExtractField(t *testing.T) {
	t.Parallel()
	inner := connectors.NewStruct("").Field("magic", connectors.Int32Schema()).MustBuild()
	schema := connectors.NewStruct("").Field("magic", connectors.Int32Schema()).Field("a.b", opt(inner)).Field("nested", opt(inner)).MustBuild()
	v := mkStruct(schema, int32(42), mkStruct(inner, int32(1)), mkStruct(inner, int32(2)))
	for _, s := range sides {
		t.Run(s.String(), func(t *testing.T) {
			tr := build(t, "ExtractField"+s.suffix(), map[string]any{"field": "magic"})
			out := apply1(t, tr, recordOf(s, schema, v))
			gs, gv := getSide(s, out)
			checkSchema(t, "extracted", gs, connectors.Int32Schema())
			checkValue(t, "extracted", gv, int32(42))

			out = apply1(t, tr, recordOf(s, nil, map[string]any{"magic": int64(42)}))
			_, gv = getSide(s, out)
			checkValue(t, "schemaless", gv, int64(42))

			out = apply1(t, tr, recordOf(s, nil, map[string]any{}))
			if _, gv = getSide(s, out); gv != nil {
				t.Errorf("missing key gave %v", gv)
			}
			out = apply1(t, tr, recordOf(s, schema, nil))
			if gs, gv = getSide(s, out); gv != nil || !connectors.SameSchema(gs, connectors.Int32Schema()) {
				t.Errorf("null struct gave %v %v", gs, gv)
			}
		})
	}
	t.Run("unknown field", func(t *testing.T) {
		tr := build(t, "ExtractField$Value", map[string]any{"field": "nope"})
		applyErr(t, tr, sinkRecord(nil, nil, schema, v), `unknown field "nope"`)
	})
	t.Run("V1 takes dots literally", func(t *testing.T) {
		tr := build(t, "ExtractField$Value", map[string]any{"field": "a.b"})
		out := apply1(t, tr, sinkRecord(nil, nil, schema, v))
		checkValue(t, "a.b", out.Value, mkStruct(inner, int32(1)))
	})
	t.Run("V2 nested", func(t *testing.T) {
		tr := build(t, "ExtractField$Value", map[string]any{"field": "nested.magic", "field.syntax.version": "v2"})
		out := apply1(t, tr, sinkRecord(nil, nil, schema, v))
		checkValue(t, "nested.magic", out.Value, int32(2))
		tr = build(t, "ExtractField$Value", map[string]any{"field": "`a.b`.magic", "field.syntax.version": "V2"})
		out = apply1(t, tr, sinkRecord(nil, nil, schema, v))
		checkValue(t, "`a.b`.magic", out.Value, int32(1))
		// A null struct on the way gives null.
		out = apply1(t, tr, sinkRecord(nil, nil, schema, mkStruct(schema, int32(1), nil, nil)))
		if out.Value != nil {
			t.Errorf("got %v", out.Value)
		}
		out = apply1(t, tr, sinkRecord(nil, nil, nil, map[string]any{"a.b": map[string]any{"magic": int64(9)}}))
		checkValue(t, "schemaless", out.Value, int64(9))
		tr = build(t, "ExtractField$Value", map[string]any{"field": "magic.x", "field.syntax.version": "V2"})
		applyErr(t, tr, sinkRecord(nil, nil, schema, v), "cannot look up field")
	})
	t.Run("config", func(t *testing.T) {
		_, err := tryBuild("ExtractField$Value", map[string]any{"field": "`a.b", "field.syntax.version": "V2"})
		wantFieldError(t, err, "transforms.x.field")
		_, err = tryBuild("ExtractField$Value", map[string]any{"field": "a", "field.syntax.version": "V3"})
		wantFieldError(t, err, "transforms.x.field.syntax.version")
	})
}

// SingleFieldPathTest / FieldPathNotationTest cases.
func TestFieldPathV2(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"foo", []string{"foo"}},
		{"foo.bar", []string{"foo", "bar"}},
		{"foo.bar.baz", []string{"foo", "bar", "baz"}},
		{"`foo.bar`.baz", []string{"foo.bar", "baz"}},
		{"foo.`bar.baz`", []string{"foo", "bar.baz"}},
		{"`foo`", []string{"foo"}},
		{"foo.", []string{"foo", ""}},
		{"`foo.bar\\`.baz`", []string{"foo.bar`.baz"}},
		{"`fo`o`.bar", []string{"fo`o", "bar"}},
		{".foo", []string{"", "foo"}},
	} {
		got, err := parseFieldPath(c.in, "V2")
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%q: got %q, want %q", c.in, []string(got), c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%q: got %q, want %q", c.in, []string(got), c.want)
			}
		}
	}
	for _, bad := range []string{"`foo", "foo.`bar", "`foo\\`"} {
		if _, err := parseFieldPath(bad, "V2"); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

// HoistFieldTest.
func TestHoistField(t *testing.T) {
	t.Parallel()
	for _, s := range sides {
		t.Run(s.String(), func(t *testing.T) {
			tr := build(t, "HoistField"+s.suffix(), map[string]any{"field": "magic"})
			out := apply1(t, tr, recordOf(s, nil, int64(42)))
			_, v := getSide(s, out)
			checkValue(t, "schemaless", v, map[string]any{"magic": int64(42)})

			out = apply1(t, tr, recordOf(s, connectors.Int32Schema(), int32(42)))
			gs, v := getSide(s, out)
			want := connectors.NewStruct("").Field("magic", connectors.Int32Schema()).MustBuild()
			checkSchema(t, "with schema", gs, want)
			checkValue(t, "with schema", v, mkStruct(want, int32(42)))
		})
	}
	tr := build(t, "HoistField$Value", map[string]any{"field": "magic"})
	applyErr(t, tr, sinkRecord(nil, nil, connectors.Int32Schema(), nil), "required")
	out := apply1(t, tr, sinkRecord(nil, nil, opt(connectors.Int32Schema()), nil))
	checkValue(t, "null in optional", out.Value.(*connectors.Struct).Get("magic"), nil)
}

// ValueToKeyTest.
func TestValueToKey(t *testing.T) {
	t.Parallel()
	tr := build(t, "ValueToKey", map[string]any{"fields": "a,b"})
	out := apply1(t, tr, sinkRecord(nil, nil, nil, map[string]any{"a": int64(1), "b": int64(2), "c": int64(3)}))
	checkValue(t, "key", out.Key, map[string]any{"a": int64(1), "b": int64(2)})
	if out.KeySchema != nil {
		t.Error("schemaless key has a schema")
	}

	schema := connectors.NewStruct("").Field("a", connectors.Int32Schema()).Field("b", connectors.Int32Schema()).Field("c", connectors.Int32Schema()).MustBuild()
	value := mkStruct(schema, int32(1), int32(2), int32(3))
	out = apply1(t, tr, sinkRecord(nil, nil, schema, value))
	want := connectors.NewStruct("").Field("a", connectors.Int32Schema()).Field("b", connectors.Int32Schema()).MustBuild()
	checkSchema(t, "key", out.KeySchema, want)
	checkValue(t, "key", out.Key, mkStruct(want, int32(1), int32(2)))
	checkValue(t, "value", out.Value, value)

	tr = build(t, "ValueToKey", map[string]any{"fields": "not_exist"})
	applyErr(t, tr, sinkRecord(nil, nil, schema, value), `field "not_exist" does not exist`)
	applyErr(t, tr, sinkRecord(nil, nil, nil, nil), "needs a map")
	_, err := tryBuild("ValueToKey", map[string]any{"fields": []any{}})
	wantFieldError(t, err, "transforms.x.fields")
}

// SetSchemaMetadataTest.
func TestSetSchemaMetadata(t *testing.T) {
	t.Parallel()
	schema := connectors.NewStruct("old").Version(1).Field("f", withDefault(opt(connectors.StringSchema()), "d")).MustBuild()
	for _, s := range sides {
		t.Run(s.String(), func(t *testing.T) {
			tr := build(t, "SetSchemaMetadata"+s.suffix(), map[string]any{"schema.name": "foo", "schema.version": 42})
			out := apply1(t, tr, recordOf(s, schema, mkStruct(schema, "x")))
			gs, v := getSide(s, out)
			if gs.Name != "foo" || gs.Version != 42 || len(gs.Fields) != 1 {
				t.Errorf("schema = %+v", gs)
			}
			if st := v.(*connectors.Struct); st.Schema() != gs || st.Get("f") != "x" {
				t.Errorf("struct not rebuilt on the new schema: %v", st)
			}
			out2 := apply1(t, tr, recordOf(s, schema, mkStruct(schema, "y")))
			if g2, _ := getSide(s, out2); g2 != gs {
				t.Error("schema derived twice")
			}
		})
	}
	t.Run("version only keeps the name", func(t *testing.T) {
		tr := build(t, "SetSchemaMetadata$Value", map[string]any{"schema.version": "0"})
		out := apply1(t, tr, sinkRecord(nil, nil, connectors.StringSchema(), "x"))
		if out.ValueSchema.Type != connectors.TypeString || out.ValueSchema.Version != 0 || out.Value != "x" {
			t.Errorf("got %+v %v", out.ValueSchema, out.Value)
		}
	})
	t.Run("null value with schema keeps null", func(t *testing.T) {
		tr := build(t, "SetSchemaMetadata$Value", map[string]any{"schema.name": "n"})
		out := apply1(t, tr, sinkRecord(nil, nil, opt(schema), nil))
		if out.Value != nil || out.ValueSchema.Name != "n" {
			t.Errorf("got %v %v", out.ValueSchema, out.Value)
		}
		out = apply1(t, tr, sinkRecord(nil, nil, nil, nil))
		if out.ValueSchema != nil {
			t.Error("schemaless tombstone got a schema")
		}
		applyErr(t, tr, sinkRecord(nil, nil, nil, "x"), "no schema")
	})
	t.Run("replace.null.with.default", func(t *testing.T) {
		tr := build(t, "SetSchemaMetadata$Value", map[string]any{"schema.name": "n", "replace.null.with.default": false})
		out := apply1(t, tr, sinkRecord(nil, nil, schema, mkStruct(schema, nil)))
		checkValue(t, "f", out.Value.(*connectors.Struct).Get("f"), nil)
		tr = build(t, "SetSchemaMetadata$Value", map[string]any{"schema.name": "n"})
		out = apply1(t, tr, sinkRecord(nil, nil, schema, mkStruct(schema, nil)))
		checkValue(t, "f", out.Value.(*connectors.Struct).Get("f"), "d")
	})
	_, err := tryBuild("SetSchemaMetadata$Value", map[string]any{})
	wantFieldError(t, err, "transforms.x.schema.name")
}
