package dynamic

import (
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// AvroSerde returns a serde for t's values in the Confluent schema-registry
// wire format, byte-compatible with avro.New, avro.NewGeneric and
// Confluent's KafkaAvroSerializer. Serialize takes a value of t (a non-nil
// pointer to its struct) and writes it with t's schema, registered under
// the subject of the options' strategy (avro.Key, avro.WithSubjectStrategy,
// avro.AutoRegister, avro.UseLatestVersion and avro.UseSchemaID work as for
// avro.New). Deserialize returns a new value of t, resolving each record's
// writer schema (fetched once per schema id, so records written with any
// registered version of the subject are read) against t's schema by the
// Avro rules: added fields take their defaults, removed ones are skipped,
// int widens to long, aliases rename.
//
// Errors are serde/avro's *avro.Error, with its kinds: a registry that
// cannot be reached is avro.ErrRegistryUnavailable, which wraps
// serde.ErrTransient; others name the topic, subject and schema id. The
// client is usually schemaregistry.NewClient's. The serde is safe for concurrent use.
func AvroSerde(client *schemaregistry.Client, t *Type, opts ...avro.Option) (serde.Serde[any], error) {
	return avro.NewReflect(client, t.schema, t.Reflect(), opts...)
}
