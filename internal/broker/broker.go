// Package broker runs Sluice's embedded, single-node Kafka-protocol broker
// (franz-go's kfake) for development, demos and tests; `sluice broker` is its
// command. It is not a production broker: production uses a real
// Kafka-compatible cluster.
//
// Start one with [Start] and stop it with [Broker.Close]:
//
//	b, err := broker.Start(broker.Config{Listen: "127.0.0.1:0"})
//	if err != nil { ... }
//	defer b.Close()
//	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
//
// Any Kafka client (franz-go, librdkafka, Java) can list metadata, produce,
// consume in classic and KIP-848 consumer groups and use transactions
// through it. Topics are auto-created on first use with
// [Config.Partitions] partitions.
//
// # Behaviour that matters to Sluice
//
//   - Transactions whose transaction timeout expires are aborted by the
//     broker's own timer when the timeout passes, with no other request
//     needed: abort markers are written, the last stable offset advances
//     and the producer epoch is bumped, so the stale producer's
//     EndTxn(commit) fails (INVALID_TXN_STATE from kfake, where Kafka may
//     say PRODUCER_FENCED). A new producer initialising the same
//     transactional ID aborts the old one's open transaction at once.
//     transaction.max.timeout.ms keeps Kafka's default (15 minutes).
//   - Unlike Kafka, re-initialising an existing transactional ID keeps the
//     transaction timeout it was first initialised with, until the ID
//     expires (7 days idle; a data dir keeps it across restarts). Change a
//     producer's timeout together with its transactional ID, or start from
//     an empty data dir.
//   - Static group membership (group.instance.id) works: a member rejoining
//     with the same instance ID replaces the old one at once, without
//     waiting for the session timeout and without a rebalance when its
//     subscription is unchanged.
//   - Compaction runs every 30 s (kfake's own cleaner is off: it would
//     compact records of open transactions, losing committed values of
//     keys whose later value is aborted; internal/kfakecompact runs it only
//     when no compacted partition has an open transaction), and KIP-848
//     groups heartbeat every 500 ms, so both are quick enough for demos.
//
// # Persistence
//
// With [Config.DataDir] the broker writes topics, records, committed offsets
// and producer state to that directory and reloads them on the next start.
// Stop it cleanly ([Broker.Close], or SIGINT/SIGTERM for `sluice broker`).
// After an unclean stop (kill -9, OOM kill, power loss):
//
//   - Record batches are written as they arrive but not fsynced, so a
//     machine crash (not a process kill) may lose the latest writes.
//   - kfake itself writes its list of topics only when a topic is created,
//     deleted or re-configured through the admin API and on a clean close,
//     so on its own it forgets a topic auto-created (by a produce or
//     metadata request) since then, and if that topic is auto-created again
//     it reuses offsets from 0 over the old files (stale reads, duplicate
//     offsets). Start detects such topics from their partition files and
//     registers them before serving, logging a warning, so their records
//     come back. Their partition count is the highest partition with data
//     (or [Config.Partitions], if larger).
//     Create topics explicitly (kadm, kafka-topics.sh, rpk) to avoid this.
//
// Only one broker may use a data directory at a time; Start fails if
// another process holds it.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicehq/sluice/internal/kfakecompact"
)

// Defaults applied by [Start] to zero fields of [Config].
const (
	// DefaultListen is the address served when Config.Listen is empty.
	DefaultListen = "127.0.0.1:9092"
	// DefaultPartitions is the partition count of auto-created topics when
	// Config.Partitions is zero.
	DefaultPartitions int32 = 4
)

// Broker-level configs the embedded broker starts with.
const (
	// cleanerInterval makes compaction and retention run every 30 s instead
	// of Kafka's default hour, so compacted topics visibly compact in demos.
	// kfake's own cleaner is off: kfakecompact runs it safely (kfake would
	// compact records of open transactions).
	cleanerInterval = 30 * time.Second
	// consumerHeartbeatMs lets KIP-848 groups converge in about half a
	// second instead of kfake's default 5 s.
	consumerHeartbeatMs = "500"
)

