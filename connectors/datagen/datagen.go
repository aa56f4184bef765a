// Package datagen is the datagen source connector: deterministic, seeded
// records for demos, tests and load tests, generated from an Avro schema
// annotated as for Confluent's kafka-connect-datagen (avro-random-generator's
// "arg.properties") or from a built-in scenario (quickstart): orders,
// customers, clicks and sensors.
//
// Register adds the connector type "datagen" to a registry; the bundled
// registry does so for the sluice binary. Record n of a connector is a pure
// function of its seed and n, which makes the connector exactly-once: a
// task restarted at its committed position regenerates exactly the records
// that would have followed.
package datagen

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectavro"
)

// Register adds the datagen source connector to reg.
func Register(reg *connectors.Registry) error {
	return reg.AddSource(connectors.SourcePlugin{
		Info:        info,
		ExactlyOnce: true,
		New:         newSource,
	})
}

var info = connectors.Info{
	Name:    "datagen",
	Aliases: []string{"io.confluent.kafka.connect.datagen.DatagenConnector", "DatagenConnector"},
	Summary: "Generates deterministic, seeded records from an annotated Avro schema or a built-in scenario (orders, customers, clicks, sensors), rate-limited, bounded or not.",
	Doc:     doc,
	Spec:    spec,
	Example: `name: orders-gen
type: datagen
kafka.topic: orders
quickstart: orders
schema.keyfield: customerid
random.seed: 42
records.per.second: 500
timestamp.start: "2025-01-01T00:00:00Z"
tasks.max: 2
key.converter: string
value.converter: json
value.converter.schemas.enable: false`,
}

const doc = `Generates records for demos, tests and load tests, in the spirit of Confluent's kafka-connect-datagen and with its configuration names (kafka.topic, quickstart, schema.string, schema.filename, schema.keyfield, max.interval, iterations, random.seed).

Schemas. Exactly one of quickstart, schema.string and schema.filename. An Avro schema (a record) is converted to a Connect schema as Confluent's AvroConverter does, and its values are drawn as avro-random-generator draws them, steered by "arg.properties" annotations on types (or on fields):
  options     a list of values to pick from (any type), or {"file": PATH, "encoding": "json"} with one JSON value per option.
  range       {"min", "max"}: min inclusive, max exclusive, for int, long, float, double and decimals; date and timestamp types also take RFC 3339 text.
  iteration   {"start", "restart", "step", "initial"} for numbers, strings and booleans: value n is start + n*step wrapping at restart, where n is the record's position in the connector's whole sequence (unique across tasks, continued exactly after a restart).
  length      a number or {"min", "max"} (max exclusive) for strings, bytes, arrays and maps; default 8 to 15.
  regex       strings matching a regular expression (Go RE2 syntax; * and + repeat at most 8 times beyond their minimum; classes draw from their printable ASCII part).
  prefix, suffix   around generated strings.
  keys        annotations of a map's keys.
  odds        probability of true for a boolean.
  position    the branch of a union to use (otherwise every branch, null included, is equally likely).
Unknown annotations are an error, not ignored. Not supported: "options" files in binary encoding, avro-random-generator forks' "kind" and "distribution". Unannotated strings are random letters and digits; timestamp-*, date and time-* logical types without annotations take the record's event time, uuid strings a random UUID, decimals random digits of their precision.

Built-in scenarios (quickstart), keyed by default by the field in brackets:
  orders [orderid]: ordertime (int64 ms, the event time), orderid (int64: the record's position, unique across tasks), customerid (int32, 1..customers.count, lower ids more often), itemid (Item_1..Item_100), orderunits (float64 0.10..9.99), price (float64, fixed per item), amount (float64, orderunits*price rounded to cents), address (struct city, state, zipcode: the customer's address). Confluent's orders with customerid, price and amount added and orderid widened to int64.
  customers [id]: id (int32), name, email, city, state, region (US census region), tier (bronze..platinum), updated_at (int64 ms, the event time). Record n is customer n mod customers.count + 1: the first pass emits every customer once, in id order, with timestamp.start as event time (so the table precedes every order of an orders connector with the same timestamp.start); later passes are updates in which only tier changes. Name, email and address of a customer depend on random.seed and the id only, and orders use the same address: run customers and orders with the same random.seed and customers.count.
  clicks [userid]: ts (int64 ms), userid (int32, a customer id), page, referrer (optional: null for direct visits), device.
  sensors [sensorid]: ts (int64 ms), sensorid (sensor-0001..), temperature (°C), humidity (%): each sensor wanders smoothly around its own base (fractal noise over its readings: a bounded random walk that any position can compute on its own).

Keys. schema.keyfield names a top-level field whose value, as text, is the key (a string schema): "17" for the int 17, as Confluent's datagen does. To join orders with customers without a repartition, key orders by customerid and use the same key converter (string) for both. Without a key field (Avro schemas only) keys are null.

Determinism and offsets. Record n (counting from 0 over the whole connector) is a pure function of random.seed, n and its event time: each record is drawn from its own PRNG seeded from a hash of (seed, n). Task t of tasks.max T produces records t, t+T, t+2T, ...; its source partition is {"task": t} and its offset {"count": records produced, "tasks": T, "seed", "start"}. A task resumes right after its committed count and regenerates the identical continuation, so the connector supports exactly-once delivery. Without random.seed, a random seed is chosen at the connector's first start and kept in the offsets; likewise the default timestamp.start. Changing tasks.max of a connector with committed offsets is refused (the sequence is split by position); reset its offsets to start over.

Timestamps. timestamp.mode=event (default): record n's event time is timestamp.start + n * timestamp.step.ms, also the Kafka record timestamp. The default step follows the configured rate (1000/records.per.second ms, or max.interval/tasks.max), so event time keeps pace with the wall clock; unthrottled, it is 1 ms and event time runs ahead of the clock (a broker rejects records more than log.message.timestamp.after.max.ms in the future, one hour by default since Kafka 4.0: set timestamp.step.ms, a timestamp.start in the past, or a rate). timestamp.mode=wallclock: the time of generation, so records are no longer reproducible (delivery stays exactly-once).

Rate and bounds. records.per.second limits the whole connector (each task gets its share) with a token bucket: a poll returns the records due, at most batch.size, without sleeping per record. max.interval is Confluent's: the interval between two records of each task (Confluent sleeps a random time up to it, so emits about twice as fast); 0 with no records.per.second is unthrottled. iterations bounds the connector's total (not per task, unlike Confluent's): tasks share it without overlap or gap, and a task that has produced its share finishes (its poll returns io.EOF), so ` + "`sluice run --until-done`" + ` ends.

Delivery: exactly-once under exactly_once_v2 (KIP-618), at least once otherwise.`

