package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"

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
	kind  StoreKind
	query *storeQuery // the store's partitions and owners
	// Each function reads with WithStaleStores when stale is true.
	// key-value; scan also returns the local partitions it read, and each
	// entry's serialized key (RawKey) for merging across instances
	get  func(key string, stale bool) (queryEntry, bool, error)
	scan func(from, to *string, stale bool) ([]queryEntry, []int32, error)
	// window; allWindows also returns the local partitions it read
	windows    func(key string, from, to int64, stale bool) ([]queryEntry, error)
	allWindows func(from, to int64, stale bool) ([]queryEntry, []int32, error)
	// session
	sessions func(key string, stale bool) ([]queryEntry, error)
}

// queryEntry is one JSON result row.
type queryEntry struct {
	Key       any    `json:"key"`
	Value     any    `json:"value"`
	Start     *int64 `json:"start,omitempty"` // window and session start (epoch ms)
	End       *int64 `json:"end,omitempty"`   // session end (epoch ms, inclusive)
	Timestamp *int64 `json:"timestamp,omitempty"`
	Partition *int32 `json:"partition,omitempty"`
	// Replica ("standby" or "restoring") and Lag are set on entries read
	// from a stale copy (?stale=true); absent for the active task.
	Replica string   `json:"replica,omitempty"`
	Lag     *LagInfo `json:"lag,omitempty"`
	// RawKey is the serialized key, sent between instances only (with the
	// hop header) so that a fan-out merges in serialized-key order.
	RawKey []byte `json:"rawKey,omitempty"`
}

// setSource records where an entry was read: its partition, and for a
// stale copy which one and its lag.
func (e *queryEntry) setSource(src PartitionSource) {
	p := src.Partition
	e.Partition = &p
	switch {
	case src.Standby:
		e.Replica = "standby"
	case src.Restoring:
		e.Replica = "restoring"
	default:
		return
	}
	lag := src.Lag
	e.Lag = &lag
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
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
	staleOpts := append(append([]QueryOption{}, opts...), WithStaleStores())
	return QueryCodec{store: store, open: func(app *App) (*storeEndpoint, error) {
		spec := app.topo.stores[store]
		if spec == nil {
			return nil, fmt.Errorf("%w: %q is not in the topology", ErrUnknownStore, store)
		}
		ep := &storeEndpoint{kind: spec.Kind}
		var err error
		switch spec.Kind {
		case KeyValueStoreKind:
			kqs := [2]*KeyValueQuery[K, V]{}
			for i, o := range [][]QueryOption{opts, staleOpts} {
				if kqs[i], err = QueryKeyValue(app, store, keys, values, o...); err != nil {
					return nil, err
				}
			}
			ep.query = kqs[0].q
			ep.get = func(text string, stale bool) (queryEntry, bool, error) {
				k, err := parse(text)
				if err != nil {
					return queryEntry{}, false, err
				}
				res, err := kqs[b2i(stale)].Lookup(k)
				if err != nil || !res.Found {
					return queryEntry{}, false, err
				}
				e := queryEntry{Key: k, Value: render(res.Value), Timestamp: ts(res.Timestamp)}
				e.setSource(res.Source)
				return e, true, nil
			}
			ep.scan = func(from, to *string, stale bool) ([]queryEntry, []int32, error) {
				kq := kqs[b2i(stale)]
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
						return nil, nil, err
					}
					if *b.out, err = serializeKey(kq.q, keys, k); err != nil {
						return nil, nil, err
					}
				}
				it, err := kq.iterate(fb, tb, from != nil || to != nil)
				if err != nil {
					return nil, nil, err
				}
				defer it.Close()
				parts := append([]int32{}, it.raw.parts...)
				out := []queryEntry{}
				for it.Next() {
					e := queryEntry{Key: it.Key(), Value: render(it.Value()), Timestamp: ts(it.Timestamp()), RawKey: bytes.Clone(it.raw.key())}
					e.setSource(it.Source())
					out = append(out, e)
				}
				return out, parts, it.Err()
			}
		case WindowStoreKind:
			wqs := [2]*WindowQuery[K, V]{}
			for i, o := range [][]QueryOption{opts, staleOpts} {
				if wqs[i], err = QueryWindow(app, store, keys, values, o...); err != nil {
					return nil, err
				}
			}
			ep.query = wqs[0].q
			collect := func(it *WindowIterator[K, V], err error) ([]queryEntry, []int32, error) {
				if err != nil {
					return nil, nil, err
				}
				defer it.Close()
				parts := append([]int32{}, it.parts...)
				out := []queryEntry{}
				for it.Next() {
					start := it.WindowStart()
					e := queryEntry{Key: it.Key(), Value: render(it.Value()), Start: &start, Timestamp: ts(it.Timestamp())}
					e.setSource(it.Source())
					out = append(out, e)
				}
				return out, parts, it.Err()
			}
			ep.windows = func(text string, from, to int64, stale bool) ([]queryEntry, error) {
				k, err := parse(text)
				if err != nil {
					return nil, err
				}
				out, _, err := collect(wqs[b2i(stale)].FetchRange(k, from, to))
				return out, err
			}
			ep.allWindows = func(from, to int64, stale bool) ([]queryEntry, []int32, error) {
				return collect(wqs[b2i(stale)].FetchAll(from, to))
			}
		case SessionStoreKind:
			sqs := [2]*SessionQuery[K, V]{}
			for i, o := range [][]QueryOption{opts, staleOpts} {
				if sqs[i], err = QuerySession(app, store, keys, values, o...); err != nil {
					return nil, err
				}
			}
			ep.query = sqs[0].q
			ep.sessions = func(text string, stale bool) ([]queryEntry, error) {
				k, err := parse(text)
				if err != nil {
					return nil, err
				}
				it, err := sqs[b2i(stale)].Fetch(k)
				if err != nil {
					return nil, err
				}
				defer it.Close()
				out := []queryEntry{}
				for it.Next() {
					start, end := it.Start(), it.End()
					e := queryEntry{Key: it.Key(), Value: render(it.Value()), Start: &start, End: &end, Timestamp: ts(it.Timestamp())}
					if src := it.Source(); src.Stale() {
						e.setSource(src) // the partition only on stale answers, as before
					}
					out = append(out, e)
				}
				return out, it.Err()
			}
		}
		return ep, nil
	}}
}

