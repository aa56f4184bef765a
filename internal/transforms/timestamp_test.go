package transforms

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// TimestampConverterTest's fixtures: one day, one second and 234 ms after
// the epoch.
var (
	tcDatePlusTime = time.UnixMilli(86401234).UTC()
	tcDate         = time.UnixMilli(86400000).UTC()
	tcTime         = time.UnixMilli(1234).UTC()
)

const (
	tcFormat = "yyyy MM dd HH mm ss SSS z"
	tcString = "1970 01 02 00 00 01 234 UTC"
)

func TestTimestampConverterSchemaless(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		config map[string]any
		in     any
		want   any
	}{
		{"identity", map[string]any{"target.type": "Timestamp"}, tcDatePlusTime, tcDatePlusTime},
		{"timestamp to Date", map[string]any{"target.type": "Date"}, tcDatePlusTime, tcDate},
		{"timestamp to Time", map[string]any{"target.type": "Time"}, tcDatePlusTime, tcTime},
		{"timestamp to unix", map[string]any{"target.type": "unix"}, tcDatePlusTime, int64(86401234)},
		{"timestamp to string", map[string]any{"target.type": "string", "format": tcFormat}, tcDatePlusTime, tcString},
		{"date to timestamp", map[string]any{"target.type": "Timestamp"}, tcDate, tcDate},
		{"unix to timestamp", map[string]any{"target.type": "Timestamp"}, int64(86401234), tcDatePlusTime},
		{"string to timestamp", map[string]any{"target.type": "Timestamp", "format": tcFormat}, tcString, tcDatePlusTime},
		{"unix seconds", map[string]any{"target.type": "Timestamp", "unix.precision": "seconds"}, int64(86401), time.UnixMilli(86401000).UTC()},
		{"unix micros lose sub-ms", map[string]any{"target.type": "Timestamp", "unix.precision": "microseconds"}, int64(86401234123), tcDatePlusTime},
		{"unix nanos lose sub-ms", map[string]any{"target.type": "Timestamp", "unix.precision": "nanoseconds"}, int64(86401234123456), tcDatePlusTime},
		{"to unix micros", map[string]any{"target.type": "unix", "unix.precision": "microseconds"}, tcDatePlusTime, int64(86401234000)},
		{"to unix nanos", map[string]any{"target.type": "unix", "unix.precision": "nanoseconds"}, tcDatePlusTime, int64(86401234000000)},
		{"to unix seconds", map[string]any{"target.type": "unix", "unix.precision": "seconds"}, tcDatePlusTime, int64(86401)},
		{"null", map[string]any{"target.type": "string", "format": tcFormat}, nil, nil},
		{"date before the epoch", map[string]any{"target.type": "Date"}, time.UnixMilli(-1).UTC(), time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)},
		{"time before the epoch", map[string]any{"target.type": "Time"}, time.UnixMilli(-1).UTC(), time.UnixMilli(millisPerDay - 1).UTC()},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, s := range sides {
				tr := build(t, "TimestampConverter"+s.suffix(), c.config)
				out := apply1(t, tr, recordOf(s, nil, c.in))
				gs, v := getSide(s, out)
				if gs != nil {
					t.Errorf("%s got a schema", s)
				}
				checkValue(t, s.String(), v, c.want)
			}
		})
	}
	t.Run("field", func(t *testing.T) {
		tr := build(t, "TimestampConverter$Value", map[string]any{"target.type": "unix", "field": "ts"})
		out := apply1(t, tr, sinkRecord(nil, nil, nil, map[string]any{"ts": tcDatePlusTime, "other": "x"}))
		checkValue(t, "field", out.Value, map[string]any{"ts": int64(86401234), "other": "x"})
		out = apply1(t, tr, sinkRecord(nil, nil, nil, map[string]any{"other": "x"}))
		checkValue(t, "missing field", out.Value, map[string]any{"ts": nil, "other": "x"})
		applyErr(t, tr, sinkRecord(nil, nil, nil, map[string]any{"ts": 1.5}), `field "ts"`, "does not support float64")
	})
}

