package core_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/state"
)

// storeContext is a core.StoreContext over fixed stores.
type storeContext map[string]any

func (storeContext) ApplicationID() string { return "app" }

func (c storeContext) StateStore(name string) (any, error) {
	if s, ok := c[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("%w: %q", core.ErrNoStore, name)
}

type keyValueStore struct{ state.KeyValueStore }

func TestStoreOf(t *testing.T) {
	t.Parallel()
	ctx := storeContext{"counts": keyValueStore{}}
	kv, topic, err := core.StoreOf[state.KeyValueStore](ctx, "counts")
	if err != nil || kv == nil || topic != "app-counts-changelog" || topic != core.ChangelogTopic("app", "counts") {
		t.Errorf("StoreOf = %v, %q, %v; want the store and app-counts-changelog", kv, topic, err)
	}
	if _, _, err := core.StoreOf[state.WindowStore](ctx, "counts"); err == nil || !strings.Contains(err.Error(), `store "counts" is not a state.WindowStore`) {
		t.Errorf("a key-value store read as a window store: %v", err)
	}
	if _, _, err := core.StoreOf[state.KeyValueStore](ctx, "missing"); !errors.Is(err, core.ErrNoStore) {
		t.Errorf("a missing store: %v, want ErrNoStore", err)
	}
}
