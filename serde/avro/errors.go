package avro

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/serde"
)

// Sentinel errors say what kind of failure an [*Error] is; test with
// errors.Is. A runtime's deserialization handler typically retries on
// [ErrRegistryUnavailable] and dead-letters the record on every other kind
// returned by Deserialize.
var (
	// ErrWireFormat is returned by Deserialize when the data is not in the
	// Confluent wire format: shorter than the 5-byte header, or a first
	// (magic) byte other than 0. The record was probably not written by an
	// Avro schema-registry serializer.
	ErrWireFormat = errors.New("avro: not in the confluent wire format")

	// ErrUnknownSchemaID is returned by Deserialize when the registry
	// answers that the schema id in the record header does not exist, and by
	// the serializer of a serde built with [UseSchemaID] for an id the
	// registry does not know.
	ErrUnknownSchemaID = errors.New("avro: unknown schema id")

	// ErrSchemaNotRegistered is returned by Serialize when the serde may not
	// register its schema ([AutoRegister](false) or [UseLatestVersion]) and
	// the registry has no matching schema (or no version at all) under the
	// subject.
	ErrSchemaNotRegistered = errors.New("avro: schema not registered")

	// ErrRegistryUnavailable is returned by Serialize and Deserialize when
	// the schema registry could not be reached, timed out, or answered with
	// a server error (5xx, 408, 429). The failure is not cached: retrying the
	// same record later may succeed. It wraps serde.ErrTransient, so the
	// runtime's skip and dead-letter handlers do not divert such records.
	ErrRegistryUnavailable = fmt.Errorf("avro: schema registry unavailable (%w)", serde.ErrTransient)

	// ErrRegistryRejected is returned by Serialize and Deserialize when the
	// registry answered a request with a client error other than "not
	// found" — for example 409 when registering a schema that is
	// incompatible with the subject's earlier versions, 401/403 when the
	// credentials are wrong, or a response that is not a registry response.
	ErrRegistryRejected = errors.New("avro: schema registry rejected the request")

	// ErrInvalidSchema is returned by Deserialize (and by Serialize with
	// [UseSchemaID] or [UseLatestVersion]) when the registry's schema is not
	// an Avro schema, does not parse, or has references that cannot be
	// resolved. The constructors wrap it when the serde's own schema does
	// not parse.
	ErrInvalidSchema = errors.New("avro: invalid schema")

	// ErrIncompatibleSchema is returned by Deserialize when the record's
	// writer schema cannot be resolved into the serde's reader schema under
	// the Avro schema-resolution rules (for example a reader field without a
	// default that the writer lacks, or a string written where an int is
	// read).
	ErrIncompatibleSchema = errors.New("avro: writer schema incompatible with reader schema")

	// ErrCorrupt is returned by Deserialize when the Avro body after the
	// header cannot be decoded with the writer schema: it is truncated, has
	// an invalid length, union index or enum index, exceeds a size limit, or
	// has bytes left over after the value.
	ErrCorrupt = errors.New("avro: corrupt record body")

	// ErrEncode is returned by Serialize when the value cannot be encoded
	// with the writer schema (a missing or mistyped field, an unknown enum
	// symbol, a value that matches no union branch, ...).
	ErrEncode = errors.New("avro: cannot encode value")
)

// Error is the error returned by every Serialize and Deserialize of this
// package's serdes. It says where the failure happened; errors.Is with one
// of the sentinels above (its Kind) says what kind of failure it was, and
// errors.Is/As reach the underlying cause (Err) too.
type Error struct {
	// Kind is one of the package's sentinel errors.
	Kind error
	// Op is "serialize" or "deserialize".
	Op string
	// Topic is the record's topic.
	Topic string
	// Subject is the registry subject involved, or "" when the operation
	// does not use one (deserializing looks schemas up by id).
	Subject string
	// SchemaID is the schema id involved, or -1 when none is known yet.
	SchemaID int
	// Err is the underlying cause, or nil.
	Err error

	detail string
}

// Error formats as `avro: topic "<topic>": <what went wrong, with the schema
// id, subject or registry URL involved>: <cause>`, for example
// `avro: topic "orders": schema id 42 not found in registry http://sr:8081
// (record not written with this registry?): {"error_code":40403,...}`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("avro: topic ")
	b.WriteString(strconv.Quote(e.Topic))
	b.WriteString(": ")
	b.WriteString(e.detail)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the kind and the cause, so that errors.Is(err, ErrCorrupt)
// and errors.As(err, &someCauseType) both work.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
