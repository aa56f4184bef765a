// Package connbench measures Sluice's connectors against plain baselines
// run in the same process on the same broker: a file source against a plain
// franz-go producer of the same lines, a file sink against a plain
// consume-and-write loop, an S3 sink (to an in-process S3 server) against
// a plain consume-and-PutObject loop. The ratio is what BENCHMARKS.md's
// targets are about; absolute numbers drift between runs and machines.
package connbench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/bundled"
	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/kafka"
)

// Config sets the workload.
type Config struct {
	Brokers    []string
	Records    int   // default 1,000,000
	ValueBytes int   // default 100
	Partitions int32 // default 4
	Rounds     int   // alternating rounds; medians are reported (default 1)
	// Only selects the comparisons: file-source, file-sink, s3-sink
	// (default: all).
	Only []string
}

func (c *Config) defaults() {
	if c.Records == 0 {
		c.Records = 1_000_000
	}
	if c.ValueBytes == 0 {
		c.ValueBytes = 100
	}
	if c.Partitions == 0 {
		c.Partitions = 4
	}
	if c.Rounds == 0 {
		c.Rounds = 1
	}
}

// Result is one measured run.
type Result struct {
	Name     string
	Records  int
	Duration time.Duration // from the first record read to everything durable
	PeakHeap uint64        // the process's peak in-use heap during the run (sampled)
}

// PerSec is the run's throughput.
func (r Result) PerSec() float64 { return float64(r.Records) / r.Duration.Seconds() }

// heapSampler records the peak in-use heap while running.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak atomic.Uint64
}

