package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// Key formats for ConsumeOptions.KeyFormat.
const (
	KeyAuto   = "auto"   // Avro when the key has a wire-format header, else text
	KeyAvro   = "avro"   // always Avro in the wire format
	KeyString = "string" // always the key's text
)

// ConsumeOptions configures Consume.
type ConsumeOptions struct {
	Topic    string
	Brokers  []string
	Registry *schemaregistry.Client

	// FromBeginning starts at the earliest offset; default: the end (only
	// records produced from now on). With Group, it applies only to
	// partitions without a committed offset.
	FromBeginning bool
	// Max stops after this many records; 0: no limit.
	Max int
	// Group consumes as a member of this consumer group and commits the
	// offsets of printed records. Default "": no group, all partitions.
	Group string
	// Idle stops after this long without a record; 0: wait forever.
	Idle time.Duration
	// KeyFormat is KeyAuto (default), KeyAvro or KeyString.
	KeyFormat string

	// KafkaOpts are appended to the consumer's options (TLS, SASL, ...).
	KafkaOpts []kgo.Opt
}

// Printed is one output line of Consume.
type Printed struct {
	Topic         string          `json:"topic"`
	Partition     int32           `json:"partition"`
	Offset        int64           `json:"offset"`
	Timestamp     int64           `json:"timestamp"` // milliseconds since the epoch
	KeySchemaID   *int            `json:"key_schema_id"`
	Key           json.RawMessage `json:"key"`
	ValueSchemaID *int            `json:"value_schema_id"`
	Value         json.RawMessage `json:"value"`
}

// RecordError is returned by Consume for a record it cannot decode.
type RecordError struct {
	Topic     string
	Partition int32
	Offset    int64
	Part      string // "key" or "value"
	Err       error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("console: %s[%d]@%d: %s: %v", e.Topic, e.Partition, e.Offset, e.Part, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// Consume prints the topic's records to out, one JSON object (a Printed)
// per line, until ctx ends, Max records were printed, or Idle passed
// without a record. It returns how many records it printed; reaching the
// end through ctx, Max or Idle is not an error.
func Consume(ctx context.Context, opts ConsumeOptions, out io.Writer) (int, error) {
	if opts.Topic == "" {
		return 0, errors.New("console: no topic")
	}
	if opts.Registry == nil {
		return 0, errors.New("console: no schema registry")
	}
	switch opts.KeyFormat {
	case "":
		opts.KeyFormat = KeyAuto
	case KeyAuto, KeyAvro, KeyString:
	default:
		return 0, fmt.Errorf("console: key format %q: want auto, avro or string", opts.KeyFormat)
	}
	start := kgo.NewOffset().AtEnd()
	if opts.FromBeginning {
		start = kgo.NewOffset().AtStart()
	}
	kopts := []kgo.Opt{
		kgo.SeedBrokers(opts.Brokers...),
		kgo.ConsumeTopics(opts.Topic),
		kgo.ConsumeResetOffset(start),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}
	if opts.Group != "" {
		kopts = append(kopts, kgo.ConsumerGroup(opts.Group), kgo.AutoCommitMarks())
	}
	cl, err := kgo.NewClient(append(kopts, opts.KafkaOpts...)...)
	if err != nil {
		return 0, fmt.Errorf("console: kafka client: %w", err)
	}
	defer cl.Close()

	schemas := &schemaCache{client: opts.Registry}
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	printed := 0
	commit := func() error {
		if opts.Group == "" {
			return nil
		}
		commitCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cl.CommitMarkedOffsets(commitCtx); err != nil {
			return fmt.Errorf("console: commit offsets of group %q: %w", opts.Group, err)
		}
		return nil
	}
	lastRecord := time.Now()
	for opts.Max <= 0 || printed < opts.Max {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if opts.Idle > 0 {
			pollCtx, cancel = context.WithDeadline(ctx, lastRecord.Add(opts.Idle))
		}
		fetches := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return printed, commit()
		}
		var fetchErr error
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && fetchErr == nil {
				fetchErr = fmt.Errorf("console: fetch %s[%d]: %w", topic, p, err)
			}
		})
		if fetchErr != nil {
			return printed, errors.Join(fetchErr, commit())
		}
		n := 0
		var recErr error
		fetches.EachRecord(func(r *kgo.Record) {
			if recErr != nil || (opts.Max > 0 && printed >= opts.Max) {
				return
			}
			n++
			line, err := decodeRecord(ctx, schemas, opts.KeyFormat, r)
			if err == nil {
				err = enc.Encode(line)
			}
			if err != nil {
				recErr = err
				return
			}
			printed++
			if opts.Group != "" {
				cl.MarkCommitRecords(r)
			}
		})
		if recErr != nil {
			return printed, errors.Join(recErr, commit())
		}
		if n > 0 {
			lastRecord = time.Now()
		} else if opts.Idle > 0 && time.Since(lastRecord) >= opts.Idle {
			break
		}
	}
	return printed, commit()
}

func decodeRecord(ctx context.Context, schemas *schemaCache, keyFormat string, r *kgo.Record) (*Printed, error) {
	p := &Printed{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli()}
	fail := func(part string, err error) error {
		return &RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Part: part, Err: err}
	}
	switch {
	case r.Key == nil:
		p.Key = json.RawMessage("null")
	case keyFormat == KeyString || (keyFormat == KeyAuto && (len(r.Key) < schemaregistry.HeaderSize || r.Key[0] != 0)):
		p.Key = appendString(nil, keyText(r.Key))
	default:
		id, key, err := decodeAvro(ctx, schemas, r.Key)
		if err != nil {
			return nil, fail("key", err)
		}
		p.KeySchemaID, p.Key = &id, key
	}
	if r.Value == nil {
		p.Value = json.RawMessage("null")
		return p, nil
	}
	id, value, err := decodeAvro(ctx, schemas, r.Value)
	if err != nil {
		return nil, fail("value", err)
	}
	p.ValueSchemaID, p.Value = &id, value
	return p, nil
}

func keyText(b []byte) string {
	// appendString replaces invalid UTF-8 with U+FFFD.
	return string(b)
}

func decodeAvro(ctx context.Context, schemas *schemaCache, data []byte) (int, json.RawMessage, error) {
	wireID, body, err := schemaregistry.ParseHeader(data)
	if err != nil {
		return 0, nil, fmt.Errorf("%w; for text keys try --key-format string", err)
	}
	id := int(wireID)
	schema, err := schemas.get(ctx, id)
	if err != nil {
		return id, nil, fmt.Errorf("writer schema id %d: %w", id, err)
	}
	out, err := decodeJSON(nil, schema, body)
	if err != nil {
		return id, nil, fmt.Errorf("body does not decode with writer schema id %d: %w", id, err)
	}
	return id, out, nil
}
