// Package registry runs an embedded, Confluent-compatible Schema Registry
// backed by a Kafka cluster, in-process or as `sluice registry`.
//
// It serves the Confluent REST API that clients use (subjects, versions,
// look-up, schemas by id, compatibility checks, config and mode, soft and
// permanent deletion, references) for Avro schemas, and keeps its state in
// a compacted single-partition topic ("_schemas" by default), so state
// survives restarts and several instances on one cluster hand out the same
// global ids. Ids are allocated without a leader: every write is a claim
// appended to the topic, and the log order decides (see the DESIGN section
// in the internal/registry package documentation).
//
// Start one:
//
//	reg, err := registry.New(ctx, registry.WithBrokers("127.0.0.1:9092"))
//	if err != nil { ... }
//	defer reg.Close()
//	ln, _ := net.Listen("tcp", "127.0.0.1:8081")
//	go reg.Serve(ln)
//
// or mount reg.Handler() in your own http.Server.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	internal "github.com/sluicehq/sluice/internal/registry"
)

// Registry is a running registry instance. Its methods are safe for
// concurrent use.
type Registry struct {
	store   *internal.Store
	handler http.Handler
	log     *slog.Logger

	mu      sync.Mutex
	servers []*http.Server
	closed  bool
}

type config struct {
	brokers   []string
	topic     string
	auth      internal.BasicAuth
	logger    *slog.Logger
	kafkaOpts []kgo.Opt
	wrap      func(http.Handler) http.Handler
}

// Option configures New.
type Option func(*config)

// WithHandlerWrapper wraps the REST API's handler (Handler and Serve), for
// instrumentation such as request metrics. Default: none.
func WithHandlerWrapper(wrap func(http.Handler) http.Handler) Option {
	return func(c *config) { c.wrap = wrap }
}

// WithBrokers sets the Kafka seed brokers. Default: 127.0.0.1:9092.
func WithBrokers(addrs ...string) Option {
	return func(c *config) { c.brokers = append([]string(nil), addrs...) }
}

// WithTopic sets the topic holding the registry's state. Default
// "_schemas". It is created (1 partition, cleanup.policy=compact) when
// missing; an existing topic must have exactly one partition.
func WithTopic(topic string) Option {
	return func(c *config) { c.topic = topic }
}

// WithBasicAuth requires HTTP basic auth with this user and password on
// every request. Default: no authentication.
func WithBasicAuth(user, password string) Option {
	return func(c *config) { c.auth = internal.BasicAuth{User: user, Password: password} }
}

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithKafkaOptions appends franz-go client options (TLS, SASL, ...) after
// the registry's own. Default: none.
func WithKafkaOptions(opts ...kgo.Opt) Option {
	return func(c *config) { c.kafkaOpts = append(c.kafkaOpts, opts...) }
}

// New connects to Kafka, creates the topic if needed and reads it to its
// end before returning, so the registry serves the cluster's current state.
func New(ctx context.Context, opts ...Option) (*Registry, error) {
	cfg := config{brokers: []string{"127.0.0.1:9092"}, topic: "_schemas"}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	store, err := internal.OpenStore(ctx, internal.StoreConfig{
		Brokers:   cfg.brokers,
		Topic:     cfg.topic,
		KafkaOpts: cfg.kafkaOpts,
		Logger:    cfg.logger,
	})
	if err != nil {
		return nil, err
	}
	svc := internal.NewService(store)
	handler := internal.NewHandler(svc, cfg.auth, cfg.logger)
	if cfg.wrap != nil {
		handler = cfg.wrap(handler)
	}
	return &Registry{
		store:   store,
		handler: handler,
		log:     cfg.logger,
	}, nil
}

// Handler returns the REST API as an http.Handler.
func (r *Registry) Handler() http.Handler { return r.handler }

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("registry: closed")

// Serve serves the REST API on ln until Close; it then returns ErrClosed.
func (r *Registry) Serve(ln net.Listener) error {
	srv := &http.Server{Handler: r.handler, ReadHeaderTimeout: 10 * time.Second}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	r.servers = append(r.servers, srv)
	r.mu.Unlock()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return ErrClosed
	}
	return fmt.Errorf("registry: serve on %s: %w", ln.Addr(), err)
}

// Close stops every Serve (waiting up to 5 s for requests in flight) and
// disconnects from Kafka. The topic keeps the state.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	servers := r.servers
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, s := range servers {
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("registry: shut down http server: %w", err))
		}
	}
	r.store.Close()
	return errors.Join(errs...)
}

// CompatibilityLevel is one of Confluent's seven levels.
type CompatibilityLevel = internal.Level

// The compatibility levels.
const (
	None               = internal.None
	Backward           = internal.Backward
	BackwardTransitive = internal.BackwardTransitive
	Forward            = internal.Forward
	ForwardTransitive  = internal.ForwardTransitive
	Full               = internal.Full
	FullTransitive     = internal.FullTransitive
)

// ParseCompatibilityLevel accepts a level name in any case.
func ParseCompatibilityLevel(s string) (CompatibilityLevel, error) {
	l, ok := internal.ParseLevel(s)
	if !ok {
		return "", fmt.Errorf("registry: invalid compatibility level %q: valid values are NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL and FULL_TRANSITIVE", s)
	}
	return l, nil
}

// CheckCompatibility checks the Avro schema newSchema against previous
// (Avro schemas, oldest first, as registered versions 1..n) under level,
// exactly as registration does, without a running registry. It returns
// Confluent-style verbose messages, empty when compatible, or an error
// when a schema does not parse. Schemas with references are not supported
// here (use the REST compatibility endpoint).
func CheckCompatibility(level CompatibilityLevel, newSchema string, previous ...string) ([]string, error) {
	candidate, err := internal.ParseSchema("", newSchema, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("registry: new schema: %w", err)
	}
	prev := make([]*internal.Schema, 0, len(previous))
	for i, text := range previous {
		p, err := internal.ParseSchema("", text, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("registry: previous schema %d: %w", i+1, err)
		}
		p.Version = i + 1
		prev = append(prev, p)
	}
	return internal.CheckCompatibility(level, candidate, prev), nil
}