func sampleHeap() *heapSampler {
	runtime.GC()
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > h.peak.Load() {
				h.peak.Store(m.HeapInuse)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) end() uint64 {
	close(h.stop)
	<-h.done
	return h.peak.Load()
}

// firstMetric is a core.Metrics that notes when a counter was first
// reported (the connector's first poll or read) and when the last offset
// commit ended.
type firstMetric struct {
	name       string
	first      atomic.Int64
	lastCommit atomic.Int64
}

func (m *firstMetric) Counter(name string, _ int64, _ ...core.Label) {
	if name == m.name && m.first.Load() == 0 {
		m.first.CompareAndSwap(0, time.Now().UnixNano())
	}
}
func (m *firstMetric) Gauge(string, float64, ...core.Label) {}
func (m *firstMetric) Histogram(name string, _ float64, _ ...core.Label) {
	if name == "offset_commit_seconds" {
		m.lastCommit.Store(time.Now().UnixNano())
	}
}
func (m *firstMetric) since() time.Duration { return time.Since(time.Unix(0, m.first.Load())) }

// untilLastCommit is the time from the first read to the last commit: the
// work, without closing clients and leaving groups.
func (m *firstMetric) untilLastCommit() time.Duration {
	return time.Duration(m.lastCommit.Load() - m.first.Load())
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Run runs the selected comparisons, cfg.Rounds times each (alternating
// the baseline and Sluice, the baseline first in odd-numbered rounds and
// last in even-numbered ones), and prints the medians and ratios.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	cfg.defaults()
	dir, err := os.MkdirTemp("", "sluice-connbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	want := func(name string) bool {
		if len(cfg.Only) == 0 {
			return true
		}
		for _, o := range cfg.Only {
			if o == name {
				return true
			}
		}
		return false
	}
	type pair struct {
		name     string
		baseline func(round int) (Result, error)
		sluice   []func(round int) (Result, error)
	}
	var pairs []pair
	if want("file-source") {
		input := filepath.Join(dir, "input.txt")
		if err := writeInput(input, cfg); err != nil {
			return err
		}
		pairs = append(pairs, pair{"file source → Kafka",
			func(r int) (Result, error) { return PlainProducer(ctx, cfg, input, fmt.Sprintf("plain-out-%d", r)) },
			[]func(int) (Result, error){
				func(r int) (Result, error) {
					return FileSource(ctx, cfg, input, fmt.Sprintf("alos-%d", r), core.AtLeastOnce, nil)
				},
				func(r int) (Result, error) {
					return FileSource(ctx, cfg, input, fmt.Sprintf("eos-%d", r), core.ExactlyOnceV2, nil)
				},
				func(r int) (Result, error) {
					return FileSource(ctx, cfg, input, fmt.Sprintf("eos-int-%d", r), core.ExactlyOnceV2,
						map[string]any{"transaction.boundary": "interval", "transaction.boundary.interval.ms": 100})
				},
			}})
	}
	if want("file-sink") || want("s3-sink") {
		if err := fillTopic(ctx, cfg); err != nil {
			return err
		}
	}
	if want("file-sink") {
		pairs = append(pairs, pair{"Kafka → file sink",
			// Each run's files are removed after it (they are durable by
			// then): the page cache starts every run alike.
			func(r int) (Result, error) {
				d := filepath.Join(dir, fmt.Sprintf("plain-%d", r))
				defer os.RemoveAll(d)
				return PlainFileWriter(ctx, cfg, d)
			},
			[]func(int) (Result, error){func(r int) (Result, error) {
				d := filepath.Join(dir, fmt.Sprintf("sink-%d", r))
				defer os.RemoveAll(d)
				return FileSink(ctx, cfg, d, fmt.Sprintf("file-sink-%d", r))
			}}})
	}
	if want("s3-sink") {
		srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
		defer srv.Close()
		pairs = append(pairs, pair{"Kafka → s3 sink (gofakes3 in process)",
			func(r int) (Result, error) { return PlainS3Writer(ctx, cfg, srv.URL, fmt.Sprintf("plain-%d", r)) },
			[]func(int) (Result, error){func(r int) (Result, error) {
				return S3Sink(ctx, cfg, srv.URL, fmt.Sprintf("sink-%d", r), fmt.Sprintf("s3-sink-%d", r))
			}}})
	}
	for _, p := range pairs {
		fmt.Fprintf(out, "%s (%d records of %d bytes, %d partitions, %d round(s))\n", p.name, cfg.Records, cfg.ValueBytes, cfg.Partitions, cfg.Rounds)
		base := make([]Result, 0, cfg.Rounds)
		runs := make([][]Result, len(p.sluice))
		for round := 0; round < cfg.Rounds; round++ {
			baseline := func() error {
				b, err := p.baseline(round)
				if err != nil {
					return fmt.Errorf("connbench: %s baseline: %w", p.name, err)
				}
				base = append(base, b)
				fmt.Fprintf(out, "  round %d  %-58s %10.0f records/s  peak heap %4d MiB\n", round+1, b.Name, b.PerSec(), b.PeakHeap>>20)
				return nil
			}
			// Odd rounds run the baseline last: whatever the machine
			// carries over from one run to the next (dirty pages being
			// written back, a grown heap) falls on both sides alike.
			if round%2 == 0 {
				if err := baseline(); err != nil {
					return err
				}
			}
			for i, run := range p.sluice {
				r, err := run(round)
				if err != nil {
					return fmt.Errorf("connbench: %s: %w", p.name, err)
				}
				runs[i] = append(runs[i], r)
				fmt.Fprintf(out, "  round %d  %-58s %10.0f records/s  peak heap %4d MiB\n", round+1, r.Name, r.PerSec(), r.PeakHeap>>20)
			}
			if round%2 == 1 {
				if err := baseline(); err != nil {
					return err
				}
			}
		}
		mb := median(base)
		fmt.Fprintf(out, "  median   %-58s %10.0f records/s\n", base[0].Name, mb)
		for _, rs := range runs {
			m := median(rs)
			fmt.Fprintf(out, "  median   %-58s %10.0f records/s  %5.1f%% of the baseline\n", rs[0].Name, m, 100*m/mb)
		}
		fmt.Fprintln(out)
	}
	return nil
}

func median(rs []Result) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = r.PerSec()
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func line(i, size int) []byte {
	b := fmt.Appendf(nil, "line-%09d-", i)
	for len(b) < size {
		b = append(b, 'x')
	}
	return b[:size]
}

func writeInput(path string, cfg Config) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range cfg.Records {
		w.Write(line(i, cfg.ValueBytes))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func admin(cfg Config) (*kadm.Client, *kgo.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl, nil
}

func ensureTopic(ctx context.Context, cfg Config, topic string) error {
	adm, cl, err := admin(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	return kafka.EnsureTopics(ctx, adm, cfg.Partitions, -1, nil, topic)
}

func deleteTopic(cfg Config, topic string) {
	adm, cl, err := admin(cfg)
	if err != nil {
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = adm.DeleteTopics(ctx, topic)
}

// PlainProducer is the file source's baseline: read the file line by line
// and produce every line with a plain franz-go producer, then flush.
func PlainProducer(ctx context.Context, cfg Config, input, topic string) (Result, error) {
	if err := ensureTopic(ctx, cfg, topic); err != nil {
		return Result{}, err
	}
	defer deleteTopic(cfg, topic)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		return Result{}, err
	}
	defer cl.Close()
	h := sampleHeap()
	start := time.Now()
	f, err := os.Open(input)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var failed atomic.Pointer[error]
	n := 0
	for sc.Scan() {
		cl.Produce(ctx, &kgo.Record{Value: bytes.Clone(sc.Bytes())}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
		n++
	}
	if err := sc.Err(); err != nil {
		return Result{}, err
	}
	if err := cl.Flush(ctx); err != nil {
		return Result{}, err
	}
	if p := failed.Load(); p != nil {
		return Result{}, *p
	}
	return Result{Name: "plain franz-go producer of the lines", Records: n, Duration: time.Since(start), PeakHeap: h.end()}, nil
}

func newWorker(cfg Config, g core.ProcessingGuarantee, m core.Metrics) (*worker.Worker, error) {
	return worker.New(worker.Config{Brokers: cfg.Brokers, Plugins: bundled.Registry(), Guarantee: g,
		Logger: quiet(), Metrics: m, OffsetsTopic: "connbench-offsets"})
}

// FileSource runs the file source (bounded) into a topic until it has
// written and committed every line.
func FileSource(ctx context.Context, cfg Config, input, name string, g core.ProcessingGuarantee, extra map[string]any) (Result, error) {
	topic := "connbench-" + name
	if err := ensureTopic(ctx, cfg, topic); err != nil {
		return Result{}, err
	}
	defer deleteTopic(cfg, topic)
	m := &firstMetric{name: "source_record_poll_total"}
	w, err := newWorker(cfg, g, m)
	if err != nil {
		return Result{}, err
	}
	conf := map[string]any{"name": name, "type": "file", "file": input, "topic": topic, "tail": false,
		"key.converter": "string", "value.converter": "string"}
	for k, v := range extra {
		conf[k] = v
	}
	h := sampleHeap()
	c, err := w.StartSource(ctx, conf)
	if err != nil {
		return Result{}, err
	}
	if err := c.Wait(ctx); err != nil {
		return Result{}, err
	}
	<-c.Done()
	d := m.since()
	label := "Sluice file source, at-least-once"
	if g == core.ExactlyOnceV2 {
		label = "Sluice file source, exactly-once (a transaction per poll)"
		if extra != nil {
			label = "Sluice file source, exactly-once (transactions of 100 ms)"
		}
	}
	st := c.Status()
	var written int64
	for _, t := range st.Tasks {
		written += t.Written
	}
	if written != int64(cfg.Records) {
		return Result{}, fmt.Errorf("%s wrote %d records, want %d", label, written, cfg.Records)
	}
	return Result{Name: label, Records: cfg.Records, Duration: d, PeakHeap: h.end()}, nil
}

const benchInput = "connbench-input"

// fillTopic writes the sinks' input.
func fillTopic(ctx context.Context, cfg Config) error {
	if err := ensureTopic(ctx, cfg, benchInput); err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(benchInput))
	if err != nil {
		return err
	}
	defer cl.Close()
	for i := range cfg.Records {
		cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "key-%d", i%1000), Value: line(i, cfg.ValueBytes)}, nil)
	}
	return cl.Flush(ctx)
}

// inputConsumer is the baselines' consumer: every partition of the input
// topic from its start, without a group.
func inputConsumer(cfg Config) (*kgo.Client, error) {
	parts := map[string]map[int32]kgo.Offset{benchInput: {}}
	for p := range cfg.Partitions {
		parts[benchInput][p] = kgo.NewOffset().AtStart()
	}
	return kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ConsumePartitions(parts))
}

