package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// StoreConfig configures the Kafka-backed store.
type StoreConfig struct {
	Brokers   []string
	Topic     string
	KafkaOpts []kgo.Opt
	Logger    *slog.Logger
}

// Store is the registry state materialized from the single-partition,
// compacted _schemas topic, plus the write protocol (see the package doc).
//
// One goroutine (run) owns consumption and is the only writer of st; other
// goroutines read st under mu. Writes of one instance are serialized by
// writeMu; writes of different instances are ordered by the log.
type Store struct {
	topic  string
	cl     *kgo.Client
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	writeMu sync.Mutex
	// lostRaces counts claims this instance appended that the log
	// rejected because another instance's write came first.
	lostRaces atomic.Int64

	clusterID string // the Kafka cluster's id, "" if the broker has none

	mu       sync.RWMutex
	st       *state
	next     int64         // next offset to apply
	progress chan struct{} // closed and replaced whenever next advances
	outcomes map[string]bool
	watched  map[string]bool
}

// OpenStore connects, creates the topic if needed (1 partition,
// cleanup.policy=compact), and reads it to its end before returning.
func OpenStore(ctx context.Context, cfg StoreConfig) (*Store, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("registry: no Kafka brokers given")
	}
	if cfg.Topic == "" {
		cfg.Topic = "_schemas"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	admCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, cfg.KafkaOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("registry: kafka client: %w", err)
	}
	adm := kadm.NewClient(admCl)
	err = ensureTopic(ctx, adm, cfg.Topic)
	var clusterID string
	if err == nil {
		if meta, merr := adm.BrokerMetadata(ctx); merr == nil {
			clusterID = meta.Cluster
		}
	}
	admCl.Close()
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}
	cl, err := kgo.NewClient(append(opts, cfg.KafkaOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("registry: kafka client: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &Store{
		topic:     cfg.Topic,
		clusterID: clusterID,
		cl:        cl,
		log:       cfg.Logger,
		cancel:    cancel,
		done:      make(chan struct{}),
		st:        newState(),
		progress:  make(chan struct{}),
		outcomes:  map[string]bool{},
		watched:   map[string]bool{},
	}
	go s.run(runCtx)
	if err := s.Sync(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("registry: read topic %q to its end: %w", cfg.Topic, err)
	}
	return s, nil
}

func ensureTopic(ctx context.Context, adm *kadm.Client, topic string) error {
	resp, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("registry: create topic %q: %w", topic, err)
	}
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("registry: describe topic %q: %w", topic, err)
	}
	d, ok := details[topic]
	if !ok || d.Err != nil {
		return fmt.Errorf("registry: describe topic %q: %v", topic, d.Err)
	}
	if n := len(d.Partitions); n != 1 {
		return fmt.Errorf("registry: topic %q has %d partitions; the registry needs exactly 1 so that every instance reads one order of writes", topic, n)
	}
	return nil
}

// ClusterID is the Kafka cluster's id (GET /v1/metadata/id).
func (s *Store) ClusterID() string { return s.clusterID }

// Close stops consuming and closes the Kafka client.
func (s *Store) Close() {
	s.cancel()
	<-s.done
	s.cl.Close()
}

func (s *Store) run(ctx context.Context) {
	defer close(s.done)
	for {
		fs := s.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				s.log.Warn("registry: fetch", "topic", topic, "partition", p, "err", err)
			}
		})
		if fs.NumRecords() == 0 {
			continue
		}
		s.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < s.next {
				return
			}
			claim, accepted := s.st.apply(r.Key, r.Value)
			if claim != "" && s.watched[claim] {
				if _, decided := s.outcomes[claim]; !decided {
					s.outcomes[claim] = accepted
				}
			}
			s.next = r.Offset + 1
		})
		close(s.progress)
		s.progress = make(chan struct{})
		s.mu.Unlock()
	}
}

// waitApplied waits until the record at offset has been applied.
func (s *Store) waitApplied(ctx context.Context, offset int64) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		s.mu.RLock()
		next, progress := s.next, s.progress
		s.mu.RUnlock()
		if next > offset {
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return fmt.Errorf("registry: waiting for topic %q to reach offset %d (at %d): %w", s.topic, offset, next, ctx.Err())
		case <-s.done:
			return errors.New("registry: store closed")
		}
	}
}

