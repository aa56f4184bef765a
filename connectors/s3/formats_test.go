package s3

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

var eventSchema = connectors.NewStruct("com.acme.Event").
	Field("id", connectors.Int64Schema()).
	Field("kind", connectors.StringSchema()).
	Field("at", connectors.TimestampSchema()).
	Field("score", connectors.OptionalOf(connectors.Float64Schema())).MustBuild()

// eventSchemaV2 adds a field: a record of it completes the objects of the
// other schema (schema.compatibility=NONE).
var eventSchemaV2 = connectors.NewStruct("com.acme.Event").
	Field("id", connectors.Int64Schema()).
	Field("kind", connectors.StringSchema()).
	Field("at", connectors.TimestampSchema()).
	Field("score", connectors.OptionalOf(connectors.Float64Schema())).
	Field("region", connectors.OptionalOf(connectors.StringSchema())).MustBuild()

func eventRecords(topic string, from int64, n int, schema *connectors.Schema) []*connectors.Record {
	out := make([]*connectors.Record, n)
	for i := range out {
		off := from + int64(i)
		v := connectors.NewStructValue(schema).
			Put("id", off).
			Put("kind", fmt.Sprintf("kind-%d", off%3)).
			Put("at", time.UnixMilli(1_700_000_000_000+off).UTC())
		if off%2 == 0 {
			v.Put("score", float64(off)/4)
		}
		if schema == eventSchemaV2 {
			v.Put("region", "eu")
		}
		out[i] = &connectors.Record{Topic: topic, Partition: 0, Offset: off, ValueSchema: schema, Value: v,
			Timestamp: time.UnixMilli(1_700_000_000_000 + off)}
	}
	return out
}

// Avro and Parquet objects written by the sink are read back by the
// source with their schema and values; a schema change starts new
// objects; the codec appears in Parquet names as in Confluent.
func TestSinkSourceRoundTripSchemaFormats(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		format string
		over   map[string]any
		ext    string
	}{
		{"avro", map[string]any{"avro.codec": "deflate"}, ".avro"},
		{"AvroFormat", nil, ".avro"},
		{"parquet", nil, ".snappy.parquet"},
		{"io.confluent.connect.s3.format.parquet.ParquetFormat", map[string]any{"parquet.codec": "zstd"}, ".zstd.parquet"},
		{"json", nil, ".json"},
	} {
		t.Run(c.format, func(t *testing.T) {
			t.Parallel()
			fs := newFakeS3(t)
			task, tc := newTestSink(t, fs, merge(map[string]any{"format.class": c.format, "flush.size": 5}, c.over))
			p := tp("events", 0)
			if err := task.Assign(ctx, []connectors.TopicPartition{p}); err != nil {
				t.Fatal(err)
			}
			in := append(eventRecords("events", 0, 7, eventSchema), eventRecords("events", 7, 3, eventSchemaV2)...)
			mustPut(t, task, in)
			if len(tc.reports) != 0 {
				t.Fatalf("reports: %v", tc.reports[0].err)
			}
			// 0-4 (flush.size), 5-6 (then the schema changes), 7-9 (flush
			// size is not reached: the last object stays open). JSON
			// objects hold no schema: 0-4, 5-9.
			wantNext := int64(7)
			if c.format == "json" {
				wantNext = 10
			}
			if got := preCommit(t, task, nil); got[p] != wantNext {
				t.Fatalf("precommit %v, want %d", got, wantNext)
			}
			keys := fs.keys(t, "")
			want := []string{"events+0+0000000000" + c.ext, "events+0+0000000005" + c.ext}
			if len(keys) != len(want) {
				t.Fatalf("keys %q, want names %q", keys, want)
			}
			for i := range want {
				if !strings.HasSuffix(keys[i], "/"+want[i]) {
					t.Fatalf("keys %q, want names %q", keys, want)
				}
			}
			if c.format == "json" {
				return // JSON round trips are covered elsewhere (schemaless)
			}
			// Complete the last object (7-11) with more V2 records.
			mustPut(t, task, eventRecords("events", 10, 2, eventSchemaV2))
			if got := preCommit(t, task, nil); got[p] != 12 {
				t.Fatalf("precommit %v", got)
			}

			src, stc := newTestSource(t, fs, map[string]any{"format.class": c.format}, nil, 0, 1)
			out, done := drain(t, src, 0)
			if !done || len(stc.reports) != 0 {
				t.Fatalf("done %v, reports %v", done, stc.reports)
			}
			if len(out) != 12 {
				t.Fatalf("read %d records, want 12", len(out))
			}
			all := append(in, eventRecords("events", 10, 2, eventSchemaV2)...)
			for i, r := range out {
				if r.Topic != "events" || r.Partition != 0 {
					t.Fatalf("record %d to %s[%d]", i, r.Topic, r.Partition)
				}
				st, ok := r.Value.(*connectors.Struct)
				if !ok {
					t.Fatalf("record %d: value %T", i, r.Value)
				}
				want := all[i].Value.(*connectors.Struct)
				if len(st.Schema().Fields) != len(want.Schema().Fields) {
					t.Fatalf("record %d: schema %v, want %v", i, st.Schema().Fields, want.Schema().Fields)
				}
				for _, f := range want.Schema().Fields {
					g, w := st.Get(f.Name), want.Get(f.Name)
					if gt, ok := g.(time.Time); ok {
						if !gt.Equal(w.(time.Time)) {
							t.Fatalf("record %d field %s: %v, want %v", i, f.Name, g, w)
						}
						continue
					}
					if fmt.Sprint(g) != fmt.Sprint(w) {
						t.Fatalf("record %d field %s: %v (%T), want %v (%T)", i, f.Name, g, g, w, w)
					}
				}
			}

			// Resume from inside the second object.
			var com committer
			first, _ := newTestSource(t, fs, map[string]any{"format.class": c.format, "record.batch.max.size": 6}, nil, 0, 1)
			rs, err := first.Poll(ctx)
			if err != nil || len(rs) != 6 {
				t.Fatalf("poll: %d, %v", len(rs), err)
			}
			com.add(rs)
			second, _ := newTestSource(t, fs, map[string]any{"format.class": c.format}, com.list(), 0, 1)
			rest, _ := drain(t, second, 0)
			var gotIDs []int64
			for _, r := range append(rs, rest...) {
				gotIDs = append(gotIDs, r.Value.(*connectors.Struct).Get("id").(int64))
			}
			if !slices.Equal(gotIDs, seq(0, 12)) {
				t.Fatalf("resumed read %v", gotIDs)
			}
		})
	}
}
