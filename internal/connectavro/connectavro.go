// Package connectavro converts between Kafka Connect data
// ([connectors.Schema] and values) and Avro, as Confluent's AvroConverter
// (AvroData) does: schemas both ways and values in Avro binary. The Avro
// converter, the Avro and Parquet file formats and datagen use it. Avro is
// implemented with github.com/hamba/avro/v2, which stays inside this
// package (and serde/avro): every schema is parsed with its own
// avro.SchemaCache, never the package-global one.
//
// SKELETON: the API below is the contract other packages build against;
// the implementation is being written.
package connectavro

import (
	"errors"

	"github.com/sluicehq/sluice/connectors"
)

var errTODO = errors.New("connectavro: not implemented yet")

// FromConnect returns the Avro schema (canonical JSON text) for a Connect
// schema, as Confluent's AvroData.fromConnectSchema: a struct becomes a
// record named after the schema (io.confluent.connect.avro.ConnectDefault
// when unnamed), an optional schema a union with null first and default
// null, int8/int16 an int with "connect.type", Decimal bytes with
// logicalType decimal (precision from "connect.decimal.precision", else 64),
// Date/Time/Timestamp the date/time-millis/timestamp-millis logical types,
// and version, doc, parameters and defaults as connect.* properties.
func FromConnect(schema *connectors.Schema) (string, error) { return "", errTODO }

// ToConnect returns the Connect schema for an Avro schema (JSON text), as
// AvroData.toConnectSchema: records become structs named by their full
// name, unions with null optional schemas, enums strings (with
// io.confluent.connect.avro.Enum parameters), fixed bytes, logical types
// their Connect logical types, connect.* properties restored.
func ToConnect(avroSchema string) (*connectors.Schema, error) { return nil, errTODO }

// Codec encodes and decodes Connect values of one schema in Avro binary
// (no wire-format header). It is safe for concurrent use.
type Codec struct{}

// NewCodec compiles a codec for a Connect schema (its Avro schema is
// FromConnect's).
func NewCodec(schema *connectors.Schema) (*Codec, error) { return nil, errTODO }

// NewCodecFromAvro compiles a codec for an Avro schema; its Connect schema
// is ToConnect's.
func NewCodecFromAvro(avroSchema string) (*Codec, error) { return nil, errTODO }

// Schema returns the codec's Connect schema.
func (c *Codec) Schema() *connectors.Schema { return nil }

// AvroSchema returns the codec's Avro schema as canonical JSON text.
func (c *Codec) AvroSchema() string { return "" }

// Append appends the Avro binary encoding of value to dst.
func (c *Codec) Append(dst []byte, value any) ([]byte, error) { return dst, errTODO }

// Decode decodes Avro binary data written with this codec's schema.
func (c *Codec) Decode(data []byte) (any, error) { return nil, errTODO }

// DecodeFrom decodes data written with writer's schema into this codec's
// schema (Avro schema resolution: added fields take defaults, removed ones
// are skipped, promotions apply).
func (c *Codec) DecodeFrom(writer *Codec, data []byte) (any, error) { return nil, errTODO }

// ToGeneric converts a Connect value of the codec's schema to hamba/avro's
// generic representation (map[string]any records, ...), for writers that
// take generic values (Avro object container files).
func (c *Codec) ToGeneric(value any) (any, error) { return nil, errTODO }

// FromGeneric converts hamba/avro's generic representation to a Connect
// value of the codec's schema.
func (c *Codec) FromGeneric(value any) (any, error) { return nil, errTODO }