func TestTimestampConverterWithSchema(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name       string
		config     map[string]any
		inSchema   *connectors.Schema
		in         any
		wantSchema *connectors.Schema
		want       any
	}{
		{"identity", map[string]any{"target.type": "Timestamp"}, connectors.TimestampSchema(), tcDatePlusTime, connectors.TimestampSchema(), tcDatePlusTime},
		{"to Date", map[string]any{"target.type": "Date"}, connectors.TimestampSchema(), tcDatePlusTime, connectors.DateSchema(), tcDate},
		{"to Time", map[string]any{"target.type": "Time"}, connectors.TimestampSchema(), tcDatePlusTime, connectors.TimeSchema(), tcTime},
		{"to unix", map[string]any{"target.type": "unix"}, connectors.TimestampSchema(), tcDatePlusTime, connectors.Int64Schema(), int64(86401234)},
		{"to string", map[string]any{"target.type": "string", "format": tcFormat}, connectors.TimestampSchema(), tcDatePlusTime, connectors.StringSchema(), tcString},
		{"Date to Timestamp", map[string]any{"target.type": "Timestamp"}, connectors.DateSchema(), tcDate, connectors.TimestampSchema(), tcDate},
		{"Time to Timestamp", map[string]any{"target.type": "Timestamp"}, connectors.TimeSchema(), tcTime, connectors.TimestampSchema(), tcTime},
		{"unix to Timestamp", map[string]any{"target.type": "Timestamp"}, connectors.Int64Schema(), int64(86401234), connectors.TimestampSchema(), tcDatePlusTime},
		{"string to Timestamp", map[string]any{"target.type": "Timestamp", "format": tcFormat}, connectors.StringSchema(), tcString, connectors.TimestampSchema(), tcDatePlusTime},
		{"null keeps optional", map[string]any{"target.type": "string", "format": tcFormat}, opt(connectors.TimestampSchema()), nil, opt(connectors.StringSchema()), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, s := range sides {
				tr := build(t, "TimestampConverter"+s.suffix(), c.config)
				out := apply1(t, tr, recordOf(s, c.inSchema, c.in))
				gs, v := getSide(s, out)
				checkSchema(t, s.String(), gs, c.wantSchema)
				checkValue(t, s.String(), v, c.want)
			}
		})
	}

	t.Run("field", func(t *testing.T) {
		schema := connectors.NewStruct("ev").Field("ts", connectors.TimestampSchema()).Field("opt", opt(connectors.TimestampSchema())).Field("other", connectors.StringSchema()).MustBuild()
		tr := build(t, "TimestampConverter$Value", map[string]any{"target.type": "string", "format": "yyyy-MM-dd", "field": "ts"})
		out := apply1(t, tr, sinkRecord(nil, nil, schema, mkStruct(schema, tcDatePlusTime, nil, "x")))
		want := connectors.NewStruct("ev").Field("ts", connectors.StringSchema()).Field("opt", opt(connectors.TimestampSchema())).Field("other", connectors.StringSchema()).MustBuild()
		checkSchema(t, "field", out.ValueSchema, want)
		checkValue(t, "field", out.Value, mkStruct(want, "1970-01-02", nil, "x"))

		tr = build(t, "TimestampConverter$Value", map[string]any{"target.type": "unix", "field": "opt"})
		out = apply1(t, tr, sinkRecord(nil, nil, schema, mkStruct(schema, tcDate, nil, "x")))
		f, _ := out.ValueSchema.Field("opt")
		checkSchema(t, "optional field", f.Schema, opt(connectors.Int64Schema()))
		checkValue(t, "optional field", out.Value.(*connectors.Struct).Get("opt"), nil)

		// A null struct keeps null, with the converted schema.
		out = apply1(t, tr, sinkRecord(nil, nil, opt(schema), nil))
		if out.Value != nil || out.ValueSchema.Fields[1].Schema.Type != connectors.TypeInt64 {
			t.Errorf("null struct: %v %v", out.ValueSchema, out.Value)
		}

		bad := connectors.NewStruct("").Field("ts", connectors.Float64Schema()).MustBuild()
		// A schema without the field passes unchanged, as in Kafka Connect.
		if out := apply1(t, tr, sinkRecord(nil, nil, bad, mkStruct(bad, 1.5))); out.Value.(*connectors.Struct).Get("ts") != 1.5 {
			t.Error("a struct without the field was changed")
		}
		tr = build(t, "TimestampConverter$Value", map[string]any{"target.type": "unix", "field": "ts"})
		applyErr(t, tr, sinkRecord(nil, nil, bad, mkStruct(bad, 1.5)), `field "ts"`, "does not correspond to a known timestamp type")
	})

	t.Run("struct default converted", func(t *testing.T) {
		base := connectors.NewStruct("").Field("ts", connectors.TimestampSchema()).MustBuild()
		schema := withDefault(opt(base), mkStruct(base, tcDatePlusTime))
		tr := build(t, "TimestampConverter$Value", map[string]any{"target.type": "unix", "field": "ts"})
		out := apply1(t, tr, sinkRecord(nil, nil, schema, mkStruct(base, tcDate)))
		got := out.ValueSchema
		if !got.Optional || got.Fields[0].Schema.Type != connectors.TypeInt64 {
			t.Errorf("schema %+v", got)
		}
		checkValue(t, "default", got.Default, mkStruct(got, int64(86401234)))
		checkValue(t, "value", out.Value, mkStruct(got, int64(86400000)))
	})

	t.Run("parse errors", func(t *testing.T) {
		tr := build(t, "TimestampConverter$Value", map[string]any{"target.type": "Timestamp", "format": "yyyy-MM-dd"})
		applyErr(t, tr, sinkRecord(nil, nil, connectors.StringSchema(), "01/02/2024"), `"01/02/2024" does not match the date pattern "yyyy-MM-dd"`)
		tr = build(t, "TimestampConverter$Value", map[string]any{"target.type": "Timestamp"})
		applyErr(t, tr, sinkRecord(nil, nil, connectors.StringSchema(), "2024-01-02"), "without format")
	})
}

func TestTimestampConverterConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		config map[string]any
		key    string
	}{
		{map[string]any{}, "transforms.x.target.type"},
		{map[string]any{"target.type": "invalid"}, "transforms.x.target.type"},
		{map[string]any{"target.type": "unix", "unix.precision": "invalid"}, "transforms.x.unix.precision"},
		{map[string]any{"target.type": "string"}, "transforms.x.format"},
		{map[string]any{"target.type": "string", "format": "bad-format"}, "transforms.x.format"},
		{map[string]any{"target.type": "string", "format": "'unterminated"}, "transforms.x.format"},
		{map[string]any{"target.type": "string", "format": "YYYY-ww"}, "transforms.x.format"},
	} {
		_, err := tryBuild("TimestampConverter$Value", c.config)
		wantFieldError(t, err, c.key)
	}
	if _, err := tryBuild("TimestampConverter$Value", map[string]any{"target.type": "unix", "unix.precision": "seconds"}); err != nil {
		t.Error(err)
	}
}

// TimestampRouterTest.defaultConfiguration.
func TestTimestampRouter(t *testing.T) {
	t.Parallel()
	tr := build(t, "TimestampRouter", nil)
	out := apply1(t, tr, sinkRecord(nil, nil, nil, nil))
	if out.Topic != "test-20170103" {
		t.Errorf("topic = %q, want test-20170103", out.Topic)
	}
	tr = build(t, "TimestampRouter", map[string]any{"topic.format": "${timestamp}/${topic}/${topic}", "timestamp.format": "yyyy.MM.dd'T'HH"})
	out = apply1(t, tr, sinkRecord(nil, nil, nil, nil))
	if out.Topic != "2017.01.03T06/test/test" {
		t.Errorf("topic = %q", out.Topic)
	}
	rec := sinkRecord(nil, nil, nil, nil)
	rec.Timestamp = time.Time{}
	applyErr(t, tr, rec, "no timestamp")
	_, err := tryBuild("TimestampRouter", map[string]any{"timestamp.format": "yyyy-bb"})
	wantFieldError(t, err, "transforms.x.timestamp.format")
}

