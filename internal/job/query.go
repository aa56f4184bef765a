package job

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/serde"
)

// queryable registers a store the job materializes (a table input, an
// aggregation) for interactive queries: `sluice run --http` serves it at
// /stores/{store} (core.QueryHandler), keys given in URLs as text and
// parsed by the key's type, values rendered as JSON.
func (c *compiler) queryable(store string, key vtype, keys, values serde.Serde[any], kind core.StoreKind) {
	var opts []core.QueryOption
	if kind != core.SessionStoreKind {
		opts = append(opts, core.WithTimestampedValues()) // the DSL's key-value and window stores
	}
	c.queries = append(c.queries, core.NewQueryCodec(store, keys, values, keyParser(key), jsonable, opts...))
}

// queryableAggregation registers the store of an aggregation of the
// grouped stream n: key-value, window or session by n's windows.
func (c *compiler) queryableAggregation(store string, n *node, keys, values serde.Serde[any]) {
	kind := core.KeyValueStoreKind
	switch {
	case n.windows == nil:
	case n.windows.kind == "session":
		kind = core.SessionStoreKind
	default:
		kind = core.WindowStoreKind
	}
	c.queryable(store, n.key, keys, values, kind)
}

// keyParser turns URL text into a key of type t: the text itself for
// strings and bytes, a number for numeric keys, and a JSON document for
// JSON and record keys (a record's fields by name, as the JSON serde
// writes them).
func keyParser(t vtype) func(text string) (any, error) {
	if t.record != nil {
		elem := t.record.goType.Elem()
		return func(text string) (any, error) {
			v := reflect.New(elem)
			if err := json.Unmarshal([]byte(text), v.Interface()); err != nil {
				return nil, fmt.Errorf("a %s key is a JSON object of its fields: %w", t.record.name, err)
			}
			return v.Interface(), nil
		}
	}
	switch t.format {
	case "string":
		return func(text string) (any, error) { return text, nil }
	case "bytes":
		return func(text string) (any, error) { return []byte(text), nil }
	case "long":
		return func(text string) (any, error) { return strconv.ParseInt(text, 10, 64) }
	case "int":
		return func(text string) (any, error) {
			n, err := strconv.ParseInt(text, 10, 32)
			return int32(n), err
		}
	case "double":
		return func(text string) (any, error) { return strconv.ParseFloat(text, 64) }
	}
	return func(text string) (any, error) { return jsonAny{}.Deserialize("", []byte(text)) }
}
