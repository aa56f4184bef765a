package avro_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/riferrei/srclient"

	"github.com/sluicehq/sluice/serde/avro"
)

// fakeRegistry is an httptest server speaking the subset of the Confluent
// Schema Registry REST API that the serdes use, so that tests run srclient's
// real HTTP client. srclient's own mock (srclient.CreateMockSchemaRegistryClient)
// is not enough on its own: its CreateSchema fails for a schema already
// registered under the subject (the real registry returns the existing id),
// it gives the same schema a new id under each subject, it does not
// implement LookupSchema, and it is not safe for concurrent use.
type fakeRegistry struct {
	t      testing.TB
	server *httptest.Server

	requests atomic.Int64 // HTTP requests served
	fail     atomic.Int32 // when non-zero, answer every request with this status

	mu       sync.Mutex
	schemas  []fakeSchema                 // index id-1
	subjects map[string][]int             // subject → ids by version-1
	refs     map[int][]srclient.Reference // id → references
}

type fakeSchema struct {
	schema     string
	schemaType string
}

func newFakeRegistry(t testing.TB) *fakeRegistry {
	t.Helper()
	r := &fakeRegistry{t: t, subjects: map[string][]int{}, refs: map[int][]srclient.Reference{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /subjects/{subject}/versions", r.register)
	mux.HandleFunc("POST /subjects/{subject}", r.lookup)
	mux.HandleFunc("GET /schemas/ids/{id}", r.byID)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}", r.byVersion)
	r.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		if status := r.fail.Load(); status != 0 {
			writeError(w, int(status), int(status)*100+1, "injected failure")
			return
		}
		mux.ServeHTTP(w, req)
	}))
	t.Cleanup(r.server.Close)
	return r
}

// client returns a fresh srclient client for the registry, with its own
// caches.
func (r *fakeRegistry) client() *srclient.SchemaRegistryClient {
	return avro.NewClient(r.server.URL)
}

// add registers schema under subject as the test setup would with a
// schema-registry CLI, and returns its id.
func (r *fakeRegistry) add(subject, schema string, refs ...srclient.Reference) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addLocked(subject, schema, "", refs)
}

func (r *fakeRegistry) addTyped(subject, schema, schemaType string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addLocked(subject, schema, schemaType, nil)
}

func (r *fakeRegistry) addLocked(subject, schema, schemaType string, refs []srclient.Reference) int {
	norm := normalize(schema)
	id := 0
	for i, s := range r.schemas {
		if normalize(s.schema) == norm && s.schemaType == schemaType {
			id = i + 1
		}
	}
	if id == 0 {
		r.schemas = append(r.schemas, fakeSchema{schema: schema, schemaType: schemaType})
		id = len(r.schemas)
		r.refs[id] = refs
	}
	for _, existing := range r.subjects[subject] {
		if existing == id {
			return id
		}
	}
	r.subjects[subject] = append(r.subjects[subject], id)
	return id
}

func (r *fakeRegistry) subjectNames() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for s, ids := range r.subjects {
		out[s] = len(ids)
	}
	return out
}

func normalize(schema string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(schema)); err != nil {
		return schema
	}
	return b.String()
}

type schemaRequest struct {
	Schema     string               `json:"schema"`
	SchemaType string               `json:"schemaType"`
	References []srclient.Reference `json:"references"`
}

func (r *fakeRegistry) register(w http.ResponseWriter, req *http.Request) {
	var body schemaRequest
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		writeError(w, 422, 42201, "invalid schema")
		return
	}
	if body.SchemaType == "AVRO" {
		body.SchemaType = ""
	}
	r.mu.Lock()
	id := r.addLocked(req.PathValue("subject"), body.Schema, body.SchemaType, body.References)
	r.mu.Unlock()
	writeJSON(w, map[string]any{"id": id})
}

func (r *fakeRegistry) lookup(w http.ResponseWriter, req *http.Request) {
	var body schemaRequest
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		writeError(w, 422, 42201, "invalid schema")
		return
	}
	subject := req.PathValue("subject")
	r.mu.Lock()
	defer r.mu.Unlock()
	ids, ok := r.subjects[subject]
	if !ok {
		writeError(w, 404, 40401, "Subject '"+subject+"' not found.")
		return
	}
	for v, id := range ids {
		if normalize(r.schemas[id-1].schema) == normalize(body.Schema) {
			writeJSON(w, r.responseLocked(subject, v+1, id))
			return
		}
	}
	writeError(w, 404, 40403, "Schema not found")
}

func (r *fakeRegistry) byID(w http.ResponseWriter, req *http.Request) {
	id, err := strconv.Atoi(req.PathValue("id"))
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || id < 1 || id > len(r.schemas) {
		writeError(w, 404, 40403, "Schema "+req.PathValue("id")+" not found")
		return
	}
	resp := r.responseLocked("", 0, id)
	delete(resp, "subject")
	delete(resp, "version")
	delete(resp, "id")
	writeJSON(w, resp)
}

func (r *fakeRegistry) byVersion(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	r.mu.Lock()
	defer r.mu.Unlock()
	ids, ok := r.subjects[subject]
	if !ok {
		writeError(w, 404, 40401, "Subject '"+subject+"' not found.")
		return
	}
	version := len(ids)
	if v := req.PathValue("version"); v != "latest" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > len(ids) {
			writeError(w, 404, 40402, "Version "+v+" not found.")
			return
		}
		version = n
	}
	writeJSON(w, r.responseLocked(subject, version, ids[version-1]))
}

func (r *fakeRegistry) responseLocked(subject string, version, id int) map[string]any {
	s := r.schemas[id-1]
	resp := map[string]any{"subject": subject, "version": version, "id": id, "schema": s.schema}
	if s.schemaType != "" { // like the real registry, omit schemaType for AVRO
		resp["schemaType"] = s.schemaType
	}
	if refs := r.refs[id]; len(refs) > 0 {
		resp["references"] = refs
	}
	return resp
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error_code": code, "message": msg})
}
