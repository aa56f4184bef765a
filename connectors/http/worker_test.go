package httpconn_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	httpconn "github.com/sluicehq/sluice/connectors/http"
	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/internal/converters"
	"github.com/sluicehq/sluice/internal/testbroker"
)

// The connectors run by the real worker against an in-process broker.

func startWorker(t *testing.T, b *testbroker.Broker, g core.ProcessingGuarantee) *worker.Worker {
	t.Helper()
	reg := connectors.NewRegistry()
	if err := converters.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := httpconn.Register(reg); err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Config{
		Brokers: []string{b.Addr()}, Plugins: reg, Guarantee: g,
		OffsetsTopicPartitions: 2,
		TransactionTimeout:     10 * time.Second,
		SessionTimeout:         2 * time.Second,
		Logger:                 slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	return w
}

func TestWorkerSourceAnswersOnlyDurableRequests(t *testing.T) {
	t.Parallel()
	for _, g := range []core.ProcessingGuarantee{core.AtLeastOnce, core.ExactlyOnceV2} {
		t.Run(string(g), func(t *testing.T) {
			t.Parallel()
			b := testbroker.New(t)
			// The worker's producer does not ask for auto-creation.
			b.CreateTopic(t, "events", 3, nil)
			w := startWorker(t, b, g)
			name := "webhook-" + string(g)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			conn, err := w.StartSource(ctx, map[string]any{
				"name": name, "type": "http", "listen.address": "127.0.0.1:0", "path": "/in",
				"topic": "events", "format": "json", "key.header": "X-Key",
				"key.converter": "string", "value.converter": "json", "value.converter.schemas.enable": false,
				"exactly.once.support": map[core.ProcessingGuarantee]string{core.AtLeastOnce: "requested", core.ExactlyOnceV2: "required"}[g],
			})
			if err != nil {
				t.Fatal(err)
			}
			addr, err := httpconn.ListenAddr(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			url := "http://" + addr.String() + "/in"
			const n = 20
			var wg sync.WaitGroup
			statuses := make([]int, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(fmt.Sprintf(`{"n":%d}`, i)))
					req.Header.Set("X-Key", fmt.Sprintf("k%d", i))
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Errorf("request %d: %v", i, err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					statuses[i] = resp.StatusCode
				}()
			}
			wg.Wait()
			// Every request answered 200 is in the topic, committed, exactly
			// once: read as read_committed right after the answers.
			var got []string
			for _, r := range b.ReadAll(t, "events") {
				got = append(got, string(r.Key)+"="+string(r.Value))
			}
			slices.Sort(got)
			var want []string
			for i, st := range statuses {
				if st != http.StatusOK {
					t.Errorf("request %d answered %d", i, st)
					continue
				}
				want = append(want, fmt.Sprintf(`k%d={"n":%d}`, i, i))
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("topic holds %q\nwant %q", got, want)
			}
			if err := conn.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := http.Post(url, "application/json", strings.NewReader(`{}`)); err == nil {
				t.Error("the listener still accepts requests after Stop")
			}
		})
	}
}

func TestWorkerSinkDeliversAndDeadLetters(t *testing.T) {
	t.Parallel()
	b := testbroker.New(t)
	b.CreateTopic(t, "orders", 2, nil)
	var mu sync.Mutex
	got := map[string]string{}
	srv := newAPIServer(t, func(r recorded, n int, w http.ResponseWriter) {
		if strings.HasSuffix(r.path, "/k3") {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, "k3 is not welcome")
			return
		}
		mu.Lock()
		got[r.path] = r.body
		mu.Unlock()
	})
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "orders", Partition: int32(i % 2), Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	b.Produce(t, recs...)
	w := startWorker(t, b, core.AtLeastOnce)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := w.StartSink(ctx, map[string]any{
		"name": "orders-api", "type": "http", "topics": "orders",
		"http.api.url": srv.URL + "/orders/${key}", "request.body.format": "json",
		"key.converter": "string", "value.converter": "json", "value.converter.schemas.enable": false,
		"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "orders-dlq",
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API received %d records, want 9", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range 10 {
		if i == 3 {
			continue
		}
		if body := got[fmt.Sprintf("/orders/k%d", i)]; body != fmt.Sprintf(`{"n":%d}`, i) {
			t.Errorf("k%d: %q", i, body)
		}
	}
	var dlq []*kgo.Record
	for time.Now().Before(deadline) {
		if dlq = b.ReadAll(t, "orders-dlq"); len(dlq) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(dlq) != 1 || string(dlq[0].Key) != "k3" {
		t.Fatalf("dead letters %v, want k3", dlq)
	}
	headers := map[string]string{}
	for _, h := range dlq[0].Headers {
		headers[h.Key] = string(h.Value)
	}
	if msg := headers["__connect.errors.exception.message"]; !strings.Contains(msg, "400") || !strings.Contains(msg, "k3 is not welcome") {
		t.Errorf("dead letter's message %q lacks the status and response", msg)
	}
	if headers["__connect.errors.stage"] != "TASK_PUT" || headers["__connect.errors.topic"] != "orders" {
		t.Errorf("dead letter headers %v", headers)
	}
	if err := conn.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
