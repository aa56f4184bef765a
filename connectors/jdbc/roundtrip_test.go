package jdbc

import (
	"bytes"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// TestTypeRoundTrip writes a record with every mapped Connect type through
// the sink (auto.create), reads the table back with the source, and checks
// every field's type and value: Connect -> SQL -> Connect.
func TestTypeRoundTrip(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		zones := []string{"UTC"}
		if e.kind != dialectMySQL { // MySQL needs its time zone tables for named zones
			zones = append(zones, "America/New_York")
		}
		for _, zone := range zones {
			t.Run(zone, func(t *testing.T) {
				t.Parallel()
				roundTrip(t, e, zone)
			})
		}
	})
}

func roundTrip(t *testing.T, e *env, zone string) {
	b := connectors.NewStruct("types").
		Field("id", connectors.Int64Schema()).
		Field("i8", connectors.Int8Schema()).
		Field("i16", connectors.Int16Schema()).
		Field("i32", connectors.Int32Schema()).
		Field("i64", connectors.Int64Schema()).
		Field("f32", connectors.Float32Schema()).
		Field("f64", connectors.Float64Schema()).
		Field("b", connectors.BooleanSchema()).
		Field("s", connectors.StringSchema()).
		Field("by", connectors.BytesSchema()).
		Field("dec", connectors.DecimalSchema(2)).
		Field("d", connectors.DateSchema()).
		Field("tm", connectors.TimeSchema()).
		Field("ts", connectors.TimestampSchema()).
		Field("o_i32", connectors.OptionalOf(connectors.Int32Schema())).
		Field("o_s", connectors.OptionalOf(connectors.StringSchema())).
		Field("o_ts", connectors.OptionalOf(connectors.TimestampSchema()))
	if e.kind == dialectPostgres {
		b.Field("arr", connectors.ArraySchema(connectors.OptionalOf(connectors.Int32Schema())))
	}
	schema := b.MustBuild()
	rows := []map[string]any{
		{"id": int64(1), "i8": int8(-128), "i16": int16(-32768), "i32": int32(-2147483648), "i64": int64(-9223372036854775808),
			"f32": float32(1.5), "f64": 3.141592653589793, "b": true, "s": `it's "quoted" ünïcode`, "by": []byte{0, 1, 2, 255},
			"dec": big.NewRat(-1234567, 100), "d": time.Date(1969, 7, 20, 0, 0, 0, 0, time.UTC),
			"tm": time.Date(1970, 1, 1, 13, 45, 30, 123e6, time.UTC), "ts": time.Date(2024, 3, 5, 6, 7, 8, 123e6, time.UTC),
			"o_i32": int32(7), "o_s": "x", "o_ts": time.Date(1999, 12, 31, 23, 59, 59, 999e6, time.UTC)},
		{"id": int64(2), "i8": int8(127), "i16": int16(32767), "i32": int32(2147483647), "i64": int64(9223372036854775807),
			"f32": float32(-0.25), "f64": -1e-300, "b": false, "s": "", "by": []byte{},
			"dec": big.NewRat(0, 1), "d": time.Date(2038, 1, 19, 0, 0, 0, 0, time.UTC),
			"tm": time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), "ts": time.Date(1970, 1, 1, 0, 0, 0, 1e6, time.UTC)},
	}
	if e.kind == dialectPostgres {
		rows[0]["arr"] = []any{int32(1), nil, int32(-3)}
		rows[1]["arr"] = []any{}
	}
	d := e.newDB(t)
	task, sc := newSinkTask(t, map[string]any{"connection.url": d.url, "auto.create": true, "insert.mode": "upsert",
		"pk.mode": "record_value", "pk.fields": "id", "db.timezone": zone})
	var recs []*connectors.Record
	for _, r := range rows {
		st := connectors.NewStructValue(schema)
		for k, v := range r {
			st.Put(k, v)
		}
		if err := st.Validate(); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &connectors.Record{Topic: "types", ValueSchema: schema, Value: st})
	}
	put(t, task, recs...)
	if r := sc.reports(); len(r) > 0 {
		t.Fatalf("reports: %v", r[0].err)
	}
	store := newOffsetStore()
	src, _ := openSource(t, map[string]any{"connection.url": d.url, "mode": "incrementing", "incrementing.column.name": "id",
		"table.whitelist": "types", "topic.prefix": "", "db.timezone": zone, "poll.interval.ms": 20}, store)
	got := pollN(t, src, store, len(rows))

	// The types that come back differently from how they went in.
	wantType := func(name string, in connectors.Type) connectors.Type {
		if name == "i8" && e.kind == dialectPostgres {
			return connectors.TypeInt16 // PostgreSQL has no one-byte integer
		}
		return in
	}
	for i, rec := range got {
		st := rec.Value.(*connectors.Struct)
		for _, f := range schema.Fields {
			gf, ok := rec.ValueSchema.Field(f.Name)
			if !ok {
				t.Fatalf("row %d: field %s missing from %v", i, f.Name, rec.ValueSchema.Fields)
			}
			if gf.Schema.Type != wantType(f.Name, f.Schema.Type) || gf.Schema.Name != f.Schema.Name || gf.Schema.Optional != f.Schema.Optional {
				t.Errorf("field %s: schema %s, want %s", f.Name, gf.Schema, f.Schema)
				continue
			}
			if f.Schema.Name == connectors.DecimalName && gf.Schema.Parameters[connectors.DecimalScaleParam] != "2" {
				t.Errorf("field %s: scale %v", f.Name, gf.Schema.Parameters)
			}
			in, out := rows[i][f.Name], st.Get(f.Name)
			if !sameValue(in, out) {
				t.Errorf("row %d field %s: wrote %#v (%T), read %#v (%T)", i, f.Name, in, in, out, out)
			}
		}
	}
	if zone != "UTC" && e.kind == dialectPostgres {
		// Zoneless timestamps hold the wall clock in db.timezone.
		wantRows(t, d.rows("SELECT to_char(ts, 'YYYY-MM-DD HH24:MI:SS.MS') FROM types WHERE id = 1"), "2024-03-05 01:07:08.123")
	}
}

func sameValue(in, out any) bool {
	switch x := in.(type) {
	case nil:
		return out == nil
	case int8:
		if o, ok := out.(int16); ok {
			return int16(x) == o
		}
	case *big.Rat:
		o, ok := out.(*big.Rat)
		return ok && x.Cmp(o) == 0
	case []byte:
		o, ok := out.([]byte)
		return ok && bytes.Equal(x, o)
	case time.Time:
		o, ok := out.(time.Time)
		return ok && x.Equal(o)
	}
	return reflect.DeepEqual(in, out)
}
