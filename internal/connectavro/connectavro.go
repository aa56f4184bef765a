// Package connectavro converts between Kafka Connect data
// ([connectors.Schema] and values) and Avro, as Confluent's AvroConverter
// (AvroData) does: schemas both ways and values in Avro binary. The Avro
// converter, the Avro and Parquet file formats and datagen use it. Avro is
// implemented with github.com/hamba/avro/v2, which stays inside this
// package (and serde/avro): every schema is parsed with its own
// avro.SchemaCache, never the package-global one.
//
// Schemas follow AvroData with its defaults (connect.meta.data=true,
// enhanced.avro.schema.support=false): the Avro schema text is what
// Confluent's converter registers for the same Connect schema, property
// order included, and Avro schemas written by other tools map to Connect as
// AvroData maps them. Values are encoded and decoded by a plan compiled
// once per schema, straight between Connect values and Avro binary (no
// generic intermediate, no reflection); hamba/avro parses and validates
// schemas and defines the generic form of [Codec.ToGeneric].
//
// Not supported: recursive Avro schemas (Connect schemas cannot express
// them), schemaless Connect data (Confluent's "Anything" record), and
// enhanced.avro.schema.support (enums and unions round-trip through
// connect.parameters instead, as with Confluent's default).
package connectavro

import (
	"fmt"

	havro "github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/connectors"
)

// FromConnect returns the Avro schema (JSON text, as Avro Java's
// Schema.toString writes it: what Confluent's AvroConverter registers) for
// a Connect schema, as Confluent's AvroData.fromConnectSchema: a struct
// becomes a record named after the schema
// (io.confluent.connect.avro.ConnectDefault, ConnectDefault2, ... when
// unnamed), an optional schema a union with null first and default null
// (null second when it has a default), int8/int16 an int with
// "connect.type", Decimal bytes with logicalType decimal (precision from
// "connect.decimal.precision", else 64), Date/Time/Timestamp the
// date/time-millis/timestamp-millis logical types, maps with non-string
// keys arrays of MapEntry records, and version, doc, parameters and
// defaults as connect.* properties.
func FromConnect(schema *connectors.Schema) (string, error) {
	text, err := fromConnect(schema)
	if err != nil {
		return "", err
	}
	if _, err := parse(text); err != nil {
		return "", fmt.Errorf("connectavro: schema %s has no valid Avro form: %w", schema, err)
	}
	return text, nil
}

// ToConnect returns the Connect schema for an Avro schema (JSON text), as
// AvroData.toConnectSchema: records become structs named by their full
// name, unions with null optional schemas, other unions
// io.confluent.connect.avro.Union structs, enums strings (with
// io.confluent.connect.avro.Enum parameters), fixed bytes (with
// "connect.fixed.size"), logical types their Connect logical types,
// connect.* properties restored, field defaults as schema defaults.
func ToConnect(avroSchema string) (*connectors.Schema, error) {
	as, err := parse(avroSchema)
	if err != nil {
		return nil, err
	}
	return (&toConnectCtx{}).convert(as, false, nil, false, 0)
}

// parse parses Avro schema text into a cache of its own: hamba/avro's
// global cache keeps one schema per full name, so two versions of a record
// would collide in it.
func parse(text string, references ...string) (havro.Schema, error) {
	cache := &havro.SchemaCache{}
	for i, ref := range references {
		if _, err := havro.ParseWithCache(ref, "", cache); err != nil {
			return nil, fmt.Errorf("connectavro: referenced schema %d: %w", i+1, err)
		}
	}
	s, err := havro.ParseWithCache(text, "", cache)
	if err != nil {
		return nil, fmt.Errorf("connectavro: invalid Avro schema: %w", err)
	}
	return s, nil
}

// Codec encodes and decodes Connect values of one schema in Avro binary
// (no wire-format header). It is safe for concurrent use.
type Codec struct {
	schema *connectors.Schema
	text   string
	avro   havro.Schema
	root   *node
	dec    decodeFn // the codec's own data

	resolved syncMap[*Codec, resolution] // writer codec -> decoder
}

type resolution struct {
	dec decodeFn
	err error
}

// NewCodec compiles a codec for a Connect schema (its Avro schema is
// FromConnect's).
func NewCodec(schema *connectors.Schema) (*Codec, error) {
	text, err := FromConnect(schema)
	if err != nil {
		return nil, err
	}
	as, err := parse(text)
	if err != nil {
		return nil, err
	}
	return newCodec(schema, text, as)
}

// NewCodecFromAvro compiles a codec for an Avro schema; its Connect schema
// is ToConnect's.
func NewCodecFromAvro(avroSchema string) (*Codec, error) {
	return NewCodecFromAvroOptions(avroSchema, AvroOptions{})
}

