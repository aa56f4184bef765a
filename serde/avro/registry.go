package avro

import (
	"context"
	"errors"
	"fmt"

	havro "github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// RegistryErrorKind says what an error from a schema-registry call means
// to this package's serdes: [ErrRegistryUnavailable] (which wraps
// serde.ErrTransient) for schemaregistry.ErrUnavailable — the registry
// could not be reached, timed out, or answered 5xx, 408 or 429, and
// retrying later may succeed; notFound for schemaregistry.ErrNotFound;
// [ErrRegistryRejected] for anything else (409 incompatible, 401/403, a
// response that is not a registry's, TLS failures that need a
// configuration change). Code outside this package that talks to the
// registry through the same client (the connector converters) uses it to
// classify failures the same way.
func RegistryErrorKind(err error, notFound error) error {
	switch schemaregistry.Classify(err) {
	case schemaregistry.ErrNotFound:
		return notFound
	case schemaregistry.ErrUnavailable:
		return ErrRegistryUnavailable
	}
	return ErrRegistryRejected
}

// parseRegistrySchema parses a schema fetched from the registry into a fresh
// schema cache of its own, after fetching and parsing its references (named
// types from other subjects) into the same cache. hamba/avro's default cache
// keeps one schema per full name, so two versions of the same record would
// silently collide in it. Failures to fetch a reference are
// *schemaregistry.ReferenceError values.
func parseRegistrySchema(ctx context.Context, client *schemaregistry.Client, schema sr.Schema) (havro.Schema, error) {
	if schema.Type != sr.TypeAvro {
		return nil, fmt.Errorf("schema type is %s, not AVRO", schema.Type)
	}
	return ParseWithReferences(ctx, client, schema)
}

// ParseWithReferences parses an Avro schema from the registry with the
// schemas it references (fetched through client, dependencies first) into
// a schema cache of its own. It is how every Sluice reader of registry
// schemas resolves references.
func ParseWithReferences(ctx context.Context, client *schemaregistry.Client, schema sr.Schema) (havro.Schema, error) {
	cache := &havro.SchemaCache{}
	if len(schema.References) > 0 {
		refs, err := client.References(ctx, schema)
		if err != nil {
			return nil, err
		}
		for _, ref := range refs {
			if _, err := havro.ParseWithCache(ref.Schema.Schema, "", cache); err != nil {
				return nil, fmt.Errorf("reference (subject %q version %d): %w", ref.Subject, ref.Version, err)
			}
		}
	}
	return havro.ParseWithCache(schema.Schema, "", cache)
}

// isReferenceError reports whether err is a failure to fetch a reference.
func isReferenceError(err error) bool {
	return errors.As(err, new(*schemaregistry.ReferenceError))
}
