// Package converters provides the bundled key and value converters of
// Sluice's connectors, under their Kafka Connect names and class names:
// json (org.apache.kafka.connect.json.JsonConverter), string
// (org.apache.kafka.connect.storage.StringConverter), bytes
// (org.apache.kafka.connect.converters.ByteArrayConverter), long, integer,
// short, float and double (org.apache.kafka.connect.converters.LongConverter
// and friends) and avro (io.confluent.connect.avro.AvroConverter). Their
// bytes are compatible with those converters', so Sluice and Kafka Connect
// can read each other's topics.
//
// Every converter is safe for concurrent use by the tasks of a connector,
// and none makes a network call when it is built: the Avro converter talks
// to the schema registry on the first record of a topic or schema id.
//
// Errors: a record that cannot be converted (bad bytes, a value that does
// not fit its schema, an unknown schema id) is a permanent error naming the
// topic; a schema registry that cannot be reached is an error wrapping
// serde.ErrTransient, which the worker retries and never dead-letters.
package converters

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/connectors"
)

// Register adds every converter of the package to reg.
func Register(reg *connectors.Registry) error {
	plugins := []connectors.ConverterPlugin{jsonPlugin(), stringPlugin(), bytesPlugin()}
	plugins = append(plugins, numberPlugins()...)
	plugins = append(plugins, avroPlugin())
	var errs []error
	for _, p := range plugins {
		if err := reg.AddConverter(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("converters: register: %w", err)
	}
	return nil
}

// role names the converter's role in errors.
func role(isKey bool) string {
	if isKey {
		return "key"
	}
	return "value"
}