// QueryHandler serves interactive queries over HTTP, as JSON, for the
// stores given codecs (a store without a codec is not served), across all
// instances of the application:
//
//	GET /stores                                     the stores served: {"stores": [{"name","kind"}]} by name
//	GET /stores/{store}/keys/{key}                  key-value lookup: {"key","value","timestamp","partition"}
//	GET /stores/{store}?from=&to=                   key-value range (bounds optional, inclusive) or all:
//	                                                {"entries": [...]} in serialized-key byte order
//	GET /stores/{store}/windows/{key}?from=&to=     a key's windows with start in [from, to] (epoch ms;
//	                                                default: all): {"entries": [{"key","start","value",...}]}
//	GET /stores/{store}/windows?from=&to=           every key's windows, ordered by partition, then
//	                                                as the store orders them (window start, key)
//	GET /stores/{store}/sessions/{key}              a key's sessions: {"entries": [{"key","start","end","value"}]}
//
// Keys in the path are URL-escaped text parsed by the store's codec.
//
// Routing (DESIGN.md "Interactive queries across instances"): a key whose
// partition another instance holds is answered by that instance, which
// this one finds in the group's task map (App.QueryMetadataForKey) and
// asks on its application.server (WithApplicationServer), passing the
// answer through. With ?route=address a key request is answered 421
// instead, with the owner's "host" and "partition" in the body and a
// Location header, for callers that route themselves (range requests fan
// out regardless). Range and all-key requests
// fan out to the instances holding the store's other partitions and merge
// the answers; every key appears once. ?route=local answers from this
// instance's partitions only (adding "partitions": the partitions read).
// Requests between instances carry the header X-Sluice-Query-Hop and are
// always answered locally, so a request is forwarded at most once.
//
// Stale reads: ?stale=true (any request) lets each instance also answer
// from its standby replicas and from active tasks still restoring
// (WithStaleStores), for partitions not active and running there. An
// entry read from such a copy carries "replica" ("standby" or
// "restoring") and "lag" ({"currentOffsetPosition", "endOffsetPosition",
// "offsetLag"}, LagInfo) besides its "partition"; a key lookup answered
// so also has the header X-Sluice-Query-Lag (the offset lag). A key whose
// partition this instance holds neither as active nor as standby is
// forwarded to the active owner as usual; when the owner is unknown, has
// no application.server or does not answer, the request goes to the
// instances with a standby of the partition (App.QueryMetadataForKey's
// StandbyHosts) in turn, and the first that answers (200 or 404) is
// passed through. With route=address the 421 body also lists
// "standbyHosts". Range and all-key requests read a partition from a
// local stale copy rather than from its remote active. Without the
// parameter, answers are as described above: active tasks only, and no
// "replica" or "lag" fields.
//
// Errors are JSON {"error": "..."}: 404 for an unknown store or key, 400 for
// an unparsable key, time or route, or an endpoint of another store kind;
// 421 (with "partition") when the key's owner has no application.server
// (or with route=address); 503 before the application is ready, while the
// key's partition has no known owner or its owner cannot serve it yet
// (a rebalance is moving it, or it is restoring), or when the owner is
// unreachable: retry. A 503 never stands for a missing key. The handler
// is safe for concurrent use.
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
	h := &queryHandler{app: app, stores: eps, client: &http.Client{Timeout: queryForwardTimeout}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stores", h.list)
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

// QueryHopHeader marks a query forwarded by another instance of the
// application (its value names the sender's application.server). Such a
// request is answered from local partitions only, never forwarded again.
const QueryHopHeader = "X-Sluice-Query-Hop"

// queryOwnerHeader names, on a forwarded answer, the instance that served
// it.
const queryOwnerHeader = "X-Sluice-Query-Owner"

// QueryLagHeader is set on a key lookup answered from a stale copy
// (?stale=true): the copy's offset lag (LagInfo.OffsetLag), as in the
// body's "lag".
const QueryLagHeader = "X-Sluice-Query-Lag"

// queryForwardTimeout bounds one request to another instance.
const queryForwardTimeout = 30 * time.Second

// Values of the route query parameter.
const (
	routeProxy   = "proxy"   // default: forward / fan out
	routeAddress = "address" // 421 with the owner's address
	routeLocal   = "local"   // this instance's partitions only
)

type queryHandler struct {
	app    *App
	stores map[string]*storeEndpoint
	client *http.Client
}

// list answers the names and kinds of the stores served.
func (h *queryHandler) list(w http.ResponseWriter, _ *http.Request) {
	type store struct {
		Name string `json:"name"`
		Kind string `json:"kind"`
	}
	stores := make([]store, 0, len(h.stores))
	for name, ep := range h.stores {
		stores = append(stores, store{name, ep.kind.String()})
	}
	sort.Slice(stores, func(i, j int) bool { return stores[i].Name < stores[j].Name })
	writeJSON(w, http.StatusOK, map[string]any{"stores": stores})
}

// statusError is an answer other than 200 worked out while routing.
type statusError struct {
	status int
	body   map[string]any
}

func (e *statusError) Error() string { return fmt.Sprint(e.body["error"]) }

func newStatusError(status int, format string, args ...any) *statusError {
	return &statusError{status: status, body: map[string]any{"error": fmt.Sprintf(format, args...)}}
}

// route returns the request's routing mode: routeLocal for a forwarded
// request, else the route parameter (default routeProxy).
func route(r *http.Request) (string, error) {
	if r.Header.Get(QueryHopHeader) != "" {
		return routeLocal, nil
	}
	switch v := r.URL.Query().Get("route"); v {
	case "", routeProxy:
		return routeProxy, nil
	case routeAddress, routeLocal:
		return v, nil
	default:
		return "", fmt.Errorf("%w: route=%q (want %s, %s or %s)", errBadRequest, v, routeProxy, routeAddress, routeLocal)
	}
}

// staleParam is the stale query parameter: true lets the request read
// standby and restoring copies (WithStaleStores).
func staleParam(r *http.Request) (bool, error) {
	q := r.URL.Query()
	if !q.Has("stale") {
		return false, nil
	}
	v, err := strconv.ParseBool(q.Get("stale"))
	if err != nil {
		return false, fmt.Errorf("%w: stale=%q (want true or false)", errBadRequest, q.Get("stale"))
	}
	return v, nil
}

// endpoint returns the store's endpoint if it has the wanted kind and the
// route and stale parameters are valid, else writes the error.
func (h *queryHandler) endpoint(w http.ResponseWriter, r *http.Request, kind StoreKind) (*storeEndpoint, string, bool) {
	name := r.PathValue("store")
	ep := h.stores[name]
	if ep == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("unknown store %q", name)})
		return nil, "", false
	}
	if ep.kind != kind {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("store %q is a %s store, not a %s store", name, ep.kind, kind)})
		return nil, "", false
	}
	mode, err := route(r)
	if err != nil {
		writeQueryError(w, err)
		return nil, "", false
	}
	stale, err := staleParam(r)
	if err != nil {
		writeQueryError(w, err)
		return nil, "", false
	}
	return ep, mode, stale
}

