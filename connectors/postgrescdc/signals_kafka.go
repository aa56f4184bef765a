package postgrescdc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Debezium's Kafka signal channel (signal.enabled.channels=kafka): signals
// are records of the signal topic whose key is topic.prefix and whose value
// is {"type": "execute-snapshot", "data": {...}}, the same types and data
// as rows of the signal table.
//
// Exactly once: the position in the signal topic (the next offset to read,
// incremental_snapshot_signal_offset) is part of every source offset the
// task writes, in the same Kafka transaction as the records that follow
// the signal. A crash before that commit reads the signal again and applies
// it again to the state it had not yet changed; after it, the signal is
// never read again. Signals are applied on the task's goroutine between
// transactions of the stream, like the signal table's.
//
// Unlike Debezium there is no consumer group: the partition is read
// directly from the position in the offsets (partition 0 only; Debezium
// also requires a signal topic of one partition). Read committed, so a
// signal produced in an aborted transaction is never acted on.

// kafkaSignals reads the signal topic on a goroutine of its own.
type kafkaSignals struct {
	client *kgo.Client
	topic  string
	queue  chan *kgo.Record
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	err error // the last fetch error, for the log
}

// startKafkaSignals starts reading the signal topic at next (-1: its end
// now, for a connector that has never run: signals sent before it existed
// are not acted on).
func startKafkaSignals(ctx context.Context, s *settings, next int64) (*kafkaSignals, int64, error) {
	// The connection (brokers, TLS, SASL) comes from the kafka package, as
	// everywhere else; a client.id there wins over this default.
	conn, err := s.signalKafka.Options()
	if err != nil {
		return nil, 0, fmt.Errorf("postgres-cdc: signal topic %q (signal.kafka.bootstrap.servers, signal.consumer.*): %w", s.signalTopic, err)
	}
	conn = append([]kgo.Opt{kgo.ClientID("sluice-postgres-cdc-signals-" + s.prefix)}, conn...)
	opts := append(conn[:len(conn):len(conn)],
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(1<<20),
		kgo.FetchMaxPartitionBytes(1<<20),
		kgo.MaxConcurrentFetches(1),
		kgo.FetchMaxWait(s.signalPollTimeout),
	)
	if next < 0 {
		cl, err := kgo.NewClient(conn...)
		if err != nil {
			return nil, 0, fmt.Errorf("postgres-cdc: signal topic %q: %w", s.signalTopic, err)
		}
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		ends, err := kadm.NewClient(cl).ListEndOffsets(lctx, s.signalTopic)
		cancel()
		cl.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("postgres-cdc: read the end of signal topic %q (signal.kafka.bootstrap.servers, signal.consumer.*): %w", s.signalTopic, s.signalKafka.Explain(err))
		}
		next = 0
		if o, ok := ends.Lookup(s.signalTopic, 0); ok && o.Err == nil {
			next = o.Offset
		}
	}
	opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		s.signalTopic: {0: kgo.NewOffset().At(next)},
	}))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres-cdc: signal topic %q: %w", s.signalTopic, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	k := &kafkaSignals{client: cl, topic: s.signalTopic, queue: make(chan *kgo.Record, 64), cancel: cancel, done: make(chan struct{})}
	go k.run(runCtx)
	return k, next, nil
}

func (k *kafkaSignals) run(ctx context.Context) {
	defer close(k.done)
	for {
		fetches := k.client.PollRecords(ctx, 64)
		if ctx.Err() != nil {
			return
		}
		fetches.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) {
				k.mu.Lock()
				k.err = err
				k.mu.Unlock()
			}
		})
		for _, r := range fetches.Records() {
			select {
			case k.queue <- r:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (k *kafkaSignals) close() {
	k.cancel()
	<-k.done
	k.client.Close()
}

// kafkaSignal is a signal record's value.
type kafkaSignal struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// applyKafkaSignals applies the signals that have arrived. It runs between
// transactions of the stream.
func (t *task) applyKafkaSignals(ctx context.Context) error {
	if t.kafkaSig == nil {
		return nil
	}
	for {
		var r *kgo.Record
		select {
		case r = <-t.kafkaSig.queue:
		default:
			return nil
		}
		if r.Offset < t.signalOffset {
			continue // read again after a reconnection
		}
		if err := t.applyKafkaSignal(ctx, r); err != nil {
			// Nothing of it was applied (a lost server while resolving
			// tables): the next reader starts at this record.
			t.kafkaSig.close()
			t.kafkaSig = nil
			return err
		}
		t.signalOffset = r.Offset + 1
	}
}

func (t *task) applyKafkaSignal(ctx context.Context, r *kgo.Record) error {
	id := t.s.signalTopic + ":" + strconv.FormatInt(r.Offset, 10)
	if string(r.Key) != t.s.prefix {
		// Debezium's rule: a signal topic may serve several connectors,
		// each taking the records keyed by its topic.prefix.
		return nil
	}
	var sig kafkaSignal
	if err := json.Unmarshal(r.Value, &sig); err != nil {
		t.log.Warn("postgres-cdc: malformed signal record ignored (want {\"type\": ..., \"data\": {...}})", "signal", id, "error", err)
		return nil
	}
	data := string(sig.Data)
	var s string
	if json.Unmarshal(sig.Data, &s) == nil {
		data = s // data given as a JSON string, as the signal table holds it
	}
	t.log.Info("postgres-cdc: signal received from the signal topic", "signal", id, "type", sig.Type)
	switch sig.Type {
	case "snapshot-window-open", "snapshot-window-close":
		t.log.Warn("postgres-cdc: watermark signals come only from the connector itself; ignored", "signal", id)
		return nil
	}
	return t.applySignal(ctx, id, sig.Type, data)
}

// ensureKafkaSignals (re)starts the signal topic's reader at the current
// position.
func (t *task) ensureKafkaSignals(ctx context.Context) error {
	if !t.s.kafkaSignals || t.kafkaSig != nil {
		return nil
	}
	k, next, err := startKafkaSignals(ctx, t.s, t.signalOffset)
	if err != nil {
		return err
	}
	t.kafkaSig, t.signalOffset = k, next
	return nil
}
