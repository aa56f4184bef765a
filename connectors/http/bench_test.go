package httpconn_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	httpconn "github.com/sluicehq/sluice/connectors/http"
)

// drive posts n requests from clients goroutines and returns the time
// taken. keyed: each request carries its own Idempotency-Key.
func drive(b *testing.B, url string, n, clients int, body []byte, keyed bool) time.Duration {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := left.Add(-1)
				if i < 0 {
					break
				}
				req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				if keyed {
					req.Header.Set("Idempotency-Key", "delivery-"+strconv.FormatInt(i, 10))
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkSource measures webhook requests per second through the source
// task (JSON decoding, queueing, Poll, Commit answering the waiters), with
// a loop that commits every polled batch at once standing in for Kafka,
// next to a plain net/http handler that reads the body and answers 200,
// driven by the same 16 clients in the same run; keyed_req/s is the source
// again with a distinct Idempotency-Key on every request.
func BenchmarkSource(b *testing.B) {
	const clients = 16
	body := []byte(`{"id":12345,"customer":"c-42","items":[{"sku":"a","qty":2}],"total":19.99}`)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer plain.Close()

	p, _ := registry(b).Source("http")
	cfg, err := p.Spec.Parse("", map[string]any{"listen.address": "127.0.0.1:0", "topic": "t", "max.pending.requests": 10000})
	if err != nil {
		b.Fatal(err)
	}
	src, _ := p.New(cfg)
	tasks, _ := src.Tasks(1)
	task := tasks[0]
	tc := &fakeSourceCtx{fakeTaskCtx: newFakeTaskCtx(b)}
	tc.name = "bench-source"
	if err := task.Open(context.Background(), tc); err != nil {
		b.Fatal(err)
	}
	defer task.Close()
	addr, _ := httpconn.ListenAddr(context.Background(), tc.name)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			recs, err := task.Poll(ctx)
			if err != nil || len(recs) == 0 {
				continue
			}
			last := recs[len(recs)-1]
			task.Commit(ctx, []connectors.SourceOffset{{Partition: last.SourcePartition, Offset: last.SourceOffset}})
		}
	}()
	b.ResetTimer()
	plainTime := drive(b, plain.URL, b.N, clients, body, false)
	taskTime := drive(b, "http://"+addr.String()+"/", b.N, clients, body, false)
	// With idempotency keys: hashing, the window, its copy in every offset.
	keyedTime := drive(b, "http://"+addr.String()+"/", b.N, clients, body, true)
	b.ReportMetric(float64(b.N)/taskTime.Seconds(), "source_req/s")
	b.ReportMetric(float64(b.N)/keyedTime.Seconds(), "keyed_req/s")
	b.ReportMetric(float64(b.N)/plainTime.Seconds(), "plain_req/s")
	b.ReportMetric(plainTime.Seconds()/taskTime.Seconds(), "ratio")
}

// BenchmarkSink measures records per second through the sink task (100
// records of 100 bytes per request, 4 partitions, Put in chunks of 500 as
// the worker hands them) next to a plain loop POSTing the same bodies to
// the same server in the same run.
func BenchmarkSink(b *testing.B) {
	const batch, chunk = 100, 500
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		received.Add(n)
	}))
	defer srv.Close()
	value := strings.Repeat("v", 100)
	recs := make([]*connectors.Record, b.N)
	for i := range recs {
		recs[i] = &connectors.Record{Topic: "t", Partition: int32(i % 4), Offset: int64(i / 4), Value: value}
	}

	// Baseline: the same bodies, built and POSTed in a plain loop.
	client := &http.Client{}
	b.ResetTimer()
	start := time.Now()
	var buf bytes.Buffer
	for p := range 4 {
		for i := p; i < b.N; {
			buf.Reset()
			for j := 0; j < batch && i < b.N; j, i = j+1, i+4 {
				if j > 0 {
					buf.WriteByte('\n')
				}
				buf.WriteString(value)
			}
			resp, err := client.Post(srv.URL, "text/plain", bytes.NewReader(buf.Bytes()))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	plainTime := time.Since(start)

	p, _ := registry(b).Sink("http")
	cfg, err := p.Spec.Parse("", map[string]any{"http.api.url": srv.URL, "batch.max.size": batch})
	if err != nil {
		b.Fatal(err)
	}
	snk, _ := p.New(cfg)
	tasks, _ := snk.Tasks(1)
	task := tasks[0]
	if err := task.Open(context.Background(), &fakeSinkCtx{fakeTaskCtx: newFakeTaskCtx(b)}); err != nil {
		b.Fatal(err)
	}
	defer task.Close()
	start = time.Now()
	for i := 0; i < len(recs); i += chunk {
		if err := task.Put(context.Background(), recs[i:min(i+chunk, len(recs))]); err != nil {
			b.Fatal(err)
		}
	}
	taskTime := time.Since(start)
	b.StopTimer()
	if got, want := received.Load(), 2*int64(b.N)*int64(len(value)); got < want-2*int64(b.N) {
		b.Fatalf("received %d bytes, want about %d", got, want)
	}
	b.ReportMetric(float64(b.N)/taskTime.Seconds(), "sink_records/s")
	b.ReportMetric(float64(b.N)/plainTime.Seconds(), "plain_records/s")
	b.ReportMetric(plainTime.Seconds()/taskTime.Seconds(), "ratio")
}