// PlainFileWriter is the file sink's baseline: consume every partition
// and append each value and a newline to one file per partition, then
// flush, fsync and close them.
func PlainFileWriter(ctx context.Context, cfg Config, dir string) (Result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, err
	}
	cl, err := inputConsumer(cfg)
	if err != nil {
		return Result{}, err
	}
	defer cl.Close()
	h := sampleHeap()
	files := map[int32]*os.File{}
	writers := map[int32]*bufio.Writer{}
	var first time.Time
	n := 0
	for n < cfg.Records {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if first.IsZero() && fs.NumRecords() > 0 {
			first = time.Now()
		}
		var werr error
		fs.EachRecord(func(r *kgo.Record) {
			w, ok := writers[r.Partition]
			if !ok {
				f, err := os.Create(filepath.Join(dir, fmt.Sprintf("p%d.txt", r.Partition)))
				if err != nil {
					werr = err
					return
				}
				files[r.Partition], w = f, bufio.NewWriterSize(f, 64<<10)
				writers[r.Partition] = w
			}
			w.Write(r.Value)
			w.WriteByte('\n')
			n++
		})
		if werr != nil {
			return Result{}, werr
		}
	}
	for p, w := range writers {
		if err := w.Flush(); err != nil {
			return Result{}, err
		}
		if err := files[p].Sync(); err != nil {
			return Result{}, err
		}
		if err := files[p].Close(); err != nil {
			return Result{}, err
		}
	}
	return Result{Name: "plain consume-and-write loop (fsync at the end)", Records: n, Duration: time.Since(first), PeakHeap: h.end()}, nil
}

