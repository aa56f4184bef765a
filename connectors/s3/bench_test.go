package s3

import (
	"bytes"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sluicehq/sluice/connectors"
)

var benchSchema = connectors.NewStruct("bench.Order").
	Field("id", connectors.Int64Schema()).
	Field("customer", connectors.StringSchema()).
	Field("amount", connectors.Float64Schema()).
	Field("note", connectors.StringSchema()).MustBuild()

func benchRecords(topic string, from int64, n int) []*connectors.Record {
	note := strings.Repeat("n", 48)
	out := make([]*connectors.Record, n)
	for i := range out {
		off := from + int64(i)
		v := connectors.NewStructValue(benchSchema)
		v.Set(0, off)
		v.Set(1, fmt.Sprintf("customer-%d", off%1000))
		v.Set(2, float64(off%10000)/100)
		v.Set(3, note)
		out[i] = &connectors.Record{Topic: topic, Partition: 0, Offset: off, ValueSchema: benchSchema, Value: v}
	}
	return out
}

// BenchmarkSinkJSON writes records through the sink's Put and PreCommit
// into gofakes3 (JSON lines, flush.size=10000, batches of 500 records as
// the worker hands them), and in the same run a plain baseline: minio-go
// PutObject of the very same JSON lines in objects of the same size. The
// two alternate object by object, so that both see the same machine
// load; the benchmark reports both rates, the ratio of the totals and the
// median of the per-object ratios. b.N is the number of records.
func BenchmarkSinkJSON(b *testing.B) {
	const flush, batch = 10000, 500
	fs := newFakeS3(b)
	task, tc := newTestSink(b, fs, map[string]any{"flush.size": flush})
	tc.log = slog.New(slog.DiscardHandler)
	task.log = tc.log
	p := tp("bench", 0)
	if err := task.Assign(ctx, []connectors.TopicPartition{p}); err != nil {
		b.Fatal(err)
	}
	total := (max(b.N, flush) + flush - 1) / flush * flush
	var sinkTime, baseTime time.Duration
	var ratios []float64
	b.ResetTimer()
	for from := int64(0); from < int64(total); from += flush {
		b.StopTimer()
		rs := benchRecords("bench", from, flush)
		b.StartTimer()
		start := time.Now()
		for i := 0; i < len(rs); i += batch {
			if err := task.Put(ctx, rs[i:i+batch]); err != nil {
				b.Fatal(err)
			}
		}
		got, err := task.PreCommit(ctx, map[connectors.TopicPartition]int64{p: from + flush})
		if err != nil || got[p] != from+flush {
			b.Fatalf("precommit %v, %v", got, err)
		}
		sinkDur := time.Since(start)
		b.StopTimer()

		// The baseline uploads the same bytes as one object.
		data := fs.get(b, fmt.Sprintf("topics/bench/partition=0/bench+0+%010d.json", from))
		start = time.Now()
		if _, err := fs.client.PutObject(ctx, testBucket, fmt.Sprintf("baseline/%d.json", from), bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			b.Fatal(err)
		}
		baseDur := time.Since(start)
		b.StartTimer()
		sinkTime += sinkDur
		baseTime += baseDur
		ratios = append(ratios, baseDur.Seconds()/sinkDur.Seconds())
	}
	b.StopTimer()
	sort.Float64s(ratios)
	sinkRate := float64(total) / sinkTime.Seconds()
	baseRate := float64(total) / baseTime.Seconds()
	b.ReportMetric(sinkRate, "sink-rec/s")
	b.ReportMetric(baseRate, "baseline-rec/s")
	b.ReportMetric(sinkRate/baseRate, "ratio")
	b.ReportMetric(ratios[len(ratios)/2], "median-ratio")
}
