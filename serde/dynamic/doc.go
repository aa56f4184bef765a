// Package dynamic gives records whose schema is known only at run time —
// an Avro schema from a job file, an .avsc file or a schema registry — a
// real Go type, so that they decode, encode and are read by expressions at
// the speed of hand-written structs rather than of map[string]any.
//
// [FromAvro] compiles a record schema into a [Type]: a struct type built
// with reflect.StructOf, one exported field per Avro field, tagged
// `avro:"name" expr:"name" json:"name"` with the Avro field name. A record
// value is a pointer to such a struct, held in an any ([Type.New]). The
// serdes over it ([AvroSerde] in the Confluent wire format, [JSONSerde] for
// JSON objects) encode and decode without per-record reflection, and
// expr-lang/expr type-checks member access on the struct type (a typo in a
// field name is a compile error with its position). [Infer] builds a Type,
// and its Avro schema, from the static result types of the expressions
// that compute a record's fields. [Type.Accessor] reads and writes a field
// by its path with a plan compiled once.
//
// # Representation
//
// Each Avro type maps to the Go type below. All of them are decoded and
// encoded by hamba/avro's typed codecs (the speed of static structs),
// except general unions, which use its generic codecs for that field only.
//
//	Avro                                 Go
//	null                                 any (always nil)
//	boolean                              bool
//	int                                  int32
//	long                                 int64
//	float                                float32
//	double                               float64
//	string, string/uuid                  string
//	bytes                                []byte
//	fixed (size N), fixed/duration       [N]byte
//	enum                                 string (one of the symbols)
//	record                               struct (nested by value)
//	array                                []T
//	map                                  map[string]T
//	["null", T] or [T, "null"]           *T (nil is null)
//	any other union                      any (see below)
//	bytes/decimal, fixed/decimal         *big.Rat (exact); a nullable one is **big.Rat
//	int/date                             time.Time (midnight UTC)
//	int/time-millis, long/time-micros    time.Duration (since midnight)
//	long/timestamp-millis, -micros       time.Time (UTC)
//	long/local-timestamp-millis, -micros time.Time in time.Local whose wall clock is the value (hamba/avro's convention)
//
// Choices and their reasons: int stays int32 and float float32 so that a
// value always fits its Avro type (expr-lang mixes integer and float kinds
// freely, so `value.quantity * 2` and `value.weight > 1.5` work); time
// types are time.Time and time.Duration because expr-lang compares and
// subtracts them natively (`value.placed > date("2025-01-01")`); decimals
// are *big.Rat because that is the only exact decimal type hamba/avro
// encodes at full speed (expressions need a conversion function to do
// arithmetic on them; the job layer provides it). A nullable decimal is a
// **big.Rat (nil is null) because hamba/avro's decoder for a nullable
// *big.Rat writes a pointer into the big.Rat it allocates, corrupting
// memory; [Accessor.Get], [Type.ToMap] and [Type.FromMap] hide the extra
// pointer. Other logical types (and unknown ones) keep their base type's
// Go type and are written back unchanged.
//
// General unions (more than one non-null branch) are held in an any, as
// avro.NewGeneric holds them: when every branch is null, boolean, int,
// long, float, double, string, bytes or one of the logical types date,
// time-millis, time-micros, timestamp-millis, timestamp-micros, decimal
// (bytes) and uuid, the value is held bare, in its generic Go type (an int
// branch as int, long as int64, decimal as *big.Rat); otherwise every
// non-null value is held as map[string]any{"<branch name>": value}, with
// the value in avro.NewGeneric's representation (a record as a map).
// Expressions see such fields as any.
//
// Recursive records (a record that contains itself) cannot be built with
// reflect.StructOf and are rejected; read them with avro.NewGeneric.
// hamba/avro cannot resolve a writer schema with a field of type "null"
// that the reader lacks (it fails with "schema type null is unsupported"),
// for static, generic and dynamic types alike.
//
// Go field names are the Avro names with an upper-case first letter
// ("customerId" → CustomerId), made unique and never equal to another
// field's Avro name (expr-lang also matches Go names at run time); code
// should use the tags, never the Go names. Records with identical field
// names and Go types share one struct type (reflect.StructOf returns the
// same type for the same fields), whatever their Avro names.
//
// # JSON
//
// JSON values use the same Types: an Avro schema applied to JSON text (one
// schema language for both formats, so a job declares an .avsc for a JSON
// topic exactly as for an Avro one; Kafka Connect's schema-and-payload
// envelope is the business of the connector converters, not of this
// package). [JSONSerde] writes a record as a plain JSON object keyed by
// the Avro field names — not Avro's JSON encoding, which wraps union
// values — and reads it back:
//
//	boolean, int, long, float, double     JSON true/false and numbers (NaN and ±Inf cannot be written)
//	string, enum, uuid                    JSON strings (enum symbols checked)
//	bytes, fixed, fixed/duration          base64 strings (standard alphabet, padded)
//	decimal                               a JSON number with the schema's scale (12.30); read also from a string
//	date                                  "2006-01-02"; read also from a number of days
//	time-millis, time-micros              "15:04:05.000" / "15:04:05.000000"; read also from a number in the unit
//	timestamp-millis, -micros             RFC 3339 in UTC with 3 or 6 fraction digits; read also from a number in the unit
//	local-timestamp-millis, -micros       RFC 3339 without a zone; read also from a number in the unit
//	array, map, record                    JSON arrays and objects (map keys sorted)
//	nullable                              null or the value
//	general union                         the value (read: the first branch, in the union's order, that reads it)
//
// Times that the text forms cannot hold (years outside 0-9999, times of
// day outside one day) are written as numbers in the schema's unit.
// Decimal text is limited to 4096 digits and exponents of ±1000.
//
// Reading, fields missing from the object take their Avro default, or nil
// when nullable; a missing field with neither is an error. Unknown fields
// are ignored. Values without a schema use [SchemalessJSONSerde]: a
// map[string]any with int64 for integral numbers and float64 for others.
//
// # Goroutines
//
// A Type and the serdes and accessors built from it are immutable and safe
// for concurrent use. Record values are not: one goroutine owns a value
// at a time, as with any Go struct.
package dynamic
