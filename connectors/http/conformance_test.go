package httpconn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/connectortest"
	httpconn "github.com/sluicehq/sluice/connectors/http"
	"github.com/sluicehq/sluice/internal/converters"
)

// The connector conformance suite (connectors/connectortest) run on the
// http source and sink in the real worker.

func conformanceRegistry(t *testing.T, source func(connectors.SourcePlugin) connectors.SourcePlugin) *connectors.Registry {
	t.Helper()
	plain := connectors.NewRegistry()
	if err := httpconn.Register(plain); err != nil {
		t.Fatal(err)
	}
	src, err := plain.Source("http")
	if err != nil {
		t.Fatal(err)
	}
	snk, err := plain.Sink("http")
	if err != nil {
		t.Fatal(err)
	}
	reg := connectors.NewRegistry()
	if err := converters.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddSource(source(*src)); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddSink(*snk); err != nil {
		t.Fatal(err)
	}
	return reg
}

func jsonID(b []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return "undecodable: " + string(b)
	}
	return v.ID
}

// webhookClient plays the senders of webhooks in the source scenarios:
// each item is one POST of {"id":..,"n":..} with an Idempotency-Key
// header, sent from its own goroutine and retried, as webhook providers do,
// until it is answered 2xx: after connection errors (the connector is
// stopped, or its task is moving), 429 and 5xx (a request waiting for its
// commit when the task stops or crashes is answered 503). A 4xx other than
// 429 is final (the malformed body of the poison scenarios is answered
// 400). The listener has port 0, so its address changes at every start:
// the client finds it with httpconn.ListenAddr under the connector's name,
// as a program embedding the connector would.
type webhookClient struct {
	ctx    context.Context
	client *http.Client
	name   func() string // the running connector's name, "" until a task opened
	wg     sync.WaitGroup
	sem    chan struct{} // bounds requests in flight
}

func (c *webhookClient) send(t *testing.T, body string, header http.Header) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for attempt := 0; c.ctx.Err() == nil; attempt++ {
			if attempt > 0 {
				select {
				case <-time.After(20 * time.Millisecond):
				case <-c.ctx.Done():
					return
				}
			}
			name := c.name()
			if name == "" {
				continue
			}
			actx, cancel := context.WithTimeout(c.ctx, time.Second)
			addr, err := httpconn.ListenAddr(actx, name)
			cancel()
			if err != nil {
				continue
			}
			select {
			case c.sem <- struct{}{}:
			case <-c.ctx.Done():
				return
			}
			status, err := c.post("http://"+addr.String()+"/hook", body, header)
			<-c.sem
			switch {
			case err != nil, status == http.StatusTooManyRequests, status >= 500:
				continue // retried, as a webhook sender does
			case status >= 300 && c.ctx.Err() == nil:
				if status != http.StatusBadRequest || !strings.HasPrefix(body, "{not") {
					t.Errorf("webhook %s answered %d", body, status)
				}
			}
			return
		}
	}()
}