func (h *queryHandler) get(w http.ResponseWriter, r *http.Request) {
	ep, mode, stale := h.endpoint(w, r, KeyValueStoreKind)
	if ep == nil {
		return
	}
	e, found, err := ep.get(r.PathValue("key"), stale)
	switch {
	case h.routed(w, r, ep, mode, stale, err):
	case err != nil:
		writeQueryError(w, err)
	case !found:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("key %q not found in store %q", r.PathValue("key"), r.PathValue("store"))})
	default:
		if e.Lag != nil {
			w.Header().Set(QueryLagHeader, strconv.FormatInt(e.Lag.OffsetLag, 10))
		}
		writeJSON(w, http.StatusOK, e)
	}
}

func (h *queryHandler) scan(w http.ResponseWriter, r *http.Request) {
	ep, mode, stale := h.endpoint(w, r, KeyValueStoreKind)
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
	entries, parts, err := ep.scan(from, to, stale)
	if err != nil {
		writeQueryError(w, err)
		return
	}
	h.respondAll(w, r, ep, mode, entries, parts, func(all []queryEntry) {
		sort.SliceStable(all, func(i, j int) bool { return bytes.Compare(all[i].RawKey, all[j].RawKey) < 0 })
	})
}

func (h *queryHandler) windows(w http.ResponseWriter, r *http.Request) {
	ep, mode, stale := h.endpoint(w, r, WindowStoreKind)
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
	if key := r.PathValue("key"); key != "" {
		entries, err := ep.windows(key, from, to, stale)
		switch {
		case h.routed(w, r, ep, mode, stale, err):
		case err != nil:
			writeQueryError(w, err)
		default:
			writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
		}
		return
	}
	entries, parts, err := ep.allWindows(from, to, stale)
	if err != nil {
		writeQueryError(w, err)
		return
	}
	// Each partition's windows come from one instance, in the store's
	// order: a stable sort by partition keeps it.
	h.respondAll(w, r, ep, mode, entries, parts, func(all []queryEntry) {
		sort.SliceStable(all, func(i, j int) bool { return *all[i].Partition < *all[j].Partition })
	})
}