// runSink runs a sink connector over the input topic until it has handed
// over every record, then stops it gracefully (its final commit counts).
func runSink(ctx context.Context, cfg Config, label string, conf map[string]any) (Result, error) {
	m := &firstMetric{name: "sink_record_read_total"}
	w, err := newWorker(cfg, core.AtLeastOnce, m)
	if err != nil {
		return Result{}, err
	}
	h := sampleHeap()
	c, err := w.StartSink(ctx, conf)
	if err != nil {
		return Result{}, err
	}
	ends, err := endOffsets(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	for {
		done := true
		pos := c.Positions()
		for tp, end := range ends {
			if pos[tp] < end {
				done = false
			}
		}
		if done {
			break
		}
		select {
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-c.Done():
			return Result{}, fmt.Errorf("%s stopped early: %+v", label, c.Status())
		case <-time.After(2 * time.Millisecond):
		}
	}
	if err := c.Stop(ctx); err != nil {
		return Result{}, err
	}
	// The graceful stop completes the open files and commits: the work
	// ends with that commit (leaving the group and closing are not timed).
	d := m.untilLastCommit()
	for _, t := range c.Status().Tasks {
		if t.Error != "" {
			return Result{}, errors.New(t.Error)
		}
	}
	return Result{Name: label, Records: cfg.Records, Duration: d, PeakHeap: h.end()}, nil
}

func endOffsets(ctx context.Context, cfg Config) (map[connectors.TopicPartition]int64, error) {
	adm, cl, err := admin(cfg)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := adm.ListEndOffsets(ctx, benchInput)
	if err != nil {
		return nil, err
	}
	out := map[connectors.TopicPartition]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		out[connectors.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
	})
	return out, nil
}

