// Package connectjson converts Kafka Connect data ([connectors.Schema] and
// values) to JSON and back, byte-compatible with Kafka Connect's
// JsonConverter: the payload encoding (schemas.enable=false) and the schema
// envelope form ({"schema":...,"payload":...}, schemas.enable=true). The
// JSON converter, the JSON and CSV file formats and the HTTP connectors use
// it.
//
// Byte compatibility means what Connect's Jackson writes: no whitespace,
// struct fields in schema order, Java's number forms (1.0, 1.0E10), only
// the escapes JSON requires. Where Connect's output has no defined order
// (map entries, schema parameters) Sluice sorts keys. Decoding accepts any
// valid JSON.
//
// Every function is safe for concurrent use; [EnvelopeCodec] adds the
// schema caches of JsonConverter (schemas.cache.size).
package connectjson

import (
	"fmt"
	"sync/atomic"

	"github.com/sluicehq/sluice/connectors"
)

// Options adjusts the encoding.
type Options struct {
	// DecimalNumeric writes decimals as JSON numbers (Kafka Connect's
	// decimal.format=NUMERIC) instead of base64 strings of the unscaled
	// bytes (BASE64, the default).
	DecimalNumeric bool
	// Memo, if set, caches the encoding of shared structs
	// ([connectors.Struct.Share]) by identity. It must be used with one
	// Options value only (the bytes depend on the other options).
	Memo *StructMemo
}

// StructMemo remembers the encoding of the last shared struct written
// (nested in a value: a CDC event's source block, shared by the events of
// a batch), so that the records sharing it copy its bytes instead of
// encoding it again. It holds the struct, so the identity cannot be
// reused while remembered; shared structs are immutable. Safe for
// concurrent use.
type StructMemo struct {
	last atomic.Pointer[memoEntry]
}

type memoEntry struct {
	st     *connectors.Struct
	schema *connectors.Schema
	b      []byte
}

// Append appends the JSON encoding of value to dst. schema may be nil for a
// schemaless value (maps, slices, scalars; any Go value encoding/json
// accepts). With a schema, values are written as Kafka Connect's
// JsonConverter writes payloads: structs as objects in field order, bytes
// as base64, Date as int days, Time as int millis, Timestamp as int64
// millis, Decimal per opts. A nil value is written as null (or as the
// schema's default; a required schema without one is an error).
//
// Schemaless values: map keys are sorted, []byte is base64, a
// *connectors.Struct is written with its own schema, a *big.Rat as a plain
// number; other Go types go through encoding/json (without HTML escaping).
func Append(dst []byte, schema *connectors.Schema, value any, opts Options) ([]byte, error) {
	e := encoder{opts: opts}
	return e.value(dst, nil, schema, value)
}

// Decode parses a JSON document into a schemaless value: objects as
// map[string]any, arrays as []any, whole numbers that fit int64 as int64,
// other numbers as float64, strings, bools and nil. It rejects trailing
// data after the document. Invalid UTF-8 in strings becomes U+FFFD and a
// lone surrogate escape U+FFFD, as with encoding/json; nesting deeper than
// 1000 levels is refused, as Jackson does. Syntax errors are
// [*SyntaxError]s with the byte offset. The result does not alias data.
func Decode(data []byte) (any, error) {
	p := parser{data: data}
	return p.document()
}

// Coerce converts a schemaless value (as Decode returns) to a value of
// schema, as JsonConverter does with an envelope's payload: numbers to the
// schema's numeric type (range-checked), base64 strings to bytes and
// decimals, objects to *connectors.Struct, and so on. Errors name the
// field path and wrap [connectors.ErrSchemaMismatch].
//
// A null (or a missing struct field) takes the schema's default, or stays
// null if the schema is optional. Values already of the schema's Go type
// (a time.Time for a Timestamp, a *big.Rat for a Decimal, []byte for bytes)
// are accepted as they are. Unlike Connect, which truncates silently,
// fractional numbers for integer schemas, out-of-range numbers and
// decimals with more fractional digits than their scale are errors.
// A nil schema returns v with any json.Number replaced by int64 or float64.
func Coerce(schema *connectors.Schema, v any) (any, error) {
	return coercer{}.coerce(nil, schema, v)
}

// AppendSchema appends Kafka Connect's JSON form of a schema to dst, as
// JsonConverter writes it:
// {"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"x"}.
// A nil schema is written as null. Defaults are written with decimals in
// BASE64 form; [AppendSchemaOptions] takes the decimal format.
func AppendSchema(dst []byte, schema *connectors.Schema) []byte {
	out, err := AppendSchemaOptions(dst, schema, Options{})
	if err != nil {
		// The only failures are malformed schemas (an array without an
		// element schema, a default that does not fit its schema): the
		// contract has no error, so the schema is written without them.
		return append(dst, "null"...)
	}
	return out
}