func (h *queryHandler) sessions(w http.ResponseWriter, r *http.Request) {
	ep, mode, stale := h.endpoint(w, r, SessionStoreKind)
	if ep == nil {
		return
	}
	entries, err := ep.sessions(r.PathValue("key"), stale)
	switch {
	case h.routed(w, r, ep, mode, stale, err):
	case err != nil:
		writeQueryError(w, err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
	}
}

// routed answers a key request whose partition is not local (err wraps a
// *NotLocalError) and reports whether it did: forwarded to the owner, or
// 421 with its address, or 503 while the owner is unknown or cannot serve.
// With stale, an owner that is unknown, without application.server or
// unreachable is replaced by the instances with a standby of the
// partition, asked in turn.
func (h *queryHandler) routed(w http.ResponseWriter, r *http.Request, ep *storeEndpoint, mode string, stale bool, err error) bool {
	var nl *NotLocalError
	if !errors.As(err, &nl) {
		return false
	}
	body := map[string]any{"store": nl.Store, "partition": nl.Partition}
	reply := func(status int, format string, args ...any) bool {
		body["error"] = fmt.Sprintf(format, args...)
		writeJSON(w, status, body)
		return true
	}
	if r.Header.Get(QueryHopHeader) != "" {
		return reply(http.StatusServiceUnavailable, "store %q partition %d is not served by this instance (the group is rebalancing, or the task is restoring); retry",
			nl.Store, nl.Partition)
	}
	o, err := h.app.partitionOwner(ep.query, nl.Partition)
	// With stale, when the active owner cannot be asked, its standbys can.
	viaStandby := func() bool {
		if !stale || mode != routeProxy {
			return false
		}
		return h.forwardToStandby(w, r, ep, nl.Partition)
	}
	switch {
	case err != nil:
		if viaStandby() {
			return true
		}
		return reply(http.StatusServiceUnavailable, "%v; retry", err)
	case o.self:
		return reply(http.StatusServiceUnavailable, "store %q partition %d is assigned to this instance but not queryable yet (restoring, or the rebalance is in progress); retry",
			nl.Store, nl.Partition)
	case o.server == "":
		if viaStandby() {
			return true
		}
		return reply(http.StatusMisdirectedRequest, "store %q partition %d is held by an instance without application.server; set it (WithApplicationServer) on every instance to route queries",
			nl.Store, nl.Partition)
	case mode != routeProxy:
		body["host"] = o.server
		if stale {
			body["standbyHosts"] = h.app.standbyServers(ep.query, nl.Partition)
		}
		w.Header().Set("Location", "http://"+o.server+r.URL.RequestURI())
		return reply(http.StatusMisdirectedRequest, "store %q partition %d is held by the instance at %s", nl.Store, nl.Partition, o.server)
	}
	resp, err := h.forward(r, o.server, r.URL.RequestURI())
	if err != nil {
		if viaStandby() {
			return true
		}
		return reply(http.StatusServiceUnavailable, "store %q partition %d: its owner %s did not answer (%v); retry once the group has rebalanced",
			nl.Store, nl.Partition, o.server, err)
	}
	defer resp.Body.Close()
	passThrough(w, resp, o.server)
	return true
}

// passThrough writes another instance's answer as this request's.
func passThrough(w http.ResponseWriter, resp *http.Response, server string) {
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	if lag := resp.Header.Get(QueryLagHeader); lag != "" {
		w.Header().Set(QueryLagHeader, lag)
	}
	w.Header().Set(queryOwnerHeader, server)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// forwardToStandby asks the instances with a standby of partition p of
// the store, in the task map's order, for their local answer to a stale
// key request, and passes the first answer through (a found key, or 404
// for a key the standby does not have); it reports whether one answered.
// An instance that cannot serve the partition (not there yet, or no
// longer) is skipped.
func (h *queryHandler) forwardToStandby(w http.ResponseWriter, r *http.Request, ep *storeEndpoint, p int32) bool {
	for _, server := range h.app.standbyServers(ep.query, p) {
		resp, err := h.forward(r, server, r.URL.RequestURI())
		if err != nil {
			continue
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
			resp.Body.Close()
			continue
		}
		passThrough(w, resp, server)
		resp.Body.Close()
		return true
	}
	return false
}

// forward sends a GET of uri to the instance at server, marked as a hop.
func (h *queryHandler) forward(r *http.Request, server, uri string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://"+server+uri, nil)
	if err != nil {
		return nil, err
	}
	self := h.app.cfg.applicationServer
	if self == "" {
		self = "unknown"
	}
	req.Header.Set(QueryHopHeader, self)
	return h.client.Do(req)
}

// respondAll answers a range or all-key request: this instance's entries
// (read from local partitions parts) with route=local or for a hop
// (raw keys kept for the hop's sender), else merged with the other
// instances' answers for the store's remaining partitions, ordered by
// order.
func (h *queryHandler) respondAll(w http.ResponseWriter, r *http.Request, ep *storeEndpoint, mode string, entries []queryEntry, parts []int32, order func([]queryEntry)) {
	hop := r.Header.Get(QueryHopHeader) != ""
	if mode == routeLocal {
		if !hop {
			stripRawKeys(entries)
		}
		writeJSON(w, http.StatusOK, map[string]any{"entries": entries, "partitions": parts})
		return
	}
	all, err := h.fanOut(r, ep, entries, parts)
	if err != nil {
		var se *statusError
		if errors.As(err, &se) {
			writeJSON(w, se.status, se.body)
		} else {
			writeQueryError(w, err)
		}
		return
	}
	order(all)
	stripRawKeys(all)
	writeJSON(w, http.StatusOK, map[string]any{"entries": all})
}

func stripRawKeys(entries []queryEntry) {
	for i := range entries {
		entries[i].RawKey = nil
	}
}

// remoteAnswer is another instance's local answer to a forwarded range.
type remoteAnswer struct {
	Entries []struct {
		Key       json.RawMessage `json:"key"`
		Value     json.RawMessage `json:"value"`
		Start     *int64          `json:"start"`
		End       *int64          `json:"end"`
		Timestamp *int64          `json:"timestamp"`
		Partition *int32          `json:"partition"`
		Replica   string          `json:"replica"`
		Lag       *LagInfo        `json:"lag"`
		RawKey    []byte          `json:"rawKey"`
	} `json:"entries"`
	Partitions []int32 `json:"partitions"`
	Error      string  `json:"error"`
}

// fanOut completes local entries (from partitions local) with the other
// partitions of the store, asked of their owners in parallel. Each
// partition is read from exactly one instance: this one if it holds it,
// else the owner in the task map, whose answer must include it; else the
// request fails with 503 (a rebalance is moving it), so no key is missed
// or repeated.
func (h *queryHandler) fanOut(r *http.Request, ep *storeEndpoint, entries []queryEntry, local []int32) ([]queryEntry, error) {
	n, err := ep.query.tasks()
	if err != nil {
		return nil, err
	}
	have := map[int32]bool{}
	for _, p := range local {
		have[p] = true
	}
	byServer := map[string]map[int32]bool{}
	for p := range n {
		if have[p] {
			continue
		}
		o, err := h.app.partitionOwner(ep.query, p)
		switch {
		case err != nil:
			return nil, newStatusError(http.StatusServiceUnavailable, "%v; retry", err)
		case o.self:
			return nil, newStatusError(http.StatusServiceUnavailable, "store %q partition %d is assigned to this instance but not queryable yet (restoring, or the rebalance is in progress); retry", ep.query.store, p)
		case o.server == "":
			return nil, newStatusError(http.StatusMisdirectedRequest, "store %q partition %d is held by an instance without application.server; set it (WithApplicationServer) on every instance, or ask with route=local", ep.query.store, p)
		}
		if byServer[o.server] == nil {
			byServer[o.server] = map[int32]bool{}
		}
		byServer[o.server][p] = true
	}
	type result struct {
		server  string
		entries []queryEntry
		err     error
	}
	results := make(chan result, len(byServer))
	for server, want := range byServer {
		go func() {
			got, err := h.fetchPartitions(r, server, want)
			results <- result{server, got, err}
		}()
	}
	all := entries
	var firstErr error
	for range byServer {
		res := <-results
		if res.err != nil && firstErr == nil {
			firstErr = res.err
		}
		all = append(all, res.entries...)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return all, nil
}

// fetchPartitions asks the instance at server for its local answer to r
// and keeps the entries of the partitions wanted from it.
func (h *queryHandler) fetchPartitions(r *http.Request, server string, want map[int32]bool) ([]queryEntry, error) {
	resp, err := h.forward(r, server, r.URL.RequestURI())
	if err != nil {
		return nil, newStatusError(http.StatusServiceUnavailable, "the instance at %s did not answer (%v); retry once the group has rebalanced", server, err)
	}
	defer resp.Body.Close()
	var ans remoteAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return nil, newStatusError(http.StatusBadGateway, "the instance at %s answered %d with an undecodable body: %v", server, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		status := http.StatusBadGateway
		if resp.StatusCode == http.StatusServiceUnavailable {
			status = http.StatusServiceUnavailable
		}
		return nil, newStatusError(status, "the instance at %s answered %d: %s", server, resp.StatusCode, ans.Error)
	}
	served := map[int32]bool{}
	for _, p := range ans.Partitions {
		served[p] = true
	}
	for p := range want {
		if !served[p] {
			return nil, newStatusError(http.StatusServiceUnavailable, "the instance at %s does not serve partition %d any more (the group is rebalancing); retry", server, p)
		}
	}
	out := make([]queryEntry, 0, len(ans.Entries))
	for _, e := range ans.Entries {
		if e.Partition == nil || !want[*e.Partition] {
			continue // a partition read from another instance
		}
		out = append(out, queryEntry{Key: e.Key, Value: e.Value, Start: e.Start, End: e.End, Timestamp: e.Timestamp, Partition: e.Partition,
			Replica: e.Replica, Lag: e.Lag, RawKey: e.RawKey})
	}
	return out, nil
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