// AvroOptions adjusts [NewCodecFromAvroOptions].
type AvroOptions struct {
	// Version is the Connect schema version of the top-level schema when
	// it has no connect.version property: the registry version of the
	// schema, as Confluent's AvroConverter passes it. 0: none.
	Version int
	// References are the texts of schemas that avroSchema refers to by
	// name (Schema Registry references), dependencies first.
	References []string
}

// NewCodecFromAvroOptions is NewCodecFromAvro with a version and schema
// references.
func NewCodecFromAvroOptions(avroSchema string, opts AvroOptions) (*Codec, error) {
	as, err := parse(avroSchema, opts.References...)
	if err != nil {
		return nil, err
	}
	cs, err := (&toConnectCtx{}).convert(as, false, nil, false, opts.Version)
	if err != nil {
		return nil, err
	}
	return newCodec(cs, avroSchema, as)
}

func newCodec(cs *connectors.Schema, text string, as havro.Schema) (*Codec, error) {
	root, err := compile(cs, as, 0)
	if err != nil {
		return nil, err
	}
	dec, err := resolve(as, root, 0)
	if err != nil {
		return nil, err
	}
	return &Codec{schema: cs, text: text, avro: as, root: root, dec: dec}, nil
}

// Schema returns the codec's Connect schema.
func (c *Codec) Schema() *connectors.Schema { return c.schema }

// AvroSchema returns the codec's Avro schema as JSON text (FromConnect's
// text, or the text NewCodecFromAvro was given).
func (c *Codec) AvroSchema() string { return c.text }

// Append appends the Avro binary encoding of value to dst. A nil value of
// a required schema takes the schema's default; errors name the field and
// wrap [connectors.ErrSchemaMismatch] when a value does not fit.
func (c *Codec) Append(dst []byte, value any) ([]byte, error) {
	start := len(dst)
	out, err := c.root.encode(dst, value)
	if err != nil {
		return dst[:start], err
	}
	return out, nil
}

// Decode decodes Avro binary data written with this codec's schema. It
// does not retain data. Corrupt data is an error (never a panic), and
// decoding allocates in proportion to len(data).
func (c *Codec) Decode(data []byte) (any, error) {
	return run(c.dec, data)
}

func run(dec decodeFn, data []byte) (any, error) {
	r := reader{data: data}
	v, err := dec(&r)
	if err != nil {
		if ve, ok := err.(*valueError); ok {
			return nil, fmt.Errorf("connectavro: corrupt data (%d bytes, at byte %d): %s", len(data), r.pos, ve.Error()[len("connectavro: "):])
		}
		return nil, fmt.Errorf("connectavro: corrupt data (%d bytes, at byte %d): %w", len(data), r.pos, err)
	}
	if r.pos != len(data) {
		return nil, fmt.Errorf("connectavro: corrupt data: %d bytes left over after the value (%d bytes)", len(data)-r.pos, len(data))
	}
	return v, nil
}

// DecodeFrom decodes data written with writer's schema into this codec's
// schema (Avro schema resolution: added fields take defaults, removed ones
// are skipped, promotions apply). The resolution is compiled on the first
// call for a writer and cached; an incompatible writer schema is an error
// on every call.
func (c *Codec) DecodeFrom(writer *Codec, data []byte) (any, error) {
	if writer == c || writer == nil {
		return c.Decode(data)
	}
	res, ok := c.resolved.load(writer)
	if !ok {
		dec, err := resolve(writer.avro, c.root, 0)
		if err != nil {
			err = fmt.Errorf("connectavro: cannot read data of schema %s as %s: %w", writer.schema, c.schema, err)
		}
		res = resolution{dec: dec, err: err}
		c.resolved.store(writer, res)
	}
	if res.err != nil {
		return nil, res.err
	}
	return run(res.dec, data)
}

// ToGeneric converts a Connect value of the codec's schema to hamba/avro's
// generic representation (map[string]any records, ...), for writers that
// take generic values (Avro object container files). Union values
// (optional ones included) are map[string]any{"<branch>": value}, nil for
// null, the form hamba's generic decoder produces.
func (c *Codec) ToGeneric(value any) (any, error) { return c.root.toGeneric(value) }

// FromGeneric converts hamba/avro's generic representation to a Connect
// value of the codec's schema. Union values may be wrapped
// (map[string]any{"<branch>": value}) or bare.
func (c *Codec) FromGeneric(value any) (any, error) { return c.root.fromGeneric(value) }

// HambaSchema returns the codec's Avro schema as parsed by hamba/avro, for
// writers built on it (Avro object container files). It was parsed into a
// cache of its own.
func (c *Codec) HambaSchema() havro.Schema { return c.avro }