// Config configures [Start]. Zero fields take the documented defaults; the
// zero Config is valid and serves 127.0.0.1:9092 from memory.
type Config struct {
	// Listen is the host:port to serve the Kafka protocol on, default
	// 127.0.0.1:9092. Port 0 picks a free port; [Broker.Addrs] reports it.
	// The host is also what the broker advertises to clients in metadata
	// responses, so use an address clients can reach. A wildcard host
	// (0.0.0.0, ::, or empty as in ":9092") listens on all interfaces but
	// advertises the loopback address, which suits clients on this machine
	// only.
	Listen string

	// DataDir, when set, makes the broker persist its state there and reload
	// it on start; the directory is created if needed. Empty keeps all
	// state in memory. See the package documentation for what survives a
	// crash.
	DataDir string

	// Partitions is the number of partitions of auto-created topics and of
	// topics created with the "broker default" partition count (-1),
	// default 4.
	Partitions int32

	// TLSCertFile and TLSKeyFile, both PEM, make the listener TLS-only.
	TLSCertFile string
	TLSKeyFile  string

	// Users are the SASL users, "name:password" each. With any, every
	// client must authenticate with SASLMechanism; all users are
	// superusers (the embedded broker has no ACLs by default).
	Users []string
	// SASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, default
	// SCRAM-SHA-512 when Users are given.
	SASLMechanism string

	// Logger receives the broker's own log lines (errors, warnings such as
	// transaction timeouts, and per-request debug lines at slog.LevelDebug).
	// Nil discards them.
	Logger *slog.Logger

	// The fields below tune the broker for tests (internal/testbroker sets
	// them); `sluice broker` leaves them zero.

	// Brokers is the number of brokers in the cluster, default 1. More
	// than one (for leader-election tests) needs port 0 in Listen: each
	// broker listens on a free port of the Listen host.
	Brokers int
	// CleanerInterval is how often compaction and retention run, default
	// 30 s (Kafka's is an hour; 30 s lets compaction show in demos).
	CleanerInterval time.Duration
	// BrokerConfigs are Kafka broker configs applied over the embedded
	// broker's own (group.consumer.heartbeat.interval.ms 500, kfake's
	// cleaner off); for example log.retention.ms=-1. Default none.
	BrokerConfigs map[string]string
	// KfakeOptions are appended to the broker's kfake options (later ones
	// win), for fault injection and protocol version caps in tests. Not
	// kfake.NumBrokers or kfake.ListenFn: use Brokers and Listen. Default
	// none.
	KfakeOptions []kfake.Opt
}

// withDefaults returns cfg with zero fields replaced by their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = DefaultPartitions
	}
	if cfg.Brokers == 0 {
		cfg.Brokers = 1
	}
	if cfg.CleanerInterval == 0 {
		cfg.CleanerInterval = cleanerInterval
	}
	if len(cfg.Users) > 0 && cfg.SASLMechanism == "" {
		cfg.SASLMechanism = "SCRAM-SHA-512"
	}
	cfg.SASLMechanism = strings.ToUpper(cfg.SASLMechanism)
	return cfg
}

// Validate reports whether cfg is usable. Zero fields are valid (they take
// their defaults); Listen must otherwise be host:port with a numeric port
// and Partitions must not be negative.
func (cfg Config) Validate() error {
	cfg = cfg.withDefaults()
	_, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return fmt.Errorf("broker: listen address %q is not host:port (e.g. 127.0.0.1:9092): %w", cfg.Listen, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("broker: listen address %q: port %q is not a number from 0 to 65535", cfg.Listen, port)
	}
	if cfg.Partitions < 0 {
		return fmt.Errorf("broker: partitions %d must be at least 1 (or 0 for the default %d)", cfg.Partitions, DefaultPartitions)
	}
	if cfg.Brokers < 0 || (cfg.Brokers > 1 && port != "0") {
		return fmt.Errorf("broker: %d brokers: want 1, or more with port 0 in the listen address (each broker takes a free port)", cfg.Brokers)
	}
	if cfg.CleanerInterval < 0 {
		return fmt.Errorf("broker: cleaner interval %v is negative", cfg.CleanerInterval)
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return errors.New("broker: a TLS certificate and its key go together (--tls-cert and --tls-key)")
	}
	switch cfg.SASLMechanism {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if len(cfg.Users) == 0 {
			return fmt.Errorf("broker: SASL mechanism %s without users: add --user NAME:PASSWORD", cfg.SASLMechanism)
		}
	default:
		return fmt.Errorf("broker: SASL mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", cfg.SASLMechanism)
	}
	for _, u := range cfg.Users {
		if name, pass, ok := strings.Cut(u, ":"); !ok || name == "" || pass == "" {
			return fmt.Errorf("broker: user %q is not NAME:PASSWORD", redactUser(u))
		}
	}
	return nil
}

