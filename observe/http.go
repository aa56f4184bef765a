package observe

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/core"
)

// The registry's request metrics.
const (
	registryRequestsName = "sluice_registry_http_requests_total"
	registryDurationName = "sluice_registry_http_request_duration_seconds"
)

// InstrumentRegistry wraps the Schema Registry's REST handler (see
// serde/registry.WithHandlerWrapper) with request counts and latencies.
// It may be used once per Metrics.
func (m *Metrics) InstrumentRegistry(h http.Handler) (http.Handler, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: registryRequestsName,
		Help: "Schema Registry REST requests, by method and status code."}, []string{"method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: registryDurationName,
		Help: "Schema Registry REST request latency, by method.", Buckets: prometheus.DefBuckets}, []string{"method"})
	for _, c := range []prometheus.Collector{requests, duration} {
		if err := m.reg.Register(c); err != nil {
			return nil, err
		}
	}
	return promhttp.InstrumentHandlerCounter(requests, promhttp.InstrumentHandlerDuration(duration, h)), nil
}

// Probe reports a component's health: nil when healthy, else why not.
type Probe func() error

// Checks are the probes of the two endpoints: Live for /healthz (restart
// the process when it fails), Ready for /readyz (send it traffic, count it
// as up in a rollout).
type Checks struct {
	Live, Ready []Probe
}

// Handler serves /metrics (Prometheus text format, from m; nil: none),
// /healthz and /readyz: 200 "ok", or 503 with one line per failing probe.
func Handler(m *Metrics, checks Checks) http.Handler {
	mux := http.NewServeMux()
	if m != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	}
	mux.HandleFunc("GET /healthz", probeHandler(checks.Live))
	mux.HandleFunc("GET /readyz", probeHandler(checks.Ready))
	return mux
}

func probeHandler(probes []Probe) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		var errs []string
		for _, p := range probes {
			if err := p(); err != nil {
				errs = append(errs, err.Error())
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if len(errs) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, strings.Join(errs, "\n"))
			return
		}
		fmt.Fprintln(w, "ok")
	}
}

// AppLive fails once the application stopped with an error (ERROR) or
// stopped (NOT_RUNNING): Kafka Streams' liveness rule.
func AppLive(app *core.App) Probe {
	return func() error {
		switch s := app.State(); s {
		case core.StateError, core.StateNotRunning:
			return fmt.Errorf("application %s", s)
		}
		return nil
	}
}

// AppReady passes while the application is RUNNING: every stream thread
// joined the group and no task is restoring its state.
func AppReady(app *core.App) Probe {
	return func() error {
		if s := app.State(); s != core.StateRunning {
			return fmt.Errorf("application %s", s)
		}
		return nil
	}
}

// ConnectorsLive fails when a connector task FAILED (the worker does not
// restart failed tasks; a process restart does).
func ConnectorsLive(statuses func() []worker.Status) Probe {
	return func() error {
		var errs []error
		for _, st := range statuses() {
			for _, t := range st.Tasks {
				if t.State == worker.StateFailed {
					errs = append(errs, fmt.Errorf("connector %s task %d FAILED: %s", st.Name, t.ID, t.Error))
				}
			}
		}
		return errors.Join(errs...)
	}
}

// ConnectorsReady passes while every connector task runs or has finished
// its bounded input.
func ConnectorsReady(statuses func() []worker.Status) Probe {
	return func() error {
		var errs []error
		for _, st := range statuses() {
			for _, t := range st.Tasks {
				if t.State != worker.StateRunning && t.State != worker.StateFinished {
					errs = append(errs, fmt.Errorf("connector %s task %d %s", st.Name, t.ID, t.State))
				}
			}
		}
		return errors.Join(errs...)
	}
}

// Serve serves h on addr (host:port) in the background and returns the
// address it listens on and a function that stops it: the one way the
// CLI's --http flags serve metrics and probes.
func Serve(addr string, h http.Handler) (net.Addr, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("observe: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr(), func() { _ = srv.Close() }, nil
}

// Statuses reads the statuses of conns, for WatchConnectors and the
// connector probes.
func Statuses(conns []*worker.Connector) func() []worker.Status {
	return func() []worker.Status {
		out := make([]worker.Status, len(conns))
		for i, c := range conns {
			out[i] = c.Status()
		}
		return out
	}
}
