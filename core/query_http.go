package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

// QueryCodec tells QueryHandler how to serve one store: how to parse keys
// given as text in URLs, and how to render keys and values as JSON. Build
// it with NewQueryCodec (or dsl.TableQueryCodec for a DSL table).
type QueryCodec struct {
	store string
	open  func(app *App) (*storeEndpoint, error)
}

// storeEndpoint is one store's typed queries behind untyped closures.
type storeEndpoint struct {
	kind StoreKind
	// key-value
	get  func(key string) (queryEntry, bool, error)
	scan func(from, to *string) ([]queryEntry, error)
	// window
	windows    func(key string, from, to int64) ([]queryEntry, error)
	allWindows func(from, to int64) ([]queryEntry, error)
	// session
	sessions func(key string) ([]queryEntry, error)
}

// queryEntry is one JSON result row.
type queryEntry struct {
	Key       any    `json:"key"`
	Value     any    `json:"value"`
	Start     *int64 `json:"start,omitempty"` // window and session start (epoch ms)
	End       *int64 `json:"end,omitempty"`   // session end (epoch ms, inclusive)
	Timestamp *int64 `json:"timestamp,omitempty"`
	Partition *int32 `json:"partition,omitempty"`
}

// errBadRequest marks request errors (unparsable keys or times).
var errBadRequest = errors.New("bad request")

// NewQueryCodec returns the codec of a store whose keys and values use the
// given serdes (the store's kind is taken from the topology). parseKey
// turns URL text into a key, for lookups and range bounds; render turns a
// value into what is JSON-encoded (nil: the value itself). Keys are
// JSON-encoded as they are. opts are the queries' (WithTimestampedValues
// for the DSL's key-value and window stores).
func NewQueryCodec[K, V any](store string, keys serde.Serde[K], values serde.Serde[V], parseKey func(text string) (K, error), render func(V) any, opts ...QueryOption) QueryCodec {
	if render == nil {
		render = func(v V) any { return v }
	}
	parse := func(text string) (K, error) {
		k, err := parseKey(text)
		if err != nil {
			return k, fmt.Errorf("%w: key %q: %v", errBadRequest, text, err)
		}
		return k, nil
	}
	ts := func(ms int64) *int64 {
		if ms < 0 {
			return nil
		}
		return &ms
	}
	return QueryCodec{store: store, open: func(app *App) (*storeEndpoint, error) {
		spec := app.topo.stores[store]
		if spec == nil {
			return nil, fmt.Errorf("%w: %q is not in the topology", ErrUnknownStore, store)
		}
		ep := &storeEndpoint{kind: spec.Kind}
		switch spec.Kind {
		case KeyValueStoreKind:
			kq, err := QueryKeyValue(app, store, keys, values, opts...)
			if err != nil {
				return nil, err
			}
			ep.get = func(text string) (queryEntry, bool, error) {
				k, err := parse(text)
				if err != nil {
					return queryEntry{}, false, err
				}
				v, t, found, err := kq.GetWithTimestamp(k)
				if err != nil || !found {
					return queryEntry{}, false, err
				}
				p, _ := kq.Partition(k)
				return queryEntry{Key: k, Value: render(v), Timestamp: ts(t), Partition: &p}, true, nil
			}
			ep.scan = func(from, to *string) ([]queryEntry, error) {
				var fb, tb []byte
				for _, b := range []struct {
					text *string
					out  *[]byte
				}{{from, &fb}, {to, &tb}} {
					if b.text == nil {
						continue
					}
					k, err := parse(*b.text)
					if err != nil {
						return nil, err
					}
					if *b.out, err = serializeKey(kq.q, keys, k); err != nil {
						return nil, err
					}
				}
				it, err := kq.iterate(fb, tb, from != nil || to != nil)
				if err != nil {
					return nil, err
				}
				defer it.Close()
				out := []queryEntry{}
				for it.Next() {
					p := it.Partition()
					out = append(out, queryEntry{Key: it.Key(), Value: render(it.Value()), Timestamp: ts(it.Timestamp()), Partition: &p})
				}
				return out, it.Err()
			}
		case WindowStoreKind:
			wq, err := QueryWindow(app, store, keys, values, opts...)
			if err != nil {
				return nil, err
			}
			collect := func(it *WindowIterator[K, V], err error) ([]queryEntry, error) {
				if err != nil {
					return nil, err
				}
				defer it.Close()
				out := []queryEntry{}
				for it.Next() {
					start := it.WindowStart()
					out = append(out, queryEntry{Key: it.Key(), Value: render(it.Value()), Start: &start, Timestamp: ts(it.Timestamp())})
				}
				return out, it.Err()
			}
			ep.windows = func(text string, from, to int64) ([]queryEntry, error) {
				k, err := parse(text)
				if err != nil {
					return nil, err
				}
				return collect(wq.FetchRange(k, from, to))
			}
			ep.allWindows = func(from, to int64) ([]queryEntry, error) { return collect(wq.FetchAll(from, to)) }
		case SessionStoreKind:
			sq, err := QuerySession(app, store, keys, values, opts...)
			if err != nil {
				return nil, err
			}
			ep.sessions = func(text string) ([]queryEntry, error) {
				k, err := parse(text)
				if err != nil {
					return nil, err
				}
				it, err := sq.Fetch(k)
				if err != nil {
					return nil, err
				}
				defer it.Close()
				out := []queryEntry{}
				for it.Next() {
					start, end := it.Start(), it.End()
					out = append(out, queryEntry{Key: it.Key(), Value: render(it.Value()), Start: &start, End: &end, Timestamp: ts(it.Timestamp())})
				}
				return out, it.Err()
			}
		}
		return ep, nil
	}}
}