// redactUser hides the password of a malformed "name:password".
func redactUser(u string) string {
	if name, _, ok := strings.Cut(u, ":"); ok {
		return name + ":[hidden]"
	}
	return u
}

// security returns the kfake options that serve TLS and SASL, and the
// client options that reach such a listener from this process (for the
// log cleaner): the first user's credentials, and TLS without verifying the
// broker's own certificate, which this process has just loaded.
func (cfg Config) security() ([]kfake.Opt, []kgo.Opt, error) {
	var server []kfake.Opt
	var client []kgo.Opt
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("broker: TLS certificate %s with key %s: %w", cfg.TLSCertFile, cfg.TLSKeyFile, err)
		}
		server = append(server, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
		client = append(client, kgo.DialTLSConfig(&tls.Config{InsecureSkipVerify: true})) // our own listener, see above
	}
	if len(cfg.Users) > 0 {
		server = append(server, kfake.EnableSASL())
		for i, u := range cfg.Users {
			name, pass, _ := strings.Cut(u, ":")
			server = append(server, kfake.Superuser(cfg.SASLMechanism, name, pass))
			if i > 0 {
				continue
			}
			switch cfg.SASLMechanism {
			case "PLAIN":
				client = append(client, kgo.SASL(plain.Auth{User: name, Pass: pass}.AsMechanism()))
			case "SCRAM-SHA-256":
				client = append(client, kgo.SASL(scram.Auth{User: name, Pass: pass}.AsSha256Mechanism()))
			default:
				client = append(client, kgo.SASL(scram.Auth{User: name, Pass: pass}.AsSha512Mechanism()))
			}
		}
	}
	return server, client, nil
}

// Broker is a running embedded broker. Its methods are safe for concurrent
// use.
type Broker struct {
	cluster     *kfake.Cluster
	addrs       []string
	unlock      func()
	stopCleaner func()
	closeOnce   sync.Once
}

// Start validates cfg, applies its defaults and starts serving. The returned
// Broker serves until [Broker.Close]. Start fails if the listen address
// cannot be bound (host not local, port in use) or the data directory
// cannot be used.
func Start(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()

	ln, err := listen(cfg.Listen)
	if err != nil {
		return nil, err
	}
	unlock := func() {}
	if cfg.DataDir != "" {
		if unlock, err = lockDataDir(cfg.DataDir); err != nil {
			ln.Close()
			return nil, err
		}
		if err := recoverOrphanedTopics(cfg); err != nil {
			ln.Close()
			unlock()
			return nil, err
		}
	}

	secure, cleanerOpts, err := cfg.security()
	if err != nil {
		return nil, err
	}
	brokerConfigs := map[string]string{
		"log.cleaner.backoff.ms":               kfakecompact.DisabledBackoff,
		"group.consumer.heartbeat.interval.ms": consumerHeartbeatMs,
	}
	for k, v := range cfg.BrokerConfigs {
		brokerConfigs[k] = v
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(cfg.Brokers),
		// kfake listens on 127.0.0.1:<port> by itself; hand it our own
		// listener, bound to the configured host, instead.
		kfake.ListenFn(listeners(ln, cfg.Listen)),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(int(cfg.Partitions)),
		kfake.BrokerConfigs(brokerConfigs),
	}
	opts = append(opts, secure...)
	if cfg.Logger != nil {
		opts = append(opts, kfake.WithLogger(slogAdapter{cfg.Logger}))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	opts = append(opts, cfg.KfakeOptions...)
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		ln.Close() // kfake closes it only once it has taken it
		unlock()
		if cfg.DataDir != "" {
			return nil, fmt.Errorf("broker: start with data dir %q: %w", cfg.DataDir, err)
		}
		return nil, fmt.Errorf("broker: start: %w", err)
	}
	ctx, stopCleaner := context.WithCancel(context.Background())
	cleaned := make(chan struct{})
	go func() {
		defer close(cleaned)
		kfakecompact.Run(ctx, cluster, cfg.CleanerInterval, cleanerOpts...)
	}()
	return &Broker{cluster: cluster, addrs: cluster.ListenAddrs(), unlock: unlock,
		stopCleaner: func() { stopCleaner(); <-cleaned }}, nil
}

