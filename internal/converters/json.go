package converters

import (
	"fmt"
	"sync/atomic"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
)

func nonNegative(v any) error {
	if v.(int64) < 0 {
		return fmt.Errorf("must not be negative")
	}
	return nil
}

var schemasCacheSizeField = connectors.ConfigField{
	Name: "schemas.cache.size", Type: connectors.FieldInt, Default: 1000, Check: nonNegative,
	Doc: "How many schemas the converter keeps converted (each way), least recently used first out, as Kafka Connect's schemas.cache.size. 0 disables the cache."}

func jsonPlugin() connectors.ConverterPlugin {
	return connectors.ConverterPlugin{
		Info: connectors.Info{
			Name:    "json",
			Aliases: []string{"org.apache.kafka.connect.json.JsonConverter"},
			Summary: "JSON, with or without Kafka Connect's schema envelope; byte-compatible with Kafka Connect's JsonConverter.",
			Doc: "Writes values as Kafka Connect's JsonConverter does: structs as objects in field order, bytes as base64, Date as days since 1970-01-01, Time as milliseconds of the day, Timestamp as epoch milliseconds, decimals per decimal.format, " +
				"numbers in Java's notation (1.0, 1.0E10), no whitespace; maps with non-string keys as arrays of [key, value] pairs. " +
				"With schemas.enable=true every record is an envelope {\"schema\":...,\"payload\":...} carrying the schema in Connect's JSON form, and reading requires one (exactly those two fields). " +
				"With schemas.enable=false (Sluice's default) records are plain JSON and are read as schemaless values: objects as maps, arrays, strings, booleans, whole numbers as int64 and other numbers as float64; empty data reads as null, as in Connect. " +
				"Sluice's default differs from Kafka Connect's (schemas.enable=true) because Sluice's own topologies read these topics and gain nothing from a schema repeated in every record; set it to true when Kafka Connect sinks read the topic, or when a sink (a database table, Parquet files) needs the schema. " +
				"Reading an envelope keeps one schema object per distinct schema text (schemas.cache.size), so transforms and converters downstream cache per schema. " +
				"Values that do not fit their schema (a string for an int32 field, 300 for an int8, a decimal with more fractional digits than its scale) are errors naming the field.",
			Spec: connectors.Spec{Fields: []connectors.ConfigField{
				{Name: "schemas.enable", Type: connectors.FieldBool, Default: false,
					Doc: "Write and require the schema envelope {\"schema\":...,\"payload\":...}. Default false, unlike Kafka Connect's true: set it to true for topics that Kafka Connect's JsonConverter (with its default) reads or writes."},
				{Name: "decimal.format", Type: connectors.FieldString, Default: "BASE64", Allowed: []string{"BASE64", "NUMERIC"},
					Doc: "How decimals are written: BASE64, a base64 string of the unscaled value's two's-complement bytes (Kafka Connect's default), or NUMERIC, a JSON number (1.50 for scale 2). Both are read either way."},
				schemasCacheSizeField,
			}},
			Example: "value.converter: json\nvalue.converter.schemas.enable: true\nvalue.converter.decimal.format: NUMERIC\n",
		},
		New: newJSONConverter,
	}
}

type jsonConverter struct {
	key      bool
	envelope bool
	opts     connectjson.Options
	codec    *connectjson.EnvelopeCodec
	sizeHint atomic.Int64 // capacity to allocate for the next record
}

func newJSONConverter(cfg *connectors.Config, isKey bool) (connectors.Converter, error) {
	c := &jsonConverter{
		key:      isKey,
		envelope: cfg.Bool("schemas.enable"),
		opts: connectjson.Options{DecimalNumeric: cfg.String("decimal.format") == "NUMERIC",
			Memo: new(connectjson.StructMemo)},
	}
	c.codec = connectjson.NewEnvelopeCodec(cfg.Int("schemas.cache.size"), c.opts)
	c.sizeHint.Store(64)
	return c, nil
}

func (c *jsonConverter) FromConnect(topic string, schema *connectors.Schema, value any) ([]byte, error) {
	// One allocation of about the right size: the result goes to the
	// producer, so it cannot come from a pool.
	hint := c.sizeHint.Load()
	buf := make([]byte, 0, hint)
	var err error
	if c.envelope {
		buf, err = c.codec.Append(buf, schema, value)
	} else {
		buf, err = connectjson.Append(buf, schema, value, c.opts)
	}
	if err != nil {
		return nil, fmt.Errorf("json converter: %s of a record to topic %q: %w", role(c.key), topic, err)
	}
	if n := int64(len(buf)); n > hint || n < hint/4 {
		c.sizeHint.Store(n + n/8)
	}
	return buf, nil
}

func (c *jsonConverter) ToConnect(topic string, data []byte) (*connectors.Schema, any, error) {
	if c.envelope {
		s, v, err := c.codec.Decode(data)
		if err != nil {
			return nil, nil, fmt.Errorf("json converter: %s of a record from topic %q: %w", role(c.key), topic, err)
		}
		return s, v, nil
	}
	if isBlank(data) {
		return nil, nil, nil // Kafka Connect reads empty data as null
	}
	v, err := connectjson.Decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("json converter: %s of a record from topic %q: %w (the data is not JSON; with schemas.enable=false any JSON document is accepted)", role(c.key), topic, err)
	}
	return nil, v, nil
}

func isBlank(data []byte) bool {
	for _, b := range data {
		switch b {
		case ' ', '\t', '\n', '\r':
		default:
			return false
		}
	}
	return true
}