// QueryHandler serves interactive queries over HTTP, as JSON, for the
// stores given codecs (a store without a codec is not served):
//
//	GET /stores/{store}/keys/{key}                  key-value lookup: {"key","value","timestamp","partition"}
//	GET /stores/{store}?from=&to=                   key-value range (bounds optional, inclusive) or all,
//	                                                local partitions merged: {"entries": [...]}
//	GET /stores/{store}/windows/{key}?from=&to=     a key's windows with start in [from, to] (epoch ms;
//	                                                default: all): {"entries": [{"key","start","value",...}]}
//	GET /stores/{store}/windows?from=&to=           every local key's windows
//	GET /stores/{store}/sessions/{key}              a key's sessions: {"entries": [{"key","start","end","value"}]}
//
// Keys in the path are URL-escaped text parsed by the store's codec.
// Errors are JSON {"error": "..."}: 404 for an unknown store or key, 400 for
// an unparsable key or time or an endpoint of another store kind, 421
// (Misdirected Request, with "partition") when the key's partition is held
// by another instance, 503 before the application is ready or when the
// task closed during the query (retry). Only local
// data is served: route requests for other partitions to the instances
// holding them. The handler is safe for concurrent use.
func QueryHandler(app *App, codecs ...QueryCodec) (http.Handler, error) {
	if app == nil {
		return nil, errors.New("core: QueryHandler: nil App")
	}
	eps := map[string]*storeEndpoint{}
	for _, c := range codecs {
		if c.open == nil {
			return nil, errors.New("core: QueryHandler: zero QueryCodec (use NewQueryCodec)")
		}
		if _, dup := eps[c.store]; dup {
			return nil, fmt.Errorf("core: QueryHandler: two codecs for store %q", c.store)
		}
		ep, err := c.open(app)
		if err != nil {
			return nil, fmt.Errorf("core: QueryHandler: %w", err)
		}
		eps[c.store] = ep
	}
	h := &queryHandler{stores: eps}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stores/{store}/keys/{key}", h.get)
	mux.HandleFunc("GET /stores/{store}", h.scan)
	mux.HandleFunc("GET /stores/{store}/windows/{key}", h.windows)
	mux.HandleFunc("GET /stores/{store}/windows", h.windows)
	mux.HandleFunc("GET /stores/{store}/sessions/{key}", h.sessions)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return mux, nil
}

type queryHandler struct {
	stores map[string]*storeEndpoint
}

// endpoint returns the store's endpoint if it has the wanted kind, else
// writes the error.
func (h *queryHandler) endpoint(w http.ResponseWriter, r *http.Request, kind StoreKind) *storeEndpoint {
	name := r.PathValue("store")
	ep := h.stores[name]
	if ep == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("unknown store %q", name)})
		return nil
	}
	if ep.kind != kind {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("store %q is a %s store, not a %s store", name, ep.kind, kind)})
		return nil
	}
	return ep
}

func (h *queryHandler) get(w http.ResponseWriter, r *http.Request) {
	ep := h.endpoint(w, r, KeyValueStoreKind)
	if ep == nil {
		return
	}
	e, found, err := ep.get(r.PathValue("key"))
	switch {
	case err != nil:
		writeQueryError(w, err)
	case !found:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("key %q not found in store %q", r.PathValue("key"), r.PathValue("store"))})
	default:
		writeJSON(w, http.StatusOK, e)
	}
}

func (h *queryHandler) scan(w http.ResponseWriter, r *http.Request) {
	ep := h.endpoint(w, r, KeyValueStoreKind)
	if ep == nil {
		return
	}
	var from, to *string
	if q := r.URL.Query(); q.Has("from") {
		s := q.Get("from")
		from = &s
	}
	if q := r.URL.Query(); q.Has("to") {
		s := q.Get("to")
		to = &s
	}
	entries, err := ep.scan(from, to)
	if err != nil {
		writeQueryError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
}

func (h *queryHandler) windows(w http.ResponseWriter, r *http.Request) {
	ep := h.endpoint(w, r, WindowStoreKind)
	if ep == nil {
		return
	}
	from, err := msParam(r, "from", 0)
	if err != nil {
		writeQueryError(w, err)
		return
	}
	to, err := msParam(r, "to", math.MaxInt64)
	if err != nil {
		writeQueryError(w, err)
		return
	}
	var entries []queryEntry
	if key := r.PathValue("key"); key != "" {
		entries, err = ep.windows(key, from, to)
	} else {
		entries, err = ep.allWindows(from, to)
	}
	if err != nil {
		writeQueryError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
}

func (h *queryHandler) sessions(w http.ResponseWriter, r *http.Request) {
	ep := h.endpoint(w, r, SessionStoreKind)
	if ep == nil {
		return
	}
	entries, err := ep.sessions(r.PathValue("key"))
	if err != nil {
		writeQueryError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
}

func msParam(r *http.Request, name string, def int64) (int64, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return def, nil
	}
	v, err := strconv.ParseInt(q.Get(name), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q is not epoch milliseconds", errBadRequest, name, q.Get(name))
	}
	return v, nil
}

func writeQueryError(w http.ResponseWriter, err error) {
	body := map[string]any{"error": err.Error()}
	var nl *NotLocalError
	status := http.StatusInternalServerError
	switch {
	case errors.As(err, &nl):
		status = http.StatusMisdirectedRequest
		body["store"], body["partition"] = nl.Store, nl.Partition
	case errors.Is(err, ErrNotReady), errors.Is(err, state.ErrClosed):
		// Not started yet, or the task closed under the query (rebalance).
		status = http.StatusServiceUnavailable
	case errors.Is(err, errBadRequest):
		status = http.StatusBadRequest
	case errors.Is(err, ErrUnknownStore):
		status = http.StatusNotFound
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]any{"error": "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