func TestDateFormat(t *testing.T) {
	t.Parallel()
	tm := time.Date(2024, 3, 5, 14, 7, 9, 45_000_000, time.UTC)
	for _, c := range []struct{ pattern, want string }{
		{"yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2024-03-05T14:07:09.045+0000"},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-03-05T14:07:09.045Z"},
		{"yyyyMMdd", "20240305"},
		{"yy-M-d", "24-3-5"},
		{"EEE, d MMM yyyy HH:mm:ss z", "Tue, 5 Mar 2024 14:07:09 UTC"},
		{"EEEE MMMM dd", "Tuesday March 05"},
		{"h:mm a", "2:07 PM"},
		{"K k H", "2 14 14"},
		{"D u G", "65 2 AD"},
		{"'o''clock' ''", "o'clock '"},
		{"SSSSSS", "000045"},
		{"zzzz", "Coordinated Universal Time"},
	} {
		f, err := compileDateFormat(c.pattern)
		if err != nil {
			t.Errorf("%q: %v", c.pattern, err)
			continue
		}
		if got := f.format(tm); got != c.want {
			t.Errorf("format %q = %q, want %q", c.pattern, got, c.want)
		}
	}
	if got := (func() string {
		f, _ := compileDateFormat("k")
		return f.format(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	})(); got != "24" {
		t.Errorf("k at midnight = %q, want 24", got)
	}
}

func TestDateParse(t *testing.T) {
	t.Parallel()
	now := func() time.Time { return time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		pattern, in string
		want        time.Time
	}{
		{"yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2024-03-05T14:07:09.045+0100", time.Date(2024, 3, 5, 13, 7, 9, 45e6, time.UTC)},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-03-05T14:07:09.045-02:30", time.Date(2024, 3, 5, 16, 37, 9, 45e6, time.UTC)},
		{"yyyy-MM-dd'T'HH:mm:ssX", "2024-03-05T14:07:09Z", time.Date(2024, 3, 5, 14, 7, 9, 0, time.UTC)},
		{"yyyy-MM-dd HH:mm:ss z", "2024-03-05 14:07:09 GMT+01:00", time.Date(2024, 3, 5, 13, 7, 9, 0, time.UTC)},
		{"yyyyMMdd", "20240305", time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)},
		{"yyyyMMddHHmm", "202403051407", time.Date(2024, 3, 5, 14, 7, 0, 0, time.UTC)},
		{"dd MMM yyyy", "05 mar 2024", time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)},
		{"dd MMM yyyy", "05 March 2024", time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)},
		{"EEE, d MMM yyyy", "Tue, 5 Mar 2024", time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)},
		{"h:mm a", "2:07 PM", time.Date(1970, 1, 1, 14, 7, 0, 0, time.UTC)},
		{"h:mm a", "12:07 AM", time.Date(1970, 1, 1, 0, 7, 0, 0, time.UTC)},
		{"yy-MM-dd", "24-03-05", time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)},
		{"yy-MM-dd", "50-03-05", time.Date(1950, 3, 5, 0, 0, 0, 0, time.UTC)},
		{"yyyy-MM-dd", "2024-13-01", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}, // lenient roll-over
		{"yyyy-MM-dd", "2024-03-05T10:00:00", time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)},
		{"yyyy-M-d", "2024-3-5", time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)},
		{"yyyy-MM-dd", "2024-03- 5", time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)}, // spaces before a field
		{"yyyy D", "2024 60", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
	} {
		f, err := compileDateFormat(c.pattern)
		if err != nil {
			t.Fatalf("%q: %v", c.pattern, err)
		}
		f.now = now
		got, err := f.parse(c.in)
		if err != nil {
			t.Errorf("parse %q with %q: %v", c.in, c.pattern, err)
			continue
		}
		if !got.Equal(c.want) {
			t.Errorf("parse %q with %q = %v, want %v", c.in, c.pattern, got, c.want)
		}
	}
	for _, c := range []struct{ pattern, in string }{
		{"yyyy-MM-dd", "2024/03/05"},
		{"yyyy-MM-dd", ""},
		{"yyyy-MM-dd", "2024-03"},
		{"dd MMM yyyy", "05 Mrz 2024"},
		{"HH:mm Z", "10:00 CEST"},
	} {
		f, _ := compileDateFormat(c.pattern)
		if got, err := f.parse(c.in); err == nil {
			t.Errorf("parse %q with %q = %v, want an error", c.in, c.pattern, got)
		}
	}
}