// Addrs returns the host:port addresses clients should use as seed brokers.
func (b *Broker) Addrs() []string { return append([]string(nil), b.addrs...) }

// Cluster returns the underlying kfake cluster, for tests that inject
// faults, force compaction or inspect groups.
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

// Close stops serving, closes client connections and, with a data
// directory, writes the full state to disk. It is safe to call more than
// once.
func (b *Broker) Close() {
	b.closeOnce.Do(func() {
		b.stopCleaner()
		b.cluster.Close()
		b.unlock()
	})
}

// listen binds addr, reporting clearly what to do when that fails.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen on %s (is the port free and the host an address of this machine?): %w", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		// kfake advertises the listener's address; 0.0.0.0 is not an
		// address clients can be told to connect to.
		loopback := "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			loopback = "::1"
		}
		ln = advertisedListener{Listener: ln, addr: advertisedAddr(net.JoinHostPort(loopback, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)))}
	} else if ip == nil {
		// A host name is advertised as it is, not as the address it
		// resolved to: TLS certificates name hosts, and clients check them.
		ln = advertisedListener{Listener: ln, addr: advertisedAddr(net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)))}
	}
	return ln, nil
}

// listeners returns a kfake.ListenFn that hands out ln first, ignoring the
// address kfake asks for, then (for more brokers, with port 0 in addr) a
// new listener on a free port of addr's host for each further broker.
func listeners(ln net.Listener, addr string) func(network, address string) (net.Listener, error) {
	var used bool
	return func(string, string) (net.Listener, error) {
		if !used {
			used = true
			return ln, nil
		}
		return listen(addr)
	}
}

// advertisedListener reports addr as its address, which kfake advertises in
// metadata responses.
type advertisedListener struct {
	net.Listener
	addr net.Addr
}

func (l advertisedListener) Addr() net.Addr { return l.addr }

type advertisedAddr string

func (advertisedAddr) Network() string  { return "tcp" }
func (a advertisedAddr) String() string { return string(a) }

// lockDataDir creates dir and takes an exclusive lock on a file in it, so
// two brokers never write the same directory. The returned func releases
// the lock.
func lockDataDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: create data dir: %w", err)
	}
	path := filepath.Join(dir, "sluice-broker.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("broker: open data dir lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("broker: data dir %q is in use by another broker (lock %s): %w", dir, path, err)
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}

// slogAdapter forwards kfake's log lines to a slog.Logger. kfake logs every
// request at its info level, so that level maps to slog's debug level.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Logf(level kfake.LogLevel, format string, args ...any) {
	var sl slog.Level
	switch level {
	case kfake.LogLevelError:
		sl = slog.LevelError
	case kfake.LogLevelWarn:
		sl = slog.LevelWarn
	case kfake.LogLevelInfo:
		sl = slog.LevelDebug
	default:
		sl = slog.LevelDebug - 4
	}
	ctx := context.Background()
	if !a.l.Enabled(ctx, sl) {
		return
	}
	a.l.Log(ctx, sl, fmt.Sprintf(format, args...), "component", "kfake")
}
