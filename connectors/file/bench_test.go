package fileconn

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
)

const benchLines = 1_000_000

// benchFile writes a file of benchLines lines of about 100 bytes.
func benchFile(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range benchLines {
		fmt.Fprintf(w, "2025-01-01T00:00:00.000Z INFO request %08d served in 12ms path=/api/v1/orders status=200 bytes=5123\n", i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path
}

// BenchmarkSourceLines reads a 1M-line file through the source task's Poll
// (bounded mode, batch.size 2000) and, in the same run, with a plain
// bufio.Scanner, reporting both rates and their ratio.
func BenchmarkSourceLines(b *testing.B) {
	path := benchFile(b)
	var taskTime, plainTime time.Duration
	for b.Loop() {
		start := time.Now()
		store := newOffsetStore()
		task := newSourceTasks(&testing.T{}, map[string]any{"file": path, "topic": "t", "tail": false}, 1)[0]
		if err := task.Open(context.Background(), &sourceCtx{store: store}); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			recs, err := task.Poll(context.Background())
			n += len(recs)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		task.Close()
		taskTime += time.Since(start)
		if n != benchLines {
			b.Fatalf("task read %d lines", n)
		}

		start = time.Now()
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		m := 0
		for sc.Scan() {
			_ = sc.Text() // a string per line, as the task makes
			m++
		}
		f.Close()
		plainTime += time.Since(start)
		if m != benchLines {
			b.Fatalf("scanner read %d lines", m)
		}
	}
	total := float64(b.N * benchLines)
	b.ReportMetric(total/taskTime.Seconds(), "task_lines/s")
	b.ReportMetric(total/plainTime.Seconds(), "scanner_lines/s")
	b.ReportMetric(plainTime.Seconds()/taskTime.Seconds(), "ratio")
}

// BenchmarkSinkJSON writes 1M records (a struct of four fields, about 100
// bytes of JSON each) through the sink task's Put and PreCommit, in batches
// of 500 with flush.size 250000, and, in the same run, the same JSON lines
// with a plain loop: JSON encoding into a bufio.Writer over a file.
func BenchmarkSinkJSON(b *testing.B) {
	s := connectors.NewStruct("bench.Order").
		Field("id", connectors.Int64Schema()).
		Field("customer", connectors.StringSchema()).
		Field("amount", connectors.Float64Schema()).
		Field("status", connectors.StringSchema()).MustBuild()
	const batch = 500
	recs := make([]*connectors.Record, batch)
	for i := range recs {
		recs[i] = &connectors.Record{Topic: "orders", ValueSchema: s,
			Value: connectors.NewStructValue(s).Put("id", int64(i)).Put("customer", fmt.Sprintf("customer-%06d", i)).
				Put("amount", 12.5+float64(i)).Put("status", "shipped-to-the-customer-with-express-delivery")}
	}
	var taskTime, plainTime time.Duration
	for b.Loop() {
		dir := b.TempDir()
		start := time.Now()
		p := sinkPlugin()
		cfg, err := p.Spec.Parse("", map[string]any{"file.dir": dir, "flush.size": 250000})
		if err != nil {
			b.Fatal(err)
		}
		sk, _ := p.New(cfg)
		tasks, _ := sk.Tasks(1)
		task := tasks[0]
		if err := task.Open(context.Background(), &sinkCtx{}); err != nil {
			b.Fatal(err)
		}
		tp := connectors.TopicPartition{Topic: "orders"}
		if err := task.Assign(context.Background(), []connectors.TopicPartition{tp}); err != nil {
			b.Fatal(err)
		}
		for off := int64(0); off < benchLines; off += batch {
			for i, r := range recs {
				r.Offset = off + int64(i)
			}
			if err := task.Put(context.Background(), recs); err != nil {
				b.Fatal(err)
			}
			if off%(50*batch) == 0 {
				if _, err := task.PreCommit(context.Background(), nil); err != nil {
					b.Fatal(err)
				}
			}
		}
		c, err := task.PreCommit(context.Background(), nil)
		if err != nil || c[tp] != benchLines {
			b.Fatalf("precommit %v %v", c, err)
		}
		task.Close()
		taskTime += time.Since(start)

		start = time.Now()
		f, err := os.Create(filepath.Join(dir, "plain.json"))
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 64<<10)
		var line []byte
		for off := int64(0); off < benchLines; off += batch {
			for _, r := range recs {
				line, err = connectjson.Append(line[:0], r.ValueSchema, r.Value, connectjson.Options{})
				if err != nil {
					b.Fatal(err)
				}
				line = append(line, '\n')
				w.Write(line)
			}
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		plainTime += time.Since(start)
	}
	total := float64(b.N * benchLines)
	b.ReportMetric(total/taskTime.Seconds(), "task_records/s")
	b.ReportMetric(total/plainTime.Seconds(), "plain_records/s")
	b.ReportMetric(plainTime.Seconds()/taskTime.Seconds(), "ratio")
}