func atLeast(n int64) func(any) error { return connectors.AtLeast(n) }

var spec = connectors.Spec{
	Fields: []connectors.ConfigField{
		{Name: "kafka.topic", Type: connectors.FieldString, Required: true,
			Doc: "The topic to write to."},
		{Name: "quickstart", Type: connectors.FieldString, Allowed: quickstartNames,
			Doc: "A built-in scenario: orders, customers, clicks or sensors (see the connector's documentation for their fields). Exclusive with schema.string and schema.filename."},
		{Name: "schema.string", Type: connectors.FieldString,
			Doc: "An Avro record schema as JSON text, optionally annotated with arg.properties. Exclusive with quickstart and schema.filename."},
		{Name: "schema.filename", Type: connectors.FieldString,
			Doc: "A file holding an Avro record schema (as for schema.string), relative to the working directory. Exclusive with quickstart and schema.string."},
		{Name: "schema.keyfield", Type: connectors.FieldString,
			Doc: "A top-level field whose value, as text, is the record key. Default: the quickstart's key field (orders: orderid, customers: id, clicks: userid, sensors: sensorid); for schemas, none (null keys)."},
		{Name: "random.seed", Type: connectors.FieldInt,
			Doc: "The seed: connectors with the same seed and settings produce the same records. Default: random at the connector's first start, then kept in its offsets so that restarts continue the same sequence."},
		{Name: "iterations", Type: connectors.FieldInt, Default: -1,
			Doc: "How many records the connector produces in total, shared by its tasks; then each task finishes. Less than 1: unbounded. Unlike Confluent's datagen, where it counts per task."},
		{Name: "max.interval", Type: connectors.FieldDuration, Default: 500, Check: nonNegativeDuration,
			Doc: "The interval between two records of each task, in ms (Confluent's default 500 ms). 0: as fast as possible, unless records.per.second is set (setting both is an error)."},
		{Name: "records.per.second", Type: connectors.FieldFloat, Check: nonNegativeFloat,
			Doc: "The rate of the whole connector, shared by its tasks (token bucket, burst of one batch). 0: use max.interval."},
		{Name: "batch.size", Type: connectors.FieldInt, Default: 1000, Check: atLeast(1),
			Doc: "The most records one poll returns."},
		{Name: "timestamp.mode", Type: connectors.FieldString, Default: "event", Allowed: []string{"event", "wallclock"},
			Doc: "event: record n's timestamp is timestamp.start + n * timestamp.step.ms (reproducible). wallclock: the time of generation."},
		{Name: "timestamp.start", Type: connectors.FieldString,
			Doc: "Event time of record 0, as RFC 3339 (2025-01-01T00:00:00Z), a date (2025-01-01, UTC) or Unix epoch milliseconds. Default: the time of the connector's first start, kept in its offsets."},
		{Name: "timestamp.step.ms", Type: connectors.FieldDuration, Check: nonNegativeDuration,
			Doc: "Event time between two consecutive records of the connector (ms, or a duration such as 250us). Default: the rate's interval (1000/records.per.second ms, or max.interval/tasks.max), 1 ms when unthrottled."},
		{Name: "customers.count", Type: connectors.FieldInt, Default: 1000, Check: atLeast(1),
			Doc: "Number of customers of the customers quickstart, and the range of customer ids orders and clicks refer to: give connectors that must join the same value."},
		{Name: "sensors.count", Type: connectors.FieldInt, Default: 100, Check: atLeast(1),
			Doc: "Number of sensors of the sensors quickstart."},
	},
	Check: func(cfg *connectors.Config) error {
		_, err := parseSettings(cfg)
		return err
	},
}

