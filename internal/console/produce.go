// Package console is the library behind `sluice produce` and `sluice
// consume`: console producer and consumer for Avro records in the Confluent
// wire format, reading and writing Avro's JSON encoding, like Confluent's
// kafka-avro-console-producer and kafka-avro-console-consumer.
package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	havro "github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/schematool"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// ProduceOptions configures Produce.
type ProduceOptions struct {
	Topic    string
	Brokers  []string
	Registry *schemaregistry.Client

	// Exactly one of ValueSchema (Avro schema JSON, registered under
	// "<topic>-value") and ValueSubject (whose latest version is used,
	// never registering) says how values are written.
	ValueSchema  string
	ValueSubject string

	// ParseKey splits each line at the first KeySeparator (default "\t")
	// into key and value. The key is Avro JSON when KeySchema (registered
	// under "<topic>-key") or KeySubject is set, else the key's raw text.
	ParseKey     bool
	KeySeparator string
	KeySchema    string
	KeySubject   string

	// InputName names the input in error messages. Default "stdin".
	InputName string

	// KafkaOpts are appended to the producer's options (TLS, SASL, ...).
	KafkaOpts []kgo.Opt
}

// LineError is returned by Produce for an input line that cannot be
// turned into a record. Records from earlier lines have been produced.
type LineError struct {
	Input    string
	Line     int
	Part     string // "key" or "value"
	Err      error
	Produced int // records produced before this line
}

func (e *LineError) Error() string {
	return fmt.Sprintf("console: %s:%d: %s: %v (%d earlier record(s) were produced; fix the line and produce from it on)", e.Input, e.Line, e.Part, e.Err, e.Produced)
}

func (e *LineError) Unwrap() error { return e.Err }

type writer struct {
	id      int
	subject string
	schema  havro.Schema
}

// resolveWriter registers schemaText under subject, or fetches the latest
// version of fromSubject.
func resolveWriter(ctx context.Context, c *schemaregistry.Client, subject, schemaText, fromSubject, what string) (*writer, error) {
	switch {
	case schemaText != "" && fromSubject != "":
		return nil, fmt.Errorf("console: give either a %s schema file or a %s subject, not both", what, what)
	case schemaText != "":
		compact, err := schematool.ParseSchemaText(what+" schema", []byte(schemaText))
		if err != nil {
			return nil, err
		}
		parsed, err := havro.ParseWithCache(compact, "", &havro.SchemaCache{})
		if err != nil {
			return nil, fmt.Errorf("console: %s schema: %w", what, err)
		}
		reg, err := schematool.Register(ctx, c, subject, compact)
		if err != nil {
			return nil, fmt.Errorf("console: register %s schema under %q: %w", what, subject, err)
		}
		return &writer{id: reg.ID, subject: subject, schema: parsed}, nil
	case fromSubject != "":
		latest, err := c.SchemaByVersion(ctx, fromSubject, -1)
		if err != nil {
			return nil, fmt.Errorf("console: latest %s schema of subject %q: %w", what, fromSubject, schematool.Hint(err))
		}
		parsed, err := parseRegistered(ctx, c, latest)
		if err != nil {
			return nil, fmt.Errorf("console: subject %q: %w", fromSubject, err)
		}
		return &writer{id: latest.ID, subject: fromSubject, schema: parsed}, nil
	}
	return nil, nil
}

// Produce reads lines of Avro JSON from in and produces one record per
// non-empty line to the topic, in the Confluent wire format. It stops at the
// first bad line with a *LineError, after flushing the records before it,
// and returns how many records were produced.
func Produce(ctx context.Context, opts ProduceOptions, in io.Reader) (int, error) {
	if opts.Topic == "" {
		return 0, errors.New("console: no topic")
	}
	if opts.Registry == nil {
		return 0, errors.New("console: no schema registry")
	}
	if opts.InputName == "" {
		opts.InputName = "stdin"
	}
	if opts.KeySeparator == "" {
		opts.KeySeparator = "\t"
	}
	if !opts.ParseKey && (opts.KeySchema != "" || opts.KeySubject != "") {
		return 0, errors.New("console: a key schema or key subject needs --parse-key (lines hold key<separator>value)")
	}
	values, err := resolveWriter(ctx, opts.Registry, opts.Topic+"-value", opts.ValueSchema, opts.ValueSubject, "value")
	if err != nil {
		return 0, err
	}
	if values == nil {
		return 0, errors.New("console: give a value schema file (--value-schema) or a value subject (--value-subject)")
	}
	keys, err := resolveWriter(ctx, opts.Registry, opts.Topic+"-key", opts.KeySchema, opts.KeySubject, "key")
	if err != nil {
		return 0, err
	}

	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(opts.Brokers...),
		kgo.DefaultProduceTopic(opts.Topic),
		kgo.AllowAutoTopicCreation(),
	}, opts.KafkaOpts...)...)
	if err != nil {
		return 0, fmt.Errorf("console: kafka client: %w", err)
	}
	defer cl.Close()

	var (
		mu         sync.Mutex
		produceErr error
		produced   int
	)
	done := func(_ *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && produceErr == nil {
			produceErr = err
		}
		if err == nil {
			produced++
		}
	}
	finish := func() (int, error) {
		flushErr := cl.Flush(ctx)
		mu.Lock()
		defer mu.Unlock()
		if produceErr != nil {
			return produced, fmt.Errorf("console: produce to %q: %w", opts.Topic, produceErr)
		}
		if flushErr != nil {
			return produced, fmt.Errorf("console: produce to %q: %w", opts.Topic, flushErr)
		}
		return produced, nil
	}

	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		lineErr := func(part string, err error) (int, error) {
			n, ferr := finish()
			return n, errors.Join(&LineError{Input: opts.InputName, Line: line, Part: part, Err: err, Produced: n}, ferr)
		}
		rec := &kgo.Record{Topic: opts.Topic}
		valueText := text
		if opts.ParseKey {
			keyText, rest, ok := strings.Cut(text, opts.KeySeparator)
			if !ok {
				return lineErr("key", fmt.Errorf("no key separator %q in the line (--parse-key expects key%svalue)", opts.KeySeparator, opts.KeySeparator))
			}
			valueText = rest
			if keys == nil {
				rec.Key = []byte(keyText)
			} else if rec.Key, err = encodeLine(keys, keyText); err != nil {
				return lineErr("key", err)
			}
		}
		if rec.Value, err = encodeLine(values, valueText); err != nil {
			return lineErr("value", err)
		}
		if err := ctx.Err(); err != nil {
			n, _ := finish()
			return n, err
		}
		cl.Produce(ctx, rec, done)
		mu.Lock()
		failed := produceErr != nil
		mu.Unlock()
		if failed {
			return finish()
		}
	}
	if err := sc.Err(); err != nil {
		n, ferr := finish()
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line longer than 16 MiB")
		}
		return n, errors.Join(fmt.Errorf("console: %s:%d: %w", opts.InputName, line+1, err), ferr)
	}
	return finish()
}

// encodeLine turns one Avro JSON text into a wire-format record body.
func encodeLine(w *writer, text string) ([]byte, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			return nil, errors.New("empty, want Avro JSON")
		}
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("not valid JSON at column %d: %v", syn.Offset, err)
		}
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("more than one JSON value (text after column %d)", dec.InputOffset())
	}
	out, err := encodeJSON(schemaregistry.AppendHeader(make([]byte, 0, 64), uint32(w.id)), w.schema, v)
	if err != nil {
		return nil, fmt.Errorf("does not match schema id %d (subject %q): %w", w.id, w.subject, err)
	}
	return out, nil
}
