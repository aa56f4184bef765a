package dsl

import (
	"fmt"

	"github.com/sluicehq/sluice/core"
)

// QueryTable returns an interactive query of a materialized table's store
// in a running app (Kafka Streams' KafkaStreams#store with
// QueryableStoreTypes.keyValueStore), with the table's serdes and the
// timestamp prefix of DSL stores stripped. Name the store
// (MaterializedAs) to keep it stable across topology changes. For a table
// materialized with serdes other than its stream's (Table with
// Materialized.Keys/Values), use core.QueryKeyValue with those serdes and
// core.WithTimestampedValues. opts are more query options
// (core.WithStaleStores to also read standby replicas).
func QueryTable[K, V any](app *core.App, t *KTable[K, V], opts ...core.QueryOption) (*core.KeyValueQuery[K, V], error) {
	if err := queryable(t); err != nil {
		return nil, err
	}
	return core.QueryKeyValue(app, t.store, t.keys, t.values, append([]core.QueryOption{core.WithTimestampedValues()}, opts...)...)
}

// TableQueryCodec is the core.QueryHandler codec of a materialized table:
// parseKey turns URL text into a key, render (nil: the value itself) turns
// a value into what is JSON-encoded.
func TableQueryCodec[K, V any](t *KTable[K, V], parseKey func(text string) (K, error), render func(V) any) (core.QueryCodec, error) {
	if err := queryable(t); err != nil {
		return core.QueryCodec{}, err
	}
	return core.NewQueryCodec(t.store, t.keys, t.values, parseKey, render, core.WithTimestampedValues()), nil
}

// QueryMetadataForKey says which instance of the application holds key in
// a materialized table's store, and in which partition
// (core.App.QueryMetadataForKey with the table's key serde).
func QueryMetadataForKey[K, V any](app *core.App, t *KTable[K, V], key K) (core.KeyQueryMetadata, error) {
	if err := queryable(t); err != nil {
		return core.KeyQueryMetadata{}, err
	}
	return core.QueryMetadataForKeyOf(app, t.store, key, t.keys)
}

func queryable[K, V any](t *KTable[K, V]) error {
	if t.store == "" {
		return fmt.Errorf("dsl: table of node %q is not materialized; it has no store to query", t.node)
	}
	if t.keys == nil || t.values == nil {
		return fmt.Errorf("dsl: table of node %q has no serdes for its store", t.node)
	}
	return nil
}