func nonNegativeDuration(v any) error {
	if v.(time.Duration) < 0 {
		return fmt.Errorf("must not be negative, got %v", v)
	}
	return nil
}

func nonNegativeFloat(v any) error {
	if f := v.(float64); f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("must be a finite number of at least 0, got %v", f)
	}
	return nil
}

// settings is the parsed configuration.
type settings struct {
	topic      string
	gen        *generator
	seed       uint64
	seedSet    bool
	startMs    int64
	startSet   bool
	step       time.Duration
	stepSet    bool
	rate       float64       // records.per.second, 0: none
	interval   time.Duration // max.interval
	iterations uint64        // 0: unbounded
	batch      int
	wallclock  bool
}

func parseSettings(cfg *connectors.Config) (*settings, error) {
	s := &settings{
		topic:     cfg.String("kafka.topic"),
		rate:      cfg.Float("records.per.second"),
		interval:  cfg.Duration("max.interval"),
		batch:     cfg.Int("batch.size"),
		wallclock: cfg.String("timestamp.mode") == "wallclock",
	}
	var errs []error
	if s.topic == "" {
		errs = append(errs, connectors.Errorf(cfg.Key("kafka.topic"), "must not be empty"))
	}
	if it := cfg.Int64("iterations"); it > 0 {
		s.iterations = uint64(it)
	}
	if cfg.IsSet("random.seed") {
		s.seed, s.seedSet = uint64(cfg.Int64("random.seed")), true
	}
	if cfg.IsSet("timestamp.step.ms") {
		s.step, s.stepSet = cfg.Duration("timestamp.step.ms"), true
	}
	if cfg.IsSet("records.per.second") && cfg.IsSet("max.interval") && s.rate > 0 {
		errs = append(errs, connectors.Errorf(cfg.Key("records.per.second"), "set either records.per.second or max.interval, not both"))
	}
	if text := strings.TrimSpace(cfg.String("timestamp.start")); text != "" {
		ms, err := parseStart(text)
		if err != nil {
			errs = append(errs, &connectors.FieldError{Key: cfg.Key("timestamp.start"), Err: err})
		}
		s.startMs, s.startSet = ms, true
	}

	sources := []string{}
	for _, k := range []string{"quickstart", "schema.string", "schema.filename"} {
		if cfg.String(k) != "" {
			sources = append(sources, k)
		}
	}
	keyField := cfg.String("schema.keyfield")
	switch len(sources) {
	case 0:
		errs = append(errs, connectors.Errorf(cfg.Key("quickstart"), "required: set quickstart (%s), schema.string or schema.filename", strings.Join(quickstartNames, ", ")))
	case 1:
		var err error
		switch sources[0] {
		case "quickstart":
			s.gen, err = newQuickstart(cfg.String("quickstart"), keyField, scenarioConfig{
				customers: cfg.Int("customers.count"),
				sensors:   cfg.Int("sensors.count"),
			})
			if err != nil {
				err = &connectors.FieldError{Key: cfg.Key("schema.keyfield"), Err: err}
			}
		case "schema.string":
			s.gen, err = schemaGenerator(cfg, "schema.string", cfg.String("schema.string"), keyField)
		case "schema.filename":
			name := cfg.String("schema.filename")
			data, rerr := os.ReadFile(name)
			if rerr != nil {
				err = connectors.Errorf(cfg.Key("schema.filename"), "cannot read the schema: %v", rerr)
				break
			}
			s.gen, err = schemaGenerator(cfg, "schema.filename", string(data), keyField)
		}
		if err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, connectors.Errorf(cfg.Key(sources[1]), "%s and %s are both set: give exactly one schema source", sources[0], sources[1]))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// schemaGenerator compiles an Avro schema; its errors name the field the
// schema came from (schema.string or schema.filename), or schema.keyfield.
func schemaGenerator(cfg *connectors.Config, key, text, keyField string) (*generator, error) {
	bad := func(err error) error {
		return connectors.Errorf(cfg.Key(key), "not a usable Avro schema: %v", err)
	}
	root, err := parseAvro(text)
	if err != nil {
		return nil, bad(err)
	}
	if root.kind != avroRecord {
		return nil, bad(fmt.Errorf("the schema is a %s; it must be a record, whose fields become the record value's fields", root.kind))
	}
	cs, err := connectavro.ToConnect(text)
	if err != nil {
		return nil, bad(err)
	}
	value, err := compileAvro(root, cs, os.ReadFile)
	if err != nil {
		return nil, bad(err)
	}
	g := &generator{valueSchema: cs, value: func(c *genCtx) *connectors.Struct {
		st, _ := value(c).(*connectors.Struct)
		return st
	}}
	if err := g.setKey(keyField); err != nil {
		return nil, connectors.Errorf(cfg.Key("schema.keyfield"), "%v", err)
	}
	return g, nil
}

// parseStart reads timestamp.start.
func parseStart(text string) (int64, error) {
	if ms, err := strconv.ParseInt(text, 10, 64); err == nil {
		return ms, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.Parse(layout, text); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("%q is not a time: use RFC 3339 (2025-01-01T00:00:00Z), a date (2025-01-01) or Unix epoch milliseconds", text)
}

// source is a configured datagen connector.
type source struct {
	s     *settings
	clock clock

	once    sync.Once
	seed    uint64 // for tasks without committed offsets
	startMs int64
}

func newSource(cfg *connectors.Config) (connectors.Source, error) {
	s, err := parseSettings(cfg)
	if err != nil {
		return nil, err
	}
	return &source{s: s, clock: realClock{}}, nil
}

// Schemas declares the schemas of the records the connector writes
// (connectors.SchemaDeclarer).
func (src *source) Schemas() map[string]connectors.TopicSchemas {
	return map[string]connectors.TopicSchemas{src.s.topic: {Key: src.s.gen.keySchema, Value: src.s.gen.valueSchema}}
}

// defaults picks the seed and start time of a connector's first start
// (unless configured); tasks that find committed offsets use theirs.
func (src *source) defaults() (seed uint64, startMs int64) {
	src.once.Do(func() {
		src.seed, src.startMs = src.s.seed, src.s.startMs
		if !src.s.seedSet {
			src.seed = rand.Uint64()
		}
		if !src.s.startSet {
			src.startMs = src.clock.Now().UnixMilli()
		}
	})
	return src.seed, src.startMs
}

// Tasks returns maxTasks tasks; task t generates positions t, t+maxTasks, ...
func (src *source) Tasks(maxTasks int) ([]connectors.SourceTask, error) {
	if maxTasks < 1 {
		return nil, fmt.Errorf("datagen: tasks.max must be at least 1, got %d", maxTasks)
	}
	s := src.s
	tasks := uint64(maxTasks)
	step := s.step
	if !s.stepSet {
		switch {
		case s.rate > 0:
			step = time.Duration(math.Round(1e9 / s.rate))
		case s.interval > 0:
			step = s.interval / time.Duration(tasks)
		default:
			step = time.Millisecond
		}
	}
	var taskRate float64 // records per second per task, 0: unthrottled
	switch {
	case s.rate > 0:
		taskRate = s.rate / float64(tasks)
	case s.interval > 0:
		taskRate = float64(time.Second) / float64(s.interval)
	}
	out := make([]connectors.SourceTask, maxTasks)
	for i := range out {
		t := &task{
			src:   src,
			id:    uint64(i),
			tasks: tasks,
			step:  uint64(max(step, 0)),
			rate:  taskRate,
		}
		if s.iterations > 0 {
			t.bounded = true
			if s.iterations > t.id {
				t.total = (s.iterations - t.id + tasks - 1) / tasks
			}
		}
		out[i] = t
	}
	return out, nil
}