// FileSink runs the file sink (lines, files of 100,000 records, each
// fsynced and renamed into place) over the input topic.
func FileSink(ctx context.Context, cfg Config, dir, name string) (Result, error) {
	return runSink(ctx, cfg, "Sluice file sink (lines, 100k-record files)", map[string]any{
		"name": name, "type": "file", "topics": benchInput, "file.dir": dir, "format": "lines", "flush.size": 100000,
		"key.converter": "bytes", "value.converter": "bytes"})
}

// PlainS3Writer is the S3 sink's baseline: consume every partition and put
// one object per 100,000 values (JSON lines) per partition.
func PlainS3Writer(ctx context.Context, cfg Config, endpoint, bucket string) (Result, error) {
	mc, err := s3Client(endpoint)
	if err != nil {
		return Result{}, err
	}
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		return Result{}, err
	}
	cl, err := inputConsumer(cfg)
	if err != nil {
		return Result{}, err
	}
	defer cl.Close()
	h := sampleHeap()
	bufs := map[int32]*bytes.Buffer{}
	counts := map[int32]int{}
	starts := map[int32]int64{}
	put := func(p int32) error {
		key := fmt.Sprintf("topics/%s/partition=%d/%s+%d+%010d.json", benchInput, p, benchInput, p, starts[p])
		b := bufs[p]
		_, err := mc.PutObject(ctx, bucket, key, bytes.NewReader(b.Bytes()), int64(b.Len()), minio.PutObjectOptions{})
		b.Reset()
		counts[p] = 0
		return err
	}
	var first time.Time
	n := 0
	var mu sync.Mutex
	for n < cfg.Records {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if first.IsZero() && fs.NumRecords() > 0 {
			first = time.Now()
		}
		var perr error
		mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			b, ok := bufs[r.Partition]
			if !ok {
				b = &bytes.Buffer{}
				bufs[r.Partition] = b
			}
			if counts[r.Partition] == 0 {
				starts[r.Partition] = r.Offset
			}
			b.WriteByte('"')
			b.Write(r.Value)
			b.WriteString("\"\n")
			counts[r.Partition]++
			n++
			if counts[r.Partition] == 100000 && perr == nil {
				perr = put(r.Partition)
			}
		})
		mu.Unlock()
		if perr != nil {
			return Result{}, perr
		}
	}
	for p, c := range counts {
		if c > 0 {
			if err := put(p); err != nil {
				return Result{}, err
			}
		}
	}
	return Result{Name: "plain consume-and-PutObject loop (100k values per object)", Records: n, Duration: time.Since(first), PeakHeap: h.end()}, nil
}

func s3Client(endpoint string) (*minio.Client, error) {
	host := strings.TrimPrefix(endpoint, "http://")
	return minio.New(host, &minio.Options{Creds: credentials.NewStaticV4("bench", "bench", ""), Region: "us-east-1"})
}

// S3Sink runs the s3 sink (JSON lines, 100,000 records per object) over the
// input topic.
func S3Sink(ctx context.Context, cfg Config, endpoint, bucket, name string) (Result, error) {
	mc, err := s3Client(endpoint)
	if err != nil {
		return Result{}, err
	}
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		return Result{}, err
	}
	return runSink(ctx, cfg, "Sluice s3 sink (JSON, 100k-record objects)", map[string]any{
		"name": name, "type": "s3", "topics": benchInput, "s3.bucket.name": bucket, "store.url": endpoint,
		"aws.access.key.id": "bench", "aws.secret.access.key": "bench", "s3.region": "us-east-1",
		"format.class": "json", "flush.size": 100000, "key.converter": "bytes", "value.converter": "string"})
}
