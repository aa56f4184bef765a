// Package connectjson converts Kafka Connect data ([connectors.Schema] and
// values) to JSON and back, byte-compatible with Kafka Connect's
// JsonConverter: the payload encoding (schemas.enable=false) and the schema
// envelope form ({"schema":...,"payload":...}, schemas.enable=true). The
// JSON converter, the JSON and CSV file formats and the HTTP connectors use
// it.
//
// SKELETON: the API below is the contract other packages build against;
// the implementation is being written.
package connectjson

import (
	"errors"

	"github.com/sluicehq/sluice/connectors"
)

var errTODO = errors.New("connectjson: not implemented yet")

// Options adjusts the encoding.
type Options struct {
	// DecimalNumeric writes decimals as JSON numbers (Kafka Connect's
	// decimal.format=NUMERIC) instead of base64 strings of the unscaled
	// bytes (BASE64, the default).
	DecimalNumeric bool
}

// Append appends the JSON encoding of value to dst. schema may be nil for a
// schemaless value (maps, slices, scalars; any Go value encoding/json
// accepts). With a schema, values are written as Kafka Connect's
// JsonConverter writes payloads: structs as objects in field order, bytes
// as base64, Date as int days, Time as int millis, Timestamp as int64
// millis, Decimal per opts. A nil value is written as null.
func Append(dst []byte, schema *connectors.Schema, value any, opts Options) ([]byte, error) {
	return dst, errTODO
}

// Decode parses a JSON document into a schemaless value: objects as
// map[string]any, arrays as []any, whole numbers that fit int64 as int64,
// other numbers as float64, strings, bools and nil. It rejects trailing
// data after the document.
func Decode(data []byte) (any, error) { return nil, errTODO }

// Coerce converts a schemaless value (as Decode returns) to a value of
// schema, as JsonConverter does with an envelope's payload: numbers to the
// schema's numeric type (range-checked), base64 strings to bytes and
// decimals, objects to *connectors.Struct, and so on. Errors name the
// field path.
func Coerce(schema *connectors.Schema, v any) (any, error) { return nil, errTODO }

// AppendSchema appends Kafka Connect's JSON form of a schema
// ({"type":"struct","fields":[{"field":"id","type":"int32","optional":false}],
// "optional":false,"name":"x"}) to dst.
func AppendSchema(dst []byte, schema *connectors.Schema) []byte { return dst }

// ParseSchema reads Kafka Connect's JSON form of a schema from a decoded
// JSON value (as Decode returns).
func ParseSchema(v any) (*connectors.Schema, error) { return nil, errTODO }

// AppendEnvelope appends {"schema":...,"payload":...} (schemas.enable=true).
// A nil schema is written as "schema":null.
func AppendEnvelope(dst []byte, schema *connectors.Schema, value any, opts Options) ([]byte, error) {
	return dst, errTODO
}

// DecodeEnvelope parses {"schema":...,"payload":...} into a schema and a
// value of that schema.
func DecodeEnvelope(data []byte) (*connectors.Schema, any, error) { return nil, nil, errTODO }