func (c *webhookClient) post(url, body string, header http.Header) (int, error) {
	req, err := http.NewRequestWithContext(c.ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = header.Clone()
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestConformanceSource runs the source scenarios against webhook senders
// that retry until they are answered 2xx (webhookClient).
//
// What the scenarios mean for a webhook receiver, which cannot replay its
// input: the suite's "outside system" is the senders, and an item is
// delivered once its sender has a 2xx. A request is answered 200 only once
// its records are committed (its sequence number in a committed offset);
// one in flight when the task stops or crashes is answered 503 (or its
// connection breaks) and sent again to the next listener. Under
// at_least_once a crash can leave records written whose offsets are not
// committed: their retries write them again, which the suite allows.
// Under exactly_once_v2 the records and their offset are committed in one
// transaction, but a crash can still come between that commit and the
// answers: the retries of those requests carry the same Idempotency-Key,
// which the restarted task finds in the idempotency window of the
// committed offset and answers 200 without writing again. That is what
// makes the suite's exactly-once check hold (without the window, about
// one run in ten duplicated the last transaction before a crash). Graceful
// stops and moves commit before the task closes, so nothing is written
// twice there in either guarantee.
func TestConformanceSource(t *testing.T) {
	t.Parallel()
	var (
		opened atomic.Pointer[string] // the connector name of the last task opened
		client *webhookClient
	)
	reg := conformanceRegistry(t, func(p connectors.SourcePlugin) connectors.SourcePlugin {
		return recordName(p, &opened)
	})
	connectortest.TestSource(t, connectortest.Source{
		Plugins: reg,
		Config: func(t *testing.T, topic string) map[string]any {
			ctx, cancel := context.WithCancel(context.Background())
			opened.Store(new(string))
			client = &webhookClient{
				ctx:    ctx,
				client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
				name:   func() string { return *opened.Load() },
				sem:    make(chan struct{}, 32),
			}
			c := client
			t.Cleanup(func() {
				cancel()
				c.wg.Wait()
				c.client.CloseIdleConnections()
			})
			return map[string]any{
				"type": "http", "listen.address": "127.0.0.1:0", "path": "/hook", "topic": topic, "format": "json",
				"value.converter": "json", "value.converter.schemas.enable": false,
			}
		},
		Append: func(t *testing.T, from, n int) []string {
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("item-%05d", from+i)
				client.send(t, fmt.Sprintf(`{"id":%q,"n":%d}`, ids[i], from+i), http.Header{"Idempotency-Key": {ids[i]}})
			}
			return ids
		},
		ID:          func(r *kgo.Record) string { return jsonID(r.Value) },
		Poison:      func(t *testing.T) { client.send(t, "{not json", http.Header{}) },
		ExactlyOnce: true,
	})
}

// recordName wraps the source plugin so that its tasks record the
// connector's name when they open: the suite names the connector after
// Config, and the client needs the name to find the listener.
func recordName(p connectors.SourcePlugin, name *atomic.Pointer[string]) connectors.SourcePlugin {
	newSource := p.New
	p.New = func(cfg *connectors.Config) (connectors.Source, error) {
		src, err := newSource(cfg)
		if err != nil {
			return nil, err
		}
		return namedSource{src, name}, nil
	}
	return p
}

type namedSource struct {
	connectors.Source
	name *atomic.Pointer[string]
}

func (s namedSource) Tasks(max int) ([]connectors.SourceTask, error) {
	tasks, err := s.Source.Tasks(max)
	for i, task := range tasks {
		tasks[i] = namedTask{task, s.name}
	}
	return tasks, err
}

type namedTask struct {
	connectors.SourceTask
	name *atomic.Pointer[string]
}

func (t namedTask) Open(ctx context.Context, tc connectors.SourceTaskContext) error {
	name := tc.Connector()
	t.name.Store(&name)
	return t.SourceTask.Open(ctx, tc)
}

// TestConformanceSink runs the sink scenarios against an API that records
// the bodies it receives: batches of up to 10 JSON values, one a line.
// The sink is at least once (after a crash, records after the last
// committed offset are sent again).
func TestConformanceSink(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		bodies []string
	)
	connectortest.TestSink(t, connectortest.Sink{
		Plugins: conformanceRegistry(t, func(p connectors.SourcePlugin) connectors.SourcePlugin { return p }),
		Config: func(t *testing.T) map[string]any {
			mu.Lock()
			bodies = nil
			mu.Unlock()
			srv := newAPIServer(t, func(r recorded, n int, w http.ResponseWriter) {
				mu.Lock()
				bodies = append(bodies, r.body)
				mu.Unlock()
			})
			return map[string]any{
				"type": "http", "http.api.url": srv.URL + "/in", "request.body.format": "json",
				"batch.max.size": 10, "retry.backoff.ms": 50,
				"key.converter": "string", "value.converter": "json", "value.converter.schemas.enable": false,
			}
		},
		Written: func(t *testing.T) []string {
			mu.Lock()
			defer mu.Unlock()
			var ids []string
			for _, b := range bodies {
				for _, line := range strings.Split(strings.TrimSuffix(b, "\n"), "\n") {
					ids = append(ids, jsonID([]byte(line)))
				}
			}
			return ids
		},
	})
}