func (s *Store) produce(ctx context.Context, key, value []byte) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r := &kgo.Record{Topic: s.topic, Partition: 0, Key: key, Value: value}
	if err := s.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return 0, fmt.Errorf("registry: write to topic %q: %w", s.topic, err)
	}
	return r.Offset, nil
}

// Sync returns once every record written to the topic before the call has
// been applied: it appends a NOOP record and waits for it, as Confluent
// does, which works even when compaction left gaps at the end of the log.
func (s *Store) Sync(ctx context.Context) error {
	off, err := s.produce(ctx, recordKey{KeyType: keyNoop}.encode(), nil)
	if err != nil {
		return err
	}
	return s.waitApplied(ctx, off)
}

// read runs fn with the state read-locked.
func (s *Store) read(fn func(st *state)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(s.st)
}

func newClaim() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// claim appends a SCHEMA claim and reports whether every reader accepted
// it. A rejected claim is tombstoned right away (tidiness only).
func (s *Store) claim(ctx context.Context, v schemaValue) (bool, error) {
	subject := v.Subject
	claim := newClaim()
	key := recordKey{KeyType: keySchema, Subject: &subject, Version: v.Version, Claim: claim, Magic: 1}.encode()
	value, err := jsonMarshal(v)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	s.watched[claim] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watched, claim)
		delete(s.outcomes, claim)
		s.mu.Unlock()
	}()
	off, err := s.produce(ctx, key, value)
	if err != nil {
		return false, err
	}
	if err := s.waitApplied(ctx, off); err != nil {
		return false, err
	}
	s.mu.RLock()
	accepted := s.outcomes[claim]
	s.mu.RUnlock()
	if !accepted {
		s.lostRaces.Add(1)
		s.log.Debug("registry: claim lost a race with another writer, retrying", "subject", v.Subject, "version", v.Version, "id", v.ID)
		if _, err := s.produce(ctx, key, nil); err != nil {
			s.log.Warn("registry: tombstone rejected claim", "err", err)
		}
	}
	return accepted, nil
}

// cleanRejected tombstones claims the log rejected whose writers did not
// (a writer that crashed in between).
func (s *Store) cleanRejected(ctx context.Context) {
	var keys [][]byte
	s.read(func(st *state) {
		for _, k := range st.rejected {
			keys = append(keys, k)
		}
	})
	for _, k := range keys {
		if _, err := s.produce(ctx, k, nil); err != nil {
			s.log.Warn("registry: tombstone rejected claim", "err", err)
			return
		}
	}
}

func (s *Store) setVersionState(ctx context.Context, v *version, st versionStateValue) error {
	subject := v.value.Subject
	key := recordKey{KeyType: keyVersionState, Subject: &subject, Version: v.value.Version, Claim: v.claim, Magic: 1}.encode()
	value, err := jsonMarshal(st)
	if err != nil {
		return err
	}
	off, err := s.produce(ctx, key, value)
	if err != nil {
		return err
	}
	return s.waitApplied(ctx, off)
}

func (s *Store) putConfig(ctx context.Context, subject string, cfg *configValue) error {
	key := recordKey{KeyType: keyConfig, Magic: 0}
	if subject != "" {
		key.Subject = &subject
	}
	var value []byte
	if cfg != nil {
		var err error
		if value, err = jsonMarshal(*cfg); err != nil {
			return err
		}
	}
	off, err := s.produce(ctx, key.encode(), value)
	if err != nil {
		return err
	}
	return s.waitApplied(ctx, off)
}

func (s *Store) putMode(ctx context.Context, subject string, mode *string) error {
	key := recordKey{KeyType: keyMode, Magic: 0}
	if subject != "" {
		key.Subject = &subject
	}
	var value []byte
	if mode != nil {
		var err error
		if value, err = jsonMarshal(modeValue{Mode: *mode}); err != nil {
			return err
		}
	}
	off, err := s.produce(ctx, key.encode(), value)
	if err != nil {
		return err
	}
	return s.waitApplied(ctx, off)
}
