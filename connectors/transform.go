package connectors

// Converter turns a key or value between Kafka bytes and the data model,
// as Kafka Connect's Converter (fromConnectData / toConnectData). A
// converter is built per connector and role (key or value) and shared by
// the connector's tasks, so it must be safe for concurrent use.
//
// Nulls: a nil value converts to nil bytes (a Kafka null, a tombstone) and
// nil bytes convert to a nil value; converters never see them otherwise.
type Converter interface {
	// FromConnect serializes value (of schema, nil when schemaless) for a
	// record written to topic.
	FromConnect(topic string, schema *Schema, value any) ([]byte, error)
	// ToConnect deserializes data read from topic. data is never nil. It
	// is the fetched record's own bytes, which are never reused, so a
	// result may alias it (as the bytes converter does, like Kafka's
	// ByteArrayDeserializer); whoever keeps such a value keeps the fetched
	// batch in memory. data must not be modified.
	ToConnect(topic string, data []byte) (*Schema, any, error)
}

// ConverterPlugin declares a converter type ("json", "avro", ...).
type ConverterPlugin struct {
	Info
	// New builds a converter for keys (isKey) or values from its parsed
	// configuration (the "key.converter." or "value.converter." prefixed
	// fields of a connector).
	New func(cfg *Config, isKey bool) (Converter, error)
}

// Transform changes records between a source and Kafka or between Kafka
// and a sink (Kafka Connect's single message transforms, extended to one
// record in, any number out). It must be safe for concurrent use: the tasks
// of a connector share it.
type Transform interface {
	// Apply appends the records that rec becomes to dst and returns the
	// result: none to drop it, rec itself (possibly changed in place) or
	// new records. A transform may change rec and its headers, but not
	// values that rec shares with other records (build a new Struct).
	Apply(dst []*Record, rec *Record) ([]*Record, error)
}

// TransformPlugin declares a transform type ("InsertField$Value", ...).
type TransformPlugin struct {
	Info
	// New builds the transform from its parsed configuration (the
	// "transforms.<alias>." prefixed fields).
	New func(cfg *Config) (Transform, error)
}

// Predicate decides whether a transform applies to a record (KIP-585). It
// must be safe for concurrent use.
type Predicate interface {
	Test(rec *Record) bool
}

// PredicatePlugin declares a predicate type ("TopicNameMatches", ...).
type PredicatePlugin struct {
	Info
	// New builds the predicate from its parsed configuration (the
	// "predicates.<alias>." prefixed fields).
	New func(cfg *Config) (Predicate, error)
}
