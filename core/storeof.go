package core

import (
	"fmt"
	"reflect"
)

// StoreContext is the part of a ProcessorContext that reaches state
// stores; every ProcessorContext is one.
type StoreContext interface {
	ApplicationID() string
	StateStore(name string) (any, error)
}

// StoreOf returns the store named name, connected to the processor of ctx,
// as an S (state.KeyValueStore, state.WindowStore or state.SessionStore),
// together with the topic to pass to the serdes of its keys and values:
// its changelog topic (ChangelogTopic), also when logging is disabled, as
// Kafka Streams' stores do. A processor that cannot reach the store gets
// an error wrapping ErrNoStore; a store of another kind is an error too.
// Global stores are read through StateStore: their serdes take the source
// topic, not a changelog.
func StoreOf[S any](ctx StoreContext, name string) (store S, serdeTopic string, err error) {
	st, err := ctx.StateStore(name)
	if err != nil {
		return store, "", err
	}
	store, ok := st.(S)
	if !ok {
		return store, "", fmt.Errorf("core: store %q is not a %v", name, reflect.TypeFor[S]())
	}
	return store, ChangelogTopic(ctx.ApplicationID(), name), nil
}