// AppendSchemaOptions is AppendSchema with encoding options (for defaults)
// and an error for a malformed schema (a missing element schema, a default
// that does not fit).
func AppendSchemaOptions(dst []byte, schema *connectors.Schema, opts Options) ([]byte, error) {
	if schema == nil {
		return append(dst, "null"...), nil
	}
	out, err := appendSchema(dst, schema, opts, nil)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// ParseSchema reads Kafka Connect's JSON form of a schema from a decoded
// JSON value (as Decode returns). A nil value is no schema (nil, nil).
// Field names must be unique, parameters strings, defaults values of their
// schema; unknown attributes are ignored, as in Connect.
func ParseSchema(v any) (*connectors.Schema, error) {
	return parseSchema(nil, v)
}

// AppendEnvelope appends {"schema":...,"payload":...} (schemas.enable=true).
// A nil schema is written as "schema":null.
func AppendEnvelope(dst []byte, schema *connectors.Schema, value any, opts Options) ([]byte, error) {
	start := len(dst)
	dst = append(dst, `{"schema":`...)
	dst, err := AppendSchemaOptions(dst, schema, opts)
	if err != nil {
		return dst[:start], err
	}
	return appendPayload(dst, start, schema, value, opts)
}

func appendPayload(dst []byte, start int, schema *connectors.Schema, value any, opts Options) ([]byte, error) {
	dst = append(dst, `,"payload":`...)
	e := encoder{opts: opts}
	dst, err := e.value(dst, nil, schema, value)
	if err != nil {
		return dst[:start], err
	}
	return append(dst, '}'), nil
}

// DecodeEnvelope parses {"schema":...,"payload":...} into a schema and a
// value of that schema. As in Kafka Connect, the document must be an object
// with exactly these two fields; a null schema gives a schemaless value.
func DecodeEnvelope(data []byte) (*connectors.Schema, any, error) {
	return decodeEnvelope(data, parseSchemaJSON)
}

// decodeEnvelope is DecodeEnvelope with schemaOf reading the schema's JSON
// text (EnvelopeCodec caches it).
func decodeEnvelope(data []byte, schemaOf func(raw []byte) (*connectors.Schema, error)) (*connectors.Schema, any, error) {
	schemaRaw, payload, err := envelopeParts(data)
	if err != nil {
		return nil, nil, err
	}
	schema, err := schemaOf(schemaRaw)
	if err != nil {
		return nil, nil, err
	}
	v, err := coercer{}.coerce(nil, schema, payload)
	if err != nil {
		return nil, nil, err
	}
	return schema, v, nil
}

// parseSchemaJSON is ParseSchema of a schema's JSON text.
func parseSchemaJSON(raw []byte) (*connectors.Schema, error) {
	sv, err := Decode(raw)
	if err != nil {
		return nil, err
	}
	return ParseSchema(sv)
}

// errEnvelope is Kafka Connect's message for data that is not an envelope.
const errEnvelope = `connectjson: JSON with schemas.enable=true must be an object with exactly the fields "schema" and "payload" (if the data is plain JSON, set schemas.enable=false)`

// envelopeParts validates an envelope and returns the raw JSON of its
// schema (the key of the schema cache) and its payload, decoded in exact
// mode (numbers that are not int64 as json.Number: Coerce makes exact
// decimals of them, or float64s for a null schema).
func envelopeParts(data []byte) (schemaRaw []byte, payload any, err error) {
	p := parser{data: data, exact: true}
	p.skipSpace()
	if p.pos >= len(data) || data[p.pos] != '{' {
		if err := p.skip(); err != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%s; got %s", errEnvelope, kindAt(data))
	}
	p.pos++
	var haveSchema, havePayload bool
	for n := 0; ; n++ {
		p.skipSpace()
		if n == 0 && p.pos < len(data) && data[p.pos] == '}' {
			p.pos++
			break
		}
		key, err := p.key()
		if err != nil {
			return nil, nil, err
		}
		start := p.pos
		if key == "payload" {
			if payload, err = p.value(); err != nil {
				return nil, nil, err
			}
			havePayload = true
		} else if err := p.skip(); err != nil {
			return nil, nil, err
		}
		switch key {
		case "schema":
			schemaRaw, haveSchema = data[start:p.pos], true
		case "payload":
		default:
			// Validate the rest before reporting the envelope error, so
			// that malformed JSON is reported as such.
			if err := skipRest(&p); err != nil {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("%s; got a field %q", errEnvelope, key)
		}
		p.skipSpace()
		if p.pos >= len(data) {
			return nil, nil, p.fail("unexpected end of input in an object")
		}
		if data[p.pos] == ',' {
			p.pos++
			continue
		}
		if data[p.pos] != '}' {
			return nil, nil, p.fail("want ',' or '}' in an object")
		}
		p.pos++
		break
	}
	p.skipSpace()
	if p.pos != len(data) {
		return nil, nil, p.fail("unexpected data after the JSON value")
	}
	if !haveSchema || !havePayload {
		return nil, nil, fmt.Errorf("%s; the %s field is missing", errEnvelope, missing(haveSchema))
	}
	return schemaRaw, payload, nil
}

func missing(haveSchema bool) string {
	if haveSchema {
		return `"payload"`
	}
	return `"schema"`
}

// skipRest validates the rest of an object whose first fields were read.
func skipRest(p *parser) error {
	for {
		p.skipSpace()
		if p.pos >= len(p.data) {
			return p.fail("unexpected end of input in an object")
		}
		switch p.data[p.pos] {
		case '}':
			p.pos++
			p.skipSpace()
			if p.pos != len(p.data) {
				return p.fail("unexpected data after the JSON value")
			}
			return nil
		case ',':
			p.pos++
			p.skipSpace()
			if err := p.skipKey(); err != nil {
				return err
			}
			if err := p.skip(); err != nil {
				return err
			}
		default:
			return p.fail("want ',' or '}' in an object")
		}
	}
}

// kindAt names the JSON kind of the (valid) document in data.
func kindAt(data []byte) string {
	p := parser{data: data}
	p.skipSpace()
	if p.pos >= len(data) {
		return "nothing"
	}
	switch c := data[p.pos]; {
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	}
	return "a number"
}
