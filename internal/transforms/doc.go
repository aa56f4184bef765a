// Package transforms implements Kafka Connect's single message transforms
// and predicates for Sluice's connectors, with Kafka Connect's names,
// configuration keys and semantics: InsertField, ReplaceField, MaskField,
// Cast, ExtractField, HoistField, Flatten, TimestampConverter, HeaderFrom
// and SetSchemaMetadata (each as $Key and $Value), ValueToKey, RegexRouter,
// TimestampRouter, InsertHeader, DropHeaders and Filter; the predicates
// TopicNameMatches, HasHeaderKey and RecordIsTombstone. Each type is also
// registered under its Kafka Connect class name
// (org.apache.kafka.connect.transforms.InsertField$Value), so connector
// configurations written for Kafka Connect work unchanged. Explode$Value is
// a Sluice extension that emits one record per element of an array.
//
// Start with [Register], which adds them all to a connectors.Registry; the
// framework (connectors.ParseConnector) builds them from the
// transforms.<alias>.* and predicates.<alias>.* keys of a connector and
// handles predicate and negate.
//
// Transforms work on records with a schema (a *connectors.Struct of a
// struct schema) and without (a map[string]any). They never change a value
// the record may share with another record: a changed struct or map is a
// new one. A transform that changes schemas derives the new schema and a
// compiled plan (which input field goes where, which cast applies) once per
// input schema, compared by pointer, and caches the last 16 derivations, so
// the per-record work is a loop over field indexes without maps or
// reflection. Every transform is safe for concurrent use: the tasks of a
// connector share it.
//
// Where Kafka Connect renders values as text (Cast to string, HeaderFrom
// header values, dates), the bytes are Java's: numbers as Java's toString
// (42.0, 1.0E10), decimals as BigDecimal.toString, dates in ISO 8601 in UTC.
// Date patterns are java.text.SimpleDateFormat's, compiled here; regular
// expressions are Java's syntax run by Go's RE2 (no lookaround or
// backreferences).
package transforms
